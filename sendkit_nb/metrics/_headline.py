"""The campaign headline: one row of lead counts and rates per campaign (or segment)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

import polars as pl

from sendkit_nb.metrics._attribution import Attribution, inbox_for
from sendkit_nb.metrics._common import (
    check_leads,
    positive_expr,
    positive_tags_column,
    ratio,
    segment_columns,
)
from sendkit_nb.metrics._emails import (
    EMAILS,
    REPLY_COLUMNS,
    Segment,
    email_any,
    prepare,
    replies_in_window,
)
from sendkit_nb.metrics._stats import (
    check_confidence,
    wilson_expr,
)
from sendkit_nb.metrics._windows import Window, WindowBound, window_of

__all__ = ["headline", "headline_by"]

#: The headline rates: rate -> (events, per-lead denominator).
_HEADLINE_RATES: Final[dict[str, tuple[str, str]]] = {
    "positive_rate": ("positive", "contacted"),
    "reply_rate": ("replied", "contacted"),
    "bounce_rate": ("bounced", "contacted"),
    "open_rate": ("opened", "delivered"),
    "click_rate": ("clicked", "delivered"),
}
_HEADLINE_COUNTS = (
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
)


def headline(
    leads: pl.DataFrame,
    *,
    segment: Segment = None,
    positive_tags: Iterable[str] | None = None,
    confidence: float = 0.95,
    since: WindowBound = None,
    until: WindowBound = None,
    as_of: datetime | None = None,
    attribution: Attribution = "last_touch",
    replies: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The campaign headline: one row per campaign (and segment), counted per lead.

    Columns: ``campaign_id``, the ``segment`` columns, then Int64 counts ``leads``,
    ``contacted`` (at least one email), ``delivered`` (at least one email that did not bounce),
    ``bounced`` (contacted, every email bounced), ``opened``, ``clicked`` (a delivered email
    opened / clicked), ``replied`` (contacted leads that replied), ``positive`` (of those, a
    positive ``ai_tag``), ``unattributed`` (replied leads, emailed or not, with no delivered
    email at or before the reply: the replies no step of the funnel counts, as
    ``reply_attribution`` lists them), ``unattributed_replies`` (replied leads never emailed:
    left out of ``replied`` and ``positive`` and reported here instead; also counted in
    ``unattributed``); then Float64 ``positive_rate`` = positive / contacted (the headline rate),
    ``reply_rate`` = replied / contacted, ``bounce_rate`` = bounced / contacted, ``open_rate`` =
    opened / delivered, ``click_rate`` = clicked / delivered (null when the denominator is 0);
    then each rate's Wilson score interval at ``confidence``, ``positive_rate_low``,
    ``positive_rate_high``, ..., ``click_rate_high`` (null where the rate is), ``confidence``
    (their level) and ``positive_tags`` (the tags counted as positive), the same on every row.

    Every numerator counts contacted leads only, so for any selection of leads (a status
    filter, a narrow segment) every rate and interval bound is within [0, 1]. Per row,
    ``replied + unattributed_replies`` is every replied lead, and the funnel's step replies plus
    ``unattributed`` are every replied lead too.

    ``since`` / ``until`` (a datetime, a date, an ISO string, or ``"7d"``, ``"4w"``, ``"3m"``
    before ``as_of``, default the latest timestamp in ``leads``) count the window only: contacted,
    delivered, bounced, opened and clicked look at the emails sent in the window; a reply counts
    when the email it is attributed to was sent in the window, or, with no such email, when the
    reply itself is in the window (``unattributed``; ``unattributed_replies`` are then the
    window's replies from leads not emailed in it). ``leads`` stays every lead of the frame. The
    two sums above hold within the window.

    ``attribution="inbox"`` with ``replies=`` (:func:`sendkit_nb.load_replies` of the same
    campaign(s)) counts each reply at the step its inbox thread shows instead of by last touch,
    leaves auto-replies and out-of-office replies out of ``replied`` and ``positive`` and counts
    those leads in an extra column ``auto_replied`` (after ``positive``); rules in
    ``DEFINITIONS`` and ``sendkit_nb/metrics/_attribution.py``.

    >>> from datetime import datetime, UTC
    >>> e = {"step": 0, "variant": None, "sent_at": datetime(2025, 6, 2, tzinfo=UTC),
    ...      "opened": True, "clicked": False, "bounced": False}
    >>> leads = pl.DataFrame({"campaign_id": ["c"] * 3, "replied": [True, False, False],
    ...     "replied_at": [None] * 3, "ai_tag": ["meeting_booked", None, None],
    ...     "emails": [[e], [e], []]})
    >>> headline(leads).select("leads", "contacted", "replied", "positive", "positive_rate").rows()
    [(3, 2, 1, 1, 0.5)]

    A reply from a lead never emailed is not in ``replied``:

    >>> never = leads.with_columns(replied=pl.Series([True, False, True]))
    >>> headline(never).select("replied", "unattributed", "unattributed_replies").rows()
    [(1, 1, 1)]
    """
    segs = [s for s in segment_columns(segment, leads) if s[0] != "campaign_id"]
    check_leads(leads, ["campaign_id", *REPLY_COLUMNS, *(src for _, _, src in segs)], "headline")
    check_confidence(confidence)
    window = window_of(since, until, as_of, leads, "headline")
    inbox = inbox_for(attribution, replies, leads, "headline")
    segs = [("campaign_id", pl.col("campaign_id"), "campaign_id"), *segs]
    out = headline_by(leads, segs, positive_tags, confidence, window)
    if inbox is None:
        return out
    return inbox.headline(out, leads, segs, positive_tags, confidence, window)


def headline_by(
    leads: pl.DataFrame,
    segs: list[tuple[str, pl.Expr, str]],
    positive_tags: Iterable[str] | None,
    confidence: float,
    window: Window | None,
) -> pl.DataFrame:
    """:func:`headline` grouped by the ``segs`` (``(name, expression, source)`` triples, as from
    ``segment_columns``) over checked ``leads``: the cohorts group by first-send period."""
    keys = [name for name, _, _ in segs]
    base = prepare(leads, segs, REPLY_COLUMNS)
    if window is not None:
        return _windowed(base, keys, positive_tags, confidence, window)
    element = pl.element().struct
    delivered = ~element.field("bounced").fill_null(False)
    # Per lead, straight from the lists (no explode): any delivered / opened / clicked email,
    # and the first delivered send time, which decides attribution: a reply has a delivered
    # email at or before it exactly when the earliest delivered email is at or before it.
    per_lead = base.select(
        *dict.fromkeys([*keys, "replied", "replied_at", "ai_tag"]),
        _contacted=EMAILS.list.len().fill_null(0) > 0,
        _delivered=email_any(delivered),
        _opened=email_any(element.field("opened").fill_null(False) & delivered),
        _clicked=email_any(element.field("clicked").fill_null(False) & delivered),
        # Only replied leads need it: masking the rest first made this several times cheaper.
        _first=pl.when(pl.col("replied").fill_null(False))
        .then(EMAILS)
        .list.agg(element.field("sent_at").filter(delivered).min()),
    )
    # An undated reply goes to the latest delivered email, so it needs just one.
    attributed = (
        pl.when(pl.col("replied_at").is_null())
        .then(pl.col("_delivered"))
        .otherwise(pl.col("_first") <= pl.col("replied_at"))
        .fill_null(False)
    )
    replied = per_lead.filter(pl.col("replied").fill_null(False))
    return _counted(per_lead, replied, attributed, keys, positive_tags, confidence)


def _windowed(
    base: pl.DataFrame,
    keys: list[str],
    positive_tags: Iterable[str] | None,
    confidence: float,
    window: Window,
) -> pl.DataFrame:
    """The headline of the emails sent in ``window`` and the replies placed in it."""
    element = pl.element().struct
    delivered = ~element.field("bounced").fill_null(False)
    in_window = window.contains(element.field("sent_at"))
    per_lead = base.select(
        "_lead",
        *dict.fromkeys([*keys, "replied", "ai_tag"]),
        _contacted=email_any(in_window),
        _delivered=email_any(delivered & in_window),
        _opened=email_any(element.field("opened").fill_null(False) & delivered & in_window),
        _clicked=email_any(element.field("clicked").fill_null(False) & delivered & in_window),
    )
    replied = per_lead.join(replies_in_window(base, window), on="_lead", how="inner").filter(
        pl.col("_in_window")
    )
    return _counted(per_lead, replied, pl.col("_attributed"), keys, positive_tags, confidence)


def _counted(
    per_lead: pl.DataFrame,
    replied: pl.DataFrame,
    attributed: pl.Expr,
    keys: list[str],
    positive_tags: Iterable[str] | None,
    confidence: float,
) -> pl.DataFrame:
    """The headline of one row per lead (``per_lead``: the ``keys``, ``_contacted``,
    ``_delivered``, ``_opened``, ``_clicked``) and the rows of its replies that count
    (``replied``: those columns and ``ai_tag``; ``attributed`` true where a reply has a
    delivered email at or before it), whether or not a window chose them."""
    contacts = per_lead.group_by(keys).agg(
        leads=pl.len(),
        contacted=pl.col("_contacted").sum(),
        delivered=pl.col("_delivered").sum(),
        bounced=(pl.col("_contacted") & ~pl.col("_delivered")).sum(),
        opened=pl.col("_opened").sum(),
        clicked=pl.col("_clicked").sum(),
    )
    # The reply side only touches replied leads (a few percent): tag matching stays cheap.
    # Numerators count contacted leads only, so no rate can pass 100% however the leads were
    # selected; a reply from a lead never emailed goes to unattributed_replies instead.
    contacted = pl.col("_contacted")
    replies = replied.group_by(keys).agg(
        replied=contacted.sum(),
        positive=(positive_expr(positive_tags) & contacted).sum(),
        unattributed=(~attributed).sum(),
        unattributed_replies=(~contacted).sum(),
    )
    return _finish(
        contacts.join(replies, on=keys, how="left", nulls_equal=True),
        keys,
        positive_tags,
        confidence,
    )


def _finish(
    out: pl.DataFrame,
    keys: list[str],
    positive_tags: Iterable[str] | None,
    confidence: float,
) -> pl.DataFrame:
    """Counts as Int64 (0 where a group had no reply), then the rates and their intervals."""
    intervals: dict[str, pl.Expr] = {}
    for rate, (events, over) in _HEADLINE_RATES.items():
        intervals[f"{rate}_low"], intervals[f"{rate}_high"] = wilson_expr(events, over, confidence)
    return (
        out.select(*keys, *(pl.col(c).fill_null(0).cast(pl.Int64) for c in _HEADLINE_COUNTS))
        .with_columns(
            **{rate: ratio(events, over) for rate, (events, over) in _HEADLINE_RATES.items()}
        )
        .with_columns(
            **intervals,
            confidence=pl.lit(confidence, pl.Float64),
            positive_tags=positive_tags_column(positive_tags),
        )
        .sort(keys, nulls_last=False)
    )
