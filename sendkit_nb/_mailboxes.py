"""Which sender: ``GET /v1/analytics/mailboxes`` (sendkit-api.md 4.5) as one row per mailbox.

The counts (``performance``) are kept and every rate is recomputed from them over ``sent``:
the API's ``rates`` are percent strings and its ``bounceRate`` was 0.02 in one copy of the docs
and 3.14 in another (fraction or percent, and over what window, is an open question), so the
loader does not trust either; ``api_bounce_rate`` keeps the raw value for reference.

Open questions the loader is tolerant of: the docs show the items as a plain list with no
``pagination`` (a ``pagination`` object announcing more mailboxes than arrived is an
:class:`IncompleteLoadError`, never a silently short frame); ``warmup``, ``performance`` and
the counters may be absent or null (-> null); the meaning of ``warmup.status`` values is not
documented (kept as text); whether ``from``/``to`` are inclusive and in which timezone (the
demo reads them as inclusive UTC days).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl

from sendkit_nb._client import SendKitClient, check_client
from sendkit_nb._errors import BadRequestError, IncompleteLoadError, SchemaError
from sendkit_nb._items import boolean, integer, obj, parse_items_page, text
from sendkit_nb._pagination import Page
from sendkit_nb._schema import MAILBOXES_SCHEMA

__all__ = ["load_mailboxes"]

_WHAT = "mailbox analytics"
_PATH = "/v1/analytics/mailboxes"
_COUNTS = {
    "sent": "sent",
    "opened": "opened",
    "clicked": "clicked",
    "bounced": "bounced",
    "replied": "replied",
    "positive_replied": "positiveReplied",
}

#: Every rate over ``sent`` (what the API's own ``rates`` appear to use, and the only count
#: every mailbox has).
_RATES = {
    "opened": "open_rate",
    "clicked": "click_rate",
    "bounced": "bounce_rate",
    "replied": "reply_rate",
    "positive_replied": "positive_reply_rate",
}


def _number(item: dict[str, Any], key: str, where: str) -> float | None:
    """``bounceRate``: a number, or a numeric string (rates elsewhere are strings)."""
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise SchemaError(
        f"unexpected {_WHAT} response: {where}.{key}: expected a number, got {value!r:.60}"
    )


def _row(item: dict[str, Any], where: str) -> dict[str, Any]:
    performance = obj(item, "performance", where, _WHAT) or {}
    warmup = obj(item, "warmup", where, _WHAT) or {}
    row: dict[str, Any] = {
        "mailbox_id": item["_id"],
        "email": text(item, "email", where, _WHAT),
        "display_name": text(item, "displayName", where, _WHAT),
        "status": text(item, "status", where, _WHAT),
    }
    for column, key in _COUNTS.items():
        value = integer(performance, key, f"{where}.performance", _WHAT)
        if value is not None and value < 0:
            raise SchemaError(
                f"unexpected {_WHAT} response: {where}.performance.{key}: expected a count "
                f">= 0, got {value}"
            )
        row[column] = value
    sent = row["sent"]
    for column, rate in _RATES.items():
        part = row[column]
        row[rate] = part / sent if sent and part is not None else None
    row.update(
        daily_limit=integer(item, "dailySendLimit", where, _WHAT),
        sent_today=integer(item, "sentToday", where, _WHAT),
        warmup_enabled=boolean(warmup, "enabled", f"{where}.warmup", _WHAT),
        warmup_status=text(warmup, "status", f"{where}.warmup", _WHAT),
        total_sent=integer(item, "totalSent", where, _WHAT),
        total_received=integer(item, "totalReceived", where, _WHAT),
        api_bounce_rate=_number(item, "bounceRate", where),
    )
    return row


def _parse(body: bytes) -> Page[list[tuple[str, dict[str, Any]]]]:
    return parse_items_page(body, _WHAT, _row)


def _day(value: object, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise BadRequestError(
        f"{name} must be a date (datetime.date or 'YYYY-MM-DD'), got {value!r:.60}",
        hint=f"Pass e.g. {name}='2025-06-01'.",
    )


def load_mailboxes(
    client: SendKitClient,
    *,
    since: date | str | None = None,
    until: date | str | None = None,
    deadline: float | None = None,
) -> pl.DataFrame:
    """Every sending mailbox of the workspace, one row each (schema:
    ``sendkit_nb.MAILBOXES_SCHEMA``): sent, opened, clicked, bounced, replied and positive
    replied between ``since`` and ``until`` (the API's ``from``/``to``, dates), the rates
    recomputed from those counts over ``sent``, the daily send limit and the warm-up state.

    Without dates the API picks the window (the docs do not say which; the demo API gives all
    time). Requests are retried like every other (see :class:`sendkit_nb.SendKitClient`).
    """
    check_client(client, "load_mailboxes")
    start, end = _day(since, "since"), _day(until, "until")
    if start is not None and end is not None and start > end:
        raise BadRequestError(f"since ({start}) is after until ({end})", hint="Swap the two dates.")
    page = client.request(
        _PATH, {"from": start, "to": end}, parse=_parse, deadline=client.deadline_at(deadline)
    )
    total = page.total
    more = page.pagination.get("hasMore") is True or (total is not None and total > page.count)
    if more:
        raise IncompleteLoadError(
            f"the API answered {page.count} mailboxes but announces "
            f"{total if total is not None else 'more'}; the docs show no way to page this list",
            loaded=page.count,
            expected=total if total is not None else page.count + 1,
            path=_PATH,
        )
    rows = list(dict((key, row) for key, row in page.items).values())
    return pl.DataFrame(rows, schema=MAILBOXES_SCHEMA)
