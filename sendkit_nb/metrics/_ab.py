"""A/B tests between the variants of one step: the leader, each arm's difference from it, and
Holm-adjusted p-values (exact where the counts are small).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl

from sendkit_nb.metrics._common import (
    ratio,
)
from sendkit_nb.metrics._stats import (
    fisher_exact_p,
    holm,
    needs_exact,
    two_proportion_p,
)


def ab_test(
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
