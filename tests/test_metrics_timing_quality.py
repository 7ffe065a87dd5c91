"""Reply timing, daily activity, data quality and reconciliation, checked against plain Python.

Every expected number here is computed from the raw API JSON lead dicts (the shape of
``GET /v1/campaigns/{id}/leads`` items) by straightforward Python loops, never through the
polars code under test. The frames come from the loader's own converter, ``leads_from_items``.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction
from itertools import pairwise
from statistics import NormalDist
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendkit_nb._errors import BadRequestError
from sendkit_nb._frames import leads_from_items
from sendkit_nb._schema import LEAD_STATUSES, LEADS_SCHEMA
from sendkit_nb.demo import make_workspace
from sendkit_nb.demo._aggregates import _analytics
from sendkit_nb.metrics import (
    QUALITY_CHECKS,
    daily_activity,
    quality,
    reconcile,
    reply_curve,
    reply_times,
    reply_timing_summary,
)

Raw = dict[str, Any]
CAMPAIGN = "665a1b2c3d4e5f6a7b8c9d0e"
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
POSITIVE = {"interested", "meeting_booked"}


# ------------------------------------------------------------------ raw JSON builders


def ts(day: int, hour: int = 0, minute: int = 0, month: int = 6) -> str:
    return f"2025-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00.000Z"


def mail(
    step: int,
    at: str | None,
    variant: str | None = None,
    *,
    opened: bool = False,
    clicked: bool = False,
    bounced: bool = False,
) -> Raw:
    return {
        "sequenceStep": step,
        "variant": variant,
        "sentAt": at,
        "opened": opened,
        "clicked": clicked,
        "bounced": bounced,
    }


def item(
    n: int,
    emails: Sequence[Raw] = (),
    *,
    status: str = "active",
    replied: bool = False,
    replied_at: str | None = None,
    ai_tag: str | None = None,
    address: str | None = None,
    current: int | None = None,
) -> Raw:
    lead_id = f"665d{n:020x}"
    if current is None:
        current = (max(e["sequenceStep"] for e in emails) + 1) if emails else 0
    return {
        "_id": f"666a{n:020x}",
        "leadId": {
            "_id": lead_id,
            "email": address if address is not None else f"lead{n}@example.com",
            "firstName": "Ann",
            "lastName": None,
            "companyName": "Acme",
        },
        "status": status,
        "currentSequenceStep": current,
        "emailsSent": list(emails),
        "replied": replied,
        "repliedAt": replied_at,
        "aiTag": ai_tag,
        "tags": [],
        "addedAt": ts(1),
    }


def frame(items: Iterable[Raw], campaign_id: str = CAMPAIGN) -> pl.DataFrame:
    return leads_from_items(list(items), campaign_id)


def parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ------------------------------------------------------------ plain-Python references


def py_latest(items: Iterable[Raw]) -> datetime | None:
    stamps: list[datetime] = []
    for lead in items:
        for e in lead.get("emailsSent") or []:
            if (t := parse(e.get("sentAt"))) is not None:
                stamps.append(t)
        if (r := parse(lead.get("repliedAt"))) is not None:
            stamps.append(r)
    return max(stamps) if stamps else None


def py_reply_times(items: Sequence[Raw], as_of: datetime | None = None) -> dict[str, Raw]:
    """Per contacted lead id: variant, event, day, excluded, days_to_reply."""
    end = as_of if as_of is not None else py_latest(items)
    out: dict[str, Raw] = {}
    if end is None:
        return out
    for lead in items:
        emails = lead.get("emailsSent") or []
        if not emails:
            continue
        timed: list[tuple[datetime, int, str | None]] = []
        for e in emails:
            if (sent := parse(e["sentAt"])) is not None:
                timed.append((sent, e["sequenceStep"], e["variant"]))
        first = min(timed, key=lambda t: (t[0], t[1])) if timed else None
        if first is not None and first[0] > end:
            continue  # not contacted yet at the end of observation
        replied = lead.get("replied") is True
        at = parse(lead.get("repliedAt"))
        row: Raw = {"variant": first[2] if first else None, "excluded": None, "day": None}
        row["days_to_reply"] = None
        if first is None:
            row["excluded"] = "send_time_unknown"
        elif replied and at is None:
            row["excluded"] = "reply_time_unknown"
        elif replied and at is not None and at < first[0]:
            row["excluded"] = "reply_before_first_send"
        if first is not None and replied and at is not None:
            row["days_to_reply"] = (at - first[0]) / DAY
        row["event"] = row["excluded"] is None and replied and at is not None and at <= end
        if first is not None and row["excluded"] is None:
            if row["event"] and at is not None:
                row["day"] = math.ceil((at - first[0]) / US / (DAY / US))
            else:
                row["day"] = ((end - first[0]) // US) // (DAY // US)
        out[lead["_id"]] = row
    return out


def py_km(times: Iterable[tuple[int, bool]], z: float = NormalDist().inv_cdf(0.975)) -> list[Raw]:
    """Kaplan–Meier over (day, event) pairs, exact with fractions; Greenwood log-log band."""
    times = list(times)
    if not times:
        return []
    rows: list[Raw] = []
    surv = Fraction(1)
    greenwood = 0.0
    for day in range(max(d for d, _ in times) + 1):
        at_risk = sum(1 for d, _ in times if d >= day)
        events = sum(1 for d, e in times if d == day and e)
        censored = sum(1 for d, e in times if d == day and not e)
        surv *= 1 - Fraction(events, at_risk)
        if events:
            greenwood = (
                math.inf
                if events == at_risk
                else greenwood + events / (at_risk * (at_risk - events))
            )
        s = float(surv)
        low: float | None
        high: float | None
        if s == 1.0:
            low = high = 0.0
        elif s == 0.0:
            low = high = None
        else:
            # log(-log S) +- z * se, mapped back through S = exp(-exp(.)).
            se = math.sqrt(greenwood) / abs(math.log(s))
            centre = math.log(-math.log(s))
            low = 1 - math.exp(-math.exp(centre - z * se))
            high = 1 - math.exp(-math.exp(centre + z * se))
        rows.append(
            {
                "day": day,
                "at_risk": at_risk,
                "replied_events": events,
                "censored": censored,
                "share": 1 - surv,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows


def py_daily(items: Iterable[Raw], positive: set[str] = POSITIVE) -> dict[str, list[int]]:
    days: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    for lead in items:
        for e in lead.get("emailsSent") or []:
            if e.get("sentAt") is None:
                continue
            row = days[e["sentAt"][:10]]
            row[0] += 1
            row[1] += bool(e.get("opened"))
            row[2] += bool(e.get("clicked"))
            row[3] += bool(e.get("bounced"))
        if lead.get("replied") is True and lead.get("repliedAt") is not None:
            row = days[lead["repliedAt"][:10]]
            row[4] += 1
            row[5] += (lead.get("aiTag") or "").lower() in positive
    return days


def py_quality(items: Sequence[Raw]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    addresses = Counter(
        x["leadId"]["email"].strip().lower()
        for x in items
        if x.get("leadId") and x["leadId"].get("email") is not None
    )
    for x in items:
        lid = x["_id"]
        emails = x.get("emailsSent") or []
        replied = x.get("replied") is True
        at = parse(x.get("repliedAt"))
        status = x["status"]
        bounced = any(e.get("bounced") for e in emails)
        times = [t for e in emails if (t := parse(e.get("sentAt"))) is not None]
        if any(k > 1 for k in Counter(e["sequenceStep"] for e in emails).values()):
            found.add((lid, "duplicate_step_email"))
        person = x.get("leadId") or {}
        if person.get("email") is not None and addresses[person["email"].strip().lower()] > 1:
            found.add((lid, "duplicate_address"))
        if replied and at is not None and times and at < min(times):
            found.add((lid, "reply_before_first_send"))
        if replied and not emails:
            found.add((lid, "reply_without_email"))
        if replied and (status == "bounced" or bounced):
            found.add((lid, "reply_on_bounced"))
        if replied and at is None:
            found.add((lid, "replied_without_replied_at"))
        if not replied and at is not None:
            found.add((lid, "replied_at_without_replied"))
        if any(e.get("sentAt") is None for e in emails):
            found.add((lid, "email_without_sent_at"))
        timed = [(t, e["sequenceStep"]) for e in emails if (t := parse(e.get("sentAt")))]
        listed_badly = any(b[0] < a[0] for a, b in pairwise(timed))
        by_time = sorted(timed)
        inverted = any(b[1] < a[1] for a, b in pairwise(by_time))
        if listed_badly or inverted:
            found.add((lid, "emails_out_of_order"))
        current = x.get("currentSequenceStep")
        if current is not None and (
            (emails and current < max(e["sequenceStep"] for e in emails))
            or (not emails and current > 0)
        ):
            found.add((lid, "current_step_inconsistent"))
        if (
            (status == "pending" and emails)
            or (status == "bounced" and not bounced)
            or (status == "replied" and not replied)
            or (status in ("active", "paused", "pending") and bounced)
        ):
            found.add((lid, "status_inconsistent"))
    return found


def found_set(findings: pl.DataFrame) -> set[tuple[str, str]]:
    return set(findings.select("id", "check").iter_rows())


def curve_rows(curve: pl.DataFrame, group: str = "all") -> list[Raw]:
    return curve.filter(pl.col("group") == group).sort("day").to_dicts()


def assert_curve_matches(got: list[Raw], want: list[Raw]) -> None:
    assert [r["day"] for r in got] == [r["day"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert (g["at_risk"], g["replied_events"], g["censored"]) == (
            w["at_risk"],
            w["replied_events"],
            w["censored"],
        ), g["day"]
        assert g["cumulative_share"] == pytest.approx(float(w["share"]), abs=1e-12)
        for side in ("ci_low", "ci_high"):
            if w[side] is None:
                assert g[side] is None
            else:
                assert g[side] == pytest.approx(w[side], abs=1e-9)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def workspace() -> Any:
    return make_workspace()


@pytest.fixture(scope="module")
def demo(workspace: Any) -> tuple[list[Raw], pl.DataFrame]:
    """The demo workspace's leads of every campaign, raw and as one frame."""
    raw: list[Raw] = []
    frames = []
    for campaign in workspace.campaigns:
        items = workspace.leads[campaign["_id"]]
        raw.extend(items)
        frames.append(frame(items, campaign["_id"]))
    return raw, pl.concat(frames)


# ------------------------------------------------------------------ reply timing


def hand_items() -> list[Raw]:
    """Eight leads, observed until June 11 00:00 (the latest timestamp, lead 7's send).

    lead  first send       reply            enters the curve as
    1     Jun 1 00:00      Jun 1 12:00      event, day 1 (0.5 d -> ceil 1)
    2     Jun 1 00:00      Jun 3 00:00      event, day 2 (exactly 2.0 d)
    3     Jun 1 00:00      -                censored, day 10
    4     Jun 5 00:00      Jun 8 06:00      event, day 4 (3.25 d)
    5     Jun 9 00:00      -                censored, day 2
    6     Jun 2 00:00      Jun 1 00:00      excluded: reply before first send
    7     Jun 11 00:00     -                censored, day 0
    8     Jun 2 00:00      replied, no time excluded: reply time unknown
    9     -                -                not contacted (no email)
    """
    return [
        item(1, [mail(0, ts(1), "A")], status="replied", replied=True, replied_at=ts(1, 12)),
        item(2, [mail(0, ts(1), "B")], status="replied", replied=True, replied_at=ts(3)),
        item(3, [mail(0, ts(1), "A"), mail(2, ts(4), "A")]),
        item(4, [mail(0, ts(5), "A")], status="replied", replied=True, replied_at=ts(8, 6)),
        item(5, [mail(0, ts(9), "B")]),
        item(6, [mail(0, ts(2), "A")], status="replied", replied=True, replied_at=ts(1)),
        item(7, [mail(0, ts(11))]),
        item(8, [mail(0, ts(2), "B")], status="replied", replied=True, replied_at=None),
        item(9, [], status="pending"),
    ]


def test_reply_times_hand_computed() -> None:
    times = reply_times(frame(hand_items()))
    got = {r["id"][-1]: (r["event"], r["day"], r["excluded"]) for r in times.to_dicts()}
    assert got == {
        "1": (True, 1, None),
        "2": (True, 2, None),
        "3": (False, 10, None),
        "4": (True, 4, None),
        "5": (False, 2, None),
        "6": (False, None, "reply_before_first_send"),
        "7": (False, 0, None),
        "8": (False, None, "reply_time_unknown"),
    }
    days = dict(zip(times["id"].str.slice(-1), times["days_to_reply"], strict=True))
    assert days["1"] == 0.5 and days["4"] == 3.25 and days["6"] == -1.0 and days["8"] is None


def test_reply_curve_hand_computed() -> None:
    curve = reply_curve(frame(hand_items()))
    rows = curve_rows(curve)
    # 6 leads on the curve: events on days 1, 2, 4; censored on days 0, 2, 10.
    table = [(r["day"], r["at_risk"], r["replied_events"], r["censored"]) for r in rows]
    assert table[:5] == [(0, 6, 0, 1), (1, 5, 1, 0), (2, 4, 1, 1), (3, 2, 0, 0), (4, 2, 1, 0)]
    assert table[5:] == [(d, 1, 0, 0) for d in range(5, 10)] + [(10, 1, 0, 1)]
    shares = [r["cumulative_share"] for r in rows]
    # S(1) = 4/5, S(2) = 4/5 * 3/4 = 3/5, S(4) = 3/5 * 1/2 = 3/10
    assert shares[:5] == pytest.approx([0.0, 0.2, 0.4, 0.4, 0.7])
    assert shares[-1] == pytest.approx(0.7)
    # Greenwood at day 1: 1 / (5 * 4); log-log band around S = 0.8.
    z = NormalDist().inv_cdf(0.975)
    se = math.sqrt(1 / 20) / abs(math.log(0.8))
    assert rows[1]["ci_low"] == pytest.approx(1 - 0.8 ** math.exp(-z * se))
    assert rows[1]["ci_high"] == pytest.approx(1 - 0.8 ** math.exp(z * se))
    assert rows[1]["ci_low"] < 0.2 < rows[1]["ci_high"]

    summary = reply_timing_summary(frame(hand_items())).row(0, named=True)
    times = reply_times(frame(hand_items())).filter("event")["days_to_reply"].to_list()
    assert len(times) == 3
    assert summary == {
        "group": "all",
        "contacted": 8,
        "on_curve": 6,
        "replied": 3,
        "censored": 3,
        "excluded_reply_before_send": 1,
        "excluded_reply_time_unknown": 1,
        "excluded_send_time_unknown": 0,
        "share_replied": pytest.approx(0.7),
        "median_days": 4,
        # Day 7 lies between the last reply (day 4) and the end of the curve (day 10).
        "within_days": 7,
        "replied_within": pytest.approx(0.7),
        "replied_within_low": rows[7]["ci_low"],
        "replied_within_high": rows[7]["ci_high"],
        "median_days_replied": pytest.approx(statistics.median(times)),
        "as_of": datetime(2025, 6, 11, tzinfo=UTC),  # lead 7's send, the latest timestamp
    }

    # Another window reads the curve on that day: day 1 has one reply of five at risk.
    def within(days: int) -> object:
        return reply_timing_summary(frame(hand_items()), within_days=days)["replied_within"][0]

    assert within(1) == pytest.approx(0.2)
    # The curve stops on day 10: nothing is known about a 30-day window.
    assert within(30) is None
    for bad in (-1, 1.5, True, "7"):
        with pytest.raises(BadRequestError, match="within_days"):
            reply_timing_summary(frame(hand_items()), within_days=bad)  # type: ignore[arg-type]


def test_reply_curve_by_variant_and_campaign_hand_computed() -> None:
    leads = frame(hand_items())
    by_variant = reply_curve(leads, by="variant")
    assert sorted(by_variant["group"].unique()) == ["(none)", "A", "B"]
    a = curve_rows(by_variant, "A")  # leads 1, 3, 4: events day 1 and 4, censored day 10
    assert [(r["day"], r["at_risk"], r["replied_events"]) for r in a[:5]] == [
        (0, 3, 0),
        (1, 3, 1),
        (2, 2, 0),
        (3, 2, 0),
        (4, 2, 1),
    ]
    assert a[4]["cumulative_share"] == pytest.approx(1 - (2 / 3) * (1 / 2))
    summary = {r["group"]: r for r in reply_timing_summary(leads, by="variant").to_dicts()}
    assert summary["A"]["excluded_reply_before_send"] == 1
    assert summary["B"]["excluded_reply_time_unknown"] == 1
    assert summary["(none)"]["median_days"] is None  # lead 7 alone, never replied
    assert summary["A"]["median_days"] == 4  # share 1/3 on day 1, 2/3 on day 4
    other = frame([item(20, [mail(0, ts(1))], replied=True, replied_at=ts(2))], "c2")
    by_campaign = reply_curve(pl.concat([leads, other]), by="campaign")
    assert set(by_campaign["group"]) == {CAMPAIGN, "c2"}
    assert curve_rows(by_campaign, CAMPAIGN) == [
        {**r, "group": CAMPAIGN} for r in curve_rows(reply_curve(leads))
    ]


def test_median_exactly_half_and_never() -> None:
    # Two leads, one replies on day 1: the share is exactly 1/2 from day 1.
    half = [
        item(1, [mail(0, ts(1))], replied=True, replied_at=ts(2)),
        item(2, [mail(0, ts(1))]),
        item(3, [mail(0, ts(1))]),
        item(4, [mail(0, ts(1))], replied=True, replied_at=ts(3)),
    ]
    assert reply_timing_summary(frame(half[:2]))["median_days"].to_list() == [1]
    # 1 - (3/4)(2/3) = 1/2 exactly, though the float product may land a hair off.
    assert reply_timing_summary(frame(half))["median_days"].to_list() == [2]
    assert reply_timing_summary(frame(half[1:3]))["median_days"].to_list() == [None]


def test_as_of_censors_later_replies_and_drops_later_sends() -> None:
    items = [
        item(1, [mail(0, ts(1))], replied=True, replied_at=ts(6)),
        item(2, [mail(0, ts(1))], replied=True, replied_at=ts(2)),
        item(3, [mail(0, ts(8))]),  # first email after as_of: not contacted yet
    ]
    as_of = datetime(2025, 6, 4, 12, tzinfo=UTC)
    times = reply_times(frame(items), as_of=as_of)
    assert times["id"].to_list() == [items[0]["_id"], items[1]["_id"]]
    assert times.select("event", "day").rows() == [(False, 3), (True, 1)]
    # A naive as_of is UTC.
    naive = reply_times(frame(items), as_of=as_of.replace(tzinfo=None))
    assert naive.equals(times)
    expected = py_reply_times(items, as_of)
    assert {k: (v["event"], v["day"]) for k, v in expected.items()} == {
        r["id"]: (r["event"], r["day"]) for r in times.to_dicts()
    }


def test_reply_times_match_plain_python_on_demo(demo: tuple[list[Raw], pl.DataFrame]) -> None:
    raw, leads = demo
    want = py_reply_times(raw)
    got = {r["id"]: r for r in reply_times(leads).to_dicts()}
    assert got.keys() == want.keys()
    for lead_id, w in want.items():
        g = got[lead_id]
        assert (g["variant"], g["event"], g["day"], g["excluded"]) == (
            w["variant"],
            w["event"],
            w["day"],
            w["excluded"],
        ), lead_id
        if w["days_to_reply"] is None:
            assert g["days_to_reply"] is None
        else:
            assert g["days_to_reply"] == pytest.approx(w["days_to_reply"], abs=1e-9)
    reasons = Counter(w["excluded"] for w in want.values())
    assert reasons["reply_before_first_send"] >= 1  # the demo plants them; they must show
    assert reasons["reply_time_unknown"] >= 1


def test_reply_curve_matches_plain_python_km_on_demo(
    demo: tuple[list[Raw], pl.DataFrame],
) -> None:
    raw, leads = demo
    want = py_reply_times(raw)
    on_curve = [w for w in want.values() if w["excluded"] is None]
    assert_curve_matches(
        curve_rows(reply_curve(leads)), py_km((w["day"], w["event"]) for w in on_curve)
    )
    by_variant = reply_curve(leads, by="variant", confidence=0.9)
    z90 = NormalDist().inv_cdf(0.95)
    groups = defaultdict(list)
    for w in on_curve:
        groups[w["variant"] or "(none)"].append((w["day"], w["event"]))
    assert set(by_variant["group"]) == set(groups)
    for group, times in groups.items():
        assert_curve_matches(curve_rows(by_variant, group), py_km(times, z90))

    summary = reply_timing_summary(leads).row(0, named=True)
    reasons = Counter(w["excluded"] for w in want.values())
    assert summary["contacted"] == len(want)
    assert summary["on_curve"] == len(on_curve)
    assert summary["replied"] == sum(w["event"] for w in on_curve)
    assert summary["excluded_reply_before_send"] == reasons["reply_before_first_send"]
    assert summary["excluded_reply_time_unknown"] == reasons["reply_time_unknown"]
    share = [r["share"] for r in py_km((w["day"], w["event"]) for w in on_curve)]
    median = next((d for d, s in enumerate(share) if s >= Fraction(1, 2)), None)
    assert summary["median_days"] == median
    # Cold email: the curve never reaches 50%, so the headline numbers are these two instead.
    assert median is None
    assert summary["replied_within"] == pytest.approx(float(share[7]))
    replies = [w["days_to_reply"] for w in on_curve if w["event"]]
    assert summary["median_days_replied"] == pytest.approx(statistics.median(replies))


def test_reply_timing_edge_cases() -> None:
    empty = pl.DataFrame(schema=LEADS_SCHEMA)
    for result in (reply_times(empty), reply_curve(empty), reply_timing_summary(empty)):
        assert result.height == 0
    assert reply_curve(empty).columns == [
        "group",
        "day",
        "at_risk",
        "replied_events",
        "censored",
        "cumulative_share",
        "ci_low",
        "ci_high",
        "confidence",
    ]
    pending = frame([item(i, [], status="pending") for i in range(3)])
    assert reply_curve(pending).height == 0
    assert reply_timing_summary(pending).height == 0
    silent = frame([item(i, [mail(0, ts(1 + i))]) for i in range(3)])
    curve = reply_curve(silent)
    assert curve["cumulative_share"].to_list() == [0.0, 0.0, 0.0]
    assert curve["ci_low"].to_list() == [0.0, 0.0, 0.0]
    assert reply_timing_summary(silent)["median_days"].to_list() == [None]
    # Observed for two days at most: no 7-day share yet, and no reply to take a median of.
    assert reply_timing_summary(silent).select("replied_within", "median_days_replied").rows() == [
        (None, None)
    ]
    # Everybody replies on day 1: share 1, band undefined (null, never NaN).
    everyone = frame(
        [item(i, [mail(0, ts(1))], replied=True, replied_at=ts(1, 20)) for i in range(3)]
    )
    curve = reply_curve(everyone)
    assert curve["cumulative_share"].to_list() == [0.0, 1.0]
    assert curve["ci_low"].to_list() == [0.0, None]
    # All bounced: contacted, never replied.
    bounced = frame(
        [item(i, [mail(0, ts(1), bounced=True)], status="bounced") for i in range(2)]
        + [item(9, [mail(0, ts(5))])]
    )
    summary = reply_timing_summary(bounced).row(0, named=True)
    assert summary["contacted"] == 3 and summary["replied"] == 0
    # An email without a time: contacted, not timeable.
    untimed = frame([item(1, [mail(0, None)]), item(2, [mail(0, ts(1))])])
    assert reply_timing_summary(untimed)["excluded_send_time_unknown"].to_list() == [1]


def test_reply_timing_rejects_bad_arguments() -> None:
    leads = frame(hand_items())
    with pytest.raises(BadRequestError, match="by="):
        reply_curve(leads, by="step")  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="confidence"):
        reply_curve(leads, confidence=95)
    with pytest.raises(BadRequestError, match="as_of"):
        reply_curve(leads, as_of="2025-06-01")  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="emails"):
        reply_curve(leads.drop("emails"))
    with pytest.raises(BadRequestError, match="DataFrame"):
        reply_times([1, 2])  # type: ignore[arg-type]


# ------------------------------------------------------------------ hypothesis strategies

_BASE = datetime(2025, 3, 1, tzinfo=UTC)


def _iso(minutes: int) -> str:
    return (_BASE + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


_minutes = st.integers(min_value=0, max_value=40 * 24 * 60)
_email = st.builds(
    lambda step, variant, at, o, c, b: mail(
        step, None if at is None else _iso(at), variant, opened=o, clicked=c, bounced=b
    ),
    st.sampled_from([0, 2, 4]),
    st.sampled_from([None, "A", "B"]),
    st.one_of(_minutes, _minutes, _minutes, _minutes, st.none()),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
_lead = st.fixed_dictionaries(
    {
        "emails": st.lists(_email, max_size=4),
        "status": st.sampled_from(LEAD_STATUSES),
        "replied": st.booleans(),
        "replied_at": st.one_of(st.none(), st.integers(-3 * 24 * 60, 45 * 24 * 60)),
        "ai_tag": st.sampled_from([None, "interested", "Meeting_Booked", "not_interested"]),
        "address": st.sampled_from(["a@x.com", "A@x.com ", "b@x.com", None, None, None]),
        "current": st.one_of(st.none(), st.integers(0, 6)),
        "deleted": st.booleans(),
    }
)


def _items(leads: list[Raw]) -> list[Raw]:
    out = []
    for n, spec in enumerate(leads):
        x = item(
            n,
            spec["emails"],
            status=spec["status"],
            replied=spec["replied"],
            replied_at=None if spec["replied_at"] is None else _iso(spec["replied_at"]),
            ai_tag=spec["ai_tag"],
            address=spec["address"] or f"lead{n}@example.com",
            current=spec["current"],
        )
        if spec["current"] is None:
            x["currentSequenceStep"] = None
        if spec["deleted"]:
            x["leadId"] = None
        out.append(x)
    return out


raw_leads = st.lists(_lead, max_size=25).map(_items)
_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(raw_leads)
def test_reply_curve_properties_and_plain_python(items: list[Raw]) -> None:
    leads = frame(items)
    curve = reply_curve(leads, by="variant")
    for _, group in curve.group_by("group"):
        group = group.sort("day")
        share = group["cumulative_share"].to_list()
        assert all(0.0 <= s <= 1.0 for s in share)
        assert all(b >= a - 1e-15 for a, b in pairwise(share))
        assert group["at_risk"].is_sorted(descending=True)
        for low, s, high in group.select("ci_low", "cumulative_share", "ci_high").iter_rows():
            if low is not None:
                assert 0.0 <= low <= s + 1e-12 <= high + 2e-12 <= 1.0 + 2e-12
    want = py_reply_times(items)
    on_curve = [(w["day"], w["event"]) for w in want.values() if w["excluded"] is None]
    assert_curve_matches(curve_rows(reply_curve(leads)), py_km(on_curve))


# ------------------------------------------------------------------ daily activity


def daily_dict(daily: pl.DataFrame) -> dict[str, list[int]]:
    return {
        r[0].isoformat(): list(r[1:])
        for r in daily.select(
            "date", "sent", "opened", "clicked", "bounced", "replied", "positive"
        ).iter_rows()
    }


def test_daily_activity_hand_computed() -> None:
    items = [
        item(1, [mail(0, ts(1, 9), opened=True), mail(2, ts(4, 23, 59), bounced=True)]),
        item(2, [mail(0, ts(1, 23)), mail(0, ts(2, 1), clicked=True)]),  # twice at step 0
        item(3, [mail(0, ts(2))], replied=True, replied_at=ts(6), ai_tag="Interested"),
        item(4, [mail(0, ts(2))], replied=True, replied_at=None, ai_tag="interested"),
        item(5, [mail(0, ts(2))], replied=False, replied_at=ts(6)),  # not a reply
    ]
    daily = daily_activity(frame(items))
    assert daily_dict(daily) == {
        "2025-06-01": [2, 1, 0, 0, 0, 0],
        "2025-06-02": [4, 0, 1, 0, 0, 0],
        "2025-06-03": [0, 0, 0, 0, 0, 0],
        "2025-06-04": [1, 0, 0, 1, 0, 0],
        "2025-06-05": [0, 0, 0, 0, 0, 0],
        "2025-06-06": [0, 0, 0, 0, 1, 1],
    }
    custom = daily_activity(frame(items), positive_tags=["not_interested"])
    assert custom["positive"].sum() == 0
    window = daily_activity(frame(items), start=date(2025, 5, 31), end=date(2025, 6, 2))
    assert window["date"].to_list() == [date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 2)]
    assert window["sent"].to_list() == [0, 2, 4]
    # A datetime bound counts at its UTC date.
    late_evening = datetime(2025, 6, 1, 22, tzinfo=timezone(timedelta(hours=-5)))
    assert daily_activity(frame(items), start=late_evening)["date"][0] == date(2025, 6, 2)
    with pytest.raises(BadRequestError, match="after end"):
        daily_activity(frame(items), start=date(2025, 6, 2), end=date(2025, 6, 1))
    with pytest.raises(BadRequestError, match="must be a date"):
        daily_activity(frame(items), start="2025-06-01")  # type: ignore[arg-type]


def test_daily_activity_matches_plain_python_on_demo(
    demo: tuple[list[Raw], pl.DataFrame], workspace: Any
) -> None:
    raw, leads = demo
    want = py_daily(raw)
    daily = daily_activity(leads)
    got = daily_dict(daily)
    assert {d: v for d, v in got.items() if any(v)} == dict(want)
    days = daily["date"].to_list()
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))]  # no gaps
    assert (min(want), max(want)) == (days[0].isoformat(), days[-1].isoformat())

    per_campaign = daily_activity(leads, by_campaign=True)
    # Every campaign with leads gets the same days (the empty archived one has no rows at all).
    assert per_campaign.height == len(days) * leads["campaign_id"].n_unique()
    for campaign in workspace.campaigns:
        mine = per_campaign.filter(pl.col("campaign_id") == campaign["_id"])
        expected = py_daily(workspace.leads[campaign["_id"]])
        assert {d: v for d, v in daily_dict(mine.drop("campaign_id")).items() if any(v)} == dict(
            expected
        )


@_settings
@given(raw_leads)
def test_daily_sums_equal_totals(items: list[Raw]) -> None:
    daily = daily_activity(frame(items))
    sends = [e for x in items for e in x["emailsSent"] if e["sentAt"] is not None]
    assert daily["sent"].sum() == len(sends)
    assert daily["opened"].sum() == sum(e["opened"] for e in sends)
    assert daily["bounced"].sum() == sum(e["bounced"] for e in sends)
    assert daily["replied"].sum() == sum(
        1 for x in items if x["replied"] and x["repliedAt"] is not None
    )
    assert daily_dict(daily) == {
        d: v for d, v in {**{d: [0] * 6 for d in daily_dict(daily)}, **py_daily(items)}.items()
    }


def test_daily_activity_edge_cases() -> None:
    empty = daily_activity(pl.DataFrame(schema=LEADS_SCHEMA))
    assert empty.height == 0 and empty.columns[0] == "date"
    assert daily_activity(frame([item(1, [], status="pending")])).height == 0
    window = daily_activity(
        frame([item(1, [], status="pending")]), start=date(2025, 6, 1), end=date(2025, 6, 2)
    )
    assert window["sent"].to_list() == [0, 0]
    all_bounced = daily_activity(
        frame([item(i, [mail(0, ts(1 + i), bounced=True)], status="bounced") for i in range(3)])
    )
    assert all_bounced["bounced"].to_list() == all_bounced["sent"].to_list() == [1, 1, 1]
    assert all_bounced["replied"].sum() == 0


# ------------------------------------------------------------------ quality


def planted_items() -> list[Raw]:
    """One lead per check (plus a clean one), each failing exactly the named check."""
    ok = [mail(0, ts(1))]
    return [
        item(1, ok),  # clean
        item(2, [mail(0, ts(1)), mail(0, ts(2))], current=1),  # duplicate_step_email
        item(3, ok, address="Dup@Example.com"),  # duplicate_address (with 4)
        item(4, ok, address=" dup@example.com"),
        item(5, ok, status="replied", replied=True, replied_at=ts(1, 0, 0, month=5), current=0),
        item(6, [], status="replied", replied=True, replied_at=ts(2), current=0),
        item(7, [mail(0, ts(1), bounced=True)], status="bounced", replied=True, replied_at=ts(2)),
        item(8, ok, status="replied", replied=True, replied_at=None, current=0),
        item(9, ok, replied=False, replied_at=ts(3)),
        item(10, [mail(0, None)]),
        item(11, [mail(0, ts(3)), mail(2, ts(1))]),  # listed late-first, step 2 before step 0
        item(12, ok, current=0, status="completed"),  # clean: current step may stay put
        item(13, [mail(0, ts(1)), mail(2, ts(5))], current=1),  # current_step behind
        item(14, ok, status="pending"),  # status_inconsistent
    ]


def test_quality_planted_findings() -> None:
    items = planted_items()
    findings = quality(frame(items))
    number = {x["_id"]: int(x["_id"][4:], 16) for x in items}
    got = {(number[r["id"]], r["check"]) for r in findings.to_dicts()}
    expected = {
        (2, "duplicate_step_email"),
        (3, "duplicate_address"),
        (4, "duplicate_address"),
        (5, "reply_before_first_send"),
        (6, "reply_without_email"),
        (7, "reply_on_bounced"),
        (8, "replied_without_replied_at"),
        (9, "replied_at_without_replied"),
        (10, "email_without_sent_at"),
        (11, "emails_out_of_order"),
        (13, "current_step_inconsistent"),
        (14, "status_inconsistent"),
    }
    assert got == expected  # leads 1 and 12 are clean
    assert {c for _, c in expected} == set(QUALITY_CHECKS)  # every check exercised
    details = dict(zip(findings["check"], findings["detail"], strict=True))
    assert details["duplicate_step_email"] == "step 0 sent 2 times"
    assert details["duplicate_address"] == "dup@example.com shared by 2 leads"
    assert details["reply_before_first_send"] == (
        "replied 2025-05-01T00:00:00.000Z, first email 2025-06-01T00:00:00.000Z"
    )
    assert details["emails_out_of_order"] == (
        "emailsSent is not in time order; step 2 was sent before step 0"
    )
    assert details["current_step_inconsistent"] == (
        "current step 1 is behind the last step sent (2)"
    )
    assert details["status_inconsistent"] == "status pending, but 1 email(s) sent"
    # Findings come sorted by check, in QUALITY_CHECKS order.
    order = list(QUALITY_CHECKS)
    assert findings["check"].to_list() == sorted(findings["check"], key=order.index)


def test_quality_matches_plain_python_on_demo(
    demo: tuple[list[Raw], pl.DataFrame], workspace: Any
) -> None:
    _, leads = demo
    want: set[tuple[str, str]] = set()
    for campaign in workspace.campaigns:
        want |= py_quality(workspace.leads[campaign["_id"]])
    findings = quality(leads)
    assert found_set(findings) == want
    checks = Counter(c for _, c in want)
    # The demo plants these; a regression that hides them must fail here.
    assert checks["reply_before_first_send"] >= 1
    assert checks["reply_without_email"] >= 1
    assert checks["replied_without_replied_at"] >= 1


@_settings
@given(raw_leads)
def test_quality_properties_and_plain_python(items: list[Raw]) -> None:
    leads = frame(items)
    findings = quality(leads)
    assert found_set(findings) == py_quality(items)
    # Every finding references a real lead, with that lead's campaign and address.
    real = {r["id"]: (r["campaign_id"], r["email"]) for r in leads.to_dicts()}
    for r in findings.to_dicts():
        assert real[r["id"]] == (r["campaign_id"], r["email"])
        assert r["check"] in QUALITY_CHECKS and r["detail"]


def test_quality_edge_cases() -> None:
    assert quality(pl.DataFrame(schema=LEADS_SCHEMA)).columns == [
        "campaign_id",
        "id",
        "email",
        "check",
        "detail",
    ]
    assert quality(pl.DataFrame(schema=LEADS_SCHEMA)).height == 0
    assert quality(frame([item(i, [], status="pending") for i in range(3)])).height == 0
    all_bounced = frame(
        [item(i, [mail(0, ts(1), bounced=True)], status="bounced") for i in range(3)]
    )
    assert quality(all_bounced).height == 0


# ------------------------------------------------------------------ reconcile


def py_analytics(items: Sequence[Raw], campaign_id: str) -> Raw:
    """What a consistent API would answer, counted from the raw leads (emails, as the API)."""
    steps: dict[tuple[int, str | None], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for x in items:
        for e in x["emailsSent"]:
            row = steps[(e["sequenceStep"], e["variant"])]
            row[0] += 1
            row[1] += e["opened"]
            row[2] += e["clicked"]
            row[3] += e["bounced"]
    return {
        "campaign": {"id": campaign_id, "name": "x", "status": "active", "startedAt": None},
        "stepAnalytics": [
            {
                "_id": {"sequenceStep": s, "variant": v},
                **dict(zip(("sent", "opened", "clicked", "bounced"), c, strict=True)),
            }
            for (s, v), c in steps.items()
        ],
        "statusBreakdown": dict(Counter(x["status"] for x in items)),
        "totalReplied": sum(1 for x in items if x["replied"]),
    }


def test_reconcile_agrees_with_consistent_analytics(workspace: Any) -> None:
    for campaign in workspace.campaigns:
        items = workspace.leads[campaign["_id"]]
        leads = frame(items, campaign["_id"])
        assert reconcile(leads, py_analytics(items, campaign["_id"])).height == 0
        # The demo server's own endpoint body agrees too.
        server = _analytics(campaign, items, None, None)
        assert reconcile(leads, server).height == 0
        everything = reconcile(leads, server, include_matches=True)
        assert (everything["difference"] == 0).all()
        sent = everything.filter(pl.col("what") == "sent")["from_api"].sum()
        assert sent == sum(len(x["emailsSent"]) for x in items)


def test_reconcile_reports_every_difference(workspace: Any) -> None:
    campaign = workspace.campaigns[0]
    cid = campaign["_id"]
    items = workspace.leads[cid]
    api = py_analytics(items, cid)
    first, dropped = api["stepAnalytics"][0], api["stepAnalytics"][1]
    first["opened"] += 3
    api["stepAnalytics"].remove(dropped)
    api["stepAnalytics"].append({"_id": {"sequenceStep": 9, "variant": "Z"}, "sent": 5})
    api["statusBreakdown"]["replied"] -= 1
    api["statusBreakdown"].pop("bounced", None)
    api["statusBreakdown"]["failed_extra"] = 2
    api["totalReplied"] += 4
    got = reconcile(frame(items, cid), {"success": True, "data": api})
    rows = {(r["what"], r["step"], r["variant"]): r for r in got.to_dicts()}
    key = first["_id"]
    assert rows[("opened", key["sequenceStep"], key["variant"])]["difference"] == -3
    d = dropped["_id"]
    ours = [e for x in items for e in x["emailsSent"]]
    dropped_sent = sum(
        1 for e in ours if (e["sequenceStep"], e["variant"]) == (d["sequenceStep"], d["variant"])
    )
    assert rows[("sent", d["sequenceStep"], d["variant"])]["from_api"] == 0
    assert rows[("sent", d["sequenceStep"], d["variant"])]["from_leads"] == dropped_sent
    assert rows[("sent", 9, "Z")]["difference"] == -5
    for what in ("opened", "clicked", "bounced"):  # absent counters: unknown, reported
        assert rows[(what, 9, "Z")]["from_api"] is None
        assert rows[(what, 9, "Z")]["difference"] is None
    assert rows[("status:replied", None, None)]["difference"] == 1
    bounced_leads = sum(1 for x in items if x["status"] == "bounced")
    assert rows[("status:bounced", None, None)]["from_leads"] == bounced_leads
    assert rows[("status:failed_extra", None, None)]["from_leads"] == 0
    assert rows[("total_replied", None, None)]["difference"] == -4
    assert set(got["campaign_id"]) == {cid}
    assert got.columns == [
        "campaign_id",
        "what",
        "step",
        "variant",
        "from_leads",
        "from_api",
        "difference",
    ]


def test_reconcile_step_stats_shape_and_errors(workspace: Any) -> None:
    campaign = workspace.campaigns[0]
    cid = campaign["_id"]
    items = workspace.leads[cid]
    leads = frame(items, cid)
    per_step: Counter[int] = Counter(e["sequenceStep"] for x in items for e in x["emailsSent"])
    step_stats = {
        "campaign": {"id": cid},
        "stepStats": [
            {"_id": s, "sent": n, "opened": 0, "clicked": 0, "bounced": 0}
            for s, n in per_step.items()
        ],
    }
    got = reconcile(leads, step_stats, include_matches=True)
    assert got.filter(pl.col("what") == "sent")["difference"].to_list() == [0] * len(per_step)
    assert got["variant"].null_count() == got.height
    # Leads of another campaign alongside are ignored; only another campaign is an error.
    other = frame([item(1, [mail(0, ts(1))])], "ffffffffffffffffffffffff")
    assert reconcile(pl.concat([leads, other]), py_analytics(items, cid)).height == 0
    with pytest.raises(BadRequestError, match="campaign"):
        reconcile(other, py_analytics(items, cid))
    with pytest.raises(BadRequestError, match="stepAnalytics"):
        reconcile(leads, {"stats": {}})
    with pytest.raises(BadRequestError, match="not a number"):
        reconcile(leads, {"stepAnalytics": [{"_id": {"sequenceStep": 0}, "sent": "many"}]})
    with pytest.raises(BadRequestError, match="dict"):
        reconcile(leads, [])  # type: ignore[arg-type]
    empty = pl.DataFrame(schema=LEADS_SCHEMA)
    no_sends = reconcile(empty, {"stepAnalytics": [], "statusBreakdown": {}, "totalReplied": 0})
    assert no_sends.height == 0
