"""Paths that cannot be looked up or written: every public entry point that takes a file or
folder path raises its :class:`~sendkit_nb.SendKitError` subclass (never a raw ``OSError``),
with the path (or its start) and the system's reason in the message, and changes nothing on
disk; the command line says so in one line.

Tests run as root, where permission bits stop nothing, so the failures are provoked with what
root cannot get past either: a name longer than the file system takes (``ENAMETOOLONG``), a
path below such a name, a missing folder above such a name (which a lookup does not reach:
only creating the folders would fail, half-way), and a symlink loop (``ELOOP``), which
pathlib's ``exists()`` reports as "missing" although nothing can be created there.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb._errors import BadRequestError, SendKitError, StoreError
from sendkit_nb._report import Report
from sendkit_nb.demo import DemoServer
from tests.test_cli import SMALL_CAMPAIGN, one_error_line, run

LONG = "x" * 300
TOO_LONG = os.strerror(errno.ENAMETOOLONG)
LOOPING = os.strerror(errno.ELOOP)

#: How a bad path (ending in a given suffix) is made below a test's folder, and the reason
#: its error must give.
KINDS: dict[str, tuple[Callable[[Path, str], Path], str]] = {
    "long": (lambda root, suffix: root / (LONG + suffix), TOO_LONG),
    "below_long": (lambda root, suffix: root / LONG / f"child{suffix}", TOO_LONG),
    "long_in_new": (lambda root, suffix: root / "new" / LONG / f"child{suffix}", TOO_LONG),
    "loop": (lambda root, suffix: _loop(root / f"loop{suffix}"), LOOPING),
}


def _loop(link: Path) -> Path:
    link.symlink_to(link.name)
    return link


def tree(root: Path) -> list[tuple[str, int, int]]:
    """Every entry below ``root`` (not followed through links) with its size and mtime."""
    entries = []
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            info = os.lstat(os.path.join(folder, name))
            entries.append(
                (os.path.relpath(os.path.join(folder, name), root), info.st_size, info.st_mtime_ns)
            )
    return sorted(entries)


def check_error(exc: BaseException, error: type[SendKitError], path: Path, reason: str) -> None:
    """``exc`` is exactly ``error``, names the path (or its start) and the system's reason, and
    carries a hint."""
    assert type(exc) is error, repr(exc)
    text = str(exc)
    assert str(path)[:50] in text, text
    assert reason in text, text
    assert "Hint:" in text and exc.hint


def bad_path(tmp_path: Path, kind: str, suffix: str = "") -> tuple[Path, str]:
    make, reason = KINDS[kind]
    return make(tmp_path, suffix), reason


# -- a store of one small campaign, for the report and the Store methods -----------------------


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, demo_client: sk.SendKitClient) -> Path:
    root = tmp_path_factory.mktemp("synced") / "store"
    sk.sync(demo_client, root, campaigns=SMALL_CAMPAIGN, progress=False)
    return root


@pytest.fixture()
def store_copy(synced: Path, tmp_path: Path) -> Path:
    """A private copy of the synced store, free to break."""
    copy = tmp_path / "store"
    shutil.copytree(synced, copy)
    return copy


@pytest.fixture(scope="module")
def built_report(synced: Path) -> Report:
    return sk.report(sk.open_store(synced), progress=False)


# -- the Python entry points ---------------------------------------------------------------------

STORE_KINDS = ["long", "below_long", "loop"]


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_open_store(tmp_path: Path, kind: str) -> None:
    path, reason = bad_path(tmp_path, kind)
    before = tree(tmp_path)
    with pytest.raises(SendKitError) as caught:
        sk.open_store(path)
    check_error(caught.value, StoreError, path, reason)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("kind", [*KINDS])
def test_sync_refuses_before_any_request(
    tmp_path: Path, kind: str, client: sk.SendKitClient, server: DemoServer
) -> None:
    path, reason = bad_path(tmp_path, kind)
    before = tree(tmp_path)
    with pytest.raises(SendKitError) as caught:
        sk.sync(client, path, progress=False)
    check_error(caught.value, StoreError, path, reason)
    assert tree(tmp_path) == before, "no folder is made"
    assert server.request_log == []


def test_sync_refuses_a_nul_character(
    tmp_path: Path, client: sk.SendKitClient, server: DemoServer
) -> None:
    with pytest.raises(SendKitError) as caught:
        sk.sync(client, f"{tmp_path}/a\0b", progress=False)
    assert type(caught.value) is StoreError and "NUL character" in str(caught.value)
    assert tree(tmp_path) == [] and server.request_log == []


@pytest.mark.parametrize("read", [sk.read_leads, sk.read_campaigns])
@pytest.mark.parametrize("kind", STORE_KINDS)
def test_read_leads_and_campaigns(
    tmp_path: Path, kind: str, read: Callable[[Path], pl.DataFrame]
) -> None:
    path, reason = bad_path(tmp_path, kind, ".parquet")
    before = tree(tmp_path)
    with pytest.raises(SendKitError) as caught:
        read(path)
    check_error(caught.value, BadRequestError, path, reason)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("kind", [*KINDS])
def test_report_checks_its_path_before_any_request(
    tmp_path: Path, kind: str, client: sk.SendKitClient, server: DemoServer
) -> None:
    path, reason = bad_path(tmp_path, kind, ".html")
    before = tree(tmp_path)
    with pytest.raises(SendKitError) as caught:
        sk.report(client, SMALL_CAMPAIGN, path, progress=False)
    check_error(caught.value, BadRequestError, path, reason)
    assert tree(tmp_path) == before
    assert server.request_log == [], "refused before the load, not after it"


@pytest.mark.parametrize("kind", [*KINDS])
def test_write_raw_html(tmp_path: Path, kind: str, built_report: Report) -> None:
    path, reason = bad_path(tmp_path, kind, ".html")
    before = tree(tmp_path)
    with pytest.raises(SendKitError) as caught:
        built_report.write_raw_html(path)
    check_error(caught.value, BadRequestError, path, reason)
    assert tree(tmp_path) == before


STORE_READS: dict[str, Callable[[sk.Store], Any]] = {
    "campaigns": lambda store: store.campaigns(),
    "history": lambda store: store.history(),
    "leads": lambda store: store.leads(),
    "scan_leads": lambda store: store.scan_leads(),
    "pulled_at": lambda store: store.pulled_at,
    "is_demo": lambda store: store.is_demo,
    "as_of": lambda store: store.as_of,
}


@pytest.mark.parametrize("method", [*STORE_READS])
@pytest.mark.parametrize("kind", ["long", "below_long"])
def test_store_methods_on_a_path_that_cannot_be_looked_up(
    tmp_path: Path, kind: str, method: str
) -> None:
    path, reason = bad_path(tmp_path, kind)
    with pytest.raises(SendKitError) as caught:
        STORE_READS[method](sk.Store(path))
    check_error(caught.value, StoreError, path, reason)


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("campaigns.parquet", "campaigns"),
        ("syncs.parquet", "history"),
        ("syncs.parquet", "pulled_at"),
        ("store.json", "is_demo"),
        (f"leads/campaign_id={SMALL_CAMPAIGN}/data.parquet", "leads"),
        (f"leads/campaign_id={SMALL_CAMPAIGN}/data.parquet", "scan_leads"),
    ],
)
def test_a_store_file_that_is_a_symlink_loop_is_not_read_as_missing(
    store_copy: Path, name: str, method: str
) -> None:
    """A store file that cannot be looked up must not read as absent: an empty campaigns list
    or history, or a campaign's leads silently left out, would be wrong numbers."""
    store = sk.open_store(store_copy)
    broken = store_copy / name
    broken.unlink()
    broken.symlink_to(broken.name)
    before = tree(store_copy)
    with pytest.raises(SendKitError) as caught:
        STORE_READS[method](store)
    assert type(caught.value) is StoreError, repr(caught.value)
    assert str(broken)[:50] in str(caught.value) and LOOPING in str(caught.value)
    assert tree(store_copy) == before


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_dashboard_on_a_store_path(
    tmp_path: Path, kind: str, client: sk.SendKitClient, server: DemoServer
) -> None:
    """``sk.dashboard(client, store=path)`` shows the error inside the dashboard (its actions
    never raise into the notebook) as the StoreError, not as an unexpected error."""
    path, reason = bad_path(tmp_path, kind)
    before = tree(tmp_path)
    board = sk.dashboard(client, store=path)
    try:
        assert board.last_error is not None
        check_error(board.last_error, StoreError, path, reason)
    finally:
        board.close()
    assert tree(tmp_path) == before
    assert not [r for r in server.request_log if "/leads" in r.path], "nothing was synced"


@pytest.mark.parametrize("kind", ["long", "loop"])
def test_dashboard_export_html(tmp_path: Path, kind: str, client: sk.SendKitClient) -> None:
    board = sk.dashboard(client, campaign=SMALL_CAMPAIGN)
    try:
        assert board.last_error is None, board.last_error
        path, reason = bad_path(tmp_path, kind, ".html")
        before = tree(tmp_path)
        assert board.export_html(path) is None
        assert board.last_error is not None
        check_error(board.last_error, BadRequestError, path, reason)
        assert tree(tmp_path) == before
    finally:
        board.close()


@pytest.fixture()
def shell() -> Iterator[Any]:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "sendkit_nb")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "sendkit_nb")


@pytest.mark.parametrize("kind", ["long", "loop"])
def test_magic_dashboard_offline_store(tmp_path: Path, kind: str, shell: Any) -> None:
    from IPython.core.error import UsageError

    path, reason = bad_path(tmp_path, kind)
    with pytest.raises(UsageError) as caught:
        shell.run_line_magic("sendkit", f"dashboard --store {path} --offline")
    assert str(path)[:50] in str(caught.value) and reason in str(caught.value)


# -- the command line ----------------------------------------------------------------------------

#: Each command with a path in it: the suffix its bad path gets, and its arguments.
CLI_CASES: dict[str, tuple[str, Callable[[Path, Path], list[str]]]] = {
    "leads -o": (".parquet", lambda bad, tmp: ["leads", SMALL_CAMPAIGN, "--demo", "-o", str(bad)]),
    "report -o": (".html", lambda bad, tmp: ["report", SMALL_CAMPAIGN, "--demo", "-o", str(bad)]),
    "report --from": (
        "",
        lambda bad, tmp: ["report", "--from", str(bad), "-o", str(tmp / "r.html")],
    ),
    "sync --store": ("", lambda bad, tmp: ["sync", "--demo", "--store", str(bad)]),
}


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        (command, kind)
        for command in CLI_CASES
        for kind in KINDS
        # A store to read below a missing folder is just missing: the usual "no store".
        if (command, kind) != ("report --from", "long_in_new")
    ],
)
def test_cli(tmp_path: Path, command: str, kind: str) -> None:
    suffix, make_args = CLI_CASES[command]
    path, reason = bad_path(tmp_path, kind, suffix)
    args = make_args(path, tmp_path)
    before = tree(tmp_path)
    line = one_error_line(run(*args, "--no-progress"))
    assert line.startswith("sendkit-nb: error: cannot "), line
    assert str(path)[:50] in line and reason in line and "Hint:" in line, line
    assert tree(tmp_path) == before


# -- names polars would take for glob patterns -----------------------------------------------

#: A folder name with every character polars' readers expand as a glob: they must be read as
#: written (a store or file path is a name, never a pattern).
GLOBBY = "s[1]*?"


def test_a_store_whose_path_holds_glob_characters_reads_like_any_other(
    demo_client: sk.SendKitClient, tmp_path: Path
) -> None:
    plain, globby = tmp_path / "plain", tmp_path / GLOBBY
    sk.sync(demo_client, plain, progress=False)
    sk.sync(demo_client, globby, progress=False)
    a, b = sk.open_store(plain), sk.open_store(globby)
    assert (
        b.campaigns()
        .drop("pulled_at", "source_time")
        .equals(a.campaigns().drop("pulled_at", "source_time"))
    )
    assert b.leads().sort("id").equals(a.leads().sort("id"))
    assert b.scan_leads().select(pl.len()).collect().item() == a.leads().height == 8820
    assert b.history().height == a.history().height == 7
    target = globby / "r[1].html"
    sk.report(b, path=target, progress=False)
    assert "8,820" in target.read_text("utf-8")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_leads_file_whose_name_holds_glob_characters_reads_back(
    tmp_path: Path, suffix: str
) -> None:
    output = tmp_path / GLOBBY / f"leads[1]{suffix}"
    result = run("leads", SMALL_CAMPAIGN, "--demo", "--no-progress", "-o", str(output))
    assert result.returncode == 0, result.stderr
    leads = sk.read_leads(output)
    assert leads.height > 0 and set(leads["campaign_id"]) == {SMALL_CAMPAIGN}
    campaigns = sk.read_campaigns(output)
    assert campaigns.height == (1 if suffix == ".parquet" else 0)


@pytest.mark.parametrize(("command", "suffix"), [("leads", ".parquet"), ("report", ".html")])
def test_a_pipe_as_output_is_refused_not_replaced(
    tmp_path: Path, command: str, suffix: str
) -> None:
    pipe = tmp_path / f"out{suffix}"
    os.mkfifo(pipe)
    line = one_error_line(run(command, SMALL_CAMPAIGN, "--demo", "--no-progress", "-o", str(pipe)))
    assert "not a regular file" in line
    assert pipe.is_fifo(), "the pipe is still there, not replaced by a file"
    html_pipe = tmp_path / "python.html"
    os.mkfifo(html_pipe)
    with pytest.raises(sk.BadRequestError, match="not a regular file"):
        sk.report(sk.leads_from_items([], SMALL_CAMPAIGN), path=html_pipe, progress=False)
    assert html_pipe.is_fifo()
