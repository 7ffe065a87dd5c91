"""Small, dependency-free statistics for A/B arms: Wilson intervals, the two-proportion z-test,
Fisher's exact test and Holm's adjustment.

Written with the standard library (``math``, ``statistics.NormalDist``) rather than scipy so that
importing the metrics stays fast in a notebook; the tests check these against scipy.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from statistics import NormalDist
from typing import Final

import polars as pl

__all__ = [
    "BOUND_TOLERANCE",
    "check_confidence",
    "fisher_exact_p",
    "holm",
    "two_proportion_p",
    "wilson_expr",
    "wilson_interval",
    "z_for",
]

#: Interval bounds closer than this to 0 or 1 are float noise and are snapped to 0 or 1: with
#: no events the Wilson low bound is exactly 0 in theory but ``centre - half`` can leave
#: ``1.7e-18``, which would put the bound above a rate of 0 (and ``1 - 1e-16`` below a rate of 1).
#: A true Wilson bound that close to 0 or 1 needs about 10**12 leads.
BOUND_TOLERANCE: Final = 1e-12

#: Below this expected count in any cell of the 2x2 table the normal approximation of the
#: z-test is poor (Cochran's rule), so Fisher's exact test is used instead.
MIN_EXPECTED = 5.0


def check_confidence(confidence: object) -> float:
    """``confidence`` as a float if it is a number strictly between 0 and 1, else a
    :class:`~sendkit_nb.BadRequestError` (raised before any work is done)."""
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, numbers.Real)  # numpy floats included
        or not 0.0 < float(confidence) < 1.0
    ):
        from sendkit_nb._errors import BadRequestError

        raise BadRequestError(
            f"confidence must be strictly between 0 and 1, got {confidence!r}",
            hint="Use e.g. confidence=0.95 for 95% intervals.",
        )
    return float(confidence)


def z_for(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level (1.959963... for 0.95).

    >>> round(z_for(0.95), 4)
    1.96
    """
    return NormalDist().inv_cdf(1.0 - (1.0 - check_confidence(confidence)) / 2.0)


def wilson_interval(events: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval for ``events`` out of ``n``; None when ``n`` is 0 or the counts
    are not a proportion (``events`` outside ``0..n``). The bounds are within [0, 1], exactly 0
    for no events and exactly 1 when every lead had the event (float noise snapped away), so
    ``low <= events / n <= high`` always holds.

    >>> low, high = wilson_interval(10, 100)
    >>> round(low, 4), round(high, 4)
    (0.0552, 0.1744)
    """
    if n <= 0 or events < 0 or events > n:
        return None
    z = z_for(confidence)
    z2 = z * z
    centre = (events + z2 / 2.0) / (n + z2)
    half = z / (n + z2) * math.sqrt(events * (n - events) / n + z2 / 4.0)
    return _tidy(centre - half), _tidy(centre + half)


def _tidy(bound: float) -> float:
    """An interval bound clamped to [0, 1], with float noise near 0 or 1 snapped away (see
    :data:`BOUND_TOLERANCE`); the scalar twin of :func:`_tidy_expr`."""
    if bound < BOUND_TOLERANCE:
        return 0.0
    if bound > 1.0 - BOUND_TOLERANCE:
        return 1.0
    return bound


def _tidy_expr(bound: pl.Expr) -> pl.Expr:
    """:func:`_tidy` as a polars expression (null stays null)."""
    return (
        pl.when(bound < BOUND_TOLERANCE)
        .then(0.0)
        .when(bound > 1.0 - BOUND_TOLERANCE)
        .then(1.0)
        .otherwise(bound)
    )


def wilson_expr(events: str, n: str, confidence: float = 0.95) -> tuple[pl.Expr, pl.Expr]:
    """Polars expressions for the low and high Wilson bounds of columns ``events`` / ``n``.

    Null where ``n`` is 0 or ``events`` is outside ``0..n`` (rates over opens can exceed 1, and
    an interval for those would be meaningless). Otherwise within [0, 1], tidied exactly as in
    :func:`wilson_interval`, so ``low <= events / n <= high``.
    """
    z = z_for(confidence)
    z2 = z * z
    x = pl.col(events).cast(pl.Float64)
    m = pl.col(n).cast(pl.Float64)
    valid = (m > 0) & (x >= 0) & (x <= m)
    # Guard the division inside the branch too: polars evaluates both sides of when/then.
    safe_m = pl.when(m > 0).then(m).otherwise(1.0)
    centre = (x + z2 / 2.0) / (safe_m + z2)
    half = z / (safe_m + z2) * ((x * (safe_m - x) / safe_m).clip(lower_bound=0.0) + z2 / 4.0).sqrt()
    # The one place every metric frame's intervals are tidied (funnel, variant funnel, headline,
    # comparisons): clamped to [0, 1] with float noise at the ends snapped away.
    low = pl.when(valid).then(_tidy_expr(centre - half)).otherwise(None).cast(pl.Float64)
    high = pl.when(valid).then(_tidy_expr(centre + half)).otherwise(None).cast(pl.Float64)
    return low, high


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None when undefined (an empty arm,
    or no variation at all: every lead had the event or none did).

    >>> round(two_proportion_p(30, 200, 15, 200), 4)
    0.0176
    """
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:
        return None
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2.0))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact_p(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2x2 table ``[[a, b], [c, d]]``.

    Sums the hypergeometric probabilities of every table with the observed margins that is no
    more likely than the observed one (the same convention as ``scipy.stats.fisher_exact``).

    >>> round(fisher_exact_p(1, 9, 11, 3), 6)
    0.002759
    """
    row1, col1, total = a + b, a + c, a + b + c + d
    low, high = max(0, col1 - (c + d)), min(row1, col1)
    # Log space: with thousands of leads the binomial coefficients overflow floats.
    denom = _log_comb(total, col1)

    def log_p(k: int) -> float:
        return _log_comb(row1, k) + _log_comb(total - row1, col1 - k) - denom

    observed = log_p(a)
    # A relative tolerance so that tables tied with the observed one (up to rounding) count.
    cutoff = observed + 1e-7
    p = sum(math.exp(lp) for k in range(low, high + 1) if (lp := log_p(k)) <= cutoff)
    return min(1.0, p)


def needs_exact(x1: int, n1: int, x2: int, n2: int) -> bool:
    """True when some expected cell of the 2x2 table is below :data:`MIN_EXPECTED`."""
    total = n1 + n2
    if total <= 0:
        return True
    pooled = (x1 + x2) / total
    expected = (n1 * pooled, n1 * (1 - pooled), n2 * pooled, n2 * (1 - pooled))
    return min(expected) < MIN_EXPECTED


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (same order as given).

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
