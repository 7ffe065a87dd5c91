"""The offline HTML report: its structure (snapshot-style checks on the HTML), what it must never
contain, its numbers against the metrics, its errors, and the page itself in a real headless
Chromium with the network switched off."""

from __future__ import annotations

import html as htmllib
import re
import types
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb import metrics
from sendkit_nb._report import Report, as_html, check_report_path, write_report
from sendkit_nb._summary import SummaryOptions, summarize
from sendkit_nb.demo import DemoServer
from sendkit_nb.demo._server import DEMO_API_KEY, DEMO_PLATFORM_KEY
from tests.conftest import ReportPage

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


# -- helpers ------------------------------------------------------------------------------------


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order (enough for structure checks)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def with_class(self, name: str) -> list[tuple[str, dict[str, str]]]:
        return [(t, a) for t, a in self.tags if name in a.get("class", "").split()]


def section_text(page: str, section_id: str) -> str:
    """The visible text of ``<section id=...>`` (sections are not nested in the report)."""
    match = re.search(rf'<section id="{section_id}"[^>]*>(.*?)</section>', page, re.S)
    assert match, f"no section {section_id}"
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def meta(page: str) -> dict[str, str]:
    """The report header's "where the data comes from" list, label -> value."""
    found = re.search(r'<dl class="sk-meta" id="sk-meta">(.*?)</dl>', page, re.S)
    assert found
    return {
        k: " ".join(v.split())
        for k, v in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", htmllib.unescape(found.group(1)))
    }


def words(text: str) -> str:
    return " ".join(text.split())


def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    js: str = get_plotlyjs()
    return js


@pytest.fixture(scope="module")
def catalog(demo_server: DemoServer) -> pl.DataFrame:
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        return sk.load_campaigns(client)


@pytest.fixture(scope="module")
def all_leads(demo_server: DemoServer, catalog: pl.DataFrame) -> pl.DataFrame:
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        return pl.concat(
            [sk.load_leads(client, cid, progress=False) for cid in catalog["campaign_id"]]
        )


@pytest.fixture(scope="module")
def full_report(demo_server: DemoServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of every demo campaign, built from a client (the main job's report)."""
    path = tmp_path_factory.mktemp("report") / "all.html"
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        returned = sk.report(client, path=path, progress=False)
    assert returned.path == path.resolve()
    assert path.read_text("utf-8") == returned.as_raw_html()
    return path


@pytest.fixture(scope="module")
def full_html(full_report: Path) -> str:
    return full_report.read_text("utf-8")


# -- structure ----------------------------------------------------------------------------------


def test_every_campaign_has_a_section_a_tab_and_an_overview_row(
    full_html: str, catalog: pl.DataFrame
) -> None:
    doc = Elements(full_html)
    ids = catalog["campaign_id"].to_list()
    sections = [a["data-campaign-id"] for t, a in doc.with_class("sk-campaign")]
    assert sections == ids
    tabs = [a["aria-controls"] for t, a in doc.with_class("sk-tab")]
    assert tabs == [f"c-{cid}" for cid in ids]
    # Exactly one campaign is shown before any script runs (the first); the rest are switched to.
    assert [a["id"] for t, a in doc.with_class("is-active")] == [f"c-{ids[0]}"]
    overview = section_text(full_html, "overview")
    for name in catalog["name"]:
        assert name in overview
    assert len(doc.find("table", data_table="overview")) == 1


def test_each_campaign_with_emails_gets_every_chart_and_table(
    full_html: str, catalog: pl.DataFrame, all_leads: pl.DataFrame
) -> None:
    articles = re.findall(
        r'<article class="sk-campaign[^"]*" id="c-(\w+)".*?</article>', full_html, re.S
    )
    assert len(articles) == catalog.height
    for cid in catalog["campaign_id"]:
        body = re.search(rf'<article [^>]*id="c-{cid}".*?</article>', full_html, re.S)
        assert body
        text = body.group(0)
        leads = all_leads.filter(pl.col("campaign_id") == cid)
        charts_in = re.findall(r'data-chart="(\w+)"', text)
        drawn = re.findall(r'class="sk-chart"[^>]*data-figure="(sk-fig-\d+)"', text)
        if leads.height == 0:
            assert charts_in == [] and "no leads" in text
            continue
        contacted = leads.filter(pl.col("emails").list.len() > 0).height
        if contacted == 0:
            assert charts_in == ["status_breakdown", "ai_tag_breakdown"]
            assert "No email has been sent" in text
            continue
        assert charts_in == [
            "step_funnel",
            "step_rates",
            "variant_comparison",
            "reply_curve",
            "cohorts",
            "daily_activity",
            "status_breakdown",
            "ai_tag_breakdown",
        ]
        has_ab = metrics.variant_funnel(leads).filter(pl.col("arms") > 1).height > 0
        assert len(drawn) == 8 if has_ab else 7
        assert ('data-table="variants"' in text) == has_ab
        assert 'data-table="funnel"' in text
        # Every figure referenced is embedded exactly once as a JSON block.
        for fig in drawn:
            assert full_html.count(f'<script type="application/json" id="{fig}">') == 1


def test_plotly_js_is_inlined_exactly_once_and_nothing_is_fetched(full_html: str) -> None:
    assert full_html.count(plotly_js()) == 1
    doc = Elements(full_html)
    scripts = doc.find("script")
    executable = [s for s in scripts if s.get("type") != "application/json"]
    # the "js" class switch in <head>, plotly.js, and the report's own script
    assert len(executable) == 3
    assert doc.find("link") == []
    for tag, attrs in doc.tags:
        for name in ("src", "href", "data", "poster", "srcset", "action"):
            value = attrs.get(name, "")
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    for css in re.findall(r"<style>(.*?)</style>", full_html, re.S):
        assert "@import" not in css and "url(" not in css


def test_the_definitions_appendix_is_the_analytics_contract(full_html: str) -> None:
    appendix = section_text(full_html, "definitions")
    # The contract's words, with its bullet markers turned into list items.
    contract = words(re.sub(r"^- ", "", metrics.DEFINITIONS, flags=re.M))
    assert contract in appendix
    assert "Reply curve" in appendix and "Kaplan–Meier" in appendix


def test_the_header_says_when_and_with_which_filters(
    full_html: str, demo_server: DemoServer
) -> None:
    pairs = meta(full_html)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", pairs["Data pulled"])
    assert pairs["Lead status filter"] == "none (every status)"
    assert pairs["Time window"] == "all time (no window)"
    assert pairs["Campaigns"].startswith("7 campaigns (all in the source)")
    assert pairs["Positive AI tags"] == "interested, meeting_booked"
    assert pairs["Source"] == f"the SendKit API at {demo_server.url}"


def test_the_api_key_is_never_in_the_report(demo_server: DemoServer, full_html: str) -> None:
    assert DEMO_API_KEY not in full_html
    # A second, different key: the platform key with its workspace header.
    with sk.SendKitClient(
        DEMO_PLATFORM_KEY, base_url=demo_server.url, workspace_id=demo_server.workspace_id
    ) as client:
        page = as_html(client, demo_server.workspace.campaigns[4]["_id"], progress=False)
    assert DEMO_PLATFORM_KEY not in page and DEMO_API_KEY not in page
    assert "sk_user_" not in page


def test_size_is_plotly_js_plus_a_small_share_per_campaign(
    all_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    ids = catalog["campaign_id"].to_list()
    js = len(plotly_js().encode())
    one = len(as_html(all_leads, ids[:1], catalog=catalog, progress=False).encode())
    two = len(as_html(all_leads, ids[:2], catalog=catalog, progress=False).encode())
    every = len(as_html(all_leads, catalog=catalog, progress=False).encode())
    # Measured on the demo: plotly.js 4.8 MB; the rest ~130 kB for the first campaign (page,
    # styles, shared chart template, overview) and 60-120 kB for each further campaign with
    # emails (daily activity and reply curves grow with the days covered).
    assert one - js < 200_000
    assert 0 < two - one < 150_000
    assert every - js < 150_000 * len(ids)


# -- numbers and selection ----------------------------------------------------------------------


def test_a_frame_and_a_client_give_the_same_campaigns_and_numbers(
    client: sk.SendKitClient, all_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    ids = catalog["campaign_id"].to_list()[:2]
    from_client = as_html(client, ids, progress=False)
    from_frame = as_html(all_leads, ids, catalog=catalog, progress=False)

    def tables(page: str) -> list[str]:
        return re.findall(r"<table .*?</table>", page, re.S)

    assert tables(from_client) == tables(from_frame)
    assert meta(from_frame)["Data pulled"].startswith("not recorded")
    assert meta(from_client)["Data pulled"].endswith("UTC")


def test_the_overview_table_matches_the_headline(
    full_html: str, all_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    table = re.search(
        r'<table class="sk-table" data-table="overview">(.*?)</table>', full_html, re.S
    )
    assert table
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]
    cells = [
        [htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
        for r in rows
    ]
    names = dict(zip(catalog["name"], catalog["campaign_id"], strict=True))
    head = {r["campaign_id"]: r for r in metrics.headline(all_leads).iter_rows(named=True)}
    assert len(cells) == catalog.height
    for row in cells:
        cid = names[row[0]]
        expected = head.get(cid, {"leads": 0, "contacted": 0, "replied": 0, "positive": 0})
        assert row[2:6] == [
            f"{expected[k]:,}" for k in ("leads", "contacted", "replied", "positive")
        ]


def _overview_cells(page: str) -> list[list[str]]:
    table = re.search(r'<table class="sk-table" data-table="overview">(.*?)</table>', page, re.S)
    assert table
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]
    return [
        [htmllib.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
        for r in rows
    ]


@pytest.fixture(scope="module")
def window_report(
    demo_server: DemoServer, all_leads: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, datetime, datetime]:
    """The report of every demo campaign over a three-week window inside the data."""
    latest = metrics.latest_timestamp(all_leads)
    assert latest is not None
    start = datetime.combine(latest.date() - timedelta(days=35), time(0), tzinfo=UTC)
    end = start + timedelta(days=21)
    path = tmp_path_factory.mktemp("report") / "window.html"
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        sk.report(client, path=path, progress=False, since=start.date(), until=end.date())
    return path, start, end + timedelta(days=1)


def test_a_windowed_report_says_its_window_and_counts_only_it(
    window_report: tuple[Path, datetime, datetime],
    all_leads: pl.DataFrame,
    catalog: pl.DataFrame,
) -> None:
    path, start, end = window_report
    page = path.read_text("utf-8")
    pairs = meta(page)
    assert pairs["Time window"].startswith(
        f"emails sent from {start:%Y-%m-%d} UTC to {end:%Y-%m-%d} UTC (not included)"
    )
    assert "Only emails sent in the window" in page
    names = dict(zip(catalog["name"], catalog["campaign_id"], strict=True))
    head = {
        r["campaign_id"]: r
        for r in metrics.headline(all_leads, since=start, until=end).iter_rows(named=True)
    }
    whole = {r["campaign_id"]: r for r in metrics.headline(all_leads).iter_rows(named=True)}
    changed = 0
    for row in _overview_cells(page):
        cid = names[row[0]]
        expected = head.get(cid, {"leads": 0, "contacted": 0, "replied": 0, "positive": 0})
        assert row[2:6] == [
            f"{expected[k]:,}" for k in ("leads", "contacted", "replied", "positive")
        ]
        changed += cid in whole and whole[cid]["contacted"] != expected["contacted"]
    assert changed, "the window changed no campaign's numbers"


def test_a_relative_window_counts_back_from_the_data(
    all_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    page = as_html(all_leads, catalog=catalog, progress=False, since="30d")
    latest = metrics.latest_timestamp(all_leads)
    assert latest is not None
    pairs = meta(page)
    assert pairs["Time window"] == (
        f"emails sent since {latest - timedelta(days=30):%Y-%m-%d %H:%M} UTC, counted back "
        f"from {latest:%Y-%m-%d %H:%M} UTC"
    )
    summary = summarize(
        all_leads.filter(pl.col("campaign_id") == catalog["campaign_id"][0]),
        catalog,
        SummaryOptions(since="30d"),
    )
    with pytest.raises(sk.BadRequestError, match="window"):
        sk.report(summary, since="30d")


def test_offline_a_windowed_report_renders_every_chart(
    offline: ReportPage, window_report: tuple[Path, datetime, datetime], test_output: Path
) -> None:
    path = window_report[0]
    page = offline.open(path)
    html_text = path.read_text("utf-8")
    assert page.locator("#sk-meta").inner_text().count("Time window") == 1
    banner = page.get_by_text("Only emails sent in the window")
    assert banner.count() == 1 and banner.is_visible()
    tabs = page.locator(".sk-tab")
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
        assert len(_plots(page, f"#{panel_id}")) == slots
        if active.locator('[data-chart="cohorts"] .js-plotly-plot').count():
            cohort_text = active.locator('[data-chart="cohorts"]').inner_text()
            assert "Send cohorts" in cohort_text
            assert "Week of" in cohort_text
    page.screenshot(path=str(test_output / "report-window.png"), full_page=True)
    assert 'data-chart="cohorts"' in html_text
    assert offline.errors == []
    assert offline.requests == []


def _variant_cells(page: str, campaign_id: str) -> list[list[str]]:
    """The cells of one campaign's A/B table, as HTML (flags kept)."""
    article = re.search(rf'<article [^>]*id="c-{campaign_id}".*?</article>', page, re.S)
    assert article
    table = re.search(r'data-table="variants">(.*?)</table>', article.group(0), re.S)
    assert table
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]
    return [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in rows]


def _flag(cell: str) -> tuple[str, str]:
    """A flagged cell's (tone, text)."""
    found = re.fullmatch(r'<span class="sk-flag sk-flag-(\w+)">(.*)</span>', cell)
    assert found, cell
    return found.group(1), found.group(2)


def test_ab_verdicts_read_the_right_way_round(full_html: str, catalog: pl.DataFrame) -> None:
    # The demo's A/B campaign: on step 1, B leads and A is significantly below it.
    cid = catalog["campaign_id"][0]
    (loser_tone, loser), (leader_tone, leader) = (
        _flag(row[-1]) for row in _variant_cells(full_html, cid)
    )
    # The losing arm is bad news, and says which arm leads, by how much, with the intervals
    # and the Holm-adjusted p-value.
    assert loser_tone == "bad"
    assert loser.startswith("A vs leader B: -1.60 pp, significantly lower (p = 0.016, Holm")
    assert "A 2.9% (95% CI 2.2% – 3.8%); B 4.5% (95% CI 3.6% – 5.7%)" in loser
    assert leader_tone == "good"
    assert leader.startswith("B leads: +1.60 pp over A, significant (p = 0.016)")
    # The stylesheet colours good news green and bad news red; no "leader" blue is left.
    assert ".sk-flag-bad { color: #b91c1c; }" in full_html
    assert ".sk-flag-good { color: #15803d; }" in full_html
    assert "sk-flag-leader" not in full_html and "sk-flag-significant" not in full_html
    # A difference that is not significant is neutral, on both arms (the multivariate demo).
    tones = {_flag(row[-1])[0] for row in _variant_cells(full_html, catalog["campaign_id"][3])}
    assert tones == {"neutral"}


def test_each_variant_shows_its_subject_line(demo_server: DemoServer) -> None:
    """Where the campaign's sequence gives each variant a subject, the A/B table shows it."""
    campaign = demo_server.workspace.campaigns[0]
    leads = sk.leads_from_items(demo_server.workspace.leads[campaign["_id"]], campaign["_id"])
    keep = ("order", "type", "name", "subject", "variants")
    catalog = pl.DataFrame(
        [
            {
                "campaign_id": campaign["_id"],
                "name": campaign["name"],
                "status": campaign["status"],
                "sequence": [{k: step.get(k) for k in keep} for step in campaign["sequence"]],
            }
        ]
    )
    page = as_html(leads, [campaign["_id"]], catalog=catalog, progress=False)
    arms = [htmllib.unescape(row[1]) for row in _variant_cells(page, campaign["_id"])]
    assert arms == ["A · Scaling {{companyName}} in Q3", "B · Scaling {{companyName}} in Q3 (alt)"]


def test_status_filter_keeps_only_those_leads_and_says_so(
    client: sk.SendKitClient, server: DemoServer
) -> None:
    cid = server.workspace.campaigns[0]["_id"]
    page = as_html(client, [cid], status=["replied", "completed"], progress=False)
    replied = sk.load_leads(client, cid, ["replied", "completed"], progress=False)
    assert f"{replied.height:,} leads with status replied, completed" in page
    assert "Only leads with status replied, completed are included" in page
    assert meta(page)["Lead status filter"] == "replied, completed"
    # Every lead request carried the status filter.
    lead_requests = [r for r in server.request_log if r.path.endswith("/leads")]
    assert lead_requests and all(
        r.query.get("status") in {"replied", "completed"} for r in lead_requests
    )


def test_campaign_names_are_escaped(all_leads: pl.DataFrame, catalog: pl.DataFrame) -> None:
    evil = "</script><script>alert(1)</script> & <b>"
    renamed = catalog.with_columns(
        name=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(evil)).otherwise(pl.col("name"))
    )
    page = as_html(all_leads, renamed["campaign_id"][:1], catalog=renamed, progress=False)
    assert evil not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in page
    assert (
        len([s for s in Elements(page).find("script") if s.get("type") != "application/json"]) == 3
    )


def test_empty_and_unsent_campaigns_are_reported_not_dropped(
    client: sk.SendKitClient, catalog: pl.DataFrame, all_leads: pl.DataFrame
) -> None:
    counts = all_leads.group_by("campaign_id").len()
    empty = [c for c in catalog["campaign_id"] if c not in counts["campaign_id"].to_list()]
    assert empty, "the demo has a campaign without leads"
    page = as_html(client, empty, progress=False)
    assert f'data-campaign-id="{empty[0]}"' in page
    assert "This campaign has no leads" in page
    assert "None of the chosen campaigns has leads" in page


def test_write_report_is_atomic_and_creates_folders(tmp_path: Path) -> None:
    target = write_report("<!DOCTYPE html><p>x</p>", tmp_path / "a" / "b" / "r.html")
    assert target.read_text("utf-8") == "<!DOCTYPE html><p>x</p>"
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]
    # A report is for sharing: the umask's usual permissions, not a temp file's private 0600.
    plain = tmp_path / "plain.html"
    plain.write_text("x")
    assert target.stat().st_mode == plain.stat().st_mode


def test_sk_report_is_a_function_after_its_package_is_imported(
    all_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    import sendkit_nb._report  # noqa: F401  (the private package must not shadow sk.report)

    assert callable(sk.report) and not isinstance(sk.report, types.ModuleType)
    page = sk.report(all_leads, catalog["campaign_id"][:1], catalog=catalog, progress=False)
    assert page.as_raw_html().startswith("<!DOCTYPE html>")


# -- what report() returns: a small handle, never the 5 MB string ---------------------------------


def _displayed(value: object) -> dict[str, str]:
    """What a notebook cell ending in ``value`` shows: IPython's display formats of it."""
    from IPython.core.interactiveshell import InteractiveShell

    formatter = InteractiveShell.instance().display_formatter
    assert formatter is not None
    fmt: Callable[[object], tuple[dict[str, object], dict[str, object]]] = formatter.format
    data, _ = fmt(value)
    return {mime: str(text) for mime, text in data.items()}


def test_a_written_report_shows_as_one_line_and_a_link(
    all_leads: pl.DataFrame,
    catalog: pl.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    ids = catalog["campaign_id"].to_list()[:4]
    got = sk.report(all_leads, ids, "out/my report.html", catalog=catalog, progress=False)
    target = tmp_path / "out" / "my report.html"
    assert isinstance(got, Report)
    assert got.path == target.resolve()
    assert got.campaigns == tuple(ids)
    assert got.names == tuple(catalog["name"].to_list()[:4])
    assert got.size == target.stat().st_size > 1_000_000
    # The full document is still one call away, and it is exactly the file.
    page = got.as_raw_html()
    assert page == got.html == target.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")

    assert repr(got) == f"Report('out/my report.html', {got.size / 1e6:.1f} MB, 4 campaigns)"
    shown = _displayed(got)
    assert set(shown) == {"text/plain", "text/html"}
    assert shown["text/plain"] == repr(got)
    html = shown["text/html"]
    assert len(html) < 1_000
    assert '<a href="out/my%20report.html" target="_blank"' in html
    assert ">out/my report.html</a>" in html
    assert htmllib.escape(catalog["name"][0]) in html and "and 1 more" in html
    assert "4 campaigns" in html

    # Seen from outside its folder: the absolute path, and a file:// link.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert repr(got) == f"Report({str(target.resolve())!r}, {got.size / 1e6:.1f} MB, 4 campaigns)"
    assert f'href="{htmllib.escape(target.resolve().as_uri())}"' in got._repr_html_()


def test_a_report_without_a_path_is_kept_in_memory_and_written_on_request(
    all_leads: pl.DataFrame,
    catalog: pl.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    ids = catalog["campaign_id"].to_list()[:1]
    got = sk.report(all_leads, ids, catalog=catalog, title="A & B <i>", progress=False)
    assert got.path is None and list(tmp_path.iterdir()) == []
    assert got.as_raw_html().startswith("<!DOCTYPE html>")
    assert got.size == len(got.as_raw_html().encode("utf-8"))
    assert repr(got) == f"Report(not written, {got.size / 1e6:.1f} MB, 1 campaign)"
    html = _displayed(got)["text/html"]
    assert len(html) < 1_000
    assert "A &amp; B &lt;i&gt;" in html and "<i>" not in html
    assert "write_raw_html" in html and "as_raw_html" in html and "<a " not in html

    target = tmp_path / "new" / "r.html"
    written = got.write_raw_html(target)
    assert target.read_text("utf-8") == got.as_raw_html()
    assert written.path == target.resolve() and got.path is None
    assert repr(written) == f"Report('new/r.html', {got.size / 1e6:.1f} MB, 1 campaign)"
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]  # no temporary file left

    # Replaced atomically: a write that fails leaves the previous file whole.
    target.write_text("previous", "utf-8")

    def fail(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched, pytest.raises(sk.BadRequestError, match="No space left"):
        patched.setattr("sendkit_nb._files.os.fsync", fail)
        got.write_raw_html(target)
    assert target.read_text("utf-8") == "previous"
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]
    with pytest.raises(sk.BadRequestError, match=r"must end in \.html"):
        got.write_raw_html(tmp_path / "r.pdf")


def test_as_html_is_the_string_of_the_same_report(
    all_leads: pl.DataFrame, catalog: pl.DataFrame
) -> None:
    ids = catalog["campaign_id"].to_list()[:1]
    page = as_html(all_leads, ids, catalog=catalog, progress=False)
    assert isinstance(page, str) and page.startswith("<!DOCTYPE html>")
    built = sk.report(all_leads, ids, catalog=catalog, progress=False)
    # Same page but for the build time in the header.
    assert abs(len(page) - built.size) < 100


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("campaigns", "options", "message"),
    [
        ("683b61000000000000000001", {"path": "report.pdf"}, "must end in .html"),
        ("not-an-id", {}, "campaign id"),
        ("683b61000000000000000001", {"status": "sleeping"}, "unknown lead status"),
        ("683b61000000000000000001", {"metric": "revenue"}, "unknown metric"),
        ("683b61000000000000000001", {"denominator": "leads"}, "unknown denominator"),
        ([], {}, "campaigns= is empty"),
        ("683b61000000000000000001", {"positive_tags": []}, "positive_tags"),
        ("683b61000000000000000001", {"since": "7x"}, "cannot read since='7x'"),
        ("683b61000000000000000001", {"since": "2d", "until": "9d"}, "the window is empty"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    client: sk.SendKitClient,
    server: DemoServer,
    campaigns: Any,
    options: dict[str, Any],
    message: str,
) -> None:
    path = options.pop("path", None)
    with pytest.raises(sk.BadRequestError, match=message):
        sk.report(client, campaigns, path, progress=False, **options)
    assert server.request_log == []


def test_an_unknown_campaign_is_a_not_found_error(client: sk.SendKitClient) -> None:
    with pytest.raises(sk.NotFoundError):
        sk.report(client, "0123456789abcdef01234567", progress=False)


def test_bad_sources_and_frames_are_named(all_leads: pl.DataFrame) -> None:
    with pytest.raises(sk.BadRequestError, match="SendKitClient, a store or a leads frame"):
        sk.report("leads.parquet")
    with pytest.raises(sk.BadRequestError, match="lacks the column"):
        sk.report(all_leads.drop("emails"))
    with pytest.raises(sk.BadRequestError, match="is not in the leads frame"):
        sk.report(all_leads, "0123456789abcdef01234567")
    with pytest.raises(sk.BadRequestError, match="has no rows"):
        sk.report(all_leads.clear())
    assert check_report_path("x/Report.HTML").suffix == ".HTML"


# -- in a real browser, offline -----------------------------------------------------------------


def _plots(page: Page, selector: str) -> list[dict[str, float]]:
    """Size of every drawn plotly chart under ``selector`` and of the box it sits in."""
    result: list[dict[str, float]] = page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel + ' .js-plotly-plot')).map(el => ({
            width: el.querySelector('.main-svg').getBoundingClientRect().width,
            box: el.getBoundingClientRect().width,
            svgs: el.querySelectorAll('.main-svg').length,
        }))""",
        selector,
    )
    return result


def test_offline_every_chart_renders_and_switching_campaigns_works(
    offline: ReportPage, full_report: Path, full_html: str, test_output: Path
) -> None:
    page = offline.open(full_report)
    expected = len(re.findall(r'class="sk-chart"[^>]*data-figure=', full_html))
    overview = _plots(page, "#overview")
    assert len(overview) == 1 and overview[0]["svgs"] >= 1
    page.screenshot(path=str(test_output / "report.png"))

    tabs = page.locator(".sk-tab")
    drawn = len(overview)
    for i in range(tabs.count()):
        tabs.nth(i).click()
        active = page.locator(".sk-campaign.is-active")
        panel_id = active.get_attribute("id")
        assert panel_id == tabs.nth(i).get_attribute("aria-controls")
        assert tabs.nth(i).get_attribute("aria-selected") == "true"
        assert page.locator(".sk-campaign:visible").count() == 1
        slots = active.locator(".sk-chart[data-figure]").count()
        page.wait_for_function(
            "([id, n]) => document.querySelectorAll('#' + id + ' .js-plotly-plot .main-svg')"
            ".length >= n",
            arg=[panel_id, slots],
        )
        plots = _plots(page, f"#{panel_id}")
        assert len(plots) == slots
        for plot in plots:
            # Drawn at the width of its (now visible) box, not plotly's 700 px default for a
            # hidden one.
            assert plot["box"] > 900 and abs(plot["width"] - plot["box"]) < 2, plot
        drawn += len(plots)
        if i == 0:
            page.screenshot(path=str(test_output / "report-campaign.png"), full_page=True)
    assert drawn == expected
    assert page.locator(".main-svg").count() >= expected
    assert offline.errors == []
    assert offline.requests == []


def test_offline_deep_link_keyboard_and_resize_while_hidden(
    offline: ReportPage, full_report: Path, catalog: pl.DataFrame
) -> None:
    second = f"c-{catalog['campaign_id'][1]}"
    page = offline.open(full_report, f"#{second}")
    assert page.locator(".sk-campaign.is-active").get_attribute("id") == second
    # Hidden campaigns are not drawn until shown (so they never get a zero-width layout).
    assert page.locator(".sk-campaign:not(.is-active) .js-plotly-plot").count() == 0
    wide = _plots(page, f"#{second}")[0]["width"]

    first_tab = page.locator(f'.sk-tab[aria-controls="{second}"]')
    first_tab.focus()
    page.keyboard.press("ArrowRight")
    third = f"c-{catalog['campaign_id'][2]}"
    assert page.locator(".sk-campaign.is-active").get_attribute("id") == third
    assert page.evaluate("location.hash") == f"#{third}"

    # Narrow the window while the second campaign is hidden, then go back to it: its charts
    # are resized to the new width when shown.
    page.set_viewport_size({"width": 1000, "height": 900})
    page.wait_for_timeout(300)
    page.keyboard.press("ArrowLeft")
    assert page.locator(".sk-campaign.is-active").get_attribute("id") == second
    page.wait_for_timeout(500)
    plots = _plots(page, f"#{second}")
    for plot in plots:
        assert plot["width"] < wide and abs(plot["width"] - plot["box"]) < 2, (plot, wide)
    assert offline.errors == []
    assert offline.requests == []


# -- the page fits its window and its paper -----------------------------------------------------

#: A4 portrait's printable width in CSS pixels (210 mm at 96 px/in, less Chromium's default
#: margins of about 1 cm a side).
A4_PRINT_WIDTH = 718

_OVERFLOWS_JS = """() => {
  // Every campaign, not only the one on show: their tables are what overflows.
  document.querySelectorAll('.sk-campaign').forEach(el => el.classList.add('is-active'));
  const page = document.documentElement.clientWidth;
  const boxes = '.sk-table-wrap, table, .sk-figure, .sk-kpis, .sk-meta, .sk-header, main';
  const over = [];
  for (const el of document.querySelectorAll(boxes)) {
    const right = el.getBoundingClientRect().right;
    if (el.scrollWidth > el.clientWidth + 1 || right > page + 1) {
      over.push(`${el.tagName}.${el.className} [${el.dataset.table || ''}]: ` +
                `${el.scrollWidth} px in ${el.clientWidth} px, right edge ${Math.round(right)}`);
    }
  }
  // Every value of every table is laid out, inside the page, under its column's name.
  const cells = Array.from(document.querySelectorAll('.sk-table td'));
  const hidden = cells.filter(td => {
    const r = td.getBoundingClientRect();
    return r.width === 0 || r.right > page + 1;
  }).length;
  const unlabelled = cells.filter(td => !td.dataset.label).length;
  return {page, scroll: document.documentElement.scrollWidth, over, cells: cells.length,
          hidden, unlabelled};
}"""


@pytest.mark.parametrize("width", [1280, 800])
def test_no_table_or_chart_is_wider_than_the_window(
    browser: Browser, full_report: Path, width: int, test_output: Path
) -> None:
    offline = ReportPage(browser, width=width)
    try:
        page = offline.open(full_report)
        page.screenshot(path=str(test_output / f"report-{width}px.png"), full_page=True)
        fit = page.evaluate(_OVERFLOWS_JS)
    finally:
        offline.context.close()
    assert fit["scroll"] <= fit["page"], fit
    assert fit["over"] == [], fit["over"]
    assert fit["cells"] > 100 and fit["hidden"] == 0 and fit["unlabelled"] == 0, fit


def test_printed_on_a4_portrait_every_column_is_kept(
    browser: Browser, full_report: Path, test_output: Path
) -> None:
    offline = ReportPage(browser, width=A4_PRINT_WIDTH)
    try:
        page = offline.open(full_report)
        page.emulate_media(media="print")
        fit = page.evaluate(_OVERFLOWS_JS)
        pdf = test_output / "report-a4.pdf"
        page.pdf(path=str(pdf), format="A4")
    finally:
        offline.context.close()
    assert fit["scroll"] <= fit["page"], fit
    assert fit["over"] == [], fit["over"]
    assert fit["cells"] > 100 and fit["hidden"] == 0 and fit["unlabelled"] == 0, fit
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 50_000


# -- inbox attribution: one reply count per campaign, and no failure on a filtered selection ----

AB_ID = "683b61000000000000000001"
AGENCY_ID = "683b61000000000000001a99"  # threads, but no lead in status "active"


@pytest.fixture(scope="module")
def inbox_frames(demo_server: DemoServer) -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
    """Leads and inbox replies of two demo campaigns, over HTTP."""
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        out = {}
        for cid in (AB_ID, AGENCY_ID):
            leads = sk.load_leads(client, cid, progress=False)
            out[cid] = (leads, sk.load_replies(client, cid, leads=leads, progress=False))
        return out


def _overview_counts(page: str, catalog: pl.DataFrame) -> dict[str, list[str]]:
    """Per campaign id: the overview's leads, contacted, replied and positive cells."""
    names = dict(zip(catalog["name"], catalog["campaign_id"], strict=True))
    return {names[row[0]]: row[2:6] for row in _overview_cells(page)}


def _kpi(page: str, campaign_id: str, label: str) -> str:
    article = re.search(rf'<article [^>]*id="c-{campaign_id}".*?</article>', page, re.S)
    assert article
    value = re.search(rf'sk-kpi-value">([^<]*)</div><div class="sk-kpi-label">{label}<', article[0])
    assert value, label
    return htmllib.unescape(value.group(1))


def test_an_inbox_report_overview_counts_the_replies_its_campaigns_count(
    client: sk.SendKitClient,
    catalog: pl.DataFrame,
    inbox_frames: dict[str, tuple[pl.DataFrame, pl.DataFrame]],
) -> None:
    replies = pl.concat([r for _, r in inbox_frames.values()])
    page = as_html(client, [AB_ID, AGENCY_ID], replies=replies, progress=False)
    overview = _overview_counts(page, catalog)
    for cid, (leads, mine) in inbox_frames.items():
        head = metrics.headline(leads, attribution="inbox", replies=mine).row(0, named=True)
        assert overview[cid][2:] == [f"{head['replied']:,}", f"{head['positive']:,}"]
        # the campaign's own KPI card says the same number
        assert _kpi(page, cid, "Replied") == f"{head['replied']:,}"
        assert head["replied"] < metrics.headline(leads)["replied"][0], "auto-replies left out"
    assert "overview keeps last touch" not in page
    assert "Replies are placed by the inbox threads: the campaign overview" in page


def test_an_inbox_report_survives_a_filter_that_empties_a_campaign(
    client: sk.SendKitClient,
    catalog: pl.DataFrame,
    inbox_frames: dict[str, tuple[pl.DataFrame, pl.DataFrame]],
) -> None:
    """The agency campaign has threads but no active lead: its replies count for nothing."""
    replies = pl.concat([r for _, r in inbox_frames.values()])
    page = as_html(client, [AB_ID, AGENCY_ID], status="active", replies=replies, progress=False)
    ab_leads, ab_replies = inbox_frames[AB_ID]
    active = ab_leads.filter(pl.col("status") == "active")
    head = metrics.headline(active, attribution="inbox", replies=ab_replies).row(0, named=True)
    overview = _overview_counts(page, catalog)
    assert overview[AB_ID] == [
        f"{head[k]:,}" for k in ("leads", "contacted", "replied", "positive")
    ]
    assert overview[AGENCY_ID] == ["0", "0", "0", "0"]
    assert "0 leads with status active" in page


def test_a_campaign_without_inbox_threads_keeps_last_touch_in_the_report(
    client: sk.SendKitClient,
    catalog: pl.DataFrame,
    inbox_frames: dict[str, tuple[pl.DataFrame, pl.DataFrame]],
) -> None:
    """Replies given for one campaign only: the other's replied leads keep last touch (as a
    replied lead without a thread does), and the report is built."""
    ab_leads, ab_replies = inbox_frames[AB_ID]
    agency, _ = inbox_frames[AGENCY_ID]
    page = as_html(client, [AB_ID, AGENCY_ID], replies=ab_replies, progress=False)
    last = metrics.headline(agency).row(0, named=True)
    assert last["replied"] > 0
    assert _overview_counts(page, catalog)[AGENCY_ID][2] == f"{last['replied']:,}"
    assert _kpi(page, AGENCY_ID, "Replied") == f"{last['replied']:,}"
    head = metrics.headline(ab_leads, attribution="inbox", replies=ab_replies)
    assert _kpi(page, AB_ID, "Replied") == f"{head['replied'][0]:,}"


def test_the_report_observes_curves_up_to_the_sources_clock(client: sk.SendKitClient) -> None:
    from sendkit_nb._report._build import Options, summary_options
    from sendkit_nb._report._select import select

    selection = select(
        client, [AB_ID], status="bounced", catalog=None, progress=False, pulled_at=None
    )
    assert selection.as_of is not None and selection.as_of == client.server_time
    latest = metrics.latest_timestamp(selection.leads)
    assert latest is not None and latest < selection.as_of
    settings = summary_options(selection, Options())
    assert settings.as_of == selection.as_of
    curve = summarize(selection.leads, None, settings).reply_curve
    assert curve.equals(metrics.reply_curve(selection.leads, by="variant", as_of=selection.as_of))
