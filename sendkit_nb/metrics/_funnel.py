"""Step funnel and variant funnel: lead counts and rates per sequence step (and variant).

Every number here is defined in :data:`sendkit_nb.metrics.DEFINITIONS`; the A/B tests of the
variant funnel are in ``_ab.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import polars as pl

from sendkit_nb._checks import check_count, check_fraction
from sendkit_nb.metrics._ab import ab_test
from sendkit_nb.metrics._attribution import Attribution, inbox_for
from sendkit_nb.metrics._common import (
    check_leads,
    positive_expr,
    positive_tags_column,
    ratio,
    segment_columns,
)
from sendkit_nb.metrics._definitions import (
    METRICS,
    MIN_EVENTS,
    MIN_SENDS,
    Denominator,
    FunnelBy,
    Metric,
    rate_denominators,
)
from sendkit_nb.metrics._emails import (
    REPLY_COLUMNS,
    Segment,
    attribute_replies,
    check_choice,
    explode_emails,
    prepare,
    repeats_a_step,
)
from sendkit_nb.metrics._labels import (
    STEP_COLUMNS,
    LabelFrom,
    SequenceSource,
    apply_labels,
    sequence_table,
)
from sendkit_nb.metrics._stats import (
    check_confidence,
    wilson_expr,
)
from sendkit_nb.metrics._windows import Window, WindowBound, window_of

__all__ = ["COUNT_COLUMNS", "RATE_COLUMNS", "funnel", "variant_funnel"]


#: The lead counts of a funnel row, in display order.
COUNT_COLUMNS: tuple[str, ...] = (
    "sent",
    "bounced",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "positive",
)
#: The rates of a funnel row; :func:`~sendkit_nb.metrics.rate_denominators` names their bases.
RATE_COLUMNS: tuple[str, ...] = (
    "bounce_rate",
    "open_rate",
    "click_rate",
    "reply_rate",
    "positive_rate",
)
_EVENT_OF: dict[str, str] = {
    "open": "opened",
    "click": "clicked",
    "reply": "replied",
    "positive": "positive",
}


def _funnel_counts(
    leads: pl.DataFrame,
    segs: list[tuple[str, pl.Expr, str]],
    by: str,
    positive_tags: Iterable[str] | None,
    window: Window | None = None,
) -> pl.DataFrame:
    """Lead counts per (segment..., step[, variant]), as Int64, sorted by the keys; with a
    ``window``, of the emails sent in it and the replies attributed to them."""
    seg_names = [name for name, _, _ in segs]
    keys = [*seg_names, "step", *(["variant"] if by == "variant" else [])]
    base = prepare(leads, segs, REPLY_COLUMNS).with_columns(pl.col("replied").fill_null(False))
    # The one explode: sends are counted from it, and the replied leads' rows feed attribution
    # (filtering flat rows is far cheaper than gathering the replied leads' lists again).
    emails = explode_emails(
        base, ["_lead", *seg_names, "replied", "replied_at"], variant=by == "variant"
    )
    # Attribution looks at every email, in the window or not: a reply to a step sent after the
    # window belongs to that step, not to the last step sent inside the window.
    attributed = attribute_replies(emails.filter(pl.col("replied")))
    if window is not None:
        attributed = attributed.filter(window.contains(pl.col("_touch_at")))
        emails = emails.filter(window.contains(pl.col("sent_at")))
    lead = pl.col("_lead")
    if repeats_a_step(emails):
        # n_unique of the lead id counts a lead once per group even with two emails at a step.
        sends = emails.group_by(keys).agg(
            sent=lead.n_unique(),
            delivered=lead.filter(pl.col("_delivered")).n_unique(),
            opened=lead.filter(pl.col("_opened")).n_unique(),
            clicked=lead.filter(pl.col("_clicked")).n_unique(),
        )
    else:
        # Every (lead, step) is one email, so plain sums give the same lead counts, faster.
        sends = emails.group_by(keys).agg(
            sent=pl.len(),
            delivered=pl.col("_delivered").sum(),
            opened=pl.col("_opened").sum(),
            clicked=pl.col("_clicked").sum(),
        )
    replies = (
        base.select(*dict.fromkeys(["_lead", *seg_names, "replied", "ai_tag"]))
        .filter(pl.col("replied"))
        .select("_lead", *seg_names, _positive=positive_expr(positive_tags))
        .join(attributed, on="_lead", how="inner")
        .group_by(keys)
        .agg(replied=pl.len(), positive=pl.col("_positive").sum())
    )
    counts = sends.join(replies, on=keys, how="left", nulls_equal=True)
    return counts.select(
        *keys,
        *(
            pl.col(c).fill_null(0).cast(pl.Int64)
            for c in ("sent", "delivered", "opened", "clicked", "replied", "positive")
        ),
    ).sort(keys, nulls_last=False)


def _rates(counts: pl.DataFrame, denominator: str) -> pl.DataFrame:
    over = rate_denominators(denominator)
    event = {
        "bounce_rate": "bounced",
        "open_rate": "opened",
        "click_rate": "clicked",
        "reply_rate": "replied",
        "positive_rate": "positive",
    }
    return counts.with_columns(
        denominator=pl.lit(denominator, pl.String),
        **{rate: ratio(event[rate], over[rate]) for rate in RATE_COLUMNS},
    )


def _finish(
    counts: pl.DataFrame,
    keys: list[str],
    denominator: str,
    sequence: SequenceSource | None,
    label_from: LabelFrom,
    leads: pl.DataFrame,
    confidence: float,
    positive_tags: Iterable[str] | None,
) -> pl.DataFrame:
    out = counts.with_columns(bounced=pl.col("sent") - pl.col("delivered"))
    out = _rates(out, denominator)
    over = rate_denominators(denominator)
    intervals: dict[str, pl.Expr] = {}
    for name in METRICS:
        low, high = wilson_expr(_EVENT_OF[name], over[f"{name}_rate"], confidence)
        intervals[f"{name}_rate_low"] = low
        intervals[f"{name}_rate_high"] = high
    out = out.with_columns(
        **intervals,
        confidence=pl.lit(confidence, pl.Float64),
        positive_tags=positive_tags_column(positive_tags),
    )
    out = apply_labels(out, sequence_table(sequence, label_from, leads))
    at = keys.index("step") + 1
    head = [*keys[:at], *STEP_COLUMNS, *keys[at:]]
    return out.select(
        *head,
        *COUNT_COLUMNS,
        "denominator",
        *RATE_COLUMNS,
        *intervals,
        "confidence",
        "positive_tags",
    )


# ---------------------------------------------------------------------------- public API


def funnel(
    leads: pl.DataFrame,
    by: FunnelBy = "step",
    *,
    segment: Segment = None,
    denominator: Denominator = "delivered",
    positive_tags: Iterable[str] | None = None,
    sequence: SequenceSource | None = None,
    label_from: LabelFrom = "subject",
    confidence: float = 0.95,
    since: WindowBound = None,
    until: WindowBound = None,
    as_of: datetime | None = None,
    attribution: Attribution = "last_touch",
    replies: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The step funnel: one row per sequence step (``by="variant"``: per step and variant).

    Columns: the ``segment`` columns (if any), ``step`` (the raw ``sequenceStep``, the
    sequence item's ``order``: 0, 2, 4 ... where wait steps take numbers too), ``step_number``
    (Int32: 1, 2, 3 ... among the sequence's email steps; null where ``sequence`` is not given or
    does not have the step as an email step), ``step_label`` (``"Step 1 · <subject>"``, else
    ``"Step order <step>"``), ``variant`` (``by="variant"`` only), the lead counts ``sent``,
    ``bounced``, ``delivered``, ``opened``, ``clicked``, ``replied``, ``positive`` (Int64),
    ``denominator`` (the count the open/click/reply/positive rates are over) and ``bounce_rate``,
    ``open_rate``, ``click_rate``, ``reply_rate``, ``positive_rate`` (Float64, null for a zero
    denominator), then ``open_rate_low``, ``open_rate_high``, ..., ``positive_rate_high``: the
    Wilson score interval at ``confidence`` (null where the rate is null or above 1),
    ``confidence`` (their level) and ``positive_tags`` (the tags counted as positive,
    ``"interested, meeting_booked"``): the same on every row, so a chart can say them. Rows are
    sorted by segment, step (and variant).

    Definitions (see ``DEFINITIONS``): counts are of leads, once per step; bounced = every
    step-s email bounced, delivered = sent - bounced; opened / clicked only on delivered emails;
    replied = last-touch attribution (latest delivered email with ``sent_at <= replied_at``;
    undated reply -> latest delivered email; otherwise unattributed, see :func:`headline`);
    positive = replied with an ``ai_tag`` in ``positive_tags`` (default ``interested``,
    ``meeting_booked``). Rates are over ``delivered`` by default (bounce rate over ``sent``);
    ``denominator="sent"`` is per lead contacted at the step; ``denominator="opened"`` puts
    clicks, replies and positives over opens (and can exceed 1: opens are directional).

    ``segment`` groups by any column of ``leads`` (``"campaign_id"``, ``"status"``, ``"ai_tag"``,
    a lead detail such as ``"country"``), ``"tag:<name>"`` (a Boolean column: the lead's ``tags``
    contain it), a polars expression (under its output name) or a list of these. Several
    campaigns in one frame are pooled per step unless ``segment="campaign_id"``. ``sequence`` (a
    campaigns frame, a campaign dict or its ``sequence`` list) numbers and labels the steps;
    without it ``step_number`` is null and they read ``"Step order <n>"``.

    ``since`` / ``until`` restrict the funnel to a time window (a datetime, a date, an ISO
    string, or ``"7d"``, ``"4w"``, ``"3m"`` before ``as_of``, default the latest timestamp in
    ``leads``): a lead counts at a step when its step email was sent in the window, a reply when
    the email it is attributed to was (rules in ``DEFINITIONS``).

    ``attribution="inbox"`` with ``replies=`` (:func:`sendkit_nb.load_replies` of the same
    campaign(s)) counts each reply at the step its inbox thread shows instead of by last touch,
    leaves auto-replies and out-of-office replies out of ``replied`` and ``positive`` and counts
    those leads in an extra column ``auto_replied`` (after ``positive``); rules in
    ``DEFINITIONS`` and ``sendkit_nb/metrics/_attribution.py``.

    >>> from datetime import datetime, UTC
    >>> def email(step, at, opened=False, bounced=False):
    ...     return {"step": step, "variant": None, "sent_at": datetime(2025, 6, at, tzinfo=UTC),
    ...             "opened": opened, "clicked": False, "bounced": bounced}
    >>> leads = pl.DataFrame({
    ...     "replied": [True, False, True],
    ...     "replied_at": [datetime(2025, 6, 5, tzinfo=UTC), None, None],
    ...     "ai_tag": ["interested", None, "not_interested"],
    ...     "emails": [[email(0, 1, opened=True), email(2, 4)],
    ...                [email(0, 1, bounced=True)],
    ...                [email(0, 2), email(2, 6, opened=True)]],
    ... })
    >>> f = funnel(leads)
    >>> f.select("step", "sent", "delivered", "opened", "replied", "positive").rows()
    [(0, 3, 2, 1, 0, 0), (2, 2, 2, 1, 2, 1)]
    >>> f["reply_rate"].to_list()
    [0.0, 1.0]
    """
    check_choice(by, ("step", "variant"), "by=")
    rate_denominators(denominator)
    segs = segment_columns(segment, leads)
    check_leads(leads, [*REPLY_COLUMNS, *(src for _, _, src in segs)], "funnel")
    check_confidence(confidence)
    window = window_of(since, until, as_of, leads, "funnel")
    inbox = inbox_for(attribution, replies, leads, "funnel")
    counts = _funnel_counts(leads, segs, by, positive_tags, window)
    keys = [*(name for name, _, _ in segs), "step", *(["variant"] if by == "variant" else [])]
    out = _finish(counts, keys, denominator, sequence, label_from, leads, confidence, positive_tags)
    if inbox is None:
        return out
    return inbox.funnel(out, leads, segs, by, positive_tags, confidence, window)


def variant_funnel(
    leads: pl.DataFrame,
    *,
    metric: Metric = "reply",
    segment: Segment = None,
    denominator: Denominator = "delivered",
    positive_tags: Iterable[str] | None = None,
    sequence: SequenceSource | None = None,
    label_from: LabelFrom = "subject",
    confidence: float = 0.95,
    min_sends: int = MIN_SENDS,
    min_events: int = MIN_EVENTS,
    alpha: float = 0.05,
    since: WindowBound = None,
    until: WindowBound = None,
    as_of: datetime | None = None,
    attribution: Attribution = "last_touch",
    replies: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The funnel per ``(step, variant)`` with Wilson intervals and an A/B test within each step.

    Columns: those of ``funnel(by="variant")``; then ``open_rate_low``, ``open_rate_high``,
    ``click_rate_low``, ..., ``positive_rate_high`` (Wilson score interval at ``confidence``, null
    where the rate is); and for the A/B test on ``metric`` (``"open"``, ``"click"``, ``"reply"``
    or ``"positive"``): ``test_metric``, the rule's settings ``min_sends``, ``min_events`` and
    ``alpha`` (the same on every row), ``arms`` (variants at the step), ``is_leader``,
    ``diff_vs_leader`` (rate minus the leader's rate), ``test`` (``"z"``, ``"fisher"`` or null),
    ``p_value``, ``p_value_adj`` (Holm within the step), ``too_small`` and ``significant``.

    Rules. Variants are compared only within a step (and segment). The leader is the arm with
    the highest rate among arms with at least ``min_sends`` leads in the denominator (among all
    arms with any, if none has); ties go to the larger arm. Every other arm is tested against the
    leader: pooled two-proportion z-test, or Fisher's exact test when an expected cell count is
    below 5; two-sided. An arm is ``too_small`` when its denominator is below ``min_sends``
    (default 100, SendKit's own ``minimumSendsPerVariant``) or its step's arms together have fewer
    than ``min_events`` (default 10) events of the metric. ``significant`` is true when
    ``p_value_adj < alpha`` and neither arm is too small; null where nothing was tested (the
    leader, a single-arm step, an empty arm). A null variant is the step's single arm.
    ``since`` / ``until`` / ``as_of``: a time window, as in :func:`funnel`.

    >>> from datetime import datetime, UTC
    >>> def lead(variant, replied):
    ...     e = {"step": 0, "variant": variant, "sent_at": datetime(2025, 6, 1, tzinfo=UTC),
    ...          "opened": False, "clicked": False, "bounced": False}
    ...     return {"replied": replied, "replied_at": None, "ai_tag": None, "emails": [e]}
    >>> rows = [lead("A", i < 40) for i in range(200)] + [lead("B", i < 15) for i in range(200)]
    >>> v = variant_funnel(pl.DataFrame(rows))
    >>> v.select("variant", "replied", "is_leader", "test", "significant").rows()
    [('A', 40, True, None, None), ('B', 15, False, 'z', True)]
    >>> round(v["p_value"][1], 5)
    0.00028
    """
    check_choice(metric, METRICS, "metric")
    rate_denominators(denominator)
    check_count(min_sends, "min_sends", example=MIN_SENDS)
    check_count(min_events, "min_events", example=MIN_EVENTS)
    check_fraction(alpha, "alpha", example=0.05)
    window = window_of(since, until, as_of, leads, "variant_funnel")
    base = funnel(
        leads,
        "variant",
        segment=segment,
        denominator=denominator,
        positive_tags=positive_tags,
        sequence=sequence,
        label_from=label_from,
        confidence=confidence,
        since=window.start if window is not None else None,
        until=window.end if window is not None else None,
        attribution=attribution,
        replies=replies,
    )
    over = rate_denominators(denominator)
    out = base
    seg_names = [name for name, _, _ in segment_columns(segment)]
    return ab_test(
        out,
        group=[*seg_names, "step"],
        events=_EVENT_OF[metric],
        trials=over[f"{metric}_rate"],
        metric=metric,
        min_sends=min_sends,
        min_events=min_events,
        alpha=alpha,
    )
