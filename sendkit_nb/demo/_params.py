"""Query parameters of the demo API, parsed exactly as strictly as the docs state them
(limit 1..100, documented status values, ISO dates), and the page or cursor slice they ask for."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Literal

from ._data import (
    JSONDict,
)
from ._replies import _ApiError

_HEX24 = re.compile(r"[0-9a-fA-F]{24}")
_INT = re.compile(r"[+-]?\d{1,18}")
_MAX_LIMIT = 100
_DEFAULT_LIMIT = 25


def _format_seconds(value: float) -> str:
    """Retry-After is defined in whole seconds; fractions are kept so that tests can stay fast."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _int_param(query: dict[str, str], name: str, low: int, high: int | None) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    text = raw.strip()
    bound = f"between {low} and {high}" if high is not None else f">= {low}"
    if not _INT.fullmatch(text):
        raise _ApiError(400, f"Invalid {name} {raw[:40]!r}: must be an integer {bound}")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise _ApiError(400, f"Invalid {name} {value}: must be {bound}")
    return value


def _parse_paging(
    query: dict[str, str], generation: Literal["page", "cursor"]
) -> tuple[int, int | None, str | None]:
    limit = _int_param(query, "limit", 1, _MAX_LIMIT)
    # The newer (cursor) generation has no page parameter: it is ignored there, not validated.
    page = _int_param(query, "page", 1, None) if generation == "page" else None
    cursor = query.get("cursor")
    if cursor is not None:
        if not _HEX24.fullmatch(cursor):
            raise _ApiError(
                400, f"Invalid cursor {cursor[:40]!r}: expected a 24-hex id (a nextCursor value)"
            )
        cursor = cursor.lower()
    return (limit if limit is not None else _DEFAULT_LIMIT), page, cursor


def _parse_statuses(query: dict[str, str], allowed: Sequence[str]) -> frozenset[str] | None:
    raw = query.get("status")
    if raw is None:
        return None
    values = [v.strip() for v in raw.split(",")]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise _ApiError(
            400, f"Invalid status {bad[0][:40]!r}: expected one of {', '.join(allowed)}"
        )
    return frozenset(values)


def _parse_date(query: dict[str, str], name: str) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw).isoformat()
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _ApiError(
            400, f"Invalid {name} {raw[:40]!r}: expected a date like 2025-06-01"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat()


def _parse_range(query: dict[str, str]) -> tuple[str | None, str | None]:
    """``from``/``to`` as inclusive UTC dates (``YYYY-MM-DD``), compared with ISO prefixes."""
    since, until = _parse_date(query, "from"), _parse_date(query, "to")
    if since is not None and until is not None and since > until:
        raise _ApiError(400, f"Invalid range: from {since} is after to {until}")
    return since, until


def _paginate(
    ids: Sequence[str],
    limit: int,
    page: int | None,
    cursor: str | None,
    generation: Literal["page", "cursor"],
) -> tuple[int, int, JSONDict]:
    """Slice bounds into ``ids`` (sorted) and the ``pagination`` object for them."""
    total = len(ids)
    if cursor is not None or generation == "cursor":
        start = bisect_right(ids, cursor) if cursor is not None else 0
        end = min(start + limit, total)
        # As in the docs' example, nextCursor is the last item's id even on the final page.
        return (
            start,
            end,
            {
                "limit": limit,
                "total": total,
                "hasMore": end < total,
                "nextCursor": ids[end - 1] if end > start else None,
            },
        )
    page = page or 1
    start = min((page - 1) * limit, total)
    end = min(start + limit, total)
    return start, end, {"page": page, "limit": limit, "total": total, "pages": -(-total // limit)}
