"""The demo API itself, over real HTTP with plain ``requests``: shapes, auth, validation,
pagination, analytics, synthetic-data invariants, faults and the command line.

Expected numbers are always recomputed here from ``workspace.leads`` with plain Python, never
taken from the server's own helpers.
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import http.client
import itertools
import json
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendkit_nb.demo import (
    DEMO_API_KEY,
    DEMO_PLATFORM_KEY,
    DEMO_WORKSPACE_ID,
    DemoServer,
    DemoWorkspace,
    Faults,
    make_workspace,
)
from sendkit_nb.demo.__main__ import main as demo_main

JSON = dict[str, Any]
HEX24 = re.compile(r"[0-9a-f]{24}")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LEAD_STATUSES = (
    "pending",
    "active",
    "paused",
    "completed",
    "bounced",
    "unsubscribed",
    "replied",
    "removed",
)
AI_TAGS = {"interested", "meeting_booked", "not_interested", "out_of_office", "wrong_person"}
SEED_KEYS = {
    "_id",
    "leadId",
    "status",
    "currentSequenceStep",
    "emailsSent",
    "replied",
    "repliedAt",
    "aiTag",
    "tags",
    "addedAt",
}
CAMPAIGN_KEYS = {
    "_id",
    "name",
    "userId",
    "workspaceId",
    "status",
    "sequence",
    "sendingSchedule",
    "trackOpens",
    "trackClicks",
    "stopOnReply",
    "stats",
    "leadCounts",
    "startedAt",
    "completedAt",
    "createdAt",
    "updatedAt",
}


# -- fixtures (kept here: tests/conftest.py belongs to the client's tests) -----------------------


@pytest.fixture(scope="module")
def ws() -> DemoWorkspace:
    """The default workspace; read-only in this file (growth tests make their own)."""
    return make_workspace()


@pytest.fixture(scope="module")
def page_srv(ws: DemoWorkspace) -> Iterator[DemoServer]:
    with DemoServer(ws) as server:
        yield server


@pytest.fixture(scope="module")
def cursor_srv(ws: DemoWorkspace) -> Iterator[DemoServer]:
    with DemoServer(ws, pagination="cursor") as server:
        yield server


@pytest.fixture()
def srv(page_srv: DemoServer) -> Iterator[DemoServer]:
    page_srv.reset()
    yield page_srv
    page_srv.reset()


def get(
    server: DemoServer,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    key: str | None = DEMO_API_KEY,
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> requests.Response:
    sent = dict(headers or {})
    if key is not None:
        sent.setdefault("X-Api-Key", key)
    getter = session.get if session is not None else requests.get
    return getter(server.url + path, params=params, headers=sent, timeout=10)


def campaign_by_status(ws: DemoWorkspace, status: str) -> JSON:
    return next(c for c in ws.campaigns if c["status"] == status)


def email_orders(campaign: JSON) -> list[int]:
    return [s["order"] for s in campaign["sequence"] if s["type"] == "email"]


def assert_error(resp: requests.Response, status: int, *words: str) -> JSON:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/json")
    body: JSON = resp.json()
    assert set(body) == {"error", "message", "code"}
    assert body["code"] == status
    assert body["error"] == resp.reason  # the HTTP reason phrase, e.g. "Not Found"
    for word in words:
        assert word in body["message"], body["message"]
    return body


def walk(
    server: DemoServer, campaign_id: str, style: str, limit: int, status: str | None = None
) -> tuple[list[str], list[JSON]]:
    """Every lead id of a campaign, page by page or cursor by cursor, plus the paginations."""
    session = requests.Session()
    ids: list[str] = []
    paginations: list[JSON] = []
    params: dict[str, Any] = {"limit": limit}
    if status is not None:
        params["status"] = status
    page = 1
    # A page-generation server answers a request without cursor in page style, so a cursor walk
    # there starts from the lowest possible id; a cursor-generation server needs none.
    cursor: str | None = None if server.pagination == "cursor" else "0" * 24
    for _ in range(10_000):
        if style == "page":
            params["page"] = page
        elif cursor is not None:
            params["cursor"] = cursor
        resp = get(server, f"/v1/campaigns/{campaign_id}/leads", params, session=session)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["success"] is True
        ids += [item["_id"] for item in body["data"]]
        paginations.append(body["pagination"])
        if style == "page":
            if page >= body["pagination"]["pages"]:
                return ids, paginations
            page += 1
        else:
            if not body["pagination"]["hasMore"]:
                return ids, paginations
            cursor = body["pagination"]["nextCursor"]
    raise AssertionError("pagination never ended")


# -- envelope, shapes, routing -------------------------------------------------------------------


def test_list_campaigns_envelope_and_headers(srv: DemoServer, ws: DemoWorkspace) -> None:
    resp = get(srv, "/v1/campaigns", {"limit": 100})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    assert b": " not in resp.content[:200]  # compact JSON
    body = resp.json()
    assert set(body) == {"success", "data", "pagination"}
    assert body["success"] is True
    assert [c["_id"] for c in body["data"]] == sorted(c["_id"] for c in ws.campaigns)
    assert body["pagination"] == {"page": 1, "limit": 100, "total": len(ws.campaigns), "pages": 1}
    for item in body["data"]:
        assert set(item) >= CAMPAIGN_KEYS


def test_keep_alive_serves_many_requests_on_one_connection(srv: DemoServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        sockets = set()
        for _ in range(5):
            conn.request("GET", "/v1/campaigns?limit=1", headers={"X-Api-Key": DEMO_API_KEY})
            resp = conn.getresponse()
            assert resp.status == 200 and json.loads(resp.read())["success"] is True
            assert not resp.will_close  # HTTP/1.1 keep-alive
            sockets.add(id(conn.sock))
        assert len(sockets) == 1  # one TCP connection served all five
    finally:
        conn.close()


def test_get_campaign_shape_and_sequence(srv: DemoServer, ws: DemoWorkspace) -> None:
    for campaign in ws.campaigns:
        body = get(srv, f"/v1/campaigns/{campaign['_id']}").json()
        assert body["success"] is True and "pagination" not in body
        data = body["data"]
        assert data == campaign
        assert set(data) >= CAMPAIGN_KEYS
        assert data["workspaceId"] == DEMO_WORKSPACE_ID
        steps = data["sequence"]
        assert [s["order"] for s in steps] == list(range(len(steps)))
        assert steps[0]["type"] == "email"
        for step in steps:
            if step["type"] == "email":
                assert step["subject"] and step["body"]
            else:
                assert step["type"] == "wait" and step["waitDays"] >= 1
    ab = ws.campaigns[0]
    assert [v["name"] for v in ab["sequence"][0]["variants"]] == ["A", "B"]


def test_campaign_ids_are_case_insensitive(srv: DemoServer, ws: DemoWorkspace) -> None:
    campaign_id = ws.campaigns[0]["_id"]
    resp = get(srv, f"/v1/campaigns/{campaign_id.upper()}")
    assert resp.status_code == 200 and resp.json()["data"]["_id"] == campaign_id


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/v1/campaigns/not-an-id", 400, ["campaign id", "24 hex"]),
        ("/v1/campaigns/665a1b2c3d4e5f6a7b8c9d0", 400, ["campaign id"]),  # 23 chars
        ("/v1/campaigns/ffffffffffffffffffffffff", 404, ["ffffffffffffffffffffffff"]),
        ("/v1/campaigns/ffffffffffffffffffffffff/leads", 404, ["not found"]),
        ("/v1/campaigns/ffffffffffffffffffffffff/analytics", 404, ["not found"]),
        ("/v1/analytics/daily/campaigns/ffffffffffffffffffffffff", 404, ["not found"]),
        ("/v1/campaigns/xyz/leads", 400, ["campaign id"]),
        ("/v1/nothing-here", 404, ["/v1/nothing-here"]),
        ("/v2/campaigns", 404, []),
        ("/", 404, []),
    ],
)
def test_errors_have_the_documented_shape(
    srv: DemoServer, path: str, status: int, words: list[str]
) -> None:
    assert_error(get(srv, path), status, *words)
    assert srv.request_log[-1].status == status


def test_other_methods_are_405(srv: DemoServer, ws: DemoWorkspace) -> None:
    resp = requests.post(
        f"{srv.url}/v1/campaigns", json={"name": "x"}, headers={"X-Api-Key": DEMO_API_KEY}
    )
    assert_error(resp, 405, "POST")


# -- authentication --------------------------------------------------------------------------


def test_auth_missing_or_unknown_key_is_401_and_never_echoed(srv: DemoServer) -> None:
    assert_error(get(srv, "/v1/campaigns", key=None), 401, "API key")
    wrong = "sk_totally_wrong_secret_123"
    body = assert_error(get(srv, "/v1/campaigns", key=wrong), 401)
    assert wrong not in json.dumps(body)
    bad_bearer = {"Authorization": f"Basic {DEMO_API_KEY}"}
    assert_error(get(srv, "/v1/campaigns", key=None, headers=bad_bearer), 401)


def test_auth_bearer_header_works(srv: DemoServer) -> None:
    resp = get(srv, "/v1/campaigns", key=None, headers={"Authorization": f"Bearer {DEMO_API_KEY}"})
    assert resp.status_code == 200


@pytest.mark.parametrize(
    ("key", "headers", "path", "status"),
    [
        (DEMO_API_KEY, {"X-Workspace-Id": DEMO_WORKSPACE_ID}, "/v1/campaigns", 400),
        (DEMO_API_KEY, {"X-Workspace-Id": DEMO_WORKSPACE_ID}, "/v1/workspaces", 400),
        (DEMO_PLATFORM_KEY, {}, "/v1/campaigns", 400),
        (DEMO_PLATFORM_KEY, {"X-Workspace-Id": "0123456789abcdef01234567"}, "/v1/campaigns", 403),
        (DEMO_PLATFORM_KEY, {"X-Workspace-Id": DEMO_WORKSPACE_ID}, "/v1/campaigns", 200),
        (DEMO_API_KEY, {}, "/v1/account", 403),
        (DEMO_PLATFORM_KEY, {}, "/v1/account", 200),
        (DEMO_PLATFORM_KEY, {"X-Workspace-Id": DEMO_WORKSPACE_ID}, "/v1/account", 200),
        (DEMO_API_KEY, {}, "/v1/workspaces", 200),
        (DEMO_PLATFORM_KEY, {}, "/v1/workspaces", 200),
    ],
)
def test_key_kinds_and_workspace_header(
    srv: DemoServer, key: str, headers: dict[str, str], path: str, status: int
) -> None:
    resp = get(srv, path, key=key, headers=headers)
    if status == 200:
        assert resp.status_code == 200 and resp.json()["success"] is True
    else:
        body = assert_error(resp, status)
        assert key not in body["message"]
        if status == 400:
            assert "X-Workspace-Id" in body["message"]


def test_platform_key_reaches_leads_with_workspace_header(
    srv: DemoServer, ws: DemoWorkspace
) -> None:
    campaign_id = ws.campaigns[0]["_id"]
    headers = {"X-Workspace-Id": DEMO_WORKSPACE_ID}
    resp = get(srv, f"/v1/campaigns/{campaign_id}/leads", key=DEMO_PLATFORM_KEY, headers=headers)
    assert resp.status_code == 200
    assert resp.json()["pagination"]["total"] == len(ws.leads[campaign_id])


def test_workspaces_and_account_payloads(srv: DemoServer, ws: DemoWorkspace) -> None:
    items = get(srv, "/v1/workspaces").json()["data"]
    assert [w["id"] for w in items] == [DEMO_WORKSPACE_ID]
    usage = items[0]["usage"]
    assert usage["totalCampaigns"] == len(ws.campaigns)
    assert usage["totalLeads"] == sum(len(v) for v in ws.leads.values())
    assert usage["totalEmailsSent"] == sum(
        len(x["emailsSent"]) for leads in ws.leads.values() for x in leads
    )
    account = get(srv, "/v1/account", key=DEMO_PLATFORM_KEY).json()["data"]
    assert {"id", "name", "email", "image", "tier", "workspaces"} <= set(account)
    assert account["workspaces"][0]["workspaceId"] == DEMO_WORKSPACE_ID


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "2.5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"page": 0}, "page"),
        ({"page": "first"}, "page"),
        ({"status": "done"}, "status"),
        ({"status": "failed"}, "status"),  # a real status, but not a documented filter value
        ({"status": "active,nope"}, "status"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "zz" * 12}, "cursor"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    srv: DemoServer, ws: DemoWorkspace, params: dict[str, Any], word: str
) -> None:
    campaign_id = ws.campaigns[0]["_id"]
    assert_error(get(srv, f"/v1/campaigns/{campaign_id}/leads", params), 400, word)
    method, path, query, status = srv.request_log[-1]
    assert (method, path, status) == ("GET", f"/v1/campaigns/{campaign_id}/leads", 400)
    assert query == {k: str(v) for k, v in params.items()}


def test_limit_bounds_and_default(srv: DemoServer, ws: DemoWorkspace) -> None:
    campaign_id = ws.campaigns[0]["_id"]
    path = f"/v1/campaigns/{campaign_id}/leads"
    assert len(get(srv, path).json()["data"]) == 25
    assert len(get(srv, path, {"limit": 1}).json()["data"]) == 1
    assert len(get(srv, path, {"limit": 100}).json()["data"]) == 100


def test_cursor_generation_ignores_page(cursor_srv: DemoServer, ws: DemoWorkspace) -> None:
    campaign_id = ws.campaigns[0]["_id"]
    path = f"/v1/campaigns/{campaign_id}/leads"
    first = get(cursor_srv, path, {"limit": 10}).json()
    for page in (3, 0, "junk"):
        again = get(cursor_srv, path, {"limit": 10, "page": page}).json()
        assert again == first
    assert set(first["pagination"]) == {"limit", "total", "hasMore", "nextCursor"}


# -- pagination ------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["page", "cursor"])
@pytest.mark.parametrize("limit", [1, 7, 100])
def test_walk_small_campaign_exactly_once(
    page_srv: DemoServer, cursor_srv: DemoServer, ws: DemoWorkspace, style: str, limit: int
) -> None:
    campaign = next(c for c in ws.campaigns if 0 < len(ws.leads[c["_id"]]) < 200)
    expected = [x["_id"] for x in ws.leads[campaign["_id"]]]
    server = page_srv if style == "page" else cursor_srv
    ids, paginations = walk(server, campaign["_id"], style, limit)
    assert ids == expected
    assert all(p["total"] == len(expected) for p in paginations)
    if style == "page":
        assert paginations[-1]["pages"] == -(-len(expected) // limit)
    else:
        assert paginations[-1]["hasMore"] is False
        assert paginations[-1]["nextCursor"] == expected[-1]  # set even on the last page
        assert all(p["hasMore"] for p in paginations[:-1])


@pytest.mark.parametrize("status", [None, "replied", "active,paused", "bounced", "pending"])
def test_walk_big_campaign_by_status_both_styles(
    page_srv: DemoServer, ws: DemoWorkspace, status: str | None
) -> None:
    for campaign in ws.campaigns:
        wanted = set(status.split(",")) if status else None
        expected = [
            x["_id"] for x in ws.leads[campaign["_id"]] if wanted is None or x["status"] in wanted
        ]
        if len(expected) > 1000:
            continue  # covered with cursors below; keep the test quick
        for style in ("page", "cursor"):
            ids, paginations = walk(page_srv, campaign["_id"], style, 100, status)
            assert ids == expected, (campaign["name"], style)
            assert paginations[0]["total"] == len(expected)


def test_cursor_walk_of_largest_campaign(page_srv: DemoServer, ws: DemoWorkspace) -> None:
    campaign_id = max(ws.leads, key=lambda cid: len(ws.leads[cid]))
    ids, _ = walk(page_srv, campaign_id, "cursor", 100)
    assert ids == [x["_id"] for x in ws.leads[campaign_id]]
    assert len(ids) > 3000


def test_page_past_the_end_and_empty_campaign(srv: DemoServer, ws: DemoWorkspace) -> None:
    campaign_id = ws.campaigns[4]["_id"]
    n = len(ws.leads[campaign_id])
    body = get(srv, f"/v1/campaigns/{campaign_id}/leads", {"page": 99, "limit": 50}).json()
    assert body["data"] == []
    assert body["pagination"] == {"page": 99, "limit": 50, "total": n, "pages": -(-n // 50)}
    empty = next(c["_id"] for c in ws.campaigns if not ws.leads[c["_id"]])
    body = get(srv, f"/v1/campaigns/{empty}/leads").json()
    assert body["data"] == [] and body["pagination"]["total"] == 0
    body = get(srv, f"/v1/campaigns/{empty}/leads", {"cursor": "0" * 24}).json()
    assert body["data"] == []
    assert body["pagination"] == {"limit": 25, "total": 0, "hasMore": False, "nextCursor": None}


def test_cursor_in_page_generation_switches_to_cursor_style(
    srv: DemoServer, ws: DemoWorkspace
) -> None:
    leads = ws.leads[ws.campaigns[0]["_id"]]
    body = get(
        srv, f"/v1/campaigns/{ws.campaigns[0]['_id']}/leads", {"cursor": leads[9]["_id"]}
    ).json()
    assert [x["_id"] for x in body["data"]] == [x["_id"] for x in leads[10:35]]
    assert body["pagination"] == {
        "limit": 25,
        "total": len(leads),
        "hasMore": True,
        "nextCursor": leads[34]["_id"],
    }


def test_items_are_the_workspace_dicts(srv: DemoServer, ws: DemoWorkspace) -> None:
    for campaign in ws.campaigns:
        raw = ws.leads[campaign["_id"]]
        body = get(srv, f"/v1/campaigns/{campaign['_id']}/leads", {"limit": 100}).json()
        assert body["data"] == raw[:100]


def test_status_filter_totals_match_workspace(srv: DemoServer, ws: DemoWorkspace) -> None:
    session = requests.Session()
    for campaign in ws.campaigns:
        counts = collections.Counter(x["status"] for x in ws.leads[campaign["_id"]])
        for status in LEAD_STATUSES:
            resp = get(
                srv,
                f"/v1/campaigns/{campaign['_id']}/leads",
                {"status": status, "limit": 1},
                session=session,
            )
            assert resp.json()["pagination"]["total"] == counts[status], (campaign["name"], status)
            assert all(x["status"] == status for x in resp.json()["data"])


def test_campaign_list_filters(srv: DemoServer, ws: DemoWorkspace) -> None:
    for status in ("active", "draft", "paused", "completed", "archived"):
        data = get(srv, "/v1/campaigns", {"status": status}).json()["data"]
        assert [c["_id"] for c in data] == [c["_id"] for c in ws.campaigns if c["status"] == status]
    data = get(srv, "/v1/campaigns", {"search": "FINTECH"}).json()["data"]
    assert [c["name"] for c in data] == [
        c["name"] for c in ws.campaigns if "fintech" in c["name"].lower()
    ]
    assert data
    both = get(srv, "/v1/campaigns", {"status": "active,paused"}).json()["pagination"]["total"]
    assert both == sum(c["status"] in ("active", "paused") for c in ws.campaigns)
    assert_error(get(srv, "/v1/campaigns", {"status": "running"}), 400, "status")
    ids: list[str] = []
    cursor = "0" * 24
    while True:
        params: dict[str, Any] = {"limit": 2, "cursor": cursor}
        body = get(srv, "/v1/campaigns", params).json()
        ids += [c["_id"] for c in body["data"]]
        if not body["pagination"]["hasMore"]:
            break
        cursor = body["pagination"]["nextCursor"]
    assert ids == [c["_id"] for c in ws.campaigns]


# -- analytics -------------------------------------------------------------------------------


def plain_step_counts(leads: list[JSON], day_from: str = "", day_to: str = "9999") -> list[JSON]:
    counts: dict[tuple[int, str], list[int]] = {}
    for lead in leads:
        for e in lead["emailsSent"]:
            if not day_from <= e["sentAt"][:10] <= day_to:
                continue
            row = counts.setdefault((e["sequenceStep"], e["variant"] or ""), [0, 0, 0, 0])
            row[0] += 1
            row[1] += 1 if e["opened"] else 0
            row[2] += 1 if e["clicked"] else 0
            row[3] += 1 if e["bounced"] else 0
    return [
        {
            "_id": {"sequenceStep": step, "variant": variant or None},
            "sent": r[0],
            "opened": r[1],
            "clicked": r[2],
            "bounced": r[3],
        }
        for (step, variant), r in sorted(counts.items())
    ]


def test_campaign_analytics_match_plain_counts(srv: DemoServer, ws: DemoWorkspace) -> None:
    for campaign in ws.campaigns:
        leads = ws.leads[campaign["_id"]]
        data = get(srv, f"/v1/campaigns/{campaign['_id']}/analytics").json()["data"]
        assert data["campaign"] == {
            "id": campaign["_id"],
            "name": campaign["name"],
            "status": campaign["status"],
            "startedAt": campaign["startedAt"],
        }
        assert data["stepAnalytics"] == plain_step_counts(leads)
        assert data["statusBreakdown"] == dict(collections.Counter(x["status"] for x in leads))
        replied = sum(1 for x in leads if x["replied"])
        assert data["totalReplied"] == replied
        sent = sum(len(x["emailsSent"]) for x in leads)
        bounced = sum(e["bounced"] for x in leads for e in x["emailsSent"])
        assert data["stats"]["sent"] == sent == campaign["stats"]["sent"]
        assert data["stats"]["delivered"] == sent - bounced
        assert data["stats"]["replied"] == replied
        assert data["stats"] == campaign["stats"]
        steps = {row["_id"]["sequenceStep"] for row in data["stepAnalytics"]}
        assert steps <= set(email_orders(campaign))
    ab = get(srv, f"/v1/campaigns/{ws.campaigns[0]['_id']}/analytics").json()["data"]
    assert [r["_id"] for r in ab["stepAnalytics"]][:2] == [
        {"sequenceStep": 0, "variant": "A"},
        {"sequenceStep": 0, "variant": "B"},
    ]


def test_campaign_analytics_date_range(srv: DemoServer, ws: DemoWorkspace) -> None:
    campaign = ws.campaigns[0]
    leads = ws.leads[campaign["_id"]]
    params = {"from": "2025-06-05", "to": "2025-06-12"}
    data = get(srv, f"/v1/campaigns/{campaign['_id']}/analytics", params).json()["data"]
    assert data["stepAnalytics"] == plain_step_counts(leads, "2025-06-05", "2025-06-12")
    replied = sum(
        1
        for x in leads
        if x["replied"] and x["repliedAt"] and "2025-06-05" <= x["repliedAt"][:10] <= "2025-06-12"
    )
    assert data["totalReplied"] == replied > 0
    assert 0 < data["stats"]["sent"] < campaign["stats"]["sent"]
    bad = get(srv, f"/v1/campaigns/{campaign['_id']}/analytics", {"from": "June"})
    assert_error(bad, 400, "from")
    flipped = {"from": "2025-06-12", "to": "2025-06-05"}
    assert_error(get(srv, f"/v1/campaigns/{campaign['_id']}/analytics", flipped), 400, "from")


def test_daily_analytics_match_plain_counts(srv: DemoServer, ws: DemoWorkspace) -> None:
    positive = {"interested", "meeting_booked"}
    for campaign in ws.campaigns:
        leads = ws.leads[campaign["_id"]]
        rows = get(srv, f"/v1/analytics/daily/campaigns/{campaign['_id']}").json()["data"]
        days = [r["_id"] for r in rows]
        assert days == sorted(days) and len(set(days)) == len(days)
        expected: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for x in leads:
            for e in x["emailsSent"]:
                c = expected[e["sentAt"][:10]]
                c["sent"] += 1
                c["opened"] += e["opened"]
                c["clicked"] += e["clicked"]
                c["bounced"] += e["bounced"]
            if x["replied"] and x["repliedAt"]:
                c = expected[x["repliedAt"][:10]]
                c["replied"] += 1
                c["positiveReplied"] += x["aiTag"] in positive
        keys = ("sent", "opened", "clicked", "bounced", "replied", "positiveReplied")
        assert rows == [
            {"_id": day, **{k: expected[day][k] for k in keys}} for day in sorted(expected)
        ]
    campaign_id = ws.campaigns[0]["_id"]
    params = {"from": "2025-06-10", "to": "2025-06-11"}
    rows = get(srv, f"/v1/analytics/daily/campaigns/{campaign_id}", params).json()["data"]
    assert [r["_id"] for r in rows] == ["2025-06-10", "2025-06-11"]


# -- synthetic data --------------------------------------------------------------------------


def check_lead(lead: JSON, campaign: JSON) -> None:
    """Everything a single campaign-lead item must satisfy, whatever the seed."""
    orders = email_orders(campaign)
    variant_steps = {s["order"] for s in campaign["sequence"] if s.get("variants")}
    status = lead["status"]
    emails = lead["emailsSent"]
    assert set(lead) >= SEED_KEYS
    assert HEX24.fullmatch(lead["_id"])
    assert ISO.fullmatch(lead["addedAt"])
    assert status in (*LEAD_STATUSES, "failed")
    if lead["leadId"] is not None:
        assert set(lead["leadId"]) == {"_id", "email", "firstName", "lastName", "companyName"}
        assert HEX24.fullmatch(lead["leadId"]["_id"])
        assert "@" in lead["leadId"]["email"]
    assert isinstance(lead["tags"], list)
    steps = [e["sequenceStep"] for e in emails]
    assert steps == orders[: len(steps)]  # email steps in sequence order, none skipped
    sent_at = [e["sentAt"] for e in emails]
    assert sent_at == sorted(sent_at) and len(set(sent_at)) == len(sent_at)
    for e in emails:
        assert ISO.fullmatch(e["sentAt"])
        assert e["sentAt"] >= lead["addedAt"]
        assert (
            (e["variant"] in ("A", "B"))
            if e["sequenceStep"] in variant_steps
            else e["variant"] is None
        )
        assert not (e["bounced"] and (e["opened"] or e["clicked"]))
        if not campaign["trackOpens"]:
            assert not e["opened"]
        if not campaign["trackClicks"]:
            assert not e["clicked"]
    # a bounce ends the lead: only ever the last email, and the lead is then "bounced"
    assert all(not e["bounced"] for e in emails[:-1])
    assert (status == "bounced") == bool(emails and emails[-1]["bounced"])
    assert lead["replied"] == (status == "replied")
    if status == "pending":
        assert emails == []
    if status in ("active", "paused"):
        assert len(emails) < len(orders)
    if status == "completed":
        assert steps == orders
    if status in ("removed", "unsubscribed"):
        assert emails
    if status == "replied":
        assert lead["aiTag"] in AI_TAGS
        if lead["repliedAt"] is not None and emails:
            # after the last email (stopOnReply), or the planted reply-before-first-email case
            assert lead["repliedAt"] > sent_at[-1] or (
                len(emails) == 1 and lead["repliedAt"] < sent_at[0]
            )
    else:
        assert lead["repliedAt"] is None
        assert lead["aiTag"] in (None, "out_of_office")
    expected_step = 0
    if emails:
        expected_step = steps[-1] if status == "replied" else steps[-1] + 1
    assert lead["currentSequenceStep"] == expected_step


def check_workspace(ws: DemoWorkspace) -> None:
    all_ids: list[str] = []
    campaign_ids = [c["_id"] for c in ws.campaigns]
    assert campaign_ids == sorted(campaign_ids)
    assert set(ws.leads) == set(campaign_ids)
    for campaign in ws.campaigns:
        leads = ws.leads[campaign["_id"]]
        ids = [x["_id"] for x in leads]
        assert all(a < b for a, b in itertools.pairwise(ids)), "ids strictly increasing"
        assert not ids or ids[0] > campaign["_id"]  # created after its campaign
        added = [x["addedAt"] for x in leads]
        assert added == sorted(added)  # insertion order = id order = addedAt order
        all_ids += ids
        statuses = collections.Counter(x["status"] for x in leads)
        if campaign["status"] == "draft":
            assert set(statuses) <= {"pending"}
        if campaign["status"] in ("completed", "archived"):
            assert not {"active", "paused", "pending"} & set(statuses)
        if campaign["status"] == "paused":
            assert "active" not in statuses
        for lead in leads:
            check_lead(lead, campaign)
        sent = sum(len(x["emailsSent"]) for x in leads)
        assert campaign["stats"]["sent"] == sent
        assert campaign["stats"]["replied"] == sum(x["replied"] for x in leads)
        assert campaign["leadCounts"] == {"total": len(leads), "active": statuses["active"]}
    assert len(set(all_ids)) == len(all_ids)


def test_default_workspace_invariants(ws: DemoWorkspace) -> None:
    check_workspace(ws)
    total = sum(len(v) for v in ws.leads.values())
    assert 8000 <= total <= 10_000
    assert {c["status"] for c in ws.campaigns} >= {"active", "completed", "paused", "draft"}
    statuses = collections.Counter(x["status"] for v in ws.leads.values() for x in v)
    assert set(statuses) == {*LEAD_STATUSES, "failed"}  # every status occurs
    assert all(x["status"] == "pending" for x in ws.leads[campaign_by_status(ws, "draft")["_id"]])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), sizes=st.lists(st.integers(0, 400), min_size=1, max_size=8))
def test_any_seed_gives_consistent_data(seed: int, sizes: list[int]) -> None:
    check_workspace(make_workspace(seed=seed, sizes=sizes))


def test_determinism(ws: DemoWorkspace) -> None:
    again = make_workspace(seed=7)
    assert again.campaigns == ws.campaigns
    assert again.leads == ws.leads
    other = make_workspace(seed=8)
    assert [x["_id"] for x in other.leads[other.campaigns[0]["_id"]]] != [
        x["_id"] for x in ws.leads[ws.campaigns[0]["_id"]]
    ]


def test_realistic_rates_and_ab_difference(ws: DemoWorkspace) -> None:
    for campaign in ws.campaigns:
        leads = ws.leads[campaign["_id"]]
        emails = [e for x in leads for e in x["emailsSent"]]
        if len(leads) < 1000 or not emails:
            continue
        sent = len(emails)
        assert 0.01 <= sum(e["bounced"] for e in emails) / sent <= 0.05
        assert 0.25 <= sum(e["opened"] for e in emails) / sent <= 0.60
        assert 0.02 <= sum(e["clicked"] for e in emails) / sent <= 0.10
        assert 0.02 <= sum(x["replied"] for x in leads) / len(leads) <= 0.10
    first_steps = [e for x in ws.leads[ws.campaigns[0]["_id"]] for e in x["emailsSent"][:1]]
    rate = {
        v: sum(e["opened"] for e in first_steps if e["variant"] == v)
        / sum(e["variant"] == v for e in first_steps)
        for v in ("A", "B")
    }
    assert rate["B"] - rate["A"] > 0.05
    # two campaigns carry variants: one on a single step, one on two steps
    with_variants = [
        sorted(
            {e["sequenceStep"] for x in ws.leads[c["_id"]] for e in x["emailsSent"] if e["variant"]}
        )
        for c in ws.campaigns
    ]
    assert [0] in with_variants and [0, 2] in with_variants


def test_edge_cases_are_present(ws: DemoWorkspace) -> None:
    everything = [(c, x) for c in ws.campaigns for x in ws.leads[c["_id"]]]
    leads = [x for _, x in everything]
    people = [x["leadId"] for x in leads if x["leadId"] is not None]
    names = {p["firstName"] for p in people} | {p["lastName"] for p in people}
    assert {"José", "Zoë", "Müller", "王", "Ólafur"} <= names
    assert sum(p["firstName"] is None for p in people) >= 2
    assert sum(p["lastName"] is None for p in people) >= 2
    assert sum(p["companyName"] is None for p in people) >= 2
    assert sum(x["leadId"] is None for x in leads) >= 2
    replied = [x for x in leads if x["status"] == "replied"]
    assert sum(x["repliedAt"] is None for x in replied) >= 2
    before_first = [
        x
        for x in replied
        if x["repliedAt"] and x["emailsSent"] and x["repliedAt"] < x["emailsSent"][0]["sentAt"]
    ]
    assert len(before_first) >= 2
    assert any(not x["emailsSent"] for x in replied)  # replied before any email at all
    stopped_mid = [
        x
        for c, x in everything
        if x["status"] == "replied" and 0 < len(x["emailsSent"]) < len(email_orders(c))
    ]
    assert len(stopped_mid) > 20
    assert sum("subsequence" in x for x in leads) >= 2
    assert sum("customFields" in x for x in leads) >= 10
    assert sum("campaignId" in x for x in leads) > 100
    assert all(x["campaignId"] == c["_id"] for c, x in everything if "campaignId" in x)
    tag_kinds = {tuple(x["tags"]) for x in leads}
    assert {(), ("vip",), ("q3", "vip")} <= tag_kinds
    assert {x["aiTag"] for x in replied} == AI_TAGS


def test_unicode_and_nulls_round_trip_over_http(srv: DemoServer, ws: DemoWorkspace) -> None:
    for campaign in ws.campaigns:
        raw = ws.leads[campaign["_id"]]
        odd = [
            i
            for i, x in enumerate(raw)
            if x["leadId"] is None or not str(x["leadId"]["firstName"] or "").isascii()
        ]
        for i in odd[:3]:
            params = {"limit": 1, "cursor": raw[i - 1]["_id"]} if i else {"limit": 1}
            resp = get(srv, f"/v1/campaigns/{campaign['_id']}/leads", params)
            assert resp.json()["data"] == [raw[i]]
            assert raw[i]["leadId"] is None or raw[i]["leadId"]["firstName"] in resp.text


def test_add_leads_appends_higher_ids() -> None:
    ws = make_workspace(seed=11, sizes=[30, 30, 30])
    active, paused = ws.campaigns[0], ws.campaigns[2]
    old_max = max(x["_id"] for v in ws.leads.values() for x in v)
    new = ws.add_leads(active["_id"], 5)
    assert len(new) == 5 and ws.leads[active["_id"]][-5:] == new
    assert all(x["_id"] > old_max for x in new)
    assert [x["status"] for x in new] == ["active"] * 5
    assert all(x["emailsSent"] == [] and x["currentSequenceStep"] == 0 for x in new)
    assert [x["status"] for x in ws.add_leads(paused["_id"], 2)] == ["pending", "pending"]
    assert active["leadCounts"]["total"] == 35
    check_workspace(ws)
    with pytest.raises(KeyError):
        ws.add_leads("f" * 24, 1)


def test_hand_built_workspace_is_served() -> None:
    campaign = make_workspace(seed=1, sizes=[3]).campaigns[0]
    lead: JSON = {
        "_id": "ffffffffffffffffffff0001",
        "leadId": None,
        "status": "pending",
        "currentSequenceStep": 0,
        "emailsSent": [],
        "replied": False,
        "repliedAt": None,
        "aiTag": None,
        "tags": [],
        "addedAt": "2025-06-15T09:00:00.000Z",
    }
    ws = DemoWorkspace(campaigns=[campaign], leads={campaign["_id"]: [lead]})
    new = ws.add_leads(campaign["_id"], 1)[0]
    assert new["_id"] > lead["_id"]
    with DemoServer(ws) as server:
        data = get(server, f"/v1/campaigns/{campaign['_id']}/leads").json()["data"]
        assert [x["_id"] for x in data] == [lead["_id"], new["_id"]]


# -- faults ----------------------------------------------------------------------------------


def test_rate_limit_fault_with_retry_after(srv: DemoServer) -> None:
    srv.faults = Faults(rate_limit=1.0, retry_after=2)
    resp = get(srv, "/v1/campaigns")
    assert_error(resp, 429)
    assert resp.headers["Retry-After"] == "2"
    srv.faults.retry_after = 0.25
    assert get(srv, "/v1/campaigns").headers["Retry-After"] == "0.25"
    srv.faults.retry_after = None
    resp = get(srv, "/v1/campaigns")
    assert resp.status_code == 429 and "Retry-After" not in resp.headers
    srv.reset()
    assert get(srv, "/v1/campaigns").status_code == 200
    assert [entry.status for entry in srv.request_log] == [200]


def test_server_error_fault_rotates_5xx(srv: DemoServer) -> None:
    srv.faults.server_error = 1.0
    codes = [get(srv, "/v1/campaigns").status_code for _ in range(6)]
    assert codes == [500, 502, 503, 500, 502, 503]
    resp = get(srv, "/v1/campaigns")
    assert_error(resp, 500)


def test_drop_fault_closes_without_response(srv: DemoServer) -> None:
    srv.faults.drop = 1.0
    with pytest.raises(requests.ConnectionError):
        get(srv, "/v1/campaigns")
    session = requests.Session()
    srv.faults.drop = 0.0
    assert get(srv, "/v1/campaigns", session=session).status_code == 200
    srv.fail_next("drop")
    with pytest.raises(requests.ConnectionError):
        get(srv, "/v1/campaigns", session=session)  # also on a pooled keep-alive connection
    assert get(srv, "/v1/campaigns", session=session).status_code == 200
    assert [e.status for e in srv.request_log] == [0, 200, 0, 200]


def test_slow_fault_sleeps_then_answers(srv: DemoServer) -> None:
    srv.faults = Faults(slow=1.0, slow_seconds=0.3)
    start = time.perf_counter()
    resp = get(srv, "/v1/campaigns")
    assert resp.status_code == 200
    assert time.perf_counter() - start >= 0.3
    with pytest.raises(requests.Timeout):
        requests.get(srv.url + "/v1/campaigns", headers={"X-Api-Key": DEMO_API_KEY}, timeout=0.05)


def test_truncated_fault_cuts_the_body(srv: DemoServer, ws: DemoWorkspace) -> None:
    path = f"/v1/campaigns/{ws.campaigns[0]['_id']}/leads"
    full = get(srv, path).content
    srv.faults.truncated = 1.0
    resp = get(srv, path)
    assert resp.status_code == 200
    assert resp.content == full[: len(full) // 2]
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    with pytest.raises(requests.JSONDecodeError):
        resp.json()


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "drop", "slow", "truncated"])
def test_fail_next_hits_exactly_n_requests(srv: DemoServer, kind: str) -> None:
    srv.faults.slow_seconds = 0.2
    srv.fail_next(kind, 2)
    session = requests.Session()
    outcomes: list[str] = []
    for _ in range(3):
        start = time.perf_counter()
        try:
            resp = get(srv, "/v1/campaigns", session=session)
        except requests.ConnectionError:
            outcomes.append("drop")
            continue
        if time.perf_counter() - start >= 0.2:
            outcomes.append("slow")
        elif resp.status_code != 200:
            outcomes.append(str(resp.status_code))
        else:
            try:
                resp.json()
                outcomes.append("ok")
            except requests.JSONDecodeError:
                outcomes.append("truncated")
    assert outcomes == [kind, kind, "ok"]


def test_fail_next_rejects_unknown_kind(srv: DemoServer) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        srv.fail_next("404")


def test_random_faults_are_seeded_and_mixed(srv: DemoServer) -> None:
    def run() -> list[int]:
        srv.reset()
        srv.faults = Faults(rate_limit=0.3, server_error=0.2, seed=42)
        return [get(srv, "/v1/workspaces").status_code for _ in range(30)]

    first, second = run(), run()
    assert first == second
    assert {200, 429} <= set(first) and set(first) & {500, 502, 503}
    srv.reset()
    srv.faults = Faults(rate_limit=0.3, server_error=0.2, seed=43)
    third = [get(srv, "/v1/workspaces").status_code for _ in range(30)]
    assert third != first


def test_add_leads_during_paging_cursor_walk_sees_growth() -> None:
    ws = make_workspace(seed=5, sizes=[250])
    campaign_id = ws.campaigns[0]["_id"]
    with DemoServer(ws, pagination="cursor") as server:
        server.add_leads_during_paging(campaign_id, 30)
        ids, paginations = walk(server, campaign_id, "cursor", 100)
        assert paginations[0]["total"] == 250  # the first page was built before the growth
        assert paginations[-1]["total"] == 280
        assert ids == [x["_id"] for x in ws.leads[campaign_id]]
        assert len(ids) == len(set(ids)) == 280
        assert ws.campaigns[0]["leadCounts"]["total"] == 280
        # one-shot: the next walk sees no more growth
        again, _ = walk(server, campaign_id, "cursor", 100)
        assert again == ids


def test_add_leads_during_paging_page_mode_grows_total() -> None:
    ws = make_workspace(seed=5, sizes=[120])
    campaign_id = ws.campaigns[0]["_id"]
    with DemoServer(ws) as server:
        server.add_leads_during_paging(campaign_id, 5)
        first = get(server, f"/v1/campaigns/{campaign_id}/leads", {"limit": 100}).json()
        second = get(server, f"/v1/campaigns/{campaign_id}/leads", {"limit": 100, "page": 2}).json()
        assert first["pagination"]["total"] == 120
        assert second["pagination"]["total"] == 125
        assert len(second["data"]) == 25
        with pytest.raises(KeyError):
            server.add_leads_during_paging("f" * 24, 1)


def test_latency_is_applied_to_every_response() -> None:
    ws = make_workspace(seed=1, sizes=[5])
    with DemoServer(ws, latency=0.15) as server:
        for path, key in (("/v1/campaigns", DEMO_API_KEY), ("/v1/campaigns", None)):
            start = time.perf_counter()
            get(server, path, key=key)
            assert time.perf_counter() - start >= 0.15


def test_concurrent_clients(srv: DemoServer, ws: DemoWorkspace) -> None:
    campaign_id = ws.campaigns[0]["_id"]
    expected = [x["_id"] for x in ws.leads[campaign_id]]
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            session = requests.Session()
            got: list[str] = []
            for page in range(k % 4 + 1, k % 4 + 4):
                params = {"page": page, "limit": 50}
                resp = get(srv, f"/v1/campaigns/{campaign_id}/leads", params, session=session)
                got += [x["_id"] for x in resp.json()["data"]]
            results[k] = got
        except BaseException as err:  # surfaced by the assert below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    for k, got in results.items():
        first = (k % 4) * 50
        assert got == expected[first : first + 150]
    assert len(results) == 16


def test_request_log_and_reset(srv: DemoServer) -> None:
    get(srv, "/v1/campaigns", {"limit": 3, "search": "ops"})
    get(srv, "/v1/campaigns", key=None)
    assert srv.request_log == [
        ("GET", "/v1/campaigns", {"limit": "3", "search": "ops"}, 200),
        ("GET", "/v1/campaigns", {}, 401),
    ]
    srv.fail_next("429", 3)
    srv.reset()
    assert srv.request_log == []
    assert get(srv, "/v1/campaigns").status_code == 200


# -- transport faults (short_body, chunked_broken, bad_gzip, drip, garbage Retry-After) --------
#
# Checked on the wire with raw sockets and http.client: requests would translate (and partly
# hide) exactly what these faults are about.


class RawResponse(NamedTuple):
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes  # what followed the head on the wire (chunk framing included)
    closed: bool  # the server closed the connection before the announced length arrived
    reads: int  # recv() calls that returned body bytes


def raw_get(
    port: int, path: str, *, key: str | None = DEMO_API_KEY, read_timeout: float = 5.0
) -> RawResponse:
    """One keep-alive GET on a fresh socket; the body is read up to Content-Length, or to EOF
    when there is none (chunked), so a response that ends early is seen as it is."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as sock:
        key_line = f"X-Api-Key: {key}\r\n" if key is not None else ""
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{key_line}\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before the head: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        want = int(headers["content-length"]) if "content-length" in headers else None
        closed, reads = False, 0
        while want is None or len(body) < want:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            body += chunk
            reads += 1
        return RawResponse(int(lines[0].split()[1]), headers, body, closed, reads)


def leads_path(ws: DemoWorkspace, limit: int = 5) -> str:
    return f"/v1/campaigns/{ws.campaigns[0]['_id']}/leads?limit={limit}"


def outcome(server: DemoServer, path: str) -> str:
    """What one request on a fresh connection looked like, named after the fault kinds."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", path, headers={"X-Api-Key": DEMO_API_KEY})
        resp = conn.getresponse()
        try:
            body = resp.read()
        except http.client.IncompleteRead:
            chunked = resp.getheader("Transfer-Encoding") == "chunked"
            return "chunked_broken" if chunked else "short_body"
        location = resp.getheader("Location") or ""
        if resp.status == 302:
            if "_demo_loop=1" in location:
                return "redirect_loop"
            if location.startswith("ftp://"):
                return "redirect_scheme"
            if location.startswith("http://[::1"):
                return "redirect_malformed"
            return "redirect_other_origin"
        if resp.status == 429:
            retry_after = resp.getheader("Retry-After") or ""
            return "429" if retry_after.replace(".", "").isdigit() else "retry_after_garbage"
        if resp.getheader("Content-Encoding") == "gzip":
            return "bad_gzip"
        json.loads(body)
        return "ok" if resp.status == 200 else str(resp.status)
    finally:
        conn.close()


@pytest.fixture()
def tiny_srv() -> Iterator[DemoServer]:
    """A fresh server on a three-lead campaign: for tests that stop it or leave it dripping."""
    with DemoServer(make_workspace(seed=1, sizes=[3])) as server:
        yield server


def test_short_body_announces_the_whole_body_then_closes(
    srv: DemoServer, ws: DemoWorkspace
) -> None:
    path = leads_path(ws)
    full = raw_get(srv.port, path)
    assert full.status == 200 and not full.closed
    srv.fail_next("short_body")
    cut = raw_get(srv.port, path)
    assert cut.status == 200
    assert int(cut.headers["content-length"]) == len(full.body)
    assert cut.body == full.body[: len(full.body) // 2]
    assert cut.closed, "the connection is closed instead of the rest of the body"
    assert "connection" not in cut.headers, "the cut is not announced"
    srv.fail_next("short_body")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", path, headers={"X-Api-Key": DEMO_API_KEY})
    with pytest.raises(http.client.IncompleteRead):
        conn.getresponse().read()
    conn.close()
    assert [e.status for e in srv.request_log] == [200, 200, 200]


def test_chunked_broken_alternates_bad_size_line_and_cut_chunk(
    srv: DemoServer, ws: DemoWorkspace
) -> None:
    path = leads_path(ws)
    full = raw_get(srv.port, path).body
    srv.fail_next("chunked_broken", 2)
    bad_line, cut_chunk = raw_get(srv.port, path), raw_get(srv.port, path)
    for resp in (bad_line, cut_chunk):
        assert resp.status == 200 and resp.closed
        assert resp.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in resp.headers
        assert not resp.body.endswith(b"0\r\n\r\n"), "no terminating zero-size chunk"
    # 1st: a valid chunk with the first half, then a chunk-size line that is not hex
    size, _, rest = bad_line.body.partition(b"\r\n")
    first = int(size, 16)
    assert first == len(full) // 2 and rest[:first] == full[:first]
    assert rest[first : first + 2] == b"\r\n"
    with pytest.raises(ValueError):
        int(rest[first + 2 :].split(b"\r\n")[0], 16)
    # 2nd: one chunk announcing the whole body, closed after half of it
    size, _, rest = cut_chunk.body.partition(b"\r\n")
    assert int(size, 16) == len(full) and rest == full[: len(full) // 2]
    # a standard client reports both as an incomplete read
    assert [outcome(srv, path) for _ in range(3)] == ["ok", "ok", "ok"]
    srv.fail_next("chunked_broken", 2)
    assert [outcome(srv, path) for _ in range(3)] == ["chunked_broken", "chunked_broken", "ok"]


def test_bad_gzip_labels_plain_json_as_gzip(srv: DemoServer, ws: DemoWorkspace) -> None:
    path = leads_path(ws)
    full = raw_get(srv.port, path).body
    srv.fail_next("bad_gzip")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    headers = {"X-Api-Key": DEMO_API_KEY, "Accept-Encoding": "gzip"}
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip"
    assert body == full, "the body is the plain JSON, complete"
    with pytest.raises(gzip.BadGzipFile):
        gzip.decompress(body)
    # the framing is intact, so the keep-alive connection stays usable
    conn.request("GET", path, headers=headers)
    again = conn.getresponse()
    assert again.getheader("Content-Encoding") is None and again.read() == full
    conn.close()


def test_retry_after_garbage_is_a_429_with_an_unparsable_value(srv: DemoServer) -> None:
    srv.faults = Faults(retry_after_garbage=1.0)
    resp = raw_get(srv.port, "/v1/campaigns")
    assert resp.status == 429 and resp.headers["retry-after"] == "nan"
    assert json.loads(resp.body)["code"] == 429
    srv.faults.garbage_retry_after = "soon, maybe"
    assert raw_get(srv.port, "/v1/campaigns").headers["retry-after"] == "soon, maybe"
    srv.faults.retry_after_garbage = 0.0
    assert raw_get(srv.port, "/v1/campaigns").status == 200


def test_drip_sends_the_body_a_byte_at_a_time(tiny_srv: DemoServer) -> None:
    path = "/v1/no-such-route"  # a 404: a small body, and drip applies to every status
    normal = raw_get(tiny_srv.port, path)
    assert normal.status == 404
    tiny_srv.faults = Faults(drip=1.0, drip_seconds=0.01)
    started = time.perf_counter()
    # every single read is far quicker than the whole response: a per-read timeout never trips
    dripped = raw_get(tiny_srv.port, path, read_timeout=0.5)
    elapsed = time.perf_counter() - started
    assert dripped.status == 404 and dripped.body == normal.body and not dripped.closed
    assert elapsed >= 0.9 * 0.01 * len(normal.body)
    assert dripped.reads >= len(normal.body) // 4, "the bytes trickle in, not in one piece"


def wait_until(check: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_drip_ends_when_the_client_leaves_and_does_not_block_stop() -> None:
    ws = make_workspace(seed=1, sizes=[100])
    path = leads_path(ws, limit=100)  # ~60 kB: ten minutes of dripping at 10 ms a byte
    with DemoServer(ws) as server:
        server.faults = Faults(drip=1.0, drip_seconds=0.01)
        # _connections holds the sockets of live handler threads: empty again means they ended
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {DEMO_API_KEY}\r\n\r\n".encode()
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        assert server._connections
        sock.close()
        assert wait_until(lambda: not server._connections, 2.0), "the drip outlived its client"

        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Api-Key: {DEMO_API_KEY}\r\n\r\n".encode()
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        started = time.perf_counter()
        server.stop()
        assert time.perf_counter() - started < 1.0
        assert wait_until(lambda: not server._connections, 2.0), "the drip outlived stop()"
        sock.close()


@pytest.mark.parametrize(
    "kind",
    [
        "short_body",
        "chunked_broken",
        "bad_gzip",
        "retry_after_garbage",
        "redirect_loop",
        "redirect_other_origin",
        "redirect_scheme",
        "redirect_malformed",
    ],
)
def test_fail_next_new_kinds_hit_exactly_n_requests(
    srv: DemoServer, ws: DemoWorkspace, kind: str
) -> None:
    path = leads_path(ws)
    srv.fail_next(kind, 2)
    assert [outcome(srv, path) for _ in range(3)] == [kind, kind, "ok"]


def test_random_faults_follow_one_uniform_draw_in_field_order(
    srv: DemoServer, ws: DemoWorkspace
) -> None:
    # The documented rule, recomputed with a plain RNG: one draw per request, kinds checked in
    # Faults field order. It pins down that the newer kinds did not reshuffle the older ones.
    path = leads_path(ws, limit=2)
    spec = [
        ("429", 0.1),
        ("short_body", 0.1),
        ("chunked_broken", 0.1),
        ("bad_gzip", 0.1),
        ("retry_after_garbage", 0.1),
    ]

    def expected(seed: int, n: int) -> list[str]:
        rng = random.Random(seed)
        out: list[str] = []
        for _ in range(n):
            u, acc, got = rng.random(), 0.0, "ok"
            for kind, p in spec:
                acc += p
                if u < acc:
                    got = kind
                    break
            out.append(got)
        return out

    seen: set[str] = set()
    for seed in (4, 5):
        srv.reset()
        srv.faults = Faults(
            rate_limit=0.1,
            short_body=0.1,
            chunked_broken=0.1,
            bad_gzip=0.1,
            retry_after_garbage=0.1,
            retry_after=1,
            seed=seed,
        )
        got = [outcome(srv, path) for _ in range(40)]
        assert got == expected(seed, 40)
        seen.update(got)
    assert seen == {kind for kind, _ in spec} | {"ok"}
    srv.reset()
    srv.faults = Faults(rate_limit=0.3, server_error=0.2, seed=42)
    old = [outcome(srv, "/v1/workspaces") for _ in range(30)]
    rng = random.Random(42)
    draws = [rng.random() for _ in range(30)]
    assert [x == "429" for x in old] == [u < 0.3 for u in draws]
    assert [x in ("500", "502", "503") for x in old] == [0.3 <= u < 0.5 for u in draws]


# -- redirect faults ----------------------------------------------------------------------------


def request_on(conn: http.client.HTTPConnection, path: str) -> tuple[int, str, bytes]:
    conn.request("GET", path, headers={"X-Api-Key": DEMO_API_KEY})
    resp = conn.getresponse()
    return resp.status, resp.getheader("Location") or "", resp.read()


def test_redirect_loop_points_back_at_itself_forever(srv: DemoServer, ws: DemoWorkspace) -> None:
    path = leads_path(ws)
    srv.fail_next("redirect_loop")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    status, location, _ = request_on(conn, path)
    assert status == 302 and location == f"{srv.url}{path}&_demo_loop=1"
    hop = urlsplit(location)
    for _ in range(5):
        # the marked URL redirects to itself: a loop no matter how long one follows it
        assert request_on(conn, f"{hop.path}?{hop.query}")[:2] == (302, location)
    # the hops drew no faults: fail_next(…, 1) was used up by the first request alone
    assert request_on(conn, path)[0] == 200
    conn.close()
    assert [e.status for e in srv.request_log] == [302] * 6 + [200]
    srv.fail_next("redirect_loop")
    assert raw_get(srv.port, "/v1/campaigns").headers["location"] == (
        f"{srv.url}/v1/campaigns?_demo_loop=1"
    )


def test_redirect_other_origin_serves_the_api_and_logs_whether_the_key_came(
    srv: DemoServer, ws: DemoWorkspace
) -> None:
    path = leads_path(ws)
    full = raw_get(srv.port, path).body
    srv.fail_next("redirect_other_origin")
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    status, location, _ = request_on(conn, path)
    conn.close()
    assert status == 302 and srv.other_origin_url is not None
    assert location == srv.other_origin_url + path
    other = urlsplit(location)
    assert other.hostname == "127.0.0.1" and other.port not in (None, srv.port)
    assert other.port is not None
    with_key = raw_get(other.port, path)
    assert with_key.status == 200 and with_key.body == full
    assert raw_get(other.port, path, key=None).status == 401
    query = {"limit": "5"}
    assert srv.other_origin_log == [
        ("GET", other.path, query, True),
        ("GET", other.path, query, False),
    ]
    assert [e.status for e in srv.request_log] == [200, 302], "the other port logs apart"
    srv.reset()
    assert srv.other_origin_log == []


def test_other_origin_port_closes_with_the_server(tiny_srv: DemoServer) -> None:
    assert tiny_srv.other_origin_url is None, "started on first use only"
    tiny_srv.fail_next("redirect_other_origin")
    port = urlsplit(raw_get(tiny_srv.port, "/v1/campaigns").headers["location"]).port
    assert port is not None
    tiny_srv.stop()
    assert tiny_srv.other_origin_url is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_redirect_scheme_and_malformed_locations(srv: DemoServer, ws: DemoWorkspace) -> None:
    path = leads_path(ws)
    srv.fail_next("redirect_scheme")
    assert raw_get(srv.port, path).headers["location"] == f"ftp://127.0.0.1:{srv.port}{path}"
    srv.fail_next("redirect_malformed")
    location = raw_get(srv.port, path).headers["location"]
    assert location == f"http://[::1{path}"
    with pytest.raises(ValueError, match="IPv6"):
        urlsplit(location)
    assert [e.status for e in srv.request_log] == [302, 302]


# -- lifecycle, limits, command line ---------------------------------------------------------


def test_lifecycle_and_loopback_only() -> None:
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ValueError, match="loopback"):
            DemoServer(host=host)
    ws = make_workspace(seed=2, sizes=[3])
    server = DemoServer(ws, host="localhost")
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.api_key == DEMO_API_KEY and server.workspace is ws
        assert "sk_" not in repr(server)
        with pytest.raises(RuntimeError):
            server.start()
    server.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.port}/v1/campaigns", timeout=2)


def test_hundred_thousand_leads_generate_and_serve() -> None:
    started = time.perf_counter()
    big = make_workspace(sizes=[100_000])
    generated = time.perf_counter() - started
    campaign_id = big.campaigns[0]["_id"]
    leads = big.leads[campaign_id]
    assert len(leads) == 100_000
    with DemoServer(big, pagination="cursor") as server:
        ready = time.perf_counter() - started
        path = f"/v1/campaigns/{campaign_id}/leads"
        body = get(server, path, {"limit": 100, "cursor": leads[99_949]["_id"]}).json()
        assert [x["_id"] for x in body["data"]] == [x["_id"] for x in leads[99_950:]]
        assert body["pagination"]["total"] == 100_000 and body["pagination"]["hasMore"] is False
        replied = get(server, path, {"status": "replied", "limit": 1}).json()
        assert replied["pagination"]["total"] == sum(x["status"] == "replied" for x in leads)
    # Not a benchmark, a tripwire: the benchmark harness relies on "a few seconds".
    print(f"100k leads: generated in {generated:.1f}s, serving after {ready:.1f}s")
    assert ready < 60


def test_main_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo_main(["--leads", "-1"]) == 2
    assert "--leads" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        demo_main(["--host", "0.0.0.0"])


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_command_line_serves_until_signalled(stop_signal: signal.Signals) -> None:
    cmd = [sys.executable, "-m", "sendkit_nb.demo", "--port", "0", "--leads", "40"]
    cmd += ["--pagination", "cursor", "--latency-ms", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.fullmatch(r"SendKit demo API on (http://127\.0\.0\.1:\d+)\n", first)
        assert match, first
        url = match.group(1)
        resp = requests.get(url + "/v1/campaigns", headers={"X-Api-Key": DEMO_API_KEY}, timeout=5)
        campaign_id = resp.json()["data"][0]["_id"]
        leads = requests.get(
            f"{url}/v1/campaigns/{campaign_id}/leads",
            headers={"X-Api-Key": DEMO_API_KEY},
            timeout=5,
        ).json()
        assert leads["pagination"]["total"] == 40 and "hasMore" in leads["pagination"]
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0
        rest = proc.stdout.read()
        assert f"workspace key: {DEMO_API_KEY}" in rest
        assert rest.rstrip().endswith("demo API stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_request_begun_before_reset_stays_out_of_the_log_after_it(srv: DemoServer) -> None:
    # A slow answer the client gave up on finishes after the next test's reset(); it must not
    # show up in that test's request log.
    srv.reset()
    srv.fail_next("slow")
    srv.faults.slow_seconds = 0.6
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=0.1)
    with contextlib.suppress(TimeoutError, OSError):
        conn.request("GET", "/v1/campaigns?limit=1", headers={"X-Api-Key": DEMO_API_KEY})
        conn.getresponse()
    conn.close()
    srv.reset()
    time.sleep(1.0)  # the slow request has now been answered (into a closed connection)
    assert srv.request_log == []
    fresh = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    fresh.request("GET", "/v1/campaigns?limit=1", headers={"X-Api-Key": DEMO_API_KEY})
    assert fresh.getresponse().status == 200
    fresh.close()
    assert [r.path for r in srv.request_log] == ["/v1/campaigns"]
