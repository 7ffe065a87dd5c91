"""The workspace store (``sk.sync``, ``sk.open_store``, ``sk.read_leads``) against the demo API
over real HTTP: what a sync writes, that a second sync fetches only what changed (counted in
the server's request log), that a failed or interrupted sync leaves the store readable and the
next one completes it, deleted campaigns, stores of other versions, leads files that read back
with their campaigns, and the report built from a store in an offline browser."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import sendkit_nb as sk
from sendkit_nb.demo import DemoServer, make_workspace
from sendkit_nb.demo import _server as demo_server_module
from sendkit_nb.demo._data import DEMO_NOW
from tests.conftest import ReportPage, no_sleep_client

#: Four campaigns: three pages, two pages, one page and none.
SIZES = [250, 120, 40, 0]


@pytest.fixture()
def own_server() -> Iterator[DemoServer]:
    """A server of its own: these tests change and delete campaigns."""
    with DemoServer(make_workspace(seed=5, sizes=SIZES)) as server:
        yield server


@pytest.fixture()
def own_client(own_server: DemoServer) -> Iterator[sk.SendKitClient]:
    with no_sleep_client(own_server, max_retries=2) as client:
        yield client


def _ids(server: DemoServer) -> list[str]:
    return sorted(str(c["_id"]) for c in server.workspace.campaigns)


def _leads_requests(server: DemoServer) -> set[str]:
    """The campaigns whose leads the server was asked for since its log was last cleared."""
    return {r.path.split("/")[3] for r in server.request_log if r.path.endswith("/leads")}


# -- a first sync --------------------------------------------------------------------------------


def test_a_sync_writes_the_documented_layout(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    result = sk.sync(own_client, root, progress=False)
    ids = _ids(own_server)
    assert sorted(result.fetched) == ids and result.skipped == () and result.ok
    assert result.leads_written == sum(SIZES)
    assert repr(result).count("\n") == 0 and "4 fetched, 0 skipped, 0 failed" in repr(result)

    assert json.loads((root / "store.json").read_text())["version"] == 1
    for campaign_id in ids:
        assert (root / "leads" / f"campaign_id={campaign_id}" / "data.parquet").is_file()
    # The folder is one Hive-partitioned dataset: one text campaign_id column, no duplicate.
    plain = pl.scan_parquet(root / "leads", hive_partitioning=True).collect()
    assert plain.columns.count("campaign_id") == 1 and plain.schema["campaign_id"] == pl.String
    assert plain.height == sum(SIZES)

    store = sk.open_store(root)
    assert store.scan_leads().collect_schema() == sk.LEADS_SCHEMA
    campaigns = store.campaigns()
    assert sorted(campaigns["campaign_id"]) == ids and not campaigns["deleted"].any()
    for campaign in own_server.workspace.campaigns:
        raw = own_server.workspace.leads[campaign["_id"]]
        leads = store.leads(campaign["_id"])
        # Against the raw demo JSON: every lead once, nothing else.
        assert sorted(leads["id"]) == sorted(x["_id"] for x in raw)
        row = campaigns.filter(pl.col("campaign_id") == campaign["_id"]).row(0, named=True)
        assert row["name"] == campaign["name"] and row["leads"] == len(raw)
        assert [s["order"] for s in row["sequence"]] == [s["order"] for s in campaign["sequence"]]
    replied = store.leads(status="replied")
    assert set(replied["status"]) <= {"replied"} and replied.height == sum(
        1
        for items in own_server.workspace.leads.values()
        for x in items
        if x["status"] == "replied"
    )

    history = store.history()
    assert history.height == len(ids) and store.pulled_at == history["pulled_at"].max()
    for campaign_id, items in own_server.workspace.leads.items():
        row = history.filter(pl.col("campaign_id") == campaign_id).row(0, named=True)
        contacted = [x for x in items if x["emailsSent"]]
        assert row["leads"] == len(items) and row["contacted"] == len(contacted)
        assert row["replied"] == sum(1 for x in contacted if x["replied"])
        assert row["deleted"] is False and row["fingerprint"]
    # The history carries the headline's columns under its names (what charts.trend reads).
    headline = sk.headline(store.leads())
    for column in headline.columns:
        if column != "campaign_id":
            assert column in history.columns
    assert "Store(" in repr(store) and "4 campaigns" in repr(store)


def test_a_second_sync_fetches_only_the_changed_campaign(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    changed = _ids(own_server)[1]
    own_server.reset()
    own_server.change_campaign(changed, add_leads=3)
    result = sk.sync(own_client, root, progress=False)
    assert result.fetched == (changed,) and len(result.skipped) == len(SIZES) - 1
    assert result.leads_written == SIZES[1] + 3
    # Counted by the server: the campaigns list and that campaign's leads, nothing else.
    assert _leads_requests(own_server) == {changed}
    assert {r.path for r in own_server.request_log} == {
        "/v1/campaigns",
        f"/v1/campaigns/{changed}/leads",
    }
    store = sk.open_store(root)
    assert store.leads(changed).height == SIZES[1] + 3
    history = store.history()
    assert history.height == 2 * len(SIZES)
    rows = history.filter(pl.col("campaign_id") == changed)["leads"].to_list()
    assert rows == [SIZES[1], SIZES[1] + 3]

    own_server.reset()
    again = sk.sync(own_client, root, progress=False)
    assert again.fetched == () and _leads_requests(own_server) == set()


def test_full_and_max_age_pull_unchanged_campaigns(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    assert sk.sync(own_client, root, max_age=timedelta(days=1), progress=False).fetched == ()
    assert len(sk.sync(own_client, root, max_age=0, progress=False).fetched) == len(SIZES)
    one = _ids(own_server)[2]
    result = sk.sync(own_client, root, [one], full=True, progress=False)
    assert result.fetched == (one,) and result.skipped == ()


def test_a_failed_sync_leaves_the_store_readable_and_the_next_completes_it(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    ids = _ids(own_server)
    for campaign_id in ids[:3]:
        own_server.change_campaign(campaign_id)
    before = {c: (root / "leads" / f"campaign_id={c}" / "data.parquet").read_bytes() for c in ids}

    # Once the first changed campaign's first page is in, the API starts failing: every
    # campaign still loading fails (three attempts each), and the sync goes on to the others.
    def fail_from_now(done: int, total: int | None) -> None:
        own_server.faults.server_error = 1.0

    result = sk.sync(own_client, root, progress=fail_from_now)
    assert result.failed and not result.ok
    assert "Hint:" in next(iter(result.failed.values()))
    assert own_server.api_key not in repr(result) + str(result.failed)
    store = sk.open_store(root)  # readable, every campaign as it was or as it is now
    for campaign_id in result.failed:
        path = root / "leads" / f"campaign_id={campaign_id}" / "data.parquet"
        assert path.read_bytes() == before[campaign_id], "a failed campaign keeps its file"
    assert store.scan_leads().collect().height >= sum(SIZES)

    own_server.reset()
    done = sk.sync(own_client, root, progress=False)
    assert done.ok and set(done.fetched) == set(result.failed)
    assert _leads_requests(own_server) == set(result.failed)
    campaigns = sk.open_store(root).campaigns()
    for campaign_id in ids[:3]:
        row = campaigns.filter(pl.col("campaign_id") == campaign_id).row(0, named=True)
        assert row["leads"] == len(own_server.workspace.leads[campaign_id])


def test_an_interrupted_sync_keeps_what_it_finished(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ids = _ids(own_server)

    def interrupt(done: int, total: int | None) -> None:
        # At most 300 + one page of the 410 leads reported: some campaign is unfinished.
        if done >= 300:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sk.sync(own_client, root, progress=interrupt)
    store = sk.open_store(root)
    finished = set(store.campaigns()["campaign_id"].to_list())
    assert finished < set(ids), "interrupted before the end"
    for campaign_id in ids:
        path = root / "leads" / f"campaign_id={campaign_id}" / "data.parquet"
        # A campaign is in the store whole, with its history row, or not at all.
        assert path.exists() == (campaign_id in finished)
        if campaign_id in finished:
            assert store.leads(campaign_id).height == len(own_server.workspace.leads[campaign_id])
    assert set(store.history()["campaign_id"]) == finished
    assert not list(root.rglob(".*.tmp")), "no temporary file left behind"

    own_server.reset()
    result = sk.sync(own_client, root, progress=False)
    assert set(result.fetched) == set(ids) - finished and set(result.skipped) == finished
    assert _leads_requests(own_server) == set(ids) - finished
    assert sk.open_store(root).leads().height == sum(SIZES)


def test_a_campaign_deleted_upstream_is_marked_not_dropped(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    gone = _ids(own_server)[0]
    own_server.remove_campaign(gone)
    result = sk.sync(own_client, root, progress=False)
    assert result.deleted == (gone,) and gone not in result.fetched + result.skipped
    assert "1 deleted upstream" in repr(result)
    store = sk.open_store(root)
    row = store.campaigns().filter(pl.col("campaign_id") == gone).row(0, named=True)
    assert row["deleted"] is True and row["leads"] == SIZES[0]
    assert store.leads(gone).height == SIZES[0]
    last = store.history().filter(pl.col("campaign_id") == gone)
    assert last["deleted"].to_list() == [False, True] and last["leads"][-1] == SIZES[0]
    # Said once: the next sync keeps the mark and adds no second deletion.
    assert sk.sync(own_client, root, progress=False).deleted == ()
    assert store.campaigns().filter(pl.col("campaign_id") == gone)["deleted"].item() is True


# -- what is not a store -------------------------------------------------------------------------


def test_folders_that_are_not_stores_are_refused_before_any_request(
    server: DemoServer, client: sk.SendKitClient, tmp_path: Path
) -> None:
    with pytest.raises(sk.StoreError, match="no such folder"):
        sk.open_store(tmp_path / "missing")
    with pytest.raises(sk.StoreError, match="not a sendkit_nb store"):
        sk.open_store(tmp_path)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(sk.StoreError, match="holds other files"):
        sk.sync(client, other, progress=False)
    assert [p.name for p in other.iterdir()] == ["cat.jpg"]
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(sk.BadRequestError, match="it is a file"):
        sk.sync(client, afile, progress=False)
    with pytest.raises(sk.BadRequestError):
        sk.sync(client, tmp_path / "s", max_age=-1, progress=False)
    with pytest.raises(sk.BadRequestError):
        sk.sync(client, tmp_path / "s", ["not-an-id"], progress=False)
    assert server.request_log == []


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ({"format": "sendkit_nb workspace store", "version": 0}, "older sendkit_nb"),
        ({"format": "sendkit_nb workspace store", "version": 99}, "newer sendkit_nb"),
        ({"format": "something else", "version": 1}, "not a sendkit_nb store"),
        ("not json {", "cannot be read"),
    ],
)
def test_stores_of_other_versions_give_a_clear_error(
    server: DemoServer, client: sk.SendKitClient, tmp_path: Path, marker: Any, message: str
) -> None:
    root = tmp_path / "store"
    sk.sync(client, root, [str(server.workspace.campaigns[4]["_id"])], progress=False)
    text = marker if isinstance(marker, str) else json.dumps(marker)
    (root / "store.json").write_text(text)
    with pytest.raises(sk.StoreError, match=message) as caught:
        sk.open_store(root)
    assert "Hint:" in str(caught.value)
    server.reset()
    with pytest.raises(sk.StoreError, match=message):
        sk.sync(client, root, progress=False)
    assert server.request_log == [], "refused before any request"


def test_an_unknown_campaign_is_not_found_before_anything_is_written(
    client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    with pytest.raises(sk.NotFoundError, match="not in the workspace"):
        sk.sync(client, root, ["0123456789abcdef01234567"], progress=False)
    assert not (root / "campaigns.parquet").exists()
    store = sk.open_store(root)  # created empty: a store with nothing in it yet
    assert store.campaigns().height == 0 and store.leads().height == 0
    assert store.pulled_at is None and store.history().height == 0
    with pytest.raises(sk.BadRequestError, match="no leads of campaign"):
        store.leads("0123456789abcdef01234567")


# -- leads files that read back ------------------------------------------------------------------


def test_a_store_file_reads_back_with_its_campaign(
    client: sk.SendKitClient, server: DemoServer, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    campaign = server.workspace.campaigns[0]
    sk.sync(client, root, [str(campaign["_id"])], progress=False)
    path = root / "leads" / f"campaign_id={campaign['_id']}" / "data.parquet"
    leads = sk.read_leads(path)
    assert_frame_equal(leads, sk.load_leads(client, str(campaign["_id"]), progress=False))
    campaigns = sk.read_campaigns(path)
    assert campaigns.schema == sk.CAMPAIGNS_SCHEMA
    assert campaigns.row(0, named=True)["name"] == campaign["name"]
    subjects = [s["subject"] for s in campaigns.row(0, named=True)["sequence"]]
    assert subjects == [s.get("subject") for s in campaign["sequence"]]

    plain = tmp_path / "plain.parquet"
    leads.write_parquet(plain)
    assert sk.read_campaigns(plain).height == 0, "a file without them: an empty frame"
    assert_frame_equal(sk.read_leads(plain), leads)
    other = tmp_path / "other.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(other)
    with pytest.raises(sk.SchemaError, match="not a leads file"):
        sk.read_leads(other)
    with pytest.raises(sk.BadRequestError, match="is a folder"):
        sk.read_leads(root)


def test_csv_is_one_row_per_email_and_reads_back(
    demo_client: sk.SendKitClient, tmp_path: Path
) -> None:
    from sendkit_nb._store_files import write_leads

    campaigns = sk.load_campaigns(demo_client)
    leads = pl.concat(
        [sk.load_leads(demo_client, c, progress=False) for c in campaigns["campaign_id"]]
    )
    # The shapes that need care: no emails at all, tags, null names.
    assert (leads["emails"].list.len() == 0).any() and (leads["tags"].list.len() > 0).any()
    path = tmp_path / "leads.csv"
    write_leads(leads, path)
    flat = pl.read_csv(path)
    assert flat.height == int(leads["emails"].list.len().clip(lower_bound=1).sum())
    assert "emails" not in flat.columns and {"step", "variant", "sent_at"} <= set(flat.columns)
    assert_frame_equal(sk.read_leads(path), leads)

    bad = leads.head(1).with_columns(pl.lit(["a;b"]).alias("tags"))
    with pytest.raises(sk.BadRequestError, match="parquet"):
        write_leads(bad, tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


# -- the report from a store, offline ------------------------------------------------------------


def test_the_report_from_a_store_works_offline_in_a_browser(
    browser: Any, server: DemoServer, client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(client, root, progress=False)
    target = tmp_path / "report.html"
    # No key and no server address: the report must not need the API.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "sendkit_nb.cli", "report", "--from", str(root), "-o", str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "demo API" not in result.stderr
    html = target.read_text("utf-8")
    for campaign in server.workspace.campaigns:
        assert f'data-campaign-id="{campaign["_id"]}"' in html
    page = ReportPage(browser)
    try:
        opened = page.open(target)
        tabs = opened.locator(".sk-tab")
        names = [tabs.nth(i).inner_text() for i in range(tabs.count())]
        first = str(server.workspace.campaigns[0]["name"])
        assert any(first[:20] in name for name in names), names
        opened.wait_for_selector("#overview .js-plotly-plot .main-svg")
        body = opened.locator("body").inner_text()
        assert "Step order" not in body.split("Definitions")[0]
        assert page.errors == [] and page.requests == []
    finally:
        page.context.close()


def test_a_list_without_activity_fields_is_pulled_every_time_and_a_failure_is_kept_apart(
    tmp_path: Path,
) -> None:
    from tests.scripted_server import ScriptedServer, lead

    plain, forbidden = "665a1b2c3d4e5f6a7b8c9d01", "665a1b2c3d4e5f6a7b8c9d02"
    key = "sk_SECRET_store_test_key_0123456789"

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path == "/v1/campaigns":
            # No stats, leadCounts or updatedAt: nothing tells a change, so no fingerprint.
            items = [
                {"_id": plain, "name": "Plain", "status": "active", "sequence": None},
                {"_id": forbidden, "name": "Hidden", "status": "active"},
            ]
            pagination = {"limit": 100, "total": 2, "hasMore": False, "nextCursor": None}
            return 200, {"success": True, "data": items, "pagination": pagination}
        if path == f"/v1/campaigns/{plain}/leads":
            pagination = {"limit": 100, "total": 2, "hasMore": False, "nextCursor": None}
            data = [lead(1), lead(2, emailsSent=None, leadId=None)]  # null shapes load too
            return 200, {"success": True, "data": data, "pagination": pagination}
        return 403, {"error": "Forbidden", "message": f"no access, key {key}", "code": 403}

    with (
        ScriptedServer(script) as server,
        sk.SendKitClient(key, base_url=server.url) as client,
    ):
        first = sk.sync(client, tmp_path / "store", progress=False)
        second = sk.sync(client, tmp_path / "store", progress=False)
    assert first.fetched == (plain,) and list(first.failed) == [forbidden]
    assert "HTTP 403" in first.failed[forbidden] and key not in first.failed[forbidden]
    assert second.fetched == (plain,), "no fingerprint: pulled again"
    store = sk.open_store(tmp_path / "store")
    assert store.campaigns()["campaign_id"].to_list() == [plain]
    leads = store.leads()
    assert leads.height == 2 and leads["lead_id"].null_count() == 1
    assert store.campaigns()["fingerprint"].to_list() == [None]


def test_campaigns_load_side_by_side_within_the_connection_budget(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A connection beyond the client's pool (max_workers) is thrown away after use, and urllib3
    # says so: "Connection pool is full, discarding connection". Campaigns loading side by side
    # without the sync's first-request slot trip it several times over a few syncs.
    workspace = make_workspace(seed=9, sizes=[1000] * 6 + [50] * 6)
    with (
        DemoServer(workspace) as server,
        sk.SendKitClient(server.api_key, base_url=server.url, max_workers=4) as client,
        caplog.at_level("WARNING", logger="urllib3"),
    ):
        for _ in range(3):
            result = sk.sync(client, tmp_path / "store", full=True, progress=False)
            assert len(result.fetched) == 12 and result.ok
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_a_renamed_campaign_is_not_fetched_but_its_name_follows(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    campaign = own_server.workspace.campaigns[0]
    with own_server.workspace.lock:
        campaign["name"] = "Renamed <Q4>"
    own_server.reset()
    result = sk.sync(own_client, root, progress=False)
    assert result.fetched == () and _leads_requests(own_server) == set()
    store = sk.open_store(root)
    row = store.campaigns().filter(pl.col("campaign_id") == campaign["_id"]).row(0, named=True)
    assert row["name"] == "Renamed <Q4>"
    names = store.history().filter(pl.col("campaign_id") == campaign["_id"])["campaign_name"]
    assert names[-1] == "Renamed <Q4>" and names[0] != "Renamed <Q4>"


# -- the source's clock per campaign -------------------------------------------------------------

#: The demo server's Date (its frozen clock); tests move it with _set_demo_clock.
DEMO_CLOCK = datetime.fromtimestamp(DEMO_NOW / 1000, tz=UTC)


def _set_demo_clock(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Make the demo server send ``when`` as its Date from now on (as the real API's clock
    moves on between two syncs)."""
    monkeypatch.setattr(
        demo_server_module, "_CLOCK_DATE", formatdate(when.timestamp(), usegmt=True)
    )


def _source_times(root: Path) -> dict[str, datetime | None]:
    return dict(sk.open_store(root).campaigns().select("campaign_id", "source_time").iter_rows())


def test_a_sync_moves_the_clock_only_of_the_campaigns_it_checked(
    own_server: DemoServer,
    own_client: sk.SendKitClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "store"
    ids = _ids(own_server)
    sk.sync(own_client, root, progress=False)
    assert _source_times(root) == dict.fromkeys(ids, DEMO_CLOCK)

    # Two weeks on, one campaign is synced (the dashboard's Refresh): only it was checked.
    later = DEMO_CLOCK + timedelta(days=14)
    _set_demo_clock(monkeypatch, later)
    result = sk.sync(own_client, root, [ids[0]], progress=False)
    assert result.skipped == (ids[0],)
    assert _source_times(root) == {ids[0]: later, **dict.fromkeys(ids[1:], DEMO_CLOCK)}
    store = sk.open_store(root)
    # A window over the whole store counts back from the oldest check, never from a moment
    # some campaign was not looked at.
    assert store.as_of == DEMO_CLOCK
    assert store.as_of_for(ids[0]) == store.as_of_for([ids[0]]) == later
    assert store.as_of_for(ids[1:]) == store.as_of_for(ids) == DEMO_CLOCK

    # A sync in which some campaigns fail: the failed ones keep their older clock.
    even_later = later + timedelta(days=7)
    _set_demo_clock(monkeypatch, even_later)
    for campaign_id in ids[:3]:
        own_server.change_campaign(campaign_id)

    def fail_from_now(done: int, total: int | None) -> None:
        own_server.faults.server_error = 1.0

    failing = sk.sync(own_client, root, progress=fail_from_now)
    assert failing.failed
    times = _source_times(root)
    for campaign_id in ids:
        old = later if campaign_id == ids[0] else DEMO_CLOCK
        assert times[campaign_id] == (old if campaign_id in failing.failed else even_later)
    assert sk.open_store(root).as_of == min(t for t in times.values() if t is not None)

    # Deleted upstream: it no longer holds the whole store's clock back.
    own_server.reset()
    sk.sync(own_client, root, progress=False)
    own_server.remove_campaign(ids[1])
    _set_demo_clock(monkeypatch, even_later + timedelta(days=1))
    gone = sk.sync(own_client, root, progress=False)
    assert gone.deleted == (ids[1],)
    store = sk.open_store(root)
    assert store.as_of == even_later + timedelta(days=1)
    assert store.as_of_for(ids[1]) == even_later, "a deleted campaign keeps its last check"


def test_a_store_written_before_per_campaign_clocks_still_reads(
    own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    # As the previous release wrote it: no source_time column, one note in store.json.
    campaigns = pl.read_parquet(root / "campaigns.parquet").drop("source_time")
    campaigns.write_parquet(root / "campaigns.parquet")
    marker = json.loads((root / "store.json").read_text("utf-8"))
    noted = DEMO_CLOCK - timedelta(days=3)
    (root / "store.json").write_text(json.dumps({**marker, "source_time": noted.isoformat()}))
    store = sk.open_store(root)
    assert store.campaigns()["source_time"].null_count() == store.campaigns().height
    assert store.as_of == store.as_of_for(campaigns["campaign_id"][0]) == noted
    # Without the note: the last sync's pull time.
    (root / "store.json").write_text(json.dumps(marker))
    assert sk.open_store(root).as_of == sk.open_store(root).pulled_at
    # The next sync fills the column in.
    sk.sync(own_client, root, progress=False)
    assert set(_source_times(root).values()) == {DEMO_CLOCK}
    assert sk.open_store(root).as_of == DEMO_CLOCK


# -- files that cannot be read or written --------------------------------------------------------


def test_a_store_that_cannot_be_created_is_a_store_error(
    server: DemoServer, client: sk.SendKitClient, tmp_path: Path
) -> None:
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(sk.StoreError, match="cannot create a store at") as caught:
        sk.sync(client, afile / "store", progress=False)
    assert str(afile / "store") in str(caught.value) and "Hint:" in str(caught.value)
    assert server.request_log == []


def test_a_campaign_that_cannot_be_written_stops_the_sync_and_keeps_the_others(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    ids = _ids(own_server)
    blocked = ids[-1]
    sk.sync(own_client, root, ids[:-1], progress=False)
    # A file where the campaign's folder belongs (root runs the tests: chmod would not stop it).
    folder = root / "leads" / f"campaign_id={blocked}"
    folder.write_text("in the way")
    with pytest.raises(sk.StoreError, match="cannot write") as caught:
        sk.sync(own_client, root, full=True, progress=False)
    assert str(folder) in str(caught.value) and "Hint:" in str(caught.value)
    store = sk.open_store(root)  # readable: every campaign as it was or as it is now
    held = store.campaigns()
    assert set(held["campaign_id"]) == set(ids[:-1])
    for row in held.iter_rows(named=True):
        assert store.leads(row["campaign_id"]).height == row["leads"]
    assert not (root / "sync.lock").exists(), "the lock is released"

    folder.unlink()
    own_server.reset()
    done = sk.sync(own_client, root, progress=False)
    assert blocked in done.fetched and done.ok
    assert sk.open_store(root).leads().height == sum(SIZES)


def _replace_with_a_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _rewrite(path: Path, change: Any) -> None:
    change(pl.read_parquet(path)).write_parquet(path)


#: Ways a leads file is broken that its footer shows: scan_leads() refuses them at once.
DAMAGE: dict[str, tuple[Any, str]] = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:200]), "is not a readable parquet"),
    "cut at the end": (lambda p: p.write_bytes(p.read_bytes()[:-1]), "is not a readable parquet"),
    "not parquet": (lambda p: p.write_text("id,email\n1,a@b.c\n"), "is not a readable parquet"),
    # polars' scan skips an empty file without a word: its leads would just be missing.
    "empty": (lambda p: p.write_bytes(b""), "is not a readable parquet"),
    "a folder": (_replace_with_a_folder, "is not a file"),
    "missing column": (
        lambda p: _rewrite(p, lambda f: f.drop("email")),
        "lacks the leads column 'email'",
    ),
    "wrong type": (
        lambda p: _rewrite(p, lambda f: f.with_columns(pl.col("current_step").cast(pl.Int64))),
        "holds the column 'current_step' as Int64, not Int32",
    ),
    "status as text": (
        lambda p: _rewrite(p, lambda f: f.with_columns(pl.col("status").cast(pl.String))),
        "holds the column 'status' as String",
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_leads_file_is_a_store_error_at_scan_naming_it(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path, kind: str
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    whole = sk.open_store(root).leads()
    bad_id, good_id = _ids(own_server)[:2]
    damaged = root / "leads" / f"campaign_id={bad_id}" / "data.parquet"
    damage, problem = DAMAGE[kind]
    damage(damaged)
    store = sk.open_store(root)
    for read in (store.scan_leads, store.leads, lambda: store.leads([bad_id, good_id])):
        with pytest.raises(sk.StoreError) as caught:
            read()
        text = str(caught.value)
        assert f"{damaged} {problem}" in text and "the store is damaged" in text, text
        # The hint is the command that rewrites just this campaign's file.
        assert f"sendkit-nb sync --store {root} --full --campaign {bad_id}" in caught.value.hint
    # Another campaign's file is not in the way of reading a good one.
    assert_frame_equal(store.leads(good_id), whole.filter(pl.col("campaign_id") == good_id))
    if kind == "a folder":
        assert caught.value.hint.startswith(f"Remove {damaged}, then")
        damaged.rmdir()
    # What the hint says works: the file is rewritten whole and the store reads as before.
    done = sk.sync(own_client, root, campaigns=bad_id, full=True, progress=False)
    assert done.fetched == (bad_id,) and done.ok
    assert_frame_equal(sk.open_store(root).leads(), whole)
    assert_frame_equal(sk.open_store(root).scan_leads().collect(), whole)


def test_a_file_damaged_inside_fails_at_collect_and_leads_names_it(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    """Damage behind an intact footer passes the check of scan_leads(): the documented case
    where polars' own error comes from collect(), and leads() names the file."""
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    bad_id = _ids(own_server)[0]
    damaged = root / "leads" / f"campaign_id={bad_id}" / "data.parquet"
    data = bytearray(damaged.read_bytes())
    data[4:404] = b"\xab" * 400  # the first pages, just after the leading magic bytes
    damaged.write_bytes(bytes(data))
    assert pl.read_parquet_schema(damaged) == pl.read_parquet_schema(
        next(p for p in (root / "leads").rglob("data.parquet") if p != damaged)
    ), "the footer is intact"
    store = sk.open_store(root)
    scan = store.scan_leads()
    with pytest.raises(pl.exceptions.PolarsError):
        scan.collect()
    with pytest.raises(sk.StoreError, match="cannot be read") as caught:
        store.leads()
    assert str(damaged) in str(caught.value) and "--full --campaign" in caught.value.hint


def test_the_repair_hint_of_a_demo_store_syncs_from_the_demo(tmp_path: Path) -> None:
    root = tmp_path / "demo store"
    with sk.SendKitClient.demo() as client:
        campaign_id = sk.load_campaigns(client)["campaign_id"][-1]
        sk.sync(client, root, campaign_id, progress=False)
    damaged = root / "leads" / f"campaign_id={campaign_id}" / "data.parquet"
    damaged.write_bytes(b"")
    with pytest.raises(sk.StoreError) as caught:
        sk.open_store(root).scan_leads()
    # Without --demo the command would ask for an API key; the path is quoted for the shell.
    assert f"`sendkit-nb sync --demo --store '{root}' --full --campaign {campaign_id}`" in (
        caught.value.hint
    )


def test_extra_columns_in_a_leads_file_are_left_out_of_the_scan(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    whole = sk.open_store(root).leads()
    one = root / "leads" / f"campaign_id={_ids(own_server)[0]}" / "data.parquet"
    _rewrite(one, lambda f: f.with_columns(note=pl.lit("added by hand")).select(
        "note", *reversed(f.columns)))  # fmt: skip
    store = sk.open_store(root)
    assert store.scan_leads().collect_schema() == sk.LEADS_SCHEMA
    assert_frame_equal(store.leads(), whole)


# -- one sync at a time --------------------------------------------------------------------------


def _store_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "sync.lock"
    }


def test_a_second_sync_while_one_runs_is_refused_and_changes_nothing(
    own_server: DemoServer, own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    for campaign_id in _ids(own_server):
        own_server.change_campaign(campaign_id)
    refusals: list[str] = []
    seen: dict[str, bytes] = {}

    def second_sync(done: int, total: int | None) -> None:
        # Called while the first sync runs: a second one on the same store must not start.
        if refusals:
            return
        seen.update(_store_bytes(root))
        with pytest.raises(sk.StoreError, match="another sync is running on") as caught:
            sk.sync(own_client, root, full=True, progress=False)
        refusals.append(str(caught.value))
        assert _store_bytes(root) == seen, "the refused sync changed nothing"

    first = sk.sync(own_client, root, progress=second_sync)
    assert refusals and f"process {os.getpid()}" in refusals[0] and "Hint:" in refusals[0]
    assert first.ok and len(first.fetched) == len(SIZES)
    assert not (root / "sync.lock").exists()
    history = sk.open_store(root).history()
    assert history.height == 2 * len(SIZES), "no history row lost"


def test_a_stale_lock_is_taken_over_and_a_live_one_is_not(
    own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "store"
    sk.sync(own_client, root, progress=False)
    lock = root / "sync.lock"
    here = socket.gethostname()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # its pid is gone now

    def write_lock(pid: int, host: str, age: timedelta) -> None:
        since = datetime.now(UTC) - age
        lock.write_text(json.dumps({"pid": pid, "host": host, "since": since.isoformat()}))
        os.utime(lock, (since.timestamp(), since.timestamp()))

    # Left by a sync that was killed on this machine: its process is gone.
    write_lock(finished.pid, here, timedelta(minutes=5))
    assert sk.sync(own_client, root, progress=False).ok
    assert not lock.exists()
    # From another machine, two days old: stale by age.
    write_lock(12345, "another-host", timedelta(days=2))
    assert sk.sync(own_client, root, progress=False).ok
    # From another machine, recent: it may be running.
    write_lock(12345, "another-host", timedelta(minutes=5))
    before = _store_bytes(root)
    with pytest.raises(sk.StoreError, match="process 12345 on another-host"):
        sk.sync(own_client, root, progress=False)
    assert lock.exists() and _store_bytes(root) == before
    # Held by a process that is running (this one): refused too.
    write_lock(os.getpid(), here, timedelta(days=3))
    with pytest.raises(sk.StoreError, match="another sync is running"):
        sk.sync(own_client, root, progress=False)
    assert _store_bytes(root) == before
