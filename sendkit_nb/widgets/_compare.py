"""The dashboard's campaign comparison while it is computed: the other campaigns' rows in a
background worker, the campaign on show from its own headline."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl

from sendkit_nb import metrics
from sendkit_nb._schema import LEADS_SCHEMA


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
