"""Leads files that read back as they were written: parquet that carries its campaigns, and a
flat CSV of one row per email.

A leads frame alone titles campaigns by hex id and steps by their raw order: the names and
sequences are in the campaigns frame, which a plain ``write_parquet`` leaves behind. So every
parquet file sendkit_nb writes (``sendkit-nb leads -o x.parquet``, each file of a store) carries
the campaigns it holds as JSON in the parquet key-value metadata (key ``sendkit_nb.campaigns``),
where any parquet reader keeps it out of the way of the data. :func:`read_leads` gives the
frame back and :func:`read_campaigns` the campaigns, so that::

    sk.report(sk.read_leads("x.parquet"), catalog=sk.read_campaigns("x.parquet"))

reads like a report from the API.

CSV has no nested types, so a leads CSV holds one row per sent email: the lead's columns
repeated on each of its emails, then the email's ``step``, ``variant``, ``sent_at``,
``opened``, ``clicked`` and ``bounced`` (a lead with no email has one row with those empty).
Tags are joined by ``;`` (a tag that contains one is refused rather than split on reading).
:func:`read_leads` rebuilds the nested frame from it; it cannot carry the campaigns.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
from polars._typing import PolarsDataType

from sendkit_nb._checks import check_path
from sendkit_nb._errors import BadRequestError, SchemaError
from sendkit_nb._files import checked_kind, path_error, write_atomic
from sendkit_nb._schema import CAMPAIGNS_SCHEMA, EMAIL_STRUCT, LEADS_SCHEMA, UTC

__all__ = [
    "CAMPAIGNS_KEY",
    "campaigns_metadata",
    "leads_csv_frame",
    "read_campaigns",
    "read_leads",
    "write_leads",
]

#: The parquet key-value metadata key holding the campaigns (a JSON list, CAMPAIGNS_SCHEMA
#: columns, times as ISO-8601 UTC text).
CAMPAIGNS_KEY = "sendkit_nb.campaigns"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.fZ"
_TIMES = [name for name, dtype in CAMPAIGNS_SCHEMA.items() if dtype == UTC]
_EMAIL_FIELDS = [field.name for field in EMAIL_STRUCT.fields]
_TAG_SEPARATOR = ";"


def campaigns_metadata(campaigns: pl.DataFrame) -> str:
    """The campaigns frame (its ``CAMPAIGNS_SCHEMA`` columns) as the JSON text stored under
    :data:`CAMPAIGNS_KEY`."""
    text = campaigns.select(CAMPAIGNS_SCHEMA.names()).with_columns(
        pl.col(c).dt.to_string(_TIME_FORMAT) for c in _TIMES
    )
    return json.dumps(text.to_dicts(), ensure_ascii=False, separators=(",", ":"))


def _campaigns_from_json(text: str, where: str) -> pl.DataFrame:
    string_times: dict[str, PolarsDataType] = {
        **CAMPAIGNS_SCHEMA,
        **{c: pl.String for c in _TIMES},
    }
    try:
        rows = json.loads(text)
        raw = pl.DataFrame(rows, schema=string_times)
        return raw.with_columns(
            pl.col(c).str.to_datetime(_TIME_FORMAT, time_unit="us", time_zone="UTC") for c in _TIMES
        )
    except (ValueError, TypeError, pl.exceptions.PolarsError) as exc:
        raise SchemaError(
            f"the campaigns stored in {where} cannot be read ({type(exc).__name__})",
            hint="The file was changed by another program; write it again with sendkit_nb.",
        ) from None


def write_leads(
    leads: pl.DataFrame,
    path: str | os.PathLike[str],
    campaigns: pl.DataFrame | None = None,
) -> None:
    """Write ``leads`` to ``path`` atomically (its folder must exist): parquet with
    ``campaigns`` (the campaigns the file is about, empty ones included) in its metadata, or
    (``.csv``) one row per email."""
    target = Path(path)
    if target.suffix.lower() == ".csv":
        flat = leads_csv_frame(leads)
        write_atomic(target, flat.write_csv)
        return
    metadata = {}
    if campaigns is not None:
        metadata[CAMPAIGNS_KEY] = campaigns_metadata(campaigns)

    def write(handle: Any) -> None:
        leads.write_parquet(handle, metadata=metadata or None)

    write_atomic(target, write)


def leads_csv_frame(leads: pl.DataFrame) -> pl.DataFrame:
    """The leads as flat CSV rows: one per sent email, a lead without emails once."""
    joined = pl.col("tags").list.join(_TAG_SEPARATOR)
    tags = leads.get_column("tags").explode().drop_nulls()
    bad = tags.filter(tags.str.contains(_TAG_SEPARATOR, literal=True))
    if bad.len():
        raise BadRequestError(
            f"cannot write CSV: the tag {bad[0]!r} contains {_TAG_SEPARATOR!r}, which CSV uses "
            "to join a lead's tags",
            hint="Write .parquet instead: it keeps every field as it is.",
        )
    return (
        leads.with_columns(joined)
        .explode("emails", empty_as_null=True, keep_nulls=True)
        .unnest("emails")
    )


def _leads_from_csv(path: Path) -> pl.DataFrame:
    lead_columns = [c for c in LEADS_SCHEMA.names() if c != "emails"]
    schema: dict[str, PolarsDataType] = {
        **{c: LEADS_SCHEMA[c] for c in lead_columns},
        **{f.name: f.dtype for f in EMAIL_STRUCT.fields},
        "tags": pl.String,
        "status": pl.String,
    }
    try:
        flat = pl.read_csv(path, schema_overrides=schema, glob=False)
    except OSError as exc:
        raise path_error(path, exc, BadRequestError, doing="read", hint="Check the path.") from None
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(
            f"{path} is not a leads CSV written by sendkit_nb ({type(exc).__name__})",
            hint="Read it with polars.read_csv, or write the leads as .parquet.",
        ) from None
    missing = [c for c in [*lead_columns, *_EMAIL_FIELDS] if c not in flat.columns]
    if missing:
        raise SchemaError(
            f"{path} is not a leads CSV written by sendkit_nb: no column {missing[0]!r}",
            hint="Read it with polars.read_csv.",
        )
    email = pl.struct(*_EMAIL_FIELDS)
    # A lead without emails was written as one row with every email field empty.
    has_email = pl.any_horizontal(pl.col(_EMAIL_FIELDS).is_not_null())
    leads = flat.group_by("campaign_id", "id", maintain_order=True).agg(
        *(pl.col(c).first() for c in lead_columns if c not in ("campaign_id", "id")),
        email.filter(has_email).alias("emails"),
    )
    return leads.with_columns(
        pl.col("status").cast(LEADS_SCHEMA["status"]),
        pl.when(pl.col("tags").is_null() | (pl.col("tags") == ""))
        .then(pl.lit([], pl.List(pl.String)))
        .otherwise(pl.col("tags").str.split(_TAG_SEPARATOR))
        .alias("tags"),
    ).select(LEADS_SCHEMA.names())


def _check_file(path: str | os.PathLike[str]) -> Path:
    given = check_path(path, "path", example="leads.parquet")
    kind = checked_kind(
        given,
        BadRequestError,
        doing="read",
        hint="Check the path: each name must fit the file system, with no symlink loop.",
    )
    if kind == "folder":
        raise BadRequestError(
            f"{given} is a folder; read_leads reads one .parquet or .csv file",
            hint="For a store folder use sk.open_store(path).leads().",
        )
    if kind != "file":
        raise BadRequestError(f"no file {given}", hint="Check the path.")
    return given


def read_leads(path: str | os.PathLike[str]) -> pl.DataFrame:
    """The leads frame (``LEADS_SCHEMA``) from a ``.parquet`` or ``.csv`` file written by
    sendkit_nb (``sendkit-nb leads -o``, or a file of a store). Its campaigns, with names
    and sequences, are :func:`read_campaigns` of the same file (parquet only)."""
    given = _check_file(path)
    if given.suffix.lower() == ".csv":
        return _leads_from_csv(given)
    try:
        frame = pl.read_parquet(given, glob=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SchemaError(
            f"{given} is not a readable parquet file ({type(exc).__name__})",
            hint="Write the leads again with `sendkit-nb leads -o file.parquet`.",
        ) from None
    missing = [c for c in LEADS_SCHEMA.names() if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{given} is not a leads file: no column {missing[0]!r}",
            hint="read_leads reads files written by sendkit_nb; use polars.read_parquet.",
        )
    try:
        return frame.select(LEADS_SCHEMA.names()).cast(LEADS_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        raise SchemaError(
            f"{given} has leads columns of unexpected types ({type(exc).__name__})",
            hint="read_leads reads files written by sendkit_nb; use polars.read_parquet.",
        ) from None


def read_campaigns(path: str | os.PathLike[str]) -> pl.DataFrame:
    """The campaigns (``CAMPAIGNS_SCHEMA``: names, sequences, dates) that a parquet leads
    file written by sendkit_nb carries; an empty frame for a file without them (written by
    another program) or a CSV, which cannot carry them."""
    given = _check_file(path)
    if given.suffix.lower() == ".csv":
        return pl.DataFrame(schema=CAMPAIGNS_SCHEMA)
    try:
        with given.open("rb") as handle:  # a path would be taken as a glob pattern
            metadata = pl.read_parquet_metadata(handle)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SchemaError(
            f"{given} is not a readable parquet file ({type(exc).__name__})",
            hint="Write the leads again with `sendkit-nb leads -o file.parquet`.",
        ) from None
    text = metadata.get(CAMPAIGNS_KEY)
    if text is None:
        return pl.DataFrame(schema=CAMPAIGNS_SCHEMA)
    return _campaigns_from_json(text, str(given))
