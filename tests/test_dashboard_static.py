"""The dashboard outside a live kernel: the outputs its display publishes in an IPython shell
(the live widget with plotly.js for HTML exports, and the static copy exports and kernel-less
notebooks show) and how the copy follows the dashboard; and the front-end module that makes
its figures fit their output area. In Chromium here: the copy on a page of its own (exported
notebooks are drawn in ``test_notebooks.py``, the live widgets in
``test_figure_widget_browser.py`` and ``test_dashboard_browser.py``)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.io as pio
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.display import display
from IPython.utils.capture import RichOutput, capture_output

import sendkit_nb as sk
from sendkit_nb._renderer import NOTEBOOK_RENDERERS, use_offline_renderer
from sendkit_nb.widgets import Dashboard
from sendkit_nb.widgets._figure import _fitting_esm
from sendkit_nb.widgets._static import (
    PLOTLYJS_TYPE,
    NotebookCopy,
    _figure_json,
    copy_body,
    copy_html,
)
from tests.conftest import OfflinePage

if TYPE_CHECKING:
    from playwright.sync_api import Browser

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CHART_JSON = re.compile(
    r'<div class="sk-static-chart"><div class="plotly-graph-div" style="([^"]*)"></div>'
    r'<script type="application/json">(.*?)</script></div>'
)


@pytest.fixture()
def shell() -> InteractiveShell:
    """An IPython shell (displays go through it; its ``post_run_cell`` is the end of a cell)."""
    return InteractiveShell.instance()


@pytest.fixture()
def dash(client: sk.SendKitClient, shell: InteractiveShell) -> Iterator[Dashboard]:
    d = Dashboard(client)
    yield d
    d.close()


def _shown(dash: Dashboard) -> list[RichOutput]:
    with capture_output() as captured:
        display(dash)  # type: ignore[no-untyped-call]  # IPython's display is untyped
    return captured.outputs


def _end_of_cell(shell: InteractiveShell) -> list[RichOutput]:
    with capture_output() as captured:
        shell.events.trigger("post_run_cell", None)
    return captured.outputs


def _charts(html: str) -> list[tuple[str, dict[str, Any]]]:
    """Each chart of a copy: its box's style and its figure."""
    return [(style, json.loads(figure)) for style, figure in CHART_JSON.findall(html)]


def _figures(dash: Dashboard) -> list[dict[str, Any]]:
    """The figures on show, as the copy's JSON holds them."""
    return [json.loads(pio.to_json(f, validate=False)) for f in dash.ui.shown_figures()]


def test_display_publishes_the_widget_with_plotlyjs_and_the_static_copy(dash: Dashboard) -> None:
    widget, copy = _shown(dash)
    assert widget.data[WIDGET_VIEW]["model_id"] == dash.widget.model_id
    assert widget.data["text/plain"] == repr(dash)
    assert not widget.transient
    # The widget's HTML alternative (what nbconvert draws without widget state): plotly.js
    # once, in a script that does not run (the copy runs it when it draws).
    holder = widget.data["text/html"]
    assert holder.count(f'<script type="{PLOTLYJS_TYPE}">') == 1 and holder.count("<script") == 1
    assert len(holder) > 1_000_000

    # The copy, replaceable by its display id: the header, the KPI cards and each chart on
    # show (the A/B chart is hidden until "Split by variant") as its figure, in order.
    html = copy.data["text/html"]
    assert list(copy.data) == ["text/html"]
    assert copy.transient == {"display_id": dash._notebook_copy().display_id}
    assert "sk-campaign-header" in html and html.count('class="sk-kpi"') == len(dash.kpis)
    charts = _charts(html)
    assert len(charts) == len(dash.figures) - 1 == html.count('class="plotly-graph-div"')
    assert [figure for _, figure in charts] == _figures(dash)
    # Each box as tall as its figure (the rates chart has a panel per rate).
    heights = [style for style, _ in charts]
    assert heights == [f"height:{f['layout']['height']}px;width:100%" for f in _figures(dash)]
    # Nothing from a CDN, and no plotly.js in the copy itself: it is replaced after changes.
    assert "<script src=" not in html
    assert "plotly.js v" not in html and len(html) < 1_000_000

    # Hidden beside the live dashboard: the copy names the class the live root carries.
    live = re.search(r'data-sendkit-dashboard="([^"]+)"', html)
    assert live is not None and live[1] in dash.widget._dom_classes
    assert f"body:has(.{live[1]})" in html


def test_the_copy_follows_the_dashboard_at_the_end_of_each_cell(
    dash: Dashboard, shell: InteractiveShell, client: sk.SendKitClient
) -> None:
    first = _shown(dash)[1]
    campaigns = sk.load_campaigns(client)
    other = campaigns["campaign_id"][2]
    assert other != dash.selection.campaign_id
    dash.select_campaign(other)
    dash.set_statuses(["replied"])

    # The cell that made the changes ends: one replacement, of the same output, last state.
    (update,) = _end_of_cell(shell)
    assert update.update and update.transient == first.transient
    html = update.data["text/html"]
    name = campaigns.filter(campaign_id=other)["name"][0]
    assert f">{name}</b>" in html and "Status filter: <b>replied</b>" in html
    assert [figure for _, figure in _charts(html)] == _figures(dash)
    assert _charts(html) != _charts(first.data["text/html"])

    # Nothing changed since: nothing is published again.
    assert _end_of_cell(shell) == []
    # An action that draws the same: nothing either.
    dash.set_statuses(["replied"])
    assert _end_of_cell(shell) == []


def test_switches_in_quick_succession_cost_one_copy_made_after_them(
    dash: Dashboard, client: sk.SendKitClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In a kernel, widget callbacks run on its event loop, with no cell ending after them.
    monkeypatch.setattr(NotebookCopy, "delay", 0.05)
    _shown(dash)
    ids = sk.load_campaigns(client)["campaign_id"].to_list()

    async def switch() -> list[RichOutput]:
        with capture_output() as captured:
            dash.select_campaign(ids[1])
            dash.select_campaign(ids[2])
            dash.set_statuses(["replied"])
            assert captured.outputs == []  # nothing on the switch's own path
            await asyncio.sleep(0.5)
        return captured.outputs

    # On an event loop of its own, in a thread of its own: this thread may run one already
    # (Playwright's sync API does, once a browser test has started it).
    with ThreadPoolExecutor(1) as thread:
        (update,) = thread.submit(asyncio.run, switch()).result()
    assert update.update
    assert [figure for _, figure in _charts(update.data["text/html"])] == _figures(dash)
    assert "Status filter: <b>replied</b>" in update.data["text/html"]


def test_a_closed_dashboard_publishes_nothing_even_on_an_event_loop(
    client: sk.SendKitClient, shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NotebookCopy, "delay", 0.05)
    hooks = list(shell.events.callbacks["post_run_cell"])
    d = Dashboard(client)
    _shown(d)
    d.close()

    async def act() -> list[RichOutput]:
        with capture_output() as captured:
            d.set_statuses(["replied"])  # a callback of the closed dashboard, in a kernel
            await asyncio.sleep(0.3)
        return captured.outputs

    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, act()).result() == []
    _shown(d)  # shown again, it follows nothing
    assert shell.events.callbacks["post_run_cell"] == hooks
    assert _end_of_cell(shell) == []


def test_an_undisplayed_dashboard_publishes_nothing_and_close_stops_the_copy(
    client: sk.SendKitClient, shell: InteractiveShell
) -> None:
    hooks = list(shell.events.callbacks["post_run_cell"])
    d = Dashboard(client)
    try:
        d.set_statuses(["replied"])
        assert _end_of_cell(shell) == []
        assert d._static_copy is None  # the switch path does not even make a copy
        assert "Status filter: <b>replied</b>" in d.static_html()
        assert _end_of_cell(shell) == []  # asking for the HTML displays nothing
        _shown(d)
        assert len(shell.events.callbacks["post_run_cell"]) == len(hooks) + 1
    finally:
        d.close()
    assert shell.events.callbacks["post_run_cell"] == hooks
    d.set_statuses([])  # a closed dashboard's copy is not replaced
    assert _end_of_cell(shell) == []


def test_static_html_stands_alone_with_plotlyjs(dash: Dashboard) -> None:
    html = dash.static_html()
    assert html.count(f'<script type="{PLOTLYJS_TYPE}">') == 1
    assert [figure for _, figure in _charts(html)] == _figures(dash)
    dash.set_options(by_variant=True)
    assert len(_charts(dash.static_html())) == len(dash.figures)


def test_the_copy_leaves_plotlyjs_to_the_offline_renderer(
    dash: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The renderer put plotly.js into the notebook when it was activated.
    monkeypatch.setattr(pio.renderers, "default", pio.renderers.default)
    monkeypatch.setattr("IPython.display.display_html", lambda *a, **k: None)
    assert use_offline_renderer() == NOTEBOOK_RENDERERS
    widget, _ = _shown(dash)
    # No plotly.js, and no one-line summary of this first view in an HTML export either: the
    # copy stands for the dashboard there.
    assert widget.data["text/html"].startswith("<!--") and len(widget.data["text/html"]) < 100
    html = dash.static_html()
    assert f'<script type="{PLOTLYJS_TYPE}">' not in html and len(html) < 1_000_000
    assert _charts(html)


def _open_offline(browser: Browser, html: str, where: Path) -> OfflinePage:
    """``html`` as a page opened from a file with no network (its console errors, and its
    requests, which the copy must not make, recorded)."""
    where.write_text(f"<!doctype html><html><body>{html}</body></html>", "utf-8")
    offline = OfflinePage(browser)
    offline.goto(where)
    return offline


def test_the_copy_on_a_page_of_its_own_draws_or_says_why_not(
    dash: Dashboard, browser: Browser, tmp_path: Path
) -> None:
    charts = len(dash.figures) - 1
    # With its plotly.js (what static_html() gives): every chart drawn, nothing fetched.
    offline = _open_offline(browser, dash.static_html(), tmp_path / "alone.html")
    page = offline.page
    try:
        page.wait_for_function(
            "n => document.querySelectorAll('.sendkit-dashboard-static .main-svg').length >= n",
            arg=charts,
        )
        drawn = page.locator(".sendkit-dashboard-static .js-plotly-plot")
        assert drawn.count() == charts
        assert page.locator(".sk-static-missing").is_hidden()
    finally:
        offline.context.close()
    assert offline.requests == [] and offline.errors == []

    # With no plotly anywhere (a notebook reopened without its kernel): the header and the
    # cards, and a note on where the charts are drawn instead of blank boxes.
    copy = copy_html(copy_body(dash.ui), dash._notebook_copy().live_class)
    offline = _open_offline(browser, copy, tmp_path / "bare.html")
    page = offline.page
    try:
        page.locator(".sk-static-missing").wait_for(state="visible")
        assert "nbconvert" in page.locator(".sk-static-missing").inner_text()
        assert page.locator(".sendkit-dashboard-static .sk-campaign-header").is_visible()
        assert page.locator(".sendkit-dashboard-static .js-plotly-plot").count() == 0
    finally:
        offline.context.close()
    assert offline.requests == [] and offline.errors == []


@pytest.mark.parametrize(
    "text", ["</script><script>alert(1)</script>", "<!--<script>", "a < b > c & </SCRIPT >"]
)
def test_figure_text_cannot_end_the_script_that_holds_it(text: str) -> None:
    figure = {"data": [{"type": "bar", "x": [text], "y": [1]}], "layout": {"title": {"text": text}}}
    held = _figure_json(figure)
    assert "<" not in held
    assert json.loads(held)["layout"]["title"]["text"] == text


def test_the_fitting_module_wraps_plotlys_default_export() -> None:
    bundle = "var w=1;export{A as FigureModel,B as FigureView,c as default};\n/* licenses */"
    wrapped = _fitting_esm(bundle)
    assert wrapped is not None
    assert wrapped.startswith("var w=1;")
    assert "const widget = c();" in wrapped and "B.prototype.perform_render" in wrapped
    assert wrapped.endswith(
        "export{A as FigureModel,B as FigureView,sendkitFigureWidget as default}\n/* licenses */"
    )
    # Another plotly's bundle: used as it is (its figures then keep their first width).
    assert _fitting_esm("export{A as FigureModel,c as default};") is None
    assert _fitting_esm("no module exports") is None
