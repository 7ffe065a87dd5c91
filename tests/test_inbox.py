"""Inbox threads (``GET /v1/inbox``, ``GET /v1/inbox/{id}``): the demo's threads agree with its
campaign leads, and ``load_replies`` attributes each of the lead's messages to the email the
thread shows before it, checked against a plain-Python reading of the raw JSON."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb.demo import DemoServer, Faults
from tests.raw_api import every_item, get
from tests.scripted_server import ScriptedServer, lead


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _expected(server: DemoServer, campaign_id: str) -> list[dict[str, Any]]:
    """The replies frame, computed by hand from the raw list, threads and campaign leads."""
    leads = {x["_id"]: x for x in every_item(server, f"/v1/campaigns/{campaign_id}/leads")}
    rows: list[dict[str, Any]] = []
    for conversation in every_item(server, "/v1/inbox", campaign_id=campaign_id):
        messages = get(server, f"/v1/inbox/{conversation['id']}")["data"]["messages"]
        campaign_lead = leads.get(conversation["id"])
        by_time = {e["sentAt"]: e for e in campaign_lead["emailsSent"]} if campaign_lead else {}
        n = 0
        for position, message in enumerate(messages):
            if message["type"] != "reply" or message.get("isFromLead") is False:
                continue
            at = message.get("receivedAt")
            if at is None:
                earlier = [m for m in messages[:position] if m["type"] == "sent"]
                last = earlier[-1] if earlier else None
            else:
                earlier = [m for m in messages if m["type"] == "sent" and m["sentAt"] <= at]
                last = max(earlier, key=lambda m: m["sentAt"]) if earlier else None
            email = by_time.get(last["sentAt"]) if last else None
            # The one rule: flagged, or the conversation tagged out-of-office (any case).
            automatic = message.get("isAutoReply") is True or (
                (conversation["aiTag"] or "").lower() == "out_of_office"
            )
            person = conversation["lead"] or {}
            rows.append(
                {
                    "campaign_id": campaign_id,
                    "conversation_id": conversation["id"],
                    "id": conversation["id"] if campaign_lead else None,
                    "lead_id": person.get("_id"),
                    "email": person.get("email"),
                    "reply_index": n,
                    "received_at": at,
                    "is_auto_reply": automatic,
                    "ai_tag": conversation["aiTag"],
                    "step": email["sequenceStep"] if email else None,
                    "variant": email["variant"] if email else None,
                    "step_sent_at": last["sentAt"] if last else None,
                    "thread_step": last["sequenceStep"] if last else None,
                    "attribution": "sent_at" if email else None,
                }
            )
            n += 1
    return rows


def _as_raw(replies: pl.DataFrame) -> list[dict[str, Any]]:
    rows = replies.to_dicts()
    for row in rows:
        row["received_at"] = _iso(row["received_at"])
        row["step_sent_at"] = _iso(row["step_sent_at"])
    return rows


@pytest.fixture(scope="module")
def campaign_ids(demo_server: DemoServer) -> list[str]:
    return [str(c["_id"]) for c in demo_server.workspace.campaigns]


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4, 5, 6])
def test_replies_match_plain_python(
    client: sk.SendKitClient, server: DemoServer, campaign_ids: list[str], k: int
) -> None:
    expected = _expected(server, campaign_ids[k])
    replies = sk.load_replies(client, campaign_ids[k], progress=False)
    assert replies.schema == sk.REPLIES_SCHEMA
    assert _as_raw(replies) == expected
    if k < 5:
        assert replies.height > 0
    else:
        assert replies.height == 0, "the draft and the archived campaign have no inbox"


def test_thread_steps_count_email_steps_from_one(
    client: sk.SendKitClient, server: DemoServer, campaign_ids: list[str]
) -> None:
    """What the data says about the undocumented numbering: the thread's ``sequenceStep`` is
    not ``emailsSent[].sequenceStep`` but the email's number among email steps, from 1."""
    campaign = get(server, f"/v1/campaigns/{campaign_ids[0]}")["data"]
    orders = [s["order"] for s in campaign["sequence"] if s["type"] == "email"]
    replies = sk.load_replies(client, campaign_ids[0], progress=False)
    matched = replies.filter(pl.col("attribution") == "sent_at")
    assert matched.height == replies["step"].count()
    pairs = set(matched.select("step", "thread_step").iter_rows())
    assert pairs == {(order, n + 1) for n, order in enumerate(orders)}


def test_some_replies_disagree_with_last_touch(
    client: sk.SendKitClient, campaign_ids: list[str]
) -> None:
    leads = sk.load_leads(client, campaign_ids[0], progress=False)
    replies = sk.load_replies(client, campaign_ids[0], leads=leads, progress=False)
    # last touch by hand: the latest delivered email sent at or before repliedAt
    last_touch: dict[str, int] = {}
    for row in leads.filter(pl.col("replied")).iter_rows(named=True):
        delivered = [
            e
            for e in row["emails"]
            if not e["bounced"]
            and row["replied_at"] is not None
            and e["sent_at"] <= row["replied_at"]
        ]
        if delivered:
            last_touch[row["id"]] = max(delivered, key=lambda e: e["sent_at"])["step"]
    first_human = (
        replies.filter(~pl.col("is_auto_reply") & pl.col("step").is_not_null())
        .group_by("id", maintain_order=True)
        .first()
    )
    replied_at = dict(leads.select("id", "replied_at").iter_rows())
    differ = [
        row
        for row in first_human.iter_rows(named=True)
        if row["id"] in last_touch and last_touch[row["id"]] != row["step"]
    ]
    assert differ, "the demo has replies that answer an earlier email than last touch says"
    for row in differ:
        assert row["step"] < last_touch[row["id"]]
        assert row["received_at"] < replied_at[row["id"]]


def test_auto_replies_and_out_of_office(
    client: sk.SendKitClient, server: DemoServer, campaign_ids: list[str]
) -> None:
    replies = sk.load_replies(client, campaign_ids[0], progress=False)
    auto = replies.filter(pl.col("is_auto_reply"))
    assert 0 < auto.height < replies.height
    assert (auto["ai_tag"] != "out_of_office").any(), "auto-replies before a human reply"
    flagless = [
        c["id"]
        for c in every_item(server, "/v1/inbox", campaign_id=campaign_ids[0])
        if any(
            m["type"] == "reply" and "isAutoReply" not in m
            for m in get(server, f"/v1/inbox/{c['id']}")["data"]["messages"]
        )
    ]
    assert flagless, "some out-of-office replies lack the flag"
    assert replies.filter(pl.col("conversation_id").is_in(flagless))["is_auto_reply"].all()
    leads = sk.load_leads(client, campaign_ids[0], progress=False)
    not_counted = set(leads.filter(~pl.col("replied"))["id"])
    only_auto = replies.filter(pl.col("id").is_in(not_counted))
    assert only_auto.height > 0 and only_auto["is_auto_reply"].all()


def test_passing_leads_saves_the_walk(
    client: sk.SendKitClient, server: DemoServer, campaign_ids: list[str]
) -> None:
    leads = pl.concat([sk.load_leads(client, c, progress=False) for c in campaign_ids[:2]])
    own = sk.load_replies(client, campaign_ids[1], progress=False)
    server.reset()
    given = sk.load_replies(client, campaign_ids[1], leads=leads, progress=False)
    assert given.equals(own)
    assert not any(r.path.endswith("/leads") for r in server.request_log)
    threads = [r for r in server.request_log if r.path.startswith("/v1/inbox/")]
    # every demo conversation holds a message from the lead, so one thread per conversation
    assert len(threads) == own["conversation_id"].n_unique()


def test_cursor_generation_gives_the_same_frame(
    client: sk.SendKitClient, cursor_server: DemoServer, campaign_ids: list[str]
) -> None:
    with sk.SendKitClient(cursor_server.api_key, base_url=cursor_server.url) as other:
        by_cursor = sk.load_replies(other, campaign_ids[2], progress=False)
    assert by_cursor.equals(sk.load_replies(client, campaign_ids[2], progress=False))


def test_survives_random_faults(
    client: sk.SendKitClient, server: DemoServer, campaign_ids: list[str]
) -> None:
    clean = sk.load_replies(client, campaign_ids[3], progress=False)
    server.reset()
    server.faults = Faults(
        rate_limit=0.1, server_error=0.1, drop=0.03, truncated=0.05, short_body=0.03, seed=9
    )
    # Threads are fetched concurrently, so which one draws which fault varies from run to run;
    # enough retries that none can plausibly fail every attempt.
    patient = sk.RetryPolicy(max_retries=10, rng=lambda: 0.5)
    with sk.SendKitClient(
        server.api_key, base_url=server.url, retry=patient, sleep=lambda _: None
    ) as faulty:
        assert sk.load_replies(faulty, campaign_ids[3], progress=False).equals(clean)
    failed_threads = [
        r for r in server.request_log if r.path.startswith("/v1/inbox/") and r.status != 200
    ]
    assert failed_threads, "faults hit thread fetches too"


def test_progress_counts_threads(client: sk.SendKitClient, campaign_ids: list[str]) -> None:
    seen: list[tuple[int, int | None]] = []
    replies = sk.load_replies(
        client, campaign_ids[4], progress=lambda n, total: seen.append((n, total))
    )
    threads = replies["conversation_id"].n_unique()
    assert (threads, threads) in seen


# -- scripted payloads ------------------------------------------------------------------------

_CAMPAIGN = "c" * 24
_SEQUENCE = [
    {"type": "email", "order": 0, "subject": "one"},
    {"type": "wait", "order": 1, "waitDays": 2},
    {"type": "email", "order": 2, "subject": "two"},
]
_T0, _T1 = "2025-06-16T10:30:00.000Z", "2025-06-18T10:30:00.000Z"


def _email(step: int, at: str, variant: str | None) -> dict[str, Any]:
    return {
        "sequenceStep": step,
        "variant": variant,
        "sentAt": at,
        "opened": False,
        "clicked": False,
        "bounced": False,
    }


def _sent(step: int, at: str) -> dict[str, Any]:
    return {"type": "sent", "subject": "s", "sentAt": at, "sequenceStep": step}


def _scripted(
    conversations: list[dict[str, Any]], threads: dict[str, Any], leads: list[dict[str, Any]]
) -> Any:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path == "/v1/inbox":
            pagination = {"limit": 100, "total": len(conversations), "hasMore": False}
            return 200, {"success": True, "data": conversations, "pagination": pagination}
        if path.startswith("/v1/inbox/"):
            return 200, {"success": True, "data": threads[path.rsplit("/", 1)[1]]}
        if path.endswith("/leads"):
            pagination = {"limit": 100, "total": len(leads), "hasMore": False}
            return 200, {"success": True, "data": leads, "pagination": pagination}
        return 200, {"success": True, "data": {"_id": _CAMPAIGN, "sequence": _SEQUENCE}}

    return script


def test_absent_null_and_odd_thread_shapes() -> None:
    ids = [f"{n:024x}" for n in range(1, 7)]
    leads = [
        lead(1, emailsSent=[_email(0, _T0, "A"), _email(2, _T1, "B")], replied=True),
        lead(3, emailsSent=[]),
    ]
    leads[0]["_id"], leads[1]["_id"] = ids[0], ids[2]
    conversations: list[dict[str, Any]] = [
        {
            "id": ids[0],
            "lead": {"_id": leads[0]["leadId"]["_id"]},
            "aiTag": "interested",
            "campaign": {"_id": _CAMPAIGN},
        },
        # the person was deleted, and the conversation id is not a campaign-lead id
        {"id": ids[1], "lead": None, "aiTag": "out_of_office"},
        {"id": ids[2], "lead": {"_id": leads[1]["leadId"]["_id"], "email": "x@y.z"}},
        {"id": ids[3], "campaign": {"_id": "d" * 24}},  # another campaign's: left out
        {"id": ids[4], "aiTag": None},
    ]
    threads = {
        ids[0]: {
            "messages": [
                _sent(1, _T0),
                # no isFromLead, no isAutoReply: the lead's, not automatic
                {"type": "reply", "receivedAt": "2025-06-16T12:00:00.000Z"},
                {"type": "reply", "isFromLead": False, "receivedAt": "2025-06-16T13:00:00Z"},
                _sent(2, _T1),
                {"type": "reply", "isFromLead": True, "receivedAt": None},
            ]
        },
        ids[1]: {
            "messages": [
                # the send time matches no emailsSent: fall back to the thread's number
                _sent(1, "2025-06-10T09:00:00.000Z"),
                {"type": "reply", "receivedAt": "2025-06-10T09:05:00Z", "isAutoReply": None},
            ],
            "scheduledReplies": None,
        },
        ids[2]: {"messages": [{"type": "reply", "receivedAt": "2025-06-01T08:00:00.000Z"}]},
        ids[4]: {"messages": None},
    }
    with (
        ScriptedServer(_scripted(conversations, threads, leads)) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
    ):
        replies = sk.load_replies(client, _CAMPAIGN, progress=False)
        asked = [path for path, _ in server.requests]
    assert f"/v1/inbox/{ids[3]}" not in asked
    rows = replies.select(
        "conversation_id",
        "id",
        "reply_index",
        "is_auto_reply",
        "step",
        "variant",
        "thread_step",
        "attribution",
    ).rows()
    assert rows == [
        (ids[0], ids[0], 0, False, 0, "A", 1, "sent_at"),
        (ids[0], ids[0], 1, False, 2, "B", 2, "sent_at"),  # no time: after the 2nd email
        (ids[1], None, 0, True, 0, None, 1, "thread_step"),
        (ids[2], ids[2], 0, False, None, None, None, None),
    ]
    assert replies["received_at"][1] is None


def test_one_auto_reply_rule_that_the_metrics_read_as_it_is() -> None:
    """A message is automatic when flagged, or when its conversation is tagged out_of_office in
    any case, whatever its flag says; inbox attribution counts exactly the leads whose messages
    the loader marks so."""
    ids = [f"{n:024x}" for n in range(1, 6)]
    leads = [
        lead(n, emailsSent=[_email(0, _T0, None)], replied=True, repliedAt=_T1) for n in range(1, 6)
    ]
    for row, i in zip(leads, ids, strict=True):
        row["_id"] = i
    tags = ["Out_Of_Office", "OUT_OF_OFFICE", "interested", "interested", None]
    flags: list[Any] = [False, "absent", True, False, "absent"]
    conversations = [
        {"id": i, "lead": {"_id": row["leadId"]["_id"]}, "aiTag": tag}
        for i, row, tag in zip(ids, leads, tags, strict=True)
    ]
    threads = {}
    for i, flag in zip(ids, flags, strict=True):
        reply: dict[str, Any] = {"type": "reply", "receivedAt": "2025-06-17T08:00:00.000Z"}
        if flag != "absent":
            reply["isAutoReply"] = flag
        threads[i] = {"messages": [_sent(1, _T0), reply]}
    with (
        ScriptedServer(_scripted(conversations, threads, leads)) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
    ):
        frame = sk.load_leads(client, _CAMPAIGN, progress=False)
        replies = sk.load_replies(client, _CAMPAIGN, leads=frame, progress=False)
    assert replies.sort("conversation_id")["is_auto_reply"].to_list() == [
        True,  # tagged out-of-office (mixed case) beside isAutoReply: false
        True,  # tagged in capitals, no flag
        True,  # flagged, tagged otherwise
        False,
        False,  # no flag, no tag
    ]
    head = sk.metrics.headline(frame, attribution="inbox", replies=replies).row(0, named=True)
    human = replies.filter(~pl.col("is_auto_reply"))
    assert (head["replied"], head["auto_replied"]) == (human.height, replies.height - human.height)


def test_a_bad_thread_value_names_the_conversation_and_field() -> None:
    conversation = "a" * 24
    threads = {conversation: {"messages": [_sent(1, _T0), {"type": "reply", "receivedAt": 5}]}}
    with (
        ScriptedServer(_scripted([{"id": conversation}], threads, [])) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
        pytest.raises(sk.SchemaError, match=r"messages\[1\]\.receivedAt: expected an ISO") as c,
    ):
        sk.load_replies(client, _CAMPAIGN, progress=False)
    assert c.value.path == f"/v1/inbox/{conversation}"


def test_a_failing_thread_fails_the_load() -> None:
    ids = [f"{n:024x}" for n in range(1, 9)]
    inner = _scripted([{"id": i} for i in ids], {i: {"messages": []} for i in ids}, [])

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path == f"/v1/inbox/{ids[3]}":
            return 503, {"error": "Service Unavailable", "message": "down", "code": 503}
        return inner(path, query)  # type: ignore[no-any-return]

    with (
        ScriptedServer(script) as server,
        sk.SendKitClient(
            "sk_test", base_url=server.url, sleep=lambda _: None, max_workers=2
        ) as client,
        pytest.raises(sk.ServerError) as caught,
    ):
        sk.load_replies(client, _CAMPAIGN, progress=False)
    assert caught.value.path == f"/v1/inbox/{ids[3]}"
    assert "after 6 attempts" in caught.value.message


def test_thread_fetches_are_concurrent_within_the_connection_budget() -> None:
    ids = [f"{n:024x}" for n in range(1, 25)]
    in_flight = 0
    peak = 0
    lock = threading.Lock()
    inner = _scripted([{"id": i} for i in ids], {i: {"messages": []} for i in ids}, [])

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        nonlocal in_flight, peak
        if not path.startswith("/v1/inbox/"):
            return inner(path, query)  # type: ignore[no-any-return]
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)  # long enough for the other workers' requests to arrive
        with lock:
            in_flight -= 1
        return inner(path, query)  # type: ignore[no-any-return]

    with (
        ScriptedServer(script) as server,
        sk.SendKitClient("sk_test", base_url=server.url, max_workers=3) as client,
    ):
        replies = sk.load_replies(client, _CAMPAIGN, progress=False)
        fetched = [p for p, _ in server.requests if p.startswith("/v1/inbox/")]
    assert replies.height == 0
    assert sorted(fetched) == [f"/v1/inbox/{i}" for i in ids]
    assert 1 < peak <= 3


@pytest.mark.parametrize(
    ("campaign", "leads"),
    [("nope", None), (_CAMPAIGN, pl.DataFrame({"id": ["x"]})), (_CAMPAIGN, "leads")],
)
def test_bad_arguments_are_refused_before_any_request(
    client: sk.SendKitClient, server: DemoServer, campaign: str, leads: Any
) -> None:
    with pytest.raises(sk.BadRequestError):
        sk.load_replies(client, campaign, leads=leads, progress=False)
    assert server.request_log == []


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/inbox", {"campaign_id": "nope"}, 400),
        ("/v1/inbox", {"status": "read"}, 400),
        ("/v1/inbox", {"limit": 101}, 400),
        ("/v1/inbox/nope", {}, 400),
        ("/v1/inbox/" + "e" * 24, {}, 404),
        ("/v1/leads", {"emailVerified": "yes"}, 400),
        ("/v1/leads", {"cursor": "x"}, 400),
        ("/v1/analytics/mailboxes", {"from": "June"}, 400),
        ("/v1/analytics/mailboxes", {"from": "2025-06-02", "to": "2025-06-01"}, 400),
    ],
)
def test_the_demo_refuses_what_the_docs_do_not_allow(
    server: DemoServer, path: str, params: dict[str, Any], status: int
) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        get(server, path, **params)
    assert caught.value.code == status
    body = json.load(caught.value)
    assert set(body) == {"error", "message", "code"} and body["code"] == status


@pytest.mark.parametrize("path", ["/v1/leads", "/v1/inbox", "/v1/analytics/mailboxes"])
def test_new_endpoints_need_the_workspace_with_a_platform_key(
    server: DemoServer, path: str
) -> None:
    def status(headers: dict[str, str]) -> int:
        request = urllib.request.Request(server.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    assert status({"X-Api-Key": server.platform_key}) == 400
    assert status({"X-Api-Key": server.platform_key, "X-Workspace-Id": "0" * 24}) == 403
    assert status({"X-Api-Key": server.platform_key, "X-Workspace-Id": server.workspace_id}) == 200
    assert status({"X-Api-Key": "sk_wrong"}) == 401


def test_inbox_list_items_have_the_documented_shape(
    server: DemoServer, campaign_ids: list[str]
) -> None:
    body = get(server, "/v1/inbox", campaign_id=campaign_ids[1])
    assert body["pagination"]["limit"] == 20, "the docs' inbox examples page by 20"
    keys = {
        "id",
        "lead",
        "campaign",
        "status",
        "aiTag",
        "tags",
        "repliedAt",
        "lastMessage",
        "isRead",
        "unreadCount",
        "messageCount",
    }
    for item in body["data"]:
        assert set(item) == keys
        thread = get(server, f"/v1/inbox/{item['id']}")["data"]
        assert len(thread["messages"]) == item["messageCount"]
        assert thread["scheduledReplies"] == []
    unread = every_item(server, "/v1/inbox", campaign_id=campaign_ids[1], status="unread")
    assert unread and all(not x["isRead"] for x in unread)
    tagged = every_item(server, "/v1/inbox", tag="interested")
    assert tagged and {x["aiTag"] for x in tagged} == {"interested"}
