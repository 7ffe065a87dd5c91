"""sendkit_nb: notebook analytics for SendKit cold-email campaigns.

>>> import sendkit_nb as sk
>>> client = sk.connect()                       # SENDKIT_API_KEY, or the embedded demo API
>>> campaigns = sk.load_campaigns(client)       # doctest: +SKIP
>>> leads = sk.load_leads(client, campaigns["campaign_id"][0])  # doctest: +SKIP
"""

from __future__ import annotations

from sendkit_nb._client import RetryPolicy, SendKitClient
from sendkit_nb._connect import connect
from sendkit_nb._errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    SchemaError,
    SendKitError,
    ServerError,
)
from sendkit_nb._frames import (
    IncompleteLoadWarning,
    emails,
    leads_from_items,
    load_campaigns,
    load_leads,
)
from sendkit_nb._schema import (
    CAMPAIGNS_SCHEMA,
    DEFAULT_POSITIVE_TAGS,
    EMAILS_SCHEMA,
    LEAD_STATUSES,
    LEADS_SCHEMA,
)

__version__ = "0.1.0"

__all__ = [
    "CAMPAIGNS_SCHEMA",
    "DEFAULT_POSITIVE_TAGS",
    "EMAILS_SCHEMA",
    "LEADS_SCHEMA",
    "LEAD_STATUSES",
    "APIConnectionError",
    "AuthenticationError",
    "BadRequestError",
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
    "__version__",
    "connect",
    "emails",
    "leads_from_items",
    "load_campaigns",
    "load_leads",
]
