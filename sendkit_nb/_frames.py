"""JSON pages -> polars frames: campaign leads, campaigns, and one row per sent email.

Lead pages are parsed by polars' JSON reader against an explicit schema (no per-row Python),
which also ignores unknown fields and fills missing ones with null. Each page is parsed in the
thread that fetched it and its body dropped; its rows are taken in list order and converted to
the final ``LEADS_SCHEMA`` a block of a few thousand leads at a time (one conversion costs
about as much on 100 rows as on 5,000), so a load holds about its result, not every page
until the last one, and the frame comes out in one chunk per block.

Times in the API's own form are read with a fixed-width format, six times faster than the
general ISO-8601 one; a block holding a time in any other form is converted again with the
general format, so the faster path changes no result.

A blank (``""``, and only that: text of spaces is kept as sent) is no value, like null, in
every optional field of a lead: the text columns and each email's ``variant`` turn it into
null in the same select (a cheap comparison, no extra pass), and ``tags`` drops blank and null
entries. A blank object, list or boolean (``leadId: ""``) is one the reader rejects, so only a
page holding one pays for turning it into null (below).

Both steps are strict, so good rows are checked by converting them and nothing more: when the
reader rejects a body, a slow pure-Python pass turns its blank objects, lists and booleans into
null and reads it again, or else finds the field of the wrong JSON type; when the conversion
rejects a value the reader admitted (an unknown status, a step that is not an integer within
Int32, a time that does not parse or has no UTC offset), a slow pass over the page's columns
finds it. Either way the error names it, e.g. ``data[3].emailsSent[0].opened``.
"""

from __future__ import annotations

import functools
import io
import json
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

import polars as pl
from polars._typing import PolarsDataType

from sendkit_nb._checks import (
    check_campaign_label,
    check_frame,
    check_object_id,
    check_statuses,
    check_text,
    shown,
)
from sendkit_nb._client import SendKitClient, check_client
from sendkit_nb._envelope import no_data as _no_data
from sendkit_nb._envelope import parse_list_page
from sendkit_nb._errors import BadRequestError, IncompleteLoadError, PaginationError, SchemaError
from sendkit_nb._pagination import Page, Walk, walk
from sendkit_nb._progress import Progress, check_progress, progress_bar
from sendkit_nb._schema import (
    CAMPAIGN_STATUSES,
    CAMPAIGNS_SCHEMA,
    EMAILS_SCHEMA,
    LEAD_STATUSES,
    LEADS_SCHEMA,
    LeadStatus,
)

__all__ = [
    "IncompleteLoadWarning",
    "emails",
    "leads_from_items",
    "load_campaigns",
    "load_leads",
]

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"
# The form the API writes every time in (2025-06-03T08:23:57.452Z). polars reads a fixed-width
# format like this one six times faster than the general format above (0.05 against 0.33 us a
# value); a page carries a few hundred times, which were four fifths of the cost of converting
# it. The pattern admits exactly this form, so the fixed format only ever sees text that the
# general one reads to the same instant (checked against it on a million mutated times).
_API_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%3fZ"
_API_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

# The API's campaign-lead item, as far as the loader reads it (sendkit-api.md 4.6 and the seed).
# Integers are read as text and cast to Int32 strictly, which rejects in one step what polars'
# Int64 reader would let through silently: 1.5 (truncated), true (read as 1) and numbers beyond
# Int64 (read as null). The reader writes 1e3 and 2.0 as "1000" and "2".
_RAW_EMAIL = pl.Struct(
    {
        "sequenceStep": pl.String,
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
        "currentSequenceStep": pl.String,
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

# JSON types each field takes, for naming the culprit when polars rejects a page. Text columns
# take any JSON scalar (polars writes numbers and booleans as text); the value checks come later.
_TEXT: tuple[type, ...] = (str, int, float, bool)
_INTEGER: tuple[type, ...] = (int, float, str, bool)  # read as text, then checked by the cast
_EXPECTED: dict[str, tuple[type, ...]] = {
    "_id": _TEXT,
    "status": _TEXT,
    "currentSequenceStep": _INTEGER,
    "replied": (bool,),
    "repliedAt": _TEXT,
    "aiTag": _TEXT,
    "addedAt": _TEXT,
    "tags": (list,),
    "emailsSent": (list,),
    "leadId": (dict,),
}
_EXPECTED_EMAIL: dict[str, tuple[type, ...]] = {
    "sequenceStep": _INTEGER,
    "variant": _TEXT,
    "sentAt": _TEXT,
    "opened": (bool,),
    "clicked": (bool,),
    "bounced": (bool,),
}
_EXPECTED_PERSON = {k: _TEXT for k in ("_id", "email", "firstName", "lastName", "companyName")}
_EXPECTED_PAGINATION: dict[str, tuple[type, ...]] = {
    "page": (int,),
    "limit": (int,),
    "total": (int,),
    "pages": (int,),
    "hasMore": (bool,),
    "nextCursor": (str, int),
}
_JSON_NAMES = {bool: "boolean", int: "integer", str: "string", list: "list", dict: "object"}


class IncompleteLoadWarning(UserWarning):
    """With ``strict=False``: the number of leads loaded differs from the total the API
    reported, even after walking the campaign again by cursor. The message carries both."""


# -- naming what is wrong ---------------------------------------------------------------------


def _not_json_number(value: Any) -> bool:
    """NaN and ±Infinity: Python's JSON reader takes them, JSON and polars' reader do not."""
    return isinstance(value, float) and not math.isfinite(value)


def _type_problem(value: Any, expected: tuple[type, ...]) -> bool:
    if value is None:
        return False
    if bool not in expected and isinstance(value, bool):
        return True  # JSON true is not a number, whatever Python thinks
    return _not_json_number(value) or not isinstance(value, expected)


def _shown(value: Any) -> str:
    """A value as the body wrote it, for messages: NaN and Infinity as JSON-like tokens (Python
    would say nan and inf), anything else as its repr, cut to 60 characters."""
    if _not_json_number(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return f"{value!r:.60}"


def _describe(where: str, value: Any, expected: tuple[type, ...]) -> str:
    wanted = _JSON_NAMES.get(expected[0], expected[0].__name__)
    return f"{where}: expected {wanted}, got {_shown(value)}"


def _first_not_json_number(value: Any, where: str) -> str | None:
    """``where: expected a JSON number, got NaN`` for the first NaN or ±Infinity anywhere in
    ``value`` (unknown fields too: the reader rejects the whole body for one), or None."""
    if _not_json_number(value):
        return f"{where}: expected a JSON number, got {_shown(value)}"
    if isinstance(value, dict):
        children: Iterable[tuple[str, Any]] = (
            (f"{where}.{k}" if where else str(k), v) for k, v in value.items()
        )
    elif isinstance(value, list):
        children = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for path, child in children:
        found = _first_not_json_number(child, path)
        if found is not None:
            return found
    return None


#: Fields of a lead (and of each of its emails) whose JSON type has no blank form of its own:
#: a ``""`` there is read as null, as the README promises for every optional field. The
#: reader rejects a page holding one, so well-formed pages never pay for this.
_BLANK_AS_NULL = ("leadId", "emailsSent", "replied", "tags")
_BLANK_AS_NULL_EMAIL = ("opened", "clicked", "bounced")


def _blank_containers_as_null(doc: Any) -> bool:
    """Set to None, in place, every ``""`` the reader would reject only for its type (an
    object, list or boolean field of a lead or an email, or an email item); whether any was."""
    items = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return False
    changed = False
    for item in items:
        if not isinstance(item, dict):
            continue
        for key in _BLANK_AS_NULL:
            if item.get(key) == "":
                item[key] = None
                changed = True
        sent = item.get("emailsSent")
        if not isinstance(sent, list):
            continue
        for j, email in enumerate(sent):
            if email == "":
                sent[j] = None
                changed = True
            elif isinstance(email, dict):
                for key in _BLANK_AS_NULL_EMAIL:
                    if email.get(key) == "":
                        email[key] = None
                        changed = True
    return changed


def _find_bad_field(doc: Any) -> str:
    """Name the first field of a parsed body whose JSON type the schema cannot take, e.g.
    ``data[3].emailsSent[0].opened: expected boolean, got 'yes'``."""
    if not isinstance(doc, dict):
        return f"the body is not a JSON object: {doc!r:.60}"
    pagination = doc.get("pagination")
    if pagination is None:
        pagination = {}
    elif not isinstance(pagination, dict):
        return _describe("pagination", pagination, (dict,))
    for key, expected in _EXPECTED_PAGINATION.items():
        if _type_problem(pagination.get(key), expected):
            return _describe(f"pagination.{key}", pagination[key], expected)
    items = doc.get("data")
    if not isinstance(items, list):
        return "data: expected a list of campaign leads"
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            return _describe(f"data[{i}]", item, (dict,))
        for key, expected in _EXPECTED.items():
            if _type_problem(item.get(key), expected):
                return _describe(f"data[{i}].{key}", item[key], expected)
        person = item.get("leadId") or {}
        for key, expected in _EXPECTED_PERSON.items():
            if _type_problem(person.get(key), expected):
                return _describe(f"data[{i}].leadId.{key}", person[key], expected)
        for tag_index, tag in enumerate(item.get("tags") or []):
            if _type_problem(tag, _TEXT):
                return _describe(f"data[{i}].tags[{tag_index}]", tag, _TEXT)
        for j, sent in enumerate(item.get("emailsSent") or []):
            if not isinstance(sent, dict):
                return _describe(f"data[{i}].emailsSent[{j}]", sent, (dict,))
            for key, expected in _EXPECTED_EMAIL.items():
                if _type_problem(sent.get(key), expected):
                    return _describe(f"data[{i}].emailsSent[{j}].{key}", sent[key], expected)
    return _first_not_json_number(doc, "") or "a field of unexpected type"


def _first(bad: pl.Series) -> int | None:
    """The index of the first true value of ``bad`` (nulls count as false), or None."""
    hits = bad.fill_null(False).arg_true()
    return int(hits[0]) if hits.len() else None


def _not_int32(values: pl.Series) -> pl.Series:
    """True where a non-blank text is not an integer within Int32 (a blank is no value)."""
    exact = values.cast(pl.Int32, strict=False)
    return values.is_not_null() & (values != "") & exact.is_null()


_TIME = "an ISO-8601 time"


def _no_offset(value: Any) -> bool:
    """Whether ``value`` is an ISO-8601 date and time without a UTC offset, which the loader
    rejects rather than guess a zone for: the API writes every time with ``Z``."""
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
        return False  # a date alone lacks more than an offset
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).tzinfo is None
    except ValueError:
        return False


def _unexpected(where: str, wanted: str, value: Any) -> str:
    """``where: expected wanted, got value``, saying why when a time lacks only its offset."""
    message = f"{where}: expected {wanted}, got {value!r:.60}"
    if wanted == _TIME and _no_offset(value):
        message += " (no UTC offset: the time needs a Z or ±hh:mm to say which instant it is)"
    return message


def _not_time(values: pl.Series) -> pl.Series:
    """True where a non-blank text is not an ISO-8601 time (a blank is no time, like null)."""
    parsed = values.str.to_datetime(_TS_FORMAT, time_unit="us", time_zone="UTC", strict=False)
    return values.is_not_null() & (values != "") & parsed.is_null()


# What each checked field must hold, and the test for values that do not.
_VALUE_CHECKS: tuple[tuple[str, str, Callable[[pl.Series], pl.Series]], ...] = (
    ("currentSequenceStep", "an integer within Int32", _not_int32),
    ("repliedAt", _TIME, _not_time),
    ("addedAt", _TIME, _not_time),
)
_EMAIL_VALUE_CHECKS: tuple[tuple[str, str, Callable[[pl.Series], pl.Series]], ...] = (
    ("sequenceStep", "an integer within Int32", _not_int32),
    ("sentAt", _TIME, _not_time),
)


def _bad_value(raw: pl.DataFrame) -> str | None:
    """The slow path, run only when the strict conversion of a page failed: name the first
    value of a type the reader admits that the loader cannot use (an unknown status, a step
    that is not an integer within Int32, a time that does not parse), e.g.
    ``data[3].emailsSent[0].sequenceStep: expected an integer within Int32, got '1.5'``.
    None when there is none (the failure was a blank, which the lenient pass admits)."""
    status = raw.get_column("status")
    i = _first(status.is_not_null() & ~status.is_in(LEAD_STATUSES))
    if i is not None:
        known = ", ".join(LEAD_STATUSES)
        return f"data[{i}].status: expected one of {known}, got {status[i]!r:.60}"
    for field, wanted, bad in _VALUE_CHECKS:
        values = raw.get_column(field)
        i = _first(bad(values))
        if i is not None:
            return _unexpected(f"data[{i}].{field}", wanted, values[i])
    # One row per email, with its lead's index and its own (null and empty lists give rows of
    # nulls, which no check flags).
    sent = (
        raw.select(pl.int_range(pl.len()).alias("_lead"), "emailsSent")
        .explode("emailsSent")
        .with_columns(pl.int_range(pl.len()).over("_lead").alias("_email"))
        .unnest("emailsSent")
    )
    for field, wanted, bad in _EMAIL_VALUE_CHECKS:
        values = sent.get_column(field)
        k = _first(bad(values))
        if k is not None:
            where = f"data[{sent['_lead'][k]}].emailsSent[{sent['_email'][k]}].{field}"
            return _unexpected(where, wanted, values[k])
    return None


# -- converting one page ------------------------------------------------------------------------


def _blank_as_null(expr: pl.Expr) -> pl.Expr:
    """Text with ``""`` as null: a blank is no value, as the README promises. Only the empty
    string: whitespace is kept as sent, as in a step or a time (where it is an error), and
    testing for it would cost ten times as much a column. Cheaper than ``replace("", None)``
    (0.19 against 0.21 ms a 100k-value column), and no separate pass: it runs in the same
    select as the rest of the conversion."""
    return pl.when(expr != "").then(expr)


def _to_int32(expr: pl.Expr, name: str, *, strict: bool) -> pl.Expr:
    """A JSON integer (read as text) -> Int32. Lenient: a blank ``""`` is no value, like null,
    and what does not fit becomes null too (so check with :func:`_not_int32` first)."""
    given = expr if strict else _blank_as_null(expr)
    return given.cast(pl.Int32, strict=strict).alias(name)


def _to_time(expr: pl.Expr, name: str, *, strict: bool) -> pl.Expr:
    """A JSON time string -> UTC datetime. Lenient: a blank ``""`` is no time, like null, and
    what does not parse becomes null too (so check with :func:`_not_time` first)."""
    given = expr if strict else _blank_as_null(expr)
    return given.str.to_datetime(_TS_FORMAT, time_unit="us", time_zone="UTC", strict=strict).alias(
        name
    )


def _to_api_time(expr: pl.Expr, name: str) -> pl.Expr:
    """A JSON time string in the API's own form (see :data:`_API_TIME_FORMAT`) -> UTC
    datetime; null for anything else, which :func:`_times_all_read` then notices."""
    parsed = expr.str.to_datetime(
        _API_TIME_FORMAT, time_unit="us", time_zone="UTC", strict=False, cache=False
    )
    return pl.when(expr.str.contains(_API_TIME_PATTERN)).then(parsed).alias(name)


def _lead_columns(*, strict: bool, api_times: bool = False) -> tuple[pl.Expr, ...]:
    """Every column of LEADS_SCHEMA but campaign_id, from the raw lead fields.

    Strict: any value that does not fit (an unknown status, a step that is not an integer
    within Int32, a time that does not parse, a blank step or time) fails the whole select,
    so the usual page converts with no separate pass over its values to check them. Lenient:
    blanks become null and nothing fails; used only after :func:`_bad_value` found no problem.
    ``api_times`` (with strict): times are read only in the API's own form, and any other
    becomes null instead of failing; the caller checks that none did (:func:`_to_leads`).
    In all three, blank text is null and ``tags`` keeps no blank or null entry: those are
    never errors, so they cost no second conversion.
    """
    step = functools.partial(_to_int32, strict=strict)
    time = _to_api_time if api_times else functools.partial(_to_time, strict=strict)
    person = pl.col("leadId").struct
    sent = pl.element().struct
    return (
        pl.col("_id").alias("id"),
        _blank_as_null(person.field("_id")).alias("lead_id"),
        _blank_as_null(person.field("email")).alias("email"),
        _blank_as_null(person.field("firstName")).alias("first_name"),
        _blank_as_null(person.field("lastName")).alias("last_name"),
        _blank_as_null(person.field("companyName")).alias("company_name"),
        pl.col("status").cast(LeadStatus, strict=strict),
        step(pl.col("currentSequenceStep"), "current_step"),
        pl.col("replied").fill_null(False),
        time(pl.col("repliedAt"), "replied_at"),
        _blank_as_null(pl.col("aiTag")).alias("ai_tag"),
        # A blank or null tag names no tag; drop it rather than count it as one.
        pl.col("tags").list.filter(pl.element() != "").fill_null([]),
        time(pl.col("addedAt"), "added_at"),
        pl.col("emailsSent")
        .fill_null([])
        .list.eval(
            pl.struct(
                step(sent.field("sequenceStep"), "step"),
                _blank_as_null(sent.field("variant")).alias("variant"),
                time(sent.field("sentAt"), "sent_at"),
                sent.field("opened").fill_null(False).alias("opened"),
                sent.field("clicked").fill_null(False).alias("clicked"),
                sent.field("bounced").fill_null(False).alias("bounced"),
            )
        )
        .alias("emails"),
    )


_Conversion = Literal["api_times", "strict", "lenient"]
_COLUMNS: dict[_Conversion, tuple[pl.Expr, ...]] = {
    "api_times": _lead_columns(strict=True, api_times=True),
    "strict": _lead_columns(strict=True),
    "lenient": _lead_columns(strict=False),
}


@functools.lru_cache(maxsize=64)
def _columns_for(campaign_id: str, conversion: _Conversion) -> tuple[pl.Expr, ...]:
    # Built once per campaign: pl.lit alone costs about a tenth of a page's conversion.
    campaign = pl.lit(campaign_id, pl.String).alias("campaign_id")
    return (campaign, *_COLUMNS[conversion])


def _times_all_read(raw: pl.DataFrame, leads: pl.DataFrame) -> bool:
    """Whether every time of ``raw`` came out of the ``api_times`` conversion as a time: the
    same number of nulls in each time column before and after. Counting nulls is cheap; the
    emails' times are counted over all the emails at once (``raw`` holds no null email, see
    :func:`_without_null_emails`, and the conversion keeps every list's length)."""
    pairs = (("repliedAt", "replied_at"), ("addedAt", "added_at"))
    if any(raw.get_column(a).null_count() != leads.get_column(b).null_count() for a, b in pairs):
        return False
    sent = raw.get_column("emailsSent").explode(empty_as_null=False, keep_nulls=False)
    emails = leads.get_column("emails").explode(empty_as_null=False, keep_nulls=False)
    return sent.struct.field("sentAt").null_count() == emails.struct.field("sent_at").null_count()


def _without_null_emails(raw: pl.DataFrame) -> pl.DataFrame:
    """``raw`` with the null items (null or blank in the body) left out of each lead's
    ``emailsSent``: such an item is no email, and kept it would count as a send. Rare, so
    looked for first (a tenth of a millisecond a block); dropping them costs a few ms."""
    sent = raw.get_column("emailsSent")
    if not sent.explode(empty_as_null=False, keep_nulls=False).null_count():
        return raw
    return raw.with_columns(sent.list.drop_nulls())


def _to_leads(raw: pl.DataFrame, campaign_id: str) -> pl.DataFrame:
    """Raw lead rows (API field names; one page or a block of pages) -> a LEADS_SCHEMA frame,
    or SchemaError naming the value that does not fit (its index counts from ``raw``'s first
    row)."""
    rows = _without_null_emails(raw)
    # Usually one select. On a block of a few thousand rows, run on this thread: polars' fixed cost
    # per hand-off to its thread pool outweighs what the pool gains on so few rows.
    # leads_from_items may be given many more rows, which do gain from the pool.
    select = rows.select if rows.height > 10_000 else rows.select_seq
    try:
        leads = select(_columns_for(campaign_id, "api_times"))
    except pl.exceptions.PolarsError:
        pass  # a value that does not fit: the strict conversion below fails too, and says why
    else:
        if _times_all_read(rows, leads):
            return leads
        # A time in another form (an offset, more digits, a blank, or not a time at all): the
        # general conversion reads or rejects it.
    try:
        return select(_columns_for(campaign_id, "strict"))
    except pl.exceptions.PolarsError as exc:
        try:
            problem = _bad_value(raw)  # on raw: indexes as the API numbers its items
            if problem is None:
                return select(_columns_for(campaign_id, "lenient"))
        except pl.exceptions.PolarsError as again:  # not expected: nothing above is strict
            problem = str(again)
        raise SchemaError(f"unexpected value in the leads response: {problem}") from exc


class _PageLeads:
    """One page's raw lead rows (API field names, as the JSON reader typed them) until the
    loader takes them (:class:`_Blocks`): the walk keeps every page to the end for its count
    and ids, but not its rows."""

    __slots__ = ("_raw",)

    def __init__(self, raw: pl.DataFrame) -> None:
        self._raw: pl.DataFrame | None = raw

    def take(self) -> pl.DataFrame:
        raw, self._raw = self._raw, None
        if raw is None:
            raise RuntimeError("a page's leads were taken twice")  # a loader bug, not the API's
        return raw


def _read_rejected_page(body: bytes, exc: pl.exceptions.PolarsError) -> pl.DataFrame:
    """The slow path, for a body the reader rejected (``exc``): read it again with its blank
    objects, lists and booleans as null (:func:`_blank_containers_as_null`), if it has any;
    otherwise ValueError for a body that is not JSON, or SchemaError naming the field of the
    wrong type."""
    try:
        doc = json.loads(body)
    except ValueError:  # also a body that is not UTF-8
        raise ValueError("response body is not JSON") from exc
    if _blank_containers_as_null(doc):
        try:
            return pl.read_json(io.BytesIO(json.dumps(doc).encode()), schema=_LEADS_PAGE)
        except pl.exceptions.PolarsError:
            pass  # something else is wrong too: named below
    raise SchemaError(f"unexpected type in the leads response: {_find_bad_field(doc)}") from exc


def parse_leads_page(body: bytes) -> Page[_PageLeads]:
    """Parse one ``GET /v1/campaigns/{id}/leads`` body into its raw lead rows.

    Runs in the fetching thread (``client.request`` calls it), so a load never holds a raw
    body, and a body that is not JSON is fetched again. Raises ValueError for a body that is
    not JSON (the client retries those) and SchemaError naming the field for JSON of the wrong
    shape, or a lead without ``_id`` or ``status``. The values are checked when the rows are
    converted (:func:`_to_leads`, on a block of pages: that costs a quarter of what it costs
    page by page).
    """
    try:
        frame = pl.read_json(io.BytesIO(body), schema=_LEADS_PAGE)
    except pl.exceptions.PolarsError as exc:
        frame = _read_rejected_page(body, exc)
    if frame.height != 1:
        raise SchemaError("unexpected leads response: not one JSON object")
    # Plain Series access: each polars call costs a fixed ~0.05 ms, which adds up over 1,000
    # pages.
    pagination = {
        k: v for k, v in (frame.get_column("pagination")[0] or {}).items() if v is not None
    }
    data = frame.get_column("data")[0]
    if data is None:
        error = _no_data(pagination, "leads")
        if error:
            raise error
        data = pl.Series(dtype=_RAW_LEAD)
    raw = data.struct.unnest()
    # The two fields every lead must have (the conversion's casts would keep a null).
    for api_name in ("_id", "status"):
        values = raw.get_column(api_name)
        if values.null_count():
            raise SchemaError(
                f"unexpected leads response: data[{values.is_null().arg_true()[0]}].{api_name} "
                "is missing"
            )
    ids = raw.get_column("_id")
    return Page(
        items=_PageLeads(raw),
        count=len(ids),
        first_id=ids[0] if len(ids) else None,
        last_id=ids[-1] if len(ids) else None,
        pagination=pagination,
    )


def leads_from_items(items: Iterable[dict[str, Any]], campaign_id: str) -> pl.DataFrame:
    """Build the leads frame from campaign-lead items already in memory (raw API dicts).

    >>> item = {"_id": "666a1b2c3d4e5f6a7b8c9d01", "leadId": None, "status": "pending"}
    >>> leads = leads_from_items([item], "665a1b2c3d4e5f6a7b8c9d0e")
    >>> leads.select("id", "lead_id", "status").row(0)
    ('666a1b2c3d4e5f6a7b8c9d01', None, 'pending')
    """
    campaign_id = check_campaign_label(campaign_id)
    if isinstance(items, str | bytes | bytearray | Mapping) or not isinstance(items, Iterable):
        raise BadRequestError(
            f"items must be a list of campaign-lead dicts, got {shown(items)}",
            hint="Pass the API's data list, e.g. leads_from_items(page['data'], campaign_id).",
        )
    body = json.dumps({"data": list(items), "pagination": {}}, default=_not_json).encode()
    return _to_leads(parse_leads_page(body).items.take(), campaign_id)


def _not_json(value: object) -> object:
    """json.dumps' fallback: items are raw API JSON, so a set, a datetime or any other object
    in them is refused by name rather than as json's TypeError."""
    raise BadRequestError(
        f"items must hold only JSON values (as the API sends them), got a "
        f"{type(value).__name__}: {shown(value)}",
        hint="Pass the API's items as parsed from its JSON; times are ISO 8601 strings there.",
    )


# -- loading ----------------------------------------------------------------------------------


def _check_statuses(status: str | Sequence[str] | None) -> list[str] | None:
    """``status=`` checked by the shared rule (``sendkit_nb._checks``), as a list; None is every
    status. Kept under this name for ``_report/_select.py``, which imports it."""
    checked = check_statuses(status)
    return None if checked is None else list(checked)


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise BadRequestError(
            f"limit must be an integer from 1 to 100, got {shown(limit)}",
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
    strict: bool = True,
    deadline: float | None = None,
) -> pl.DataFrame:
    """Every lead of a campaign, one row each (schema: ``sendkit_nb.LEADS_SCHEMA``).

    ``campaign_id`` is checked as every entry point checks it (``sendkit_nb._checks``): upper
    case and surrounding whitespace are accepted, and the frame carries the lower-case id.
    ``status`` takes one lead status or several (a repeated one is walked once). Pages are
    fetched concurrently where the API numbers them, sequentially by cursor otherwise (or with
    ``by_cursor=True``). Leads are de-duplicated by ``id``. If the campaign changes during the
    load so that the count differs from the API's total, the load is walked again by cursor;
    if it still differs, an :class:`IncompleteLoadError` gives both numbers (with
    ``strict=False``, an :class:`IncompleteLoadWarning` instead, and the frame as loaded).
    Raises a :class:`SendKitError` subclass on any failure, so a returned frame is never
    silently short.

    ``progress``: True for a progress bar (tqdm: a widget in Jupyter, text in a terminal),
    False for none, or a function called after every page with the number of leads loaded so
    far and the total the API announced (None if it gives none); each walk (one per status,
    and the re-walk by cursor) counts from zero.

    ``deadline``: seconds for the whole load, every page and retry included (default: the
    client's ``deadline``); past it, :class:`DeadlineExceededError`.
    """
    # The canonical (lower-case) id: it is what the frame's campaign_id column carries, and
    # what the campaigns list joins on.
    campaign_id = check_object_id(campaign_id)
    statuses = _check_statuses(status)
    _check_limit(limit)
    check_progress(progress)
    check_client(client, "load_leads")
    deadline_at = client.deadline_at(deadline)
    parts = [
        _load_status(
            client,
            campaign_id,
            one,
            progress=progress,
            limit=limit,
            by_cursor=by_cursor,
            strict=strict,
            deadline=deadline_at,
        )
        for one in (statuses if statuses else [None])
    ]
    return _join_walks(parts)


def _load_status(
    client: SendKitClient,
    campaign_id: str,
    status: str | None,
    *,
    progress: Progress,
    limit: int,
    by_cursor: bool,
    strict: bool,
    deadline: float | None,
) -> pl.DataFrame:
    """The leads of one status (or all), de-duplicated, one chunk per block."""
    path = f"/v1/campaigns/{campaign_id}/leads"
    label = f"leads {campaign_id[-6:]}" + (f" [{status}]" if status else "")

    def walk_leads(label: str, by_cursor: bool) -> tuple[Walk[_PageLeads], pl.DataFrame]:
        blocks = _Blocks(campaign_id)
        with progress_bar(label, progress) as bar:

            def on_page(page: Page[_PageLeads], total: int | None) -> None:
                blocks.add(page.items.take())
                bar.page(page, total)

            try:
                walked = walk(
                    client,
                    path,
                    {"status": status},
                    parse_leads_page,
                    limit=limit,
                    by_cursor=by_cursor,
                    on_page=on_page,
                    deadline=deadline,
                )
                leads = blocks.frame()
            except SchemaError as exc:  # from a block's conversion, outside any one request
                exc.path = exc.path or path
                raise
        return walked, _drop_repeats(leads)

    walked, leads = walk_leads(label, by_cursor)
    if walked.total is not None and leads.height != walked.total and not by_cursor:
        # Page numbers shift when leads are added or removed mid-load; a cursor walk does not.
        try:
            again, again_leads = walk_leads(label + " (again, by cursor)", True)
        except PaginationError:
            pass  # a server without cursors: keep the first walk, and the count check says so
        else:
            if again.mode == "cursor":
                walked, leads = again, again_leads
    if walked.total is not None and leads.height != walked.total:
        message = (
            f"loaded {leads.height} leads of campaign {campaign_id}"
            f"{f' with status {status}' if status else ''} but the API reports a total of "
            f"{walked.total}"
        )
        if strict:
            raise IncompleteLoadError(
                message, loaded=leads.height, expected=walked.total, path=path
            )
        warnings.warn(
            f"{message}: the campaign may have changed while loading",
            IncompleteLoadWarning,
            stacklevel=3,
        )
    return leads


#: Leads per block. A page of 100 rows costs several times its data (every column has its own
#: small arrays and string buffers), so a load packs pages into blocks as they arrive; past a few
#: thousand rows a block's overhead is negligible and larger blocks only cost more to pack.
_BLOCK_ROWS = 5_000


class _Blocks:
    """The leads of one walk, taken from each page in list order as raw rows and converted in
    blocks of about :data:`_BLOCK_ROWS` rows, so the load holds about its result and not
    every page, and pays the conversion's fixed cost once a block instead of once a page."""

    def __init__(self, campaign_id: str) -> None:
        self._campaign_id = campaign_id
        self._blocks: list[pl.DataFrame] = []
        self._pending: list[pl.DataFrame] = []
        self._rows = 0

    def add(self, raw: pl.DataFrame) -> None:
        self._pending.append(raw)
        self._rows += raw.height
        if self._rows >= _BLOCK_ROWS:
            self._pack()

    def _convert(self) -> pl.DataFrame:
        try:
            return _to_leads(pl.concat(self._pending, how="vertical"), self._campaign_id)
        except SchemaError:
            # Name the value by its index on its own page, as the API numbers it.
            for raw in self._pending:
                _to_leads(raw, self._campaign_id)
            raise

    def _pack(self) -> None:
        if not self._pending:
            return
        joined = self._convert()
        # Each page's strings sit in buffers of their own, mostly empty, which a rechunk would
        # keep; a gather copies the strings out (polars compacts the buffers a gather leaves
        # mostly unused), so the pages' memory goes with them. The other columns just join.
        strings = pl.col(pl.String).gather(pl.int_range(pl.len()))
        block = joined.select(strings, pl.exclude(pl.String)).rechunk()
        self._blocks.append(block.select(joined.columns))
        self._pending, self._rows = [], 0

    def frame(self) -> pl.DataFrame:
        """Every lead so far, one chunk per block."""
        self._pack()
        if not self._blocks:
            return pl.DataFrame(schema=LEADS_SCHEMA)
        return pl.concat(self._blocks, how="vertical")


def _join_walks(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The leads of every walk, de-duplicated, one chunk per block of about
    :data:`_BLOCK_ROWS` leads.

    Not copied into one chunk per column: the metrics read chunks as they are, and the copy
    would need the blocks and the copy at once, the load's peak of memory (half as much again
    as the frame, for a tenth of a second on 300,000 leads)."""
    # A lead can only be in one status, but the campaign may change between the walks.
    return _drop_repeats(pl.concat(parts, how="vertical")) if len(parts) > 1 else parts[0]


def _drop_repeats(leads: pl.DataFrame) -> pl.DataFrame:
    """Keep the first row of each lead ``id`` (pages can overlap when leads shift)."""
    # The usual case, and much cheaper to check than to de-duplicate: distinct hashes mean
    # distinct ids (a collision only sends the frame down the exact path below), and counting
    # 64-bit hashes takes half the time and two thirds the memory of counting the strings.
    if leads.get_column("id").hash().n_unique() == leads.height:
        return leads
    return leads.unique(subset="id", keep="first", maintain_order=True)


def emails(leads: pl.DataFrame) -> pl.DataFrame:
    """One row per sent email (schema ``sendkit_nb.EMAILS_SCHEMA``) from a leads frame.

    >>> import sendkit_nb as sk
    >>> sk.emails(sk.leads_from_items([], "665a1b2c3d4e5f6a7b8c9d0e")).columns[:4]
    ['campaign_id', 'id', 'lead_id', 'email']
    """
    check_frame(
        leads,
        ("campaign_id", "id", "lead_id", "email", "status", "emails"),
        "emails: leads",
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
    """One ``GET /v1/campaigns`` body -> its campaign dicts. ValueError for a body that is not
    JSON (the client retries those); SchemaError for JSON of another shape, worded as for every
    list endpoint (:func:`sendkit_nb._envelope.parse_list_page`)."""
    return parse_list_page(body, "campaigns")


def list_campaigns(
    client: SendKitClient,
    status: str | None = None,
    search: str | None = None,
    *,
    deadline: float | None = None,
) -> list[dict[str, Any]]:
    """Every campaign (raw API dicts), all pages, optionally filtered by ``status``/``search``.
    ``deadline`` is a ``time.monotonic()`` instant (``client.deadline_at()``)."""
    if status is not None and status not in CAMPAIGN_STATUSES:
        raise BadRequestError(
            f"unknown campaign status {status!r}",
            hint=f"Use one of: {', '.join(CAMPAIGN_STATUSES)}.",
        )
    walked = walk(
        client,
        "/v1/campaigns",
        {"status": status, "search": search},
        _parse_json_page,
        limit=100,
        deadline=deadline,
    )
    seen: dict[str, dict[str, Any]] = {}
    for page in walked.pages:
        for item in page.items:
            seen.setdefault(item["_id"], item)
    return list(seen.values())


def _text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise SchemaError(f"unexpected campaign shape: {_describe(where, value, (str,))}")


def _int32(value: Any, where: str) -> int | None:
    """A JSON integer that fits the Int32 columns (a whole float such as 2.0 counts)."""
    if value is None:
        return None
    whole = isinstance(value, int | float) and not isinstance(value, bool) and value == int(value)
    if whole and _INT32_MIN <= value <= _INT32_MAX:
        return int(value)
    raise SchemaError(
        f"unexpected campaign shape: {where}: expected an integer within Int32, got {value!r:.60}"
    )


def _campaign_row(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SchemaError(f"unexpected campaign shape: {_describe(where, item, (dict,))}")
    steps = item.get("sequence")
    if steps is None:
        steps = []
    elif not isinstance(steps, list):
        raise SchemaError(
            f"unexpected campaign shape: {_describe(f'{where}.sequence', steps, (list,))}"
        )
    sequence = []
    for n, step in enumerate(steps):
        at = f"{where}.sequence[{n}]"
        if not isinstance(step, dict):
            raise SchemaError(f"unexpected campaign shape: {_describe(at, step, (dict,))}")
        sequence.append(
            {
                "order": _int32(step.get("order"), f"{at}.order"),
                "type": _text(step.get("type"), f"{at}.type"),
                "name": _text(step.get("name"), f"{at}.name"),
                "subject": _text(step.get("subject"), f"{at}.subject"),
                "wait_days": _int32(step.get("waitDays"), f"{at}.waitDays"),
            }
        )
    return {
        "campaign_id": _text(item.get("_id"), f"{where}._id"),
        "name": _text(item.get("name"), f"{where}.name"),
        "status": _text(item.get("status"), f"{where}.status"),
        "sequence": sequence,
        "created_at": _text(item.get("createdAt"), f"{where}.createdAt"),
        "started_at": _text(item.get("startedAt"), f"{where}.startedAt"),
        "completed_at": _text(item.get("completedAt"), f"{where}.completedAt"),
    }


_CAMPAIGN_TIMES = {
    "created_at": "createdAt",
    "started_at": "startedAt",
    "completed_at": "completedAt",
}


def campaigns_frame(items: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """Campaign dicts (list or detail shape) -> one row per campaign (``CAMPAIGNS_SCHEMA``).
    SchemaError names a field that does not fit, e.g. ``campaigns[2].sequence[0].order``."""
    # Campaigns are few, so each field is checked in Python, where the error can name it.
    rows = [_campaign_row(item, f"campaigns[{i}]") for i, item in enumerate(items)]
    string_times: dict[str, PolarsDataType] = {
        **CAMPAIGNS_SCHEMA,
        **{column: pl.String for column in _CAMPAIGN_TIMES},
    }
    try:
        raw = pl.DataFrame(rows, schema=string_times)
    except (pl.exceptions.PolarsError, TypeError) as exc:  # not expected after the checks
        raise SchemaError(f"unexpected campaign shape: {exc}") from exc
    for column, api_name in _CAMPAIGN_TIMES.items():
        values = raw.get_column(column)
        i = _first(_not_time(values))
        if i is not None:
            problem = _unexpected(f"campaigns[{i}].{api_name}", _TIME, values[i])
            raise SchemaError(f"unexpected campaign shape: {problem}")
    return raw.with_columns(_to_time(pl.col(c), c, strict=False) for c in _CAMPAIGN_TIMES)


def load_campaigns(
    client: SendKitClient,
    status: str | None = None,
    search: str | None = None,
    *,
    deadline: float | None = None,
) -> pl.DataFrame:
    """Every campaign of the workspace, one row each, with its ``sequence`` steps.

    Filters: ``status`` (draft, active, paused, completed, archived) and ``search`` (name).
    ``deadline``: seconds for the whole listing (default: the client's ``deadline``).
    """
    check_client(client, "load_campaigns")
    check_text(search, "search", example="founders")
    return campaigns_frame(
        list_campaigns(client, status=status, search=search, deadline=client.deadline_at(deadline))
    )
