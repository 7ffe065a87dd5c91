"""Which sender: ``metrics.mailbox_rates``, ``charts.mailboxes`` and the report's Senders
section, every number against a plain-Python computation over the raw JSON of
``GET /v1/analytics/mailboxes`` (fetched over HTTP with urllib), and the section drawn in headless
Chromium with the network disabled."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb import BadRequestError, charts
from sendkit_nb import metrics as skm
from sendkit_nb.charts import NO_DATA
from sendkit_nb.demo import DemoServer
from tests.conftest import ReportPage
from tests.raw_api import get

Z95 = 1.959963984540054


def _wilson(events: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval, written out from the textbook formula."""
    p = events / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@pytest.fixture(scope="module")
def raw(demo_server: DemoServer) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get(demo_server, "/v1/analytics/mailboxes")["data"]
    return items


@pytest.fixture(scope="module")
def mailboxes(demo_server: DemoServer) -> pl.DataFrame:
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        return sk.load_mailboxes(client)


def _by_email(raw: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["email"]: item["performance"] for item in raw}


def test_mailbox_rates_match_plain_python(
    raw: list[dict[str, Any]], mailboxes: pl.DataFrame
) -> None:
    rated = skm.mailbox_rates(mailboxes, bounce_threshold=0.05)
    assert rated.height == len(raw)
    performance = _by_email(raw)
    for row in rated.iter_rows(named=True):
        counts = performance[row["email"]]
        sent = counts.get("sent") or 0
        if not sent:
            assert row["bounce_rate"] is None and row["bounce_rate_low"] is None
            assert row["over_bounce_threshold"] is None
            continue
        for rate, event in (("bounce_rate", "bounced"), ("reply_rate", "replied")):
            assert row[rate] == pytest.approx(counts[event] / sent)
            low, high = _wilson(counts[event], sent)
            assert row[f"{rate}_low"] == pytest.approx(low, abs=1e-12)
            assert row[f"{rate}_high"] == pytest.approx(high, abs=1e-12)
        assert row["over_bounce_threshold"] == (counts["bounced"] / sent > 0.05)
        assert row["clearly_over"] == (_wilson(counts["bounced"], sent)[0] > 0.05)
    # the demo has one sender that bounces badly, and only one
    flagged = rated.filter(pl.col("over_bounce_threshold"))
    assert flagged.height == 1 and flagged["clearly_over"][0]
    assert flagged["email"][0].startswith("outreach@bulk-")


def test_the_chart_draws_every_sending_mailbox_and_flags_the_bad_one(
    raw: list[dict[str, Any]], mailboxes: pl.DataFrame
) -> None:
    fig = charts.mailboxes(mailboxes, bounce_threshold=0.05)
    assert [t.name for t in fig.data] == [
        "Bounce rate",
        "Bounce labels",
        "Reply rate",
        "Reply labels",
    ]
    # plotly's full validation leaves the figure as it is
    assert go.Figure(fig.to_dict()).to_dict() == fig.to_dict()
    performance = _by_email(raw)
    sending = {e: p for e, p in performance.items() if p.get("sent")}
    bounce, _, reply, _ = fig.data
    assert len(bounce.y) == len(sending)
    order = sorted(sending, key=lambda e: -sending[e]["bounced"] / sending[e]["sent"])
    assert list(bounce.y) == order  # worst first; the demo's addresses are short enough
    for email, b, r, low, high in zip(
        bounce.y,
        bounce.x,
        reply.x,
        bounce.error_x.arrayminus,
        bounce.error_x.array,
        strict=True,
    ):
        counts = sending[email]
        assert b == pytest.approx(counts["bounced"] / counts["sent"])
        assert r == pytest.approx(counts["replied"] / counts["sent"])
        w_low, w_high = _wilson(counts["bounced"], counts["sent"])
        assert b - low == pytest.approx(w_low) and b + high == pytest.approx(w_high)
    colours = list(bounce.marker.color)
    flagged = [e for e, c in zip(bounce.y, colours, strict=True) if c == colours[0]]
    assert flagged == [order[0]] and order[0].startswith("outreach@bulk-")
    assert list(bounce.marker.pattern.shape).count("/") == 1
    labels = list(fig.data[1].text)
    assert "clearly over" in labels[0] and all("over" not in t for t in labels[1:])
    texts = {a.name: a.text for a in fig.layout.annotations}
    subtitle = texts["sendkit:subtitle"]
    assert "bounced / emails sent" in subtitle and "replied / emails sent" in subtitle
    assert "95% Wilson interval" in subtitle
    idle = len(performance) - len(sending)
    assert f"{idle} mailboxes sent nothing" in subtitle
    assert texts["sendkit:threshold-label"] == "threshold 5.0%"
    (line,) = [s for s in fig.layout.shapes if s.name == "sendkit:threshold"]
    assert line.x0 == line.x1 == 0.05


def test_the_threshold_moves_the_flags(mailboxes: pl.DataFrame) -> None:
    strict = charts.mailboxes(mailboxes, bounce_threshold=0.02)
    rates = mailboxes.filter(pl.col("sent") > 0)["bounce_rate"]
    assert list(strict.data[0].marker.pattern.shape).count("/") == int((rates > 0.02).sum()) > 1
    text = next(a.text for a in strict.layout.annotations if a.name == "sendkit:subtitle")
    assert "over 2.0%" in text


def test_absent_null_and_empty_shapes() -> None:
    empty = charts.mailboxes(pl.DataFrame(schema=sk.MAILBOXES_SCHEMA))
    assert any(a.name == NO_DATA for a in empty.layout.annotations)
    assert [len(t.y) for t in empty.data] == [0, 0, 0, 0]
    # only the counts the chart needs; null counts and a mailbox with nothing sent
    frame = pl.DataFrame(
        {
            "email": ["a@x.io", None, "c@x.io"],
            "sent": [50, 10, None],
            "bounced": [0, None, None],
            "replied": [None, 1, None],
        },
        schema={"email": pl.String, "sent": pl.Int64, "bounced": pl.Int64, "replied": pl.Int64},
    )
    fig = charts.mailboxes(frame)
    assert list(fig.data[0].y) == ["a@x.io", "(no address)"]
    assert fig.data[0].x == (0.0, None)
    rated = skm.mailbox_rates(frame)
    assert rated["over_bounce_threshold"].to_list() == [False, None, None]
    assert rated["reply_rate"].to_list() == [None, 0.1, None]


def test_bad_input_is_refused(mailboxes: pl.DataFrame) -> None:
    with pytest.raises(BadRequestError, match="bounce_threshold"):
        charts.mailboxes(mailboxes, bounce_threshold=5)
    with pytest.raises(BadRequestError, match="bounce_threshold"):
        skm.mailbox_rates(mailboxes, bounce_threshold=True)
    with pytest.raises(BadRequestError, match="lacks the column"):
        charts.mailboxes(mailboxes.drop("bounced"))
    with pytest.raises(BadRequestError, match="confidence"):
        skm.mailbox_rates(mailboxes, confidence=95)
    with pytest.raises(BadRequestError, match="polars DataFrame"):
        skm.mailbox_rates(mailboxes.to_dicts())  # type: ignore[arg-type]


# -- the report's Senders section ---------------------------------------------------------------


@pytest.fixture(scope="module")
def senders_report(
    demo_server: DemoServer, mailboxes: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("senders") / "senders.html"
    campaign = str(demo_server.workspace.campaigns[0]["_id"])
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        sk.report(client, [campaign], path, mailboxes=mailboxes, progress=False)
    return path


def test_the_senders_table_matches_plain_python(
    senders_report: Path, raw: list[dict[str, Any]]
) -> None:
    text = senders_report.read_text("utf-8")
    section = re.search(r'<section id="senders".*?</section>', text, re.S)
    assert section
    table = re.search(r'data-table="senders">(.*?)</table>', section.group(0), re.S)
    assert table
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]
    assert len(rows) == len(raw)
    cells = {
        re.sub("<[^>]+>", "", r[0]): [re.sub("<[^>]+>", "", c) for c in r]
        for r in (re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows)
    }
    for item in raw:
        row = cells[item["email"]]
        sent, bounced = item["performance"]["sent"], item["performance"]["bounced"]
        assert row[2] == f"{sent:,}" and row[3] == f"{bounced:,}"
        if sent:
            pct = bounced / sent * 100
            assert row[4] == (f"{pct:.2f}%" if 0 < pct < 1 else f"{pct:.1f}%")
            verdict = "clearly over" if pct > 5 else "under 5.0%"
            assert verdict in row[-1]
        else:
            assert row[4] == "–" and row[-1] == "nothing sent"
    assert section.group(0).count('class="sk-flag sk-flag-bad"') == 1


def test_no_senders_section_without_mailboxes(demo_server: DemoServer) -> None:
    campaign = str(demo_server.workspace.campaigns[0]["_id"])
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as client:
        page = sk.report(client, [campaign], progress=False).as_raw_html()
        assert 'id="senders"' not in page
        with pytest.raises(BadRequestError, match="lacks the column"):
            sk.report(client, [campaign], mailboxes=pl.DataFrame({"email": ["a"]}))


def test_offline_the_senders_section_renders(
    offline: ReportPage, senders_report: Path, test_output: Path
) -> None:
    page = offline.open(senders_report)
    section = page.locator("#senders")
    assert section.is_visible()
    assert section.locator("h2").inner_text() == "Senders"
    page.wait_for_function(
        "document.querySelectorAll('#senders .js-plotly-plot .main-svg').length >= 1"
    )
    plot = section.locator(".js-plotly-plot")
    assert plot.count() == 1
    drawn = plot.first.inner_text()
    assert "Bounce and reply rate per sender" in drawn
    assert "threshold 5.0%" in drawn and "clearly over" in drawn
    box = plot.first.bounding_box()
    assert box is not None and box["width"] > 900 and box["height"] > 300
    # the bars are drawn: one bar path per sending mailbox in each panel
    bars = page.locator("#senders .barlayer .point path").count()
    assert bars >= 2 * 15
    flagged = section.locator(".sk-flag-bad")
    assert flagged.count() == 1 and flagged.first.is_visible()
    section.screenshot(path=str(test_output / "report-senders.png"))
    assert offline.errors == []
    assert offline.requests == []
