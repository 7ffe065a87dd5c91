"""The dashboard notebook run and exported by ``jupyter nbconvert --to html --execute``.

An executed export keeps the state of every widget the notebook made, and shows the dashboard
as its widgets (the state wins over the static copy in nbconvert's choice of output). plotly's
``FigureWidget`` carries plotly's front-end module (~5 MB) in its state: seven charts made a
36 MB page. The dashboard's figures carry a small loader instead, and one hidden widget holds
the module for all of them (``sendkit_nb.widgets._figure``).

Checked here: the page is small and holds plotly's module once; and the state it keeps draws
every chart in headless Chromium with nothing fetched from the network: each figure's stored
front-end module, given a stand-in for its jupyter-widgets model (as in
``test_figure_widget_browser.py``), loads plotly's module from the stored holder and draws the
stored figure. (The page itself loads the widget manager from a CDN, as every nbconvert export
with widgets does; that part is nbconvert's and not exercised here.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sendkit_nb.widgets._figure import _figure_esm

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"
ORIGIN = "http://sendkit.test"
#: Bound on the executed export: plotly's module once (~5 MB) and the rest. It was 36 MB with
#: the module in every chart's state.
MAX_BYTES = 12_000_000
#: Bound on a figure's own front-end module, now a loader of the shared one.
MAX_FIGURE_ESM = 4_000
STATE_SCRIPT = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>', re.S
)

#: ``window.drawStored({figures, holders})``: each stored figure drawn by its stored module,
#: whose model stand-in finds the holder of plotly's module by id (``widget_manager``, as an
#: anywidget model has it); what each drew, and how many times plotly's module was imported.
HARNESS = """async ({figures, holders}) => {
    const drawn = [];
    for (const state of figures) {
        const model = {
            get: (key) => state[key],
            set: () => {}, on: () => {}, off: () => {}, save_changes: () => {}, send: () => {},
            widget_manager: {get_model: async (id) => ({get: (key) => holders[id][key]})},
        };
        const url = URL.createObjectURL(new Blob([state._esm], {type: 'text/javascript'}));
        const module = await import(url);
        const widget = module.default();
        await widget.initialize({model});
        const el = document.createElement('div');
        el.style.width = '900px';
        document.body.append(el);
        const rendered = new Promise((resolve) => document.addEventListener(
            'plotlywidget-after-render', (e) => { if (e.detail.element === el) resolve(); }));
        await widget.render({model, el});
        await rendered;
        drawn.push({
            traces: el.data.length,
            title: el.layout.title?.text ?? null,
            plots: el.querySelectorAll('.main-svg').length,
        });
    }
    return {drawn, imports: globalThis.__sendkitPlotlyModules.size};
}"""


@pytest.fixture(scope="module")
def executed_export(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The dashboard notebook executed and exported to HTML by nbconvert's command line, with
    no SendKit key (so it runs on the embedded demo API)."""
    folder = tmp_path_factory.mktemp("export")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDKIT_")}
    # nbconvert starts the notebook's kernel ("python3") with the Python running it: this one.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbconvert",
            "--to",
            "html",
            "--execute",
            "--ExecutePreprocessor.timeout=600",
            "--output-dir",
            str(folder),
            str(NOTEBOOK),
        ],
        check=True,
        env=env,
        cwd=folder,
        capture_output=True,
        timeout=900,
    )
    return (folder / "dashboard.html").read_text("utf-8")


def widget_state(page: str) -> dict[str, Any]:
    found = STATE_SCRIPT.search(page)
    assert found is not None, "the export keeps no widget state"
    state: dict[str, Any] = json.loads(found.group(1))["state"]
    return state


def test_the_executed_export_holds_plotlys_module_once(executed_export: str) -> None:
    assert len(executed_export.encode()) < MAX_BYTES
    models = widget_state(executed_export)
    figures = {k: m["state"] for k, m in models.items() if m["model_name"] == "AnyModel"}
    # Every chart on show but the A/B chart (hidden until "Split by variant", never sent).
    assert len(figures) == 7
    holders = {k for k, m in models.items() if m["state"].get("source") == _figure_esm()}
    assert len(holders) == 1
    for figure in figures.values():
        assert len(figure["_esm"]) < MAX_FIGURE_ESM
        assert figure["_sendkit_plotly"] == f"IPY_MODEL_{next(iter(holders))}"
        assert figure["_widget_data"], "the chart's data is in its stored state"
    # plotly's module itself is in the page once (a stretch of its text, which neither HTML nor
    # JSON escaping changes, found once).
    assert executed_export.count(_plain_stretch(_figure_esm())) == 1


def _plain_stretch(source: str) -> str:
    """80 characters from the middle of ``source`` that no escaping changes."""
    for start in range(len(source) // 2, len(source) - 80):
        chunk = source[start : start + 80]
        if not any(c in chunk for c in "\"'\\<>&\n\r/"):
            return chunk
    raise AssertionError("no plain stretch in the module")


@pytest.fixture()
def offline_page(browser: Browser) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A blank page at a made-up origin; every other request is aborted and recorded."""
    context = browser.new_context(offline=True)
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def serve(route: Route) -> None:
        if route.request.url.startswith(ORIGIN):
            route.fulfill(
                body="<!doctype html><html><body></body></html>", content_type="text/html"
            )
        else:
            requests.append(route.request.url)
            route.abort()

    context.route("**/*", serve)
    page.goto(f"{ORIGIN}/index.html")
    yield page, errors, requests
    context.close()


def test_the_stored_state_draws_every_chart_offline(
    executed_export: str, offline_page: tuple[Page, list[str], list[str]]
) -> None:
    page, errors, requests = offline_page
    models = widget_state(executed_export)
    figures = [m["state"] for m in models.values() if m["model_name"] == "AnyModel"]
    holders = {k: m["state"] for k, m in models.items() if "source" in m["state"]}
    result = page.evaluate(HARNESS, {"figures": figures, "holders": holders})
    assert result["imports"] == 1  # plotly's module loaded once for every chart
    for state, drawn in zip(figures, result["drawn"], strict=True):
        assert drawn["traces"] == len(state["_widget_data"]) > 0
        assert drawn["title"] == state["_widget_layout"]["title"]["text"]
        assert drawn["plots"] >= 1
    assert errors == [] and requests == []
