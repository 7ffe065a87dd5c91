"""Every notebook in ``notebooks/`` runs top to bottom on the demo API with no key, in a kernel
on this virtual environment's Python; the repository copies hold no outputs; the
quickstart's ``jupyter nbconvert --to html --execute`` export draws its charts offline; and the
dashboard notebook's export holds plotly.js once and draws a static copy of the dashboard as it
was last drawn offline, with or without the widgets' state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import OfflinePage

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "sendkit-nb-tests"
PLOTLY_MIME = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An environment whose Jupyter finds a kernel spec running *this* interpreter (the
    project's .venv), and that has no SendKit key, so notebooks fall back to the demo API."""
    data = tmp_path_factory.mktemp("jupyter")
    spec = data / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "sendkit_nb tests",
                "language": "python",
            }
        )
    )
    jupyter_path = os.pathsep.join(filter(None, [str(data), os.environ.get("JUPYTER_PATH")]))
    # nbclient starts the kernel with this process's environment.
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("SENDKIT_")]:
            patch.delenv(name)
        patch.setenv("JUPYTER_PATH", jupyter_path)
        yield dict(os.environ)


def _execute(path: Path, workdir: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    # One extra cell, run last and checked below: which interpreter ran the kernel.
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('KERNEL-PYTHON', sys.executable)"))
    NotebookClient(
        nb, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(workdir)}}
    ).execute()
    return nb


@pytest.fixture(scope="module")
def executed(
    kernel_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, nbformat.NotebookNode]:
    """Every notebook, executed once (in a scratch folder: they may write files)."""
    workdir = tmp_path_factory.mktemp("notebooks")
    return {path.name: _execute(path, workdir) for path in NOTEBOOKS}


def _outputs(nb: nbformat.NotebookNode) -> list[Any]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def test_the_expected_notebooks_exist() -> None:
    names = {path.name for path in NOTEBOOKS}
    assert {"quickstart.ipynb", "ab-testing.ipynb", "who_replies.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_notebooks_have_no_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_keyless_on_the_demo_api(
    path: Path, executed: dict[str, nbformat.NotebookNode]
) -> None:
    nb = executed[path.name]
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"KERNEL-PYTHON {sys.executable}" in text
    # Keyless: the notebook said it used the demo API (connect() or the dashboard's banner).
    shown = json.dumps([o for o in outputs if o.output_type != "stream"]) + text
    assert "demo API" in shown
    assert "sk_demo_workspace_key" not in shown


def test_quickstart_and_ab_notebooks_draw_charts_and_write_a_report(
    executed: dict[str, nbformat.NotebookNode],
) -> None:
    for name, charts in (("quickstart.ipynb", 1), ("ab-testing.ipynb", 3)):
        outputs = _outputs(executed[name])
        figures = [o for o in outputs if PLOTLY_MIME in o.get("data", {})]
        assert len(figures) == charts, name
        # The HTML copy for exports: no figure pulls anything from a CDN.
        for fig in figures:
            assert "<script src=" not in fig["data"]["text/html"]
    stream = "".join(
        o.get("text", "") for o in _outputs(executed["quickstart.ipynb"]) if "text" in o
    )
    assert "wrote quickstart-report.html" in stream


def test_who_replies_notebook_draws_senders_and_segments_and_writes_a_report(
    executed: dict[str, nbformat.NotebookNode],
) -> None:
    outputs = _outputs(executed["who_replies.ipynb"])
    figures = [o for o in outputs if PLOTLY_MIME in o.get("data", {})]
    charts = [f["data"][PLOTLY_MIME]["layout"]["meta"]["sendkit_chart"] for f in figures]
    assert charts == ["breakdown", "breakdown", "mailboxes"]
    shown = json.dumps([o.get("data", {}).get("text/plain", "") for o in outputs])
    # the inbox funnel's own column, and the attribution changes the demo has
    assert "auto_replied" in shown and "moved" in shown and "auto_reply" in shown
    assert "who_replies_report.html" in shown


# nbconvert's own page template loads these from CDNs (require.js, MathJax, the widget
# manager); offline they fail whatever the notebook holds. Everything else must stay local.
def _template_assets() -> tuple[str, ...]:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter()
    return (
        exporter.require_js_url,
        exporter.mathjax_url,
        exporter.jupyter_widgets_base_url + "@jupyter-widgets/html-manager@",
    )


@pytest.mark.slow
def test_nbconvert_export_of_the_quickstart_draws_its_charts_offline(
    kernel_env: dict[str, str], tmp_path: Path, browser: Browser, test_output: Path
) -> None:
    source = tmp_path / "quickstart.ipynb"
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", source)
    page_file = _nbconvert(
        source, kernel_env, "--execute", f"--ExecutePreprocessor.kernel_name={KERNEL}"
    )
    page_text = page_file.read_text("utf-8")
    figures = page_text.count('class="plotly-graph-div"')
    assert figures == 1

    offline = ExportPage(browser, page_file)
    page = offline.page
    try:
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
            arg=figures,
        )
        plots = page.locator(".js-plotly-plot")
        assert plots.count() == figures
        for i in range(plots.count()):
            assert plots.nth(i).locator(".main-svg").count() >= 1
            box = plots.nth(i).bounding_box()
            assert box and box["width"] > 600 and box["height"] > 300
        plots.first.scroll_into_view_if_needed()
        page.screenshot(path=str(test_output / "quickstart-nbconvert.png"))
    finally:
        offline.context.close()
    offline.check_nothing_but_template_assets_failed()


#: The dashboard notebook's HTML export, at most this large (5.2 MB measured). It was 41 MB
#: when every live figure carried its own plotly.js; now plotly.js (about 4.8 MB) comes once,
#: with the dashboard's static copy (its charts' data are a few kB each).
DASHBOARD_EXPORT_MAX_BYTES = 6_000_000
#: The same executed by ``jupyter nbconvert --execute``, which stores the widgets' state: plotly
#: once (the figures' shared module in that state), the figures' data in the state and in the
#: static copy (5.8 MB measured).
DASHBOARD_EXECUTED_EXPORT_MAX_BYTES = 6_500_000
#: The dashboard's charts on show by default (the A/B variants chart is hidden until "Split by
#: variant" is on).
DASHBOARD_CHARTS = 7
STATIC = ".sendkit-dashboard-static"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"

#: Cells run after the dashboard notebook's own: the analyst switches campaign and status,
#: and the kernel says what the dashboard then shows (its campaign, the first one's, the
#: funnel's steps and counts), for the export to be checked against.
LAST_STATE_CELLS = [
    "first = dash.selection.campaign_id\n"
    "campaigns = sk.load_campaigns(dash.client)\n"
    "dash.select_campaign(campaigns['campaign_id'][2])",
    "dash.set_statuses(['replied'])",
    "import json\n"
    "names = dict(zip(campaigns['campaign_id'], campaigns['name']))\n"
    "funnel = dash.figures['funnel'].data[0]\n"
    "print('LAST-STATE', json.dumps({'first': names[first],"
    " 'last': names[dash.selection.campaign_id], 'steps': list(funnel.x),"
    " 'counts': [int(v) for v in funnel.y], 'leads': dash.view.headline['leads']}))",
]


def _plotlyjs_marker(source: str | None = None) -> str:
    """A stretch of plotly.js's own text (or of ``source``) that neither HTML nor JSON
    escaping changes, to count the copies of it in a page."""
    from plotly.offline import get_plotlyjs

    source = source if source is not None else get_plotlyjs()
    middle = len(source) // 2
    for start in range(middle, len(source) - 80):
        chunk = source[start : start + 80]
        if not any(c in chunk for c in "\"'\\<>&\n\r/"):
            return chunk
    raise AssertionError("no plain stretch in plotly.js")


def _nbconvert(source: Path, env: dict[str, str], *options: str) -> Path:
    """``jupyter nbconvert --to html`` ``source`` (with ``options``); the page it wrote."""
    jupyter = Path(sys.executable).parent / "jupyter"
    result = subprocess.run(
        [str(jupyter), "nbconvert", "--to", "html", *options, str(source)],
        cwd=source.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return source.with_suffix(".html")


class ExportPage(OfflinePage):
    """A notebook's HTML export opened offline (see :class:`tests.conftest.OfflinePage`)."""

    def __init__(self, browser: Browser, page_file: Path) -> None:
        super().__init__(browser)
        self.goto(page_file)

    def check_nothing_but_template_assets_failed(self) -> None:
        """Only nbconvert's own CDN assets were asked for, and failing them was the only
        console error: the notebook's charts need nothing from the network."""
        assets = _template_assets()
        assert all(url.startswith(assets) for url in self.requests), self.requests
        assert not [url for url in self.requests if "plotly" in url]
        unexpected = [(text, url) for text, url in self.errors if not url.startswith(assets)]
        assert unexpected == []

    def wait_for_static_charts(self) -> None:
        """Until every chart of the static copy is drawn (an SVG in each)."""
        self.page.wait_for_function(
            "([sel, n]) => [...document.querySelectorAll(sel + ' .plotly-graph-div')]"
            ".filter(div => div.querySelector('.main-svg')).length >= n",
            arg=[STATIC, DASHBOARD_CHARTS],
        )


@pytest.fixture(scope="module")
def dashboard_export(
    kernel_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """The dashboard notebook, with :data:`LAST_STATE_CELLS` after its own, executed as
    JupyterLab saves a notebook by default (outputs, no widget state: nbconvert then draws
    each output's HTML, not the widgets) and exported to HTML: the page, and what the kernel
    said the dashboard showed last."""
    workdir = tmp_path_factory.mktemp("dashboard-export")
    nb = nbformat.read(ROOT / "notebooks" / "dashboard.ipynb", as_version=4)
    nb.cells.extend(nbformat.v4.new_code_cell(code) for code in LAST_STATE_CELLS)
    NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=300,
        store_widget_state=False,
        resources={"metadata": {"path": str(workdir)}},
    ).execute()
    outputs = _outputs(nb)
    assert not [o for o in outputs if o.output_type == "error"]
    said = next(
        line.removeprefix("LAST-STATE ")
        for o in outputs
        if o.output_type == "stream"
        for line in o.text.splitlines()
        if line.startswith("LAST-STATE ")
    )
    source = workdir / "dashboard.ipynb"
    nbformat.write(nb, source)
    return _nbconvert(source, kernel_env), json.loads(said)


@pytest.mark.slow
def test_dashboard_notebook_exports_small_with_static_charts_that_draw_offline(
    dashboard_export: tuple[Path, dict[str, Any]], browser: Browser, test_output: Path
) -> None:
    page_file, _ = dashboard_export
    size = page_file.stat().st_size
    assert size < DASHBOARD_EXPORT_MAX_BYTES, size
    page_text = page_file.read_text("utf-8")
    assert page_text.count(_plotlyjs_marker()) == 1
    assert page_text.count('class="plotly-graph-div"') == DASHBOARD_CHARTS
    assert page_text.count('class="sendkit-dashboard-static"') == 1

    offline = ExportPage(browser, page_file)
    page = offline.page
    try:
        offline.wait_for_static_charts()
        plots = page.locator(f"{STATIC} .js-plotly-plot")
        assert plots.count() == DASHBOARD_CHARTS
        area = page.locator(STATIC).bounding_box()
        assert area is not None
        for i in range(plots.count()):
            box = plots.nth(i).bounding_box()
            # Drawn, as wide as the page's output column, not wider.
            assert box and box["height"] > 200 and area["width"] - 5 < box["width"], box
            assert box["x"] + box["width"] <= area["x"] + area["width"] + 1, box
        assert page.locator(f"{STATIC} .js-plotly-plot .bars path").count() > 0
        page.locator(STATIC).screenshot(path=str(test_output / "dashboard-nbconvert.png"))
    finally:
        offline.context.close()
    offline.check_nothing_but_template_assets_failed()


@pytest.mark.slow
def test_dashboard_notebook_export_shows_the_dashboard_as_last_drawn(
    dashboard_export: tuple[Path, dict[str, Any]], browser: Browser
) -> None:
    page_file, said = dashboard_export
    assert said["first"] != said["last"]
    offline = ExportPage(browser, page_file)
    page = offline.page
    try:
        offline.wait_for_static_charts()
        header = page.locator(f"{STATIC} .sk-campaign-header").inner_text()
        assert said["last"] in header and said["first"] not in header, header
        assert "Status filter: replied" in header, header
        leads = page.locator(f"{STATIC} .sk-kpi[data-kpi='leads']").inner_text()
        assert str(said["leads"]) in leads.replace(",", ""), leads
        # The funnel drawn is the last campaign's, under the status filter: its steps (the
        # last campaign's subjects) and its counts, as the kernel had them.
        funnel = page.evaluate(
            "sel => { const gd = document.querySelector(sel + ' .js-plotly-plot');"
            " return {steps: Array.from(gd.data[0].x), counts: Array.from(gd.data[0].y)}; }",
            STATIC,
        )
        assert funnel == {"steps": said["steps"], "counts": said["counts"]}
    finally:
        offline.context.close()
    offline.check_nothing_but_template_assets_failed()


@pytest.mark.slow
def test_executed_dashboard_export_with_widget_state_draws_the_static_copy_offline(
    kernel_env: dict[str, str], tmp_path: Path, browser: Browser, test_output: Path
) -> None:
    # nbconvert's own run stores the widgets' state: the page then holds the live widget views,
    # which only its widget manager (loaded from a CDN) can draw.
    source = tmp_path / "dashboard.ipynb"
    shutil.copy(ROOT / "notebooks" / "dashboard.ipynb", source)
    page_file = _nbconvert(
        source, kernel_env, "--execute", f"--ExecutePreprocessor.kernel_name={KERNEL}"
    )
    from sendkit_nb.widgets._figure import _figure_esm

    page_text = page_file.read_text("utf-8")
    assert WIDGET_STATE_MIME in page_text
    # plotly once: the figures' shared module in the widgets' state, which the copy draws
    # with; the widget's HTML alternative (plotly.js, for pages without state) is not drawn.
    assert page_text.count(_plotlyjs_marker(_figure_esm())) == 1
    assert page_text.count(_plotlyjs_marker()) == 0
    size = page_file.stat().st_size
    assert size < DASHBOARD_EXECUTED_EXPORT_MAX_BYTES, size

    offline = ExportPage(browser, page_file)
    page = offline.page
    try:
        offline.wait_for_static_charts()
        assert page.locator(f"{STATIC} .js-plotly-plot").count() == DASHBOARD_CHARTS
        page.locator(STATIC).screenshot(path=str(test_output / "dashboard-nbconvert-state.png"))
        # Online, the widget manager draws the live dashboard from the stored state: its root
        # has the class the copy names, and once a live chart is drawn in it the copy hides
        # (no dashboard twice). Here a stand-in for that drawn root, as the manager makes it.
        live = page.locator(STATIC).get_attribute("data-sendkit-dashboard")
        state = json.loads(
            page.locator(f"script[type='{WIDGET_STATE_MIME}']").text_content() or "{}"
        )
        roots = [
            model
            for model in state["state"].values()
            if live in model["state"].get("_dom_classes", [])
        ]
        assert len(roots) == 1 and "sendkit-dashboard" in roots[0]["state"]["_dom_classes"]
        assert page.locator(STATIC).is_visible()
        # The live root alone hides it, charts drawn or not (a live dashboard with nothing
        # to chart must not show the copy under it either).
        page.evaluate(
            "cls => { const root = document.createElement('div'); root.className = cls;"
            " document.body.appendChild(root); }",
            live,
        )
        page.locator(STATIC).wait_for(state="hidden")
    finally:
        offline.context.close()
    offline.check_nothing_but_template_assets_failed()
