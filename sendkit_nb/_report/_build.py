"""From a :class:`Selection` to a :class:`ReportView`: one :class:`CampaignSummary` per
campaign (``sendkit_nb._summary``), figures from ``sendkit_nb.charts``, and the wording around
them. No metric is computed and no number formatted here: the summary holds the numbers and
``sendkit_nb._present`` prints them, as for every other front end."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl

from sendkit_nb import charts
from sendkit_nb import metrics as skm
from sendkit_nb._present import (
    describe_window,
    fmt_int,
    rate_label,
    unique_names,
    variant_subjects,
    with_variant_subjects,
)
from sendkit_nb._report._html import FigureStore
from sendkit_nb._report._parts import (
    CHART_NOTES,
    attribution_table,
    check_list,
    definition_blocks,
    funnel_table,
    kpi_cards,
    overview_table,
    senders_table,
    variant_table,
)
from sendkit_nb._report._select import Selection
from sendkit_nb._report._view import (
    CampaignView,
    Chart,
    ReportView,
    Table,
)
from sendkit_nb._schema import DEFAULT_POSITIVE_TAGS
from sendkit_nb._summary import CampaignSummary, SummaryOptions, compare, complete, summarize

__all__ = ["Options", "build_view", "summary_options"]


@dataclass(frozen=True)
class Options:
    """How the numbers are computed and the report titled (validated by ``report()``)."""

    title: str | None = None
    positive_tags: tuple[str, ...] | None = None
    denominator: skm.Denominator = "delivered"
    metric: skm.Metric = "reply"
    progress: bool = True
    #: The resolved time window (None: all time).
    window: skm.Window | None = None
    #: ``sk.load_mailboxes(client)``: adds the Senders section (None: no section).
    mailboxes: pl.DataFrame | None = None
    #: ``sk.load_replies`` of the campaigns: inbox attribution (None: last touch).
    replies: pl.DataFrame | None = None


def summary_options(selection: Selection, options: Options) -> SummaryOptions:
    """The summary options of a report: its status filter and settings, and always the A/B
    view (a report shows every campaign's variants, with the reply curve split by them).
    ``as_of`` is the source's clock (:attr:`Selection.as_of`): the reply and cohort curves are
    observed up to it, not to the latest timestamp of the status-filtered selection."""
    return SummaryOptions(
        statuses=selection.statuses or (),
        denominator=options.denominator,
        positive_tags=options.positive_tags,
        metric=options.metric,
        by_variant=True,
        since=options.window.start if options.window is not None else None,
        until=options.window.end if options.window is not None else None,
        as_of=selection.as_of,
        attribution="inbox" if options.replies is not None else "last_touch",
    )


def _anchor(campaign_id: str, taken: set[str]) -> str:
    base = "c-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", campaign_id).strip("-") or "campaign")
    anchor, n = base, 2
    while anchor in taken:
        anchor, n = f"{base}-{n}", n + 1
    taken.add(anchor)
    return anchor


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class _Builder:
    def __init__(self, selection: Selection, options: Options) -> None:
        self.selection = selection
        self.options = options
        self.store = FigureStore()
        self.catalog = selection.catalog
        names: dict[str, str] = {}
        statuses: dict[str, str | None] = {}
        if self.catalog is not None:
            for row in self.catalog.select("campaign_id", "name", "status").iter_rows():
                names.setdefault(str(row[0]), str(row[1]) if row[1] is not None else "")
                statuses.setdefault(str(row[0]), row[2])
        self.names = unique_names(selection.campaign_ids, names)
        self.statuses = statuses
        taken: set[str] = set()
        self.anchors = {cid: _anchor(cid, taken) for cid in selection.campaign_ids}

    def chart(self, key: str, title: str, caption: str, figure: Any) -> Chart:
        return Chart(key, title, caption, figure_id=self.store.add(figure))

    def campaign(self, campaign_id: str, summary: CampaignSummary) -> CampaignView:
        """The section of one campaign, rendered from its summary."""
        leads = summary.leads
        statuses = summary.options.statuses
        noun = "lead" if leads.height == 1 else "leads"
        leads_text = f"{fmt_int(leads.height)} {noun}" + (
            f" with status {', '.join(statuses)}" if statuses else ""
        )
        base = CampaignView(
            campaign_id=campaign_id,
            anchor=self.anchors[campaign_id],
            name=self.names[campaign_id],
            status=self.statuses.get(campaign_id),
            leads=leads.height,
            leads_text=leads_text,
        )
        if leads.height == 0:
            why = "with the chosen statuses" if statuses else "(none loaded)"
            return replace(base, notes=(f"This campaign has no leads {why}: nothing to chart.",))

        tags = summary.options.positive_tags
        head = summary.headline
        checks = check_list(summary.checks)
        status_chart = self.chart(
            "status_breakdown",
            "Lead status",
            "Every lead loaded for this campaign by its current SendKit status"
            + (" (the status filter picks from these)." if statuses else "."),
            charts.status_breakdown(summary.status_counts),
        )
        tag_chart = self.chart(
            "ai_tag_breakdown",
            "AI tags",
            "Leads by the AI tag of their reply; positive tags are "
            + ", ".join(sorted(tags or DEFAULT_POSITIVE_TAGS))
            + ".",
            charts.ai_tag_breakdown(summary.ai_tags),
        )
        if summary.contacted == 0:
            return replace(
                base,
                kpis=tuple(kpi_cards(head, None)),
                charts=(status_chart, tag_chart),
                checks=checks,
                notes=(
                    "No email has been sent to these leads yet: there is no funnel, A/B test, "
                    "reply curve or daily activity to show.",
                ),
            )

        metric = summary.options.metric
        over = skm.rate_denominators(summary.options.denominator)
        variants, ab_steps = summary.variant_funnel, summary.ab_steps
        if variants is not None and ab_steps is not None:
            subjects = variant_subjects(self.catalog, campaign_id)
            variants = with_variant_subjects(variants, subjects)
            ab_steps = with_variant_subjects(ab_steps, subjects)
        figures = [
            self.chart(
                "step_funnel",
                "Step funnel",
                "Leads per sequence step at each stage; hover for the rates and their "
                "denominators.",
                charts.step_funnel(summary.funnel),
            ),
            self.chart(
                "step_rates",
                "Rates by step",
                f"Open, click, reply and positive rates over {over['reply_rate']}; "
                "opens are directional.",
                charts.step_rates(summary.funnel),
            ),
        ]
        if variants is not None and ab_steps is not None and ab_steps.height:
            figures.append(
                self.chart(
                    "variant_comparison",
                    "A/B variants",
                    f"{rate_label(metric, over[f'{metric}_rate'])} per variant with 95% Wilson "
                    "intervals; variants are compared only within a step.",
                    charts.variant_comparison(variants, metric=metric),
                )
            )
        else:
            figures.append(
                Chart(
                    "variant_comparison",
                    "A/B variants",
                    empty="This campaign has no step with two or more variants: nothing to "
                    "compare.",
                )
            )
        split = (
            " One curve per variant of the lead's first email." if summary.curve_by_variant else ""
        )
        figures += [
            self.chart(
                "reply_curve",
                "Reply curve",
                "Share of contacted leads who replied within N days of their first email "
                f"(Kaplan–Meier, 95% band).{split}",
                charts.reply_curve(summary.reply_curve),
            ),
            *self.cohort_chart(summary),
            self.chart(
                "daily_activity",
                "Daily activity",
                "Emails per UTC day of sending; replies per UTC day of the reply.",
                charts.daily_activity(summary.daily),
            ),
            status_chart,
            tag_chart,
        ]
        tables = [funnel_table(summary.funnel)]
        if ab_steps is not None and ab_steps.height:
            tables.append(variant_table(ab_steps, metric))
        attribution = (
            attribution_table(summary.attribution_check, summary.funnel)
            if summary.attribution_check is not None
            else None
        )
        return replace(
            base,
            kpis=tuple(kpi_cards(head, summary.timing)),
            charts=tuple(figures),
            tables=tuple(tables),
            checks=checks,
            attribution=attribution,
        )

    def cohort_chart(self, summary: CampaignSummary) -> list[Chart]:
        """The send-cohort heatmap, when the summary has the cohort curves."""
        curves = summary.cohort_curves
        if curves is None:
            return []
        if not curves.height:
            return [
                Chart(
                    "cohorts",
                    "Send cohorts",
                    empty="No contacted lead has a dated first email: no cohort to follow.",
                )
            ]
        return [
            self.chart(
                "cohorts",
                "Send cohorts",
                "Leads grouped by the week of their first email: the Kaplan–Meier share of each "
                "week's contacted leads replied within N days (blank: not observed that long).",
                charts.cohorts(curves),
            )
        ]

    def overview(self) -> tuple[Chart, Table]:
        leads = self.selection.leads
        ids = self.selection.campaign_ids
        settings = summary_options(self.selection, self.options)
        # The campaign sections' attribution, so the overview's rates are theirs.
        compared = compare(
            leads,
            self.catalog,
            positive_tags=self.options.positive_tags,
            window=settings.window,
            attribution=settings.attribution,
            replies=self.options.replies,
        )
        table = overview_table(compared, ids, self.names, self.anchors, self.statuses)
        if compared.height == 0:
            chart = Chart(
                "campaign_comparison",
                "Campaigns compared",
                empty="None of the chosen campaigns has leads in this selection.",
            )
        else:
            chart = self.chart(
                "campaign_comparison",
                "Campaigns compared",
                "Headline rates per campaign on the same definitions.",
                charts.campaign_comparison(compared, "positive", names=self.names),
            )
        return chart, table

    def senders(self, mailboxes: pl.DataFrame) -> tuple[Chart, Table]:
        """The Senders section: bounce and reply rate per mailbox, chart and table."""
        rates = skm.mailbox_rates(mailboxes)
        chart = self.chart(
            "mailboxes",
            "Senders",
            "Bounce and reply rate per sending mailbox, per email sent, with 95% Wilson "
            "intervals; mailboxes over the bounce threshold are red and hatched.",
            charts.mailboxes(mailboxes),
        )
        return chart, senders_table(rates)


@contextmanager
def _steps(total: int, enabled: bool) -> Iterator[Any]:
    bar: Any = None
    if enabled and total > 1:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="report", unit=" campaign", leave=False, dynamic_ncols=True)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def build_view(
    selection: Selection,
    options: Options,
    summaries: Mapping[str, CampaignSummary] | None = None,
) -> tuple[ReportView, FigureStore]:
    """The report's view and its figures. ``summaries``: campaign summaries already computed
    (the dashboard's export), rendered as they are; the other campaigns are summarized here."""
    from sendkit_nb._version import __version__

    builder = _Builder(selection, options)
    leads = selection.leads
    per_campaign = leads.partition_by("campaign_id", as_dict=True, maintain_order=True)
    empty = leads.clear()
    settings = summary_options(selection, options)
    replies = options.replies
    campaigns: list[CampaignView] = []
    overview_chart, overview_table = builder.overview()
    with _steps(len(selection.campaign_ids), options.progress) as bar:
        for cid in selection.campaign_ids:
            summary = (summaries or {}).get(cid) or summarize(
                per_campaign.get((cid,), empty),
                selection.catalog,
                settings,
                campaign_id=cid,
                replies=replies.filter(pl.col("campaign_id") == cid)
                if replies is not None
                else None,
            )
            campaigns.append(builder.campaign(cid, complete(summary, selection.catalog)))
            if bar is not None:
                bar.update(1)

    title = options.title
    if title is None:
        title = (
            f"SendKit report: {builder.names[selection.campaign_ids[0]]}"
            if len(selection.campaign_ids) == 1
            else "SendKit campaign report"
        )
    meta = _meta(selection, options, builder.names)
    banners = []
    if selection.demo:
        banners.append(
            "Synthetic data from the sendkit_nb demo API: the campaigns and numbers are made up."
        )
    if options.window is not None:
        banners.append(
            f"Time window: {describe_window(options.window)}. Only emails sent in the window, and "
            "replies attributed to them, are counted: the funnels and rates describe this "
            "window, not whole campaigns."
        )
    if selection.statuses:
        banners.append(
            "Only leads with status " + ", ".join(selection.statuses) + " are included: the "
            "funnels and rates describe this selection, not whole campaigns."
        )
    if options.replies is not None:
        banners.append(
            "Replies are placed by the inbox threads: the campaign overview and each campaign's "
            "KPIs, step funnel and A/B test count a reply at the step its thread shows and leave "
            "auto-replies out; the data checks compare this with last touch."
        )
    banners.extend(selection.notes)
    view = ReportView(
        title=title,
        version=__version__,
        built_at=_time(datetime.now(UTC)),
        meta=meta,
        overview_chart=overview_chart,
        overview_table=overview_table,
        campaigns=tuple(campaigns),
        definitions=definition_blocks(),
        banners=tuple(banners),
        chart_notes=CHART_NOTES,
        senders=builder.senders(options.mailboxes) if options.mailboxes is not None else None,
    )
    return view, builder.store


def _meta(
    selection: Selection, options: Options, names: dict[str, str]
) -> tuple[tuple[str, str], ...]:
    n = len(selection.campaign_ids)
    chosen = f"{n} campaign{'s' if n != 1 else ''}"
    chosen += " (all in the source)" if selection.all_campaigns else " (chosen by id)"
    over = skm.rate_denominators(options.denominator)
    tags = ", ".join(sorted(options.positive_tags or DEFAULT_POSITIVE_TAGS))
    pulled = (
        _time(selection.pulled_at)
        if selection.pulled_at is not None
        else "not recorded (the report was built from a leads frame)"
    )
    window = options.window
    return (
        ("Data pulled", pulled),
        (
            "Time window",
            "all time (no window)" if window is None else describe_window(window),
        ),
        ("Source", selection.source),
        ("Campaigns", chosen + ": " + "; ".join(names[c] for c in selection.campaign_ids)),
        (
            "Lead status filter",
            ", ".join(selection.statuses) if selection.statuses else "none (every status)",
        ),
        ("Leads in this report", fmt_int(selection.leads.height)),
        ("Positive AI tags", tags),
        (
            "Rates over",
            f"{over['reply_rate']} (open rate over {over['open_rate']}, bounce rate over sent)",
        ),
        (
            "A/B test",
            f"{options.metric} rate, 95% Wilson intervals, two-proportion z-test or Fisher's "
            f"exact test against each step's leader, Holm-adjusted; arms under {skm.MIN_SENDS} "
            f"leads or steps under {skm.MIN_EVENTS} events are too small to call",
        ),
    )
