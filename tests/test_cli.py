"""The ``sendkit-nb`` command line, run as a real subprocess: every command on the demo API and
every error path (one line on stderr, a non-zero exit status, never a traceback or the key)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from sendkit_nb.demo import DemoServer

DEMO_NOTE = "using the embedded demo API"
A_CAMPAIGN = "683b61000000000000000001"  # the demo's A/B test campaign (3,400 leads)
SMALL_CAMPAIGN = "683b610000000000000041c1"  # the demo's smallest campaign with emails


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``sendkit-nb ARGS`` in a clean environment: no SENDKIT_* variable unless given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENDKIT_")}
    return subprocess.run(
        [sys.executable, "-m", "sendkit_nb.cli", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=timeout,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """Assert the run failed with ``code`` and a single error line (the demo note aside);
    return that line."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line and DEMO_NOTE not in line]
    assert len(lines) == 1, lines
    assert lines[0].startswith("sendkit-nb"), lines[0]
    return lines[0]


# -- the commands on the demo API ---------------------------------------------------------------


def test_campaigns_lists_the_demo_workspace() -> None:
    result = run("campaigns", "--demo")
    assert result.returncode == 0, result.stderr
    assert A_CAMPAIGN in result.stdout
    assert "Q3 SaaS founders" in result.stdout
    assert DEMO_NOTE in result.stderr
    active = run("campaigns", "--demo", "--status", "active")
    assert active.returncode == 0
    assert "Agency outreach" not in active.stdout and "Q3 SaaS founders" in active.stdout


def test_leads_writes_parquet_and_csv(tmp_path: Path) -> None:
    parquet = tmp_path / "out" / "leads.parquet"
    result = run("leads", SMALL_CAMPAIGN, "--demo", "-o", str(parquet))
    assert result.returncode == 0, result.stderr
    frame = pl.read_parquet(parquet)
    assert frame.height == 120 and set(frame["campaign_id"]) == {SMALL_CAMPAIGN}
    assert f"wrote 120 leads of 1 campaign(s) to {parquet}" in result.stdout

    csv = tmp_path / "replied.csv"
    result = run("leads", "--all", "--demo", "--status", "replied", "-o", str(csv), "--no-progress")
    assert result.returncode == 0, result.stderr
    replied = pl.read_csv(csv)
    assert replied.height > 0 and set(replied["status"]) == {"replied"}
    # --no-progress: nothing on stderr but the demo note
    assert [line for line in result.stderr.splitlines() if line] == [
        line for line in result.stderr.splitlines() if DEMO_NOTE in line
    ]


def test_report_writes_one_offline_file_with_progress(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "report.html"
    result = run("report", A_CAMPAIGN, SMALL_CAMPAIGN, "--demo", "-o", str(target))
    assert result.returncode == 0, result.stderr
    page = target.read_text("utf-8")
    assert page.count('class="sk-campaign') == 2
    assert f'data-campaign-id="{A_CAMPAIGN}"' in page
    assert f'data-campaign-id="{SMALL_CAMPAIGN}"' in page
    assert re.search(rf"wrote {re.escape(str(target.resolve()))} \(\d+\.\d MB", result.stdout)
    # Progress on stderr: tqdm's bars over the leads being loaded.
    assert re.search(r"\d+/\d+ \[", result.stderr) or "leads" in result.stderr
    assert "sk_demo_workspace_key" not in page


def test_report_all_with_a_status_filter_and_options(tmp_path: Path) -> None:
    target = tmp_path / "replied.html"
    result = run(
        "report",
        "--all",
        "--demo",
        "--status",
        "replied,completed",
        "--metric",
        "positive",
        "--title",
        "Replies <Q3>",
        "-o",
        str(target),
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    page = target.read_text("utf-8")
    assert "<title>Replies &lt;Q3&gt;</title>" in page
    assert "<dt>Lead status filter</dt><dd>replied, completed</dd>" in page
    assert page.count('class="sk-tab"') == 7
    assert "A/B test on the positive rate" in page


def test_a_key_in_the_environment_is_used_and_never_printed(demo_server: DemoServer) -> None:
    env = {"SENDKIT_API_KEY": demo_server.api_key, "SENDKIT_BASE_URL": demo_server.url}
    result = run("campaigns", env=env)
    assert result.returncode == 0, result.stderr
    assert A_CAMPAIGN in result.stdout and DEMO_NOTE not in result.stderr

    wrong = "sk_SECRET_cli_test_key_0123456789"
    result = run("campaigns", env={**env, "SENDKIT_API_KEY": wrong})
    line = one_error_line(result)
    assert "HTTP 401" in line
    assert wrong not in result.stdout + result.stderr


def test_demo_server_serves_until_stopped() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENDKIT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sendkit_nb.cli", "demo-server", "--port", "0", "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert re.match(r"SendKit demo API on http://127\.0\.0\.1:\d+$", first.strip()), first
        url = first.split()[-1]
        listed = run(
            "campaigns", env={"SENDKIT_API_KEY": "sk_demo_workspace_key", "SENDKIT_BASE_URL": url}
        )
        assert A_CAMPAIGN in listed.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "demo API stopped" in out


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("campaigns", "leads", "report", "demo-server"):
        assert command in result.stdout
    report_help = run("report", "--help")
    assert report_help.returncode == 0 and "--status" in report_help.stdout


# -- error paths: one line, exit 1, no traceback ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "not-a-campaign", "--demo", "-o", "r.html"], "24-character hex id"),
        (["leads", "12345", "--demo", "-o", "l.parquet"], "24-character hex id"),
        (["report", "--all", "--demo", "--status", "sleeping", "-o", "r.html"], "sleeping"),
        (["leads", "--all", "--demo", "--status", "sleeping", "-o", "l.csv"], "sleeping"),
        (["campaigns", "--demo", "--status", "sleeping"], "unknown campaign status"),
        (["report", "--all", "--demo", "-o", "report.pdf"], "must end in .html"),
        (["leads", "--all", "--demo", "-o", "leads.json"], "must end in .parquet or .csv"),
        (["report", "--demo", "-o", "r.html"], "at least one campaign"),
        (["report", A_CAMPAIGN, "--all", "--demo", "-o", "r.html"], "not both"),
        (["report", "--all", "-o", "r.html"], "no API key"),
        (["leads", "--all", "-o", "l.parquet"], "no API key"),
        (["campaigns"], "no API key"),
        (["report", "0123456789abcdef01234567", "--demo", "-o", "r.html"], "HTTP 404"),
    ],
)
def test_errors_are_one_line_and_exit_1(args: list[str], message: str, tmp_path: Path) -> None:
    args = [
        str(tmp_path / a) if a.endswith((".html", ".pdf", ".csv", ".parquet", ".json")) else a
        for a in args
    ]
    line = one_error_line(run(*args))
    assert message in line
    assert not any(tmp_path.iterdir()), "nothing is written on an error"


def test_an_unwritable_output_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    line = one_error_line(
        run("report", SMALL_CAMPAIGN, "--demo", "--no-progress", "-o", str(blocker / "r.html"))
    )
    assert "file" in line


def test_a_malformed_command_line_is_one_line_and_exit_2() -> None:
    line = one_error_line(run("report", "--all", "--demo"), code=2)
    assert "-o/--output" in line
    line = one_error_line(run("reports"), code=2)
    assert "invalid choice" in line
