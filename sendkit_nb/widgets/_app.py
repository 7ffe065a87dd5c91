"""The ipywidgets dashboard: pickers, KPI cards, live charts, a lead table, refresh and export.

A thin front end, and :class:`Dashboard` a coordinator: it owns the state (the campaign
store, what is on screen) and its public actions, and hands the work to one part per concern:

* :class:`~sendkit_nb.widgets._layout.DashboardLayout`: the widget tree;
* :class:`~sendkit_nb.widgets._controls.Controls`: the pickers, wired to the actions, the
  campaign search and the status filter;
* :class:`~sendkit_nb.widgets._refresh.Refresher`: loading with progress, working out what to
  recompute and redraw, and drawing it in place in the live figures;
* :class:`~sendkit_nb.widgets._compare.Comparison`: the campaign comparison;
* :class:`~sendkit_nb.widgets._feedback.Feedback`: messages and the progress line;
* :mod:`sendkit_nb.widgets._export`: the HTML report;
* :mod:`sendkit_nb.widgets._static`: the static copy notebooks show where the live widgets
  cannot be drawn (an HTML export, a notebook reopened without its kernel);
* :mod:`sendkit_nb.widgets._source`: where the data comes from (the API, or a workspace store
  synced on Refresh when a client is given).

Data comes from :class:`~sendkit_nb.widgets._state.CampaignStore`, which loads from a
source (:mod:`sendkit_nb.widgets._source`: the API through a client, or a workspace store,
synced on Refresh when a client is given), numbers from the campaign summary (through
:func:`~sendkit_nb.widgets._state.compute_view`) and figures from :mod:`sendkit_nb.charts`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypeVar,
    cast,
    overload,
)

import ipywidgets as widgets

from sendkit_nb._connect import connect
from sendkit_nb._errors import SendKitError
from sendkit_nb.metrics import WindowBound
from sendkit_nb.metrics._windows import check_window
from sendkit_nb.widgets._compare import Comparison
from sendkit_nb.widgets._controls import Controls
from sendkit_nb.widgets._export import write_report
from sendkit_nb.widgets._feedback import Feedback
from sendkit_nb.widgets._figure import LiveFigure
from sendkit_nb.widgets._layout import FIGURES, DashboardLayout
from sendkit_nb.widgets._refresh import Refresher
from sendkit_nb.widgets._source import StoreSource, make_source
from sendkit_nb.widgets._state import CampaignStore, Screen, Selection, View, check_statuses
from sendkit_nb.widgets._static import NotebookCopy

if TYPE_CHECKING:
    from sendkit_nb._client import SendKitClient
    from sendkit_nb._store import Store

__all__ = ["FIGURES", "Dashboard", "dashboard"]

log = logging.getLogger("sendkit_nb.widgets")

_P = ParamSpec("_P")
_R = TypeVar("_R")
_W = TypeVar("_W")


def _guarded(
    method: Callable[Concatenate[Dashboard, _P], _R],
) -> Callable[Concatenate[Dashboard, _P], _R | None]:
    """Run a dashboard action so that no exception escapes into the notebook.

    Widget callbacks that raise print a traceback into the kernel log or a stray output area;
    an analyst needs the API's message and what to do next, shown inside the dashboard.
    """

    def run(self: Dashboard, /, *args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        if self._busy:
            # A change made by the dashboard itself (e.g. refilling a picker) re-enters here
            # through the widget observers; the outer action already takes care of it.
            return None
        self._busy = True
        try:
            return method(self, *args, **kwargs)
        except SendKitError as exc:
            self.last_error = exc
            self.feedback.fail(str(exc))
        except Exception as exc:  # the dashboard must survive anything a callback hits
            # The traceback stays reachable (dashboard.last_error, debug log) without being
            # printed into the notebook.
            self.last_error = exc
            log.debug("dashboard action %s failed", method.__name__, exc_info=True)
            self.feedback.fail(
                f"Unexpected error ({type(exc).__name__}): {exc}. "
                "The details are in dashboard.last_error."
            )
        finally:
            self._busy = False
            if self._static_copy is not None:
                # The action may have drawn something: the notebook's static copy follows
                # (later: this only schedules it).
                self._static_copy.changed()
        return None

    functools.update_wrapper(run, method)
    return run


class _FromLayout(Generic[_W]):
    """A widget of the dashboard's layout, read as an attribute of the dashboard (where the
    analyst and the tests look for it)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, dashboard: None, owner: type) -> _FromLayout[_W]: ...
    @overload
    def __get__(self, dashboard: Dashboard, owner: type | None = None) -> _W: ...
    def __get__(self, dashboard: Dashboard | None, owner: type | None = None) -> Any:
        if dashboard is None:  # on the class (help(), documentation tools): the descriptor
            return self
        return cast(_W, getattr(dashboard.ui, self.name))


class Dashboard:
    """A campaign dashboard for notebooks (``sendkit_nb.dashboard(client)``).

    Where the data comes from (``source``, ``store=``; see :mod:`._source`):

    * ``Dashboard(client)`` (or no argument: :func:`sendkit_nb.connect`): the API. Refresh
      loads the campaigns list and the current campaign again.
    * ``Dashboard(sk.open_store(path))``: a workspace store, read with no network. Relative
      windows count back from the store's last sync (``store.as_of``). Refresh and the
      senders need the API: the button is disabled (its tooltip says why) and the Senders
      section says so.
    * ``Dashboard(client, store=path)``: reads the store, and Refresh syncs the campaign on
      show into it first (fetched only when the API says it changed), with progress in the
      progress line, then draws it from the store again. A folder that is not a store yet is
      synced whole on first use.

    Widgets (all public, so the state can be driven and checked without a browser):

    * ``campaign_search`` (name filter) and ``campaign_picker`` (name · status, from the
      campaigns list); ``refresh_button`` reloads the list and the current campaign. The
      picker always shows the campaign on screen: a search that leaves it out keeps it at
      the top of the list; a search with a single match opens that campaign, and Enter in the
      search box opens the first match (:meth:`search`, :meth:`submit_search`).
    * ``status_picker``: lead statuses, several at once (none selected = every lead), each
      with its count in the current campaign. The filter stays when another campaign is
      opened, and ``campaign_header`` (the campaign's name and status above the KPI cards)
      always says which statuses are shown and how many of the campaign's leads that is,
      with ``header_clear_button`` to drop the filter.
    * ``compare_picker``: the campaigns compared in the "campaigns" chart (any of the list,
      several at once; a campaign is added when it is opened, and those not loaded yet are
      loaded when picked, with progress), ``compare_all_button`` picks every campaign, and
      ``comparison_note`` says what the chart compares. The comparison honours the status
      filter (:meth:`set_comparison`).
    * ``denominator_picker`` (what the step rates are over), ``metric_picker`` (the A/B test's
      metric) and ``variant_toggle`` (split the reply curve by variant, show the A/B chart).
    * ``kpis``: one HTML card per headline number (:data:`~sendkit_nb.widgets._html.KPIS`).
    * ``figures``: plotly ``FigureWidget`` s by key (:data:`FIGURES`), updated in place (a
      panel shows a placeholder until its chart's first data).
    * ``table`` (first ``table_rows`` leads of the selection) with ``sort_picker`` and
      ``descending_toggle``.
    * ``window_picker`` (beside the header): the date window, "All time" or the last 7, 30 or
      90 days (:meth:`set_window` takes any window; it then shows as a "Custom" choice). The
      header says which days are counted; the KPI cards, the charts (but the whole-campaign
      status chart), the comparison and the senders follow it, and so does Export HTML.
    * ``senders``: the "Senders" section (an accordion, closed at first); opening it loads
      the sending mailboxes (``load_mailboxes``, for the window's days) into
      ``senders_figure`` (``charts.mailboxes``), ``senders_note`` says what it covers or why
      it cannot be shown (:meth:`load_senders`).
    * ``export_path`` and ``export_button``: write ``sendkit_nb.report(...)`` for the selection
      (with the senders, once loaded).
    * ``message`` (errors and notices), ``progress`` and ``progress_text`` (loading stages),
      ``banner`` (says when the demo API is in use).

    Options: ``campaign`` (the id to open first; default the first in the list),
    ``statuses`` (the initial status filter), ``since`` / ``until`` (the initial date window,
    as :meth:`set_window` takes it), ``table_rows`` (lead table length),
    ``positive_tags`` (AI tags counted as positive; default the metrics' set), ``autoload``
    (False: build the widgets and load nothing until :meth:`select_campaign`) and
    ``figure_width`` (plot width in px; by default, None, each plot fills the width of the
    output area and follows it when the area resizes).

    ``widget`` is the root container; displaying the dashboard displays it, and beside it a
    static copy that HTML exports show, kept at the last state (:mod:`._static`,
    :meth:`static_html`). The methods the callbacks call (:meth:`select_campaign`,
    :meth:`set_statuses`, :meth:`set_options`, :meth:`search`, :meth:`submit_search`,
    :meth:`set_comparison`, :meth:`set_window`, :meth:`load_senders`, :meth:`refresh`,
    :meth:`export_html`) never raise: errors land in ``message``.
    """

    widget: _FromLayout[widgets.VBox] = _FromLayout()
    banner: _FromLayout[widgets.HTML] = _FromLayout()
    message: _FromLayout[widgets.HTML] = _FromLayout()
    progress: _FromLayout[widgets.IntProgress] = _FromLayout()
    progress_text: _FromLayout[widgets.HTML] = _FromLayout()
    campaign_search: _FromLayout[widgets.Text] = _FromLayout()
    campaign_picker: _FromLayout[widgets.Dropdown] = _FromLayout()
    refresh_button: _FromLayout[widgets.Button] = _FromLayout()
    status_picker: _FromLayout[widgets.SelectMultiple] = _FromLayout()
    clear_statuses_button: _FromLayout[widgets.Button] = _FromLayout()
    denominator_picker: _FromLayout[widgets.ToggleButtons] = _FromLayout()
    metric_picker: _FromLayout[widgets.ToggleButtons] = _FromLayout()
    variant_toggle: _FromLayout[widgets.ToggleButton] = _FromLayout()
    campaign_header: _FromLayout[widgets.HTML] = _FromLayout()
    header_clear_button: _FromLayout[widgets.Button] = _FromLayout()
    window_picker: _FromLayout[widgets.Dropdown] = _FromLayout()
    senders: _FromLayout[widgets.Accordion] = _FromLayout()
    senders_note: _FromLayout[widgets.HTML] = _FromLayout()
    senders_figure: _FromLayout[LiveFigure] = _FromLayout()
    kpis: _FromLayout[dict[str, widgets.HTML]] = _FromLayout()
    figures: _FromLayout[dict[str, LiveFigure]] = _FromLayout()
    compare_picker: _FromLayout[widgets.SelectMultiple] = _FromLayout()
    compare_all_button: _FromLayout[widgets.Button] = _FromLayout()
    comparison_note: _FromLayout[widgets.HTML] = _FromLayout()
    sort_picker: _FromLayout[widgets.Dropdown] = _FromLayout()
    descending_toggle: _FromLayout[widgets.Checkbox] = _FromLayout()
    table: _FromLayout[widgets.HTML] = _FromLayout()
    export_path: _FromLayout[widgets.Text] = _FromLayout()
    export_button: _FromLayout[widgets.Button] = _FromLayout()
    export_result: _FromLayout[widgets.HTML] = _FromLayout()

    def __init__(
        self,
        source: SendKitClient | Store | None = None,
        *,
        store: Store | str | os.PathLike[str] | None = None,
        campaign: str | None = None,
        statuses: Iterable[str] = (),
        since: WindowBound = None,
        until: WindowBound = None,
        table_rows: int = 25,
        positive_tags: Iterable[str] | None = None,
        autoload: bool = True,
        figure_width: int | None = None,
    ) -> None:
        # Bad options are refused before a client is made or a store opened.
        first = Selection(statuses=check_statuses(statuses), since=since, until=until)
        check_window(since, until, what="dashboard window")
        self.source = make_source(source, store, connect)
        self.table_rows = table_rows
        self.figure_width = figure_width
        self.positive_tags = list(positive_tags) if positive_tags is not None else None
        self._busy = False
        self.screen = Screen(first)
        self.ui = DashboardLayout(
            self.screen.selection,
            figure_width=figure_width,
            demo=self.source.is_demo,
            refresh_tip=self.source.refresh_tip,
            refresh_enabled=self.source.refresh_unavailable is None,
        )
        self.feedback = Feedback(self.ui.message, self.ui.progress, self.ui.progress_text)
        if isinstance(self.source, StoreSource):
            # A store folder not created yet is synced on first use, with this progress.
            self.source.on_stage = self.feedback.stage
            self.source.on_leads = self.feedback.leads_loaded
        self.store = CampaignStore(
            self.source, on_stage=self.feedback.stage, on_leads=self.feedback.leads_loaded
        )
        self.controls = Controls(self.ui, self.store, self.screen, self.feedback)
        self.comparison = Comparison(
            self.store, self.ui.compare_picker, self.ui.comparison_note, self.positive_tags
        )
        self.refresher = Refresher(
            self.ui,
            self.store,
            self.screen,
            self.feedback,
            self.controls,
            self.comparison,
            table_rows=table_rows,
            positive_tags=self.positive_tags,
        )
        for figure in self.ui.figures.values():
            figure.on_deaf = self._figure_deaf
        if since is not None or until is not None:
            self.controls.set_window(since, until, _custom_label(since, until))
        self.controls.wire(self)
        if autoload:
            self._start(campaign)

    # -- state --------------------------------------------------------------------------------

    @property
    def selection(self) -> Selection:
        """What the pickers say."""
        return self.screen.selection

    @property
    def view(self) -> View | None:
        """What is on screen for the selection (None until a campaign is drawn)."""
        return self.screen.view

    @property
    def timings(self) -> dict[str, float]:
        """Seconds spent in the last update, by phase: "metrics", "charts" (building the
        figures), "figures" (copying them into the widgets), "widgets" (KPIs, table), "total"."""
        return self.refresher.timings

    @property
    def chart_timings(self) -> dict[str, float]:
        """Seconds each chart took to build in the last update (only the charts rebuilt)."""
        return self.refresher.chart_timings

    @property
    def chart_errors(self) -> dict[str, str]:
        """Charts that could not be drawn in the last update: key -> error text."""
        return self.refresher.chart_errors

    @property
    def comparison_missing(self) -> list[str]:
        """Campaigns compared but left out of the comparison chart: no lead in the filter."""
        return self.comparison.missing

    @property
    def last_error(self) -> BaseException | None:
        """The last error an action or a chart ran into (shown in ``message``), for
        debugging."""
        return self.refresher.last_error

    @last_error.setter
    def last_error(self, error: BaseException | None) -> None:
        self.refresher.last_error = error

    # -- display ------------------------------------------------------------------------------

    #: The static copy displayed beside the live widget (made on first use).
    _static_copy: NotebookCopy | None = None

    def _ipython_display_(self) -> None:
        # Two outputs (see sendkit_nb.widgets._static): the live widget (with plotly.js for
        # HTML exports) and the static copy, for where widgets cannot be drawn, replaced as the
        # dashboard changes (the widget's own output never is: the front end would build every
        # live chart again).
        self._notebook_copy().display(dict(self._repr_mimebundle_()))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.ui.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            # Where widgets cannot render (a terminal, a text export), a one-line summary
            # instead of the whole widget tree.
            bundle["text/plain"] = repr(self)
        return bundle

    def static_html(self) -> str:
        """The dashboard as it is now, as static HTML that stands alone: the campaign header,
        the KPI cards and each chart on show as a plotly figure, with plotly.js (run by the
        copy's script where the page has none). What an exported notebook shows of it."""
        return self._notebook_copy().html()

    def _notebook_copy(self) -> NotebookCopy:
        if self._static_copy is None:
            self._static_copy = NotebookCopy(self.ui)
        return self._static_copy

    def __repr__(self) -> str:
        sel = self.selection
        leads = f", leads={self.view.leads.height}" if self.view is not None else ""
        demo = ", demo API" if self.source.is_demo else ""
        where = f", store={str(self.source.path)!r}" if isinstance(self.source, StoreSource) else ""
        window = (
            f", since={sel.since!r}, until={sel.until!r}"
            if sel.since is not None or sel.until is not None
            else ""
        )
        return (
            f"Dashboard(campaign={sel.campaign_id!r}, statuses={list(sel.statuses)!r}"
            f"{window}{leads}{where}{demo})"
        )

    @property
    def client(self) -> SendKitClient | None:
        """The client the dashboard loads (or syncs the store) with; None for a store opened
        without one."""
        return self.source.client

    def close(self) -> None:
        """Close every widget (and the client, when the dashboard made it)."""
        if self._static_copy is not None:
            self._static_copy.close()
        self.ui.close()
        self.source.close()

    # -- actions ------------------------------------------------------------------------------

    @_guarded
    def _start(self, campaign: str | None) -> None:
        self.refresher.start(campaign)

    @_guarded
    def search(self, text: str) -> None:
        """Narrow the campaign picker to names containing ``text`` (case-insensitive).

        The picker keeps showing the campaign on screen; when exactly one campaign matches,
        it is opened (what else would the analyst be looking for)."""
        if self.ui.campaign_search.value != text:
            self.ui.campaign_search.value = text
        self.controls.search(text, self.refresher.catalog(), self.refresher.select_campaign)

    @_guarded
    def submit_search(self) -> None:
        """What Enter in the search box does: open the first campaign whose name contains
        the search text (nothing when the box is blank: Enter there is no choice)."""
        if not self.ui.campaign_search.value.strip():
            return
        self.controls.submit_search(self.refresher.catalog(), self.refresher.select_campaign)

    @_guarded
    def select_campaign(self, campaign_id: str) -> None:
        """Show ``campaign_id``: loaded from the API the first time, from memory afterwards."""
        try:
            self.refresher.select_campaign(campaign_id)
        finally:
            # When the load failed, the picker (where the pick may have come from) goes back
            # to the campaign the charts still show.
            self.controls.show_current_campaign()

    @_guarded
    def set_comparison(self, campaign_ids: Iterable[str]) -> None:
        """Compare ``campaign_ids`` side by side in the "campaigns" chart, under the status
        filter. Any campaign of the list: those not loaded yet are loaded now, with progress;
        one that fails to load is left out and named in ``message``."""
        try:
            self.refresher.compare(tuple(dict.fromkeys(campaign_ids)))
        finally:
            self.comparison.show()  # what the picker shows is what is compared

    @_guarded
    def compare_all(self) -> None:
        """Compare every campaign of the list (loading those not loaded yet)."""
        try:
            self.refresher.compare(tuple(self.refresher.catalog()["campaign_id"].to_list()))
        finally:
            self.comparison.show()

    @_guarded
    def set_statuses(self, statuses: Iterable[str]) -> None:
        """Show only leads with one of ``statuses`` (empty: every lead)."""
        self.controls.set_statuses(check_statuses(statuses))
        self.refresher.refresh_view()

    @_guarded
    def set_options(self, /, **options: Any) -> None:
        """Change ``denominator``, ``metric``, ``by_variant``, ``sort_by`` or ``descending``."""
        self.controls.set_options(options)
        if set(options) <= {"sort_by", "descending"}:
            self.refresher.refresh_table()
        else:
            self.refresher.refresh_view()

    @_guarded
    def set_window(self, since: WindowBound = None, until: WindowBound = None) -> None:
        """Count only the emails sent from ``since`` to ``until`` (and the replies attributed
        to them), as the metrics' ``since=`` / ``until=`` do: a datetime, a date, an ISO date
        or "7d", "4w", "3m" counted back from when the data was pulled (a store's last sync;
        from the API, the campaign's latest activity). None, None: all time. The header says
        which days; the KPI cards, the charts, the comparison and the senders follow."""
        selection = self.selection
        check_window(since, until, what="dashboard window")  # a bad bound: an error, no change
        label = _custom_label(since, until)
        self.controls.set_window(since, until, label)
        try:
            self.refresher.refresh_view()
        except BaseException:
            # Nothing was drawn: the pickers go back to the window on show.
            self.controls.set_window(selection.since, selection.until, label)
            raise
        if self.ui.senders.selected_index == 0:
            self.refresher.load_senders()

    @_guarded
    def load_senders(self) -> None:
        """Load the sending mailboxes from the API and draw them in the Senders section (done
        when the section is opened; a store without a client says it needs the API)."""
        self.refresher.load_senders()

    @_guarded
    def refresh(self) -> None:
        """Bring the data up to date and draw it again: from the API, the campaigns list and
        the current campaign are loaded again; on a store opened with a client, the current
        campaign is synced into the store first (only fetched when it changed). A store
        without a client cannot refresh (the button is disabled; this says why)."""
        unavailable = self.source.refresh_unavailable
        if unavailable is not None:
            self.feedback.notify(unavailable, "info")
            return
        self.refresher.refresh()
        if self.ui.senders.selected_index == 0:
            self.refresher.load_senders()

    @_guarded
    def _figure_deaf(self, figure: LiveFigure) -> None:
        self.refresher.figure_deaf(figure)

    @_guarded
    def export_html(self, path: str | Path | None = None) -> Path | None:
        """Write the offline HTML report of the current campaign and status selection."""
        target = Path(path if path is not None else self.ui.export_path.value).expanduser()
        return write_report(
            self.view,
            self.selection.campaign_id,
            target,
            self.store.cached_catalog,
            self.feedback,
            self.ui.export_result,
            self.refresher.senders_frame,
        )


def _custom_label(since: WindowBound, until: WindowBound) -> str:
    """How the window picker names a window that is none of its presets."""
    parts = (_bound_text(since, "since"), _bound_text(until, "until"))
    return "Custom: " + " to ".join(text for text in parts if text)


def _bound_text(bound: WindowBound, side: str) -> str:
    """A window bound as the window picker names a custom window."""
    if bound is None:
        return ""
    text = bound.isoformat() if isinstance(bound, date | datetime) else str(bound)
    return f"{side} {text}"


def dashboard(source: SendKitClient | Store | None = None, **options: Any) -> Dashboard:
    """Open the campaign dashboard (see :class:`Dashboard`).

    ``source``: a client (the API), a store (:func:`sendkit_nb.open_store`: read offline,
    Refresh unavailable), or nothing: :func:`sendkit_nb.connect`, the real API when
    ``SENDKIT_API_KEY`` is set, else the embedded demo API (and the dashboard says so).
    ``store=`` (a path or a store) with a client reads the store and syncs it on Refresh.
    """
    return Dashboard(source, **options)
