"""Whole-campaign charts: lead statuses, AI reply tags, and campaigns side by side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl

from sendkit_nb._errors import BadRequestError

from ._common import (
    EVENT_OF,
    INBOX_ATTRIBUTION,
    RATE_TITLE,
    attribution_of,
    check_frame,
    esc,
    finish,
    fmt_int,
    fmt_pct,
    funnel_bases,
    hover_template,
    interval_level,
    is_number,
    level_words,
    metric_footnotes,
    names_for,
    num,
    opens_footnote,
    positive_note,
    positive_tags_of,
    ranked_bars,
    rate_hover,
    ratio_of,
    trace_uid,
    whiskers,
)
from ._spec import FigureSpec
from ._theme import COLORWAY, EVENT_COLORS, PALETTE, STATUS_COLORS

__all__ = ["ai_tag_breakdown", "campaign_comparison", "status_breakdown"]

_STATUS_HINT: Final = "Pass sendkit_nb.metrics.status_counts(leads)."
_TAG_HINT: Final = "Pass sendkit_nb.metrics.ai_tag_counts(leads)."
_COMPARE_HINT: Final = (
    "Pass sendkit_nb.metrics.compare_campaigns(leads, campaigns) (by='campaign' or by='step')."
)
#: The headline's denominators (per lead): see sendkit_nb.metrics.headline.
_HEADLINE_BASE: Final[dict[str, str]] = {
    "positive": "contacted",
    "reply": "contacted",
    "bounce": "contacted",
    "open": "delivered",
    "click": "delivered",
}
NO_STATUS: Final = "(no status)"
UNTAGGED: Final = "(untagged)"


def _campaign_keys(frame: pl.DataFrame) -> list[Any]:
    if "campaign_id" not in frame.columns:
        return [None]
    return frame["campaign_id"].unique(maintain_order=True).to_list()


def _names_from_frame(frame: pl.DataFrame, names: Mapping[str, str] | None) -> dict[str, str]:
    """Campaign display names: ``names`` first, then a ``campaign_name`` column."""
    found: dict[str, str] = {}
    if "campaign_name" in frame.columns and "campaign_id" in frame.columns:
        for cid, name in frame.select("campaign_id", "campaign_name").unique().iter_rows():
            if cid is not None and name is not None:
                found[str(cid)] = str(name)
    found.update({str(k): str(v) for k, v in (names or {}).items()})
    return found


def status_breakdown(
    status_counts_frame: pl.DataFrame,
    *,
    names: Mapping[str, str] | None = None,
    normalize: bool = False,
) -> go.Figure:
    """Leads per current lead status (pending, active, ..., replied, removed, failed).

    Takes :func:`sendkit_nb.metrics.status_counts` output. One campaign: one bar per status,
    coloured by status. Several campaigns: grouped bars, one trace per campaign (``names``
    maps campaign ids to names); pass ``normalize=True`` to compare shares rather than counts.
    The hover gives count / campaign total and the share.

    Traces: one (uid ``"status_breakdown-leads"``) for a single campaign, else one per campaign
    (uid ``"status_breakdown-<campaign_id>"``).

    >>> import sendkit_nb as sk
    >>> from sendkit_nb.demo import make_workspace
    >>> from sendkit_nb.metrics import status_counts
    >>> ws = make_workspace(sizes=[300]); campaign = ws.campaigns[0]
    >>> leads = sk.leads_from_items(ws.leads[campaign["_id"]], campaign["_id"])
    >>> fig = status_breakdown(status_counts(leads))
    >>> list(fig.data[0].x)[:3]
    ['pending', 'active', 'paused']
    """
    frame = check_frame(status_counts_frame, ["status", "leads"], "status_breakdown", _STATUS_HINT)
    frame = frame.with_columns(pl.col("status").cast(pl.String).fill_null(NO_STATUS))
    keys = _campaign_keys(frame)
    statuses = frame["status"].unique(maintain_order=True).to_list()
    labels = names_for(keys, _names_from_frame(frame, names)) if keys != [None] else ["Leads"]
    fig = FigureSpec()
    single = len(keys) == 1
    for i, (key, label) in enumerate(zip(keys, labels, strict=True)):
        part = frame if key is None else frame.filter(pl.col("campaign_id") == key)
        counts = dict(part.group_by("status").agg(pl.col("leads").sum()).iter_rows())
        total = sum(v for v in counts.values() if is_number(v))
        ys = [counts.get(s, 0) for s in statuses]
        shares = [c / total if total else None for c in ys]
        who = "" if single and key is None else f"<br><i>{esc(label)}</i>"
        fig.add_trace(
            dict(
                type="bar",
                name=label,
                uid=trace_uid("status_breakdown", "leads" if single else key),
                x=statuses,
                y=shares if normalize else ys,
                text=[
                    fmt_pct(s) if normalize else fmt_int(c) for c, s in zip(ys, shares, strict=True)
                ],
                textposition="outside",
                textfont={"size": 11},
                cliponaxis=False,
                marker={
                    "color": [STATUS_COLORS.get(s, PALETTE["grey"]) for s in statuses]
                    if single
                    else COLORWAY[i % len(COLORWAY)]
                },
                showlegend=not single,
                hovertext=[
                    f"<b>{esc(s)}</b><br>{fmt_int(c)} / {fmt_int(total)} leads ({fmt_pct(sh)})"
                    + who
                    for s, c, sh in zip(statuses, ys, shares, strict=True)
                ],
                hovertemplate=hover_template(),
            )
        )
    fig.update_layout(barmode="group", uniformtext={"minsize": 9, "mode": "hide"})
    fig.update_xaxes(type="category", title=None)
    fig.update_yaxes(
        title={"text": "Share of the campaign's leads" if normalize else "Leads"},
        tickformat=".0%" if normalize else ",",
        rangemode="tozero",
    )
    grand = int(frame["leads"].sum() or 0)
    if single:
        subtitle = f"Current SendKit lead status · {fmt_int(grand)} leads"
        if keys != [None] and labels[0] != str(keys[0]):
            subtitle = f"{esc(labels[0])} · {subtitle}"
    else:
        subtitle = f"Current SendKit lead status · {len(keys)} campaigns, {fmt_int(grand)} leads"
        if normalize:
            subtitle += " · shares of each campaign's leads"
    return finish(
        fig,
        chart="status_breakdown",
        title="Leads by status",
        subtitle=subtitle,
        notes=[
            "A lead's status is SendKit's current state of the lead in the campaign, not a "
            "funnel stage: a replied lead shows as replied whatever step it answered."
        ],
        plot=280,
        bottom=40,
        legend=[] if single else labels,
        empty="no leads in this selection." if grand == 0 else None,
    )


def ai_tag_breakdown(
    tag_counts_frame: pl.DataFrame, *, include_untagged: bool = False
) -> go.Figure:
    """Leads per AI reply tag, positive tags highlighted; most frequent at the top.

    Takes :func:`sendkit_nb.metrics.ai_tag_counts` output (several campaigns are summed per
    tag). Untagged leads (mostly leads that never replied) are left out unless
    ``include_untagged``; the subtitle says how many. The hover gives the count over all leads
    and how many of the tagged leads replied.

    Traces (always two): ``"Positive tags"`` and ``"Other tags"`` (uids
    ``"ai_tag_breakdown-positive"`` / ``"ai_tag_breakdown-other"``).

    >>> import sendkit_nb as sk
    >>> from sendkit_nb.demo import make_workspace
    >>> from sendkit_nb.metrics import ai_tag_counts
    >>> ws = make_workspace(sizes=[300]); campaign = ws.campaigns[0]
    >>> leads = sk.leads_from_items(ws.leads[campaign["_id"]], campaign["_id"])
    >>> fig = ai_tag_breakdown(ai_tag_counts(leads))
    >>> sorted(fig.data[0].y)
    ['interested', 'meeting_booked']
    """
    frame = check_frame(
        tag_counts_frame, ["ai_tag", "leads", "is_positive"], "ai_tag_breakdown", _TAG_HINT
    )
    if "replied" not in frame.columns:
        frame = frame.with_columns(replied=pl.lit(None, pl.Int64))
    pooled = (
        frame.group_by(pl.col("ai_tag").cast(pl.String))
        .agg(
            pl.col("leads").sum(),
            pl.col("replied").sum() if frame["replied"].null_count() == 0 else pl.lit(None),
            pl.col("is_positive").fill_null(False).any(),
        )
        .sort(["leads", "ai_tag"], descending=[True, False], nulls_last=True)
    )
    grand = int(pooled["leads"].sum() or 0)
    untagged = int(pooled.filter(pl.col("ai_tag").is_null())["leads"].sum() or 0)
    if include_untagged:
        pooled = pooled.with_columns(pl.col("ai_tag").fill_null(UNTAGGED))
    else:
        pooled = pooled.filter(pl.col("ai_tag").is_not_null())
    rows = pooled.to_dicts()
    order = [r["ai_tag"] for r in rows]
    fig = FigureSpec()
    for positive, name, color in (
        (True, "Positive tags", EVENT_COLORS["positive"]),
        (False, "Other tags", PALETTE["blue"]),
    ):
        part = [r for r in rows if bool(r["is_positive"]) is positive]
        fig.add_trace(
            dict(
                type="bar",
                name=name,
                uid=trace_uid("ai_tag_breakdown", "positive" if positive else "other"),
                orientation="h",
                y=[r["ai_tag"] for r in part],
                x=[r["leads"] for r in part],
                text=[fmt_int(r["leads"]) for r in part],
                textposition="outside",
                textfont={"size": 11},
                cliponaxis=False,
                marker={"color": color},
                hovertext=[_tag_hover(r, grand, positive) for r in part],
                hovertemplate=hover_template(),
            )
        )
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(
        type="category",
        categoryorder="array",
        categoryarray=order,
        autorange="reversed",
        title=None,
    )
    fig.update_xaxes(title={"text": "Leads"}, rangemode="tozero", tickformat=",")
    subtitle = f"SendKit's AI reading of each reply · {fmt_int(grand)} leads"
    if untagged and not include_untagged:
        subtitle += f" · {fmt_int(untagged)} untagged not shown"
    return finish(
        fig,
        chart="ai_tag_breakdown",
        title="AI reply tags",
        subtitle=subtitle,
        notes=[
            f"Positive tags{_tag_list(positive_tags_of(frame))} make a reply a positive reply. "
            "A tag can sit on a lead whose replied flag is false (e.g. an auto-reply); the "
            "hover shows how many tagged leads replied."
        ],
        plot=max(120, 30 * len(rows)),
        bottom=56,
        legend=[t["name"] for t in fig.data if t["y"]],
        empty="no AI-tagged leads in this selection." if not rows else None,
    )


def _tag_hover(row: dict[str, Any], grand: int, positive: bool) -> str:
    kind = " (positive)" if positive else ""
    text = (
        f"<b>{esc(row['ai_tag'])}</b>{kind}<br>{fmt_int(row['leads'])} / {fmt_int(grand)} leads "
        f"({fmt_pct(row['leads'] / grand if grand else None)})"
    )
    if is_number(row.get("replied")):
        text += f"<br>{fmt_int(row['replied'])} of them replied"
    return text


def _tag_list(tags: str | None) -> str:
    if tags is None:
        return ""
    return f" ({esc(tags) if tags else 'none counted as positive'})"


def campaign_comparison(
    compare_frame: pl.DataFrame,
    metric: str = "positive",
    *,
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """Several campaigns side by side on one rate, with the Wilson intervals of the frame
    (``<rate>_low``/``_high``: :func:`~sendkit_nb.metrics.compare_campaigns` has them; a frame
    without them is drawn without whiskers, and the subtitle says so).

    Takes :func:`sendkit_nb.metrics.compare_campaigns` output. ``by="campaign"`` (the default
    there): one horizontal bar per campaign in the frame's order (best headline rate first),
    rates per lead as in :func:`sendkit_nb.metrics.headline` (positive, reply and bounce over
    contacted; open and click over delivered); ``metric`` is ``"positive"`` (the headline rate),
    ``"reply"``, ``"open"``, ``"click"`` or ``"bounce"``. ``by="step"``: grouped bars per step
    number ("Step 1", "Step 2", ...; each campaign's own subject in the hover), one trace per
    campaign, rates over the frame's denominator. Campaign names come from ``campaign_name``,
    or ``names`` (id -> name).

    Traces: ``by="campaign"`` always two, ``"Campaigns"`` (bars, uid
    ``"campaign_comparison-bars"``) and ``"Labels"`` (the rate and counts beside each bar);
    ``by="step"`` one per campaign (uid ``"campaign_comparison-<campaign_id>"``).

    >>> import polars as pl
    >>> import sendkit_nb as sk
    >>> from sendkit_nb.demo import make_workspace
    >>> from sendkit_nb.metrics import compare_campaigns
    >>> ws = make_workspace(sizes=[300, 200])
    >>> leads = pl.concat([sk.leads_from_items(ws.leads[c["_id"]], c["_id"]) for c in ws.campaigns])
    >>> fig = campaign_comparison(compare_campaigns(leads, ws.campaigns), "reply")
    >>> len(fig.data[0].y)
    2
    """
    frame = check_frame(compare_frame, ["campaign_id"], "campaign_comparison", _COMPARE_HINT)
    if metric not in _HEADLINE_BASE:
        raise BadRequestError(
            f"unknown metric {metric!r}",
            hint=f"Use one of {', '.join(map(repr, _HEADLINE_BASE))}.",
        )
    if "step" in frame.columns or "step_label" in frame.columns:
        return _comparison_by_step(frame, metric, names)
    event, base = EVENT_OF[metric], _HEADLINE_BASE[metric]
    frame = check_frame(frame, ["campaign_id", event, base], "campaign_comparison", _COMPARE_HINT)
    rows = frame.to_dicts()
    level, tags, said = interval_level(frame), positive_tags_of(frame), attribution_of(frame)
    keys = [r["campaign_id"] for r in rows]
    labels = names_for(keys, _names_from_frame(frame, names))
    rates: list[float | None] = []
    lows: list[float | None] = []
    highs: list[float | None] = []
    for r in rows:
        rate, low, high = _rate_and_bounds(r, f"{metric}_rate", event, base)
        rates.append(rate)
        lows.append(low)
        highs.append(high)
    fig, ends = ranked_bars(
        "campaign_comparison",
        name="Campaigns",
        labels=labels,
        rates=rates,
        lows=lows,
        highs=highs,
        marker={"color": EVENT_COLORS[event]},
        hovertext=[
            rate_hover(label, metric, r, base, v, lo, hi, level=level, tags=tags, attribution=said)
            for label, r, v, lo, hi in zip(labels, rows, rates, lows, highs, strict=True)
        ],
        text=[
            f"  {fmt_pct(v)}  ({fmt_int(r[event])} / {fmt_int(r[base])})"
            if is_number(v)
            else f"  no leads {base}"
            for v, r in zip(rates, rows, strict=True)
        ],
    )
    top = max(ends, default=0.0)
    fig.update_xaxes(
        title={"text": f"{RATE_TITLE[metric]} ({EVENT_OF[metric]} / {base})"},
        tickformat=".1~%",
        range=[0, max(top, 0.01) * 1.35],
    )
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=labels, autorange="reversed"
    )
    what = (
        "positive replies per lead contacted (the headline rate)"
        if metric == "positive"
        else f"{EVENT_OF[metric]} / {base} leads"
    )
    return finish(
        fig,
        chart="campaign_comparison",
        title=f"{RATE_TITLE[metric]} by campaign",
        subtitle=(
            f"{what.capitalize()} · per lead, all steps · {_whiskers(frame, f'{metric}_rate')}"
        ),
        notes=_compare_notes(metric, tags, frame),
        plot=max(120, 36 * len(rows)),
        bottom=56,
        empty="no campaigns in this frame." if not rows else None,
    )


def _rate_and_bounds(
    row: dict[str, Any], rate_col: str, events: str, base: str
) -> tuple[float | None, float | None, float | None]:
    """A row's rate and the interval the metrics put beside it (``<rate>_low``/``_high``; the
    chart computes none of its own). A frame without the rate column gets ``events / base``
    and no interval."""
    rate = num(row[rate_col]) if rate_col in row else ratio_of(row[events], row[base])
    return rate, num(row.get(f"{rate_col}_low")), num(row.get(f"{rate_col}_high"))


def _whiskers(frame: pl.DataFrame, rate_col: str) -> str:
    if f"{rate_col}_low" in frame.columns and f"{rate_col}_high" in frame.columns:
        return f"whiskers: {level_words(interval_level(frame))}Wilson interval"
    return "no intervals in this frame (no *_rate_low/_high columns)"


def _compare_notes(metric: str, tags: str | None, frame: pl.DataFrame) -> list[str]:
    notes = [
        "Same definitions for every campaign: contacted = leads with at least one email, "
        "delivered = with at least one email that did not bounce."
    ]
    if metric in ("reply", "positive"):
        notes.append(f"Positive: {positive_note(tags)}." if metric == "positive" else "")
        if attribution_of(frame) == INBOX_ATTRIBUTION:
            # Said only when it differs from the default: the rates leave auto-replies out.
            notes.append(f"Replies: {INBOX_ATTRIBUTION}.")
    if metric == "open":
        notes.append(opens_footnote())
    return [n for n in notes if n]


def _comparison_by_step(
    frame: pl.DataFrame, metric: str, names: Mapping[str, str] | None
) -> go.Figure:
    bases = funnel_bases(frame)
    event, base = EVENT_OF[metric], bases[f"{metric}_rate"]
    rate_col = f"{metric}_rate"
    frame = check_frame(
        frame,
        ["campaign_id", "step_label", event, base],
        "campaign_comparison",
        _COMPARE_HINT,
    )
    # Steps are matched by their number in the sequence ("Step 1"), not by subject: campaigns
    # have different subjects at the same position.
    if "step_number" in frame.columns:
        # An email step's position among the email steps; a step outside the sequence keeps
        # its own label ("Step order 7").
        frame = frame.with_columns(
            _pos=pl.when(pl.col("step_number").is_not_null())
            .then(pl.format("Step {}", "step_number"))
            .otherwise(pl.col("step_label").cast(pl.String))
        )
        ordered = frame.sort("step_number", "step", nulls_last=True)
    else:  # a frame built without step numbers: the label's leading "Step N"
        frame = frame.with_columns(
            _pos=pl.col("step_label").cast(pl.String).str.split(" · ").list.first()
        )
        ordered = frame.sort("step") if "step" in frame.columns else frame
    positions = ordered.get_column("_pos").unique(maintain_order=True).to_list()
    keys = _campaign_keys(frame)
    labels = names_for(keys, _names_from_frame(frame, names))
    level, tags, said = interval_level(frame), positive_tags_of(frame), attribution_of(frame)
    fig = FigureSpec()
    for i, (key, label) in enumerate(zip(keys, labels, strict=True)):
        part = {r["_pos"]: r for r in frame.filter(pl.col("campaign_id") == key).to_dicts()}
        rows = [part.get(p) for p in positions]
        values: list[float | None] = []
        lows: list[float | None] = []
        highs: list[float | None] = []
        for r in rows:
            rate, low, high = (None, None, None)
            if r is not None:
                rate, low, high = _rate_and_bounds(r, rate_col, event, base)
            values.append(rate)
            lows.append(low)
            highs.append(high)
        fig.add_trace(
            dict(
                type="bar",
                name=label,
                uid=trace_uid("campaign_comparison", key),
                x=positions,
                y=values,
                marker={"color": COLORWAY[i % len(COLORWAY)]},
                error_y=whiskers(values, lows, highs, width=4, thickness=1.2),
                hovertext=[
                    rate_hover(
                        label,
                        metric,
                        r,
                        base,
                        v,
                        lo,
                        hi,
                        level=level,
                        tags=tags,
                        attribution=said,
                        detail=r["step_label"],
                    )
                    if r is not None
                    else f"<b>{esc(label)}</b><br>{esc(p)}: not in this campaign's sequence"
                    for p, r, v, lo, hi in zip(positions, rows, values, lows, highs, strict=True)
                ],
                hovertemplate=hover_template(),
            )
        )
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category", title=None)
    fig.update_yaxes(title={"text": RATE_TITLE[metric]}, tickformat=".1~%", rangemode="tozero")
    notes = [
        "Steps are matched by position in each campaign's sequence; subjects differ (hover).",
        *metric_footnotes(metric, said),
    ]
    return finish(
        fig,
        chart="campaign_comparison",
        title=f"{RATE_TITLE[metric]} by step and campaign",
        subtitle=f"{EVENT_OF[metric]} / {base} per step · {_whiskers(frame, rate_col)}",
        notes=notes,
        plot=300,
        bottom=40,
        legend=labels,
        empty="no campaigns in this frame." if frame.height == 0 else None,
    )
