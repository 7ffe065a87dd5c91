"""From a :class:`Selection` to a :class:`ReportView`: numbers from ``sendkit_nb.metrics``,
figures from ``sendkit_nb.charts``, and the wording around them. No metric is computed here."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import polars as pl

from sendkit_nb import charts
from sendkit_nb import metrics as skm
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

__all__ = ["Options", "build_view", "definition_blocks"]

_EVENT = {"open": "opened", "click": "clicked", "reply": "replied", "positive": "positive"}
_DASH = "–"


@dataclass(frozen=True)
class Options:
    """How the numbers are computed and the report titled (validated by ``report()``)."""

    title: str | None = None
    positive_tags: tuple[str, ...] | None = None
    denominator: skm.Denominator = "delivered"
    metric: skm.Metric = "reply"
    progress: bool = True


# -- formatting -----------------------------------------------------------------------------


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_int(value: object) -> str:
    """``3239`` -> ``"3,239"``; null -> ``"–"``."""
    return f"{int(value):,}" if _number(value) else _DASH  # type: ignore[call-overload]


def fmt_pct(value: object) -> str:
    """A share as a percentage, one decimal (two below 1%, where one decimal hides the
    differences that matter for replies); null -> ``"–"`` (a zero denominator)."""
    if not _number(value):
        return _DASH
    pct = float(value) * 100  # type: ignore[arg-type]
    return f"{pct:.2f}%" if 0 < abs(pct) < 1 else f"{pct:.1f}%"


def fmt_pp(value: object) -> str:
    """A difference of two shares in percentage points, signed."""
    if not _number(value):
        return _DASH
    return f"{float(value) * 100:+.2f} pp"  # type: ignore[arg-type]


def fmt_p(value: object) -> str:
    if not _number(value):
        return _DASH
    p = float(value)  # type: ignore[arg-type]
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


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
        (f"{name.split('_')[0].capitalize()} rate (/ {over[name]})", True)
        for name in skm.RATE_COLUMNS
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


def _verdict(row: dict[str, Any]) -> Cell:
    if row["is_leader"]:
        small = " (too small to call)" if row["too_small"] else ""
        return Cell(f"leader{small}", flag="small" if small else "leader")
    if row["significant"] is True:
        return Cell("significantly below the leader", flag="significant")
    if row["too_small"]:
        return Cell("too small to call", flag="small")
    if row["significant"] is False:
        return Cell("no significant difference")
    return Cell(_DASH)


def _variant_table(variants: pl.DataFrame, metric: str) -> Table:
    over = skm.rate_denominators(str(variants["denominator"][0]))
    base, event, rate = over[f"{metric}_rate"], _EVENT[metric], f"{metric}_rate"
    columns = [
        ("Step", False),
        ("Variant", False),
        (base.capitalize(), True),
        (event.capitalize(), True),
        (f"{metric.capitalize()} rate", True),
        ("95% interval", True),
        ("vs leader", True),
        ("Test", False),
        ("p (Holm)", True),
        ("Verdict", False),
    ]
    rows = [
        [
            Cell(str(r["step_label"])),
            Cell(str(r["variant"]) if r["variant"] is not None else "(no variant)"),
            Cell(fmt_int(r[base])),
            Cell(fmt_int(r[event])),
            Cell(fmt_pct(r[rate])),
            Cell(f"{fmt_pct(r[f'{rate}_low'])} – {fmt_pct(r[f'{rate}_high'])}"),
            Cell(_DASH if r["is_leader"] else fmt_pp(r["diff_vs_leader"])),
            Cell({"z": "z-test", "fisher": "Fisher exact"}.get(r["test"] or "", _DASH)),
            Cell(fmt_p(r["p_value_adj"])),
            _verdict(r),
        ]
        for r in variants.iter_rows(named=True)
    ]
    return _table(
        "variants",
        f"A/B test on the {metric} rate (over {base}) within each step: every arm against the "
        f"step's leader; an arm below {skm.MIN_SENDS} leads, or a step with fewer than "
        f"{skm.MIN_EVENTS} events, is too small to call.",
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
    columns = [
        ("Campaign", False),
        ("Status", False),
        ("Leads", True),
        ("Contacted", True),
        ("Replied", True),
        ("Positive", True),
        ("Positive / contacted", True),
        ("Reply / contacted", True),
        ("Bounce / contacted", True),
        ("Open / delivered", True),
    ]
    by_id = {str(r["campaign_id"]): r for r in compare.iter_rows(named=True)}
    # Best headline rate first (compare_campaigns' order); campaigns without leads at the end.
    order = [i for i in by_id if i in ids] + [i for i in ids if i not in by_id]
    rows = []
    for cid in order:
        r = by_id.get(cid, {})
        rows.append(
            [
                Cell(names[cid], href=f"#{anchors[cid]}"),
                Cell(statuses.get(cid) or _DASH),
                Cell(fmt_int(r.get("leads", 0))),
                Cell(fmt_int(r.get("contacted", 0))),
                Cell(fmt_int(r.get("replied", 0))),
                Cell(fmt_int(r.get("positive", 0))),
                Cell(fmt_pct(r.get("positive_rate"))),
                Cell(fmt_pct(r.get("reply_rate"))),
                Cell(fmt_pct(r.get("bounce_rate"))),
                Cell(fmt_pct(r.get("open_rate"))),
            ]
        )
    return _table(
        "overview",
        "Campaign headline, per lead: positive replies per lead contacted is the headline rate. "
        "Opens are directional.",
        columns,
        rows,
    )


# -- one campaign ---------------------------------------------------------------------------


def _kpis(head: dict[str, Any], timing: dict[str, Any] | None) -> list[Kpi]:
    contacted, delivered = head["contacted"], head["delivered"]
    kpis = [
        Kpi(
            "positive replies per lead contacted",
            fmt_pct(head["positive_rate"]),
            f"{fmt_int(head['positive'])} positive of {fmt_int(contacted)} contacted",
            headline=True,
        ),
        Kpi("leads", fmt_int(head["leads"])),
        Kpi("contacted (at least one email)", fmt_int(contacted)),
        Kpi(
            f"replied ({fmt_pct(head['reply_rate'])} of contacted)",
            fmt_int(head["replied"]),
            "replied leads, whatever the step",
        ),
        Kpi(
            f"positive ({fmt_pct(head['positive_rate'])} of contacted)",
            fmt_int(head["positive"]),
        ),
        Kpi(
            f"bounced ({fmt_pct(head['bounce_rate'])} of contacted)",
            fmt_int(head["bounced"]),
            "contacted leads whose every email bounced",
        ),
        Kpi(
            f"opened ({fmt_pct(head['open_rate'])} of delivered), directional",
            fmt_int(head["opened"]),
            skm.OPENS_CAVEAT,
        ),
        Kpi(
            f"clicked ({fmt_pct(head['click_rate'])} of delivered)",
            fmt_int(head["clicked"]),
            f"of {fmt_int(delivered)} delivered",
        ),
    ]
    if timing is not None:
        median = timing["median_days"]
        kpis.append(
            Kpi(
                "median days to reply",
                str(median) if median is not None else "not reached",
                "first day the reply curve reaches 50% of contacted leads; "
                f"{fmt_pct(timing['share_replied'])} replied by the end of the data",
            )
        )
    if head["unattributed"]:
        kpis.append(
            Kpi(
                "unattributed replies",
                fmt_int(head["unattributed"]),
                "replies with no delivered email before them: counted, never dropped",
            )
        )
    return kpis


def _checks(leads: pl.DataFrame) -> tuple[Check, ...]:
    found = skm.quality(leads)
    if found.height == 0:
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
        self.names = _unique_names(selection.campaign_ids, names)
        self.statuses = statuses
        taken: set[str] = set()
        self.anchors = {cid: _anchor(cid, taken) for cid in selection.campaign_ids}

    def chart(self, key: str, title: str, caption: str, figure: Any) -> Chart:
        return Chart(key, title, caption, figure_id=self.store.add(figure))

    def campaign(self, campaign_id: str, leads: pl.DataFrame) -> CampaignView:
        opts = self.options
        filtered = self.selection.statuses is not None
        noun = "lead" if leads.height == 1 else "leads"
        leads_text = f"{leads.height:,} {noun}" + (
            f" with status {', '.join(self.selection.statuses or ())}" if filtered else ""
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
            why = "with the chosen statuses" if filtered else "(none loaded)"
            return replace(base, notes=(f"This campaign has no leads {why}: nothing to chart.",))

        tags = opts.positive_tags
        head = skm.headline(leads, positive_tags=tags).row(0, named=True)
        timing_frame = skm.reply_timing_summary(leads)
        timing = timing_frame.row(0, named=True) if timing_frame.height else None
        checks = _checks(leads)
        status_chart = self.chart(
            "status_breakdown",
            "Lead status",
            "Every lead by its current SendKit status.",
            charts.status_breakdown(skm.status_counts(leads)),
        )
        tag_chart = self.chart(
            "ai_tag_breakdown",
            "AI tags",
            "Leads by the AI tag of their reply; positive tags are "
            + ", ".join(sorted(tags or DEFAULT_POSITIVE_TAGS))
            + ".",
            charts.ai_tag_breakdown(skm.ai_tag_counts(leads, positive_tags=tags)),
        )
        if head["contacted"] == 0:
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

        sequence = self.catalog
        funnel = skm.funnel(
            leads, sequence=sequence, denominator=opts.denominator, positive_tags=tags
        )
        variants = skm.variant_funnel(
            leads,
            metric=opts.metric,
            sequence=sequence,
            denominator=opts.denominator,
            positive_tags=tags,
        )
        ab_steps = variants.filter(pl.col("arms") >= 2)
        curve = skm.reply_curve(leads, by="variant" if ab_steps.height else None)
        daily = skm.daily_activity(leads, positive_tags=tags)
        over = skm.rate_denominators(opts.denominator)

        figures = [
            self.chart(
                "step_funnel",
                "Step funnel",
                "Leads per sequence step at each stage; hover for the rates and their "
                "denominators.",
                charts.step_funnel(funnel),
            ),
            self.chart(
                "step_rates",
                "Rates by step",
                f"Open, click, reply and positive rates over {over['reply_rate']}; "
                "opens are directional.",
                charts.step_rates(funnel),
            ),
        ]
        if ab_steps.height:
            figures.append(
                self.chart(
                    "variant_comparison",
                    "A/B variants",
                    f"{opts.metric.capitalize()} rate per variant with 95% Wilson intervals; "
                    "variants are compared only within a step.",
                    charts.variant_comparison(variants),
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
        figures += [
            self.chart(
                "reply_curve",
                "Reply curve",
                "Share of contacted leads who replied within N days of their first email "
                "(Kaplan–Meier, 95% band).",
                charts.reply_curve(curve),
            ),
            self.chart(
                "daily_activity",
                "Daily activity",
                "Emails per UTC day of sending; replies per UTC day of the reply.",
                charts.daily_activity(daily),
            ),
            status_chart,
            tag_chart,
        ]
        tables = [_funnel_table(funnel)]
        if ab_steps.height:
            tables.append(_variant_table(ab_steps, opts.metric))
        return replace(
            base,
            kpis=tuple(_kpis(head, timing)),
            charts=tuple(figures),
            tables=tuple(tables),
            checks=checks,
        )

    def overview(self) -> tuple[Chart, Table]:
        leads = self.selection.leads
        ids = self.selection.campaign_ids
        compare = skm.compare_campaigns(
            leads, self.catalog, positive_tags=self.options.positive_tags
        )
        table = _overview_table(compare, ids, self.names, self.anchors, self.statuses)
        if compare.height == 0:
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
                charts.campaign_comparison(compare, "positive", names=self.names),
            )
        return chart, table


def _unique_names(ids: Sequence[str], names: dict[str, str]) -> dict[str, str]:
    """Display names: the campaign name (its id without one), with the id's tail added where
    two chosen campaigns share a name, so the switcher never shows two identical tabs."""
    shown = {cid: names.get(cid) or cid for cid in ids}
    counts: dict[str, int] = {}
    for name in shown.values():
        counts[name] = counts.get(name, 0) + 1
    return {
        cid: f"{name} ({cid[-6:]})" if counts[name] > 1 and name != cid else name
        for cid, name in shown.items()
    }


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


def build_view(selection: Selection, options: Options) -> tuple[ReportView, FigureStore]:
    """The report's view and its figures."""
    from sendkit_nb._version import __version__

    builder = _Builder(selection, options)
    leads = selection.leads
    per_campaign = leads.partition_by("campaign_id", as_dict=True, maintain_order=True)
    empty = leads.clear()
    campaigns: list[CampaignView] = []
    overview_chart, overview_table = builder.overview()
    with _steps(len(selection.campaign_ids), options.progress) as bar:
        for cid in selection.campaign_ids:
            campaigns.append(builder.campaign(cid, per_campaign.get((cid,), empty)))
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
