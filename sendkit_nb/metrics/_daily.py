"""Daily activity: what happened on each UTC day.

Rules:

* ``sent``, ``opened``, ``clicked``, ``bounced`` count **emails** (not leads), bucketed by the UTC
  date of the email's ``sent_at``: an open is credited to the day its email was sent, because the
  API records whether an email was opened, not when. This is how the API's daily analytics
  (``GET /v1/analytics/daily``) count, so the two can be compared. Emails without ``sent_at``
  cannot be dated and are left out.
* ``replied`` and ``positive`` count **leads**, bucketed by the UTC date of ``replied_at``. A
  replied lead is one with ``replied`` true or ``replied_at`` set; one without ``replied_at``
  cannot be dated and is left out (:func:`sendkit_nb.metrics.quality` lists them). ``positive``
  = replied leads whose ``ai_tag`` is in the positive set (default
  :data:`sendkit_nb._schema.DEFAULT_POSITIVE_TAGS`).
* One row per day (and campaign, with ``by_campaign=True``) from the first to the last day with
  any activity, or over ``start``..``end`` when given; days without activity are zero rows, so a
  chart never silently joins across a gap. With ``by_campaign=True`` every campaign gets the same
  days, which keeps stacked charts aligned.
* Days are UTC; the API does not say which timezone its own daily buckets use.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb.metrics._common import check_leads, positive_expr, positive_tags_column
from sendkit_nb.metrics._emails import prepare, replies_in_window
from sendkit_nb.metrics._timing import replied_expr
from sendkit_nb.metrics._windows import WindowBound, window_of

__all__ = ["daily_activity"]

_COUNTS = ("sent", "opened", "clicked", "bounced", "replied", "positive")


def _schema(by_campaign: bool) -> pl.Schema:
    head: dict[str, pl.DataType] = {"campaign_id": pl.String()} if by_campaign else {}
    counts = {c: pl.Int64() for c in _COUNTS}
    return pl.Schema({**head, "date": pl.Date(), **counts, "positive_tags": pl.String()})


def _day(value: object, name: str) -> date | None:
    """A window bound as a UTC date; a datetime is taken at its UTC date (naive = UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    raise BadRequestError(
        f"daily_activity: {name} must be a date, got {type(value).__name__}",
        hint="Pass e.g. datetime.date(2025, 6, 1).",
    )


def daily_activity(
    leads: pl.DataFrame,
    *,
    by_campaign: bool = False,
    positive_tags: Iterable[str] | None = None,
    start: date | None = None,
    end: date | None = None,
    since: WindowBound = None,
    until: WindowBound = None,
    as_of: datetime | None = None,
) -> pl.DataFrame:
    """Activity per UTC day: emails sent/opened/clicked/bounced by send date, leads replied and
    positive by reply date.

    Columns: ``campaign_id`` (only with ``by_campaign=True``), ``date``, ``sent``, ``opened``,
    ``clicked``, ``bounced``, ``replied``, ``positive`` (Int64, zero on quiet days) and
    ``positive_tags`` (the tags counted as positive, the same on every row). Days run from
    the first to the last active day, or over ``start``..``end`` (inclusive) when given; activity
    outside that window is left out.

    ``since`` / ``until`` (a datetime, a date, an ISO string, or ``"7d"``, ``"4w"``, ``"3m"``
    before ``as_of``, default the latest timestamp in ``leads``) count only the emails sent in
    that time window and the replies placed in it: attributed to an email sent in it, or, with
    no such email, dated in it (see ``DEFINITIONS``). Replies stay on the day they arrived, which
    may be after ``until``; the days shown follow the rule above (``start``/``end`` still pick
    the days).

    >>> from datetime import datetime, UTC
    >>> import polars as pl
    >>> from sendkit_nb._schema import LEADS_SCHEMA
    >>> def mail(day, opened=False):
    ...     return {"step": 0, "variant": None, "sent_at": datetime(2025, 6, day, 9, tzinfo=UTC),
    ...             "opened": opened, "clicked": False, "bounced": False}
    >>> leads = pl.DataFrame([
    ...     {"campaign_id": "c", "id": "1", "emails": [mail(1, opened=True)], "replied": True,
    ...      "replied_at": datetime(2025, 6, 4, tzinfo=UTC), "ai_tag": "interested"},
    ...     {"campaign_id": "c", "id": "2", "emails": [mail(1), mail(2)], "replied": False},
    ... ], schema=LEADS_SCHEMA)
    >>> daily_activity(leads).drop("positive_tags").rows()  # doctest: +NORMALIZE_WHITESPACE
    [(datetime.date(2025, 6, 1), 2, 1, 0, 0, 0, 0),
     (datetime.date(2025, 6, 2), 1, 0, 0, 0, 0, 0),
     (datetime.date(2025, 6, 3), 0, 0, 0, 0, 0, 0),
     (datetime.date(2025, 6, 4), 0, 0, 0, 0, 1, 1)]
    """
    check_leads(
        leads, ["campaign_id", "emails", "replied", "replied_at", "ai_tag"], "daily_activity"
    )
    start, end = _day(start, "start"), _day(end, "end")
    if start is not None and end is not None and start > end:
        raise BadRequestError(
            f"daily_activity: start ({start}) is after end ({end})", hint="Swap the two dates."
        )
    window = window_of(since, until, as_of, leads, "daily_activity")
    schema = _schema(by_campaign)
    keys = ["campaign_id", "date"] if by_campaign else ["date"]

    sends = (
        leads.select("campaign_id", "emails")
        .explode("emails", keep_nulls=False)
        .unnest("emails")
        .filter(
            pl.col("sent_at").is_not_null()
            if window is None
            else window.contains(pl.col("sent_at"))
        )
        .group_by(*keys[:-1], pl.col("sent_at").dt.date().alias("date"))
        .agg(
            pl.len().alias("sent"),
            *(pl.col(c).fill_null(False).sum().alias(c) for c in ("opened", "clicked", "bounced")),
        )
    )
    # Narrow first: filtering the whole lead frame would copy every string and email list.
    replied = leads.select(*keys[:-1], "replied", "replied_at", "ai_tag")
    if window is not None:
        base = prepare(leads, [], ["replied", "replied_at", "emails"])
        placed = replies_in_window(base, window).filter(pl.col("_in_window"))
        replied = replied.with_row_index("_lead").join(
            placed.select("_lead"), on="_lead", how="semi"
        )
    replies = (
        replied.filter(replied_expr() & pl.col("replied_at").is_not_null())
        .group_by(*keys[:-1], pl.col("replied_at").dt.date().alias("date"))
        .agg(
            pl.len().alias("replied"),
            positive_expr(positive_tags).sum().alias("positive"),
        )
    )
    days = pl.concat([sends.select("date"), replies.select("date")])
    first = start if start is not None else days["date"].min()
    last = end if end is not None else days["date"].max()
    if not isinstance(first, date) or not isinstance(last, date):  # no activity, no window
        return pl.DataFrame(schema=schema)

    grid = pl.DataFrame({"date": pl.date_range(first, last, eager=True)})
    if by_campaign:
        campaigns = leads.select(pl.col("campaign_id").unique().sort())
        grid = campaigns.join(grid, how="cross")
    out = (
        grid.join(sends, on=keys, how="left", nulls_equal=True)
        .join(replies, on=keys, how="left", nulls_equal=True)
        .with_columns(pl.col(*_COUNTS).fill_null(0), positive_tags_column(positive_tags))
        .sort(keys)
    )
    return out.select(list(schema.names())).cast(schema)
