"""A damaged store (``sk.open_store``, ``sk.sync``) against the demo API over real HTTP: each
kind of damage raises a StoreError naming the file, and the command its hint gives, run as a
reader would run it, mends the store. The damage: a ``syncs.parquet`` that cannot be read (the
history is derived data: the next sync sets it aside and begins a new one, and a report does not
need it), a ``campaigns.parquet`` missing or cut short, a leads file that holds another
campaign's leads, and a leads file whose row count is not the one ``campaigns.parquet``
records."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb.cli import main
from sendkit_nb.demo import DemoServer, make_workspace
from sendkit_nb.metrics import headline
from tests.conftest import no_sleep_client

#: Three campaigns with leads and one without: its file has no rows, and that is no damage.
SIZES = [250, 120, 40, 0]


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    """A workspace of its own (no test here changes it)."""
    with DemoServer(make_workspace(seed=11, sizes=SIZES)) as own:
        yield own


@pytest.fixture(scope="module")
def synced(server: DemoServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store synced once from ``server``; each test damages a copy of it."""
    root = tmp_path_factory.mktemp("synced") / "store"
    with no_sleep_client(server, max_retries=1) as client:
        assert sk.sync(client, root, progress=False).ok
    return root


@pytest.fixture()
def store(synced: Path, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(synced, root)
    return root


@pytest.fixture()
def env(server: DemoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a reader running the hint's ``sendkit-nb`` command has set: the key and the URL."""
    monkeypatch.setenv("SENDKIT_API_KEY", server.api_key)
    monkeypatch.setenv("SENDKIT_BASE_URL", server.url)


def _raw_ids(server: DemoServer) -> dict[str, list[str]]:
    """Each campaign's lead ids as the demo API's raw JSON has them."""
    return {
        str(campaign_id): sorted(str(item["_id"]) for item in items)
        for campaign_id, items in server.workspace.leads.items()
    }


def _leads_file(root: Path, campaign_id: str) -> Path:
    return root / "leads" / f"campaign_id={campaign_id}" / "data.parquet"


def _commands(hint: str) -> list[list[str]]:
    """The shell commands a hint gives, in its order (each between backticks)."""
    return [shlex.split(found) for found in re.findall(r"`([^`]+)`", hint)]


def _run_hint(exc: sk.StoreError, capsys: pytest.CaptureFixture[str]) -> str:
    """Run every command of ``exc``'s hint as a reader would (``sendkit-nb`` in this process,
    anything else in a shell); the sync's stderr."""
    commands = _commands(exc.hint)
    assert commands, exc.hint
    capsys.readouterr()
    for command in commands:
        if command[0] == "sendkit-nb":
            assert main([*command[1:], "--no-progress"]) == 0, capsys.readouterr().err
        else:
            subprocess.run(command, check=True)
    return capsys.readouterr().err


def _assert_whole(root: Path, server: DemoServer) -> None:
    """The store reads as the API has it: every campaign, every lead once."""
    store = sk.open_store(root)
    raw = _raw_ids(server)
    campaigns = store.campaigns()
    assert sorted(campaigns["campaign_id"]) == sorted(raw)
    for campaign_id, ids in raw.items():
        assert sorted(store.leads(campaign_id)["id"]) == ids
        row = campaigns.filter(pl.col("campaign_id") == campaign_id)
        assert row["leads"].item() == len(ids)
    assert store.leads().height == sum(SIZES)
    assert f"{len(raw)} campaigns" in repr(store)


# -- syncs.parquet: the history ------------------------------------------------------------


def test_a_damaged_history_is_set_aside_by_the_sync_its_hint_names(
    store: Path, server: DemoServer, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sk.open_store(store).history()
    (store / "syncs.parquet").write_bytes(b"")  # emptied, as `: > syncs.parquet` does

    with pytest.raises(sk.StoreError) as caught:
        sk.open_store(store).history()
    assert str(store / "syncs.parquet") in caught.value.message
    assert "sets it aside" in caught.value.hint

    said = _run_hint(caught.value, capsys)
    assert "history (syncs.parquet) could not be read" in said
    aside = [p for p in store.iterdir() if p.name.startswith("syncs.parquet.damaged-")]
    assert len(aside) == 1 and aside[0].read_bytes() == b""  # kept, not deleted

    # A new history, one row per campaign: the unchanged campaigns' headlines are computed
    # from their files and agree with what the first sync recorded from the API's leads.
    history = sk.open_store(store).history()
    assert sorted(history["campaign_id"]) == sorted(before["campaign_id"])
    columns = [c for c in history.columns if c not in ("pulled_at",)]
    assert (
        history.select(columns)
        .sort("campaign_id")
        .equals(before.select(columns).sort("campaign_id"))
    )
    assert history["leads"].sum() == sum(len(ids) for ids in _raw_ids(server).values())
    _assert_whole(store, server)


def test_a_sync_from_python_says_it_began_a_new_history(store: Path, server: DemoServer) -> None:
    # Readable, but a column of another type: not a history the sync can append to.
    history = pl.read_parquet(store / "syncs.parquet")
    history.with_columns(pl.col("pulled_at").cast(pl.String)).write_parquet(store / "syncs.parquet")
    with (
        no_sleep_client(server, max_retries=1) as client,
        warnings.catch_warnings(record=True) as seen,
    ):
        warnings.simplefilter("always")
        result = sk.sync(client, store, progress=False)
    assert result.ok and result.history_set_aside is not None
    assert result.history_set_aside.name.startswith("syncs.parquet.damaged-")
    assert result.history_set_aside.is_file()
    assert "damaged history set aside" in repr(result)
    assert [str(w.message) for w in seen if "syncs.parquet" in str(w.message)] == [
        f"the store's history (syncs.parquet) could not be read: it was "
        f"set aside as {result.history_set_aside} and a new history begins with this sync "
        "(store.history() and the trends start again here)"
    ]
    assert sk.open_store(store).history().height == len(SIZES)

    # The next sync appends to the new history and sets nothing aside.
    with no_sleep_client(server, max_retries=1) as client:
        again = sk.sync(client, store, progress=False)
    assert again.history_set_aside is None
    assert sk.open_store(store).history().height == 2 * len(SIZES)


def test_a_report_from_a_store_with_a_damaged_history_says_so_and_is_built(
    store: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (store / "syncs.parquet").write_bytes(b"PAR1 cut short")
    target = store.parent / "report.html"
    assert main(["report", "--from", str(store), "-o", str(target), "--no-progress"]) == 0
    page = target.read_text("utf-8")
    assert "sync history cannot be read" in page and "syncs.parquet" in page
    assert page.count('class="sk-tab"') == len(SIZES)


def test_a_missing_history_is_no_damage(store: Path, server: DemoServer) -> None:
    (store / "syncs.parquet").unlink()
    opened = sk.open_store(store)
    assert opened.history().height == 0 and opened.pulled_at is None
    with no_sleep_client(server, max_retries=1) as client:
        result = sk.sync(client, store, progress=False)
    assert result.history_set_aside is None and not result.fetched
    # Unchanged campaigns get their row from their files: every campaign's trend goes on.
    history = sk.open_store(store).history()
    assert sorted(history["campaign_id"]) == sorted(_raw_ids(server))
    assert history.sort("campaign_id")["leads"].to_list() == [
        len(ids) for _, ids in sorted(_raw_ids(server).items())
    ]
    leads = sk.open_store(store).leads()
    expected = headline(leads).sort("campaign_id")["replied"].to_list()
    assert history.filter(pl.col("leads") > 0).sort("campaign_id")["replied"].to_list() == expected


# -- campaigns.parquet ----------------------------------------------------------------------


def test_a_missing_campaigns_file_beside_leads_files_is_damage(
    store: Path,
    server: DemoServer,
    env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    (store / "campaigns.parquet").unlink()
    # While a first sync runs, that is what a reader sees: leads files written,
    # campaigns.parquet not yet (it is written at the end), the lock held. No damage then.
    (store / "sync.lock").write_text("{}", "utf-8")
    opened = sk.open_store(store)
    assert opened.campaigns().height == 0 and opened.leads().height == sum(SIZES)

    (store / "sync.lock").unlink()
    # The leads are the data and still read, offline (a copied store may never sync again);
    # what needs the catalog says it is missing.
    assert opened.leads().height == sum(SIZES)
    for read in (opened.campaigns, lambda: repr(opened)):
        with pytest.raises(sk.StoreError) as caught:
            read()
        assert str(store / "campaigns.parquet") in caught.value.message
        assert "missing" in caught.value.message
    with pytest.raises(sk.StoreError, match=r"campaigns\.parquet is missing"):
        sk.report(opened, progress=False)

    assert [c[:2] for c in _commands(caught.value.hint)] == [["sendkit-nb", "sync"]]
    _run_hint(caught.value, capsys)
    _assert_whole(store, server)

    # A store with no campaign yet stays valid: an empty workspace's first sync, then the same
    # store as a first sync that failed before writing anything leaves it (store.json alone).
    root = tmp_path / "new"
    with (
        DemoServer(make_workspace(seed=2, sizes=[])) as empty,
        no_sleep_client(empty, max_retries=1) as client,
    ):
        sk.sync(client, root, progress=False)
    for name in (None, "campaigns.parquet", "syncs.parquet"):
        if name is not None:
            (root / name).unlink()
        opened = sk.open_store(root)
        assert opened.campaigns().height == 0 and opened.leads().height == 0
        assert "0 campaigns, 0 leads" in repr(opened)
    assert sorted(p.name for p in root.iterdir()) == ["store.json"]


def test_a_cut_campaigns_file_hints_moving_it_aside_then_syncing(
    store: Path, server: DemoServer, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = store / "campaigns.parquet"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(sk.StoreError) as caught:
        sk.open_store(store).campaigns()
    assert str(path) in caught.value.message
    assert sk.open_store(store).leads().height == sum(SIZES)  # the leads still read
    # The sync reads it too: without the way out in the hint, the store would stay stuck.
    with no_sleep_client(server, max_retries=1) as client, pytest.raises(sk.StoreError) as synced:
        sk.sync(client, store, progress=False)
    assert synced.value.hint == caught.value.hint
    assert [c[0] for c in _commands(caught.value.hint)] == ["mv", "sendkit-nb"]
    _run_hint(caught.value, capsys)
    _assert_whole(store, server)
    assert (store / "campaigns.parquet.damaged").is_file()


# -- leads files that disagree with their folder or the catalog ----------------------------


def test_another_campaigns_file_copied_in_is_damage(
    store: Path, server: DemoServer, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, third = sorted(_raw_ids(server))[:3]
    target = _leads_file(store, first)
    # Same row count is not what tells it: the campaign_id column does.
    shutil.copy(_leads_file(store, second), target)
    opened = sk.open_store(store)
    for read in (opened.leads, lambda: opened.leads(first), opened.scan_leads):
        with pytest.raises(sk.StoreError) as caught:
            read()
        assert str(target) in caught.value.message and second in caught.value.message
    assert sorted(opened.leads(third)["id"]) == _raw_ids(server)[third]  # other files read

    assert _commands(caught.value.hint)[0][-3:] == ["--full", "--campaign", first]
    _run_hint(caught.value, capsys)
    _assert_whole(store, server)


@pytest.mark.parametrize("kept", [0, 7])
def test_a_leads_file_the_catalog_disagrees_with_is_damage(
    kept: int,
    store: Path,
    server: DemoServer,
    env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    campaign_id = next(c for c, ids in sorted(_raw_ids(server).items()) if ids)
    target = _leads_file(store, campaign_id)
    pl.read_parquet(target).head(kept).write_parquet(target)
    # While a sync holds the lock, a file may be newer than its row (the sync replaces each file
    # as it has the campaign, and campaigns.parquet at its end): no damage then.
    (store / "sync.lock").write_text("{}", "utf-8")
    expected = len(_raw_ids(server)[campaign_id])
    assert sk.open_store(store).leads().height == sum(SIZES) - expected + kept

    (store / "sync.lock").unlink()
    with pytest.raises(sk.StoreError) as caught:
        sk.open_store(store).leads()
    assert str(target) in caught.value.message
    assert f"holds {kept} leads where campaigns.parquet records {expected}" in (
        caught.value.message
    )
    _run_hint(caught.value, capsys)
    _assert_whole(store, server)
