"""Workspace leads (``GET /v1/leads``): the demo serves them consistently with its campaigns,
``load_lead_details`` reads them exactly (checked against the raw JSON), and
``with_lead_details`` joins them onto campaign leads without losing or duplicating a lead."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb.demo import DemoServer, Faults, make_workspace
from tests.raw_api import every_item, get
from tests.scripted_server import ScriptedServer


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.strip() or None


def _expected_row(item: dict[str, Any]) -> dict[str, Any]:
    """One person as the loader should read it, computed from the raw item by hand."""
    email = _text(item.get("email"))
    custom = item.get("customFields")
    created = item.get("createdAt")
    return {
        "lead_id": item["_id"],
        "email": email,
        "email_domain": email.split("@")[-1].lower() if email and "@" in email else None,
        "first_name": _text(item.get("firstName")),
        "last_name": _text(item.get("lastName")),
        "company_name": _text(item.get("companyName")),
        "job_title": _text(item.get("jobTitle")),
        "city": _text(item.get("city")),
        "state": _text(item.get("state")),
        "country": _text(item.get("country")),
        "email_verified": item.get("emailVerified"),
        "email_verification": _text(item.get("emailVerificationResult")),
        "tags": item.get("tags") or [],
        "custom_fields": None if custom is None else custom,
        "created_at": None if not created else datetime.fromisoformat(created),
    }


def _rows(details: pl.DataFrame) -> list[dict[str, Any]]:
    rows = details.to_dicts()
    for row in rows:
        if row["custom_fields"] is not None:
            row["custom_fields"] = json.loads(row["custom_fields"])
    return rows


def test_lead_details_match_the_raw_json(client: sk.SendKitClient, server: DemoServer) -> None:
    raw = every_item(server, "/v1/leads")
    details = sk.load_lead_details(client, progress=False)
    assert details.schema == sk.LEAD_DETAILS_SCHEMA
    assert details.height == len(raw) == get(server, "/v1/leads", limit=1)["pagination"]["total"]
    assert _rows(details) == [_expected_row(item) for item in raw]
    # the awkward shapes are really there, so the comparison above covered them
    assert any("jobTitle" not in item for item in raw)
    assert any(item.get("jobTitle") == "" for item in raw)
    assert any(item.get("tags") is None for item in raw)
    assert any(item.get("customFields") == {} for item in raw)
    assert any("customFields" not in item for item in raw)


def test_lead_details_by_cursor_match_pages() -> None:
    # Servers of their own: the session's servers are grown by other tests (leads added while
    # paging), which adds people to one of them and not the other.
    with (
        DemoServer() as paged,
        DemoServer(pagination="cursor") as cursored,
        sk.SendKitClient(paged.api_key, base_url=paged.url) as page_client,
        sk.SendKitClient(cursored.api_key, base_url=cursored.url) as cursor_client,
    ):
        by_page = sk.load_lead_details(page_client, progress=False)
        by_cursor = sk.load_lead_details(cursor_client, progress=False)
    assert by_page.height > 0
    assert by_cursor.equals(by_page)


def test_every_campaign_person_is_served_once_and_deleted_ones_not(server: DemoServer) -> None:
    people = {item["_id"]: item for item in every_item(server, "/v1/leads")}
    referenced = {
        lead["leadId"]["_id"]: lead["leadId"]
        for leads in server.workspace.leads.values()
        for lead in leads
        if lead["leadId"]
    }
    assert set(referenced) <= set(people)
    for lead_id, who in referenced.items():
        assert people[lead_id]["email"] == who["email"].lower()
        assert people[lead_id]["companyName"] == who["companyName"]
    deleted = [x for v in server.workspace.leads.values() for x in v if x["leadId"] is None]
    assert deleted, "the demo has campaign leads whose person was deleted"
    assert len(people) > len(referenced), "and people in no campaign"


def test_tags_filter_matches_any_tag(client: sk.SendKitClient, server: DemoServer) -> None:
    raw = every_item(server, "/v1/leads")
    wanted = {"q3", "webinar"}
    expected = [x["_id"] for x in raw if wanted & set(x.get("tags") or [])]
    server.reset()
    details = sk.load_lead_details(client, tags=["webinar", "q3"], progress=False)
    assert details["lead_id"].to_list() == expected
    assert server.request_log[0].query["tags"] == "q3,webinar"
    assert sk.load_lead_details(client, tags="q3", progress=False).height == sum(
        "q3" in (x.get("tags") or []) for x in raw
    )


@pytest.mark.parametrize("bad", [5, [], ["a,b"], [" "], ["vip", 3]])
def test_bad_tags_are_refused_before_any_request(
    client: sk.SendKitClient, server: DemoServer, bad: Any
) -> None:
    with pytest.raises(sk.BadRequestError):
        sk.load_lead_details(client, tags=bad, progress=False)
    assert server.request_log == []


def test_joined_onto_campaign_leads(client: sk.SendKitClient, server: DemoServer) -> None:
    details = sk.load_lead_details(client, progress=False)
    people = {item["_id"]: item for item in every_item(server, "/v1/leads")}
    for campaign in server.workspace.campaigns[:3]:
        leads = sk.load_leads(client, campaign["_id"], progress=False)
        joined = sk.with_lead_details(leads, details)
        assert joined.height == leads.height
        assert joined.select(leads.columns).equals(leads), "the leads' own columns are untouched"
        assert {"company_name_details", "email_details", "tags_details"} <= set(joined.columns)
        for row in joined.select("lead_id", "job_title", "country", "tags_details").to_dicts():
            person = people.get(row["lead_id"]) if row["lead_id"] else None
            if person is None:
                assert (row["job_title"], row["country"], row["tags_details"]) == (None, None, None)
            else:
                assert row["job_title"] == _text(person.get("jobTitle"))
                assert row["country"] == _text(person.get("country"))
                assert row["tags_details"] == (person.get("tags") or [])
    # the campaign with deleted people kept them, with null details
    first = sk.load_leads(client, server.workspace.campaigns[0]["_id"], progress=False)
    joined = sk.with_lead_details(first, details)
    deleted = joined.filter(pl.col("lead_id").is_null())
    assert deleted.height == 3
    assert deleted["job_title"].null_count() == 3


def test_join_with_a_person_in_two_campaigns_and_one_without_details() -> None:
    workspace = make_workspace(seed=11, sizes=[60, 50])
    first_id, second_id = (c["_id"] for c in workspace.campaigns)
    shared = workspace.leads[first_id][5]
    twin = workspace.leads[second_id][7]
    twin["leadId"] = copy.deepcopy(shared["leadId"])
    with (
        DemoServer(workspace) as server,
        sk.SendKitClient(server.api_key, base_url=server.url) as client,
    ):
        raw = every_item(server, "/v1/leads")
        details = sk.load_lead_details(client, progress=False)
        leads = pl.concat([sk.load_leads(client, c, progress=False) for c in (first_id, second_id)])
    person_id = shared["leadId"]["_id"]
    assert sum(x["_id"] == person_id for x in raw) == 1, "one person, whatever its campaigns"
    missing = leads["lead_id"].drop_nulls()[20]
    partial = details.filter(pl.col("lead_id") != missing)
    # details given twice (e.g. two loads concatenated) must not double any lead
    joined = sk.with_lead_details(leads, pl.concat([partial, partial]))
    assert joined.height == leads.height == 110
    assert joined["id"].to_list() == leads["id"].to_list()
    both = joined.filter(pl.col("lead_id") == person_id)
    assert both.height == 2
    assert both["campaign_id"].to_list() == [first_id, second_id]
    assert both["job_title"].n_unique() == 1 and both["job_title"][0] is not None
    gone = joined.filter(pl.col("lead_id") == missing)
    assert gone.height == 1 and gone["job_title"][0] is None and gone["email"][0] is not None


def test_join_refuses_frames_without_lead_id(client: sk.SendKitClient) -> None:
    with pytest.raises(sk.BadRequestError):
        sk.with_lead_details(pl.DataFrame({"id": ["a"]}), pl.DataFrame({"lead_id": ["a"]}))
    with pytest.raises(sk.BadRequestError):
        sk.with_lead_details(pl.DataFrame({"lead_id": ["a"]}), "details")  # type: ignore[arg-type]


def test_reply_rates_vary_by_attribute(client: sk.SendKitClient, server: DemoServer) -> None:
    """The demo's attributes are drawn so that a breakdown finds something."""
    details = sk.load_lead_details(client, progress=False)
    leads = pl.concat(
        [sk.load_leads(client, c["_id"], progress=False) for c in server.workspace.campaigns]
    )
    joined = sk.with_lead_details(leads, details)
    rates = dict(joined.group_by("job_title").agg(pl.col("replied").mean()).iter_rows())
    assert rates["Founder"] > 2.5 * rates["Software Engineer"]
    bounced = dict(
        joined.group_by("email_verified").agg((pl.col("status") == "bounced").mean()).iter_rows()
    )
    assert bounced[False] > 3 * bounced[True]


def _page_script(items: list[dict[str, Any]], *, total: int | None = None) -> Any:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        page = int(query.get("page", "1"))
        limit = int(query["limit"])
        chunk = items[(page - 1) * limit : page * limit]
        count = len(items) if total is None else total
        pagination = {"page": page, "limit": limit, "total": count, "pages": -(-count // limit)}
        return 200, {"success": True, "data": chunk, "pagination": pagination}

    return script


def test_absent_null_and_empty_fields() -> None:
    items: list[dict[str, Any]] = [
        {"_id": "a" * 24},  # nothing but an id
        {
            "_id": "b" * 24,
            "email": "  Mixed.Case@Example.COM ",
            "jobTitle": "",
            "city": "   ",
            "tags": None,
            "customFields": {},
            "emailVerified": None,
            "createdAt": "",
        },
        {
            "_id": "c" * 24,
            "email": "no-at-sign",
            "tags": [],
            "customFields": {"seats": 12, "industry": "saas", "nested": {"x": [1, None]}},
            "emailVerified": False,
            "createdAt": "2025-06-01T10:00:00+02:00",
        },
    ]
    with (
        ScriptedServer(_page_script(items)) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
    ):
        details = sk.load_lead_details(client, progress=False)
    rows = details.to_dicts()
    assert rows[0] == {**dict.fromkeys(sk.LEAD_DETAILS_SCHEMA), "lead_id": "a" * 24, "tags": []}
    assert rows[1]["email"] == "Mixed.Case@Example.COM"
    assert rows[1]["email_domain"] == "example.com"
    assert (rows[1]["job_title"], rows[1]["city"], rows[1]["tags"]) == (None, None, [])
    assert rows[1]["custom_fields"] == "{}"
    assert rows[1]["created_at"] is None
    assert rows[2]["email_domain"] is None
    assert json.loads(rows[2]["custom_fields"]) == items[2]["customFields"]
    assert rows[2]["custom_fields"].index('"industry"') < rows[2]["custom_fields"].index('"seats"')
    assert rows[2]["created_at"].isoformat() == "2025-06-01T08:00:00+00:00"
    assert details.with_columns(
        pl.col("custom_fields").str.json_path_match("$.industry").alias("industry")
    )["industry"].to_list() == [None, None, "saas"]


def test_empty_workspace() -> None:
    with (
        ScriptedServer(_page_script([])) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
    ):
        details = sk.load_lead_details(client, progress=False)
    assert details.height == 0 and details.schema == sk.LEAD_DETAILS_SCHEMA


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("jobTitle", 5, ".jobTitle: expected string, got 5"),
        ("emailVerified", "yes", ".emailVerified: expected boolean, got 'yes'"),
        ("tags", ["vip", 3], ".tags[1]: expected string, got 3"),
        ("customFields", "seats=3", ".customFields: expected object"),
        ("createdAt", "yesterday", ".createdAt: expected an ISO-8601 time"),
    ],
)
def test_a_bad_value_names_its_page_and_field(field: str, value: Any, problem: str) -> None:
    items: list[dict[str, Any]] = [{"_id": f"{n:024x}"} for n in range(1, 151)]
    items[120][field] = value  # the loader asks for 100 a page: page 2, data[20]
    with (
        ScriptedServer(_page_script(items)) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
        pytest.raises(sk.SchemaError) as caught,
    ):
        sk.load_lead_details(client, progress=False)
    assert f"page 2, data[20] (_id {items[120]['_id']}){problem}" in str(caught.value)
    assert caught.value.path == "/v1/leads"


def test_a_bad_value_in_cursor_mode_names_the_page_by_its_first_id() -> None:
    items: list[dict[str, Any]] = [{"_id": f"{n:024x}"} for n in range(1, 4)]
    items[2]["city"] = ["Paris"]

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        pagination = {"limit": 100, "total": 3, "hasMore": False, "nextCursor": items[-1]["_id"]}
        return 200, {"success": True, "data": items, "pagination": pagination}

    with (
        ScriptedServer(script) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
        pytest.raises(sk.SchemaError, match=rf"starting at _id {items[0]['_id']}, data\[2\]"),
    ):
        sk.load_lead_details(client, progress=False)


def test_short_load_is_an_error_or_a_warning() -> None:
    items = [{"_id": f"{n:024x}"} for n in range(1, 4)]
    with (
        ScriptedServer(_page_script(items, total=5)) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
    ):
        with pytest.raises(sk.IncompleteLoadError) as caught:
            sk.load_lead_details(client, progress=False)
        assert (caught.value.loaded, caught.value.expected) == (3, 5)
        with pytest.warns(sk.IncompleteLoadWarning, match="3 workspace leads"):
            details = sk.load_lead_details(client, progress=False, strict=False)
    assert details.height == 3


@pytest.mark.parametrize(
    "kind", ["429", "500", "503", "drop", "truncated", "short_body", "chunked_broken", "bad_gzip"]
)
def test_survives_each_fault(client: sk.SendKitClient, server: DemoServer, kind: str) -> None:
    clean = sk.load_lead_details(client, progress=False)
    server.reset()
    server.fail_next(kind, 2)
    again = sk.load_lead_details(client, progress=False)
    assert again.equals(clean)
    statuses = [r.status for r in server.request_log if r.path == "/v1/leads"]
    assert len(statuses) == -(-clean.height // 100) + 2
    if kind in ("429", "500", "503"):
        assert statuses.count(int(kind)) == 2


def test_survives_random_faults(client: sk.SendKitClient, server: DemoServer) -> None:
    clean = sk.load_lead_details(client, progress=False)
    server.faults = Faults(rate_limit=0.15, server_error=0.1, truncated=0.05, seed=4)
    # Pages are fetched concurrently, so which page draws which fault varies from run to run;
    # enough retries that no page can plausibly fail every attempt (0.3 ** 11 per page).
    patient = sk.RetryPolicy(max_retries=10, rng=lambda: 0.5)
    with sk.SendKitClient(
        server.api_key, base_url=server.url, retry=patient, sleep=lambda _: None
    ) as faulty:
        assert sk.load_lead_details(faulty, progress=False).equals(clean)
    assert any(r.status == 429 for r in server.request_log)


def test_progress_callback_counts_people(client: sk.SendKitClient) -> None:
    seen: list[tuple[int, int | None]] = []
    details = sk.load_lead_details(client, progress=lambda n, total: seen.append((n, total)))
    assert seen[-1] == (details.height, details.height)
    assert [n for n, _ in seen] == sorted(n for n, _ in seen)
