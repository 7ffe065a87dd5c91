"""Progress display for long loads: tqdm.auto (a widget in Jupyter, text in a terminal), or
a function of the caller's (the dashboard draws its own bar)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

from sendkit_nb._errors import BadRequestError
from sendkit_nb._pagination import Page

#: ``progress(leads_so_far, total)`` after every page; ``total`` is the count the API
#: announced (None when it gives none).
ProgressCallback: TypeAlias = Callable[[int, int | None], None]
Progress: TypeAlias = bool | ProgressCallback


def check_progress(progress: object) -> Progress:
    """``progress`` if it is True, False or a function, else a clear error (before any
    request is made)."""
    if isinstance(progress, bool) or callable(progress):
        return progress
    raise BadRequestError(
        f"progress must be True, False or a function, got {type(progress).__name__}",
        hint="Pass progress=False for no bar, or a function called with (leads so far, total).",
    )


class _LoadProgress:
    """Counts leads against the announced total and pages fetched: a tqdm bar, a callback, or
    nothing."""

    def __init__(self, label: str, progress: Progress) -> None:
        self._bar: Any = None
        self._callback = progress if callable(progress) else None
        self._pages = 0
        self._leads = 0
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(desc=label, unit=" leads", leave=True, dynamic_ncols=True)

    def page(self, page: Page[Any], total: int | None) -> None:
        self._pages += 1
        self._leads += page.count
        if self._callback is not None:
            self._callback(self._leads, total)
        if self._bar is None:
            return
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.set_postfix(pages=self._pages, refresh=False)
        self._bar.update(page.count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextmanager
def progress_bar(label: str, progress: Progress = True) -> Iterator[_LoadProgress]:
    bar = _LoadProgress(label, progress)
    try:
        yield bar
    finally:
        bar.close()
