"""The dashboard notebook in a real JupyterLab, driven by headless Chromium.

Starts JupyterLab on 127.0.0.1 (free port, no token) in a temporary folder holding a copy of
``notebooks/dashboard.ipynb``, with no SendKit key in the environment (so the kernel runs the
embedded demo API), runs every cell, waits for the plotly SVGs, then picks another campaign
and a status in the widgets and checks that the rendered funnel bars and KPI cards changed.
Screenshots go to ``test-output/`` (``dashboard.png`` is the README's picture).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"

# Generous: the first run imports polars and plotly in a cold kernel and renders eight plots
# in a software-rendered browser, on machines that may be busy with other tests.
WAIT_MS = 120_000

#: The rendered funnel bars (the first plot of the dashboard), as one string to compare.
FUNNEL_SIGNATURE = """() => {
    const plot = document.querySelector('.sendkit-dashboard .js-plotly-plot');
    if (!plot) return '';
    return [...plot.querySelectorAll('.bars path')].map(p => p.getAttribute('d')).join('|');
}"""
KPI_LEADS = ".sendkit-dashboard .sk-kpi[data-kpi='leads'] .sk-kpi-value"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_server(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {timeout} s")


@pytest.fixture()
def jupyterlab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server on a copy of the dashboard notebook; its URL."""
    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    # Keep JupyterLab's state out of the home directory, and its news toast off the page.
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    # Start the notebook's kernel without asking: on a slow start JupyterLab otherwise opens
    # a "Select Kernel" dialog in front of the page.
    tracker = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(
        json.dumps({"autoStartDefaultKernel": True})
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENDKIT_", "PLOTLY_"))}
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        IPYTHONDIR=str(tmp_path / "ipython"),
        # The kernel imports the package from this checkout, as the tests do.
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    port = free_port()
    log = (tmp_path / "jupyterlab.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",  # CI runs as root
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={work}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group, so the kernels it starts go down with it.
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{url}/api/status", proc, timeout=60)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()


def options_of(page: Page, selector: str) -> list[str]:
    texts: list[str] = page.locator(selector).evaluate(
        "s => [...s.options].map(o => o.textContent.trim())"
    )
    return texts


#: True once any code cell has started running (its prompt shows [*] or a number).
EXECUTION_STARTED = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""


#: Titles of the dashboard's plots that overlap their subtitle or one of their annotations (the
#: subtitle, the footnotes), after the title of every plot that has one.
OVERLAPPED_TITLES = """() => {
    const overlap = (a, b) => a.top < b.bottom && b.top < a.bottom
        && a.left < b.right && b.left < a.right;
    const plots = [...document.querySelectorAll('.sendkit-dashboard .js-plotly-plot')];
    const titled = plots.filter(p => p.querySelector('.gtitle'));
    const bad = titled.filter(p => {
        const title = p.querySelector('.gtitle').getBoundingClientRect();
        return [...p.querySelectorAll('.annotation-text, .gtitle-subtitle')]
            .some(n => overlap(title, n.getBoundingClientRect()));
    });
    return [titled.map(p => p.querySelector('.gtitle').textContent),
            bad.map(p => p.querySelector('.gtitle').textContent)];
}"""


def accept_dialog(page: Page) -> None:
    """Accept a modal dialog JupyterLab may open on a slow start (e.g. "Select Kernel" when the
    kernel list arrives late), which would otherwise swallow every click."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and dialog.first.is_visible():
        print("JupyterLab dialog:", dialog.first.inner_text().replace("\n", " | "))
        page.locator(".jp-Dialog .jp-mod-accept").first.click()
        dialog.first.wait_for(state="hidden", timeout=10_000)


def run_all_cells(page: Page) -> None:
    """Run > Run All Cells, again if the first try did not start anything.

    Right after the notebook opens, JupyterLab can drop the command while the kernel session
    is still connecting (the menu item is there, but nothing runs)."""
    for attempt in range(4):
        accept_dialog(page)
        try:
            # A dialog that opens meanwhile would take the clicks: short timeouts, then retry.
            page.get_by_role("menuitem", name="Run", exact=True).click(timeout=10_000)
            page.locator("li[data-command='runmenu:run-all']").click(timeout=10_000)
            page.wait_for_function(EXECUTION_STARTED, timeout=15_000)
            return
        except PlaywrightTimeout:
            if attempt == 3:
                raise
            page.keyboard.press("Escape")  # close a menu left open, then start over


@pytest.mark.slow
def test_dashboard_in_jupyterlab(jupyterlab: str, browser: Browser, test_output: Path) -> None:
    # Tall enough for the whole dashboard at once (JupyterLab scrolls inside the page, so a
    # screenshot only holds what fits), and wide enough for the 940 px plots.
    page = browser.new_page(viewport={"width": 1120, "height": 5600})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{jupyterlab}/doc/tree/{NOTEBOOK.name}")
        page.wait_for_selector(
            ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=WAIT_MS
        )
        run_all_cells(page)

        # Every chart rendered as SVG, the funnel with bars, and the demo notice shown.
        page.wait_for_selector(".sendkit-dashboard .js-plotly-plot .main-svg", timeout=WAIT_MS)
        page.wait_for_function(f"() => ({FUNNEL_SIGNATURE})().length > 0", timeout=WAIT_MS)
        page.wait_for_function(
            "() => document.querySelectorAll('.sendkit-dashboard .js-plotly-plot').length >= 7",
            timeout=WAIT_MS,
        )
        assert "Demo API" in page.locator(".sendkit-dashboard .sk-demo").inner_text()
        # Widgets are drawn before they are on screen; titles, subtitles and notes must still
        # each keep their own place.
        titled, overlapped = page.evaluate(OVERLAPPED_TITLES)
        assert "Funnel by sequence step" in titled and len(titled) >= 7, titled
        assert overlapped == [], overlapped
        dashboard = page.locator(".sendkit-dashboard")
        dashboard.screenshot(path=str(test_output / "dashboard.png"))
        box = dashboard.bounding_box()
        assert box is not None and box["height"] > 2000  # every panel laid out
        # The top of it (pickers, KPIs, the funnel) at a size a README can show.
        page.screenshot(
            path=str(test_output / "dashboard-top.png"),
            clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": 1200},
        )

        before_bars = page.evaluate(FUNNEL_SIGNATURE)
        before_leads = page.locator(KPI_LEADS).inner_text()
        before_ticks = page.locator(
            ".sendkit-dashboard .js-plotly-plot >> nth=0 >> .xtick text"
        ).all_inner_texts()

        # Another campaign, picked in the dropdown.
        campaign_select = ".sendkit-dashboard .widget-dropdown select >> nth=0"
        campaigns = options_of(page, campaign_select)
        assert len(campaigns) >= 3
        page.locator(campaign_select).select_option(label=campaigns[1])
        page.wait_for_function(
            f"(before) => ({FUNNEL_SIGNATURE})() !== before && ({FUNNEL_SIGNATURE})() !== ''",
            arg=before_bars,
            timeout=WAIT_MS,
        )
        page.wait_for_function(
            "([sel, before]) => document.querySelector(sel)?.textContent !== before",
            arg=[KPI_LEADS, before_leads],
            timeout=WAIT_MS,
        )
        campaign_bars = page.evaluate(FUNNEL_SIGNATURE)
        campaign_leads = page.locator(KPI_LEADS).inner_text()
        campaign_ticks = page.locator(
            ".sendkit-dashboard .js-plotly-plot >> nth=0 >> .xtick text"
        ).all_inner_texts()
        assert campaign_ticks != before_ticks  # another sequence: other step subjects

        # One status, picked in the status list.
        status_select = ".sendkit-dashboard .widget-select-multiple select"
        replied = next(t for t in options_of(page, status_select) if t.startswith("replied"))
        page.locator(status_select).select_option(label=replied)
        page.wait_for_function(
            f"(before) => ({FUNNEL_SIGNATURE})() !== before",
            arg=campaign_bars,
            timeout=WAIT_MS,
        )
        # The Leads card now shows the count the status list gave for "replied".
        count = replied.split("(")[1].rstrip(")")
        page.wait_for_function(
            "([sel, want]) => document.querySelector(sel)?.textContent === want",
            arg=[KPI_LEADS, count],
            timeout=WAIT_MS,
        )
        assert page.locator(KPI_LEADS).inner_text() != campaign_leads
        assert "sk-error" not in dashboard.inner_html()
        dashboard.screenshot(path=str(test_output / "dashboard-replied.png"))
        assert errors == []
    except Exception:
        # What the page looked like when it went wrong, for whoever reads the failure.
        page.screenshot(path=str(test_output / "dashboard-failure.png"))
        raise
    finally:
        page.close()
