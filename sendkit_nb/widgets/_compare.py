"""The dashboard's campaign comparison: which campaigns are compared (the compare picker),
when the comparison must be computed again, and the computing itself (the other campaigns'
rows in a background worker, the campaign on show from its own headline)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go
import polars as pl

from sendkit_nb import charts, metrics
from sendkit_nb._schema import LEADS_SCHEMA
from sendkit_nb.metrics import Window
from sendkit_nb.widgets._html import comparison_note_html
from sendkit_nb.widgets._state import CampaignStore

__all__ = ["Comparison", "PendingComparison", "comparison_worker"]


@functools.cache
def compare_schema() -> pl.Schema:
    """The columns of ``metrics.compare_campaigns``, for a row put together from a headline."""
    return metrics.compare_campaigns(pl.DataFrame(schema=LEADS_SCHEMA)).schema


@dataclass(frozen=True)
class PendingComparison:
    """A comparison being computed: the other campaigns' rows (in a worker thread) and the
    campaign on show, whose row is its view's headline."""

    others: Future[pl.DataFrame] | None
    on_show: str | None
    on_show_name: str | None

    def frame(self, headline: Mapping[str, Any] | None) -> pl.DataFrame:
        """The comparison frame, as ``metrics.compare_campaigns`` gives it for every campaign
        at once (a headline row per campaign, best headline rate first)."""
        parts = [self.others.result()] if self.others is not None else []
        if self.on_show is not None and headline is not None:
            row = {**headline, "campaign_id": self.on_show, "campaign_name": self.on_show_name}
            # Keys of the headline that a comparison has no column for are left out.
            parts.append(pl.DataFrame([row], schema=compare_schema()))
        if not parts:
            return pl.DataFrame(schema=compare_schema())  # drawn as "no data", not left stale
        if len(parts) == 1:
            return parts[0]
        # compare_campaigns' order; the headline row must take its place among the others.
        return pl.concat(parts, how="vertical_relaxed").sort(
            ["positive_rate", "campaign_name", "campaign_id"],
            descending=[True, False, False],
            nulls_last=True,
        )


@functools.cache
def comparison_worker() -> ThreadPoolExecutor:
    """One worker for every dashboard of the kernel (the comparison), started on first use."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sendkit-comparison")


# A forked child inherits the pool without its thread, and would wait on it forever.
os.register_at_fork(after_in_child=comparison_worker.cache_clear)


class Comparison:
    """The campaigns compared in the dashboard's "campaigns" chart and their comparison frame.

    ``picker`` (the compare picker) shows :attr:`compared`; ``note`` says what the chart
    compares. The frame is computed again only when what it depends on changed: the campaigns
    compared, the status filter, or a campaign (re)loaded (the ``loads`` count given to
    :meth:`start`).
    """

    def __init__(
        self,
        store: CampaignStore,
        picker: widgets.SelectMultiple,
        note: widgets.HTML,
        positive_tags: list[str] | None,
    ) -> None:
        self.store = store
        self.picker = picker
        self.note = note
        self.positive_tags = positive_tags
        #: The campaigns compared, in the order they were added.
        self.compared: tuple[str, ...] = ()
        #: Campaigns compared but left out of the chart: no lead in the filter.
        self.missing: list[str] = []
        # The comparison frame, what it was computed from (see start) and the metric its chart
        # was drawn for.
        self._frame: pl.DataFrame | None = None
        self._key: tuple[object, ...] | None = None
        self._metric: str | None = None

    def fill_picker(self, catalog: pl.DataFrame, options: list[tuple[str, str]]) -> None:
        """List ``options`` (every campaign of ``catalog``) in the picker; a campaign gone from
        the list (after a refresh) cannot stay compared."""
        self.picker.options = options
        self.picker.rows = max(2, min(8, catalog.height))
        listed = set(catalog["campaign_id"].to_list())
        self.compared = tuple(cid for cid in self.compared if cid in listed)
        self.show()

    def show(self) -> None:
        """Make the picker show what is compared."""
        listed = {cid for _, cid in self.picker.options}
        chosen = tuple(cid for cid in self.compared if cid in listed)
        if tuple(self.picker.value) != chosen:
            self.picker.value = chosen

    def add(self, campaign_id: str) -> None:
        """Opening a campaign puts it into the comparison (it can be taken out there)."""
        if campaign_id not in self.compared:
            self.compared = (*self.compared, campaign_id)
            self.show()

    def start(
        self,
        current: str | None,
        statuses: tuple[str, ...],
        loads: int,
        window: Window | None = None,
    ) -> PendingComparison | None:
        """Start computing the comparison when what it depends on changed (the campaigns
        compared, the status filter, ``loads``: campaigns loaded so far, the date ``window``,
        resolved: every campaign counts the same days); None when the comparison computed
        before is still current.

        The row of ``current`` (the campaign on show) is its view's headline, computed anyway
        for the KPI cards (the same ``metrics.headline`` on the same leads): a status switch
        then recomputes only the other campaigns, in a worker thread beside the view's
        metrics (polars releases the GIL), and the switch stays quick."""
        bounds = (window.start, window.end) if window is not None else (None, None)
        key = (self.compared, statuses, loads, bounds)
        if key == self._key:
            return None
        frames: list[pl.DataFrame] = []
        missing: list[str] = []
        # Only loaded ones: a campaign whose reload failed (refresh) has no leads to compare.
        compared = [cid for cid in self.compared if self.store.is_loaded(cid)]
        for cid in compared:
            leads, _ = self.store.campaign(cid).select(statuses)
            if not leads.height:
                missing.append(cid)
            elif cid != current:
                frames.append(leads)
        self.missing = missing
        self._key = key
        # One lookup table, not a catalog filter per campaign: "All campaigns" may be many.
        catalog = self.store.cached_catalog
        names: dict[str, str | None] = (
            dict(catalog.select("campaign_id", "name").iter_rows()) if catalog is not None else {}
        )
        self.note.value = comparison_note_html(
            len(compared),
            [f"“{names[cid]}”" if names.get(cid) else f"campaign {cid}" for cid in missing],
            statuses,
        )
        others = (
            comparison_worker().submit(
                metrics.compare_campaigns,
                pl.concat(frames, how="vertical_relaxed", rechunk=False),
                catalog,
                positive_tags=self.positive_tags,
                since=bounds[0],
                until=bounds[1],
            )
            if frames
            else None
        )
        on_show = current if current in compared and current not in missing else None
        return PendingComparison(others, on_show, names.get(on_show) if on_show else None)

    def builders(
        self, pending: PendingComparison | None, headline: Mapping[str, Any] | None, metric: str
    ) -> dict[str, Callable[[], go.Figure]]:
        """The comparison chart's builder when its frame or the metric changed (else none);
        ``headline`` is the view's, for the row of the campaign on show."""
        if pending is None and (self._frame is None or self._metric == metric):
            return {}
        self._metric = metric

        def build() -> go.Figure:
            if pending is not None:
                self._frame = pending.frame(headline)
            if self._frame is None:
                raise RuntimeError("the comparison was not computed")
            return charts.campaign_comparison(self._frame, metric=metric)

        return {"campaigns": build}

    def invalidate(self, *, chart: bool = False) -> None:
        """Compute the comparison again next time (a started one will never be drawn), and
        with ``chart`` draw its chart again too (its drawing failed)."""
        self._key = None
        if chart:
            self._metric = None
