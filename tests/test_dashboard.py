"""The dashboard's state without a browser: pickers driven from Python against the demo API
over HTTP, and every number checked against sendkit_nb.metrics on the same leads."""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import plotly.graph_objects as go
import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb import RetryPolicy, charts, metrics
from sendkit_nb._present import DASH
from sendkit_nb._summary import TIMING_KPIS
from sendkit_nb.demo import DemoServer
from sendkit_nb.widgets import FIGURES, KPIS, Dashboard
from tests.widget_wire import Wire, as_sent

STAGE_COLUMNS = {
    "Sent": "sent",
    "Delivered": "delivered",
    "Opened (directional)": "opened",
    "Clicked": "clicked",
    "Replied": "replied",
    "Positive": "positive",
}


@pytest.fixture()
def catalog(client: sk.SendKitClient) -> pl.DataFrame:
    return sk.load_campaigns(client)


@pytest.fixture()
def dash(client: sk.SendKitClient) -> Iterator[Dashboard]:
    d = Dashboard(client)
    yield d
    d.close()


def lead_requests(server: DemoServer) -> list[str]:
    return [r.path for r in server.request_log if r.path.endswith("/leads")]


def figure_data(fig: go.Figure) -> list[dict[str, Any]]:
    """The traces as plain JSON, for comparing a live widget with a freshly built figure."""
    return [trace.to_plotly_json() for trace in fig.data]


def funnel_bars(fig: go.Figure) -> dict[str, list[int]]:
    return {trace.name: list(trace.y) for trace in fig.data}


def kpi_text(d: Dashboard, key: str) -> str:
    found = re.search(r'class="sk-kpi-value"[^>]*>([^<]*)<', d.kpis[key].value)
    assert found, d.kpis[key].value
    return found.group(1)


def header_text(d: Dashboard) -> str:
    """The campaign header as read on screen (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", d.campaign_header.value))


def assert_shows(d: Dashboard, leads: pl.DataFrame, catalog: pl.DataFrame, **options: Any) -> None:
    """Every panel of ``d`` shows what metrics + charts give for ``leads``."""
    assert d.message.value == "", d.message.value
    denominator = options.get("denominator", "delivered")
    funnel = metrics.funnel(leads, sequence=catalog, denominator=denominator)
    head = metrics.headline(leads).row(0, named=True)
    # The reply curve is observed up to the source's clock (the API server's Date), as in the
    # report, not only to the selection's latest event.
    as_of = d.client.server_time if d.client is not None else None
    timing = metrics.reply_timing_summary(leads, as_of=as_of).row(0, named=True)
    # KPI cards: the headline numbers, with the reply timing's, formatted.
    assert d.view is not None
    assert d.view.headline == {**head, **{k: timing[k] for k in TIMING_KPIS}}
    assert kpi_text(d, "leads") == f"{leads.height:,}"
    assert kpi_text(d, "replied") == f"{head['replied']:,}"
    assert kpi_text(d, "positive") == f"{head['positive']:,}"
    assert kpi_text(d, "positive_rate") == f"{100 * head['positive_rate']:.1f}%"
    # The funnel chart's bars are the funnel's counts, stage by stage.
    bars = funnel_bars(d.figures["funnel"])
    for name, column in STAGE_COLUMNS.items():
        assert bars[name] == funnel[column].to_list(), name
    # Every other chart equals the chart built from the metrics of the same leads.
    expected = {
        "rates": charts.step_rates(funnel),
        "reply_curve": charts.reply_curve(metrics.reply_curve(leads, as_of=as_of)),
        "daily": charts.daily_activity(metrics.daily_activity(leads)),
        "ai_tags": charts.ai_tag_breakdown(metrics.ai_tag_counts(leads)),
    }
    for key, fig in expected.items():
        assert figure_data(d.figures[key]) == figure_data(fig), key
    # The table: the selection's size, and its first rows in the chosen order.
    assert d.view.table_total == leads.height
    caption = f"Showing {min(leads.height, d.table_rows):,} of {leads.height:,} leads"
    assert caption in d.table.value


def test_opens_on_the_first_campaign(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame
) -> None:
    ids = catalog["campaign_id"].to_list()
    # The picker lists every campaign as "name · status".
    assert [value for _, value in dash.campaign_picker.options] == ids
    first_label = dash.campaign_picker.options[0][0]
    assert first_label == f"{catalog['name'][0]} · {catalog['status'][0]}"
    assert dash.campaign_picker.value == ids[0]
    assert dash.banner.value == ""  # a real (non-demo) client: no demo notice
    leads = sk.load_leads(client, ids[0], progress=False)
    assert_shows(dash, leads, catalog)
    # The status picker gives each status's count in this campaign.
    counts = dict(
        metrics.status_counts(leads).select(pl.col("status").cast(pl.String), "leads").iter_rows()
    )
    for label, status in dash.status_picker.options:
        assert label == f"{status} ({counts[status]:,})"
    # Whole-campaign status chart: the status counts.
    expected = charts.status_breakdown(metrics.status_counts(leads))
    assert figure_data(dash.figures["status"]) == figure_data(expected)
    assert "from the API" in dash.progress_text.value
    assert dash.progress.layout.visibility == "hidden"


def test_status_switch_updates_kpis_charts_and_table_in_place(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame, server: DemoServer
) -> None:
    cid = dash.selection.campaign_id
    assert cid is not None
    leads = sk.load_leads(client, cid, progress=False)
    widgets_before = dict(dash.figures)
    traces_before = {key: list(fig.data) for key, fig in dash.figures.items()}
    bars_before = funnel_bars(dash.figures["funnel"])
    requests_before = len(server.request_log)

    dash.set_statuses(["replied", "completed"])

    chosen = leads.filter(pl.col("status").cast(pl.String).is_in(["replied", "completed"]))
    assert 0 < chosen.height < leads.height
    assert dash.selection.statuses == ("replied", "completed")
    assert set(dash.status_picker.value) == {"replied", "completed"}
    assert funnel_bars(dash.figures["funnel"]) != bars_before
    assert_shows(dash, chosen, catalog)
    # The same FigureWidgets and the same trace objects: updated in place, not re-created.
    assert dash.figures == widgets_before
    for key in ("funnel", "rates", "daily", "ai_tags"):
        assert all(a is b for a, b in zip(dash.figures[key].data, traces_before[key], strict=True))
    # A filter on a loaded campaign needs no request.
    assert len(server.request_log) == requests_before

    # Through the widget, as a click would do it.
    dash.status_picker.value = ("bounced",)
    assert_shows(dash, leads.filter(pl.col("status").cast(pl.String) == "bounced"), catalog)
    dash.clear_statuses_button.click()
    assert not dash.selection.statuses
    assert_shows(dash, leads, catalog)


def test_a_status_with_no_leads_shows_empty_panels(dash: Dashboard) -> None:
    dash.set_statuses(["pending"])  # the demo campaigns have no pending leads
    assert dash.message.value == ""
    assert dash.view is not None and dash.view.headline["leads"] == 0
    assert kpi_text(dash, "leads") == "0"
    assert kpi_text(dash, "positive_rate") == DASH  # a missing number prints as everywhere else
    assert "No leads in this selection" in dash.table.value
    notes = [a.name for a in dash.figures["funnel"].layout.annotations]
    assert charts.NO_DATA in notes


def test_denominator_metric_and_variant_switches(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame
) -> None:
    cid = dash.selection.campaign_id
    assert cid is not None
    leads = sk.load_leads(client, cid, progress=False)

    dash.set_options(denominator="sent")
    assert dash.denominator_picker.value == "sent"
    assert dash.view is not None
    assert dash.view.funnel["denominator"].unique().to_list() == ["sent"]
    assert_shows(dash, leads, catalog, denominator="sent")

    # The variant view: A/B chart shown and drawn from variant_funnel; one curve per variant.
    assert dash.ui.panels["variants"].layout.display == "none"
    dash.variant_toggle.value = True
    assert dash.ui.panels["variants"].layout.display is None
    expected = charts.variant_comparison(
        metrics.variant_funnel(leads, sequence=catalog, denominator="sent"), metric="reply"
    )
    assert figure_data(dash.figures["variants"]) == figure_data(expected)
    curve = charts.reply_curve(metrics.reply_curve(leads, by="variant", as_of=client.server_time))
    assert figure_data(dash.figures["reply_curve"]) == figure_data(curve)
    assert len(dash.figures["reply_curve"].data) > 2  # a band and a line per variant

    dash.metric_picker.value = "open"
    expected = charts.variant_comparison(
        metrics.variant_funnel(leads, sequence=catalog, denominator="sent", metric="open"),
        metric="open",
    )
    assert dash.message.value == ""
    assert figure_data(dash.figures["variants"]) == figure_data(expected)
    # The campaign comparison follows the metric too.
    compared = metrics.compare_campaigns(leads, catalog)
    assert figure_data(dash.figures["campaigns"]) == figure_data(
        charts.campaign_comparison(compared, metric="open")
    )

    dash.set_options(by_variant=False)
    assert dash.ui.panels["variants"].layout.display == "none"
    assert len(dash.figures["reply_curve"].data) == 2


def test_lead_table_sorting(dash: Dashboard, client: sk.SendKitClient) -> None:
    cid = dash.selection.campaign_id
    assert cid is not None
    leads = sk.load_leads(client, cid, progress=False)

    def first_cells() -> list[str]:
        return re.findall(r"<tr><td[^>]*>([^<]*)</td>", dash.table.value)

    dash.set_options(sort_by="email", descending=False)
    emails = sorted(e for e in leads["email"].to_list() if e is not None)
    assert first_cells()[:3] == emails[:3]
    assert "by email (ascending)" in dash.table.value

    dash.descending_toggle.value = True
    assert first_cells()[:3] == sorted(emails, reverse=True)[:3]

    dash.sort_picker.value = "emails sent"
    assert dash.view is not None
    most = leads["emails"].list.len().max()
    assert dash.view.table["emails_sent"][0] == most
    assert dash.view.table.height == dash.table_rows
    assert len(first_cells()) == dash.table_rows


def test_switching_back_to_a_loaded_campaign_makes_no_request(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame, server: DemoServer
) -> None:
    first, second = catalog["campaign_id"][0], catalog["campaign_id"][1]
    loads_of_first = lead_requests(server).count(f"/v1/campaigns/{first}/leads")
    assert loads_of_first > 0

    dash.campaign_picker.value = second  # as a user picking it
    assert dash.selection.campaign_id == second
    assert f"/v1/campaigns/{second}/leads" in lead_requests(server)
    assert_shows(dash, sk.load_leads(client, second, progress=False), catalog)

    before = len(server.request_log)
    dash.campaign_picker.value = first
    assert dash.selection.campaign_id == first
    assert len(server.request_log) == before  # from memory
    assert "from memory" in dash.progress_text.value
    assert_shows(dash, sk.load_leads(client, first, progress=False), catalog)
    # The comparison chart lists both loaded campaigns.
    assert len(dash.figures["campaigns"].data[0].y) == 2


def test_status_filter_carries_over_to_the_next_campaign(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame
) -> None:
    dash.set_statuses(["replied"])
    second = catalog["campaign_id"][1]
    dash.select_campaign(second)
    assert dash.status_picker.value == ("replied",)
    leads = sk.load_leads(client, second, "replied", progress=False)
    assert_shows(dash, leads, catalog)
    assert "Status filter: replied" in header_text(dash)


# -- the status filter in sight, and in the comparison (issue 10, item 14) --------------------


def test_the_status_filter_is_shown_in_the_campaign_header(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame
) -> None:
    first = dash.selection.campaign_id
    assert first is not None
    total = dash.store.campaign(first).leads.height
    text = header_text(dash)
    assert f"{catalog['name'][0]} · {catalog['status'][0]}" in text
    assert f"All statuses · {total:,} leads" in text
    assert dash.header_clear_button.layout.display == "none"

    dash.set_statuses(["replied"])
    replied = sk.load_leads(client, first, "replied", progress=False).height
    assert f"Status filter: replied · {replied:,} of {total:,} leads" in header_text(dash)
    assert dash.header_clear_button.layout.display is None

    # The filter stays when a draft campaign (no reply yet) is opened: the header says why
    # the cards read 0, where the analyst looks.
    draft = campaign_named(catalog, "Enterprise ABM")
    dash.select_campaign(draft)
    drafted = dash.store.campaign(draft).leads.height
    assert drafted > 0 and dash.status_picker.value == ("replied",)
    assert kpi_text(dash, "leads") == "0"
    text = header_text(dash)
    assert "Enterprise ABM (draft) · draft" in text
    assert f"Status filter: replied · none of its {drafted:,} leads has this status" in text
    # One click there clears it.
    dash.header_clear_button.click()
    assert dash.selection.statuses == () and dash.status_picker.value == ()
    assert f"All statuses · {drafted:,} leads" in header_text(dash)
    assert kpi_text(dash, "leads") == f"{drafted:,}"
    assert dash.header_clear_button.layout.display == "none"

    dash.set_statuses(["replied", "bounced"])
    dash.select_campaign(campaign_named(catalog, "Old smoke test"))  # no leads at all
    assert "Status filter: replied, bounced · this campaign has no leads yet" in header_text(dash)


def test_the_campaign_header_escapes_names() -> None:
    from sendkit_nb.widgets._html import campaign_header_html

    header = campaign_header_html("<b>x</b> & co", "<i>active</i>", 3, ("replied",), 1)
    assert "<b>x</b>" not in header and "<i>" not in header
    assert "&lt;b&gt;x&lt;/b&gt; &amp; co" in header


def compared_leads(client: sk.SendKitClient, ids: list[str], *statuses: str) -> pl.DataFrame:
    status = list(statuses) or None
    frames = [sk.load_leads(client, cid, status, progress=False) for cid in ids]
    return pl.concat(frames, how="vertical_relaxed")


def assert_compares(
    d: Dashboard, leads: pl.DataFrame, catalog: pl.DataFrame, metric: str = "reply"
) -> None:
    expected = charts.campaign_comparison(metrics.compare_campaigns(leads, catalog), metric=metric)
    assert figure_data(d.figures["campaigns"]) == figure_data(expected)


def test_the_campaign_comparison_honours_the_status_filter(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame
) -> None:
    first, second = catalog["campaign_id"][0], catalog["campaign_id"][1]
    dash.select_campaign(second)
    dash.select_campaign(first)
    assert_compares(dash, compared_leads(client, [first, second]), catalog)

    dash.set_statuses(["replied", "completed"])
    assert dash.message.value == ""
    chosen = compared_leads(client, [first, second], "replied", "completed")
    assert_compares(dash, chosen, catalog)
    # The chart says what it compares.
    assert "leads with status replied, completed only" in dash.comparison_note.value
    dash.set_options(metric="open")  # the metric too
    assert_compares(dash, chosen, catalog, "open")
    dash.set_statuses([])
    assert_compares(dash, compared_leads(client, [first, second]), catalog, "open")
    assert "Comparing 2 campaigns, all their leads" in dash.comparison_note.value


def test_any_campaigns_can_be_compared_loading_them_with_progress(
    client: sk.SendKitClient, catalog: pl.DataFrame, server: DemoServer
) -> None:
    d = Dashboard(client)
    try:
        ids = catalog["campaign_id"].to_list()
        names = dict(catalog.select("campaign_id", "name").iter_rows())
        # Every campaign of the list can be picked; the one opened is compared already.
        assert [cid for _, cid in d.compare_picker.options] == ids
        assert d.compare_picker.value == (ids[0],)
        texts: list[str] = []
        d.progress_text.observe(lambda change: texts.append(change["new"]), names="value")

        d.compare_picker.value = tuple(ids[:4])  # as a user picking three more in the list
        assert d.message.value == ""
        for number, cid in enumerate(ids[1:4], 1):
            assert f"/v1/campaigns/{cid}/leads" in lead_requests(server)
            stage = f"Comparison, {number} of 3: Loading the leads of “{names[cid]}”"
            assert any(stage in t for t in texts), (stage, texts)
        total = d.store.campaign(ids[3]).leads.height
        assert any(f"{total:,} of {total:,} leads" in t for t in texts)
        assert "Comparing 4 campaigns (3 loaded from the API" in d.progress_text.value
        assert d.progress.layout.visibility == "hidden"
        assert d.selection.campaign_id == ids[0]  # compared, not opened
        assert_compares(d, compared_leads(client, ids[:4]), catalog)

        before = len(server.request_log)
        d.compare_picker.value = (ids[1], ids[2])  # fewer: from memory
        assert len(server.request_log) == before
        assert_compares(d, compared_leads(client, ids[1:3]), catalog)

        d.compare_all_button.click()
        assert d.compare_picker.value == tuple(ids)
        empty = [cid for cid in ids if not d.store.campaign(cid).leads.height]
        assert empty and d.comparison_missing == empty
        assert all(names[cid] in d.comparison_note.value for cid in empty)
        assert_compares(d, compared_leads(client, ids), catalog)
        # A compared campaign opens from memory.
        d.select_campaign(ids[2])
        assert "from memory" in d.progress_text.value
    finally:
        d.close()


def test_a_campaign_that_fails_to_load_is_left_out_of_the_comparison(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame, server: DemoServer
) -> None:
    first, second = catalog["campaign_id"][0], catalog["campaign_id"][1]
    server.fail_next("500", 20)  # more than the client retries
    dash.set_comparison([first, second])
    server.reset()
    assert "Left out of the comparison" in dash.message.value
    assert "HTTP 500" in dash.message.value
    assert dash.compare_picker.value == (first,)
    assert_compares(dash, compared_leads(client, [first]), catalog)
    dash.set_comparison([first, second])
    assert dash.message.value == "" and dash.compare_picker.value == (first, second)
    dash.set_comparison(["ffffffffffffffffffffffff"])
    assert "not in the campaigns list" in dash.message.value
    assert dash.compare_picker.value == (first, second)


def test_refresh_reloads_from_the_api(dash: Dashboard, server: DemoServer) -> None:
    cid = dash.selection.campaign_id
    before = lead_requests(server).count(f"/v1/campaigns/{cid}/leads")
    dash.refresh_button.click()
    assert lead_requests(server).count(f"/v1/campaigns/{cid}/leads") > before
    assert [r.path for r in server.request_log].count("/v1/campaigns") >= 2
    assert dash.message.value == ""
    assert "from the API" in dash.progress_text.value


# -- search: the picker always shows the campaign on screen (issue 10, item 13) ---------------


def press_enter(box: ipywidgets.Text) -> None:
    """What the browser sends when Enter is pressed in a text box (ipywidgets' TextView sends
    a custom message; the value itself was synced as it was typed)."""
    box._handle_msg(
        {"content": {"data": {"method": "custom", "content": {"event": "submit"}}}, "buffers": []}
    )


def type_into(box: ipywidgets.Text, text: str) -> Iterator[str]:
    """Type ``text`` one character at a time, as a continuous-update text box syncs it."""
    for end in range(1, len(text) + 1):
        box.value = text[:end]
        yield box.value


def picker_shows_the_screen(d: Dashboard) -> bool:
    """The campaign picker names the campaign whose numbers are on show."""
    assert d.view is not None
    picked: object = d.campaign_picker.value
    return picked == d.selection.campaign_id == d.view.selection.campaign_id


def campaign_named(catalog: pl.DataFrame, start: str) -> str:
    return str(catalog.filter(pl.col("name").str.starts_with(start))["campaign_id"][0])


def test_typing_a_name_with_a_single_match_opens_it(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame, server: DemoServer
) -> None:
    fintech = campaign_named(catalog, "Fintech")
    assert dash.selection.campaign_id != fintech
    for typed in type_into(dash.campaign_search, "fin"):
        # Never a blank picker, nor one naming a campaign the charts do not show.
        assert picker_shows_the_screen(dash), typed
    assert dash.selection.campaign_id == fintech
    assert [cid for _, cid in dash.campaign_picker.options] == [fintech]
    assert_shows(dash, sk.load_leads(client, fintech, progress=False), catalog)
    assert "Fintech CFOs - Q2" in header_text(dash)
    # Enter then opens the first (and only) match: the one on show, nothing is redone.
    before = len(server.request_log)
    timings = dash.timings
    press_enter(dash.campaign_search)
    assert dash.selection.campaign_id == fintech and picker_shows_the_screen(dash)
    assert len(server.request_log) == before and dash.timings is timings


def test_a_search_that_leaves_out_the_campaign_on_show_keeps_it_in_the_picker(
    dash: Dashboard, catalog: pl.DataFrame, server: DemoServer
) -> None:
    shown = dash.selection.campaign_id
    assert shown is not None
    before = len(server.request_log)
    dash.campaign_search.value = "en"  # Agency ..., Enterprise ...: not the campaign on show
    matches = [
        cid for cid, name in catalog.select("campaign_id", "name").rows() if "en" in name.lower()
    ]
    assert len(matches) > 1 and shown not in matches
    assert picker_shows_the_screen(dash) and dash.selection.campaign_id == shown
    # The campaign on show first, then the matches; nothing loaded meanwhile.
    assert [cid for _, cid in dash.campaign_picker.options] == [shown, *matches]
    assert len(server.request_log) == before
    assert f"{len(matches)} of {catalog.height} campaigns match “en”" in dash.progress_text.value
    assert "Enter opens the first" in dash.progress_text.value

    press_enter(dash.campaign_search)  # Enter: the first match
    assert dash.message.value == ""
    assert dash.selection.campaign_id == matches[0]
    assert picker_shows_the_screen(dash)
    assert [cid for _, cid in dash.campaign_picker.options] == matches

    # Picking in the narrowed list works as ever.
    dash.campaign_picker.value = matches[1]
    assert dash.selection.campaign_id == matches[1] and picker_shows_the_screen(dash)
    # A campaign opened from code while the search leaves it out: still shown in the picker.
    dash.select_campaign(shown)
    assert picker_shows_the_screen(dash)
    assert dash.campaign_picker.options[0][1] == shown
    dash.search("")
    assert len(dash.campaign_picker.options) == catalog.height
    assert picker_shows_the_screen(dash)


def test_a_search_without_match_keeps_the_campaign_and_enter_does_nothing(
    dash: Dashboard, server: DemoServer
) -> None:
    shown = dash.selection.campaign_id
    dash.campaign_search.value = "zzz"
    assert [cid for _, cid in dash.campaign_picker.options] == [shown]
    assert picker_shows_the_screen(dash)
    assert "No campaign name contains “zzz”" in dash.progress_text.value
    before = len(server.request_log)
    press_enter(dash.campaign_search)
    assert dash.selection.campaign_id == shown and len(server.request_log) == before
    # Enter in an empty box chooses nothing either.
    dash.campaign_search.value = ""
    press_enter(dash.campaign_search)
    assert dash.selection.campaign_id == shown and picker_shows_the_screen(dash)
    assert dash.message.value == ""


def test_a_pick_that_fails_to_load_puts_the_picker_back(
    dash: Dashboard, catalog: pl.DataFrame, server: DemoServer
) -> None:
    shown = dash.selection.campaign_id
    server.fail_next("500", 20)  # more than the client retries
    dash.campaign_picker.value = catalog["campaign_id"][1]  # as a user picking it
    assert "HTTP 500" in dash.message.value
    assert dash.selection.campaign_id == shown
    assert picker_shows_the_screen(dash)


def test_a_pick_whose_metrics_fail_puts_the_picker_back(
    dash: Dashboard, catalog: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sendkit_nb.widgets import _refresh

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    shown = dash.selection.campaign_id
    monkeypatch.setattr(_refresh, "compute_view", broken)
    dash.campaign_picker.value = catalog["campaign_id"][1]
    assert "Unexpected error (RuntimeError): boom" in dash.message.value
    assert dash.selection.campaign_id == shown and picker_shows_the_screen(dash)
    monkeypatch.undo()
    dash.campaign_picker.value = catalog["campaign_id"][1]  # works again, comparison included
    assert dash.message.value == "" and picker_shows_the_screen(dash)
    assert len(dash.figures["campaigns"].data[0].y) == 2


def test_progress_is_shown_inside_the_dashboard(
    client: sk.SendKitClient, catalog: pl.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    d = Dashboard(client, autoload=False)
    texts: list[str] = []
    d.progress_text.observe(lambda change: texts.append(change["new"]), names="value")
    maxima: list[int] = []
    d.progress.observe(lambda change: maxima.append(change["new"]), names="max")
    d.select_campaign(catalog["campaign_id"][1])
    assert any("Loading the leads of" in t and catalog["name"][1] in t for t in texts)
    # While the leads load, the line counts them against the total, and the bar's scale is
    # the lead total (back to the stages afterwards).
    total = d.store.campaign(catalog["campaign_id"][1]).leads.height
    counted = [t for t in texts if f"of {total:,} leads" in t]
    assert counted and f"{total:,} of {total:,} leads" in counted[-1]
    assert total in maxima
    assert d.progress.layout.visibility == "hidden"
    # No tqdm bar or other stray output.
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    d.close()


# -- errors are messages, never exceptions ----------------------------------------------------


def test_bad_key_shows_401(server: DemoServer) -> None:
    bad = sk.SendKitClient("sk_not_the_key", base_url=server.url)
    d = Dashboard(bad)
    assert "HTTP 401" in d.message.value and "sk-error" in d.message.value
    assert "sk_not_the_key" not in d.message.value
    assert d.campaign_picker.options == ()
    assert d.view is None
    # Every action still answers with a message.
    d.refresh()
    assert "HTTP 401" in d.message.value
    d.close()
    bad.close()


def test_unknown_campaign_shows_404_and_keeps_the_view(
    dash: Dashboard, client: sk.SendKitClient, catalog: pl.DataFrame
) -> None:
    shown = dash.selection.campaign_id
    dash.select_campaign("ffffffffffffffffffffffff")
    assert "HTTP 404" in dash.message.value
    assert dash.selection.campaign_id == shown
    assert dash.progress.layout.visibility == "hidden"
    # The next good action clears the message.
    dash.set_statuses(["replied"])
    assert dash.message.value == ""
    dash.select_campaign("not-an-id")
    assert "campaign id" in dash.message.value
    dash.set_statuses(["no-such-status"])
    assert "unknown lead status" in dash.message.value


def test_network_failure_shows_a_message(server: DemoServer) -> None:
    from tests.conftest import SleepRecorder

    flaky = sk.SendKitClient(
        server.api_key, base_url=server.url, sleep=SleepRecorder(), retry=RetryPolicy(max_retries=1)
    )
    server.fail_next("500", 2)
    d = Dashboard(flaky)
    assert "HTTP 500" in d.message.value
    d.refresh()  # the server is fine again
    assert d.message.value == ""
    assert d.view is not None
    d.close()
    flaky.close()
    down = sk.SendKitClient(
        server.api_key, base_url="http://127.0.0.1:9", retry=RetryPolicy(max_retries=0)
    )
    d = Dashboard(down)
    assert "no response" in d.message.value
    d.close()


def test_a_failing_chart_does_not_blank_the_dashboard(
    dash: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(frame: pl.DataFrame) -> go.Figure:
        raise RuntimeError("boom")

    monkeypatch.setattr(charts, "daily_activity", broken)
    before = funnel_bars(dash.figures["funnel"])
    dash.set_statuses(["replied"])
    assert "Daily activity: RuntimeError: boom" in dash.message.value
    assert set(dash.chart_errors) == {"daily"}
    assert funnel_bars(dash.figures["funnel"]) != before  # the others were updated
    monkeypatch.undo()
    dash.set_statuses([])
    assert dash.message.value == "" and dash.chart_errors == {}


def test_a_status_switch_keeps_legend_toggles_and_zoom(dash: Dashboard) -> None:
    # What the browser sends when the analyst hides a series in the legend and zooms in.
    daily = dash.figures["daily"]
    daily._js2py_restyle = {
        "style_data": {"visible": ["legendonly"]},
        "style_traces": [1],
        "source_view_id": "browser",
    }
    zoom = {"xaxis.range": ["2025-06-01", "2025-06-10"], "xaxis.autorange": False}
    daily._js2py_relayout = {"relayout_data": zoom, "source_view_id": "browser"}
    assert daily.data[1].visible == "legendonly"
    before = list(daily.data[0].y)

    dash.set_statuses(["replied"])
    assert list(daily.data[0].y) != before  # the data changed...
    assert daily.data[1].visible == "legendonly"  # ...the legend toggle and zoom did not
    assert list(daily.layout.xaxis.range) == ["2025-06-01", "2025-06-10"]
    assert daily.layout.xaxis.autorange is False


def test_an_invalid_chart_value_is_caught_for_that_chart_only(
    dash: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Charts reach plotly's validation only when the dashboard assigns them to its widgets:
    # a bad value there must fail that one panel, like an error while building it.
    from sendkit_nb.charts._spec import FigureSpec

    def invalid(frame: pl.DataFrame) -> go.Figure:
        spec = FigureSpec()
        spec.add_trace({"type": "bar", "name": "Positive tags", "y": [1], "marker": {"opacity": 5}})
        return spec.figure()

    monkeypatch.setattr(charts, "ai_tag_breakdown", invalid)
    before, table = funnel_bars(dash.figures["funnel"]), dash.table.value
    dash.set_statuses(["bounced"])
    assert set(dash.chart_errors) == {"ai_tags"} and "opacity" in dash.chart_errors["ai_tags"]
    assert "AI tags: ValueError" in dash.message.value
    assert funnel_bars(dash.figures["funnel"]) != before and dash.table.value != table
    monkeypatch.undo()
    dash.set_statuses([])
    assert dash.chart_errors == {}


def test_a_chart_drawn_only_on_change_is_retried_after_a_failure(
    dash: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The campaigns chart is rebuilt only when the metric changes; if drawing it failed, the
    # next update must try again rather than leave the old metric and the error on show.
    real = charts.campaign_comparison

    def fails_once(*args: Any, **kwargs: Any) -> go.Figure:
        monkeypatch.setattr(charts, "campaign_comparison", real)
        fig = real(*args, **kwargs)
        fig.data[0]._props["marker"] = {"opacity": 5}  # rejected when assigned to the widget
        return fig

    monkeypatch.setattr(charts, "campaign_comparison", fails_once)
    dash.set_options(metric="click")
    assert set(dash.chart_errors) == {"campaigns"}
    dash.set_statuses(["replied"])
    assert dash.chart_errors == {} and "sk-error" not in dash.message.value
    assert dash.figures["campaigns"].layout.title.text.startswith("<b>Click rate")


def test_no_key_runs_on_the_demo_api_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENDKIT_API_KEY", raising=False)
    monkeypatch.delenv("SENDKIT_BASE_URL", raising=False)
    d = sk.dashboard()
    try:
        assert isinstance(d, Dashboard)
        assert d.client is not None and d.client.is_demo
        assert "Demo API" in d.banner.value
        assert d.view is not None and d.view.headline["leads"] > 0
    finally:
        d.close()
    assert d.client is not None and not d.client.is_demo  # closed with the dashboard, which made it


def test_display_and_layout(dash: Dashboard) -> None:
    bundle = dash._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == dash.widget.model_id
    cid, view_ = dash.selection.campaign_id, dash.view
    assert view_ is not None and view_.leads.height > 0
    expected = f"Dashboard(campaign={cid!r}, statuses=[], leads={view_.leads.height})"
    assert bundle["text/plain"] == expected
    assert set(dash.figures) == set(FIGURES)
    assert set(dash.kpis) == set(KPIS)
    assert all(isinstance(f, go.FigureWidget) for f in dash.figures.values())


def test_close_closes_only_the_dashboards_widgets(client: sk.SendKitClient) -> None:
    import ipywidgets

    mine = ipywidgets.IntSlider()
    d = Dashboard(client)
    d.close()
    assert d.widget.comm is None
    assert all(fig.comm is None for fig in d.figures.values())
    assert d.status_picker.comm is None
    assert mine.comm is not None  # not the user's widgets
    assert sk.load_campaigns(client).height > 0  # a client passed in stays open
    mine.close()


# -- export --------------------------------------------------------------------------------


def test_export_writes_the_report(dash: Dashboard, tmp_path: Path, catalog: pl.DataFrame) -> None:
    dash.set_statuses(["replied"])
    target = tmp_path / "out.html"
    dash.export_path.value = str(target)
    dash.export_button.click()
    assert dash.message.value == "", dash.message.value
    assert target.exists()
    html = target.read_text()
    assert catalog["name"][0] in html
    assert str(target) in dash.export_result.value


def test_export_without_the_report_module(
    dash: Dashboard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sendkit_nb._report", None)  # as if not installed
    assert dash.export_html(tmp_path / "x.html") is None
    assert "not available" in dash.message.value
    assert not (tmp_path / "x.html").exists()


def test_export_to_a_bad_path_is_a_message(dash: Dashboard, tmp_path: Path) -> None:
    assert dash.export_html(tmp_path / "report.pdf") is None
    assert "sk-error" in dash.message.value


def test_load_warnings_are_shown_in_the_dashboard() -> None:
    import warnings

    from tests.scripted_server import ScriptedServer, lead

    campaign_id = "665a1b2c3d4e5f6a7b8c9d0e"
    campaign = {
        "_id": campaign_id,
        "name": "Shrinking",
        "status": "active",
        "sequence": [{"type": "email", "order": 0, "subject": "Hello"}],
    }

    # A server that numbers its pages but has no cursors, and announces one lead more than
    # it serves (a lead removed mid-load): the loader cannot re-walk, so it warns.
    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path == "/v1/campaigns":
            pagination = {"page": 1, "limit": 100, "total": 1, "pages": 1}
            return 200, {"success": True, "data": [campaign], "pagination": pagination}
        page = int(query.get("page", 1))
        items = [lead(1), lead(2)] if page == 1 else [lead(3)]
        pagination = {"page": page, "limit": 2, "total": 4, "pages": 2}
        return 200, {"success": True, "data": items, "pagination": pagination}

    with ScriptedServer(script) as server:
        client = sk.SendKitClient("sk_test", base_url=server.url, sleep=lambda s: None)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing may reach the notebook as a warning
            d = Dashboard(client)
        try:
            assert "loaded 3 leads" in d.message.value and "total of 4" in d.message.value
            assert "sk-error" not in d.message.value
            assert d.view is not None and d.view.headline["leads"] == 3
        finally:
            d.close()
            client.close()


def test_campaign_names_and_search_text_are_escaped(dash: Dashboard) -> None:
    dash.search("<b>x</b>")
    assert "<b>x</b>" not in dash.progress_text.value
    assert "&lt;b&gt;x&lt;/b&gt;" in dash.progress_text.value
    dash.search("")


def test_live_figures_wear_the_sendkit_theme_after_updates(dash: Dashboard) -> None:
    # update_figure leaves the template alone, so the widgets must start with the theme.
    dash.set_statuses(("replied",))
    for key, figure in dash.figures.items():
        assert tuple(figure.layout.template.layout.colorway) == charts.COLORWAY, key
        assert figure.layout.template.layout.plot_bgcolor == "white", key


# -- what reaches the browser -----------------------------------------------------------------
#
# plotly's FigureWidget is an anywidget, and anywidget drops every message to a model whose
# front-end module (plotly.js, ~5 MB) took more than 2 s to load (jupyter-widgets' view of the
# model then stays as the model was opened). The dashboard test in JupyterLab hit this about
# one run in five: the funnel showed empty axes. These tests record what the widgets send, as
# the browser receives it, and play the browser's two possible models: one that takes every
# message, and a "deaf" one that only has the opening message.


def shows(d: Dashboard, key: str, widget: Any) -> bool:
    """Whether the panel ``key`` holds just ``widget`` (by identity: plotly figures compare
    equal by content)."""
    children = d.ui.panels[key].children
    return len(children) == 1 and children[0] is widget


@pytest.fixture()
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    return Wire.install(monkeypatch)


def test_figures_reach_the_browser_with_their_data_in_the_opening_message(
    wire: Wire, client: sk.SendKitClient
) -> None:
    d = Dashboard(client)
    try:
        for key, figure in d.figures.items():
            if key == "variants":  # the variant view is off: nothing to show, nothing sent
                assert figure.comm is None and shows(d, key, d.ui.placeholders[key])
                assert "No data yet" in d.ui.placeholders[key].value
                continue
            assert shows(d, key, figure), key
            # Even a model that misses every later message shows the chart, data and title.
            shown = wire.deaf_view(figure)
            assert as_sent(figure_data(shown)) == as_sent(figure_data(figure)), key
            assert shown.layout.title.text == figure.layout.title.text, key
            assert shown.layout.template.layout.colorway == charts.COLORWAY, key
        assert all(funnel_bars(wire.deaf_view(d.figures["funnel"])).values())
    finally:
        d.close()
    assert all(fig.comm is None for fig in d.figures.values())
    assert {f._model_id for f in d.figures.values() if f._ping_id} <= wire.closed


def test_a_deaf_figure_is_replaced_by_one_sent_whole_after_a_change(
    wire: Wire, client: sk.SendKitClient
) -> None:
    d = Dashboard(client)
    try:
        funnel, rates = d.figures["funnel"], d.figures["rates"]
        wire.render_report(rates, deaf=False)
        d.set_statuses(["replied"])  # in place, as ever: same widgets
        assert d.figures["funnel"] is funnel and d.figures["rates"] is rates
        assert d.view is not None
        replied = funnel_bars(funnel)
        assert funnel_bars(wire.deaf_view(funnel)) != replied  # what a deaf model shows

        # The funnel's view renders the opening's state: the dashboard swaps in a new figure.
        wire.render_report(funnel, deaf=True)
        assert funnel.deaf and funnel.comm is None  # closed
        new = d.figures["funnel"]
        assert new is not funnel and shows(d, "funnel", new)
        assert funnel_bars(wire.deaf_view(new)) == replied == funnel_bars(new)
        assert wire.deaf_view(new).layout.title.text == funnel.layout.title.text
        assert d.figures["rates"] is rates and not rates.deaf  # a listening one stays
        assert d.message.value == ""

        # The new one listens: updated in place again.
        wire.render_report(new, deaf=False)
        d.set_statuses(())
        assert d.figures["funnel"] is new and funnel_bars(new) != replied
    finally:
        d.close()


def test_a_deaf_figure_still_up_to_date_is_replaced_at_its_next_update(
    wire: Wire, client: sk.SendKitClient
) -> None:
    d = Dashboard(client)
    try:
        funnel = d.figures["funnel"]
        wire.render_report(funnel, deaf=True)  # shows its opening, which is current
        assert funnel.deaf and d.figures["funnel"] is funnel and funnel.comm is not None
        d.set_statuses(["replied"])
        new = d.figures["funnel"]
        assert new is not funnel and funnel.comm is None
        assert shows(d, "funnel", new)
        assert funnel_bars(wire.deaf_view(new)) == funnel_bars(new) != funnel_bars(funnel)
    finally:
        d.close()


def test_live_figure_opens_on_first_use_with_the_whole_figure(wire: Wire) -> None:
    import ipywidgets

    from sendkit_nb.widgets._figure import LiveFigure

    fig = LiveFigure(go.Bar(x=["a", "b"], y=[1, 2], uid="bars"), layout={"title": {"text": "T"}})
    assert fig.comm is None and wire.openings == {}  # nothing sent yet
    fig.add_scatter(x=[1], y=[3], uid="dots")  # edits before opening go nowhere
    box = ipywidgets.Box([fig])  # referencing it opens it
    opening = wire.openings[fig.model_id]
    assert [t["uid"] for t in opening["_widget_data"]] == ["bars", "dots"]
    assert opening["_widget_layout"]["title"] == {"text": "T"}
    # Then one message: the trace edit id a rendering view reports back.
    assert wire.messages[fig.model_id] == [
        {"method": "update", "state": {"_last_trace_edit_id": fig._ping_id}, "buffer_paths": []}
    ]
    assert not fig.changed_since_open
    fig.data[0].y = [5, 6]
    assert fig.changed_since_open
    bundle = fig._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == fig.model_id
    box.close()
    fig.close()
    fig.open()
    assert fig.comm is None  # never opened again once closed
    # A deaf report without a listener only marks it.
    other = LiveFigure()
    other._repr_mimebundle_()
    wire.render_report(other, deaf=True)
    assert other.deaf
    wire.render_report(other, deaf=False)
    assert not other.deaf
    other.close()


def test_live_figure_keeps_the_browser_models_copy_whole(wire: Wire) -> None:
    # plotly's browser model copies a batched update into its _widget_data undecoded: a trace
    # left out of a property the batch set on others gets "_undefined_" there. Such a batch is
    # followed by the traces, whole; one without gaps is not.
    from sendkit_nb.widgets._figure import LiveFigure

    fig = LiveFigure([go.Bar(y=[1, 2], uid="a"), go.Bar(y=[3, 4], uid="b")])
    fig._repr_mimebundle_()
    sent = wire.messages[fig.model_id]

    def whole_traces_sent() -> list[Any]:
        return [m["state"]["_widget_data"] for m in sent if "_widget_data" in m["state"]]

    before = len(whole_traces_sent())
    with fig.batch_update():
        fig.data[0].y = [5, 6]
        fig.data[1].y = [7, 8]
    assert len(whole_traces_sent()) == before  # the same properties on every trace: no gap
    with fig.batch_update():
        fig.data[0].y = [9, 9]
        fig.data[1].name = "renamed"
    update = next(
        m["state"]["_py2js_update"] for m in reversed(sent) if m["state"].get("_py2js_update")
    )
    assert update["style_data"]["y"] == [[9, 9], "_undefined_"]  # the gap, as plotly sends it
    assert whole_traces_sent()[-1] == as_sent([t.to_plotly_json() for t in fig.data])
    # A browser asking for the state again (a page reload) gets the figure as it is.
    assert fig.get_state()["_widget_data"] == whole_traces_sent()[-1]
    assert fig.get_state("_widget_layout")["_widget_layout"] == as_sent(fig.layout.to_plotly_json())
    fig.close()


def test_the_lead_table_has_each_leads_step_as_people_count_it(
    dash: Dashboard, catalog: pl.DataFrame
) -> None:
    # The demo's sequences put waits between emails (orders 0, 2, 4 are Step 1, 2, 3), and a
    # lead waits at the odd orders: the table says which step it is at or after, never the
    # raw order, and keeps the raw order for sorting.
    assert dash.view is not None
    cid = dash.selection.campaign_id
    steps = metrics.sequence_steps(catalog.filter(pl.col("campaign_id") == cid))
    labels = dict(steps.select("step", "step_label").iter_rows())
    numbers = dict(steps.select("step", "step_number").iter_rows())
    dash.set_options(sort_by="step", descending=True)
    table = dash.view.table
    assert table.schema["current_step"] == pl.Int32
    assert table["current_step"].is_sorted(descending=True, nulls_last=True)
    rows = table.select("current_step", "current_step_label").drop_nulls().rows()
    assert rows
    for step, label in rows:
        if step in labels:
            assert label == labels[step]
        else:
            last = max(n for order, n in numbers.items() if order < step)
            assert label == f"After Step {last}"
    assert not any(label.startswith("Step order") for _, label in rows)


def test_the_lead_table_shows_steps_as_people_count_them(dash: Dashboard) -> None:
    # "Step 2 · subject" (or "After Step N" on a wait), never the sequence's raw order.
    assert "After Step" in dash.table.value or "Step 1 ·" in dash.table.value
