"""Who replies: a rate per group of leads (job title, country, domain, tag...), ranked, with
intervals, the overall rate, and the groups too small to call faded."""

from __future__ import annotations

from typing import Any, Final

import plotly.graph_objects as go
import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb._present import TEST_NAMES, TONE_COLORS, fmt_p, fmt_pp, rate_label
from sendkit_nb.metrics._segments import BREAKDOWN_BASES

from ._common import (
    EVENT_OF,
    RATE_TITLE,
    check_frame,
    esc,
    finish,
    fmt_int,
    fmt_pct,
    frame_setting,
    interval_level,
    is_number,
    level_words,
    mark_x,
    num,
    opens_footnote,
    positive_note,
    positive_tags_of,
    ranked_bars,
    rate_sentence,
    row_level,
    unique_labels,
)
from ._theme import EVENT_COLORS

__all__ = ["ADJUST_WORDS", "MAX_LABEL", "breakdown"]

_HINT: Final = "Pass sendkit_nb.metrics.breakdown(leads, by)."
#: How each p-value adjustment of :func:`sendkit_nb.metrics.breakdown` is named.
ADJUST_WORDS: Final[dict[str, str]] = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
#: Group names longer than this are shortened on the axis (the hover has them whole).
MAX_LABEL: Final = 36
#: Faded bars: too few leads to call (also hatched and labelled, not colour alone).
_FADED: Final = 0.4
#: The overall-rate line: dark grey, so the black whiskers it crosses stay readable.
_OVERALL_COLOR: Final = "#555555"
#: What the headline's per-lead bounce rate means (the funnel's is per email).
_BOUNCE_NOTE: Final = "leads whose every email bounced, over leads contacted"


def breakdown(frame: pl.DataFrame, *, max_groups: int = 30) -> go.Figure:
    """A rate per group, highest first: :func:`sendkit_nb.metrics.breakdown` output.

    One horizontal bar per group with its Wilson interval as whiskers, a dashed vertical line
    at the rate of all leads, and beside each bar the rate, events / denominator and the
    verdict (significantly higher or lower than the rest, after the frame's adjustment).
    Groups with fewer leads in the denominator than the frame's ``min_leads`` are faded,
    hatched and labelled "too small". The subtitle says what the rate is over, the interval,
    the overall rate and the adjustment. With more than ``max_groups`` groups, the
    ``max_groups`` with the most leads in the denominator are drawn (the subtitle says so).

    Traces (always two): ``"Groups"`` (bars, uid ``"breakdown-bars"``) and ``"Labels"`` (uid
    ``"breakdown-labels"``). The overall line is a layout shape named ``"sendkit:overall"``.

    >>> import sendkit_nb as sk
    >>> from sendkit_nb.demo import make_workspace
    >>> from sendkit_nb.metrics import breakdown as rates_by
    >>> ws = make_workspace(sizes=[300]); campaign = ws.campaigns[0]
    >>> leads = sk.leads_from_items(ws.leads[campaign["_id"]], campaign["_id"])
    >>> fig = breakdown(rates_by(leads, "tags"))
    >>> [t.name for t in fig.data]
    ['Groups', 'Labels']
    """
    frame = check_frame(
        frame,
        ["events", "rate", "rate_low", "rate_high", "too_small", "metric", "denominator"],
        "charts.breakdown",
        _HINT,
    )
    if isinstance(max_groups, bool) or not isinstance(max_groups, int) or max_groups < 1:
        raise BadRequestError(
            f"max_groups must be a positive integer, got {max_groups!r}",
            hint="Use e.g. max_groups=30.",
        )
    metric = frame_setting(frame, "metric")
    base = frame_setting(frame, "denominator")
    if frame.height and (metric not in BREAKDOWN_BASES or base not in frame.columns):
        raise BadRequestError(
            "charts.breakdown: the frame's metric and denominator columns must each hold one "
            f"known value (got metric {metric!r}, denominator {base!r})",
            hint=_HINT + " Draw one metric at a time.",
        )
    metric = str(metric or "reply")
    event = EVENT_OF[metric]
    base = str(base or BREAKDOWN_BASES[metric][1])
    by = frame_setting(frame, "by")
    group = str(by) if by is not None and str(by) in frame.columns else frame.columns[0]
    total_groups = frame.height
    if frame.height > max_groups:
        # The biggest groups are the ones a decision can rest on; the top rates of a long tail
        # are mostly tiny groups.
        frame = frame.sort(base, descending=True, nulls_last=True).head(max_groups)
    rows = frame.sort(["rate", base], descending=True, nulls_last=True).to_dicts()

    level, tags = interval_level(frame), positive_tags_of(frame)
    keys = [r[group] for r in rows]
    names = ["(none)" if k is None else str(k) for k in keys]
    shown = unique_labels(
        [esc(n if len(n) <= MAX_LABEL else n[: MAX_LABEL - 1] + "…") for n in names], keys
    )
    rates = [num(r["rate"]) for r in rows]
    lows = [num(r["rate_low"]) for r in rows]
    highs = [num(r["rate_high"]) for r in rows]
    small = [bool(r["too_small"]) for r in rows]
    tones = [_tone(r) for r in rows]
    adjust = frame_setting(frame, "adjust")
    adjust_name = ADJUST_WORDS.get(str(adjust)) if adjust is not None else None

    fig, ends = ranked_bars(
        "breakdown",
        name="Groups",
        labels=shown,
        rates=rates,
        lows=lows,
        highs=highs,
        marker={
            "color": EVENT_COLORS[event],
            "opacity": [_FADED if s else 1.0 for s in small],
            "pattern": {
                "shape": ["x" if s else "" for s in small],
                "fgcolor": "white",
                "solidity": 0.35,
            },
        },
        hovertext=[
            _hover(r, name, metric, event, base, level, tags, adjust_name)
            for r, name in zip(rows, names, strict=True)
        ],
        text=[
            _label(r, v, event, base, tone) for r, v, tone in zip(rows, rates, tones, strict=True)
        ],
        text_colors=[TONE_COLORS[t] for t in tones],
    )
    overall = num(frame_setting(frame, "overall_rate"))
    if overall is not None and rows:
        mark_x(
            fig,
            name="overall",
            x=overall,
            label=f"all leads {fmt_pct(overall)}",
            color=_OVERALL_COLOR,
        )
    top = max([*ends, overall or 0.0], default=0.0)
    # Room right of the longest whisker for its label; no rate passes 100%, so past it the
    # axis has no ticks.
    end = max(top, 0.01) * 1.45
    fig.update_xaxes(
        title={"text": f"{RATE_TITLE[metric]} ({event} / {base} leads)"},
        tickformat=".1~%",
        range=[0, end],
    )
    if end > 1.0:
        fig.update_xaxes(tickvals=[i / 5 for i in range(6)])
    fig.update_yaxes(
        type="category", categoryorder="array", categoryarray=shown, autorange="reversed"
    )
    subtitle = _subtitle(
        frame, metric, base, group, level, overall, adjust_name, len(rows), total_groups
    )
    return finish(
        fig,
        chart="breakdown",
        title=f"{RATE_TITLE[metric]} by {group}",
        subtitle=subtitle,
        notes=_notes(frame, metric, tags),
        plot=max(140, 28 * len(rows)),
        bottom=56,
        empty="no leads in this selection." if not rows else None,
    )


def _tone(row: dict[str, Any]) -> str:
    """What a group's result means for the reader (the colours of the report's verdicts)."""
    if row.get("too_small"):
        return "small"
    if row.get("significant"):
        return "good" if (num(row.get("diff")) or 0.0) > 0 else "bad"
    return "neutral"


def _verdict(row: dict[str, Any], tone: str) -> str:
    if tone == "small":
        return "too small"
    if tone in ("good", "bad"):
        return "higher than the rest" if tone == "good" else "lower than the rest"
    return "n.s." if row.get("p_value_adj") is not None else ""


def _label(row: dict[str, Any], rate: float | None, event: str, base: str, tone: str) -> str:
    if not is_number(rate):
        return f"  no leads {base}"
    verdict = _verdict(row, tone)
    return f"  {fmt_pct(rate)}  ({fmt_int(row['events'])} / {fmt_int(row[base])})" + (
        f" · {verdict}" if verdict else ""
    )


def _hover(
    row: dict[str, Any],
    name: str,
    metric: str,
    event: str,
    base: str,
    level: float | None,
    tags: str | None,
    adjust_name: str | None,
) -> str:
    groups = num(row.get("groups"))
    folded = f" ({fmt_int(groups)} groups folded)" if groups is not None and groups > 1 else ""
    text = f"<b>{esc(name)}</b>{folded}<br>" + rate_sentence(
        metric,
        row["rate"],
        row["events"],
        base,
        row[base],
        low=row["rate_low"],
        high=row["rate_high"],
        level=row_level(row, level),
        note=False,
        tags=tags,
    )
    if "rest_rate" in row:
        text += (
            f"<br>Rest of the leads {fmt_pct(row['rest_rate'])}, difference "
            f"{fmt_pp(row.get('diff'))}"
        )
    if row.get("p_value") is not None:
        test = TEST_NAMES.get(str(row.get("test")), "test")
        text += f"<br>{test}: p {_p(row['p_value'])}"
        if row.get("p_value_adj") is not None:
            how = f"{adjust_name}-adjusted" if adjust_name else "adjusted"
            text += f", {how} p {_p(row['p_value_adj'])}"
    if row.get("too_small"):
        need = row.get("min_leads")
        rule = f"fewer than {fmt_int(need)}" if is_number(need) else "too few"
        text += f"<br><b>Too small to call</b>: {rule} leads {esc(base)}"
    note = _BOUNCE_NOTE if metric == "bounce" else None
    if metric == "positive":
        note = positive_note(tags)
    if metric == "open":
        note = "directional: image blocking undercounts opens, privacy proxies overcount them"
    return text + (f"<br><i>{note}</i>" if note else "")


def _p(value: object) -> str:
    shown = fmt_p(value)
    return shown if shown.startswith("<") else f"= {shown}"


def _subtitle(
    frame: pl.DataFrame,
    metric: str,
    base: str,
    group: str,
    level: float | None,
    overall: float | None,
    adjust_name: str | None,
    drawn: int,
    total: int,
) -> str:
    parts = [f"{rate_label(metric, base)} per {group}, all leads {fmt_pct(overall)}"]
    parts.append(f"whiskers: {level_words(level)}Wilson interval")
    tested = int(frame["p_value_adj"].is_not_null().sum()) if "p_value_adj" in frame.columns else 0
    if adjust_name:
        parts.append(
            f"each group vs the rest, p {adjust_name}-adjusted over {fmt_int(tested)} tested groups"
        )
    min_leads = frame_setting(frame, "min_leads")
    if is_number(min_leads):
        parts.append(f"faded: fewer than {fmt_int(min_leads)} {base}")
    if drawn < total:
        parts.append(f"the {fmt_int(drawn)} largest of {fmt_int(total)} groups")
    return " · ".join(parts)


def _notes(frame: pl.DataFrame, metric: str, tags: str | None) -> list[str]:
    notes = [
        "Counted per lead as in the campaign headline: contacted = leads with at least one "
        "email, delivered = with at least one email that did not bounce. Each group is tested "
        "against every other lead (two-proportion z-test; Fisher's exact test for small counts)."
    ]
    if frame_setting(frame, "multi_valued"):
        notes.append(
            "A lead with several values counts once in each, so the groups overlap; "
            "(none) = no value."
        )
    if metric == "positive":
        notes.append(f"Positive: {positive_note(tags)}.")
    if metric == "bounce":
        notes.append(f"Bounce rate: {_BOUNCE_NOTE}.")
    if metric == "open":
        notes.append(opens_footnote())
    return notes
