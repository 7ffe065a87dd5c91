"""The loader over real HTTP against the demo API: every lead exactly once, faults survived,
errors mapped, arguments checked before any request, and the key never shown."""

from __future__ import annotations

import itertools
import json
import logging
import time
import warnings
from datetime import datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sendkit_nb as sk
from sendkit_nb import _frames
from sendkit_nb._frames import campaigns_frame, parse_leads_page
from sendkit_nb.demo import (
    DEMO_PLATFORM_KEY,
    DEMO_WORKSPACE_ID,
    DemoServer,
    Faults,
    make_workspace,
)
from tests.conftest import SleepRecorder
from tests.scripted_server import ScriptedServer, lead


def expected_ids(
    server: DemoServer, campaign_id: str, statuses: list[str] | None = None
) -> list[str]:
    return [
        item["_id"]
        for item in server.workspace.leads[campaign_id]
        if statuses is None or item["status"] in statuses
    ]


def biggest_campaign(server: DemoServer) -> str:
    return max(server.workspace.leads, key=lambda cid: len(server.workspace.leads[cid]))


# -- every lead exactly once ------------------------------------------------------------------


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    style=st.sampled_from(["page", "cursor"]),
    campaign_index=st.integers(min_value=0, max_value=6),
    limit=st.integers(min_value=1, max_value=100),
    statuses=st.none()
    | st.lists(st.sampled_from(sk.LEAD_STATUSES[:8]), min_size=1, max_size=3, unique=True),
    by_cursor=st.booleans(),
)
def test_every_lead_loaded_exactly_once(
    small_workspace_servers: dict[str, DemoServer],
    style: str,
    campaign_index: int,
    limit: int,
    statuses: list[str] | None,
    by_cursor: bool,
) -> None:
    server = small_workspace_servers[style]
    campaign_id = server.workspace.campaigns[campaign_index]["_id"]
    with sk.SendKitClient(server.api_key, base_url=server.url) as client:
        leads = sk.load_leads(
            client, campaign_id, statuses, limit=limit, progress=False, by_cursor=by_cursor
        )
    want = expected_ids(server, campaign_id, statuses)
    assert sorted(leads["id"].to_list()) == sorted(want)
    assert leads["id"].n_unique() == leads.height
    assert leads.schema == sk.LEADS_SCHEMA


@pytest.mark.parametrize("style", ["page", "cursor"])
def test_full_default_workspace_matches_raw_json(
    demo_server: DemoServer, cursor_server: DemoServer, style: str
) -> None:
    server = demo_server if style == "page" else cursor_server
    with sk.SendKitClient(server.api_key, base_url=server.url) as client:
        for campaign in server.workspace.campaigns:
            raw = server.workspace.leads[campaign["_id"]]
            leads = sk.load_leads(client, campaign["_id"], progress=False)
            assert leads.height == len(raw)
            by_id = {item["_id"]: item for item in raw}
            for row in leads.iter_rows(named=True):
                item = by_id[row["id"]]
                person = item.get("leadId") or {}
                assert row["lead_id"] == person.get("_id")
                assert row["email"] == person.get("email")
                assert row["first_name"] == person.get("firstName")
                assert row["status"] == item["status"]
                assert row["replied"] == bool(item.get("replied"))
                assert row["ai_tag"] == item.get("aiTag")
                assert row["tags"] == (item.get("tags") or [])
                assert [e["step"] for e in row["emails"]] == [
                    e["sequenceStep"] for e in item.get("emailsSent") or []
                ]
                assert [e["bounced"] for e in row["emails"]] == [
                    bool(e["bounced"]) for e in item.get("emailsSent") or []
                ]
                if item.get("repliedAt"):
                    assert row["replied_at"].isoformat().startswith(item["repliedAt"][:19])
                else:
                    assert row["replied_at"] is None


def test_demo_edge_cases_load(client: sk.SendKitClient, server: DemoServer) -> None:
    frames = [sk.load_leads(client, c["_id"], progress=False) for c in server.workspace.campaigns]
    leads = pl.concat(frames)
    assert leads.filter(pl.col("lead_id").is_null()).height > 0, "deleted leads still load"
    assert leads.filter(pl.col("first_name").is_null()).height > 0, "missing names become null"
    names = set(leads["first_name"].drop_nulls().to_list())
    assert any(not name.isascii() for name in names), "unicode names survive"
    assert set(leads["status"].unique().to_list()) >= set(sk.LEAD_STATUSES[:8])


def test_emails_frame_has_one_row_per_sent_email(
    client: sk.SendKitClient, server: DemoServer
) -> None:
    campaign_id = biggest_campaign(server)
    leads = sk.load_leads(client, campaign_id, progress=False)
    sent = sk.emails(leads)
    raw_count = sum(
        len(item.get("emailsSent") or []) for item in server.workspace.leads[campaign_id]
    )
    assert sent.height == raw_count
    assert sent.schema == sk.EMAILS_SCHEMA


def test_load_campaigns_has_sequences(client: sk.SendKitClient, server: DemoServer) -> None:
    campaigns = sk.load_campaigns(client)
    assert campaigns["campaign_id"].to_list() == [c["_id"] for c in server.workspace.campaigns]
    assert campaigns.schema == sk.CAMPAIGNS_SCHEMA
    first = server.workspace.campaigns[0]
    steps = campaigns.row(0, named=True)["sequence"]
    assert [s["order"] for s in steps] == [s["order"] for s in first["sequence"]]
    assert [s["type"] for s in steps] == [s["type"] for s in first["sequence"]]
    active = sk.load_campaigns(client, status="active")
    assert set(active["status"].to_list()) <= {"active"}
    assert active.height == sum(c["status"] == "active" for c in server.workspace.campaigns)


# -- faults -----------------------------------------------------------------------------------


def test_load_survives_ten_percent_mixed_failures(
    server: DemoServer, sleeps: SleepRecorder
) -> None:
    server.faults = Faults(
        rate_limit=0.03,
        server_error=0.03,
        drop=0.02,
        truncated=0.01,
        slow=0.01,
        slow_seconds=1.0,
        retry_after=0,
        seed=11,
    )
    campaign_id = biggest_campaign(server)
    with sk.SendKitClient(
        server.api_key,
        base_url=server.url,
        sleep=sleeps,
        timeout=0.5,
        retry=sk.RetryPolicy(max_retries=8, rng=lambda: 0.5),
    ) as client:
        leads = sk.load_leads(client, campaign_id, limit=20, progress=False)
    assert sorted(leads["id"].to_list()) == sorted(expected_ids(server, campaign_id))
    failed = [entry for entry in server.request_log if entry[3] != 200]
    assert failed, "the fault modes were exercised"
    assert sleeps.calls, "retries waited (through the injected sleep)"


def test_retry_after_is_honoured(server: DemoServer, sleeps: SleepRecorder) -> None:
    server.faults.retry_after = 3
    server.fail_next("429", 2)
    with sk.SendKitClient(server.api_key, base_url=server.url, sleep=sleeps) as client:
        campaigns = sk.load_campaigns(client)
    assert campaigns.height == len(server.workspace.campaigns)
    assert sleeps.calls == [3.0, 3.0]


def test_backoff_is_capped_exponential_with_jitter() -> None:
    policy = sk.RetryPolicy(base_delay=1.0, max_delay=5.0, rng=lambda: 1.0)
    assert [policy.delay(a) for a in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    low = sk.RetryPolicy(base_delay=1.0, max_delay=5.0, rng=lambda: 0.0)
    assert low.delay(1) == 1.0
    assert policy.delay(0, retry_after=500) == policy.max_retry_after


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("429", sk.RateLimitError),
        ("500", sk.ServerError),
        ("drop", sk.APIConnectionError),
        ("truncated", sk.APIConnectionError),
    ],
)
def test_persistent_failure_raises_its_class(
    server: DemoServer, sleeps: SleepRecorder, kind: str, error: type[sk.SendKitError]
) -> None:
    server.fail_next(kind, 10)
    with (
        sk.SendKitClient(
            server.api_key, base_url=server.url, sleep=sleeps, retry=sk.RetryPolicy(max_retries=2)
        ) as client,
        pytest.raises(error) as info,
    ):
        sk.load_campaigns(client)
    assert len(sleeps.calls) == 2
    assert "after 3 attempts" in str(info.value)
    assert info.value.path == "/v1/campaigns"
    assert "Hint:" in str(info.value)


def test_slow_response_times_out_then_retries(server: DemoServer, sleeps: SleepRecorder) -> None:
    server.faults.slow_seconds = 1.0
    server.fail_next("slow", 1)
    with sk.SendKitClient(server.api_key, base_url=server.url, sleep=sleeps, timeout=0.3) as client:
        campaigns = sk.load_campaigns(client)
    assert campaigns.height == len(server.workspace.campaigns)
    assert len(sleeps.calls) == 1


def test_leads_added_during_paging_are_not_lost(server: DemoServer) -> None:
    campaign_id = biggest_campaign(server)
    before = len(server.workspace.leads[campaign_id])
    server.add_leads_during_paging(campaign_id, 7)
    with (
        sk.SendKitClient(server.api_key, base_url=server.url, max_workers=1) as client,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error", sk.IncompleteLoadWarning)
        leads = sk.load_leads(client, campaign_id, limit=50, progress=False)
    assert leads.height == before + 7 == len(server.workspace.leads[campaign_id])
    assert leads["id"].n_unique() == leads.height


def test_concurrency_backs_off_on_429(server: DemoServer, sleeps: SleepRecorder) -> None:
    server.faults = Faults(rate_limit=0.2, retry_after=0, seed=5)
    with sk.SendKitClient(
        server.api_key, base_url=server.url, sleep=sleeps, max_workers=8
    ) as client:
        leads = sk.load_leads(client, biggest_campaign(server), limit=25, progress=False)
        assert client.concurrency.limit < 8
    assert leads.height == len(server.workspace.leads[biggest_campaign(server)])


def test_a_slow_link_gets_every_connection() -> None:
    # 40 ms a round trip: all six connections are used at once.
    with (
        DemoServer(make_workspace(seed=2, sizes=[200]), latency=0.04) as server,
        sk.SendKitClient(server.api_key, base_url=server.url, max_workers=6) as client,
    ):
        campaign_id = biggest_campaign(server)
        leads = sk.load_leads(client, campaign_id, limit=10, progress=False)
        assert leads.height == 200
        assert server.peak_in_flight == 6


def test_a_failed_page_stops_the_lanes_at_once() -> None:
    # Five pages of 10 on two connections: page 2 is a 404 at once, page 3 takes 0.3 s. The
    # lane that met the 404 starts no other page, and the one on page 3 stops after it.
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        page = int(query.get("page", "1"))
        if page == 2:
            return 404, {"error": "Not Found", "message": "gone", "code": 404}
        if page > 2:
            time.sleep(0.3)
        items = [lead(n) for n in range(page * 10 - 9, page * 10 + 1)]
        return 200, {
            "data": items,
            "pagination": {"page": page, "limit": 10, "total": 50, "pages": 5},
        }

    with (
        ScriptedServer(script) as server,
        sk.SendKitClient("sk_test", base_url=server.url, max_workers=2) as client,
        pytest.raises(sk.NotFoundError),
    ):
        sk.load_leads(client, "6" * 24, limit=10, progress=False)
    pages = sorted(int(query.get("page", "1")) for _, query in server.requests)
    assert pages == [1, 2, 3]


# -- errors and arguments ---------------------------------------------------------------------


def test_bad_key_is_401(server: DemoServer) -> None:
    with (
        sk.SendKitClient("sk_not_a_key", base_url=server.url) as client,
        pytest.raises(sk.AuthenticationError) as info,
    ):
        sk.load_campaigns(client)
    assert info.value.status == 401
    assert info.value.message


def test_wrong_workspace_is_403(server: DemoServer) -> None:
    with (
        sk.SendKitClient(DEMO_PLATFORM_KEY, base_url=server.url, workspace_id="0" * 24) as client,
        pytest.raises(sk.PermissionDeniedError) as info,
    ):
        sk.load_campaigns(client)
    assert info.value.status == 403


def test_platform_key_with_workspace_id_works(server: DemoServer) -> None:
    with sk.SendKitClient(
        DEMO_PLATFORM_KEY, base_url=server.url, workspace_id=DEMO_WORKSPACE_ID
    ) as c:
        assert sk.load_campaigns(c).height == len(server.workspace.campaigns)


def test_platform_key_without_workspace_fails_before_any_request(server: DemoServer) -> None:
    with sk.SendKitClient(DEMO_PLATFORM_KEY, base_url=server.url, workspace_id="") as client:
        with pytest.raises(sk.AuthenticationError, match="workspace id"):
            sk.load_campaigns(client)
        assert client.workspaces(), "unscoped endpoints still work"
    assert all(path == "/v1/workspaces" for _, path, _, _ in server.request_log)


def test_workspace_key_never_sends_workspace_id(server: DemoServer) -> None:
    # The demo answers 400 to a workspace key that sends X-Workspace-Id.
    with sk.SendKitClient(server.api_key, base_url=server.url, workspace_id=DEMO_WORKSPACE_ID) as c:
        assert sk.load_campaigns(c).height == len(server.workspace.campaigns)


def test_unknown_campaign_is_404(client: sk.SendKitClient) -> None:
    with pytest.raises(sk.NotFoundError) as info:
        sk.load_leads(client, "f" * 24, progress=False)
    assert info.value.status == 404
    assert info.value.path == f"/v1/campaigns/{'f' * 24}/leads"


def test_server_side_400_is_bad_request(client: sk.SendKitClient, server: DemoServer) -> None:
    campaign_id = server.workspace.campaigns[0]["_id"]
    with pytest.raises(sk.BadRequestError) as info:
        client.get_json(f"/v1/campaigns/{campaign_id}/leads", {"limit": 1000})
    assert info.value.status == 400
    assert "limit" in info.value.message


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("",), {}, "24-character hex"),
        (("not-an-id",), {}, "24-character hex"),
        ((None,), {}, "24-character hex"),
        (("665a1b2c3d4e5f6a7b8c9d0g",), {}, "24-character hex"),
        (("665a1b2c3d4e5f6a7b8c9d0e", "sleeping"), {}, "unknown lead status"),
        (("665a1b2c3d4e5f6a7b8c9d0e", []), {}, "unknown lead status"),
        (("665a1b2c3d4e5f6a7b8c9d0e", 5), {}, "status must be a lead status"),
        (("665a1b2c3d4e5f6a7b8c9d0e", [5]), {}, "unknown lead status"),
        (("665a1b2c3d4e5f6a7b8c9d0e",), {"limit": 0}, "limit"),
        (("665a1b2c3d4e5f6a7b8c9d0e",), {"limit": 101}, "limit"),
        (("665a1b2c3d4e5f6a7b8c9d0e",), {"limit": "50"}, "limit"),
        (("665a1b2c3d4e5f6a7b8c9d0e",), {"progress": "yes"}, "progress must be True, False"),
        (("665a1b2c3d4e5f6a7b8c9d0e",), {"progress": None}, "progress must be True, False"),
    ],
)
def test_bad_arguments_rejected_before_any_request(
    client: sk.SendKitClient,
    server: DemoServer,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    match: str,
) -> None:
    with pytest.raises(sk.BadRequestError, match=match):
        sk.load_leads(client, *args, **{"progress": False, **kwargs})
    assert server.request_log == []


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENDKIT_API_KEY", raising=False)
    with pytest.raises(sk.AuthenticationError, match="SENDKIT_API_KEY"):
        sk.SendKitClient()


def test_errors_form_one_hierarchy() -> None:
    for name in sk.__all__:
        obj = getattr(sk, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and obj is not sk.SendKitError:
            if issubclass(obj, Warning):
                continue
            assert issubclass(obj, sk.SendKitError), name


# -- the key is never shown -------------------------------------------------------------------


SECRET = "sk_live_SECRET_0123456789abcdef"


def test_key_never_appears_in_repr_logs_errors_or_warnings(
    server: DemoServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    client = sk.SendKitClient(
        SECRET, base_url=server.url, retry=sk.RetryPolicy(max_retries=1), sleep=lambda s: None
    )
    texts += [repr(client), str(client)]
    with pytest.raises(sk.SendKitError) as info:
        sk.load_leads(client, server.workspace.campaigns[0]["_id"])
    texts += [str(info.value), repr(info.value), info.value.message, info.value.hint or ""]
    server.fail_next("500", 5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sk.load_campaigns(client)
        except sk.SendKitError as exc:
            texts += [str(exc), repr(exc)]
    texts += [str(w.message) for w in caught]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    out, err = capsys.readouterr()
    texts += [out, err]
    client.close()
    assert caplog.records, "something was logged, so the search below means something"
    assert len(texts) > 8
    for text in texts:
        assert SECRET not in text
        assert "SECRET_0123" not in text


def test_progress_bar_shows_leads_and_pages(
    client: sk.SendKitClient, server: DemoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign_id = biggest_campaign(server)
    sk.load_leads(client, campaign_id, limit=100)
    err = capsys.readouterr().err
    total = len(server.workspace.leads[campaign_id])
    assert f"{total}/{total}" in err
    assert "pages=" in err
    sk.load_leads(client, campaign_id, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_function_is_told_leads_so_far_and_the_total(
    client: sk.SendKitClient, server: DemoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign_id = biggest_campaign(server)
    total = len(server.workspace.leads[campaign_id])
    calls: list[tuple[int, int | None]] = []
    leads = sk.load_leads(
        client, campaign_id, limit=100, progress=lambda done, of: calls.append((done, of))
    )
    assert leads.height == total
    # One call a page, counts rising by at most a page, ending at the total; no tqdm bar.
    assert len(calls) == -(-total // 100)
    assert all(of == total for _, of in calls)
    assert all(0 < b - a <= 100 for (a, _), (b, _) in itertools.pairwise(calls))
    assert calls[-1] == (total, total)
    assert capsys.readouterr().err == ""


# -- pagination guards, on a scripted server --------------------------------------------------


def cursor_page(
    items: list[dict[str, Any]], has_more: bool, next_cursor: str | None, total: int
) -> dict[str, Any]:
    pagination = {"limit": 2, "total": total, "hasMore": has_more, "nextCursor": next_cursor}
    return {"success": True, "data": items, "pagination": pagination}


def scripted_client(server: ScriptedServer) -> sk.SendKitClient:
    return sk.SendKitClient("sk_test", base_url=server.url, sleep=lambda s: None)


CAMPAIGN = "665a1b2c3d4e5f6a7b8c9d0e"


def test_repeated_cursor_is_an_error_not_a_loop() -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, cursor_page([lead(1), lead(2)], True, f"{2:024x}", 10)

    with ScriptedServer(script) as server, pytest.raises(sk.PaginationError, match=r"twice|same"):
        sk.load_leads(scripted_client(server), CAMPAIGN, limit=2, progress=False)
    assert len(server.requests) < 5


def test_has_more_without_cursor_is_an_error() -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, cursor_page([lead(1), lead(2)], True, None, 10)

    with ScriptedServer(script) as server, pytest.raises(sk.PaginationError, match="no cursor"):
        sk.load_leads(scripted_client(server), CAMPAIGN, limit=2, progress=False)


def test_next_cursor_set_while_has_more_false_stops() -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        if "cursor" not in query:
            return 200, cursor_page([lead(1), lead(2)], True, f"{2:024x}", 3)
        return 200, cursor_page([lead(3)], False, f"{3:024x}", 3)

    with ScriptedServer(script) as server:
        leads = sk.load_leads(scripted_client(server), CAMPAIGN, limit=2, progress=False)
    assert leads.height == 3
    assert len(server.requests) == 2


def test_full_page_without_pagination_is_an_error() -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, {"success": True, "data": [lead(1), lead(2)]}

    with ScriptedServer(script) as server, pytest.raises(sk.PaginationError, match="no way"):
        sk.load_leads(scripted_client(server), CAMPAIGN, limit=2, progress=False)


def test_page_repeating_the_previous_one_is_an_error() -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        pagination = {"page": int(query.get("page", 1)), "limit": 2, "total": 6, "pages": 3}
        return 200, {"success": True, "data": [lead(1), lead(2)], "pagination": pagination}

    with ScriptedServer(script) as server, pytest.raises(sk.PaginationError, match="same"):
        sk.load_leads(scripted_client(server), CAMPAIGN, limit=2, progress=False)


def test_absurd_page_count_is_capped() -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        pagination = {"page": 1, "limit": 2, "total": 10**9, "pages": 5 * 10**8}
        return 200, {"success": True, "data": [lead(1), lead(2)], "pagination": pagination}

    with ScriptedServer(script) as server, pytest.raises(sk.PaginationError, match="pages"):
        sk.load_leads(scripted_client(server), CAMPAIGN, limit=2, progress=False)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("status", 3, "status"),  # polars reads a number as text; the value check names it
        ("status", {"a": 1}, "data[0].status"),
        ("replied", "yes", "data[0].replied"),
        ("emailsSent", [{"sequenceStep": "one"}], "data[0].emailsSent[0].sequenceStep"),
        ("emailsSent", [{"opened": "yes"}], "data[0].emailsSent[0].opened"),
        ("leadId", {"email": ["a"]}, "data[0].leadId.email"),
        ("repliedAt", "yesterday", "repliedAt"),
        ("status", "sleeping", "status"),
    ],
)
def test_wrong_types_name_the_field(field: str, value: Any, named: str) -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, cursor_page([lead(1, **{field: value})], False, None, 1)

    with ScriptedServer(script) as server, pytest.raises(sk.SchemaError) as info:
        sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
    assert named in str(info.value)


def test_unknown_fields_ignored_and_missing_fields_null() -> None:
    extra = lead(1, brandNew={"nested": [1, 2]}, subsequence={"id": "x", "status": "active"})
    sparse = {"_id": f"{2:024x}", "status": "pending"}

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, cursor_page([extra, sparse], False, None, 2)

    with ScriptedServer(script) as server:
        leads = sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
    assert leads.height == 2
    row = leads.row(1, named=True)
    assert row["lead_id"] is None and row["emails"] == [] and row["tags"] == []
    assert row["replied"] is False


def test_non_json_error_body_gives_clear_error() -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 404, b"<html>nope</html>"

    with ScriptedServer(script) as server, pytest.raises(sk.NotFoundError) as info:
        sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
    assert "nope" in str(info.value)


def test_short_load_on_a_server_without_cursors_is_an_error_with_both_numbers() -> None:
    # Page style only (the cursor is ignored) and one lead fewer than the announced total, as
    # when a lead is removed mid-load: the cursor re-walk is impossible, so the load fails;
    # with strict=False it warns instead and returns what it loaded.
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        page = int(query.get("page", 1))
        items = [lead(1), lead(2)] if page == 1 else [lead(3)]
        pagination = {"page": page, "limit": 2, "total": 4, "pages": 2}
        return 200, {"success": True, "data": items, "pagination": pagination}

    with ScriptedServer(script) as server:
        with pytest.raises(sk.IncompleteLoadError) as info:
            sk.load_leads(scripted_client(server), CAMPAIGN, limit=2, progress=False)
        assert (info.value.loaded, info.value.expected) == (3, 4)
        assert "loaded 3 leads" in str(info.value) and "total of 4" in str(info.value)
        with pytest.warns(sk.IncompleteLoadWarning) as caught:
            leads = sk.load_leads(
                scripted_client(server), CAMPAIGN, limit=2, progress=False, strict=False
            )
    assert leads.height == 3
    message = str(caught[0].message)
    assert "loaded 3 leads" in message and "total of 4" in message


def test_cursor_walk_ending_short_of_the_total_is_an_error() -> None:
    # hasMore false after 100 of the 500 leads announced: walked twice (the second time by
    # cursor, as always when the count is off), then IncompleteLoadError with both numbers.
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        items = [lead(n) for n in range(1, 101)]
        return 200, cursor_page(items, False, f"{100:024x}", 500)

    with ScriptedServer(script) as server:
        with pytest.raises(sk.IncompleteLoadError, match=r"loaded 100 leads.*total of 500") as info:
            sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
        assert (info.value.loaded, info.value.expected) == (100, 500)
        assert len(server.requests) == 2, "walked once more by cursor before giving up"
        with pytest.warns(sk.IncompleteLoadWarning, match=r"loaded 100 leads.*total of 500"):
            leads = sk.load_leads(scripted_client(server), CAMPAIGN, progress=False, strict=False)
    assert leads.height == 100


# -- sparse records: every optional field absent, null or empty ------------------------------

#: (where, field) -> (output column, or (column, email struct field); the value loaded for
#: an absent or null field; the field's empty form and the value loaded for it). "Empty" is
#: the JSON type's own: [] for lists, {} for objects, "" for text, and also "" for integers
#: and times; a blank is no value, so text loads it as null too. A boolean has no empty form,
#: so it gets null again (tests/test_blank_fields.py sends "" for booleans, objects, lists).
SPARSE: dict[tuple[str, str], tuple[str | tuple[str, str], Any, Any, Any]] = {
    ("lead", "leadId"): ("lead_id", None, {}, None),
    ("lead", "currentSequenceStep"): ("current_step", None, "", None),
    ("lead", "emailsSent"): ("emails", [], [], []),
    ("lead", "replied"): ("replied", False, None, False),
    ("lead", "repliedAt"): ("replied_at", None, "", None),
    ("lead", "aiTag"): ("ai_tag", None, "", None),
    ("lead", "tags"): ("tags", [], [], []),
    ("lead", "addedAt"): ("added_at", None, "", None),
    ("person", "_id"): ("lead_id", None, "", None),
    ("person", "email"): ("email", None, "", None),
    ("person", "firstName"): ("first_name", None, "", None),
    ("person", "lastName"): ("last_name", None, "", None),
    ("person", "companyName"): ("company_name", None, "", None),
    ("email", "sequenceStep"): (("emails", "step"), None, "", None),
    ("email", "variant"): (("emails", "variant"), None, "", None),
    ("email", "sentAt"): (("emails", "sent_at"), None, "", None),
    ("email", "opened"): (("emails", "opened"), False, None, False),
    ("email", "clicked"): (("emails", "clicked"), False, None, False),
    ("email", "bounced"): (("emails", "bounced"), False, None, False),
}


def sparse_lead(n: int, where: str, field: str, shape: str) -> dict[str, Any]:
    item = lead(
        n,
        leadId={
            "_id": f"{n:024x}",
            "email": f"l{n}@x.io",
            "firstName": "Ann",
            "lastName": "Lee",
            "companyName": "Acme",
        },
        repliedAt="2025-06-17T08:00:00.000Z",
        replied=True,
        aiTag="interested",
        tags=["vip"],
    )
    item["emailsSent"][0]["variant"] = "A"
    holder = {"lead": item, "person": item["leadId"], "email": item["emailsSent"][0]}[where]
    if shape == "absent":
        del holder[field]
    else:
        holder[field] = None if shape == "null" else SPARSE[(where, field)][2]
    return item


@pytest.mark.parametrize("shape", ["absent", "null", "empty"])
@pytest.mark.parametrize(("where", "field"), list(SPARSE), ids=[f"{w}.{f}" for w, f in SPARSE])
def test_optional_field_absent_null_or_empty_loads(where: str, field: str, shape: str) -> None:
    # Leads 1 and 3 of 4 lack the field, so a page mixes both kinds (an absent list and a
    # full one once exploded to different lengths and crashed the load with a ShapeError).
    items = [sparse_lead(n, where, field, shape) if n % 2 else lead(n) for n in range(1, 5)]

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, cursor_page(items, False, None, 4)

    with ScriptedServer(script) as server:
        leads = sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
    assert leads.schema == sk.LEADS_SCHEMA
    assert leads["id"].to_list() == [f"{n:024x}" for n in range(1, 5)]
    column, missing, _, empty = SPARSE[(where, field)]
    want = empty if shape == "empty" else missing
    for row in (leads.row(0, named=True), leads.row(2, named=True)):
        if isinstance(column, tuple):
            assert [e[column[1]] for e in row[column[0]]] == [want]
        elif where == "lead" and field == "leadId":
            person = ("lead_id", "email", "first_name", "last_name", "company_name")
            assert [row[c] for c in person] == [None] * 5
        else:
            assert row[column] == want


def test_null_items_in_lists_load() -> None:
    # A null tag names no tag and is dropped; a null email is no email (no step, no time, no
    # flag: kept, it would count as a send) and is dropped too.
    item = lead(1, tags=["a", None], emailsSent=[None, {"sequenceStep": 2}])
    leads = sk.leads_from_items([item, lead(2)], CAMPAIGN)
    assert leads["tags"].to_list() == [["a"], []]
    assert [e["step"] for e in leads["emails"][0]] == [2]
    assert [e["opened"] for e in leads["emails"][0]] == [False]


def test_each_page_is_parsed_into_rows_as_it_arrives() -> None:
    # What a fetch thread hands back is its page's rows, parsed, not the body; the loader
    # converts them to the final schema a block of pages at a time.
    body = json.dumps(cursor_page([lead(1), lead(2)], True, f"{2:024x}", 3)).encode()
    page = parse_leads_page(body)
    rows = page.items.take()
    assert rows.height == 2 and rows.get_column("_id").to_list() == [f"{1:024x}", f"{2:024x}"]
    with pytest.raises(RuntimeError, match="taken twice"):
        page.items.take()
    assert (page.count, page.first_id, page.last_id) == (2, f"{1:024x}", f"{2:024x}")
    assert page.pagination == {"limit": 2, "total": 3, "hasMore": True, "nextCursor": f"{2:024x}"}


def test_leads_come_in_list_order_in_blocks(
    server: DemoServer, cursor_server: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Concurrent pages arrive in any order, and are packed into blocks (here of 30 leads) as
    # they come: the frame still follows the API's order, one chunk per block, not per page.
    monkeypatch.setattr(_frames, "_BLOCK_ROWS", 30)
    for demo in (server, cursor_server):
        campaign_id = biggest_campaign(demo)
        with sk.SendKitClient(demo.api_key, base_url=demo.url, max_workers=8) as client:
            leads = sk.load_leads(client, campaign_id, limit=10, progress=False)
        assert leads["id"].to_list() == expected_ids(demo, campaign_id)
        blocks = -(-leads.height // 30)
        assert 1 < max(leads.n_chunks("all")) <= blocks
        assert leads.schema == sk.LEADS_SCHEMA


# -- values the reader admits but the loader cannot use --------------------------------------


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**40, 2**70, 1.5, True, "one"])
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        (lambda v: {"currentSequenceStep": v}, "data[1].currentSequenceStep"),
        (
            lambda v: {"emailsSent": [{"sequenceStep": 0}, {"sequenceStep": v}]},
            "data[1].emailsSent[1].sequenceStep",
        ),
    ],
    ids=["currentSequenceStep", "sequenceStep"],
)
def test_step_that_is_not_an_int32_is_a_schema_error_naming_it(
    fields: Any, named: str, value: Any
) -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, cursor_page([lead(1), lead(2, **fields(value))], False, None, 2)

    with ScriptedServer(script) as server, pytest.raises(sk.SchemaError) as info:
        sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
    assert f"{named}: expected an integer within Int32" in str(info.value)


def test_a_bad_value_on_a_later_page_is_named_by_its_index_on_that_page() -> None:
    # Rows are converted a block of pages at a time; the error still counts from the start of
    # the page the value came on, as the API numbers it.
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        if "cursor" not in query:
            return 200, cursor_page([lead(1), lead(2)], True, f"{2:024x}", 4)
        return 200, cursor_page([lead(3), lead(4, currentSequenceStep="x")], False, None, 4)

    with ScriptedServer(script) as server, pytest.raises(sk.SchemaError) as info:
        sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
    assert "data[1].currentSequenceStep: expected an integer within Int32, got 'x'" in str(
        info.value
    )
    assert info.value.path == f"/v1/campaigns/{CAMPAIGN}/leads"


def test_steps_at_the_int32_limits_load() -> None:
    items = [
        lead(1, currentSequenceStep=2**31 - 1, emailsSent=[{"sequenceStep": -(2**31)}]),
        lead(2, currentSequenceStep=2.0, emailsSent=[{"sequenceStep": 1e3}]),
    ]
    leads = sk.leads_from_items(items, CAMPAIGN)
    assert leads["current_step"].to_list() == [2**31 - 1, 2]
    assert [e[0]["step"] for e in leads["emails"].to_list()] == [-(2**31), 1000]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"status": None}, "data[1].status is missing"),
        ({"_id": None}, "data[1]._id is missing"),
        ({"emailsSent": [{"sentAt": "yesterday"}]}, "data[1].emailsSent[0].sentAt"),
        ({"addedAt": "2025-13-45"}, "data[1].addedAt: expected an ISO-8601 time"),
        # The API's own form, but no such day: the fast fixed-width reading gives up on it and
        # the general one names it.
        (
            {"emailsSent": [{"sentAt": "2025-02-30T08:00:00.000Z"}]},
            "data[1].emailsSent[0].sentAt: expected an ISO-8601 time, got '2025-02-30T08:00",
        ),
        ({"tags": {"a": 1}}, "data[1].tags"),
        ({"emailsSent": ["x"]}, "data[1].emailsSent[0]"),
    ],
)
def test_bad_values_are_schema_errors_naming_the_field(fields: dict[str, Any], named: str) -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, cursor_page([lead(1), lead(2, **fields)], False, None, 2)

    with ScriptedServer(script) as server, pytest.raises(sk.SchemaError) as info:
        sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
    assert named in str(info.value)


#: ISO-8601 times in forms other than the API's own (2025-06-16T10:30:00.000Z), which the loader
#: reads with a slower general format; each is the instant Python's own parser gives.
OTHER_TIME_FORMS = [
    "2025-06-16T12:30:00.000+02:00",
    "2025-06-16T10:30:00Z",
    "2025-06-16T10:30:00.123456Z",
    "2025-06-16T10:30:00.5Z",
    "2025-06-16T05:30:00.250-05:00",
]


@pytest.mark.parametrize("form", OTHER_TIME_FORMS)
def test_times_in_other_iso_forms_load_to_the_same_instant(form: str) -> None:
    # One lead in another form among leads in the API's own form, on one page: the block is
    # converted again with the general format, and every time keeps its instant.
    odd = lead(2, addedAt=form, repliedAt=form, replied=True)
    odd["emailsSent"].append({"sequenceStep": 1, "sentAt": form})
    items = [lead(1), odd, lead(3)]

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, cursor_page(items, False, None, 3)

    with ScriptedServer(script) as server:
        leads = sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
    instant = datetime.fromisoformat(form)
    api_form = datetime.fromisoformat("2025-06-16T10:30:00.000Z")
    rows = leads.rows(named=True)
    assert [r["added_at"] for r in rows] == [
        datetime.fromisoformat("2025-06-15T09:00:00.000Z"),
        instant,
        datetime.fromisoformat("2025-06-15T09:00:00.000Z"),
    ]
    assert [r["replied_at"] for r in rows] == [None, instant, None]
    assert [[e["sent_at"] for e in r["emails"]] for r in rows] == [
        [api_form],
        [api_form, instant],
        [api_form],
    ]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({}, "no `data` list"),
        ({"data": None, "pagination": {"limit": 100, "total": 5, "hasMore": False}}, "5 items"),
        ({"pagination": {"page": 1, "limit": 100, "total": 5, "pages": 1}}, "5 items"),
        ({"data": {}}, "data: expected a list"),
        ({"data": [1]}, r"data\[0\]: expected object"),
        ({"data": [None]}, r"data\[0\]._id is missing"),
        ([], "not one JSON object"),
        (None, "not a JSON object"),
        ({"data": [], "pagination": []}, "pagination: expected object"),
        ({"data": [], "pagination": {"total": "5"}}, "pagination.total: expected integer"),
    ],
)
def test_leads_body_of_the_wrong_shape_is_a_schema_error(body: Any, match: str) -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, body

    with ScriptedServer(script) as server, pytest.raises(sk.SchemaError, match=match):
        sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)


def test_no_data_with_a_total_of_zero_is_an_empty_campaign() -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, {"data": None, "pagination": {"limit": 100, "total": 0, "hasMore": False}}

    with ScriptedServer(script) as server:
        leads = sk.load_leads(scripted_client(server), CAMPAIGN, progress=False)
    assert leads.height == 0 and leads.schema == sk.LEADS_SCHEMA


def campaign(n: int, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "_id": f"{n:024x}",
        "name": f"Campaign {n}",
        "status": "active",
        "sequence": [
            {"order": 0, "type": "email", "subject": "Hi"},
            {"order": 1, "type": "wait", "waitDays": 3},
        ],
        "createdAt": "2025-06-01T09:00:00.000Z",
    }
    item.update(fields)
    return item


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ([], "not a JSON object"),
        (3, "not a JSON object"),
        ({}, "no `data` list"),
        ({"data": None, "pagination": {"page": 1, "total": 2, "pages": 1}}, "2 items"),
        ({"data": {}}, "data: expected list"),
        ({"data": [campaign(1), "x"]}, r"data\[1\]: expected object"),
        ({"data": [campaign(1, _id=None)]}, r"data\[0\]._id: expected a non-empty string id"),
        ({"data": [campaign(1, _id=7)]}, r"data\[0\]._id: expected a non-empty string id"),
        ({"data": [], "pagination": [1]}, "pagination: expected object"),
        ({"data": [campaign(1, sequence="abc")]}, r"campaigns\[0\].sequence: expected list"),
        ({"data": [campaign(1, sequence={"order": 1})]}, r"sequence: expected list"),
        ({"data": [campaign(1, sequence=[1])]}, r"sequence\[0\]: expected object"),
        ({"data": [campaign(1, sequence=[{"order": 2**40}])]}, r"sequence\[0\].order: .*Int32"),
        ({"data": [campaign(1, sequence=[{"order": 1.5}])]}, r"sequence\[0\].order: .*Int32"),
        ({"data": [campaign(1, sequence=[{"order": True}])]}, r"sequence\[0\].order: .*Int32"),
        ({"data": [campaign(1, sequence=[{"waitDays": "3"}])]}, r"sequence\[0\].waitDays"),
        ({"data": [campaign(1, sequence=[{"name": ["x"]}])]}, r"sequence\[0\].name"),
        ({"data": [campaign(1, name={"a": 1})]}, r"campaigns\[0\].name: expected string"),
        ({"data": [campaign(1, createdAt="yesterday")]}, r"campaigns\[0\].createdAt"),
    ],
)
def test_campaigns_body_of_the_wrong_shape_is_a_schema_error(body: Any, match: str) -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, body

    with ScriptedServer(script) as server, pytest.raises(sk.SchemaError, match=match):
        sk.load_campaigns(scripted_client(server))


def test_campaigns_with_sparse_fields_load() -> None:
    items = [
        campaign(1),
        campaign(2, sequence=None, createdAt="", name=None),
        {"_id": f"{3:024x}"},
        campaign(4, sequence=[{"order": 2.0, "waitDays": None}]),
    ]
    frame = campaigns_frame(items)
    assert frame.schema == sk.CAMPAIGNS_SCHEMA
    assert frame["sequence"].to_list()[1:] == [
        [],
        [],
        [{"order": 2, "type": None, "name": None, "subject": None, "wait_days": None}],
    ]
    assert frame["created_at"].null_count() == 2
    with pytest.raises(sk.SchemaError, match=r"campaigns\[1\]: expected object"):
        campaigns_frame([campaign(1), "not a campaign"])  # type: ignore[list-item]


# -- the overall deadline ---------------------------------------------------------------------


class RecordingClient(sk.SendKitClient):
    """A real client that also notes the deadline each request was given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadlines: list[float | None] = []

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.deadlines.append(kwargs.get("deadline"))
        return super().request(*args, **kwargs)


def test_one_deadline_is_shared_by_every_request_of_a_load(
    server: DemoServer, cursor_server: DemoServer
) -> None:
    campaign_id = biggest_campaign(server)
    for demo in (server, cursor_server):
        client = RecordingClient(demo.api_key, base_url=demo.url)
        with client:
            before = time.monotonic()
            sk.load_leads(
                client, campaign_id, ["active", "replied"], limit=10, deadline=30, progress=False
            )
            after = time.monotonic()
            assert len(client.deadlines) > 4
            assert len(set(client.deadlines)) == 1, "computed once, at the start"
            (deadline,) = set(client.deadlines)
            assert deadline is not None and before + 30 <= deadline <= after + 30
    client = RecordingClient(server.api_key, base_url=server.url, deadline=60)
    with client:
        before = time.monotonic()
        sk.load_campaigns(client)
        sk.load_leads(client, campaign_id, progress=False)
        assert all(
            d is not None and before + 60 <= d <= time.monotonic() + 60 for d in client.deadlines
        )
        client.deadlines.clear()
        sk.load_campaigns(client, deadline=5)
        assert all(d is not None and d <= time.monotonic() + 5 for d in client.deadlines)
    client = RecordingClient(server.api_key, base_url=server.url)
    with client:
        sk.load_leads(client, campaign_id, progress=False)
        assert set(client.deadlines) == {None}


def test_deadline_bounds_the_whole_load_not_each_request() -> None:
    # Every page comes back in 0.2 s, well within the per-request timeout; the pages together
    # take longer than the load's deadline.
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        time.sleep(0.2)
        n = int(query.get("cursor", "0"), 16)
        return 200, cursor_page([lead(n + 1), lead(n + 2)], True, f"{n + 2:024x}", 40)

    with ScriptedServer(script) as server, pytest.raises(sk.DeadlineExceededError):
        started = time.monotonic()
        sk.load_leads(scripted_client(server), CAMPAIGN, limit=2, progress=False, deadline=0.7)
    assert time.monotonic() - started < 2
    assert len(server.requests) < 8


@pytest.mark.parametrize("deadline", [0, -1, float("nan"), "10", True])
def test_bad_deadline_rejected_before_any_request(
    client: sk.SendKitClient, server: DemoServer, deadline: Any
) -> None:
    with pytest.raises(sk.BadRequestError, match="deadline"):
        sk.load_leads(client, CAMPAIGN, progress=False, deadline=deadline)
    with pytest.raises(sk.BadRequestError, match="deadline"):
        sk.load_campaigns(client, deadline=deadline)
    assert server.request_log == []
