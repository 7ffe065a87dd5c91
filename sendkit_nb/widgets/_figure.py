"""The dashboard's live figures: plotly ``FigureWidget`` s that fit the width of their output
area, notice when their browser model stops taking messages, and share one copy of plotly's
front-end module (:class:`PlotlyModule`) instead of carrying one each."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import ipywidgets as widgets
import plotly.graph_objects as go
from traitlets import Instance, Unicode, default, observe

log = logging.getLogger("sendkit_nb.widgets")


#: What the dashboard's figures add to plotly's widget module (see :func:`_fitting_esm`):
#: ``{view}`` and ``{widget}`` are the names plotly's bundle gives its FigureView class and
#: its default export. A ResizeObserver on each view's element calls the view's own
#: ``autosizeFigure`` (plotly.js's ``Plots.resize`` unless the figure sets a width) whenever
#: the element's width changes: when it is attached to the page (plotly draws it before,
#: detached, at its 700 px default), when the window or JupyterLab's panels resize.
#: Hidden elements (a collapsed panel) are left alone: plotly.js rejects resizing them.
#: plotly.js pins a plot's width when its height is set (Plotly.relayout of a height, as in
#: every update whose chart changed height), and ``Plots.resize`` leaves a plot with both set
#: alone: the pin is dropped first, unless the kernel's figure sets a width itself.
_FIT_TO_ELEMENT_JS = """
const sendkitViews = new WeakMap();
const sendkitPerformRender = {view}.prototype.perform_render;
{view}.prototype.perform_render = function (...args) {{
  sendkitViews.set(this.el, this);
  return sendkitPerformRender.apply(this, args);
}};
const sendkitFigureWidget = () => {{
  const widget = {widget}();
  return {{
    initialize: (context) => widget.initialize(context),
    render(context) {{
      const el = context.el;
      const cleanup = widget.render(context);
      let fitted = 0;
      const observer = new ResizeObserver(() => {{
        const view = sendkitViews.get(el);
        const width = el.clientWidth;
        if (!view || !el.isConnected || width === 0 || width === fitted) return;
        if (getComputedStyle(el).display === "none") return;
        fitted = width;
        const wanted = view.model.get("_widget_layout");
        if (el.layout && (!wanted || wanted.width == null)) delete el.layout.width;
        view.autosizeFigure();
      }});
      observer.observe(el);
      return () => {{
        observer.disconnect();
        return typeof cleanup === "function" ? cleanup() : undefined;
      }};
    }},
  }};
}};
"""


def _fitting_esm(bundle: str) -> str | None:
    """plotly's widget module (``bundle``, its ``widgetbundle.js``) whose figures follow the
    width of their element (:data:`_FIT_TO_ELEMENT_JS`); None when the bundle does not end in
    the export this expects (another plotly version).

    Under anywidget, plotly's view never resizes: the resize handling it has is wired to
    JupyterLab's Lumino messages, which an anywidget view does not get. The module is plotly's
    own, with its final ``export{...}`` taken apart so that its default export can be wrapped
    (the bundle holds another ``export{`` earlier, inside a web worker's source text)."""
    head, found, tail = bundle.rpartition("export{")
    names, closed, rest = tail.partition("}")
    if not found or not closed:
        return None
    exported: dict[str, str] = {}
    for item in names.split(","):
        local, _, name = item.strip().partition(" as ")
        exported[name or local] = local
    if not {"default", "FigureView"} <= exported.keys():
        return None
    kept = ",".join(f"{local} as {name}" for name, local in exported.items() if name != "default")
    wrapper = _FIT_TO_ELEMENT_JS.format(view=exported["FigureView"], widget=exported["default"])
    return f"{head}{wrapper}export{{{kept},sendkitFigureWidget as default}}{rest.lstrip(';')}"


@functools.cache
def _figure_esm() -> str:
    """plotly's widget module for the dashboard's figures, made to fit its element; the
    figures load it from :class:`PlotlyModule` (see :data:`_SHARED_PLOTLY_ESM`)."""
    bundle = str(go.FigureWidget._esm)
    fitting = _fitting_esm(bundle)
    if fitting is None:  # drawn at the width of their first rendering, as plotly does it
        log.debug("plotly's widget bundle has an unexpected export: figures do not resize")
        return bundle
    return fitting


#: The front-end module of every dashboard figure: a few hundred bytes that import plotly's
#: module (:func:`_figure_esm`, ~5 MB) from the text of the :class:`PlotlyModule` widget the
#: figure names (``_sendkit_plotly``), once per page, and hand each figure on to it. anywidget
#: imports a module text from a blob URL, as this does; ``model.widget_manager`` is how an
#: anywidget model finds another model (the same in JupyterLab and in an exported page). A
#: failed load is not kept, so the next figure tries again.
_SHARED_PLOTLY_ESM = """
const modules = (globalThis.__sendkitPlotlyModules ??= new Map());
function plotlyModule(model) {
  const id = String(model.get("_sendkit_plotly")).replace(/^IPY_MODEL_/, "");
  let loaded = modules.get(id);
  if (!loaded) {
    loaded = model.widget_manager.get_model(id).then(async (holder) => {
      const blob = new Blob([holder.get("source")], {type: "text/javascript"});
      const url = URL.createObjectURL(blob);
      try {
        return await import(url);
      } finally {
        URL.revokeObjectURL(url);
      }
    });
    loaded.catch(() => modules.delete(id));
    modules.set(id, loaded);
  }
  return loaded;
}
export default () => {
  let loading, plotly;
  const plotlyWidget = async (model) => {
    loading ??= plotlyModule(model).then((module) => module.default());
    return (plotly = await loading);
  };
  return {
    async initialize(context) {
      return (await plotlyWidget(context.model)).initialize?.(context);
    },
    // Synchronous once initialized (anywidget initializes a model before its views render),
    // as plotly's own render: it returns the view's cleanup.
    render(context) {
      if (plotly) return plotly.render(context);
      return plotlyWidget(context.model).then((widget) => widget.render(context));
    },
  };
};
"""


class PlotlyModule(widgets.Widget):  # type: ignore[misc]
    """A widget without a view that holds plotly's front-end module (:func:`_figure_esm`) as
    text, for every :class:`LiveFigure` of the kernel (:meth:`shared`).

    plotly's ``FigureWidget`` carries the module (~5 MB) as its own anywidget ``_esm``: eight
    charts put it eight times into a notebook that keeps its widgets' state (``jupyter
    nbconvert --execute`` does: a 40 MB page). A ``LiveFigure``'s ``_esm`` is small
    (:data:`_SHARED_PLOTLY_ESM`) and names this widget, whose model the page has once.
    """

    source = Unicode("").tag(sync=True)

    _shared: ClassVar[PlotlyModule | None] = None

    @classmethod
    def shared(cls) -> PlotlyModule:
        """The kernel's one holder, made on first use (again if it was closed, e.g. by
        ``Widget.close_all()``)."""
        if cls._shared is None or cls._shared.comm is None:
            cls._shared = cls(source=_figure_esm())
        return cls._shared


class LiveFigure(go.FigureWidget):  # type: ignore[misc]
    """A ``FigureWidget`` that reaches the browser whole, keeps its traces' uids, and says
    when the browser stopped listening to it.

    **Whole.** plotly's FigureWidget is an anywidget: each one ships plotly.js (about 5 MB) as
    its front-end module, and anywidget gives that module 2 seconds from the model's creation
    to load (the first figure of a page still waits for plotly.js, now loaded once for all
    of them: see below). When it takes longer (a busy machine, several figures loading at
    once), anywidget drops every message to that model from then on, for good (its
    ``_handle_comm_msg`` waits
    on a rejected promise, and JupyterLab swallows the error). A plain FigureWidget sends its
    layout and traces only as such messages, after the model is created; so a late module
    showed empty axes. A ``LiveFigure`` opens its comm only when it is first displayed or
    put into a container (``model_id`` is asked for), with its data and layout in the
    opening message, which anywidget always applies.

    **Listened to.** Right after opening, it moves ``_last_trace_edit_id`` on by one: plotly's
    view reports that id back when it renders, so a report of the id from before (the model
    never got the message) means the model is deaf. :attr:`deaf` is then True and
    ``on_deaf`` (if set) is called; later in-place updates would be lost, so the dashboard
    replaces a deaf figure by a new one (:meth:`fresh_copy`) instead of updating it.

    **uids.** A plain ``FigureWidget`` replaces every trace uid with a random one, so
    ``charts.update_figure`` (which matches traces by type and uid) would never recognise a
    trace and would delete and re-add all of them on every update. The widget's JavaScript
    addresses traces by index, not uid, so keeping the charts' uids is safe.

    **Width.** A figure whose layout sets no ``width`` fills the width of its element and
    follows it (the output area, a side panel opening or closing): its front-end module is
    plotly's, wrapped by :func:`_fitting_esm`.

    **plotly.js once.** That module is not the figure's own ``_esm``: the figure's is a small
    loader (:data:`_SHARED_PLOTLY_ESM`) of the module held by the :class:`PlotlyModule` in
    ``_sendkit_plotly``, shared by every figure.
    """

    _set_trace_uid = False
    # Class defaults, so that they exist while the base classes' __init__ runs.
    _may_open = False
    _closed = False
    _ping_id: int | None = None
    _edits_at_open: tuple[int, int] | None = None
    #: True once a view of this figure rendered without the messages sent after its opening.
    deaf = False
    #: Called with the figure when it turns out :attr:`deaf`.
    on_deaf: Callable[[LiveFigure], None] | None = None

    #: The holder of plotly's module that this figure's front end loads (see the class doc).
    _sendkit_plotly = Instance(PlotlyModule).tag(sync=True, **widgets.widget_serialization)

    # Read by AnyWidget.__init__, which makes it the synced "_esm" trait.
    _esm = _SHARED_PLOTLY_ESM

    @default("_sendkit_plotly")
    def _shared_plotly(self) -> PlotlyModule:
        return PlotlyModule.shared()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # ipywidgets opens the comm at the end of Widget.__init__, before plotly has put the
        # figure into the synced traits: held back until the figure is first referenced.
        super().__init__(*args, **kwargs)
        self._may_open = True

    def open(self) -> None:
        """Open the comm (once; never after :meth:`close`), the whole figure in its first
        message, then send the id a rendering view reports back (see the class doc)."""
        if self.comm is not None or not self._may_open or self._closed:
            return
        super().open()  # its state comes from get_state: the figure as it is now
        self._last_trace_edit_id += 1
        self._ping_id = self._last_trace_edit_id
        self._edits_at_open = (self._last_trace_edit_id, self._last_layout_edit_id)

    @property
    def model_id(self) -> str:
        """The widget's model id; opens the comm (with the whole figure) if need be."""
        self.open()
        return str(self.comm.comm_id)

    def get_state(self, key: str | Iterable[str] | None = None, drop_defaults: bool = False) -> Any:
        """The widget's state for the browser, ``_widget_data`` and ``_widget_layout`` (the
        whole figure) taken from the figure as it is now.

        plotly syncs those two only when they are assigned (at creation and on display), so
        a comm opened later, or a browser asking for the state again (a page reload), would
        get them out of date."""
        state = super().get_state(key=key, drop_defaults=drop_defaults)
        if not self._may_open:  # still being made: plotly's __init__ sets them
            return state
        wanted = self.keys if key is None else [key] if isinstance(key, str) else list(key)
        current = {"_widget_data": self._data, "_widget_layout": self._layout_obj._props}
        for name, value in current.items():
            if name in wanted:
                state[name] = self.trait_metadata(name, "to_json")(value, self)
        return state

    @contextmanager
    def batch_update(self) -> Iterator[None]:
        """plotly's ``batch_update``; then, when the batch left some of the traces it edited
        without a new value for a property it set on others, the traces are sent whole.

        plotly sends such a batch as one update whose gaps are "undefined": views on screen
        skip them, but plotly's browser model copies the update into its ``_widget_data``
        without decoding it, so a trace gets the literal text ``"_undefined_"`` (its bars
        vanish) in what a view created later (the figure shown again) draws."""
        if self._in_batch_mode:
            with super().batch_update():
                yield
            return
        with super().batch_update():
            yield
            edited = [frozenset(edits) for edits in self._batch_trace_edits.values()]
        if self.comm is not None and len(set(edited)) > 1:
            self.send_state("_widget_data")

    def _repr_mimebundle_(self, *args: Any, **kwargs: Any) -> Any:
        self.open()
        return super()._repr_mimebundle_(*args, **kwargs)

    def close(self) -> None:
        self._closed = True
        super().close()

    @property
    def changed_since_open(self) -> bool:
        """Whether an edit was sent after the opening message (none before it is open)."""
        edits = (self._last_trace_edit_id, self._last_layout_edit_id)
        return self._edits_at_open is not None and edits != self._edits_at_open

    def fresh_copy(self) -> LiveFigure:
        """A new, unopened ``LiveFigure`` of this one's current data and layout."""
        copy = LiveFigure(self)
        copy.on_deaf = self.on_deaf
        return copy

    @observe("_js2py_traceDeltas")
    def _view_reported(self, change: dict[str, Any]) -> None:
        # plotly's view reports the trace edit id it has seen: on rendering, and after
        # applying each update. Before the id sent at opening: the model missed that message.
        report = change["new"]
        if not isinstance(report, dict) or self._ping_id is None:
            return
        seen = report.get("trace_edit_id")
        if not isinstance(seen, int):
            return
        if seen >= self._ping_id:
            self.deaf = False
        elif not self.deaf:
            self.deaf = True
            log.debug("figure %s: the browser drops its updates", self.model_id)
            if self.on_deaf is not None:
                self.on_deaf(self)


def name_traces(key: str, figure: go.Figure) -> None:
    """Give every trace a uid: a :class:`LiveFigure` keeps the uids it is given, and the widget
    finds a trace again by its uid when the browser reports changes (the charts set uids on
    all their traces; this covers any that do not, with one stable across updates)."""
    for index, trace in enumerate(figure.data):
        if trace.uid is None:
            trace.uid = f"{key}-{index}-{trace.type}"
