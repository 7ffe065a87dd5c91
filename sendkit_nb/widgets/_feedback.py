"""What the dashboard tells the analyst while it works: the message box (errors, notices) and
the progress line (the loading stage, leads loaded so far, what was done)."""

from __future__ import annotations

import time
from html import escape

import ipywidgets as widgets

from sendkit_nb._present import fmt_int
from sendkit_nb.widgets._html import Level, message_html
from sendkit_nb.widgets._layout import STAGES

__all__ = ["Feedback"]


class Feedback:
    """Writes ``message``, ``progress`` and ``progress_text`` (widgets of the layout)."""

    def __init__(
        self, message: widgets.HTML, progress: widgets.IntProgress, progress_text: widgets.HTML
    ) -> None:
        self.message = message
        self.progress = progress
        self.progress_text = progress_text
        #: Put before the stage texts while the comparison loads campaigns ("2 of 5").
        self.prefix = ""
        # What the progress line says in the current stage, and when lead counts were shown.
        self._stage_text = ""
        self._shown_leads_at = 0.0

    def notify(self, text: str, level: Level = "info") -> None:
        self.message.value = message_html(text, level)

    def fail(self, text: str) -> None:
        self.notify(text, "error")
        self.done("")

    def stage(self, stage: str, text: str) -> None:
        """A loading stage begins (one of :data:`~._layout.STAGES`): the bar shows where the
        load is, the text what it does."""
        self.progress.layout.visibility = "visible"
        self.progress.bar_style = "info"
        self.progress.max = len(STAGES) - 1
        self.progress.value = STAGES.index(stage) if stage in STAGES else 0
        self._stage_text = self.prefix + text
        self._shown_leads_at = 0.0
        self.progress_text.value = f"<span class='sk-progress'>{escape(self._stage_text)}</span>"

    def leads_loaded(self, done: int, total: int | None) -> None:
        """While a campaign loads: the bar counts leads, the text says how many of how many."""
        now = time.monotonic()
        finished = total is not None and done >= total
        # A message to the browser per page would flood it (1,000 pages for 100,000 leads):
        # ten updates a second are enough to look live.
        if not finished and now - self._shown_leads_at < 0.1:
            return
        self._shown_leads_at = now
        if total:
            self.progress.max = max(total, done)
            self.progress.value = done
        counted = (
            f"{fmt_int(done)} of {fmt_int(total)} leads"
            if total is not None
            else f"{fmt_int(done)} leads"
        )
        self.progress_text.value = (
            f"<span class='sk-progress'>{escape(self._stage_text)} {counted}</span>"
        )

    def done(self, text: str) -> None:
        """The work is over: the bar goes, ``text`` (if any) says what was done."""
        self.progress.value = self.progress.max
        self.progress.layout.visibility = "hidden"
        self.progress_text.value = (
            f"<span class='sk-progress'>{escape(text)}</span>" if text else ""
        )
