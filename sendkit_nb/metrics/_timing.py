"""Reply timing: days from first send to reply, and the Kaplan–Meier reply curve.

Why Kaplan–Meier and not "replied / contacted": a lead first emailed yesterday has had one day to
reply, a lead emailed two months ago has had sixty. Dividing by everyone understates how quickly
replies come; dropping the recent leads throws data away. Kaplan–Meier keeps every contacted lead
and lets a lead that has not replied count only for the days it has actually been observed
(it is *censored* at the end of observation).

Rules (printed in the docstrings, tested against a plain-Python implementation):

* **Start of the clock**: the lead's first send, the earliest non-null ``sent_at`` of its emails
  (ties broken by the lower step). Leads with no email are not contacted and not on the curve.
* **Replied lead**: ``replied`` is true (the same rule as the funnel and headline). A
  ``replied_at`` on a lead whose ``replied`` is false is not a reply (``quality`` lists it).
* **Observation end** (``as_of``): by default the latest timestamp in the data, i.e. the largest
  ``sent_at`` or ``replied_at`` in the frame, a proxy for "when the data was pulled". Pass the real
  pull time for a sharper curve. Leads first emailed after ``as_of`` are not contacted yet and are
  left out; replies after ``as_of`` are treated as not yet happened (the lead is censored).
* **Whole days**: a reply ``t`` days after the first send counts on day ``ceil(t)`` ("replied
  within N x 24 h"; a reply at the very instant of the send is day 0). A lead without a reply is
  censored at ``floor(as_of - first send)``: it is at risk only for days it was fully observed.
  On a tie a censored lead is still at risk on its censoring day (the usual KM convention).
* **Excluded, and counted** (column ``excluded`` of :func:`reply_times`, columns ``excluded_*``
  of :func:`reply_timing_summary`): replies *before* the first send (``reply_before_first_send``;
  the reply cannot have been caused by the campaign, and a negative time has no place on the
  curve), replied leads without ``replied_at`` (``reply_time_unknown``; we know they replied but
  not when, so they can be neither an event nor censored without bias), and contacted leads whose
  emails all lack ``sent_at`` (``send_time_unknown``).
* **Confidence band**: Greenwood's variance on the log(-log) scale (Kalbfleisch–Prentice), which
  keeps the band inside [0, 1]; this is what ``lifelines`` and R's ``conf.type="log-log"`` give.
* **Median time to reply**: the first day at which the cumulative share reaches 50%; null when the
  curve never gets there, which is what cold email almost always shows (reply rates are far below
  50%). Two numbers that say something instead (:func:`reply_timing_summary`):
* **Replied within N days** (default 7): the curve's cumulative share on day N, with its band;
  null when no lead of the group was observed for N full days (the curve stops before day N).
* **Median days to reply among repliers**: the median of the fractional days from the first send
  to ``replied_at`` over the replies on the curve; null without such a reply.
"""

from __future__ import annotations

from datetime import UTC, datetime
from statistics import NormalDist
from typing import Literal

import polars as pl

from sendkit_nb._checks import shown
from sendkit_nb._errors import BadRequestError
from sendkit_nb.metrics._common import check_leads
from sendkit_nb.metrics._stats import check_confidence
from sendkit_nb.metrics._windows import Window, WindowBound, window_of

__all__ = [
    "NO_VARIANT",
    "WITHIN_DAYS",
    "reply_clock",
    "reply_curve",
    "reply_curve_of_clock",
    "reply_times",
    "reply_timing_of_clock",
    "reply_timing_summary",
]

#: Group label for leads whose first email had no A/B variant (the API's ``variant: null``).
NO_VARIANT = "(none)"

#: Group label of the single curve when ``by`` is None.
ALL = "all"

#: The window of :func:`reply_timing_summary`'s ``replied_within``: the share replying within a
#: week of the first email, by default.
WITHIN_DAYS = 7

_DAY_US = 86_400_000_000
#: Float slack when comparing a cumulative share to 50%: a product such as (2/3)*(3/4) is exactly
#: one half but may come out a hair below it in floating point.
_EPS = 1e-12

ReplyGroup = Literal["variant", "campaign"]

_TIMES_SCHEMA = pl.Schema(
    {
        "campaign_id": pl.String(),
        "id": pl.String(),
        "email": pl.String(),
        "variant": pl.String(),
        "first_sent_at": pl.Datetime("us", "UTC"),
        "replied_at": pl.Datetime("us", "UTC"),
        "days_to_reply": pl.Float64(),
        "event": pl.Boolean(),
        "day": pl.Int32(),
        "excluded": pl.String(),
    }
)

_IDS = ("campaign_id", "id", "email")

_CURVE_SCHEMA = pl.Schema(
    {
        "group": pl.String(),
        "day": pl.Int32(),
        "at_risk": pl.Int64(),
        "replied_events": pl.Int64(),
        "censored": pl.Int64(),
        "cumulative_share": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "confidence": pl.Float64(),
    }
)

_SUMMARY_SCHEMA = pl.Schema(
    {
        "group": pl.String(),
        "contacted": pl.Int64(),
        "on_curve": pl.Int64(),
        "replied": pl.Int64(),
        "censored": pl.Int64(),
        "excluded_reply_before_send": pl.Int64(),
        "excluded_reply_time_unknown": pl.Int64(),
        "excluded_send_time_unknown": pl.Int64(),
        "share_replied": pl.Float64(),
        "median_days": pl.Int32(),
        "within_days": pl.Int32(),
        "replied_within": pl.Float64(),
        "replied_within_low": pl.Float64(),
        "replied_within_high": pl.Float64(),
        "median_days_replied": pl.Float64(),
        "as_of": pl.Datetime("us", "UTC"),
    }
)


def replied_expr() -> pl.Expr:
    """True for a replied lead: ``replied`` is true, as in the funnel and the headline (a
    ``replied_at`` without ``replied`` is reported by :func:`sendkit_nb.metrics.quality`)."""
    return pl.col("replied").fill_null(False)


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC, matching the API's ``...Z`` timestamps."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _flat_emails(leads: pl.DataFrame) -> pl.DataFrame:
    """``_r`` (row of the lead), ``step``, ``variant``, ``sent_at`` for every email with a time.

    Eager on purpose: on a million leads the eager explode + sort is several times faster than
    the same plan through the lazy engine (measured with polars 2.1).
    """
    return (
        leads.select("emails")
        .with_row_index("_r")
        .explode("emails", keep_nulls=False)
        .unnest("emails")
        .select("_r", "step", "variant", "sent_at")
        .filter(pl.col("sent_at").is_not_null())
    )


def _check(leads: object, what: str, by: str | None = None, as_of: object = None) -> None:
    ids = _IDS if what == "reply_times" else ("campaign_id",) if by == "campaign" else ()
    check_leads(leads, [*ids, "replied", "replied_at", "emails"], what)
    _check_options(what, by, as_of)


def _check_options(what: str, by: str | None, as_of: object) -> None:
    if by not in (None, "variant", "campaign"):
        raise BadRequestError(
            f"{what}: unknown by={by!r}", hint="Use by=None, by='variant' or by='campaign'."
        )
    if as_of is not None and not isinstance(as_of, datetime):
        raise BadRequestError(
            f"{what}: as_of must be a datetime (UTC if naive), got {type(as_of).__name__}",
            hint="For example as_of=datetime(2025, 7, 1, tzinfo=UTC), or None for the data's "
            "latest timestamp.",
        )


def reply_times(leads: pl.DataFrame, *, as_of: datetime | None = None) -> pl.DataFrame:
    """One row per contacted lead: when it was first emailed, when (if) it replied, and how it
    enters the reply curve.

    Columns: ``campaign_id``, ``id``, ``email``, ``variant`` (of the first email),
    ``first_sent_at``, ``replied_at``, ``days_to_reply`` (fractional days from the first send to
    the reply; negative for a reply before the first send; null without a reply or its time),
    ``event`` (the reply counts on the curve: it happened at or before ``as_of``), ``day`` (the
    whole day the lead leaves the curve: ``ceil(days_to_reply)`` for an event, the last fully
    observed day otherwise) and ``excluded`` (null, or why the lead is left off the curve:
    ``reply_before_first_send``, ``reply_time_unknown``, ``send_time_unknown``).

    ``as_of`` is the end of observation; default: the latest ``sent_at``/``replied_at`` in the
    data. Leads first emailed after ``as_of`` are left out. See the module notes for the rules.

    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> from sendkit_nb._schema import LEADS_SCHEMA
    >>> def mail(day, hour=0):
    ...     return {"step": 0, "variant": "A", "sent_at": datetime(2025, 6, day, hour, tzinfo=UTC),
    ...             "opened": False, "clicked": False, "bounced": False}
    >>> leads = pl.DataFrame([
    ...     {"campaign_id": "c", "id": "1", "replied": True,
    ...      "replied_at": datetime(2025, 6, 3, 12, tzinfo=UTC), "emails": [mail(1)]},
    ...     {"campaign_id": "c", "id": "2", "replied": False, "emails": [mail(2)]},
    ... ], schema=LEADS_SCHEMA)
    >>> reply_times(leads).select("id", "days_to_reply", "event", "day").rows()
    [('1', 2.5, True, 3), ('2', None, False, 1)]
    """
    _check(leads, "reply_times", None, as_of)
    return _lead_times(leads, as_of, ("campaign_id", "id", "email"))[0]


def _lead_times(
    leads: pl.DataFrame, as_of: datetime | None, carry: tuple[str, ...]
) -> tuple[pl.DataFrame, datetime | None]:
    """:func:`reply_times` carrying only the lead columns in ``carry`` (strings are the costly
    part of a million-row frame, and the curve needs none of them), and the observation end."""
    return _times_from_clock(_lead_clock(leads, carry), as_of, carry)


#: The columns of a reply clock (:func:`reply_clock`) after the carried lead columns.
_CLOCK_COLUMNS = ("_r", "_replied", "replied_at", "_n", "variant", "first_sent_at", "_last_sent_at")


def _lead_clock(leads: pl.DataFrame, carry: tuple[str, ...]) -> pl.DataFrame:
    """One row per lead, in the order of ``leads``: what its reply timing rests on that does not
    depend on the observation end (the columns in ``carry``, ``_r`` its row, ``_replied``,
    ``replied_at``, ``_n`` its emails, and its first email's ``variant`` and ``first_sent_at``,
    and ``_last_sent_at``, its latest send, for the default observation end).

    This is the costly part (every email of every lead, sorted); :func:`_times_from_clock` does
    the rest on one row per lead, so a clock worked out once can be filtered and reused."""
    flat = _flat_emails(leads)
    # The first email decides the clock and the variant: sort the flat emails by lead, time and
    # step, and keep each lead's first row (rows of one lead are adjacent after the sort); its
    # last row has the lead's latest send.
    ordered = flat.sort("_r", "sent_at", "step")
    lead = pl.col("_r")
    first = ordered.filter(lead != lead.shift(1).fill_null(-1)).select(
        "_r", "variant", pl.col("sent_at").alias("first_sent_at")
    )
    last = ordered.filter(lead != lead.shift(-1).fill_null(-1)).select(
        "_r", pl.col("sent_at").alias("_last_sent_at")
    )
    # A lead whose emails all lack sent_at has no row in `first` and is kept (left join) as
    # contacted-but-untimeable.
    return (
        leads.select(
            *carry,
            replied_expr().alias("_replied"),
            "replied_at",
            pl.col("emails").list.len().fill_null(0).alias("_n"),
        )
        .with_row_index("_r")
        .join(first, on="_r", how="left")
        .join(last, on="_r", how="left")
        .sort("_r")
        .select(*carry, *_CLOCK_COLUMNS)
    )


def _clock_end(clock: pl.DataFrame) -> datetime | None:
    """The default observation end of the leads of ``clock``: their latest send or reply."""
    stamps = [clock["_last_sent_at"].max(), clock["replied_at"].max()]
    found = [s for s in stamps if isinstance(s, datetime)]
    return max(found) if found else None


def _times_from_clock(
    clock: pl.DataFrame, as_of: datetime | None, carry: tuple[str, ...]
) -> tuple[pl.DataFrame, datetime | None]:
    """:func:`_lead_times` from the leads' clock (:func:`_lead_clock`): one row per contacted
    lead, and the observation end."""
    schema = pl.Schema([(k, v) for k, v in _TIMES_SCHEMA.items() if k in carry or k not in _IDS])
    if clock.height == 0:
        return pl.DataFrame(schema=schema), None
    end = _as_utc(as_of) if as_of is not None else _clock_end(clock)
    if end is None:  # leads, but not a single timestamp: nobody was contacted
        return pl.DataFrame(schema=schema), None
    # Contacted = at least one email.
    contacted = clock.filter(pl.col("_n") > 0)
    end_lit = pl.lit(end, dtype=pl.Datetime("us", "UTC"))
    frame = (
        # Not contacted yet at the observation end: leave out.
        contacted.filter(pl.col("first_sent_at").is_null() | (pl.col("first_sent_at") <= end_lit))
        .with_columns(
            (pl.col("replied_at") - pl.col("first_sent_at"))
            .dt.total_microseconds()
            .alias("_reply_us"),
            (end_lit - pl.col("first_sent_at")).dt.total_microseconds().alias("_observed_us"),
        )
        .with_columns(
            pl.when(pl.col("first_sent_at").is_null())
            .then(pl.lit("send_time_unknown"))
            .when(pl.col("_replied") & pl.col("replied_at").is_null())
            .then(pl.lit("reply_time_unknown"))
            .when(pl.col("_replied") & (pl.col("_reply_us") < 0))
            .then(pl.lit("reply_before_first_send"))
            .otherwise(pl.lit(None, dtype=pl.String))
            .alias("excluded"),
            # Only a reply has a time to reply; a stray replied_at without `replied` is not one.
            pl.when(pl.col("_replied"))
            .then(pl.col("_reply_us") / _DAY_US)
            .otherwise(None)
            .alias("days_to_reply"),
        )
        .with_columns(
            (
                pl.col("excluded").is_null()
                & pl.col("_replied")
                & (pl.col("replied_at") <= end_lit)
            ).alias("event")
        )
        .with_columns(
            pl.when(pl.col("excluded").is_not_null())
            .then(pl.lit(None, dtype=pl.Int64))
            .when(pl.col("event"))
            # ceil for a non-negative integer numerator: (x + d - 1) // d
            .then((pl.col("_reply_us") + (_DAY_US - 1)) // _DAY_US)
            .otherwise(pl.col("_observed_us") // _DAY_US)
            .cast(pl.Int32)
            .alias("day")
        )
        .sort("_r")
        .select(list(schema.names()))
    )
    return frame.cast(schema), end


def _group_expr(by: str | None) -> pl.Expr:
    if by == "variant":
        return pl.col("variant").fill_null(NO_VARIANT).alias("group")
    if by == "campaign":
        return pl.col("campaign_id").fill_null("").alias("group")
    if by == "group":
        # The caller grouped the times itself (send cohorts): one curve per "group" value.
        return pl.col("group")
    return pl.lit(ALL, dtype=pl.String).alias("group")


def _curve_from_times(times: pl.DataFrame, by: str | None, confidence: float) -> pl.DataFrame:
    on_curve = times.filter(pl.col("excluded").is_null())
    if on_curve.height == 0:
        return pl.DataFrame(schema=_CURVE_SCHEMA)
    aggs = (
        pl.col("event").sum().cast(pl.Int64).alias("replied_events"),
        (~pl.col("event")).sum().cast(pl.Int64).alias("censored"),
    )
    if by is None:
        # One curve: grouping by day alone skips hashing a constant string a million times.
        counts = on_curve.group_by("day").agg(*aggs).with_columns(_group_expr(None))
    else:
        counts = on_curve.group_by(_group_expr(by), "day").agg(*aggs)
    # Every day from 0 to the group's last observed day, so a chart can draw the step line
    # without guessing what happened on days with no events.
    grid = (
        counts.group_by("group")
        .agg(
            pl.int_range(0, pl.col("day").max() + 1, dtype=pl.Int32).alias("day"),
            (pl.col("replied_events").sum() + pl.col("censored").sum()).alias("_n"),
        )
        .explode("day")
    )
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    left = pl.col("replied_events") + pl.col("censored")
    curve = (
        grid.join(counts, on=["group", "day"], how="left")
        .with_columns(pl.col("replied_events", "censored").fill_null(0))
        .sort("group", "day")
        .with_columns(
            (pl.col("_n") - left.cum_sum().over("group") + left).alias("at_risk"),
        )
        .with_columns(
            (1.0 - pl.col("replied_events") / pl.col("at_risk"))
            .cum_prod()
            .over("group")
            .alias("_s"),
            # Greenwood's sum d / (n (n - d)); infinite once everyone at risk has replied, which
            # only happens where the survival is 0 and the band is undefined anyway.
            (
                pl.col("replied_events")
                / (pl.col("at_risk") * (pl.col("at_risk") - pl.col("replied_events")))
            )
            .cum_sum()
            .over("group")
            .alias("_gw"),
        )
        .with_columns(
            # log(-log S) scale: sigma = sqrt(gw) / |log S|; bounds S ** exp(+-z sigma).
            (pl.col("_gw").sqrt() / pl.col("_s").log().abs() * z).exp().alias("_k"),
        )
        .with_columns(
            (1.0 - pl.col("_s")).alias("cumulative_share"),
            pl.when(pl.col("_s") >= 1.0)
            .then(0.0)
            .when(pl.col("_s") > 0.0)
            .then(1.0 - pl.col("_s").pow(1.0 / pl.col("_k")))
            .otherwise(None)
            .alias("ci_low"),
            pl.when(pl.col("_s") >= 1.0)
            .then(0.0)
            .when(pl.col("_s") > 0.0)
            .then(1.0 - pl.col("_s").pow(pl.col("_k")))
            .otherwise(None)
            .alias("ci_high"),
            pl.lit(confidence, pl.Float64).alias("confidence"),
        )
        .select(list(_CURVE_SCHEMA.names()))
    )
    return curve.cast(_CURVE_SCHEMA)


def reply_curve(
    leads: pl.DataFrame,
    *,
    by: ReplyGroup | None = None,
    as_of: datetime | None = None,
    confidence: float = 0.95,
    since: WindowBound = None,
    until: WindowBound = None,
) -> pl.DataFrame:
    """Kaplan–Meier share of contacted leads who have replied within N days of their first send.

    One row per group and whole day, from day 0 to the group's last observed day, zero-filled:
    ``group`` (``"all"``; the first email's variant with ``by="variant"``, ``"(none)"`` for no
    variant, pooled across campaigns; the campaign id with ``by="campaign"``), ``day``,
    ``at_risk`` (leads still on the curve at the start of the day), ``replied_events``
    (replies counted on that day), ``censored`` (leads whose observation ends that day),
    ``cumulative_share`` (1 - KM survival: the estimated share replied within ``day`` days) and
    ``ci_low``/``ci_high`` (Greenwood band on the log(-log) scale, ``confidence`` level; null
    where undefined, i.e. once the share is 1) and ``confidence`` (the band's level, on every
    row, so a chart can say it).

    Censoring: a lead that has not replied is observed until ``as_of`` (default: the latest
    ``sent_at``/``replied_at`` in the data). Replies before the first send and replies without a
    time are left off the curve and counted by :func:`reply_timing_summary`.

    ``since`` / ``until`` (a datetime, a date, an ISO string, or ``"7d"``, ``"4w"``, ``"3m"``
    before ``as_of``) keep the leads first emailed in that window: the curve starts at the first
    send, so the window picks whose clock runs (observation still ends at ``as_of``).

    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> from sendkit_nb._schema import LEADS_SCHEMA
    >>> def lead(i, sent_day, reply_day=None):
    ...     email = {"step": 0, "variant": None, "opened": False, "clicked": False,
    ...              "bounced": False, "sent_at": datetime(2025, 6, sent_day, tzinfo=UTC)}
    ...     at = datetime(2025, 6, reply_day, tzinfo=UTC) if reply_day else None
    ...     return {"campaign_id": "c", "id": str(i), "emails": [email],
    ...             "replied": at is not None, "replied_at": at}
    >>> leads = pl.DataFrame([lead(1, 1, 2), lead(2, 1), lead(3, 2, 4), lead(4, 1, 5)],
    ...                      schema=LEADS_SCHEMA)
    >>> curve = reply_curve(leads)          # observed until June 5, the latest timestamp
    >>> curve.select("day", "at_risk", "replied_events", "censored", "cumulative_share").rows()
    ... # doctest: +NORMALIZE_WHITESPACE
    [(0, 4, 0, 0, 0.0), (1, 4, 1, 0, 0.25), (2, 3, 1, 0, 0.5), (3, 2, 0, 0, 0.5),
     (4, 2, 1, 1, 0.75)]
    """
    _check(leads, "reply_curve", by, as_of)
    check_confidence(confidence)
    window = window_of(since, until, as_of, leads, "reply_curve")
    carry = ("campaign_id",) if by == "campaign" else ()
    return _curve_from_times(
        _in_window(_lead_times(leads, as_of, carry)[0], window), by, confidence
    )


def _in_window(times: pl.DataFrame, window: Window | None) -> pl.DataFrame:
    """The leads of ``times`` first emailed in ``window`` (all of them without one)."""
    return times if window is None else times.filter(window.contains(pl.col("first_sent_at")))


def reply_timing_summary(
    leads: pl.DataFrame,
    *,
    by: ReplyGroup | None = None,
    as_of: datetime | None = None,
    within_days: int = WITHIN_DAYS,
    since: WindowBound = None,
    until: WindowBound = None,
) -> pl.DataFrame:
    """One row per group: how many leads the reply curve rests on, where it ends, and the two
    reply-timing numbers worth a headline.

    Columns: ``group`` (as in :func:`reply_curve`), ``contacted`` (leads with an email sent at or
    before ``as_of``), ``on_curve``, ``replied`` (events on the curve), ``censored``,
    ``excluded_reply_before_send``, ``excluded_reply_time_unknown``,
    ``excluded_send_time_unknown`` (contacted = on_curve + the three exclusions),
    ``share_replied`` (the curve's last cumulative share; null without a curve),
    ``median_days`` (the first day the cumulative share reaches 50%; null when it never does,
    as with most cold email), ``within_days`` (the window below), ``replied_within`` (the
    curve's cumulative share on day ``within_days``: the Kaplan–Meier share of contacted leads
    replying within that many days of their first email; null when no lead was observed that
    long), ``replied_within_low``/``_high`` (its 95% band), ``median_days_replied`` (the median
    of ``days_to_reply`` over the replies on the curve: how long those who replied took) and
    ``as_of`` (the observation end used for censoring). ``since`` / ``until``: the leads first
    emailed in that window, as in :func:`reply_curve`.

    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> from sendkit_nb._schema import LEADS_SCHEMA
    >>> email = {"step": 0, "variant": "A", "opened": False, "clicked": False,
    ...          "bounced": False, "sent_at": datetime(2025, 6, 2, tzinfo=UTC)}
    >>> leads = pl.DataFrame([
    ...     {"id": "1", "emails": [email], "replied": True,
    ...      "replied_at": datetime(2025, 6, 4, tzinfo=UTC)},
    ...     {"id": "2", "emails": [email], "replied": True,
    ...      "replied_at": datetime(2025, 6, 1, tzinfo=UTC)},      # before the first send
    ...     {"id": "3", "emails": [email], "replied": False},
    ... ], schema=LEADS_SCHEMA)
    >>> row = reply_timing_summary(leads).row(0, named=True)
    >>> row["contacted"], row["on_curve"], row["excluded_reply_before_send"], row["median_days"]
    (3, 2, 1, 2)

    Five leads first emailed on June 1, two replies (after 2.5 and 12 days), observed until the
    last reply: the curve stops below 50%, so there is no median day, but one lead in five
    replied within a week and the repliers took 7.25 days at the median.

    >>> def lead(i, reply=None):
    ...     sent = {**email, "sent_at": datetime(2025, 6, 1, tzinfo=UTC)}
    ...     return {"id": str(i), "emails": [sent], "replied": reply is not None,
    ...             "replied_at": reply}
    >>> five = pl.DataFrame([lead(1, datetime(2025, 6, 3, 12, tzinfo=UTC)),
    ...                      lead(2, datetime(2025, 6, 13, tzinfo=UTC)), lead(3), lead(4), lead(5)],
    ...                     schema=LEADS_SCHEMA)
    >>> row = reply_timing_summary(five).row(0, named=True)
    >>> row["median_days"], row["within_days"], round(row["replied_within"], 6)
    (None, 7, 0.2)
    >>> row["median_days_replied"]
    7.25
    """
    _check(leads, "reply_timing_summary", by, as_of)
    _check_within("reply_timing_summary", within_days)
    window = window_of(since, until, as_of, leads, "reply_timing_summary")
    times, end = _lead_times(leads, as_of, ("campaign_id",) if by == "campaign" else ())
    times = _in_window(times, window)
    return _summary_from_times(times, end, by, within_days)


def _summary_from_times(
    times: pl.DataFrame, end: datetime | None, by: str | None, within_days: int
) -> pl.DataFrame:
    """:func:`reply_timing_summary` of the leads' times (:func:`_lead_times`) and their
    observation end ``end``."""
    if times.height == 0:
        return pl.DataFrame(schema=_SUMMARY_SCHEMA)
    curve = _curve_from_times(times, by, 0.95)
    counts = times.group_by(_group_expr(by)).agg(
        pl.len().cast(pl.Int64).alias("contacted"),
        pl.col("excluded").is_null().sum().cast(pl.Int64).alias("on_curve"),
        pl.col("event").sum().cast(pl.Int64).alias("replied"),
        (pl.col("excluded").is_null() & ~pl.col("event")).sum().cast(pl.Int64).alias("censored"),
        pl.col("days_to_reply").filter(pl.col("event")).median().alias("median_days_replied"),
        *(
            (pl.col("excluded") == reason).sum().cast(pl.Int64).alias(f"excluded_{short}")
            for reason, short in (
                ("reply_before_first_send", "reply_before_send"),
                ("reply_time_unknown", "reply_time_unknown"),
                ("send_time_unknown", "send_time_unknown"),
            )
        ),
    )
    ends = curve.group_by("group").agg(
        pl.col("cumulative_share").last().alias("share_replied"),
        pl.col("day").filter(pl.col("cumulative_share") >= 0.5 - _EPS).min().alias("median_days"),
        # The curve has a row for every day up to the group's last observed one, so a group
        # observed for fewer days has no row here and gets null, not a guess.
        *(
            pl.col(column).filter(pl.col("day") == within_days).first().alias(name)
            for column, name in (
                ("cumulative_share", "replied_within"),
                ("ci_low", "replied_within_low"),
                ("ci_high", "replied_within_high"),
            )
        ),
    )
    out = (
        counts.join(ends, on="group", how="left")
        .with_columns(
            pl.lit(within_days, dtype=pl.Int32).alias("within_days"),
            pl.lit(end, dtype=pl.Datetime("us", "UTC")).alias("as_of"),
        )
        .sort("group")
    )
    return out.select(list(_SUMMARY_SCHEMA.names())).cast(_SUMMARY_SCHEMA)


#: The longest reply horizon taken, in days (a century): far past any campaign, and small
#: enough for a polars duration in microseconds.
_MAX_WITHIN_DAYS = 36_500


def _check_within(what: str, within_days: object) -> None:
    if (
        isinstance(within_days, bool)
        or not isinstance(within_days, int)
        or not 0 <= within_days <= _MAX_WITHIN_DAYS
    ):
        raise BadRequestError(
            f"{what}: within_days must be a whole number of days from 0 to "
            f"{_MAX_WITHIN_DAYS:,}, got {shown(within_days)}",
            hint="For example within_days=14 (replies within two weeks of the email).",
        )


def reply_clock(leads: pl.DataFrame) -> pl.DataFrame:
    """What each lead's reply timing rests on, worked out once: one row per lead of ``leads``,
    in their order (the columns are internal).

    :func:`reply_curve` and :func:`reply_timing_summary` go through every email of every lead
    (the costly part) before the observation end comes in. :func:`reply_curve_of_clock` and
    :func:`reply_timing_of_clock` start from this frame instead: select its rows as the leads'
    are selected (it lines up row by row with ``leads``; say, by status) and they give the
    same numbers for the selection as the two functions give for the selected leads, the
    default observation end included, at a fraction of the cost. The dashboard works the
    clock out once per campaign and filters it at every status switch.
    """
    _check(leads, "reply_clock")
    return _lead_clock(leads, ())


def _check_clock(clock: object, what: str, by: str | None, as_of: object) -> pl.DataFrame:
    if not isinstance(clock, pl.DataFrame) or not set(_CLOCK_COLUMNS) <= set(clock.columns):
        raise BadRequestError(
            f"{what} needs the frame of reply_clock(leads) or rows of it, got "
            f"{type(clock).__name__}"
            + (
                f" with the columns {', '.join(clock.columns)}"
                if isinstance(clock, pl.DataFrame)
                else ""
            ),
            hint="Pass reply_clock(leads), filtered as the leads are.",
        )
    if by == "campaign":
        raise BadRequestError(
            f"{what}: by='campaign' needs the leads",
            hint="Pass the leads frame instead of a reply clock, or use by=None or by='variant'.",
        )
    _check_options(what, by, as_of)
    return clock


def reply_curve_of_clock(
    clock: pl.DataFrame,
    *,
    by: Literal["variant"] | None = None,
    as_of: datetime | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """:func:`reply_curve` of the leads whose :func:`reply_clock` rows are ``clock``."""
    _check_clock(clock, "reply_curve_of_clock", by, as_of)
    check_confidence(confidence)
    return _curve_from_times(_times_from_clock(clock, as_of, ())[0], by, confidence)


def reply_timing_of_clock(
    clock: pl.DataFrame,
    *,
    by: Literal["variant"] | None = None,
    as_of: datetime | None = None,
    within_days: int = WITHIN_DAYS,
) -> pl.DataFrame:
    """:func:`reply_timing_summary` of the leads whose :func:`reply_clock` rows are ``clock``."""
    _check_clock(clock, "reply_timing_of_clock", by, as_of)
    _check_within("reply_timing_of_clock", within_days)
    return _summary_from_times(*_times_from_clock(clock, as_of, ()), by, within_days)
