"""One rule for campaign ids and lead statuses (``sendkit_nb._checks``), and every entry point
following it: the loader, the client, the CLI and the magics give one value one outcome.

The rule: the canonical form, or one differing from it only by letter case and surrounding
whitespace, is accepted and returned canonical (ids lower-case, statuses as in LEAD_STATUSES);
anything else is a BadRequestError with a hint, quoting the value cut short.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import plotly.io as pio
import polars as pl
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import sendkit_nb as sk
from sendkit_nb import cli
from sendkit_nb._checks import (
    SHOWN_CHARS,
    check_object_id,
    check_status_filter,
    check_statuses,
    object_id_or_none,
    shown,
    statuses_from_args,
)
from sendkit_nb.demo import DemoServer

ROOT = Path(__file__).resolve().parent.parent
SMALL = "683b610000000000000041c1"  # the demo's 120-lead campaign
SMALL_UPPER = SMALL.upper()
# Longest error line a rejected value may produce: the message and hint around SHOWN_CHARS
# characters of the value (the hint lists the nine statuses).
MAX_LINE = 400


# -- the rule itself ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [SMALL, SMALL_UPPER, f" {SMALL}", f"{SMALL}\n", f"\t{SMALL_UPPER} ", "683B61" + SMALL[6:]],
)
def test_an_id_differing_only_by_case_or_whitespace_is_accepted_lower_case(variant: str) -> None:
    assert check_object_id(variant) == SMALL
    assert object_id_or_none(variant) == SMALL


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "not-an-id",
        SMALL[:-1],
        SMALL + "0",
        f"{SMALL[:12]} {SMALL[12:]}",  # inner whitespace is not surrounding whitespace
        "\u212a" * 24,  # KELVIN SIGN lower-cases to ASCII "k": still not hex
        "\uff10" * 24,  # FULLWIDTH DIGIT ZERO: a digit, not an ASCII one
        None,
        24,
        b"683b610000000000000041c1",
        [SMALL],
    ],
)
def test_anything_else_is_one_bad_request_with_a_hint(bad: object) -> None:
    assert object_id_or_none(bad) is None
    with pytest.raises(sk.BadRequestError, match="24-character hex id") as caught:
        check_object_id(bad)
    assert "load_campaigns" in caught.value.hint


def test_statuses_are_canonical_without_repeats() -> None:
    assert check_statuses(None) is None
    assert check_statuses("replied") == ("replied",)
    assert check_statuses(" Replied\n") == ("replied",)
    assert check_statuses(["REPLIED", "bounced", "replied"]) == ("replied", "bounced")
    assert check_statuses(pl.Series(["active", "active"])) == ("active",)
    assert check_statuses(iter(["failed"])) == ("failed",)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("sleeping", "unknown lead status 'sleeping'"),
        (["replied", "sleeping", "dozing"], r"unknown lead status 'sleeping' \(and 1 more\)"),
        ([], r"unknown lead status \[\]: name at least one"),
        ([5], "unknown lead status 5"),
        ("", "unknown lead status ''"),
        (5, "status must be a lead status or a list of them, got a int"),
        ({"replied": 1}, "got a dict"),
        (b"replied", "got a bytes"),
    ],
)
def test_bad_statuses_are_one_bad_request_with_a_hint(bad: object, message: str) -> None:
    with pytest.raises(sk.BadRequestError, match=message) as caught:
        check_statuses(bad)
    assert "replied" in caught.value.hint


def test_a_status_filter_reads_nothing_chosen_as_every_status() -> None:
    # The dashboard's form: a widget with nothing ticked filters nothing.
    assert check_status_filter(None) == ()
    assert check_status_filter([]) == ()
    assert check_status_filter(()) == ()
    # A plain string is one status, not its letters (the dashboard's old check read 'r').
    assert check_status_filter("Replied") == ("replied",)
    assert check_status_filter(["replied", "replied"]) == ("replied",)
    with pytest.raises(sk.BadRequestError, match="unknown lead status 'nope'"):
        check_status_filter(["replied", "nope"])


def test_command_line_statuses_split_on_commas() -> None:
    assert statuses_from_args(None) is None
    assert statuses_from_args([]) is None
    assert statuses_from_args(["replied,bounced", " Active ", "replied,"]) == (
        "replied",
        "bounced",
        "active",
    )
    # `--status ""` chose nothing, which is the empty selection: an error, as in the loader.
    with pytest.raises(sk.BadRequestError, match="name at least one"):
        statuses_from_args([""])
    with pytest.raises(sk.BadRequestError, match="name at least one"):
        statuses_from_args([" , "])


class _LoudRepr:
    def __repr__(self) -> str:
        return "L" * 100_000


class _BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize(
    "value",
    [
        "x" * 100_000,
        ["x" * 100_000],
        list(range(100_000)),
        {"k" * 1000: "v" * 1000},
        10**5000,  # too many digits for repr() (Python's int limit): the check must not crash
        _LoudRepr(),
        _BrokenRepr(),
    ],
    ids=["long-str", "list-of-long-str", "long-list", "dict", "huge-int", "loud-repr", "no-repr"],
)
def test_a_rejected_value_is_quoted_cut_short(value: object) -> None:
    assert len(shown(value)) <= SHOWN_CHARS
    for check in (check_object_id, check_statuses, check_status_filter):
        with pytest.raises(sk.BadRequestError) as caught:
            check(value)
        assert len(str(caught.value)) < MAX_LINE, check


# -- every entry point follows it -----------------------------------------------------------------


@pytest.fixture()
def shell(server: DemoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """IPython with the extension loaded, its clients pointed at the test server (as in
    tests/test_magics.py)."""
    _use_server(server, monkeypatch)
    ip = InteractiveShell.instance()
    saved = pio.renderers.default
    ip.run_line_magic("load_ext", "sendkit_nb")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "sendkit_nb")
        pio.renderers.default = saved


def _use_server(server: DemoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENDKIT_API_KEY", server.api_key)
    monkeypatch.setenv("SENDKIT_BASE_URL", server.url)
    monkeypatch.delenv("SENDKIT_WORKSPACE_ID", raising=False)


def _cli(*args: str) -> tuple[int, str, str]:
    """``sendkit-nb ARGS`` in this process (against the server the environment names)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([*args, "--no-progress"])
    return code, out.getvalue(), err.getvalue()


def _lead_walks(server: DemoServer, status: str | None = None) -> int:
    """How many walks of a campaign's leads the server saw (each starts without a cursor and
    on the first page)."""
    return sum(
        1
        for r in server.request_log
        if r.path.endswith("/leads")
        and r.query.get("page", "1") == "1"
        and "cursor" not in r.query
        and r.query.get("status") == status
    )


def test_the_same_upper_case_id_gets_the_same_leads_everywhere(
    client: sk.SendKitClient,
    server: DemoServer,
    shell: InteractiveShell,
    tmp_path: Path,
) -> None:
    expected = sk.load_leads(client, SMALL, progress=False)
    assert expected.height == 120
    # The loader (it rejected upper case before; the magics accepted it).
    by_loader = sk.load_leads(client, f" {SMALL_UPPER}\n", progress=False)
    assert by_loader.equals(expected)
    assert set(by_loader["campaign_id"]) == {SMALL}  # joins with the campaigns list
    # The client's endpoints ask for the canonical id.
    server.reset()
    assert client.campaign(SMALL_UPPER)["_id"] == SMALL
    assert [r.path for r in server.request_log] == [f"/v1/campaigns/{SMALL}"]
    # The CLI (it rejected upper case before), the same id twice in two cases being one.
    path = tmp_path / "leads.parquet"
    code, out, err = _cli("leads", SMALL_UPPER, SMALL, "-o", str(path))
    assert code == 0, err
    assert "wrote 120 leads of 1 campaign(s)" in out
    assert pl.read_parquet(path).equals(expected)
    assert "Local partners pilot" in out  # its name found: the id joined the campaigns list
    # The magics (unchanged: they accepted it already).
    by_magic = shell.run_line_magic("sendkit", f"leads {SMALL_UPPER} --quiet")
    assert by_magic.equals(expected)


def test_a_malformed_id_gets_the_same_message_everywhere(
    client: sk.SendKitClient,
    server: DemoServer,
    shell: InteractiveShell,
    tmp_path: Path,
) -> None:
    bad = SMALL[:-1] + "g"
    with pytest.raises(sk.BadRequestError) as caught:
        sk.load_leads(client, bad, progress=False)
    message = caught.value.message
    assert (
        message
        == f"campaign id must be a 24-character hex id like '665a1b2c3d4e5f6a7b8c9d0e', got '{bad}'"
    )
    with pytest.raises(sk.BadRequestError) as by_client:
        client.campaign(bad)
    assert by_client.value.message == message
    code, _, err = _cli("leads", bad, "-o", str(tmp_path / "unused.parquet"))
    assert code == 1 and message in err
    # The magics read anything that is not an id as a campaign name; a blank one has no name
    # to look up, and gets the loader's message.
    with pytest.raises(UsageError, match="must be a 24-character hex id"):
        shell.run_line_magic("sendkit", "leads '  ' --quiet")
    assert server.request_log == []


def test_statuses_in_any_case_and_repeated_select_the_same_leads_everywhere(
    client: sk.SendKitClient,
    server: DemoServer,
    shell: InteractiveShell,
    tmp_path: Path,
) -> None:
    expected = sk.load_leads(client, SMALL, ["replied", "bounced"], progress=False)
    assert expected.height > 0
    server.reset()
    by_loader = sk.load_leads(client, SMALL, ["Replied", "bounced", "replied"], progress=False)
    assert by_loader.sort("id").equals(expected.sort("id"))
    # A status named twice is walked once (it was walked twice).
    assert _lead_walks(server, "replied") == 1
    server.reset()
    path = tmp_path / "leads.parquet"
    code, _, err = _cli(
        "leads", SMALL, "--status", "Replied", "--status", "bounced,replied", "-o", str(path)
    )
    assert code == 0, err
    assert pl.read_parquet(path).sort("id").equals(expected.sort("id"))
    assert _lead_walks(server, "replied") == 1
    by_magic = shell.run_line_magic("sendkit", f"leads {SMALL} --status REPLIED bounced --quiet")
    assert by_magic.sort("id").equals(expected.sort("id"))


def test_an_empty_status_option_is_the_same_error_for_leads_and_dashboard(
    server: DemoServer, shell: InteractiveShell, tmp_path: Path
) -> None:
    # Before, `leads` refused it while `dashboard` opened with no filter at all.
    for command in (f"dashboard {SMALL}", f"leads {SMALL} --quiet"):
        with pytest.raises(UsageError, match="unknown lead status") as caught:
            shell.run_line_magic("sendkit", f'{command} --status ""')
        assert "name at least one" in str(caught.value)
    assert server.request_log == []
    code, _, err = _cli("leads", SMALL, "--status", "", "-o", str(tmp_path / "unused.parquet"))
    assert code == 1 and "name at least one" in err


def test_the_dashboard_magic_opens_with_statuses_in_canonical_form(
    shell: InteractiveShell,
) -> None:
    dash = shell.run_line_magic("sendkit", f"dashboard {SMALL_UPPER} --status Replied,replied")
    try:
        assert dash.selection.campaign_id == SMALL
        assert dash.selection.statuses == ("replied",)
    finally:
        dash.close()


def test_no_entry_point_echoes_a_long_value_in_full(
    client: sk.SendKitClient, shell: InteractiveShell, tmp_path: Path
) -> None:
    long = "x" * 5_000
    calls: list[Callable[[], object]] = [
        lambda: sk.load_leads(client, [long], progress=False),  # type: ignore[arg-type]
        lambda: sk.load_leads(client, SMALL, long, progress=False),
        lambda: sk.load_leads(client, SMALL, [long], progress=False),
        lambda: sk.load_leads(client, SMALL, limit=long, progress=False),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(sk.BadRequestError) as caught:
            call()
        assert len(str(caught.value)) < MAX_LINE
    code, _, err = _cli("leads", SMALL, "--status", long, "-o", str(tmp_path / "unused.parquet"))
    assert code == 1 and len(err) < MAX_LINE
    # The magics look a non-id up as a name; not finding one, they quote it cut short too.
    with pytest.raises(UsageError, match="no campaign with id or name") as caught_magic:
        shell.run_line_magic("sendkit", f"leads {long} --quiet")
    assert len(str(caught_magic.value)) < MAX_LINE


def test_the_report_takes_an_upper_case_id_as_its_lower_case_form(
    client: sk.SendKitClient,
) -> None:
    html = sk.report(client, SMALL_UPPER, progress=False).as_raw_html()
    assert SMALL in html and SMALL_UPPER not in html


# -- __version__ and the renderer -----------------------------------------------------------------


def test_no_submodule_imports_the_package_root_for_its_version() -> None:
    offenders = []
    for path in sorted((ROOT / "sendkit_nb").rglob("*.py")):
        if path == ROOT / "sendkit_nb" / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "sendkit_nb"
                and any(alias.name == "__version__" for alias in node.names)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
    from sendkit_nb._version import __version__

    assert sk.__version__ == __version__


def test_the_renderer_is_a_module_of_its_own() -> None:
    # Setting the renderer (and loading the extension) needs neither the report package nor
    # its templates; the old module is gone rather than kept as a second copy.
    code = (
        "import sys, sendkit_nb as sk, sendkit_nb.magics\n"
        "assert sk.use_offline_renderer() == 'plotly_mimetype+sendkit_offline'\n"
        "assert 'sendkit_nb._report' not in sys.modules, 'report imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert not (ROOT / "sendkit_nb" / "_report" / "_renderer.py").exists()
    from sendkit_nb._renderer import OFFLINE_RENDERER
    from sendkit_nb._report import OFFLINE_RENDERER as REPORTED

    assert OFFLINE_RENDERER == REPORTED == "sendkit_offline"
