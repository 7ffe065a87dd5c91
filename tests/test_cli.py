"""The ``sendkit-nb`` command line, run as a real subprocess: every command on the demo API and
every error path (one line on stderr, a non-zero exit status, never a traceback or the key)."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb._files import write_atomic
from sendkit_nb.demo import DEMO_WORKSPACE_ID, DemoServer, Faults, make_workspace
from tests.scripted_server import ScriptedServer, lead

DEMO_NOTE = "using the embedded demo API"
A_CAMPAIGN = "683b61000000000000000001"  # the demo's A/B test campaign (3,400 leads)
SMALL_CAMPAIGN = "683b610000000000000041c1"  # the demo's smallest campaign with emails
EMPTY_CAMPAIGN = "683b61000000000000004513"  # the demo's archived campaign without leads
DRAFT_CAMPAIGN = "683b610000000000000042b7"  # the demo's draft (all leads pending)
LONG_NAME = "Q3 SaaS founders - subject line A/B"  # A_CAMPAIGN's name: 35 characters


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
    # The file carries its campaign (name, sequence) for a report that reads like the API's.
    campaigns = sk.read_campaigns(parquet)
    assert campaigns["campaign_id"].to_list() == [SMALL_CAMPAIGN]
    assert campaigns["name"].item() == "Local partners pilot"
    subjects = [s["subject"] for s in campaigns["sequence"].item() if s["type"] == "email"]
    assert subjects == ["Partnering in {{city}}", "Coffee next week?"]
    assert sk.read_leads(parquet).equals(frame)

    csv = tmp_path / "replied.csv"
    result = run("leads", "--all", "--demo", "--status", "replied", "-o", str(csv), "--no-progress")
    assert result.returncode == 0, result.stderr
    replied = pl.read_csv(csv)
    assert replied.height > 0 and set(replied["status"]) == {"replied"}
    # One row per email, which sk.read_leads folds back into one row per lead.
    back = sk.read_leads(csv)
    assert replied.height == back["emails"].list.len().clip(lower_bound=1).sum()
    assert back.height == replied["id"].n_unique() and back.schema == sk.LEADS_SCHEMA
    assert f"one row per email: {replied.height:,} rows" in result.stdout
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
    for command in ("campaigns", "workspaces", "leads", "report", "sync", "demo-server"):
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
        (["report", "--from", "nowhere", "-o", "r.html"], "no store at nowhere"),
        (["report", "--from", "nowhere", "--demo", "-o", "r.html"], "drop --demo"),
        (["sync", "--demo", "--campaign", "12345"], "24-character hex id"),
        (["sync"], "no API key"),
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


# -- output files: checked before any request, replaced atomically ------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("the writer failed"),
        OSError(28, "No space left on device"),
        KeyboardInterrupt(),
    ],
    ids=["writer-error", "disk-full", "interrupted"],
)
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path, failure: BaseException
) -> None:
    target = tmp_path / "leads.parquet"
    target.write_bytes(b"the good old file")

    def half_then_fail(handle: BinaryIO) -> None:
        handle.write(b"half a new fi")
        raise failure

    with pytest.raises(type(failure)):
        write_atomic(target, half_then_fail)
    assert target.read_bytes() == b"the good old file"
    assert [p.name for p in tmp_path.iterdir()] == ["leads.parquet"]


def test_a_completed_write_replaces_the_file_and_keeps_its_permissions(tmp_path: Path) -> None:
    target = tmp_path / "leads.csv"
    target.write_bytes(b"old")
    target.chmod(0o600)  # unlike the umask's usual 0644: an in-place write would keep it
    write_atomic(target, lambda handle: handle.write(b"new, and complete"))
    assert target.read_bytes() == b"new, and complete"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["leads.csv"]


def _bad_output(tmp_path: Path, kind: str, suffix: str) -> tuple[Path, str]:
    """An output path that cannot be written, and a word its error must contain."""
    if kind == "parent-is-a-file":
        blocker = tmp_path / "notes.txt"
        blocker.write_text("a file, not a folder")
        return blocker / f"out{suffix}", "is a file, not a folder"
    if kind == "is-a-folder":
        folder = tmp_path / f"taken{suffix}"
        folder.mkdir()
        return folder, "it is a folder"
    # Unwritable even for root (the tests may run as root, for whom permission bits mean
    # nothing): no file can be created in /proc.
    return Path("/proc/sendkit-nb-test") / f"out{suffix}", "cannot create files in /proc"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("kind", ["parent-is-a-file", "is-a-folder", "unwritable"])
@pytest.mark.parametrize(("command", "suffix"), [("leads", ".csv"), ("report", ".html")])
def test_a_bad_output_path_fails_before_any_request(
    server: DemoServer, tmp_path: Path, kind: str, command: str, suffix: str
) -> None:
    env = {"SENDKIT_API_KEY": server.api_key, "SENDKIT_BASE_URL": server.url}
    output, message = _bad_output(tmp_path, kind, suffix)
    before = sorted(p.name for p in tmp_path.iterdir())
    line = one_error_line(run(command, SMALL_CAMPAIGN, "--no-progress", "-o", str(output), env=env))
    assert message in line and "Hint:" in line
    assert server.request_log == [], "the path is checked before anything is loaded"
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "no probe or temp file left"
    # The same command with a good path does reach this server: the empty log above is real.
    good = tmp_path / f"good{suffix}"
    result = run(command, SMALL_CAMPAIGN, "--no-progress", "-o", str(good), env=env)
    assert result.returncode == 0, result.stderr
    assert any(r.path.endswith("/leads") for r in server.request_log)
    assert good.stat().st_size > 0


@pytest.mark.parametrize(("command", "suffix"), [("leads", ".parquet"), ("report", ".html")])
def test_missing_folders_are_created_and_said(tmp_path: Path, command: str, suffix: str) -> None:
    output = tmp_path / "new" / "deeper" / f"out{suffix}"
    result = run(command, SMALL_CAMPAIGN, "--demo", "--no-progress", "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert output.stat().st_size > 0
    assert f"sendkit-nb: created folder {output.parent}" in result.stderr.splitlines()
    # Written into an existing folder, nothing is said about folders.
    again = run(command, SMALL_CAMPAIGN, "--demo", "--no-progress", "-o", str(output))
    assert again.returncode == 0 and "created folder" not in again.stderr


def test_missing_folders_are_not_created_when_the_load_fails(tmp_path: Path) -> None:
    output = tmp_path / "new" / "leads.parquet"
    line = one_error_line(
        run("leads", "0123456789abcdef01234567", "--demo", "--no-progress", "-o", str(output))
    )
    assert "HTTP 404" in line
    assert not (tmp_path / "new").exists()


SHORT_CAMPAIGN = "665a1b2c3d4e5f6a7b8c9d0e"
SHORT_KEY = "sk_SECRET_short_load_key_0123456789"


def _short_load(path: str, query: dict[str, str]) -> tuple[int, Any]:
    """Three leads, then hasMore false against an announced total of 500, on every walk: the
    load stays short even after the loader's second walk by cursor."""
    if path == "/v1/campaigns":
        item = {"_id": SHORT_CAMPAIGN, "name": "Short", "status": "active", "sequence": []}
        pagination = {"limit": 100, "total": 1, "hasMore": False, "nextCursor": None}
        return 200, {"success": True, "data": [item], "pagination": pagination}
    if path == f"/v1/campaigns/{SHORT_CAMPAIGN}/leads":
        pagination = {"limit": 100, "total": 500, "hasMore": False, "nextCursor": None}
        return 200, {
            "success": True,
            "data": [lead(1), lead(2), lead(3)],
            "pagination": pagination,
        }
    return 404, {"error": "Not Found", "message": f"no route {path}"}


def test_a_short_load_exits_1_and_keeps_the_old_file(tmp_path: Path) -> None:
    output = tmp_path / "leads.csv"
    output.write_text("the good old file")
    with ScriptedServer(_short_load) as server:
        env = {"SENDKIT_API_KEY": SHORT_KEY, "SENDKIT_BASE_URL": server.url}
        result = run("leads", SHORT_CAMPAIGN, "--no-progress", "-o", str(output), env=env)
    assert any(path.endswith("/leads") for path, _ in server.requests)
    line = one_error_line(result)
    assert re.search(r"\b3\b", line) and "500" in line, line  # both numbers
    # The library's hint (strict=False) is no use on the command line: the flag is.
    assert "Hint:" in line and "rerun with --allow-partial to keep the partial file" in line
    assert "strict=False" not in line
    assert SHORT_KEY not in result.stdout + result.stderr
    assert output.read_text() == "the good old file"
    assert [p.name for p in tmp_path.iterdir()] == ["leads.csv"]


def test_allow_partial_writes_the_short_load_with_a_warning(tmp_path: Path) -> None:
    output = tmp_path / "leads.csv"
    output.write_text("the good old file")
    with ScriptedServer(_short_load) as server:
        env = {"SENDKIT_API_KEY": SHORT_KEY, "SENDKIT_BASE_URL": server.url}
        result = run("leads", SHORT_CAMPAIGN, "--allow-partial", "-o", str(output), env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert pl.read_csv(output).height == 3
    assert f"wrote 3 leads of 1 campaign(s) to {output}" in result.stdout
    warned = [line for line in result.stderr.splitlines() if "sendkit-nb: warning:" in line]
    assert any(re.search(r"\b3\b", line) and "500" in line for line in warned), warned
    assert any("--allow-partial" in line and "Short" in line for line in warned), warned
    # The bar (progress is on) is named after the campaign, not "leads 8c9d0e".
    assert "Short:" in result.stderr and "leads 8c9d0e" not in result.stderr
    assert SHORT_KEY not in result.stdout + result.stderr


def test_a_short_report_load_does_not_suggest_a_flag_report_lacks(tmp_path: Path) -> None:
    with ScriptedServer(_short_load) as server:
        env = {"SENDKIT_API_KEY": SHORT_KEY, "SENDKIT_BASE_URL": server.url}
        result = run(
            "report", SHORT_CAMPAIGN, "--no-progress", "-o", str(tmp_path / "r.html"), env=env
        )
    line = one_error_line(result)
    assert "500" in line and "strict=False" not in line
    assert "rerun with --allow-partial" not in line and "sendkit-nb leads --allow-partial" in line
    assert not any(tmp_path.iterdir())


# -- CLI polish: names, counts, left-out campaigns, version, workspaces ------------------------


def test_progress_bars_name_the_campaign(tmp_path: Path) -> None:
    wide = run(
        "leads",
        A_CAMPAIGN,
        SMALL_CAMPAIGN,
        "--demo",
        "-o",
        str(tmp_path / "a.parquet"),
        env={"COLUMNS": "200"},
    )
    assert wide.returncode == 0, wide.stderr
    assert f"{LONG_NAME}:" in wide.stderr and "Local partners pilot:" in wide.stderr
    assert "leads 000001" not in wide.stderr and "leads 0041c1" not in wide.stderr
    # A narrow terminal cuts the label to leave the bar its room; a status filter is named.
    narrow = run(
        "leads",
        A_CAMPAIGN,
        "--demo",
        "--status",
        "replied",
        "-o",
        str(tmp_path / "b.parquet"),
        env={"COLUMNS": "80"},
    )
    assert narrow.returncode == 0, narrow.stderr
    assert "Q3 SaaS founders - \u2026 [replied]:" in narrow.stderr
    assert LONG_NAME not in narrow.stderr


def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line[:1] in "\u250c\u2502\u255e\u2514"]


def test_names_are_as_wide_as_the_terminal(tmp_path: Path) -> None:
    wide = run("campaigns", "--demo", env={"COLUMNS": "200"})
    assert wide.returncode == 0, wide.stderr
    assert f" {LONG_NAME} " in wide.stdout
    # Just too narrow for the whole name: cut to fit, with an ellipsis.
    width = max(len(line) for line in _table_lines(wide.stdout)) - 1
    cut = run("campaigns", "--demo", env={"COLUMNS": str(width)})
    assert cut.returncode == 0, cut.stderr
    assert LONG_NAME not in cut.stdout and f" {LONG_NAME[:33]}\u2026 " in cut.stdout
    assert max(len(line) for line in _table_lines(cut.stdout)) == width
    # Never cut shorter than 32 characters, as before, however narrow the terminal.
    narrow = run("campaigns", "--demo", env={"COLUMNS": "40"})
    assert f" {LONG_NAME[:31]}\u2026 " in narrow.stdout

    summary = run(
        "leads",
        A_CAMPAIGN,
        "--demo",
        "--no-progress",
        "-o",
        str(tmp_path / "l.parquet"),
        env={"COLUMNS": "200"},
    )
    assert summary.returncode == 0, summary.stderr
    assert f" {LONG_NAME} " in summary.stdout


def test_campaigns_shows_lead_counts_and_dates() -> None:
    result = run("campaigns", "--demo", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    rows = {
        cells[0]: cells
        for line in _table_lines(result.stdout)
        if len(cells := [c.strip() for c in re.split("[\u2502\u2506]", line)[1:-1]]) == 6
    }
    assert rows["campaign_id"] == ["campaign_id", "name", "status", "leads", "created", "started"]
    workspace = make_workspace()
    assert len(workspace.campaigns) == 7
    for campaign in workspace.campaigns:
        started = campaign["startedAt"][:10] if campaign["startedAt"] else "-"
        assert rows[campaign["_id"]] == [
            campaign["_id"],
            campaign["name"],
            campaign["status"],
            str(len(workspace.leads[campaign["_id"]])),
            campaign["createdAt"][:10],
            started,
        ]
    assert rows[EMPTY_CAMPAIGN][3] == "0" and rows[DRAFT_CAMPAIGN][5] == "-"


def test_campaigns_reads_the_newer_list_shape_and_shows_no_count_when_there_is_none() -> None:
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        items = [
            {
                "_id": "665a1b2c3d4e5f6a7b8c9d01",
                "name": "Newer",
                "status": "active",
                "stats": {"totalLeads": 200, "contacted": 150},
                "createdAt": "2025-06-01T08:00:00Z",
            },
            {
                "_id": "665a1b2c3d4e5f6a7b8c9d02",
                "name": "Older",
                "status": "paused",
                "stats": {"sent": 10},
                "createdAt": "2025-05-01T08:00:00Z",
            },
        ]
        pagination = {"limit": 100, "total": 2, "hasMore": False, "nextCursor": None}
        return 200, {"success": True, "data": items, "pagination": pagination}

    with ScriptedServer(script) as server:
        env = {"SENDKIT_API_KEY": SHORT_KEY, "SENDKIT_BASE_URL": server.url, "COLUMNS": "200"}
        result = run("campaigns", env=env)
    assert result.returncode == 0, result.stderr
    newer = next(line for line in result.stdout.splitlines() if "Newer" in line)
    older = next(line for line in result.stdout.splitlines() if "Older" in line)
    assert " 200 " in newer and "2025-06-01" in newer
    assert " null " in older and "2025-05-01" in older


def test_all_summaries_say_which_campaigns_they_left_out_and_why(tmp_path: Path) -> None:
    result = run("leads", "--all", "--demo", "--no-progress", "-o", str(tmp_path / "a.parquet"))
    assert result.returncode == 0, result.stderr
    tail = result.stdout.splitlines()[-2:]
    assert tail == [
        "left out 1 of 7 campaign(s), with nothing to write (not in the file or the table above):",
        f"  Old smoke test ({EMPTY_CAMPAIGN}, archived): no leads",
    ]
    # The draft's leads are all pending: a status filter leaves it out too, and says so.
    replied = run(
        "leads",
        "--all",
        "--demo",
        "--no-progress",
        "--status",
        "replied,completed",
        "-o",
        str(tmp_path / "r.parquet"),
    )
    assert replied.returncode == 0, replied.stderr
    assert "left out 2 of 7 campaign(s)" in replied.stdout
    assert (
        f"  Enterprise ABM (draft) ({DRAFT_CAMPAIGN}, draft): no leads with status replied or "
        "completed" in replied.stdout.splitlines()
    )
    # Nothing left out, nothing said.
    one = run("leads", SMALL_CAMPAIGN, "--demo", "--no-progress", "-o", str(tmp_path / "s.csv"))
    assert one.returncode == 0 and "left out" not in one.stdout


def test_version_comes_from_the_package_metadata() -> None:
    from importlib.metadata import version

    import sendkit_nb

    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"sendkit-nb {version('sendkit_nb')}\n"
    assert version("sendkit_nb") == sendkit_nb.__version__


def test_workspaces_lists_what_a_platform_key_can_use(demo_server: DemoServer) -> None:
    env = {"SENDKIT_API_KEY": demo_server.platform_key, "SENDKIT_BASE_URL": demo_server.url}
    # Without a workspace id, the error points to the command, not to client.workspaces().
    line = one_error_line(run("campaigns", env=env))
    assert "sendkit-nb workspaces" in line and "client.workspaces()" not in line

    listed = run("workspaces", env=env)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if DEMO_WORKSPACE_ID in line)
    assert "SendKit demo workspace" in row and " 7 " in row
    assert "SENDKIT_WORKSPACE_ID" in listed.stderr
    assert demo_server.platform_key not in listed.stdout + listed.stderr

    scoped = run("campaigns", env={**env, "SENDKIT_WORKSPACE_ID": DEMO_WORKSPACE_ID})
    assert scoped.returncode == 0 and A_CAMPAIGN in scoped.stdout

    # A workspace key (here the demo's) lists its own workspace, with no platform-key note.
    demo = run("workspaces", "--demo")
    assert demo.returncode == 0 and DEMO_WORKSPACE_ID in demo.stdout
    assert "SENDKIT_WORKSPACE_ID" not in demo.stderr


# -- the store: sync, and the report from it ---------------------------------------------------


def test_sync_fills_a_store_and_report_from_reads_it_offline(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = run("sync", "--demo", "--store", str(store))
    assert first.returncode == 0, first.stderr
    assert "this sync: 7 fetched, 0 unchanged, 0 failed; 8,820 leads written" in first.stdout
    assert "Q3 SaaS founders" in first.stdout and "3,400 leads" in first.stdout
    # The progress bar counts every lead pulled, against the total the campaigns list gives.
    assert "8820/8820" in first.stderr
    assert len(first.stdout.splitlines()) <= 24, "one screen"

    again = run("sync", "--demo", "--store", str(store), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert "this sync: 0 fetched, 7 unchanged, 0 failed; 0 leads written" in again.stdout
    one = run("sync", "--demo", "--store", str(store), "--full", "--campaign", SMALL_CAMPAIGN)
    assert one.returncode == 0 and "1 fetched, 0 unchanged" in one.stdout

    target = tmp_path / "report.html"
    # No --demo and no key: the report must come from the files alone.
    result = run("report", "--from", str(store), "-o", str(target), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert DEMO_NOTE not in result.stderr
    page = target.read_text("utf-8")
    assert page.count('class="sk-tab"') == 7 and "Local partners pilot" in page
    # The store remembers it was filled from the demo: the report says its data is synthetic.
    assert "synthetic demo data" in first.stdout
    assert (
        '<p class="sk-banner">Synthetic data from the sendkit_nb demo API: the campaigns and '
        "numbers are made up.</p>" in page
    )
    two = tmp_path / "two.html"
    result = run(
        "report", "--from", str(store), A_CAMPAIGN, "--status", "replied", "-o", str(two),
        "--since", "2025-06-01", "--until", "2025-06-30",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = two.read_text("utf-8")
    assert page.count('class="sk-tab"') == 1
    assert "emails sent from 2025-06-01 UTC to 2025-07-01 UTC (not included)" in page


def test_sync_refuses_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    line = one_error_line(run("sync", "--demo", "--store", str(tmp_path)))
    assert "not a sendkit_nb store" in line and "Hint:" in line
    line = one_error_line(run("sync", "--demo", "--store", str(tmp_path / "notes.txt")))
    assert "it is a file" in line
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_failed_campaign_makes_sync_exit_1_and_says_which(tmp_path: Path) -> None:
    store = tmp_path / "my store"  # a space: the hinted command quotes the path
    with ScriptedServer(_short_load) as server:
        env = {"SENDKIT_API_KEY": SHORT_KEY, "SENDKIT_BASE_URL": server.url}
        result = run("sync", "--store", str(store), "--no-progress", env=env)
    assert result.returncode == 1
    assert "0 fetched, 0 unchanged, 1 failed" in result.stdout
    assert f"failed (left as they were):\n  {SHORT_CAMPAIGN}: loaded 3 leads" in result.stdout
    assert "1 campaign(s) failed to sync" in result.stderr and "Traceback" not in result.stderr
    assert SHORT_KEY not in result.stdout + result.stderr
    assert not (store / "leads").exists(), "nothing written for the failed campaign"


def _settling_load() -> Any:
    """The short load of ``_short_load`` until ``settled[0]`` is set, then the campaign's three
    leads against a total of three: a campaign that changed while it was pulled, then settled."""
    settled = [False]

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        status, body = _short_load(path, query)
        if settled[0] and path.endswith("/leads"):
            body["pagination"]["total"] = 3
        return status, body

    return script, settled


def test_a_short_load_in_sync_hints_the_command_that_pulls_it_again(tmp_path: Path) -> None:
    store = tmp_path / "my store"
    script, settled = _settling_load()
    with ScriptedServer(script) as server:
        env = {"SENDKIT_API_KEY": SHORT_KEY, "SENDKIT_BASE_URL": server.url}
        failed = run("sync", "--store", str(store), "--no-progress", env=env)
        assert failed.returncode == 1
        line = next(x for x in failed.stdout.splitlines() if x.startswith(f"  {SHORT_CAMPAIGN}:"))
        assert re.search(r"\b3\b", line) and "500" in line, line
        # The library's hint (strict=False) is no use here: sync never keeps a partial
        # campaign. The hint is a command to run as it is.
        assert "strict=False" not in failed.stdout + failed.stderr
        assert "changed while it was being pulled" in line
        command = re.search(r"Hint: .*`(sendkit-nb sync [^`]+)`", line)
        assert command, line
        argv = shlex.split(command.group(1))
        assert argv[:2] == ["sendkit-nb", "sync"] and argv[argv.index("--store") + 1] == str(store)
        assert argv[argv.index("--campaign") + 1] == SHORT_CAMPAIGN
        assert "--full" in argv  # its fingerprint may be unchanged: a plain sync would skip it
        settled[0] = True
        again = run(*argv[1:], "--no-progress", env=env)
    assert again.returncode == 0, again.stderr
    assert "1 fetched, 0 unchanged, 0 failed; 3 leads written" in again.stdout
    assert sk.open_store(store).leads(SHORT_CAMPAIGN).height == 3


def test_a_short_load_in_sync_from_python_hints_a_sync_call(tmp_path: Path) -> None:
    with (
        ScriptedServer(_short_load) as server,
        sk.SendKitClient(SHORT_KEY, base_url=server.url) as client,
    ):
        result = sk.sync(client, tmp_path / "store", progress=False)
    failed = result.failed[SHORT_CAMPAIGN]
    assert "loaded 3 leads" in failed and "500" in failed
    # sync takes no strict=False (it never keeps a partial campaign): its hint is a call.
    assert "strict=False" not in failed
    assert failed.endswith(f"sk.sync(client, path, campaigns={SHORT_CAMPAIGN!r}, full=True).")


def test_a_short_load_in_a_demo_sync_hints_a_demo_command() -> None:
    """The hinted command keeps --demo: without it the command would ask for an API key."""
    from sendkit_nb._store_sync import pull_again_hint
    from sendkit_nb.cli import _sync_failure

    error = sk.IncompleteLoadError(
        f"loaded 3 leads of campaign {SMALL_CAMPAIGN} but the API reports a total of 500",
        loaded=3,
        expected=500,
        hint=pull_again_hint(SMALL_CAMPAIGN),  # as sync records it
    )
    args = argparse.Namespace(demo=True, store="sendkit-data")
    line = _sync_failure(SMALL_CAMPAIGN, str(error), args)
    assert line.endswith(
        f"`sendkit-nb sync --demo --store sendkit-data --full --campaign {SMALL_CAMPAIGN}`."
    )
    assert "strict=False" not in line and "loaded 3 leads" in line
    # Other failures keep their own hint.
    other = str(sk.ServerError("HTTP trouble", status=503, hint="Try again later."))
    assert _sync_failure(SMALL_CAMPAIGN, other, args) == _one(other)


def _one(text: str) -> str:
    return " ".join(text.split())


# -- --deadline -------------------------------------------------------------------------------


def test_deadline_ends_a_dripped_load_with_a_hint_the_command_line_can_follow(
    server: DemoServer, tmp_path: Path
) -> None:
    # Each byte arrives well within the 30 s read timeout: without --deadline this command
    # would run for minutes.
    server.faults = Faults(drip=1.0, drip_seconds=0.02)
    env = {"SENDKIT_API_KEY": server.api_key, "SENDKIT_BASE_URL": server.url}
    output = tmp_path / "leads.parquet"
    result = run(
        "leads", SMALL_CAMPAIGN, "--no-progress", "--deadline", "1.5", "-o", str(output), env=env
    )
    line = one_error_line(result)
    assert "deadline passed" in line
    assert "Hint: Raise --deadline" in line and "deadline=" not in line
    assert not output.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf", "soon"])
def test_deadline_must_be_a_positive_number_of_seconds(value: str) -> None:
    result = run("campaigns", "--demo", "--deadline", value)
    assert result.returncode == 2
    assert f"not a positive number of seconds: {value!r}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_generous_deadline_changes_nothing(tmp_path: Path) -> None:
    output = tmp_path / "leads.parquet"
    result = run(
        "leads", SMALL_CAMPAIGN, "--demo", "--no-progress", "--deadline", "600", "-o", str(output)
    )
    assert result.returncode == 0, result.stderr
    assert pl.read_parquet(output).height > 0
