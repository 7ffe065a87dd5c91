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
* A relative bound needs something to count back from: ``as_of`` or the leads (a frame without
  any timestamp gives no bound: nothing is in any window then anyway); with neither it is a
  :class:`~sendkit_nb.BadRequestError`, never a silent "all time".
* Bounds past what a datetime holds (year 1 to the end of 9999, UTC) are clamped where the
  meaning is plain: a ``since`` span reaching back before year 1 (``"99999999d"``) is from the
  beginning (no lower bound), an ``until`` after 9999 (``"9999-12-31"``, ``date.max``) is no
  upper bound. Where nothing could be in the window (an ``until`` span reaching back before
  year 1, a ``since`` after 9999) it is a :class:`~sendkit_nb.BadRequestError`.
* Checked before any data is loaded (:func:`check_window`), a window is judged without the
  reference time; what depends on it (``since="30d", until="2025-06-30"``) is resolved only
  against the data's clock (:func:`resolve_window`), the same for every caller.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from sendkit_nb._errors import BadRequestError

__all__ = ["Window", "WindowBound", "check_window", "resolve_window"]

#: What ``since=`` / ``until=`` accept.
WindowBound = datetime | date | str | None

_RELATIVE = re.compile(r"^\s*(\d+)\s*(d|w|mo|m)\s*$", re.IGNORECASE)
_DATETIME_US = pl.Datetime("us", "UTC")
_HINT = (
    "Pass a datetime, a date, an ISO date such as '2025-06-01', or a span before the data's "
    "pull time such as '7d', '4w' or '3m' (months)."
)
_ORDER_HINT = "since is the start of the window, until its end (exclusive)."
_AS_OF_HINT = "Pass the time the data was pulled (as_of=, e.g. store.as_of) or the leads (leads=)."


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


@dataclass(frozen=True)
class _Span:
    """A relative bound before its reference time is known: ``count`` days, or calendar months
    when ``months``; ``count`` None for a span longer than any datetime's range (over 3.6
    million days), which reaches before year 1 whatever it counts back from."""

    text: str
    count: int | None
    months: bool


#: Longest spans that can end inside datetime's range (year 1 to 9999).
_MAX_DAYS = (date.max - date.min).days
_MAX_MONTHS = 12 * date.max.year
_MAX_DIGITS = 18  # more is beyond any range; int() of a long digit string is slow or refused


def _span(digits: str, unit: str, text: str) -> _Span:
    months = unit in ("m", "mo")
    significant = digits.lstrip("0") or "0"
    if len(significant) > _MAX_DIGITS:
        return _Span(text, None, months)
    count = int(significant) * (7 if unit == "w" else 1)
    return _Span(text, None if count > (_MAX_MONTHS if months else _MAX_DAYS) else count, months)


def _beyond(name: str, before: bool, text: str, what: str) -> None:
    """A bound outside datetime's range (year 1 to the end of 9999) is no bound where that is
    what it means (``since`` before year 1: from the beginning; ``until`` after 9999: no end):
    the caller leaves it out. Where nothing could be in the window, a
    :class:`BadRequestError`."""
    if before == (name == "since"):
        return
    if name == "since":
        raise BadRequestError(
            f"{what}: since={text} is after the end of year 9999: nothing can be in the window",
            hint="Pass an earlier since (a date such as '2025-06-01'), or leave it out.",
        )
    raise BadRequestError(
        f"{what}: until={text} reaches back before year 1: nothing can be in the window",
        hint="until is the end of the window; pass a shorter span such as '30d', a date, "
        "or leave it out.",
    )


def _in_utc(value: datetime, name: str, text: str, what: str) -> datetime | None:
    try:
        return _utc(value)
    except OverflowError:
        # Only an aware time within a day of datetime's range overflows: its offset says which
        # end (east of UTC: the UTC time is earlier, before year 1).
        offset = value.utcoffset()
        _beyond(name, offset is not None and offset > timedelta(0), text, what)
        return None


def _parse(value: object, name: str, what: str) -> datetime | _Span | None:
    """One bound read without a reference time: a UTC datetime, a :class:`_Span` to count back,
    or None (no bound: none given, or clamped, see :func:`_beyond`)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _in_utc(value, name, repr(value), what)
    if isinstance(value, date):
        if name == "since":
            return datetime.combine(value, time(0), tzinfo=UTC)
        if value == date.max:  # until the end of 9999: no end (see _beyond)
            return None
        return datetime.combine(value + timedelta(days=1), time(0), tzinfo=UTC)
    if not isinstance(value, str):
        raise BadRequestError(
            f"{what}: {name}= must be a datetime, a date or a string, got {type(value).__name__}",
            hint=_HINT,
        )
    match = _RELATIVE.match(value)
    if match:
        shown = value if len(value) <= 40 else value[:36] + "..."  # said in errors
        return _span(match.group(1), match.group(2).lower(), repr(shown))
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(
            f"{what}: cannot read {name}={value!r} as a time", hint=_HINT
        ) from None
    if len(text) == 10:  # a bare date: the same as passing a date
        return _parse(parsed.date(), name, what)
    return _in_utc(parsed, name, repr(value), what)


def _count_back(
    bound: datetime | _Span | None, name: str, reference: datetime | None, what: str
) -> datetime | None:
    """A parsed bound as a UTC datetime: a span counted back from ``reference`` (no bound
    without one: the frame has no timestamp at all, so nothing is in any window anyway)."""
    if not isinstance(bound, _Span):
        return bound
    if bound.count is None:
        _beyond(name, True, bound.text, what)
        return None
    if reference is None:
        return None
    if bound.months:
        # Calendar months back, clamping the day (March 31 minus one month is February 28/29).
        year, month = divmod(reference.year * 12 + reference.month - 1 - bound.count, 12)
        if year < 1:
            _beyond(name, True, bound.text, what)
            return None
        last_day = calendar.monthrange(year, month + 1)[1]
        return reference.replace(year=year, month=month + 1, day=min(reference.day, last_day))
    try:
        return reference - timedelta(days=bound.count)
    except OverflowError:
        _beyond(name, True, bound.text, what)
        return None


def _check_order(start: datetime | None, end: datetime | None, what: str) -> None:
    if start is not None and end is not None and start >= end:
        raise BadRequestError(
            f"{what}: the window is empty: since ({start:%Y-%m-%d %H:%M} UTC) is not before "
            f"until ({end:%Y-%m-%d %H:%M} UTC)",
            hint=_ORDER_HINT,
        )


def check_window(since: WindowBound = None, until: WindowBound = None, *, what: str) -> None:
    """Check ``since`` / ``until`` before any data is loaded, by the rules of
    :func:`resolve_window` but without a reference time: a bound that cannot be read or that
    leaves nothing in the window whatever the reference raises
    :class:`~sendkit_nb.BadRequestError` naming ``what``. What depends on the reference (a span
    against an absolute bound: ``since="30d", until="2025-06-30"``) is left to
    :func:`resolve_window` with the data's clock, never guessed from the wall clock.

    >>> check_window("30d", "2025-06-30", what="report")  # depends on the data's clock: fine
    >>> check_window("30d", "60d", what="report")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sendkit_nb._errors.BadRequestError: report: the window is empty: since='30d' is not ...
    """
    start, end = _parse(since, "since", what), _parse(until, "until", what)
    for bound, name in ((start, "since"), (end, "until")):
        if isinstance(bound, _Span) and bound.count is None:
            _beyond(name, True, bound.text, what)  # past any reference: clamped or refused
    if isinstance(start, _Span) and isinstance(end, _Span):
        # Counted back from one reference in the same unit, their order is known already.
        first, last = start.count, end.count
        same_unit = start.months == end.months
        if same_unit and first is not None and last is not None and first <= last:
            raise BadRequestError(
                f"{what}: the window is empty: since={since!r} is not before "
                f"until={until!r} (both count back from the same time)",
                hint=_ORDER_HINT,
            )
    elif not isinstance(start, _Span) and not isinstance(end, _Span):
        _check_order(start, end, what)


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
    function being called) for a bound that cannot be read, a window that ends before it
    starts, or a relative bound with neither ``as_of`` nor ``leads`` (nothing to count back
    from). A relative bound over a frame without any timestamp resolves to no bound (there is
    nothing in any window then anyway). Bounds past datetime's range are clamped or refused as
    the module notes say.

    >>> from datetime import datetime, UTC
    >>> w = resolve_window("7d", as_of=datetime(2025, 6, 8, tzinfo=UTC))
    >>> w.start, w.end
    (datetime.datetime(2025, 6, 1, 0, 0, tzinfo=datetime.timezone.utc), None)
    >>> resolve_window(until="2025-06-30").end
    datetime.datetime(2025, 7, 1, 0, 0, tzinfo=datetime.timezone.utc)
    >>> resolve_window("2025-06-01", "9999-12-31").end is None  # past 9999: no end
    True
    """
    if as_of is not None and not isinstance(as_of, datetime):
        raise BadRequestError(
            f"{what}: as_of must be a datetime (UTC if naive), got {type(as_of).__name__}",
            hint=_AS_OF_HINT,
        )
    start, end = _parse(since, "since", what), _parse(until, "until", what)
    relative = isinstance(start, _Span) or isinstance(end, _Span)
    reference = _reference(as_of, what) if as_of is not None else None
    if relative and reference is None:
        if leads is None:
            text = next(b.text for b in (start, end) if isinstance(b, _Span))
            raise BadRequestError(
                f"{what}: a relative span ({text}) needs as_of= or the leads to count back from",
                hint=_AS_OF_HINT,
            )
        reference = latest_timestamp(leads)
    start_at = _count_back(start, "since", reference, what)
    end_at = _count_back(end, "until", reference, what)
    _check_order(start_at, end_at, what)
    return Window(start=start_at, end=end_at, as_of=reference if relative else None)


def _reference(as_of: datetime, what: str) -> datetime:
    try:
        return _utc(as_of)
    except OverflowError:
        raise BadRequestError(
            f"{what}: as_of={as_of!r} is outside the years 1 to 9999 in UTC", hint=_AS_OF_HINT
        ) from None


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
