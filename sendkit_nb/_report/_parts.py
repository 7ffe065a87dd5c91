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
from sendkit_nb.charts._common import attribution_short

__all__ = [
    "CHART_NOTES",
    "attribution_table",
    "check_list",
    "definition_blocks",
    "funnel_table",
    "kpi_cards",
    "overview_table",
    "senders_table",
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
        "Send cohorts",
        "Leads grouped by the UTC week (from Monday) of their first email "
        "(sendkit_nb.metrics.cohort_curves). Each cell is the Kaplan–Meier share of the week's "
        "contacted leads who replied within N days of that email, over the leads on the "
        "week's reply curve; leads still waiting are censored, so a young week is not counted "
        "as not replying, and days a week has not been observed yet are blank.",
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
    """The step funnel as a table; an inbox-attributed funnel (``auto_replied`` column) says
    so and shows its auto-replies after the positive replies."""
    over = skm.rate_denominators(str(funnel["denominator"][0]) if funnel.height else "delivered")
    counts = list(skm.COUNT_COLUMNS)
    if "auto_replied" in funnel.columns:
        counts.insert(counts.index("positive") + 1, "auto_replied")
    columns = [("Step", False)] + [(_COUNT_TITLES.get(c, c.capitalize()), True) for c in counts]
    columns += [
        (rate_label(name.removesuffix("_rate"), over[name]), True) for name in skm.RATE_COLUMNS
    ]
    rows = [
        [Cell(str(r["step_label"]))]
        + [Cell(fmt_int(r[c])) for c in counts]
        + [Cell(fmt_pct(r[c])) for c in skm.RATE_COLUMNS]
        for r in funnel.iter_rows(named=True)
    ]
    return _table(
        "funnel",
        f"Step funnel: leads per sequence step, replies {attribution_short(funnel)}. Opens are "
        "directional.",
        columns,
        rows,
    )


_COUNT_TITLES = {"auto_replied": "Auto-replies"}


def attribution_table(check: pl.DataFrame, funnel: pl.DataFrame) -> Table:
    """Replied leads per step by last touch against the inbox threads (the rows of
    ``metrics.reconcile(..., replies=)``), then the replies neither places."""
    labels = dict(funnel.select("step", "step_label").iter_rows()) if funnel.height else {}
    rows = []
    for r in check.sort("what", "step", nulls_last=True).iter_rows(named=True):
        if r["what"] == "replied":
            step = str(labels.get(r["step"], f"Step {r['step']}"))
        else:
            step = "No step (unattributed)"
        rows.append(
            [
                Cell(step),
                Cell(fmt_int(r["from_leads"])),
                Cell(fmt_int(r["from_api"])),
                Cell(fmt_int(r["difference"])),
            ]
        )
    return _table(
        "attribution",
        "Replied leads per step: last touch (the leads' replied flag and send times) against "
        "the inbox threads (first human reply; auto-replies left out), counted as the step "
        "funnel counts them (in the report's time window, when it has one).",
        [("Step", False), ("Last touch", True), ("Inbox threads", True), ("Difference", True)],
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


def senders_table(rates: pl.DataFrame) -> Table:
    """One row per mailbox of :func:`sendkit_nb.metrics.mailbox_rates`, worst bounce rate
    first (mailboxes that sent nothing last); the bounce verdict is flagged, not only coloured."""
    threshold = rates["bounce_threshold"][0] if rates.height else None
    columns = [
        ("Mailbox", False),
        ("Status", False),
        ("Sent", True),
        ("Bounced", True),
        (rate_label("bounce", "emails sent"), True),
        ("95% interval", True),
        ("Replied", True),
        (rate_label("reply", "emails sent"), True),
        ("95% interval", True),
        ("Daily limit", True),
        ("Warm-up", False),
        ("Bounce check", False),
    ]
    rows = []
    ordered = rates.sort(["bounce_rate", "sent"], descending=True, nulls_last=True)
    for r in ordered.iter_rows(named=True):
        if r["over_bounce_threshold"] is None:
            verdict = Cell("nothing sent", flag="neutral")
        elif r["over_bounce_threshold"]:
            words = "clearly over" if r["clearly_over"] else "over (could be chance)"
            verdict = Cell(f"{words} {fmt_pct(threshold)}", flag="bad")
        else:
            verdict = Cell(f"under {fmt_pct(threshold)}", flag="good")
        warmup = r.get("warmup_status") or ("on" if r.get("warmup_enabled") else DASH)
        rows.append(
            [
                Cell(str(r["email"] or DASH)),
                Cell(str(r.get("status") or DASH)),
                Cell(fmt_int(r["sent"])),
                Cell(fmt_int(r["bounced"])),
                Cell(fmt_pct(r["bounce_rate"])),
                Cell(fmt_interval(r["bounce_rate_low"], r["bounce_rate_high"])),
                Cell(fmt_int(r["replied"])),
                Cell(fmt_pct(r["reply_rate"])),
                Cell(fmt_interval(r["reply_rate_low"], r["reply_rate_high"])),
                Cell(fmt_int(r.get("daily_limit"))),
                Cell(str(warmup)),
                verdict,
            ]
        )
    return _table(
        "senders",
        "Sending mailboxes: bounce and reply rate per email sent (SendKit's per-mailbox "
        f"counts), with 95% Wilson intervals; a bounce rate over {fmt_pct(threshold)} is "
        'flagged, "clearly" when the whole interval is over it.',
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
