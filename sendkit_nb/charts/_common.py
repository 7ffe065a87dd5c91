"""Shared pieces of the charts: input checks, number formats, wording, and the common frame
(title, subtitle, footnotes, "no data" note) every figure gets.

The wording of rates lives here once so that a hover, a subtitle and a footnote say the same
thing about the same number.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import html
import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from sendkit_nb._checks import check_frame as check_frame

# Numbers print one way in every front end: the charts use the shared formatters (re-exported
# here for the chart modules) rather than copies of their own.
from sendkit_nb._present import EVENT_OF as EVENT_OF
from sendkit_nb._present import RATE_TITLE as RATE_TITLE
from sendkit_nb._present import fmt_int, fmt_level, fmt_pct, unique_labels
from sendkit_nb._present import is_number as is_number
from sendkit_nb.metrics import OPENS_CAVEAT, rate_denominators

from ._spec import FigureSpec

__all__ = [
    "ATTRIBUTION",
    "EVENT_OF",
    "INBOX_ATTRIBUTION",
    "NO_DATA",
    "OPENS_SHORT",
    "RATE_TITLE",
    "SUBTITLE",
    "attribution_of",
    "attribution_short",
    "check_frame",
    "diff",
    "esc",
    "finish",
    "fmt_int",
    "fmt_level",
    "fmt_pct",
    "frame_setting",
    "funnel_bases",
    "hover_template",
    "interval_level",
    "level_words",
    "mark_x",
    "metric_footnotes",
    "names_for",
    "num",
    "positive_note",
    "positive_tags_of",
    "ranked_bars",
    "rate_hover",
    "rate_note",
    "rate_sentence",
    "ratio_of",
    "row_level",
    "stacked_subplots",
    "step_tick",
    "trace_uid",
    "unique_labels",
    "whiskers",
    "wrap",
]

#: ``name`` of the annotation a figure gets when it has nothing to draw (tests and the
#: dashboard look for it).
NO_DATA: Final = "sendkit:no-data"
#: ``name`` of the footnote annotation (denominators, attribution, the opens caveat).
FOOTNOTE: Final = "sendkit:footnote"
#: ``name`` of the subtitle annotation under the title.
SUBTITLE: Final = "sendkit:subtitle"

ATTRIBUTION: Final = (
    "last-touch attribution (a reply counts for the latest email delivered before it)"
)
INBOX_ATTRIBUTION: Final = (
    "inbox attribution (a reply counts for the email its thread shows before it; "
    "auto-replies and out-of-office answers are not replies)"
)
OPENS_SHORT: Final = (
    "directional: image blocking undercounts opens, privacy proxies and scanners overcount them"
)

#: What a rate's hover adds after "Reply rate 3.7% = 120 replied / 3,239 delivered".
_RATE_NOTE: Final[dict[str, str]] = {
    "open": OPENS_SHORT,
    "click": "tracked link clicks",
    "reply": "{attribution}",
    "positive": "{positive}; {attribution}",
    "bounce": "emails that bounced, over emails sent",
}


def funnel_bases(frame: pl.DataFrame) -> dict[str, str]:
    """The count each ``*_rate`` of a funnel frame is over, from its ``denominator`` column
    (``delivered`` when the frame has none)."""
    denominator = "delivered"
    if "denominator" in frame.columns and frame.height:
        first = frame["denominator"].drop_nulls()
        if first.len():
            denominator = str(first[0])
    return rate_denominators(denominator)


def num(value: object) -> float | None:
    """``value`` as a float when :func:`is_number`, else None."""
    return float(value) if is_number(value) else None  # type: ignore[arg-type]


def diff(a: object, b: object) -> float | None:
    """``a - b``, None unless both are numbers (error bar lengths from bounds)."""
    x, y = num(a), num(b)
    return None if x is None or y is None else x - y


def ratio_of(events: object, base: object) -> float | None:
    """``events / base``, None unless both are numbers and ``base`` is not 0."""
    x, n = num(events), num(base)
    return x / n if x is not None and n else None


def whiskers(
    values: Sequence[object],
    lows: Sequence[object],
    highs: Sequence[object],
    *,
    width: int,
    thickness: float = 1.5,
) -> dict[str, Any]:
    """Asymmetric error bars (``error_x``/``error_y``) from interval bounds; a missing bound
    draws no whisker."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [diff(h, v) for v, h in zip(values, highs, strict=True)],
        "arrayminus": [diff(v, lo) for v, lo in zip(values, lows, strict=True)],
        "color": "#333333",
        "thickness": thickness,
        "width": width,
    }


def esc(text: object) -> str:
    """Data text made safe for plotly's HTML-like labels (a subject line may hold ``<`` or
    ``&``)."""
    return html.escape("" if text is None else str(text), quote=False)


def wrap(text: str, width: int = 100) -> str:
    """Plain ``text`` wrapped into ``<br>``-separated lines of at most ``width`` characters,
    breaking between its `` · ``-separated phrases where it can (a phrase is read whole), and
    inside a phrase only when the phrase alone is longer than a line.

    >>> wrap("whiskers: 95% Wilson interval · leader outlined · one arm per step", 40)
    'whiskers: 95% Wilson interval ·<br>leader outlined · one arm per step'
    """
    lines: list[str] = []
    for phrase in text.split(" · "):
        if lines and len(lines[-1]) + 3 + len(phrase) <= width:
            lines[-1] += " · " + phrase
        elif len(phrase) <= width:
            if lines:
                lines[-1] += " ·"
            lines.append(phrase)
        else:
            if lines:
                lines[-1] += " ·"
            lines.extend(textwrap.wrap(phrase, width))
    return "<br>".join(line for line in lines if line)


def step_tick(label: str, width: int) -> str:
    """A step label as a two-line tick: ``"Step 1"`` over its (shortened) subject, so ten
    steps fit side by side without overlapping."""
    head, sep, rest = label.partition(" · ")
    if not sep:
        return esc(label if len(label) <= width else label[: width - 1] + "…")
    if len(rest) > width:
        rest = rest[: max(1, width - 1)].rstrip() + "…"
    return f"{esc(head)}<br>{esc(rest)}"


def tick_width(count: int) -> int:
    """Characters per tick line for ``count`` categories across a ~900 px plot."""
    return max(8, min(34, 110 // max(1, count)))


def rate_sentence(
    rate: str,
    value: object,
    events: object,
    base_name: str,
    base: object,
    *,
    low: object = None,
    high: object = None,
    level: float | None = 0.95,
    note: bool = True,
    tags: str | None = None,
    attribution: str = ATTRIBUTION,
) -> str:
    """``"Reply rate 3.7% = 120 replied / 3,239 delivered"`` (plus the Wilson interval and the
    rate's definition note), the one way every chart states a rate. ``attribution``: how the
    frame placed its replies (:func:`attribution_of`)."""
    text = (
        f"{RATE_TITLE[rate]} {fmt_pct(value)} = {fmt_int(events)} {EVENT_OF[rate]} / "
        f"{fmt_int(base)} {base_name}"
    )
    if not is_number(value):
        text = (
            f"{RATE_TITLE[rate]} n/a: {fmt_int(base)} {base_name} "
            f"({fmt_int(events)} {EVENT_OF[rate]})"
        )
    if is_number(low) and is_number(high):
        text += f"<br>{level_words(level)}interval {fmt_pct(low)} – {fmt_pct(high)} (Wilson)"
    if note:
        text += f"<br><i>{rate_note(rate, tags, attribution)}</i>"
    return text


def frame_setting(frame: pl.DataFrame, column: str) -> Any:
    """The value of a metrics frame's setting column (``confidence``, ``positive_tags``,
    ``min_sends``...: the same on every row), or None when the frame has no such column, no
    rows, or several values (frames computed with different settings, concatenated): then a
    chart says nothing it cannot stand behind."""
    if column not in frame.columns or not frame.height:
        return None
    found = frame[column].drop_nulls().unique()
    return found[0] if found.len() == 1 else None


def interval_level(frame: pl.DataFrame) -> float | None:
    """The confidence level of a metrics frame's intervals (see :func:`frame_setting`)."""
    level = frame_setting(frame, "confidence")
    return float(level) if level is not None else None


def row_level(row: dict[str, Any], level: float | None) -> float | None:
    """A row's own confidence level where it has one (a concatenation may mix levels)."""
    own = num(row.get("confidence"))
    return own if own is not None else level


def rate_hover(
    heading: str,
    metric: str,
    row: dict[str, Any],
    base: str,
    rate: object,
    low: object,
    high: object,
    *,
    level: float | None,
    tags: str | None,
    attribution: str,
    detail: str | None = None,
) -> str:
    """The hover of one metrics row's ``metric`` rate: ``heading`` in bold (``detail`` on the
    line under it), then :func:`rate_sentence` over the row's own counts (its ``metric``
    events and its ``base`` column) at the row's own confidence level (:func:`row_level`).
    ``rate``/``low``/``high`` are passed in, as the chart read them (with or without an
    interval)."""
    text = f"<b>{esc(heading)}</b><br>"
    if detail is not None:
        text += f"{esc(detail)}<br>"
    return text + rate_sentence(
        metric,
        rate,
        row[EVENT_OF[metric]],
        base,
        row[base],
        low=low,
        high=high,
        level=row_level(row, level),
        tags=tags,
        attribution=attribution,
    )


def level_words(level: float | None) -> str:
    """``"95% "`` before "Wilson interval", or nothing when the level is not known."""
    return f"{fmt_level(level)} " if level is not None else ""


def rate_note(rate: str, tags: str | None = None, attribution: str = ATTRIBUTION) -> str:
    """The short definition a rate's hover ends with (``tags``: the positive tags the frame
    counted, see :func:`positive_tags_of`; ``attribution``: see :func:`attribution_of`)."""
    note = _RATE_NOTE[rate].replace("{attribution}", attribution)
    return note.replace("{positive}", positive_note(tags))


def attribution_of(frame: pl.DataFrame) -> str:
    """How a metrics frame placed its replies, in the words charts use: inbox attribution
    for a frame computed with ``attribution="inbox"`` (the metrics add its ``auto_replied``
    column, and only then), else last touch."""
    return INBOX_ATTRIBUTION if "auto_replied" in frame.columns else ATTRIBUTION


def attribution_short(frame: pl.DataFrame) -> str:
    """``"by last touch"`` or ``"by the inbox threads"``: a subtitle's few words for
    :func:`attribution_of`."""
    return "by the inbox threads" if "auto_replied" in frame.columns else "by last touch"


def positive_tags_of(frame: pl.DataFrame) -> str | None:
    """The positive AI tags a metrics frame counted (its ``positive_tags`` column, e.g.
    ``"interested, meeting_booked"``; see :func:`frame_setting`)."""
    tags = frame_setting(frame, "positive_tags")
    return str(tags) if tags is not None else None


def positive_note(tags: str | None = None) -> str:
    """What "positive" means: the tags the frame counted when it says which."""
    if tags is None:
        return "replied with a positive AI tag"
    if not tags:
        return "replied with a positive AI tag (none was counted as positive)"
    return f"replied with a positive AI tag ({esc(tags)})"


def trace_uid(chart: str, *parts: object) -> str:
    """A stable trace uid such as ``"step_funnel-opened"``.

    plotly.js builds CSS selectors from uids, so anything but letters, digits, ``_`` and ``-``
    (a ``:`` or a space in a variant name) would break the rendering; such parts are replaced
    by a digest of themselves, which keeps the uid stable and distinct.
    """
    out = [chart]
    for part in parts:
        text = "none" if part is None else str(part)
        if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
            text = "x" + hashlib.sha1(text.encode()).hexdigest()[:12]
        out.append(text)
    return "-".join(out)


def mark_x(fig: FigureSpec, *, name: str, x: float, label: str, color: str) -> None:
    """A dashed vertical line at ``x`` across the whole plot, labelled above it (an overall
    rate, a threshold). The line is a layout shape named ``sendkit:<name>`` (a shape spans
    the plot's height whatever its categories; FigureSpec has no add_shape), the label an
    annotation named ``sendkit:<name>-label``."""
    fig.layout.setdefault("shapes", []).append(
        {
            "name": f"sendkit:{name}",
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": x,
            "x1": x,
            "y0": 0,
            "y1": 1,
            "line": {"color": color, "width": 1.2, "dash": "dash"},
        }
    )
    fig.add_annotation(
        name=f"sendkit:{name}-label",
        text=label,
        xref="x",
        yref="paper",
        x=x,
        y=1.0,
        yanchor="bottom",
        showarrow=False,
        font={"size": 11, "color": color},
    )


def ranked_bars(
    chart: str,
    *,
    name: str,
    labels: Sequence[str],
    rates: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    marker: dict[str, Any],
    hovertext: Sequence[str],
    text: Sequence[str],
    text_colors: Sequence[str] | None = None,
) -> tuple[FigureSpec, list[float]]:
    """A new figure of one rate per category as horizontal bars, in the order given (the
    caller ranks them), with their interval whiskers (``lows``/``highs``, None for none), and
    beside each bar its ``text`` (rate and counts) as a text trace: the chart shape of the
    group breakdown and the campaign comparison.

    Traces: ``name`` (the bars, uid ``<chart>-bars``) and ``"Labels"`` (uid
    ``<chart>-labels``, coloured by ``text_colors`` when given). Returns the figure and where
    each label starts, right of its whisker (or of its bar, without an interval): the x axis
    must reach past them.
    """
    bars = dict(
        type="bar",
        name=name,
        uid=trace_uid(chart, "bars"),
        orientation="h",
        y=labels,
        x=rates,
        showlegend=False,
        marker=marker,
        error_x=whiskers(rates, lows, highs, width=5),
        hovertext=hovertext,
        hovertemplate=hover_template(),
    )
    ends = [h if h is not None else (v or 0.0) for v, h in zip(rates, highs, strict=True)]
    font: dict[str, Any] = {"size": 11}
    if text_colors is not None:
        font["color"] = text_colors
    beside = dict(
        type="scatter",
        name="Labels",
        uid=trace_uid(chart, "labels"),
        y=labels,
        x=ends,
        mode="text",
        text=text,
        textposition="middle right",
        textfont=font,
        cliponaxis=False,
        hoverinfo="skip",
        showlegend=False,
    )
    fig = FigureSpec()
    fig.add_trace(bars)
    fig.add_trace(beside)
    return fig, ends


def hover_template() -> str:
    """Hover shows the precomputed ``hovertext`` only (no trace-name box)."""
    return "%{hovertext}<extra></extra>"


def _legend_rows(names: Sequence[str], width: int = 860) -> int:
    """How many rows a horizontal legend of ``names`` takes across ~``width`` px."""
    rows, used = (1 if names else 0), 0
    for name in names:
        item = 45 + 7 * len(name)
        if used and used + item > width:
            rows, used = rows + 1, 0
        used += item
    return rows


@functools.lru_cache(maxsize=64)
def _subplot_grid(
    rows: int,
    vertical_spacing: float,
    row_heights: tuple[float, ...] | None,
    titles: tuple[str, ...],
) -> dict[str, Any]:
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=vertical_spacing,
        row_heights=list(row_heights) if row_heights else None,
        subplot_titles=list(titles),
    )
    layout: dict[str, Any] = fig.layout.to_plotly_json()
    # The chart adds its own theme when it is finished.
    layout.pop("template", None)
    return layout


def stacked_subplots(
    rows: int,
    *,
    vertical_spacing: float,
    titles: Sequence[str],
    row_heights: Sequence[float] | None = None,
) -> FigureSpec:
    """A :class:`FigureSpec` laid out as ``make_subplots(rows, 1, shared_xaxes=True, ...)``:
    one panel per row (``add_trace(..., row=i)``), titles over the panels.

    The grid's layout is computed by plotly once per rows, spacing and titles and copied.
    """
    layout = _subplot_grid(
        rows, vertical_spacing, tuple(row_heights) if row_heights else None, tuple(titles)
    )
    return FigureSpec(copy.deepcopy(layout))


#: Where the subtitle starts, in pixels from the top (under the title).
_SUBTITLE_TOP: Final = 36


def finish(
    fig: FigureSpec,
    *,
    chart: str,
    title: str,
    subtitle: str,
    notes: Sequence[str] = (),
    plot: int = 300,
    bottom: int = 60,
    legend: Sequence[str] = (),
    panel_titles: bool = False,
    empty: str | None = None,
) -> go.Figure:
    """The finished ``go.Figure`` of ``fig``: theme, title and subtitle, the legend under them,
    footnotes below the x axis, and a ``uirevision`` so that a FigureWidget keeps the analyst's
    legend toggles and zoom across data refreshes. With ``empty`` (the reason there is nothing
    to draw), a centred "No data" note instead of blank axes.

    Sizes are in pixels, so the pieces never overlap whatever the figure's height: ``plot`` is
    the plotting area, ``bottom`` the room the x tick labels and axis title need below it (the
    footnotes start there), ``legend`` the names shown in the legend (to reserve its rows),
    ``panel_titles`` whether subplot titles sit above the first panel.
    """
    # Wrapped to fit a plotting area of about 600 px (an 860 px JupyterLab output area less a
    # margin widened by long category names), since they start at its left edge.
    note_text = "<br>".join(wrap(n, 110) for n in notes if n)
    note_lines = note_text.count("<br>") + 1 if note_text else 0
    sub_text = wrap(subtitle, 95) if "<" not in subtitle else subtitle
    sub_lines = sub_text.count("<br>") + 1 if sub_text else 0
    legend_top = 50 + 17 * sub_lines
    rows = _legend_rows(legend)
    top = legend_top + 22 * rows + (24 if panel_titles else 0) + 12
    foot = bottom + (16 * note_lines + 12 if note_lines else 0)
    height = top + plot + foot
    fig.update_layout(
        # Title, subtitle, legend and footnotes all start at the plotting area's left edge
        # ("paper"), which moves right when long tick labels widen the margin (automargin).
        title={
            "text": f"<b>{esc(title)}</b>",
            "xref": "paper",
            "yref": "container",
            "y": 1 - 12 / height,
            "yanchor": "top",
        },
        legend={"yref": "container", "y": 1 - legend_top / height, "yanchor": "top"},
        showlegend=bool(legend),
        height=height,
        margin={"t": top, "l": 70, "r": 30, "b": foot},
        uirevision=chart,
        meta={"sendkit_chart": chart},
    )
    if sub_text:
        # An annotation at a fixed pixel offset, not plotly's title.subtitle: plotly.js places
        # a subtitle under the title's measured height, which is zero when the figure is drawn
        # while hidden (a FigureWidget in an output area not yet on screen), and the two then
        # overlap.
        fig.add_annotation(
            name=SUBTITLE,
            text=sub_text,
            font={"size": 12, "color": "#444444"},
            xref="paper",
            yref="paper",
            x=0.0,
            y=1.0,
            xanchor="left",
            yanchor="top",
            xshift=-2,  # in line with the title: an annotation pads its text by 2 px
            yshift=top - _SUBTITLE_TOP,
            align="left",
            showarrow=False,
        )
    if note_text:
        fig.add_annotation(
            name=FOOTNOTE,
            text=f"<span style='font-size:11px;color:#555'>{note_text}</span>",
            xref="paper",
            yref="paper",
            x=0.0,
            y=0.0,
            xanchor="left",
            yanchor="top",
            yshift=-bottom,
            align="left",
            showarrow=False,
        )
    if empty is not None:
        _no_data(fig, empty)
    return fig.figure()


def _no_data(fig: FigureSpec, message: str) -> None:
    fig.add_annotation(
        name=NO_DATA,
        text=f"<b>No data</b><br>{esc(message)}",
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 14, "color": "#555555"},
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, ticks="")
    fig.update_yaxes(showticklabels=False, showgrid=False, ticks="")


def opens_footnote() -> str:
    """The full opens caveat, for charts that show open numbers."""
    return str(OPENS_CAVEAT)


def metric_footnotes(metric: str, attribution: str) -> list[str]:
    """The footnote a chart of one ``metric`` rate owes its reader: how the replies were
    placed (``attribution``, see :func:`attribution_of`) under a reply or positive rate, the
    opens caveat under the open rate."""
    if metric in ("reply", "positive"):
        return [f"Replies: {attribution}."]
    if metric == "open":
        return [opens_footnote()]
    return []


def names_for(keys: Sequence[Any], names: Mapping[str, str] | None) -> list[str]:
    """Display names for group keys (campaign ids -> campaign names via ``names``), unique."""
    shown = [
        "(none)" if k is None else str(names.get(str(k), k)) if names else str(k) for k in keys
    ]
    return unique_labels(shown, keys)
