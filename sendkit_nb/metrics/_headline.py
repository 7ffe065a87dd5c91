"""The campaign headline: one row of lead counts and rates per campaign (or segment)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import polars as pl

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
)
from sendkit_nb.metrics._stats import (
    check_confidence,
    wilson_expr,
)

__all__ = ["headline"]

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
    segs = [s for s in segment_columns(segment) if s[0] != "campaign_id"]
    check_leads(leads, ["campaign_id", *REPLY_COLUMNS, *(src for _, _, src in segs)], "headline")
    check_confidence(confidence)
    keys = ["campaign_id", *(name for name, _, _ in segs)]
    base = prepare(leads, segs, ["campaign_id", *REPLY_COLUMNS])
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
    contacts = per_lead.group_by(keys).agg(
        leads=pl.len(),
        contacted=pl.col("_contacted").sum(),
        delivered=pl.col("_delivered").sum(),
        bounced=(pl.col("_contacted") & ~pl.col("_delivered")).sum(),
        opened=pl.col("_opened").sum(),
        clicked=pl.col("_clicked").sum(),
    )
    # An undated reply goes to the latest delivered email, so it needs just one.
    attributed = (
        pl.when(pl.col("replied_at").is_null())
        .then(pl.col("_delivered"))
        .otherwise(pl.col("_first") <= pl.col("replied_at"))
        .fill_null(False)
    )
    # The reply side only touches replied leads (a few percent): tag matching stays cheap.
    # Numerators count contacted leads only, so no rate can pass 100% however the leads were
    # selected; a reply from a lead never emailed goes to unattributed_replies instead.
    contacted = pl.col("_contacted")
    replies = (
        per_lead.filter(pl.col("replied").fill_null(False))
        .group_by(keys)
        .agg(
            replied=contacted.sum(),
            positive=(positive_expr(positive_tags) & contacted).sum(),
            unattributed=(~attributed).sum(),
            unattributed_replies=(~contacted).sum(),
        )
    )
    out = contacts.join(replies, on=keys, how="left", nulls_equal=True)
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
