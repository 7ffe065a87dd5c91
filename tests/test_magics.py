"""The IPython extension in a real InteractiveShell, against the demo API over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import sendkit_nb as sk
from sendkit_nb.demo import DemoServer
from sendkit_nb.magics import RENDERER, SendKitMagics
from tests.conftest import OfflinePage

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def shell(server: DemoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """The IPython shell with the extension loaded and the environment pointing at the test
    server, so the magics' own ``connect()`` reaches it."""
    monkeypatch.setenv("SENDKIT_API_KEY", server.api_key)
    monkeypatch.setenv("SENDKIT_BASE_URL", server.url)
    monkeypatch.delenv("SENDKIT_WORKSPACE_ID", raising=False)
    ip = InteractiveShell.instance()
    saved = pio.renderers.default
    # A renderer the extension would never choose, so restoring it is visible.
    pio.renderers.default = "json"
    ip.run_line_magic("load_ext", "sendkit_nb")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "sendkit_nb")
        pio.renderers.default = saved


def magics(ip: InteractiveShell) -> SendKitMagics:
    found = ip.magics_manager.registry["SendKitMagics"]
    assert isinstance(found, SendKitMagics)
    return found


def paths(server: DemoServer) -> list[str]:
    return [r.path for r in server.request_log]


def test_load_registers_the_magic_and_an_offline_renderer(shell: InteractiveShell) -> None:
    assert "sendkit" in shell.magics_manager.magics["line"]
    assert pio.renderers.default == RENDERER
    # Both parts matter: the plotly mimetype for JupyterLab, the embedded-HTML renderer for
    # nbconvert; and the HTML one must not point at a CDN.
    names = RENDERER.split("+")
    assert names == ["plotly_mimetype", "sendkit_offline"]
    html = pio.renderers["sendkit_offline"].to_mimebundle(go.Figure(go.Bar(y=[1])).to_dict())
    assert "cdn" not in html["text/html"].lower() and "mathjax" not in html["text/html"].lower()


def test_unload_restores_renderer_and_removes_the_magic(shell: InteractiveShell) -> None:
    client = magics(shell).client()
    shell.run_line_magic("unload_ext", "sendkit_nb")
    assert pio.renderers.default == "json"
    assert "sendkit" not in shell.magics_manager.magics["line"]
    assert "SendKitMagics" not in shell.magics_manager.registry
    with pytest.raises(UsageError, match="not found"):
        shell.run_line_magic("sendkit", "campaigns")
    # The session's client was closed with the extension: a new call would need a new one.
    assert client.closed
    # Loading again works (the fixture unloads once more at the end, which is a no-op).
    shell.run_line_magic("load_ext", "sendkit_nb")
    assert "sendkit" in shell.magics_manager.magics["line"]


def test_reload_keeps_the_renderer_from_before_the_first_load(shell: InteractiveShell) -> None:
    shell.run_line_magic("reload_ext", "sendkit_nb")
    assert pio.renderers.default == RENDERER
    shell.run_line_magic("unload_ext", "sendkit_nb")
    assert pio.renderers.default == "json"
    shell.run_line_magic("load_ext", "sendkit_nb")


def test_campaigns_magic_returns_the_campaigns_frame(
    shell: InteractiveShell, server: DemoServer, client: sk.SendKitClient
) -> None:
    frame = shell.run_line_magic("sendkit", "campaigns")
    assert isinstance(frame, pl.DataFrame)
    assert "/v1/campaigns" in paths(server)  # the fixture server, not an embedded demo
    assert frame.equals(sk.load_campaigns(client))
    active = shell.run_line_magic("sendkit", "campaigns --status active")
    assert active.height and set(active["status"]) == {"active"}
    found = shell.run_line_magic("sendkit", "campaigns --search 'Fintech'")
    assert found.height == 1 and "Fintech" in found["name"][0]


def test_leads_magic_returns_the_leads_frame(
    shell: InteractiveShell, client: sk.SendKitClient
) -> None:
    campaigns = sk.load_campaigns(client)
    cid = campaigns["campaign_id"][0]
    leads = shell.run_line_magic("sendkit", f"leads {cid} --quiet")
    assert leads.equals(sk.load_leads(client, cid, progress=False))
    replied = shell.run_line_magic("sendkit", f"leads {cid} --status replied completed --quiet")
    expected = sk.load_leads(client, cid, ["replied", "completed"], progress=False)
    assert replied.sort("id").equals(expected.sort("id"))
    assert set(replied["status"].cast(pl.String)) == {"replied", "completed"}
    # Comma-separated statuses and a campaign given by its name work too.
    name = campaigns["name"][1]
    by_name = shell.run_line_magic("sendkit", f'leads "{name}" --status replied,bounced --quiet')
    assert set(by_name["campaign_id"]) == {campaigns["campaign_id"][1]}
    assert set(by_name["status"].cast(pl.String)) <= {"replied", "bounced"}
    assert by_name.height > 0


def test_leads_magic_errors_are_usage_errors(shell: InteractiveShell, server: DemoServer) -> None:
    with pytest.raises(UsageError, match="HTTP 404") as missing:
        shell.run_line_magic("sendkit", "leads ffffffffffffffffffffffff --quiet")
    assert server.api_key not in str(missing.value)
    with pytest.raises(UsageError, match="no campaign with id or name"):
        shell.run_line_magic("sendkit", "leads 'No such campaign' --quiet")
    with pytest.raises(UsageError, match="unknown lead status"):
        shell.run_line_magic("sendkit", "leads 683b61000000000000000001 --status nope --quiet")
    with pytest.raises(UsageError, match="invalid choice"):
        shell.run_line_magic("sendkit", "bogus")
    with pytest.raises(UsageError, match="required"):
        shell.run_line_magic("sendkit", "leads")


def test_bad_key_is_a_usage_error(shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    shell.run_line_magic("unload_ext", "sendkit_nb")
    monkeypatch.setenv("SENDKIT_API_KEY", "sk_wrong_key")
    shell.run_line_magic("load_ext", "sendkit_nb")
    with pytest.raises(UsageError, match="HTTP 401") as caught:
        shell.run_line_magic("sendkit", "campaigns")
    assert "sk_wrong_key" not in str(caught.value)


def test_one_client_per_shell(shell: InteractiveShell, server: DemoServer) -> None:
    m = magics(shell)
    shell.run_line_magic("sendkit", "campaigns")
    first = m.client()
    shell.run_line_magic("sendkit", "campaigns --search Agency")
    assert m.client() is first
    assert not first.is_demo and first.base_url == server.url


def test_demo_flag_uses_the_embedded_demo(shell: InteractiveShell, server: DemoServer) -> None:
    frame = shell.run_line_magic("sendkit", "campaigns --demo")
    assert frame.height > 0
    assert paths(server) == []  # the test server was not asked
    assert magics(shell).client(demo=True).is_demo


def test_dashboard_magic(shell: InteractiveShell, client: sk.SendKitClient) -> None:
    from sendkit_nb.widgets import Dashboard

    cid = sk.load_campaigns(client)["campaign_id"][2]
    dash = shell.run_line_magic("sendkit", f"dashboard {cid} --status replied")
    assert isinstance(dash, Dashboard)
    assert dash.selection.campaign_id == cid
    assert dash.selection.statuses == ("replied",)
    assert dash.message.value == ""
    expected = sk.load_leads(client, cid, "replied", progress=False)
    assert dash.view is not None and dash.view.headline["leads"] == expected.height
    bundle = dash._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    dash.close()


def test_help(shell: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    assert shell.run_line_magic("sendkit", "--help") is None
    out = capsys.readouterr().out
    assert "usage: %sendkit" in out
    for command in ("campaigns", "leads", "dashboard"):
        assert command in out
    shell.run_line_magic("sendkit", "")
    assert "usage: %sendkit" in capsys.readouterr().out
    shell.run_line_magic("sendkit", "leads --help")
    out = capsys.readouterr().out
    assert "usage: %sendkit leads" in out and "--status" in out and "--demo" in out
    shell.run_line_magic("sendkit", "dashboard -h")
    assert "usage: %sendkit dashboard" in capsys.readouterr().out
    # `%sendkit?` shows the magic's docstring, which lists every command.
    doc = SendKitMagics.sendkit.__doc__ or ""
    assert "%sendkit leads CAMPAIGN" in doc and "%sendkit dashboard" in doc


# -- nbconvert keeps the figures, offline ------------------------------------------------------


def _notebook(path: Path) -> None:
    cells: list[dict[str, Any]] = [
        {
            "cell_type": "code",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": source,
        }
        for source in (
            "%load_ext sendkit_nb",
            "import plotly.graph_objects as go\ngo.Figure(go.Bar(x=['a', 'b', 'c'], y=[3, 1, 2]))",
        )
    ]
    path.write_text(
        json.dumps(
            {
                "cells": cells,
                "metadata": {
                    "kernelspec": {"name": "python3", "display_name": "Python 3"},
                    "language_info": {"name": "python"},
                },
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )


@pytest.mark.slow
def test_nbconvert_html_shows_figures_offline(tmp_path: Path, browser: Browser) -> None:
    notebook = tmp_path / "figure.ipynb"
    _notebook(notebook)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDKIT_")}
    env.pop("PLOTLY_RENDERER", None)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "nbconvert",
            "--to",
            "html",
            "--execute",
            "--ExecutePreprocessor.timeout=120",
            str(notebook),
        ],
        check=True,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=180,
    )
    html = (tmp_path / "figure.html").read_text()
    # plotly.js is inside the file, not fetched: no script loads it from anywhere.
    assert "plotly.js v" in html
    sources = re.findall(r"<script[^>]*\bsrc=[\"']([^\"']+)", html)
    assert not [s for s in sources if "plot" in s], sources
    assert 'import "https://cdn.plot.ly' not in html
    # Every network request fails, as on a machine with no connection.
    offline = OfflinePage(browser)
    try:
        page = offline.goto(tmp_path / "figure.html")
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        bars = page.locator(".js-plotly-plot .bars path")
        assert bars.count() == 3
        assert not any("plot.ly" in url for url in offline.requests)
    finally:
        offline.context.close()
