"""Reading small JSON list endpoints item by item, naming any bad field and its page.

The campaign-leads loader parses pages with polars' JSON reader because a campaign can hold
100k leads. The endpoints beyond it (workspace leads, mailboxes, inbox threads) are read here in
plain Python instead: their items are few or small, their shapes are looser in the docs (fields
absent, null or empty), and a per-field check lets a :class:`SchemaError` say exactly where a
value is wrong, e.g. ``page 3, data[7] (_id 6650...).jobTitle: expected string, got 5``.

Every reader accepts an absent key and a JSON null as "no value"; each caller decides what an
empty string or list means for its column.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sendkit_nb._client import SendKitClient
from sendkit_nb._envelope import bad_value, page_label, parse_list_page
from sendkit_nb._errors import IncompleteLoadError, PaginationError
from sendkit_nb._frames import IncompleteLoadWarning
from sendkit_nb._pagination import Page, Walk, walk
from sendkit_nb._progress import Progress, progress_bar

__all__ = [
    "Row",
    "boolean",
    "integer",
    "load_list",
    "obj",
    "parse_items_page",
    "string_list",
    "text",
    "timestamp",
]

Row = dict[str, Any]
_T = TypeVar("_T")
_INT64 = 2**63


def text(item: Mapping[str, Any], key: str, where: str, what: str) -> str | None:
    """A string field; None when absent or null."""
    value = item.get(key)
    if value is None or isinstance(value, str):
        return value
    raise bad_value(what, f"{where}.{key}", "string", value)


def boolean(item: Mapping[str, Any], key: str, where: str, what: str) -> bool | None:
    """A JSON boolean (not 0/1, not "true"); None when absent or null."""
    value = item.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise bad_value(what, f"{where}.{key}", "boolean", value)


def integer(item: Mapping[str, Any], key: str, where: str, what: str) -> int | None:
    """A JSON integer within Int64 (a whole float such as 2.0 counts); None when absent or null."""
    value = item.get(key)
    if value is None:
        return None
    whole = isinstance(value, int | float) and not isinstance(value, bool) and value == value
    if whole and float(value).is_integer() and -_INT64 <= value < _INT64:
        return int(value)
    raise bad_value(what, f"{where}.{key}", "an integer", value)


def timestamp(item: Mapping[str, Any], key: str, where: str, what: str) -> datetime | None:
    """An ISO-8601 time as an aware UTC datetime (a time without offset is read as UTC, as the
    API writes ``...Z``); None when absent, null or blank."""
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                return moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC)
    raise bad_value(what, f"{where}.{key}", "an ISO-8601 time", value)


def obj(item: Mapping[str, Any], key: str, where: str, what: str) -> dict[str, Any] | None:
    """A JSON object field; None when absent or null."""
    value = item.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise bad_value(what, f"{where}.{key}", "object", value)


def string_list(item: Mapping[str, Any], key: str, where: str, what: str) -> list[str] | None:
    """A list of strings; None when absent or null (an empty list stays empty)."""
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_value(what, f"{where}.{key}", "list", value)
    for i, entry in enumerate(value):
        if not isinstance(entry, str):
            raise bad_value(what, f"{where}.{key}[{i}]", "string", entry)
    return value


def parse_items_page(
    body: bytes,
    what: str,
    row: Callable[[dict[str, Any], str], _T],
    *,
    id_key: str = "_id",
) -> Page[list[tuple[str, _T]]]:
    """One list response -> a :class:`Page` of ``(id, row(item, where))`` pairs.

    The envelope and the items' ids are checked by :func:`sendkit_nb._envelope.parse_list_page`
    (ValueError for a body that is not JSON, which the client fetches again; SchemaError for
    JSON of another shape); ``where`` names the page (``page 3`` in page mode, its first item's
    id in cursor mode) and the item, for ``row``'s own field errors.
    """
    page = parse_list_page(body, what, id_key=id_key)
    label = page_label(page.pagination, page.items, id_key)
    rows = [
        (item[id_key], row(item, f"{label}, data[{i}] ({id_key} {item[id_key]})"))
        for i, item in enumerate(page.items)
    ]
    return Page(
        items=rows,
        count=page.count,
        first_id=page.first_id,
        last_id=page.last_id,
        pagination=page.pagination,
    )


def load_list(
    client: SendKitClient,
    path: str,
    params: Mapping[str, object],
    parse: Callable[[bytes], Page[list[tuple[str, _T]]]],
    *,
    what: str,
    label: str,
    progress: Progress,
    strict: bool,
    deadline: float | None,
    limit: int = 100,
) -> list[_T]:
    """Every item of a list endpoint, walked with the campaign loader's guarantees.

    Pages come through :func:`sendkit_nb._pagination.walk` (retries, 429 back-off, concurrent
    numbered pages, cursor checks, the shared ``deadline``) and are de-duplicated by id. If the
    count differs from the ``total`` the API announced, the list is walked again by cursor (page
    numbers shift when items are added or removed mid-walk); if it still differs, an
    :class:`IncompleteLoadError` gives both numbers (with ``strict=False``, an
    :class:`IncompleteLoadWarning` and the items as loaded).
    """

    def walk_once(label: str, by_cursor: bool) -> tuple[Walk[list[tuple[str, _T]]], list[_T]]:
        with progress_bar(label, progress) as bar:
            walked = walk(
                client,
                path,
                params,
                parse,
                limit=limit,
                by_cursor=by_cursor,
                on_page=bar.page,
                deadline=deadline,
            )
        seen: set[str] = set()
        rows: list[_T] = []
        for page in walked.pages:
            for key, row in page.items:
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
        return walked, rows

    walked, rows = walk_once(label, False)
    if walked.total is not None and len(rows) != walked.total and walked.mode == "page":
        try:
            again, again_rows = walk_once(label + " (again, by cursor)", True)
        except PaginationError:
            pass  # a server without cursors: keep the first walk, and the count check says so
        else:
            if again.mode == "cursor":
                walked, rows = again, again_rows
    if walked.total is not None and len(rows) != walked.total:
        message = f"loaded {len(rows)} {what} but the API reports a total of {walked.total}"
        if strict:
            raise IncompleteLoadError(message, loaded=len(rows), expected=walked.total, path=path)
        warnings.warn(
            f"{message}: the list may have changed while loading",
            IncompleteLoadWarning,
            stacklevel=3,
        )
    return rows
