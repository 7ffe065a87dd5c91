"""The dashboard's state without any widget: loaded campaigns, the current selection and the
metrics of that selection.

Kept apart from ipywidgets so the logic can be tested and benchmarked on its own. Everything
here goes through :func:`sendkit_nb.load_leads` / :func:`sendkit_nb.load_campaigns` and the
campaign summary (:mod:`sendkit_nb._summary`, which the report renders too); nothing talks HTTP
or computes a metric by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb._present import fmt_int
from sendkit_nb._progress import ProgressCallback
from sendkit_nb._summary import (
    CampaignSummary,
    SummaryOptions,
    count_statuses,
    has_variant_step,
    metrics_pool,
    summarize,
)
from sendkit_nb._summary import check_statuses as check_statuses
from sendkit_nb.metrics import Denominator, Metric, Window, WindowBound, sequence_steps
from sendkit_nb.metrics._labels import label_positions
from sendkit_nb.metrics._timing import reply_clock

if TYPE_CHECKING:
    from sendkit_nb.widgets._source import Source

__all__ = [
    "SORT_KEYS",
    "CampaignStore",
    "LoadedCampaign",
    "Screen",
    "Selection",
    "View",
    "compute_view",
]

#: What the lead table can be sorted by: label -> column of :attr:`LoadedCampaign.table`.
SORT_KEYS: dict[str, str] = {
    "added": "added_at",
    "last email": "last_sent_at",
    "replied": "replied_at",
    "emails sent": "emails_sent",
    "email": "email",
    "company": "company_name",
    "status": "status",
    "step": "current_step",
    "AI tag": "ai_tag",
}

#: The columns of the lead table, in display order. The current step shows as people count
#: steps (``current_step_label``, "Step 2 · subject"); the raw ``current_step`` (the sequence
#: order) stays in the table for sorting, as an order sorts positions right and a label does not.
TABLE_COLUMNS: tuple[str, ...] = (
    "email",
    "name",
    "company_name",
    "status",
    "current_step_label",
    "emails_sent",
    "last_sent_at",
    "opened",
    "replied_at",
    "ai_tag",
)


@dataclass(frozen=True)
class Selection:
    """What the pickers say. ``statuses`` empty means every status."""

    campaign_id: str | None = None
    statuses: tuple[str, ...] = ()
    denominator: Denominator = "delivered"
    metric: Metric = "reply"
    by_variant: bool = False
    sort_by: str = "added"
    descending: bool = True
    #: The date window (``metrics`` ``since`` / ``until``: "30d", a date, a datetime...);
    #: None, None: all time.
    since: WindowBound = None
    until: WindowBound = None

    def with_(self, **changes: Any) -> Selection:
        return replace(self, **changes)


def _sequence_of(campaign_id: str, campaigns: pl.DataFrame | None) -> pl.DataFrame | None:
    """The email steps of ``campaign_id`` (:func:`~sendkit_nb.metrics.sequence_steps`) from the
    campaigns frame, None when the frame does not have the campaign's sequence."""
    if campaigns is None or not {"campaign_id", "sequence"} <= set(campaigns.columns):
        return None
    mine = campaigns.filter(pl.col("campaign_id") == campaign_id)
    return sequence_steps(mine) if mine.height else None


def _table_base(leads: pl.DataFrame, steps: pl.DataFrame | None = None) -> pl.DataFrame:
    """The lead table's columns for every lead, derived once per campaign so that sorting a
    status selection is a plain sort (the per-lead list work is not repeated per click).

    ``steps`` (the campaign's :func:`~sendkit_nb.metrics.sequence_steps`) labels the current
    step ("Step 2 · subject", "After Step 1" while waiting); without it the label is the raw
    order ("Step order 3")."""
    sent_at = pl.element().struct.field("sent_at")
    opened = pl.element().struct.field("opened").fill_null(False)
    name = pl.concat_str(
        [pl.col("first_name").fill_null(""), pl.col("last_name").fill_null("")], separator=" "
    ).str.strip_chars()
    table = leads.select(
        "id",
        "email",
        pl.when(name == "").then(None).otherwise(name).alias("name"),
        "company_name",
        "status",
        "current_step",
        pl.col("emails").list.len().fill_null(0).cast(pl.Int32).alias("emails_sent"),
        pl.col("emails").list.eval(sent_at).list.max().alias("last_sent_at"),
        pl.col("emails").list.eval(opened).list.any().fill_null(False).alias("opened"),
        "replied_at",
        "ai_tag",
        "added_at",
    )
    # The few distinct positions are labelled and joined back: no per-lead string work.
    return label_positions(table, steps, column="current_step", alias="current_step_label")


@dataclass
class LoadedCampaign:
    """One campaign's leads, kept in memory so switching back to it is instant.

    ``parts`` splits the leads (and the table rows) by status once, at load time: a status
    selection is then a concatenation of a few ready frames instead of a filter over every lead.
    ``clocks`` does the same for the leads' reply clock (first email, reply, latest send: see
    :func:`~sendkit_nb.metrics._timing.reply_clock`), worked out once per campaign, so a status
    switch computes the reply curve and the reply-timing KPIs from one row per lead instead of
    going through every email again.
    """

    campaign_id: str
    leads: pl.DataFrame
    table: pl.DataFrame
    parts: dict[str, tuple[pl.DataFrame, pl.DataFrame]]
    status_counts: pl.DataFrame
    #: The reply clock of every lead, and by status (see above).
    clock: pl.DataFrame
    clocks: dict[str, pl.DataFrame]
    #: Whether some step has two or more variants (the reply curve's split rule), found once.
    variant_step: bool = False
    #: Warnings from the load (e.g. the campaign changed while it was being loaded).
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_leads(
        cls, campaign_id: str, leads: pl.DataFrame, campaigns: pl.DataFrame | None = None
    ) -> LoadedCampaign:
        """``campaigns`` (``load_campaigns(client)``) gives the lead table its step labels."""
        table = _table_base(leads, _sequence_of(campaign_id, campaigns))
        parts: dict[str, tuple[pl.DataFrame, pl.DataFrame]] = {}
        clock = reply_clock(leads)
        clocks: dict[str, pl.DataFrame] = {}
        if leads.height:
            lead_parts = leads.partition_by("status", as_dict=True, maintain_order=True)
            table_parts = table.partition_by("status", as_dict=True, maintain_order=True)
            # The clock lines up row by row with the leads, so their status splits it too.
            clock_parts = clock.with_columns(leads["status"].alias("_status")).partition_by(
                "_status", as_dict=True, maintain_order=True, include_key=False
            )
            for (status,), part in lead_parts.items():
                parts[str(status)] = (part, table_parts[(status,)])
                clocks[str(status)] = clock_parts[(status,)]
        return cls(
            campaign_id=campaign_id,
            leads=leads,
            table=table,
            parts=parts,
            clock=clock,
            clocks=clocks,
            status_counts=count_statuses(leads, campaign_id),
            variant_step=has_variant_step(leads),
        )

    def select(self, statuses: Sequence[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The leads and table rows with one of ``statuses`` (all of them when empty)."""
        if not statuses or set(statuses) >= set(self.parts):
            return self.leads, self.table
        chosen = [self.parts[s] for s in statuses if s in self.parts]
        if not chosen:
            return self.leads.clear(), self.table.clear()
        if len(chosen) == 1:
            return chosen[0]
        # rechunk=False: the metrics read the chunks as they are; copying them buys nothing.
        return (
            pl.concat([c[0] for c in chosen], rechunk=False),
            pl.concat([c[1] for c in chosen], rechunk=False),
        )

    def select_clock(self, statuses: Sequence[str]) -> pl.DataFrame:
        """The reply clock of the leads with one of ``statuses`` (all of them when empty),
        as :meth:`select` picks the leads."""
        if not statuses or set(statuses) >= set(self.clocks):
            return self.clock
        chosen = [self.clocks[s] for s in statuses if s in self.clocks]
        if not chosen:
            return self.clock.clear()
        return chosen[0] if len(chosen) == 1 else pl.concat(chosen, rechunk=False)


@dataclass
class CampaignStore:
    """The campaigns list and every loaded campaign, fetched once each from ``source`` (until
    refreshed): a :class:`~sendkit_nb.widgets._source.Source` (the API or a store)."""

    source: Source
    on_stage: Callable[[str, str], None] | None = None
    #: Told the leads loaded so far and the total after every page of a campaign's leads.
    on_leads: ProgressCallback | None = None
    _catalog: pl.DataFrame | None = None
    _loaded: dict[str, LoadedCampaign] = field(default_factory=dict)

    def _stage(self, stage: str, text: str) -> None:
        if self.on_stage is not None:
            self.on_stage(stage, text)

    @property
    def loaded_ids(self) -> list[str]:
        return list(self._loaded)

    def is_loaded(self, campaign_id: str) -> bool:
        return campaign_id in self._loaded

    @property
    def cached_catalog(self) -> pl.DataFrame | None:
        """The campaigns list if it was fetched (None before, or after a failed fetch)."""
        return self._catalog

    def catalog(self, *, refresh: bool = False) -> pl.DataFrame:
        """The source's campaigns list, fetched on first use and on ``refresh``."""
        if self._catalog is None or refresh:
            self._stage("campaigns", "Loading the campaigns list…")
            self._catalog = self.source.campaigns()
        return self._catalog

    def campaign(self, campaign_id: str, *, refresh: bool = False) -> LoadedCampaign:
        """Every lead of ``campaign_id``: from memory when loaded before, else from the
        source."""
        if refresh:
            self._loaded.pop(campaign_id, None)
        found = self._loaded.get(campaign_id)
        if found is not None:
            return found
        self._stage("leads", f"Loading the leads of {self.name_of(campaign_id)}…")
        leads, notes = self.source.leads(campaign_id, self.on_leads)
        self._stage("metrics", f"Preparing {fmt_int(leads.height)} leads…")
        # The campaigns list is fetched before any campaign (it names them); the lead table
        # takes its step labels from it.
        loaded = LoadedCampaign.from_leads(campaign_id, leads, self._catalog)
        loaded.notes = notes
        self._loaded[campaign_id] = loaded
        return loaded

    def forget(self, campaign_id: str | None = None) -> None:
        """Drop one loaded campaign (or all of them and the campaigns list)."""
        if campaign_id is None:
            self._loaded.clear()
            self._catalog = None
        else:
            self._loaded.pop(campaign_id, None)

    def name_of(self, campaign_id: str) -> str:
        if self._catalog is not None:
            hit = self._catalog.filter(pl.col("campaign_id") == campaign_id)
            if hit.height and hit["name"][0]:
                return f"“{hit['name'][0]}”"
        return f"campaign {campaign_id}"

    def loaded_leads(self) -> pl.DataFrame:
        """Every loaded campaign's leads in one frame (for the side-by-side comparison)."""
        frames = [c.leads for c in self._loaded.values() if c.leads.height]
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames, how="vertical_relaxed", rechunk=False)


@dataclass
class Screen:
    """What the dashboard shows now: the pickers' selection and the view computed for it
    (None until the first campaign is drawn). One object, shared by the dashboard's parts."""

    selection: Selection
    view: View | None = None


@dataclass
class View:
    """What the dashboard shows for one selection: the campaign summary (the same one the
    report renders, see :mod:`sendkit_nb._summary`) and the first rows of the lead table.

    The summary's parts are exposed under their own names too (``view.funnel`` ...), as the
    dashboard draws each panel from one of them.
    """

    selection: Selection
    summary: CampaignSummary
    table: pl.DataFrame
    table_total: int

    @property
    def leads(self) -> pl.DataFrame:
        return self.summary.leads

    @property
    def headline(self) -> Mapping[str, Any]:
        return self.summary.headline

    @property
    def funnel(self) -> pl.DataFrame:
        return self.summary.funnel

    @property
    def variant_funnel(self) -> pl.DataFrame | None:
        return self.summary.variant_funnel

    @property
    def reply_curve(self) -> pl.DataFrame:
        return self.summary.reply_curve

    @property
    def daily(self) -> pl.DataFrame:
        return self.summary.daily

    @property
    def ai_tags(self) -> pl.DataFrame:
        return self.summary.ai_tags

    @property
    def status_counts(self) -> pl.DataFrame:
        return self.summary.status_counts


def compute_view(
    loaded: LoadedCampaign,
    selection: Selection,
    catalog: pl.DataFrame | None,
    *,
    table_rows: int,
    positive_tags: Iterable[str] | None = None,
    window: Window | None = None,
    as_of: datetime | None = None,
) -> View:
    """The summary of ``selection`` of ``loaded`` and the lead table's first rows.

    Only what is on screen is computed (``details=False``): the variant funnel only when the
    variant view is on (it is the costliest metric), no reply timing or data checks; the
    report's export adds those to this same summary. The table is sorted in the metrics pool,
    beside the metrics.

    ``window``: the selection's date window, resolved (absolute bounds, so every part of the
    view and the comparison count the same days); None: all time. ``as_of``: the source's
    clock at the pull (``source.as_of()``), where the reply curve's observation ends (None: the
    latest timestamp of the selection).
    """
    statuses = check_statuses(selection.statuses)
    leads, table = loaded.select(statuses)
    rows = metrics_pool().submit(sort_table, table, selection, table_rows)
    try:
        summary = summarize(
            loaded.leads,
            catalog,
            SummaryOptions(
                statuses=statuses,
                denominator=selection.denominator,
                positive_tags=tuple(positive_tags) if positive_tags is not None else None,
                metric=selection.metric,
                by_variant=selection.by_variant,
                since=window.start if window is not None else None,
                until=window.end if window is not None else None,
                as_of=as_of,
            ),
            campaign_id=loaded.campaign_id,
            details=False,
            selected=leads,
            status_counts=loaded.status_counts,
            variant_step=loaded.variant_step,
            clock=loaded.select_clock(statuses),
        )
        return View(
            selection=selection,
            summary=summary,
            table=rows.result(),
            table_total=table.height,
        )
    finally:
        rows.cancel()


def sort_table(table: pl.DataFrame, selection: Selection, rows: int) -> pl.DataFrame:
    """The first ``rows`` table rows in the selection's order (missing values last)."""
    column = SORT_KEYS.get(selection.sort_by)
    if column is None:
        raise BadRequestError(
            f"unknown sort key {selection.sort_by!r}", hint=f"Use one of {', '.join(SORT_KEYS)}."
        )
    # The lead id breaks ties so the order is the same on every refresh.
    return table.sort(
        [column, "id"],
        descending=[selection.descending, False],
        nulls_last=True,
        maintain_order=True,
    ).head(rows)
