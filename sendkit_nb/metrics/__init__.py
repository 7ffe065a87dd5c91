"""Campaign metrics: pure polars over the lead frames, no plotting and no HTTP.

Every definition is written once in :data:`DEFINITIONS` (``_definitions.py``); the functions
below implement it and their docstrings state the part they compute.
"""

from __future__ import annotations

from sendkit_nb.metrics._attribution import (
    ATTRIBUTION_CHANGES,
    ATTRIBUTIONS,
    Attribution,
    compare_attribution,
)
from sendkit_nb.metrics._breakdowns import ai_tag_counts, status_counts
from sendkit_nb.metrics._cohorts import COHORT_EVERY, cohort_curves, cohorts
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
from sendkit_nb.metrics._mailboxes import DEFAULT_BOUNCE_THRESHOLD, MAILBOX_RATES, mailbox_rates
from sendkit_nb.metrics._quality import QUALITY_CHECKS, quality, reconcile
from sendkit_nb.metrics._segments import ADJUSTMENTS, Adjust, BreakdownMetric, breakdown
from sendkit_nb.metrics._stats import wilson_interval
from sendkit_nb.metrics._timing import (
    NO_VARIANT,
    ReplyGroup,
    reply_curve,
    reply_times,
    reply_timing_summary,
)
from sendkit_nb.metrics._windows import Window, WindowBound, latest_timestamp, resolve_window

__all__ = [
    "ADJUSTMENTS",
    "ATTRIBUTIONS",
    "ATTRIBUTION_CHANGES",
    "COHORT_EVERY",
    "COUNT_COLUMNS",
    "DEFAULT_BOUNCE_THRESHOLD",
    "DEFINITIONS",
    "MAILBOX_RATES",
    "MIN_EVENTS",
    "MIN_SENDS",
    "NO_VARIANT",
    "OPENS_CAVEAT",
    "QUALITY_CHECKS",
    "RATE_COLUMNS",
    "Adjust",
    "Attribution",
    "BreakdownMetric",
    "Denominator",
    "FunnelBy",
    "Metric",
    "ReplyGroup",
    "Segment",
    "SequenceSource",
    "Window",
    "WindowBound",
    "ai_tag_counts",
    "breakdown",
    "cohort_curves",
    "cohorts",
    "compare_attribution",
    "compare_campaigns",
    "daily_activity",
    "funnel",
    "headline",
    "label_steps",
    "latest_timestamp",
    "mailbox_rates",
    "quality",
    "rate_denominators",
    "reconcile",
    "reply_attribution",
    "reply_curve",
    "reply_times",
    "reply_timing_summary",
    "resolve_window",
    "sequence_steps",
    "status_counts",
    "variant_funnel",
    "wilson_interval",
]

# The reply curve, daily and quality metrics live in their own modules (_timing, _daily,
# _quality); their exports are in the lists above.
