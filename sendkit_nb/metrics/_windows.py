"""Time windows: the one parser of ``since=`` / ``until=`` / ``as_of=`` and the one rule for
what falls inside a window.

Rules (also in :data:`sendkit_nb.metrics.DEFINITIONS`):

* A window is half-open, ``since <= t < until``, in UTC. Either bound may be left out.
* A bound is a ``datetime`` (naive = UTC), a ``date`` (``since``: that day's 00:00 UTC;
  ``until``: the *end* of that day, so ``until=date(2025, 6, 30)`` includes June 30), an ISO
  string (``"2025-06-01"``, ``"2025-06-01T12:00:00Z"``, read the same way), or a relative
  string ``"<n>d"``, ``"<n>w"``, ``"<n>m"`` (also ``"<n>mo"``: calendar months) meaning that
  long before the reference time ``as_of``: ``since="7d"`` is the last seven days.
* ``as_of`` (the reference of relative bounds) is the source's clock when the data was pulled,
  when the caller knows it (the API server's ``Date``: a store passes its ``as_of``); by
  default the latest ``sent_at`` or ``replied_at`` in the frame, a proxy for when the data was
  pulled (the same default the reply curve uses for its end of observation).
* An email is in the window when its ``sent_at`` is (an email without ``sent_at`` is in no
  window). A reply is placed in time by the email it is attributed to (last touch): it is in
  the window when that email was sent in the window. A reply no email explains (before the
  first send, or from a lead never emailed) is placed at its own ``replied_at``; one with neither
  an attributed email nor a ``replied_at`` is in no window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from sendkit_nb._errors import BadRequestError

__all__ = ["Window", "WindowBound", "resolve_window"]

#: What ``since=`` / ``until=`` accept.
WindowBound = datetime | date | str | None

_RELATIVE = re.compile(r"^\s*(\d+)\s*(d|w|mo|m)\s*$", re.IGNORECASE)
_DATETIME_US = pl.Datetime("us", "UTC")
_HINT = (
    "Pass a datetime, a date, an ISO date such as '2025-06-01', or a span before the data's "
    "pull time such as '7d', '4w' or '3m' (months)."
)


@dataclass(frozen=True)
class Window:
    """A resolved window: ``start <= t < end`` in UTC (None: open on that side), and the
    reference time relative bounds were counted back from (None when no bound was relative)."""

    start: datetime | None = None
    end: datetime | None = None
    as_of: datetime | None = None

    @property
    def is_open(self) -> bool:
        """True for the window that contains everything (no bound)."""
        return self.start is None and self.end is None

    def contains(self, column: pl.Expr) -> pl.Expr:
        """True where the Datetime ``column`` is in the window; False for null (an undated
        event is in no window, except the open one)."""
        inside = pl.lit(True)
        if self.start is not None:
            inside = inside & (column >= pl.lit(self.start, _DATETIME_US))
        if self.end is not None:
            inside = inside & (column < pl.lit(self.end, _DATETIME_US))
        if self.is_open:
            return inside
        return inside.fill_null(False)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def latest_timestamp(leads: pl.DataFrame) -> datetime | None:
    """The latest ``sent_at`` or ``replied_at`` in ``leads`` (None without any): the default
    reference time of relative windows and the reply curve's default end of observation."""
    found: list[datetime] = []
    if "emails" in leads.columns and leads.height:
        sent = leads.select(
            pl.col("emails").list.eval(pl.element().struct.field("sent_at").max()).list.first()
        ).to_series()
        value = sent.max()
        if isinstance(value, datetime):
            found.append(value)
    if "replied_at" in leads.columns:
        value = leads["replied_at"].max()
        if isinstance(value, datetime):
            found.append(value)
    return _utc(max(found)) if found else None


def _months_before(moment: datetime, months: int) -> datetime:
    """Calendar months back, clamping the day (March 31 minus one month is February 28/29)."""
    shifted = pl.Series([moment], dtype=_DATETIME_US).dt.offset_by(f"-{months}mo").item()
    return _utc(shifted)


def _bound(value: object, name: str, as_of: datetime | None, what: str) -> datetime | None:
    """One bound as a UTC datetime (None for None); relative bounds need ``as_of``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        day = value + timedelta(days=1) if name == "until" else value
        return datetime.combine(day, time(0), tzinfo=UTC)
    if not isinstance(value, str):
        raise BadRequestError(
            f"{what}: {name}= must be a datetime, a date or a string, got {type(value).__name__}",
            hint=_HINT,
        )
    match = _RELATIVE.match(value)
    if match:
        count, unit = int(match.group(1)), match.group(2).lower()
        if as_of is None:
            # Nothing to count back from: the frame has no timestamp at all.
            return None
        if unit == "d":
            return as_of - timedelta(days=count)
        if unit == "w":
            return as_of - timedelta(weeks=count)
        return _months_before(as_of, count)
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(
            f"{what}: cannot read {name}={value!r} as a time", hint=_HINT
        ) from None
    if len(text) == 10:  # a bare date: the same as passing a date
        return _bound(parsed.date(), name, as_of, what)
    return _utc(parsed)


def _is_relative(value: object) -> bool:
    return isinstance(value, str) and _RELATIVE.match(value) is not None


def resolve_window(
    since: WindowBound = None,
    until: WindowBound = None,
    *,
    as_of: datetime | None = None,
    leads: pl.DataFrame | None = None,
    what: str = "window",
) -> Window:
    """Resolve ``since`` / ``until`` into a :class:`Window` (see the module notes for the rules).

    ``as_of``: the reference time of relative bounds (``"7d"``); default the latest
    timestamp of ``leads``. Raises :class:`~sendkit_nb.BadRequestError` naming ``what`` (the
    function being called) for a bound that cannot be read or a window that ends before it
    starts. A relative bound over a frame without any timestamp resolves to no bound (there is
    nothing in any window then anyway).

    >>> from datetime import datetime, UTC
    >>> w = resolve_window("7d", as_of=datetime(2025, 6, 8, tzinfo=UTC))
    >>> w.start, w.end
    (datetime.datetime(2025, 6, 1, 0, 0, tzinfo=datetime.timezone.utc), None)
    >>> resolve_window(until="2025-06-30").end
    datetime.datetime(2025, 7, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    if as_of is not None and not isinstance(as_of, datetime):
        raise BadRequestError(
            f"{what}: as_of must be a datetime (UTC if naive), got {type(as_of).__name__}",
            hint="Pass the time the data was pulled, e.g. store.pulled_at.",
        )
    reference = _utc(as_of) if as_of is not None else None
    if reference is None and leads is not None and (_is_relative(since) or _is_relative(until)):
        reference = latest_timestamp(leads)
    start = _bound(since, "since", reference, what)
    end = _bound(until, "until", reference, what)
    if start is not None and end is not None and start >= end:
        raise BadRequestError(
            f"{what}: the window is empty: since ({start:%Y-%m-%d %H:%M} UTC) is not before "
            f"until ({end:%Y-%m-%d %H:%M} UTC)",
            hint="since is the start of the window, until its end (exclusive).",
        )
    relative = _is_relative(since) or _is_relative(until)
    return Window(start=start, end=end, as_of=reference if relative else None)


def window_of(
    since: WindowBound,
    until: WindowBound,
    as_of: datetime | None,
    leads: pl.DataFrame,
    what: str,
) -> Window | None:
    """:func:`resolve_window` for a metric: None when no bound was given, so the metric takes
    its unwindowed path unchanged."""
    if since is None and until is None:
        if as_of is not None and not isinstance(as_of, datetime):
            raise BadRequestError(
                f"{what}: as_of must be a datetime (UTC if naive), got {type(as_of).__name__}"
            )
        return None
    window = resolve_window(since, until, as_of=as_of, leads=leads, what=what)
    return None if window.is_open else window
