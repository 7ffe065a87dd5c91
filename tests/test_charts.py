"""The charts against the metrics frames and against plain-Python counts over the raw API JSON.

The demo workspace's lead dicts are exactly what the API serves (``emailsSent``, ``repliedAt``,
``aiTag`` ...). The funnel's numbers are recounted here from those dicts following the text of
the analytics contract, never through polars, and compared with what the figures draw.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest

import sendkit_nb.metrics as m
from sendkit_nb import BadRequestError, charts, leads_from_items
from sendkit_nb._present import TONE_COLORS, variant_subjects, with_variant_subjects
from sendkit_nb._schema import MAILBOXES_SCHEMA
from sendkit_nb.charts._common import FOOTNOTE, SUBTITLE
from sendkit_nb.demo import make_workspace

Raw = dict[str, Any]
POSITIVE = {"interested", "meeting_booked"}
OKABE_ITO = {"#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STAGE_NAMES = ["Sent", "Delivered", "Opened (directional)", "Clicked", "Replied", "Positive"]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ws() -> Any:
    return make_workspace()


@pytest.fixture(scope="module")
def campaign(ws: Any) -> Raw:
    """The active 3-email campaign with an A/B test on its first step."""
    return dict(ws.campaigns[0])


@pytest.fixture(scope="module")
def raw(ws: Any, campaign: Raw) -> list[Raw]:
    return list(ws.leads[campaign["_id"]])


@pytest.fixture(scope="module")
def leads(raw: list[Raw], campaign: Raw) -> pl.DataFrame:
    return leads_from_items(raw, campaign["_id"])


@pytest.fixture(scope="module")
def all_leads(ws: Any) -> pl.DataFrame:
    return pl.concat([leads_from_items(ws.leads[c["_id"]], c["_id"]) for c in ws.campaigns])


@pytest.fixture(scope="module")
def funnel_frame(leads: pl.DataFrame, campaign: Raw) -> pl.DataFrame:
    return m.funnel(leads, sequence=campaign)


# ------------------------------------------------------------ the independent computation


def _ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def step_labels(campaign: Raw) -> dict[int, str]:
    """``order -> "Step k · subject"``: email steps numbered 1, 2, ... skipping waits."""
    out: dict[int, str] = {}
    for item in sorted(campaign["sequence"], key=lambda s: s["order"]):
        if item.get("type") == "email":
            out[item["order"]] = f"Step {len(out) + 1} · {item['subject']}"
    return out


def plain_funnel(items: Sequence[Raw]) -> dict[int, dict[str, int]]:
    """Per step: sent, bounced, delivered, opened, clicked, replied, positive, from the text of
    the contract (leads once per step; last-touch attribution over delivered emails)."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in items:
        emails = item.get("emailsSent") or []
        by_step: dict[int, list[Raw]] = defaultdict(list)
        for e in emails:
            by_step[e["sequenceStep"]].append(e)
        for step, es in by_step.items():
            c = counts[step]
            c["sent"] += 1
            delivered = [e for e in es if not e.get("bounced")]
            if not delivered:
                c["bounced"] += 1
                continue
            c["delivered"] += 1
            c["opened"] += any(e.get("opened") for e in delivered)
            c["clicked"] += any(e.get("clicked") for e in delivered)
        if not item.get("replied"):
            continue
        at = _ts(item.get("repliedAt"))
        candidates = []
        for pos, e in enumerate(emails):
            sent = _ts(e.get("sentAt"))
            if e.get("bounced"):
                continue
            if at is not None and (sent is None or sent > at):
                continue
            # Latest by send time (an undated email before any dated one), then step, then
            # place in the list.
            candidates.append((sent is not None, sent or EPOCH, e["sequenceStep"], pos))
        if not candidates:
            continue  # unattributed: no delivered email at or before the reply
        step = max(candidates)[2]
        counts[step]["replied"] += 1
        counts[step]["positive"] += (item.get("aiTag") or "").lower() in POSITIVE
    return {s: dict(c) for s, c in counts.items()}


def texts(fig: go.Figure) -> str:
    """Every annotation's text, with line breaks undone (footnotes are wrapped)."""
    return " ".join((a.text or "").replace("<br>", " ") for a in fig.layout.annotations)


def subtitle(fig: go.Figure) -> str:
    """The text of the figure's subtitle annotation (exactly one)."""
    found = [a.text for a in fig.layout.annotations if a.name == SUBTITLE]
    assert len(found) == 1, found
    return str(found[0])


def no_data_shown(fig: go.Figure) -> bool:
    return any(a.name == charts.NO_DATA for a in fig.layout.annotations)


def trace(fig: go.Figure, name: str) -> Any:
    found = [t for t in fig.data if t.name == name]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


# ------------------------------------------------------------------------- step funnel


def test_step_funnel_draws_the_independent_counts(
    funnel_frame: pl.DataFrame, raw: list[Raw], campaign: Raw
) -> None:
    fig = charts.step_funnel(funnel_frame)
    expected = plain_funnel(raw)
    labels = step_labels(campaign)
    steps = sorted(expected)

    assert [t.name for t in fig.data] == STAGE_NAMES
    assert [t.uid for t in fig.data] == [f"step_funnel-{s}" for s in charts.STAGES]
    assert all(t.type == "bar" for t in fig.data)
    for stage, name in zip(charts.STAGES, STAGE_NAMES, strict=True):
        t = trace(fig, name)
        # The step axis reads the campaign's own sequence, email steps only, in order.
        assert list(t.x) == [labels[s] for s in steps]
        assert list(t.y) == [expected[s].get(stage, 0) for s in steps]
        assert list(t.y) == funnel_frame[stage].to_list()
    # The printed values on the bars are the counts, with thousands separators.
    assert trace(fig, "Sent").text[0] == f"{expected[steps[0]]['sent']:,}"
    assert list(fig.layout.xaxis.tickvals) == [labels[s] for s in steps]
    assert fig.layout.xaxis.ticktext[0].startswith("Step 1<br>Scaling")
    assert not no_data_shown(fig)


def test_step_funnel_hover_states_numerator_denominator_and_definition(
    funnel_frame: pl.DataFrame, raw: list[Raw]
) -> None:
    fig = charts.step_funnel(funnel_frame)
    first = plain_funnel(raw)[min(plain_funnel(raw))]
    replied, delivered = first["replied"], first["delivered"]
    hover = trace(fig, "Replied").hovertext[0]
    rate = f"{replied / delivered * 100:.1f}%"
    assert f"Reply rate {rate} = {replied:,} replied / {delivered:,} delivered" in hover
    assert "last-touch" in hover
    positive = trace(fig, "Positive").hovertext[0]
    assert f"= {first['positive']:,} positive / {delivered:,} delivered" in positive
    bounced = trace(fig, "Delivered").hovertext[0]
    assert f"{first['bounced']:,} bounced / {first['sent']:,} sent" in bounced
    assert all(t.hovertemplate == "%{hovertext}<extra></extra>" for t in fig.data)


def test_opens_are_marked_directional_wherever_shown(
    funnel_frame: pl.DataFrame, leads: pl.DataFrame, campaign: Raw
) -> None:
    caveat = m.OPENS_CAVEAT
    funnel_fig = charts.step_funnel(funnel_frame)
    opened = trace(funnel_fig, "Opened (directional)")
    assert opened.marker.pattern.shape == "/"
    assert all("directional" in h for h in opened.hovertext)
    assert caveat in texts(funnel_fig)
    assert "directional" in subtitle(funnel_fig)

    rates_fig = charts.step_rates(funnel_frame)
    assert trace(rates_fig, "Open rate (directional)").marker.pattern.shape == "/"
    assert caveat in texts(rates_fig)
    # No open numbers, no caveat.
    assert caveat not in texts(charts.step_rates(funnel_frame, rates=("reply",)))

    daily = charts.daily_activity(m.daily_activity(leads))
    assert all("directional" in h for h in trace(daily, "Opened (directional)").hovertext)
    assert caveat in texts(daily)

    variants = charts.variant_comparison(m.variant_funnel(leads, metric="open", sequence=campaign))
    assert caveat in texts(variants)


# ------------------------------------------------------------------------- step rates


def _without_intervals(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop(c for c in frame.columns if c.endswith(("_rate_low", "_rate_high")))


def _with_wilson(frame: pl.DataFrame) -> pl.DataFrame:
    """Wilson bounds per rate over delivered, computed here with the metrics' scalar function
    row by row (the funnel has them too; these are the independent ones)."""
    events = {"open": "opened", "click": "clicked", "reply": "replied", "positive": "positive"}
    out = frame
    for rate, event in events.items():
        bounds = [m.wilson_interval(x, n) for x, n in frame.select(event, "delivered").iter_rows()]
        out = out.with_columns(
            pl.Series(f"{rate}_rate_low", [b[0] if b else None for b in bounds]),
            pl.Series(f"{rate}_rate_high", [b[1] if b else None for b in bounds]),
        )
    return out


def test_step_rates_error_bars_when_the_frame_has_intervals(funnel_frame: pl.DataFrame) -> None:
    framed = _with_wilson(funnel_frame)
    fig = charts.step_rates(framed)
    assert [t.uid for t in fig.data] == [
        f"step_rates-{r}" for r in ("open", "click", "reply", "positive")
    ]
    reply = trace(fig, "Reply rate")
    assert list(reply.y) == framed["reply_rate"].to_list()
    assert reply.error_y.visible is True
    expected_up = (framed["reply_rate_high"] - framed["reply_rate"]).to_list()
    expected_down = (framed["reply_rate"] - framed["reply_rate_low"]).to_list()
    assert list(reply.error_y.array) == pytest.approx(expected_up)
    assert list(reply.error_y.arrayminus) == pytest.approx(expected_down)
    low, high = (
        framed.row(0, named=True)["reply_rate_low"],
        framed.row(0, named=True)["reply_rate_high"],
    )
    assert f"{low * 100:.1f}% – {high * 100:.1f}% (Wilson)" in reply.hovertext[0]
    assert "95% Wilson interval" in subtitle(fig)

    bare = charts.step_rates(_without_intervals(funnel_frame))
    assert trace(bare, "Reply rate").error_y.visible is False
    assert "no intervals" in subtitle(bare)
    # One panel per rate, each with its own axis; the step labels on the shared x axis.
    assert {t.yaxis for t in bare.data} == {"y", "y2", "y3", "y4"}
    assert list(bare.data[0].x) == funnel_frame["step_label"].to_list()


def test_step_rates_rejects_unknown_rates(funnel_frame: pl.DataFrame) -> None:
    with pytest.raises(BadRequestError, match="'ctr'"):
        charts.step_rates(funnel_frame, rates=("reply", "ctr"))
    assert [t.name for t in charts.step_rates(funnel_frame, rates="bounce").data] == ["Bounce rate"]


# ------------------------------------------------------------------- variant comparison


def test_variant_comparison_within_steps_with_intervals_and_too_small_flag(
    leads: pl.DataFrame, campaign: Raw
) -> None:
    # Arm A of step 1 has 1,645 delivered, B 1,594: with 1,600 as the bar, B is too small.
    frame = m.variant_funnel(leads, sequence=campaign, min_sends=1600)
    fig = charts.variant_comparison(frame)
    bars, labels = fig.data
    assert (bars.name, labels.name) == ("Variants", "Labels")
    assert (bars.uid, labels.uid) == ("variant_comparison-bars", "variant_comparison-labels")
    outer, inner = (list(level) for level in bars.x)
    assert inner == ["A", "B", "(no variant)", "(no variant)"]
    assert outer[0] == outer[1] and outer[0].startswith("Step 1<br>")
    assert fig.layout.xaxis.type == "multicategory"
    assert list(bars.y) == frame["reply_rate"].to_list()
    assert list(bars.error_y.array) == pytest.approx(
        (frame["reply_rate_high"] - frame["reply_rate"]).to_list()
    )

    small = frame["too_small"].to_list()
    assert small == [False, True, False, False]
    # Too small: hatched, faded, labelled, and counted in the subtitle.
    assert list(bars.marker.pattern.shape) == ["x" if s else "" for s in small]
    assert list(bars.marker.opacity) == [0.45 if s else 1.0 for s in small]
    assert "too small" in labels.text[1] and "too small" not in labels.text[0]
    assert "too small to call (fewer than 1600 leads in the denominator" in bars.hovertext[1]
    assert "1 of 4 arms too small to call" in subtitle(fig)
    # The notes quote the rule the frame was tested with, not the defaults.
    assert "fewer than 1600 leads in the denominator" in texts(fig)
    assert f"fewer than {m.MIN_EVENTS} replied" in texts(fig)
    assert "only within a step" in texts(fig)
    # The leader is outlined; a tested arm shows its adjusted p-value.
    leader = frame["is_leader"].to_list().index(True)
    assert bars.marker.line.width[leader] > 0
    a = frame.row(0, named=True)
    assert f"{a['replied']:,} replied / {a['delivered']:,} delivered" in bars.hovertext[0]


def test_variant_comparison_colours_each_verdict_by_what_it_means(
    leads: pl.DataFrame, campaign: Raw
) -> None:
    # The demo's step 1: B leads (4.5%), A is significantly below it (p = 0.016, Holm).
    frame = m.variant_funnel(leads, sequence=campaign)
    assert frame["significant"].to_list()[:2] == [True, None]
    bars, labels = charts.variant_comparison(frame).data
    loser, leader = 0, 1
    # The significant loser is bad news: red, its gap named, and no tick mark of approval.
    assert "✓" not in labels.text[loser]
    assert "-1.60 pp · significant" in labels.text[loser]
    assert labels.textfont.color[loser] == TONE_COLORS["bad"]
    assert (
        "A vs leader B: -1.60 pp, significantly lower (p = 0.016, Holm-adjusted; z-test)"
        in (bars.hovertext[loser])
    )
    # The leader of a significant gap is good news, with the gap over the arm it beats.
    assert "leader · significant" in labels.text[leader]
    assert labels.textfont.color[leader] == TONE_COLORS["good"]
    assert "B leads: +1.60 pp over A, significant (p = 0.016)" in bars.hovertext[leader]
    # Both hovers quote the arms' intervals, as the report's verdict does.
    assert "95% CI" in bars.hovertext[loser] and "95% CI" in bars.hovertext[leader]


def test_variant_comparison_shows_each_arms_subject_line(
    leads: pl.DataFrame, campaign: Raw
) -> None:
    frame = with_variant_subjects(
        m.variant_funnel(leads, sequence=campaign), variant_subjects([campaign], campaign["_id"])
    )
    assert frame["variant_subject"].to_list()[:2] == [
        "Scaling {{companyName}} in Q3",
        "Scaling {{companyName}} in Q3 (alt)",
    ]
    hover = charts.variant_comparison(frame).data[0].hovertext
    assert "Subject: Scaling {{companyName}} in Q3 (alt)<br>" in hover[1]
    # Steps without variants in the sequence have no subject line to show.
    assert "Subject:" not in hover[2]


def test_variant_comparison_metric_must_match_the_test(leads: pl.DataFrame) -> None:
    frame = m.variant_funnel(leads)  # tested on reply
    assert charts.variant_comparison(frame, "reply").layout.yaxis.title.text == "Reply rate"
    with pytest.raises(BadRequestError, match="'reply', not 'open'"):
        charts.variant_comparison(frame, "open")
    with pytest.raises(BadRequestError, match="unknown metric"):
        charts.variant_comparison(frame, "ctr")


def test_variant_comparison_single_arm_steps_say_nothing_to_compare(
    all_leads: pl.DataFrame, ws: Any
) -> None:
    agency = ws.campaigns[1]
    frame = m.variant_funnel(all_leads.filter(pl.col("campaign_id") == agency["_id"]))
    fig = charts.variant_comparison(frame)
    assert "nothing to compare" in subtitle(fig)
    assert all(w == 0 for w in fig.data[0].marker.line.width)


# ------------------------------------------------------------------------- reply curve


def test_reply_curve_lines_bands_and_hover(leads: pl.DataFrame) -> None:
    curve = m.reply_curve(leads, by="variant")
    fig = charts.reply_curve(curve, names={"A": "Variant A"})
    groups = curve["group"].unique(maintain_order=True).to_list()
    assert groups == ["A", "B"]
    assert [t.name for t in fig.data] == ["Variant A band", "Variant A", "B band", "B"]
    assert [t.uid for t in fig.data][:2] == ["reply_curve-band-A", "reply_curve-line-A"]
    for group, band, line in zip(groups, fig.data[0::2], fig.data[1::2], strict=True):
        part = curve.filter(pl.col("group") == group)
        assert list(line.x) == part["day"].to_list()
        assert list(line.y) == part["cumulative_share"].to_list()
        assert line.line.shape == "hv"
        assert band.fill == "toself" and band.showlegend is False
        assert min(band.y) == pytest.approx(part["ci_low"].min())
        assert max(band.y) == pytest.approx(part["ci_high"].max())
        last = part.row(-1, named=True)
        replies = int(part["replied_events"].sum())
        on_curve = int(part["at_risk"][0])
        assert f"{replies:,} replies so far / {on_curve:,} leads on the curve" in line.hovertext[-1]
        assert f"{last['at_risk']:,} leads still at risk" in line.hovertext[-1]
    assert "Kaplan–Meier" in subtitle(fig)


def test_reply_curve_by_campaign_uses_names(all_leads: pl.DataFrame, ws: Any) -> None:
    curve = m.reply_curve(all_leads, by="campaign")
    names = {c["_id"]: c["name"] for c in ws.campaigns}
    fig = charts.reply_curve(curve, names=names)
    shown = [t.name for t in fig.data[1::2]]
    assert shown == [names[g] for g in curve["group"].unique(maintain_order=True).to_list()]
    assert len(fig.data) == 2 * curve["group"].n_unique()


# ----------------------------------------------------------------------- daily activity


def test_daily_activity_matches_frame_and_raw_totals(
    leads: pl.DataFrame, raw: list[Raw], all_leads: pl.DataFrame
) -> None:
    daily = m.daily_activity(leads)
    fig = charts.daily_activity(daily)
    names = ["Sent", "Opened (directional)", "Clicked", "Bounced", "Replied", "Positive"]
    assert [t.name for t in fig.data] == names
    for name, col in zip(
        names, ["sent", "opened", "clicked", "bounced", "replied", "positive"], strict=True
    ):
        assert list(trace(fig, name).y) == daily[col].to_list()
    assert list(fig.data[0].x) == daily["date"].to_list()
    # Independent totals: emails with a send time; replied leads with a reply time.
    sent = sum(1 for item in raw for e in item.get("emailsSent") or [] if e.get("sentAt"))
    replied = sum(1 for item in raw if item.get("replied") and item.get("repliedAt"))
    assert sum(fig.data[0].y) == sent
    assert sum(trace(fig, "Replied").y) == replied
    day = daily.filter(pl.col("sent") > 0).row(0, named=True)
    i = daily["date"].to_list().index(day["date"])
    assert f"{day['opened']:,} / {day['sent']:,} emails sent that day" in fig.data[1].hovertext[i]
    # Replies sit on a second panel with their own axis.
    assert trace(fig, "Replied").yaxis == "y2"

    pooled = charts.daily_activity(m.daily_activity(all_leads, by_campaign=True))
    assert sum(pooled.data[0].y) == m.daily_activity(all_leads)["sent"].sum()
    assert "campaigns summed" in subtitle(pooled)


# --------------------------------------------------------------- statuses and AI tags


def test_status_breakdown_counts(
    leads: pl.DataFrame, raw: list[Raw], all_leads: pl.DataFrame, ws: Any
) -> None:
    fig = charts.status_breakdown(m.status_counts(leads))
    assert len(fig.data) == 1 and fig.data[0].uid == "status_breakdown-leads"
    bar = fig.data[0]
    counts = Counter(item["status"] for item in raw)
    assert list(bar.x)[:3] == ["pending", "active", "paused"]
    assert dict(zip(bar.x, bar.y, strict=True)) == {s: counts.get(s, 0) for s in bar.x}
    i = list(bar.x).index("completed")
    assert f"{counts['completed']:,} / {len(raw):,} leads" in bar.hovertext[i]

    names = {c["_id"]: c["name"] for c in ws.campaigns}
    multi = charts.status_breakdown(m.status_counts(all_leads), names=names, normalize=True)
    assert [t.name for t in multi.data] == [
        names[c] for c in m.status_counts(all_leads)["campaign_id"].unique(maintain_order=True)
    ]
    assert sum(multi.data[0].y) == pytest.approx(1.0)


def test_ai_tag_breakdown(leads: pl.DataFrame, raw: list[Raw]) -> None:
    frame = m.ai_tag_counts(leads)
    fig = charts.ai_tag_breakdown(frame)
    positive, other = fig.data
    assert (positive.name, other.name) == ("Positive tags", "Other tags")
    tags = Counter(item.get("aiTag") for item in raw)
    assert set(positive.y) == POSITIVE
    drawn = dict(zip(positive.y, positive.x, strict=True)) | dict(
        zip(other.y, other.x, strict=True)
    )
    assert drawn == {t: n for t, n in tags.items() if t is not None}
    assert f"{tags[None]:,} untagged not shown" in subtitle(fig)
    # Most frequent first (at the top).
    order = list(fig.layout.yaxis.categoryarray)
    assert order == sorted(order, key=lambda t: -drawn[t])
    with_untagged = charts.ai_tag_breakdown(frame, include_untagged=True)
    assert "(untagged)" in with_untagged.data[1].y


# ------------------------------------------------------------------ campaign comparison


def test_campaign_comparison_headline(all_leads: pl.DataFrame, ws: Any) -> None:
    frame = m.compare_campaigns(all_leads, ws.campaigns)
    fig = charts.campaign_comparison(frame)
    bars, labels = fig.data
    assert list(bars.y) == frame["campaign_name"].to_list()
    assert list(bars.x) == pytest.approx(frame["positive_rate"].to_list(), nan_ok=True)
    best = frame.row(0, named=True)
    assert f"{best['positive']} positive / {best['contacted']:,} contacted" in bars.hovertext[0]
    # Whiskers are the headline's own interval columns, not a second computation.
    assert list(bars.error_x.array) == pytest.approx(
        (frame["positive_rate_high"] - frame["positive_rate"]).to_list(), nan_ok=True
    )
    assert bars.error_x.array[0] > 0
    assert "95% Wilson interval" in subtitle(fig)
    bare = charts.campaign_comparison(frame.select(pl.exclude("^.*_rate_(low|high)$")))
    assert all(v is None for v in bare.data[0].error_x.array)
    assert list(bare.data[0].x) == pytest.approx(list(bars.x), nan_ok=True)
    assert "no intervals" in subtitle(bare)
    # The draft campaign has nobody contacted: no bar, and a label that says so.
    draft = frame["contacted"].to_list().index(0)
    assert bars.x[draft] is None and "no leads contacted" in labels.text[draft]
    assert fig.layout.yaxis.autorange == "reversed"

    opens = charts.campaign_comparison(frame, "open")
    assert "/ " + f"{best['delivered']:,} delivered" in opens.data[0].hovertext[0]
    assert m.OPENS_CAVEAT in texts(opens)
    with pytest.raises(BadRequestError, match="unknown metric"):
        charts.campaign_comparison(frame, "ctr")


def test_interval_wording_follows_the_frames_confidence(
    leads: pl.DataFrame, all_leads: pl.DataFrame, ws: Any, campaign: Raw
) -> None:
    # A frame computed at another level says so wherever an interval is named.
    cmp = charts.campaign_comparison(m.compare_campaigns(all_leads, ws.campaigns, confidence=0.5))
    assert "whiskers: 50% Wilson interval" in subtitle(cmp)
    assert "<br>50% interval" in cmp.data[0].hovertext[0]
    rates = charts.step_rates(m.funnel(leads, sequence=campaign, confidence=0.9))
    assert "whiskers: 90% Wilson interval" in subtitle(rates)
    assert all("<br>90% interval" in h for h in rates.data[0].hovertext)
    arms = charts.variant_comparison(m.variant_funnel(leads, confidence=0.975, alpha=0.025))
    assert "97.5% Wilson interval" in subtitle(arms)
    assert "not significant at 2.5%" in texts(arms)
    curve = charts.reply_curve(m.reply_curve(leads, confidence=0.8))
    assert "band: 80% confidence" in subtitle(curve)
    assert "(80% CI" in curve.data[1].hovertext[5]
    assert "95% Wilson" in subtitle(charts.step_rates(m.funnel(leads)))
    # A frame that does not say its level (built by hand), or mixes levels (frames computed
    # differently, concatenated), gets no number in the subtitle; each hover uses its row's.
    bare = m.funnel(leads).drop("confidence")
    assert "whiskers: Wilson interval" in subtitle(charts.step_rates(bare))
    first, second = (all_leads.filter(pl.col("campaign_id") == c["_id"]) for c in ws.campaigns[:2])
    mixed = pl.concat(
        [m.compare_campaigns(first, confidence=0.8), m.compare_campaigns(second)]
    ).sort("campaign_id")
    fig = charts.campaign_comparison(mixed, "reply")
    assert "whiskers: Wilson interval" in subtitle(fig)
    levels = {row["campaign_id"]: row["confidence"] for row in mixed.to_dicts()}
    hovers = dict(zip(mixed["campaign_id"].to_list(), fig.data[0].hovertext, strict=True))
    for cid, level in levels.items():
        assert f"<br>{level * 100:g}% interval" in hovers[cid]


def test_positive_wording_names_the_frames_own_tags(
    leads: pl.DataFrame, all_leads: pl.DataFrame, ws: Any, campaign: Raw
) -> None:
    tags = ["interested"]
    funnel = charts.step_funnel(m.funnel(leads, sequence=campaign, positive_tags=tags))
    positive = trace(funnel, "Positive").hovertext[0]
    assert "positive AI tag (interested)" in positive and "default" not in positive
    assert "Positive: replied with a positive AI tag (interested)." in texts(funnel)
    daily = charts.daily_activity(m.daily_activity(leads, positive_tags=tags))
    assert "positive AI tag (interested)</i>" in trace(daily, "Positive").hovertext[0]
    ai = charts.ai_tag_breakdown(m.ai_tag_counts(leads, positive_tags=tags))
    assert "Positive tags (interested) make a reply a positive reply" in texts(ai)
    cmp = m.compare_campaigns(all_leads, ws.campaigns, positive_tags=tags)
    assert "positive AI tag (interested)" in charts.campaign_comparison(cmp).data[0].hovertext[0]
    assert "(interested, meeting_booked)" in texts(charts.step_funnel(m.funnel(leads)))
    # Without the column, or with an empty frame, no tags are claimed.
    bare = m.funnel(leads).drop("positive_tags")
    assert "Positive: replied with a positive AI tag." in texts(charts.step_funnel(bare))
    empty = charts.ai_tag_breakdown(m.ai_tag_counts(leads.head(0), positive_tags=tags))
    assert "Positive tags make a reply" in texts(empty) and "default" not in texts(empty)


def test_campaign_comparison_by_step(all_leads: pl.DataFrame, ws: Any) -> None:
    frame = m.compare_campaigns(all_leads, ws.campaigns, by="step")
    fig = charts.campaign_comparison(frame, "reply")
    assert len(fig.data) == frame["campaign_id"].n_unique()
    assert list(fig.data[0].x) == ["Step 1", "Step 2", "Step 3"]
    first = frame.row(0, named=True)
    assert fig.data[0].y[0] == pytest.approx(first["reply_rate"])
    assert (
        f"{first['replied']} replied / {first['delivered']:,} delivered" in fig.data[0].hovertext[0]
    )


# ---------------------------------------------------------------- empty and single-step


def leads_as_of(leads: pl.DataFrame, at: datetime) -> pl.DataFrame:
    """The leads as a pull at ``at`` would have found them: the emails sent by then, and a
    reply only if it had come by then."""
    sent = pl.element().struct.field("sent_at")
    came = pl.col("replied").fill_null(False) & (pl.col("replied_at") <= at).fill_null(True)
    return leads.with_columns(
        emails=pl.col("emails").list.filter(sent.is_not_null() & (sent <= at)),
        replied=came,
        replied_at=pl.when(came).then(pl.col("replied_at")),
        ai_tag=pl.when(came).then(pl.col("ai_tag")),
    )


def history_frame(
    leads: pl.DataFrame, names: dict[str, str], times: Sequence[datetime]
) -> pl.DataFrame:
    """A store's sync history (``syncs.parquet``, as the store writes it): per pull time, each
    campaign's headline, with ``campaign_name``, ``pulled_at``, ``fingerprint``, ``deleted``."""
    rows = []
    for k, at in enumerate(times):
        head = m.headline(leads_as_of(leads, at))
        rows.append(
            head.with_columns(
                campaign_name=pl.col("campaign_id").replace_strict(names, default=None),
                pulled_at=pl.lit(at, pl.Datetime("us", "UTC")),
                fingerprint=pl.lit(f"f{k}"),
                deleted=pl.lit(False),
            )
        )
    history = pl.concat(rows)
    first = ["campaign_id", "campaign_name", "pulled_at", "fingerprint", "deleted", "leads"]
    return history.select(*first, pl.exclude(first))


def _history(all_leads: pl.DataFrame, ws: Any) -> pl.DataFrame:
    latest = m.latest_timestamp(all_leads)
    assert latest is not None
    names = {c["_id"]: c["name"] for c in ws.campaigns}
    return history_frame(all_leads, names, [latest - timedelta(days=d) for d in (21, 14, 7, 0)])


def _empty_figures(leads: pl.DataFrame) -> dict[str, go.Figure]:
    none = leads.head(0)
    return {
        "cohorts": charts.cohorts(m.cohort_curves(none)),
        "trend": charts.trend(history_frame(none, {}, [datetime(2025, 6, 1, tzinfo=UTC)])),
        "breakdown": charts.breakdown(m.breakdown(none, "tags")),
        "step_funnel": charts.step_funnel(m.funnel(none)),
        "step_rates": charts.step_rates(m.funnel(none)),
        "variant_comparison": charts.variant_comparison(m.variant_funnel(none)),
        "reply_curve": charts.reply_curve(m.reply_curve(none)),
        "daily_activity": charts.daily_activity(m.daily_activity(none)),
        "status_breakdown": charts.status_breakdown(m.status_counts(none)),
        "ai_tag_breakdown": charts.ai_tag_breakdown(m.ai_tag_counts(none)),
        "campaign_comparison": charts.campaign_comparison(m.compare_campaigns(none)),
        "mailboxes": charts.mailboxes(pl.DataFrame(schema=MAILBOXES_SCHEMA)),
    }


def test_empty_frames_give_a_no_data_figure(leads: pl.DataFrame) -> None:
    figures = _empty_figures(leads)
    assert set(figures) == {name for name in charts.__all__ if name[0].islower()} - {
        "update_figure"
    }
    for name, fig in figures.items():
        assert no_data_shown(fig), name
        assert "No data" in texts(fig)
        assert fig.to_html(include_plotlyjs=False)
    # Trace counts do not depend on the data: the empty funnel has the same six traces.
    assert [t.name for t in figures["step_funnel"].data] == STAGE_NAMES
    assert [len(t.x) for t in figures["step_funnel"].data] == [0] * 6


def test_single_step_inputs(funnel_frame: pl.DataFrame, leads: pl.DataFrame) -> None:
    one = funnel_frame.head(1)
    fig = charts.step_funnel(one)
    assert [list(t.x) for t in fig.data] == [one["step_label"].to_list()] * 6
    assert not no_data_shown(fig)
    rates = charts.step_rates(_with_wilson(one))
    assert all(len(t.y) == 1 for t in rates.data)
    single = leads.with_columns(
        pl.col("emails").list.eval(pl.element().filter(pl.element().struct.field("step") == 0))
    )
    variants = charts.variant_comparison(m.variant_funnel(single))
    assert len(variants.data[0].y) == 2


# ------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("function", "needs"),
    [
        (charts.step_funnel, "'opened', 'clicked'"),
        (charts.step_rates, "'opened', 'clicked'"),
    ],
)
def test_missing_columns_are_named(
    funnel_frame: pl.DataFrame, function: Callable[[pl.DataFrame], go.Figure], needs: str
) -> None:
    with pytest.raises(BadRequestError, match=needs):
        function(funnel_frame.drop("opened", "clicked"))


def test_bad_input_is_a_clear_error(funnel_frame: pl.DataFrame, leads: pl.DataFrame) -> None:
    every = [
        charts.step_funnel,
        charts.step_rates,
        charts.variant_comparison,
        charts.reply_curve,
        charts.daily_activity,
        charts.status_breakdown,
        charts.ai_tag_breakdown,
        charts.campaign_comparison,
        charts.cohorts,
        charts.trend,
    ]
    for function in every:
        with pytest.raises(BadRequestError, match="needs a polars DataFrame, got dict"):
            function({"step": [1]})  # type: ignore[operator]
        with pytest.raises(BadRequestError, match="lacks the column"):
            function(pl.DataFrame({"unrelated": [1]}))  # type: ignore[operator]
    with pytest.raises(BadRequestError, match="'day', 'cumulative_share'"):
        charts.reply_curve(pl.DataFrame({"group": ["a"], "ci_low": [0.0], "ci_high": [0.1]}))
    # A segmented funnel has several rows per step: drawing it as one would mix segments.
    with pytest.raises(BadRequestError, match="split by 'status'"):
        charts.step_funnel(m.funnel(leads, segment="status"))
    with pytest.raises(BadRequestError, match="split by 'variant'"):
        charts.step_funnel(m.funnel(leads, by="variant"))


def test_data_text_is_escaped(funnel_frame: pl.DataFrame) -> None:
    hostile = funnel_frame.with_columns(
        step_label=pl.format("Step {} · <b>Hi</b> & {}", pl.col("step"), pl.lit("bye"))
    )
    fig = charts.step_funnel(hostile)
    assert "&lt;b&gt;Hi&lt;/b&gt; &amp; bye" in fig.layout.xaxis.ticktext[0]
    assert "<b>Hi</b>" not in fig.data[0].hovertext[0]
    assert list(fig.data[0].x) == hostile["step_label"].to_list()  # data stays as is


def test_figure_size_depends_on_steps_not_leads(leads: pl.DataFrame, campaign: Raw) -> None:
    doubled = pl.concat([leads, leads])
    small = charts.step_funnel(m.funnel(leads, sequence=campaign))
    big = charts.step_funnel(m.funnel(doubled, sequence=campaign))
    assert [len(t.x) for t in big.data] == [len(t.x) for t in small.data]
    assert list(big.data[0].y) == [2 * y for y in small.data[0].y]


# ------------------------------------------------------------------- theme and export


def _all_figures(leads: pl.DataFrame, all_leads: pl.DataFrame, ws: Any) -> dict[str, go.Figure]:
    campaign = ws.campaigns[0]
    funnel = _with_wilson(m.funnel(leads, sequence=campaign))
    return {
        "cohorts": charts.cohorts(m.cohort_curves(leads)),
        "trend": charts.trend(_history(all_leads, ws)),
        "step_funnel": charts.step_funnel(funnel),
        "step_rates": charts.step_rates(funnel),
        "variant_comparison": charts.variant_comparison(m.variant_funnel(leads, sequence=campaign)),
        "reply_curve": charts.reply_curve(m.reply_curve(leads, by="variant")),
        "daily_activity": charts.daily_activity(m.daily_activity(leads)),
        "status_breakdown": charts.status_breakdown(m.status_counts(leads)),
        "ai_tag_breakdown": charts.ai_tag_breakdown(m.ai_tag_counts(leads)),
        "campaign_comparison": charts.campaign_comparison(
            m.compare_campaigns(all_leads, ws.campaigns)
        ),
    }


def test_every_figure_themed_hovered_and_exportable(
    leads: pl.DataFrame, all_leads: pl.DataFrame, ws: Any
) -> None:
    assert pio.templates[charts.THEME].to_plotly_json() == charts.TEMPLATE.to_plotly_json()
    assert set(charts.COLORWAY) == OKABE_ITO
    for name, fig in _all_figures(leads, all_leads, ws).items():
        assert fig.layout.template.layout.colorway == charts.COLORWAY, name
        assert fig.layout.meta["sendkit_chart"] == name
        assert fig.layout.uirevision == name
        assert fig.layout.title.text and subtitle(fig), name
        assert any(a.name == FOOTNOTE for a in fig.layout.annotations), name
        uids = [t.uid for t in fig.data]
        assert len(set(uids)) == len(uids) and all(re.fullmatch(r"[\w-]+", u) for u in uids)
        # Names are unique too: update_figure matches a FigureWidget's traces by name.
        assert len({t.name for t in fig.data}) == len(fig.data), name
        hovered = [t for t in fig.data if t.hoverinfo != "skip"]
        assert hovered, name
        for t in hovered:
            assert t.hovertext is not None and all(t.hovertext), (name, t.name)
        html = fig.to_html(include_plotlyjs=False, full_html=False)
        assert "Plotly.newPlot" in html and "cdn.plot.ly" not in html
        for colour in (t.marker.color for t in fig.data if t.type == "bar"):
            colours = [colour] if isinstance(colour, str) else list(colour or [])
            assert all(c.upper() in OKABE_ITO | {"#999999", "#CCCCCC"} for c in colours), name


def test_figure_spec_refuses_what_it_would_get_wrong() -> None:
    from sendkit_nb.charts._spec import FigureSpec

    spec = FigureSpec()
    # plotly's selectors would land in the layout as axis properties; a list of annotations
    # would replace the subtitle and footnotes where plotly merges item by item.
    with pytest.raises(TypeError, match="col="):
        spec.update_yaxes(row=1, col=1, title={"text": "x"})
    with pytest.raises(TypeError, match="add_annotation"):
        spec.update_layout(annotations=[{"text": "x"}])
    assert spec.layout == {}


def _as_json(fig: go.Figure) -> Any:
    return json.loads(pio.to_json(fig, validate=False))


@pytest.mark.parametrize("empty", [False, True], ids=["data", "empty"])
def test_every_figure_passes_plotlys_validation_unchanged(
    empty: bool, leads: pl.DataFrame, all_leads: pl.DataFrame, ws: Any
) -> None:
    # The charts hand their dicts to plotly without re-validation (charts/_spec.py). Here each
    # goes through plotly's full validation: an unknown property, a bad value or a
    # non-canonical form (a bare-string title) would raise or come out changed.
    figures = _empty_figures(leads) if empty else _all_figures(leads, all_leads, ws)
    for name, fig in figures.items():
        built = _as_json(fig)
        validated = go.Figure(built)
        assert _as_json(validated) == built, name
    # And the figure validates what a caller changes on it afterwards.
    with pytest.raises(ValueError, match="colr"):
        figures["step_funnel"].update_layout(colr="red")
    with pytest.raises(ValueError, match="not-a-colour"):
        figures["step_funnel"].data[0].marker.color = "not-a-colour"


def test_rate_hovers_name_numerator_and_denominator(
    leads: pl.DataFrame, all_leads: pl.DataFrame, ws: Any
) -> None:
    pattern = re.compile(r"rate (\d+\.\d+%|n/a) = [\d,]+ \w+ / [\d,]+ (delivered|sent|contacted)")
    figures = _all_figures(leads, all_leads, ws)
    for name in ("step_funnel", "step_rates", "variant_comparison", "campaign_comparison"):
        hovers = [h for t in figures[name].data if t.hovertext for h in t.hovertext]
        assert any(pattern.search(h) for h in hovers), name


# ------------------------------------------------------------------------ update_figure


def _bar_uids(fig: go.Figure) -> list[str]:
    return [t.uid for t in fig.data]


@pytest.mark.parametrize("kind", ["figure", "widget"])
def test_update_figure_in_place(kind: str, all_leads: pl.DataFrame, ws: Any) -> None:
    a, b = ws.campaigns[0], ws.campaigns[2]
    leads_a = all_leads.filter(pl.col("campaign_id") == a["_id"])
    leads_b = all_leads.filter(pl.col("campaign_id") == b["_id"])
    first = charts.step_funnel(m.funnel(leads_a, sequence=a))
    target = go.FigureWidget(first) if kind == "widget" else first
    kept = list(target.data)
    fresh = charts.step_funnel(m.funnel(leads_b, sequence=b))
    assert charts.update_figure(target, fresh) is target
    # The same trace objects, now holding campaign b's numbers and labels.
    assert all(old is new for old, new in zip(kept, target.data, strict=True))
    for old, new in zip(target.data, fresh.data, strict=True):
        assert list(old.x) == list(new.x) and list(old.y) == list(new.y)
        assert list(old.hovertext) == list(new.hovertext)
    assert list(target.layout.xaxis.ticktext) == list(fresh.layout.xaxis.ticktext)
    assert target.layout.title.text == fresh.layout.title.text

    # An empty selection: same traces, emptied, and the no-data note appears.
    charts.update_figure(target, charts.step_funnel(m.funnel(leads_a.head(0))))
    assert all(old is new for old, new in zip(kept, target.data, strict=True))
    assert all(len(t.x) == 0 for t in target.data) and no_data_shown(target)
    # And back: the note goes away again.
    charts.update_figure(target, fresh)
    assert not no_data_shown(target)


def test_update_figure_adds_removes_and_resets(leads: pl.DataFrame, campaign: Raw) -> None:
    by_variant = charts.reply_curve(m.reply_curve(leads, by="variant"))
    pooled = charts.reply_curve(m.reply_curve(leads))
    target = go.Figure(by_variant)
    charts.update_figure(target, pooled)
    assert _bar_uids(target) == _bar_uids(pooled) and len(target.data) == 2
    charts.update_figure(target, by_variant)
    assert _bar_uids(target) == _bar_uids(by_variant) and len(target.data) == 4
    assert list(target.data[1].y) == list(by_variant.data[1].y)

    # A property the new figure lacks is reset, not left behind (error bars switched off).
    funnel = m.funnel(leads, sequence=campaign)
    shown = go.Figure(charts.step_rates(_with_wilson(funnel)))
    assert shown.data[0].error_y.visible is True
    charts.update_figure(shown, charts.step_rates(_without_intervals(funnel)))
    assert shown.data[0].error_y.visible is False and shown.data[0].error_y.array is None
    assert "no intervals" in subtitle(shown)

    with pytest.raises(BadRequestError, match="two plotly figures"):
        charts.update_figure(shown, {"data": []})

    # A plain figure has no browser: a range the new figure drops is dropped.
    zoomed = go.Figure(charts.step_funnel(funnel))
    zoomed.update_yaxes(range=[0, 10])
    charts.update_figure(zoomed, charts.step_funnel(funnel))
    assert zoomed.layout.yaxis.range is None


def test_hovers_follow_the_frames_denominator(leads: pl.DataFrame, campaign: Raw) -> None:
    over_opened = m.funnel(leads, denominator="opened", sequence=campaign)
    first = over_opened.row(0, named=True)
    fig = charts.step_funnel(over_opened)
    assert f"{first['replied']} replied / {first['opened']:,} opened" in fig.data[4].hovertext[0]
    # The open rate stays over delivered; the subtitle names both bases.
    assert f"/ {first['delivered']:,} delivered" in fig.data[2].hovertext[0]
    assert "delivered (open) and opened (click, reply, positive)" in (
        subtitle(fig).replace("<br>", " ")
    )
    rates = charts.step_rates(over_opened)
    assert "replied / opened" in texts(rates)
    over_sent = m.variant_funnel(leads, denominator="sent", sequence=campaign)
    arm = over_sent.row(0, named=True)
    hover = charts.variant_comparison(over_sent).data[0].hovertext[0]
    assert f"{arm['replied']} replied / {arm['sent']:,} sent" in hover
    assert hover.endswith("</i>")  # the definition comes last


# ------------------------------------------------------------------- trends and cohorts


def test_trend_draws_each_campaigns_rate_over_the_syncs(all_leads: pl.DataFrame, ws: Any) -> None:
    history = _history(all_leads, ws)
    fig = charts.trend(history, metric="reply_rate")
    contacted = history.filter(pl.col("contacted") > 0)
    assert [t.name for t in fig.data] == [
        c["name"] for c in ws.campaigns if c["_id"] in set(history["campaign_id"].to_list())
    ]
    first = ws.campaigns[0]
    line = trace(fig, first["name"])
    mine = history.filter(pl.col("campaign_id") == first["_id"]).sort("pulled_at")
    assert list(line.y) == mine["reply_rate"].to_list()
    assert len(line.x) == 4
    # The last point is the headline of today's data; the rate moves with the syncs.
    assert (
        line.y[-1]
        == m.headline(all_leads).filter(pl.col("campaign_id") == first["_id"])["reply_rate"].item()
    )
    assert len(set(line.y)) > 1
    last = mine.row(-1, named=True)
    assert f"= {last['replied']:,} replied / {last['contacted']:,} contacted" in line.hovertext[-1]
    assert "Wilson" in line.hovertext[-1]
    assert "over contacted leads" in subtitle(fig)
    assert contacted.height


def test_trend_metric_campaigns_and_deleted_syncs(all_leads: pl.DataFrame, ws: Any) -> None:
    history = _history(all_leads, ws)
    cid = ws.campaigns[1]["_id"]
    fig = charts.trend(history, "positive", campaign_ids=cid, names={cid: "Renamed"})
    assert [t.name for t in fig.data] == ["Renamed"]
    assert "positive rate" in subtitle(fig).lower()
    assert fig.layout.yaxis.title.text == "Positive rate"
    # A sync that found the campaign deleted upstream is not a point of the line.
    deleted = history.with_columns(
        deleted=(pl.col("pulled_at") == pl.col("pulled_at").max()) & (pl.col("campaign_id") == cid)
    )
    assert len(charts.trend(deleted, campaign_ids=[cid]).data[0].x) == 3
    for bad in ("reply_rate_low", "replied", "rate", 3, "positive_tags"):
        with pytest.raises(BadRequestError, match="unknown metric") as caught:
            charts.trend(history, metric=bad)  # type: ignore[arg-type]
        assert "reply_rate" in (caught.value.hint or "")
    with pytest.raises(BadRequestError, match="no sync history for campaign"):
        charts.trend(history, campaign_ids=["0" * 24])
    with pytest.raises(BadRequestError, match="lacks the column"):
        charts.trend(history.drop("reply_rate"))


def test_cohort_heatmap_cells_are_the_cohort_curves(leads: pl.DataFrame) -> None:
    curves = m.cohort_curves(leads, every="1w")
    fig = charts.cohorts(curves, max_days=None, min_at_risk=0)
    heat = fig.data[0]
    assert heat.type == "heatmap" and heat.uid == "cohorts-heatmap"
    starts = curves["cohort"].unique().sort().to_list()
    assert len(heat.y) == len(starts)
    assert heat.y[0].startswith(f"Week of {starts[0].isoformat()}")
    for row_index, start in enumerate(starts):
        part = curves.filter(pl.col("cohort") == start)
        want = dict(zip(part["day"].to_list(), part["cumulative_share"].to_list(), strict=True))
        got = heat.z[row_index]
        for day, value in enumerate(got):
            assert value == want.get(day), (start, day)
        # The leads on the cohort's curve are in its label.
        assert f"({part['at_risk'][0]:,} leads)" in heat.y[row_index]
    # The youngest cohort is blank past its follow-up, and its hover says why.
    young = heat.z[-1]
    assert young[-1] is None
    assert "Not observed this long yet" in heat.hovertext[-1][-1]
    assert "Denominator: the cohort's contacted leads" in texts(fig)
    # By default a cell with fewer than 10 leads still waiting is blank, and says why.
    thin = curves.filter(pl.col("at_risk") < 10)
    assert thin.height
    default = charts.cohorts(curves, max_days=None)
    for cell in thin.iter_rows(named=True):
        r, d = starts.index(cell["cohort"]), cell["day"]
        assert default.data[0].z[r][d] is None
        assert "too few to estimate" in default.data[0].hovertext[r][d]
    thick = curves.filter(pl.col("at_risk") >= 10)
    cell = thick.row(-1, named=True)
    assert default.data[0].z[starts.index(cell["cohort"])][cell["day"]] == cell["cumulative_share"]
    capped = charts.cohorts(curves, max_days=7)
    assert list(capped.data[0].x) == list(range(8))
    with pytest.raises(BadRequestError, match="max_days"):
        charts.cohorts(curves, max_days=-1)
    with pytest.raises(BadRequestError, match="min_at_risk"):
        charts.cohorts(curves, min_at_risk=-1)


# -- attribution wording follows the frame ----------------------------------------------------


def _hovers(fig: go.Figure) -> str:
    return " ".join(str(h) for t in fig.data for h in (getattr(t, "hovertext", None) or ()))


def test_reply_wording_follows_the_frames_attribution(demo_client: Any) -> None:
    import sendkit_nb as sk

    campaign_id = "683b61000000000000000001"
    catalog = sk.load_campaigns(demo_client)
    leads = sk.load_leads(demo_client, campaign_id, progress=False)
    replies = sk.load_replies(demo_client, campaign_id, leads=leads, progress=False)
    inbox: dict[str, Any] = {"attribution": "inbox", "replies": replies}
    figures = {
        "last_touch": [
            charts.step_funnel(m.funnel(leads, sequence=catalog)),
            charts.step_rates(m.funnel(leads, sequence=catalog)),
            charts.variant_comparison(m.variant_funnel(leads, sequence=catalog)),
            charts.campaign_comparison(
                m.compare_campaigns(leads, catalog, by="step"), metric="reply"
            ),
        ],
        "inbox": [
            charts.step_funnel(m.funnel(leads, sequence=catalog, **inbox)),
            charts.step_rates(m.funnel(leads, sequence=catalog, **inbox)),
            charts.variant_comparison(m.variant_funnel(leads, sequence=catalog, **inbox)),
            charts.campaign_comparison(
                m.compare_campaigns(leads, catalog, by="step", **inbox), metric="reply"
            ),
            charts.campaign_comparison(m.compare_campaigns(leads, catalog, **inbox), "reply"),
        ],
    }
    # The per-campaign comparison names its attribution only when it is not the default.
    default_overview = charts.campaign_comparison(m.compare_campaigns(leads, catalog), "reply")
    assert "attribution" not in texts(default_overview)
    for fig in figures["last_touch"]:
        words = texts(fig) + _hovers(fig)
        assert "last-touch attribution" in words and "inbox attribution" not in words
    for fig in figures["inbox"]:
        words = texts(fig) + _hovers(fig)
        assert "inbox attribution" in words and "last-touch" not in words
        assert "last touch" not in subtitle(fig)
    # The reply hovers of the inbox funnel say so on every bar, not only in the footnote.
    replied = trace(figures["inbox"][0], "Replied")
    assert all("inbox attribution" in h for h in replied.hovertext)
    assert "replies by the inbox threads" in subtitle(figures["inbox"][0])
