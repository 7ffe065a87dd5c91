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

#: The frame returned by :func:`sendkit_nb.load_lead_details`: one row per workspace lead
#: (person) of ``GET /v1/leads``, keyed by ``lead_id`` (the ``lead_id`` of ``LEADS_SCHEMA``).
#: Text attributes hold null for absent, null and blank values alike; ``email_domain`` is the
#: part of ``email`` after its last ``@``, lower case. ``email_verified`` is the API's
#: ``emailVerified``, ``email_verification`` its ``emailVerificationResult`` (``valid``,
#: ``deliverable``, ``risky``... the set is open). ``tags`` is never null (absent -> empty).
#: ``custom_fields`` is the ``customFields`` object as canonical JSON text (sorted keys; null
#: when absent): custom fields are workspace-defined with any keys and value types, so a struct
#: column would change dtype from load to load, and even from page to page; read one with
#: ``pl.col("custom_fields").str.json_path_match("$.companySize")``.
LEAD_DETAILS_SCHEMA = pl.Schema(
    _columns(
        {
            "lead_id": pl.String,
            "email": pl.String,
            "email_domain": pl.String,
            "first_name": pl.String,
            "last_name": pl.String,
            "company_name": pl.String,
            "job_title": pl.String,
            "city": pl.String,
            "state": pl.String,
            "country": pl.String,
            "email_verified": pl.Boolean,
            "email_verification": pl.String,
            "tags": pl.List(pl.String),
            "custom_fields": pl.String,
            "created_at": UTC,
        }
    )
)

#: The frame returned by :func:`sendkit_nb.load_mailboxes`: one row per sending mailbox of
#: ``GET /v1/analytics/mailboxes``. ``sent`` ... ``positive_replied`` are the API's
#: ``performance`` counts within the requested dates (null when absent); the ``*_rate`` columns
#: are recomputed from them over ``sent`` (null when ``sent`` is 0 or null), never taken from the
#: API's ``rates``/``bounceRate``, whose scale the docs leave open. ``api_bounce_rate`` keeps the
#: API's all-time ``bounceRate`` as sent, for reference only. ``total_sent``,
#: ``total_received`` and ``sent_today`` are the API's all-time / today counters.
MAILBOXES_SCHEMA = pl.Schema(
    _columns(
        {
            "mailbox_id": pl.String,
            "email": pl.String,
            "display_name": pl.String,
            "status": pl.String,
            "sent": pl.Int64,
            "opened": pl.Int64,
            "clicked": pl.Int64,
            "bounced": pl.Int64,
            "replied": pl.Int64,
            "positive_replied": pl.Int64,
            "open_rate": pl.Float64,
            "click_rate": pl.Float64,
            "bounce_rate": pl.Float64,
            "reply_rate": pl.Float64,
            "positive_reply_rate": pl.Float64,
            "daily_limit": pl.Int64,
            "sent_today": pl.Int64,
            "warmup_enabled": pl.Boolean,
            "warmup_status": pl.String,
            "total_sent": pl.Int64,
            "total_received": pl.Int64,
            "api_bounce_rate": pl.Float64,
        }
    )
)

#: The frame returned by :func:`sendkit_nb.load_replies`: one row per message *from the lead*
#: in a campaign's inbox threads (our own manual messages are left out), in thread order.
#: ``id`` is the campaign-lead id (as in ``LEADS_SCHEMA``/``EMAILS_SCHEMA``, so the frames join
#: on it), ``conversation_id`` the inbox id. ``is_auto_reply``: true when the message's
#: ``isAutoReply`` is true or the conversation's AI tag is ``out_of_office`` (any case), the one
#: rule of automatic replies (inbox attribution reads this column only). ``ai_tag`` is
#: the conversation's tag (the API tags conversations, not messages). ``step``/``variant``/
#: ``step_sent_at`` describe the last email sent before the reply in the thread, in the
#: ``emailsSent`` numbering of the leads frame (``step`` = the sequence ``order``);
#: ``thread_step`` is that email's ``sequenceStep`` as the thread numbers it (1 for the first
#: email in the docs' example). ``attribution`` says how ``step`` was found: ``"sent_at"``
#: (the thread's email matched the lead's ``emailsSent`` by send time: exact, with its
#: variant), ``"thread_step"`` (no match; the thread's number mapped through the sequence,
#: variant unknown) or null (no email before the reply: unattributed). ``reply_index`` counts
#: the lead's messages in the thread from 0.
REPLIES_SCHEMA = pl.Schema(
    _columns(
        {
            "campaign_id": pl.String,
            "conversation_id": pl.String,
            "id": pl.String,
            "lead_id": pl.String,
            "email": pl.String,
            "reply_index": pl.Int32,
            "received_at": UTC,
            "is_auto_reply": pl.Boolean,
            "ai_tag": pl.String,
            "step": pl.Int32,
            "variant": pl.String,
            "step_sent_at": UTC,
            "thread_step": pl.Int32,
            "attribution": pl.String,
        }
    )
)

#: AI tags counted as positive replies unless the caller says otherwise.
DEFAULT_POSITIVE_TAGS: frozenset[str] = frozenset({"interested", "meeting_booked"})
