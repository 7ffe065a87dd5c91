"""The ipywidgets dashboard: pickers, KPI cards, live charts, a lead table, refresh and export.

A thin front end. Data comes from :class:`~sendkit_nb.widgets._state.CampaignStore` (which
calls ``load_campaigns`` / ``load_leads``), numbers from :mod:`sendkit_nb.metrics` (through
:func:`~sendkit_nb.widgets._state.compute_view`) and figures from :mod:`sendkit_nb.charts`.
The figures are :class:`LiveFigure` s (``FigureWidget`` s) created once: each panel shows a
placeholder until its chart's first data, and the figure reaches the browser with that data
in its opening message. Every later change goes through ``charts.update_figure``, which edits
it in place inside ``batch_update()`` so the browser restyles the existing plot instead of
tearing it down (no flicker); only a figure whose browser model stopped taking messages
(:attr:`LiveFigure.deaf`) is replaced by a new one.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import ipywidgets as widgets
import plotly.graph_objects as go
import polars as pl

from sendkit_nb import charts, metrics
from sendkit_nb._checks import check_object_id
from sendkit_nb._connect import connect
from sendkit_nb._errors import BadRequestError, SendKitError
from sendkit_nb._renderer import static_figures_html
from sendkit_nb._schema import LEAD_STATUSES
from sendkit_nb.metrics._definitions import DENOMINATORS, METRICS
from sendkit_nb.widgets._compare import PendingComparison, comparison_worker
from sendkit_nb.widgets._figure import LiveFigure, name_traces
from sendkit_nb.widgets._html import (
    KPIS,
    Level,
    campaign_header_html,
    campaign_label,
    chart_placeholder,
    comparison_note_html,
    kpi_card,
    message_html,
    table_html,
)
from sendkit_nb.widgets._state import (
    SORT_KEYS,
    CampaignStore,
    LoadedCampaign,
    Selection,
    View,
    check_statuses,
    compute_view,
    sort_table,
)

if TYPE_CHECKING:
    from sendkit_nb._client import SendKitClient

__all__ = ["FIGURES", "Dashboard", "dashboard"]

log = logging.getLogger("sendkit_nb.widgets")

#: The dashboard's charts, in display order: key -> title of its panel.
FIGURES: dict[str, str] = {
    "funnel": "Step funnel",
    "rates": "Rates per step",
    "variants": "A/B variants",
    "reply_curve": "Time to reply",
    "daily": "Daily activity",
    "status": "Lead status (whole campaign)",
    "ai_tags": "AI tags",
    "campaigns": "Campaign comparison",
}

_STAGES = ("campaigns", "leads", "metrics", "charts", "done")


_FIGURE_HEIGHT = 340

_P = ParamSpec("_P")
_R = TypeVar("_R")


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
            self._fail(str(exc))
        except Exception as exc:  # the dashboard must survive anything a callback hits
            # The traceback stays reachable (dashboard.last_error, debug log) without being
            # printed into the notebook.
            self.last_error = exc
            log.debug("dashboard action %s failed", method.__name__, exc_info=True)
            self._fail(
                f"Unexpected error ({type(exc).__name__}): {exc}. "
                "The details are in dashboard.last_error."
            )
        finally:
            self._busy = False
        return None

    functools.update_wrapper(run, method)
    return run


class Dashboard:
    """A campaign dashboard for notebooks (``sendkit_nb.dashboard(client)``).

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
    * ``export_path`` and ``export_button``: write ``sendkit_nb.report(...)`` for the selection.
    * ``message`` (errors and notices), ``progress`` and ``progress_text`` (loading stages),
      ``banner`` (says when the demo API is in use).

    Options: ``campaign`` (the id to open first; default the first in the list),
    ``statuses`` (the initial status filter), ``table_rows`` (lead table length),
    ``positive_tags`` (AI tags counted as positive; default the metrics' set), ``autoload``
    (False: build the widgets and load nothing until :meth:`select_campaign`) and
    ``figure_width`` (plot width in px; by default, None, each plot fills the width of the
    output area and follows it when the area resizes).

    ``widget`` is the root container; displaying the dashboard displays it. The methods the
    callbacks call (:meth:`select_campaign`, :meth:`set_statuses`, :meth:`set_options`,
    :meth:`search`, :meth:`submit_search`, :meth:`set_comparison`, :meth:`refresh`,
    :meth:`export_html`) never raise: errors land in ``message``.
    """

    def __init__(
        self,
        client: SendKitClient | None = None,
        *,
        campaign: str | None = None,
        statuses: Iterable[str] = (),
        table_rows: int = 25,
        positive_tags: Iterable[str] | None = None,
        autoload: bool = True,
        figure_width: int | None = None,
    ) -> None:
        self._owns_client = client is None
        self.client: SendKitClient = client if client is not None else connect()
        self.store = CampaignStore(self.client, on_stage=self._stage, on_leads=self._leads_loaded)
        self.table_rows = table_rows
        self.figure_width = figure_width
        self.positive_tags = list(positive_tags) if positive_tags is not None else None
        self.selection = Selection(statuses=check_statuses(statuses))
        self.view: View | None = None
        #: Seconds spent in the last update, by phase: "metrics", "charts" (building the
        #: figures), "figures" (copying them into the widgets), "widgets" (KPIs, table), "total".
        self.timings: dict[str, float] = {}
        self._busy = False
        #: The last error an action ran into (shown in ``message``), for debugging.
        self.last_error: BaseException | None = None
        #: Seconds each chart took to build in the last update (only the charts rebuilt).
        self.chart_timings: dict[str, float] = {}
        #: Charts that could not be drawn in the last update: key -> error text.
        self.chart_errors: dict[str, str] = {}
        # The campaigns compared (in the order they were added), their comparison frame, what
        # it was computed from (campaigns, status filter, loads so far: see _start_comparison)
        # and the metric its chart was drawn for.
        self._compared: tuple[str, ...] = ()
        self._comparison: pl.DataFrame | None = None
        self._comparison_key: tuple[object, ...] | None = None
        self._comparison_metric: str | None = None
        #: Campaigns compared but left out of the comparison chart: no lead in the filter.
        self.comparison_missing: list[str] = []
        # Campaigns loaded from the API so far: a new load makes the comparison stale.
        self._loads = 0
        # Put before the stage texts while the comparison loads campaigns ("2 of 5").
        self._stage_prefix = ""
        self._status_drawn_for: str | None = None
        # What the progress line says in the current stage, and when lead counts were shown.
        self._stage_text = ""
        self._shown_leads_at = 0.0
        self._build()
        if autoload:
            self._start(campaign)

    # -- construction -------------------------------------------------------------------------

    def _build(self) -> None:
        wide = widgets.Layout(width="auto")
        self.banner = widgets.HTML(
            message_html(
                "Demo API: synthetic data. Set SENDKIT_API_KEY to see your own campaigns.",
                "demo",
            )
            if self.client.is_demo
            else ""
        )
        self.message = widgets.HTML("")
        self.progress = widgets.IntProgress(
            value=0,
            min=0,
            max=len(_STAGES) - 1,
            bar_style="info",
            layout=widgets.Layout(width="160px", visibility="hidden"),
        )
        self.progress_text = widgets.HTML("")

        self.campaign_search = widgets.Text(
            placeholder="Search campaigns by name",
            description="Search",
            continuous_update=True,
            layout=widgets.Layout(width="260px"),
        )
        self.campaign_picker = widgets.Dropdown(
            options=[],
            value=None,
            description="Campaign",
            layout=widgets.Layout(width="440px"),
        )
        # Classes for the page (and the browser test) to find each picker by what it is,
        # not by its position among widgets of the same kind.
        self.campaign_picker.add_class("sk-campaign-picker")
        self.refresh_button = widgets.Button(
            description="Refresh",
            icon="refresh",
            tooltip="Reload the campaigns list and the current campaign from the API",
        )
        self.status_picker = widgets.SelectMultiple(
            options=[(status, status) for status in LEAD_STATUSES],
            value=list(self.selection.statuses),
            rows=len(LEAD_STATUSES),
            description="Status",
            layout=widgets.Layout(width="260px"),
        )
        self.status_picker.add_class("sk-status-picker")
        self.clear_statuses_button = widgets.Button(
            description="All statuses",
            tooltip="Clear the status filter: every lead of the campaign",
            layout=widgets.Layout(width="120px"),
        )
        self.denominator_picker = widgets.ToggleButtons(
            options=list(DENOMINATORS),
            value=self.selection.denominator,
            description="Rates over",
            tooltips=[
                "open, click, reply, positive rates over delivered (default)",
                "rates over leads sent the step",
                "click, reply, positive rates over opens (directional)",
            ],
            style={"button_width": "90px"},
        )
        self.metric_picker = widgets.ToggleButtons(
            options=list(METRICS),
            value=self.selection.metric,
            description="A/B metric",
            style={"button_width": "80px"},
        )
        self.variant_toggle = widgets.ToggleButton(
            value=self.selection.by_variant,
            description="Split by variant",
            icon="columns",
            tooltip="Show A/B variants: the variant chart and one reply curve per variant",
        )

        # The campaign on show and the status filter in force, above the numbers they qualify:
        # the filter stays when another campaign is opened, so it must never be out of sight.
        self.campaign_header = widgets.HTML("")
        self.header_clear_button = widgets.Button(
            description="Show all statuses",
            tooltip="Clear the status filter: every lead of the campaign",
            layout=widgets.Layout(width="150px", display="none"),
        )

        self.kpis: dict[str, widgets.HTML] = {key: widgets.HTML(kpi_card(key, {})) for key in KPIS}
        # The theme is set once, when the widget is made (so it reaches the browser with the
        # figure): update_figure copies everything but the template, which is the same for
        # every chart and costly to copy on each refresh.
        self.figures: dict[str, LiveFigure] = {}
        for key, title in FIGURES.items():
            figure = LiveFigure(
                layout={
                    "template": charts.TEMPLATE,
                    "height": _FIGURE_HEIGHT,
                    "width": self.figure_width,
                    "title": {"text": title},
                }
            )
            figure.on_deaf = self._figure_deaf
            self.figures[key] = figure
        # Until a chart has data its panel shows a placeholder, and its figure is not sent to
        # the browser at all: it goes there with its first data (see LiveFigure).
        self._placeholders: dict[str, widgets.HTML] = {
            key: widgets.HTML(chart_placeholder(title, _FIGURE_HEIGHT, self.figure_width))
            for key, title in FIGURES.items()
        }
        # Column boxes: their child is stretched to the panel's width. In a row (a Box's
        # default) it would be at least as wide as its content, so a plot drawn wider than the
        # output area (at plotly's 700 px default, before it is on the page) would keep its
        # panel that wide, and the plot could never shrink to fit.
        self._panels: dict[str, widgets.Box] = {
            key: widgets.Box(
                [placeholder],
                layout=widgets.Layout(flex_flow="column", width="100%", overflow="auto"),
            )
            for key, placeholder in self._placeholders.items()
        }

        self.compare_picker = widgets.SelectMultiple(
            options=[],
            value=[],
            rows=6,
            description="Compare",
            layout=widgets.Layout(width="440px"),
        )
        self.compare_picker.add_class("sk-compare-picker")
        self.compare_all_button = widgets.Button(
            description="All campaigns",
            tooltip="Compare every campaign of the list (loads those not loaded yet)",
            layout=widgets.Layout(width="120px"),
        )
        self.comparison_note = widgets.HTML("")

        self.sort_picker = widgets.Dropdown(
            options=list(SORT_KEYS),
            value=self.selection.sort_by,
            description="Sort by",
            layout=widgets.Layout(width="220px"),
        )
        self.descending_toggle = widgets.Checkbox(
            value=self.selection.descending, description="Descending", indent=False
        )
        self.table = widgets.HTML("")

        self.export_path = widgets.Text(
            value="sendkit-report.html", description="Report", layout=widgets.Layout(width="340px")
        )
        self.export_button = widgets.Button(
            description="Export HTML",
            icon="download",
            tooltip="Write a self-contained offline HTML report of the selection",
        )
        self.export_result = widgets.HTML("")

        self.widget = widgets.VBox(
            [
                widgets.HTML("<h3 style='margin:4px 0'>SendKit campaigns</h3>"),
                self.banner,
                self.message,
                widgets.HBox([self.progress, self.progress_text]),
                widgets.HBox([self.campaign_search, self.campaign_picker, self.refresh_button]),
                widgets.HBox(
                    [
                        widgets.VBox([self.status_picker, self.clear_statuses_button]),
                        widgets.VBox(
                            [self.denominator_picker, self.metric_picker, self.variant_toggle],
                            layout=widgets.Layout(margin="0 0 0 16px"),
                        ),
                    ]
                ),
                widgets.HBox(
                    [self.campaign_header, self.header_clear_button],
                    layout=widgets.Layout(align_items="center"),
                ),
                widgets.HBox(list(self.kpis.values()), layout=widgets.Layout(flex_flow="row wrap")),
                # One chart per row, each as wide as the output area: the charts' titles and
                # footnotes are laid out for at least about 800 px.
                widgets.VBox(self._chart_rows(), layout=widgets.Layout(width="100%")),
                widgets.HBox([self.sort_picker, self.descending_toggle]),
                self.table,
                widgets.HBox([self.export_path, self.export_button]),
                self.export_result,
            ],
            layout=wide,
        )
        self.widget.add_class("sendkit-dashboard")
        self._show_variant_panel(self.selection.by_variant)

        self.campaign_search.observe(lambda ch: self.search(ch["new"]), names="value")
        # Enter arrives as a custom message ({"event": "submit"}) from the text box; taken
        # directly, as Text.on_submit is deprecated in ipywidgets 8 (and warns when used).
        self.campaign_search.on_msg(self._on_search_message)
        self.campaign_picker.observe(self._on_campaign, names="value")
        self.status_picker.observe(lambda ch: self.set_statuses(ch["new"]), names="value")
        self.clear_statuses_button.on_click(lambda _: self.set_statuses(()))
        self.header_clear_button.on_click(lambda _: self.set_statuses(()))
        self.compare_picker.observe(lambda ch: self.set_comparison(ch["new"]), names="value")
        self.compare_all_button.on_click(lambda _: self.compare_all())
        self.denominator_picker.observe(
            lambda ch: self.set_options(denominator=ch["new"]), names="value"
        )
        self.metric_picker.observe(lambda ch: self.set_options(metric=ch["new"]), names="value")
        self.variant_toggle.observe(
            lambda ch: self.set_options(by_variant=ch["new"]), names="value"
        )
        self.sort_picker.observe(lambda ch: self.set_options(sort_by=ch["new"]), names="value")
        self.descending_toggle.observe(
            lambda ch: self.set_options(descending=ch["new"]), names="value"
        )
        self.refresh_button.on_click(lambda _: self.refresh())
        self.export_button.on_click(lambda _: self.export_html())

    def _chart_rows(self) -> list[widgets.Widget]:
        """The chart panels in display order, the comparison's pickers above its chart."""
        rows: list[widgets.Widget] = []
        for key, panel in self._panels.items():
            if key == "campaigns":
                pickers = widgets.HBox(
                    [self.compare_picker, self.compare_all_button],
                    layout=widgets.Layout(align_items="flex-start"),
                )
                rows.append(widgets.VBox([pickers, self.comparison_note, panel]))
            else:
                rows.append(panel)
        return rows

    # -- display ------------------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            # Where widgets cannot render (a terminal, a text export), a one-line summary
            # instead of the whole widget tree...
            bundle["text/plain"] = repr(self)
            # ...and for HTML exports (nbconvert draws this when the notebook holds no state
            # for the widgets, as JupyterLab saves it by default), a static copy: the live
            # figures would need the kernel, and each carries its own plotly.js (5 MB).
            bundle["text/html"] = self.static_html()
        return bundle

    def static_html(self) -> str:
        """The dashboard as it is now, as static HTML: the campaign header, the KPI cards and
        each chart on show as a plotly figure drawn by plotly.js, included once (see
        :func:`sendkit_nb._renderer.static_figures_html`)."""
        shown = [
            self.figures[key].to_dict()
            for key, panel in self._panels.items()
            # By identity (figures compare by contents): the panel shows the figure, not its
            # placeholder.
            if panel.layout.display != "none"
            and any(child is self.figures[key] for child in panel.children)
        ]
        kpis = "".join(card.value for card in self.kpis.values())
        note = (
            "Static copy of the dashboard as it was displayed; "
            "run the notebook for the live dashboard."
        )
        return (
            '<div class="sendkit-dashboard-static" style="font-family:system-ui,sans-serif">'
            "<h3 style='margin:4px 0'>SendKit campaigns</h3>"
            f'<p style="color:#57606a;font-size:12px;margin:2px 0">{escape(note)}</p>'
            f"{self.campaign_header.value}"
            f'<div style="display:flex;flex-wrap:wrap">{kpis}</div>'
            f"{static_figures_html(shown)}</div>"
        )

    def __repr__(self) -> str:
        sel = self.selection
        leads = f", leads={self.view.leads.height}" if self.view is not None else ""
        demo = ", demo API" if self.client.is_demo else ""
        return (
            f"Dashboard(campaign={sel.campaign_id!r}, statuses={list(sel.statuses)!r}{leads}{demo})"
        )

    def close(self) -> None:
        """Close every widget (and the client, when the dashboard made it)."""
        _close_tree(self.widget)
        # Those not on show: figures never sent, placeholders replaced by their figure.
        for widget in [*self.figures.values(), *self._placeholders.values()]:
            widget.close()
        if self._owns_client:
            self.client.close()

    # -- messages and progress ----------------------------------------------------------------

    def _notify(self, text: str, level: Level = "info") -> None:
        self.message.value = message_html(text, level)

    def _fail(self, text: str) -> None:
        self._notify(text, "error")
        self._progress_done("")

    def _stage(self, stage: str, text: str) -> None:
        self.progress.layout.visibility = "visible"
        self.progress.bar_style = "info"
        self.progress.max = len(_STAGES) - 1
        self.progress.value = _STAGES.index(stage) if stage in _STAGES else 0
        self._stage_text = self._stage_prefix + text
        self._shown_leads_at = 0.0
        self.progress_text.value = f"<span class='sk-progress'>{escape(self._stage_text)}</span>"

    def _leads_loaded(self, done: int, total: int | None) -> None:
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
        counted = f"{done:,} of {total:,} leads" if total is not None else f"{done:,} leads"
        self.progress_text.value = (
            f"<span class='sk-progress'>{escape(self._stage_text)} {counted}</span>"
        )

    def _progress_done(self, text: str) -> None:
        self.progress.value = self.progress.max
        self.progress.layout.visibility = "hidden"
        self.progress_text.value = (
            f"<span class='sk-progress'>{escape(text)}</span>" if text else ""
        )

    # -- campaigns ----------------------------------------------------------------------------

    @_guarded
    def _start(self, campaign: str | None) -> None:
        self._load_catalog()
        first = campaign or self._first_campaign()
        if first is None:
            self._notify("This workspace has no campaigns yet.")
            self._progress_done("")
            return
        self._select_campaign(first)

    def _load_catalog(self, refresh: bool = False) -> pl.DataFrame:
        catalog = self.store.catalog(refresh=refresh)
        self._fill_campaign_picker(catalog, self.campaign_search.value)
        self._fill_compare_picker(catalog)
        return catalog

    def _catalog(self) -> pl.DataFrame:
        """The campaigns list, fetched (and the pickers filled) if it was not yet."""
        cached = self.store.cached_catalog
        return cached if cached is not None else self._load_catalog()

    def _first_campaign(self) -> str | None:
        options = self.campaign_picker.options
        return str(options[0][1]) if options else None

    def _campaign_options(self, catalog: pl.DataFrame, text: str) -> list[tuple[str, str]]:
        """``(label, id)`` of the campaigns whose name contains ``text`` (all when blank)."""
        rows = catalog.select("campaign_id", "name", "status")
        if text.strip():
            rows = rows.filter(
                pl.col("name")
                .fill_null("")
                .str.to_lowercase()
                .str.contains(text.strip().lower(), literal=True)
            )
        return [(campaign_label(name, status), cid) for cid, name, status in rows.rows()]

    def _fill_campaign_picker(self, catalog: pl.DataFrame, text: str) -> list[tuple[str, str]]:
        """List the campaigns matching ``text`` in the picker, keeping the campaign on show
        selected (first in the list when it does not match); returns the matches."""
        matches = self._campaign_options(catalog, text)
        options = list(matches)
        current = self.selection.campaign_id
        if current is not None and current not in [cid for _, cid in matches]:
            # A dropdown can only show one of its options: without this one the picker would
            # go blank (or name another campaign) while the charts still show this one.
            options.insert(0, (self._label_of(catalog, current), current))
        # Refilling a Dropdown selects its first option, which would load that campaign; the
        # observer is muted by _busy (every caller is a guarded action).
        self.campaign_picker.options = options
        self.campaign_picker.value = current
        return matches

    def _label_of(self, catalog: pl.DataFrame, campaign_id: str) -> str:
        hit = catalog.filter(pl.col("campaign_id") == campaign_id)
        if hit.height:
            return campaign_label(hit["name"][0], hit["status"][0])
        return f"campaign {campaign_id}"  # gone from the list since it was opened

    def _show_current_campaign(self) -> None:
        """Set the picker back to the campaign on show (after a pick that failed to load)."""
        if self.campaign_picker.value == self.selection.campaign_id:
            return
        catalog = self.store.cached_catalog
        if catalog is not None:
            self._fill_campaign_picker(catalog, self.campaign_search.value)
        else:
            self.campaign_picker.value = None

    @_guarded
    def search(self, text: str) -> None:
        """Narrow the campaign picker to names containing ``text`` (case-insensitive).

        The picker keeps showing the campaign on screen; when exactly one campaign matches,
        it is opened (what else would the analyst be looking for)."""
        if self.campaign_search.value != text:
            self.campaign_search.value = text
        catalog = self._catalog()
        matches = self._fill_campaign_picker(catalog, text)
        if not text.strip():
            self._progress_done("")
            return
        if not matches:
            self._progress_done(f"No campaign name contains “{text}”")
            return
        if len(matches) == 1:
            if matches[0][1] != self.selection.campaign_id:
                self._select_campaign(matches[0][1])
            else:
                self._progress_done(f"1 of {catalog.height} campaigns matches “{text}”")
            return
        shown = self.selection.campaign_id
        aside = (
            f"; {self.store.name_of(shown)}, on show, does not (kept at the top)"
            if shown is not None and shown not in [cid for _, cid in matches]
            else ""
        )
        self._progress_done(
            f"{len(matches)} of {catalog.height} campaigns match “{text}”{aside}. "
            "Enter opens the first."
        )

    @_guarded
    def submit_search(self) -> None:
        """What Enter in the search box does: open the first campaign whose name contains
        the search text (nothing when the box is blank: Enter there is no choice)."""
        text = self.campaign_search.value
        if not text.strip():
            return
        catalog = self._catalog()
        matches = self._fill_campaign_picker(catalog, text)
        if not matches:
            self._progress_done(f"No campaign name contains “{text}”")
            return
        first = matches[0][1]
        if first == self.selection.campaign_id:  # on show already: nothing to redo
            self._progress_done(f"{self.store.name_of(first)} is on show")
            return
        self._select_campaign(first)

    def _on_search_message(self, _widget: widgets.Widget, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("event") == "submit":
            self.submit_search()

    def _on_campaign(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.select_campaign(change["new"])

    @_guarded
    def select_campaign(self, campaign_id: str) -> None:
        """Show ``campaign_id``: loaded from the API the first time, from memory afterwards."""
        try:
            self._select_campaign(campaign_id)
        finally:
            # When the load failed, the picker (where the pick may have come from) goes back
            # to the campaign the charts still show.
            self._show_current_campaign()

    def _load(self, campaign_id: str) -> LoadedCampaign:
        """The campaign's leads, from memory or else from the API (with progress)."""
        if not self.store.is_loaded(campaign_id):
            self._loads += 1
        return self.store.campaign(campaign_id)

    def _select_campaign(self, campaign_id: str) -> None:
        started = time.perf_counter()
        # The id as the store and the catalog spell it (an id typed in upper case is the same
        # campaign); a malformed one is a BadRequestError, shown like any other.
        campaign_id = check_object_id(campaign_id)
        if self.store.cached_catalog is None:
            # Names for the messages and the step labels of the charts come from the list.
            self._load_catalog()
        was_loaded = self.store.is_loaded(campaign_id)
        loaded = self._load(campaign_id)
        if not was_loaded:
            self._status_drawn_for = None  # fresh leads: redraw the whole-campaign chart too
        if campaign_id not in self._compared:
            # Opening a campaign puts it into the comparison (it can be taken out there).
            self._compared = (*self._compared, campaign_id)
            self._show_compared()
        shown = self.selection
        self.selection = self.selection.with_(campaign_id=campaign_id)
        try:
            self._fill_status_picker(loaded)
            self._update(loaded)
        except BaseException:
            # Nothing was drawn (the metrics come first): the previous campaign is still on
            # show, and the picker must say so (select_campaign puts it back).
            self.selection = shown
            raise
        catalog = self.store.cached_catalog
        if catalog is not None:
            self._fill_campaign_picker(catalog, self.campaign_search.value)
        if loaded.notes and not self.chart_errors:
            self._notify("Loaded with a warning: " + " ".join(loaded.notes), "info")
        source = "from memory" if was_loaded else "from the API"
        self._progress_done(
            f"{self.store.name_of(campaign_id)}: {loaded.leads.height:,} leads ({source}, "
            f"{time.perf_counter() - started:.2f} s)"
        )

    def _fill_status_picker(self, loaded: LoadedCampaign) -> None:
        counts = dict(
            loaded.status_counts.select(pl.col("status").cast(pl.String), "leads").iter_rows()
        )
        self.status_picker.options = [
            (f"{status} ({counts.get(status, 0):,})", status) for status in LEAD_STATUSES
        ]
        # Changing the options clears a SelectMultiple; the filter carries over to the
        # campaign (the header says so: see _render_header).
        self.status_picker.value = list(self.selection.statuses)

    # -- comparison ---------------------------------------------------------------------------

    def _fill_compare_picker(self, catalog: pl.DataFrame) -> None:
        self.compare_picker.options = self._campaign_options(catalog, "")
        self.compare_picker.rows = max(2, min(8, catalog.height))
        listed = set(catalog["campaign_id"].to_list())
        # A campaign gone from the list (after a refresh) cannot stay compared.
        self._compared = tuple(cid for cid in self._compared if cid in listed)
        self._show_compared()

    def _show_compared(self) -> None:
        listed = {cid for _, cid in self.compare_picker.options}
        chosen = tuple(cid for cid in self._compared if cid in listed)
        if tuple(self.compare_picker.value) != chosen:
            self.compare_picker.value = chosen

    @_guarded
    def set_comparison(self, campaign_ids: Iterable[str]) -> None:
        """Compare ``campaign_ids`` side by side in the "campaigns" chart, under the status
        filter. Any campaign of the list: those not loaded yet are loaded now, with progress;
        one that fails to load is left out and named in ``message``."""
        try:
            self._set_comparison(tuple(dict.fromkeys(campaign_ids)))
        finally:
            self._show_compared()  # what the picker shows is what is compared

    @_guarded
    def compare_all(self) -> None:
        """Compare every campaign of the list (loading those not loaded yet)."""
        try:
            self._set_comparison(tuple(self._catalog()["campaign_id"].to_list()))
        finally:
            self._show_compared()

    def _set_comparison(self, chosen: tuple[str, ...]) -> None:
        started = time.perf_counter()
        listed = set(self._catalog()["campaign_id"].to_list())
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
                self._stage_prefix = (
                    f"Comparison, {number} of {len(to_load)}: "
                    if len(to_load) > 1
                    else "Comparison: "
                )
                try:
                    self._load(cid)
                except SendKitError as exc:  # the others can still be compared
                    failed.append(f"{self.store.name_of(cid)}: {exc}")
                    chosen = tuple(c for c in chosen if c != cid)
        finally:
            self._stage_prefix = ""
        self._compared = chosen
        self._show_compared()
        # The campaign on show needs no computing when its view is of the current selection:
        # its row is the view's headline (see _start_comparison).
        view = self.view
        current = (
            view.selection.campaign_id
            if view is not None
            and view.selection.campaign_id == self.selection.campaign_id
            and view.selection.statuses == self.selection.statuses
            else None
        )
        pending = self._start_comparison(current)
        headline = view.headline if view is not None and current is not None else None
        self._draw(self._build_charts(self._comparison_builders(pending, headline)))
        if failed:
            self._notify("Left out of the comparison: " + "; ".join(failed), "error")
        else:
            self._report_chart_errors()
        loaded = len(to_load) - len(failed)
        source = (
            f" ({loaded} loaded from the API, {time.perf_counter() - started:.2f} s)"
            if loaded
            else ""
        )
        count = f"{len(chosen)} campaign{'s' if len(chosen) != 1 else ''}"
        self._progress_done(f"Comparing {count}{source}")

    def _start_comparison(self, current: str | None) -> PendingComparison | None:
        """Start computing the comparison when what it depends on changed (the campaigns
        compared, the status filter, a campaign (re)loaded); None when the comparison
        computed before is still current.

        The row of ``current`` (the campaign on show) is its view's headline, computed anyway
        for the KPI cards (the same ``metrics.headline`` on the same leads): a status switch
        then recomputes only the other campaigns, in a worker thread beside the view's
        metrics (polars releases the GIL), and the switch stays quick."""
        statuses = self.selection.statuses
        key = (self._compared, statuses, self._loads)
        if key == self._comparison_key:
            return None
        frames: list[pl.DataFrame] = []
        missing: list[str] = []
        # Only loaded ones: a campaign whose reload failed (refresh) has no leads to compare.
        compared = [cid for cid in self._compared if self.store.is_loaded(cid)]
        for cid in compared:
            leads, _ = self.store.campaign(cid).select(statuses)
            if not leads.height:
                missing.append(cid)
            elif cid != current:
                frames.append(leads)
        self.comparison_missing = missing
        self._comparison_key = key
        # One lookup table, not a catalog filter per campaign: "All campaigns" may be many.
        catalog = self.store.cached_catalog
        names: dict[str, str | None] = (
            dict(catalog.select("campaign_id", "name").iter_rows()) if catalog is not None else {}
        )
        self.comparison_note.value = comparison_note_html(
            len(compared),
            [f"“{names[cid]}”" if names.get(cid) else f"campaign {cid}" for cid in missing],
            statuses,
        )
        others = (
            comparison_worker().submit(
                metrics.compare_campaigns,
                pl.concat(frames, how="vertical_relaxed", rechunk=False),
                catalog,
                positive_tags=self.positive_tags,
            )
            if frames
            else None
        )
        on_show = current if current in compared and current not in missing else None
        return PendingComparison(others, on_show, names.get(on_show) if on_show else None)

    def _comparison_builders(
        self, pending: PendingComparison | None, headline: Mapping[str, Any] | None
    ) -> dict[str, Callable[[], go.Figure]]:
        """The comparison chart's builder when its frame or the metric changed (else none);
        ``headline`` is the view's, for the row of the campaign on show."""
        metric = self.selection.metric
        if pending is None and (self._comparison is None or self._comparison_metric == metric):
            return {}
        self._comparison_metric = metric

        def build() -> go.Figure:
            if pending is not None:
                self._comparison = pending.frame(headline)
            if self._comparison is None:
                raise RuntimeError("the comparison was not computed")
            return charts.campaign_comparison(self._comparison, metric=metric)

        return {"campaigns": build}

    # -- filters and options ------------------------------------------------------------------

    @_guarded
    def set_statuses(self, statuses: Iterable[str]) -> None:
        """Show only leads with one of ``statuses`` (empty: every lead)."""
        chosen = check_statuses(statuses)
        if tuple(self.status_picker.value) != chosen:
            self.status_picker.value = list(chosen)
        self.selection = self.selection.with_(statuses=chosen)
        self._refresh_view()

    @_guarded
    def set_options(self, /, **options: Any) -> None:
        """Change ``denominator``, ``metric``, ``by_variant``, ``sort_by`` or ``descending``."""
        allowed = {"denominator", "metric", "by_variant", "sort_by", "descending"}
        unknown = set(options) - allowed
        if unknown:
            raise SendKitError(f"unknown dashboard option(s): {', '.join(sorted(unknown))}")
        pickers: dict[str, widgets.ValueWidget] = {
            "denominator": self.denominator_picker,
            "metric": self.metric_picker,
            "by_variant": self.variant_toggle,
            "sort_by": self.sort_picker,
            "descending": self.descending_toggle,
        }
        for name, value in options.items():
            if pickers[name].value != value:
                pickers[name].value = value
        self.selection = self.selection.with_(**options)
        if "by_variant" in options:
            self._show_variant_panel(bool(options["by_variant"]))
        if set(options) <= {"sort_by", "descending"}:
            self._refresh_table()
        else:
            self._refresh_view()

    def _show_variant_panel(self, show: bool) -> None:
        self._panels["variants"].layout.display = None if show else "none"

    def _current(self) -> LoadedCampaign | None:
        cid = self.selection.campaign_id
        return self.store.campaign(cid) if cid is not None else None

    def _refresh_view(self) -> None:
        loaded = self._current()
        if loaded is not None:
            self._update(loaded)

    def _refresh_table(self) -> None:
        loaded = self._current()
        if loaded is None or self.view is None:
            return
        _, table = loaded.select(self.selection.statuses)
        self.view.table = sort_table(table, self.selection, self.table_rows)
        self.view.selection = self.selection
        self._render_table(self.view)

    @_guarded
    def refresh(self) -> None:
        """Fetch the campaigns list and the current campaign again (dropping what is cached)."""
        cid = self.selection.campaign_id
        if cid is not None:
            self.store.forget(cid)
        self._load_catalog(refresh=True)
        # After a failed start nothing is on show yet: open the first campaign, as at start.
        cid = cid or self._first_campaign()
        if cid is None:
            self._notify("This workspace has no campaigns yet.")
            self._progress_done("")
            return
        self._select_campaign(cid)

    # -- drawing ------------------------------------------------------------------------------

    def _update(self, loaded: LoadedCampaign) -> None:
        """Recompute the selection's metrics and redraw KPIs, charts and table in place."""
        started = time.perf_counter()
        pending = self._start_comparison(self.selection.campaign_id)
        try:
            view = compute_view(
                loaded,
                self.selection,
                self.store.cached_catalog,
                table_rows=self.table_rows,
                positive_tags=self.positive_tags,
            )
        except BaseException:
            # The comparison started above will never be drawn: compute it again next time.
            self._comparison_key = None
            raise
        computed = time.perf_counter()
        self.view = view
        sources = self._build_charts(
            {**self._chart_builders(view), **self._comparison_builders(pending, view.headline)}
        )
        built = time.perf_counter()
        self._draw(sources)
        drawn = time.perf_counter()
        self._render_header(view, loaded)
        for key, card in self.kpis.items():
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
        self._report_chart_errors()

    def _report_chart_errors(self) -> None:
        if self.chart_errors:
            failed = "; ".join(f"{FIGURES[k]}: {text}" for k, text in self.chart_errors.items())
            self._notify(f"Some charts could not be drawn ({failed}).", "error")
        else:
            self._notify("")

    def _draw(self, sources: dict[str, go.Figure | None]) -> None:
        """Copy freshly built figures into the live widgets (and show them)."""
        for key, figure in sources.items():
            if figure is None:
                continue
            try:
                name_traces(key, figure)
                if self.figure_width is not None:
                    figure.update_layout(width=self.figure_width)
                target = self.figures[key]
                if target.deaf:
                    # Its browser model drops messages: a new figure, sent whole.
                    target = self.figures[key] = target.fresh_copy()
                # The charts' dicts are validated here, as they are assigned to the widget.
                charts.update_figure(target, figure)
                self._show_figure(key)
            except Exception as exc:  # one broken chart must not stop the others
                self._chart_failed(key, exc)

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

    def _build_charts(
        self, builders: dict[str, Callable[[], go.Figure]]
    ) -> dict[str, go.Figure | None]:
        """Fresh figures (plain ``go.Figure`` s from :mod:`sendkit_nb.charts`); ``_draw``
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

    def _render_header(self, view: View, loaded: LoadedCampaign) -> None:
        cid = view.selection.campaign_id
        catalog = self.store.cached_catalog
        name, status = f"campaign {cid}", None
        if catalog is not None and cid is not None:
            hit = catalog.filter(pl.col("campaign_id") == cid)
            if hit.height:
                name, status = hit["name"][0] or "(unnamed)", hit["status"][0]
        statuses = view.selection.statuses
        self.campaign_header.value = campaign_header_html(
            name, status, loaded.leads.height, statuses, view.leads.height
        )
        self.header_clear_button.layout.display = None if statuses else "none"

    def _show_figure(self, key: str) -> None:
        """Put the figure into its panel (which sends it to the browser, whole, the first
        time) in place of the placeholder or of the figure it replaces, and close that one."""
        panel = self._panels[key]
        figure = self.figures[key]
        shown = panel.children
        # By identity: plotly figures compare equal when their contents do.
        if len(shown) == 1 and shown[0] is figure:
            return
        panel.children = (figure,)
        for old in shown:
            if isinstance(old, LiveFigure):
                old.close()

    @_guarded
    def _figure_deaf(self, figure: LiveFigure) -> None:
        """A view rendered ``figure`` without the messages sent after it was opened: it shows
        the figure as it was then. Out of date: replaced now by a new figure. Up to date: kept,
        and replaced at its next update (see :meth:`_update`)."""
        key = next((k for k, f in self.figures.items() if f is figure), None)
        if key is None or not figure.changed_since_open:
            return
        self.figures[key] = figure.fresh_copy()
        self._show_figure(key)

    def _chart_failed(self, key: str, exc: Exception) -> None:
        log.debug("chart %s failed", key, exc_info=True)
        self.last_error = exc
        self.chart_errors[key] = f"{type(exc).__name__}: {exc}"
        # The charts drawn only when their input changes must be tried again next time.
        if key == "campaigns":
            self._comparison_metric = None
            self._comparison_key = None
        elif key == "status":
            self._status_drawn_for = None

    def _render_table(self, view: View) -> None:
        self.table.value = table_html(
            view.table, view.table_total, view.selection.sort_by, view.selection.descending
        )

    # -- export -------------------------------------------------------------------------------

    @_guarded
    def export_html(self, path: str | Path | None = None) -> Path | None:
        """Write the offline HTML report of the current campaign and status selection."""
        target = Path(path if path is not None else self.export_path.value).expanduser()
        cid = self.selection.campaign_id
        if cid is None:
            self._notify("Pick a campaign first.")
            return None
        try:
            from sendkit_nb._report import report
        except ImportError:
            self._notify(
                "The HTML report (sendkit_nb.report) is not available in this installation.",
                "error",
            )
            return None
        view = self.view
        if view is None or view.summary.campaign_id != cid:
            self._notify("Nothing to export yet: the campaign is still loading.")
            return None
        self._stage("charts", f"Writing {target}…")
        # The summary on screen, not a recomputation: the report shows the dashboard's numbers.
        report(view.summary, path=target, catalog=self.store.cached_catalog, progress=False)
        self._progress_done("")
        self.export_result.value = message_html(f"Report written to {target.resolve()}", "ok")
        return target


def _close_tree(widget: widgets.Widget) -> None:
    """Close a widget and everything inside it (``Widget.close_all`` would close every widget
    of the kernel, the user's own included)."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def dashboard(client: SendKitClient | None = None, **options: Any) -> Dashboard:
    """Open the campaign dashboard (see :class:`Dashboard`).

    Without ``client`` it uses :func:`sendkit_nb.connect`: the real API when ``SENDKIT_API_KEY``
    is set, else the embedded demo API (and the dashboard says so).
    """
    return Dashboard(client, **options)
