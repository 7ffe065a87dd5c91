"""Which sender: bounce and reply rates per sending mailbox, with intervals and a bounce flag.

The counts come from :func:`sendkit_nb.load_mailboxes` (``GET /v1/analytics/mailboxes``),
which counts *emails*: every rate here is per email sent from the mailbox, not per lead as in
the campaign headline (a lead gets several emails, from one mailbox). The rates are recomputed
from the counts, as the loader does, and get Wilson intervals, because a mailbox that sent 40
emails with 4 bounces is not yet known to bounce at 10%.
"""

from __future__ import annotations

import numbers
from typing import Final

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb.metrics._common import ratio
from sendkit_nb.metrics._stats import check_confidence, wilson_expr

__all__ = ["DEFAULT_BOUNCE_THRESHOLD", "MAILBOX_RATES", "mailbox_rates"]

#: A bounce rate (per email sent) above which a sender needs attention. 5% is where common
#: deliverability guidance and cold-email tools stop tolerating bounces (below 2% is healthy);
#: pass your own threshold where your provider is stricter.
DEFAULT_BOUNCE_THRESHOLD: Final = 0.05
#: The rates :func:`mailbox_rates` puts intervals on: rate -> its count (all over ``sent``).
MAILBOX_RATES: Final[dict[str, str]] = {"bounce_rate": "bounced", "reply_rate": "replied"}
_HINT: Final = "Pass the frame of sk.load_mailboxes(client)."


def check_threshold(threshold: object) -> float:
    """``threshold`` as a float if it is a share strictly between 0 and 1, else a
    :class:`~sendkit_nb.BadRequestError`."""
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not 0.0 < float(threshold) < 1.0
    ):
        raise BadRequestError(
            f"bounce_threshold must be a share strictly between 0 and 1, got {threshold!r}",
            hint="Use e.g. bounce_threshold=0.05 for 5% of emails sent.",
        )
    return float(threshold)


def mailbox_rates(
    mailboxes: pl.DataFrame,
    *,
    bounce_threshold: float = DEFAULT_BOUNCE_THRESHOLD,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """``mailboxes`` with the bounce and reply rates per email sent and their Wilson intervals.

    Adds (or recomputes) ``bounce_rate`` = bounced / sent and ``reply_rate`` = replied / sent
    (null when nothing was sent), then ``bounce_rate_low``, ``bounce_rate_high``,
    ``reply_rate_low``, ``reply_rate_high`` (Wilson score interval at ``confidence``; null where
    the rate is), ``over_bounce_threshold`` (the bounce rate is above ``bounce_threshold``; null
    when nothing was sent), ``clearly_over`` (even the interval's low bound is above it: not
    bad luck on a few emails), and the settings ``bounce_threshold`` and ``confidence``. Rows
    keep their order.

    >>> frame = pl.DataFrame({"email": ["a@x.io", "b@x.io", "c@x.io"], "sent": [400, 400, 0],
    ...                       "bounced": [40, 4, 0], "replied": [8, 12, 0]})
    >>> out = mailbox_rates(frame)
    >>> out.select("email", "bounce_rate", "over_bounce_threshold", "clearly_over").rows()
    [('a@x.io', 0.1, True, True), ('b@x.io', 0.01, False, False), ('c@x.io', None, None, None)]
    """
    if not isinstance(mailboxes, pl.DataFrame):
        raise BadRequestError(
            f"mailbox_rates needs a polars DataFrame, got {type(mailboxes).__name__}", hint=_HINT
        )
    missing = [c for c in ("sent", "bounced", "replied") if c not in mailboxes.columns]
    if missing:
        raise BadRequestError(
            f"mailbox_rates: the frame lacks the column(s) {', '.join(map(repr, missing))}",
            hint=_HINT,
        )
    threshold = check_threshold(bounce_threshold)
    check_confidence(confidence)
    intervals: dict[str, pl.Expr] = {}
    for rate, events in MAILBOX_RATES.items():
        intervals[f"{rate}_low"], intervals[f"{rate}_high"] = wilson_expr(
            events, "sent", confidence
        )
    over = pl.col("bounce_rate") > threshold
    return (
        mailboxes.with_columns(
            **{rate: ratio(events, "sent") for rate, events in MAILBOX_RATES.items()}
        )
        .with_columns(
            **intervals,
            over_bounce_threshold=over,
            bounce_threshold=pl.lit(threshold, pl.Float64),
            confidence=pl.lit(float(confidence), pl.Float64),
        )
        .with_columns(
            clearly_over=pl.when(over).then(pl.col("bounce_rate_low") > threshold).otherwise(over),
        )
    )
