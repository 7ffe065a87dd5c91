"""Charts over time: the Kaplan–Meier reply curve and the daily activity."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl

from sendkit_nb.metrics import NO_VARIANT

from ._common import (
    check_frame,
    esc,
    finish,
    fmt_int,
    fmt_pct,
    hover_template,
    interval_level,
    is_number,
    level_words,
    opens_footnote,
    positive_note,
    positive_tags_of,
    row_level,
    stacked_subplots,
    trace_uid,
    unique_labels,
)
from ._spec import FigureSpec
from ._theme import COLORWAY, EVENT_COLORS, rgba

__all__ = ["daily_activity", "reply_curve"]

_CURVE_HINT: Final = "Pass sendkit_nb.metrics.reply_curve(leads) (one row per group and day)."
_DAILY_HINT: Final = "Pass sendkit_nb.metrics.daily_activity(leads) (one row per day)."
_CURVE_COLUMNS: Final = ("group", "day", "cumulative_share", "ci_low", "ci_high")
_DAILY_COUNTS: Final = ("sent", "opened", "clicked", "bounced", "replied", "positive")


def _group_name(group: str | None, names: Mapping[str, str] | None) -> str:
    if group is None:
        return "(none)"
    if names and group in names:
        return str(names[group])
    if group == "all":
        return "All contacted leads"
    if group == NO_VARIANT:
        return "No variant"
    return group


def reply_curve(curve_frame: pl.DataFrame, *, names: Mapping[str, str] | None = None) -> go.Figure:
    """The cumulative reply curve: the Kaplan–Meier share of contacted leads who replied
    within N days of their first email, one step line per group with its confidence band.

    Takes :func:`sendkit_nb.metrics.reply_curve` output (``by=None``, ``"variant"`` or
    ``"campaign"``). ``names`` maps group keys to display names (e.g. campaign id -> campaign
    name). The hover gives the estimate, its band, the replies so far over the leads on the
    curve, and the leads still at risk that day.

    Traces: two per group, in the frame's group order: the band (``"<group> band"``, uid
    ``"reply_curve-band-<group>"``, no legend entry) and the line (``"<group>"``, uid
    ``"reply_curve-line-<group>"``).

    >>> import sendkit_nb as sk
    >>> from sendkit_nb.demo import make_workspace
    >>> from sendkit_nb import metrics
    >>> ws = make_workspace(sizes=[300]); campaign = ws.campaigns[0]
    >>> leads = sk.leads_from_items(ws.leads[campaign["_id"]], campaign["_id"])
    >>> fig = reply_curve(metrics.reply_curve(leads, by="variant"))
    >>> [trace.name for trace in fig.data if trace.showlegend is not False]
    ['A', 'B']
    """
    frame = check_frame(curve_frame, _CURVE_COLUMNS, "reply_curve", _CURVE_HINT)
    level = interval_level(frame)
    extra = [c for c in ("at_risk", "replied_events", "censored") if c in frame.columns]
    frame = frame.select(*_CURVE_COLUMNS, *extra).sort("group", "day", maintain_order=True)
    if "replied_events" in frame.columns:
        frame = frame.with_columns(
            _replies=pl.col("replied_events").cum_sum().over("group"),
        )
    if "at_risk" in frame.columns:
        # Day 0's at-risk count is every lead on the curve: the denominator of "replies so far".
        frame = frame.with_columns(_on_curve=pl.col("at_risk").first().over("group"))
    groups = frame["group"].unique(maintain_order=True).to_list()
    shown = unique_labels([_group_name(g, names) for g in groups], groups)
    fig = FigureSpec()
    top = 0.0
    for i, (group, name) in enumerate(zip(groups, shown, strict=True)):
        part = frame.filter(pl.col("group") == group)
        color = COLORWAY[i % len(COLORWAY)]
        days = part["day"].to_list()
        share = part["cumulative_share"].to_list()
        low, high = part["ci_low"].to_list(), part["ci_high"].to_list()
        top = max([top, *(v for v in high + share if is_number(v))])
        bx, by = _band_polygon(days, low, high)
        fig.add_trace(
            dict(
                type="scatter",
                name=f"{name} band",
                uid=trace_uid("reply_curve", "band", group),
                legendgroup=str(group),
                x=bx,
                y=by,
                mode="lines",
                line={"width": 0, "color": color},
                fill="toself",
                fillcolor=rgba(color, 0.2 if len(groups) <= 2 else 0.1),
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(
            dict(
                type="scatter",
                name=name,
                uid=trace_uid("reply_curve", "line", group),
                legendgroup=str(group),
                x=days,
                y=share,
                mode="lines",
                line={"color": color, "width": 2.5, "shape": "hv"},
                hovertext=[_curve_hover(name, row, level) for row in part.to_dicts()],
                hovertemplate=hover_template(),
            )
        )
    fig.update_xaxes(title={"text": "Days since the lead's first email"}, rangemode="tozero")
    fig.update_yaxes(
        title={"text": "Share of contacted leads replied"},
        tickformat=".1~%",
        range=[0, max(top, 0.01) * 1.12],
    )
    fig.update_layout(hovermode="closest")
    return finish(
        fig,
        chart="reply_curve",
        title="Cumulative reply curve",
        subtitle=(
            "Kaplan–Meier share of contacted leads who replied within N days of their first "
            f"email · band: {level_words(level)}confidence (Greenwood, log-log)"
        ),
        notes=[
            "Leads still waiting are censored (counted only for the days they were observed), "
            "not counted as non-repliers; a curve flattens where few leads are left at risk. "
            "Replies before the first email and replies without a time are left off the curve "
            "(see reply_timing_summary). Every reply counts, whatever step it answers."
        ],
        plot=300,
        bottom=58,
        legend=shown,
        empty="no contacted leads to follow." if not groups else None,
    )


def _band_polygon(days: list[Any], low: list[Any], high: list[Any]) -> tuple[list[Any], list[Any]]:
    """The band as one closed step-shaped polygon: along the upper bound forward, back along
    the lower. Points are doubled at each day so the band steps with the ``hv`` line (a
    ``fill="tonexty"`` pair would need two traces per group and interpolate diagonally)."""
    xs: list[Any] = []
    ys: list[Any] = []
    pts = [(d, lo, hi) for d, lo, hi in zip(days, low, high, strict=True) if is_number(lo)]
    pts = [(d, lo, hi) for d, lo, hi in pts if is_number(hi)]
    if not pts:
        return xs, ys
    for k, (d, _, hi) in enumerate(pts):
        if k:
            xs.append(d)
            ys.append(pts[k - 1][2])
        xs.append(d)
        ys.append(hi)
    last = pts[-1][0]
    for k in range(len(pts) - 1, -1, -1):
        d, lo, _ = pts[k]
        nxt = pts[k + 1][0] if k + 1 < len(pts) else last
        xs.append(nxt)
        ys.append(lo)
        xs.append(d)
        ys.append(lo)
    xs.append(pts[0][0])
    ys.append(pts[0][2])
    return xs, ys


def _curve_hover(name: str, row: dict[str, Any], level: float | None) -> str:
    day = row["day"]
    text = (
        f"<b>{esc(name)}</b> · day {day}<br>"
        f"Replied within {day} day{'s' if day != 1 else ''}: {fmt_pct(row['cumulative_share'])}"
    )
    if is_number(row["ci_low"]) and is_number(row["ci_high"]):
        text += (
            f" ({level_words(row_level(row, level))}CI "
            f"{fmt_pct(row['ci_low'])} – {fmt_pct(row['ci_high'])})"
        )
    if "_replies" in row and "_on_curve" in row:
        text += (
            f"<br>{fmt_int(row['_replies'])} replies so far / {fmt_int(row['_on_curve'])} "
            "leads on the curve"
        )
    if "at_risk" in row:
        text += f"<br>{fmt_int(row['at_risk'])} leads still at risk on day {day}"
        if "replied_events" in row:
            text += f", {fmt_int(row['replied_events'])} replied that day"
    return text + "<br><i>Kaplan–Meier: waiting leads count only while observed</i>"


def daily_activity(daily_frame: pl.DataFrame) -> go.Figure:
    """Daily activity: emails sent, opened, clicked and bounced by send date (top), leads
    replied and positive by reply date (bottom).

    Takes :func:`sendkit_nb.metrics.daily_activity` output; a ``by_campaign=True`` frame is
    summed over campaigns per day. Opens and clicks are credited to the day their email was
    sent (the API stores whether an email was opened, not when); opens are marked directional.

    Traces (always six): ``"Sent"``, ``"Opened (directional)"``, ``"Clicked"``, ``"Bounced"``,
    ``"Replied"``, ``"Positive"`` (uids ``"daily_activity-<count>"``).

    >>> import sendkit_nb as sk
    >>> from sendkit_nb.demo import make_workspace
    >>> from sendkit_nb import metrics
    >>> ws = make_workspace(sizes=[300]); campaign = ws.campaigns[0]
    >>> leads = sk.leads_from_items(ws.leads[campaign["_id"]], campaign["_id"])
    >>> daily = metrics.daily_activity(leads)
    >>> fig = daily_activity(daily)
    >>> sum(fig.data[0].y) == daily["sent"].sum()
    True
    """
    frame = check_frame(daily_frame, ["date", *_DAILY_COUNTS], "daily_activity", _DAILY_HINT)
    tags = positive_tags_of(frame)
    pooled = 0
    if "campaign_id" in frame.columns:
        pooled = frame["campaign_id"].n_unique()
        frame = frame.group_by("date").agg(pl.col(c).sum() for c in _DAILY_COUNTS)
    frame = frame.sort("date")
    rows = frame.select("date", *_DAILY_COUNTS).to_dicts()
    dates = [r["date"] for r in rows]
    fig = stacked_subplots(
        2,
        vertical_spacing=0.12,
        row_heights=[0.6, 0.4],
        titles=[
            "<b>Emails by send date</b> · opens and clicks credited to the send date",
            "<b>Leads by reply date</b>",
        ],
    )

    def day(d: date) -> str:
        return f"{d:%a %d %b %Y}" if isinstance(d, date) else esc(d)

    def of_sent(r: dict[str, Any], col: str, what: str) -> str:
        share = r[col] / r["sent"] if r["sent"] else None
        return (
            f"<b>{day(r['date'])}</b><br>{what}: {fmt_int(r[col])} / {fmt_int(r['sent'])} "
            f"emails sent that day ({fmt_pct(share)})"
        )

    fig.add_trace(
        dict(
            type="bar",
            name="Sent",
            uid=trace_uid("daily_activity", "sent"),
            x=dates,
            y=[r["sent"] for r in rows],
            marker={"color": EVENT_COLORS["sent"], "opacity": 0.55},
            hovertext=[
                f"<b>{day(r['date'])}</b><br>Sent: {fmt_int(r['sent'])} emails" for r in rows
            ],
            hovertemplate=hover_template(),
        ),
        row=1,
    )
    lines = (
        ("opened", "Opened (directional)", "dash"),
        ("clicked", "Clicked", "solid"),
        ("bounced", "Bounced", "dot"),
    )
    for col, name, dash in lines:
        note = "<br><i>opens are directional (image blocking, privacy proxies)</i>"
        fig.add_trace(
            dict(
                type="scatter",
                name=name,
                uid=trace_uid("daily_activity", col),
                x=dates,
                y=[r[col] for r in rows],
                mode="lines",
                line={"color": EVENT_COLORS[col], "width": 2, "dash": dash},
                hovertext=[
                    of_sent(r, col, name.split(" ")[0]) + (note if col == "opened" else "")
                    for r in rows
                ],
                hovertemplate=hover_template(),
            ),
            row=1,
        )
    # Replied first: the positive bar (a subset) is overlaid inside it, see barmode below.
    reply_bars = (
        (
            "replied",
            "Replied",
            [
                f"<b>{day(r['date'])}</b><br>Replied: {fmt_int(r['replied'])} leads replied "
                "that day (by reply date, any step)"
                for r in rows
            ],
        ),
        (
            "positive",
            "Positive",
            [
                f"<b>{day(r['date'])}</b><br>Positive: {fmt_int(r['positive'])} / "
                f"{fmt_int(r['replied'])} replies that day "
                f"({fmt_pct(r['positive'] / r['replied'] if r['replied'] else None)})"
                f"<br><i>{positive_note(tags)}</i>"
                for r in rows
            ],
        ),
    )
    for col, name, hovertext in reply_bars:
        fig.add_trace(
            dict(
                type="bar",
                name=name,
                uid=trace_uid("daily_activity", col),
                x=dates,
                y=[r[col] for r in rows],
                marker={"color": EVENT_COLORS[col]},
                hovertext=hovertext,
                hovertemplate=hover_template(),
            ),
            row=2,
        )
    # Overlay: positive replies are a subset of the day's replies, drawn inside its bar.
    fig.update_layout(barmode="overlay", bargap=0.1, hovermode="closest")
    fig.update_annotations(x=0.0, xanchor="left", font={"size": 12})
    fig.update_yaxes(title={"text": "Emails"}, rangemode="tozero", tickformat=",", row=1)
    fig.update_yaxes(title={"text": "Leads"}, rangemode="tozero", tickformat=",", row=2)
    fig.update_xaxes(type="date")
    total = {c: sum(r[c] for r in rows) for c in _DAILY_COUNTS}
    subtitle = (
        f"{fmt_int(total['sent'])} emails sent, {fmt_int(total['replied'])} replies "
        f"({fmt_int(total['positive'])} positive) · days in UTC"
    )
    if pooled > 1:
        subtitle += f" · {pooled} campaigns summed"
    return finish(
        fig,
        chart="daily_activity",
        title="Daily activity",
        subtitle=subtitle,
        notes=[
            "Top: emails (not leads) by the UTC date they were sent; opened, clicked and bounced "
            "emails are counted on their send date. Bottom: leads by the UTC date of their "
            "reply; replies without a time cannot be dated and are left out.",
            opens_footnote(),
        ],
        plot=380,
        bottom=40,
        legend=[t["name"] for t in fig.data] if rows else [],
        panel_titles=True,
        empty="no emails sent and no replies in this selection." if not rows else None,
    )
