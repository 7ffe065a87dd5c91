"""Time windows (``since=`` / ``until=``) against plain Python over the raw demo JSON.

The raw campaign-lead dicts are fetched over HTTP from a demo server, page by page with
``requests``, exactly as the API serves them; the frames under test are loaded from the same
server by the real client. The expected numbers follow the text of ``DEFINITIONS`` (the window
rules), never the polars code. The demo workspace already holds leads with no emails, replies
before the first send and replies without a time; a few resends (two emails at one step) are
added to it before the server starts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
import requests

import sendkit_nb as sk
import sendkit_nb.metrics as m
from sendkit_nb import BadRequestError, SendKitError
from sendkit_nb._present import describe_window
from sendkit_nb._schema import LEADS_SCHEMA
from sendkit_nb.demo import DemoServer, make_workspace

Raw = dict[str, Any]
POSITIVE = {"interested", "meeting_booked"}
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------- the data


def _add_resends(ws: Any) -> int:
    """Give some delivered leads a second email at their first step, a day after the first
    (a resend), so a step holds two emails of one lead. Returns how many were added."""
    added = 0
    for campaign in ws.campaigns:
        for item in ws.leads[campaign["_id"]][::37]:
            sent = item.get("emailsSent") or []
            first_sent = ts(sent[0].get("sentAt")) if sent else None
            if len(sent) >= 2 and first_sent is not None:
                again = dict(sent[0])
                again["sentAt"] = iso(first_sent + timedelta(days=1))
                again["opened"] = not again.get("opened")
                sent.insert(1, again)
                added += 1
    return added


@pytest.fixture(scope="module")
def window_server() -> Iterator[DemoServer]:
    ws = make_workspace(seed=11, sizes=[600, 400, 300, 120])
    assert _add_resends(ws) > 5
    with DemoServer(ws) as server:
        yield server


def _raw_pages(server: DemoServer, path: str) -> list[Raw]:
    """Every item of a paginated list, page by page, as the API sends it."""
    items: list[Raw] = []
    page = 1
    while True:
        resp = requests.get(
            server.url + path,
            params={"page": page, "limit": 100},
            headers={"X-Api-Key": server.api_key},
            timeout=10,
        )
        resp.raise_for_status()
        body = resp.json()
        items += body["data"]
        if page >= body["pagination"]["pages"]:
            return items
        page += 1


@pytest.fixture(scope="module")
def raw(window_server: DemoServer) -> dict[str, list[Raw]]:
    campaigns = _raw_pages(window_server, "/v1/campaigns")
    return {
        c["_id"]: _raw_pages(window_server, f"/v1/campaigns/{c['_id']}/leads") for c in campaigns
    }


@pytest.fixture(scope="module")
def leads(window_server: DemoServer, raw: dict[str, list[Raw]]) -> pl.DataFrame:
    with sk.SendKitClient(window_server.api_key, base_url=window_server.url) as client:
        frames = [sk.load_leads(client, cid, progress=False) for cid in raw]
    return pl.concat(frames)


# ------------------------------------------------------------ the independent computation


def ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(value: datetime | None) -> str:
    assert value is not None
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def emails(item: Raw) -> list[Raw]:
    return [
        {
            "step": e.get("sequenceStep"),
            "variant": e.get("variant"),
            "sent_at": ts(e.get("sentAt")),
            "opened": bool(e.get("opened")),
            "clicked": bool(e.get("clicked")),
            "bounced": bool(e.get("bounced")),
        }
        for e in item.get("emailsSent") or []
    ]


def attributed_email(item: Raw) -> Raw | None:
    """The email a reply is attributed to (last touch over *all* the lead's emails), or None."""
    replied_at = ts(item.get("repliedAt"))
    candidates = [
        (i, e)
        for i, e in enumerate(emails(item))
        if not e["bounced"]
        and (replied_at is None or (e["sent_at"] is not None and e["sent_at"] <= replied_at))
    ]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda c: (
            c[1]["sent_at"] is not None,
            c[1]["sent_at"] or EPOCH,
            c[1]["step"] is not None,
            c[1]["step"] or 0,
            c[0],
        ),
    )[1]


class Win:
    def __init__(self, start: datetime | None, end: datetime | None) -> None:
        self.start, self.end = start, end

    def __contains__(self, t: datetime | None) -> bool:
        if t is None:
            return False
        return (self.start is None or t >= self.start) and (self.end is None or t < self.end)


def reply_in(item: Raw, win: Win) -> bool:
    """DEFINITIONS: a reply is placed at the send time of its attributed email, else at its own
    repliedAt."""
    if not item.get("replied"):
        return False
    touch = attributed_email(item)
    return (touch["sent_at"] if touch is not None else ts(item.get("repliedAt"))) in win


def positive(item: Raw) -> bool:
    tag = item.get("aiTag")
    return bool(item.get("replied")) and tag is not None and tag.lower() in POSITIVE


def ref_funnel(raw: dict[str, list[Raw]], win: Win) -> dict[tuple[Any, ...], dict[str, int]]:
    sets: dict[tuple[Any, ...], dict[str, set[Any]]] = defaultdict(
        lambda: {k: set() for k in ("sent", "delivered", "opened", "clicked")}
    )
    replies: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for cid, items in raw.items():
        for n, item in enumerate(items):
            for e in emails(item):
                if e["sent_at"] not in win:
                    continue
                s = sets[(cid, e["step"])]
                s["sent"].add(n)
                if not e["bounced"]:
                    s["delivered"].add(n)
                    if e["opened"]:
                        s["opened"].add(n)
                    if e["clicked"]:
                        s["clicked"].add(n)
            touch = attributed_email(item) if item.get("replied") else None
            if touch is not None and touch["sent_at"] in win:
                replies[(cid, touch["step"])][0] += 1
                replies[(cid, touch["step"])][1] += positive(item)
    out = {}
    for key, s in sets.items():
        row = {k: len(v) for k, v in s.items()}
        row["replied"], row["positive"] = replies.get(key, (0, 0))
        out[key] = row
    assert set(replies) <= set(sets)
    return out


def ref_headline(raw: dict[str, list[Raw]], win: Win) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for cid, items in raw.items():
        row = out.setdefault(cid, defaultdict(int))
        for item in items:
            inside = [e for e in emails(item) if e["sent_at"] in win]
            delivered = [e for e in inside if not e["bounced"]]
            replied = reply_in(item, win)
            row["leads"] += 1
            row["contacted"] += bool(inside)
            row["delivered"] += bool(delivered)
            row["bounced"] += bool(inside) and not delivered
            row["opened"] += any(e["opened"] for e in delivered)
            row["clicked"] += any(e["clicked"] for e in delivered)
            row["replied"] += replied and bool(inside)
            row["positive"] += replied and bool(inside) and positive(item)
            row["unattributed"] += replied and attributed_email(item) is None
            row["unattributed_replies"] += replied and not inside
    return out


def latest(raw: dict[str, list[Raw]]) -> datetime:
    stamps: list[datetime] = [
        t
        for items in raw.values()
        for item in items
        for t in [ts(item.get("repliedAt")), *(e["sent_at"] for e in emails(item))]
        if t is not None
    ]
    return max(stamps)


# ------------------------------------------------------------------------------- tests


def test_the_data_has_the_edge_cases(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    items = [item for items in raw.values() for item in items]
    assert any(not item.get("emailsSent") for item in items)
    assert any(
        len({e["sequenceStep"] for e in item.get("emailsSent") or []})
        < len(item.get("emailsSent") or [])
        for item in items
    ), "no resend"
    before = [
        item
        for item in items
        if item.get("replied") and item.get("emailsSent") and attributed_email(item) is None
    ]
    assert before, "no reply before the first send"
    assert any(item.get("replied") and not item.get("emailsSent") for item in items)
    assert leads.height == len(items)


def windows(raw: dict[str, list[Raw]]) -> list[tuple[Any, Any, Win]]:
    """(since, until, the same window in plain Python) over the data's span."""
    end = latest(raw)
    mid = end - timedelta(days=10)
    day = (end - timedelta(days=20)).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [
        (mid, None, Win(mid, None)),
        (None, mid, Win(None, mid)),
        (day, day + timedelta(days=6), Win(midnight, midnight + timedelta(days=7))),
        (day.isoformat(), mid.isoformat(), Win(midnight, mid)),
        ("14d", "3d", Win(end - timedelta(days=14), end - timedelta(days=3))),
        # naive datetimes are UTC
        (mid.replace(tzinfo=None), None, Win(mid, None)),
    ]


def test_funnel_in_windows_matches_raw_json(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    for since, until, win in windows(raw):
        want = ref_funnel(raw, win)
        got = m.funnel(leads, segment="campaign_id", since=since, until=until)
        rows = {(r["campaign_id"], r["step"]): r for r in got.to_dicts()}
        assert set(rows) == set(want), (since, until)
        for key, expected in want.items():
            for column, value in expected.items():
                assert rows[key][column] == value, (since, until, key, column)
            assert rows[key]["bounced"] == expected["sent"] - expected["delivered"]


def test_variant_funnel_in_a_window_sums_to_the_funnel(
    raw: dict[str, list[Raw]], leads: pl.DataFrame
) -> None:
    since, until, _ = windows(raw)[2]
    steps = m.funnel(leads, since=since, until=until)
    variants = m.variant_funnel(leads, since=since, until=until)
    summed = variants.group_by("step").agg(pl.col("sent", "replied", "positive").sum()).sort("step")
    assert summed.rows() == steps.select("step", "sent", "replied", "positive").rows()


def test_headline_in_windows_matches_raw_json(
    raw: dict[str, list[Raw]], leads: pl.DataFrame
) -> None:
    for since, until, win in windows(raw):
        want = ref_headline(raw, win)
        got = {r["campaign_id"]: r for r in m.headline(leads, since=since, until=until).to_dicts()}
        assert set(got) == set(want)
        for cid, expected in want.items():
            for column, value in expected.items():
                assert got[cid][column] == value, (since, until, cid, column)
            row = got[cid]
            assert row["reply_rate"] == (
                row["replied"] / row["contacted"] if row["contacted"] else None
            )


def test_window_sums_hold(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    """Within a window: the steps' replies plus unattributed are every reply placed in it,
    which is also replied plus unattributed_replies."""
    for since, until, win in windows(raw):
        head = m.headline(leads, since=since, until=until)
        steps = m.funnel(leads, segment="campaign_id", since=since, until=until)
        for cid, items in raw.items():
            h = head.filter(pl.col("campaign_id") == cid).row(0, named=True)
            step_replies = steps.filter(pl.col("campaign_id") == cid)["replied"].sum()
            placed = sum(reply_in(item, win) for item in items)
            assert step_replies + h["unattributed"] == placed
            assert h["replied"] + h["unattributed_replies"] == placed


def test_a_window_over_everything_changes_nothing(leads: pl.DataFrame) -> None:
    since, until = date(2000, 1, 1), date(2100, 1, 1)
    assert m.funnel(leads, segment="campaign_id", since=since, until=until).equals(
        m.funnel(leads, segment="campaign_id")
    )
    assert m.headline(leads, since=since, until=until).equals(m.headline(leads))
    assert m.reply_curve(leads, since=since, until=until).equals(m.reply_curve(leads))
    # Undated replies cannot be placed in a window; every other one is counted.
    undated = leads.filter(pl.col("replied") & pl.col("replied_at").is_null()).height
    assert undated
    daily_all = m.daily_activity(leads)
    daily_wide = m.daily_activity(leads, since=since, until=until)
    assert daily_wide.equals(daily_all)


def test_a_reply_to_a_later_step_is_not_moved_into_the_window() -> None:
    """Attribution looks at every email: a reply to step 2, sent after the window, stays out
    of the window's step 1 (re-attributing it to step 1 would be wrong)."""

    def mail(step: int, day: int) -> dict[str, Any]:
        return {
            "step": step,
            "variant": None,
            "sent_at": datetime(2025, 6, day, 9, tzinfo=UTC),
            "opened": False,
            "clicked": False,
            "bounced": False,
        }

    frame = pl.DataFrame(
        [
            {
                "campaign_id": "c",
                "id": "1",
                "emails": [mail(0, 2), mail(2, 9)],
                "replied": True,
                "replied_at": datetime(2025, 6, 10, tzinfo=UTC),
                "ai_tag": "interested",
            },
            {
                "campaign_id": "c",
                "id": "2",
                "emails": [mail(0, 3)],
                "replied": True,
                "replied_at": datetime(2025, 6, 4, tzinfo=UTC),
                "ai_tag": None,
            },
            {"campaign_id": "c", "id": "3", "emails": [], "replied": False},
        ],
        schema=LEADS_SCHEMA,
    )
    first_week = (date(2025, 6, 1), date(2025, 6, 7))
    f = m.funnel(frame, since=first_week[0], until=first_week[1])
    assert f.select("step", "sent", "replied", "positive").rows() == [(0, 2, 1, 0)]
    h = m.headline(frame, since=first_week[0], until=first_week[1]).row(0, named=True)
    assert (h["leads"], h["contacted"], h["replied"], h["positive"]) == (3, 2, 1, 0)
    second = m.headline(frame, since="2025-06-08").row(0, named=True)
    assert (second["contacted"], second["replied"], second["positive"]) == (1, 1, 1)
    # The daily rows: the reply of lead 1 stays on June 10 (after the window's end is fine).
    d = m.daily_activity(frame, since=date(2025, 6, 8))
    assert d.filter(pl.col("replied") > 0)["date"].to_list() == [date(2025, 6, 10)]
    assert d["sent"].sum() == 1


def test_daily_activity_in_windows_matches_raw_json(
    raw: dict[str, list[Raw]], leads: pl.DataFrame
) -> None:
    for since, until, win in windows(raw):
        sends: dict[date, int] = defaultdict(int)
        replies: dict[date, int] = defaultdict(int)
        for items in raw.values():
            for item in items:
                for e in emails(item):
                    if e["sent_at"] in win:
                        sends[e["sent_at"].date()] += 1
                if reply_in(item, win) and item.get("repliedAt"):
                    replies[ts(item["repliedAt"]).date()] += 1  # type: ignore[union-attr]
        got = m.daily_activity(leads, since=since, until=until)
        assert {r["date"]: r["sent"] for r in got.to_dicts() if r["sent"]} == dict(sends)
        assert {r["date"]: r["replied"] for r in got.to_dicts() if r["replied"]} == dict(replies)


def test_reply_curve_in_windows_keeps_the_leads_first_emailed_in_them(
    raw: dict[str, list[Raw]], leads: pl.DataFrame
) -> None:
    end = latest(raw)
    for since, until, win in windows(raw):
        on_curve = events = 0
        for items in raw.values():
            for item in items:
                dated = [e["sent_at"] for e in emails(item) if e["sent_at"] is not None]
                if not dated or min(dated) not in win or min(dated) > end:
                    continue
                replied_at = ts(item.get("repliedAt"))
                if item.get("replied") and (replied_at is None or replied_at < min(dated)):
                    continue  # excluded from the curve, as without a window
                on_curve += 1
                events += bool(item.get("replied"))
        curve = m.reply_curve(leads, since=since, until=until)
        assert curve.filter(pl.col("day") == 0)["at_risk"].sum() == on_curve
        assert curve["replied_events"].sum() == events
        summary = m.reply_timing_summary(leads, since=since, until=until).row(0, named=True)
        assert (summary["on_curve"], summary["replied"]) == (on_curve, events)


def test_relative_windows_count_back_from_as_of(leads: pl.DataFrame) -> None:
    as_of = datetime(2025, 3, 31, 12, tzinfo=UTC)
    w = m.resolve_window("3m", "1w", as_of=as_of)
    assert w.start == datetime(2024, 12, 31, 12, tzinfo=UTC)  # calendar months
    assert w.end == as_of - timedelta(weeks=1)
    assert m.resolve_window("1mo", as_of=as_of).start == datetime(2025, 2, 28, 12, tzinfo=UTC)
    # By default the reference is the latest timestamp in the frame.
    latest_ts = m.latest_timestamp(leads)
    assert latest_ts is not None
    assert m.resolve_window("7d", leads=leads).start == latest_ts - timedelta(days=7)
    explicit = m.headline(leads, since=latest_ts - timedelta(days=7))
    assert m.headline(leads, since="7d").equals(explicit)
    # An explicit as_of (the store's pulled_at) moves the window.
    later = latest_ts + timedelta(days=7)
    assert m.headline(leads, since="14d", as_of=later).equals(explicit)


def test_window_bounds_as_dates_and_strings() -> None:
    w = m.resolve_window(date(2025, 6, 1), date(2025, 6, 30))
    assert (w.start, w.end) == (
        datetime(2025, 6, 1, tzinfo=UTC),
        datetime(2025, 7, 1, tzinfo=UTC),  # the until day is included whole
    )
    assert m.resolve_window("2025-06-01", "2025-06-30") == w
    s = m.resolve_window("2025-06-01T12:30:00Z", "2025-06-02T12:30:00+02:00")
    assert (s.start, s.end) == (
        datetime(2025, 6, 1, 12, 30, tzinfo=UTC),
        datetime(2025, 6, 2, 10, 30, tzinfo=UTC),
    )
    assert m.resolve_window().is_open
    assert describe_window(w).startswith("emails sent from 2025-06-01 UTC")


@pytest.mark.parametrize(
    ("since", "until", "words"),
    [
        ("7x", None, "cannot read since='7x'"),
        ("yesterday", None, "cannot read since='yesterday'"),
        (None, "2025-13-01", "cannot read until='2025-13-01'"),
        (7, None, "since= must be a datetime, a date or a string, got int"),
        (date(2025, 6, 2), date(2025, 6, 1), "the window is empty"),
        ("2025-06-02", "2025-06-01T00:00:00Z", "the window is empty"),
    ],
)
def test_bad_windows_are_clear_errors(
    leads: pl.DataFrame, since: Any, until: Any, words: str
) -> None:
    for fn in (m.funnel, m.headline, m.daily_activity, m.reply_curve, m.variant_funnel):
        with pytest.raises(BadRequestError) as caught:
            fn(leads, since=since, until=until)
        assert isinstance(caught.value, SendKitError)
        assert words in caught.value.message, caught.value.message
        assert fn.__name__ in caught.value.message
        assert "'7d'" in (caught.value.hint or "") or "since is the start" in (
            caught.value.hint or ""
        )


def test_as_of_must_be_a_datetime(leads: pl.DataFrame) -> None:
    with pytest.raises(BadRequestError, match="as_of must be a datetime"):
        m.headline(leads, since="7d", as_of="2025-06-01")  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="as_of must be a datetime"):
        m.funnel(leads, as_of=date(2025, 6, 1))  # type: ignore[arg-type]


def test_windows_on_empty_and_undated_frames() -> None:
    empty = pl.DataFrame(schema=LEADS_SCHEMA)
    for fn in (m.funnel, m.headline, m.daily_activity, m.reply_curve, m.variant_funnel):
        assert fn(empty, since="7d").height == 0
        assert fn(empty, since=date(2025, 6, 1), until="2025-06-08").height == 0
    never = pl.DataFrame(
        [
            {"campaign_id": "c", "id": "1", "emails": None, "replied": True, "replied_at": None},
            {"campaign_id": "c", "id": "2", "emails": [], "replied": False},
        ],
        schema=LEADS_SCHEMA,
    )
    h = m.headline(never, since=date(2025, 6, 1)).row(0, named=True)
    assert (h["leads"], h["contacted"], h["replied"], h["unattributed_replies"]) == (2, 0, 0, 0)
    # Without a window the undated reply of a lead never emailed is still reported.
    assert m.headline(never).row(0, named=True)["unattributed_replies"] == 1


def test_a_summary_in_a_window_is_the_windowed_metrics(leads: pl.DataFrame) -> None:
    from sendkit_nb._summary import SummaryOptions, complete, summarize

    campaign = leads.filter(pl.col("campaign_id") == leads["campaign_id"][0])
    latest_ts = m.latest_timestamp(campaign)
    assert latest_ts is not None
    start = latest_ts - timedelta(days=21)
    end = latest_ts - timedelta(days=7)
    options = SummaryOptions(statuses=("replied", "completed"), since="21d", until="7d")
    summary = summarize(campaign, None, options)
    # The relative window is resolved once, against the campaign before the status filter.
    assert (summary.options.since, summary.options.until) == (start, end)
    selected = summary.leads
    assert selected.height < campaign.height
    head = m.headline(selected, since=start, until=end).row(0, named=True)
    assert {k: summary.headline[k] for k in head} == head
    assert summary.funnel.equals(m.funnel(selected, since=start, until=end))
    assert summary.daily.equals(m.daily_activity(selected, since=start, until=end))
    curve = m.reply_curve(selected, by="variant", since=start, until=end)
    assert summary.reply_curve.equals(curve) or summary.reply_curve.equals(
        m.reply_curve(selected, since=start, until=end)
    )
    assert summary.timing is not None
    timing = m.reply_timing_summary(selected, since=start, until=end).row(0, named=True)
    assert summary.timing == timing
    assert summary.cohort_curves is not None
    assert summary.cohort_curves.equals(m.cohort_curves(selected, since=start, until=end))
    # Without a window the summary is the whole life, as before.
    whole = summarize(campaign, None, SummaryOptions(statuses=("replied", "completed")))
    assert whole.headline["contacted"] > summary.headline["contacted"]
    lean = summarize(campaign, None, options, details=False)
    assert lean.cohort_curves is None
    assert complete(lean).cohort_curves is not None
