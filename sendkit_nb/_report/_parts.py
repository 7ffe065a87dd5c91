"""The report's parts built from a campaign summary: the step-funnel, A/B and overview tables,
the KPI cards, the data checks and the definitions appendix. Every number is printed by
``sendkit_nb._present``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl

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
    variant_label,
)
from sendkit_nb._report._view import (
    Block,
    Cell,
    Check,
    Column,
    Kpi,
    Table,
)

__all__ = [
    "CHART_NOTES",
    "check_list",
    "definition_blocks",
    "funnel_table",
    "kpi_cards",
    "overview_table",
    "variant_table",
]


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


def funnel_table(funnel: pl.DataFrame) -> Table:
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


def variant_table(variants: pl.DataFrame, metric: str) -> Table:
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


def overview_table(
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


def kpi_cards(head: Mapping[str, Any], timing: Mapping[str, Any] | None) -> list[Kpi]:
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


def check_list(found: pl.DataFrame | None) -> tuple[Check, ...]:
    if found is None or found.height == 0:
        return ()
    counts = dict(found.group_by("check").agg(pl.col("id").n_unique()).iter_rows())
    return tuple(
        Check(name, description, int(counts[name]))
        for name, description in skm.QUALITY_CHECKS.items()
        if counts.get(name)
    )
