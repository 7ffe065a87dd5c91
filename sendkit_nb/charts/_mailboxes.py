"""Which sender: bounce rate and reply rate per sending mailbox, side by side, with intervals,
and the senders over a bounce threshold marked."""

from __future__ import annotations

from typing import Any, Final

import plotly.graph_objects as go
import polars as pl

from sendkit_nb._present import TONE_COLORS
from sendkit_nb.metrics._mailboxes import DEFAULT_BOUNCE_THRESHOLD, check_threshold, mailbox_rates

from ._common import (
    check_frame,
    esc,
    finish,
    fmt_int,
    fmt_pct,
    hover_template,
    interval_level,
    level_words,
    mark_x,
    num,
    rate_sentence,
    trace_uid,
    unique_labels,
    whiskers,
)
from ._spec import FigureSpec
from ._theme import EVENT_COLORS

__all__ = ["mailboxes"]

_HINT: Final = "Pass the frame of sk.load_mailboxes(client) (or metrics.mailbox_rates of it)."
#: Mailbox addresses longer than this are shortened on the axis (the hover has them whole).
_MAX_LABEL: Final = 34
#: The two panels: (rate, its count, x axis, the panel's share of the width).
_PANELS: Final = (("bounce", "bounced", "x", (0.0, 0.47)), ("reply", "replied", "x2", (0.53, 1.0)))
_THRESHOLD_COLOR: Final = TONE_COLORS["bad"]
#: Bars under the threshold: the theme's reply colour, and a light grey for bounces (the
#: theme's black "bounced" would hide the black whiskers).
_COLORS: Final = {"bounced": "#a3acb6", "replied": EVENT_COLORS["replied"]}


def mailboxes(
    frame: pl.DataFrame,
    *,
    bounce_threshold: float = DEFAULT_BOUNCE_THRESHOLD,
    confidence: float = 0.95,
) -> go.Figure:
    """Bounce rate and reply rate per sending mailbox: :func:`sendkit_nb.load_mailboxes`.

    Two panels sharing one row per mailbox (worst bounce rate first): the bounce rate on the
    left, with a dashed line at ``bounce_threshold``, and the reply rate on the right, both per
    email sent with their Wilson interval (``confidence``) as whiskers. Mailboxes whose bounce
    rate is above the threshold are drawn red, hatched and labelled "over", so the flag does not
    rest on colour; "clearly over" when even the interval's low bound is above it. Mailboxes
    that sent nothing in the period are left out (the subtitle counts them). The intervals come
    from :func:`sendkit_nb.metrics.mailbox_rates`, computed here from the counts.

    Traces (always four): ``"Bounce rate"``, ``"Bounce labels"``, ``"Reply rate"``,
    ``"Reply labels"`` (uids ``"mailboxes-bounce"``, ``"mailboxes-bounce-labels"``...). The
    threshold line is a layout shape named ``"sendkit:threshold"``.

    >>> frame = pl.DataFrame({"email": ["a@x.io", "b@x.io"], "sent": [400, 400],
    ...                       "bounced": [40, 4], "replied": [8, 12]})
    >>> fig = mailboxes(frame)
    >>> [t.name for t in fig.data]
    ['Bounce rate', 'Bounce labels', 'Reply rate', 'Reply labels']
    >>> fig.data[1].text[0].strip()
    '10.0%  (40 / 400) · clearly over'
    """
    frame = check_frame(frame, ["email", "sent", "bounced", "replied"], "charts.mailboxes", _HINT)
    threshold = check_threshold(bounce_threshold)
    rated = mailbox_rates(frame, bounce_threshold=threshold, confidence=confidence)
    sending = rated.filter(pl.col("sent").fill_null(0) > 0)
    idle = rated.height - sending.height
    rows = sending.sort(
        ["bounce_rate", "sent"], descending=True, nulls_last=True, maintain_order=True
    ).to_dicts()
    level = interval_level(rated)
    names = [str(r["email"]) if r["email"] is not None else "(no address)" for r in rows]
    keys = [r.get("mailbox_id") or r["email"] for r in rows]
    shown = unique_labels(
        [esc(n if len(n) <= _MAX_LABEL else n[: _MAX_LABEL - 1] + "…") for n in names], keys
    )
    over = [bool(r["over_bounce_threshold"]) for r in rows]

    fig = FigureSpec()
    tops: dict[str, float] = {}
    for rate, event, axis, domain in _PANELS:
        values = [num(r[f"{rate}_rate"]) for r in rows]
        lows = [num(r[f"{rate}_rate_low"]) for r in rows]
        highs = [num(r[f"{rate}_rate_high"]) for r in rows]
        flagged = over if rate == "bounce" else [False] * len(rows)
        colors = [_THRESHOLD_COLOR if f else _COLORS[event] for f in flagged]
        fig.add_trace(
            dict(
                type="bar",
                name=f"{rate.capitalize()} rate",
                uid=trace_uid("mailboxes", rate),
                orientation="h",
                y=shown,
                x=values,
                xaxis=axis,
                yaxis="y",
                showlegend=False,
                marker={
                    "color": colors,
                    "pattern": {
                        "shape": ["/" if f else "" for f in flagged],
                        "fgcolor": "white",
                        "solidity": 0.3,
                    },
                },
                error_x=whiskers(values, lows, highs, width=4),
                hovertext=[
                    _hover(r, name, rate, event, level, threshold)
                    for r, name in zip(rows, names, strict=True)
                ],
                hovertemplate=hover_template(),
            )
        )
        ends = [h if h is not None else (v or 0.0) for v, h in zip(values, highs, strict=True)]
        fig.add_trace(
            dict(
                type="scatter",
                name=f"{rate.capitalize()} labels",
                uid=trace_uid("mailboxes", rate, "labels"),
                y=shown,
                x=ends,
                xaxis=axis,
                yaxis="y",
                mode="text",
                text=[_label(r, rate, event) for r in rows],
                textposition="middle right",
                textfont={
                    "size": 10,
                    "color": [TONE_COLORS["bad"] if f else "#333333" for f in flagged],
                },
                cliponaxis=False,
                hoverinfo="skip",
                showlegend=False,
            )
        )
        top = max([*ends, threshold if rate == "bounce" else 0.0], default=0.0)
        tops[rate] = top
        key = "xaxis" if axis == "x" else "xaxis2"
        fig.update_layout(
            **{
                key: {
                    "domain": list(domain),
                    "anchor": "y",
                    # Room right of the longest whisker for its label.
                    "range": [0, max(top, 0.005) * 1.9],
                    "tickformat": ".1~%",
                    "title": {"text": f"{rate.capitalize()} rate ({event} / emails sent)"},
                }
            }
        )
    fig.update_layout(
        yaxis={
            "type": "category",
            "categoryorder": "array",
            "categoryarray": shown,
            "autorange": "reversed",
            "automargin": True,
        }
    )
    if rows:
        mark_x(
            fig,
            name="threshold",
            x=threshold,
            label=f"threshold {fmt_pct(threshold)}",
            color=_THRESHOLD_COLOR,
        )
    return finish(
        fig,
        chart="mailboxes",
        title="Bounce and reply rate per sender",
        subtitle=_subtitle(rows, over, idle, threshold, level),
        notes=[
            "Counted by SendKit per mailbox (GET /v1/analytics/mailboxes): emails, not leads. "
            "Rates are recomputed from the counts over emails sent; the API's own bounceRate "
            "is not used (its scale is undocumented). Replies are the API's per-mailbox count "
            "(auto-replies may be included)."
        ],
        plot=max(140, 26 * len(rows)),
        bottom=56,
        empty="no mailbox sent an email in this period." if not rows else None,
    )


def _label(row: dict[str, Any], rate: str, event: str) -> str:
    text = f"  {fmt_pct(row[f'{rate}_rate'])}  ({fmt_int(row[event])} / {fmt_int(row['sent'])})"
    if rate == "bounce" and row["over_bounce_threshold"]:
        text += " · clearly over" if row["clearly_over"] else " · over"
    return text


def _hover(
    row: dict[str, Any], name: str, rate: str, event: str, level: float | None, threshold: float
) -> str:
    text = f"<b>{esc(name)}</b>"
    if row.get("display_name"):
        text += f" ({esc(row['display_name'])})"
    text += "<br>" + rate_sentence(
        rate,
        row[f"{rate}_rate"],
        row[event],
        "emails sent",
        row["sent"],
        low=row[f"{rate}_rate_low"],
        high=row[f"{rate}_rate_high"],
        level=level,
        note=False,
    )
    if rate == "bounce" and row["over_bounce_threshold"]:
        how = (
            "the whole interval is above it"
            if row["clearly_over"]
            else "the interval reaches below it: could be bad luck on few emails"
        )
        text += f"<br><b>Over the {fmt_pct(threshold)} bounce threshold</b>: {how}"
    extra = []
    if row.get("daily_limit") is not None:
        extra.append(f"daily limit {fmt_int(row['daily_limit'])}")
    if row.get("warmup_status") is not None or row.get("warmup_enabled") is not None:
        state = "on" if row.get("warmup_enabled") else "off"
        status = f", {esc(row['warmup_status'])}" if row.get("warmup_status") else ""
        extra.append(f"warm-up {state}{status}")
    if row.get("status"):
        extra.append(f"status {esc(row['status'])}")
    return text + (f"<br><i>{' · '.join(extra)}</i>" if extra else "")


def _subtitle(
    rows: list[dict[str, Any]], over: list[bool], idle: int, threshold: float, level: float | None
) -> str:
    parts = [
        f"bounced / emails sent and replied / emails sent per mailbox, {fmt_int(len(rows))} "
        "senders",
        f"whiskers: {level_words(level)}Wilson interval",
        f"red: bounce rate over {fmt_pct(threshold)} "
        f"({fmt_int(sum(over))} of {fmt_int(len(rows))})",
    ]
    if idle:
        parts.append(f"{fmt_int(idle)} mailboxes sent nothing and are not shown")
    return " · ".join(parts)
