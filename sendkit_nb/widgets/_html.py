"""Small HTML fragments of the dashboard: KPI cards, the lead table, messages.

Everything user-supplied (names, emails, tags, error text) is escaped: lead data comes from
the API and may hold anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any, Literal

import polars as pl

from sendkit_nb._present import KPIS, fmt_int, fmt_kpi

__all__ = ["KPIS", "chart_placeholder", "kpi_card", "message_html", "table_html"]

_CARD = (
    "display:flex;flex-direction:column;align-items:flex-start;padding:6px 12px;"
    "margin:0 6px 6px 0;border:1px solid #d0d7de;border-radius:6px;min-width:96px;"
    "background:#f6f8fa;font-family:system-ui,sans-serif"
)


def kpi_card(key: str, headline: Mapping[str, Any]) -> str:
    """One KPI card of :data:`~sendkit_nb._present.KPIS`, its value printed as every other
    front end prints it (an empty ``headline`` shows dashes)."""
    spec = KPIS[key]
    value = escape(fmt_kpi(spec, headline))
    return (
        f'<div class="sk-kpi" data-kpi="{escape(key)}" title="{escape(spec.definition)}" '
        f'style="{_CARD}"><span style="font-size:11px;color:#57606a">{escape(spec.label)}</span>'
        f'<span class="sk-kpi-value" style="font-size:20px;font-weight:600">{value}</span></div>'
    )


def chart_placeholder(title: str, height: int, width: int | None) -> str:
    """What a chart's panel shows until the chart has data: its title in a box of the plot's
    size, so the page does not jump when the plot arrives."""
    size = f"height:{height}px;" + (f"width:{width}px;" if width is not None else "")
    return (
        f'<div class="sk-chart-placeholder" style="{size}box-sizing:border-box;'
        "border:1px dashed #d0d7de;border-radius:6px;padding:12px 16px;color:#57606a;"
        f'font-family:system-ui,sans-serif"><b>{escape(title)}</b><br>No data yet</div>'
    )


_LEVEL_STYLE = {
    "info": "background:#ddf4ff;border:1px solid #54aeff;color:#0a3069",
    "demo": "background:#fff8c5;border:1px solid #d4a72c;color:#4d2d00",
    "error": "background:#ffebe9;border:1px solid #ff8182;color:#82071e",
    "ok": "background:#dafbe1;border:1px solid #4ac26b;color:#044f1e",
}

Level = Literal["info", "demo", "error", "ok"]


def message_html(text: str, level: Level = "info") -> str:
    if not text:
        return ""
    style = _LEVEL_STYLE[level]
    return (
        f'<div class="sk-message sk-{level}" role="{"alert" if level == "error" else "status"}" '
        f'style="{style};padding:6px 10px;border-radius:6px;font-family:system-ui,sans-serif;'
        f'white-space:pre-wrap">{escape(text)}</div>'
    )


_HEADERS = {
    "email": "Email",
    "name": "Name",
    "company_name": "Company",
    "status": "Status",
    "current_step_label": "Step",
    "emails_sent": "Emails",
    "last_sent_at": "Last email",
    "opened": "Opened",
    "replied_at": "Replied",
    "ai_tag": "AI tag",
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return escape(str(value))


def table_html(rows: pl.DataFrame, total: int, sort_label: str, descending: bool) -> str:
    """An HTML table of ``rows`` (the first lines of the selection) with a caption that says how
    many of ``total`` leads are shown and in which order."""
    columns = [c for c in _HEADERS if c in rows.columns]
    head = "".join(
        f'<th style="text-align:left;padding:3px 8px;border-bottom:2px solid #d0d7de">'
        f"{_HEADERS[c]}</th>"
        for c in columns
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="padding:2px 8px;border-bottom:1px solid #eaeef2">{_cell(v)}</td>'
            for v in row
        )
        + "</tr>"
        for row in rows.select(columns).iter_rows()
    )
    order = "descending" if descending else "ascending"
    caption = (
        f"Showing {fmt_int(rows.height)} of {fmt_int(total)} leads, by {escape(sort_label)} "
        f"({order})"
        if total
        else "No leads in this selection"
    )
    return (
        '<div class="sk-table" style="max-height:360px;overflow:auto;font-size:12px;'
        'font-family:system-ui,sans-serif">'
        f'<div class="sk-table-caption" style="color:#57606a;margin:2px 0 4px">{caption}</div>'
        f'<table style="border-collapse:collapse;width:100%"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def campaign_label(name: str | None, status: str | None, deleted: bool = False) -> str:
    """A campaign as the pickers list it: "name · status" ("· deleted upstream" added for a
    campaign a store keeps after it was deleted in SendKit)."""
    label = f"{name or '(unnamed)'} · {status or '?'}"
    return f"{label} · deleted upstream" if deleted else label


_HEADER = "font-family:system-ui,sans-serif;margin:4px 0;line-height:1.6"
_FILTER_ON = (
    "background:#fff8c5;border:1px solid #d4a72c;color:#4d2d00;border-radius:6px;padding:1px 8px"
)
_FILTER_OFF = "color:#57606a;padding:1px 0"
_FILTER_TIP = (
    "The status filter applies to the KPI cards, the charts (except the whole-campaign status "
    "chart), the lead table and the campaign comparison. It stays when another campaign is opened."
)

_WINDOW_TIP = (
    "The date window applies to the KPI cards, the charts (except the whole-campaign status "
    "chart) and the campaign comparison: emails sent in the window, and the replies "
    "attributed to them. The lead table lists every lead of the status filter."
)


def campaign_header_html(
    name: str,
    status: str | None,
    total: int,
    statuses: Sequence[str],
    shown: int,
    window: str | None = None,
) -> str:
    """The campaign on show and the filters in force: "Name · status", then either
    "All statuses · N leads" or "Status filter: replied · n of N leads" (highlighted, and
    saying outright when the filter leaves no lead), then the date window: "All time", or
    ``window`` (what the window is, highlighted like a status filter)."""
    title = f'<b class="sk-campaign-name" style="font-size:15px">{escape(name)}</b>'
    if status:
        title += (
            f' <span class="sk-campaign-status" style="color:#57606a">· {escape(status)}</span>'
        )
    if not statuses:
        counted = "no leads yet" if total == 0 else f"{total:,} lead{'s' if total != 1 else ''}"
        text, style = f"All statuses · {counted}", _FILTER_OFF
    else:
        if total == 0:
            counted = "this campaign has no leads yet"
        elif shown == 0:
            which = "this status" if len(statuses) == 1 else "these statuses"
            counted = f"none of its {total:,} leads has {which}"
        else:
            counted = f"{shown:,} of {total:,} leads"
        chosen = escape(", ".join(statuses))
        text, style = f"Status filter: <b>{chosen}</b> · {escape(counted)}", _FILTER_ON
    window_style = _FILTER_ON if window else _FILTER_OFF
    return (
        f'<div class="sk-campaign-header" style="{_HEADER}">{title}<br>'
        f'<span class="sk-status-filter" data-statuses="{escape(" ".join(statuses))}" '
        f'title="{escape(_FILTER_TIP)}" style="{style}">{text}</span> · '
        f'<span class="sk-window" title="{escape(_WINDOW_TIP)}" style="{window_style}">'
        f"{escape(window or 'All time')}</span></div>"
    )


def comparison_note_html(compared: int, missing: Sequence[str], statuses: Sequence[str]) -> str:
    """What the comparison chart compares: how many campaigns, over which leads, and the
    campaigns it cannot show (no lead in the status filter). Names come quoted."""
    if not compared:
        return (
            '<div class="sk-comparison-note" style="color:#57606a;font-size:12px">'
            "No campaign picked for the comparison.</div>"
        )
    count = f"{compared} campaign{'s' if compared != 1 else ''}"
    over = (
        f"leads with status {', '.join(statuses)} only (the status filter)"
        if statuses
        else f"all {'its' if compared == 1 else 'their'} leads"
    )
    text = f"Comparing {count}, {over}."
    if missing:
        which = "this status" if len(statuses) == 1 else "these statuses"
        why = f"no lead with {which}" if statuses else "no leads yet"
        text += f" Not in the chart ({why}): {', '.join(missing)}."
    return (
        '<div class="sk-comparison-note" style="color:#57606a;font-size:12px;'
        f'font-family:system-ui,sans-serif">{escape(text)}</div>'
    )
