"""The envelope every SendKit list response shares: ``{"data": [...], "pagination": {...}}``.

The campaigns list (:mod:`sendkit_nb._frames`) and the item-by-item endpoints
(:mod:`sendkit_nb._items`: workspace leads, mailboxes, inbox conversations) check it here, once,
so a bad envelope is the same :class:`SchemaError` whichever loader meets it. It sits below both
because ``_items`` imports ``_frames`` (for :class:`IncompleteLoadWarning`), so ``_frames`` cannot
import ``_items``. The campaign-leads pages are read by polars' JSON reader instead, but share
:func:`no_data` for the one check that reader cannot make.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sendkit_nb._errors import SchemaError
from sendkit_nb._pagination import Page

__all__ = ["bad_value", "no_data", "page_label", "parse_list_page"]


def bad_value(what: str, where: str, expected: str, value: Any) -> SchemaError:
    """``unexpected <what> response: <where>: expected <expected>, got <value>``, the value cut
    to 60 characters (a wrong value may be a whole page)."""
    return SchemaError(
        f"unexpected {what} response: {where}: expected {expected}, got {value!r:.60}"
    )


def no_data(pagination: Mapping[str, Any], what: str) -> SchemaError | None:
    """A page without a ``data`` list (absent or null) is an empty list only when its own
    ``total`` is 0; otherwise loading it would give 0 rows for a list that has some."""
    total = pagination.get("total")
    if total == 0:
        return None
    announced = "" if total is None else f", though its pagination announces {total} items"
    return SchemaError(f"unexpected {what} response: no `data` list{announced}")


def page_label(pagination: Mapping[str, Any], items: list[Any], id_key: str) -> str:
    """How an error names a page: ``page 3`` in page mode; in cursor mode, which has no page
    numbers, by its first item's id."""
    page = pagination.get("page")
    if isinstance(page, int) and not isinstance(page, bool):
        return f"page {page}"
    first = items[0].get(id_key) if items and isinstance(items[0], dict) else None
    return f"the page starting at {id_key} {first}" if first else "a page"


def parse_list_page(body: bytes, what: str, *, id_key: str = "_id") -> Page[list[dict[str, Any]]]:
    """One list response -> a :class:`Page` of its items, each a JSON object with an id.

    Raises ValueError for a body that is not JSON (the client fetches it again: a body cut short
    is a transport failure), and :class:`SchemaError` for JSON of another shape: not an object,
    ``pagination`` not an object, ``data`` not a list, absent or null while the ``total`` is not
    0 (:func:`no_data`), or an item that is not an object or lacks its id (cursors and
    de-duplication need it), naming the page (:func:`page_label`) and the item. Null
    ``pagination`` values are dropped, so they read as absent.
    """
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise SchemaError(f"unexpected {what} response: not a JSON object: {doc!r:.60}")
    pagination = doc.get("pagination")
    if pagination is None:
        pagination = {}
    elif not isinstance(pagination, dict):
        raise bad_value(what, "pagination", "object", pagination)
    pagination = {k: v for k, v in pagination.items() if v is not None}
    items = doc.get("data")
    if items is None:
        error = no_data(pagination, what)
        if error:
            raise error
        items = []
    elif not isinstance(items, list):
        raise bad_value(what, "data", "list", items)
    label = page_label(pagination, items, id_key)
    for i, item in enumerate(items):
        where = f"{label}, data[{i}]"
        if not isinstance(item, dict):
            raise bad_value(what, where, "object", item)
        item_id = item.get(id_key)
        if not isinstance(item_id, str) or not item_id:
            raise bad_value(what, f"{where}.{id_key}", "a non-empty string id", item_id)
    return Page(
        items=items,
        count=len(items),
        first_id=items[0][id_key] if items else None,
        last_id=items[-1][id_key] if items else None,
        pagination=pagination,
    )
