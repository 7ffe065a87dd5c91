"""Column names, dtypes and enumerations shared by the loader, the metrics and the demo API.

Keeping them in one place is what lets every layer agree on what a "lead frame" is.
"""

from __future__ import annotations

import polars as pl
from polars._typing import PolarsDataType

#: Campaign-lead statuses. The first eight are the documented filter values of
#: ``GET /v1/campaigns/{id}/leads``; ``failed`` is only seen in analytics ``statusBreakdown``
#: but a lead can carry it, so the Enum admits it rather than failing the whole load.
LEAD_STATUSES: tuple[str, ...] = (
    "pending",
    "active",
    "paused",
    "completed",
    "bounced",
    "unsubscribed",
    "replied",
    "removed",
    "failed",
)

#: Campaign statuses (``draft``/``active``/``paused`` documented, the rest from third-party enums).
CAMPAIGN_STATUSES: tuple[str, ...] = ("draft", "active", "paused", "completed", "archived")


def _columns(columns: dict[str, PolarsDataType]) -> dict[str, PolarsDataType]:
    """Typed identity, so mypy sees a mapping of dtypes rather than of objects."""
    return columns


LeadStatus = pl.Enum(list(LEAD_STATUSES))
UTC = pl.Datetime("us", "UTC")

#: One sent email of a campaign lead (an item of ``emailsSent``).
EMAIL_STRUCT = pl.Struct(
    {
        "step": pl.Int32,
        "variant": pl.String,
        "sent_at": UTC,
        "opened": pl.Boolean,
        "clicked": pl.Boolean,
        "bounced": pl.Boolean,
    }
)

#: The frame returned by :func:`sendkit_nb.load_leads`: one row per campaign lead.
LEADS_SCHEMA = pl.Schema(
    _columns(
        {
            "campaign_id": pl.String,
            "id": pl.String,  # the campaign-lead ``_id`` (what PATCH and cursors use)
            "lead_id": pl.String,  # the workspace lead ``leadId._id``; null for deleted leads
            "email": pl.String,
            "first_name": pl.String,
            "last_name": pl.String,
            "company_name": pl.String,
            "status": LeadStatus,
            "current_step": pl.Int32,
            "replied": pl.Boolean,
            "replied_at": UTC,
            "ai_tag": pl.String,
            "tags": pl.List(pl.String),
            "added_at": UTC,
            "emails": pl.List(EMAIL_STRUCT),
        }
    )
)

#: The frame returned by :func:`sendkit_nb.emails`: one row per sent email.
EMAILS_SCHEMA = pl.Schema(
    _columns(
        {
            "campaign_id": pl.String,
            "id": pl.String,
            "lead_id": pl.String,
            "email": pl.String,
            "status": LeadStatus,
            "step": pl.Int32,
            "variant": pl.String,
            "sent_at": UTC,
            "opened": pl.Boolean,
            "clicked": pl.Boolean,
            "bounced": pl.Boolean,
        }
    )
)

#: One step of a campaign ``sequence`` (email or wait).
SEQUENCE_STEP_STRUCT = pl.Struct(
    {
        "order": pl.Int32,
        "type": pl.String,
        "name": pl.String,
        "subject": pl.String,
        "wait_days": pl.Int32,
    }
)

#: The frame returned by :func:`sendkit_nb.load_campaigns`: one row per campaign.
CAMPAIGNS_SCHEMA = pl.Schema(
    _columns(
        {
            "campaign_id": pl.String,
            "name": pl.String,
            "status": pl.String,
            "sequence": pl.List(SEQUENCE_STEP_STRUCT),
            "created_at": UTC,
            "started_at": UTC,
            "completed_at": UTC,
        }
    )
)

#: AI tags counted as positive replies unless the caller says otherwise.
DEFAULT_POSITIVE_TAGS: frozenset[str] = frozenset({"interested", "meeting_booked"})
