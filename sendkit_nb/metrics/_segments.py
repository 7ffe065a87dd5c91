"""Who replies: a rate per group of leads by any attribute, each group tested against the rest.

The counting is the campaign headline's (:func:`~sendkit_nb.metrics.headline` grouped by the
attribute), so a breakdown can never disagree with the headline about what "contacted" or
"replied" means; this module only groups, folds small groups, and adds the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal, get_args

import polars as pl

from sendkit_nb._checks import check_fraction
from sendkit_nb._errors import BadRequestError
from sendkit_nb.metrics._common import check_leads, positive_tags_column, ratio, segment_expr
from sendkit_nb.metrics._emails import REPLY_COLUMNS
from sendkit_nb.metrics._headline import headline
from sendkit_nb.metrics._stats import (
    check_confidence,
    fisher_exact_p,
    holm,
    needs_exact,
    two_proportion_p,
    wilson_expr,
)

__all__ = [
    "ADJUSTMENTS",
    "BREAKDOWN_BASES",
    "NO_VALUE",
    "Adjust",
    "BreakdownMetric",
    "benjamini_hochberg",
    "breakdown",
]

#: The rates a breakdown can be about (the headline's, per lead).
BreakdownMetric = Literal["reply", "positive", "bounce", "open", "click"]
#: How the p-values of the groups are adjusted for their number: Holm (family-wise error) or
#: Benjamini-Hochberg (false discovery rate).
Adjust = Literal["holm", "bh"]
ADJUSTMENTS: Final[tuple[str, ...]] = get_args(Adjust)

#: metric -> (the headline count it counts, the headline count it is over).
BREAKDOWN_BASES: Final[dict[str, tuple[str, str]]] = {
    "reply": ("replied", "contacted"),
    "positive": ("positive", "contacted"),
    "bounce": ("bounced", "contacted"),
    "open": ("opened", "delivered"),
    "click": ("clicked", "delivered"),
}
#: The group of leads whose attribute is null (or whose list of values is null or empty).
NO_VALUE: Final = "(none)"

#: The group column inside the computation (the result names it after ``by``).
_GROUP: Final = "group"
_COUNTS: Final = ("leads", "contacted", "delivered", "bounced", "opened", "clicked")
_COUNTS_ALL: Final = (*_COUNTS, "replied", "positive")
#: The result's columns after the group column; ``by`` may not be named like one of them.
_COLUMNS: Final = (
    "leads",
    "contacted",
    "delivered",
    "events",
    "rate",
    "rate_low",
    "rate_high",
    "rest_rate",
    "diff",
    "test",
    "p_value",
    "p_value_adj",
    "significant",
    "too_small",
    "groups",
    "metric",
    "denominator",
    "overall_rate",
    "by",
    "multi_valued",
    "adjust",
    "alpha",
    "min_leads",
    "confidence",
    "positive_tags",
)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in the order given.

    >>> [round(p, 4) for p in benjamini_hochberg([0.01, 0.04, 0.03, 0.2])]
    [0.04, 0.0533, 0.0533, 0.2]
    """
    m = len(p_values)
    adjusted = [0.0] * m
    running = 1.0
    # From the largest p down: the adjusted value is the smallest m/rank * p at or above it.
    for position, i in enumerate(sorted(range(m), key=lambda k: p_values[k], reverse=True)):
        rank = m - position
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def breakdown(
    leads: pl.DataFrame,
    by: str | pl.Expr,
    *,
    metric: BreakdownMetric = "reply",
    min_leads: int = 30,
    other: str | None = None,
    confidence: float = 0.95,
    adjust: Adjust = "holm",
    alpha: float = 0.05,
    positive_tags: Iterable[str] | None = None,
) -> pl.DataFrame:
    """A rate per group of leads, each group against the rest of the leads: who replies?

    ``by`` is a column of ``leads`` (``"job_title"``, ``"country"``, ``"email_verification"``
    after :func:`sendkit_nb.with_lead_details`; ``"status"``; ``"tag:vip"``) or any polars
    expression, grouped under its output name: ``pl.col("email").str.split("@").list.last()
    .alias("domain")``, ``pl.col("custom_fields").struct.field("size")``, a bucketed number
    (``pl.col("employees").cut([10, 50, 250])``). Group values are shown as text; a null value
    is the group ``"(none)"``. A list column (``"tags"``) puts a lead in each of its values (once
    per distinct value; a null or empty list is ``"(none)"``), so the groups overlap and their
    leads add up to more than all leads (column ``multi_valued`` says so).

    Counts are the headline's (:func:`headline`, per lead, pooled over the campaigns in the
    frame; a person in two campaigns counts once in each). ``metric`` is ``"reply"`` (replied /
    contacted), ``"positive"`` (positive / contacted), ``"bounce"`` (bounced / contacted),
    ``"open"`` or ``"click"`` (opened / clicked over delivered).

    Columns: the group (named after ``by``, String), ``leads``, ``contacted``, ``delivered``,
    ``events`` (the metric's count: replied, positive, ...), ``rate`` = events / denominator with
    its Wilson interval ``rate_low``, ``rate_high`` at ``confidence``; ``rest_rate`` (the rate of
    every other lead of the frame) and ``diff`` = rate - rest_rate; ``test`` (``"z"``: pooled
    two-proportion z-test, ``"fisher"``: Fisher's exact test when an expected cell is below 5;
    null when the group or the rest has nobody in the denominator), ``p_value`` (two-sided),
    ``p_value_adj`` (adjusted over the groups that are tested: not too small and with a
    p-value; ``adjust="holm"``, the default, controls the chance of any false call, ``"bh"``
    (Benjamini-Hochberg) the expected share of false calls, which suits screening many groups),
    ``significant`` (p_value_adj < ``alpha``; null where untested), ``too_small`` (fewer than
    ``min_leads`` leads in the denominator: contacted, or delivered for opens and clicks),
    ``groups`` (how many values the row holds: more than 1 for ``other``); then, the same on
    every row, ``metric``, ``denominator`` (the count the rate is over), ``overall_rate`` (every
    lead of the frame), ``by`` (the group column's name), ``multi_valued``, ``adjust``,
    ``alpha``, ``min_leads``, ``confidence`` and ``positive_tags``. Highest rate first.

    ``other="Other"`` folds every too-small group (but ``"(none)"``) into one group of that
    name, counted per lead, before testing; by default small groups stay, flagged.

    >>> from datetime import datetime, UTC
    >>> e = {"step": 0, "variant": None, "sent_at": datetime(2025, 6, 2, tzinfo=UTC),
    ...      "opened": False, "clicked": False, "bounced": False}
    >>> leads = pl.DataFrame({"campaign_id": ["c"] * 4, "title": ["CEO", "CEO", "CTO", None],
    ...     "replied": [True, False, False, False], "replied_at": [None] * 4,
    ...     "ai_tag": [None] * 4, "emails": [[e]] * 4})
    >>> breakdown(leads, "title", min_leads=2).select("title", "contacted", "events", "rate",
    ...     "too_small").rows()
    [('CEO', 2, 1, 0.5, False), ('(none)', 1, 0, 0.0, True), ('CTO', 1, 0, 0.0, True)]
    """
    if metric not in BREAKDOWN_BASES:
        raise BadRequestError(
            f"unknown metric {metric!r}",
            hint=f"Use one of {', '.join(map(repr, BREAKDOWN_BASES))}.",
        )
    if adjust not in ADJUSTMENTS:
        raise BadRequestError(
            f"unknown adjust {adjust!r}",
            hint="Use 'holm' (Holm, family-wise) or 'bh' (Benjamini-Hochberg, false discovery "
            "rate).",
        )
    if isinstance(min_leads, bool) or not isinstance(min_leads, int) or min_leads < 0:
        raise BadRequestError(
            f"min_leads must be a non-negative integer, got {min_leads!r}",
            hint="Use e.g. min_leads=30.",
        )
    check_fraction(alpha, "alpha", example=0.05)
    if other is not None and (not isinstance(other, str) or not other):
        raise BadRequestError(
            f"other must be a group name or None, got {other!r}", hint="Use e.g. other='Other'."
        )
    check_confidence(confidence)
    check_leads(leads, ["campaign_id", *REPLY_COLUMNS], "breakdown")
    name, group, multi = _group_of(leads, by)
    events, over = BREAKDOWN_BASES[metric]

    frame = leads.select("campaign_id", *REPLY_COLUMNS, group.alias(_GROUP))
    if multi:
        # One row per (lead, value): the lead counts once in each of its groups. _row keeps
        # the lead's identity for folding (two small tags of a lead are one lead in "other").
        frame = frame.with_row_index("_row").explode(_GROUP, empty_as_null=True)
    frame = frame.with_columns(pl.col(_GROUP).fill_null(NO_VALUE))
    counts = _counts(frame, positive_tags, confidence)
    sizes = {g: 1 for g in counts[_GROUP]}
    if other is not None:
        small = counts.filter((pl.col(over) < min_leads) & (pl.col(_GROUP) != NO_VALUE))
        folded = small[_GROUP].to_list()
        if other in sizes and other not in folded:
            raise BadRequestError(
                f"other={other!r} is also a {name} value with enough leads to stand alone",
                hint="Pass another name for the folded groups, e.g. other='(other)'.",
            )
        if folded:
            frame = frame.with_columns(
                pl.when(pl.col(_GROUP).is_in(folded))
                .then(pl.lit(other))
                .otherwise(pl.col(_GROUP))
                .alias(_GROUP)
            )
            if multi:
                frame = frame.unique(["_row", _GROUP], maintain_order=True)
            counts = _counts(frame, positive_tags, confidence)
            sizes = {g: 1 for g in counts[_GROUP] if g != other}
            sizes[other] = len(folded)
    # The rest of a group is every lead of the frame outside it: the frame's own totals (per
    # lead, not per (lead, value)) minus the group.
    total = _counts(
        leads.select("campaign_id", *REPLY_COLUMNS, pl.lit(NO_VALUE).alias(_GROUP)),
        positive_tags,
        confidence,
    )
    all_x = int(total[events].sum())
    all_n = int(total[over].sum())
    rows = _tested(counts, events, over, all_x, all_n, min_leads, adjust, alpha)
    low, high = wilson_expr("events", over, confidence)
    out = (
        counts.select(_GROUP, *_COUNTS[:3], events=pl.col(events))
        .join(rows, on=_GROUP, how="left")
        .with_columns(rate=ratio("events", over))
        .with_columns(
            rate_low=low,
            rate_high=high,
            diff=pl.col("rate") - pl.col("rest_rate"),
            groups=pl.col(_GROUP).replace_strict(sizes, default=1, return_dtype=pl.Int64),
            metric=pl.lit(metric, pl.String),
            denominator=pl.lit(over, pl.String),
            overall_rate=pl.lit(all_x / all_n if all_n else None, pl.Float64),
            by=pl.lit(name, pl.String),
            multi_valued=pl.lit(multi, pl.Boolean),
            adjust=pl.lit(adjust, pl.String),
            alpha=pl.lit(float(alpha), pl.Float64),
            min_leads=pl.lit(min_leads, pl.Int64),
            confidence=pl.lit(float(confidence), pl.Float64),
            positive_tags=positive_tags_column(positive_tags),
        )
        .sort(["rate", over, _GROUP], descending=[True, True, False], nulls_last=True)
    )
    return out.select(pl.col(_GROUP).alias(name), *_COLUMNS)


def _group_of(leads: pl.DataFrame, by: object) -> tuple[str, pl.Expr, bool]:
    """``by`` as (group column name, String or List(String) expression, is it a list)."""
    name, expr, roots = segment_expr(by, "by")
    shown = repr(by) if isinstance(by, str) else f"{by} (named {name!r})"
    missing = [c for c in roots if c not in leads.columns]
    if missing:
        raise BadRequestError(
            f"breakdown by {shown}: the leads frame has no column {', '.join(map(repr, missing))}",
            hint=f"Its columns are {', '.join(leads.columns)}. Lead attributes such as "
            "job_title or country come from sk.with_lead_details(leads, "
            "sk.load_lead_details(client)).",
        )
    if name in _COLUMNS:
        raise BadRequestError(
            f"breakdown by {shown}: the group column would be named {name!r}, like a column of "
            "the result",
            hint="Give it another name with .alias('<group name>').",
        )
    try:
        dtype = leads.head(0).select(expr.alias(_GROUP)).schema[_GROUP]
    except pl.exceptions.PolarsError as exc:
        raise BadRequestError(
            f"breakdown by {shown} cannot be computed on the leads frame: "
            f"{str(exc).splitlines()[0]}",
            hint="Check the expression on the frame with leads.select(<expression>).",
        ) from None
    if isinstance(dtype, pl.Struct | pl.Object):
        raise BadRequestError(
            f"breakdown by {shown} gives a {dtype} per lead, not a value to group by",
            hint="Pick a field: pl.col('custom_fields').struct.field('<name>').",
        )
    if isinstance(dtype, pl.List | pl.Array):
        if isinstance(dtype.inner, pl.List | pl.Array | pl.Struct):
            raise BadRequestError(
                f"breakdown by {shown} gives lists of {dtype.inner}, not of values",
                hint="Turn each item into one value first, e.g. with .list.eval(...).",
            )
        # Each distinct value once: a lead tagged "vip" twice is one vip lead.
        values = expr.cast(pl.List(pl.String)).list.drop_nulls().list.unique(maintain_order=True)
        return name, values, True
    return name, expr.cast(pl.String), False


def _counts(
    frame: pl.DataFrame, positive_tags: Iterable[str] | None, confidence: float
) -> pl.DataFrame:
    """The headline's lead counts per group, pooled over campaigns (counts add up: each row of
    ``frame`` is one campaign lead in one group)."""
    per_campaign = headline(
        frame, segment=_GROUP, positive_tags=positive_tags, confidence=confidence
    )
    return per_campaign.group_by(_GROUP).agg(pl.col(c).sum() for c in _COUNTS_ALL)


def _tested(
    counts: pl.DataFrame,
    events: str,
    over: str,
    all_x: int,
    all_n: int,
    min_leads: int,
    adjust: str,
    alpha: float,
) -> pl.DataFrame:
    """Each group against the rest: the rest's rate, the test, raw and adjusted p-values."""
    # One test per group, not per lead: few rows, so plain Python is clear and cheap.
    out: dict[str, list[Any]] = {
        _GROUP: [],
        "rest_rate": [],
        "test": [],
        "p_value": [],
        "too_small": [],
    }
    for group, x, n in counts.select(_GROUP, events, over).iter_rows():
        rest_x, rest_n = all_x - x, all_n - n
        test: str | None = None
        p: float | None = None
        if n > 0 and rest_n > 0:
            if needs_exact(x, n, rest_x, rest_n):
                test, p = "fisher", fisher_exact_p(x, n - x, rest_x, rest_n - rest_x)
            else:
                p = two_proportion_p(x, n, rest_x, rest_n)
                test = "z" if p is not None else None
        out[_GROUP].append(group)
        out["rest_rate"].append(rest_x / rest_n if rest_n > 0 else None)
        out["test"].append(test)
        out["p_value"].append(p)
        out["too_small"].append(n < min_leads)
    # The family is the groups actually tested: a too-small group is never called, so it
    # does not make the others pay for it.
    family = [
        i
        for i, (p, small) in enumerate(zip(out["p_value"], out["too_small"], strict=True))
        if p is not None and not small
    ]
    adjusted: list[float | None] = [None] * len(out[_GROUP])
    method = holm if adjust == "holm" else benjamini_hochberg
    for i, q in zip(family, method([out["p_value"][i] for i in family]), strict=True):
        adjusted[i] = q
    return pl.DataFrame(
        {
            **out,
            "p_value_adj": adjusted,
            "significant": [None if q is None else q < alpha for q in adjusted],
        },
        schema={
            _GROUP: pl.String,
            "rest_rate": pl.Float64,
            "test": pl.String,
            "p_value": pl.Float64,
            "too_small": pl.Boolean,
            "p_value_adj": pl.Float64,
            "significant": pl.Boolean,
        },
    )
