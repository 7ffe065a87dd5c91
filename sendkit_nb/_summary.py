"""One campaign view, computed once: everything the dashboard, the report and the command line
show about a selection of a campaign's leads.

:func:`summarize` turns a leads frame, the campaigns frame (step labels) and the options into a
frozen :class:`CampaignSummary`: the headline (with the reply timing's KPIs), the step funnel,
the variant funnel, the reply curve, the daily activity, the status and AI-tag breakdowns, and
(for the report) the data checks. The front ends only render it, so they cannot disagree about
what a number is; the dashboard's "Export HTML" hands its summary to the report as it is.

Every number comes from :mod:`sendkit_nb.metrics`; nothing is computed here by hand.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, TypeVar

import polars as pl

from sendkit_nb import metrics
from sendkit_nb._checks import check_status_filter
from sendkit_nb._schema import LEAD_STATUSES, LEADS_SCHEMA
from sendkit_nb.metrics import Denominator, Metric
from sendkit_nb.metrics._attribution import Attribution
from sendkit_nb.metrics._timing import reply_curve_of_clock, reply_timing_of_clock

__all__ = [
    "TIMING_KPIS",
    "CampaignSummary",
    "SummaryOptions",
    "check_statuses",
    "compare",
    "complete",
    "count_statuses",
    "has_variant_step",
    "metrics_pool",
    "summarize",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class SummaryOptions:
    """How a summary is computed. ``statuses`` empty means every status; ``positive_tags``
    None means the default positive set; ``by_variant`` computes the A/B variant funnel and
    splits the reply curve by variant (where some step has two or more variants)."""

    statuses: tuple[str, ...] = ()
    denominator: Denominator = "delivered"
    positive_tags: tuple[str, ...] | None = None
    confidence: float = 0.95
    metric: Metric = "reply"
    by_variant: bool = True
    #: A time window (``since`` / ``until``: a datetime, a date, an ISO string or "7d", "4w",
    #: "3m" before ``as_of``): the metrics count the emails sent in it and the replies placed
    #: in it (``metrics.DEFINITIONS``); None, None = all time. ``as_of``: the source's clock at
    #: the pull (the server's Date, which a store keeps as ``Store.as_of``), the reference of
    #: relative bounds and the reply curve's end of observation (None: the latest timestamp in
    #: the leads).
    since: metrics.WindowBound = None
    until: metrics.WindowBound = None
    as_of: datetime | None = None
    #: ``"inbox"``: the headline, step funnel and variant funnel place each reply at the step
    #: its inbox thread shows (``summarize(..., replies=)``), and the data checks add the
    #: per-step comparison with last touch (:attr:`CampaignSummary.attribution_check`).
    attribution: Attribution = "last_touch"

    @property
    def window(self) -> dict[str, Any]:
        """The window arguments of the metrics (empty without a window or ``as_of``)."""
        given = {"since": self.since, "until": self.until, "as_of": self.as_of}
        return {k: v for k, v in given.items() if v is not None}


@dataclass(frozen=True)
class CampaignSummary:
    """What a campaign view shows, for one selection of one campaign's leads.

    ``leads``: the selection (the campaign's leads with one of ``options.statuses``).
    ``headline``: the one row of :func:`~sendkit_nb.metrics.headline` (counts 0 and rates None
    for an empty selection) and the reply-timing numbers the KPI cards show, from ``timing``
    (:data:`TIMING_KPIS`; None without a timing). ``status_counts``: every lead given to
    :func:`summarize`, before the status filter, by status (the filter picks from these, so
    they do not change with it). ``variant_funnel``: None unless ``options.by_variant`` (or
    :func:`complete` added it). ``timing``: one row of
    :func:`~sendkit_nb.metrics.reply_timing_summary`, None for an empty selection. ``checks``
    (:func:`~sendkit_nb.metrics.quality`): None unless computed with ``details=True`` (the
    report shows them, the dashboard does not), or for an empty selection. ``cohort_curves``
    (:func:`~sendkit_nb.metrics.cohort_curves`, weekly send cohorts, in the options' window):
    like ``checks``, only with ``details=True``.
    """

    campaign_id: str | None
    options: SummaryOptions
    leads: pl.DataFrame
    headline: Mapping[str, Any]
    funnel: pl.DataFrame
    variant_funnel: pl.DataFrame | None
    reply_curve: pl.DataFrame
    daily: pl.DataFrame
    status_counts: pl.DataFrame
    ai_tags: pl.DataFrame
    timing: Mapping[str, Any] | None = None
    checks: pl.DataFrame | None = None
    #: Whether :attr:`reply_curve` is split by variant (see :func:`summarize`).
    curve_by_variant: bool = False
    #: True when every optional part (variant funnel, timing, checks) is in.
    detailed: bool = False
    cohort_curves: pl.DataFrame | None = None
    #: With ``options.attribution == "inbox"`` and ``details``: ``metrics.reconcile(leads,
    #: replies=..., include_matches=True)`` in the options' window, replied leads per step by
    #: last touch (``from_leads``) against the inbox threads (``from_api``), as the windowed
    #: funnels count them.
    attribution_check: pl.DataFrame | None = None

    @property
    def contacted(self) -> int:
        """Leads of the selection with at least one email (0: nothing was sent yet)."""
        return int(self.headline.get("contacted") or 0)

    @property
    def ab_steps(self) -> pl.DataFrame | None:
        """The variant funnel's rows of steps with two or more variants (None when the variant
        funnel was not computed; empty when no step has an A/B test)."""
        if self.variant_funnel is None:
            return None
        return self.variant_funnel.filter(pl.col("arms") >= 2)


def check_statuses(statuses: object) -> tuple[str, ...]:
    """The dashboard's status filter, checked as every front end checks statuses: each a
    SendKit lead status (any case), without repeats; nothing ticked is ``()``, every status."""
    return check_status_filter(statuses)


def _empty_headline() -> dict[str, Any]:
    """The headline row of an empty selection: every column ``headline`` has, counts 0 and
    rates (and their intervals) None."""
    columns = metrics.headline(pl.DataFrame(schema=LEADS_SCHEMA)).schema
    return {
        name: 0 if dtype.is_integer() else None
        for name, dtype in columns.items()
        if name != "campaign_id"
    }


def has_variant_step(leads: pl.DataFrame) -> bool:
    """Whether some step of ``leads`` has two or more variants (a null variant is an arm too,
    as in :func:`~sendkit_nb.metrics.variant_funnel`'s ``arms``): with ``by_variant`` on, the
    one rule for splitting the reply curve by variant, whichever front end draws it."""
    if not leads.height:
        return False
    emails = pl.col("emails")
    arms = (
        leads.lazy()
        .select(
            step=emails.list.eval(pl.element().struct.field("step")),
            variant=emails.list.eval(pl.element().struct.field("variant")),
        )
        .explode("step", "variant")
        .drop_nulls("step")
        .group_by("step")
        .agg(pl.col("variant").n_unique())
        .select(pl.col("variant").max())
        .collect()
    )
    return bool(arms.height and (arms.item() or 0) >= 2)


def _reply_curve(
    selected: pl.DataFrame,
    split: bool | pl.DataFrame,
    confidence: float,
    clock: pl.DataFrame | None = None,
    window: Mapping[str, Any] | None = None,
) -> tuple[pl.DataFrame, bool]:
    """The reply curve of ``selected``, split by variant when ``split`` says so (or, given the
    campaign's leads, when :func:`has_variant_step` finds a step with several variants); from
    the selection's reply clock when there is one. Observed until ``window``'s ``as_of`` (the
    source's clock) when it has one."""
    if isinstance(split, pl.DataFrame):
        split = has_variant_step(split)
    by: Literal["variant"] | None = "variant" if split else None
    window = window or {}
    if clock is not None and not _bounded(window):
        # The clock knows nothing of windows, but it does take the end of observation.
        curve = reply_curve_of_clock(clock, by=by, confidence=confidence, **window)
        return curve, split
    return metrics.reply_curve(selected, by=by, confidence=confidence, **window), split


def _bounded(window: Mapping[str, Any]) -> bool:
    """Whether ``window`` (:attr:`SummaryOptions.window`) has a bound, not only ``as_of``."""
    return window.get("since") is not None or window.get("until") is not None


#: The columns of :func:`~sendkit_nb.metrics.reply_timing_summary` that a summary's headline
#: carries for the KPI cards (the share replying within a week, the repliers' median days).
TIMING_KPIS: tuple[str, ...] = (
    "within_days",
    "replied_within",
    "replied_within_low",
    "replied_within_high",
    "median_days_replied",
)


def _timing(
    leads: pl.DataFrame,
    clock: pl.DataFrame | None = None,
    window: Mapping[str, Any] | None = None,
) -> Mapping[str, Any] | None:
    window = window or {}
    if clock is not None and not _bounded(window):
        frame = reply_timing_of_clock(clock, **window)
    else:
        frame = metrics.reply_timing_summary(leads, **window)
    return frame.row(0, named=True) if frame.height else None


def _with_timing(headline: Mapping[str, Any], timing: Mapping[str, Any] | None) -> dict[str, Any]:
    """The headline row with the reply-timing KPIs of ``timing`` (None without one), so every
    front end finds every KPI of the catalogue in one mapping."""
    return {**headline, **{k: (timing or {}).get(k) for k in TIMING_KPIS}}


def _sequence(campaigns: pl.DataFrame | None) -> pl.DataFrame | None:
    return campaigns if campaigns is not None and campaigns.height else None


def summarize(
    leads: pl.DataFrame,
    campaigns: pl.DataFrame | None = None,
    options: SummaryOptions | None = None,
    *,
    campaign_id: str | None = None,
    details: bool = True,
    selected: pl.DataFrame | None = None,
    status_counts: pl.DataFrame | None = None,
    variant_step: bool | None = None,
    clock: pl.DataFrame | None = None,
    replies: pl.DataFrame | None = None,
) -> CampaignSummary:
    """Everything a view of one campaign shows, for the leads with ``options.statuses``.

    ``leads``: one campaign's leads (from :func:`~sendkit_nb.load_leads`); ``campaigns``: the
    campaigns frame, for step labels. ``details``: also compute the variant funnel and the
    data checks (the report shows them; the dashboard asks only for what is on screen).
    ``selected``, ``status_counts`` and ``variant_step``, when the caller has them ready (the
    dashboard works them out once per campaign), are the status selection of ``leads``,
    ``metrics.status_counts(leads)`` and ``has_variant_step(leads)``; they are not recomputed.
    ``clock``, likewise: the rows of ``metrics._timing.reply_clock(leads)`` for the selection,
    from which the reply curve and timing come without going through every email again.
    ``replies``: :func:`~sendkit_nb.load_replies` of the campaign, read when
    ``options.attribution`` is ``"inbox"`` (and required then).

    The reply curve is split by variant when ``options.by_variant`` is on and some step of the
    campaign (``leads``, before the status filter, so the curves do not come and go as the
    filter changes) has two or more variants; a campaign without an A/B test has one curve.

    The metrics are independent polars queries and polars releases the GIL while it works, so
    they run side by side in a small shared thread pool: about half the time of one after
    another.
    """
    opts = _resolve_window(options or SummaryOptions(), leads)
    statuses = check_statuses(opts.statuses)
    if selected is None:
        selected = (
            leads.filter(pl.col("status").cast(pl.String).is_in(list(statuses)))
            if statuses
            else leads
        )
    if campaign_id is None and leads.height and "campaign_id" in leads.columns:
        campaign_id = str(leads["campaign_id"][0])
    tags = list(opts.positive_tags) if opts.positive_tags is not None else None
    sequence = _sequence(campaigns)
    inbox = _inbox(opts, replies)
    with _Batch() as batch:
        window = opts.window
        head = batch.run(
            metrics.headline,
            selected,
            positive_tags=tags,
            confidence=opts.confidence,
            **window,
            **inbox,
        )
        funnel = batch.run(
            metrics.funnel,
            selected,
            denominator=opts.denominator,
            positive_tags=tags,
            sequence=sequence,
            confidence=opts.confidence,
            **window,
            **inbox,
        )
        variants = (
            batch.run(_variant_funnel, selected, sequence, opts, replies)
            if opts.by_variant or details
            else None
        )
        split = opts.by_variant and (leads if variant_step is None else variant_step)
        curve = batch.run(_reply_curve, selected, split, opts.confidence, clock, window)
        daily = batch.run(metrics.daily_activity, selected, positive_tags=tags, **window)
        ai_tags = batch.run(metrics.ai_tag_counts, selected, positive_tags=tags)
        counts: Future[pl.DataFrame] = Future()
        if status_counts is None:
            counts = batch.run(count_statuses, leads, campaign_id)
        else:
            counts.set_result(status_counts)
        # Always, not only with details: two of its numbers are KPI cards on the dashboard.
        timing = batch.run(_timing, selected, clock, window) if selected.height else None
        checks = batch.run(metrics.quality, selected) if details and selected.height else None
        cohorts = batch.run(_cohort_curves, selected, opts) if details else None
        # Windowed like the funnels beside it, so its last-touch and inbox counts are theirs.
        attribution_check = (
            batch.run(metrics.reconcile, selected, replies=replies, include_matches=True, **window)
            if details and inbox
            else None
        )
        headline_frame = head.result()
        curve_frame, curve_split = curve.result()
        timing_row = timing.result() if timing is not None else None
        return CampaignSummary(
            campaign_id=campaign_id,
            options=replace(opts, statuses=statuses),
            leads=selected,
            headline=_with_timing(
                headline_frame.row(0, named=True) if headline_frame.height else _empty_headline(),
                timing_row,
            ),
            funnel=funnel.result(),
            variant_funnel=variants.result() if variants is not None else None,
            reply_curve=curve_frame,
            daily=daily.result(),
            status_counts=counts.result(),
            ai_tags=ai_tags.result(),
            timing=timing_row,
            checks=checks.result() if checks is not None else None,
            cohort_curves=cohorts.result() if cohorts is not None else None,
            attribution_check=(
                attribution_check.result() if attribution_check is not None else None
            ),
            curve_by_variant=curve_split,
            detailed=details,
        )


def complete(summary: CampaignSummary, campaigns: pl.DataFrame | None = None) -> CampaignSummary:
    """``summary`` with the parts computed only on request (variant funnel, data checks,
    reply timing) added where missing; what it has already is kept as it is, so a view
    exported from the dashboard shows the numbers that were on screen."""
    if summary.detailed:
        return summary
    leads, opts = summary.leads, summary.options
    with _Batch() as batch:
        variants = (
            batch.run(_variant_funnel, leads, _sequence(campaigns), opts)
            if summary.variant_funnel is None
            else None
        )
        timing = (
            batch.run(_timing, leads, None, opts.window)
            if leads.height and summary.timing is None
            else None
        )
        checks = batch.run(metrics.quality, leads) if leads.height else None
        cohorts = batch.run(_cohort_curves, leads, opts) if summary.cohort_curves is None else None
        timing_row = timing.result() if timing is not None else summary.timing
        return replace(
            summary,
            variant_funnel=variants.result() if variants is not None else summary.variant_funnel,
            headline=_with_timing(summary.headline, timing_row),
            timing=timing_row,
            checks=checks.result() if checks is not None else None,
            cohort_curves=cohorts.result() if cohorts is not None else summary.cohort_curves,
            detailed=True,
        )


def compare(
    leads: pl.DataFrame,
    campaigns: pl.DataFrame | None,
    *,
    positive_tags: Sequence[str] | None = None,
    confidence: float = 0.95,
    window: Mapping[str, Any] | None = None,
    attribution: Attribution = "last_touch",
    replies: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The campaigns of ``leads`` side by side on the headline definitions (best headline rate
    first), empty when there are no leads; ``window``: :attr:`SummaryOptions.window`.
    ``attribution`` / ``replies``: as :attr:`SummaryOptions.attribution` and
    :func:`summarize`'s ``replies`` (of every campaign), so the comparison counts the replies
    the campaign summaries count. Replies of campaigns without a lead in ``leads`` (a status
    filter emptied them) are left out first: they count for nothing, and alone they would read
    as the replies of the wrong campaigns."""
    if not leads.height:
        return pl.DataFrame()
    inbox = _inbox(SummaryOptions(attribution=attribution), replies)
    if inbox.get("replies") is not None:
        inbox["replies"] = inbox["replies"].filter(
            pl.col("campaign_id").is_in(leads["campaign_id"].unique().implode())
        )
    return metrics.compare_campaigns(
        leads,
        campaigns,
        positive_tags=positive_tags,
        confidence=confidence,
        **(window or {}),
        **inbox,
    )


def _resolve_window(opts: SummaryOptions, leads: pl.DataFrame) -> SummaryOptions:
    """``opts`` with a relative window ("30d") resolved once, against the campaign's leads
    before the status filter (or ``opts.as_of``): every part of the summary, and a status
    switch, then count the same days; the summary's options say which."""
    if opts.since is None and opts.until is None:
        return opts
    window = metrics.resolve_window(
        opts.since, opts.until, as_of=opts.as_of, leads=leads, what="summarize"
    )
    return replace(opts, since=window.start, until=window.end)


def _cohort_curves(leads: pl.DataFrame, opts: SummaryOptions) -> pl.DataFrame:
    return metrics.cohort_curves(leads, "1w", confidence=opts.confidence, **opts.window)


def _inbox(opts: SummaryOptions, replies: pl.DataFrame | None) -> dict[str, Any]:
    """The attribution arguments of the metrics: none for last touch, else the inbox's."""
    if opts.attribution == "last_touch":
        return {}
    return {"attribution": opts.attribution, "replies": replies}


def _variant_funnel(
    leads: pl.DataFrame,
    sequence: pl.DataFrame | None,
    opts: SummaryOptions,
    replies: pl.DataFrame | None = None,
) -> pl.DataFrame:
    return metrics.variant_funnel(
        leads,
        metric=opts.metric,
        denominator=opts.denominator,
        positive_tags=list(opts.positive_tags) if opts.positive_tags is not None else None,
        sequence=sequence,
        confidence=opts.confidence,
        **opts.window,
        **_inbox(opts, replies),
    )


def count_statuses(leads: pl.DataFrame, campaign_id: str | None = None) -> pl.DataFrame:
    """``metrics.status_counts(leads)``, or every status at 0 when there are no leads (so a
    chart still lists the statuses)."""
    if leads.height:
        return metrics.status_counts(leads)
    return pl.DataFrame(
        {
            "campaign_id": [campaign_id] * len(LEAD_STATUSES),
            "status": list(LEAD_STATUSES),
            "leads": [0] * len(LEAD_STATUSES),
            "share": [None] * len(LEAD_STATUSES),
        },
        schema={
            "campaign_id": pl.String,
            "status": pl.Enum(list(LEAD_STATUSES)),
            "leads": pl.Int64,
            "share": pl.Float64,
        },
    )


class _Batch:
    """Metrics submitted to :func:`metrics_pool`; on leaving the block (a failure included),
    whatever has not started is cancelled, as nothing will read it."""

    def __init__(self) -> None:
        self.futures: list[Future[Any]] = []

    def run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> Future[_T]:
        future = metrics_pool().submit(fn, *args, **kwargs)
        self.futures.append(future)
        return future

    def __enter__(self) -> _Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        for future in self.futures:
            future.cancel()


@functools.cache
def metrics_pool() -> ThreadPoolExecutor:
    """One small pool for every summary of the kernel, started on first use."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="sendkit-metrics")


# A forked child inherits the pool without its threads, and would wait on it forever.
os.register_at_fork(after_in_child=metrics_pool.cache_clear)
