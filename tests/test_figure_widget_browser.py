"""The dashboard's figures drawn by plotly's own widget JavaScript in headless Chromium, from
what the kernel sent them, without JupyterLab.

plotly's ``FigureWidget`` is an anywidget whose front-end module is plotly.js (~5 MB, one copy
per figure). anywidget gives that module 2 s from the model's creation to load; past that it
drops every message to the model, for good (``AnyModel._handle_comm_msg`` awaits the rejected
``runtime.ready``; JupyterLab's kernel message chain swallows the error). The view, which loads
anyway, draws the model's state: what the comm's opening message held. On a busy machine this
left the dashboard's funnel as empty axes (``test_dashboard_in_jupyterlab`` failed about one run
in five).

Here a page imports plotly's bundle (``plotly/package_data/widgetbundle.js``) and gives its
default export (``initialize``/``render``, as anywidget calls them) a stand-in for the
jupyter-widgets model holding a recorded opening state; the later recorded messages are then
delivered to it (a model that listens) or not (a deaf one) before the view renders: the
view drawn late, as when the figure is shown after its updates or shown again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly
import plotly.graph_objects as go
import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb import charts, metrics
from sendkit_nb.widgets import Dashboard
from sendkit_nb.widgets._figure import _SHARED_PLOTLY_ESM, LiveFigure, PlotlyModule, _figure_esm
from tests.widget_wire import Wire

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

BUNDLE = Path(plotly.__file__).parent / "package_data" / "widgetbundle.js"
ORIGIN = "http://sendkit.test"

#: ``window.renderModel({opening, messages, deliver})``: a plotly widget view rendered from a
#: model opened with ``opening``, after ``messages`` were delivered to it (``deliver``) or
#: dropped; what it drew: trace names and y values, title, and the number of bar shapes.
HARNESS = """async () => {
    const plotlyWidget = await import('/widgetbundle.js');
    window.renderModel = async ({opening, messages, deliver}) => {
        // As jupyter-widgets' Backbone model: set every key of an update, then fire
        // change:<key> for each.
        const attributes = structuredClone(opening), handlers = {};
        const model = {
            get: (key) => attributes[key],
            set: (key, value) => { attributes[key] = value; },
            on: (event, handler) => { (handlers[event] ||= []).push(handler); },
            off: () => {},
            save_changes: () => {},
            send: () => {},
        };
        const widget = plotlyWidget.default();
        await widget.initialize({model});
        for (const message of deliver ? messages : []) {
            const state = message.state || {};
            Object.assign(attributes, state);
            for (const key of Object.keys(state)) {
                for (const handler of handlers['change:' + key] || []) handler();
            }
        }
        const el = document.createElement('div');
        document.body.append(el);
        const rendered = new Promise((resolve) => document.addEventListener(
            'plotlywidget-after-render', (e) => { if (e.detail.element === el) resolve(); }));
        widget.render({model, el});
        await rendered;
        return {
            traces: el.data.map((t) => [t.name ?? null, Array.from(t.y ?? [])]),
            title: el.layout.title?.text ?? null,
            bars: el.querySelectorAll('.bars path').length,
        };
    };
}"""

#: ``window.renderFitting({opening, widths})``: a view of the dashboard's figure module
#: (``/sendkit-figure.js``, which loads plotly's module, made to fit, from the holder its
#: model names: ``/sendkit-plotly.js`` here) rendered, as in JupyterLab, into an element not
#: yet on the page, which is then put into a box ``widths[0]`` px wide, resized to each of the
#: other widths in turn; the plot's width (its SVG's) once it settled at each. After the first
#: width, the kernel sets a new height (as an update of the chart does), which makes plotly.js
#: pin the width.
FITTING_HARNESS = """async () => {
    const module = await import('/sendkit-figure.js');
    const settled = async (el, want) => {
        for (let i = 0; i < 100; i++) {
            await new Promise((resolve) => setTimeout(resolve, 50));
            const svg = el.querySelector('.main-svg');
            if (svg && Math.abs(svg.getBoundingClientRect().width - want) <= 1) break;
        }
        return el.querySelector('.main-svg').getBoundingClientRect().width;
    };
    window.renderFitting = async ({opening, widths}) => {
        const attributes = structuredClone(opening), handlers = {};
        const model = {
            get: (key) => attributes[key],
            set: (key, value) => { attributes[key] = value; },
            on: (event, handler) => { (handlers[event] ||= []).push(handler); },
            off: () => {}, save_changes: () => {}, send: () => {},
            widget_manager: {get_model: async (id) => ({get: (key) => holder[key]})},
        };
        const holder = {source: await (await fetch('/sendkit-plotly.js')).text()};
        const relayout = (data) => {
            attributes._py2js_relayout = {
                relayout_data: data, layout_edit_id: 1, source_view_id: 'kernel'};
            for (const handler of handlers['change:_py2js_relayout'] || []) handler();
        };
        const widget = module.default();
        await widget.initialize({model});
        const el = document.createElement('div');
        const rendered = new Promise((resolve) => document.addEventListener(
            'plotlywidget-after-render', (e) => { if (e.detail.element === el) resolve(); }));
        const cleanup = widget.render({model, el});
        await rendered;
        const box = document.createElement('div');
        box.style.width = widths[0] + 'px';
        document.body.append(box);
        box.append(el);
        const drawn = [];
        for (const [i, width] of widths.entries()) {
            box.style.width = width + 'px';
            drawn.push(await settled(el, width));
            if (i === 0) relayout({height: 420});
        }
        cleanup();
        box.remove();
        return drawn;
    };
}"""


@pytest.fixture(scope="module")
def widget_page(browser: Browser) -> Iterator[Page]:
    """A blank page on which ``window.renderModel`` draws recorded widget models."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def serve(route: Route) -> None:
        if route.request.url.endswith("/widgetbundle.js"):
            route.fulfill(path=str(BUNDLE), content_type="text/javascript")
        elif route.request.url.endswith("/sendkit-figure.js"):
            route.fulfill(body=_SHARED_PLOTLY_ESM, content_type="text/javascript")
        elif route.request.url.endswith("/sendkit-plotly.js"):
            route.fulfill(body=_figure_esm(), content_type="text/javascript")
        else:
            route.fulfill(
                body="<!doctype html><html><body></body></html>", content_type="text/html"
            )

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/index.html")
    page.evaluate(HARNESS)
    page.evaluate(FITTING_HARNESS)
    yield page
    page.close()
    assert errors == []


def render(page: Page, wire: Wire, figure: Any, *, deliver: bool) -> dict[str, Any]:
    model_id = figure.model_id
    drawn: dict[str, Any] = page.evaluate(
        "(args) => window.renderModel(args)",
        {
            "opening": wire.openings[model_id],
            "messages": wire.messages[model_id],
            "deliver": deliver,
        },
    )
    return drawn


def bars_of(figure: go.Figure) -> list[list[Any]]:
    return [[trace.name, list(trace.y)] for trace in figure.data]


@pytest.fixture()
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    return Wire.install(monkeypatch)


def test_a_figure_widget_filled_after_opening_is_empty_in_a_deaf_model(
    widget_page: Page, wire: Wire, client: sk.SendKitClient
) -> None:
    # The dashboard's former way: an empty FigureWidget, opened, then filled in place.
    catalog = sk.load_campaigns(client)
    leads = sk.load_leads(client, catalog["campaign_id"][0], progress=False)
    figure = go.FigureWidget(layout={"template": charts.TEMPLATE, "title": {"text": "Funnel"}})
    charts.update_figure(figure, charts.step_funnel(metrics.funnel(leads, sequence=catalog)))

    listening = render(widget_page, wire, figure, deliver=True)
    assert listening["traces"] == bars_of(figure) and listening["bars"] > 0
    # The JupyterLab failure: no trace, not even the title.
    deaf = render(widget_page, wire, figure, deliver=False)
    assert deaf == {"traces": [], "title": None, "bars": 0}


def test_dashboard_figures_are_drawn_whether_or_not_the_model_listens(
    widget_page: Page, wire: Wire, client: sk.SendKitClient
) -> None:
    d = Dashboard(client)
    try:
        funnel = d.figures["funnel"]
        first = bars_of(funnel)
        for deliver in (True, False):
            drawn = render(widget_page, wire, funnel, deliver=deliver)
            assert drawn["traces"] == first and drawn["bars"] > 0, deliver
            assert drawn["title"] == funnel.layout.title.text
        for key in ("rates", "daily", "status", "ai_tags", "reply_curve", "campaigns"):
            drawn = render(widget_page, wire, d.figures[key], deliver=False)
            assert len(drawn["traces"]) == len(d.figures[key].data) > 0, key

        # Updated in place: a listening model draws the new bars (the update leaves gaps, which
        # plotly's model would copy as "_undefined_": Replied and Positive drawn empty, but
        # LiveFigure sends the traces whole after it), a deaf one the old ones...
        d.set_statuses(["replied"])
        assert d.figures["funnel"] is funnel
        replied = bars_of(funnel)
        assert replied != first
        assert render(widget_page, wire, funnel, deliver=True)["traces"] == replied
        assert render(widget_page, wire, funnel, deliver=False)["traces"] == first
        # ...and its view's report gets it replaced by a figure whose opening is up to date.
        wire.render_report(funnel, deaf=True)
        fresh = d.figures["funnel"]
        assert fresh is not funnel
        assert render(widget_page, wire, fresh, deliver=False)["traces"] == replied
        assert d.view is not None
        chosen = d.view.leads
        assert chosen["status"].cast(pl.String).unique().to_list() == ["replied"]
    finally:
        d.close()


def test_dashboard_figures_fit_their_element_and_follow_it(
    widget_page: Page, wire: Wire, client: sk.SendKitClient
) -> None:
    # plotly's module wrapped (not plotly's own, kept as is: the plotly in use has the export
    # the wrapper expects), and a figure of the dashboard loads it from the shared holder.
    assert _figure_esm() != BUNDLE.read_text("utf-8")
    catalog = sk.load_campaigns(client)
    leads = sk.load_leads(client, catalog["campaign_id"][0], progress=False)
    figure = LiveFigure(charts.step_funnel(metrics.funnel(leads, sequence=catalog)))
    assert figure._esm == _SHARED_PLOTLY_ESM and figure.layout.width is None
    assert figure._sendkit_plotly is PlotlyModule.shared()
    assert PlotlyModule.shared().source == _figure_esm()
    figure.open()
    fitted = widget_page.evaluate(
        "(args) => window.renderFitting(args)",
        {"opening": wire.openings[figure.model_id], "widths": [1000, 760, 900]},
    )
    # Drawn detached (at plotly's 700 px), then as wide as its box, whenever the box resizes.
    assert fitted == [1000, 760, 900]
    figure.close()
