"""One self-contained HTML report of SendKit campaigns that works offline and without a kernel.

Usage (exported as ``sk.report``, ``sk.as_html`` and ``sk.write_report``)::

    import sendkit_nb as sk
    client = sk.connect()                       # the real API with SENDKIT_API_KEY, else the demo
    html = sk.report(client, path="report.html")                  # every campaign
    html = sk.report(client, ["<id>", "<id>"], "two.html", status="replied")
    html = sk.report(leads, catalog=sk.load_campaigns(client))   # an already-loaded frame

The page holds plotly.js once (no CDN, no request of any kind), an overview of the chosen
campaigns side by side, per campaign the KPIs, step funnel, A/B variants with intervals, reply
curve, daily activity, status and AI-tag breakdowns, the data checks, and the definitions
appendix (:data:`sendkit_nb.metrics.DEFINITIONS`). A switcher shows one campaign at a time.
It never contains the API key.

The layout is in package files (``templates/report.html.j2``, ``report.css``, ``report.js``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb._report._html import REPORT_SUFFIXES, check_report_path, write_report
from sendkit_nb._report._renderer import OFFLINE_RENDERER, use_offline_renderer
from sendkit_nb._report._select import CampaignChoice

__all__ = [
    "OFFLINE_RENDERER",
    "REPORT_SUFFIXES",
    "as_html",
    "check_report_path",
    "report",
    "use_offline_renderer",
    "write_report",
]

_METRICS = ("open", "click", "reply", "positive")


def as_html(
    source: Any,
    campaigns: CampaignChoice = None,
    *,
    status: str | Sequence[str] | None = None,
    catalog: pl.DataFrame | None = None,
    title: str | None = None,
    positive_tags: Iterable[str] | None = None,
    denominator: str = "delivered",
    metric: str = "reply",
    progress: bool = True,
    pulled_at: datetime | None = None,
) -> str:
    """The report as an HTML string (see :func:`report`; this one never writes a file)."""
    return report(
        source,
        campaigns,
        None,
        status=status,
        catalog=catalog,
        title=title,
        positive_tags=positive_tags,
        denominator=denominator,
        metric=metric,
        progress=progress,
        pulled_at=pulled_at,
    )


def report(
    source: Any,
    campaigns: CampaignChoice = None,
    path: str | os.PathLike[str] | None = None,
    *,
    status: str | Sequence[str] | None = None,
    catalog: pl.DataFrame | None = None,
    title: str | None = None,
    positive_tags: Iterable[str] | None = None,
    denominator: str = "delivered",
    metric: str = "reply",
    progress: bool = True,
    pulled_at: datetime | None = None,
) -> str:
    """Build the offline HTML report; return it, and write it to ``path`` when given.

    ``source``: a :class:`~sendkit_nb.SendKitClient` (the campaigns and leads are loaded
    through it, and the pull time recorded) or an already-loaded leads frame from
    :func:`~sendkit_nb.load_leads` (one campaign or several concatenated).
    ``campaigns``: a campaign id or a list of them (or a campaigns frame); None = every campaign
    of the source. ``path``: a file ending in ``.html``; checked before anything is loaded.
    ``status``: only leads with this status (or these statuses); applied to a frame too.
    ``catalog``: ``load_campaigns(client)``, for campaign names and step labels; fetched from
    the client when the source is one. ``title`` replaces the page title. ``positive_tags``,
    ``denominator`` (``"delivered"``, ``"sent"`` or ``"opened"``) and ``metric`` (the A/B test's
    rate: ``"open"``, ``"click"``, ``"reply"`` or ``"positive"``) are passed to the metrics.
    ``progress`` shows progress bars while loading and building. ``pulled_at`` records when a
    frame passed in was loaded (shown in the header).

    Bad arguments raise :class:`~sendkit_nb.BadRequestError` before any request is made.
    """
    from sendkit_nb import metrics as skm

    target = check_report_path(path) if path is not None else None
    skm.rate_denominators(denominator)
    if metric not in _METRICS:
        raise BadRequestError(
            f"unknown metric {metric!r}", hint=f"Use one of {', '.join(map(repr, _METRICS))}."
        )
    tags = _positive_tags(positive_tags)
    if title is not None and not isinstance(title, str):
        raise BadRequestError(f"title must be a string, got {type(title).__name__}")
    # Imported here so that a missing optional dependency is reported on use, clearly.
    _require("plotly", "jinja2")
    from sendkit_nb._report._build import Options, build_view
    from sendkit_nb._report._html import render
    from sendkit_nb._report._select import select

    selection = select(
        source, campaigns, status=status, catalog=catalog, progress=progress, pulled_at=pulled_at
    )
    options = Options(
        title=title,
        positive_tags=tags,
        denominator=denominator,  # type: ignore[arg-type]
        metric=metric,  # type: ignore[arg-type]
        progress=progress,
    )
    view, store = build_view(selection, options)
    html = render(view, store)
    if target is not None:
        write_report(html, target)
    return html


def _positive_tags(tags: Iterable[str] | None) -> tuple[str, ...] | None:
    if tags is None:
        return None
    values = [tags] if isinstance(tags, str) else list(tags)
    if not values or not all(isinstance(t, str) and t for t in values):
        raise BadRequestError(
            f"positive_tags must be non-empty AI tag names, got {tags!r}",
            hint="For example positive_tags=['interested', 'meeting_booked'].",
        )
    return tuple(dict.fromkeys(values))


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise BadRequestError(
            f"the HTML report needs {' and '.join(missing)}, which are not installed",
            hint="pip install 'sendkit_nb[report]'",
        )
