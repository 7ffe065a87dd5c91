"""Campaign metrics: pure polars over the lead frames, no plotting and no HTTP.

Every definition is written once in :data:`DEFINITIONS` (``_definitions.py``); the functions
below implement it and their docstrings state the part they compute.
"""

from __future__ import annotations

from sendkit_nb.metrics._breakdowns import ai_tag_counts, status_counts
from sendkit_nb.metrics._compare import compare_campaigns
from sendkit_nb.metrics._daily import daily_activity
from sendkit_nb.metrics._definitions import (
    DEFINITIONS,
    MIN_EVENTS,
    MIN_SENDS,
    OPENS_CAVEAT,
    Denominator,
    FunnelBy,
    Metric,
    rate_denominators,
)
from sendkit_nb.metrics._emails import Segment, reply_attribution
from sendkit_nb.metrics._funnel import COUNT_COLUMNS, RATE_COLUMNS, funnel, variant_funnel
from sendkit_nb.metrics._headline import headline
from sendkit_nb.metrics._labels import SequenceSource, label_steps, sequence_steps
from sendkit_nb.metrics._quality import QUALITY_CHECKS, quality, reconcile
from sendkit_nb.metrics._stats import wilson_interval
from sendkit_nb.metrics._timing import (
    NO_VARIANT,
    ReplyGroup,
    reply_curve,
    reply_times,
    reply_timing_summary,
)

__all__ = [
    "COUNT_COLUMNS",
    "DEFINITIONS",
    "MIN_EVENTS",
    "MIN_SENDS",
    "NO_VARIANT",
    "OPENS_CAVEAT",
    "QUALITY_CHECKS",
    "RATE_COLUMNS",
    "Denominator",
    "FunnelBy",
    "Metric",
    "ReplyGroup",
    "Segment",
    "SequenceSource",
    "ai_tag_counts",
    "compare_campaigns",
    "daily_activity",
    "funnel",
    "headline",
    "label_steps",
    "quality",
    "rate_denominators",
    "reconcile",
    "reply_attribution",
    "reply_curve",
    "reply_times",
    "reply_timing_summary",
    "sequence_steps",
    "status_counts",
    "variant_funnel",
    "wilson_interval",
]

# The reply curve, daily and quality metrics live in their own modules (_timing, _daily,
# _quality); their exports are in the lists above.
