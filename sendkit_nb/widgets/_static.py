"""The dashboard's static copy: what a notebook shows of it where the live widgets cannot be
drawn, kept at the dashboard's last state.

Displaying a :class:`~sendkit_nb.widgets.Dashboard` in IPython publishes two outputs:

1. the live widget view (``application/vnd.jupyter.widget-view+json``), whose ``text/html``
   alternative is plotly.js, inert (in a ``<script>`` of a type browsers do not run);
2. the static copy (``text/html``, under a ``display_id``): the campaign header, the KPI cards
   and each chart on show as a plotly figure (its data, drawn by the copy's script).

Why a separate output, replaced after each redraw, rather than a ``text/html`` copy beside the
widget view in one bundle: that bundle's copy would be the first view forever, and replacing
the widget's own output makes the front end build the widget view (every live chart) again.
The copy is replaced debounced (:attr:`NotebookCopy.delay` after the last action, off the path
of the switch itself), and at the end of each cell that changed the dashboard (so a notebook
run by ``jupyter nbconvert --execute`` or nbclient saves the last state: they only take a
cell's messages while it runs).

Why plotly.js rides in the widget's output: ``jupyter nbconvert --to html`` draws an output's
widget view when the notebook holds the widgets' state (``--execute`` stores it) and its
``text/html`` otherwise. With the state, the page already holds plotly (the figures' shared
module, :class:`~sendkit_nb.widgets._figure.PlotlyModule`), which the copy imports; without
it, the page holds this plotly.js. Either way the page holds plotly once.

Where is the copy seen? Live (JupyterLab, Notebook 7, VS Code, an nbconvert page whose widget
manager loaded from its CDN), the live root carries a per-dashboard class and a CSS rule in the
copy hides the copy once that root is in the page, charts drawn or not (a live dashboard with
nothing to chart, an empty workspace or a failed first load, must not show a copy under it):
no script has to win a race, and the copy's figures are then not drawn (the copy draws them
only when it has a size). Where the
widgets cannot render (an HTML export opened offline, a notebook reopened without its kernel,
where the widget shows an error) the copy is visible and draws its charts with the page's
plotly (in a notebook reopened without its kernel there is none: the copy says so and shows
the header and the KPI cards).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from html import escape
from typing import TYPE_CHECKING, Any

from sendkit_nb._renderer import PLOT_CONFIG, offline_renderer_active

if TYPE_CHECKING:
    from sendkit_nb.widgets._layout import DashboardLayout

__all__ = [
    "PLOTLYJS_TYPE",
    "WIDGET_STATE_TYPE",
    "NotebookCopy",
    "copy_body",
    "copy_html",
    "plotlyjs_html",
]

log = logging.getLogger("sendkit_nb.widgets")

#: The ``type`` of the ``<script>`` that carries plotly.js without running it.
PLOTLYJS_TYPE = "text/x-sendkit-plotlyjs"
#: Where an nbconvert page holds the widgets' state.
WIDGET_STATE_TYPE = "application/vnd.jupyter.widget-state+json"

#: A chart's size in the copy when its layout gives none (as plotly's own HTML export does):
#: as wide as the page.
_DEFAULT_HEIGHT = "525px"
_DEFAULT_WIDTH = "100%"

# Draws the copy's charts when the copy is on show (has a size; hidden by the CSS rule beside
# a live dashboard it has none, and nothing is drawn). In a page still being parsed (an HTML
# export) it draws at once; inserted into a live front end (JupyterLab, VS Code), it first
# gives the live widget time to render (longer when the live dashboard is already there, its
# charts being on their way), so the copy is not drawn only to be hidden.
# plotly comes from the page (window.Plotly), else from the inert plotly.js, else from the
# widgets' state: the figures' shared module (plotly's widget bundle, which sets
# window.Plotly when imported), found through a figure's "_sendkit_plotly" reference.
_BOOTSTRAP = """(function () {
  var RENDER = "__RENDER__", LIVE = ".__LIVE__", CONFIG = __CONFIG__;
  var inserted = document.readyState === "complete";
  function fromWidgetState() {
    var stored = document.querySelector('script[type="__WIDGET_STATE__"]');
    if (!stored) return Promise.resolve();
    var models = JSON.parse(stored.textContent).state || {};
    var ids = Object.keys(models).map(function (id) {
      return String(models[id].state._sendkit_plotly || "").replace(/^IPY_MODEL_/, "");
    });
    var holder = ids.map(function (id) { return models[id]; }).filter(Boolean)[0];
    if (!holder || !holder.state.source) return Promise.resolve();
    var blob = new Blob([holder.state.source], {type: "text/javascript"});
    var url = URL.createObjectURL(blob);
    return import(url).finally(function () { URL.revokeObjectURL(url); });
  }
  function plotly() {
    if (window.Plotly) return Promise.resolve(window.Plotly);
    var inert = document.querySelector('script[type="__PLOTLYJS_TYPE__"]');
    if (inert) {
      window.PlotlyConfig = {MathJaxConfig: "local"};
      var script = document.createElement("script");
      script.textContent = inert.textContent;
      document.head.appendChild(script);
      return Promise.resolve(window.Plotly);
    }
    return fromWidgetState().then(function () { return window.Plotly; });
  }
  function draw(root) {
    plotly().catch(function () {}).then(function (Plotly) {
      if (!Plotly) {
        root.querySelector(".sk-static-missing").hidden = false;
        return;
      }
      root.querySelectorAll(".sk-static-chart").forEach(function (chart) {
        var figure = JSON.parse(chart.querySelector("script").textContent);
        var box = chart.querySelector(".plotly-graph-div");
        Plotly.newPlot(box, figure.data, figure.layout, CONFIG);
      });
    });
  }
  function watch(root) {
    var waited = 0, pending = false, drawn = false;
    function check() {
      pending = false;
      if (drawn || root.offsetWidth === 0) return;
      var settle = document.querySelector(LIVE) ? 10000 : 1500;
      if (inserted && waited < settle) {
        pending = true;
        waited += 500;
        setTimeout(check, 500);
        return;
      }
      drawn = true;
      draw(root);
    }
    new ResizeObserver(function () { if (!pending) check(); }).observe(root);
  }
  function start() {
    document.querySelectorAll('[data-sendkit-render="' + RENDER + '"]').forEach(function (root) {
      if (root.dataset.sendkitWatched) return;
      root.dataset.sendkitWatched = "1";
      watch(root);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();"""


def _figure_json(figure: Any) -> str:
    """``figure`` as JSON that can sit inside a ``<script>`` element: every ``<`` escaped, so
    no ``</script>`` or ``<!--`` in a title or hover text ends or bends the element."""
    from plotly.io import to_json

    text: str = to_json(figure, validate=False)
    return text.replace("<", "\\u003c")


def _chart_html(figure: dict[str, Any]) -> str:
    # The figure's own size where its layout sets one (a chart of several panels is taller):
    # the box plotly draws into must hold it.
    layout = figure.get("layout", {})
    height = f"{layout['height']}px" if layout.get("height") else _DEFAULT_HEIGHT
    width = f"{layout['width']}px" if layout.get("width") else _DEFAULT_WIDTH
    return (
        '<div class="sk-static-chart">'
        f'<div class="plotly-graph-div" style="height:{height};width:{width}"></div>'
        f'<script type="application/json">{_figure_json(figure)}</script></div>'
    )


def copy_body(ui: DashboardLayout) -> str:
    """What the copy shows of ``ui`` now: the campaign header, the KPI cards and each chart on
    show as a figure (its data; drawn by the copy's script). Two calls give the same text for
    the same state, so an unchanged dashboard is not published again."""
    kpis = "".join(card.value for card in ui.kpis.values())
    note = "Static copy of the dashboard as it was last drawn; run the notebook for the live one."
    missing = (
        "The charts are drawn when the notebook runs, or in its HTML export "
        "(jupyter nbconvert --to html): this page has no plotly.js to draw them."
    )
    return (
        "<h3 style='margin:4px 0'>SendKit campaigns</h3>"
        f'<p style="color:#57606a;font-size:12px;margin:2px 0">{escape(note)}</p>'
        f'<p class="sk-static-missing" hidden style="color:#cf222e">{escape(missing)}</p>'
        f"{ui.campaign_header.value}"
        f'<div style="display:flex;flex-wrap:wrap">{kpis}</div>'
        + "".join(_chart_html(figure) for figure in ui.shown_figures())
    )


def copy_html(body: str, live_class: str) -> str:
    """The copy of ``body`` (from :func:`copy_body`) as an HTML fragment, with the CSS that
    hides it beside a live dashboard (whose root has the class ``live_class``), and the script
    that draws its charts."""
    render = uuid.uuid4().hex
    mine = f'.sendkit-dashboard-static[data-sendkit-dashboard="{live_class}"]'
    live = f"body:has(.{live_class})"
    # The output area's own box goes too where there is one (JupyterLab, Notebook 7, an
    # nbconvert page), and so does the empty box of the inert plotly.js.
    style = (
        f"{live} {mine}, {live} .jp-OutputArea-child:has({mine}) {{display:none !important}}"
        ".jp-OutputArea-child:has(.sendkit-plotlyjs) {display:none}"
    )
    script = (
        _BOOTSTRAP.replace("__RENDER__", render)
        .replace("__LIVE__", live_class)
        .replace("__CONFIG__", json.dumps(PLOT_CONFIG))
        .replace("__PLOTLYJS_TYPE__", PLOTLYJS_TYPE)
        .replace("__WIDGET_STATE__", WIDGET_STATE_TYPE)
    )
    return (
        f'<div class="sendkit-dashboard-static" data-sendkit-dashboard="{live_class}" '
        f'data-sendkit-render="{render}" style="font-family:system-ui,sans-serif">{body}</div>'
        f"<style>{style}</style><script>{script}</script>"
    )


def plotlyjs_html() -> str:
    """plotly.js for the copies' charts, in a ``<script>`` that does not run (the copy runs it
    when it draws, where the page has no plotly.js); empty when the ``sendkit_offline``
    renderer is active (it put plotly.js into the notebook already)."""
    if offline_renderer_active():
        return ""
    from plotly.offline import get_plotlyjs

    return (
        f'<div class="sendkit-plotlyjs" hidden><script type="{PLOTLYJS_TYPE}">'
        f"{get_plotlyjs()}</script></div>"
    )


class NotebookCopy:
    """A dashboard's static copy in the notebook: displayed beside the live widget, and
    replaced with the dashboard's last state after each change (debounced, and at the end of
    the cell that made it).

    ``ui`` is the dashboard's layout; its root widget gets the class :attr:`live_class`, which
    the copy's CSS looks for.
    """

    #: Seconds of quiet after the last change before the copy is replaced: switches in quick
    #: succession cost one copy, made after the live charts are drawn.
    delay: float = 1.0

    def __init__(self, ui: DashboardLayout) -> None:
        self.ui = ui
        token = uuid.uuid4().hex[:12]
        self.live_class = f"sendkit-dashboard-{token}"
        self.display_id = f"sendkit-dashboard-static-{token}"
        ui.widget.add_class(self.live_class)
        self._shown: str | None = None  # the body the notebook holds; None: not displayed
        self._dirty = False
        self._timer: asyncio.TimerHandle | None = None
        self._shell: Any = None  # the IPython shell whose post_run_cell hook is ours
        self._closed = False

    @property
    def displayed(self) -> bool:
        """Whether the copy is in the notebook (the dashboard was displayed) and still
        follows the dashboard (not closed)."""
        return self._shown is not None and not self._closed

    def html(self) -> str:
        """The copy as it is now, with plotly.js (inert), standing alone."""
        return copy_html(copy_body(self.ui), self.live_class) + plotlyjs_html()

    def display(self, widget_bundle: dict[str, Any]) -> None:
        """Display the live widget (``widget_bundle``, plotly.js added as its ``text/html``)
        and the copy, and follow the dashboard's changes from now on."""
        from IPython import display as ipython_display
        from IPython import get_ipython

        # IPython's display functions are untyped; the calls are the documented ones.
        display: Any = ipython_display.display
        # Where plotly.js is in the notebook already, an HTML comment: without widget state,
        # nbconvert then draws nothing for the widget, not its one-line summary.
        holder = plotlyjs_html() or "<!-- the live SendKit dashboard: see its static copy -->"
        display({**widget_bundle, "text/html": holder}, raw=True)
        if self._closed:
            return  # a closed dashboard has no copy to follow it
        try:
            body = copy_body(self.ui)
        except Exception:  # the live dashboard is shown all the same
            log.debug("the dashboard's static copy could not be made", exc_info=True)
            return
        display(
            {"text/html": copy_html(body, self.live_class)}, raw=True, display_id=self.display_id
        )
        self._shown = body
        self._dirty = False
        shell = get_ipython()
        if shell is not None and self._shell is None:
            shell.events.register("post_run_cell", self._after_cell)
            self._shell = shell

    def changed(self) -> None:
        """The dashboard was (maybe) drawn again: replace the copy once things settle. Cheap
        and never raises: it only schedules the work."""
        if not self.displayed:
            return
        self._dirty = True
        self._cancel_timer()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # No event loop (an IPython terminal, a script): the end of the cell does it.
            return
        self._timer = loop.call_later(self.delay, self.flush)

    def flush(self) -> None:
        """Replace the copy now if the dashboard changed since it was last published."""
        self._cancel_timer()
        if not self._dirty or not self.displayed:
            return
        self._dirty = False
        try:
            body = copy_body(self.ui)
            if body == self._shown:
                return
            from IPython import display as ipython_display

            update_display: Any = ipython_display.update_display
            html = copy_html(body, self.live_class)
            update_display({"text/html": html}, raw=True, display_id=self.display_id)
            self._shown = body
        except Exception:  # a background refresh: the live dashboard must not suffer for it
            # The copy keeps its previous state; the reason goes to the debug log.
            log.debug("the dashboard's static copy could not be replaced", exc_info=True)

    def close(self) -> None:
        """Stop following the dashboard (it is being closed): nothing is published from now
        on, whatever is done with the closed dashboard."""
        self._closed = True
        self._cancel_timer()
        self._dirty = False
        if self._shell is not None:
            with contextlib.suppress(ValueError):  # unregistered meanwhile (a reset shell)
                self._shell.events.unregister("post_run_cell", self._after_cell)
            self._shell = None

    def _after_cell(self, _result: Any) -> None:
        self.flush()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
