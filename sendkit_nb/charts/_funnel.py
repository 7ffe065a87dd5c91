"""The step charts: the funnel by sequence step, rates by step, and variants within a step.

Each draws one of the metrics frames as it is (one row per step, or per step and variant):
a handful of points however many leads are behind them. Trace counts do not depend on the
data (one trace per stage, per rate, or one for all arms), so the dashboard can refresh a
FigureWidget in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb._present import (
    NO_VARIANT_LABEL,
    TONE_COLORS,
    Verdict,
    ab_verdicts,
    too_small_rule,
)

from ._common import (
    EVENT_OF,
    RATE_TITLE,
    attribution_of,
    attribution_short,
    check_frame,
    esc,
    finish,
    fmt_int,
    fmt_level,
    fmt_pct,
    frame_setting,
    funnel_bases,
    hover_template,
    interval_level,
    is_number,
    level_words,
    metric_footnotes,
    num,
    opens_footnote,
    positive_note,
    positive_tags_of,
    rate_hover,
    rate_note,
    rate_sentence,
    ratio_of,
    row_level,
    stacked_subplots,
    step_tick,
    tick_width,
    trace_uid,
    whiskers,
    wrap,
)
from ._spec import FigureSpec
from ._theme import EVENT_COLORS, OPENS_PATTERN, PALETTE

__all__ = ["STAGES", "step_funnel", "step_rates", "variant_comparison"]

#: The funnel stages :func:`step_funnel` draws, in order (one trace each).
STAGES: Final[tuple[str, ...]] = ("sent", "delivered", "opened", "clicked", "replied", "positive")
_STAGE_NAME: Final[dict[str, str]] = {
    "sent": "Sent",
    "delivered": "Delivered",
    "opened": "Opened (directional)",
    "clicked": "Clicked",
    "replied": "Replied",
    "positive": "Positive",
}
_RATE_OF_STAGE: Final[dict[str, str]] = {
    "opened": "open",
    "clicked": "click",
    "replied": "reply",
    "positive": "positive",
}
_RATES: Final[tuple[str, ...]] = ("open", "click", "reply", "positive", "bounce")
_FUNNEL_HINT: Final = "Pass sendkit_nb.metrics.funnel(leads) (one row per sequence step)."
_VARIANT_HINT: Final = (
    "Pass sendkit_nb.metrics.variant_funnel(leads) (one row per step and variant)."
)
#: Columns that split a funnel into several rows per step (segments, variants).
_SPLITS: Final[tuple[str, ...]] = ("variant", "campaign_id", "status", "ai_tag")
#: Up to this many steps, step_funnel prints the count on each bar.
_LABELLED_STEPS: Final = 4


def _labelled(frame: pl.DataFrame) -> pl.DataFrame:
    """``step_label`` never null: a hand-made frame may lack labels for some steps."""
    fallback = (
        pl.format("Step order {}", pl.col("step"))
        if "step" in frame.columns
        else pl.lit("(unlabelled step)")
    )
    return frame.with_columns(pl.col("step_label").cast(pl.String).fill_null(fallback))


def _one_row_per(frame: pl.DataFrame, keys: Sequence[str], what: str, hint: str) -> None:
    """Refuse a frame with several rows per step (a segmented or per-variant funnel): drawing
    them as one would silently mix segments."""
    if frame.height == 0 or not frame.select(keys).is_duplicated().any():
        return
    splits = [c for c in frame.columns if c in _SPLITS or c.startswith("tag:")]
    by = f" (split by {', '.join(map(repr, splits))})" if splits else ""
    raise BadRequestError(
        f"{what} draws one row per {' and '.join(keys)}, but the frame has several{by}",
        hint=hint,
    )


def _bases_phrase(bases: dict[str, str], rates: Sequence[str]) -> str:
    """The rates' bases in words: "over delivered", or "over delivered (open) and opened
    (click, reply)" when they differ."""
    groups: dict[str, list[str]] = {}
    for r in rates:
        groups.setdefault(bases[f"{r}_rate"], []).append(r)
    if len(groups) == 1:
        return f"over {next(iter(groups))}"
    return "over " + " and ".join(f"{b} ({', '.join(rs)})" for b, rs in groups.items())


def step_funnel(funnel_frame: pl.DataFrame) -> go.Figure:
    """The funnel by sequence step: sent → delivered → opened → clicked → replied → positive.

    One grouped bar per stage and step (x = the step labels of the campaign's sequence), the
    lead count printed on each bar when it fits; the hover states each rate as numerator /
    denominator with its definition. Opens are hatched and marked directional. Takes
    :func:`sendkit_nb.metrics.funnel` output (one row per step; a segmented or per-variant
    frame is refused: filter it to one segment first).

    Traces: one per stage, named ``"Sent"``, ``"Delivered"``, ``"Opened (directional)"``,
    ``"Clicked"``, ``"Replied"``, ``"Positive"`` (uids ``"step_funnel-<stage>"``), whatever the
    data.

    >>> import sendkit_nb as sk
    >>> from sendkit_nb.demo import make_workspace
    >>> from sendkit_nb.metrics import funnel
    >>> ws = make_workspace(sizes=[300]); campaign = ws.campaigns[0]
    >>> leads = sk.leads_from_items(ws.leads[campaign["_id"]], campaign["_id"])
    >>> fig = step_funnel(funnel(leads, sequence=campaign))
    >>> [trace.name for trace in fig.data]
    ['Sent', 'Delivered', 'Opened (directional)', 'Clicked', 'Replied', 'Positive']
    >>> fig.data[0].x[0]
    'Step 1 · Scaling {{companyName}} in Q3'
    """
    frame = check_frame(funnel_frame, ["step_label", *STAGES], "step_funnel", _FUNNEL_HINT)
    frame = _labelled(frame)
    _one_row_per(
        frame,
        ["step" if "step" in frame.columns else "step_label"],
        "step_funnel",
        (
            "Filter the frame to one segment, or call funnel(leads) without segment=; for "
            "variants use variant_comparison(variant_funnel(leads))."
        ),
    )
    bases = funnel_bases(frame)
    tags = positive_tags_of(frame)
    said = attribution_of(frame)
    if "bounced" not in frame.columns:
        frame = frame.with_columns(bounced=pl.col("sent") - pl.col("delivered"))
    rows = frame.select("step_label", *STAGES, "bounced").to_dicts()
    labels = [r["step_label"] for r in rows]
    width = tick_width(len(labels))

    fig = FigureSpec()
    for stage in STAGES:
        fig.add_trace(
            dict(
                type="bar",
                name=_STAGE_NAME[stage],
                uid=trace_uid("step_funnel", stage),
                x=labels,
                y=[r[stage] for r in rows],
                # Counts on the bars only while every label fits; with more steps some
                # would be hidden and others not, which reads as missing data.
                text=[fmt_int(r[stage]) for r in rows] if len(rows) <= _LABELLED_STEPS else None,
                textposition="outside",
                textangle=0,
                textfont={"size": 11},
                cliponaxis=False,
                hovertext=[_stage_hover(stage, r, bases, tags, said) for r in rows],
                hovertemplate=hover_template(),
                marker={
                    "color": EVENT_COLORS[stage],
                    "pattern": {
                        "shape": OPENS_PATTERN if stage == "opened" else "",
                        "fgcolor": "white",
                        "solidity": 0.25,
                    },
                },
            )
        )
    fig.update_layout(
        barmode="group",
        bargroupgap=0.06,
        uniformtext={"minsize": 9, "mode": "hide"},
    )
    fig.update_xaxes(
        type="category",
        tickmode="array",
        tickvals=labels,
        ticktext=[step_tick(label, width) for label in labels],
        title=None,
    )
    fig.update_yaxes(title={"text": "Leads"}, rangemode="tozero", tickformat=",")
    rates_over = _bases_phrase(bases, ("open", "click", "reply", "positive"))
    return finish(
        fig,
        chart="step_funnel",
        title="Funnel by sequence step",
        subtitle=(
            f"Leads per step · hover for the rates, {rates_over} · replies "
            f"{attribution_short(frame)} · opens hatched: directional"
        ),
        notes=[
            "Each lead counts once per step. Delivered = sent − bounced. Replied: "
            f"{said}; replies with no email before them are unattributed and not shown. "
            f"Positive: {positive_note(tags)}.",
            opens_footnote(),
        ],
        plot=320,
        bottom=62,
        legend=[_STAGE_NAME[s] for s in STAGES] if rows else [],
        empty="no emails were sent in this selection." if not rows else None,
    )


def _stage_hover(
    stage: str, row: dict[str, Any], bases: dict[str, str], tags: str | None, said: str
) -> str:
    head = f"<b>{esc(row['step_label'])}</b><br>"
    sent, delivered, bounced = row["sent"], row["delivered"], row["bounced"]
    if stage == "sent":
        return head + f"Sent: {fmt_int(sent)} leads emailed at this step"
    if stage == "delivered":
        return head + (
            f"Delivered: {fmt_int(delivered)} = {fmt_int(sent)} sent − {fmt_int(bounced)} "
            "bounced<br>"
            + rate_sentence("bounce", ratio_of(bounced, sent), bounced, "sent", sent, note=False)
        )
    rate = _RATE_OF_STAGE[stage]
    base_name = bases[f"{rate}_rate"]
    sentence = rate_sentence(
        rate,
        ratio_of(row[stage], row[base_name]),
        row[stage],
        base_name,
        row[base_name],
        tags=tags,
        attribution=said,
    )
    return head + f"{_STAGE_NAME[stage]}: {fmt_int(row[stage])} leads<br>{sentence}"


def _check_rates(rates: object) -> list[str]:
    chosen = [rates] if isinstance(rates, str) else rates
    if not isinstance(chosen, Sequence) or not chosen:
        raise BadRequestError(
            f"rates must be a non-empty list of rate names, got {rates!r}",
            hint=f"Use some of {', '.join(map(repr, _RATES))}.",
        )
    bad = [r for r in chosen if r not in _RATES]
    if bad:
        raise BadRequestError(
            f"unknown rate(s) {', '.join(map(repr, bad))}",
            hint=f"Use some of {', '.join(map(repr, _RATES))}.",
        )
    return list(dict.fromkeys(chosen))


def step_rates(
    funnel_frame: pl.DataFrame,
    rates: Sequence[str] = ("open", "click", "reply", "positive"),
) -> go.Figure:
    """Rates by sequence step, one panel per rate, with Wilson error bars (the frame's
    ``confidence`` level, 95% by default).

    ``rates``: any of ``"open"``, ``"click"``, ``"reply"``, ``"positive"``, ``"bounce"``. Each
    panel has its own y scale (open rates are ten times reply rates; one shared axis would
    flatten the replies). Error bars are drawn when the frame has ``<rate>_rate_low`` and
    ``<rate>_rate_high`` columns and left out otherwise. The hover gives numerator,
    denominator (from the frame's ``denominator``) and definition.

    Traces: one bar trace per rate, in ``rates`` order, uids ``"step_rates-<rate>"``.

    >>> import sendkit_nb as sk
    >>> from sendkit_nb.demo import make_workspace
    >>> from sendkit_nb.metrics import funnel
    >>> ws = make_workspace(sizes=[300]); campaign = ws.campaigns[0]
    >>> leads = sk.leads_from_items(ws.leads[campaign["_id"]], campaign["_id"])
    >>> fig = step_rates(funnel(leads, sequence=campaign), rates=("open", "reply"))
    >>> [trace.name for trace in fig.data]
    ['Open rate (directional)', 'Reply rate']
    """
    chosen = _check_rates(rates)
    frame = check_frame(funnel_frame, ["step_label"], "step_rates", _FUNNEL_HINT)
    bases = funnel_bases(frame)
    needed = ["step_label"]
    for r in chosen:
        needed += [f"{r}_rate", EVENT_OF[r], bases[f"{r}_rate"]]
    frame = _labelled(check_frame(frame, needed, "step_rates", _FUNNEL_HINT))
    _one_row_per(
        frame,
        ["step" if "step" in frame.columns else "step_label"],
        "step_rates",
        "Filter the frame to one segment, or call funnel(leads) without segment=.",
    )
    rows = frame.to_dicts()
    level, tags, said = interval_level(frame), positive_tags_of(frame), attribution_of(frame)
    labels = [r["step_label"] for r in rows]
    width = tick_width(len(labels))
    n = len(chosen)
    titles = []
    for r in chosen:
        directional = " (directional)" if r == "open" else ""
        titles.append(f"<b>{RATE_TITLE[r]}{directional}</b> · {EVENT_OF[r]} / {bases[f'{r}_rate']}")
    fig = stacked_subplots(n, vertical_spacing=min(0.12, 0.35 / n), titles=titles)
    has_intervals = False
    for i, r in enumerate(chosen, start=1):
        event, base = EVENT_OF[r], bases[f"{r}_rate"]
        low_col, high_col = f"{r}_rate_low", f"{r}_rate_high"
        with_ci = low_col in frame.columns and high_col in frame.columns
        has_intervals = has_intervals or with_ci
        values = [row[f"{r}_rate"] for row in rows]
        lows = [row[low_col] if with_ci else None for row in rows]
        highs = [row[high_col] if with_ci else None for row in rows]
        error_y: dict[str, Any] = {"visible": False}
        if with_ci:
            error_y = {**whiskers(values, lows, highs, width=6), "visible": True}
        color = EVENT_COLORS[event]
        fig.add_trace(
            dict(
                type="bar",
                name=RATE_TITLE[r] + (" (directional)" if r == "open" else ""),
                uid=trace_uid("step_rates", r),
                x=labels,
                y=values,
                error_y=error_y,
                showlegend=False,
                marker={
                    "color": color,
                    "pattern": {
                        "shape": OPENS_PATTERN if r == "open" else "",
                        "fgcolor": "white",
                        "solidity": 0.25,
                    },
                },
                hovertext=[
                    rate_hover(
                        row["step_label"],
                        r,
                        row,
                        base,
                        v,
                        lo,
                        hi,
                        level=level,
                        tags=tags,
                        attribution=said,
                    )
                    for row, v, lo, hi in zip(rows, values, lows, highs, strict=True)
                ],
                hovertemplate=hover_template(),
            ),
            row=i,
        )
        fig.update_yaxes(tickformat=".1~%", rangemode="tozero", row=i)
    fig.update_xaxes(
        type="category",
        tickmode="array",
        tickvals=labels,
        ticktext=[step_tick(label, width) for label in labels],
    )
    fig.update_layout(bargap=0.45)
    # Subplot titles are annotations centred over each panel; left-aligned they read as
    # panel headings and do not collide with the legend-free top margin.
    fig.update_annotations(x=0.0, xanchor="left", font={"size": 12})
    whisker_text = (
        f"whiskers: {level_words(level)}Wilson interval"
        if has_intervals
        else "no intervals in this frame (no *_rate_low/_high columns)"
    )
    notes = [
        "Rates per lead at the step; each lead counts once per step. "
        + (f"Replies: {said}. " if {"reply", "positive"} & set(chosen) else "")
        + (f"Positive: {positive_note(tags)}." if "positive" in chosen else "")
    ]
    if "open" in chosen:
        notes.append(opens_footnote())
    return finish(
        fig,
        chart="step_rates",
        title="Rates by sequence step",
        subtitle=f"Each panel: rate {_bases_phrase(bases, chosen)} per step · {whisker_text}",
        notes=notes,
        plot=165 * n,
        bottom=62,
        panel_titles=True,
        empty="no emails were sent in this selection." if not rows else None,
    )


def variant_comparison(variant_frame: pl.DataFrame, metric: str | None = None) -> go.Figure:
    """A/B variants side by side within each step, with Wilson intervals and the test.

    Takes :func:`sendkit_nb.metrics.variant_funnel` output. One bar per (step, variant) on a
    two-level axis (step, then variant) so arms are only ever next to arms of the same step.
    The leader of each step is outlined; above each bar: the rate and the test against the
    leader (Holm-adjusted p-value, "n.s." when not significant). Arms that are too small to
    call are hatched and faded, labelled "too small", and counted in the subtitle.

    ``metric``: ``"open"``, ``"click"``, ``"reply"`` or ``"positive"``; by default the metric
    the frame was tested on (its ``test_metric``). Asking for another metric than the frame's
    test is refused, since the leader, p-values and too-small flags belong to the tested one:
    call ``variant_funnel(leads, metric=...)`` instead.

    Traces (always two): ``"Variants"`` (bars, uid ``"variant_comparison-bars"``) and
    ``"Labels"`` (text, uid ``"variant_comparison-labels"``).

    >>> import sendkit_nb as sk
    >>> from sendkit_nb.demo import make_workspace
    >>> from sendkit_nb.metrics import variant_funnel
    >>> ws = make_workspace(sizes=[300]); campaign = ws.campaigns[0]
    >>> leads = sk.leads_from_items(ws.leads[campaign["_id"]], campaign["_id"])
    >>> fig = variant_comparison(variant_funnel(leads, sequence=campaign))
    >>> list(fig.data[0].x[1])
    ['A', 'B', '(no variant)', '(no variant)']
    >>> any("too small" in note.text for note in fig.layout.annotations)
    True
    """
    frame = check_frame(variant_frame, [], "variant_comparison", _VARIANT_HINT)
    tested = None
    if "test_metric" in frame.columns and frame.height:
        found = frame["test_metric"].drop_nulls()
        tested = str(found[0]) if found.len() else None
    if metric is None:
        metric = tested or "reply"
    if metric not in ("open", "click", "reply", "positive"):
        raise BadRequestError(
            f"unknown metric {metric!r}", hint="Use 'open', 'click', 'reply' or 'positive'."
        )
    if tested is not None and metric != tested:
        raise BadRequestError(
            f"variant_comparison: the frame's A/B test is on {tested!r}, not {metric!r}",
            hint=f"Call variant_funnel(leads, metric={metric!r}) and chart that frame.",
        )
    bases = funnel_bases(frame)
    event, base = EVENT_OF[metric], bases[f"{metric}_rate"]
    rate_col = f"{metric}_rate"
    frame = _labelled(
        check_frame(
            frame,
            [
                "step_label",
                "variant",
                event,
                base,
                rate_col,
                f"{rate_col}_low",
                f"{rate_col}_high",
                "too_small",
                "is_leader",
            ],
            "variant_comparison",
            _VARIANT_HINT,
        )
    )
    step_key = "step" if "step" in frame.columns else "step_label"
    _one_row_per(
        frame,
        [step_key, "variant"],
        "variant_comparison",
        "Filter the frame to one segment, or call variant_funnel(leads) without segment=.",
    )
    if "arms" not in frame.columns:
        frame = frame.with_columns(arms=pl.len().over(step_key).cast(pl.Int64))
    rows = frame.with_columns(_arms_here=pl.len().over(step_key)).to_dicts()
    verdicts = ab_verdicts(frame)
    level, tags, said = interval_level(frame), positive_tags_of(frame), attribution_of(frame)
    # The outer tick spans its step's arms, so it may be as wide as those arms together.
    outer = [
        step_tick(r["step_label"], max(8, min(40, tick_width(len(rows)) * int(r["_arms_here"]))))
        for r in rows
    ]
    inner = [esc(r["variant"]) if r["variant"] is not None else NO_VARIANT_LABEL for r in rows]
    x = [outer, inner]
    small = [bool(r["too_small"]) for r in rows]
    leader = [bool(r["is_leader"]) and (r["arms"] or 0) > 1 for r in rows]
    color = EVENT_COLORS[event]
    values = [r[rate_col] for r in rows]
    lows = [r[f"{rate_col}_low"] for r in rows]
    highs = [r[f"{rate_col}_high"] for r in rows]

    bars = dict(
        type="bar",
        name="Variants",
        uid=trace_uid("variant_comparison", "bars"),
        x=x,
        y=values,
        showlegend=False,
        marker={
            "color": color,
            "opacity": [0.45 if s else 1.0 for s in small],
            "line": {
                "color": PALETTE["black"],
                "width": [2.5 if lead else 0 for lead in leader],
            },
            "pattern": {
                "shape": ["x" if s else "" for s in small],
                "fgcolor": "white",
                "solidity": 0.35,
            },
        },
        error_y=whiskers(values, lows, highs, width=6),
        hovertext=[
            _arm_hover(r, v, metric, event, base, rate_col, level, tags, said)
            for r, v in zip(rows, verdicts, strict=True)
        ],
        hovertemplate=hover_template(),
    )
    labels = dict(
        type="scatter",
        name="Labels",
        uid=trace_uid("variant_comparison", "labels"),
        x=x,
        y=[h if is_number(h) else v for v, h in zip(values, highs, strict=True)],
        mode="text",
        text=[_arm_label(r, v, rate_col) for r, v in zip(rows, verdicts, strict=True)],
        textposition="top center",
        # Coloured by what the verdict means for the reader, as in the report's table.
        textfont={"size": 11, "color": [TONE_COLORS[v.tone] for v in verdicts]},
        cliponaxis=False,
        hoverinfo="skip",
        showlegend=False,
    )
    fig = FigureSpec()
    fig.add_trace(bars)
    fig.add_trace(labels)
    fig.update_xaxes(type="multicategory", title=None)
    fig.update_yaxes(title={"text": RATE_TITLE[metric]}, tickformat=".1~%", rangemode="tozero")
    if rows:
        top = max((h for h in highs + values if is_number(h)), default=0.0)
        # Headroom for the two-line labels above the highest whisker.
        fig.update_yaxes(range=[0, (float(top) or 0.01) * 1.25])

    n_small = sum(small)
    compared = any((r["arms"] or 0) > 1 for r in rows)
    flags = []
    if n_small:
        flags.append(f"⚠ {n_small} of {len(rows)} arms too small to call (hatched, faded)")
    if rows and not compared:
        flags.append("one arm per step: nothing to compare")
    subtitle = (
        f"{RATE_TITLE[metric]} = {event} / {base} per arm · whiskers: "
        f"{level_words(level)}Wilson interval · "
        "leader outlined · green: leads significantly · red: significantly below the leader"
        + "".join(f" · {f}" for f in flags)
    )
    too_small = too_small_rule(
        frame_setting(frame, "min_sends"), frame_setting(frame, "min_events"), event
    )
    notes = [
        "Compare variants only within a step. Each arm is tested against its step's leader "
        "(two-proportion z-test, Fisher's exact test for small counts; p-values Holm-adjusted "
        f"within the step; n.s. = not significant{_at_alpha(frame)}). Too small to call: "
        f"{too_small}.",
        *metric_footnotes(metric, said),
    ]
    return finish(
        fig,
        chart="variant_comparison",
        title=f"{RATE_TITLE[metric]} by variant, within each step",
        subtitle=subtitle,
        notes=notes,
        plot=300,
        bottom=80,
        empty="no emails were sent in this selection." if not rows else None,
    )


def _at_alpha(frame: pl.DataFrame) -> str:
    alpha = num(frame_setting(frame, "alpha"))
    return f" at {fmt_level(alpha)}" if alpha is not None else ""


def _arm_label(row: dict[str, Any], verdict: Verdict, rate_col: str) -> str:
    """The rate above an arm's bar and, under it, the verdict's few words."""
    head = fmt_pct(row[rate_col])
    return f"{head}<br>{esc(verdict.label)}" if verdict.label else head


def _arm_hover(
    row: dict[str, Any],
    verdict: Verdict,
    metric: str,
    event: str,
    base: str,
    rate_col: str,
    level: float | None,
    tags: str | None,
    said: str,
) -> str:
    variant = row["variant"] if row["variant"] is not None else NO_VARIANT_LABEL
    text = f"<b>{esc(row['step_label'])}</b> · variant {esc(variant)}<br>"
    if row.get("variant_subject"):
        text += f"Subject: {esc(row['variant_subject'])}<br>"
    text += rate_sentence(
        metric,
        row[rate_col],
        row[event],
        base,
        row[base],
        low=row[f"{rate_col}_low"],
        high=row[f"{rate_col}_high"],
        level=row_level(row, level),
        note=False,
    )
    # The verdict as the report's table words it, wrapped to the hover's width.
    color = TONE_COLORS[verdict.tone]
    text += f'<br><span style="color:{color}"><b>{wrap(esc(verdict.text), 90)}</b></span>'
    # The definition last, in italics, as in every other rate hover.
    return text + f"<br><i>{rate_note(metric, tags, said)}</i>"
