"""Send cohorts against plain Python over the raw demo JSON (fetched over HTTP).

The cohort of a lead, its headline counts and the Kaplan–Meier share replied within 3, 7 and
14 days are recomputed here from the API's dicts, following the text of ``DEFINITIONS``, never
the polars code. The workspace has leads with no emails, replies before the first send,
replies without a time, and resends (added before the server starts).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
import sendkit_nb.metrics as m
from sendkit_nb import BadRequestError, charts
from sendkit_nb._schema import LEADS_SCHEMA
from sendkit_nb.demo import DemoServer, make_workspace
from tests.test_windows import (
    POSITIVE,
    Win,
    _add_resends,
    _raw_pages,
    attributed_email,
    emails,
    reply_in,
    ts,
)

Raw = dict[str, Any]
DAY = 86_400.0


@pytest.fixture(scope="module")
def cohort_server() -> Iterator[DemoServer]:
    ws = make_workspace(seed=5, sizes=[500, 300, 150])
    assert _add_resends(ws) > 3
    with DemoServer(ws) as server:
        yield server


@pytest.fixture(scope="module")
def raw(cohort_server: DemoServer) -> list[Raw]:
    campaigns = _raw_pages(cohort_server, "/v1/campaigns")
    return [
        item
        for c in campaigns
        for item in _raw_pages(cohort_server, f"/v1/campaigns/{c['_id']}/leads")
    ]


@pytest.fixture(scope="module")
def leads(cohort_server: DemoServer) -> pl.DataFrame:
    with sk.SendKitClient(cohort_server.api_key, base_url=cohort_server.url) as client:
        ids = sk.load_campaigns(client)["campaign_id"].to_list()
        return pl.concat([sk.load_leads(client, cid, progress=False) for cid in ids])


# ------------------------------------------------------------ the independent computation


def first_send(item: Raw) -> datetime | None:
    dated = [e["sent_at"] for e in emails(item) if e["sent_at"] is not None]
    return min(dated) if dated else None


def period(at: datetime | None, every: str) -> date | None:
    if at is None:
        return None
    day = at.date()
    if every == "1d":
        return day
    if every == "1w":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def latest(raw: list[Raw]) -> datetime:
    stamps = [ts(item.get("repliedAt")) for item in raw]
    stamps += [e["sent_at"] for item in raw for e in emails(item)]
    return max(t for t in stamps if t is not None)


def ref_counts(raw: list[Raw], every: str) -> dict[date | None, dict[str, int]]:
    out: dict[date | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in raw:
        row = out[period(first_send(item), every)]
        sent = emails(item)
        delivered = [e for e in sent if not e["bounced"]]
        replied = bool(item.get("replied"))
        tag = (item.get("aiTag") or "").lower()
        row["leads"] += 1
        row["contacted"] += bool(sent)
        row["delivered"] += bool(delivered)
        row["bounced"] += bool(sent) and not delivered
        row["replied"] += bool(sent) and replied
        row["positive"] += bool(sent) and replied and tag in POSITIVE
        row["unattributed"] += replied and attributed_email(item) is None
        row["unattributed_replies"] += replied and not sent
    return out


def ref_window_counts(raw: list[Raw], every: str, win: Win) -> dict[date | None, dict[str, int]]:
    """DEFINITIONS with a window: the leads first emailed in it, counted as the headline counts
    a window (emails sent in it; a reply placed at its attributed email's send time)."""
    out: dict[date | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in raw:
        start = first_send(item)
        if start not in win:
            continue
        row = out[period(start, every)]
        inside = [e for e in emails(item) if e["sent_at"] in win]
        delivered = [e for e in inside if not e["bounced"]]
        replied = reply_in(item, win)
        tag = (item.get("aiTag") or "").lower()
        row["leads"] += 1
        row["contacted"] += bool(inside)
        row["delivered"] += bool(delivered)
        row["bounced"] += bool(inside) and not delivered
        row["opened"] += any(e["opened"] for e in delivered)
        row["clicked"] += any(e["clicked"] for e in delivered)
        row["replied"] += replied and bool(inside)
        row["positive"] += replied and bool(inside) and tag in POSITIVE
        row["unattributed"] += replied and attributed_email(item) is None
        row["unattributed_replies"] += replied and not inside
    return out


def ref_km(
    raw: list[Raw], every: str, as_of: datetime, within: int, win: Win | None = None
) -> dict[date, float | None]:
    """The Kaplan–Meier share replied within ``within`` days, per cohort, from scratch; with
    ``win``, of the leads first emailed in it (still observed until ``as_of``)."""
    times: dict[date, list[tuple[int, bool]]] = defaultdict(list)
    for item in raw:
        start = first_send(item)
        if start is None or start > as_of or (win is not None and start not in win):
            continue
        replied = bool(item.get("replied"))
        replied_at = ts(item.get("repliedAt"))
        if replied and (replied_at is None or replied_at < start):
            continue  # off the curve: reply time unknown, or before the first send
        cohort = period(start, every)
        assert cohort is not None
        if replied and replied_at is not None and replied_at <= as_of:
            times[cohort].append((math.ceil((replied_at - start).total_seconds() / DAY), True))
        else:
            times[cohort].append((math.floor((as_of - start).total_seconds() / DAY), False))
    out: dict[date, float | None] = {}
    for cohort, rows in times.items():
        if max(day for day, _ in rows) < within:
            out[cohort] = None  # nobody in the cohort observed that long
            continue
        survival = 1.0
        for day in range(within + 1):
            at_risk = sum(1 for d, _ in rows if d >= day)
            events = sum(1 for d, event in rows if event and d == day)
            if at_risk:
                survival *= 1 - events / at_risk
        out[cohort] = 1 - survival
    return out


# ------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("every", ["1d", "1w", "1mo"])
def test_cohort_counts_match_raw_json(raw: list[Raw], leads: pl.DataFrame, every: str) -> None:
    want = ref_counts(raw, every)
    got = {r["cohort"]: r for r in m.cohorts(leads, every=every).to_dicts()}
    assert set(got) == set(want)
    for cohort, expected in want.items():
        for column, value in expected.items():
            assert got[cohort][column] == value, (every, cohort, column)
        row = got[cohort]
        assert row["every"] == every
        if row["contacted"]:
            assert row["reply_rate"] == pytest.approx(row["replied"] / row["contacted"])
            assert row["reply_rate_low"] <= row["reply_rate"] <= row["reply_rate_high"]
    # The rows add up to the frame, the leads without a dated email in one null-cohort row.
    assert sum(r["leads"] for r in got.values()) == len(raw)
    assert got[None]["contacted"] == 0 or all(first_send(i) is None for i in raw if i)
    assert list(got)[-1] is None


@pytest.mark.parametrize("every", ["1w", "1mo"])
def test_cohort_reply_within_is_kaplan_meier(
    raw: list[Raw], leads: pl.DataFrame, every: str
) -> None:
    as_of = latest(raw)
    frame = m.cohorts(leads, every=every)
    assert frame["as_of"].drop_nulls().unique().to_list() == [as_of]
    got = {r["cohort"]: r for r in frame.to_dicts() if r["cohort"] is not None}
    for within in (3, 7, 14):
        want = ref_km(raw, every, as_of, within)
        for cohort, row in got.items():
            value = row[f"replied_within_{within}d"]
            expected = want.get(cohort)
            if expected is None:
                assert value is None, (cohort, within)
            else:
                assert value == pytest.approx(expected, abs=1e-12), (cohort, within)
    if every == "1w":
        # The youngest week has not been followed for 14 days: unknown, not zero.
        youngest = max(got)
        assert got[youngest]["days_observed"] < 14
        assert got[youngest]["replied_within_14d"] is None


def test_young_cohorts_are_not_penalised(leads: pl.DataFrame) -> None:
    """A naive replied / contacted counts the young cohort's leads as non-repliers; the
    Kaplan–Meier share only counts them for the days they have had."""

    def lead(i: int, sent: datetime, reply_after: float | None) -> dict[str, Any]:
        mail = {
            "step": 0,
            "variant": None,
            "sent_at": sent,
            "opened": False,
            "clicked": False,
            "bounced": False,
        }
        at = sent + timedelta(days=reply_after) if reply_after is not None else None
        return {
            "campaign_id": "c",
            "id": str(i),
            "emails": [mail],
            "replied": at is not None,
            "replied_at": at,
        }

    old = datetime(2025, 6, 2, 9, tzinfo=UTC)  # a Monday
    young = datetime(2025, 6, 23, 9, tzinfo=UTC)  # three weeks later
    rows = [lead(i, old, 2.5 if i < 2 else None) for i in range(10)]
    rows += [lead(10 + i, young, 2.5 if i < 2 else None) for i in range(10)]
    frame = pl.DataFrame(rows, schema=LEADS_SCHEMA)
    as_of = young + timedelta(days=4)
    c = {r["cohort"]: r for r in m.cohorts(frame, as_of=as_of).to_dicts()}
    assert c[old.date()]["replied_within_3d"] == pytest.approx(0.2)
    assert c[young.date()]["replied_within_3d"] == pytest.approx(0.2)
    assert c[young.date()]["replied_within_7d"] is None  # followed for 4 days only
    assert c[young.date()]["days_observed"] == 4
    assert c[old.date()]["replied_within_14d"] == pytest.approx(0.2)


def test_cohorts_with_no_leads_and_none_contacted() -> None:
    empty = pl.DataFrame(schema=LEADS_SCHEMA)
    assert m.cohorts(empty).height == 0
    assert m.cohort_curves(empty).height == 0
    never = pl.DataFrame(
        [
            {"campaign_id": "c", "id": "1", "emails": None, "replied": True},
            {"campaign_id": "c", "id": "2", "emails": [], "replied": False},
        ],
        schema=LEADS_SCHEMA,
    )
    row = m.cohorts(never).row(0, named=True)
    assert (row["cohort"], row["leads"], row["contacted"], row["unattributed_replies"]) == (
        None,
        2,
        0,
        1,
    )
    assert row["replied_within_7d"] is None and row["reply_rate"] is None


def test_bad_cohort_arguments_are_clear_errors(leads: pl.DataFrame) -> None:
    for every in ("2w", "week", "", 7):
        with pytest.raises(BadRequestError, match="every= must be '1d', '1w' or '1mo'"):
            m.cohorts(leads, every=every)  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="within= must be whole numbers"):
        m.cohorts(leads, within=(3, -1))
    with pytest.raises(BadRequestError, match="as_of must be a datetime"):
        m.cohorts(leads, as_of="2025-06-01")  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="lacks the column"):
        m.cohorts(leads.drop("emails"))
    custom = m.cohorts(leads, within=(1, 30))
    assert {"replied_within_1d", "replied_within_30d"} <= set(custom.columns)
    assert "replied_within_7d" not in custom.columns


def test_cohort_curves_feed_the_heatmap(raw: list[Raw], leads: pl.DataFrame) -> None:
    curves = m.cohort_curves(leads, every="1w")
    table = m.cohorts(leads, every="1w")
    dated = table.filter(pl.col("cohort").is_not_null())
    # Day 7 of each cohort's curve is the table's replied_within_7d.
    for row in dated.to_dicts():
        day7 = curves.filter((pl.col("cohort") == row["cohort"]) & (pl.col("day") == 7))
        if row["replied_within_7d"] is None:
            assert day7.height == 0
        else:
            assert day7["cumulative_share"].item() == row["replied_within_7d"]
    fig = charts.cohorts(curves)
    assert len(fig.data[0].y) == dated.height
    assert fig.layout.meta["sendkit_chart"] == "cohorts"


def cohort_windows(raw: list[Raw]) -> list[tuple[Any, Any, Win]]:
    """(since, until, the same window in plain Python): bounds inside cohorts, as dates, as
    ISO text and relative to the data's latest timestamp."""
    end = latest(raw)
    mid = end - timedelta(days=12, hours=5)
    day = (end - timedelta(days=30)).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [
        (mid, None, Win(mid, None)),
        (None, mid, Win(None, mid)),
        (day, day + timedelta(days=9), Win(midnight, midnight + timedelta(days=10))),
        (day.isoformat(), mid.isoformat(), Win(midnight, mid)),
        ("21d", "5d", Win(end - timedelta(days=21), end - timedelta(days=5))),
    ]


@pytest.mark.parametrize("every", ["1d", "1w", "1mo"])
def test_cohorts_in_windows_match_raw_json(raw: list[Raw], leads: pl.DataFrame, every: str) -> None:
    as_of = latest(raw)
    for since, until, win in cohort_windows(raw):
        want = ref_window_counts(raw, every, win)
        frame = m.cohorts(leads, every=every, since=since, until=until)
        got = {r["cohort"]: r for r in frame.to_dicts()}
        assert set(got) == set(want), (since, until)
        assert None not in got, "a lead with no dated email is in no window"
        for cohort, expected in want.items():
            for column, value in expected.items():
                assert got[cohort][column] == value, (every, since, until, cohort, column)
        # The window's cohorts are the leads first emailed in it, and no others.
        first = [first_send(item) for item in raw]
        assert frame["leads"].sum() == sum(1 for t in first if t in win)
        assert frame["as_of"].unique().to_list() == [as_of]
        for within in (3, 7, 14):
            km = ref_km(raw, every, as_of, within, win)
            for cohort, row in got.items():
                value, expected_share = row[f"replied_within_{within}d"], km.get(cohort)
                if expected_share is None:
                    assert value is None, (since, until, cohort, within)
                else:
                    assert value == pytest.approx(expected_share, abs=1e-12)


def test_an_until_bound_leaves_out_later_follow_ups_and_their_replies(
    raw: list[Raw], leads: pl.DataFrame
) -> None:
    """The edge the window's rule is about: a lead first emailed before ``until`` whose reply
    is attributed to a follow-up sent after it is in its cohort but not among its replies."""
    end = latest(raw)
    cases = []
    for days in range(3, 40):
        cut = end - timedelta(days=days)
        win = Win(None, cut)
        cases = [
            item
            for item in raw
            if item.get("replied")
            and first_send(item) in win
            and (touch := attributed_email(item)) is not None
            and touch["sent_at"] is not None
            and touch["sent_at"] >= cut
        ]
        if cases:
            break
    assert cases, "the demo data has no reply to a follow-up after any cut"
    item = cases[0]
    cohort = period(first_send(item), "1w")
    windowed = m.cohorts(leads, until=cut).filter(pl.col("cohort") == cohort).row(0, named=True)
    whole = m.cohorts(leads).filter(pl.col("cohort") == cohort).row(0, named=True)
    assert windowed["leads"] == whole["leads"], "the cohort is whole: first emailed before cut"
    assert windowed["replied"] < whole["replied"]


def test_cohorts_and_their_curves_agree_in_a_window(leads: pl.DataFrame) -> None:
    table = m.cohorts(leads, since="5w", until="1w")
    curves = m.cohort_curves(leads, since="5w", until="1w")
    assert table.height and set(table["cohort"]) == set(curves["cohort"])
    for row in table.to_dicts():
        day0 = curves.filter((pl.col("cohort") == row["cohort"]) & (pl.col("day") == 0))
        # The curve leaves out replies before the first send or without a time; nothing else.
        assert day0["at_risk"].item() <= row["contacted"] == row["leads"]
        day7 = curves.filter((pl.col("cohort") == row["cohort"]) & (pl.col("day") == 7))
        share = day7["cumulative_share"].item() if day7.height else None
        assert share == row["replied_within_7d"]


def test_relative_cohort_windows_count_back_from_as_of(leads: pl.DataFrame) -> None:
    latest_ts = m.latest_timestamp(leads)
    assert latest_ts is not None
    explicit = m.cohorts(leads, since=latest_ts - timedelta(days=28))
    assert m.cohorts(leads, since="4w").equals(explicit)
    # An explicit as_of (a store's) moves the window and the end of observation.
    later = latest_ts + timedelta(days=7)
    moved = m.cohorts(leads, since="5w", as_of=later)
    assert moved.drop("as_of", "days_observed", "replied_within_3d", "replied_within_7d",
                      "replied_within_14d").equals(
        explicit.drop("as_of", "days_observed", "replied_within_3d", "replied_within_7d",
                      "replied_within_14d")
    )  # fmt: skip
    assert moved["as_of"].unique().to_list() == [later]
    assert (moved["days_observed"] == explicit["days_observed"] + 7).all()


def test_cohort_windows_on_bad_and_empty_input(leads: pl.DataFrame) -> None:
    with pytest.raises(BadRequestError, match="cohorts: the window is empty"):
        m.cohorts(leads, since="2025-06-10", until="2025-06-01")
    with pytest.raises(BadRequestError, match="cohorts: cannot read since="):
        m.cohorts(leads, since="last week")
    with pytest.raises(BadRequestError, match="as_of must be a datetime"):
        m.cohorts(leads, since="7d", as_of="2025-06-01")  # type: ignore[arg-type]
    # A window before every send: no cohort, the same columns.
    early = m.cohorts(leads, until=date(2000, 1, 1))
    assert early.height == 0 and early.columns == m.cohorts(leads).columns
    # Never emailed, undated emails, no leads: nothing in any window.
    undated = {"step": 0, "variant": None, "sent_at": None, "opened": False,
               "clicked": False, "bounced": False}  # fmt: skip
    odd = pl.DataFrame(
        [
            {"campaign_id": "c", "id": "1", "emails": None, "replied": True},
            {"campaign_id": "c", "id": "2", "emails": [], "replied": False},
            {"campaign_id": "c", "id": "3", "emails": [undated], "replied": False},
        ],
        schema=LEADS_SCHEMA,
    )
    assert m.cohorts(odd, since=date(2025, 1, 1)).height == 0
    # With no timestamp to count back from, "7d" is no bound, as on every windowed metric.
    assert m.cohorts(odd, since="7d").equals(m.cohorts(odd))
    assert m.cohorts(pl.DataFrame(schema=LEADS_SCHEMA), until="2025-06-01").height == 0
