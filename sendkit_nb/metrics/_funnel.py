"""Step funnel, variant funnel with A/B statistics, campaign headline, status and AI-tag counts.

Every number here is defined in :data:`sendkit_nb.metrics.DEFINITIONS`. The implementation
explodes ``emails`` once per call and aggregates with ``group_by``; reply attribution only
explodes the (few) replied leads. No per-lead Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb._schema import LEAD_STATUSES, LeadStatus
from sendkit_nb.metrics._common import (
    check_leads,
    positive_expr,
    positive_tags_column,
    ratio,
    segment_columns,
    tag_is_positive,
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
from sendkit_nb.metrics._labels import LabelFrom, SequenceSource, apply_labels, sequence_steps
from sendkit_nb.metrics._stats import (
    check_confidence,
    fisher_exact_p,
    holm,
    needs_exact,
    two_proportion_p,
    wilson_expr,
)

__all__ = [
    "COUNT_COLUMNS",
    "RATE_COLUMNS",
    "Segment",
    "ai_tag_counts",
    "compare_campaigns",
    "funnel",
    "headline",
    "reply_attribution",
    "status_counts",
    "variant_funnel",
]

#: ``segment=``: ``"campaign_id"``, ``"status"``, ``"ai_tag"``, ``"tag:<name>"`` or a list of them.
Segment = str | Sequence[str] | None

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
_REPLY_COLUMNS = ("replied", "replied_at", "ai_tag", "emails")
_F = pl.col("emails")


# ---------------------------------------------------------------------------- shared pieces


def _check_choice(value: object, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise BadRequestError(
            f"unknown {what} {value!r}",
            hint=f"Use one of {', '.join(map(repr, allowed))}.",
        )


def _email(name: str) -> pl.Expr:
    """A field of the exploded ``emails`` struct."""
    return _F.struct.field(name)


def _delivered_email() -> pl.Expr:
    # A missing bounce flag means the API did not report a bounce: count it delivered.
    return ~_email("bounced").fill_null(False)


def _prepare(
    leads: pl.DataFrame, segs: list[tuple[str, pl.Expr, str]], extra: Sequence[str]
) -> pl.DataFrame:
    """The columns a metric needs, with segment columns evaluated and a ``_lead`` row id."""
    names = {name for name, _, _ in segs}
    # A segment on a column the metric reads anyway (ai_tag, campaign_id) is that same column.
    rest = [c for c in dict.fromkeys(extra) if c not in names]
    return leads.select(*(expr.alias(name) for name, expr, _ in segs), *rest).with_row_index(
        "_lead"
    )


def _explode_emails(frame: pl.DataFrame, carry: Sequence[str], variant: bool) -> pl.DataFrame:
    """One row per email of ``frame`` (leads without emails vanish), with the ``carry`` columns
    repeated, ``_pos`` (the email's place in the whole exploded frame, so later in a lead's
    list means larger) and the email fields the metrics read."""
    delivered = _delivered_email()
    return (
        frame.select(*carry, "emails")
        .explode("emails", keep_nulls=False)
        .with_row_index("_pos")
        .select(
            "_pos",
            *carry,
            step=_email("step").cast(pl.Int32),
            **({"variant": _email("variant").cast(pl.String)} if variant else {}),
            sent_at=_email("sent_at"),
            _delivered=delivered,
            # Tracking flags on a bounced email are ignored: it never reached the lead.
            _opened=_email("opened").fill_null(False) & delivered,
            _clicked=_email("clicked").fill_null(False) & delivered,
        )
    )


def _repeats_a_step(emails: pl.DataFrame) -> bool:
    """False when every lead's emails have strictly increasing steps (the usual case), which
    rules out two emails of one lead at one step; True when that cannot be ruled out."""
    # The exploded rows keep each lead's list order, so one comparison with the previous row
    # suffices. A null step compares as -1, so two null steps (or a null after a step) count.
    step = pl.col("step").fill_null(-1)
    same_lead = pl.col("_lead") == pl.col("_lead").shift(1)
    return bool(emails.select((same_lead & (step <= step.shift(1))).any()).item())


def _attribute(emails: pl.DataFrame) -> pl.DataFrame:
    """Last-touch attribution over the exploded emails of replied leads (from
    :func:`_explode_emails` with ``_lead`` and ``replied_at`` carried): one row (``_lead``,
    ``step``[, ``variant``], ``_attributed``) per lead whose reply has a delivered email at or
    before it. Leads missing from the result are unattributed."""
    at_or_before = pl.col("replied_at").is_null() | (pl.col("sent_at") <= pl.col("replied_at"))
    # The latest candidate: by send time, then step, then place in the list. An email without
    # sent_at compares as null, so it is never "before" a dated reply; for an undated reply it
    # sorts first, so any dated email is preferred. Sorting once and keeping each lead's last
    # row measured several times faster than a sort_by inside group_by.
    keep = ["_lead", "step", *(["variant"] if "variant" in emails.columns else [])]
    return (
        emails.filter(pl.col("_delivered") & at_or_before)
        .sort(["_lead", "sent_at", "step", "_pos"], nulls_last=False)
        .unique("_lead", keep="last")
        .select(*keep, _attributed=pl.lit(True))
    )


def _funnel_counts(
    leads: pl.DataFrame,
    segs: list[tuple[str, pl.Expr, str]],
    by: str,
    positive_tags: Iterable[str] | None,
) -> pl.DataFrame:
    """Lead counts per (segment..., step[, variant]), as Int64, sorted by the keys."""
    seg_names = [name for name, _, _ in segs]
    keys = [*seg_names, "step", *(["variant"] if by == "variant" else [])]
    base = _prepare(leads, segs, _REPLY_COLUMNS).with_columns(pl.col("replied").fill_null(False))
    # The one explode: sends are counted from it, and the replied leads' rows feed attribution
    # (filtering flat rows is far cheaper than gathering the replied leads' lists again).
    emails = _explode_emails(
        base, ["_lead", *seg_names, "replied", "replied_at"], variant=by == "variant"
    )
    lead = pl.col("_lead")
    if _repeats_a_step(emails):
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
    attributed = _attribute(emails.filter(pl.col("replied")))
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
    table = None
    if sequence is not None:
        table = sequence_steps(sequence, label_from=label_from)
        if "campaign_id" in leads.columns:
            # Only the campaigns in the leads matter: the others may label the same step
            # differently, which would make a pooled funnel ambiguous for nothing.
            present = leads["campaign_id"].cast(pl.String).unique().implode()
            table = table.filter(
                pl.col("campaign_id").is_null() | pl.col("campaign_id").is_in(present)
            )
    out = apply_labels(out, table)
    head = [*keys[: keys.index("step") + 1], "step_label", *keys[keys.index("step") + 1 :]]
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
) -> pl.DataFrame:
    """The step funnel: one row per sequence step (``by="variant"``: per step and variant).

    Columns: the ``segment`` columns (if any), ``step`` (the raw ``sequenceStep``),
    ``step_label``, ``variant`` (``by="variant"`` only), the lead counts ``sent``, ``bounced``,
    ``delivered``, ``opened``, ``clicked``, ``replied``, ``positive`` (Int64), ``denominator``
    (the count the open/click/reply/positive rates are over) and ``bounce_rate``, ``open_rate``,
    ``click_rate``, ``reply_rate``, ``positive_rate`` (Float64, null for a zero denominator),
    then ``open_rate_low``, ``open_rate_high``, ..., ``positive_rate_high``: the Wilson score
    interval at ``confidence`` (null where the rate is null or above 1), ``confidence``
    (their level) and ``positive_tags`` (the tags counted as positive, ``"interested,
    meeting_booked"``): the same on every row, so a chart can say them. Rows are sorted by
    segment, step (and variant).

    Definitions (see ``DEFINITIONS``): counts are of leads, once per step; bounced = every
    step-s email bounced, delivered = sent - bounced; opened / clicked only on delivered emails;
    replied = last-touch attribution (latest delivered email with ``sent_at <= replied_at``;
    undated reply -> latest delivered email; otherwise unattributed, see :func:`headline`);
    positive = replied with an ``ai_tag`` in ``positive_tags`` (default ``interested``,
    ``meeting_booked``). Rates are over ``delivered`` by default (bounce rate over ``sent``);
    ``denominator="sent"`` is per lead contacted at the step; ``denominator="opened"`` puts
    clicks, replies and positives over opens (and can exceed 1: opens are directional).

    ``segment`` groups by ``"campaign_id"``, ``"status"``, ``"ai_tag"``, ``"tag:<name>"`` (a
    Boolean column: the lead's ``tags`` contain it) or a list of these. Several campaigns in one
    frame are pooled per step unless ``segment="campaign_id"``. ``sequence`` (a campaigns frame,
    a campaign dict or its ``sequence`` list) labels the steps; without it they read
    ``"Step order <n>"``.

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
    _check_choice(by, ("step", "variant"), "by=")
    rate_denominators(denominator)
    segs = segment_columns(segment)
    check_leads(leads, [*_REPLY_COLUMNS, *(src for _, _, src in segs)], "funnel")
    check_confidence(confidence)
    counts = _funnel_counts(leads, segs, by, positive_tags)
    keys = [*(name for name, _, _ in segs), "step", *(["variant"] if by == "variant" else [])]
    return _finish(
        counts, keys, denominator, sequence, label_from, leads, confidence, positive_tags
    )


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
    _check_choice(metric, METRICS, "metric")
    rate_denominators(denominator)
    if not isinstance(min_sends, int) or min_sends < 0:
        raise BadRequestError(f"min_sends must be a non-negative integer, got {min_sends!r}")
    if not isinstance(min_events, int) or min_events < 0:
        raise BadRequestError(f"min_events must be a non-negative integer, got {min_events!r}")
    if not 0.0 < alpha < 1.0:
        raise BadRequestError(f"alpha must be between 0 and 1, got {alpha!r}")
    base = funnel(
        leads,
        "variant",
        segment=segment,
        denominator=denominator,
        positive_tags=positive_tags,
        sequence=sequence,
        label_from=label_from,
        confidence=confidence,
    )
    over = rate_denominators(denominator)
    out = base
    seg_names = [name for name, _, _ in segment_columns(segment)]
    return _ab_test(
        out,
        group=[*seg_names, "step"],
        events=_EVENT_OF[metric],
        trials=over[f"{metric}_rate"],
        metric=metric,
        min_sends=min_sends,
        min_events=min_events,
        alpha=alpha,
    )


def _ab_test(
    frame: pl.DataFrame,
    *,
    group: list[str],
    events: str,
    trials: str,
    metric: str,
    min_sends: int,
    min_events: int,
    alpha: float,
) -> pl.DataFrame:
    """Add the leader, test, p-values and flags of :func:`variant_funnel` to ``frame``."""
    x, n = pl.col(events), pl.col(trials)
    rate = ratio(events, trials)
    # An arm can lead only if it has leads in the denominator and a proportion that makes sense.
    usable = (n > 0) & (x <= n)
    big = usable & (n >= min_sends)
    ranked = (
        frame.with_row_index("_row")
        .with_columns(_rate=rate, _usable=usable, _big=big)
        .with_columns(
            _eligible=pl.col("_usable") & (pl.col("_big") | ~pl.col("_big").any().over(group))
        )
        .sort(
            [*group, "_eligible", "_rate", trials, "_row"],
            descending=[*(False for _ in group), True, True, True, False],
            nulls_last=True,
        )
        .with_columns(
            is_leader=(pl.int_range(pl.len()).over(group) == 0) & pl.col("_eligible"),
            arms=pl.len().over(group).cast(pl.Int64),
            too_small=(n < min_sends) | (x.sum().over(group) < min_events),
        )
    )
    leader = pl.col("is_leader")
    ranked = ranked.with_columns(
        _lx=x.filter(leader).first().over(group),
        _ln=n.filter(leader).first().over(group),
        _lrate=pl.col("_rate").filter(leader).first().over(group),
        _lsmall=pl.col("too_small").filter(leader).first().over(group),
    )
    # One test per arm, not per lead: a handful of rows, so plain Python is clear and cheap.
    tests: list[str | None] = []
    p_values: list[float | None] = []
    for arm_x, arm_n, lx, ln, is_leader, ok in ranked.select(
        events, trials, "_lx", "_ln", "is_leader", "_usable"
    ).iter_rows():
        if is_leader or lx is None or ln is None or not ok:
            tests.append(None)
            p_values.append(None)
        elif needs_exact(arm_x, arm_n, lx, ln):
            tests.append("fisher")
            p_values.append(fisher_exact_p(arm_x, arm_n - arm_x, lx, ln - lx))
        else:
            p = two_proportion_p(arm_x, arm_n, lx, ln)
            tests.append("z" if p is not None else None)
            p_values.append(p)
    ranked = ranked.with_columns(
        test=pl.Series(tests, dtype=pl.String),
        p_value=pl.Series(p_values, dtype=pl.Float64),
    )
    # Holm within each step: the k-1 comparisons against the leader are one family.
    families: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for i, (key, p) in enumerate(
        zip(ranked.select(group).iter_rows(), ranked["p_value"], strict=True)
    ):
        if p is not None:
            families[key].append(i)
    adjusted: list[float | None] = [None] * ranked.height
    p_list = ranked["p_value"].to_list()
    for members in families.values():
        for i, adj in zip(members, holm([p_list[i] for i in members]), strict=True):
            adjusted[i] = adj
    ranked = ranked.with_columns(p_value_adj=pl.Series(adjusted, dtype=pl.Float64))
    tested = pl.col("p_value_adj").is_not_null()
    ranked = ranked.with_columns(
        test_metric=pl.lit(metric, pl.String),
        # The rule the test was run with, so a chart or a report can quote it.
        min_sends=pl.lit(min_sends, pl.Int64),
        min_events=pl.lit(min_events, pl.Int64),
        alpha=pl.lit(alpha, pl.Float64),
        diff_vs_leader=(pl.col("_rate") - pl.col("_lrate")).cast(pl.Float64),
        significant=pl.when(tested)
        .then(
            (pl.col("p_value_adj") < alpha)
            & ~pl.col("too_small")
            & ~pl.col("_lsmall").fill_null(True)
        )
        .otherwise(None),
    )
    stats = [
        "test_metric",
        "min_sends",
        "min_events",
        "alpha",
        "arms",
        "is_leader",
        "diff_vs_leader",
        "test",
        "p_value",
        "p_value_adj",
        "too_small",
        "significant",
    ]
    return ranked.sort("_row").select(*frame.columns, *stats)


def reply_attribution(
    leads: pl.DataFrame, *, positive_tags: Iterable[str] | None = None
) -> pl.DataFrame:
    """One row per replied lead with the step its reply is attributed to (last touch).

    Columns: ``campaign_id``, ``id``, ``replied_at``, ``ai_tag``, ``positive``, ``attributed``
    (False: no delivered email at or before the reply; such a reply counts in the headline's
    ``unattributed``, and also in ``unattributed_replies`` if the lead was never emailed),
    ``step`` and ``variant`` (null when unattributed). Input order is kept.

    >>> from datetime import datetime, UTC
    >>> e = {"step": 0, "variant": None, "sent_at": datetime(2025, 6, 2, tzinfo=UTC),
    ...      "opened": False, "clicked": False, "bounced": False}
    >>> leads = pl.DataFrame({"campaign_id": ["c", "c"], "id": ["a", "b"], "replied": [True, True],
    ...     "replied_at": [datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 3, tzinfo=UTC)],
    ...     "ai_tag": [None, "interested"], "emails": [[e], [e]]})
    >>> reply_attribution(leads).select("id", "attributed", "step", "positive").rows()
    [('a', False, None, False), ('b', True, 0, True)]
    """
    check_leads(leads, ["campaign_id", "id", *_REPLY_COLUMNS], "reply_attribution")
    base = _prepare(leads, [], ["campaign_id", "id", *_REPLY_COLUMNS]).filter(
        pl.col("replied").fill_null(False)
    )
    attributed = _attribute(_explode_emails(base, ["_lead", "replied_at"], variant=True))
    return (
        base.join(attributed, on="_lead", how="left", maintain_order="left")
        .with_columns(positive=positive_expr(positive_tags))
        .select(
            "campaign_id",
            "id",
            "replied_at",
            "ai_tag",
            "positive",
            attributed=pl.col("_attributed").fill_null(False),
            step=pl.col("step").cast(pl.Int32),
            variant=pl.col("variant").cast(pl.String),
        )
    )


#: The headline rates: rate -> (events, per-lead denominator).
_HEADLINE_RATES: Final[dict[str, tuple[str, str]]] = {
    "positive_rate": ("positive", "contacted"),
    "reply_rate": ("replied", "contacted"),
    "bounce_rate": ("bounced", "contacted"),
    "open_rate": ("opened", "delivered"),
    "click_rate": ("clicked", "delivered"),
}
_HEADLINE_COUNTS = (
    "leads",
    "contacted",
    "delivered",
    "bounced",
    "opened",
    "clicked",
    "replied",
    "positive",
    "unattributed",
    "unattributed_replies",
)


def headline(
    leads: pl.DataFrame,
    *,
    segment: Segment = None,
    positive_tags: Iterable[str] | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """The campaign headline: one row per campaign (and segment), counted per lead.

    Columns: ``campaign_id``, the ``segment`` columns, then Int64 counts ``leads``,
    ``contacted`` (at least one email), ``delivered`` (at least one email that did not bounce),
    ``bounced`` (contacted, every email bounced), ``opened``, ``clicked`` (a delivered email
    opened / clicked), ``replied`` (contacted leads that replied), ``positive`` (of those, a
    positive ``ai_tag``), ``unattributed`` (replied leads, emailed or not, with no delivered
    email at or before the reply: the replies no step of the funnel counts, as
    ``reply_attribution`` lists them), ``unattributed_replies`` (replied leads never emailed:
    left out of ``replied`` and ``positive`` and reported here instead; also counted in
    ``unattributed``); then Float64 ``positive_rate`` = positive / contacted (the headline rate),
    ``reply_rate`` = replied / contacted, ``bounce_rate`` = bounced / contacted, ``open_rate`` =
    opened / delivered, ``click_rate`` = clicked / delivered (null when the denominator is 0);
    then each rate's Wilson score interval at ``confidence``, ``positive_rate_low``,
    ``positive_rate_high``, ..., ``click_rate_high`` (null where the rate is), ``confidence``
    (their level) and ``positive_tags`` (the tags counted as positive), the same on every row.

    Every numerator counts contacted leads only, so for any selection of leads (a status
    filter, a narrow segment) every rate and interval bound is within [0, 1]. Per row,
    ``replied + unattributed_replies`` is every replied lead, and the funnel's step replies plus
    ``unattributed`` are every replied lead too.

    >>> from datetime import datetime, UTC
    >>> e = {"step": 0, "variant": None, "sent_at": datetime(2025, 6, 2, tzinfo=UTC),
    ...      "opened": True, "clicked": False, "bounced": False}
    >>> leads = pl.DataFrame({"campaign_id": ["c"] * 3, "replied": [True, False, False],
    ...     "replied_at": [None] * 3, "ai_tag": ["meeting_booked", None, None],
    ...     "emails": [[e], [e], []]})
    >>> headline(leads).select("leads", "contacted", "replied", "positive", "positive_rate").rows()
    [(3, 2, 1, 1, 0.5)]

    A reply from a lead never emailed is not in ``replied``:

    >>> never = leads.with_columns(replied=pl.Series([True, False, True]))
    >>> headline(never).select("replied", "unattributed", "unattributed_replies").rows()
    [(1, 1, 1)]
    """
    segs = [s for s in segment_columns(segment) if s[0] != "campaign_id"]
    check_leads(leads, ["campaign_id", *_REPLY_COLUMNS, *(src for _, _, src in segs)], "headline")
    check_confidence(confidence)
    keys = ["campaign_id", *(name for name, _, _ in segs)]
    base = _prepare(leads, segs, ["campaign_id", *_REPLY_COLUMNS])
    element = pl.element().struct
    delivered = ~element.field("bounced").fill_null(False)
    # Per lead, straight from the lists (no explode): any delivered / opened / clicked email,
    # and the first delivered send time, which decides attribution: a reply has a delivered
    # email at or before it exactly when the earliest delivered email is at or before it.
    per_lead = base.select(
        *dict.fromkeys([*keys, "replied", "replied_at", "ai_tag"]),
        _contacted=_F.list.len().fill_null(0) > 0,
        _delivered=_email_any(delivered),
        _opened=_email_any(element.field("opened").fill_null(False) & delivered),
        _clicked=_email_any(element.field("clicked").fill_null(False) & delivered),
        # Only replied leads need it: masking the rest first made this several times cheaper.
        _first=pl.when(pl.col("replied").fill_null(False))
        .then(_F)
        .list.agg(element.field("sent_at").filter(delivered).min()),
    )
    contacts = per_lead.group_by(keys).agg(
        leads=pl.len(),
        contacted=pl.col("_contacted").sum(),
        delivered=pl.col("_delivered").sum(),
        bounced=(pl.col("_contacted") & ~pl.col("_delivered")).sum(),
        opened=pl.col("_opened").sum(),
        clicked=pl.col("_clicked").sum(),
    )
    # An undated reply goes to the latest delivered email, so it needs just one.
    attributed = (
        pl.when(pl.col("replied_at").is_null())
        .then(pl.col("_delivered"))
        .otherwise(pl.col("_first") <= pl.col("replied_at"))
        .fill_null(False)
    )
    # The reply side only touches replied leads (a few percent): tag matching stays cheap.
    # Numerators count contacted leads only, so no rate can pass 100% however the leads were
    # selected; a reply from a lead never emailed goes to unattributed_replies instead.
    contacted = pl.col("_contacted")
    replies = (
        per_lead.filter(pl.col("replied").fill_null(False))
        .group_by(keys)
        .agg(
            replied=contacted.sum(),
            positive=(positive_expr(positive_tags) & contacted).sum(),
            unattributed=(~attributed).sum(),
            unattributed_replies=(~contacted).sum(),
        )
    )
    out = contacts.join(replies, on=keys, how="left", nulls_equal=True)
    intervals: dict[str, pl.Expr] = {}
    for rate, (events, over) in _HEADLINE_RATES.items():
        intervals[f"{rate}_low"], intervals[f"{rate}_high"] = wilson_expr(events, over, confidence)
    return (
        out.select(*keys, *(pl.col(c).fill_null(0).cast(pl.Int64) for c in _HEADLINE_COUNTS))
        .with_columns(
            **{rate: ratio(events, over) for rate, (events, over) in _HEADLINE_RATES.items()}
        )
        .with_columns(
            **intervals,
            confidence=pl.lit(confidence, pl.Float64),
            positive_tags=positive_tags_column(positive_tags),
        )
        .sort(keys, nulls_last=False)
    )


def _email_any(condition: pl.Expr) -> pl.Expr:
    """Per lead: does any email satisfy ``condition``? (False for no emails.)"""
    # list.eval + list.any measured faster than list.agg(condition.any()) on a million leads.
    return _F.list.eval(condition).list.any().fill_null(False)


def status_counts(leads: pl.DataFrame) -> pl.DataFrame:
    """Leads per campaign and lead status, every status listed (zero included).

    Columns: ``campaign_id``, ``status`` (the LeadStatus enum, in its order), ``leads`` (Int64),
    ``share`` (of the campaign's leads; Float64).

    >>> leads = pl.DataFrame({"campaign_id": ["c", "c", "c"],
    ...     "status": pl.Series(["active", "replied", "active"], dtype=LeadStatus)})
    >>> status_counts(leads).filter(pl.col("leads") > 0).rows()
    [('c', 'active', 2, 0.6666666666666666), ('c', 'replied', 1, 0.3333333333333333)]
    """
    check_leads(leads, ["campaign_id", "status"], "status_counts")
    # Count on the raw columns first (fast on the enum), then cast the few result rows through
    # String so a plain-string status column works too; unknown values fail loudly.
    counts = (
        leads.group_by("campaign_id", "status")
        .agg(leads=pl.len().cast(pl.Int64))
        .with_columns(pl.col("campaign_id").cast(pl.String), pl.col("status").cast(pl.String))
    )
    unknown = counts.filter(
        pl.col("status").is_not_null() & ~pl.col("status").is_in(list(LEAD_STATUSES))
    )
    if unknown.height:
        raise BadRequestError(
            f"unknown lead status {unknown['status'][0]!r}",
            hint=f"Lead statuses are {', '.join(LEAD_STATUSES)}.",
        )
    # Every status for every campaign, so campaigns line up row by row; a null status (not seen
    # from the API, but possible in a hand-made frame) gets a row only where it occurs.
    grid = pl.concat(
        [
            counts.select(pl.col("campaign_id").unique()).join(
                pl.DataFrame({"status": list(LEAD_STATUSES)}), how="cross"
            ),
            counts.filter(pl.col("status").is_null()).select("campaign_id", "status"),
        ]
    )
    return (
        grid.join(counts, on=["campaign_id", "status"], how="left", nulls_equal=True)
        .with_columns(status=pl.col("status").cast(LeadStatus), leads=pl.col("leads").fill_null(0))
        .pipe(_with_share)
        .sort("campaign_id", "status", nulls_last=True)
    )


def _with_share(frame: pl.DataFrame) -> pl.DataFrame:
    total = pl.col("leads").sum().over("campaign_id")
    return frame.with_columns(
        share=pl.when(total > 0).then(pl.col("leads") / total).otherwise(None).cast(pl.Float64)
    )


def ai_tag_counts(
    leads: pl.DataFrame, *, positive_tags: Iterable[str] | None = None
) -> pl.DataFrame:
    """Leads per campaign and AI tag (null = untagged), most frequent first.

    Columns: ``campaign_id``, ``ai_tag``, ``is_positive`` (the tag is in the positive set),
    ``leads``, ``replied`` (of those, replied; Int64), ``share`` (of the campaign's leads) and
    ``positive_tags`` (the positive set, ``"interested, meeting_booked"``).

    >>> leads = pl.DataFrame({"campaign_id": ["c"] * 3, "replied": [True, True, False],
    ...     "ai_tag": ["interested", "not_interested", None]})
    >>> ai_tag_counts(leads).select("ai_tag", "is_positive", "leads").rows()
    [(None, False, 1), ('interested', True, 1), ('not_interested', False, 1)]
    """
    check_leads(leads, ["campaign_id", "ai_tag", "replied"], "ai_tag_counts")
    counts = (
        leads.group_by("campaign_id", "ai_tag")
        .agg(
            leads=pl.len().cast(pl.Int64),
            replied=pl.col("replied").fill_null(False).sum().cast(pl.Int64),
        )
        .with_columns(pl.col("campaign_id").cast(pl.String), pl.col("ai_tag").cast(pl.String))
    )
    return (
        counts.with_columns(is_positive=tag_is_positive(pl.col("ai_tag"), positive_tags))
        .pipe(_with_share)
        .sort(
            ["campaign_id", "leads", "ai_tag"],
            descending=[False, True, False],
            nulls_last=False,
        )
        .with_columns(positive_tags_column(positive_tags))
        .select(
            "campaign_id", "ai_tag", "is_positive", "leads", "replied", "share", "positive_tags"
        )
    )


def _campaign_names(campaigns: pl.DataFrame | Iterable[Mapping[str, Any]] | None) -> pl.DataFrame:
    schema = {"campaign_id": pl.String, "campaign_name": pl.String}
    if campaigns is None:
        return pl.DataFrame(schema=schema)
    if isinstance(campaigns, pl.DataFrame):
        if "campaign_id" not in campaigns.columns or "name" not in campaigns.columns:
            raise BadRequestError(
                "the campaigns frame needs 'campaign_id' and 'name' columns",
                hint="Pass load_campaigns(client).",
            )
        return campaigns.select(
            pl.col("campaign_id").cast(pl.String), campaign_name=pl.col("name").cast(pl.String)
        ).unique("campaign_id", keep="first", maintain_order=True)
    rows = []
    for c in campaigns:
        if not isinstance(c, Mapping):
            raise BadRequestError(
                f"campaigns must be a frame or campaign dicts, got {type(c).__name__}",
                hint="Pass load_campaigns(client) or the 'data' list of GET /v1/campaigns.",
            )
        cid = c.get("campaign_id", c.get("_id", c.get("id")))
        rows.append({"campaign_id": cid, "campaign_name": c.get("name")})
    return pl.DataFrame(rows, schema=schema).unique(
        "campaign_id", keep="first", maintain_order=True
    )


def compare_campaigns(
    leads: pl.DataFrame,
    campaigns: pl.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    *,
    by: Literal["campaign", "step"] = "campaign",
    segment: Segment = None,
    denominator: Denominator = "delivered",
    positive_tags: Iterable[str] | None = None,
    label_from: LabelFrom = "subject",
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Several campaigns side by side on the same definitions (concatenate their lead frames).

    ``by="campaign"``: the :func:`headline` per campaign with a ``campaign_name`` column after
    ``campaign_id``, best headline rate first. ``by="step"``: :func:`funnel` segmented by
    campaign, steps labelled from each campaign's own sequence (when ``campaigns`` is given),
    with ``campaign_name``. ``campaigns`` is ``load_campaigns(client)`` or a list of campaign
    dicts; without it names are null. ``confidence`` is the level of the Wilson intervals.

    >>> from datetime import datetime, UTC
    >>> e = {"step": 0, "variant": None, "sent_at": datetime(2025, 6, 2, tzinfo=UTC),
    ...      "opened": False, "clicked": False, "bounced": False}
    >>> leads = pl.DataFrame({"campaign_id": ["a", "b", "b"], "replied": [False, True, False],
    ...     "replied_at": [None] * 3, "ai_tag": [None, "interested", None], "emails": [[e]] * 3})
    >>> names = [{"_id": "a", "name": "Alpha"}, {"_id": "b", "name": "Beta"}]
    >>> cmp = compare_campaigns(leads, names)
    >>> cmp.select("campaign_name", "contacted", "positive_rate").rows()
    [('Beta', 2, 0.5), ('Alpha', 1, 0.0)]
    """
    _check_choice(by, ("campaign", "step"), "by=")
    names = _campaign_names(campaigns)
    if by == "campaign":
        out = headline(leads, segment=segment, positive_tags=positive_tags, confidence=confidence)
        out = out.join(names, on="campaign_id", how="left", maintain_order="left")
        out = out.sort(
            ["positive_rate", "campaign_name", "campaign_id"],
            descending=[True, False, False],
            nulls_last=True,
        )
    else:
        extra = [] if segment is None else [segment] if isinstance(segment, str) else list(segment)
        sequence: SequenceSource | None = None
        if campaigns is not None:
            sequence = campaigns if isinstance(campaigns, pl.DataFrame) else list(campaigns)
            if isinstance(sequence, list):
                sequence = [c for c in sequence if "sequence" in c]
                if not sequence:
                    sequence = None
        out = funnel(
            leads,
            segment=["campaign_id", *extra],
            denominator=denominator,
            positive_tags=positive_tags,
            sequence=sequence,
            label_from=label_from,
            confidence=confidence,
        )
        out = out.join(names, on="campaign_id", how="left", maintain_order="left")
    columns = list(out.columns)
    columns.remove("campaign_name")
    columns.insert(columns.index("campaign_id") + 1, "campaign_name")
    return out.select(columns)
