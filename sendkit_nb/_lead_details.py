"""Who the leads are: workspace leads (``GET /v1/leads``, sendkit-api.md 4.8) as a frame of
attributes, and their join onto a campaign's leads.

The campaign-leads endpoint carries only email, names and company; job title, location, email
verification and custom fields live on the workspace lead, one per person, shared by every
campaign the person is in. So the attributes are loaded once per workspace and joined on
``lead_id``.

Open questions the loader is tolerant of (the docs do not say): whether list items carry
``customFields`` (only the create-lead response shows it; absent -> null), whether fields can be
absent or null (both read as no value; blank text too), and the set of
``emailVerificationResult`` values (kept as text).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

from sendkit_nb._client import SendKitClient, check_client
from sendkit_nb._errors import BadRequestError
from sendkit_nb._items import (
    boolean,
    load_list,
    obj,
    parse_items_page,
    string_list,
    text,
    timestamp,
)
from sendkit_nb._pagination import Page
from sendkit_nb._progress import Progress, check_progress
from sendkit_nb._schema import LEAD_DETAILS_SCHEMA

__all__ = ["DETAILS_SUFFIX", "load_lead_details", "with_lead_details"]

_WHAT = "workspace leads"
#: Appended to detail columns whose names the leads frame already uses (``email``,
#: ``first_name``, ``last_name``, ``company_name``, ``tags``), see :func:`with_lead_details`.
DETAILS_SUFFIX = "_details"

_TEXT_FIELDS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "company_name": "companyName",
    "job_title": "jobTitle",
    "city": "city",
    "state": "state",
    "country": "country",
    "email_verification": "emailVerificationResult",
}


def _blank(value: str | None) -> str | None:
    """Attribute text: surrounding space dropped, blank as no value (a breakdown must not show
    an empty-string group beside the null one)."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower() or None


def _row(item: dict[str, Any], where: str) -> dict[str, Any]:
    email = _blank(text(item, "email", where, _WHAT))
    custom = obj(item, "customFields", where, _WHAT)
    row: dict[str, Any] = {
        "lead_id": item["_id"],
        "email": email,
        "email_domain": _domain(email),
    }
    for column, key in _TEXT_FIELDS.items():
        row[column] = _blank(text(item, key, where, _WHAT))
    created: datetime | None = timestamp(item, "createdAt", where, _WHAT)
    row.update(
        email_verified=boolean(item, "emailVerified", where, _WHAT),
        tags=string_list(item, "tags", where, _WHAT) or [],
        custom_fields=(
            None
            if custom is None
            else json.dumps(custom, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        ),
        created_at=created,
    )
    return row


def _parse(body: bytes) -> Page[list[tuple[str, dict[str, Any]]]]:
    return parse_items_page(body, _WHAT, _row)


def _check_tags(tags: str | Sequence[str] | None) -> str | None:
    if tags is None:
        return None
    values = [tags] if isinstance(tags, str) else tags
    if not isinstance(values, Sequence) or not all(isinstance(t, str) for t in values):
        raise BadRequestError(
            f"tags must be a tag name or a list of them, got {type(tags).__name__}",
            hint='Pass e.g. tags="vip" or tags=["vip", "q3"] (a lead with any of them matches).',
        )
    cleaned = sorted({t.strip() for t in values if t.strip()})
    if not cleaned or any("," in t for t in cleaned):
        raise BadRequestError(
            f"tags must be non-empty names without commas, got {values!r:.60}",
            hint="The API takes tags as a comma-separated list; pass a list of names instead.",
        )
    return ",".join(cleaned)


def load_lead_details(
    client: SendKitClient,
    *,
    tags: str | Sequence[str] | None = None,
    progress: Progress = True,
    strict: bool = True,
    deadline: float | None = None,
) -> pl.DataFrame:
    """Every workspace lead (person), one row each (schema: ``sendkit_nb.LEAD_DETAILS_SCHEMA``):
    job title, company, city/state/country, email verification, tags, custom fields.

    ``tags``: only people with any of these tags (the API's ``tags`` filter). Pages are walked
    like campaign leads (retries, rate limits, concurrent pages, de-duplication by id, the
    count checked against the API's total, see :func:`sendkit_nb.load_leads` for ``strict``,
    ``progress`` and ``deadline``). A field of the wrong type raises :class:`SchemaError`
    naming the page and field, e.g. ``page 3, data[7] (_id ...).jobTitle``.

    Join onto a campaign's leads with :func:`with_lead_details`.
    """
    check_client(client, "load_lead_details")
    tag_filter = _check_tags(tags)
    check_progress(progress)
    rows = load_list(
        client,
        "/v1/leads",
        {"tags": tag_filter},
        _parse,
        what=_WHAT,
        label="workspace leads" + (f" [{tag_filter}]" if tag_filter else ""),
        progress=progress,
        strict=strict,
        deadline=client.deadline_at(deadline),
    )
    return pl.DataFrame(rows, schema=LEAD_DETAILS_SCHEMA)


def with_lead_details(leads: pl.DataFrame, details: pl.DataFrame) -> pl.DataFrame:
    """``leads`` (campaign leads, ``LEADS_SCHEMA``) with the person's attributes joined on by
    ``lead_id``: one row per lead, in the leads' order, never more.

    Leads whose person was deleted (null ``lead_id``) or is missing from ``details`` keep null
    attributes. A person in several campaigns joins onto each of its campaign leads. Columns the
    leads frame already has keep its values; the person's version of a clashing column
    (``email``, ``first_name``, ``last_name``, ``company_name``, ``tags``: the campaign lead's
    tags are not the person's) is added with the suffix ``_details`` (e.g.
    ``company_name_details``), so nothing is overwritten and nothing is lost.
    """
    for frame, name in ((leads, "leads"), (details, "details")):
        if not isinstance(frame, pl.DataFrame) or "lead_id" not in frame.columns:
            raise BadRequestError(
                f"{name} must be a polars DataFrame with a lead_id column",
                hint="Pass sk.load_leads(...) and sk.load_lead_details(client).",
            )
    # A campaign-leads frame passed as details (the two are easily swapped) would join one of
    # the person's campaign leads onto every other as if it were the person: refused by the
    # columns only a leads frame has. A selection of the details' columns is fine.
    if {"id", "campaign_id", "emails"} <= set(details.columns):
        raise BadRequestError(
            "details is a campaign-leads frame (it has id, campaign_id and emails), not the "
            "people's details",
            hint="Pass details=sk.load_lead_details(client) (LEAD_DETAILS_SCHEMA).",
        )
    # One row per person, so the join can never multiply leads.
    people = details.filter(pl.col("lead_id").is_not_null()).unique(
        subset="lead_id", keep="first", maintain_order=True
    )
    clashing = [c for c in people.columns if c in leads.columns and c != "lead_id"]
    people = people.rename({c: c + DETAILS_SUFFIX for c in clashing})
    return leads.join(people, on="lead_id", how="left", maintain_order="left")
