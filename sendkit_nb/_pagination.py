"""Walking a paginated list endpoint to the end, in either documented pagination style.

Page mode (older docs): ``?page=N``, ``pagination: {page, limit, total, pages}``. Once the first
page tells how many pages there are, the rest are fetched concurrently.

Cursor mode (newer docs): ``?cursor=ID``, ``pagination: {limit, total, hasMore, nextCursor}``;
``nextCursor`` may be set while ``hasMore`` is false, so the walk stops on ``hasMore`` only.

The walk stops only where the responses say the list ends, and it never loops forever or stops
early in silence: a repeated cursor, a page identical to the one before it, more pages than the
total allows, or a full page with no way forward raise :class:`PaginationError`.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from sendkit_nb._client import SendKitClient
from sendkit_nb._errors import PaginationError

__all__ = ["Page", "Walk", "walk"]

_T = TypeVar("_T")
Mode = Literal["page", "cursor", "single"]

#: No list is allowed more pages than this, whatever the server says (2,000,000 leads at 100).
HARD_PAGE_CAP = 20_000


@dataclass(frozen=True)
class Page(Generic[_T]):
    """One parsed response: its items (in whatever form the parser produced), how many there
    were, the first and last item ids (to spot repeats) and the ``pagination`` object."""

    items: _T
    count: int
    first_id: str | None
    last_id: str | None
    pagination: Mapping[str, Any]

    @property
    def mode(self) -> Mode:
        if "hasMore" in self.pagination:
            return "cursor"
        if "pages" in self.pagination or "page" in self.pagination:
            return "page"
        return "single"

    def _int(self, key: str) -> int | None:
        value = self.pagination.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def total(self) -> int | None:
        return self._int("total")


@dataclass
class Walk(Generic[_T]):
    """The pages of one walk, in list order, and what the server last said the total was."""

    pages: list[Page[_T]] = field(default_factory=list)
    mode: Mode = "single"
    total: int | None = None

    @property
    def count(self) -> int:
        return sum(p.count for p in self.pages)


OnPage = Callable[[Page[Any], int | None], None]
#: ``fetch(position)``: GET the walk's path with its params, ``limit`` and ``position`` (a
#: ``page`` number or a ``cursor``; nothing for the first page), parsed into a Page.
Fetch = Callable[[Mapping[str, object]], Page[_T]]


def walk(
    client: SendKitClient,
    path: str,
    params: Mapping[str, object],
    parse: Callable[[bytes], Page[_T]],
    *,
    limit: int,
    by_cursor: bool = False,
    on_page: OnPage | None = None,
    deadline: float | None = None,
) -> Walk[_T]:
    """Fetch every page of ``path``. ``parse`` turns a body into a :class:`Page`; it runs in
    the fetching thread, so it may do real work per page.

    ``by_cursor=True`` forces a sequential cursor walk even where the server offers page
    numbers; a cursor walk is not disturbed by leads added or removed while it runs.
    ``on_page(page, expected_total)`` is called once per page, in list order, as soon as the
    page and every page before it have arrived (for progress, and to consume pages as they
    come rather than after the last one). ``deadline`` is a ``time.monotonic()`` instant
    (``client.deadline_at()``) that every request of the walk shares; None leaves each
    request to the client's own default.
    """
    notify = on_page or (lambda page, total: None)

    def fetch(position: Mapping[str, object]) -> Page[_T]:
        # The walk's only way to send a request, so no page can miss the deadline.
        query = {**params, "limit": limit, **position}
        return client.request(path, query, parse=parse, deadline=deadline)

    first = fetch({})
    notify(first, first.total)
    if first.mode == "page" and not by_cursor:
        return _walk_pages(client, path, fetch, first, limit, notify)
    if first.mode == "single":
        if first.count >= limit:
            raise PaginationError(
                f"a full page of {first.count} items came back with no pagination object, so "
                "there is no way to fetch the rest",
                path=path,
                hint="The API answered in an unknown shape; report it.",
            )
        return Walk([first], "single", first.count)
    return _walk_cursor(path, fetch, first, limit, notify)


def _page_cap(total: int | None, limit: int) -> int:
    if total is None:
        return HARD_PAGE_CAP
    # Slack for leads added while the walk runs and for short pages the server may return.
    return min(HARD_PAGE_CAP, math.ceil(total / limit) * 2 + 10)


def _walk_cursor(
    path: str,
    fetch: Fetch[_T],
    first: Page[_T],
    limit: int,
    notify: OnPage,
) -> Walk[_T]:
    result: Walk[_T] = Walk([first], "cursor", first.total)
    seen_cursors: set[str] = set()
    page = first
    while True:
        if page.mode == "cursor":
            if not page.pagination.get("hasMore"):
                return result
            cursor = page.pagination.get("nextCursor")
        elif page is first:
            # Page-style first answer but a cursor walk was asked for: go on from its last id.
            cursor = page.last_id
            if page.count < limit and page.pagination.get("pages") in (0, 1):
                return result
        else:
            raise PaginationError(
                "the server stopped answering in cursor style in the middle of a cursor walk",
                path=path,
            )
        if not cursor:
            raise PaginationError(
                "the server says more items remain but gave no cursor to fetch them",
                path=path,
            )
        cursor = str(cursor)
        if cursor in seen_cursors:
            raise PaginationError(
                f"the cursor {cursor} came back twice; stopping instead of looping forever",
                path=path,
            )
        seen_cursors.add(cursor)
        if len(result.pages) >= _page_cap(result.total, limit):
            raise PaginationError(
                f"more than {len(result.pages)} pages for a total of {result.total}; stopping",
                path=path,
            )
        page = fetch({"cursor": cursor})
        _check_not_repeated(result.pages[-1], page, path)
        result.pages.append(page)
        if page.total is not None:
            result.total = page.total
        notify(page, result.total)


def _walk_pages(
    client: SendKitClient,
    path: str,
    fetch: Fetch[_T],
    first: Page[_T],
    limit: int,
    notify: OnPage,
) -> Walk[_T]:
    result: Walk[_T] = Walk([first], "page", first.total)
    pages = _declared_pages(first, limit, path)
    ahead: dict[int, Page[_T]] = {}  # arrived before a page in front of them
    fetched = 1
    # Leads added during the walk show up as a larger `pages` on later responses: keep going
    # until no response announces a page we have not fetched.
    while fetched < pages:
        if pages > _page_cap(first.total, limit):
            raise PaginationError(f"the server announces {pages} pages; stopping", path=path)
        numbers = range(fetched + 1, pages + 1)
        for number, page in _fetch_concurrently(client, fetch, numbers):
            ahead[number] = page
            pages = max(pages, _declared_pages(page, limit, path))
            # Pages go on in list order, each once every page before it is here, so that the
            # caller can consume them as they come (the loader packs them into blocks).
            while (following := len(result.pages) + 1) in ahead:
                ready = ahead.pop(following)
                _check_not_repeated(result.pages[-1], ready, path)
                result.pages.append(ready)
                if ready.total is not None:
                    result.total = ready.total
                notify(ready, result.total)
        fetched = numbers[-1]
    last = result.pages[-1]
    if last.count >= limit and result.total is not None and result.count < result.total:
        raise PaginationError(
            f"the last page is full and only {result.count} of {result.total} items arrived, "
            "but the server announces no further page",
            path=path,
        )
    return result


def _declared_pages(page: Page[Any], limit: int, path: str) -> int:
    pages = page._int("pages")
    total = page.total
    if pages is None:
        if total is None:
            raise PaginationError("page-style pagination without `pages` or `total`", path=path)
        pages = math.ceil(total / limit)
    if total is not None and pages * limit < total:
        raise PaginationError(
            f"{pages} pages of {limit} cannot hold the {total} items the server announces",
            path=path,
        )
    return pages


def _fetch_concurrently(
    client: SendKitClient, fetch: Fetch[_T], numbers: range
) -> Iterator[tuple[int, Page[_T]]]:
    """Fetch the numbered pages on up to ``client.max_workers`` connections (fewer after a
    429), yielding each as soon as it completes; the first failure stops the rest and is
    raised.

    Each lane (a thread) takes the next page number, fetches it, and goes on to the next one
    without waiting for the caller. Lanes are started as the client's limit allows, never more.
    """
    waiting = iter(numbers)
    taking = threading.Lock()
    stop = threading.Event()
    # Each page reports itself done on a queue (not concurrent.futures.wait, whose every call
    # locks every pending future: n * n / 2 lock round trips over a walk of n pages).
    finished: queue.SimpleQueue[tuple[int, Page[_T] | BaseException]] = queue.SimpleQueue()

    def lane() -> None:
        while not stop.is_set():
            with taking:
                number = next(waiting, None)
            if number is None:
                return
            try:
                with client.concurrency:
                    if stop.is_set():  # a lane that waited for its slot past a failure
                        return
                    page: Page[_T] | BaseException = fetch({"page": number})
            except BaseException as exc:  # handed to the caller's thread, raised there
                # No lane starts another page from now on: the caller raises this at once
                # instead of waiting for pages nobody will read (each with its retries).
                stop.set()
                page = exc
            finished.put((number, page))

    most = min(client.max_workers, len(numbers))
    with ThreadPoolExecutor(max_workers=most, thread_name_prefix="sendkit-page") as pool:
        lanes = 0
        try:
            for _ in numbers:
                while lanes < min(most, client.concurrency.limit):
                    pool.submit(lane)
                    lanes += 1
                number, page = finished.get()
                if isinstance(page, BaseException):
                    raise page
                yield number, page
        finally:
            stop.set()


def _check_not_repeated(before: Page[Any], after: Page[Any], path: str) -> None:
    if (
        after.count
        and after.count == before.count
        and (after.first_id, after.last_id) == (before.first_id, before.last_id)
    ):
        raise PaginationError(
            f"two consecutive pages hold the same {after.count} items "
            f"({after.first_id}..{after.last_id}); the server is not advancing",
            path=path,
        )
