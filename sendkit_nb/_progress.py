"""Progress display for long loads: tqdm.auto (a widget in Jupyter, text in a terminal)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sendkit_nb._pagination import Page


class _LoadProgress:
    """Counts leads against the announced total and pages fetched; silent when disabled."""

    def __init__(self, label: str, enabled: bool) -> None:
        self._bar: Any = None
        self._pages = 0
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(desc=label, unit=" leads", leave=True, dynamic_ncols=True)

    def page(self, page: Page[Any], total: int | None) -> None:
        self._pages += 1
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
def progress_bar(label: str, *, enabled: bool = True) -> Iterator[_LoadProgress]:
    bar = _LoadProgress(label, enabled)
    try:
        yield bar
    finally:
        bar.close()
