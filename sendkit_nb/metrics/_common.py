"""Input checks and grouping helpers shared by the metrics modules.

Bad input is reported here, at the door, with the column or argument named, so that nobody gets
a traceback from deep inside polars.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import polars as pl

from sendkit_nb._checks import check_positive_tags
from sendkit_nb._errors import BadRequestError
from sendkit_nb._schema import DEFAULT_POSITIVE_TAGS

__all__ = [
    "EMAIL_FIELDS",
    "SEGMENT_NAMES",
    "check_leads",
    "positive_expr",
    "positive_tags_set",
    "ratio",
    "segment_columns",
    "segment_expr",
    "tag_is_positive",
]

#: The fields of an ``emails`` struct the metrics read.
EMAIL_FIELDS: tuple[str, ...] = ("step", "variant", "sent_at", "opened", "clicked", "bounced")
#: Lead columns a funnel can be segmented by, besides ``"tag:<name>"``. Since any column or
#: expression is accepted (see :func:`segment_columns`), these are the ones every leads frame has.
SEGMENT_NAMES: tuple[str, ...] = ("campaign_id", "status", "ai_tag")
#: Columns the metrics read that a segment may be as they are (the segment is that column).
_READ_AS_IS: frozenset[str] = frozenset({"campaign_id", "ai_tag"})
#: Columns the metrics read or write: a segment of that name would overwrite one of them.
_METRIC_COLUMNS: frozenset[str] = frozenset(
    {
        *("campaign_id", "ai_tag", "replied", "replied_at", "emails"),
        *("step", "step_number", "step_label", "variant", "denominator"),
        *("leads", "contacted", "sent", "delivered", "bounced", "opened", "clicked"),
        *("positive", "unattributed", "unattributed_replies", "confidence", "positive_tags"),
        *("test_metric", "min_sends", "min_events", "alpha", "arms", "is_leader"),
        *("diff_vs_leader", "test", "p_value", "p_value_adj", "too_small", "significant"),
    }
)
#: The rate columns and their interval bounds (``reply_rate``, ``reply_rate_low`` ...).
_RATE_COLUMN: re.Pattern[str] = re.compile(r"[a-z]+_rate(?:_low|_high)?")
_SEGMENT_HINT = (
    "Use a column of the leads frame ('status', 'ai_tag', 'campaign_id', a column added by "
    "sk.with_lead_details such as 'country'), 'tag:<tag name>', or a polars expression such "
    "as pl.col('email').str.split('@').list.last().alias('domain')."
)

_LEADS_HINT = (
    "Pass the frame from sk.load_leads(client, campaign_id) (columns as in "
    "sendkit_nb._schema.LEADS_SCHEMA); concatenate several with pl.concat."
)


def check_leads(leads: object, columns: Iterable[str], what: str) -> pl.DataFrame:
    """Return ``leads`` if it is a DataFrame with ``columns`` (and a usable ``emails``), else raise
    :class:`~sendkit_nb.BadRequestError` naming what is wrong."""
    if not isinstance(leads, pl.DataFrame):
        raise BadRequestError(
            f"{what} needs a polars DataFrame of campaign leads, got {type(leads).__name__}",
            hint=_LEADS_HINT,
        )
    needed = list(dict.fromkeys(columns))
    missing = [c for c in needed if c not in leads.columns]
    if missing:
        raise BadRequestError(
            f"{what}: the leads frame lacks the column(s) {', '.join(map(repr, missing))}",
            hint=_LEADS_HINT,
        )
    if "emails" in needed:
        dtype = leads.schema["emails"]
        inner = dtype.inner if isinstance(dtype, pl.List) else None
        fields = {f.name for f in inner.fields} if isinstance(inner, pl.Struct) else set()
        lacking = [f for f in EMAIL_FIELDS if f not in fields]
        if lacking:
            raise BadRequestError(
                f"{what}: column 'emails' must be a list of structs with the fields "
                f"{', '.join(EMAIL_FIELDS)}; got {dtype} (missing {', '.join(lacking)})",
                hint=_LEADS_HINT,
            )
    return leads


def segment_columns(
    segment: str | pl.Expr | Sequence[str | pl.Expr] | None,
    leads: pl.DataFrame | None = None,
) -> list[tuple[str, pl.Expr, str]]:
    """Resolve a ``segment=`` argument into ``(output name, expression, source column)`` triples.

    Accepted: any column name of the leads frame (``"status"``, ``"ai_tag"``, ``"country"``
    after :func:`sendkit_nb.with_lead_details`...), ``"tag:<name>"`` (a Boolean column named
    ``tag:<name>``: the lead's ``tags`` contain ``<name>``), any polars expression (grouped under
    its output name: ``pl.col("email").str.split("@").list.last().alias("domain")``), or a list
    of those. With ``leads``, every column an expression reads must exist and the expression must
    evaluate to one plain (not list or struct) value per lead; otherwise a
    :class:`~sendkit_nb.BadRequestError` names the segment (``source column`` is the first
    column an expression reads).
    """
    if segment is None:
        return []
    # A lone name or expression is one segment; anything else that is not a list is passed on
    # as one item, for segment_expr to refuse by name.
    items = list(segment) if isinstance(segment, list | tuple) else [segment]
    out: list[tuple[str, pl.Expr, str]] = []
    seen: set[str] = set()
    for item in items:
        name, expr, roots = segment_expr(item, "segment")
        if name in seen:
            continue
        seen.add(name)
        if leads is not None:
            _check_segment(leads, item, name, expr, roots)
        out.append((name, expr, roots[0] if roots else name))
    return out


def segment_expr(item: object, what: str) -> tuple[str, pl.Expr, list[str]]:
    """One ``segment=`` / ``by=`` item as ``(output name, expression, columns it reads)``; a
    :class:`~sendkit_nb.BadRequestError` for anything but a column name or an expression."""
    if isinstance(item, str):
        if item.startswith("tag:") and len(item) > 4:
            # A lead without tags (null list) is simply not tagged.
            expr = pl.col("tags").list.contains(pl.lit(item[4:], pl.String)).fill_null(False)
            return item, expr, ["tags"]
        if not item:
            raise BadRequestError(f"{what} must not be an empty column name", hint=_SEGMENT_HINT)
        return item, pl.col(item), [item]
    if isinstance(item, pl.Expr):
        try:
            name = item.meta.output_name()
            roots = list(dict.fromkeys(item.meta.root_names()))
        except pl.exceptions.PolarsError as exc:
            raise BadRequestError(
                f"{what} expression {item} has no single output name ({exc})",
                hint="Name it with .alias('<group name>').",
            ) from None
        return name, item, roots
    raise BadRequestError(
        f"{what} must be a column name or a polars expression, got {type(item).__name__} {item!r}",
        hint=_SEGMENT_HINT,
    )


def _check_segment(
    leads: pl.DataFrame, item: object, name: str, expr: pl.Expr, roots: list[str]
) -> None:
    """Refuse a segment that would fail deep inside polars or clash with a metric's columns."""
    if not isinstance(leads, pl.DataFrame):
        return  # check_leads reports that
    shown = repr(item) if isinstance(item, str) else f"{item} (named {name!r})"
    missing = [c for c in roots if c not in leads.columns]
    if missing:
        raise BadRequestError(
            f"segment {shown}: the leads frame has no column {', '.join(map(repr, missing))}",
            hint=f"Its columns are {', '.join(leads.columns)}. " + _SEGMENT_HINT,
        )
    plain = isinstance(item, str) or (expr.meta.is_column() and roots == [name])
    reserved = name.startswith("_") or name in _METRIC_COLUMNS or _RATE_COLUMN.fullmatch(name)
    if reserved and not (plain and name in _READ_AS_IS):
        raise BadRequestError(
            f"segment {shown} has the name of a column the metrics compute or read",
            hint="Give it another name with .alias('<group name>').",
        )
    try:
        dtype = leads.head(0).select(expr.alias(name)).schema[name]
    except pl.exceptions.PolarsError as exc:
        raise BadRequestError(
            f"segment {shown} cannot be computed on the leads frame: {exc}".split("\n")[0],
            hint=_SEGMENT_HINT,
        ) from None
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):
        raise BadRequestError(
            f"segment {shown} gives a {dtype} per lead, not one value",
            hint="For a tag use 'tag:<name>'; to count a lead in each of its tags use "
            "sendkit_nb.metrics.breakdown(leads, 'tags'); for a struct pick a field "
            "(pl.col(...).struct.field('<name>')).",
        )


def positive_tags_set(positive_tags: Iterable[str] | None) -> list[str]:
    """The positive AI tags, lower-cased (tag names are unique case-insensitively in SendKit)."""
    # Checked by the shared rule (a lone string is one tag, not an iterable of letters): every
    # metric reads its positive_tags= through here.
    tags = check_positive_tags(positive_tags)
    return sorted({t.lower() for t in (DEFAULT_POSITIVE_TAGS if tags is None else tags)})


def positive_tags_column(positive_tags: Iterable[str] | None) -> pl.Expr:
    """The ``positive_tags`` column of a metrics frame: the tags it counted as positive, as
    ``"interested, meeting_booked"`` (empty when none), so a chart can say which."""
    return pl.lit(", ".join(positive_tags_set(positive_tags)), pl.String).alias("positive_tags")


def positive_expr(positive_tags: Iterable[str] | None) -> pl.Expr:
    """True for a replied lead whose ``ai_tag`` is in the positive set, else False (never null)."""
    return pl.col("replied").fill_null(False) & tag_is_positive(pl.col("ai_tag"), positive_tags)


def tag_is_positive(tag: pl.Expr, positive_tags: Iterable[str] | None) -> pl.Expr:
    """Whether ``tag`` is one of the positive tags, ignoring case; False for null."""
    tags = positive_tags_set(positive_tags)
    if not tags:
        return pl.lit(False)
    # One anchored case-insensitive regex: measured about twice as fast on a million leads as
    # lower-casing every tag first, and it is the same test.
    pattern = "(?i)^(?:" + "|".join(pl.escape_regex(t) for t in tags) + ")$"
    return tag.cast(pl.String).str.contains(pattern).fill_null(False)


def ratio(numerator: str, denominator: str) -> pl.Expr:
    """``numerator / denominator`` as Float64, null (not NaN, not an error) when the denominator
    is zero or null."""
    den = pl.col(denominator)
    return (
        pl.when(den > 0)
        .then(pl.col(numerator).cast(pl.Float64) / den.cast(pl.Float64))
        .otherwise(None)
        .cast(pl.Float64)
    )
