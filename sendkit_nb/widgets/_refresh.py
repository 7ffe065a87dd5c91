"""The dashboard's refreshes: loading campaigns with progress, working out what must be
computed and redrawn, and drawing it in place.

Numbers come from :func:`~sendkit_nb.widgets._state.compute_view` (the campaign summary),
figures from :mod:`sendkit_nb.charts`; each is copied into its live figure
(``charts.update_figure``: in place, inside ``batch_update()``, so the browser restyles the
existing plot instead of tearing it down). Only a figure whose browser model stopped taking
messages (:attr:`LiveFigure.deaf`) is replaced by a new one. Charts are rebuilt only when
their input changed: the whole-campaign status chart with the campaign, the comparison with
the campaigns compared, the filter or the metric.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, timedelta

import plotly.graph_objects as go
import polars as pl

from sendkit_nb import charts
from sendkit_nb._checks import check_object_id
from sendkit_nb._errors import BadRequestError, SendKitError
from sendkit_nb._present import describe_window, fmt_int, fmt_seconds
from sendkit_nb.metrics import Window, resolve_window
from sendkit_nb.widgets._compare import Comparison
from sendkit_nb.widgets._controls import Controls
from sendkit_nb.widgets._feedback import Feedback
from sendkit_nb.widgets._figure import LiveFigure, name_traces
from sendkit_nb.widgets._html import (
    campaign_header_html,
    kpi_card,
    message_html,
    table_html,
)
from sendkit_nb.widgets._layout import FIGURES, WINDOWS, DashboardLayout
from sendkit_nb.widgets._state import (
    CampaignStore,
    LoadedCampaign,
    Screen,
    Selection,
    View,
    compute_view,
    sort_table,
)

__all__ = ["Refresher"]

log = logging.getLogger("sendkit_nb.widgets")


class Refresher:
    """Loads what the selection needs and redraws what changed.

    ``timings``: seconds spent in the last update, by phase: "metrics", "charts" (building the
    figures), "figures" (copying them into the widgets), "widgets" (KPIs, table), "total".
    ``chart_timings``: seconds each chart took to build in the last update (only the charts
    rebuilt). ``chart_errors``: charts that could not be drawn in the last update, key ->
    error text. ``last_error``: the last exception a chart ran into.
    """

    def __init__(
        self,
        ui: DashboardLayout,
        store: CampaignStore,
        screen: Screen,
        feedback: Feedback,
        controls: Controls,
        comparison: Comparison,
        *,
        table_rows: int,
        positive_tags: list[str] | None,
    ) -> None:
        self.ui = ui
        self.store = store
        self.screen = screen
        self.feedback = feedback
        self.controls = controls
        self.comparison = comparison
        self.table_rows = table_rows
        self.positive_tags = positive_tags
        self.timings: dict[str, float] = {}
        self.chart_timings: dict[str, float] = {}
        self.chart_errors: dict[str, str] = {}
        self.last_error: BaseException | None = None
        # Campaigns loaded from the API so far: a new load makes the comparison stale.
        self._loads = 0
        # The campaign whose whole-campaign status chart is on show.
        self._status_drawn_for: str | None = None
        # What Refresh did to the source ("Synced: ..."), said in the progress line after it.
        self._done_note = ""
        #: The window the senders on show were loaded for ((since, until) dates), None when
        #: they were not loaded (or must be loaded again).
        self.senders_key: tuple[date | None, date | None] | None = None
        #: The senders on show (``load_mailboxes``), for the exported report; None until loaded.
        self.senders_frame: pl.DataFrame | None = None

    # -- loading ------------------------------------------------------------------------------

    def load_catalog(self, refresh: bool = False) -> pl.DataFrame:
        """The campaigns list, fetched (again with ``refresh``), into the pickers."""
        catalog = self.store.catalog(refresh=refresh)
        self.controls.fill_campaign_picker(catalog, self.ui.campaign_search.value)
        self.comparison.fill_picker(catalog, self.controls.campaign_options(catalog, ""))
        return catalog

    def catalog(self) -> pl.DataFrame:
        """The campaigns list, fetched (and the pickers filled) if it was not yet."""
        cached = self.store.cached_catalog
        return cached if cached is not None else self.load_catalog()

    def start(self, campaign: str | None) -> None:
        """Fetch the campaigns list and open ``campaign`` (default: the first of the list)."""
        self.load_catalog()
        self._open_first(campaign)

    def refresh(self) -> None:
        """Bring the source up to date for the current campaign (a store syncs it; the API
        has nothing to do), then load the campaigns list and the current campaign again
        (dropping what is cached)."""
        cid = self.screen.selection.campaign_id
        done, error = self.store.source.update(cid, self.feedback.stage, self.feedback.leads_loaded)
        if cid is not None:
            self.store.forget(cid)
        self.senders_key = None  # the senders too are loaded again when next shown
        self._done_note = done
        try:
            self.load_catalog(refresh=True)
            # After a failed start nothing is on show yet: open the first campaign, as at start.
            self._open_first(cid)
        finally:
            self._done_note = ""
        if error:
            self.feedback.notify(error, "error")

    def _open_first(self, campaign: str | None) -> None:
        first = campaign or self.controls.first_campaign()
        if first is None:
            self.feedback.notify("This workspace has no campaigns yet.")
            self.feedback.done("")
            return
        self.select_campaign(first)

    def load(self, campaign_id: str) -> LoadedCampaign:
        """The campaign's leads, from memory or else from the API (with progress)."""
        if not self.store.is_loaded(campaign_id):
            self._loads += 1
        return self.store.campaign(campaign_id)

    def select_campaign(self, campaign_id: str) -> None:
        """Show ``campaign_id``, loading it if need be; on failure the previous campaign
        stays on show."""
        started = time.perf_counter()
        # The id as the store and the catalog spell it (an id typed in upper case is the same
        # campaign); a malformed one is a BadRequestError, shown like any other.
        campaign_id = check_object_id(campaign_id)
        if self.store.cached_catalog is None:
            # Names for the messages and the step labels of the charts come from the list.
            self.load_catalog()
        was_loaded = self.store.is_loaded(campaign_id)
        loaded = self.load(campaign_id)
        if not was_loaded:
            self._status_drawn_for = None  # fresh leads: redraw the whole-campaign chart too
        self.comparison.add(campaign_id)
        shown = self.screen.selection
        self.screen.selection = shown.with_(campaign_id=campaign_id)
        try:
            self.controls.fill_status_picker(loaded)
            self.update(loaded)
        except BaseException:
            # Nothing was drawn (the metrics come first): the previous campaign is still on
            # show, and the picker must say so.
            self.screen.selection = shown
            raise
        self.controls.refill_campaign_picker()
        if loaded.notes and not self.chart_errors:
            self.feedback.notify("Loaded with a warning: " + " ".join(loaded.notes), "info")
        source = "from memory" if was_loaded else self.store.source.loaded_from
        note = f"{self._done_note}. " if self._done_note else ""
        self.feedback.done(
            f"{note}{self.store.name_of(campaign_id)}: {fmt_int(loaded.leads.height)} leads "
            f"({source}, {fmt_seconds(time.perf_counter() - started)})"
        )

    def compare(self, chosen: tuple[str, ...]) -> None:
        """Compare ``chosen`` (campaigns of the list), loading those not loaded yet with
        progress; one that fails to load is left out and named in ``message``."""
        started = time.perf_counter()
        listed = set(self.catalog()["campaign_id"].to_list())
        unknown = [cid for cid in chosen if cid not in listed]
        if unknown:
            raise BadRequestError(
                f"campaign {unknown[0]!r} is not in the campaigns list",
                hint="Compare campaigns of dashboard.compare_picker.options.",
            )
        to_load = [cid for cid in chosen if not self.store.is_loaded(cid)]
        failed: list[str] = []
        try:
            for number, cid in enumerate(to_load, 1):
                self.feedback.prefix = (
                    f"Comparison, {number} of {len(to_load)}: "
                    if len(to_load) > 1
                    else "Comparison: "
                )
                try:
                    self.load(cid)
                except SendKitError as exc:  # the others can still be compared
                    failed.append(f"{self.store.name_of(cid)}: {exc}")
                    chosen = tuple(c for c in chosen if c != cid)
        finally:
            self.feedback.prefix = ""
        self.comparison.compared = chosen
        self.comparison.show()
        # The campaign on show needs no computing when its view is of the current selection:
        # its row is the view's headline (see Comparison.start).
        view, selection = self.screen.view, self.screen.selection
        current = (
            view.selection.campaign_id
            if view is not None
            and view.selection.campaign_id == selection.campaign_id
            and view.selection.statuses == selection.statuses
            and (view.selection.since, view.selection.until) == (selection.since, selection.until)
            else None
        )
        on_show = self._current()
        window = self.window(on_show) if on_show is not None else None
        pending = self.comparison.start(current, selection.statuses, self._loads, window)
        headline = view.headline if view is not None and current is not None else None
        self.draw(self.build_charts(self.comparison.builders(pending, headline, selection.metric)))
        if failed:
            self.feedback.notify("Left out of the comparison: " + "; ".join(failed), "error")
        else:
            self.report_chart_errors()
        loaded = len(to_load) - len(failed)
        source = (
            f" ({loaded} loaded {self.store.source.loaded_from}, "
            f"{fmt_seconds(time.perf_counter() - started)})"
            if loaded
            else ""
        )
        count = f"{len(chosen)} campaign{'s' if len(chosen) != 1 else ''}"
        self.feedback.done(f"Comparing {count}{source}")

    # -- planning -----------------------------------------------------------------------------

    def window(self, loaded: LoadedCampaign) -> Window | None:
        """The selection's date window resolved for ``loaded``: a relative window ("30d")
        counts back from the source's clock at the pull (the API server's Date, or a store's
        ``as_of``) or, without one, from the campaign's latest timestamp. None: all time, also
        for bounds that resolve to none (``until="9999-12-31"``), as in the metrics and report."""
        selection = self.screen.selection
        if selection.since is None and selection.until is None:
            return None
        window = resolve_window(
            selection.since,
            selection.until,
            as_of=self.store.source.as_of(loaded.campaign_id),
            leads=loaded.leads,
            what="dashboard window",
        )
        return None if window.is_open else window

    def _current(self) -> LoadedCampaign | None:
        cid = self.screen.selection.campaign_id
        return self.store.campaign(cid) if cid is not None else None

    def refresh_view(self) -> None:
        """Recompute and redraw the campaign on show for the selection."""
        loaded = self._current()
        if loaded is not None:
            self.update(loaded)

    def refresh_table(self) -> None:
        """Sort the lead table again (the metrics do not change with its order)."""
        loaded = self._current()
        view = self.screen.view
        if loaded is None or view is None:
            return
        selection = self.screen.selection
        _, table = loaded.select(selection.statuses)
        view.table = sort_table(table, selection, self.table_rows)
        view.selection = selection
        self._render_table(view)

    def update(self, loaded: LoadedCampaign) -> None:
        """Recompute the selection's metrics and redraw KPIs, charts and table in place."""
        started = time.perf_counter()
        selection = self.screen.selection
        window = self.window(loaded)
        pending = self.comparison.start(
            selection.campaign_id, selection.statuses, self._loads, window
        )
        try:
            view = compute_view(
                loaded,
                selection,
                self.store.cached_catalog,
                table_rows=self.table_rows,
                positive_tags=self.positive_tags,
                window=window,
                as_of=self.store.source.as_of(loaded.campaign_id),
            )
        except BaseException:
            # The comparison started above will never be drawn: compute it again next time.
            self.comparison.invalidate()
            raise
        computed = time.perf_counter()
        self.screen.view = view
        sources = self.build_charts(
            {
                **self._chart_builders(view),
                **self.comparison.builders(pending, view.headline, selection.metric),
            }
        )
        built = time.perf_counter()
        self.draw(sources)
        drawn = time.perf_counter()
        self._render_header(view, loaded, window)
        for key, card in self.ui.kpis.items():
            card.value = kpi_card(key, view.headline)
        self._render_table(view)
        done = time.perf_counter()
        self.timings = {
            "metrics": computed - started,
            "charts": built - computed,
            "figures": drawn - built,
            "widgets": done - drawn,
            "total": done - started,
        }
        self.report_chart_errors()

    def _chart_builders(self, view: View) -> dict[str, Callable[[], go.Figure]]:
        """Builders of the campaign's charts whose data changed (all but the comparison)."""
        sel = view.selection
        builders: dict[str, Callable[[], go.Figure]] = {
            "funnel": lambda: charts.step_funnel(view.funnel),
            "rates": lambda: charts.step_rates(view.funnel),
            "reply_curve": lambda: charts.reply_curve(view.reply_curve),
            "daily": lambda: charts.daily_activity(view.daily),
            "ai_tags": lambda: charts.ai_tag_breakdown(view.ai_tags),
        }
        if self._status_drawn_for != view.selection.campaign_id:
            # Whole-campaign status counts: they change with the campaign, not the filter.
            campaign_id = view.selection.campaign_id

            def status() -> go.Figure:
                figure = charts.status_breakdown(view.status_counts)
                self._status_drawn_for = campaign_id
                return figure

            builders["status"] = status
        variants = view.variant_funnel
        if sel.by_variant and variants is not None:
            builders["variants"] = lambda: charts.variant_comparison(variants, metric=sel.metric)
        return builders

    # -- drawing ------------------------------------------------------------------------------

    def build_charts(
        self, builders: dict[str, Callable[[], go.Figure]]
    ) -> dict[str, go.Figure | None]:
        """Fresh figures (plain ``go.Figure`` s from :mod:`sendkit_nb.charts`); :meth:`draw`
        copies them into the live widgets.

        Each chart is built on its own: one that fails leaves its panel as it was and is
        named in ``message`` (and :attr:`chart_errors`), the others still update.
        """
        out: dict[str, go.Figure | None] = {}
        for key in list(self.chart_errors):
            if key in builders:
                del self.chart_errors[key]
        self.chart_timings = {}
        for key, build in builders.items():
            started = time.perf_counter()
            try:
                out[key] = build()
            except Exception as exc:  # one broken chart must not blank the dashboard
                self._chart_failed(key, exc)
                out[key] = None
            self.chart_timings[key] = time.perf_counter() - started
        return out

    def draw(self, sources: dict[str, go.Figure | None]) -> None:
        """Copy freshly built figures into the live widgets (and show them)."""
        figures = self.ui.figures
        for key, figure in sources.items():
            if figure is None:
                continue
            try:
                name_traces(key, figure)
                if self.ui.figure_width is not None:
                    figure.update_layout(width=self.ui.figure_width)
                target = figures[key]
                if target.deaf:
                    # Its browser model drops messages: a new figure, sent whole.
                    target = figures[key] = target.fresh_copy()
                # The charts' dicts are validated here, as they are assigned to the widget.
                charts.update_figure(target, figure)
                self.ui.show_figure(key)
            except Exception as exc:  # one broken chart must not stop the others
                self._chart_failed(key, exc)

    def figure_deaf(self, figure: LiveFigure) -> None:
        """A view rendered ``figure`` without the messages sent after it was opened: it shows
        the figure as it was then. Out of date: replaced now by a new figure. Up to date: kept,
        and replaced at its next update (see :meth:`draw`)."""
        figures = self.ui.figures
        key = next((k for k, f in figures.items() if f is figure), None)
        if key is None or not figure.changed_since_open:
            return
        figures[key] = figure.fresh_copy()
        self.ui.show_figure(key)

    def report_chart_errors(self) -> None:
        if self.chart_errors:
            failed = "; ".join(f"{FIGURES[k]}: {text}" for k, text in self.chart_errors.items())
            self.feedback.notify(f"Some charts could not be drawn ({failed}).", "error")
        else:
            self.feedback.notify("")

    def _chart_failed(self, key: str, exc: Exception) -> None:
        log.debug("chart %s failed", key, exc_info=True)
        self.last_error = exc
        self.chart_errors[key] = f"{type(exc).__name__}: {exc}"
        # The charts drawn only when their input changes must be tried again next time.
        if key == "campaigns":
            self.comparison.invalidate(chart=True)
        elif key == "status":
            self._status_drawn_for = None

    def _render_header(self, view: View, loaded: LoadedCampaign, window: Window | None) -> None:
        cid = view.selection.campaign_id
        catalog = self.store.cached_catalog
        name, status = f"campaign {cid}", None
        if catalog is not None and cid is not None:
            hit = catalog.filter(pl.col("campaign_id") == cid)
            if hit.height:
                name, status = hit["name"][0] or "(unnamed)", hit["status"][0]
                if "deleted" in hit.columns and hit["deleted"][0]:
                    status = f"{status or '?'} · deleted upstream"
        statuses = view.selection.statuses
        self.ui.campaign_header.value = campaign_header_html(
            name,
            status,
            loaded.leads.height,
            statuses,
            view.leads.height,
            window_text(view.selection, window),
        )
        self.ui.header_clear_button.layout.display = None if statuses else "none"

    def _render_table(self, view: View) -> None:
        self.ui.table.value = table_html(
            view.table, view.table_total, view.selection.sort_by, view.selection.descending
        )

    # -- senders ------------------------------------------------------------------------------

    def load_senders(self) -> None:
        """Load the sending mailboxes (for the window on show, by day) and draw them in the
        Senders section; loaded again only when the window changed or after Refresh."""
        note = self.ui.senders_note
        unavailable = self.store.source.senders_unavailable
        if unavailable is not None:
            note.value = message_html(unavailable, "info")
            return
        loaded = self._current()
        window = self.window(loaded) if loaded is not None else None
        days = window_days(window)
        if days == self.senders_key:
            return
        started = time.perf_counter()
        self.feedback.stage("leads", "Loading the sending mailboxes…")
        try:
            frame = self.store.source.mailboxes(*days)
        except SendKitError as exc:
            note.value = message_html(f"The senders could not be loaded: {exc}", "error")
            self.feedback.done("")
            return
        self.feedback.stage("charts", "Drawing the senders…")
        try:
            figure = charts.mailboxes(frame)
            if self.ui.figure_width is not None:
                figure.update_layout(width=self.ui.figure_width)
            charts.update_figure(self.ui.senders_figure, figure)
        except Exception as exc:  # the rest of the dashboard is unaffected
            log.debug("senders chart failed", exc_info=True)
            self.last_error = exc
            note.value = message_html(
                f"The senders chart could not be drawn ({type(exc).__name__}: {exc}).", "error"
            )
            self.feedback.done("")
            return
        self.ui.show_senders()
        self.senders_key = days
        self.senders_frame = frame
        note.value = senders_note_html(frame.height, days)
        took = fmt_seconds(time.perf_counter() - started)
        self.feedback.done(f"Senders: {fmt_int(frame.height)} mailboxes ({took})")


def window_days(window: Window | None) -> tuple[date | None, date | None]:
    """A resolved window as the mailbox analytics take it: whole days, both included (the
    window's end is exclusive, so its last day is the day before a midnight end)."""
    if window is None:
        return None, None
    first = window.start.date() if window.start is not None else None
    last = (window.end - timedelta(microseconds=1)).date() if window.end is not None else None
    return first, last


def senders_note_html(mailboxes: int, days: tuple[date | None, date | None]) -> str:
    """What the senders' chart covers: every mailbox of the workspace, over which days."""
    first, last = days
    if first is None and last is None:
        # load_mailboxes without dates: the API picks the period (undocumented).
        when = "the period the API counts by default (pick a window for set dates)"
    else:
        when = f"{first or 'the start'} to {last or 'today'} (whole days, UTC)"
    return (
        '<div class="sk-senders-note" style="color:#57606a;font-size:12px">'
        f"{fmt_int(mailboxes)} sending mailboxes of the workspace, every campaign: {when}. "
        "The date window applies; the status filter does not (mailbox counts are not per "
        "lead).</div>"
    )


def window_text(selection: Selection, window: Window | None) -> str | None:
    """The header's words for the date window: what was picked and the times it covers (the
    end is exclusive: "to 2025-07-01" stops at midnight starting that day)."""
    if window is None:
        return None
    picked = selection.since if selection.until is None else None
    named = next((label for label, value in WINDOWS.items() if value and value == picked), None)

    return f"{named or 'Window'}: {describe_window(window)}"
