"""Shared fixtures: demo API servers on 127.0.0.1, clients that never really sleep, and a
headless Chromium with offline pages (:class:`OfflinePage`, :class:`ReportPage`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sendkit_nb import RetryPolicy, SendKitClient
from sendkit_nb.demo import DemoServer, make_workspace

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


class SleepRecorder:
    """Stands in for time.sleep so retry tests run instantly and can check the delays."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(scope="session")
def demo_server() -> Iterator[DemoServer]:
    """The default demo workspace, page-style pagination (the seed page's generation)."""
    with DemoServer() as server:
        yield server


@pytest.fixture(scope="session")
def cursor_server() -> Iterator[DemoServer]:
    """The default demo workspace served in the newer cursor-style generation."""
    with DemoServer(pagination="cursor") as server:
        yield server


@pytest.fixture()
def server(demo_server: DemoServer) -> Iterator[DemoServer]:
    """The session page-mode server with faults and the request log reset around each test."""
    demo_server.reset()
    yield demo_server
    demo_server.reset()


@pytest.fixture(scope="session")
def demo_client() -> Iterator[SendKitClient]:
    """A client on its own embedded demo API (``SendKitClient.demo()``: the seeded default
    workspace, so fixed data), as a README reader gets it (``is_demo`` is true)."""
    with SendKitClient.demo() as c:
        yield c


@pytest.fixture()
def sleeps() -> SleepRecorder:
    return SleepRecorder()


def no_sleep_client(server: DemoServer, *, max_retries: int) -> SendKitClient:
    """A client of ``server`` whose retries (``max_retries`` a request) never wait and whose
    jitter is fixed, for tests that run a server of their own (use it in a ``with``)."""
    return SendKitClient(
        server.api_key,
        base_url=server.url,
        sleep=lambda seconds: None,
        retry=RetryPolicy(max_retries=max_retries, rng=lambda: 0.5),
    )


@pytest.fixture()
def client(server: DemoServer, sleeps: SleepRecorder) -> Iterator[SendKitClient]:
    with SendKitClient(
        server.api_key, base_url=server.url, sleep=sleeps, retry=RetryPolicy(rng=lambda: 0.5)
    ) as c:
        yield c


@pytest.fixture(scope="session")
def small_workspace_servers() -> Iterator[dict[str, DemoServer]]:
    """Campaigns of awkward sizes (0, 1, a page minus one, exactly a page, ...) in both
    pagination styles, for the exactly-once property tests."""
    workspace = make_workspace(seed=3, sizes=[0, 1, 7, 99, 100, 101, 257])
    with (
        DemoServer(workspace, pagination="page") as pages,
        DemoServer(
            make_workspace(seed=3, sizes=[0, 1, 7, 99, 100, 101, 257]), pagination="cursor"
        ) as cursors,
    ):
        yield {"page": pages, "cursor": cursors}


# -- a real headless browser (Debian's chromium, installed by scripts/install) ------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these, Chromium keeps dialling Google's hosts, which this network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TEST_OUTPUT = Path(__file__).resolve().parent.parent / "test-output"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """A headless Chromium driven by Playwright (no browser download: the system one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def test_output() -> Path:
    """Where tests leave screenshots and rendered files for people to look at."""
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT


class OfflinePage:
    """A page in a fresh offline context of ``browser``, ``width`` px wide: every request
    that is not for a file is aborted and recorded in ``requests``, and console errors and
    uncaught exceptions are collected in ``errors`` as (message, URL of the script that
    logged it; empty for an exception). Close it with ``.context.close()``."""

    def __init__(self, browser: Browser, width: int = 1280) -> None:
        self.context: BrowserContext = browser.new_context(
            offline=True, viewport={"width": width, "height": 900}
        )
        self.requests: list[str] = []
        self.errors: list[tuple[str, str]] = []
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append((f"uncaught: {e}", "")))

    def _route(self, route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.requests.append(route.request.url)
            route.abort()

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append((message.text, message.location.get("url", "")))

    def goto(self, path: Path, fragment: str = "") -> Page:
        """Opens the file at ``path`` (and ``fragment``, ``"#id"``) in the page."""
        self.page.goto(path.as_uri() + fragment)
        return self.page


class ReportPage(OfflinePage):
    """An offline page for the HTML report (``sk.report``)."""

    def open(self, path: Path, fragment: str = "") -> Page:
        """Opens the report at ``path`` and returns once its script has set it up."""
        page = self.goto(path, fragment)
        page.wait_for_selector("html[data-sk-ready]")
        return page


@pytest.fixture()
def offline(browser: Browser) -> Iterator[ReportPage]:
    """A :class:`ReportPage`, closed after the test."""
    page = ReportPage(browser)
    yield page
    page.context.close()
