"""Blank values (``""``) load as null, as the README promises for every optional field of a
campaign lead: text columns, each email's ``variant``, tag entries, and the objects, lists and
booleans whose JSON type has no blank form (``leadId: ""`` once failed the whole load).

Over real HTTP against the demo server, which serves hand-edited leads as they are, and through
``sk.leads_from_items``; plus the wrong numbers the blanks used to make (a second A/B arm, an
empty-string AI tag group, a shared "" address), and the errors that must stay errors."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
import sendkit_nb.metrics as skm
from sendkit_nb.demo import DemoServer, DemoWorkspace, make_workspace
from tests.scripted_server import ScriptedServer

CAMPAIGN = "665a1b2c3d4e5f6a7b8c9d0e"
PERSON_COLUMNS = ("lead_id", "email", "first_name", "last_name", "company_name")


def full_lead(n: int) -> dict[str, Any]:
    """A campaign lead with every optional field set (none blank), id number ``n``."""
    return {
        "_id": f"{0xABC000 + n:024x}",
        "leadId": {
            "_id": f"{0xDEF000 + n:024x}",
            "email": f"lead{n}@example.com",
            "firstName": "Ann",
            "lastName": "Lee",
            "companyName": "Acme",
        },
        "status": "replied",
        "currentSequenceStep": 1,
        "emailsSent": [
            {
                "sequenceStep": 0,
                "variant": "A",
                "sentAt": "2025-06-16T10:30:00.000Z",
                "opened": True,
                "clicked": True,
                "bounced": True,
            }
        ],
        "replied": True,
        "repliedAt": "2025-06-17T08:00:00.000Z",
        "aiTag": "interested",
        "tags": ["vip"],
        "addedAt": "2025-06-15T09:00:00.000Z",
    }


#: Optional fields that did not load "" as null (text kept it; an object, list or boolean
#: raised SchemaError): (where, field) -> what absent, null and "" all load as, read from the
#: row by the function.
FIELDS: dict[tuple[str, str], tuple[Any, Any]] = {
    ("person", "_id"): (None, lambda row: row["lead_id"]),
    ("person", "email"): (None, lambda row: row["email"]),
    ("person", "firstName"): (None, lambda row: row["first_name"]),
    ("person", "lastName"): (None, lambda row: row["last_name"]),
    ("person", "companyName"): (None, lambda row: row["company_name"]),
    ("lead", "aiTag"): (None, lambda row: row["ai_tag"]),
    ("email", "variant"): ([None], lambda row: [e["variant"] for e in row["emails"]]),
    ("lead", "leadId"): ([None] * 5, lambda row: [row[c] for c in PERSON_COLUMNS]),
    ("lead", "emailsSent"): ([], lambda row: row["emails"]),
    ("lead", "tags"): ([], lambda row: row["tags"]),
    ("lead", "replied"): (False, lambda row: row["replied"]),
    ("email", "opened"): ([False], lambda row: [e["opened"] for e in row["emails"]]),
    ("email", "clicked"): ([False], lambda row: [e["clicked"] for e in row["emails"]]),
    ("email", "bounced"): ([False], lambda row: [e["bounced"] for e in row["emails"]]),
}
SHAPES = ("absent", "null", "blank")


def shaped_leads(where: str, field: str) -> list[dict[str, Any]]:
    """Three leads (in id order) whose ``field`` is absent, null and "", between full ones."""
    leads = []
    for n, shape in enumerate(SHAPES):
        item = full_lead(2 * n + 1)
        holder = {"lead": item, "person": item["leadId"], "email": item["emailsSent"][0]}[where]
        if shape == "absent":
            del holder[field]
        else:
            holder[field] = None if shape == "null" else ""
        leads += [item, full_lead(2 * n + 2)]
    return leads


def loaded_values(leads: pl.DataFrame, where: str, field: str) -> list[Any]:
    """The field's loaded value for the absent, null and blank leads, in that order."""
    read = FIELDS[(where, field)][1]
    rows = leads.rows(named=True)
    assert [r["id"] for r in rows] == [full_lead(n)["_id"] for n in range(1, 7)]
    return [read(rows[i]) for i in (0, 2, 4)]


@pytest.fixture(scope="module")
def fields_server() -> Iterator[DemoServer]:
    """One campaign per field of FIELDS, holding that field's three shapes."""
    workspace = make_workspace(seed=3, sizes=[1] * len(FIELDS))
    leads = {
        campaign["_id"]: shaped_leads(where, field)
        for campaign, (where, field) in zip(workspace.campaigns, FIELDS, strict=True)
    }
    with DemoServer(DemoWorkspace(campaigns=workspace.campaigns, leads=leads)) as server:
        yield server


@pytest.mark.parametrize(("where", "field"), list(FIELDS), ids=[f"{w}.{f}" for w, f in FIELDS])
def test_absent_null_and_blank_load_alike_over_http(
    fields_server: DemoServer, where: str, field: str
) -> None:
    campaign_id = fields_server.workspace.campaigns[list(FIELDS).index((where, field))]["_id"]
    with sk.SendKitClient(fields_server.api_key, base_url=fields_server.url) as client:
        leads = sk.load_leads(client, campaign_id, limit=2, progress=False)
    assert leads.schema == sk.LEADS_SCHEMA
    want = FIELDS[(where, field)][0]
    assert loaded_values(leads, where, field) == [want] * 3
    # The full leads between them keep their values.
    assert leads["tags"][1].to_list() == ["vip"] and leads["lead_id"][1] is not None


@pytest.mark.parametrize(("where", "field"), list(FIELDS), ids=[f"{w}.{f}" for w, f in FIELDS])
def test_absent_null_and_blank_load_alike_from_items(where: str, field: str) -> None:
    leads = sk.leads_from_items(shaped_leads(where, field), CAMPAIGN)
    assert loaded_values(leads, where, field) == [FIELDS[(where, field)][0]] * 3


def test_every_field_blank_at_once_is_a_bare_lead() -> None:
    # One lead with every optional field blank loads as the lead with none of them.
    blank = full_lead(1)
    for key in ("leadId", "emailsSent", "replied", "repliedAt", "aiTag", "tags", "addedAt"):
        blank[key] = ""
    blank["currentSequenceStep"] = ""
    bare = {"_id": blank["_id"], "status": "replied"}
    assert sk.leads_from_items([blank], CAMPAIGN).equals(sk.leads_from_items([bare], CAMPAIGN))


def test_blank_and_null_tags_are_dropped() -> None:
    items = [
        full_lead(1) | {"tags": ["", None]},
        full_lead(2) | {"tags": ["vip", "", None, "q3"]},
        full_lead(3) | {"tags": [None]},
    ]
    leads = sk.leads_from_items(items, CAMPAIGN)
    assert leads["tags"].to_list() == [[], ["vip", "q3"], []]
    # So a tag breakdown shows no empty-string tag, only the untagged group beside the tags.
    groups = skm.breakdown(leads, "tags")["tags"].to_list()
    assert "" not in groups and len(groups) == 3 and {"vip", "q3"} <= set(groups)


def _items_with_empty_email_items() -> list[dict[str, Any]]:
    return [
        full_lead(1) | {"emailsSent": ["", {"sequenceStep": 1, "variant": ""}, None]},
        full_lead(2) | {"emailsSent": ["", None], "replied": False, "repliedAt": None},
    ]


@pytest.mark.parametrize("via", ["http", "items"])
def test_null_and_blank_email_items_are_no_emails(via: str) -> None:
    items = _items_with_empty_email_items()
    if via == "items":
        leads = sk.leads_from_items(items, CAMPAIGN)
    else:
        workspace = make_workspace(seed=5, sizes=[1])
        campaign_id = workspace.campaigns[0]["_id"]
        served = DemoWorkspace(campaigns=workspace.campaigns, leads={campaign_id: items})
        with (
            DemoServer(served) as server,
            sk.SendKitClient(server.api_key, base_url=server.url) as client,
        ):
            leads = sk.load_leads(client, campaign_id, progress=False)
    emails = [[(e["step"], e["variant"]) for e in row] for row in leads["emails"].to_list()]
    assert emails == [[(1, None)], []]
    # The second lead was never emailed: not contacted, and no row of sk.emails().
    assert skm.headline(leads)["contacted"].item() == 1
    assert sk.emails(leads).height == 1


# -- the wrong numbers blanks used to make ------------------------------------------------------


def probe_leads() -> list[dict[str, Any]]:
    """Two contacted leads that differ only in null against blank: variant, AI tag, email."""
    first, second = full_lead(1), full_lead(2)
    first["emailsSent"][0]["variant"] = None
    second["emailsSent"][0]["variant"] = ""
    first["aiTag"], second["aiTag"] = None, ""
    first["leadId"]["email"] = second["leadId"]["email"] = ""
    return [first, second]


@pytest.fixture(scope="module", params=["http", "items"])
def probe_frame(request: pytest.FixtureRequest) -> pl.DataFrame:
    """The probe leads, loaded over HTTP from the demo server, or from the items."""
    workspace = make_workspace(seed=4, sizes=[1])
    campaign_id = workspace.campaigns[0]["_id"]
    if request.param == "items":
        return sk.leads_from_items(probe_leads(), campaign_id)
    hand_built = DemoWorkspace(campaigns=workspace.campaigns, leads={campaign_id: probe_leads()})
    with (
        DemoServer(hand_built, pagination="cursor") as server,
        sk.SendKitClient(server.api_key, base_url=server.url) as client,
    ):
        return sk.load_leads(client, campaign_id, progress=False)


def test_null_and_blank_variant_are_one_arm(probe_frame: pl.DataFrame) -> None:
    arms = skm.variant_funnel(probe_frame).select("step", "variant", "sent").rows()
    assert arms == [(0, None, 2)]


def test_blank_ai_tag_is_untagged(probe_frame: pl.DataFrame) -> None:
    counts = skm.ai_tag_counts(probe_frame)
    assert counts.select("ai_tag", "leads").rows() == [(None, 2)]


def test_two_blank_addresses_are_no_duplicate(probe_frame: pl.DataFrame) -> None:
    findings = skm.quality(probe_frame)
    assert "duplicate_address" not in findings["check"].to_list()
    assert probe_frame["email"].to_list() == [None, None]


# -- what stays an error ----------------------------------------------------------------------


def test_a_wrong_type_beside_a_blank_object_is_still_named() -> None:
    item = full_lead(1) | {"leadId": "", "emailsSent": [{"opened": "yes"}]}
    with pytest.raises(sk.SchemaError, match=r"data\[0\]\.emailsSent\[0\]\.opened.*'yes'"):
        sk.leads_from_items([item], CAMPAIGN)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"repliedAt": "2025-06-17T08:00:00"}, "data[0].repliedAt"),
        ({"addedAt": "2025-06-15T09:00:00.000"}, "data[0].addedAt"),
        ({"emailsSent": [{"sentAt": "2025-06-16 10:30:00"}]}, "data[0].emailsSent[0].sentAt"),
    ],
)
def test_a_time_without_offset_is_refused_saying_so(fields: dict[str, Any], named: str) -> None:
    # The API writes every time with Z; one without an offset names no instant, and guessing
    # a zone would shift replies silently, so it is an error that says what is missing.
    body = json.dumps({"data": [full_lead(1) | fields], "pagination": {"total": 1}}).encode()

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, body

    with ScriptedServer(script) as server, pytest.raises(sk.SchemaError) as info:
        client = sk.SendKitClient("sk_test", base_url=server.url, sleep=lambda s: None)
        sk.load_leads(client, CAMPAIGN, progress=False)
    assert f"{named}: expected an ISO-8601 time" in str(info.value)
    assert "no UTC offset" in str(info.value)
    # A date alone lacks more than an offset, and is not said to lack only that.
    with pytest.raises(sk.SchemaError) as info:
        sk.leads_from_items([full_lead(1) | {"repliedAt": "2025-06-17"}], CAMPAIGN)
    assert "data[0].repliedAt: expected an ISO-8601 time, got '2025-06-17'" in str(info.value)
    assert "offset" not in str(info.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("place", "named"),
    [
        (lambda item, v: item.update(currentSequenceStep=v), "data[0].currentSequenceStep"),
        (lambda item, v: item["emailsSent"][0].update(sequenceStep=v), "sequenceStep"),
        (lambda item, v: item.update(aiTag=v), "data[0].aiTag"),
        (lambda item, v: item.update(custom={"score": [1, v]}), "data[0].custom.score[1]"),
    ],
    ids=["currentSequenceStep", "sequenceStep", "aiTag", "unknown-field"],
)
def test_nan_and_infinity_name_their_field(place: Any, named: str, value: float) -> None:
    item = copy.deepcopy(full_lead(1))
    place(item, value)
    body = json.dumps({"data": [item], "pagination": {"total": 1}}).encode()  # writes NaN

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        return 200, body

    with ScriptedServer(script) as server, pytest.raises(sk.SchemaError) as info:
        client = sk.SendKitClient("sk_test", base_url=server.url, sleep=lambda s: None)
        sk.load_leads(client, CAMPAIGN, progress=False)
    token = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    assert named in str(info.value) and f"got {token}" in str(info.value)
