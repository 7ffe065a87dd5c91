"""The dashboard on a workspace store, its date window and its Senders section, against the
demo API over real HTTP (issue 11 item 7, issue 12 item 3).

A store written by ``sk.sync`` shows the same numbers as the API with the server stopped;
Refresh on a store opened with a client syncs the campaign on show (the requests counted in
the server's log) and draws the new leads; the window picker gives what
``metrics.headline(leads, since=...)`` gives; the senders load only when their section opens.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb import charts, metrics
from sendkit_nb.demo import DemoServer, Faults, make_workspace
from sendkit_nb.demo import _server as demo_server_module
from sendkit_nb.widgets import Dashboard
from sendkit_nb.widgets._source import StoreSource
from tests.conftest import no_sleep_client

#: Three campaigns: two pages of leads, one page, and none.
SIZES = [150, 60, 0]


@pytest.fixture()
def own_server() -> Iterator[DemoServer]:
    """A server of its own: these tests change, delete and stop it."""
    with DemoServer(make_workspace(seed=3, sizes=SIZES)) as server:
        yield server


@pytest.fixture()
def own_client(own_server: DemoServer) -> Iterator[sk.SendKitClient]:
    with no_sleep_client(own_server, max_retries=1) as client:
        yield client


@pytest.fixture()
def store_path(own_client: sk.SendKitClient, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    result = sk.sync(own_client, root, progress=False)
    assert result.ok and len(result.fetched) == len(SIZES)
    return root


def header_text(d: Dashboard) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", d.campaign_header.value))


def visible_text(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", value))


def kpi_values(d: Dashboard) -> dict[str, str]:
    return {key: visible_text(card.value) for key, card in d.kpis.items()}


def figure_data(fig: go.Figure) -> list[dict[str, Any]]:
    return [trace.to_plotly_json() for trace in fig.data]


def headline_of(leads: pl.DataFrame, **window: Any) -> dict[str, Any]:
    row = metrics.headline(leads, **window).row(0, named=True)
    row.pop("campaign_id", None)
    return row


def assert_headline(d: Dashboard, expected: dict[str, Any]) -> None:
    assert d.view is not None
    shown = {k: d.view.headline[k] for k in expected}
    assert shown == expected


def leads_paths(server: DemoServer) -> set[str]:
    return {r.path for r in server.request_log}


# -- a store, offline ----------------------------------------------------------------------------


def test_a_store_shows_what_the_api_shows_with_the_server_stopped(
    own_server: DemoServer, own_client: sk.SendKitClient, store_path: Path
) -> None:
    from_api = Dashboard(own_client)
    first = from_api.selection.campaign_id
    assert from_api.view is not None and first is not None
    api_headline = dict(from_api.view.headline)
    api_kpis = kpi_values(from_api)
    api_header = header_text(from_api)
    api_labels = [label for label, _ in from_api.campaign_picker.options]
    api_funnel = figure_data(from_api.figures["funnel"])
    from_api.close()

    own_server.stop()  # any request now fails: the store must need none
    store = sk.open_store(store_path)
    d = sk.dashboard(store)
    try:
        assert d.message.value == "", d.message.value
        assert d.selection.campaign_id == first
        assert d.view is not None
        assert dict(d.view.headline) == api_headline
        assert kpi_values(d) == api_kpis
        assert header_text(d) == api_header
        assert [label for label, _ in d.campaign_picker.options] == api_labels
        assert figure_data(d.figures["funnel"]) == api_funnel
        # The numbers are the metrics' over the store's leads.
        leads = store.leads([first])
        assert_headline(d, headline_of(leads))
        assert "from the store" in d.progress_text.value
        assert d.client is None and "store=" in repr(d)
    finally:
        d.close()


def test_a_demo_store_offline_says_its_data_is_synthetic(
    demo_client: sk.SendKitClient, store_path: Path, tmp_path: Path
) -> None:
    first = str(sk.load_campaigns(demo_client)["campaign_id"][0])
    demo_store = tmp_path / "demo-store"
    assert sk.sync(demo_client, demo_store, first, progress=False).ok
    shown = Dashboard(sk.open_store(demo_store))
    try:
        assert "synthetic data" in shown.ui.banner.value
        assert "demo API" in repr(shown)
    finally:
        shown.close()
    # A store of campaigns from a (non-demo) API shows no such banner.
    real = Dashboard(sk.open_store(store_path))
    try:
        assert real.ui.banner.value == ""
    finally:
        real.close()


def test_a_store_without_a_client_cannot_refresh_or_show_senders(store_path: Path) -> None:
    d = Dashboard(sk.open_store(store_path))
    try:
        assert d.refresh_button.disabled
        assert "unavailable offline" in d.refresh_button.tooltip
        shown = d.view
        d.refresh()  # called from code anyway: says why, changes nothing
        assert "Refresh is unavailable offline" in visible_text(d.message.value)
        assert d.view is shown
        d.senders.selected_index = 0  # opening the section
        assert "Senders need the API" in visible_text(d.senders_note.value)
        assert d.senders_figure.data == ()
        assert d.refresher.senders_frame is None
    finally:
        d.close()


def test_a_campaign_deleted_upstream_is_marked_and_still_shown(
    own_server: DemoServer, own_client: sk.SendKitClient, store_path: Path
) -> None:
    gone = sorted(str(c["_id"]) for c in own_server.workspace.campaigns)[0]
    own_server.remove_campaign(gone)
    assert sk.sync(own_client, store_path, progress=False).deleted == (gone,)
    synced = Dashboard(own_client, store=store_path, campaign=gone)
    try:
        synced.refresh()  # nothing to pull: the campaign is gone from the API
        assert "deleted in SendKit, its leads kept" in visible_text(synced.progress_text.value)
        assert synced.view is not None and synced.view.leads.height > 0
    finally:
        synced.close()
    own_server.stop()
    store = sk.open_store(store_path)
    d = Dashboard(store, campaign=gone)
    try:
        labels = dict((cid, label) for label, cid in d.campaign_picker.options)
        assert labels[gone].endswith("· deleted upstream")
        assert sum("deleted upstream" in label for label in labels.values()) == 1
        assert "deleted upstream" in header_text(d)
        assert "deleted in SendKit" in visible_text(d.message.value)
        assert d.view is not None and d.view.leads.height == store.leads([gone]).height > 0
    finally:
        d.close()


def test_bad_sources_are_refused_clearly(store_path: Path, tmp_path: Path) -> None:
    store = sk.open_store(store_path)
    with pytest.raises(sk.BadRequestError, match="two stores"):
        Dashboard(store, store=store_path)
    with pytest.raises(sk.BadRequestError, match="needs a client"):
        Dashboard(store=store_path)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    with pytest.raises(sk.StoreError, match="not a sendkit_nb store"):
        sk.dashboard(sk.open_store(tmp_path / "notes"))


def test_a_store_path_that_is_taken_is_not_synced_into(
    own_client: sk.SendKitClient, own_server: DemoServer, tmp_path: Path
) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    (tmp_path / "file.txt").write_text("x")
    for taken in (tmp_path / "notes", tmp_path / "file.txt"):
        own_server.reset()
        d = Dashboard(own_client, store=taken)
        try:
            assert "sk-error" in d.message.value and d.view is None
            assert "store" in visible_text(d.message.value)
            assert [r.path for r in own_server.request_log] == []  # nothing synced
        finally:
            d.close()
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["todo.txt"]


# -- a store with a client: Refresh syncs ------------------------------------------------------


def test_refresh_syncs_the_campaign_on_show_and_redraws_it(
    own_server: DemoServer, own_client: sk.SendKitClient, store_path: Path
) -> None:
    d = Dashboard(own_client, store=store_path)
    try:
        cid = d.selection.campaign_id
        assert cid is not None and d.view is not None
        assert not d.refresh_button.disabled and "Sync" in d.refresh_button.tooltip
        before = d.view.leads.height
        own_server.reset()  # clears the request log
        own_server.change_campaign(cid, add_leads=4)
        progress: list[str] = []
        d.progress_text.observe(lambda ch: progress.append(visible_text(ch["new"])), "value")

        d.refresh()

        assert d.message.value == "", d.message.value
        # Counted by the server: the campaigns list and this campaign's leads, nothing else.
        assert leads_paths(own_server) == {"/v1/campaigns", f"/v1/campaigns/{cid}/leads"}
        assert d.view.leads.height == before + 4 == len(own_server.workspace.leads[cid])
        assert f"{before + 4:,} leads" in header_text(d)
        # The sync's progress ran in the progress line, then the outcome stayed there.
        assert any("Syncing the campaign into" in text for text in progress)
        assert any(re.search(r"\d+ of \d+ leads", text) for text in progress)
        assert "Synced: " in visible_text(d.progress_text.value)
        # Drawn from the store, which now holds the new leads.
        store = sk.open_store(store_path)
        assert store.leads([cid]).height == before + 4
        assert_headline(d, headline_of(store.leads([cid])))

        own_server.reset()
        d.refresh()  # unchanged: the list is asked for, the leads are not
        assert leads_paths(own_server) == {"/v1/campaigns"}
        assert "unchanged since the last sync" in visible_text(d.progress_text.value)
    finally:
        d.close()


def test_a_failed_sync_keeps_the_stores_copy_on_show(
    own_server: DemoServer, own_client: sk.SendKitClient, store_path: Path
) -> None:
    d = Dashboard(own_client, store=store_path)
    try:
        assert d.view is not None
        shown = d.view.headline
        own_server.faults = Faults(server_error=1.0)
        d.refresh()
        assert "sk-error" in d.message.value
        assert d.view is not None and d.view.headline == shown
    finally:
        own_server.faults = Faults()
        d.close()


def test_a_new_store_folder_is_synced_on_first_use(
    own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    root = tmp_path / "fresh"
    d = sk.dashboard(own_client, store=root)
    try:
        assert d.message.value == "", d.message.value
        store = sk.open_store(root)
        assert store.campaigns().height == len(SIZES)
        assert d.view is not None and d.selection.campaign_id is not None
        assert d.view.leads.height == store.leads([d.selection.campaign_id]).height > 0
    finally:
        d.close()


# -- the date window ----------------------------------------------------------------------------


def test_the_window_picker_gives_the_windowed_metrics(
    own_client: sk.SendKitClient, own_server: DemoServer
) -> None:
    d = Dashboard(own_client)
    try:
        cid = d.selection.campaign_id
        assert cid is not None
        leads = sk.load_leads(own_client, cid, progress=False)
        all_time = kpi_values(d)
        assert "All time" in header_text(d)
        # Relative windows count back from the API server's clock, as in the report.
        now = own_client.server_time
        assert now is not None
        for value in ("7d", "30d"):
            d.window_picker.value = value  # as an analyst picks it
            assert d.message.value == "", d.message.value
            assert_headline(d, headline_of(leads, since=value, as_of=now))
            assert d.selection.since == value
        assert "Last 30 days: emails sent since" in header_text(d)
        window = metrics.resolve_window("7d", as_of=now)
        d.window_picker.value = "7d"
        assert kpi_values(d) != all_time  # the demo's last week is a part of the campaign
        assert window.start is not None and f"{window.start:%Y-%m-%d}" in header_text(d)

        # The status filter applies within the same days (counted back from the whole
        # campaign, not from the filtered leads).
        d.set_statuses(["replied"])
        replied = leads.filter(pl.col("status") == "replied")
        assert_headline(d, headline_of(replied, since=window.start))
        d.set_statuses(())

        # Any window from code: a custom choice in the picker.
        d.set_window(since=date(2025, 6, 1), until=date(2025, 6, 15))
        assert_headline(d, headline_of(leads, since=date(2025, 6, 1), until=date(2025, 6, 15)))
        assert d.window_picker.value == "custom"
        assert "2025-06-01" in d.window_picker.label
        assert "from 2025-06-01 UTC to 2025-06-16 UTC (not included)" in header_text(d)

        # A window that ends before it starts: an error, and the view stays as it was.
        shown = d.view
        d.set_window(since="2025-06-30", until="2025-06-01")
        assert "sk-error" in d.message.value
        assert d.view is shown and d.selection.since == date(2025, 6, 1)

        d.window_picker.value = ""  # all time again
        assert kpi_values(d) == all_time
        assert "custom" not in [value for _, value in d.window_picker.options]
    finally:
        d.close()


def test_the_comparison_and_the_export_follow_the_window(
    own_client: sk.SendKitClient, tmp_path: Path
) -> None:
    d = Dashboard(own_client)
    try:
        catalog = sk.load_campaigns(own_client)
        ids = catalog["campaign_id"].to_list()[:2]
        d.set_window(since="2025-06-01", until="2025-06-20")
        d.set_comparison(ids)
        assert d.message.value == "", d.message.value
        leads = pl.concat([sk.load_leads(own_client, cid, progress=False) for cid in ids])
        expected = metrics.compare_campaigns(leads, catalog, since="2025-06-01", until="2025-06-20")
        assert figure_data(d.figures["campaigns"]) == figure_data(
            charts.campaign_comparison(expected, metric="reply")
        )

        target = tmp_path / "report.html"
        assert d.export_html(target) == target
        page = target.read_text("utf-8")
        # The report says the dashboard's window (the summary's options carry it).
        assert "Time window" in page and "2025-06-01" in page
    finally:
        d.close()


def test_the_window_can_be_given_when_the_dashboard_opens(own_client: sk.SendKitClient) -> None:
    d = Dashboard(own_client, since="30d")
    try:
        cid = d.selection.campaign_id
        assert cid is not None
        leads = sk.load_leads(own_client, cid, progress=False)
        assert d.window_picker.value == "30d"
        assert_headline(d, headline_of(leads, since="30d", as_of=own_client.server_time))
        assert "Last 30 days" in header_text(d)
    finally:
        d.close()
    with pytest.raises(sk.BadRequestError, match="dashboard window"):
        Dashboard(own_client, since="yesterday-ish")


def test_a_store_counts_relative_windows_back_from_its_last_sync(store_path: Path) -> None:
    store = sk.open_store(store_path)
    d = Dashboard(store)
    try:
        cid = d.selection.campaign_id
        assert cid is not None
        leads = store.leads([cid])
        d.window_picker.value = "90d"
        assert store.as_of is not None
        assert_headline(d, headline_of(leads, since="90d", as_of=store.as_of))
        assert f"counted back from {store.as_of:%Y-%m-%d %H:%M} UTC" in header_text(d)
        d.set_window(since=date(2025, 5, 1), until=date(2025, 7, 1))
        assert_headline(d, headline_of(leads, since=date(2025, 5, 1), until=date(2025, 7, 1)))
    finally:
        d.close()


# -- senders ------------------------------------------------------------------------------------


def test_senders_load_when_their_section_opens(
    own_client: sk.SendKitClient, own_server: DemoServer, tmp_path: Path
) -> None:
    d = Dashboard(own_client)
    try:
        mailbox_requests = [
            r for r in own_server.request_log if r.path == "/v1/analytics/mailboxes"
        ]
        assert mailbox_requests == []  # lazily: nothing until the section is opened
        assert d.senders.selected_index is None
        assert "per sender" not in d.static_html()
        before = tmp_path / "before.html"
        d.export_html(before)
        assert "per sender" not in before.read_text("utf-8")

        d.senders.selected_index = 0
        frame = sk.load_mailboxes(own_client)
        assert d.message.value == "", d.message.value
        assert figure_data(d.senders_figure) == figure_data(charts.mailboxes(frame))
        assert d.ui.senders_panel.children == (d.senders_figure,)
        assert f"{frame.height:,} sending mailboxes" in visible_text(d.senders_note.value)
        assert "the period the API counts by default" in visible_text(d.senders_note.value)

        # The window applies, by whole days (its end is exclusive).
        own_server.reset()
        d.set_window(since=date(2025, 6, 1), until=date(2025, 6, 10))
        asked = [r for r in own_server.request_log if r.path == "/v1/analytics/mailboxes"]
        assert [(r.query.get("from"), r.query.get("to")) for r in asked] == [
            ("2025-06-01", "2025-06-10")
        ]
        windowed = sk.load_mailboxes(own_client, since="2025-06-01", until="2025-06-10")
        assert figure_data(d.senders_figure) == figure_data(charts.mailboxes(windowed))
        assert "2025-06-01 to 2025-06-10" in visible_text(d.senders_note.value)

        # The static copy (notebook HTML exports) shows them; the exported report has them.
        assert "Bounce and reply rate per sender" in d.static_html()
        after = tmp_path / "after.html"
        d.export_html(after)
        assert "Bounce and reply rate per sender" in after.read_text("utf-8")
    finally:
        d.close()


def test_senders_that_fail_to_load_say_so_and_the_rest_stays(
    own_client: sk.SendKitClient, own_server: DemoServer
) -> None:
    d = Dashboard(own_client)
    try:
        shown = d.view
        own_server.faults = Faults(server_error=1.0)
        d.senders.selected_index = 0
        assert "could not be loaded" in visible_text(d.senders_note.value)
        assert d.view is shown and d.senders_figure.data == ()
        own_server.faults = Faults()
        d.load_senders()  # tried again
        assert "sending mailboxes" in visible_text(d.senders_note.value)
        assert len(d.senders_figure.data) == 4
    finally:
        own_server.faults = Faults()
        d.close()


def test_a_mailbox_frame_without_sends_draws_an_empty_chart(
    own_client: sk.SendKitClient,
) -> None:
    """A window in which no mailbox sent anything: every mailbox is left out, and the chart
    says so rather than failing."""
    d = Dashboard(own_client)
    try:
        d.set_window(since=date(2020, 1, 1), until=date(2020, 1, 2))
        d.senders.selected_index = 0
        frame = sk.load_mailboxes(own_client, since="2020-01-01", until="2020-01-01")
        assert frame.height > 0 and frame["sent"].fill_null(0).sum() == 0
        assert "could not" not in visible_text(d.senders_note.value)
        assert figure_data(d.senders_figure) == figure_data(charts.mailboxes(frame))
    finally:
        d.close()


# -- %sendkit dashboard --store ----------------------------------------------------------------


@pytest.fixture()
def shell(own_server: DemoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """IPython with the extension loaded, its ``connect()`` pointing at ``own_server``."""
    import plotly.io as pio
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("SENDKIT_API_KEY", own_server.api_key)
    monkeypatch.setenv("SENDKIT_BASE_URL", own_server.url)
    monkeypatch.delenv("SENDKIT_WORKSPACE_ID", raising=False)
    ip = InteractiveShell.instance()
    saved = pio.renderers.default
    ip.run_line_magic("load_ext", "sendkit_nb")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "sendkit_nb")
        pio.renderers.default = saved


def test_the_magic_opens_the_dashboard_on_a_store(
    shell: Any, own_server: DemoServer, store_path: Path
) -> None:
    from IPython.core.error import UsageError

    store = sk.open_store(store_path)
    second = store.campaigns().sort("campaign_id").row(1, named=True)
    own_server.reset()
    name = second["name"]
    offline = shell.run_line_magic(
        "sendkit", f'dashboard "{name}" --store {store_path} --offline --status replied'
    )
    try:
        assert own_server.request_log == []  # the name was found in the store, not the API
        assert offline.client is None and offline.refresh_button.disabled
        assert offline.selection.campaign_id == second["campaign_id"]
        replied = store.leads([second["campaign_id"]], status="replied")
        assert offline.view is not None and offline.view.headline["leads"] == replied.height
    finally:
        offline.close()

    synced = shell.run_line_magic("sendkit", f"dashboard --store {store_path}")
    try:
        assert synced.client is not None and not synced.refresh_button.disabled
        assert "from the store" in synced.progress_text.value
    finally:
        synced.close()
    with pytest.raises(UsageError, match="--offline reads a store"):
        shell.run_line_magic("sendkit", "dashboard --offline")


def test_an_empty_campaign_with_a_window_from_the_api_and_from_a_store(
    own_server: DemoServer, own_client: sk.SendKitClient, store_path: Path
) -> None:
    empty = next(cid for cid, leads in own_server.workspace.leads.items() if not leads)
    d = Dashboard(own_client, campaign=empty, since="7d")
    try:
        assert d.message.value == "", d.message.value
        assert d.view is not None and d.view.leads.height == 0
        assert d.view.headline["contacted"] == 0 and d.view.headline["reply_rate"] is None
        # No lead to date the window by, but the server's clock does: said, not an error.
        assert "counted back from 2025-07-01 12:00 UTC" in header_text(d)
    finally:
        d.close()
    offline = Dashboard(sk.open_store(store_path), campaign=empty, since="7d")
    try:
        assert offline.message.value == "", offline.message.value
        assert offline.view is not None and offline.view.headline["contacted"] == 0
        assert "counted back from" in header_text(offline)  # the store's last sync
        assert "no leads yet" in header_text(offline)
    finally:
        offline.close()


def test_refresh_of_one_campaign_moves_only_its_clock(
    own_server: DemoServer,
    own_client: sk.SendKitClient,
    store_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two weeks after a full sync, Refresh syncs the campaign on show: its windows count back
    from the new check; the other campaigns', and the store's as a whole, from the old one."""
    clock = sk.open_store(store_path).as_of
    assert clock is not None
    later = clock + timedelta(days=14)
    monkeypatch.setattr(
        demo_server_module, "_CLOCK_DATE", formatdate(later.timestamp(), usegmt=True)
    )
    d = Dashboard(own_client, store=store_path, since="90d")
    try:
        cid = d.selection.campaign_id
        assert cid is not None and isinstance(d.source, StoreSource)
        d.refresh()
        assert "Synced: " in visible_text(d.progress_text.value)
        others = [c for c in sk.open_store(store_path).campaigns()["campaign_id"] if c != cid]
        assert d.source.as_of(cid) == later
        assert all(d.source.as_of(other) == clock for other in others)
        assert d.source.as_of() == clock, "the whole store: its oldest check"
    finally:
        d.close()
