"""Every notebook in ``notebooks/`` runs top to bottom on the demo API with no key, in a kernel
on this virtual environment's Python; the repository copies hold no outputs; the
quickstart's ``jupyter nbconvert --to html --execute`` export draws its charts offline; and the
dashboard notebook's export holds plotly.js once and draws a static copy of each chart offline."""

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
    jupyter = Path(sys.executable).parent / "jupyter"
    result = subprocess.run(
        [
            str(jupyter),
            "nbconvert",
            "--to",
            "html",
            "--execute",
            f"--ExecutePreprocessor.kernel_name={KERNEL}",
            str(source),
        ],
        cwd=tmp_path,
        env=kernel_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    page_file = tmp_path / "quickstart.html"
    page_text = page_file.read_text("utf-8")
    figures = page_text.count('class="plotly-graph-div"')
    assert figures == 1

    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    errors: list[tuple[str, str]] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "console",
        lambda m: errors.append((m.text, m.location.get("url", ""))) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: errors.append((f"uncaught: {e}", "")))
    try:
        page.goto(page_file.as_uri())
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
        context.close()
    assets = _template_assets()
    assert all(url.startswith(assets) for url in blocked), blocked
    assert not [url for url in blocked if "plotly" in url]
    # The only console errors are the failed loads of those template assets.
    unexpected = [(text, url) for text, url in errors if not url.startswith(assets)]
    assert unexpected == []


#: The dashboard notebook's HTML export, at most this large (5.2 MB measured). It was 41 MB
#: when every live figure carried its own plotly.js; now plotly.js (about 4.8 MB) comes once,
#: with the dashboard's static copy (its charts' data are a few kB each).
DASHBOARD_EXPORT_MAX_BYTES = 6_000_000
#: The dashboard's charts on show by default (the A/B variants chart is hidden until "Split by
#: variant" is on).
DASHBOARD_CHARTS = 7


def _plotlyjs_marker() -> str:
    """A stretch of plotly.js's own text that neither HTML nor JSON escaping changes, to count
    the copies of plotly.js in a page."""
    from plotly.offline import get_plotlyjs

    source = get_plotlyjs()
    middle = len(source) // 2
    for start in range(middle, len(source) - 80):
        chunk = source[start : start + 80]
        if not any(c in chunk for c in "\"'\\<>&\n\r/"):
            return chunk
    raise AssertionError("no plain stretch in plotly.js")


@pytest.mark.slow
def test_dashboard_notebook_exports_small_with_static_charts_that_draw_offline(
    kernel_env: dict[str, str], tmp_path: Path, browser: Browser, test_output: Path
) -> None:
    # Executed as JupyterLab saves a notebook by default: outputs, no widget state (nbconvert
    # then draws each output's HTML, here the dashboard's static copy, not the widgets).
    nb = nbformat.read(ROOT / "notebooks" / "dashboard.ipynb", as_version=4)
    NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=300,
        store_widget_state=False,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    source = tmp_path / "dashboard.ipynb"
    nbformat.write(nb, source)
    jupyter = Path(sys.executable).parent / "jupyter"
    result = subprocess.run(
        [str(jupyter), "nbconvert", "--to", "html", str(source)],
        cwd=tmp_path,
        env=kernel_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    page_file = tmp_path / "dashboard.html"
    size = page_file.stat().st_size
    assert size < DASHBOARD_EXPORT_MAX_BYTES, size
    page_text = page_file.read_text("utf-8")
    assert page_text.count(_plotlyjs_marker()) == 1
    assert page_text.count('class="plotly-graph-div"') == DASHBOARD_CHARTS
    assert "sendkit-dashboard-static" in page_text

    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    blocked: list[str] = []
    errors: list[tuple[str, str]] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "console",
        lambda m: errors.append((m.text, m.location.get("url", ""))) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: errors.append((f"uncaught: {e}", "")))
    try:
        page.goto(page_file.as_uri())
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
            arg=DASHBOARD_CHARTS,
        )
        plots = page.locator(".sendkit-dashboard-static .js-plotly-plot")
        assert plots.count() == DASHBOARD_CHARTS
        area = page.locator(".sendkit-dashboard-static").bounding_box()
        assert area is not None
        for i in range(plots.count()):
            box = plots.nth(i).bounding_box()
            # Drawn, as wide as the page's output column, not wider.
            assert box and box["height"] > 200 and area["width"] - 5 < box["width"], box
            assert box["x"] + box["width"] <= area["x"] + area["width"] + 1, box
        assert page.locator(".sendkit-dashboard-static .js-plotly-plot .bars path").count() > 0
        page.locator(".sendkit-dashboard-static").screenshot(
            path=str(test_output / "dashboard-nbconvert.png")
        )
    finally:
        context.close()
    assets = _template_assets()
    assert all(url.startswith(assets) for url in blocked), blocked
    unexpected = [(text, url) for text, url in errors if not url.startswith(assets)]
    assert unexpected == []
