"""Charts: pure functions from the metrics frames to plotly figures.

Every function takes a frame from :mod:`sendkit_nb.metrics` and returns a
``plotly.graph_objects.Figure``; none displays, fetches or computes a metric. All share one
colour-blind-safe theme (Okabe–Ito, registered as the plotly template ``"sendkit"``), state
numerator, denominator and definition in every hover, mark opens as directional, and draw a
"No data" note instead of failing on an empty frame. Wrong input raises
:class:`sendkit_nb.BadRequestError` naming the missing columns.

Trace names and uids are stable, and trace counts do not depend on the data where the chart
allows it, so :func:`update_figure` can refresh a displayed ``FigureWidget`` in place.

>>> import sendkit_nb as sk
>>> from sendkit_nb import charts, metrics
>>> from sendkit_nb.demo import make_workspace
>>> ws = make_workspace(sizes=[300]); campaign = ws.campaigns[0]
>>> leads = sk.leads_from_items(ws.leads[campaign["_id"]], campaign["_id"])
>>> fig = charts.step_funnel(metrics.funnel(leads, sequence=campaign))
>>> fig.layout.template.layout.colorway[0]
'#0072B2'
"""

from __future__ import annotations

try:
    import plotly  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("sendkit_nb.charts needs plotly: pip install 'sendkit_nb[charts]'") from exc

from ._breakdown import breakdown
from ._campaigns import ai_tag_breakdown, campaign_comparison, status_breakdown
from ._common import NO_DATA
from ._funnel import STAGES, step_funnel, step_rates, variant_comparison
from ._mailboxes import mailboxes
from ._theme import COLORWAY, EVENT_COLORS, PALETTE, TEMPLATE, THEME
from ._timing import daily_activity, reply_curve
from ._trends import TREND_METRICS, cohorts, trend
from ._update import update_figure

__all__ = [
    "COLORWAY",
    "EVENT_COLORS",
    "NO_DATA",
    "PALETTE",
    "STAGES",
    "TEMPLATE",
    "THEME",
    "TREND_METRICS",
    "ai_tag_breakdown",
    "breakdown",
    "campaign_comparison",
    "cohorts",
    "daily_activity",
    "mailboxes",
    "reply_curve",
    "status_breakdown",
    "step_funnel",
    "step_rates",
    "trend",
    "update_figure",
    "variant_comparison",
]
