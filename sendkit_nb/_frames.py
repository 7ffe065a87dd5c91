"""JSON pages -> polars frames: campaign leads, campaigns, and one row per sent email.

Bodies are parsed by polars' JSON reader against an explicit schema (no per-row Python), which
also ignores unknown fields and fills missing ones with null. When polars rejects a body, a slow
pure-Python pass finds the offending field so the error can name it.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from polars._typing import PolarsDataType

from sendkit_nb._client import SendKitClient, check_object_id
from sendkit_nb._errors import BadRequestError, PaginationError, SchemaError
from sendkit_nb._pagination import Page, Walk, walk
from sendkit_nb._progress import Progress, check_progress, progress_bar
from sendkit_nb._schema import (
    CAMPAIGN_STATUSES,
    CAMPAIGNS_SCHEMA,
    EMAILS_SCHEMA,
    LEAD_STATUSES,
    LEADS_SCHEMA,
    UTC,
)

__all__ = [
    "IncompleteLoadWarning",
    "emails",
    "leads_from_items",
    "load_campaigns",
    "load_leads",
]

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"

# The API's campaign-lead item, as far as the loader reads it (sendkit-api.md 4.6 and the seed).
_RAW_EMAIL = pl.Struct(
    {
        "sequenceStep": pl.Int64,
        "variant": pl.String,
        "sentAt": pl.String,
        "opened": pl.Boolean,
        "clicked": pl.Boolean,
        "bounced": pl.Boolean,
    }
)
_RAW_LEAD = pl.Struct(
    {
        "_id": pl.String,
        "leadId": pl.Struct(
            {
                "_id": pl.String,
                "email": pl.String,
                "firstName": pl.String,
                "lastName": pl.String,
                "companyName": pl.String,
            }
        ),
        "status": pl.String,
        "currentSequenceStep": pl.Int64,
        "emailsSent": pl.List(_RAW_EMAIL),
        "replied": pl.Boolean,
        "repliedAt": pl.String,
        "aiTag": pl.String,
        "tags": pl.List(pl.String),
        "addedAt": pl.String,
    }
)
_PAGINATION = pl.Struct(
    {
        "page": pl.Int64,
        "limit": pl.Int64,
        "total": pl.Int64,
        "pages": pl.Int64,
        "hasMore": pl.Boolean,
        "nextCursor": pl.String,
    }
)
_LEADS_PAGE = pl.Schema({"data": pl.List(_RAW_LEAD), "pagination": _PAGINATION})

# JSON type expected at each field, for naming the culprit when polars rejects a page.
_EXPECTED: dict[str, tuple[type, ...]] = {
    "_id": (str,),
    "status": (str,),
    "currentSequenceStep": (int,),
    "replied": (bool,),
    "repliedAt": (str,),
    "aiTag": (str,),
    "addedAt": (str,),
    "tags": (list,),
    "emailsSent": (list,),
    "leadId": (dict,),
}
_EXPECTED_EMAIL: dict[str, tuple[type, ...]] = {
    "sequenceStep": (int,),
    "variant": (str, int, float, bool),
    "sentAt": (str,),
    "opened": (bool,),
    "clicked": (bool,),
    "bounced": (bool,),
}
_EXPECTED_PERSON = {k: (str,) for k in ("_id", "email", "firstName", "lastName", "companyName")}


class IncompleteLoadWarning(UserWarning):
    """The number of leads loaded differs from the total the API reported, because the
    campaign changed while it was being loaded. The message carries both numbers."""


# -- parsing ----------------------------------------------------------------------------------


def _type_problem(value: Any, expected: tuple[type, ...]) -> bool:
    if value is None:
        return False
    if bool not in expected and isinstance(value, bool):
        return True  # JSON true is not a number, whatever Python thinks
    return not isinstance(value, expected)


def _find_bad_field(body: bytes) -> str:
    """Name the first field whose JSON type the schema cannot take, e.g.
    ``data[3].emailsSent[0].opened: expected boolean, got 'yes'``."""
    doc = json.loads(body)
    items = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return "data: expected a list of campaign leads"
    names = {bool: "boolean", int: "integer", str: "string", list: "list", dict: "object"}

    def describe(where: str, value: Any, expected: tuple[type, ...]) -> str:
        return (
            f"{where}: expected {names.get(expected[0], expected[0].__name__)}, got {value!r:.60}"
        )

    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return f"data[{i}]: expected an object, got {item!r:.60}"
        for key, expected in _EXPECTED.items():
            if _type_problem(item.get(key), expected):
                return describe(f"data[{i}].{key}", item[key], expected)
        person = item.get("leadId") or {}
        for key, expected in _EXPECTED_PERSON.items():
            if _type_problem(person.get(key), expected):
                return describe(f"data[{i}].leadId.{key}", person[key], expected)
        for tag_index, tag in enumerate(item.get("tags") or []):
            if _type_problem(tag, (str,)):
                return describe(f"data[{i}].tags[{tag_index}]", tag, (str,))
        for j, sent in enumerate(item.get("emailsSent") or []):
            if not isinstance(sent, dict):
                return f"data[{i}].emailsSent[{j}]: expected an object, got {sent!r:.60}"
            for key, expected in _EXPECTED_EMAIL.items():
                if _type_problem(sent.get(key), expected):
                    return describe(f"data[{i}].emailsSent[{j}].{key}", sent[key], expected)
    return "a field of unexpected type"


def parse_leads_page(body: bytes) -> Page[pl.DataFrame]:
    """Parse one ``GET /v1/campaigns/{id}/leads`` body into a one-row frame whose ``data``
    column holds the page's raw lead structs (exploded once, after the last page: per page it
    would cost as much again as the parse).

    Raises ValueError for a body that is not JSON (the client retries those) and SchemaError
    naming the field for JSON of the wrong shape.
    """
    try:
        frame = pl.read_json(io.BytesIO(body), schema=_LEADS_PAGE)
    except pl.exceptions.PolarsError as exc:
        try:
            problem = _find_bad_field(body)
        except ValueError:
            raise ValueError("response body is not JSON") from exc
        raise SchemaError(f"unexpected type in the leads response: {problem}") from exc
    if frame.height != 1:
        raise SchemaError("unexpected leads response: not one JSON object")
    # Plain Series access: each polars expression costs ~0.2 ms, which adds up over 1,000 pages.
    inner = frame.get_column("data")[0]
    ids = inner.struct.field("_id") if inner is not None else pl.Series(dtype=pl.String)
    pagination = frame.get_column("pagination")[0] or {}
    return Page(
        items=frame.select("data"),
        count=len(ids),
        first_id=ids[0] if len(ids) else None,
        last_id=ids[-1] if len(ids) else None,
        pagination={k: v for k, v in pagination.items() if v is not None},
    )


def _explode_pages(pages: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """One-row page frames -> one row per raw lead (items without an ``_id`` are dropped)."""
    if not pages:
        return pl.DataFrame(schema=_RAW_LEAD.to_schema())
    stacked = pl.concat(pages, how="vertical", rechunk=False)
    return (
        stacked.select(pl.col("data").explode()).unnest("data").filter(pl.col("_id").is_not_null())
    )


def _timestamp(expr: pl.Expr, name: str) -> pl.Expr:
    return expr.str.to_datetime(_TS_FORMAT, time_unit="us", time_zone="UTC", strict=False).alias(
        name
    )


def _raw_to_leads(raw: pl.DataFrame, campaign_id: str) -> pl.DataFrame:
    """Raw lead structs (API field names) -> the documented LEADS_SCHEMA frame."""
    person = pl.col("leadId").struct
    sent = pl.element().struct
    leads = raw.select(
        pl.lit(campaign_id, pl.String).alias("campaign_id"),
        pl.col("_id").alias("id"),
        person.field("_id").alias("lead_id"),
        person.field("email").alias("email"),
        person.field("firstName").alias("first_name"),
        person.field("lastName").alias("last_name"),
        person.field("companyName").alias("company_name"),
        pl.col("status"),
        pl.col("currentSequenceStep").cast(pl.Int32).alias("current_step"),
        pl.col("replied").fill_null(False),
        _timestamp(pl.col("repliedAt"), "replied_at"),
        pl.col("aiTag").alias("ai_tag"),
        pl.col("tags").fill_null([]),
        _timestamp(pl.col("addedAt"), "added_at"),
        pl.col("emailsSent")
        .fill_null([])
        .list.eval(
            pl.struct(
                sent.field("sequenceStep").cast(pl.Int32).alias("step"),
                sent.field("variant").alias("variant"),
                _timestamp(sent.field("sentAt"), "sent_at"),
                sent.field("opened").fill_null(False).alias("opened"),
                sent.field("clicked").fill_null(False).alias("clicked"),
                sent.field("bounced").fill_null(False).alias("bounced"),
            )
        )
        .alias("emails"),
    )
    _check_values(raw, leads)
    return leads.with_columns(pl.col("status").cast(LEADS_SCHEMA["status"])).cast(
        dict(LEADS_SCHEMA)  # type: ignore[arg-type]
    )


def _check_values(raw: pl.DataFrame, leads: pl.DataFrame) -> None:
    """Values the schema admits by type but the loader cannot accept: unknown statuses and
    timestamps that do not parse. Raise SchemaError naming the field and an example."""
    unknown = leads.filter(~pl.col("status").is_in(LEAD_STATUSES) | pl.col("status").is_null())
    if unknown.height:
        bad = unknown["status"].unique().to_list()
        raise SchemaError(
            f"field `status` has values the loader does not know: {bad!r:.120} "
            f"(known: {', '.join(LEAD_STATUSES)})"
        )
    for api_name, column in (("repliedAt", "replied_at"), ("addedAt", "added_at")):
        broken = raw.filter(pl.col(api_name).is_not_null() & leads[column].is_null())
        if broken.height:
            raise SchemaError(
                f"field `{api_name}` is not an ISO-8601 time: {broken[api_name][0]!r}"
            )
    sent_raw = raw.select(pl.col("emailsSent").explode().struct.field("sentAt"))
    sent_parsed = leads.select(pl.col("emails").explode().struct.field("sent_at"))
    broken_sent = sent_raw.filter(pl.col("sentAt").is_not_null() & sent_parsed["sent_at"].is_null())
    if broken_sent.height:
        raise SchemaError(
            f"field `emailsSent[].sentAt` is not an ISO-8601 time: {broken_sent['sentAt'][0]!r}"
        )


def leads_from_items(items: Iterable[dict[str, Any]], campaign_id: str) -> pl.DataFrame:
    """Build the leads frame from campaign-lead items already in memory (raw API dicts).

    >>> item = {"_id": "666a1b2c3d4e5f6a7b8c9d01", "leadId": None, "status": "pending"}
    >>> leads = leads_from_items([item], "665a1b2c3d4e5f6a7b8c9d0e")
    >>> leads.select("id", "lead_id", "status").row(0)
    ('666a1b2c3d4e5f6a7b8c9d01', None, 'pending')
    """
    body = json.dumps({"data": list(items), "pagination": {}}).encode()
    return _raw_to_leads(_explode_pages([parse_leads_page(body).items]), campaign_id)


# -- loading ----------------------------------------------------------------------------------


def _check_statuses(status: str | Sequence[str] | None) -> list[str] | None:
    if status is None:
        return None
    wanted = [status] if isinstance(status, str) else list(status)
    unknown = [s for s in wanted if s not in LEAD_STATUSES]
    if unknown or not wanted:
        raise BadRequestError(
            f"unknown lead status {unknown or wanted!r}",
            hint=f"Use one or several of: {', '.join(LEAD_STATUSES)}.",
        )
    return wanted


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise BadRequestError(
            f"limit must be an integer from 1 to 100, got {limit!r}",
            hint="The API serves at most 100 items a page; 100 is fastest.",
        )
    return limit


def load_leads(
    client: SendKitClient,
    campaign_id: str,
    status: str | Sequence[str] | None = None,
    *,
    progress: Progress = True,
    limit: int = 100,
    by_cursor: bool = False,
) -> pl.DataFrame:
    """Every lead of a campaign, one row each (schema: ``sendkit_nb.LEADS_SCHEMA``).

    ``status`` takes one lead status or several. Pages are fetched concurrently where the API
    numbers them, sequentially by cursor otherwise (or with ``by_cursor=True``). Leads are
    de-duplicated by ``id``. If the campaign changes during the load so that the count differs
    from the API's total, the load is walked again by cursor; if it still differs an
    :class:`IncompleteLoadWarning` gives both numbers. Raises a :class:`SendKitError` subclass
    on any failure, so a returned frame is never silently short.

    ``progress``: True for a progress bar (tqdm: a widget in Jupyter, text in a terminal),
    False for none, or a function called after every page with the number of leads loaded so
    far and the total the API announced (None if it gives none); each walk (one per status,
    and the re-walk by cursor) counts from zero.
    """
    check_object_id(campaign_id)
    statuses = _check_statuses(status)
    _check_limit(limit)
    check_progress(progress)
    frames = [
        _load_status(client, campaign_id, one, progress=progress, limit=limit, by_cursor=by_cursor)
        for one in (statuses if statuses else [None])
    ]
    # A lead can only be in one status, but the campaign may change between the walks.
    raw = _drop_repeats(pl.concat(frames, how="vertical")) if len(frames) > 1 else frames[0]
    return _raw_to_leads(raw, campaign_id)


def _load_status(
    client: SendKitClient,
    campaign_id: str,
    status: str | None,
    *,
    progress: Progress,
    limit: int,
    by_cursor: bool,
) -> pl.DataFrame:
    path = f"/v1/campaigns/{campaign_id}/leads"
    label = f"leads {campaign_id[-6:]}" + (f" [{status}]" if status else "")
    walked = _walk_leads(client, path, status, label, progress, limit, by_cursor)
    raw = _unique_items(walked)
    if walked.total is not None and raw.height != walked.total and not by_cursor:
        # Page numbers shift when leads are added or removed mid-load; a cursor walk does not.
        try:
            again = _walk_leads(
                client, path, status, label + " (again, by cursor)", progress, limit, True
            )
        except PaginationError:
            pass  # a server without cursors: keep the first walk, and the warning says so
        else:
            if again.mode == "cursor":
                walked, raw = again, _unique_items(again)
    if walked.total is not None and raw.height != walked.total:
        warnings.warn(
            f"loaded {raw.height} leads of campaign {campaign_id}"
            f"{f' with status {status}' if status else ''} but the API reports a total of "
            f"{walked.total}: the campaign changed while loading",
            IncompleteLoadWarning,
            stacklevel=3,
        )
    return raw


def _walk_leads(
    client: SendKitClient,
    path: str,
    status: str | None,
    label: str,
    progress: Progress,
    limit: int,
    by_cursor: bool,
) -> Walk[pl.DataFrame]:
    with progress_bar(label, progress) as bar:
        return walk(
            client,
            path,
            {"status": status},
            parse_leads_page,
            limit=limit,
            by_cursor=by_cursor,
            on_page=bar.page,
        )


def _unique_items(walked: Walk[pl.DataFrame]) -> pl.DataFrame:
    return _drop_repeats(_explode_pages([page.items for page in walked.pages]))


def _drop_repeats(raw: pl.DataFrame) -> pl.DataFrame:
    """Keep the first row of each lead ``_id`` (pages can overlap when leads shift)."""
    if raw["_id"].n_unique() == raw.height:
        return raw  # the usual case, and much cheaper to check than to de-duplicate
    return raw.unique(subset="_id", keep="first", maintain_order=True)


def emails(leads: pl.DataFrame) -> pl.DataFrame:
    """One row per sent email (schema ``sendkit_nb.EMAILS_SCHEMA``) from a leads frame.

    >>> import sendkit_nb as sk
    >>> sk.emails(sk.leads_from_items([], "665a1b2c3d4e5f6a7b8c9d0e")).columns[:4]
    ['campaign_id', 'id', 'lead_id', 'email']
    """
    missing = [
        c
        for c in ("campaign_id", "id", "lead_id", "email", "status", "emails")
        if c not in leads.columns
    ]
    if missing:
        raise BadRequestError(
            f"not a leads frame: missing columns {missing}",
            hint="Pass the frame returned by load_leads().",
        )
    return (
        leads.select("campaign_id", "id", "lead_id", "email", "status", "emails")
        .explode("emails", empty_as_null=False, keep_nulls=False)
        .unnest("emails")
        .select(list(EMAILS_SCHEMA))
    )


# -- campaigns ----------------------------------------------------------------------------


def _parse_json_page(body: bytes) -> Page[list[dict[str, Any]]]:
    doc = json.loads(body)
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise SchemaError("unexpected campaigns response: no `data` list")
    items = [item for item in doc["data"] if isinstance(item, dict)]
    ids = [str(item.get("_id")) for item in items]
    return Page(
        items=items,
        count=len(items),
        first_id=ids[0] if ids else None,
        last_id=ids[-1] if ids else None,
        pagination=doc.get("pagination") or {},
    )


def list_campaigns(
    client: SendKitClient, status: str | None = None, search: str | None = None
) -> list[dict[str, Any]]:
    """Every campaign (raw API dicts), all pages, optionally filtered by ``status``/``search``."""
    if status is not None and status not in CAMPAIGN_STATUSES:
        raise BadRequestError(
            f"unknown campaign status {status!r}",
            hint=f"Use one of: {', '.join(CAMPAIGN_STATUSES)}.",
        )
    walked = walk(
        client, "/v1/campaigns", {"status": status, "search": search}, _parse_json_page, limit=100
    )
    seen: dict[str, dict[str, Any]] = {}
    for page in walked.pages:
        for item in page.items:
            seen.setdefault(str(item.get("_id")), item)
    return list(seen.values())


def campaigns_frame(items: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """Campaign dicts (list or detail shape) -> one row per campaign (``CAMPAIGNS_SCHEMA``)."""
    rows = []
    for item in items:
        sequence = [
            {
                "order": step.get("order"),
                "type": step.get("type"),
                "name": step.get("name"),
                "subject": step.get("subject"),
                "wait_days": step.get("waitDays"),
            }
            for step in item.get("sequence") or []
            if isinstance(step, dict)
        ]
        rows.append(
            {
                "campaign_id": item.get("_id"),
                "name": item.get("name"),
                "status": item.get("status"),
                "sequence": sequence,
                "created_at": item.get("createdAt"),
                "started_at": item.get("startedAt"),
                "completed_at": item.get("completedAt"),
            }
        )
    string_times: dict[str, PolarsDataType] = {
        **CAMPAIGNS_SCHEMA,
        "created_at": pl.String,
        "started_at": pl.String,
        "completed_at": pl.String,
    }
    try:
        frame = pl.DataFrame(rows, schema=string_times, strict=False)
    except (pl.exceptions.PolarsError, TypeError) as exc:
        raise SchemaError(f"unexpected campaign shape: {exc}") from exc
    return frame.with_columns(
        _timestamp(pl.col(c), c) for c in ("created_at", "started_at", "completed_at")
    ).cast({c: UTC for c in ("created_at", "started_at", "completed_at")})


def load_campaigns(
    client: SendKitClient, status: str | None = None, search: str | None = None
) -> pl.DataFrame:
    """Every campaign of the workspace, one row each, with its ``sequence`` steps.

    Filters: ``status`` (draft, active, paused, completed, archived) and ``search`` (name).
    """
    return campaigns_frame(list_campaigns(client, status=status, search=search))
