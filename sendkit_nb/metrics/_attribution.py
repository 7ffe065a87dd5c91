"""Inbox attribution: which step earned each reply, read from the inbox threads rather than
inferred by last touch.

Last touch (the default, ``attribution="last_touch"``) places a reply at the latest delivered
email sent at or before ``repliedAt``. Two things make it wrong now and then: ``repliedAt`` can
be recorded after a follow-up that went out while the reply was already in (the reply answers
the earlier email), and an out-of-office auto-reply counts as a reply. The inbox threads
(:func:`sendkit_nb.load_replies`) have neither problem, so ``attribution="inbox"`` with
``replies=`` uses them:

* A message is **automatic** when the replies frame's ``is_auto_reply`` is true (null: not
  automatic). The loader owns that rule (:func:`sendkit_nb.load_replies`: the thread flags it
  ``isAutoReply``, or the conversation's AI tag is ``out_of_office``, in any case), so
  ``replies.filter(~pl.col("is_auto_reply"))`` and the funnels' ``replied`` never disagree.
* A lead **replied** at step s when its first human message in the thread (by time, then thread
  order) follows the step-s email; a lead whose thread has automatic messages only is counted in
  ``auto_replied`` (at the step of its first one) and not in ``replied``. A lead counts once.
* The step is the one :func:`~sendkit_nb.load_replies` found for the message; the variant and
  the send time (which places the reply in a ``since``/``until`` window) are the lead's own
  email at that step (the very email where the send times match). A thread email the leads
  frame does not have, or no email before the message, leaves the reply unattributed.
* A replied lead (``replied`` true) with no message in ``replies`` keeps its last-touch step:
  the inbox has no conversation for it, and dropping the reply would lose it silently. That
  holds for a whole campaign whose inbox list came back empty: its replied leads all keep last
  touch. :func:`compare_attribution` lists those leads as ``"no_thread"``.
* Replies of a campaign the leads frame does not hold (a status filter left it no lead) count
  for nothing: they belong to no lead of the frame. Only replies that share no campaign with a
  non-empty leads frame are refused, as certainly the wrong frame.
* ``positive`` stays the leads frame's ``ai_tag`` in the positive set, for replied leads.

The metrics compute their last-touch frame as usual and this module swaps the reply columns
(``replied``, ``positive``, their rates and intervals) and adds ``auto_replied``; the rest of a
row (sent, delivered, opens...) does not depend on attribution.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb.metrics._common import check_leads, ratio, tag_is_positive
from sendkit_nb.metrics._definitions import rate_denominators
from sendkit_nb.metrics._emails import (
    REPLY_COLUMNS,
    attribute_replies,
    check_choice,
    email_any,
    explode_emails,
    prepare,
)
from sendkit_nb.metrics._stats import wilson_expr
from sendkit_nb.metrics._windows import Window

__all__ = [
    "ATTRIBUTIONS",
    "ATTRIBUTION_CHANGES",
    "Attribution",
    "Inbox",
    "compare_attribution",
    "inbox_for",
    "reconcile_replies",
]

#: ``attribution=``: infer each reply's step by last touch, or read it from the inbox threads.
Attribution = Literal["last_touch", "inbox"]
ATTRIBUTIONS: Final[tuple[str, ...]] = ("last_touch", "inbox")
#: What :func:`compare_attribution` says about each lead, in output order.
ATTRIBUTION_CHANGES: Final[dict[str, str]] = {
    "moved": "the thread shows an earlier (or other) step than last touch",
    "auto_reply": "last touch counts a reply; the thread has automatic replies only",
    "no_thread": "the lead replied but has no message in the inbox threads (last touch kept)",
    "thread_only": "the thread has a human reply; the leads frame has none or cannot place it",
    "unattributed": "the thread has a human reply but no email the leads frame has before it",
    "same": "both name the same step",
}

#: Columns of the ``load_replies`` frame the attribution reads.
_REPLY_FIELDS: Final = (
    "campaign_id",
    "id",
    "reply_index",
    "received_at",
    "is_auto_reply",
    "ai_tag",
    "step",
    "step_sent_at",
)
_REPLIES_HINT = (
    "Pass replies=sk.load_replies(client, campaign_id) for the campaign of these leads "
    "(pl.concat the frames of several campaigns)."
)


def inbox_for(attribution: object, replies: object, leads: pl.DataFrame, what: str) -> Inbox | None:
    """Check ``attribution=`` / ``replies=`` of metric ``what``: None for last touch, else the
    :class:`Inbox` of ``replies`` for these ``leads``. Errors are
    :class:`~sendkit_nb.BadRequestError` naming the problem, raised before any work."""
    check_choice(attribution, ATTRIBUTIONS, "attribution=")
    if attribution == "last_touch":
        if replies is not None:
            raise BadRequestError(
                f"{what}: replies= is only read with attribution='inbox'",
                hint="Pass attribution='inbox' to count replies at the step their thread "
                "shows, or leave replies= out.",
            )
        return None
    if replies is None:
        raise BadRequestError(
            f"{what}(attribution='inbox') needs the inbox replies (replies=)", hint=_REPLIES_HINT
        )
    return checked_inbox(leads, replies, what)


def checked_inbox(leads: pl.DataFrame, replies: object, what: str) -> Inbox:
    """The :class:`Inbox` of ``replies`` for ``leads``, both checked first."""
    check_leads(leads, ["campaign_id", "id", *REPLY_COLUMNS], what)
    return Inbox(leads, _check_replies(replies, leads, what))


def _check_replies(replies: object, leads: pl.DataFrame, what: str) -> pl.DataFrame:
    if not isinstance(replies, pl.DataFrame):
        raise BadRequestError(
            f"{what}: replies must be the polars DataFrame of sk.load_replies, got "
            f"{type(replies).__name__}",
            hint=_REPLIES_HINT,
        )
    missing = [c for c in _REPLY_FIELDS if c not in replies.columns]
    if missing:
        raise BadRequestError(
            f"{what}: the replies frame lacks the column(s) {', '.join(map(repr, missing))}",
            hint=_REPLIES_HINT,
        )
    theirs = {c for c in replies["campaign_id"].unique().to_list() if c is not None}
    ours = {c for c in leads["campaign_id"].unique().to_list() if c is not None}
    # Replies of a campaign the frame lacks match no lead and count for nothing (a status
    # filter can leave a campaign with threads no lead): only when the two share no campaign
    # at all is it certainly the wrong frame. A campaign of the frame without any reply is
    # not an error either: an empty inbox list leaves its replied leads at last touch.
    if theirs and ours and not theirs & ours:
        raise BadRequestError(
            f"{what}: the replies are from campaign(s) {', '.join(sorted(theirs))}, none of "
            f"which the leads frame holds ({', '.join(sorted(ours))})",
            hint="Load the replies and the leads of the same campaign.",
        )
    return replies


class Inbox:
    """The replies of one selection of leads, resolved to one message per lead: its first
    human message, else its first automatic one. ``per_lead`` is keyed by ``_lead``, the row
    index of ``leads`` (the same key :func:`~sendkit_nb.metrics._emails.prepare` gives)."""

    def __init__(self, leads: pl.DataFrame, replies: pl.DataFrame) -> None:
        ids = leads.select("id").with_row_index("_lead")
        messages = (
            replies.filter(pl.col("id").is_not_null())
            .select(
                "id",
                "reply_index",
                "received_at",
                "step_sent_at",
                step=pl.col("step").cast(pl.Int32),
                # The loader's rule (load_replies), read as it is: no second opinion here.
                _automatic=pl.col("is_auto_reply").fill_null(False),
            )
            # Messages of leads outside the selection (a status filter) are not counted.
            .join(ids, on="id", how="inner")
        )
        self.per_lead: pl.DataFrame = (
            messages.sort(["_lead", "_automatic", "received_at", "reply_index"], nulls_last=True)
            .group_by("_lead", maintain_order=True)
            .first()
            .select(
                "_lead",
                _human=~pl.col("_automatic"),
                _step=pl.col("step"),
                _step_sent_at=pl.col("step_sent_at"),
                _at=pl.col("received_at"),
            )
        )

    def table(self, base: pl.DataFrame, emails: pl.DataFrame) -> pl.DataFrame:
        """One row per lead with a reply under inbox rules: ``_lead``, ``_human`` (False: the
        thread has automatic replies only), ``_attributed``, ``step``, ``variant``,
        ``_touch_at`` (when the attributed email was sent) and ``_at`` (when the reply came).

        ``base`` is from ``prepare`` (with ``replied``, ``replied_at``) and ``emails`` from
        ``explode_emails(base, ["_lead", "replied_at"], variant=True)``."""
        threaded = self.per_lead
        touches = (
            emails.join(
                threaded.select("_lead", "_step", "_step_sent_at"),
                left_on=["_lead", "step"],
                right_on=["_lead", "_step"],
                how="inner",
            )
            # The email whose send time the thread shows, else a delivered one, else the last.
            .with_columns(_exact=(pl.col("sent_at") == pl.col("_step_sent_at")).fill_null(False))
            .sort(["_lead", "_exact", "_delivered", "_pos"])
            .unique("_lead", keep="last")
            .select("_lead", "step", "variant", _touch_at=pl.col("sent_at"))
        )
        from_threads = threaded.join(touches, on="_lead", how="left").select(
            "_lead",
            "_human",
            # The step column is the matched email's: null when the leads frame lacks it.
            _attributed=pl.col("step").is_not_null(),
            step=pl.col("step"),
            variant=pl.col("variant"),
            _touch_at=pl.col("_touch_at"),
            _at=pl.col("_at"),
        )
        # Replied leads the inbox has no conversation for keep last touch.
        unthreaded = base.filter(pl.col("replied").fill_null(False)).join(
            threaded.select("_lead"), on="_lead", how="anti"
        )
        last = attribute_replies(
            emails.join(unthreaded.select("_lead"), on="_lead", how="semi")
        ).select("_lead", "step", "variant", "_attributed", "_touch_at")
        from_leads = (
            unthreaded.select("_lead", _at=pl.col("replied_at"))
            .join(last, on="_lead", how="left")
            .select(
                "_lead",
                _human=pl.lit(True),
                _attributed=pl.col("_attributed").fill_null(False),
                step=pl.col("step"),
                variant=pl.col("variant"),
                _touch_at=pl.col("_touch_at"),
                _at=pl.col("_at"),
            )
        )
        return pl.concat([from_threads, from_leads], how="vertical_relaxed")

    def funnel(
        self,
        out: pl.DataFrame,
        leads: pl.DataFrame,
        segs: list[tuple[str, pl.Expr, str]],
        by: str,
        positive_tags: Iterable[str] | None,
        confidence: float,
        window: Window | None,
    ) -> pl.DataFrame:
        """A last-touch funnel frame ``out`` with ``replied``, ``positive`` (and their rates and
        intervals) counted by the threads, and ``auto_replied`` after ``positive``."""
        seg_names = [name for name, _, _ in segs]
        keys = [*seg_names, "step", *(["variant"] if by == "variant" else [])]
        base = prepare(leads, segs, ["id", *REPLY_COLUMNS])
        emails = explode_emails(base, ["_lead", "replied_at"], variant=True)
        table = self.table(base, emails).filter(pl.col("_attributed"))
        if window is not None:
            table = table.filter(window.contains(pl.col("_touch_at")))
        human = pl.col("_human")
        counts = (
            table.join(
                base.select(*dict.fromkeys(["_lead", *seg_names, "ai_tag"])),
                on="_lead",
                how="inner",
            )
            .group_by(keys)
            .agg(
                replied=human.sum(),
                positive=(human & tag_is_positive(pl.col("ai_tag"), positive_tags)).sum(),
                auto_replied=(~human).sum(),
            )
        )
        return _swap(out, counts, keys, confidence, _funnel_over(out))

    def headline(
        self,
        out: pl.DataFrame,
        leads: pl.DataFrame,
        segs: list[tuple[str, pl.Expr, str]],
        positive_tags: Iterable[str] | None,
        confidence: float,
        window: Window | None,
    ) -> pl.DataFrame:
        """A last-touch headline frame ``out`` with the reply counts by the threads (same
        per-lead rules: numerators count contacted leads only) and ``auto_replied``."""
        keys = [name for name, _, _ in segs]
        base = prepare(leads, segs, ["id", *REPLY_COLUMNS])
        emails = explode_emails(base, ["_lead", "replied_at"], variant=True)
        table = self.table(base, emails)
        if window is None:
            contacted = pl.col("emails").list.len() > 0
        else:
            contacted = email_any(window.contains(pl.element().struct.field("sent_at")))
            # As for last touch: by the attributed email's send time, else the reply's own.
            table = table.filter(
                pl.when(pl.col("_attributed"))
                .then(window.contains(pl.col("_touch_at")))
                .otherwise(window.contains(pl.col("_at")))
            )
        per_lead = base.select(
            *dict.fromkeys(["_lead", *keys, "ai_tag"]), _contacted=contacted.fill_null(False)
        )
        human = pl.col("_human")
        reached = pl.col("_contacted")
        counts = (
            table.join(per_lead, on="_lead", how="inner")
            .group_by(keys)
            .agg(
                replied=(human & reached).sum(),
                positive=(human & reached & tag_is_positive(pl.col("ai_tag"), positive_tags)).sum(),
                auto_replied=(~human & reached).sum(),
                unattributed=(human & ~pl.col("_attributed")).sum(),
                unattributed_replies=(human & ~reached).sum(),
            )
        )
        return _swap(out, counts, keys, confidence, {"reply": "contacted", "positive": "contacted"})


def _funnel_over(out: pl.DataFrame) -> dict[str, str]:
    """The column the funnel's reply and positive rates are over (from its ``denominator``)."""
    over = rate_denominators(str(out["denominator"][0]) if out.height else "delivered")
    return {"reply": over["reply_rate"], "positive": over["positive_rate"]}


def _swap(
    out: pl.DataFrame,
    counts: pl.DataFrame,
    keys: list[str],
    confidence: float,
    over: dict[str, str],
) -> pl.DataFrame:
    """``out`` with the columns of ``counts`` replaced (0 for groups without any), the reply
    and positive rates and intervals recomputed, and ``auto_replied`` placed after
    ``positive``."""
    replaced = [c for c in counts.columns if c not in keys]
    columns = list(out.columns)
    columns.insert(columns.index("positive") + 1, "auto_replied")
    rates: dict[str, pl.Expr] = {}
    for metric, events in (("reply", "replied"), ("positive", "positive")):
        rates[f"{metric}_rate"] = ratio(events, over[metric])
        low, high = wilson_expr(events, over[metric], confidence)
        rates[f"{metric}_rate_low"], rates[f"{metric}_rate_high"] = low, high
    # Groups keep the last-touch frame's order; a group with no reply gets 0.
    swapped = (
        out.drop([c for c in replaced if c in out.columns])
        .join(counts, on=keys, how="left", nulls_equal=True, maintain_order="left")
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in replaced)
        .with_columns(**{k: v for k, v in rates.items() if k in out.columns})
    )
    return swapped.select(columns)


# ----------------------------------------------------------------------- comparing the two

_COMPARE_SCHEMA: Final = pl.Schema(
    {
        "campaign_id": pl.String,
        "id": pl.String,
        "email": pl.String,
        "last_touch_step": pl.Int32,
        "inbox_step": pl.Int32,
        "change": pl.String,
    }
)


def compare_attribution(leads: pl.DataFrame, replies: pl.DataFrame) -> pl.DataFrame:
    """Last touch against the inbox threads, one row per lead either of them counts as replied.

    Columns: ``campaign_id``, ``id``, ``email``, ``last_touch_step`` (null: last touch counts no
    reply, or cannot place it), ``inbox_step`` (the step of the lead's first human message in the
    thread; null for automatic-only threads, unattributed replies and leads without a thread) and
    ``change``, a key of :data:`ATTRIBUTION_CHANGES`: ``moved``, ``auto_reply``, ``no_thread``,
    ``thread_only``, ``unattributed`` or ``same``. Sorted by campaign, change (in that order) and
    id. ``leads`` is a campaign's leads frame, ``replies`` its :func:`sendkit_nb.load_replies`.
    """
    inbox = checked_inbox(leads, replies, "compare_attribution")
    base = prepare(leads, [], ["campaign_id", "id", "email", *REPLY_COLUMNS])
    emails = explode_emails(base, ["_lead", "replied_at"], variant=True)
    replied = base.filter(pl.col("replied").fill_null(False))
    last = attribute_replies(emails.join(replied.select("_lead"), on="_lead", how="semi")).select(
        "_lead", last_touch_step=pl.col("step")
    )
    last = replied.select("_lead").join(last, on="_lead", how="left")
    threads = inbox.table(base, emails).join(
        inbox.per_lead.select("_lead", _threaded=pl.lit(True)), on="_lead", how="left"
    )
    threads = threads.select(
        "_lead",
        "_human",
        "_attributed",
        _threaded=pl.col("_threaded").fill_null(False),
        inbox_step=pl.when(pl.col("_human") & pl.col("_attributed")).then(pl.col("step")),
    )
    both = last.join(threads, on="_lead", how="full", coalesce=True).with_columns(
        _last=pl.col("_lead").is_in(last["_lead"].implode())
    )
    lt, ib = pl.col("last_touch_step"), pl.col("inbox_step")
    change = (
        pl.when(~pl.col("_threaded").fill_null(False))
        .then(pl.lit("no_thread"))
        .when(~pl.col("_human"))
        .then(pl.lit("auto_reply"))
        .when(~pl.col("_attributed"))
        .then(pl.lit("unattributed"))
        .when(lt.is_null())
        .then(pl.lit("thread_only"))
        .when(lt == ib)
        .then(pl.lit("same"))
        .otherwise(pl.lit("moved"))
    )
    order = {c: i for i, c in enumerate(ATTRIBUTION_CHANGES)}
    out = (
        both.with_columns(change=change)
        # An automatic-only thread of a lead last touch never counted changes nothing.
        .filter(~((pl.col("change") == "auto_reply") & ~pl.col("_last")))
        .join(base.select("_lead", "campaign_id", "id", "email"), on="_lead", how="left")
        .with_columns(_o=pl.col("change").replace_strict(order, return_dtype=pl.Int32))
        .sort("campaign_id", "_o", "id", nulls_last=True)
    )
    return out.select(list(_COMPARE_SCHEMA.names())).cast(_COMPARE_SCHEMA)


def reconcile_replies(
    leads: pl.DataFrame,
    replies: pl.DataFrame,
    include_matches: bool,
    window: Window | None = None,
) -> pl.DataFrame:
    """The rows :func:`~sendkit_nb.metrics.reconcile` adds for ``replies=``: per campaign and
    step, ``what="replied"`` with ``from_leads`` = leads replied at the step by last touch and
    ``from_api`` = by the inbox threads; and per campaign ``what="unattributed"`` (step null):
    replied leads no step counts, each way.

    ``window``: count only the replies the funnels count in it, each way by its own placement
    (the send time of the email the reply is placed at; an unattributed reply, its own time), so
    the rows match the windowed last-touch and inbox funnels beside them."""
    checked_inbox(leads, replies, "reconcile")
    frames = []
    for campaign_id in sorted(c for c in leads["campaign_id"].unique().to_list() if c):
        mine = leads.filter(pl.col("campaign_id") == campaign_id)
        rows = replies.filter(pl.col("campaign_id") == campaign_id)
        inbox = Inbox(mine, rows)
        base = prepare(mine, [], ["id", *REPLY_COLUMNS])
        emails = explode_emails(base, ["_lead", "replied_at"], variant=True)
        replied = base.filter(pl.col("replied").fill_null(False))
        last = attribute_replies(emails.join(replied.select("_lead"), on="_lead", how="semi"))
        table = inbox.table(base, emails).filter(pl.col("_human"))
        unplaced = replied.join(last.select("_lead"), on="_lead", how="anti")
        if window is not None:
            last = last.filter(window.contains(pl.col("_touch_at")))
            unplaced = unplaced.filter(window.contains(pl.col("replied_at")))
            table = table.filter(
                window.contains(pl.when(pl.col("_attributed")).then("_touch_at").otherwise("_at"))
            )
        per_step = (
            last.group_by("step")
            .agg(from_leads=pl.len())
            .join(
                table.filter(pl.col("_attributed")).group_by("step").agg(from_api=pl.len()),
                on="step",
                how="full",
                coalesce=True,
            )
            .sort("step")
            .select(
                what=pl.lit("replied"),
                step=pl.col("step").cast(pl.Int32),
                from_leads=pl.col("from_leads").fill_null(0),
                from_api=pl.col("from_api").fill_null(0),
            )
        )
        unattributed = pl.DataFrame(
            {
                "what": ["unattributed"],
                "step": pl.Series([None], dtype=pl.Int32),
                "from_leads": [unplaced.height],
                "from_api": [int((~table["_attributed"]).sum())],
            }
        )
        frames.append(
            pl.concat([per_step, unattributed], how="vertical_relaxed").with_columns(
                campaign_id=pl.lit(campaign_id)
            )
        )
    schema = pl.Schema(
        {
            "campaign_id": pl.String,
            "what": pl.String,
            "step": pl.Int32,
            "variant": pl.String,
            "from_leads": pl.Int64,
            "from_api": pl.Int64,
            "difference": pl.Int64,
        }
    )
    if not frames:
        return pl.DataFrame(schema=schema)
    out = pl.concat(frames, how="vertical_relaxed").select(
        "campaign_id",
        "what",
        "step",
        variant=pl.lit(None, pl.String),
        from_leads=pl.col("from_leads").cast(pl.Int64),
        from_api=pl.col("from_api").cast(pl.Int64),
        difference=(pl.col("from_leads") - pl.col("from_api")).cast(pl.Int64),
    )
    if not include_matches:
        out = out.filter(pl.col("difference") != 0)
    return out.cast(schema)
