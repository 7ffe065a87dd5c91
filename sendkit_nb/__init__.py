"""sendkit_nb: notebook analytics for SendKit cold-email campaigns.

>>> import sendkit_nb as sk
>>> client = sk.connect()                       # SENDKIT_API_KEY, or the embedded demo API
>>> campaigns = sk.load_campaigns(client)       # doctest: +SKIP
>>> leads = sk.load_leads(client, campaigns["campaign_id"][0])  # doctest: +SKIP
"""

from __future__ import annotations

import typing
from typing import Any

from sendkit_nb import metrics

if typing.TYPE_CHECKING:  # (a module, so the public-name test does not see a new name)
    from sendkit_nb._report import Report
from sendkit_nb._client import RetryPolicy, SendKitClient
from sendkit_nb._connect import connect
from sendkit_nb._errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    DeadlineExceededError,
    IncompleteLoadError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    SchemaError,
    SendKitError,
    ServerError,
    StoreError,
)
from sendkit_nb._frames import (
    IncompleteLoadWarning,
    emails,
    leads_from_items,
    load_campaigns,
    load_leads,
)
from sendkit_nb._inbox import load_replies
from sendkit_nb._lead_details import load_lead_details, with_lead_details
from sendkit_nb._mailboxes import load_mailboxes
from sendkit_nb._schema import (
    CAMPAIGNS_SCHEMA,
    DEFAULT_POSITIVE_TAGS,
    EMAILS_SCHEMA,
    LEAD_DETAILS_SCHEMA,
    LEAD_STATUSES,
    LEADS_SCHEMA,
    MAILBOXES_SCHEMA,
    REPLIES_SCHEMA,
)
from sendkit_nb._store import Store, open_store
from sendkit_nb._store_files import read_campaigns, read_leads
from sendkit_nb._store_sync import HistoryResetWarning, SyncResult, sync
from sendkit_nb._version import __version__
from sendkit_nb._workflows import reconcile
from sendkit_nb.metrics import (
    daily_activity,
    funnel,
    headline,
    quality,
    reply_curve,
    variant_funnel,
)

# The notebook front ends import plotly, ipywidgets and IPython; these wrappers keep
# `import sendkit_nb` light until one of them is used.


def dashboard(source: SendKitClient | Store | None = None, **options: Any) -> Any:
    """The ipywidgets dashboard (see :func:`sendkit_nb.widgets.dashboard`): on a client, on a
    store (``sk.dashboard(sk.open_store(path))``, offline), or on a client with a store
    (``sk.dashboard(client, store=path)``: Refresh syncs the store)."""
    from sendkit_nb.widgets import dashboard as _dashboard

    return _dashboard(source, **options)


def report(source: Any, campaigns: Any = None, path: Any = None, **options: Any) -> Report:
    """One self-contained offline HTML report of campaigns, written to ``path`` when given.
    Returns a small :class:`~sendkit_nb._report.Report` that shows as a link in a notebook
    (``.as_raw_html()`` for the HTML text, ``.write_raw_html(path)`` to write it). ``source``
    is a client or a loaded leads frame (then pass
    ``catalog=load_campaigns(client)`` for names and sequences). Options: ``status``,
    ``title``, ``positive_tags``, ``denominator``, ``metric``, ``progress``.

    The implementation is :func:`sendkit_nb._report.report`.
    """
    from sendkit_nb._report import report as _report

    return _report(source, campaigns, path, **options)


def use_offline_renderer() -> str:
    """Make plotly figures in this notebook embed plotly.js (once, no CDN), so the notebook's
    HTML export shows them offline; returns the renderer's name."""
    # From the renderer's own module: the report package (jinja2 and the templates) is not
    # needed to set a renderer.
    from sendkit_nb._renderer import use_offline_renderer as _use

    return _use()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext sendkit_nb``: register the ``%sendkit`` magics."""
    from sendkit_nb.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext sendkit_nb``."""
    from sendkit_nb.magics import unload_ipython_extension as _unload

    _unload(ipython)


__all__ = [
    "CAMPAIGNS_SCHEMA",
    "DEFAULT_POSITIVE_TAGS",
    "EMAILS_SCHEMA",
    "LEADS_SCHEMA",
    "LEAD_DETAILS_SCHEMA",
    "LEAD_STATUSES",
    "MAILBOXES_SCHEMA",
    "REPLIES_SCHEMA",
    "APIConnectionError",
    "AuthenticationError",
    "BadRequestError",
    "DeadlineExceededError",
    "HistoryResetWarning",
    "IncompleteLoadError",
    "IncompleteLoadWarning",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "SchemaError",
    "SendKitClient",
    "SendKitError",
    "ServerError",
    "Store",
    "StoreError",
    "SyncResult",
    "__version__",
    "charts",
    "connect",
    "daily_activity",
    "dashboard",
    "emails",
    "funnel",
    "headline",
    "leads_from_items",
    "load_campaigns",
    "load_ipython_extension",
    "load_lead_details",
    "load_leads",
    "load_mailboxes",
    "load_replies",
    "metrics",
    "open_store",
    "quality",
    "read_campaigns",
    "read_leads",
    "reconcile",
    "reply_curve",
    "report",
    "sync",
    "unload_ipython_extension",
    "use_offline_renderer",
    "variant_funnel",
    "with_lead_details",
]


def __getattr__(name: str) -> Any:
    # `sk.charts` imports plotly (slow) only when first used.
    if name == "charts":
        import importlib

        return importlib.import_module("sendkit_nb.charts")
    raise AttributeError(f"module 'sendkit_nb' has no attribute {name!r}")
