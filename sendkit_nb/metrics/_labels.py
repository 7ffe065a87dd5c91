"""Steps as people count them, from a campaign's ``sequence``: "Step 1 · Quick question", not ``0``.

The ``step`` of a sent email is the sequence item's ``order``; wait steps take an order index but
are not email steps, so email steps are numbered 1, 2, ... in order, skipping waits. Every metric
frame with a ``step`` column keeps it (the API's order) and carries ``step_number`` (Int32: that
number; null where the step is not an email step of a known sequence) and ``step_label`` (String,
never null) right after it. Labels come from a join with the few sequence rows, never from
Python per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

import polars as pl

from sendkit_nb._errors import BadRequestError

__all__ = [
    "STEP_COLUMNS",
    "SequenceSource",
    "apply_labels",
    "label_positions",
    "label_steps",
    "sequence_steps",
    "sequence_table",
]

#: Where the sequence comes from: a CAMPAIGNS_SCHEMA frame (one row per campaign), one campaign's
#: JSON dict (``GET /v1/campaigns/{id}``, with ``sequence``), a list of such dicts, or one
#: campaign's ``sequence`` list itself.
SequenceSource: TypeAlias = pl.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]]

LabelFrom = Literal["subject", "name"]

#: The columns :func:`apply_labels` adds right after ``step``, with their types.
STEP_COLUMNS: pl.Schema = pl.Schema({"step_number": pl.Int32(), "step_label": pl.String()})

_STEPS_SCHEMA = pl.Schema(
    {
        "campaign_id": pl.String,
        "order": pl.Int32,
        "type": pl.String,
        "name": pl.String,
        "subject": pl.String,
    }
)
_HINT = (
    "Pass load_campaigns(client) (a frame with campaign_id and sequence), a campaign dict from "
    "GET /v1/campaigns/{id}, or its 'sequence' list."
)


def _raw_steps(campaign_id: str | None, steps: object) -> list[dict[str, Any]]:
    if steps is None:
        return []
    if not isinstance(steps, Sequence) or isinstance(steps, str | bytes):
        raise BadRequestError(f"a campaign 'sequence' must be a list, got {steps!r}", hint=_HINT)
    rows = []
    for position, step in enumerate(steps):
        if not isinstance(step, Mapping):
            raise BadRequestError(f"a sequence step must be a dict, got {step!r}", hint=_HINT)
        order = step.get("order")
        rows.append(
            {
                "campaign_id": campaign_id,
                # Without an explicit order the list position is the order (the API's is 0-based).
                "order": order if isinstance(order, int) else position,
                "type": step.get("type"),
                "name": step.get("name"),
                "subject": step.get("subject"),
            }
        )
    return rows


def _campaign_id_of(campaign: Mapping[str, Any]) -> str | None:
    for key in ("campaign_id", "_id", "id"):
        value = campaign.get(key)
        if isinstance(value, str):
            return value
    return None


def _steps_frame(source: SequenceSource) -> pl.DataFrame:
    """Normalise any :data:`SequenceSource` to one row per sequence item (``_STEPS_SCHEMA``)."""
    if isinstance(source, pl.DataFrame):
        if "sequence" not in source.columns:
            raise BadRequestError("the campaigns frame lacks a 'sequence' column", hint=_HINT)
        ids = (
            pl.col("campaign_id").cast(pl.String)
            if "campaign_id" in source.columns
            else pl.lit(None, pl.String)
        )
        dtype = source.schema["sequence"]
        inner = dtype.inner if isinstance(dtype, pl.List) else None
        if not isinstance(inner, pl.Struct):
            raise BadRequestError(
                f"the campaigns frame's 'sequence' must be a list of structs, got {dtype}",
                hint=_HINT,
            )
        fields = {f.name for f in inner.fields}
        seq = source.select(campaign_id=ids, item=pl.col("sequence")).explode(
            "item", keep_nulls=False
        )
        item = pl.col("item")

        def field(name: str, dtype: pl.DataType) -> pl.Expr:
            return item.struct.field(name).cast(dtype) if name in fields else pl.lit(None, dtype)

        return seq.select(
            "campaign_id",
            order=field("order", pl.Int32()),
            type=field("type", pl.String()),
            name=field("name", pl.String()),
            subject=field("subject", pl.String()),
        )
    rows: list[dict[str, Any]] = []
    if isinstance(source, Mapping):
        if "sequence" not in source:
            raise BadRequestError("the campaign dict has no 'sequence'", hint=_HINT)
        rows = _raw_steps(_campaign_id_of(source), source["sequence"])
    elif isinstance(source, Sequence) and not isinstance(source, str | bytes):
        is_campaign = [isinstance(e, Mapping) and "sequence" in e for e in source]
        if all(is_campaign):
            for entry in source:
                rows.extend(_raw_steps(_campaign_id_of(entry), entry["sequence"]))
        elif not any(is_campaign):
            # A bare sequence list: one campaign, positions as the fallback order.
            rows = _raw_steps(None, source)
        else:
            raise BadRequestError(
                "a list passed as sequence must hold campaign dicts or step dicts, not a mix",
                hint=_HINT,
            )
    else:
        raise BadRequestError(
            f"cannot read a sequence from {type(source).__name__}",
            hint=_HINT,
        )
    return pl.DataFrame(rows, schema=_STEPS_SCHEMA) if rows else pl.DataFrame(schema=_STEPS_SCHEMA)


def sequence_steps(source: SequenceSource, *, label_from: LabelFrom = "subject") -> pl.DataFrame:
    """One row per email step of each campaign: ``campaign_id``, ``step`` (the ``order``),
    ``step_number`` (Int32: 1, 2, ... skipping wait steps) and ``step_label``.

    The label is ``"Step <n> · <subject>"`` (or the step's ``name`` with ``label_from="name"``;
    either falls back to the other, then to ``"Step <n>"``).

    >>> seq = [
    ...     {"type": "email", "order": 0, "name": "Intro", "subject": "Quick question"},
    ...     {"type": "wait", "order": 1, "waitDays": 3},
    ...     {"type": "email", "order": 2, "name": "Bump", "subject": ""},
    ... ]
    >>> sequence_steps(seq).select("step", "step_number", "step_label").rows()
    [(0, 1, 'Step 1 · Quick question'), (2, 2, 'Step 2 · Bump')]
    """
    if label_from not in ("subject", "name"):
        raise BadRequestError(f"unknown label_from {label_from!r}", hint="Use 'subject' or 'name'.")
    other: LabelFrom = "name" if label_from == "subject" else "subject"
    steps = _steps_frame(source)

    def text(column: str) -> pl.Expr:
        cleaned = pl.col(column).str.strip_chars()
        return pl.when(cleaned.str.len_chars() > 0).then(cleaned)

    title = pl.coalesce(text(label_from), text(other))
    number = pl.col("step_number").cast(pl.String)
    return (
        steps.filter(pl.col("order").is_not_null())
        # A malformed sequence with a repeated order keeps its first item, like a lookup would.
        .unique(subset=["campaign_id", "order"], keep="first", maintain_order=True)
        .sort(["campaign_id", "order"], nulls_last=False)
        # A step without a type is an email step: only waits are skipped.
        .filter(pl.col("type").fill_null("email").str.to_lowercase() != "wait")
        .with_columns(step_number=pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("campaign_id"))
        .select(
            "campaign_id",
            step=pl.col("order"),
            step_number="step_number",
            step_label=pl.when(title.is_not_null())
            .then(pl.format("Step {} · {}", number, title))
            .otherwise(pl.format("Step {}", number)),
        )
    )


def sequence_table(
    sequence: SequenceSource | None,
    label_from: LabelFrom,
    leads: pl.DataFrame,
) -> pl.DataFrame | None:
    """:func:`sequence_steps` of the campaigns in ``leads`` only (None without a sequence).

    The others may number or label the same order differently, which would make a frame pooled
    over the leads' campaigns ambiguous for nothing.
    """
    if sequence is None:
        return None
    table = sequence_steps(sequence, label_from=label_from)
    if "campaign_id" in leads.columns:
        present = leads.get_column("campaign_id").cast(pl.String).unique().implode()
        table = table.filter(pl.col("campaign_id").is_null() | pl.col("campaign_id").is_in(present))
    return table


def fallback_label(step: pl.Expr) -> pl.Expr:
    """The label of a step the sequence does not have as an email step (or of any step when the
    sequence is unknown): its raw order, which is all we know about it."""
    return (
        pl.when(step.is_null())
        .then(pl.lit("Step (unknown)"))
        .otherwise(pl.format("Step order {}", step.cast(pl.String)))
    )


def label_steps(
    frame: pl.DataFrame,
    sequence: SequenceSource | None = None,
    *,
    label_from: LabelFrom = "subject",
) -> pl.DataFrame:
    """Add (or replace) ``step_number`` and ``step_label`` right after ``step``, keeping row
    order.

    Rows join the sequence on ``(campaign_id, step)`` when both the frame and the sequence carry
    campaign ids, else on ``step`` alone. Steps the sequence does not have as email steps get a
    null ``step_number`` and read ``"Step order <step>"``; with ``sequence=None`` every step does.

    >>> f = pl.DataFrame({"step": [0, 2, 7], "sent": [10, 8, 1]})
    >>> seq = {"_id": "c1", "sequence": [
    ...     {"type": "email", "order": 0, "subject": "Quick question"},
    ...     {"type": "wait", "order": 1},
    ...     {"type": "email", "order": 2, "subject": "Re: Quick question"}]}
    >>> out = label_steps(f, seq)
    >>> out.select("step", "step_number", "step_label").rows()  # doctest: +NORMALIZE_WHITESPACE
    [(0, 1, 'Step 1 · Quick question'), (2, 2, 'Step 2 · Re: Quick question'),
     (7, None, 'Step order 7')]
    """
    if not isinstance(frame, pl.DataFrame) or "step" not in frame.columns:
        raise BadRequestError(
            "label_steps needs a polars DataFrame with a 'step' column",
            hint="Pass the output of funnel() or variant_funnel().",
        )
    table = None if sequence is None else sequence_steps(sequence, label_from=label_from)
    return apply_labels(frame, table)


def _lookup(columns: list[str], table: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """The label table to join a frame with ``columns`` on, and the join's key columns besides
    the step: ``campaign_id`` when both sides have campaign ids, else none (then a step must
    mean the same everywhere in ``table``)."""
    if "campaign_id" in columns and table["campaign_id"].is_not_null().any():
        return table.select("campaign_id", "step", *STEP_COLUMNS), ["campaign_id"]
    table = table.select("step", *STEP_COLUMNS).unique(maintain_order=True)
    clash = table.filter(pl.col("step").is_duplicated())
    if clash.height:
        raise BadRequestError(
            "the sequences of several campaigns give different labels (or numbers) to step "
            f"{clash['step'][0]} and the frame has no campaign_id to tell them apart",
            hint="Segment by campaign (segment='campaign_id') or pass one campaign.",
        )
    return table, []


def _place_after(columns: list[str], anchor: str, added: list[str]) -> list[str]:
    out = [c for c in columns if c not in added]
    at = out.index(anchor) + 1
    return [*out[:at], *added, *out[at:]]


def apply_labels(frame: pl.DataFrame, table: pl.DataFrame | None) -> pl.DataFrame:
    """:func:`label_steps` with the :func:`sequence_steps` table already built (or None)."""
    base = frame.drop(*STEP_COLUMNS, strict=False)
    step = pl.col("step").cast(pl.Int32)
    if table is None:
        labelled = base.with_columns(
            step_number=pl.lit(None, pl.Int32), step_label=fallback_label(step)
        )
    else:
        lookup, by = _lookup(base.columns, table)
        # Join on a cast copy of step so a frame with Int64 steps still matches the Int32 orders.
        labelled = (
            base.with_columns(_step_key=step)
            .join(
                lookup.rename({"step": "_step_key"}),
                on=[*by, "_step_key"],
                how="left",
                maintain_order="left",
            )
            .with_columns(step_label=pl.coalesce("step_label", fallback_label(step)))
            .drop("_step_key")
        )
    return labelled.select(_place_after(base.columns, "step", list(STEP_COLUMNS))).cast(
        STEP_COLUMNS
    )


def label_positions(
    frame: pl.DataFrame,
    table: pl.DataFrame | None,
    *,
    column: str = "current_step",
    alias: str = "current_step_label",
) -> pl.DataFrame:
    """Add ``alias`` right after ``column``, a position in the sequence (a lead's
    ``current_step``, the API's ``currentSequenceStep``), read as people count steps.

    At an email step it is that step's label (``"Step 2 · Re: Quick question"``). A lead moves
    on to the wait after an email (and past the last item when the sequence is done), so a wait
    step or a position past the end reads ``"After Step <n>"`` (``n``: the last email step before
    it), a position before the first email step ``"Before Step 1"``, a position of a campaign
    whose sequence is unknown ``"Step order <n>"``; a null position stays null. ``table`` is a
    :func:`sequence_steps` table (None: no sequence known).

    >>> seq = {"_id": "c1", "sequence": [
    ...     {"type": "email", "order": 0, "subject": "Quick question"},
    ...     {"type": "wait", "order": 1},
    ...     {"type": "email", "order": 2, "subject": "Re: Quick question"}]}
    >>> f = pl.DataFrame({"current_step": [1, 2, 3, None]})
    >>> label_positions(f, sequence_steps(seq))["current_step_label"].to_list()
    ['After Step 1', 'Step 2 · Re: Quick question', 'After Step 2', None]
    """
    base = frame.drop(alias, strict=False)
    position = pl.col(column).cast(pl.Int32)
    by: list[str] = []
    if table is None or table.height == 0:
        lookup = (
            base.select(_pos=position).unique().with_columns(_label=fallback_label(pl.col("_pos")))
        )
    else:
        steps, by = _lookup(base.columns, table)
        # The few distinct positions are labelled, then joined back to every row. Both sides
        # are sorted by position as a whole, so within each campaign too (polars cannot check
        # that itself when there are groups).
        found = (
            base.select(*by, _pos=position)
            .unique()
            .drop_nulls("_pos")
            .sort("_pos")
            .join_asof(
                steps.rename({"step": "_at"}).sort("_at"),
                left_on="_pos",
                right_on="_at",
                by=by or None,
                strategy="backward",
                check_sortedness=False,
            )
        )
        # Whether the row's campaign has a sequence at all: before its first email step and
        # without a sequence, a position says different things.
        if by:
            known = steps.select(*by).unique().with_columns(_known=pl.lit(True))
            found = found.join(known, on=by, how="left")
        else:
            found = found.with_columns(_known=pl.lit(True))
        lookup = found.select(
            *by,
            "_pos",
            _label=pl.when(pl.col("_at") == pl.col("_pos"))
            .then("step_label")
            .when(pl.col("_at").is_not_null())
            .then(pl.format("After Step {}", pl.col("step_number").cast(pl.String)))
            .when(pl.col("_known").fill_null(False))
            .then(pl.lit("Before Step 1"))
            .otherwise(fallback_label(pl.col("_pos"))),
        )
    labelled = (
        base.with_columns(_pos=position)
        .join(lookup, on=[*by, "_pos"], how="left", maintain_order="left")
        .rename({"_label": alias})
        .drop("_pos")
    )
    return labelled.select(_place_after(base.columns, column, [alias])).with_columns(
        pl.col(alias).cast(pl.String)
    )
