"""The report from a local store (``sk.report(store)``), relative windows counted back from the
source's clock (the API server's ``Date``: the demo's is frozen at its data's end), and inbox
attribution in the report and in ``sk.reconcile``. All against the demo API over real HTTP; the
store's report is also opened in headless Chromium with the network switched off."""

from __future__ import annotations

import html as htmllib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb import metrics as skm
from sendkit_nb._report import as_html
from sendkit_nb._summary import SummaryOptions, summarize
from sendkit_nb.demo import DemoServer, make_workspace
from sendkit_nb.demo import _server as demo_server_module
from sendkit_nb.demo._data import DEMO_NOW
from tests.conftest import ReportPage

from .scripted_server import ScriptedServer
from .test_report import meta, section_text

if TYPE_CHECKING:
    from playwright.sync_api import Browser

#: The demo workspace's clock, which its server sends as ``Date``.
DEMO_CLOCK = datetime.fromtimestamp(DEMO_NOW / 1000, tz=UTC)
A_CAMPAIGN = "683b61000000000000000001"  # the A/B test campaign
PILOT = "683b610000000000000041c1"  # "Local partners pilot": deleted upstream below
EMPTY_CAMPAIGN = "683b61000000000000004513"  # archived, no leads


@pytest.fixture(scope="module")
def own_server() -> Iterator[DemoServer]:
    """A demo server of this module's own: a campaign of it gets deleted."""
    with DemoServer() as server:
        yield server


@pytest.fixture(scope="module")
def store_path(own_server: DemoServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store synced from the demo, then synced again after one campaign was deleted."""
    path = tmp_path_factory.mktemp("store") / "store"
    with sk.SendKitClient(own_server.api_key, base_url=own_server.url) as client:
        first = sk.sync(client, path, progress=False)
        assert len(first.fetched) == 7
        own_server.remove_campaign(PILOT)
        second = sk.sync(client, path, progress=False)
        assert second.deleted == (PILOT,)
    return path


@pytest.fixture(scope="module")
def store(store_path: Path) -> sk.Store:
    return sk.open_store(store_path)


def _overview_rows(page: str) -> dict[str, list[str]]:
    """The overview table's cells by campaign name (first cell)."""
    table = re.search(r'<table class="sk-table" data-table="overview">(.*?)</table>', page, re.S)
    assert table
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]
    cells = [
        [htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
        for r in rows
    ]
    return {row[0]: row for row in cells}


def _table_rows(page: str, key: str, campaign_id: str) -> list[list[str]]:
    """The cells of one campaign's table ``data-table=key``."""
    article = re.search(rf'<article [^>]*id="c-{campaign_id}".*?</article>', page, re.S)
    assert article
    table = re.search(
        rf'<table class="sk-table" data-table="{key}">(.*?)</table>', article[0], re.S
    )
    assert table, f"no {key} table"
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]
    return [
        [htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
        for r in rows
    ]


# -- the source's clock --------------------------------------------------------------------------


def test_the_demo_server_sends_its_frozen_clock_and_the_client_keeps_it(
    demo_server: DemoServer,
) -> None:
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        assert client.server_time is None, "no response yet"
        sk.load_campaigns(client)
        assert client.server_time == DEMO_CLOCK


def test_a_server_on_real_time_gives_the_pull_time_as_the_data_clock() -> None:
    """The real API's Date is its clock: the data's "now" is then the moment of the pull."""
    server = ScriptedServer(lambda path, query: (200, {"data": []}))
    with server, sk.SendKitClient("sk_test", base_url=server.url) as client:
        before = datetime.now(UTC).replace(microsecond=0)
        client.get_json("/v1/campaigns")
        after = datetime.now(UTC)
    assert client.server_time is not None
    assert before - timedelta(seconds=1) <= client.server_time <= after


def test_a_store_records_the_source_clock_and_falls_back_to_the_pull_time(
    store: sk.Store, store_path: Path, tmp_path: Path
) -> None:
    pulled = store.pulled_at
    assert pulled is not None and pulled > DEMO_CLOCK + timedelta(days=300)
    assert store.as_of == DEMO_CLOCK
    assert set(store.campaigns()["source_time"]) == {DEMO_CLOCK}, "kept per campaign"
    marker = json.loads((store_path / "store.json").read_text("utf-8"))
    assert "source_time" not in marker

    # A store written before the clock was kept per campaign, whose source sent no Date: the
    # pull time is the "now"; with the store-wide note of those stores, the note.
    copy = tmp_path / "copy"
    copy.mkdir()
    pl.read_parquet(store_path / "campaigns.parquet").drop("source_time").write_parquet(
        copy / "campaigns.parquet"
    )
    (copy / "syncs.parquet").write_bytes((store_path / "syncs.parquet").read_bytes())
    (copy / "store.json").write_text(json.dumps(marker), "utf-8")
    assert sk.open_store(copy).as_of == sk.open_store(copy).pulled_at == pulled
    noted = {**marker, "source_time": DEMO_CLOCK.isoformat()}
    (copy / "store.json").write_text(json.dumps(noted), "utf-8")
    assert sk.open_store(copy).as_of == DEMO_CLOCK
    # A never-synced store has no pull time; its note, if any, is its "now".
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "store.json").write_text(json.dumps(noted), "utf-8")
    assert sk.open_store(empty).pulled_at is None
    assert sk.open_store(empty).as_of == DEMO_CLOCK
    (empty / "store.json").write_text(json.dumps(marker), "utf-8")
    assert sk.open_store(empty).as_of is None


def test_a_report_counts_back_from_the_oldest_check_of_the_campaigns_it_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full sync at the data's end; two weeks later only one campaign is synced again (the
    dashboard's Refresh). "Last 30 days" of the whole store must still count back from the
    other campaigns' check, not show them without sends in days they were never checked for."""
    root = tmp_path / "store"
    later = DEMO_CLOCK + timedelta(days=14)
    with DemoServer(make_workspace(seed=5, sizes=[120, 90])) as server:
        ids = sorted(str(c["_id"]) for c in server.workspace.campaigns)
        with sk.SendKitClient(server.api_key, base_url=server.url) as client:
            sk.sync(client, root, progress=False)
            monkeypatch.setattr(
                demo_server_module, "_CLOCK_DATE", formatdate(later.timestamp(), usegmt=True)
            )
            # The campaign whose sends ended in April; the other sent until the data's end.
            assert sk.sync(client, root, [ids[1]], progress=False).skipped == (ids[1],)
    store = sk.open_store(root)
    assert store.as_of == DEMO_CLOCK and store.as_of_for([ids[1]]) == later

    page = as_html(store, since="30d", progress=False)
    assert f"counted back from {DEMO_CLOCK:%Y-%m-%d %H:%M} UTC" in meta(page)["Time window"]
    names = dict(store.campaigns().select("campaign_id", "name").iter_rows())
    rows = _overview_rows(page)
    expected = {
        r["campaign_id"]: r
        for r in skm.headline(store.leads(), since="30d", as_of=DEMO_CLOCK).iter_rows(named=True)
    }
    for cid in ids:
        assert rows[names[cid]][3] == f"{expected[cid]['contacted']:,}"
    # Counted back from the later sync, the campaign not synced then would lose sends.
    shifted = skm.headline(store.leads(ids[0]), since="30d", as_of=later).row(0, named=True)
    assert expected[ids[0]]["contacted"] > shifted["contacted"]
    # A report of the campaign synced later counts back from its own, later check.
    alone = as_html(store, campaigns=[ids[1]], since="30d", progress=False)
    assert f"counted back from {later:%Y-%m-%d %H:%M} UTC" in meta(alone)["Time window"]


# -- sk.report(store) ----------------------------------------------------------------------------


SYNTHETIC = "Synthetic data from the sendkit_nb demo API: the campaigns and numbers are made up."


def _banners(page: str) -> list[str]:
    return [htmllib.unescape(b) for b in re.findall(r'<p class="sk-banner">(.*?)</p>', page, re.S)]


@pytest.fixture(scope="module")
def demo_store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store synced from the embedded demo API (``SendKitClient.demo()``), two campaigns."""
    path = tmp_path_factory.mktemp("demo-store") / "store"
    with sk.SendKitClient.demo() as client:
        assert client.is_demo
        done = sk.sync(client, path, [PILOT, EMPTY_CAMPAIGN], progress=False)
        assert done.ok and len(done.fetched) == 2
    return path


def test_a_report_from_a_demo_store_says_its_data_is_synthetic(
    demo_store_path: Path, store: sk.Store
) -> None:
    demo_store = sk.open_store(demo_store_path)
    assert demo_store.is_demo and "synthetic demo data" in repr(demo_store)
    assert json.loads((demo_store_path / "store.json").read_text())["demo"] is True
    page = as_html(demo_store, progress=False)
    # The very banner of a report from the demo API itself.
    with sk.SendKitClient.demo() as client:
        from_api = as_html(client, PILOT, progress=False)
    assert SYNTHETIC in _banners(from_api)
    assert SYNTHETIC in _banners(page)
    assert "synced from the embedded demo API: synthetic data" in meta(page)["Source"]
    # A store synced through a client that is not the embedded demo holds no such flag.
    assert not store.is_demo and "synthetic" not in repr(store)
    assert json.loads((store.path / "store.json").read_text())["demo"] is False
    plain = as_html(store, A_CAMPAIGN, progress=False)
    assert SYNTHETIC not in _banners(plain) and "synthetic" not in meta(plain)["Source"]


def test_cli_report_from_a_demo_store_has_the_synthetic_data_banner(
    demo_store_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "r.html"
    result = subprocess.run(
        [sys.executable, "-m", "sendkit_nb.cli", "report", "--from", str(demo_store_path),
         "-o", str(target), "--no-progress"],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = target.read_text("utf-8")
    assert SYNTHETIC in _banners(page)


def test_demo_data_and_real_campaigns_are_not_mixed_in_one_store(
    demo_store_path: Path, own_server: DemoServer, tmp_path: Path
) -> None:
    """The flag is one per store: a sync of the other kind is refused before any request."""
    before = {p: p.read_bytes() for p in demo_store_path.rglob("*") if p.is_file()}
    own_server.reset()
    with sk.SendKitClient(own_server.api_key, base_url=own_server.url) as client:
        assert not client.is_demo
        with pytest.raises(sk.StoreError, match="holds the sendkit_nb demo API's synthetic data"):
            sk.sync(client, demo_store_path, progress=False)
        assert own_server.request_log == [], "refused before any request"
        real = tmp_path / "real"
        sk.sync(client, real, [A_CAMPAIGN], progress=False)
    assert {p: p.read_bytes() for p in demo_store_path.rglob("*") if p.is_file()} == before
    with (
        sk.SendKitClient.demo() as demo,
        pytest.raises(sk.StoreError, match="holds campaigns from the SendKit API") as caught,
    ):
        sk.sync(demo, real, progress=False)
    assert "--store" in caught.value.hint
    assert not sk.open_store(real).is_demo


def test_a_store_written_before_the_flag_gets_it_from_its_next_sync(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with sk.SendKitClient.demo() as client:
        sk.sync(client, path, [EMPTY_CAMPAIGN], progress=False)
        marker = path / "store.json"
        info = json.loads(marker.read_text())
        del info["demo"]  # as an earlier release wrote it
        marker.write_text(json.dumps(info))
        assert not sk.open_store(path).is_demo  # not known: no banner rather than a wrong one
        sk.sync(client, path, [EMPTY_CAMPAIGN], progress=False)
    assert sk.open_store(path).is_demo
    assert {k: v for k, v in json.loads(marker.read_text()).items() if k != "demo"} == info


@pytest.fixture(scope="module")
def window_page(store: sk.Store) -> str:
    return as_html(store, since="30d", progress=False)


def test_a_store_report_counts_30_days_back_from_the_demo_clock(
    window_page: str, store: sk.Store
) -> None:
    pairs = meta(window_page)
    start = DEMO_CLOCK - timedelta(days=30)
    assert pairs["Time window"] == (
        f"emails sent since {start:%Y-%m-%d %H:%M} UTC, counted back from "
        f"{DEMO_CLOCK:%Y-%m-%d %H:%M} UTC"
    )
    pulled = store.pulled_at
    assert pulled is not None
    assert pairs["Source"] == f"a local store at {store.path}, pulled {pulled:%Y-%m-%d %H:%M} UTC"
    assert pairs["Data pulled"] == f"{pulled:%Y-%m-%d %H:%M} UTC"

    catalog = store.campaigns()
    names = dict(zip(catalog["campaign_id"], catalog["name"], strict=True))
    live = catalog.filter(~pl.col("deleted"))["campaign_id"].to_list()
    leads = store.leads(live)
    expected = {
        r["campaign_id"]: r
        for r in skm.headline(leads, since="30d", as_of=DEMO_CLOCK).iter_rows(named=True)
    }
    rows = _overview_rows(window_page)
    assert set(rows) == {names[c] for c in live}
    contacted = 0
    for cid in live:
        want = expected.get(cid, {"leads": 0, "contacted": 0, "replied": 0, "positive": 0})
        assert rows[names[cid]][2:6] == [
            f"{want[k]:,}" for k in ("leads", "contacted", "replied", "positive")
        ]
        contacted += want["contacted"]
    assert contacted > 0, "the window holds sends"
    # The same window on the whole history differs: the window did cut.
    whole = dict(skm.headline(leads).select("campaign_id", "contacted").iter_rows())
    assert any(expected.get(c, {"contacted": 0})["contacted"] < n for c, n in whole.items())


def test_a_store_report_names_campaigns_and_steps_and_leaves_deleted_ones_out(
    store: sk.Store,
) -> None:
    page = as_html(store, progress=False)
    catalog = store.campaigns()
    deleted = catalog.filter(pl.col("deleted"))
    assert deleted["campaign_id"].to_list() == [PILOT]
    assert page.count('class="sk-tab"') == 6
    assert "Local partners pilot" not in page
    for name in catalog.filter(~pl.col("deleted"))["name"]:
        assert htmllib.escape(name, quote=False) in page or name in htmllib.unescape(page)
    labels = [row[0] for row in _table_rows(page, "funnel", A_CAMPAIGN)]
    # Labelled from the store's sequences, as from the API (not "Step order 0").
    assert labels == skm.funnel(store.leads(A_CAMPAIGN), sequence=catalog)["step_label"].to_list()
    assert not any("order" in label for label in labels)
    assert "1 campaign deleted upstream but kept in the store is left out" in page
    assert meta(page)["Campaigns"].startswith("6 campaigns (all in the source)")

    named = as_html(store, [A_CAMPAIGN, PILOT], progress=False)
    assert named.count('class="sk-tab"') == 2
    assert "Local partners pilot (deleted upstream)" in htmllib.unescape(named)
    assert "deleted upstream but kept" not in named
    leads = store.leads(PILOT)
    head = skm.headline(leads).row(0, named=True)
    assert _overview_rows(htmllib.unescape(named))["Local partners pilot (deleted upstream)"][
        2:4
    ] == [f"{head['leads']:,}", f"{head['contacted']:,}"]


def test_a_store_report_with_a_status_filter_and_an_empty_campaign(store: sk.Store) -> None:
    page = as_html(store, [A_CAMPAIGN, EMPTY_CAMPAIGN], status="replied", progress=False)
    replied = store.leads(A_CAMPAIGN, status="replied").height
    assert replied > 0
    rows = _overview_rows(htmllib.unescape(page))
    catalog = store.campaigns()
    names = dict(zip(catalog["campaign_id"], catalog["name"], strict=True))
    assert rows[names[A_CAMPAIGN]][2] == f"{replied:,}"
    assert "This campaign has no leads with the chosen statuses" in page


def test_a_store_report_refuses_what_it_cannot_show(store: sk.Store, tmp_path: Path) -> None:
    with pytest.raises(sk.BadRequestError, match="has no leads of campaign"):
        sk.report(store, "683b6100000000000000ffff", progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "store.json").write_text((store.path / "store.json").read_text("utf-8"), "utf-8")
    with pytest.raises(sk.BadRequestError, match="holds no campaign the API still lists"):
        sk.report(sk.open_store(empty), progress=False)
    with pytest.raises(sk.BadRequestError, match="only a client source can load them"):
        sk.report(store, attribution="inbox", progress=False)


def test_cli_report_from_a_demo_store_has_a_non_empty_30_day_window(
    store_path: Path, store: sk.Store, tmp_path: Path
) -> None:
    target = tmp_path / "r.html"
    result = subprocess.run(
        [sys.executable, "-m", "sendkit_nb.cli", "report", "--from", str(store_path),
         "--since", "30d", "-o", str(target), "--no-progress"],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = target.read_text("utf-8")
    assert f"counted back from {DEMO_CLOCK:%Y-%m-%d %H:%M} UTC" in meta(page)["Time window"]
    leads = store.leads(A_CAMPAIGN)
    want = skm.headline(leads, since="30d", as_of=DEMO_CLOCK).row(0, named=True)
    assert want["contacted"] > 0
    catalog = store.campaigns()
    name = catalog.filter(pl.col("campaign_id") == A_CAMPAIGN)["name"].item()
    assert _overview_rows(htmllib.unescape(page))[name][3] == f"{want['contacted']:,}"


def test_the_store_report_in_chromium_offline(
    browser: Browser,
    store: sk.Store,
    inbox_data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
    tmp_path: Path,
    test_output: Path,
) -> None:
    path = sk.report(store, path=tmp_path / "store.html", since="30d", progress=False).path
    assert path is not None
    offline = ReportPage(browser)
    try:
        page = offline.open(path)
        header = page.locator("#sk-meta").inner_text()
        assert f"a local store at {store.path}" in header
        assert "counted back from 2025-07-01 12:00 UTC" in header
        assert page.get_by_text("deleted upstream but kept in the store").is_visible()
        tabs = page.locator(".sk-tab")
        assert tabs.count() == 6
        for i in range(tabs.count()):
            tabs.nth(i).click()
            active = page.locator(".sk-campaign.is-active")
            panel_id = active.get_attribute("id")
            slots = active.locator(".sk-chart[data-figure]").count()
            page.wait_for_function(
                "([id, n]) => document.querySelectorAll('#' + id + ' .js-plotly-plot .main-svg')"
                ".length >= n",
                arg=[panel_id, slots],
            )
        page.screenshot(path=str(test_output / "report-store.png"), full_page=True)

        # With the inbox replies: the attribution table sits in the data checks, shown.
        _, replies, _ = inbox_data
        inbox = sk.report(
            store, A_CAMPAIGN, path=tmp_path / "inbox.html", replies=replies, progress=False
        )
        assert inbox.path is not None
        page = offline.open(inbox.path)
        table = page.locator('table[data-table="attribution"]')
        assert table.count() == 1 and table.is_visible()
        assert "Inbox threads" in table.inner_text()
        funnel = page.locator('table[data-table="funnel"]')
        assert "Auto-replies" in funnel.inner_text()
        assert page.get_by_text("Replies are placed by the inbox threads").is_visible()
        assert offline.errors == []
        assert offline.requests == []
    finally:
        offline.context.close()


# -- inbox attribution in the report -------------------------------------------------------------


@pytest.fixture(scope="module")
def inbox_data(demo_server: DemoServer) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The A/B campaign's leads, its inbox replies and the catalog, over HTTP."""
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        leads = sk.load_leads(client, A_CAMPAIGN, progress=False)
        replies = sk.load_replies(client, A_CAMPAIGN, leads=leads, progress=False)
        return leads, replies, sk.load_campaigns(client)


@pytest.fixture(scope="module")
def inbox_page(demo_server: DemoServer) -> str:
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        return as_html(client, A_CAMPAIGN, attribution="inbox", progress=False)


def test_an_inbox_report_loads_the_threads_and_counts_replies_by_them(
    inbox_page: str, inbox_data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]
) -> None:
    leads, replies, catalog = inbox_data
    page = htmllib.unescape(inbox_page)
    assert "Replies are placed by the inbox threads" in page
    funnel = skm.funnel(
        leads, attribution="inbox", replies=replies, sequence=catalog, denominator="delivered"
    )
    last = skm.funnel(leads, sequence=catalog)
    rows = _table_rows(inbox_page, "funnel", A_CAMPAIGN)
    header = re.search(r'data-table="funnel">.*?<thead>(.*?)</thead>', inbox_page, re.S)
    assert header and "Auto-replies" in header.group(1)
    assert "replies by the inbox threads" in page
    assert [r[0] for r in rows] == funnel["step_label"].to_list()
    columns = re.findall(r"<th[^>]*>(.*?)</th>", header.group(1))
    replied_at, auto_at = columns.index("Replied"), columns.index("Auto-replies")
    assert [r[replied_at] for r in rows] == [f"{v:,}" for v in funnel["replied"]]
    assert [r[auto_at] for r in rows] == [f"{v:,}" for v in funnel["auto_replied"]]
    assert funnel["replied"].to_list() != last["replied"].to_list(), "the demo disagrees somewhere"

    # The data checks: last touch against the threads, per step, as reconcile computes it.
    check = skm.reconcile(leads, replies=replies, include_matches=True)
    table = _table_rows(inbox_page, "attribution", A_CAMPAIGN)
    per_step = check.filter(pl.col("what") == "replied").sort("step")
    labels = dict(zip(funnel["step"], funnel["step_label"], strict=True))
    assert table[: per_step.height] == [
        [labels[r["step"]], f"{r['from_leads']:,}", f"{r['from_api']:,}", f"{r['difference']:,}"]
        for r in per_step.iter_rows(named=True)
    ]
    assert table[-1][0] == "No step (unattributed)"
    # Plain Python over the replies: each lead's first human message (by time, then thread
    # order; out-of-office conversations are automatic) counts at its step, once.
    first: dict[str, tuple[datetime, int, int | None]] = {}
    for r in replies.iter_rows(named=True):
        automatic = r["is_auto_reply"] or (r["ai_tag"] or "").lower() == "out_of_office"
        key = (r["received_at"], r["reply_index"], r["step"])
        if not automatic and (r["id"] not in first or key[:2] < first[r["id"]][:2]):
            first[r["id"]] = key
    counted: dict[int, int] = {}
    for _, _, step in first.values():
        if step is not None:
            counted[step] = counted.get(step, 0) + 1
    assert {r["step"]: r["from_api"] for r in per_step.iter_rows(named=True) if r["from_api"]} == (
        counted
    )


def test_an_inbox_report_from_a_frame_needs_the_replies_and_says_what_it_used(
    inbox_data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
) -> None:
    leads, replies, catalog = inbox_data
    page = as_html(leads, catalog=catalog, replies=replies, progress=False)
    head = skm.headline(leads, attribution="inbox", replies=replies).row(0, named=True)
    assert "Replies are placed by the inbox threads" in page
    summary = summarize(leads, catalog, SummaryOptions(attribution="inbox"), replies=replies)
    assert summary.headline["replied"] == head["replied"]
    assert summary.attribution_check is not None and summary.attribution_check.height
    plain = summarize(leads, catalog)
    assert plain.attribution_check is None and "auto_replied" not in plain.funnel.columns

    with pytest.raises(sk.BadRequestError, match="only a client source"):
        sk.report(leads, catalog=catalog, attribution="inbox", progress=False)
    with pytest.raises(sk.BadRequestError, match="only read with attribution='inbox'"):
        sk.report(leads, attribution="last_touch", replies=replies, progress=False)
    with pytest.raises(sk.BadRequestError, match="unknown attribution"):
        sk.report(leads, attribution="first_touch", progress=False)
    with pytest.raises(sk.BadRequestError, match=r"DataFrame of sk\.load_replies"):
        sk.report(leads, replies={"not": "a frame"}, progress=False)
    with pytest.raises(sk.BadRequestError, match="own status filter and settings"):
        sk.report(plain, attribution="inbox", progress=False)
    # Replies of a campaign the report does not show are refused, not dropped unseen.
    other = replies.with_columns(campaign_id=pl.lit("683b61000000000000001a99"))
    with pytest.raises(sk.BadRequestError, match="which the report does not show"):
        sk.report(leads, catalog=catalog, replies=other, progress=False)
    # An empty inbox list for a campaign whose leads replied: they keep last touch (DEFINITIONS:
    # a replied lead with no message keeps its last-touch step), and the data checks show it.
    empty = sk.report(leads, catalog=catalog, replies=replies.clear(), progress=False)
    last = skm.headline(leads).row(0, named=True)
    assert f'{last["replied"]:,}</div><div class="sk-kpi-label">Replied<' in empty.html


def test_a_last_touch_report_has_no_attribution_table(store: sk.Store) -> None:
    page = as_html(store, A_CAMPAIGN, progress=False)
    assert 'data-table="attribution"' not in page
    assert "replies by last touch" in page
    assert "Auto-replies" not in section_text(page, "campaigns")


# -- sk.reconcile(client, campaign_id, inbox=True) -------------------------------------------------


def test_reconcile_workflow_loads_or_takes_the_replies(
    demo_server: DemoServer, inbox_data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]
) -> None:
    leads, replies, _ = inbox_data
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        analytics = client.campaign_analytics(A_CAMPAIGN)
        expected = skm.reconcile(leads, analytics, replies=replies)
        demo_server.reset()
        loaded = sk.reconcile(client, A_CAMPAIGN, inbox=True, progress=False)
        threads = [r for r in demo_server.request_log if r.path.startswith("/v1/inbox/")]
        given = sk.reconcile(client, A_CAMPAIGN, replies=replies, progress=False)
        plain = sk.reconcile(client, A_CAMPAIGN, progress=False)
        with pytest.raises(sk.BadRequestError, match="not both"):
            sk.reconcile(client, A_CAMPAIGN, replies=replies, inbox=True)
    assert threads, "inbox=True fetched the threads"
    assert loaded.equals(expected) and given.equals(expected)
    assert expected.filter(pl.col("what") == "replied").height > 0
    assert plain.filter(pl.col("what").is_in(["replied", "unattributed"])).height == 0
