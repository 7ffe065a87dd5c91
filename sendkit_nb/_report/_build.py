"""From a :class:`Selection` to a :class:`ReportView`: one :class:`CampaignSummary` per
campaign (``sendkit_nb._summary``), figures from ``sendkit_nb.charts``, and the wording around
them. No metric is computed and no number formatted here: the summary holds the numbers and
``sendkit_nb._present`` prints them, as for every other front end."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl

from sendkit_nb import charts
from sendkit_nb import metrics as skm
from sendkit_nb._present import (
    DASH,
    EVENT_OF,
    HEADLINE_BASE,
    KPIS,
    TEST_NAMES,
    ab_verdicts,
    fmt_int,
    fmt_interval,
    fmt_kpi,
    fmt_p,
    fmt_pct,
    fmt_pp,
    rate_label,
    status_label,
    unique_names,
    variant_label,
    variant_subjects,
    with_variant_subjects,
)
from sendkit_nb._report._html import FigureStore
from sendkit_nb._report._select import Selection
from sendkit_nb._report._view import (
    Block,
    CampaignView,
    Cell,
    Chart,
    Check,
    Column,
    Kpi,
    ReportView,
    Table,
)
from sendkit_nb._schema import DEFAULT_POSITIVE_TAGS
from sendkit_nb._summary import CampaignSummary, SummaryOptions, compare, complete, summarize

__all__ = ["Options", "build_view", "definition_blocks", "summary_options"]


@dataclass(frozen=True)
class Options:
    """How the numbers are computed and the report titled (validated by ``report()``)."""

    title: str | None = None
    positive_tags: tuple[str, ...] | None = None
    denominator: skm.Denominator = "delivered"
    metric: skm.Metric = "reply"
    progress: bool = True


def summary_options(selection: Selection, options: Options) -> SummaryOptions:
    """The summary options of a report: its status filter and settings, and always the A/B
    view (a report shows every campaign's variants, with the reply curve split by them)."""
    return SummaryOptions(
        statuses=selection.statuses or (),
        denominator=options.denominator,
        positive_tags=options.positive_tags,
        metric=options.metric,
        by_variant=True,
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


# -- the definitions appendix ---------------------------------------------------------------


def definition_blocks(text: str = skm.DEFINITIONS) -> tuple[Block, ...]:
    """The contract text as paragraphs and bullet lists, its words unchanged: lines starting
    with ``- `` are list items, indented lines continue the item, other lines are reflowed
    into paragraphs.

    >>> [(b.kind, len(b.lines)) for b in definition_blocks("Intro:\\n- a\\n  more\\n- b\\n\\nEnd.")]
    [('paragraph', 1), ('list', 2), ('paragraph', 1)]
    """
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        paragraph: list[str] = []
        items: list[str] = []
        for line in chunk.splitlines():
            if line.startswith("- "):
                if paragraph:
                    blocks.append(Block("paragraph", (" ".join(paragraph),)))
                    paragraph = []
                items.append(line[2:].strip())
            elif items and line.startswith(" "):
                items[-1] += " " + line.strip()
            else:
                if items:
                    blocks.append(Block("list", tuple(items)))
                    items = []
                paragraph.append(line.strip())
        if paragraph:
            blocks.append(Block("paragraph", (" ".join(paragraph),)))
        if items:
            blocks.append(Block("list", tuple(items)))
    return tuple(blocks)


CHART_NOTES: tuple[tuple[str, str], ...] = (
    (
        "Reply curve",
        "Kaplan–Meier estimate of the share of contacted leads who replied within N days of "
        "their first email (sendkit_nb.metrics.reply_curve). Leads that have not replied are "
        "censored at the end of the data, so recent leads do not drag the curve down; replies "
        "before the first send or without a time are left off the curve and counted apart. "
        "The band is a 95% Greenwood (log-log) interval.",
    ),
    (
        "Daily activity",
        "Emails sent, opened, clicked and bounced are counted per UTC day of sending (the API "
        "records whether an email was opened, not when); replies and positive replies per UTC "
        "day of the reply (sendkit_nb.metrics.daily_activity).",
    ),
    (
        "Lead status and AI tags",
        "Every lead of the selection, by its current SendKit status and by the AI tag of its "
        "reply (untagged leads included), as shares of the campaign's leads.",
    ),
)


# -- tables ---------------------------------------------------------------------------------


def _table(
    key: str, caption: str, columns: Sequence[tuple[str, bool]], rows: Iterable[Sequence[Cell]]
) -> Table:
    return Table(
        key=key,
        caption=caption,
        columns=tuple(Column(label, numeric) for label, numeric in columns),
        rows=tuple(tuple(row) for row in rows),
    )


def _funnel_table(funnel: pl.DataFrame) -> Table:
    over = skm.rate_denominators(str(funnel["denominator"][0]) if funnel.height else "delivered")
    columns = [("Step", False)] + [(c.capitalize(), True) for c in skm.COUNT_COLUMNS]
    columns += [
        (rate_label(name.removesuffix("_rate"), over[name]), True) for name in skm.RATE_COLUMNS
    ]
    rows = [
        [Cell(str(r["step_label"]))]
        + [Cell(fmt_int(r[c])) for c in skm.COUNT_COLUMNS]
        + [Cell(fmt_pct(r[c])) for c in skm.RATE_COLUMNS]
        for r in funnel.iter_rows(named=True)
    ]
    return _table(
        "funnel",
        "Step funnel: leads per sequence step, replies by last touch. Opens are directional.",
        columns,
        rows,
    )


def _arm_name(row: Mapping[str, Any]) -> str:
    """The arm as the variant table shows it: its name, and its subject line where the
    sequence gives one."""
    subject = row.get("variant_subject")
    name = variant_label(row["variant"])
    return f"{name} · {subject}" if subject else name


def _variant_table(variants: pl.DataFrame, metric: str) -> Table:
    over = skm.rate_denominators(str(variants["denominator"][0]))
    base, event, rate = over[f"{metric}_rate"], EVENT_OF[metric], f"{metric}_rate"
    columns = [
        ("Step", False),
        ("Variant", False),
        (base.capitalize(), True),
        (event.capitalize(), True),
        (rate_label(metric, base), True),
        ("95% interval", True),
        ("vs leader", True),
        ("Test", False),
        ("p (Holm)", True),
        ("Verdict", False),
    ]
    rows = [
        [
            Cell(str(r["step_label"])),
            Cell(_arm_name(r)),
            Cell(fmt_int(r[base])),
            Cell(fmt_int(r[event])),
            Cell(fmt_pct(r[rate])),
            Cell(fmt_interval(r[f"{rate}_low"], r[f"{rate}_high"])),
            Cell(DASH if r["is_leader"] else fmt_pp(r["diff_vs_leader"])),
            Cell(TEST_NAMES.get(r["test"] or "", DASH)),
            Cell(fmt_p(r["p_value_adj"])),
            Cell(verdict.text, flag=verdict.tone),
        ]
        for r, verdict in zip(variants.iter_rows(named=True), ab_verdicts(variants), strict=True)
    ]
    return _table(
        "variants",
        f"A/B test on the {metric} rate (over {base}) within each step: every arm against the "
        f"step's leader; an arm below {skm.MIN_SENDS} leads, or a step with fewer than "
        f"{skm.MIN_EVENTS} events, is too small to call. Verdicts: green, the leader of a "
        "significant gap; red, significantly below the leader; amber, too small to call; grey, "
        "no significant difference.",
        columns,
        rows,
    )


def _overview_table(
    compare: pl.DataFrame,
    ids: Sequence[str],
    names: dict[str, str],
    anchors: dict[str, str],
    statuses: dict[str, str | None],
) -> Table:
    rates = ("positive_rate", "reply_rate", "bounce_rate", "open_rate")
    columns = [
        ("Campaign", False),
        ("Status", False),
        ("Leads", True),
        ("Contacted", True),
        ("Replied", True),
        ("Positive", True),
    ]
    columns += [(rate_label(r.removesuffix("_rate"), HEADLINE_BASE[r]), True) for r in rates]
    by_id = {str(r["campaign_id"]): r for r in compare.iter_rows(named=True)}
    # Best headline rate first (compare_campaigns' order); campaigns without leads at the end.
    order = [i for i in by_id if i in ids] + [i for i in ids if i not in by_id]
    rows = []
    for cid in order:
        r = by_id.get(cid, {})
        rows.append(
            [
                Cell(names[cid], href=f"#{anchors[cid]}"),
                Cell(status_label(statuses.get(cid))),
                Cell(fmt_int(r.get("leads", 0))),
                Cell(fmt_int(r.get("contacted", 0))),
                Cell(fmt_int(r.get("replied", 0))),
                Cell(fmt_int(r.get("positive", 0))),
            ]
            + [Cell(fmt_pct(r.get(rate))) for rate in rates]
        )
    return _table(
        "overview",
        "Campaign headline, per lead: positive replies per lead contacted is the headline rate. "
        "Opens are directional.",
        columns,
        rows,
    )


# -- one campaign ---------------------------------------------------------------------------


def _kpis(head: Mapping[str, Any], timing: Mapping[str, Any] | None) -> list[Kpi]:
    """The KPI strip: the dashboard's cards (:data:`~sendkit_nb._present.KPIS`, same labels,
    same values), then what only the report shows. Each note says what the number is over."""
    contacted, delivered = fmt_int(head["contacted"]), fmt_int(head["delivered"])
    notes = {
        "positive_rate": f"{fmt_int(head['positive'])} positive of {contacted} contacted",
        "reply_rate": f"{fmt_int(head['replied'])} replied of {contacted} contacted",
        "opened": skm.OPENS_CAVEAT,
    }
    if timing is not None:
        within = KPIS["replied_within"]
        band = fmt_interval(head["replied_within_low"], head["replied_within_high"])
        notes["replied_within"] = (
            f"{within.definition}; of {fmt_int(timing['contacted'])} contacted, 95% band {band}"
            if head["replied_within"] is not None
            else f"{within.definition}; no lead has been observed that long yet"
        )
        notes["median_days_replied"] = (
            f"{KPIS['median_days_replied'].definition}; over {fmt_int(timing['replied'])} "
            "timed replies"
        )
    order: tuple[str, ...] = (
        "positive_rate",
        "leads",
        "contacted",
        "replied",
        "reply_rate",
        "positive",
    )
    if timing is not None:
        order += ("replied_within", "median_days_replied")
    kpis = [
        Kpi(
            KPIS[key].label,
            fmt_kpi(KPIS[key], head),
            notes.get(key, KPIS[key].definition),
            headline=key == "positive_rate",
        )
        for key in order
    ]
    kpis += [
        Kpi(
            rate_label("bounce", HEADLINE_BASE["bounce_rate"]),
            fmt_pct(head["bounce_rate"]),
            f"{fmt_int(head['bounced'])} contacted leads whose every email bounced",
        ),
        Kpi(
            rate_label("open", HEADLINE_BASE["open_rate"]) + " (directional)",
            fmt_pct(head["open_rate"]),
            f"{fmt_int(head['opened'])} opened of {delivered} delivered. {skm.OPENS_CAVEAT}",
        ),
        Kpi(
            rate_label("click", HEADLINE_BASE["click_rate"]),
            fmt_pct(head["click_rate"]),
            f"{fmt_int(head['clicked'])} clicked of {delivered} delivered",
        ),
    ]
    if head["unattributed"]:
        kpis.append(
            Kpi(
                "Unattributed replies",
                fmt_int(head["unattributed"]),
                "replies with no delivered email before them: counted, never dropped",
            )
        )
    return kpis


def _checks(found: pl.DataFrame | None) -> tuple[Check, ...]:
    if found is None or found.height == 0:
        return ()
    counts = dict(found.group_by("check").agg(pl.col("id").n_unique()).iter_rows())
    return tuple(
        Check(name, description, int(counts[name]))
        for name, description in skm.QUALITY_CHECKS.items()
        if counts.get(name)
    )


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
        checks = _checks(summary.checks)
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
                kpis=tuple(_kpis(head, None)),
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
            self.chart(
                "daily_activity",
                "Daily activity",
                "Emails per UTC day of sending; replies per UTC day of the reply.",
                charts.daily_activity(summary.daily),
            ),
            status_chart,
            tag_chart,
        ]
        tables = [_funnel_table(summary.funnel)]
        if ab_steps is not None and ab_steps.height:
            tables.append(_variant_table(ab_steps, metric))
        return replace(
            base,
            kpis=tuple(_kpis(head, summary.timing)),
            charts=tuple(figures),
            tables=tuple(tables),
            checks=checks,
        )

    def overview(self) -> tuple[Chart, Table]:
        leads = self.selection.leads
        ids = self.selection.campaign_ids
        compared = compare(leads, self.catalog, positive_tags=self.options.positive_tags)
        table = _overview_table(compared, ids, self.names, self.anchors, self.statuses)
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
    campaigns: list[CampaignView] = []
    overview_chart, overview_table = builder.overview()
    with _steps(len(selection.campaign_ids), options.progress) as bar:
        for cid in selection.campaign_ids:
            summary = (summaries or {}).get(cid) or summarize(
                per_campaign.get((cid,), empty), selection.catalog, settings, campaign_id=cid
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
    if selection.statuses:
        banners.append(
            "Only leads with status " + ", ".join(selection.statuses) + " are included: the "
            "funnels and rates describe this selection, not whole campaigns."
        )
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
    return (
        ("Data pulled", pulled),
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
