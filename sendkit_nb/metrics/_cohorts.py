"""Send cohorts: leads grouped by the day, week or month of their first email.

A campaign's whole-life reply rate mixes leads emailed two months ago with leads emailed
yesterday. Grouping leads by when their first email went out, and following each group on the
Kaplan–Meier reply curve, shows whether later sends do better or worse without penalising the
young groups for the days they have not had yet.

Rules (also in :data:`sendkit_nb.metrics.DEFINITIONS`):

* A lead's cohort is the UTC day, week (starting Monday) or calendar month of its first email,
  the earliest non-null ``sent_at`` of its emails (the clock of the reply curve).
* Counts and rates are the headline's (:func:`~sendkit_nb.metrics.headline`) per cohort:
  replied, positive and bounced over contacted, with Wilson intervals.
* ``replied_within_3d`` / ``_7d`` / ``_14d``: the cohort's own Kaplan–Meier curve
  (:func:`~sendkit_nb.metrics.reply_curve` machinery, censored at ``as_of``) at day 3, 7, 14.
  KM with censoring, so a lead emailed four days ago counts for its four days; null when no
  lead of the cohort has been observed that many full days (the curve stops before).
* Leads with no dated email (never emailed, or emails without ``sent_at``) have no cohort: they
  are one last row with a null ``cohort``, so the rows add up to the frame.
* A window (``since=`` / ``until=``, the rules of ``sendkit_nb.metrics._windows``) keeps the
  leads *first emailed* in it, as the reply curve and :func:`cohort_curves` do, so a cohort is
  whole or absent, never the tail of one that began before ``since``; leads with no dated email
  are in no window and their row goes. The kept leads' counts follow the headline's window
  rule (emails sent in the window; replies attributed to them), so ``until`` leaves out later
  follow-ups and the replies to them; the ``replied_within`` shares are the cohorts' curves in
  the same window, observed until ``as_of`` as without one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb.metrics._common import check_leads
from sendkit_nb.metrics._emails import REPLY_COLUMNS
from sendkit_nb.metrics._headline import headline_by
from sendkit_nb.metrics._stats import check_confidence
from sendkit_nb.metrics._timing import _CURVE_SCHEMA, _curve_from_times, _lead_times
from sendkit_nb.metrics._windows import Window, WindowBound, window_of

__all__ = ["COHORT_EVERY", "WITHIN", "cohort_curves", "cohorts"]

#: The cohort periods ``every=`` accepts, as polars truncation intervals.
COHORT_EVERY: Final[dict[str, str]] = {"1d": "1d", "1w": "1w", "1mo": "1mo", "1m": "1mo"}
#: The horizons of the ``replied_within_<n>d`` columns.
WITHIN: Final[tuple[int, ...]] = (3, 7, 14)

# The reply curve's columns with the cohort in place of the group, and the cohort period.
_COHORT_CURVE_SCHEMA = pl.Schema(
    {
        "cohort": pl.Date(),
        **{name: dtype for name, dtype in _CURVE_SCHEMA.items() if name != "group"},
        "every": pl.String(),
    }
)


def _every(every: object, what: str) -> str:
    if not isinstance(every, str) or every.strip().lower() not in COHORT_EVERY:
        raise BadRequestError(
            f"{what}: every= must be '1d', '1w' or '1mo', got {every!r}",
            hint="Cohorts are by the day ('1d'), week from Monday ('1w') or month ('1mo') of "
            "each lead's first email.",
        )
    return COHORT_EVERY[every.strip().lower()]


def _within(within: object, what: str) -> tuple[int, ...]:
    days = list(within) if isinstance(within, Iterable) else [within]
    if not days or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in days):
        raise BadRequestError(
            f"{what}: within= must be whole numbers of days >= 0, got {within!r}",
            hint="For example within=(3, 7, 14).",
        )
    return tuple(sorted(set(days)))  # type: ignore[arg-type]


def _first_sent() -> pl.Expr:
    """Per lead: the earliest non-null ``sent_at`` of its emails (null without one)."""
    return pl.col("emails").list.eval(pl.element().struct.field("sent_at").min()).list.first()


def first_send_period(every: str) -> pl.Expr:
    """Per lead: the start (a Date) of the ``every`` period of its first dated email."""
    return _first_sent().dt.truncate(every).dt.date()


def _curves(
    leads: pl.DataFrame,
    every: str,
    as_of: datetime | None,
    confidence: float,
    window: Window | None = None,
) -> tuple[pl.DataFrame, datetime | None]:
    """The per-cohort KM curve frame (``group`` = ISO date of the cohort) and the as_of used;
    with a ``window``, of the leads first emailed in it (as the reply curve)."""
    times, end = _lead_times(leads, as_of, ())
    if window is not None:
        times = times.filter(window.contains(pl.col("first_sent_at")))
    times = times.with_columns(
        group=pl.col("first_sent_at").dt.truncate(every).dt.date().cast(pl.String)
    )
    return _curve_from_times(times, "group", confidence), end


def cohort_curves(
    leads: pl.DataFrame,
    every: str = "1w",
    *,
    as_of: datetime | None = None,
    confidence: float = 0.95,
    since: WindowBound = None,
    until: WindowBound = None,
) -> pl.DataFrame:
    """The Kaplan–Meier reply curve of each send cohort: what :func:`sendkit_nb.charts.cohorts`
    draws.

    One row per cohort and whole day since the first email, from day 0 to the cohort's last
    observed day: ``cohort`` (Date: first day of the period), ``day``, ``at_risk``,
    ``replied_events``, ``censored``, ``cumulative_share`` (estimated share of the cohort's
    contacted leads replied within ``day`` days), ``ci_low`` / ``ci_high`` (Greenwood band,
    log-log), ``confidence`` and ``every``. Leads are as on :func:`reply_curve` (replies
    before the first send or without a time are left off); ``as_of`` ends observation (default
    the latest timestamp in ``leads``). ``since`` / ``until``: only the leads first emailed in
    that window, as on :func:`reply_curve`.
    """
    check_leads(leads, REPLY_COLUMNS, "cohort_curves")
    period = _every(every, "cohort_curves")
    check_confidence(confidence)
    _check_as_of(as_of, "cohort_curves")
    window = window_of(since, until, as_of, leads, "cohort_curves")
    curve, _ = _curves(leads, period, as_of, confidence, window)
    out = curve.with_columns(
        cohort=pl.col("group").str.to_date(),
        every=pl.lit(every.strip().lower(), pl.String),
    ).sort("cohort", "day")
    return out.select(list(_COHORT_CURVE_SCHEMA.names())).cast(_COHORT_CURVE_SCHEMA)


def _check_as_of(as_of: object, what: str) -> None:
    if as_of is not None and not isinstance(as_of, datetime):
        raise BadRequestError(
            f"{what}: as_of must be a datetime (UTC if naive), got {type(as_of).__name__}",
            hint="Pass the time the data was pulled, e.g. store.pulled_at.",
        )


def cohorts(
    leads: pl.DataFrame,
    every: str = "1w",
    *,
    positive_tags: Iterable[str] | None = None,
    confidence: float = 0.95,
    as_of: datetime | None = None,
    within: Sequence[int] = WITHIN,
    since: WindowBound = None,
    until: WindowBound = None,
) -> pl.DataFrame:
    """One row per send cohort: the leads whose first email went out in the same UTC day
    (``every="1d"``), week from Monday (``"1w"``, the default) or month (``"1mo"``).

    Columns: ``cohort`` (Date: the period's first day; null for the one row of leads with no
    dated email), ``every``, the headline counts ``leads``, ``contacted``, ``delivered``,
    ``bounced``, ``opened``, ``clicked``, ``replied``, ``positive``, ``unattributed``,
    ``unattributed_replies``, the headline rates (``reply_rate``, ``positive_rate``,
    ``bounce_rate`` over contacted; ``open_rate``, ``click_rate`` over delivered) with their
    Wilson intervals (``*_low`` / ``*_high``), then ``replied_within_3d``, ``_7d``, ``_14d``
    (one per ``within`` day: the cohort's Kaplan–Meier share replied within that many days of
    the first email, censored at ``as_of``, null when no lead of the cohort was observed that
    long), ``days_observed`` (the cohort's longest follow-up in whole days), ``confidence``,
    ``positive_tags`` and ``as_of`` (the end of observation: default the latest timestamp in
    ``leads``). Rows are sorted by cohort, the null cohort last.

    ``since`` / ``until`` (a datetime, a date, an ISO string, or ``"7d"``, ``"4w"``, ``"3m"``
    before ``as_of``, default the latest timestamp in ``leads``): only the leads whose first
    email was sent in the window, the cohorts of :func:`cohort_curves` with the same window
    (there is then no null-cohort row: a lead with no dated email is in no window). Their
    counts are the headline's in the window: an email sent after ``until`` and a reply
    attributed to it are not counted. ``replied_within_<n>d`` is their curve's, observed until
    ``as_of`` (a cohort's leads all started inside the window; their replies are followed to
    the end of the data, as on :func:`reply_curve`).

    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> from sendkit_nb._schema import LEADS_SCHEMA
    >>> def lead(i, sent, reply=None):
    ...     e = {"step": 0, "variant": None, "opened": False, "clicked": False,
    ...          "bounced": False, "sent_at": datetime(2025, 6, sent, tzinfo=UTC)}
    ...     at = datetime(2025, 6, reply, tzinfo=UTC) if reply else None
    ...     return {"campaign_id": "c", "id": str(i), "emails": [e], "replied": at is not None,
    ...             "replied_at": at}
    >>> leads = pl.DataFrame([lead(1, 2, 4), lead(2, 3), lead(3, 10, 11), lead(4, 11),
    ...                       lead(5, 24)], schema=LEADS_SCHEMA)
    >>> c = cohorts(leads)      # observed until June 24, the latest timestamp
    >>> c.select("cohort", "contacted", "replied", "replied_within_3d",
    ...          "replied_within_14d").rows()  # doctest: +NORMALIZE_WHITESPACE
    [(datetime.date(2025, 6, 2), 2, 1, 0.5, 0.5), (datetime.date(2025, 6, 9), 2, 1, 0.5, None),
     (datetime.date(2025, 6, 23), 1, 0, None, None)]

    The week of June 9 has been followed for 13 days, so its 14-day share is not known yet.
    """
    check_leads(leads, ["campaign_id", *REPLY_COLUMNS], "cohorts")
    period = _every(every, "cohorts")
    days = _within(within, "cohorts")
    check_confidence(confidence)
    _check_as_of(as_of, "cohorts")
    window = window_of(since, until, as_of, leads, "cohorts")
    # The cohorts of the window: its leads first emailed in it (a lead with no dated email is
    # in no window). The curves below pick the same leads from the whole frame, whose latest
    # timestamp stays the default end of observation.
    chosen = leads if window is None else leads.filter(window.contains(_first_sent()))
    head = headline_by(
        chosen, [("cohort", first_send_period(period), "emails")], positive_tags, confidence, window
    )
    curve, end = _curves(leads, period, as_of, confidence, window)
    ends = curve.group_by("group").agg(
        pl.col("day").max().alias("days_observed"),
        *(
            pl.col("cumulative_share")
            .filter(pl.col("day") == n)
            .first()
            .alias(f"replied_within_{n}d")
            for n in days
        ),
    )
    within_columns = [f"replied_within_{n}d" for n in days]
    out = (
        head.with_columns(group=pl.col("cohort").cast(pl.String))
        .join(ends, on="group", how="left")
        .with_columns(
            every=pl.lit(every.strip().lower(), pl.String),
            as_of=pl.lit(end, pl.Datetime("us", "UTC")),
            days_observed=pl.col("days_observed").cast(pl.Int32),
        )
        .with_columns(pl.col(within_columns).cast(pl.Float64))
        .sort("cohort", nulls_last=True)
    )
    tail = ["confidence", "positive_tags"]
    middle = [c for c in head.columns if c not in ("cohort", *tail)]
    return out.select("cohort", "every", *middle, *within_columns, "days_observed", *tail, "as_of")
