"""The campaign summary: one computation of everything a campaign view shows, rendered by the
dashboard and the report alike (demo data, checked against the metrics called directly)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import sendkit_nb as sk
from sendkit_nb import metrics
from sendkit_nb._errors import BadRequestError
from sendkit_nb._report import as_html, report
from sendkit_nb._summary import (
    TIMING_KPIS,
    CampaignSummary,
    SummaryOptions,
    compare,
    complete,
    count_statuses,
    summarize,
)
from sendkit_nb.widgets import Dashboard
from sendkit_nb.widgets._state import LoadedCampaign, Selection, compute_view

AB_CAMPAIGN = "683b61000000000000000001"  # two variants at a step
PLAIN_CAMPAIGN = "683b61000000000000002b09"  # one arm per step
DRAFT_CAMPAIGN = "683b610000000000000042b7"  # nothing sent yet


@pytest.fixture(scope="module")
def demo() -> Iterator[sk.SendKitClient]:
    with sk.SendKitClient.demo() as client:
        yield client


@pytest.fixture(scope="module")
def catalog(demo: sk.SendKitClient) -> pl.DataFrame:
    return sk.load_campaigns(demo)


@pytest.fixture(scope="module")
def ab_leads(demo: sk.SendKitClient) -> pl.DataFrame:
    return sk.load_leads(demo, AB_CAMPAIGN, progress=False)


@pytest.fixture(scope="module")
def plain_leads(demo: sk.SendKitClient) -> pl.DataFrame:
    return sk.load_leads(demo, PLAIN_CAMPAIGN, progress=False)


def test_every_part_is_the_metric_it_stands_for(
    ab_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    tags = ("interested",)
    s = summarize(ab_leads, catalog, SummaryOptions(positive_tags=tags, denominator="sent"))
    assert s.campaign_id == AB_CAMPAIGN and s.detailed
    assert s.leads is ab_leads
    timing = metrics.reply_timing_summary(ab_leads).row(0, named=True)
    # The headline row, and the reply-timing numbers the KPI cards show beside it.
    assert s.headline == {
        **metrics.headline(ab_leads, positive_tags=tags).row(0, named=True),
        **{k: timing[k] for k in TIMING_KPIS},
    }
    assert_frame_equal(
        s.funnel,
        metrics.funnel(ab_leads, sequence=catalog, denominator="sent", positive_tags=tags),
    )
    assert s.variant_funnel is not None
    assert_frame_equal(
        s.variant_funnel,
        metrics.variant_funnel(ab_leads, sequence=catalog, denominator="sent", positive_tags=tags),
    )
    assert_frame_equal(s.reply_curve, metrics.reply_curve(ab_leads, by="variant"))
    assert_frame_equal(s.daily, metrics.daily_activity(ab_leads, positive_tags=tags))
    assert_frame_equal(s.ai_tags, metrics.ai_tag_counts(ab_leads, positive_tags=tags))
    assert_frame_equal(s.status_counts, metrics.status_counts(ab_leads))
    assert s.timing == timing
    assert s.checks is not None
    assert_frame_equal(s.checks, metrics.quality(ab_leads))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.campaign_id = "x"  # type: ignore[misc]


def test_the_reply_curve_is_split_by_variant_by_one_rule(
    ab_leads: pl.DataFrame, plain_leads: pl.DataFrame
) -> None:
    """By variant only when asked and some step has two or more variants: a campaign without
    an A/B test keeps one curve whichever front end asks."""
    split = summarize(ab_leads, details=False)
    assert split.curve_by_variant and split.reply_curve["group"].n_unique() >= 2
    off = summarize(ab_leads, options=SummaryOptions(by_variant=False), details=False)
    assert not off.curve_by_variant and off.reply_curve["group"].unique().to_list() == ["all"]
    assert off.variant_funnel is None
    # The rule reads the campaign, not the status selection: curves do not come and go with it.
    replied = summarize(ab_leads, options=SummaryOptions(statuses=("replied",)), details=False)
    assert replied.curve_by_variant
    assert summarize(ab_leads, details=False, variant_step=False).curve_by_variant is False
    plain = summarize(plain_leads, details=False)
    assert not plain.curve_by_variant
    assert plain.reply_curve["group"].unique().to_list() == ["all"]
    assert plain.ab_steps is not None and plain.ab_steps.height == 0


def test_the_status_filter_selects_and_the_status_counts_stay_whole(
    ab_leads: pl.DataFrame,
) -> None:
    s = summarize(ab_leads, options=SummaryOptions(statuses=("replied", "replied")))
    assert s.options.statuses == ("replied",)
    assert s.leads.height and set(s.leads["status"].cast(pl.String)) == {"replied"}
    assert s.headline["leads"] == s.leads.height
    assert s.status_counts["leads"].sum() == ab_leads.height
    empty = summarize(ab_leads, options=SummaryOptions(statuses=("pending",)))
    assert empty.leads.height == 0 and empty.contacted == 0
    assert empty.headline["leads"] == 0 and empty.headline["reply_rate"] is None
    assert empty.timing is None and empty.checks is None
    assert all(empty.headline[k] is None for k in TIMING_KPIS)
    with pytest.raises(BadRequestError, match="unknown lead status 'sleeping'"):
        summarize(ab_leads, options=SummaryOptions(statuses=("sleeping",)))


def test_an_empty_campaign_still_lists_every_status() -> None:
    counts = count_statuses(pl.DataFrame(schema=sk.LEADS_SCHEMA), "c1")
    assert counts["leads"].sum() == 0 and counts.height == len(sk.LEAD_STATUSES)


def test_complete_adds_only_what_is_missing(ab_leads: pl.DataFrame) -> None:
    quick = summarize(ab_leads, options=SummaryOptions(by_variant=False), details=False)
    assert quick.checks is None and not quick.detailed
    # The reply timing is always there: two of its numbers are KPI cards on the dashboard.
    assert quick.timing is not None and quick.headline["replied_within"] is not None
    full = complete(quick)
    assert full.detailed and full.checks is not None
    assert full.variant_funnel is not None
    # What was on show is kept as it was (the same frames, not recomputed).
    assert full.funnel is quick.funnel and full.reply_curve is quick.reply_curve
    assert full.timing is quick.timing and full.headline == quick.headline
    # A summary made without a timing (an older one) gets it, and its KPIs, from complete().
    head = {k: v for k, v in quick.headline.items() if k not in TIMING_KPIS}
    bare = dataclasses.replace(quick, timing=None, headline=head)
    assert complete(bare).timing == quick.timing
    assert complete(bare).headline == quick.headline
    assert not full.curve_by_variant
    assert complete(full) is full


def test_the_dashboard_shows_the_summary_the_report_renders(
    demo: sk.SendKitClient, ab_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    """The dashboard's view and the report's campaign come from the same summary: the same
    numbers, the same reply-curve rule."""
    loaded = LoadedCampaign.from_leads(AB_CAMPAIGN, ab_leads)
    view = compute_view(
        loaded,
        Selection(AB_CAMPAIGN, ("replied", "completed"), by_variant=True),
        catalog,
        table_rows=5,
    )
    direct = summarize(
        ab_leads.filter(pl.col("status").cast(pl.String).is_in(["replied", "completed"])),
        catalog,
        view.summary.options,
    )
    assert view.headline == direct.headline
    assert_frame_equal(view.funnel, direct.funnel)
    assert view.variant_funnel is not None and direct.variant_funnel is not None
    assert_frame_equal(view.variant_funnel, direct.variant_funnel)
    assert_frame_equal(view.reply_curve, direct.reply_curve)
    assert view.summary.curve_by_variant == direct.curve_by_variant is True
    assert view.table.height == 5 and view.table_total == view.leads.height


def test_export_hands_the_dashboard_summary_to_the_report(
    demo: sk.SendKitClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dash = Dashboard(demo, campaign=AB_CAMPAIGN)
    try:
        dash.set_statuses(["replied"])
        assert dash.view is not None
        shown = dash.view.summary

        def no_recompute(*args: object, **kwargs: object) -> CampaignSummary:
            raise AssertionError("the export recomputed the summary")

        monkeypatch.setattr("sendkit_nb._report._build.summarize", no_recompute)
        target = dash.export_html(tmp_path / "export.html")
        assert target is not None, dash.message.value
        page = target.read_text("utf-8")
    finally:
        dash.close()
    assert f"{shown.leads.height:,} leads with status replied" in page
    replied = re.search(r'sk-kpi-value">([^<]*)</div><div class="sk-kpi-label">Replied<', page)
    assert replied and replied.group(1) == f"{shown.headline['replied']:,}"


def test_a_summary_is_reported_with_its_own_settings(
    ab_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    s = summarize(ab_leads, catalog, SummaryOptions(metric="positive"), details=False)
    page = report(s, catalog=catalog, progress=False)
    assert page.campaigns == (AB_CAMPAIGN,)
    with pytest.raises(BadRequestError, match="its own status filter and settings"):
        report(s, status="replied", progress=False)
    with pytest.raises(BadRequestError, match="its own campaign"):
        report(s, [PLAIN_CAMPAIGN], progress=False)
    # The same campaign reported from its leads reads the same tables.
    from_leads = as_html(ab_leads, [AB_CAMPAIGN], catalog=catalog, metric="positive")
    tables = re.findall(
        r'<table class="sk-table" data-table="(?:funnel|variants)">.*?</table>', page.html, re.S
    )
    assert tables and tables == re.findall(
        r'<table class="sk-table" data-table="(?:funnel|variants)">.*?</table>', from_leads, re.S
    )


def test_a_draft_campaign_has_a_summary_without_sends(demo: sk.SendKitClient) -> None:
    leads = sk.load_leads(demo, DRAFT_CAMPAIGN, progress=False)
    s = summarize(leads)
    assert s.leads.height == leads.height and s.contacted == 0
    assert s.reply_curve.height == 0 or s.reply_curve["group"].n_unique() <= 1
    assert compare(leads.clear(), None).height == 0


# -- inbox attribution, windows and the source's clock ------------------------------------------

AGENCY_CAMPAIGN = "683b61000000000000001a99"  # threads, but no lead in status "active"


@pytest.fixture(scope="module")
def ab_replies(demo: sk.SendKitClient, ab_leads: pl.DataFrame) -> pl.DataFrame:
    return sk.load_replies(demo, AB_CAMPAIGN, leads=ab_leads, progress=False)


def test_the_attribution_check_counts_the_window_the_funnels_count(
    ab_leads: pl.DataFrame, ab_replies: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    since, until = "2025-06-10", "2025-06-20"
    options = SummaryOptions(attribution="inbox", since=since, until=until)
    s = summarize(ab_leads, catalog, options, replies=ab_replies)
    check = s.attribution_check
    assert check is not None
    start, end = s.options.since, s.options.until
    assert_frame_equal(
        check,
        metrics.reconcile(
            ab_leads, replies=ab_replies, include_matches=True, since=start, until=end
        ),
    )
    steps = check.filter(pl.col("what") == "replied")
    last = metrics.funnel(ab_leads, since=start, until=end)
    for row in steps.iter_rows(named=True):
        # from_api is the inbox step funnel beside it; from_leads the last-touch funnel's.
        assert row["from_api"] == s.funnel.filter(pl.col("step") == row["step"])["replied"].sum()
        assert row["from_leads"] == last.filter(pl.col("step") == row["step"])["replied"].sum()
    everything = metrics.reconcile(ab_leads, replies=ab_replies, include_matches=True)
    assert (
        steps["from_leads"].sum()
        < everything.filter(pl.col("what") == "replied")["from_leads"].sum()
    )


def test_compare_uses_the_summaries_attribution(
    demo: sk.SendKitClient, ab_leads: pl.DataFrame, ab_replies: pl.DataFrame
) -> None:
    agency = sk.load_leads(demo, AGENCY_CAMPAIGN, progress=False)
    replies = pl.concat([ab_replies, sk.load_replies(demo, AGENCY_CAMPAIGN, progress=False)])
    leads = pl.concat([ab_leads, agency])
    got = compare(leads, None, attribution="inbox", replies=replies)
    for frame in (ab_leads, agency):
        cid = frame["campaign_id"][0]
        mine = replies.filter(pl.col("campaign_id") == cid)
        one = summarize(frame, None, SummaryOptions(attribution="inbox"), replies=mine)
        row = got.filter(pl.col("campaign_id") == cid).row(0, named=True)
        assert (row["replied"], row["reply_rate"]) == (
            one.headline["replied"],
            one.headline["reply_rate"],
        )
    # A status filter that leaves a campaign no lead: its replies count for nothing.
    active = leads.filter(pl.col("status") == "active")
    assert set(active["campaign_id"]) == {AB_CAMPAIGN}
    filtered = compare(active, None, attribution="inbox", replies=replies)
    assert filtered["replied"].to_list() == [
        metrics.headline(active, attribution="inbox", replies=ab_replies)["replied"][0]
    ]


def test_curves_are_observed_up_to_the_sources_clock(
    demo: sk.SendKitClient, ab_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    clock = demo.server_time
    assert clock is not None
    bounced = ab_leads.filter(pl.col("status") == "bounced")
    latest = metrics.latest_timestamp(bounced)
    assert latest is not None and latest < clock, "the selection ends before the clock"
    s = summarize(ab_leads, catalog, SummaryOptions(statuses=("bounced",), as_of=clock))
    assert_frame_equal(s.reply_curve, metrics.reply_curve(bounced, by="variant", as_of=clock))
    assert s.cohort_curves is not None
    assert_frame_equal(s.cohort_curves, metrics.cohort_curves(bounced, "1w", as_of=clock))
    observed, to_latest = (
        s.reply_curve["day"].max(),
        metrics.reply_curve(bounced, by="variant")["day"].max(),
    )
    assert isinstance(observed, int) and isinstance(to_latest, int) and observed > to_latest
    # The dashboard passes it through as well (from its reply clock).
    loaded = LoadedCampaign.from_leads(AB_CAMPAIGN, ab_leads)
    view = compute_view(
        loaded,
        Selection(AB_CAMPAIGN, ("bounced",), by_variant=True),
        catalog,
        table_rows=1,
        as_of=clock,
    )
    assert_frame_equal(view.reply_curve, s.reply_curve)
    assert view.headline["replied_within"] == s.headline["replied_within"]
