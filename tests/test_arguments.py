"""Arguments of the wrong type or shape, at every public entry point that takes them.

The charter: only SendKitError subclasses leave the public API, and bad input gets a clear
error. So each case asserts the exact error class, that the message names the parameter, and
that the hint is one that fits (not BadRequestError's catch-all default, and not the text that
used to be it, which spoke of campaign ids and page limits under any error).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import sendkit_nb as sk
import sendkit_nb.metrics as m
from sendkit_nb._client import SendKitClient
from sendkit_nb._store import CAMPAIGNS_FILE, STORE_FORMAT, STORE_VERSION
from tests.test_cli import one_error_line, run

CID = "683b61000000000000000001"
OLD_DEFAULT_HINT = "campaign ids are 24 hex characters, limit is 1..100"


def _item(n: int, variant: str, replied: bool) -> dict[str, Any]:
    return {
        "_id": f"66{n:022x}",
        "status": "replied" if replied else "active",
        "replied": replied,
        "aiTag": "interested" if replied else None,
        "leadId": {"_id": f"77{n:022x}", "email": f"p{n}@example.com"},
        "emailsSent": [{"sequenceStep": 0, "variant": variant, "sentAt": "2025-06-01T10:00:00Z"}],
    }


#: A small leads frame built without the network: the metrics only need its shape.
LEADS = sk.leads_from_items([_item(n, "AB"[n % 2], n % 3 == 0) for n in range(12)], CID)


@pytest.fixture(scope="module")
def client() -> Iterator[SendKitClient]:
    """A demo client: every refusal below happens before any request is sent."""
    with SendKitClient.demo() as c:
        yield c


def assert_refused(
    call: Callable[[], object], error: type[sk.SendKitError], names: str
) -> sk.SendKitError:
    """``call`` raises exactly ``error``, naming ``names``, with a hint of its own."""
    with pytest.raises(sk.SendKitError) as caught:
        call()
    exc = caught.value
    assert type(exc) is error, repr(exc)
    assert names in exc.message, exc.message
    assert exc.hint != sk.BadRequestError.default_hint, str(exc)
    assert OLD_DEFAULT_HINT not in exc.hint
    assert "Hint:" not in exc.message, exc.message  # one hint: ours, never a wrapped one
    return exc


# -- the client argument --------------------------------------------------------------------------

CLIENT_TAKERS: dict[str, Callable[[object], object]] = {
    "load_leads": lambda c: sk.load_leads(c, CID, progress=False),  # type: ignore[arg-type]
    "load_campaigns": lambda c: sk.load_campaigns(c),  # type: ignore[arg-type]
    "load_replies": lambda c: sk.load_replies(c, CID, progress=False),  # type: ignore[arg-type]
    "load_lead_details": lambda c: sk.load_lead_details(c, progress=False),  # type: ignore[arg-type]
    "load_mailboxes": lambda c: sk.load_mailboxes(c),  # type: ignore[arg-type]
    "reconcile": lambda c: sk.reconcile(c, CID, progress=False),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("entry", sorted(CLIENT_TAKERS))
@pytest.mark.parametrize("value", [None, "sk_live_key", 5, "store"], ids=repr)
def test_a_non_client_is_refused_by_name(entry: str, value: object, tmp_path: Path) -> None:
    given = sk.Store(tmp_path) if value == "store" else value
    exc = assert_refused(lambda: CLIENT_TAKERS[entry](given), sk.BadRequestError, "client")
    assert "SendKitClient" in exc.message
    assert "sk.connect()" in exc.hint


@pytest.mark.parametrize("value", [None, 5], ids=repr)
def test_sync_refuses_a_non_client_and_leaves_the_folder_alone(
    value: object, tmp_path: Path
) -> None:
    target = tmp_path / "store"
    assert_refused(lambda: sk.sync(value, target), sk.BadRequestError, "client")  # type: ignore[arg-type]
    assert not target.exists()


def test_sync_given_a_store_says_a_store_is_what_it_writes(tmp_path: Path) -> None:
    exc = assert_refused(
        lambda: sk.sync(sk.Store(tmp_path), tmp_path / "new"),  # type: ignore[arg-type]
        sk.BadRequestError,
        "client",
    )
    assert "sync takes a SendKitClient" in exc.message
    assert "a Store is what it writes" in exc.message
    assert not (tmp_path / "new").exists()


# -- paths ----------------------------------------------------------------------------------------

PATH_TAKERS: dict[str, Callable[..., Callable[[object], object]]] = {
    "open_store": lambda client: lambda p: sk.open_store(p),  # type: ignore[arg-type]
    "read_leads": lambda client: lambda p: sk.read_leads(p),  # type: ignore[arg-type]
    "read_campaigns": lambda client: lambda p: sk.read_campaigns(p),  # type: ignore[arg-type]
    "sync": lambda client: lambda p: sk.sync(client, p, progress=False),  # type: ignore[arg-type]
    "report": lambda client: lambda p: sk.report(LEADS, path=p, progress=False),
    "Report.write_raw_html": lambda client: (
        lambda p: sk.report(LEADS, progress=False).write_raw_html(p)  # type: ignore[arg-type]
    ),
}


BAD_PATHS: list[object] = [None, 5, b"store", "", "   "]


@pytest.mark.parametrize(
    ("entry", "value"),
    # report(path=None) is documented: no file written.
    [(e, v) for e in sorted(PATH_TAKERS) for v in BAD_PATHS if (e, v) != ("report", None)],
    ids=repr,
)
def test_a_bad_path_is_refused_by_name(
    entry: str,
    value: object,
    client: SendKitClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "" used to mean the current folder: run where nothing may be written or read.
    monkeypatch.chdir(tmp_path)
    exc = assert_refused(lambda: PATH_TAKERS[entry](client)(value), sk.BadRequestError, "path")
    if isinstance(value, str):
        assert "empty path" in exc.message
    assert os.listdir(tmp_path) == []


def test_report_to_an_existing_folder_says_it_is_a_folder(tmp_path: Path) -> None:
    exc = assert_refused(
        lambda: sk.report(LEADS, path=tmp_path, progress=False), sk.BadRequestError, "folder"
    )
    assert str(tmp_path) in exc.message
    assert "report.html" in exc.hint


# -- numbers, flags, text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("positive_tags", lambda: m.headline(LEADS, positive_tags=5)),  # type: ignore[arg-type]
        ("positive_tags", lambda: m.funnel(LEADS, positive_tags=[None])),  # type: ignore[list-item]
        ("positive_tags", lambda: sk.report(LEADS, positive_tags=5, progress=False)),
        ("alpha", lambda: m.variant_funnel(LEADS, alpha="0.05")),  # type: ignore[arg-type]
        ("alpha", lambda: m.variant_funnel(LEADS, alpha=None)),  # type: ignore[arg-type]
        ("alpha", lambda: m.variant_funnel(LEADS, alpha=1.0)),
        ("min_sends", lambda: m.variant_funnel(LEADS, min_sends=10**20)),
        ("min_sends", lambda: m.variant_funnel(LEADS, min_sends=True)),
        ("min_sends", lambda: m.variant_funnel(LEADS, min_sends=-1)),
        ("min_events", lambda: m.variant_funnel(LEADS, min_events=2.5)),  # type: ignore[arg-type]
        ("within_days", lambda: m.reply_timing_summary(LEADS, within_days=-1)),
        ("within_days", lambda: m.reply_timing_summary(LEADS, within_days=10**12)),
        ("title", lambda: sk.report(LEADS, title="", progress=False)),
        ("title", lambda: sk.report(LEADS, title="  \n", progress=False)),
        ("title", lambda: sk.report(LEADS, title=5, progress=False)),
        ("leads", lambda: sk.emails(None)),  # type: ignore[arg-type]
        ("items", lambda: sk.leads_from_items(None, CID)),  # type: ignore[arg-type]
        ("items", lambda: sk.leads_from_items({"_id": "a"}, CID)),  # type: ignore[dict-item]
        ("items", lambda: sk.leads_from_items([{"_id": "a", "x": {1}}], CID)),
        ("items", lambda: sk.leads_from_items([{"_id": "a", "x": datetime.now(UTC)}], CID)),
        ("campaign_id", lambda: sk.leads_from_items([], None)),  # type: ignore[arg-type]
        ("campaign_id", lambda: sk.leads_from_items([], 5)),  # type: ignore[arg-type]
        ("campaign_id", lambda: sk.leads_from_items([], "  ")),
        ("details", lambda: sk.with_lead_details(LEADS, LEADS)),
    ],
)
def test_a_bad_value_is_refused_by_name(name: str, call: Callable[[], object]) -> None:
    assert_refused(call, sk.BadRequestError, name)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("full", {"full": "yes"}),
        ("full", {"full": 1}),
        ("max_age", {"max_age": 1e300}),
        ("max_age", {"max_age": timedelta(seconds=-1)}),
        ("campaigns", {"campaigns": 5}),
    ],
)
def test_sync_refuses_bad_options_before_writing(
    name: str, options: dict[str, Any], client: SendKitClient, tmp_path: Path
) -> None:
    target = tmp_path / "store"
    assert_refused(
        lambda: sk.sync(client, target, progress=False, **options), sk.BadRequestError, name
    )
    assert not target.exists()


@pytest.mark.parametrize("search", [5, "", ["a"]], ids=repr)
def test_load_campaigns_refuses_a_search_that_is_not_text(
    search: object, client: SendKitClient
) -> None:
    assert_refused(
        lambda: sk.load_campaigns(client, search=search),  # type: ignore[arg-type]
        sk.BadRequestError,
        "search",
    )


def test_good_values_still_pass(client: SendKitClient) -> None:
    """The checks refuse only what they should: the documented forms still work."""
    assert m.headline(LEADS, positive_tags="interested")["leads"][0] == LEADS.height
    assert m.headline(LEADS, positive_tags=[])["positive"][0] == 0
    assert m.variant_funnel(LEADS, min_sends=0, min_events=0, alpha=0.1).height == 2
    # numpy's numbers are numbers (a value taken from a frame is one).
    numpy_args = m.variant_funnel(
        LEADS,
        min_sends=np.int64(0),  # type: ignore[arg-type]
        alpha=np.float64(0.1),
    )
    assert numpy_args.equals(m.variant_funnel(LEADS, min_sends=0, alpha=0.1))
    names = sk.load_campaigns(client, search="Q3")["name"].to_list()
    assert names and all("Q3" in name for name in names), names
    details = pl.DataFrame({"lead_id": LEADS["lead_id"], "country": ["FR"] * LEADS.height})
    assert sk.with_lead_details(LEADS, details)["country"].to_list() == ["FR"] * LEADS.height


# -- the store's own files ------------------------------------------------------------------------


def _store(root: Path, version: object) -> Path:
    root.mkdir()
    marker = {"format": STORE_FORMAT, "version": version}
    (root / "store.json").write_text(json.dumps(marker), "utf-8")
    return root


@pytest.mark.parametrize("version", [True, 1.0], ids=repr)
def test_a_store_version_that_is_not_a_whole_number_is_damage(
    version: object, tmp_path: Path
) -> None:
    root = _store(tmp_path / "s", version)
    exc = assert_refused(lambda: sk.open_store(root), sk.StoreError, "version")
    assert repr(version) in exc.message


def test_a_campaigns_file_that_is_a_folder_gets_no_polars_hint(tmp_path: Path) -> None:
    root = _store(tmp_path / "s", STORE_VERSION)
    (root / CAMPAIGNS_FILE).mkdir()
    exc = assert_refused(lambda: sk.open_store(root).campaigns(), sk.StoreError, CAMPAIGNS_FILE)
    assert str(exc).count("Hint:") == 1


# -- the command line -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("report", "--demo", "--all", "-o", "r.html", "--title", ""), "--title"),
        (("report", "--demo", "--all", "-o", "r.html", "--title", "  "), "--title"),
        (("report", "--from", "", "-o", "r.html"), "--from"),
        (("report", "--demo", "--all", "-o", ""), "-o"),
        (("sync", "--demo", "--store", ""), "--store"),
        (("leads", "--demo", "--all", "-o", ""), "-o"),
        (("leads", "--demo", "--all", CID, "-o", "x.parquet"), "--all"),
    ],
)
def test_the_command_line_refuses_blank_values(
    args: tuple[str, ...], names: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the command runs here
    result = run(*args)
    line = one_error_line(result)
    message, _, hint = line.partition(". Hint: ")
    assert names in message
    assert hint and hint != sk.BadRequestError.default_hint and OLD_DEFAULT_HINT not in hint
    assert os.listdir(tmp_path) == []  # nothing written, in the current folder least of all


@pytest.mark.parametrize("source", [5, "sendkit-data", pl.DataFrame()])
def test_the_dashboard_names_a_source_that_is_neither_client_nor_store(source: object) -> None:
    with pytest.raises(sk.BadRequestError, match="takes a SendKitClient or a Store") as caught:
        sk.dashboard(source)  # type: ignore[arg-type]
    assert "sk.open_store(path)" in caught.value.hint


def test_reconcile_names_itself_when_given_no_client() -> None:
    with pytest.raises(sk.BadRequestError, match="reconcile takes a SendKitClient"):
        sk.reconcile(None, CID)  # type: ignore[arg-type]


def test_a_store_made_directly_takes_a_str_and_refuses_a_non_path(
    demo_client: sk.SendKitClient, tmp_path: Path
) -> None:
    sk.sync(demo_client, tmp_path / "s", progress=False)
    assert sk.Store(str(tmp_path / "s")).leads().height == 8820  # type: ignore[arg-type]
    with pytest.raises(sk.BadRequestError, match="path must be a path"):
        sk.Store(5)  # type: ignore[arg-type]
