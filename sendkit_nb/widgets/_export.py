"""The dashboard's "Export HTML": the offline report of the view on screen (the static copy
that notebooks show in place of the live widgets is :mod:`sendkit_nb.widgets._static`)."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets
import polars as pl

from sendkit_nb.widgets._feedback import Feedback
from sendkit_nb.widgets._html import message_html
from sendkit_nb.widgets._state import View

__all__ = ["write_report"]


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
