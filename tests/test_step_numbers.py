"""Steps as people count them: every metrics frame with a ``step`` (the sequence ``order``)
carries ``step_number`` (1, 2, 3 ... among email steps) and ``step_label`` right after it, and
the dashboard's lead table shows a lead's current step the same way.

The campaigns here have wait steps between (and before) their email steps, so the order and the
number differ; the expected numbers are worked out in plain Python from the sequence dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
import sendkit_nb.metrics as m
from sendkit_nb import BadRequestError
from sendkit_nb._frames import campaigns_frame, leads_from_items
from sendkit_nb.demo import DemoServer
from sendkit_nb.metrics._labels import label_positions
from sendkit_nb.widgets._source import ApiSource
from sendkit_nb.widgets._state import (
    SORT_KEYS,
    TABLE_COLUMNS,
    CampaignStore,
    LoadedCampaign,
    Selection,
    compute_view,
)

Raw = dict[str, Any]
EPOCH = datetime(2025, 6, 1, tzinfo=UTC)
C1 = "a1" * 12
C2 = "b2" * 12
C3 = "c3" * 12  # has leads but no sequence anywhere

#: Two waits in a row, a variant step, a step without a type (an email step) and one with only
#: a name: email steps at orders 0, 3, 5 read Step 1, 2, 3.
SEQUENCE_1: list[Raw] = [
    {"type": "email", "order": 0, "name": "Intro", "subject": "Quick question"},
    {"type": "wait", "order": 1, "waitDays": 2},
    {"type": "wait", "order": 2, "waitDays": 1},
    {"type": "email", "order": 3, "name": "Bump", "subject": "Re: Quick question"},
    {"type": "wait", "order": 4, "waitDays": 3},
    {"order": 5, "name": "Breakup", "subject": None},
]
#: Starts with a wait: email steps at orders 1, 2 read Step 1, 2.
SEQUENCE_2: list[Raw] = [
    {"type": "wait", "order": 0, "waitDays": 1},
    {"type": "email", "order": 1, "subject": "Hello"},
    {"type": "email", "order": 2, "subject": "Bye"},
]
CAMPAIGNS: list[Raw] = [
    {"_id": C1, "name": "One", "status": "active", "sequence": SEQUENCE_1},
    {"_id": C2, "name": "Two", "status": "active", "sequence": SEQUENCE_2},
]


def expected_steps(sequence: Sequence[Raw]) -> dict[int, tuple[int, str]]:
    """order -> (number, label), straight from the contract: email steps numbered in order,
    waits skipped, subject else name."""
    emails = sorted((s for s in sequence if s.get("type") != "wait"), key=lambda s: s["order"])
    return {
        s["order"]: (n, f"Step {n} · {s.get('subject') or s.get('name')}")
        for n, s in enumerate(emails, 1)
    }


EXPECTED = {C1: expected_steps(SEQUENCE_1), C2: expected_steps(SEQUENCE_2)}


def expected_for(campaign_id: str | None, step: int | None) -> tuple[int | None, str]:
    found = EXPECTED.get(campaign_id or "", {}).get(step) if step is not None else None
    if found is not None:
        return found
    return None, "Step (unknown)" if step is None else f"Step order {step}"


def iso(minutes: int) -> str:
    return (EPOCH + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


_ids = iter(range(10**6))


def lead(
    steps: Sequence[tuple[int, int, str | None]],
    *,
    current: int | None = 0,
    replied_at: int | None = None,
    replied: bool = False,
) -> Raw:
    """A campaign-lead dict as the API serves it; ``steps``: (order, minute, variant)."""
    n = next(_ids)
    return {
        "_id": f"{n:024x}",
        "leadId": {"_id": f"{n + 1:024x}", "email": f"l{n}@x.io", "firstName": "A"},
        "status": "replied" if replied else "active",
        "currentSequenceStep": current,
        "emailsSent": [
            {
                "sequenceStep": step,
                "variant": variant,
                "sentAt": iso(at),
                "opened": True,
                "clicked": False,
                "bounced": False,
            }
            for step, at, variant in steps
        ],
        "replied": replied,
        "repliedAt": None if replied_at is None else iso(replied_at),
        "aiTag": "interested" if replied else None,
        "tags": [],
        "addedAt": iso(0),
    }


def c1_items() -> list[Raw]:
    return [
        lead([(0, 0, None), (3, 100, "A"), (5, 200, None)], current=5),
        lead([(0, 0, None), (3, 100, "B")], current=4),
        lead([(0, 0, None), (3, 100, "A")], current=3, replied=True, replied_at=150),
        lead([(0, 0, None)], current=1),
        lead([(0, 0, None)], current=2),
        lead([(0, 0, None), (3, 100, "B"), (5, 200, None)], current=6),  # past the end
        lead([], current=0),  # not emailed yet
        lead([(0, 10, None)], current=0, replied=True, replied_at=5),  # reply before any email
        # Data the sequence does not explain: an email at a wait's order, one past the end.
        lead([(0, 0, None), (4, 100, None), (9, 200, None)], current=None),
    ]


def c2_items() -> list[Raw]:
    return [
        lead([(1, 0, None), (2, 100, None)], current=2, replied=True, replied_at=150),
        lead([(1, 0, None)], current=1),
        lead([], current=0),  # at the wait before the first email
    ]


@pytest.fixture(scope="module")
def leads() -> pl.DataFrame:
    return pl.concat(
        [
            leads_from_items(c1_items(), C1),
            leads_from_items(c2_items(), C2),
            leads_from_items([lead([(0, 0, None), (2, 100, None)], current=2)], C3),
        ]
    )


@pytest.fixture(scope="module")
def catalog() -> pl.DataFrame:
    return campaigns_frame(CAMPAIGNS)


def assert_numbered(frame: pl.DataFrame, *, by_campaign: bool = True) -> None:
    """``step_number`` and ``step_label`` right after ``step``, typed, with the expected values
    for every row."""
    at = frame.columns.index("step")
    assert frame.columns[at : at + 3] == ["step", "step_number", "step_label"]
    assert frame.schema["step"] == pl.Int32
    assert frame.schema["step_number"] == pl.Int32
    assert frame.schema["step_label"] == pl.String
    assert frame.height > 0
    for row in frame.iter_rows(named=True):
        campaign = row["campaign_id"] if by_campaign else C1
        assert (row["step_number"], row["step_label"]) == expected_for(campaign, row["step"]), row


@pytest.mark.parametrize("source", ["frame", "campaign dicts"])
def test_every_step_frame_numbers_email_steps_skipping_waits(
    leads: pl.DataFrame, catalog: pl.DataFrame, source: str
) -> None:
    sequence: Any = catalog if source == "frame" else CAMPAIGNS
    by_campaign = {"segment": "campaign_id", "sequence": sequence}
    frames = {
        "funnel": m.funnel(leads, **by_campaign),
        "funnel by variant": m.funnel(leads, "variant", **by_campaign),
        "variant_funnel": m.variant_funnel(leads, **by_campaign),
        "compare by step": m.compare_campaigns(leads, CAMPAIGNS, by="step"),
        "reply_attribution": m.reply_attribution(leads, sequence=sequence).filter(
            pl.col("attributed")
        ),
    }
    for name, frame in frames.items():
        try:
            assert_numbered(frame)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
    steps = frames["funnel"].filter(pl.col("campaign_id") == C1)
    # The raw order is kept: 0, 3, 5 read Step 1, 2, 3; the email at the wait's order 4 and
    # the one at order 9 have no number.
    assert steps.select("step", "step_number").rows() == [
        (0, 1),
        (3, 2),
        (4, None),
        (5, 3),
        (9, None),
    ]
    assert steps["step_label"].to_list() == [
        "Step 1 · Quick question",
        "Step 2 · Re: Quick question",
        "Step order 4",
        "Step 3 · Breakup",
        "Step order 9",
    ]
    # The same order means another step in another campaign.
    other = frames["funnel"].filter(pl.col("campaign_id") == C2)
    assert other.select("step", "step_number").rows() == [(1, 1), (2, 2)]
    # A campaign the sequence source does not have reads by its orders.
    unknown = frames["funnel"].filter(pl.col("campaign_id") == C3)
    assert unknown["step_label"].to_list() == ["Step order 0", "Step order 2"]
    assert unknown["step_number"].null_count() == 2


def test_a_one_campaign_funnel_is_numbered_from_its_own_sequence(
    leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    # The other campaign's sequence numbers order 1 and 2 too; only this campaign's counts.
    one = leads.filter(pl.col("campaign_id") == C1)
    assert_numbered(m.funnel(one, sequence=catalog), by_campaign=False)
    assert_numbered(m.variant_funnel(one, sequence=catalog), by_campaign=False)


def test_without_a_sequence_steps_have_no_number_and_read_their_order(
    leads: pl.DataFrame,
) -> None:
    for frame in (
        m.funnel(leads, segment="campaign_id"),
        m.variant_funnel(leads),
        m.reply_attribution(leads).filter(pl.col("attributed")),
    ):
        assert frame["step_number"].null_count() == frame.height
        assert frame["step_label"].to_list() == [f"Step order {s}" for s in frame["step"]]


def test_an_unattributed_reply_says_so(leads: pl.DataFrame, catalog: pl.DataFrame) -> None:
    got = m.reply_attribution(leads, sequence=catalog)
    assert got.columns[-4:] == ["step", "step_number", "step_label", "variant"]
    assert got.select("campaign_id", "attributed", "step", "step_number", "step_label").rows() == [
        (C1, True, 3, 2, "Step 2 · Re: Quick question"),
        (C1, False, None, None, "Unattributed"),
        (C2, True, 2, 2, "Step 2 · Bye"),
    ]


def test_pooled_campaigns_numbering_one_order_differently_are_refused(
    leads: pl.DataFrame,
) -> None:
    # Order 1 is Step 1 of C2 and a wait of C1; with C3 read as C2's twin the pooled frame
    # cannot say which numbering its step 1 has.
    twin = {"_id": C3, "name": "Three", "sequence": [{"type": "email", "order": 1}]}
    with pytest.raises(BadRequestError, match="different labels"):
        m.funnel(leads, sequence=[*CAMPAIGNS, twin])
    # Segmented by campaign, each row is numbered from its own campaign.
    got = m.funnel(leads, segment="campaign_id", sequence=[*CAMPAIGNS, twin])
    assert got.filter(pl.col("campaign_id") == C3)["step_number"].to_list() == [None, None]


def test_label_steps_replaces_old_columns_and_keeps_the_order() -> None:
    frame = pl.DataFrame(
        {"x": [1, 2, 3], "step": [5, 0, 4], "step_label": ["old"] * 3, "step_number": [9] * 3}
    )
    got = m.label_steps(frame, CAMPAIGNS[0])
    assert got.columns == ["x", "step", "step_number", "step_label"]
    assert got.rows() == [
        (1, 5, 3, "Step 3 · Breakup"),
        (2, 0, 1, "Step 1 · Quick question"),
        (3, 4, None, "Step order 4"),
    ]
    assert m.sequence_steps(SEQUENCE_2).select("step", "step_number").rows() == [(1, 1), (2, 2)]


# ------------------------------------------------------------------ the current step of a lead


#: currentSequenceStep -> what the lead table says, per campaign.
POSITIONS = {
    (C1, 0): "Step 1 · Quick question",
    (C1, 1): "After Step 1",  # the wait after step 1
    (C1, 2): "After Step 1",  # the second wait
    (C1, 3): "Step 2 · Re: Quick question",
    (C1, 4): "After Step 2",
    (C1, 5): "Step 3 · Breakup",
    (C1, 6): "After Step 3",  # past the last item: done
    (C1, None): None,
    (C2, 0): "Before Step 1",  # the wait before the first email
    (C2, 1): "Step 1 · Hello",
    (C2, 2): "Step 2 · Bye",
    (C3, 2): "Step order 2",  # no sequence known
}


def test_current_step_labels(leads: pl.DataFrame, catalog: pl.DataFrame) -> None:
    table = m.sequence_steps(catalog)
    got = label_positions(leads.select("campaign_id", "id", "current_step"), table)
    assert got.columns == ["campaign_id", "id", "current_step", "current_step_label"]
    assert got["id"].to_list() == leads["id"].to_list()  # row order kept
    for cid, step, label in got.select("campaign_id", "current_step", "current_step_label").rows():
        assert label == POSITIONS[(cid, step)], (cid, step)
    # Without any sequence every position reads by its order.
    bare = label_positions(leads.select("current_step"), None)
    assert bare["current_step_label"].to_list() == [
        None if s is None else f"Step order {s}" for s in leads["current_step"]
    ]


@pytest.mark.parametrize("campaign_id", [C1, C2])
def test_the_lead_table_shows_the_current_step_as_people_count_it(
    leads: pl.DataFrame, catalog: pl.DataFrame, campaign_id: str
) -> None:
    mine = leads.filter(pl.col("campaign_id") == campaign_id)
    loaded = LoadedCampaign.from_leads(campaign_id, mine, catalog)
    table = loaded.table
    at = table.columns.index("current_step")
    assert table.columns[at : at + 2] == ["current_step", "current_step_label"]
    assert table.schema["current_step"] == pl.Int32  # the raw order stays, for sorting
    assert "current_step_label" in TABLE_COLUMNS and "current_step" not in TABLE_COLUMNS
    want = [POSITIONS[(campaign_id, s)] for s in mine["current_step"]]
    assert table["current_step_label"].to_list() == want
    # The view the dashboard draws carries the labels, sorted by position in the sequence.
    view = compute_view(
        loaded, Selection(campaign_id, sort_by="step", descending=False), catalog, table_rows=50
    )
    assert SORT_KEYS["step"] == "current_step"
    shown = view.table.select("current_step", "current_step_label").drop_nulls().rows()
    assert shown == sorted(shown, key=lambda r: r[0])
    assert all(label == POSITIONS[(campaign_id, s)] for s, label in shown)
    # Without the campaigns list the table still reads sensibly, by order.
    bare = LoadedCampaign.from_leads(campaign_id, mine).table
    assert bare["current_step_label"].to_list() == [
        None if s is None else f"Step order {s}" for s in mine["current_step"]
    ]


@pytest.fixture()
def store(client: sk.SendKitClient) -> Iterator[CampaignStore]:
    yield CampaignStore(ApiSource(client))


def test_the_dashboards_store_labels_the_lead_table_from_the_campaigns_list(
    store: CampaignStore, server: DemoServer
) -> None:
    catalog = store.catalog()
    cid = str(catalog["campaign_id"][0])
    sequence = next(c for c in server.workspace.campaigns if c["_id"] == cid)["sequence"]
    emails = expected_steps(sequence)
    loaded = store.campaign(cid)
    rows = loaded.table.select("current_step", "current_step_label").unique().rows()
    assert rows
    for step, label in rows:
        before = [n for order, (n, _) in emails.items() if order <= step]
        want = emails[step][1] if step in emails else f"After Step {max(before)}"
        assert label == want, step
