"""The reply clock: the per-lead part of the reply timing, worked out once per campaign and
filtered by status in the dashboard, gives the same curve and KPIs as the leads themselves."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import sendkit_nb as sk
from sendkit_nb import metrics
from sendkit_nb._errors import BadRequestError
from sendkit_nb._schema import LEAD_STATUSES, LEADS_SCHEMA
from sendkit_nb.metrics._timing import reply_clock, reply_curve_of_clock, reply_timing_of_clock
from sendkit_nb.widgets._state import LoadedCampaign

SELECTIONS: tuple[tuple[str, ...], ...] = (
    (),
    *((status,) for status in LEAD_STATUSES),
    ("completed", "active"),
    ("bounced", "unsubscribed", "replied"),
)


def same_numbers(leads: pl.DataFrame, clock: pl.DataFrame) -> None:
    for by in (None, "variant"):
        assert_frame_equal(
            reply_curve_of_clock(clock, by=by, confidence=0.9),
            metrics.reply_curve(leads, by=by, confidence=0.9),
        )
        assert_frame_equal(
            reply_timing_of_clock(clock, by=by, within_days=3),
            metrics.reply_timing_summary(leads, by=by, within_days=3),
        )


def test_every_status_selection_of_a_campaign_gives_the_leads_numbers(
    client: sk.SendKitClient,
) -> None:
    catalog = sk.load_campaigns(client)
    for campaign_id in catalog["campaign_id"].to_list():
        leads = sk.load_leads(client, campaign_id, progress=False)
        loaded = LoadedCampaign.from_leads(campaign_id, leads, catalog)
        assert loaded.clock.height == leads.height
        for statuses in SELECTIONS:
            chosen, _ = loaded.select(statuses)
            clock = loaded.select_clock(statuses)
            assert clock.height == chosen.height
            same_numbers(chosen, clock)


def email(day: int | None, step: int = 0, variant: str | None = "A") -> dict[str, object]:
    return {
        "step": step,
        "variant": variant,
        "opened": False,
        "clicked": False,
        "bounced": False,
        "sent_at": datetime(2025, 6, day, tzinfo=UTC) if day is not None else None,
    }


def test_absent_and_odd_records_give_the_same_numbers() -> None:
    rows = [
        {"id": "1", "emails": [email(3), email(1, step=2, variant="B")], "replied": True,
         "replied_at": datetime(2025, 6, 4, tzinfo=UTC)},
        {"id": "2", "emails": [email(None)], "replied": True},  # no send time
        {"id": "3", "emails": [], "replied": False},  # never emailed
        {"id": "4", "emails": None, "replied": None},  # absent lists and flags
        {"id": "5", "emails": [email(2)], "replied": True},  # reply without a time
        {"id": "6", "emails": [email(5)], "replied": True,
         "replied_at": datetime(2025, 6, 1, tzinfo=UTC)},  # reply before the first send
        {"id": "7", "emails": [email(2, variant=None)], "replied": False,
         "replied_at": datetime(2025, 6, 9, tzinfo=UTC)},  # a stray time without a reply
    ]  # fmt: skip
    leads = pl.DataFrame(rows, schema=LEADS_SCHEMA)
    clock = reply_clock(leads)
    same_numbers(leads, clock)
    # Any subset of the rows, as the dashboard's status filter picks them.
    for picked in ([0, 1], [2, 3], [4, 5, 6], [6, 0]):
        same_numbers(leads[picked], clock[picked])
    empty = pl.DataFrame(schema=LEADS_SCHEMA)
    same_numbers(empty, reply_clock(empty))
    same_numbers(empty, clock.clear())


def test_a_clock_is_checked() -> None:
    leads = pl.DataFrame(schema=LEADS_SCHEMA)
    with pytest.raises(BadRequestError, match="reply_clock"):
        reply_curve_of_clock(leads)
    with pytest.raises(BadRequestError, match="within_days"):
        reply_timing_of_clock(reply_clock(leads), within_days=-1)
    with pytest.raises(BadRequestError, match="by='campaign'"):
        reply_curve_of_clock(reply_clock(leads), by="campaign")  # type: ignore[arg-type]
