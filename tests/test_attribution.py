"""Inbox attribution (``attribution="inbox"`` with ``replies=``) in the funnel, variant funnel,
headline and reconcile: every number against a plain-Python reading of the raw demo JSON
(campaign leads, inbox list and threads, fetched over HTTP with urllib), the disagreements with
last touch, auto-replies left out, and the errors for bad input."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb import BadRequestError
from sendkit_nb import metrics as skm
from sendkit_nb._schema import LEADS_SCHEMA, REPLIES_SCHEMA
from sendkit_nb.demo import DemoServer
from tests.raw_api import every_item, get

POSITIVE = {"interested", "meeting_booked"}


# -- plain Python over the raw JSON ------------------------------------------------------------


def _last_touch(lead: dict[str, Any]) -> int | None:
    """The step last touch gives a replied lead: the latest delivered email at or before
    repliedAt (undated reply: the latest delivered email)."""
    at = lead.get("repliedAt")
    delivered = [
        e
        for e in lead["emailsSent"]
        if not e.get("bounced") and (at is None or (e.get("sentAt") and e["sentAt"] <= at))
    ]
    if not delivered:
        return None
    delivered.sort(key=lambda e: (e["sentAt"] or "", e["sequenceStep"]))
    return int(delivered[-1]["sequenceStep"])


def _message_email(
    messages: list[dict[str, Any]], position: int, lead: dict[str, Any]
) -> dict[str, Any] | None:
    """The lead's own email (from ``emailsSent``) that the thread shows last before the
    message at ``position``, matched by send time."""
    message = messages[position]
    at = message.get("receivedAt")
    if at is None:
        earlier = [m for m in messages[:position] if m["type"] == "sent"]
        last = earlier[-1] if earlier else None
    else:
        earlier = [m for m in messages if m["type"] == "sent" and m["sentAt"] <= at]
        last = max(earlier, key=lambda m: m["sentAt"]) if earlier else None
    if last is None:
        return None
    return next((e for e in lead["emailsSent"] if e["sentAt"] == last["sentAt"]), None)


def _raw(server: DemoServer, campaign_id: str) -> dict[str, Any]:
    """Per campaign lead: its raw record and, from its thread, ``kind`` (``"human"``,
    ``"auto"`` or None without thread) and ``email`` (the email the counted message follows)."""
    leads = {x["_id"]: x for x in every_item(server, f"/v1/campaigns/{campaign_id}/leads")}
    inbox: dict[str, tuple[str, dict[str, Any] | None]] = {}
    for conversation in every_item(server, "/v1/inbox", campaign_id=campaign_id):
        lead = leads.get(conversation["id"])
        if lead is None:
            continue
        messages = get(server, f"/v1/inbox/{conversation['id']}")["data"]["messages"]
        # load_replies's rule: flagged, or the conversation tagged out-of-office (any case).
        ooo = (conversation.get("aiTag") or "").lower() == "out_of_office"
        found: list[tuple[bool, str, int, int]] = []
        for position, message in enumerate(messages):
            if message["type"] != "reply" or message.get("isFromLead") is False:
                continue
            automatic = message.get("isAutoReply") is True or ooo
            # First human message by time (undated last), then thread order.
            found.append((automatic, message.get("receivedAt") or "~", position, position))
        if not found:
            continue
        automatic, _, position, _ = min(found)
        inbox[lead["_id"]] = (
            "auto" if automatic else "human",
            _message_email(messages, position, lead),
        )
    return {"leads": leads, "inbox": inbox}


def _inbox_steps(raw: dict[str, Any]) -> dict[str, tuple[str, int | None, str | None]]:
    """Per lead with a reply under inbox rules: (kind, step, variant); step None =
    unattributed. Replied leads without a thread keep last touch."""
    out: dict[str, tuple[str, int | None, str | None]] = {}
    for lead_id, lead in raw["leads"].items():
        if lead_id in raw["inbox"]:
            kind, email = raw["inbox"][lead_id]
            out[lead_id] = (
                kind,
                email["sequenceStep"] if email else None,
                email.get("variant") if email else None,
            )
        elif lead["replied"]:
            step = _last_touch(lead)
            variant = None
            if step is not None:
                variant = next(
                    e.get("variant") for e in lead["emailsSent"] if e["sequenceStep"] == step
                )
            out[lead_id] = ("human", step, variant)
    return out


def _expected_funnel(raw: dict[str, Any], by_variant: bool) -> dict[Any, dict[str, int]]:
    rows: dict[Any, dict[str, int]] = {}

    def key(step: int, variant: str | None) -> Any:
        return (step, variant) if by_variant else step

    for lead in raw["leads"].values():
        seen = set()
        for email in lead["emailsSent"]:
            k = key(email["sequenceStep"], email.get("variant"))
            if k in seen:
                continue
            seen.add(k)
            row = rows.setdefault(k, Counter())
            row["sent"] += 1
            row["delivered"] += not email.get("bounced")
    for lead_id, (kind, step, variant) in _inbox_steps(raw).items():
        if step is None:
            continue
        row = rows[key(step, variant)]
        if kind == "human":
            row["replied"] += 1
            row["positive"] += raw["leads"][lead_id]["aiTag"] in POSITIVE
        else:
            row["auto_replied"] += 1
    return rows


@pytest.fixture(scope="module")
def campaign_ids(demo_server: DemoServer) -> list[str]:
    return [str(c["_id"]) for c in demo_server.workspace.campaigns]


@pytest.fixture(scope="module")
def loaded(
    demo_server: DemoServer, campaign_ids: list[str]
) -> dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]]:
    """Leads, replies and the raw reading of the demo's first five campaigns."""
    client = sk.SendKitClient(api_key=demo_server.api_key, base_url=demo_server.url)
    out = {}
    for k in range(5):
        leads = sk.load_leads(client, campaign_ids[k], progress=False)
        replies = sk.load_replies(client, campaign_ids[k], leads=leads, progress=False)
        out[k] = (leads, replies, _raw(demo_server, campaign_ids[k]))
    return out


# -- the numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
def test_inbox_funnel_matches_plain_python(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]], k: int
) -> None:
    leads, replies, raw = loaded[k]
    got = skm.funnel(leads, attribution="inbox", replies=replies)
    expected = _expected_funnel(raw, by_variant=False)
    assert got["step"].to_list() == sorted(expected)
    for row in got.iter_rows(named=True):
        want = expected[row["step"]]
        for column in ("sent", "delivered", "replied", "positive", "auto_replied"):
            assert row[column] == want[column], (row["step"], column)
        assert row["reply_rate"] == pytest.approx(want["replied"] / want["delivered"])
        assert row["positive_rate"] == pytest.approx(want["positive"] / want["delivered"])
        assert row["reply_rate_low"] <= row["reply_rate"] <= row["reply_rate_high"]
    # auto_replied sits after positive; the other columns are last touch's
    last = skm.funnel(leads)
    assert got.columns == [
        *last.columns[: last.columns.index("positive") + 1],
        "auto_replied",
        *last.columns[last.columns.index("positive") + 1 :],
    ]
    same = ["step", "sent", "bounced", "delivered", "opened", "clicked", "open_rate"]
    assert got.select(same).equals(last.select(same))


@pytest.mark.parametrize("k", [0, 2])
def test_inbox_variant_funnel_matches_plain_python(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]], k: int
) -> None:
    leads, replies, raw = loaded[k]
    got = skm.variant_funnel(leads, attribution="inbox", replies=replies)
    expected = _expected_funnel(raw, by_variant=True)
    assert set(got.select("step", "variant").iter_rows()) == set(expected)
    for row in got.iter_rows(named=True):
        want = expected[(row["step"], row["variant"])]
        assert (row["replied"], row["positive"], row["auto_replied"]) == (
            want["replied"],
            want["positive"],
            want["auto_replied"],
        )
    # the A/B test runs on the inbox counts
    if k == 0:  # the demo's A/B test
        two = got.filter(pl.col("arms") > 1)
        assert two.height >= 2 and two["p_value"].drop_nulls().len() >= 1


@pytest.mark.parametrize("k", [0, 1, 2, 3, 4])
def test_inbox_headline_matches_plain_python(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]], k: int
) -> None:
    leads, replies, raw = loaded[k]
    row = skm.headline(leads, attribution="inbox", replies=replies).row(0, named=True)
    steps = _inbox_steps(raw)
    contacted = {i for i, lead in raw["leads"].items() if lead["emailsSent"]}
    human = {i for i, (kind, _, _) in steps.items() if kind == "human"}
    auto = {i for i, (kind, _, _) in steps.items() if kind == "auto"}
    assert row["contacted"] == len(contacted)
    assert row["replied"] == len(human & contacted)
    assert row["positive"] == sum(raw["leads"][i]["aiTag"] in POSITIVE for i in human & contacted)
    assert row["auto_replied"] == len(auto & contacted)
    assert row["unattributed"] == sum(steps[i][1] is None for i in human)
    assert row["unattributed_replies"] == len(human - contacted)
    assert row["reply_rate"] == pytest.approx(len(human & contacted) / len(contacted))
    # last touch counted the auto-replies the leads frame marks as replies
    last = skm.headline(leads).row(0, named=True)
    counted_auto = {i for i in auto & contacted if raw["leads"][i]["replied"]}
    assert counted_auto, "the demo has out-of-office replies last touch counts"
    assert last["replied"] - row["replied"] == len(counted_auto)


def test_the_funnel_and_headline_agree_on_inbox_replies(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
) -> None:
    leads, replies, _ = loaded[0]
    funnel = skm.funnel(leads, attribution="inbox", replies=replies)
    head = skm.headline(leads, attribution="inbox", replies=replies).row(0, named=True)
    # every replied lead is at one step, or unattributed
    assert funnel["replied"].sum() + head["unattributed"] == (
        head["replied"] + head["unattributed_replies"]
    )
    assert funnel["auto_replied"].sum() == head["auto_replied"]


def test_auto_replies_are_left_out_of_replied(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
) -> None:
    leads, replies, _ = loaded[0]
    ooo = set(leads.filter(pl.col("ai_tag") == "out_of_office")["id"])
    flagged = set(replies.filter(pl.col("is_auto_reply"))["id"])
    humans = set(replies.filter(~pl.col("is_auto_reply"))["id"])
    only_auto = (flagged - humans) | ooo
    assert only_auto
    # Leaving those leads out of the leads frame removes none of the inbox replies.
    rest = leads.filter(~pl.col("id").is_in(only_auto))
    full = skm.funnel(leads, attribution="inbox", replies=replies)
    without = skm.funnel(rest, attribution="inbox", replies=replies)
    assert full["replied"].to_list() == without["replied"].to_list()
    assert without["auto_replied"].sum() == 0
    assert full["auto_replied"].sum() > 0


def test_disagreeing_threads_show_up_in_reconcile_and_compare(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
) -> None:
    leads, replies, raw = loaded[0]
    steps = _inbox_steps(raw)
    last_touch = {i: _last_touch(lead) for i, lead in raw["leads"].items() if lead["replied"]}
    moved = {
        i
        for i, (kind, step, _) in steps.items()
        if kind == "human"
        and step is not None
        and last_touch.get(i) is not None
        and last_touch[i] != step
    }
    assert moved, "the demo has replies whose thread disagrees with last touch"
    compared = skm.compare_attribution(leads, replies)
    assert set(compared.filter(pl.col("change") == "moved")["id"]) == moved
    for row in compared.filter(pl.col("change") == "moved").iter_rows(named=True):
        # the reply answered an earlier email; repliedAt was recorded after the follow-up
        assert row["inbox_step"] < row["last_touch_step"]
    auto = {
        i for i, (kind, _, _) in steps.items() if kind == "auto" and last_touch.get(i) is not None
    }
    assert set(compared.filter(pl.col("change") == "auto_reply")["id"]) == auto
    assert set(compared["change"]) <= set(skm.ATTRIBUTION_CHANGES)

    rows = skm.reconcile(leads, replies=replies, include_matches=True)
    by_step = {r["step"]: r for r in rows.filter(pl.col("what") == "replied").iter_rows(named=True)}
    want_last = Counter(s for s in last_touch.values() if s is not None)
    want_inbox = Counter(
        step for kind, step, _ in steps.values() if kind == "human" and step is not None
    )
    assert set(by_step) == set(want_last) | set(want_inbox)
    for step, row in by_step.items():
        assert (row["from_leads"], row["from_api"]) == (want_last[step], want_inbox[step])
        assert row["difference"] == want_last[step] - want_inbox[step]
    # each moved reply leaves its last-touch step and lands on the thread's
    for lead_id in moved:
        assert by_step[last_touch[lead_id]]["difference"] > 0
    unattributed = rows.filter(pl.col("what") == "unattributed").row(0, named=True)
    assert unattributed["from_api"] == sum(
        1 for kind, step, _ in steps.values() if kind == "human" and step is None
    )
    # without include_matches, only the differences; with analytics, both kinds of rows
    assert (skm.reconcile(leads, replies=replies)["difference"] != 0).all()


def test_reconcile_with_analytics_and_replies(
    client: sk.SendKitClient,
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
    campaign_ids: list[str],
) -> None:
    leads, replies, _ = loaded[0]
    analytics = client.campaign_analytics(campaign_ids[0])
    both = skm.reconcile(leads, analytics, replies=replies, include_matches=True)
    api_only = skm.reconcile(leads, analytics, include_matches=True)
    inbox_only = skm.reconcile(leads, replies=replies, include_matches=True)
    assert both.equals(pl.concat([api_only, inbox_only]))


def test_an_inbox_window_counts_replies_to_emails_sent_in_it(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
) -> None:
    leads, replies, raw = loaded[0]
    since, until = datetime(2025, 6, 10, tzinfo=UTC), datetime(2025, 6, 20, tzinfo=UTC)
    got = skm.funnel(leads, attribution="inbox", replies=replies, since=since, until=until)
    sent_at = {
        (i, e["sequenceStep"]): e["sentAt"]
        for i, lead in raw["leads"].items()
        for e in lead["emailsSent"]
    }
    lo, hi = "2025-06-10T00:00:00.000Z", "2025-06-20T00:00:00.000Z"
    want: Counter[int] = Counter()
    for lead_id, (kind, step, _) in _inbox_steps(raw).items():
        if kind == "human" and step is not None and lo <= sent_at[(lead_id, step)] < hi:
            want[step] += 1
    assert dict(zip(got["step"], got["replied"], strict=True)) == {s: want[s] for s in got["step"]}
    assert sum(want.values()) == got["replied"].sum() > 0


def test_segments_add_up(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
) -> None:
    leads, replies, _ = loaded[0]
    whole = skm.funnel(leads, attribution="inbox", replies=replies)
    parts = skm.funnel(leads, segment="status", attribution="inbox", replies=replies)
    summed = parts.group_by("step").agg(pl.col("replied", "auto_replied").sum()).sort("step")
    assert summed["replied"].to_list() == whole["replied"].to_list()
    assert summed["auto_replied"].to_list() == whole["auto_replied"].to_list()
    head = skm.headline(leads, segment="status", attribution="inbox", replies=replies)
    total = skm.headline(leads, attribution="inbox", replies=replies)
    for column in ("replied", "positive", "auto_replied", "unattributed"):
        assert head[column].sum() == total[column][0], column


# -- small frames: absent, null and odd shapes --------------------------------------------------


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2025, 6, day, hour, tzinfo=UTC)


def _email(
    step: int, day: int, variant: str | None = None, bounced: bool = False
) -> dict[str, Any]:
    return {
        "step": step,
        "variant": variant,
        "sent_at": _at(day),
        "opened": False,
        "clicked": False,
        "bounced": bounced,
    }


def _lead(
    i: str,
    emails: list[dict[str, Any]],
    replied: bool = False,
    replied_at: Any = None,
    tag: Any = None,
) -> dict[str, Any]:
    return {
        "campaign_id": "c1",
        "id": i,
        "lead_id": f"p{i}",
        "status": "replied" if replied else "active",
        "replied": replied,
        "replied_at": replied_at,
        "ai_tag": tag,
        "emails": emails,
    }


def _reply(
    i: str | None, n: int, at: Any, step: Any, auto: Any, tag: Any = None, sent: Any = None
) -> dict[str, Any]:
    return {
        "campaign_id": "c1",
        "conversation_id": i,
        "id": i,
        "reply_index": n,
        "received_at": at,
        "is_auto_reply": auto,
        "ai_tag": tag,
        "step": step,
        "variant": None,
        "step_sent_at": sent,
        "thread_step": None,
        "attribution": None,
    }


@pytest.fixture()
def small() -> tuple[pl.DataFrame, pl.DataFrame]:
    two = [_email(0, 1, "A"), _email(2, 5)]
    leads = pl.DataFrame(
        [
            # 1: auto-reply to step 0, then a human reply to step 2 (counted at 2)
            _lead("1", two, True, _at(6), "interested"),
            # 2: out-of-office only (the loader flags it from the tag): auto, not replied
            _lead("2", two, True, _at(2), "out_of_office"),
            # 3: replied, no thread: last touch kept (step 2)
            _lead("3", two, True, _at(7), "not_interested"),
            # 4: thread names a step the lead has no email at: unattributed
            _lead("4", [_email(0, 1, "B")], True, _at(3), "meeting_booked"),
            # 5: leads frame says no reply, the thread has a human one at step 0 (undated)
            _lead("5", two, False, None, None),
            # 6: never emailed, human reply: unattributed_replies
            _lead("6", [], False, None, None),
            # 7: nothing at all
            _lead("7", two),
        ],
        schema=LEADS_SCHEMA,
    )
    replies = pl.DataFrame(
        [
            _reply("1", 0, _at(1, 10), 0, True, "interested", _at(1)),
            _reply("1", 1, _at(5, 12), 2, False, "interested", _at(5)),
            _reply("2", 0, _at(2), 0, True, "out_of_office", _at(1)),
            _reply("4", 0, _at(3), 4, False, "meeting_booked", None),
            _reply("5", 0, None, 0, False, None, _at(1)),
            _reply("6", 0, _at(3), None, False, "interested", None),
            _reply(None, 0, _at(3), 0, False, "interested", None),  # unknown lead: ignored
        ],
        schema=REPLIES_SCHEMA,
    )
    return leads, replies


def test_small_frame_rules(small: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    leads, replies = small
    got = skm.funnel(leads, attribution="inbox", replies=replies)
    assert got.select("step", "replied", "positive", "auto_replied").rows() == [
        (0, 1, 0, 1),  # lead 5 replied; lead 2 auto
        (2, 2, 1, 0),  # lead 1 (positive) and lead 3 (last touch kept)
    ]
    variants = skm.funnel(leads, "variant", attribution="inbox", replies=replies)
    assert variants.select("step", "variant", "replied", "auto_replied").rows() == [
        (0, "A", 1, 1),
        (0, "B", 0, 0),
        (2, None, 2, 0),
    ]
    head = skm.headline(leads, attribution="inbox", replies=replies).row(0, named=True)
    assert (
        head["replied"],
        head["positive"],
        head["auto_replied"],
        head["unattributed"],
        head["unattributed_replies"],
    ) == (4, 2, 1, 2, 1)
    changes = dict(skm.compare_attribution(leads, replies).select("id", "change").iter_rows())
    assert changes == {
        "1": "same",
        "2": "auto_reply",
        "3": "no_thread",
        "4": "unattributed",
        "5": "thread_only",
        "6": "unattributed",
    }


def test_empty_replies_and_no_replied_leads(small: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    leads, replies = small
    quiet = leads.filter(pl.col("id") == "7")
    got = skm.funnel(quiet, attribution="inbox", replies=replies.clear())
    assert got["replied"].to_list() == [0, 0] and got["auto_replied"].to_list() == [0, 0]
    head = skm.headline(quiet, attribution="inbox", replies=replies.clear())
    assert head["auto_replied"].to_list() == [0]
    empty = skm.funnel(leads.clear(), attribution="inbox", replies=replies.clear())
    assert empty.height == 0 and "auto_replied" in empty.columns
    assert skm.reconcile(leads.clear(), replies=replies.clear()).height == 0


def test_bad_input_is_refused_with_a_clear_error(
    small: tuple[pl.DataFrame, pl.DataFrame],
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
) -> None:
    leads, replies = small
    with pytest.raises(BadRequestError, match="needs the inbox replies"):
        skm.funnel(leads, attribution="inbox")
    with pytest.raises(BadRequestError, match="only read with attribution='inbox'"):
        skm.headline(leads, replies=replies)
    with pytest.raises(BadRequestError, match="unknown attribution"):
        skm.funnel(leads, attribution="first_touch", replies=replies)  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match=r"polars DataFrame of sk\.load_replies"):
        skm.funnel(leads, attribution="inbox", replies=replies.to_dicts())  # type: ignore[arg-type]
    with pytest.raises(BadRequestError, match="lacks the column"):
        skm.funnel(leads, attribution="inbox", replies=replies.drop("is_auto_reply"))
    with pytest.raises(BadRequestError, match="lacks the column"):
        skm.funnel(leads.drop("id"), attribution="inbox", replies=replies)
    # replies of another campaign
    lead0, replies0, _ = loaded[0]
    lead1, replies1, _ = loaded[1]
    with pytest.raises(BadRequestError, match="none of which the leads frame holds"):
        skm.funnel(lead0, attribution="inbox", replies=replies1)
    both = pl.concat([lead0, lead1])
    with pytest.raises(BadRequestError, match="needs analytics= or replies="):
        skm.reconcile(lead0)
    # two campaigns with both replies: per campaign, as separately
    together = skm.headline(both, attribution="inbox", replies=pl.concat([replies0, replies1]))
    apart = pl.concat(
        [
            skm.headline(lead0, attribution="inbox", replies=replies0),
            skm.headline(lead1, attribution="inbox", replies=replies1),
        ]
    ).sort("campaign_id")
    assert together.equals(apart)


@pytest.mark.parametrize("denominator", ["sent", "opened"])
def test_inbox_rates_follow_the_denominator(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]], denominator: str
) -> None:
    leads, replies, _ = loaded[0]
    got = skm.funnel(
        leads,
        attribution="inbox",
        replies=replies,
        denominator=denominator,  # type: ignore[arg-type]
    )
    for row in got.iter_rows(named=True):
        assert row["reply_rate"] == pytest.approx(row["replied"] / row[denominator])
        assert row["positive_rate"] == pytest.approx(row["positive"] / row[denominator])
        if row["replied"] <= row[denominator]:
            assert row["reply_rate_low"] <= row["reply_rate"] <= row["reply_rate_high"]


# -- fallbacks instead of errors, one auto-reply rule, windows, the comparison -----------------


def test_a_campaign_without_threads_keeps_last_touch(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
) -> None:
    """An empty inbox list for a campaign whose leads replied: every replied lead keeps its
    last-touch step ("no_thread"), as one replied lead without a message does; no error."""
    lead0, replies0, _ = loaded[0]
    lead1, _, _ = loaded[1]
    both = pl.concat([lead0, lead1])
    got = skm.headline(both, attribution="inbox", replies=replies0).sort("campaign_id")
    apart = skm.headline(lead0, attribution="inbox", replies=replies0)
    assert got.filter(pl.col("campaign_id") == lead0["campaign_id"][0]).equals(apart)
    alone = got.filter(pl.col("campaign_id") == lead1["campaign_id"][0]).row(0, named=True)
    last = skm.headline(lead1).row(0, named=True)
    assert last["replied"] > 0
    assert (alone["replied"], alone["positive"], alone["auto_replied"]) == (
        last["replied"],
        last["positive"],
        0,
    )
    no_threads = skm.funnel(lead1, attribution="inbox", replies=replies0.clear())
    assert no_threads["replied"].to_list() == skm.funnel(lead1)["replied"].to_list()
    changes = skm.compare_attribution(lead1, replies0.clear())
    assert set(changes["change"]) == {"no_thread"}
    assert changes.height == int(lead1["replied"].sum())


def test_replies_of_a_campaign_a_status_filter_emptied_count_for_nothing(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
) -> None:
    lead0, replies0, _ = loaded[0]
    lead1, replies1, _ = loaded[1]
    replies = pl.concat([replies0, replies1])
    # A filter that leaves campaign 1 no lead: its replies belong to no lead of the frame.
    chosen = (pl.col("status") == "bounced") & (pl.col("campaign_id") == lead0["campaign_id"][0])
    bounced0 = lead0.filter(chosen)
    selected = pl.concat([lead0, lead1]).filter(chosen)
    assert bounced0.height and replies1.height
    for metric in (skm.headline, skm.funnel):
        got = metric(selected, attribution="inbox", replies=replies)
        assert got.equals(metric(bounced0, attribution="inbox", replies=replies0))
    # ... and a filter that leaves no lead at all.
    empty = skm.headline(lead1.clear(), attribution="inbox", replies=replies1)
    assert empty.height == 0


def test_the_metrics_read_the_loaders_auto_reply_flag_only(
    small: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """The rule lives in load_replies: a frame whose is_auto_reply is false counts as human,
    whatever its tag, so replies.filter(~is_auto_reply) and the funnel's replied agree."""
    leads, replies = small
    told = replies.with_columns(
        is_auto_reply=pl.when(pl.col("id") == "2").then(False).otherwise("is_auto_reply"),
        ai_tag=pl.when(pl.col("id") == "2").then(pl.lit("OUT_OF_OFFICE")).otherwise("ai_tag"),
    )
    got = skm.funnel(leads, attribution="inbox", replies=told)
    assert got.select("step", "replied", "auto_replied").rows()[0] == (0, 2, 0)
    human = set(told.filter(~pl.col("is_auto_reply"))["id"].drop_nulls()) & set(leads["id"])
    head = skm.headline(leads, attribution="inbox", replies=told).row(0, named=True)
    contacted = set(leads.filter(pl.col("emails").list.len() > 0)["id"])
    assert head["replied"] == len(human & contacted | {"3"})  # 3: no thread, last touch


def test_reconcile_in_a_window_matches_the_windowed_funnels(
    client: sk.SendKitClient,
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
    campaign_ids: list[str],
) -> None:
    leads, replies, raw = loaded[0]
    since, until = datetime(2025, 6, 10, tzinfo=UTC), datetime(2025, 6, 20, tzinfo=UTC)
    rows = skm.reconcile(leads, replies=replies, include_matches=True, since=since, until=until)
    by_step = {r["step"]: r for r in rows.filter(pl.col("what") == "replied").iter_rows(named=True)}
    sent_at = {
        (i, e["sequenceStep"]): e["sentAt"]
        for i, lead in raw["leads"].items()
        for e in lead["emailsSent"]
    }
    lo, hi = "2025-06-10T00:00:00.000Z", "2025-06-20T00:00:00.000Z"
    want_last: Counter[int] = Counter()
    for lead_id, lead in raw["leads"].items():
        step = _last_touch(lead) if lead["replied"] else None
        if step is not None and lo <= sent_at[(lead_id, step)] < hi:
            want_last[step] += 1
    want_inbox: Counter[int] = Counter()
    for lead_id, (kind, step, _) in _inbox_steps(raw).items():
        if kind == "human" and step is not None and lo <= sent_at[(lead_id, step)] < hi:
            want_inbox[step] += 1
    assert sum(want_last.values()) < sum(1 for x in raw["leads"].values() if x["replied"])
    assert {s: (r["from_leads"], r["from_api"]) for s, r in by_step.items()} == {
        s: (want_last[s], want_inbox[s]) for s in set(want_last) | set(want_inbox)
    }
    # the same numbers as the windowed funnels beside it in a report
    last = skm.funnel(leads, since=since, until=until)
    inbox = skm.funnel(leads, attribution="inbox", replies=replies, since=since, until=until)
    for step, row in by_step.items():
        assert row["from_leads"] == last.filter(pl.col("step") == step)["replied"].sum()
        assert row["from_api"] == inbox.filter(pl.col("step") == step)["replied"].sum()
    # the API's analytics are all-time: no window with them
    with pytest.raises(BadRequestError, match="all-time"):
        skm.reconcile(leads, client.campaign_analytics(campaign_ids[0]), since=since)


def test_compare_campaigns_counts_replies_as_the_headline_does(
    loaded: dict[int, tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]],
) -> None:
    frames = [loaded[k] for k in (0, 1, 2)]
    leads = pl.concat([f[0] for f in frames])
    replies = pl.concat([f[1] for f in frames])
    got = skm.compare_campaigns(leads, attribution="inbox", replies=replies)
    for lead, rep, _ in frames:
        want = skm.headline(lead, attribution="inbox", replies=rep).row(0, named=True)
        row = got.filter(pl.col("campaign_id") == want["campaign_id"]).row(0, named=True)
        for column in ("replied", "positive", "auto_replied", "reply_rate", "positive_rate"):
            assert row[column] == want[column], column
    last = skm.compare_campaigns(leads)
    assert (last.sort("campaign_id")["replied"] > got.sort("campaign_id")["replied"]).all()
    steps = skm.compare_campaigns(leads, by="step", attribution="inbox", replies=replies)
    funnel = skm.funnel(leads, segment="campaign_id", attribution="inbox", replies=replies)
    assert steps["replied"].sum() == funnel["replied"].sum() > 0
    with pytest.raises(BadRequestError, match="needs the inbox replies"):
        skm.compare_campaigns(leads, attribution="inbox")
