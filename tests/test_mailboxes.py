"""Sending mailboxes (``GET /v1/analytics/mailboxes``): the demo's counts agree with its
campaigns, and ``load_mailboxes`` keeps the counts and recomputes every rate from them."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

import sendkit_nb as sk
from sendkit_nb.demo import DemoServer, Faults
from tests.raw_api import get
from tests.scripted_server import ScriptedServer

_COUNTS = {
    "sent": "sent",
    "opened": "opened",
    "clicked": "clicked",
    "bounced": "bounced",
    "replied": "replied",
    "positive_replied": "positiveReplied",
}
_RATES = {
    "open_rate": "opened",
    "click_rate": "clicked",
    "bounce_rate": "bounced",
    "reply_rate": "replied",
    "positive_reply_rate": "positiveReplied",
}


def _expected(item: dict[str, Any]) -> dict[str, Any]:
    performance = item.get("performance") or {}
    warmup = item.get("warmup") or {}
    sent = performance.get("sent")
    row: dict[str, Any] = {
        "mailbox_id": item["_id"],
        "email": item.get("email"),
        "display_name": item.get("displayName"),
        "status": item.get("status"),
    }
    row.update({c: performance.get(k) for c, k in _COUNTS.items()})
    for column, key in _RATES.items():
        part = performance.get(key)
        row[column] = part / sent if sent and part is not None else None
    bounce_rate = item.get("bounceRate")
    row.update(
        daily_limit=item.get("dailySendLimit"),
        sent_today=item.get("sentToday"),
        warmup_enabled=warmup.get("enabled"),
        warmup_status=warmup.get("status"),
        total_sent=item.get("totalSent"),
        total_received=item.get("totalReceived"),
        api_bounce_rate=None if bounce_rate in (None, "") else float(bounce_rate),
    )
    return row


@pytest.mark.parametrize(
    ("since", "until"),
    [(None, None), ("2025-06-01", "2025-06-15"), (date(2025, 5, 20), None), (None, "2025-04-30")],
)
def test_mailboxes_match_the_raw_json(
    client: sk.SendKitClient, server: DemoServer, since: Any, until: Any
) -> None:
    raw = get(
        server,
        "/v1/analytics/mailboxes",
        **{"from": since and str(since), "to": until and str(until)},
    )["data"]
    server.reset()
    mailboxes = sk.load_mailboxes(client, since=since, until=until)
    assert mailboxes.schema == sk.MAILBOXES_SCHEMA
    assert mailboxes.to_dicts() == [_expected(item) for item in raw]
    query = server.request_log[0].query
    assert (query.get("from"), query.get("to")) == (
        since and str(since),
        until and str(until),
    )


def test_mailbox_counts_add_up_to_the_campaigns(
    client: sk.SendKitClient, server: DemoServer
) -> None:
    """Every email of every campaign was sent by exactly one mailbox of that campaign."""
    mailboxes = sk.load_mailboxes(client)
    sent = bounced = opened = replied = 0
    for campaign in get(server, "/v1/campaigns", limit=100)["data"]:
        stats = campaign["stats"]
        sent += stats["sent"]
        bounced += stats["bounced"]
        opened += stats["opened"]
        replied += stats["replied"]
    totals = mailboxes.select("sent", "bounced", "opened", "replied").sum().row(0)
    assert totals == (sent, bounced, opened, replied)
    workspace = get(server, "/v1/workspaces")["data"][0]
    assert mailboxes.height == workspace["usage"]["totalMailboxes"]


def test_one_mailbox_bounces_badly(client: sk.SendKitClient) -> None:
    mailboxes = sk.load_mailboxes(client)
    active = mailboxes.filter(mailboxes["sent"] > 0).sort("bounce_rate", descending=True)
    worst, others = active.row(0, named=True), active["bounce_rate"][1:]
    assert worst["bounce_rate"] > 2.5 * float(others.max())  # type: ignore[arg-type]
    assert worst["warmup_enabled"] is False
    assert mailboxes["warmup_status"].null_count() == 1, "one mailbox without warm-up info"
    assert (
        mailboxes.filter(mailboxes["sent"] == 0)["bounce_rate"].null_count()
        == (mailboxes["sent"] == 0).sum()
    )


def _script(data: Any, pagination: dict[str, Any] | None = None) -> Any:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        body: dict[str, Any] = {"success": True, "data": data}
        if pagination is not None:
            body["pagination"] = pagination
        return 200, body

    return script


def test_absent_null_and_odd_fields() -> None:
    items: list[dict[str, Any]] = [
        {"_id": "a" * 24},
        {
            "_id": "b" * 24,
            "email": "x@y.com",
            "performance": {"sent": 0, "bounced": 0},
            "warmup": None,
            "bounceRate": "3.14",
        },
        {
            "_id": "c" * 24,
            "performance": {"sent": 200.0, "bounced": 8, "replied": None},
            "warmup": {"enabled": True},
            "bounceRate": 0.04,
            "rates": {"bounce": "400.0"},  # never trusted
        },
    ]
    with (
        ScriptedServer(_script(items)) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
    ):
        mailboxes = sk.load_mailboxes(client)
    assert mailboxes.to_dicts() == [_expected(item) for item in items]
    assert mailboxes["bounce_rate"].to_list() == [None, None, 0.04]
    assert mailboxes["api_bounce_rate"].to_list() == [None, 3.14, 0.04]


def test_no_mailboxes() -> None:
    with (
        ScriptedServer(_script([])) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
    ):
        assert sk.load_mailboxes(client).height == 0


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({"performance": {"sent": "many"}}, ".performance.sent: expected an integer"),
        ({"performance": {"bounced": -1}}, ".performance.bounced: expected a count >= 0"),
        ({"performance": [1, 2]}, ".performance: expected object"),
        ({"warmup": {"enabled": "yes"}}, ".warmup.enabled: expected boolean"),
        ({"dailySendLimit": 1.5}, ".dailySendLimit: expected an integer"),
        ({"bounceRate": "high"}, ".bounceRate: expected a number"),
    ],
)
def test_a_bad_value_names_its_field(item: dict[str, Any], problem: str) -> None:
    items = [{"_id": "a" * 24}, {"_id": "b" * 24, **item}]
    with (
        ScriptedServer(_script(items)) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
        pytest.raises(sk.SchemaError) as caught,
    ):
        sk.load_mailboxes(client)
    assert f"data[1] (_id {'b' * 24}){problem}" in str(caught.value)


@pytest.mark.parametrize(
    "pagination",
    [
        {"limit": 2, "total": 3, "hasMore": True, "nextCursor": "b" * 24},
        {"page": 1, "limit": 2, "total": 3, "pages": 2},
    ],
)
def test_a_list_announcing_more_mailboxes_is_not_silently_short(
    pagination: dict[str, Any],
) -> None:
    items = [{"_id": "a" * 24}, {"_id": "b" * 24}]
    with (
        ScriptedServer(_script(items, pagination)) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
        pytest.raises(sk.IncompleteLoadError) as caught,
    ):
        sk.load_mailboxes(client)
    assert (caught.value.loaded, caught.value.expected) == (2, 3)


@pytest.mark.parametrize(
    ("since", "until"), [("2025-06-02", "2025-06-01"), ("June", None), (None, 20250601)]
)
def test_bad_dates_are_refused_before_any_request(
    client: sk.SendKitClient, server: DemoServer, since: Any, until: Any
) -> None:
    with pytest.raises(sk.BadRequestError):
        sk.load_mailboxes(client, since=since, until=until)
    assert server.request_log == []


@pytest.mark.parametrize("kind", ["429", "502", "drop", "truncated", "short_body", "bad_gzip"])
def test_survives_each_fault(client: sk.SendKitClient, server: DemoServer, kind: str) -> None:
    clean = sk.load_mailboxes(client)
    server.reset()
    server.fail_next(kind, 2)
    assert sk.load_mailboxes(client).equals(clean)
    assert len(server.request_log) == 3


def test_gives_up_after_the_retry_budget(client: sk.SendKitClient, server: DemoServer) -> None:
    server.faults = Faults(server_error=1.0)
    with pytest.raises(sk.ServerError) as caught:
        sk.load_mailboxes(client)
    assert caught.value.path == "/v1/analytics/mailboxes"
