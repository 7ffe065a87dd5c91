"""Time windows at their edges, everywhere a window is taken (metrics, report, CLI, dashboard).

* Bounds past what a datetime holds (year 1 to the end of 9999): a ``since`` span reaching back
  before year 1 is from the beginning, an ``until`` after 9999 is no upper bound, and a bound
  that leaves nothing in the window is a ``BadRequestError`` - never an OverflowError.
* A relative span with nothing to count back from (no ``as_of``, no leads) is an error, not a
  silent "all time".
* A relative ``since`` with an absolute ``until`` in the report counts back from the source's
  clock (the demo API's frozen ``Date``), as ``since`` alone and the metrics do.

Expected numbers come from plain Python over the raw demo JSON (the helpers of
tests/test_windows.py), never from the polars code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
import sendkit_nb.metrics as m
from sendkit_nb import BadRequestError
from sendkit_nb._report import as_html
from sendkit_nb._schema import LEADS_SCHEMA
from sendkit_nb.demo import DemoServer
from sendkit_nb.demo._data import DEMO_NOW
from tests.test_cli import run
from tests.test_report import meta
from tests.test_report_store import _overview_rows
from tests.test_windows import Win, _raw_pages, ref_headline

Raw = dict[str, Any]
A_CAMPAIGN = "683b61000000000000000001"  # the demo's A/B test campaign
DEMO_CLOCK = datetime.fromtimestamp(DEMO_NOW / 1000, tz=UTC)  # the demo API's frozen Date
WEST = timezone(timedelta(hours=-5))
EAST = timezone(timedelta(hours=5))
COUNTS = ("leads", "contacted", "delivered", "bounced", "opened", "clicked", "replied", "positive")

#: Every metric that takes since= / until=, as (name, call).
METRICS: list[tuple[str, Callable[..., pl.DataFrame]]] = [
    ("funnel", m.funnel),
    ("variant_funnel", m.variant_funnel),
    ("headline", m.headline),
    ("daily_activity", m.daily_activity),
    ("reply_curve", m.reply_curve),
    ("cohorts", m.cohorts),
    ("cohort_curves", m.cohort_curves),
]

UNTIL_HINT = (
    "until is the end of the window; pass a shorter span such as '30d', a date, or leave it out."
)
SINCE_HINT = "Pass an earlier since (a date such as '2025-06-01'), or leave it out."


# ----------------------------------------------------------------------------- the data


@pytest.fixture(scope="module")
def edge_server() -> Iterator[DemoServer]:
    """The default demo workspace (the one ``--demo`` serves), on a server of this module's own."""
    with DemoServer() as server:
        yield server


@pytest.fixture(scope="module")
def raw(edge_server: DemoServer) -> dict[str, list[Raw]]:
    campaigns = _raw_pages(edge_server, "/v1/campaigns")
    return {c["_id"]: _raw_pages(edge_server, f"/v1/campaigns/{c['_id']}/leads") for c in campaigns}


@pytest.fixture(scope="module")
def edge_client(edge_server: DemoServer) -> Iterator[sk.SendKitClient]:
    with sk.SendKitClient(edge_server.api_key, base_url=edge_server.url) as client:
        yield client


@pytest.fixture(scope="module")
def leads(edge_client: sk.SendKitClient, raw: dict[str, list[Raw]]) -> pl.DataFrame:
    return pl.concat([sk.load_leads(edge_client, cid, progress=False) for cid in raw])


@pytest.fixture(scope="module")
def store_path(edge_client: sk.SendKitClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("edges") / "store"
    sk.sync(edge_client, path, campaigns=[A_CAMPAIGN], progress=False)
    return path


def headline_counts(leads: pl.DataFrame, **window: Any) -> dict[str, dict[str, int]]:
    return {
        r["campaign_id"]: {k: r[k] for k in COUNTS}
        for r in m.headline(leads, **window).iter_rows(named=True)
    }


def ref_counts(raw: dict[str, list[Raw]], win: Win) -> dict[str, dict[str, int]]:
    """The headline's counts per campaign with leads (a campaign without any has no row)."""
    return {
        cid: {k: row[k] for k in COUNTS}
        for cid, row in ref_headline(raw, win).items()
        if row["leads"]
    }


# --------------------------------------------------------------- bounds past datetime's range

HUGE_SPANS = ["99999999999d", "5000000d", "3000000w", "100000m", "9" * 5000 + "d"]


@pytest.mark.parametrize("since", HUGE_SPANS)
def test_a_since_span_reaching_before_year_one_is_from_the_beginning(
    raw: dict[str, list[Raw]], leads: pl.DataFrame, since: str
) -> None:
    assert headline_counts(leads, since=since) == ref_counts(raw, Win(None, None))
    until = datetime(2025, 6, 15, tzinfo=UTC)
    assert headline_counts(leads, since=since, until=until) == ref_counts(raw, Win(None, until))
    for name, fn in METRICS:
        assert fn(leads, since=since).equals(fn(leads)), name
        assert fn(leads, since=since, until=until).equals(fn(leads, until=until)), name


@pytest.mark.parametrize(
    "until",
    [
        "9999-12-31",
        date.max,
        "9999-12-31T23:30:00-05:00",
        datetime(9999, 12, 31, 23, 30, tzinfo=WEST),
    ],
)
def test_an_until_past_9999_is_no_upper_bound(
    raw: dict[str, list[Raw]], leads: pl.DataFrame, until: Any
) -> None:
    since = "2025-06-01"
    start = datetime(2025, 6, 1, tzinfo=UTC)
    assert headline_counts(leads, since=since, until=until) == ref_counts(raw, Win(start, None))
    assert headline_counts(leads, until=until) == ref_counts(raw, Win(None, None))
    for name, fn in METRICS:
        assert fn(leads, since=since, until=until).equals(fn(leads, since=since)), name
    # The largest datetime itself is representable: a bound, with the same effect here.
    assert m.daily_activity(leads, since=since, until=datetime.max).equals(
        m.daily_activity(leads, since=since, until=until)
    )


@pytest.mark.parametrize(
    ("since", "until", "message", "hint"),
    [
        (None, "5000000d", "until='5000000d' reaches back before year 1", UNTIL_HINT),
        # Fits a datetime span, but reaches before year 1 from the data's clock.
        (None, "100000m", "until='100000m' reaches back before year 1", UNTIL_HINT),
        ("2025-06-01", "99999999999d", "until='99999999999d' reaches back before year 1",
         UNTIL_HINT),
        (None, datetime(1, 1, 1, 2, tzinfo=EAST), "until=datetime.datetime(1, 1, 1, 2, 0, "
         "tzinfo=datetime.timezone(datetime.timedelta(seconds=18000))) reaches back before "
         "year 1", UNTIL_HINT),
        ("9999-12-31T23:30:00-05:00", None, "since='9999-12-31T23:30:00-05:00' is after the end "
         "of year 9999", SINCE_HINT),
    ],
)  # fmt: skip
def test_a_bound_that_leaves_nothing_in_the_window_is_refused(
    leads: pl.DataFrame, since: Any, until: Any, message: str, hint: str
) -> None:
    for name, fn in METRICS:
        with pytest.raises(BadRequestError) as caught:
            fn(leads, since=since, until=until)
        assert caught.value.message == f"{name}: {message}: nothing can be in the window"
        assert caught.value.hint == hint


def test_spans_at_the_edge_of_year_one_against_plain_datetime() -> None:
    as_of = datetime(2025, 3, 31, 12, tzinfo=UTC)
    days = (as_of - datetime(1, 1, 1, tzinfo=UTC)).days
    last = m.resolve_window(f"{days}d", as_of=as_of)
    assert last.start == as_of - timedelta(days=days) == datetime(1, 1, 1, 12, tzinfo=UTC)
    # One day more reaches before year 1: from the beginning, still counted back from as_of.
    beyond = m.resolve_window(f"{days + 1}d", as_of=as_of)
    assert (beyond.start, beyond.end, beyond.as_of, beyond.is_open) == (None, None, as_of, True)
    # Calendar months: 2025-03 back to 0001-01 is (2025 - 1) * 12 + 2 months; the day clamps.
    months = (2025 - 1) * 12 + 2
    assert m.resolve_window(f"{months}m", as_of=as_of).start == datetime(1, 1, 31, 12, tzinfo=UTC)
    assert m.resolve_window(f"{months - 1}mo", as_of=as_of).start == datetime(
        1, 2, 28, 12, tzinfo=UTC
    )
    assert m.resolve_window(f"{months + 1}m", as_of=as_of).start is None
    # An aware since just before year 1 in UTC is from the beginning too.
    assert m.resolve_window(datetime(1, 1, 1, 2, tzinfo=EAST)).start is None
    with pytest.raises(BadRequestError) as caught:
        m.resolve_window("7d", as_of=datetime(9999, 12, 31, 23, tzinfo=WEST), what="headline")
    assert caught.value.message.startswith("headline: as_of=datetime.datetime(9999, 12, 31, 23")
    assert caught.value.message.endswith("is outside the years 1 to 9999 in UTC")


# ------------------------------------------------------------- nothing to count back from


@pytest.mark.parametrize(
    ("since", "until", "span"),
    [
        ("30d", None, "'30d'"),
        (None, "7d", "'7d'"),
        ("99999999999d", "2025-06-01", "'99999999999d'"),
    ],
)
def test_a_relative_span_needs_something_to_count_back_from(
    since: Any, until: Any, span: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        m.resolve_window(since, until)
    assert caught.value.message == (
        f"window: a relative span ({span}) needs as_of= or the leads to count back from"
    )
    assert caught.value.hint is not None and "as_of=" in caught.value.hint
    as_of = datetime(2025, 7, 1, tzinfo=UTC)
    assert m.resolve_window(since, until, as_of=as_of).as_of == as_of
    # Leads without any timestamp: nothing is in any window, whatever it counts back from.
    undated = pl.DataFrame(
        [{"campaign_id": "c", "id": "1", "emails": [], "replied": False}],
        schema=LEADS_SCHEMA,
    )
    assert m.resolve_window(since, until, leads=undated).as_of is None


# ------------------------------------------------ the report: the source's clock, clamps


def _window_and_rows(
    page: str, raw: dict[str, list[Raw]], win: Win
) -> tuple[str, list[str], list[str]]:
    """The report's Time window line, the overview row of its one campaign (leads, contacted,
    replied, positive) and that row computed in plain Python over the raw JSON."""
    want = ref_headline(raw, win)[A_CAMPAIGN]
    rows = _overview_rows(page)
    assert len(rows) == 1
    row = next(iter(rows.values()))
    expected = [f"{want[k]:,}" for k in ("leads", "contacted", "replied", "positive")]
    return meta(page)["Time window"], row[2:6], expected


THIRTY_DAYS_TO_JUNE_30 = (
    "emails sent from 2025-06-01 12:00 UTC to 2025-07-01 UTC (not included), counted back from "
    "2025-07-01 12:00 UTC"
)


def test_the_report_counts_a_relative_since_back_from_the_source_clock(
    edge_client: sk.SendKitClient, store_path: Path, raw: dict[str, list[Raw]]
) -> None:
    """since="30d" with until="2025-06-30": 30 days before the demo API's Date, as since="30d"
    alone and metrics.headline do - not before the wall clock (an empty window then)."""
    assert edge_client.server_time == DEMO_CLOCK
    win = Win(DEMO_CLOCK - timedelta(days=30), datetime(2025, 7, 1, tzinfo=UTC))
    assert ref_headline(raw, win)[A_CAMPAIGN]["contacted"] > 0, "the window holds sends"
    for source in (edge_client, sk.open_store(store_path)):
        page = as_html(source, [A_CAMPAIGN], since="30d", until="2025-06-30", progress=False)
        words, shown, expected = _window_and_rows(page, raw, win)
        assert words == THIRTY_DAYS_TO_JUNE_30
        assert shown == expected


def test_the_report_clamps_and_refuses_bounds_past_the_range(
    edge_client: sk.SendKitClient, raw: dict[str, list[Raw]]
) -> None:
    page = as_html(edge_client, [A_CAMPAIGN], since="99999999999d", until=date.max, progress=False)
    words, shown, expected = _window_and_rows(page, raw, Win(None, None))
    assert (words, shown) == ("all time (no window)", expected)
    for since, until in (("2025-06-01", "5000000d"), ("9999-12-31T23:30:00-05:00", None)):
        with pytest.raises(BadRequestError, match="nothing can be in the window"):
            as_html(edge_client, [A_CAMPAIGN], since=since, until=until, progress=False)


# ------------------------------------------------------------------------------- the CLI


def test_cli_report_clamps_bounds_past_the_range(tmp_path: Path, raw: dict[str, list[Raw]]) -> None:
    out = tmp_path / "r.html"
    result = run(
        "report", "--demo", A_CAMPAIGN, "-o", str(out), "--no-progress",
        "--since", "99999999999d", "--until", "9999-12-31",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    words, shown, expected = _window_and_rows(out.read_text("utf-8"), raw, Win(None, None))
    assert (words, shown) == ("all time (no window)", expected)


def test_cli_report_relative_since_absolute_until_from_the_api_and_a_store(
    tmp_path: Path, store_path: Path, raw: dict[str, list[Raw]]
) -> None:
    win = Win(DEMO_CLOCK - timedelta(days=30), datetime(2025, 7, 1, tzinfo=UTC))
    for source in (["--demo", A_CAMPAIGN], ["--from", str(store_path)]):
        out = tmp_path / "r.html"
        result = run(
            "report", *source, "-o", str(out), "--no-progress",
            "--since", "30d", "--until", "2025-06-30",
        )  # fmt: skip
        assert result.returncode == 0, (source, result.stderr)
        words, shown, expected = _window_and_rows(out.read_text("utf-8"), raw, win)
        assert (words, shown) == (THIRTY_DAYS_TO_JUNE_30, expected)


@pytest.mark.parametrize(
    ("window", "message", "hint"),
    [
        (["--until", "5000000d"], "until='5000000d' reaches back before year 1", UNTIL_HINT),
        (["--since", "9999-12-31T23:30:00-05:00"],
         "since='9999-12-31T23:30:00-05:00' is after the end of year 9999", SINCE_HINT),
        # Known only from the data's clock: refused after the store is read.
        (["--until", "100000m"], "until='100000m' reaches back before year 1", UNTIL_HINT),
    ],
)  # fmt: skip
def test_cli_window_out_of_range_is_one_error_line(
    tmp_path: Path, store_path: Path, window: list[str], message: str, hint: str
) -> None:
    from tests.test_cli import one_error_line

    for source in (["--demo", A_CAMPAIGN], ["--from", str(store_path)]):
        result = run("report", *source, "-o", str(tmp_path / "r.html"), "--no-progress", *window)
        line = one_error_line(result)
        assert line == (
            f"sendkit-nb: error: report: {message}: nothing can be in the window. Hint: {hint}"
        )
        assert not (tmp_path / "r.html").exists()


# ------------------------------------------------------------------------- the dashboard


def test_the_dashboard_window_at_the_edges(
    edge_client: sk.SendKitClient, raw: dict[str, list[Raw]]
) -> None:
    from sendkit_nb.widgets import Dashboard

    d = Dashboard(edge_client, until=date.max)
    try:
        assert d.message.value == "", d.message.value
        cid = d.selection.campaign_id
        assert cid is not None and d.view is not None

        def shown() -> dict[str, int]:
            assert d.view is not None
            return {k: d.view.headline[k] for k in COUNTS}

        assert shown() == ref_counts(raw, Win(None, None))[cid]
        d.set_window(since="2025-06-01", until="9999-12-31")
        assert d.message.value == "", d.message.value
        assert shown() == ref_counts(raw, Win(datetime(2025, 6, 1, tzinfo=UTC), None))[cid]
        assert "emails sent since 2025-06-01 UTC" in d.campaign_header.value
        d.set_window(since="99999999999d")
        assert d.message.value == "", d.message.value
        assert shown() == ref_counts(raw, Win(None, None))[cid]
        # A relative window still counts back from the API's clock (no silent "all time").
        d.set_window(since="30d")
        assert shown() == ref_counts(raw, Win(DEMO_CLOCK - timedelta(days=30), None))[cid]
        before = d.view
        d.set_window(until="5000000d")
        assert isinstance(d.last_error, BadRequestError)
        assert d.last_error.message == (
            "dashboard window: until='5000000d' reaches back before year 1: nothing can be in "
            "the window"
        )
        assert d.view is before and d.selection.since == "30d"
    finally:
        d.close()
