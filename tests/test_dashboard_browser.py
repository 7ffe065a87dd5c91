"""The dashboard notebook in a real JupyterLab, driven by headless Chromium.

Starts JupyterLab on 127.0.0.1 (free port, a random token) in a temporary folder holding a copy
of ``notebooks/dashboard.ipynb``, with no SendKit key in the environment (so the kernel runs the
embedded demo API), starts the notebook's kernel through the REST API and waits until it answers
over its websocket, opens the notebook, runs every cell (again in a fresh page if none ran),
waits for the plotly SVGs, then picks another campaign and a status in the widgets and checks
that the rendered funnel bars and KPI cards changed; then, at 1280 px with the file browser
opened beside the notebook, that every plot shrank to its output area and that nothing of it
(titles, notes, ticks, bars) reaches past its edges. Screenshots go to ``test-output/``
(``dashboard.png`` is the README's picture); on a failure the test prints JupyterLab's log and
leaves ``dashboard-failure.png`` there.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClosedError, websocket_connect

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"

# Generous: the first run imports polars and plotly in a cold kernel and renders eight plots
# in a software-rendered browser, on machines that may be busy with other tests.
WAIT_MS = 120_000
#: How long the notebook's kernel may take to start and answer over its websocket.
KERNEL_READY_S = 120.0
#: Opening the notebook and running every cell, in a fresh page each time, at most this often.
RUN_ATTEMPTS = 3
#: Tall enough for the whole dashboard at once (JupyterLab scrolls inside the page, so a
#: screenshot only holds what fits).
VIEWPORT: ViewportSize = {"width": 1120, "height": 5600}
#: A laptop-sized window, where the file browser opened beside the notebook leaves the output
#: area narrower than at ``VIEWPORT`` without it: the plots drawn there must shrink to fit.
SIDE_PANEL_VIEWPORT: ViewportSize = {"width": 1280, "height": 5600}

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


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab server: where it is, its token and its log file."""

    url: str
    token: str
    log: Path

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One REST call (``path`` starts with ``/api/``); the decoded JSON reply."""
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def print_log(self) -> None:
        """Print the end of the server's log (the kernels' stderr included) for a failure report."""
        text = self.log.read_text(errors="replace") if self.log.exists() else "(no log file)"
        if len(text) > 30_000:
            text = "[... earlier lines left out ...]\n" + text[-30_000:]
        print(f"---- JupyterLab log ({self.log}) ----\n{text}\n---- end of JupyterLab log ----")


def wait_for_server(lab: Lab, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with code {proc.returncode}")
        try:
            lab.api("GET", "/api/status")
            return
        except OSError:  # refused while starting (HTTPError is an OSError too)
            pass
        time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer at {lab.url} within {timeout} s")


async def kernel_info_over_websocket(lab: Lab, kernel_id: str, timeout: float) -> None:
    """Open the kernel's websocket as the page will, and wait for a kernel_info_reply on it.

    Messages go as JSON text (no subprotocol asked for: the server's legacy protocol)."""
    ws_url = lab.url.replace("http://", "ws://", 1)
    session = uuid.uuid4().hex
    request = HTTPRequest(
        f"{ws_url}/api/kernels/{kernel_id}/channels?session_id={session}",
        headers={"Authorization": f"token {lab.token}"},
        connect_timeout=timeout,
        request_timeout=timeout,
    )
    connection = await asyncio.wait_for(websocket_connect(request), timeout)
    try:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "session": session,
            "username": "test",
            "msg_type": "kernel_info_request",
            "version": "5.3",
        }
        message = {"header": header, "parent_header": {}, "metadata": {}, "content": {}}
        await connection.write_message(json.dumps({**message, "channel": "shell"}))
        async with asyncio.timeout(timeout):
            while True:
                raw = await connection.read_message()
                if raw is None:
                    raise WebSocketClosedError("the kernel websocket closed before the reply")
                reply = json.loads(raw)
                if (
                    reply.get("msg_type") == "kernel_info_reply"
                    and reply.get("parent_header", {}).get("msg_id") == msg_id
                ):
                    return
    finally:
        connection.close()


def start_kernel_session(lab: Lab) -> str:
    """Create the notebook's session (or find the one there is) through the REST API, before the
    page opens it; wait until its kernel answers over a websocket and is idle. The kernel id.

    JupyterLab otherwise starts the kernel itself as the page loads, and on a cold machine the
    page's first kernel websocket can hit jupyter-server's startup race (#1265: the server logs
    ``'NoneType' object has no attribute 'kernel_ws_protocol'``), after which Run All runs
    nothing. A kernel that already answered kernel_info over a websocket connects at once."""
    deadline = time.monotonic() + KERNEL_READY_S
    session = lab.api(
        "POST",
        "/api/sessions",
        {
            "path": NOTEBOOK.name,
            "type": "notebook",
            "name": NOTEBOOK.name,
            "kernel": {"name": "python3"},
        },
    )
    kernel_id: str = session["kernel"]["id"]
    # The server reports "starting" until a client talks to the kernel, so the websocket first.
    problem = "no answer yet"
    while True:
        state = lab.api("GET", f"/api/kernels/{kernel_id}")["execution_state"]
        if state == "dead":
            raise RuntimeError(f"the notebook's kernel {kernel_id} died while starting")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(
                f"the notebook's kernel {kernel_id} did not answer over its websocket within "
                f"{KERNEL_READY_S:.0f} s (last: {problem})"
            )
        try:
            # In a thread of its own: Playwright's sync API keeps an event loop in this one.
            with ThreadPoolExecutor(1) as thread:
                probe = kernel_info_over_websocket(lab, kernel_id, min(30.0, remaining))
                thread.submit(asyncio.run, probe).result()
            break
        except (OSError, TimeoutError, HTTPClientError, WebSocketClosedError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            print(f"kernel websocket not ready ({problem}); trying again")
            time.sleep(1)
    while (state := lab.api("GET", f"/api/kernels/{kernel_id}")["execution_state"]) != "idle":
        if state == "dead" or time.monotonic() > deadline:
            raise TimeoutError(
                f"the notebook's kernel {kernel_id} is {state!r}, not idle, "
                f"{KERNEL_READY_S:.0f} s after the session was created"
            )
        time.sleep(0.5)
    return kernel_id


@pytest.fixture()
def jupyterlab(tmp_path: Path) -> Iterator[Lab]:
    """A JupyterLab server on a copy of the dashboard notebook."""
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
    token = secrets.token_hex(16)
    lab = Lab(url=f"http://127.0.0.1:{port}", token=token, log=tmp_path / "jupyterlab.log")
    log = lab.log.open("wb")
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
            f"--IdentityProvider.token={token}",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={work}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            # window.jupyterapp, to see when the page's session is connected to the kernel.
            "--LabApp.expose_app_in_browser=True",
        ],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        # Its own process group, so the kernels it starts go down with it.
        start_new_session=True,
    )
    try:
        try:
            wait_for_server(lab, proc, timeout=60)
        except Exception:
            lab.print_log()
            raise
        yield lab
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
#: True once any code cell has run (its prompt shows a number, not just [*]: a cell queued on a
#: kernel connection that is broken keeps its [*]).
EXECUTION_FINISHED = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
    .some(p => /\\[\\d+\\]/.test(p.textContent))"""
#: True once the notebook's page is connected to the given kernel and the kernel is idle. Until
#: then Run All would start a kernel of its own, and the session JupyterLab was still connecting
#: to gets shut down under it (the execution indicator says "idle" long before that).
KERNEL_CONNECTED = """(kernelId) => {
    const context = window.jupyterapp?.shell.currentWidget?.sessionContext;
    const kernel = context?.session?.kernel;
    return Boolean(context?.isReady && kernel && kernel.id === kernelId
        && kernel.connectionStatus === 'connected' && kernel.status === 'idle');
}"""
#: True while the notebook's page uses the given kernel (no kernel of its own started meanwhile).
SAME_KERNEL = """(kernelId) =>
    window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.id === kernelId"""
#: The notebook's error and stderr outputs, for a failure message.
ERROR_OUTPUTS = """() => [...document.querySelectorAll(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")]
    .map(o => o.textContent.trim()).join('\\n')"""


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


#: How the dashboard's plots sit in its output area: the area's width, and for each plot its
#: title, its width, and what of it (the plot, its panel's content, texts, bars) reaches past
#: the output area or its own drawing (cut off). One pixel of slack for rounding.
PLOT_FIT = """() => {
    const dashboard = document.querySelector('.sendkit-dashboard');
    const area = dashboard.closest('.jp-OutputArea-output');
    const bounds = area.getBoundingClientRect();
    const outside = (r, b) => r.width > 0 && (r.left < b.left - 1 || r.right > b.right + 1);
    const plots = [...dashboard.querySelectorAll('.js-plotly-plot')]
        .filter(p => p.getBoundingClientRect().width > 0);  // not a hidden panel's
    return {
        area: bounds.width,
        areaScrolls: area.scrollWidth > area.clientWidth + 1,
        plots: plots.map(plot => {
            const svg = plot.querySelector('.main-svg').getBoundingClientRect();
            const panel = plot.parentElement;
            const cut = [...plot.querySelectorAll(
                '.gtitle, .annotation-text, .legendtext, .xtick text, .ytick text, '
                + '.g-xtitle text, .g-ytitle text, .bars path, .scatterlayer path')]
                .filter(n => outside(n.getBoundingClientRect(), svg))
                .map(n => n.textContent || n.getAttribute('class') || n.tagName);
            return {
                title: plot.querySelector('.gtitle')?.textContent ?? '',
                width: svg.width,
                // For a failure report: the plot's element, its panel and plotly's sizes.
                element: plot.clientWidth,
                panel: panel.clientWidth,
                layoutWidth: plot.layout?.width ?? null,
                autosize: plot.layout?.autosize ?? null,
                outsideArea: outside(svg, bounds) || outside(plot.getBoundingClientRect(), bounds),
                panelScrolls: panel.scrollWidth > panel.clientWidth + 1,
                cut,
            };
        }),
    };
}"""


def plots_fitted(fit: dict[str, Any]) -> bool:
    """Whether every visible plot of the dashboard (``PLOT_FIT``'s account) is drawn within its
    output area, as wide as that area less a few pixels of margins: the plots followed a
    resize."""
    plots = fit["plots"]
    return len(plots) >= 7 and all(
        not p["outsideArea"] and p["width"] > fit["area"] - 40 for p in plots
    )


def wait_for_fitted_plots(page: Page, timeout_s: float) -> dict[str, Any]:
    """``PLOT_FIT``'s account once the plots fit their output area (or the last one, when they
    did not within ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        fit: dict[str, Any] = page.evaluate(PLOT_FIT)
        if plots_fitted(fit) or time.monotonic() > deadline:
            return fit
        time.sleep(0.5)


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


def open_notebook_and_run_all(
    browser: Browser, lab: Lab, test_output: Path, errors: list[str]
) -> Page:
    """Start the kernel, open the notebook, wait until the page is connected to that kernel and
    run every cell until one of them has run on it: in a fresh page (the kernel stays) when none
    did, at most ``RUN_ATTEMPTS`` times. The page; its uncaught errors go to ``errors`` (those of
    pages given up on are printed)."""
    for old in test_output.glob("dashboard-try-*.png"):  # from an earlier run
        old.unlink()
    for attempt in range(1, RUN_ATTEMPTS + 1):
        kernel_id = start_kernel_session(lab)
        errors.clear()
        page = browser.new_page(viewport=VIEWPORT)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            page.goto(f"{lab.url}/doc/tree/{NOTEBOOK.name}?token={lab.token}")
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=WAIT_MS
            )
            page.wait_for_function(KERNEL_CONNECTED, arg=kernel_id, timeout=WAIT_MS)
            run_all_cells(page)
            page.wait_for_function(EXECUTION_FINISHED, timeout=WAIT_MS)
            page.wait_for_function(SAME_KERNEL, arg=kernel_id, timeout=10_000)
            return page
        except PlaywrightTimeout as exc:
            shot = test_output / f"dashboard-try-{attempt}.png"
            page.screenshot(path=str(shot))
            # A new page rather than a reload: no "leave the page?" prompt for the run notebook.
            page.close()
            if attempt == RUN_ATTEMPTS:
                raise AssertionError(
                    f"Run All ran no cell in {RUN_ATTEMPTS} tries, each in a fresh page "
                    f"(last page: {shot}; its errors: {errors})"
                ) from exc
            print(
                f"Try {attempt} of {RUN_ATTEMPTS}: no cell ran ({exc!s:.300}); page errors: "
                f"{errors}; screenshot {shot}. Opening the notebook again."
            )
    raise AssertionError("unreachable")


@pytest.mark.slow
# Above the suite's 300 s: a cold machine may need more than one try at running the notebook.
@pytest.mark.timeout(900)
def test_dashboard_in_jupyterlab(jupyterlab: Lab, browser: Browser, test_output: Path) -> None:
    errors: list[str] = []
    page: Page | None = None
    stage = "starting the kernel, opening the notebook and running its cells"
    try:
        page = open_notebook_and_run_all(browser, jupyterlab, test_output, errors)

        stage = "waiting for the dashboard's plots"
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

        stage = "picking another campaign"
        before_bars = page.evaluate(FUNNEL_SIGNATURE)
        before_leads = page.locator(KPI_LEADS).inner_text()
        before_ticks = page.locator(
            ".sendkit-dashboard .js-plotly-plot >> nth=0 >> .xtick text"
        ).all_inner_texts()

        # Another campaign, picked in the dropdown.
        campaign_select = ".sendkit-dashboard .sk-campaign-picker select"
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

        stage = "picking a status"
        # One status, picked in the status list.
        # By its class: the comparison's campaign list is a multiple select too.
        status_select = ".sendkit-dashboard .sk-status-picker select"
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
        # The filter is stated in the campaign header, above the cards it changes.
        header = page.locator(".sendkit-dashboard .sk-campaign-header").inner_text()
        # (The select's option texts come with no-break spaces, the header's inner text not.)
        picked = campaigns[1].replace("\xa0", " ").split(" · ")[0]
        assert picked in header, header
        assert "Status filter: replied" in header and f"{count} of" in header, header
        assert "sk-error" not in dashboard.inner_html()
        dashboard.screenshot(path=str(test_output / "dashboard-replied.png"))
        # The static copy for exports follows (debounced) and stays hidden, its charts undrawn.
        static = ".sendkit-dashboard-static"
        page.wait_for_function(
            "sel => document.querySelector(sel + ' .sk-status-filter')?.dataset.statuses"
            " === 'replied'",
            arg=static,
            timeout=WAIT_MS,
        )
        assert page.locator(static).count() == 1 and not page.locator(static).is_visible()
        assert page.locator(f"{static} .js-plotly-plot").count() == 0

        stage = "picking a date window"
        window_select = ".sendkit-dashboard .sk-window-picker select"
        # (Option texts come with no-break spaces.)
        windows = [text.replace("\xa0", " ") for text in options_of(page, window_select)]
        assert windows == ["All time", "Last 7 days", "Last 30 days", "Last 90 days"]
        page.locator(window_select).select_option(index=1)  # "Last 7 days"
        page.wait_for_function(
            "() => document.querySelector('.sendkit-dashboard .sk-window')"
            "?.textContent.startsWith('Last 7 days: emails sent')",
            timeout=WAIT_MS,
        )
        assert "sk-error" not in dashboard.inner_html()
        page.locator(window_select).select_option(index=0)
        page.wait_for_function(
            "() => document.querySelector('.sendkit-dashboard .sk-window')?.textContent"
            " === 'All time'",
            timeout=WAIT_MS,
        )

        stage = "opening the side panel at 1280 px"
        page.set_viewport_size(SIDE_PANEL_VIEWPORT)
        page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
        page.wait_for_selector("#filebrowser", state="visible", timeout=WAIT_MS)
        fit = wait_for_fitted_plots(page, 60)
        print("side panel open at 1280 px:", json.dumps(fit))
        assert plots_fitted(fit), fit
        # The file browser takes room the output area had at the narrower window without it.
        assert fit["area"] < VIEWPORT["width"] - 100, fit["area"]
        assert not fit["areaScrolls"]
        page.screenshot(path=str(test_output / "dashboard-side-panel.png"))
        assert errors == []
        for plot in fit["plots"]:
            assert not plot["outsideArea"] and not plot["panelScrolls"], plot
        # Titles, footnotes, tick labels, bars: none reaches past its plot's edges.
        cut = {plot["title"]: plot["cut"] for plot in fit["plots"] if plot["cut"]}
        assert cut == {}, cut

        stage = "opening the Senders section"
        # Loaded from the API only now, when the section opens.
        assert page.locator(".sendkit-dashboard .sk-senders .js-plotly-plot").count() == 0
        page.get_by_text("Senders (sending mailboxes, whole workspace)").click()
        page.wait_for_selector(
            ".sendkit-dashboard .sk-senders .js-plotly-plot .main-svg", timeout=WAIT_MS
        )
        note = page.locator(".sendkit-dashboard .sk-senders-note").inner_text()
        assert "sending mailboxes of the workspace" in note, note
        page.locator(".sendkit-dashboard .sk-senders").screenshot(
            path=str(test_output / "dashboard-senders.png")
        )
        assert "sk-error" not in dashboard.inner_html()
        assert errors == []
    except Exception as exc:
        # What the page and the server looked like when it went wrong, for whoever reads it.
        notes = [f"JupyterLab's log ({jupyterlab.log}) is in the captured stdout"]
        if page is not None:
            shot = test_output / "dashboard-failure.png"
            try:
                page.screenshot(path=str(shot))
                notes.append(f"the page is in {shot}")
                outputs = page.evaluate(ERROR_OUTPUTS)
                if outputs:
                    notes.append(f"the notebook's error/stderr outputs:\n{outputs[-3000:]}")
            except PlaywrightError as problem:  # e.g. the page crashed: the rest still helps
                notes.append(f"no screenshot: {problem}")
        jupyterlab.print_log()
        pytest.fail(
            f"The dashboard test failed while {stage}: {type(exc).__name__}: {exc}\n"
            + "\n".join(notes)
        )
    finally:
        if page is not None:
            page.close()
