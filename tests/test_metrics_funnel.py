"""The funnel metrics against an independent computation over the raw API JSON.

Every expected number here is computed in plain Python from the campaign-lead dicts exactly as the
API serves them (``emailsSent``, ``repliedAt``, ``aiTag`` ...), following the text of the
analytics contract, never from the polars code path. The frames under test are built from the
same dicts by the real loader (``leads_from_items``), so the loader and the metrics are checked
together.
"""

from __future__ import annotations

import doctest
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

import sendkit_nb.metrics as m
from sendkit_nb import BadRequestError
from sendkit_nb._frames import campaigns_frame, leads_from_items
from sendkit_nb._schema import LEAD_STATUSES, LEADS_SCHEMA
from sendkit_nb.demo import make_workspace
from sendkit_nb.metrics import (
    _ab,
    _breakdowns,
    _common,
    _compare,
    _definitions,
    _funnel,
    _headline,
    _labels,
    _stats,
)
from sendkit_nb.metrics import (
    _emails as emails_module,
)

Raw = dict[str, Any]
POSITIVE = {"interested", "meeting_booked"}
COUNTS = ("sent", "bounced", "delivered", "opened", "clicked", "replied", "positive")
RATES = ("bounce_rate", "open_rate", "click_rate", "reply_rate", "positive_rate")
EPOCH = datetime(2025, 6, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------- raw builders


def iso(minutes: int) -> str:
    return (EPOCH + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def raw_email(
    step: int,
    at: int | None,
    *,
    variant: str | None = None,
    opened: bool = False,
    clicked: bool = False,
    bounced: bool = False,
) -> Raw:
    return {
        "sequenceStep": step,
        "variant": variant,
        "sentAt": None if at is None else iso(at),
        "opened": opened,
        "clicked": clicked,
        "bounced": bounced,
    }


_counter = iter(range(10**9))


def raw_lead(
    emails: Sequence[Raw] = (),
    *,
    replied: bool = False,
    replied_at: int | None = None,
    ai_tag: str | None = None,
    status: str = "active",
    tags: Sequence[str] = (),
) -> Raw:
    n = next(_counter)
    return {
        "_id": f"{n:024x}",
        "leadId": {"_id": f"{n + 1:024x}", "email": f"l{n}@x.io", "firstName": "A"},
        "status": status,
        "currentSequenceStep": 0,
        "emailsSent": list(emails),
        "replied": replied,
        "repliedAt": None if replied_at is None else iso(replied_at),
        "aiTag": ai_tag,
        "tags": list(tags),
        "addedAt": iso(0),
    }


def frame_of(by_campaign: Mapping[str, Sequence[Raw]]) -> pl.DataFrame:
    """The real loader's frame for raw items of several campaigns."""
    frames = [leads_from_items(items, cid) for cid, items in by_campaign.items()]
    return pl.concat(frames) if frames else pl.DataFrame(schema=LEADS_SCHEMA)


# ------------------------------------------------------------ the independent computation


def _ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _emails(item: Raw) -> list[Raw]:
    return [
        {
            "step": e.get("sequenceStep"),
            "variant": e.get("variant"),
            "sent_at": _ts(e.get("sentAt")),
            "opened": bool(e.get("opened")),
            "clicked": bool(e.get("clicked")),
            "bounced": bool(e.get("bounced")),
        }
        for e in item.get("emailsSent") or []
    ]


NOT_REPLIED = object()


def ref_attribution(item: Raw) -> object:
    """(step, variant) of the email a reply is attributed to; None if unattributed;
    NOT_REPLIED for a lead that did not reply. Straight from the contract's wording."""
    if not item.get("replied"):
        return NOT_REPLIED
    replied_at = _ts(item.get("repliedAt"))
    candidates = [
        (i, e)
        for i, e in enumerate(_emails(item))
        if not e["bounced"]
        and (replied_at is None or (e["sent_at"] is not None and e["sent_at"] <= replied_at))
    ]
    if not candidates:
        return None
    # latest: by send time (an undated email is older than any dated one), then step, then
    # position in the list
    _, e = max(
        candidates,
        key=lambda c: (
            c[1]["sent_at"] is not None,
            c[1]["sent_at"] or EPOCH,
            c[1]["step"] is not None,
            c[1]["step"] or 0,
            c[0],
        ),
    )
    return (e["step"], e["variant"])


def ref_positive(item: Raw, positive: Iterable[str] = POSITIVE) -> bool:
    tag = item.get("aiTag")
    return (
        bool(item.get("replied"))
        and tag is not None
        and tag.lower() in {p.lower() for p in positive}
    )


def ref_segment(item: Raw, campaign_id: str, name: str) -> object:
    if name == "campaign_id":
        return campaign_id
    if name == "status":
        return item["status"]
    if name == "ai_tag":
        return item.get("aiTag")
    assert name.startswith("tag:")
    return name[4:] in (item.get("tags") or [])


def _rate(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def ref_funnel(
    by_campaign: Mapping[str, Sequence[Raw]],
    *,
    by: str = "step",
    segment: Sequence[str] = (),
    denominator: str = "delivered",
    positive: Iterable[str] = POSITIVE,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    sets: dict[tuple[Any, ...], dict[str, set[tuple[str, int]]]] = defaultdict(
        lambda: {k: set() for k in ("sent", "delivered", "opened", "clicked")}
    )
    replied: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for cid, items in by_campaign.items():
        for n, item in enumerate(items):
            seg = tuple(ref_segment(item, cid, s) for s in segment)
            who = (cid, n)
            for e in _emails(item):
                key = (*seg, e["step"], *([e["variant"]] if by == "variant" else []))
                sets[key]["sent"].add(who)
                if not e["bounced"]:
                    sets[key]["delivered"].add(who)
                    if e["opened"]:
                        sets[key]["opened"].add(who)
                    if e["clicked"]:
                        sets[key]["clicked"].add(who)
            where = ref_attribution(item)
            if isinstance(where, tuple):
                step, variant = where
                key = (*seg, step, *([variant] if by == "variant" else []))
                replied[key][0] += 1
                replied[key][1] += ref_positive(item, positive)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key, s in sets.items():
        row: dict[str, Any] = {k: len(v) for k, v in s.items()}
        row["bounced"] = row["sent"] - row["delivered"]
        row["replied"], row["positive"] = replied.get(key, (0, 0))
        base = {"delivered": "delivered", "sent": "sent", "opened": "opened"}[denominator]
        row["bounce_rate"] = _rate(row["bounced"], row["sent"])
        row["open_rate"] = _rate(row["opened"], row["sent" if base == "sent" else "delivered"])
        for rate, event in (("click", "clicked"), ("reply", "replied"), ("positive", "positive")):
            row[f"{rate}_rate"] = _rate(row[event], row[base])
        out[key] = row
    # every attributed reply sits on a step the lead was sent an email at
    assert set(replied) <= set(sets)
    return out


def ref_headline(
    by_campaign: Mapping[str, Sequence[Raw]],
    segment: Sequence[str] = (),
    positive: Iterable[str] = POSITIVE,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for cid, items in by_campaign.items():
        for item in items:
            key = (cid, *(ref_segment(item, cid, s) for s in segment if s != "campaign_id"))
            row = out.setdefault(
                key,
                dict.fromkeys(
                    (
                        "leads",
                        "contacted",
                        "delivered",
                        "bounced",
                        "opened",
                        "clicked",
                        "replied",
                        "positive",
                        "unattributed",
                        "unattributed_replies",
                    ),
                    0,
                ),
            )
            emails = _emails(item)
            delivered = [e for e in emails if not e["bounced"]]
            row["leads"] += 1
            row["contacted"] += bool(emails)
            row["delivered"] += bool(delivered)
            row["bounced"] += bool(emails) and not delivered
            row["opened"] += any(e["opened"] for e in delivered)
            row["clicked"] += any(e["clicked"] for e in delivered)
            # numerators count contacted leads only; a reply from a lead never emailed is
            # reported beside them
            row["replied"] += bool(emails) and bool(item.get("replied"))
            row["positive"] += bool(emails) and ref_positive(item, positive)
            row["unattributed"] += ref_attribution(item) is None
            row["unattributed_replies"] += not emails and bool(item.get("replied"))
    for row in out.values():
        for rate, events, over in (
            ("positive_rate", "positive", "contacted"),
            ("reply_rate", "replied", "contacted"),
            ("bounce_rate", "bounced", "contacted"),
            ("open_rate", "opened", "delivered"),
            ("click_rate", "clicked", "delivered"),
        ):
            row[rate] = _rate(row[events], row[over])
            row[f"{rate}_low"], row[f"{rate}_high"] = _ref_wilson(row[events], row[over])
        row["confidence"] = 0.95
        row["positive_tags"] = ", ".join(sorted(positive))
    return out


def _ref_wilson(events: int, n: int) -> tuple[float | None, float | None]:
    """The 95% Wilson interval as scipy computes it; None, None for an empty base or more
    events than the base (a rate over opens)."""
    if n == 0 or events > n:
        return None, None
    ci = sps.binomtest(events, n).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def keyed(frame: pl.DataFrame, keys: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = frame.to_dicts()
    out = {tuple(r[k] for k in keys): r for r in rows}
    assert len(out) == len(rows), "duplicate keys in a metrics frame"
    return out


def assert_rows_match(
    got: dict[tuple[Any, ...], dict[str, Any]],
    want: dict[tuple[Any, ...], dict[str, Any]],
    columns: Iterable[str],
) -> None:
    assert set(got) == set(want)
    for key, expected in want.items():
        for column in columns:
            g, w = got[key][column], expected[column]
            if w is None:
                assert g is None, (key, column, g)
            elif isinstance(w, str):
                assert g == w, (key, column, g, w)
            else:
                assert g == pytest.approx(w, rel=1e-12, abs=1e-15), (key, column, g, w)


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def workspace() -> Any:
    return make_workspace()


@pytest.fixture(scope="module")
def raw(workspace: Any) -> dict[str, list[Raw]]:
    return {c["_id"]: workspace.leads[c["_id"]] for c in workspace.campaigns}


@pytest.fixture(scope="module")
def leads(raw: dict[str, list[Raw]]) -> pl.DataFrame:
    return frame_of(raw)


@pytest.fixture(scope="module")
def campaigns(workspace: Any) -> pl.DataFrame:
    return campaigns_frame(workspace.campaigns)


def one(raw: dict[str, list[Raw]], index: int) -> dict[str, list[Raw]]:
    cid = list(raw)[index]
    return {cid: raw[cid]}


# ------------------------------------------------------------------- the demo workspace


@pytest.mark.parametrize("denominator", ["delivered", "sent", "opened"])
@pytest.mark.parametrize("by", ["step", "variant"])
def test_funnel_matches_raw_json_per_campaign(
    raw: dict[str, list[Raw]], by: str, denominator: str
) -> None:
    keys = ["campaign_id", "step", *(["variant"] if by == "variant" else [])]
    got = m.funnel(frame_of(raw), by, segment="campaign_id", denominator=denominator)  # type: ignore[arg-type]
    want = ref_funnel(raw, by=by, segment=["campaign_id"], denominator=denominator)
    assert_rows_match(keyed(got, keys), want, (*COUNTS, *RATES))
    assert set(got["denominator"]) == {denominator}
    # the demo data really exercises the numbers: replies, positives, bounces, A/B arms
    assert got["replied"].sum() > 100 and got["positive"].sum() > 20 and got["bounced"].sum() > 50
    if by == "variant":
        assert {"A", "B"} <= set(got["variant"].drop_nulls())


def test_pooled_funnel_of_one_campaign(raw: dict[str, list[Raw]]) -> None:
    single = one(raw, 0)
    got = keyed(m.funnel(frame_of(single)), ["step"])
    assert_rows_match(got, ref_funnel(single), (*COUNTS, *RATES))
    assert list(got) == sorted(got)


@pytest.mark.parametrize(
    "segment", ["status", "ai_tag", "tag:vip", ["campaign_id", "status"], ["tag:q3", "ai_tag"]]
)
def test_segmented_funnel_matches_raw_json(
    raw: dict[str, list[Raw]], segment: str | list[str]
) -> None:
    seg = [segment] if isinstance(segment, str) else segment
    got = m.funnel(frame_of(raw), segment=segment)
    assert got.columns[: len(seg) + 3] == [*seg, "step", "step_number", "step_label"]
    assert_rows_match(keyed(got, [*seg, "step"]), ref_funnel(raw, segment=seg), (*COUNTS, *RATES))
    if "tag:vip" in seg:
        assert got.schema["tag:vip"] == pl.Boolean and set(got["tag:vip"]) == {True, False}


def test_headline_matches_raw_json(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    got = m.headline(leads)
    want = ref_headline(raw)
    # the empty archived campaign has no leads, hence no row
    assert len(want) == sum(1 for items in raw.values() if items)
    assert_rows_match(
        keyed(got, ["campaign_id"]),
        want,
        [c for c in got.columns if c != "campaign_id"],
    )
    # the demo plants replies before any email: they are counted, not dropped
    assert got["unattributed"].sum() >= 3
    headline_rate = got["positive"] / got["contacted"]
    assert got["positive_rate"].drop_nulls().to_list() == headline_rate.drop_nans().to_list()


@pytest.mark.parametrize("segment", [["campaign_id", "status", "tag:vip"], ["ai_tag"]])
def test_headline_segmented(
    raw: dict[str, list[Raw]], leads: pl.DataFrame, segment: list[str]
) -> None:
    got = m.headline(leads, segment=segment)
    keys = list(dict.fromkeys(["campaign_id", *segment]))
    assert got.columns[: len(keys)] == keys
    want = ref_headline(raw, segment)
    assert_rows_match(keyed(got, keys), want, [c for c in got.columns if c not in keys])


def test_replies_are_attributed_or_unattributed(
    raw: dict[str, list[Raw]], leads: pl.DataFrame
) -> None:
    attribution = m.reply_attribution(leads)
    replied_items = [(cid, i) for cid, items in raw.items() for i in items if i.get("replied")]
    assert attribution.height == len(replied_items)
    got = {(r["campaign_id"], r["id"]): r for r in attribution.to_dicts()}
    for cid, item in replied_items:
        row = got[(cid, item["_id"])]
        where = ref_attribution(item)
        if where is None:
            assert row["attributed"] is False and row["step"] is None
        else:
            assert row["attributed"] is True and (row["step"], row["variant"]) == where
        assert row["positive"] == ref_positive(item)
    # step replies + unattributed == replied leads (contacted or not), per campaign
    steps = (
        m.funnel(leads, segment="campaign_id").group_by("campaign_id").agg(pl.col("replied").sum())
    )
    head = m.headline(leads).join(steps, on="campaign_id", how="left", suffix="_steps")
    every_reply = head["replied"] + head["unattributed_replies"]
    assert (head["replied_steps"].fill_null(0) + head["unattributed"] == every_reply).all()


def test_status_and_tag_counts(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    statuses = m.status_counts(leads)
    populated = [cid for cid, items in raw.items() if items]
    assert statuses.height == len(populated) * len(LEAD_STATUSES)
    got = {(r["campaign_id"], r["status"]): r for r in statuses.to_dicts()}
    for cid in populated:
        items = raw[cid]
        for status in LEAD_STATUSES:
            n = sum(1 for i in items if i["status"] == status)
            assert got[(cid, status)]["leads"] == n
            assert got[(cid, status)]["share"] == pytest.approx(n / len(items))
    tags = m.ai_tag_counts(leads)
    got_tags = {(r["campaign_id"], r["ai_tag"]): r for r in tags.to_dicts()}
    want: dict[tuple[str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for cid, items in raw.items():
        for i in items:
            want[(cid, i.get("aiTag"))][0] += 1
            want[(cid, i.get("aiTag"))][1] += bool(i.get("replied"))
    assert set(got_tags) == set(want)
    for key, (n, replied) in want.items():
        assert got_tags[key]["leads"] == n and got_tags[key]["replied"] == replied
        assert got_tags[key]["is_positive"] == (key[1] in POSITIVE)
    # most frequent first within a campaign
    for _, part in tags.group_by("campaign_id"):
        assert part["leads"].to_list() == sorted(part["leads"].to_list(), reverse=True)


def test_positive_tags_are_configurable(raw: dict[str, list[Raw]]) -> None:
    single = one(raw, 0)
    frame = frame_of(single)
    got = m.funnel(frame, positive_tags=["not_interested", "OUT_OF_OFFICE"])
    want = ref_funnel(single, positive={"not_interested", "out_of_office"})
    assert_rows_match(keyed(got, ["step"]), want, ["positive", "positive_rate"])
    head = m.headline(frame, positive_tags="meeting_booked")
    n = sum(ref_positive(i, {"meeting_booked"}) for i in next(iter(single.values())))
    assert head["positive"].to_list() == [n] and n > 0


# ------------------------------------------------------------------------- step labels


def expected_labels(campaign: Raw) -> dict[int, str]:
    email_steps = sorted(
        (s for s in campaign["sequence"] if s["type"] != "wait"), key=lambda s: s["order"]
    )
    return {s["order"]: f"Step {n} · {s['subject']}" for n, s in enumerate(email_steps, 1)}


def test_step_labels_from_the_campaigns_frame(
    workspace: Any, leads: pl.DataFrame, campaigns: pl.DataFrame
) -> None:
    got = m.funnel(leads, segment="campaign_id", sequence=campaigns)
    assert got.columns[:4] == ["campaign_id", "step", "step_number", "step_label"]
    by_id = {c["_id"]: expected_labels(c) for c in workspace.campaigns}
    for row in got.iter_rows(named=True):
        assert row["step_label"] == by_id[row["campaign_id"]][row["step"]]
    # the demo's step orders are 0, 2, 4 (waits take 1, 3) and read Step 1, 2, 3
    first = got.filter(pl.col("campaign_id") == workspace.campaigns[0]["_id"])
    assert first["step"].to_list() == [0, 2, 4]
    assert [s.split(" · ")[0] for s in first["step_label"]] == ["Step 1", "Step 2", "Step 3"]
    assert first["step_number"].to_list() == [1, 2, 3]


@pytest.mark.parametrize("source", ["dict", "sequence list", "campaign list", "frame"])
def test_step_labels_from_any_source(
    workspace: Any, raw: dict[str, list[Raw]], source: str
) -> None:
    campaign = workspace.campaigns[0]
    sequence: Any = {
        "dict": campaign,
        "sequence list": campaign["sequence"],
        "campaign list": workspace.campaigns,
        "frame": campaigns_frame(workspace.campaigns),
    }[source]
    got = m.variant_funnel(frame_of(one(raw, 0)), sequence=sequence)
    want = expected_labels(campaign)
    assert [want[s] for s in got["step"]] == got["step_label"].to_list()
    assert got.columns[:4] == ["step", "step_number", "step_label", "variant"]
    numbers = {s: int(label.split(" · ")[0][5:]) for s, label in want.items()}
    assert got["step_number"].to_list() == [numbers[s] for s in got["step"]]


def test_steps_missing_from_the_sequence_keep_their_order() -> None:
    items = [
        raw_lead([raw_email(0, 0), raw_email(2, 60), raw_email(7, 120)]),
        raw_lead([raw_email(9, 0)]),
    ]
    frame = frame_of({"c": items})
    sequence = {
        "_id": "c",
        "sequence": [
            {"type": "email", "order": 0, "name": "Intro", "subject": "Quick question"},
            {"type": "wait", "order": 1, "waitDays": 2},
            {"type": "email", "order": 2, "name": "Bump", "subject": "  "},
            {"type": "wait", "order": 3, "waitDays": 2},
            {"type": "email", "order": 4, "name": None, "subject": None},
        ],
    }
    got = m.funnel(frame, sequence=sequence)
    assert got.select("step", "step_number", "step_label").rows() == [
        (0, 1, "Step 1 · Quick question"),
        (2, 2, "Step 2 · Bump"),  # blank subject falls back to the name
        (7, None, "Step order 7"),
        (9, None, "Step order 9"),
    ]
    by_name = m.funnel(frame, sequence=sequence, label_from="name")
    assert by_name["step_label"][0] == "Step 1 · Intro"
    steps = m.sequence_steps(sequence)
    assert steps.select("step", "step_number", "step_label").rows()[2] == (4, 3, "Step 3")
    # without a sequence every step is labelled by its order, and has no number
    assert m.funnel(frame)["step_number"].null_count() == 4
    assert m.funnel(frame)["step_label"].to_list() == [
        "Step order 0",
        "Step order 2",
        "Step order 7",
        "Step order 9",
    ]


def test_label_steps_keeps_rows_and_rejects_ambiguity(workspace: Any) -> None:
    frame = pl.DataFrame({"step": [4, 0, 2], "x": [1, 2, 3]})
    out = m.label_steps(frame, workspace.campaigns[0])
    assert out.columns == ["step", "step_number", "step_label", "x"]
    assert out["x"].to_list() == [1, 2, 3] and out["step_number"].to_list() == [3, 1, 2]
    # two campaigns labelling step 0 differently, and nothing to tell rows apart
    with pytest.raises(BadRequestError, match="different labels"):
        m.label_steps(frame, workspace.campaigns[:2])
    with pytest.raises(BadRequestError):
        m.label_steps(pl.DataFrame({"x": [1]}), workspace.campaigns[0])
    with pytest.raises(BadRequestError):
        m.label_steps(frame, {"name": "no sequence"})
    with pytest.raises(BadRequestError):
        m.label_steps(frame, workspace.campaigns[0], label_from="body")  # type: ignore[arg-type]


def test_pooled_funnel_labels_only_from_its_own_campaign(
    workspace: Any, raw: dict[str, list[Raw]], campaigns: pl.DataFrame
) -> None:
    # the full campaigns frame is fine for a one-campaign funnel: others are ignored
    got = m.funnel(frame_of(one(raw, 1)), sequence=campaigns)
    want = expected_labels(workspace.campaigns[1])
    assert got["step_label"].to_list() == [want[s] for s in got["step"]]


# --------------------------------------------------------------- variant statistics


def ab_frame(arms: Mapping[str | None, tuple[int, int]], step: int = 0) -> pl.DataFrame:
    """Leads for a single step: per variant (delivered leads, replies)."""
    items = []
    for variant, (n, replies) in arms.items():
        for i in range(n):
            items.append(
                raw_lead(
                    [raw_email(step, 0, variant=variant)],
                    replied=i < replies,
                    replied_at=60 if i < replies else None,
                    ai_tag="interested" if i < replies else None,
                )
            )
    return frame_of({"c": items})


def test_wilson_intervals_match_scipy(leads: pl.DataFrame) -> None:
    got = m.variant_funnel(leads, segment="campaign_id")
    checked = 0
    for row in got.iter_rows(named=True):
        for metric, event in (
            ("open", "opened"),
            ("click", "clicked"),
            ("reply", "replied"),
            ("positive", "positive"),
        ):
            n = row["delivered"]
            low, high = row[f"{metric}_rate_low"], row[f"{metric}_rate_high"]
            if n == 0:
                assert low is None and high is None
                continue
            ci = sps.binomtest(row[event], n).proportion_ci(0.95, method="wilson")
            assert (low, high) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high))
            assert low <= row[f"{metric}_rate"] <= high
            checked += 1
    assert checked > 40


def test_two_arms_z_test_matches_scipy() -> None:
    got = m.variant_funnel(ab_frame({"A": (400, 60), "B": (380, 30)}))
    assert got.select("variant", "is_leader", "arms", "test").rows() == [
        ("A", True, 2, None),
        ("B", False, 2, "z"),
    ]
    # the pooled two-proportion z-test is the uncorrected chi-square test of the 2x2 table
    expected = sps.chi2_contingency([[60, 340], [30, 350]], correction=False).pvalue
    assert got["p_value"][1] == pytest.approx(expected, rel=1e-9)
    assert got["p_value_adj"][1] == pytest.approx(expected, rel=1e-9)  # a family of one
    assert got["diff_vs_leader"][1] == pytest.approx(30 / 380 - 60 / 400)
    assert got["significant"].to_list() == [None, True]
    assert got["too_small"].to_list() == [False, False]


def test_fisher_when_expected_counts_are_small() -> None:
    # 120 delivered per arm, 9 vs 1 replies: expected replies per arm 5 -> z; 7 vs 1 -> 4 -> Fisher
    got = m.variant_funnel(ab_frame({"A": (120, 7), "B": (120, 1)}), min_events=0)
    assert got["test"].to_list() == [None, "fisher"]
    assert got["p_value"][1] == pytest.approx(
        sps.fisher_exact([[1, 119], [7, 113]]).pvalue, rel=1e-9
    )
    z = m.variant_funnel(ab_frame({"A": (120, 9), "B": (120, 1)}), min_events=0)
    assert z["test"].to_list() == [None, "z"]


@pytest.mark.parametrize(
    ("table"),
    [(1, 9, 11, 3), (0, 5, 0, 7), (3, 0, 0, 3), (2, 98, 9, 91), (40, 1960, 9, 1991), (0, 0, 2, 2)],
)
def test_fisher_exact_matches_scipy(table: tuple[int, int, int, int]) -> None:
    a, b, c, d = table
    assert _stats.fisher_exact_p(a, b, c, d) == pytest.approx(
        sps.fisher_exact([[a, b], [c, d]]).pvalue, rel=1e-9
    )


def test_three_arms_each_against_the_leader_with_holm() -> None:
    got = m.variant_funnel(
        ab_frame({"A": (300, 30), "B": (300, 60), "C": (300, 45), "D": (40, 30)})
    )
    rows = {r["variant"]: r for r in got.to_dicts()}
    # D has the highest rate but fewer than 100 leads: it cannot lead, and is too small
    assert rows["B"]["is_leader"] and not rows["D"]["is_leader"]
    assert rows["D"]["too_small"] and rows["D"]["significant"] is False
    raw_p = {
        v: sps.chi2_contingency(
            [[rows[v]["replied"], rows[v]["delivered"] - rows[v]["replied"]], [60, 240]],
            correction=False,
        ).pvalue
        for v in ("A", "C", "D")
    }
    # D: expected replies 90*40/340 ~ 10.6, non-replies 29.4 -> z-test too
    for v in ("A", "C", "D"):
        assert rows[v]["p_value"] == pytest.approx(raw_p[v], rel=1e-9)
    # Holm by hand: sort ascending, multiply by (m - rank), running max, cap at 1
    order = sorted(raw_p, key=raw_p.__getitem__)
    running = 0.0
    for rank, v in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * raw_p[v]))
        assert rows[v]["p_value_adj"] == pytest.approx(running, rel=1e-9)
    assert rows["A"]["significant"] is True
    assert rows["B"]["p_value"] is None and rows["B"]["significant"] is None


def test_too_small_to_call_rules() -> None:
    small = m.variant_funnel(ab_frame({"A": (99, 40), "B": (99, 10)}))
    assert small["too_small"].to_list() == [True, True]
    assert small["p_value"][1] is not None and small["p_value"][1] < 1e-4
    assert small["significant"][1] is False  # tested, but not called
    few_events = m.variant_funnel(ab_frame({"A": (500, 6), "B": (500, 3)}))
    assert few_events["too_small"].to_list() == [True, True]
    lowered = m.variant_funnel(ab_frame({"A": (99, 40), "B": (99, 10)}), min_sends=50)
    assert lowered["too_small"].to_list() == [False, False]
    assert lowered["significant"][1] is True


def test_single_arm_and_null_variant() -> None:
    got = m.variant_funnel(ab_frame({None: (150, 20)}))
    assert got.select("variant", "arms", "is_leader", "test", "p_value", "significant").rows() == [
        (None, 1, True, None, None, None)
    ]
    assert got["reply_rate"][0] == pytest.approx(20 / 150)


def test_variants_are_compared_only_within_a_step() -> None:
    a = ab_frame({"A": (200, 40), "B": (200, 20)}, step=0)
    b = ab_frame({"A": (200, 5), "B": (200, 30)}, step=2)
    got = m.variant_funnel(pl.concat([a, b]))
    leaders = got.filter("is_leader").select("step", "variant").rows()
    assert leaders == [(0, "A"), (2, "B")]
    assert got.group_by("step").agg(pl.col("arms").first()).sort("step")["arms"].to_list() == [2, 2]


@pytest.mark.parametrize("metric", ["open", "click", "positive"])
def test_other_test_metrics(leads: pl.DataFrame, metric: str) -> None:
    got = m.variant_funnel(leads, segment="campaign_id", metric=metric)  # type: ignore[arg-type]
    assert set(got["test_metric"]) == {metric}
    event = {"open": "opened", "click": "clicked", "positive": "positive"}[metric]
    for _, part in got.group_by("campaign_id", "step"):
        usable = part.filter(pl.col("delivered") > 0)
        if usable.height:
            leader = part.filter("is_leader")
            assert leader.height == 1
            rates = (usable[event] / usable["delivered"]).to_list()
            big = [r for r, n in zip(rates, usable["delivered"], strict=True) if n >= 100]
            assert leader[f"{metric}_rate"][0] == pytest.approx(max(big or rates))


def test_variant_rows_sum_to_step_rows(leads: pl.DataFrame) -> None:
    steps = m.funnel(leads, segment="campaign_id")
    variants = m.variant_funnel(leads, segment="campaign_id")
    summed = variants.group_by("campaign_id", "step").agg(pl.col(COUNTS).sum())
    joined = steps.join(summed, on=["campaign_id", "step"], suffix="_v")
    assert joined.height == steps.height
    for c in COUNTS:
        assert (joined[c] == joined[f"{c}_v"]).all(), c


# ---------------------------------------------------------------------- edge cases


EXPECTED_FUNNEL_SCHEMA = {
    "step": pl.Int32,
    "step_number": pl.Int32,
    "step_label": pl.String,
    **{c: pl.Int64 for c in COUNTS},
    "denominator": pl.String,
    **{r: pl.Float64 for r in RATES},
    **{
        f"{m}_rate_{end}": pl.Float64
        for m in ("open", "click", "reply", "positive")
        for end in ("low", "high")
    },
    "confidence": pl.Float64,
    "positive_tags": pl.String,
}


def no_nan(frame: pl.DataFrame) -> bool:
    floats = frame.select(pl.col(pl.Float64).is_nan().any())
    return not any(v for v in floats.row(0)) if floats.width and frame.height else True


def everything(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {
        "funnel": m.funnel(frame),
        "variant": m.variant_funnel(frame),
        "segmented": m.funnel(frame, "variant", segment=["status", "tag:vip"]),
        "headline": m.headline(frame),
        "status": m.status_counts(frame),
        "tags": m.ai_tag_counts(frame),
        "attribution": m.reply_attribution(frame),
        "compare": m.compare_campaigns(frame),
        "compare_steps": m.compare_campaigns(frame, by="step"),
    }


def test_empty_input_gives_typed_empty_frames() -> None:
    empty = pl.DataFrame(schema=LEADS_SCHEMA)
    out = everything(empty)
    for name, frame in out.items():
        assert frame.height == 0, name
    assert dict(out["funnel"].schema) == EXPECTED_FUNNEL_SCHEMA
    assert out["variant"].schema["p_value"] == pl.Float64
    assert out["variant"].schema["too_small"] == pl.Boolean
    assert out["headline"].schema["positive_rate"] == pl.Float64
    assert out["headline"].schema["unattributed"] == pl.Int64
    assert out["headline"].schema["unattributed_replies"] == pl.Int64
    assert out["segmented"].columns[:2] == ["status", "tag:vip"]


def test_a_status_filter_leaving_nothing(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    cid, items = next(iter(raw.items()))
    absent = next(s for s in LEAD_STATUSES if all(i["status"] != s for i in items))
    nothing = leads.filter(pl.col("campaign_id") == cid, pl.col("status") == absent)
    assert nothing.height == 0
    for name, frame in everything(nothing).items():
        assert frame.height == 0, name


def test_no_sends() -> None:
    items = [raw_lead(status="pending") for _ in range(5)]
    items.append(raw_lead(replied=True, replied_at=10, ai_tag="interested", status="replied"))
    frame = frame_of({"c": items})
    out = everything(frame)
    assert out["funnel"].height == 0 and out["variant"].height == 0
    head = out["headline"].row(0, named=True)
    assert (head["leads"], head["contacted"], head["replied"], head["positive"]) == (6, 0, 0, 0)
    assert (head["unattributed"], head["unattributed_replies"]) == (1, 1)
    assert head["positive_rate"] is None and head["open_rate"] is None
    assert all(no_nan(f) for f in out.values())


def test_all_bounced() -> None:
    items = [
        raw_lead([raw_email(0, 0, variant=v, bounced=True, opened=True)], status="bounced")
        for v in ("A", "B") * 60
    ]
    items.append(raw_lead([raw_email(0, 0, variant="A", bounced=True)], replied=True, replied_at=5))
    frame = frame_of({"c": items})
    out = everything(frame)
    f = out["funnel"].row(0, named=True)
    counts = (f["sent"], f["bounced"], f["delivered"], f["opened"], f["replied"])
    assert counts == (121, 121, 0, 0, 0)
    assert f["bounce_rate"] == 1.0 and f["open_rate"] is None and f["reply_rate"] is None
    v = out["variant"]
    assert v["is_leader"].to_list() == [False, False] and v["test"].to_list() == [None, None]
    assert v["reply_rate_low"].null_count() == 2
    head = out["headline"].row(0, named=True)
    assert (head["delivered"], head["bounced"], head["unattributed"]) == (0, 121, 1)
    assert (head["replied"], head["unattributed_replies"]) == (1, 0)
    assert head["bounce_rate"] == 1.0 and head["open_rate"] is None
    assert all(no_nan(f) for f in out.values())


def test_attribution_edge_cases() -> None:
    items = [
        # reply between step 0 and step 2: step 0
        raw_lead([raw_email(0, 0), raw_email(2, 100)], replied=True, replied_at=50),
        # reply at the very instant of step 2's send: step 2 (sent_at <= replied_at)
        raw_lead([raw_email(0, 0), raw_email(2, 100)], replied=True, replied_at=100),
        # no repliedAt: the latest email
        raw_lead([raw_email(2, 100), raw_email(0, 0)], replied=True),
        # the latest email before the reply bounced: the delivered one before it
        raw_lead([raw_email(0, 0), raw_email(2, 40, bounced=True)], replied=True, replied_at=50),
        # reply before any email
        raw_lead([raw_email(0, 100)], replied=True, replied_at=50, ai_tag="interested"),
        # replied with no emails at all
        raw_lead([], replied=True, replied_at=50),
        # undated email and a dated reply: nothing to attribute to
        raw_lead([raw_email(0, None)], replied=True, replied_at=50),
        # undated email, undated reply: the undated email is the latest
        raw_lead([raw_email(4, None)], replied=True),
        # two emails at one step (a resend), one bounced: counted once, delivered
        raw_lead([raw_email(0, 0, bounced=True), raw_email(0, 10, opened=True)]),
        # "replied" false with a repliedAt: not a reply
        raw_lead([raw_email(0, 0)], replied=False, replied_at=50),
    ]
    frame = frame_of({"c": items})
    att = m.reply_attribution(frame)
    assert att.select("attributed", "step").rows() == [
        (True, 0),
        (True, 2),
        (True, 2),
        (True, 0),
        (False, None),
        (False, None),
        (False, None),
        (True, 4),
    ]
    f = m.funnel(frame)
    assert f.select("step", "sent", "bounced", "delivered", "opened", "replied").rows() == [
        (0, 8, 0, 8, 1, 2),
        (2, 4, 1, 3, 0, 2),
        (4, 1, 0, 1, 0, 1),
    ]
    head = m.headline(frame).row(0, named=True)
    # the lead with no emails at all is not in replied: it is an unattributed_replies
    assert (head["replied"], head["unattributed"], head["unattributed_replies"]) == (7, 3, 1)
    assert_rows_match(keyed(f, ["step"]), ref_funnel({"c": items}), (*COUNTS, *RATES))


def test_both_counting_paths_agree() -> None:
    # Steps in increasing order per lead take the fast path (plain sums); a repeated or
    # out-of-order step takes the n_unique path. Both must give the contract's lead counts.
    plain = [raw_lead([raw_email(0, 0, opened=True), raw_email(2, 9)]) for _ in range(3)]
    resent = [*plain, raw_lead([raw_email(2, 0), raw_email(0, 5), raw_email(0, 9, opened=True)])]
    for items, repeats in ((plain, False), (resent, True)):
        frame = frame_of({"c": items})
        exploded = emails_module.explode_emails(
            frame.with_row_index("_lead"), ["_lead"], variant=False
        )
        assert emails_module.repeats_a_step(exploded) is repeats
        got = keyed(m.funnel(frame), ["step"])
        assert_rows_match(got, ref_funnel({"c": items}), (*COUNTS, *RATES))
    assert keyed(m.funnel(frame_of({"c": resent})), ["step"])[(0,)]["opened"] == 4


def test_case_insensitive_positive_tags() -> None:
    items = [
        raw_lead([raw_email(0, 0)], replied=True, replied_at=5, ai_tag="Interested"),
        raw_lead([raw_email(0, 0)], replied=True, replied_at=5, ai_tag="MEETING_BOOKED"),
        # tagged but not replied: not a positive reply
        raw_lead([raw_email(0, 0)], replied=False, ai_tag="interested"),
    ]
    frame = frame_of({"c": items})
    assert m.funnel(frame)["positive"].to_list() == [2]
    assert m.headline(frame)["positive"].to_list() == [2]


def test_rates_over_opens_can_exceed_one() -> None:
    # replies without a tracked open (image blocking): over opens the rate is above 1
    items = [raw_lead([raw_email(0, 0)], replied=True, replied_at=5) for _ in range(3)]
    items.append(raw_lead([raw_email(0, 0, opened=True)]))
    f = m.variant_funnel(frame_of({"c": items}), denominator="opened")
    assert f["reply_rate"].to_list() == [3.0]
    assert f["open_rate"].to_list() == [0.25]  # still over delivered
    assert f["reply_rate_low"].to_list() == [None]  # no interval for a non-proportion
    assert m.rate_denominators("opened")["reply_rate"] == "opened"


def test_compare_campaigns(workspace: Any, raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    cmp = m.compare_campaigns(leads, workspace.campaigns)
    names = {c["_id"]: c["name"] for c in workspace.campaigns}
    assert cmp.columns[:2] == ["campaign_id", "campaign_name"]
    assert all(names[r["campaign_id"]] == r["campaign_name"] for r in cmp.to_dicts())
    rates = cmp["positive_rate"].to_list()
    known = [r for r in rates if r is not None]
    assert known == sorted(known, reverse=True) and rates[: len(known)] == known
    assert_rows_match(keyed(cmp, ["campaign_id"]), ref_headline(raw), ["positive", "contacted"])
    steps = m.compare_campaigns(leads, campaigns_frame(workspace.campaigns), by="step")
    assert steps.columns[:5] == [
        "campaign_id",
        "campaign_name",
        "step",
        "step_number",
        "step_label",
    ]
    assert steps["step_label"].str.starts_with("Step order").sum() == 0
    assert steps["step_number"].null_count() == 0
    assert_rows_match(
        keyed(steps, ["campaign_id", "step"]),
        ref_funnel(raw, segment=["campaign_id"]),
        COUNTS,
    )


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: m.funnel(f, by=cast(Any, "week")), "by="),
        (lambda f: m.funnel(f, denominator=cast(Any, "leads")), "denominator"),
        (lambda f: m.funnel(f, segment="country"), "segment"),
        (lambda f: m.funnel(f, segment="tag:"), "segment"),
        (lambda f: m.funnel(f.drop("replied_at")), "replied_at"),
        (lambda f: m.funnel(f.drop("emails")), "emails"),
        (lambda f: m.funnel(f.drop("status"), segment="status"), "status"),
        (lambda f: m.funnel(f.with_columns(emails=pl.lit([1, 2]))), "emails"),
        (lambda f: m.funnel(cast(Any, f.to_dicts())), "DataFrame"),
        (lambda f: m.variant_funnel(f, metric=cast(Any, "bounce")), "metric"),
        (lambda f: m.variant_funnel(f, min_sends=-1), "min_sends"),
        (lambda f: m.variant_funnel(f, alpha=1.5), "alpha"),
        (lambda f: m.variant_funnel(f, confidence=95), "confidence"),
        (lambda f: m.headline(f.drop("campaign_id")), "campaign_id"),
        (lambda f: m.compare_campaigns(f, by=cast(Any, "lead")), "by="),
        (lambda f: m.status_counts(f.drop("status")), "status"),
    ],
)
def test_bad_input_raises_a_clear_error(
    call: Callable[[pl.DataFrame], object], message: str
) -> None:
    frame = frame_of({"c": [raw_lead([raw_email(0, 0)])]})
    with pytest.raises(BadRequestError, match=message) as info:
        call(frame)
    assert info.value.hint  # every error says what to do next


# ------------------------------------------------------------------ property tests


def sort_key(keys: Sequence[str]) -> Callable[[tuple[Any, ...]], list[tuple[bool, Any]]]:
    """Nulls first, statuses in the enum's order, everything else ascending."""

    def key(row: tuple[Any, ...]) -> list[tuple[bool, Any]]:
        return [
            (v is not None, LEAD_STATUSES.index(v) if k == "status" and v is not None else v)
            for k, v in zip(keys, row, strict=True)
        ]

    return key


_minutes = st.integers(0, 30)
_raw_email = st.builds(
    raw_email,
    step=st.sampled_from([0, 2, 4, 9]),
    at=st.one_of(_minutes, _minutes, _minutes, st.none()),
    variant=st.sampled_from([None, "A", "B", "C"]),
    opened=st.booleans(),
    clicked=st.booleans(),
    bounced=st.booleans(),
)
_raw_lead = st.builds(
    raw_lead,
    emails=st.lists(_raw_email, max_size=4),
    replied=st.booleans(),
    replied_at=st.one_of(st.none(), _minutes),
    ai_tag=st.sampled_from([None, "interested", "Meeting_Booked", "not_interested"]),
    status=st.sampled_from(LEAD_STATUSES),
    tags=st.sampled_from([[], ["vip"], ["q3", "vip"]]),
)
_workspaces = st.dictionaries(
    st.sampled_from(["c1", "c2", "c3"]), st.lists(_raw_lead, max_size=14), max_size=3
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    by_campaign=_workspaces,
    denominator=st.sampled_from(["delivered", "sent", "opened"]),
    segment=st.sampled_from([[], ["campaign_id"], ["status"], ["tag:vip", "ai_tag"]]),
)
def test_properties_on_generated_leads(
    by_campaign: dict[str, list[Raw]], denominator: str, segment: list[str]
) -> None:
    frame = frame_of(by_campaign)
    keys = [*segment, "step"]
    steps = m.funnel(frame, segment=segment or None, denominator=denominator)  # type: ignore[arg-type]
    variants = m.variant_funnel(frame, segment=segment or None, denominator=denominator)  # type: ignore[arg-type]
    head = m.headline(frame)

    # the same numbers as the independent computation
    assert_rows_match(
        keyed(steps, keys),
        ref_funnel(by_campaign, segment=segment, denominator=denominator),
        (*COUNTS, *RATES),
    )
    assert_rows_match(
        keyed(variants, [*keys, "variant"]),
        ref_funnel(by_campaign, by="variant", segment=segment, denominator=denominator),
        (*COUNTS, *RATES),
    )
    assert_rows_match(
        keyed(head, ["campaign_id"]),
        ref_headline(by_campaign),
        [c for c in head.columns if c != "campaign_id"],
    )
    head_keys = list(dict.fromkeys(["campaign_id", *segment]))
    head_seg = m.headline(frame, segment=segment or None)
    assert_rows_match(
        keyed(head_seg, head_keys),
        ref_headline(by_campaign, segment),
        [c for c in head_seg.columns if c not in head_keys],
    )

    for f in (steps, variants):
        for c in COUNTS:
            assert (f[c] >= 0).all(), c
        assert (f["bounced"] + f["delivered"] == f["sent"]).all()
        assert (f["delivered"] <= f["sent"]).all()
        for c in ("opened", "clicked", "replied"):
            assert (f[c] <= f["delivered"]).all(), c
        assert (f["positive"] <= f["replied"]).all()
        assert no_nan(f)
        for rate in RATES:
            values = f[rate].drop_nulls()
            assert (values >= 0).all()
            if denominator != "opened" or rate in ("bounce_rate", "open_rate"):
                assert (values <= 1).all(), rate
        # a zero denominator is null, never NaN: rates are null exactly where the base is 0
        over = m.rate_denominators(denominator)
        for rate, base in over.items():
            assert (f[rate].is_null() == (f[base] == 0)).all(), rate
        assert f.select(keys).rows() == sorted(f.select(keys).rows(), key=sort_key(keys))

    # variants partition a step unless a lead got two variants at one step
    mixed = any(
        len({e["variant"] for e in _emails(i) if e["step"] == s}) > 1
        for items in by_campaign.values()
        for i in items
        for s in {e["step"] for e in _emails(i)}
    )
    summed = variants.group_by(keys).agg(pl.col(COUNTS).sum())
    joined = keyed(steps, keys)
    for row in summed.iter_rows(named=True):
        step_row = joined[tuple(row[k] for k in keys)]
        for c in COUNTS:
            if mixed:
                assert row[c] >= step_row[c]
            else:
                assert row[c] == step_row[c], c
    if not mixed:
        assert variants["replied"].sum() == steps["replied"].sum()

    # every replied lead is attributed to a step or counted as unattributed
    replied = sum(bool(i.get("replied")) for items in by_campaign.values() for i in items)
    assert int(steps["replied"].sum()) + int(head["unattributed"].sum()) == replied
    assert int(head["replied"].sum()) + int(head["unattributed_replies"].sum()) == replied

    # headline: nested per-lead counts
    for r in head.iter_rows(named=True):
        assert r["leads"] >= r["contacted"] >= r["delivered"] >= r["opened"]
        assert r["delivered"] >= r["clicked"] and r["contacted"] == r["delivered"] + r["bounced"]
        assert r["contacted"] >= r["replied"] >= r["positive"]
        every_reply = r["replied"] + r["unattributed_replies"]
        assert every_reply >= r["unattributed"] >= r["unattributed_replies"]

    # the A/B columns are consistent
    for r in variants.iter_rows(named=True):
        if r["p_value"] is not None:
            assert 0.0 <= r["p_value"] <= r["p_value_adj"] <= 1.0
            assert r["test"] in ("z", "fisher") and not r["is_leader"]
        if r["significant"]:
            assert not r["too_small"]
        low, high = r["reply_rate_low"], r["reply_rate_high"]
        if low is not None:
            assert 0.0 <= low <= r["reply_rate"] <= high <= 1.0
    assert variants.filter("is_leader").group_by(keys).len()["len"].max() in (None, 1)


# ------------------------------------------------ no rate above 100%, for any selection

#: Rates that may exceed 1 by design: over opens (clicks and replies without a tracked open).
OVER_OPENS = ("click_rate", "reply_rate", "positive_rate")


def assert_proportions(frame: pl.DataFrame, name: str, *, over_opens: bool = False) -> None:
    """Every rate of ``frame`` is null or in [0, 1] (except the rates over opens), and every
    interval is null or satisfies 0 <= low <= rate <= high <= 1, with no float noise."""
    assert no_nan(frame), name
    for rate in RATES:
        if rate not in frame.columns:
            continue
        bounded = not (over_opens and rate in OVER_OPENS)
        has_interval = f"{rate}_low" in frame.columns
        lows = frame[f"{rate}_low"] if has_interval else [None] * frame.height
        highs = frame[f"{rate}_high"] if has_interval else [None] * frame.height
        for value, low, high in zip(frame[rate], lows, highs, strict=True):
            where = (name, rate, value, low, high)
            if value is not None:
                assert value >= 0.0, where
                assert value <= 1.0 or not bounded, where
            if has_interval and bounded:
                # an interval exactly where there is a rate
                assert (low is None) == (high is None) == (value is None), where
            if low is not None:
                assert 0.0 <= low <= value <= high <= 1.0, where
                # snapped, not 1.7e-18 nor 1 - 1e-16
                assert low == 0.0 or low > 1e-12, where
                assert high == 1.0 or high < 1.0 - 1e-12, where


def check_all_rates(frame: pl.DataFrame) -> None:
    assert_proportions(m.headline(frame), "headline")
    assert_proportions(m.headline(frame, segment=["status", "tag:vip"]), "headline by segment")
    for denominator in ("delivered", "sent", "opened"):
        over_opens = denominator == "opened"
        for name, out in (
            ("funnel", m.funnel(frame, denominator=denominator)),
            ("variant_funnel", m.variant_funnel(frame, denominator=denominator)),
            ("funnel by status", m.funnel(frame, segment="status", denominator=denominator)),
        ):
            assert_proportions(out, f"{name} over {denominator}", over_opens=over_opens)
    compared = m.compare_campaigns(frame)
    assert_proportions(compared, "compare_campaigns")
    head = m.headline(frame)
    assert (head["replied"] <= head["contacted"]).all()
    assert (head["positive"] <= head["replied"]).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statuses=st.sets(st.sampled_from(LEAD_STATUSES)))
def test_no_rate_above_one_for_any_status_selection(
    leads: pl.DataFrame, statuses: set[str]
) -> None:
    # the dashboard's status filter on the demo workspace (which plants replies from leads
    # never emailed, and steps where nobody clicked or replied)
    check_all_rates(leads.filter(pl.col("status").is_in(sorted(statuses))))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(by_campaign=_workspaces, statuses=st.sets(st.sampled_from(LEAD_STATUSES)))
def test_no_rate_above_one_on_generated_leads(
    by_campaign: dict[str, list[Raw]], statuses: set[str]
) -> None:
    frame = frame_of(by_campaign)
    check_all_rates(frame)
    check_all_rates(frame.filter(pl.col("status").is_in(sorted(statuses))))


def test_replies_from_leads_never_emailed_are_beside_the_rate() -> None:
    # The issue: with the status filter on "replied", 270 replied of 269 contacted read 100.4%.
    emailed = [
        raw_lead([raw_email(0, 0)], replied=True, replied_at=5, ai_tag="interested", status=s)
        for s in ("replied", "replied", "completed")
    ]
    never = raw_lead([], replied=True, replied_at=5, ai_tag="interested", status="replied")
    frame = frame_of({"c": [*emailed, never]})
    selected = frame.filter(pl.col("status") == "replied")
    head = m.headline(selected).row(0, named=True)
    assert (head["leads"], head["contacted"], head["replied"], head["positive"]) == (3, 2, 2, 2)
    assert head["unattributed_replies"] == 1 and head["unattributed"] == 1
    assert head["reply_rate"] == 1.0 and head["positive_rate"] == 1.0
    assert head["reply_rate_low"] is not None and head["reply_rate_high"] == 1.0
    assert_proportions(m.headline(selected), "headline")
    # the lead never emailed alone: no rate, the reply still reported
    alone = m.headline(frame.filter(pl.col("emails").list.len() == 0)).row(0, named=True)
    assert (alone["contacted"], alone["replied"], alone["unattributed_replies"]) == (0, 0, 1)
    assert alone["reply_rate"] is None and alone["reply_rate_low"] is None
    # the reply is still listed, unattributed
    assert m.reply_attribution(selected)["attributed"].to_list() == [True, True, False]


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_wilson_bounds_have_no_float_noise(confidence: float) -> None:
    ns = [*range(1, 400), 1_000, 3_366, 10_000, 123_457]
    events: list[int] = []
    trials: list[int] = []
    for n in ns:
        for x in sorted({0, 1, n // 2, n - 1, n}):
            events.append(x)
            trials.append(n)
            low, high = m.wilson_interval(x, n, confidence) or (math.nan, math.nan)
            assert 0.0 <= low <= x / n <= high <= 1.0, (x, n, low, high)
            assert (low == 0.0) == (x == 0) and (high == 1.0) == (x == n), (x, n, low, high)
    frame = pl.DataFrame({"x": events, "n": trials})
    low_e, high_e = _stats.wilson_expr("x", "n", confidence)
    got = frame.select(low=low_e, high=high_e, rate=pl.col("x") / pl.col("n"), x="x", n="n")
    assert got.filter(pl.col("x") == 0)["low"].to_list() == [0.0] * len(ns)
    assert got.filter(pl.col("x") == pl.col("n"))["high"].to_list() == [1.0] * len(ns)
    ordered = (pl.col("low") <= pl.col("rate")) & (pl.col("rate") <= pl.col("high"))
    assert got.select(ordered.all()).item()
    assert got.select((pl.col("low") >= 0) & (pl.col("high") <= 1)).to_series().all()


# ------------------------------------------------------------------ definitions & docs


def test_definitions_state_the_contract() -> None:
    text = " ".join(m.DEFINITIONS.split())
    for phrase in (
        "Opens are directional",
        "last touch",
        "unattributed",
        "never dropped",
        "Wilson",
        "Fisher",
        "too small to call",
        "positive replies per lead contacted",
        "wait steps",
        f"fewer than {m.MIN_SENDS}",
        "Kaplan-Meier",
        "censored at floor",
        "by the date they were sent",
    ):
        assert phrase.lower() in text.lower(), phrase
    assert m.rate_denominators() == {
        "bounce_rate": "sent",
        "open_rate": "delivered",
        "click_rate": "delivered",
        "reply_rate": "delivered",
        "positive_rate": "delivered",
    }
    assert set(m.rate_denominators("sent").values()) == {"sent"}


@pytest.mark.parametrize(
    "module",
    [
        _funnel,
        emails_module,
        _headline,
        _breakdowns,
        _compare,
        _ab,
        _labels,
        _stats,
        _definitions,
        _common,
    ],
)
def test_docstring_examples_run(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert module in (_common, _ab) or result.attempted > 0


def test_wilson_interval_helper() -> None:
    ci = sps.binomtest(7, 50).proportion_ci(0.9, method="wilson")
    low, high = m.wilson_interval(7, 50, confidence=0.9) or (math.nan, math.nan)
    assert low == pytest.approx(ci.low) and high == pytest.approx(ci.high)
    assert m.wilson_interval(0, 0) is None and m.wilson_interval(3, 2) is None
