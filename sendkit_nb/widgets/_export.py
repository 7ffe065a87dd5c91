"""The dashboard as HTML: the "Export HTML" report of the view on screen, and the static copy
that notebook HTML exports show in place of the live widgets."""

from __future__ import annotations

from html import escape
from pathlib import Path

import ipywidgets as widgets
import polars as pl

from sendkit_nb._renderer import static_figures_html
from sendkit_nb.widgets._feedback import Feedback
from sendkit_nb.widgets._html import message_html
from sendkit_nb.widgets._layout import DashboardLayout
from sendkit_nb.widgets._state import View

__all__ = ["static_html", "write_report"]


def static_html(ui: DashboardLayout) -> str:
    """The dashboard as it is now, as static HTML: the campaign header, the KPI cards and
    each chart on show as a plotly figure drawn by plotly.js, included once (see
    :func:`sendkit_nb._renderer.static_figures_html`)."""
    kpis = "".join(card.value for card in ui.kpis.values())
    note = (
        "Static copy of the dashboard as it was displayed; run the notebook for the live dashboard."
    )
    return (
        '<div class="sendkit-dashboard-static" style="font-family:system-ui,sans-serif">'
        "<h3 style='margin:4px 0'>SendKit campaigns</h3>"
        f'<p style="color:#57606a;font-size:12px;margin:2px 0">{escape(note)}</p>'
        f"{ui.campaign_header.value}"
        f'<div style="display:flex;flex-wrap:wrap">{kpis}</div>'
        f"{static_figures_html(ui.shown_figures())}</div>"
    )


def write_report(
    view: View | None,
    campaign_id: str | None,
    target: Path,
    catalog: pl.DataFrame | None,
    feedback: Feedback,
    result: widgets.HTML,
    mailboxes: pl.DataFrame | None = None,
) -> Path | None:
    """Write the offline HTML report of ``view`` (the view of ``campaign_id`` on screen, its
    date window included) to ``target``; None, with a notice, when there is nothing to write
    or no report module. ``result`` (an HTML widget) then says where the report went.
    ``mailboxes``: the senders the dashboard loaded, for the report's Senders section."""
    if campaign_id is None:
        feedback.notify("Pick a campaign first.")
        return None
    try:
        from sendkit_nb._report import report
    except ImportError:
        feedback.notify(
            "The HTML report (sendkit_nb.report) is not available in this installation.",
            "error",
        )
        return None
    if view is None or view.summary.campaign_id != campaign_id:
        feedback.notify("Nothing to export yet: the campaign is still loading.")
        return None
    feedback.stage("charts", f"Writing {target}…")
    # The summary on screen, not a recomputation: the report shows the dashboard's numbers.
    report(view.summary, path=target, catalog=catalog, progress=False, mailboxes=mailboxes)
    feedback.done("")
    result.value = message_html(f"Report written to {target.resolve()}", "ok")
    return target
