"""Where a store's data comes from (``store.json``'s ``demo``) and the repair of a campaign
deleted upstream, against the demo API over real HTTP.

The flag of a store that does not record it yet is decided under the sync's lock, and only
with evidence that the store came from the same source (one of its campaigns is in the list
the sync fetched): a store of other campaigns is refused rather than mixed. A damaged leads
file of a campaign deleted upstream cannot be pulled again; its hint says to remove its folder,
and a sync that names it with ``full=True`` says why it cannot."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import sendkit_nb as sk
from sendkit_nb._store import prepare_store
from sendkit_nb.demo import DemoServer, make_workspace

#: Campaigns of the default demo workspace (what ``SendKitClient.demo()`` serves).
DEMO_PILOT = "683b610000000000000041c1"  # "Local partners pilot": a small completed campaign
DEMO_EMPTY = "683b61000000000000004513"  # archived, no leads


@pytest.fixture()
def other_server() -> Iterator[DemoServer]:
    """A workspace whose campaign ids are not the demo's (another seed): real campaigns as far
    as a store can tell, served to a client that is not the embedded demo."""
    with DemoServer(make_workspace(seed=11, sizes=[30, 20, 0])) as server:
        yield server


@pytest.fixture()
def real_client(other_server: DemoServer) -> Iterator[sk.SendKitClient]:
    with sk.SendKitClient(other_server.api_key, base_url=other_server.url) as client:
        assert not client.is_demo
        yield client


def _ids(server: DemoServer) -> list[str]:
    return sorted(str(c["_id"]) for c in server.workspace.campaigns)


def _files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _unflag(root: Path) -> dict[str, object]:
    """Drop ``demo`` from ``store.json``, as a release before the flag wrote it."""
    marker = root / "store.json"
    info: dict[str, object] = json.loads(marker.read_text("utf-8"))
    del info["demo"]
    marker.write_text(json.dumps(info), "utf-8")
    return info


def _flag(root: Path) -> object:
    return json.loads((root / "store.json").read_text("utf-8")).get("demo", "absent")


# -- the demo flag -------------------------------------------------------------------------------


def test_a_store_of_other_campaigns_without_the_flag_is_not_mixed_with_the_demo(
    real_client: sk.SendKitClient, demo_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "real store"
    sk.sync(real_client, root, progress=False)
    _unflag(root)
    before = _files(root)
    with pytest.raises(sk.StoreError, match="does not record its source") as caught:
        sk.sync(demo_client, root, progress=False)
    text = str(caught.value)
    assert str(root) in text and "not in this workspace" in text, text
    assert "another folder" in caught.value.hint
    assert _files(root) == before, "nothing written: no flag, no demo campaign"
    assert not (root / "sync.lock").exists()
    held = set(sk.open_store(root).campaigns()["campaign_id"])
    assert held and not held & set(sk.load_campaigns(demo_client)["campaign_id"])


def test_a_demo_store_without_the_flag_is_not_mixed_with_other_campaigns(
    real_client: sk.SendKitClient,
    other_server: DemoServer,
    demo_client: sk.SendKitClient,
    tmp_path: Path,
) -> None:
    root = tmp_path / "demo store"
    sk.sync(demo_client, root, [DEMO_EMPTY], progress=False)
    _unflag(root)
    before = _files(root)
    other_server.reset()
    with pytest.raises(sk.StoreError, match="does not record its source"):
        sk.sync(real_client, root, progress=False)
    assert _files(root) == before
    # Only the campaigns list was asked for: no campaign's leads.
    assert [r.path for r in other_server.request_log] == ["/v1/campaigns"]


def test_a_store_whose_campaigns_the_workspace_lists_gets_the_clients_kind(
    real_client: sk.SendKitClient, other_server: DemoServer, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    first, second, _ = _ids(other_server)
    sk.sync(real_client, root, [first], progress=False)
    info = _unflag(root)
    assert not sk.open_store(root).is_demo
    # A sync of another campaign: the store's one is in the list it fetched.
    done = sk.sync(real_client, root, [second], progress=False)
    assert done.fetched == (second,) and done.ok
    assert json.loads((root / "store.json").read_text()) == {**info, "demo": False}


def test_a_store_without_the_flag_or_campaigns_gets_the_clients_kind(
    demo_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    prepare_store(root)  # as `sendkit-nb sync` prepares it before the client is known
    assert _flag(root) == "absent"
    sk.sync(demo_client, root, [DEMO_EMPTY], progress=False)
    assert _flag(root) is True and sk.open_store(root).is_demo


def test_preparing_a_store_only_checks_the_flag(
    demo_client: sk.SendKitClient, tmp_path: Path
) -> None:
    """prepare_store runs before the sync's lock: it refuses a known mismatch and writes the
    flag only into a store it creates."""
    root = tmp_path / "store"
    sk.sync(demo_client, root, [DEMO_EMPTY], progress=False)
    _unflag(root)
    before = _files(root)
    assert prepare_store(root, demo=True) == root
    assert prepare_store(root, demo=False) == root
    assert _files(root) == before
    new = tmp_path / "new"
    prepare_store(new, demo=False)
    assert _flag(new) is False
    with pytest.raises(sk.StoreError, match="holds campaigns from the SendKit API"):
        prepare_store(new, demo=True)


def _hold_the_lock(root: Path) -> Path:
    """A lock as a running sync holds it (this process: alive, so never taken over)."""
    lock = root / "sync.lock"
    lock.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(),
            }
        ),
        "utf-8",
    )
    return lock


def test_the_flag_is_not_written_while_another_sync_holds_the_lock(
    demo_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(demo_client, root, [DEMO_EMPTY], progress=False)
    _unflag(root)
    lock = _hold_the_lock(root)
    before = _files(root)
    with pytest.raises(sk.StoreError, match="another sync is running"):
        sk.sync(demo_client, root, [DEMO_EMPTY], progress=False)
    assert _files(root) == before, "a refused sync writes nothing, store.json included"
    lock.unlink()
    sk.sync(demo_client, root, [DEMO_EMPTY], progress=False)
    assert _flag(root) is True


def test_a_flag_recorded_between_prepare_and_the_lock_is_checked_under_the_lock(
    real_client: sk.SendKitClient,
    other_server: DemoServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another sync (a demo one) may record the flag of a store that does not say yet after
    this sync's prepare_store looked and before it takes the lock: the flag is checked again
    under the lock, and the store is left as the other sync recorded it."""
    root = tmp_path / "store"
    first, second, _ = _ids(other_server)
    sk.sync(real_client, root, [first], progress=False)
    info = _unflag(root)

    def prepare_then_another_sync_records(path: Path, *, demo: bool | None = None) -> Path:
        prepared = prepare_store(path, demo=demo)
        (prepared / "store.json").write_text(json.dumps({**info, "demo": True}), "utf-8")
        return prepared

    monkeypatch.setattr("sendkit_nb._store_sync.prepare_store", prepare_then_another_sync_records)
    before = _files(root)
    with pytest.raises(sk.StoreError, match="holds the sendkit_nb demo API's synthetic data"):
        sk.sync(real_client, root, [second], progress=False)
    after = _files(root)
    assert after.pop(root / "store.json") != before.pop(root / "store.json")
    assert after == before, "no campaign of this sync written"
    assert _flag(root) is True, "as the other sync recorded it"


# -- a campaign deleted upstream -----------------------------------------------------------------


@pytest.fixture()
def deleted_store(
    real_client: sk.SendKitClient, other_server: DemoServer, tmp_path: Path
) -> tuple[Path, str, str]:
    """A store (its path has a space) whose first campaign was deleted upstream after its
    first sync: (root, the deleted campaign, a live one with leads)."""
    root = tmp_path / "my store"
    gone, live, _ = _ids(other_server)
    sk.sync(real_client, root, progress=False)
    other_server.remove_campaign(gone)
    assert sk.sync(real_client, root, progress=False).deleted == (gone,)
    return root, gone, live


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _replace_with_a_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


@pytest.mark.parametrize("damage", [_truncate, _replace_with_a_folder])
def test_a_damaged_file_of_a_deleted_campaign_is_removed_not_pulled(
    deleted_store: tuple[Path, str, str], damage: Callable[[Path], None]
) -> None:
    root, gone, live = deleted_store
    store = sk.open_store(root)
    campaigns, history = store.campaigns(), store.history()
    kept = store.leads().filter(pl.col("campaign_id") != gone)
    folder = root / "leads" / f"campaign_id={gone}"
    damage(folder / "data.parquet")
    with pytest.raises(sk.StoreError) as caught:
        store.scan_leads()
    hint = caught.value.hint
    assert str(folder / "data.parquet") in str(caught.value)
    assert "no longer exists" in hint and "cannot be pulled again" in hint, hint
    assert shlex.quote(str(folder)) in hint and f"'{root}/" in hint, "quoted for the shell"
    assert "--campaign" not in hint and "campaigns=" not in hint and "full" not in hint
    assert "store.campaigns()" in hint and "history" in hint
    # Following the hint: the store reads again, without the deleted campaign's leads.
    shutil.rmtree(folder)
    store = sk.open_store(root)
    assert_frame_equal(store.scan_leads().collect(), kept)
    assert_frame_equal(store.leads(), kept)
    assert store.leads(live).height == 20
    # Its rows stay, as the hint says.
    assert_frame_equal(store.campaigns(), campaigns)
    assert_frame_equal(store.history(), history)


def test_the_hint_of_a_live_campaign_still_pulls_it_again(
    deleted_store: tuple[Path, str, str],
) -> None:
    root, _, live = deleted_store
    _truncate(root / "leads" / f"campaign_id={live}" / "data.parquet")
    with pytest.raises(sk.StoreError) as caught:
        sk.open_store(root).scan_leads()
    assert f"--full --campaign {live}" in caught.value.hint
    assert "no longer exists" not in caught.value.hint


def test_a_deleted_campaign_named_with_full_cannot_be_pulled_and_says_so(
    deleted_store: tuple[Path, str, str], real_client: sk.SendKitClient
) -> None:
    root, gone, live = deleted_store
    before = _files(root)
    with pytest.raises(sk.NotFoundError, match="no longer in the workspace") as caught:
        sk.sync(real_client, root, [live, gone], full=True, progress=False)
    assert gone in str(caught.value) and "cannot be pulled again" in str(caught.value)
    assert shlex.quote(str(root / "leads" / f"campaign_id={gone}")) in caught.value.hint
    assert _files(root) == before, "refused before anything is pulled or written"
    # Without full=True (a Refresh of the campaign in the dashboard): nothing to pull, the
    # store keeps its leads and still marks it deleted.
    done = sk.sync(real_client, root, [gone], progress=False)
    assert done.ok and done.fetched == done.skipped == done.deleted == ()
    row = sk.open_store(root).campaigns().filter(pl.col("campaign_id") == gone)
    assert row["deleted"].item() is True and row["leads"].item() == 30


def test_a_campaign_gone_since_the_last_sync_named_with_full_says_so(
    real_client: sk.SendKitClient, other_server: DemoServer, tmp_path: Path
) -> None:
    """Not marked deleted yet (no sync since it went): the same answer, and a sync without
    full=True marks it."""
    root = tmp_path / "store"
    gone = _ids(other_server)[0]
    sk.sync(real_client, root, progress=False)
    other_server.remove_campaign(gone)
    with pytest.raises(sk.NotFoundError, match="no longer in the workspace"):
        sk.sync(real_client, root, gone, full=True, progress=False)
    assert sk.sync(real_client, root, gone, progress=False).deleted == (gone,)


def test_the_cli_says_a_deleted_campaign_cannot_be_pulled(
    deleted_store: tuple[Path, str, str], other_server: DemoServer, tmp_path: Path
) -> None:
    root, gone, _ = deleted_store
    result = subprocess.run(
        [sys.executable, "-m", "sendkit_nb.cli", "sync", "--store", str(root), "--full",
         "--campaign", gone, "--no-progress"],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
             "SENDKIT_API_KEY": other_server.api_key, "SENDKIT_BASE_URL": other_server.url},
    )  # fmt: skip
    assert result.returncode != 0
    assert f"campaign {gone} is no longer in the workspace" in result.stderr, result.stderr
    assert shlex.quote(str(root / "leads" / f"campaign_id={gone}")) in result.stderr
