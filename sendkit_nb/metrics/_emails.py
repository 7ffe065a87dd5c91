"""One row per sent email, and reply attribution: the pieces every funnel-like metric shares.

Every number is defined in :data:`sendkit_nb.metrics.DEFINITIONS`. A metric explodes ``emails``
once per call and aggregates with ``group_by``; reply attribution only explodes the (few)
replied leads. No per-lead Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb.metrics._common import (
    check_leads,
    positive_expr,
)
from sendkit_nb.metrics._labels import LabelFrom, SequenceSource, apply_labels, sequence_table
from sendkit_nb.metrics._windows import Window

__all__ = ["Segment", "reply_attribution"]


#: ``segment=``: a column name (``"campaign_id"``, ``"status"``, ``"ai_tag"``, ``"country"``...),
#: ``"tag:<name>"``, a polars expression (grouped under its output name), or a list of those.
Segment = str | pl.Expr | Sequence[str | pl.Expr] | None
REPLY_COLUMNS = ("replied", "replied_at", "ai_tag", "emails")
EMAILS = pl.col("emails")


# ---------------------------------------------------------------------------- shared pieces


def check_choice(value: object, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise BadRequestError(
            f"unknown {what} {value!r}",
            hint=f"Use one of {', '.join(map(repr, allowed))}.",
        )


def _email(name: str) -> pl.Expr:
    """A field of the exploded ``emails`` struct."""
    return EMAILS.struct.field(name)


def _delivered_email() -> pl.Expr:
    # A missing bounce flag means the API did not report a bounce: count it delivered.
    return ~_email("bounced").fill_null(False)


def prepare(
    leads: pl.DataFrame, segs: list[tuple[str, pl.Expr, str]], extra: Sequence[str]
) -> pl.DataFrame:
    """The columns a metric needs, with segment columns evaluated and a ``_lead`` row id."""
    names = {name for name, _, _ in segs}
    # A segment on a column the metric reads anyway (ai_tag, campaign_id) is that same column.
    rest = [c for c in dict.fromkeys(extra) if c not in names]
    return leads.select(*(expr.alias(name) for name, expr, _ in segs), *rest).with_row_index(
        "_lead"
    )


def explode_emails(frame: pl.DataFrame, carry: Sequence[str], variant: bool) -> pl.DataFrame:
    """One row per email of ``frame`` (leads without emails vanish), with the ``carry`` columns
    repeated, ``_pos`` (the email's place in the whole exploded frame, so later in a lead's
    list means larger) and the email fields the metrics read."""
    delivered = _delivered_email()
    return (
        frame.select(*carry, "emails")
        .explode("emails", keep_nulls=False)
        .with_row_index("_pos")
        .select(
            "_pos",
            *carry,
            step=_email("step").cast(pl.Int32),
            **({"variant": _email("variant").cast(pl.String)} if variant else {}),
            sent_at=_email("sent_at"),
            _delivered=delivered,
            # Tracking flags on a bounced email are ignored: it never reached the lead.
            _opened=_email("opened").fill_null(False) & delivered,
            _clicked=_email("clicked").fill_null(False) & delivered,
        )
    )


def repeats_a_step(emails: pl.DataFrame) -> bool:
    """False when every lead's emails have strictly increasing steps (the usual case), which
    rules out two emails of one lead at one step; True when that cannot be ruled out."""
    # The exploded rows keep each lead's list order, so one comparison with the previous row
    # suffices. A null step compares as -1, so two null steps (or a null after a step) count.
    step = pl.col("step").fill_null(-1)
    same_lead = pl.col("_lead") == pl.col("_lead").shift(1)
    return bool(emails.select((same_lead & (step <= step.shift(1))).any()).item())


def attribute_replies(emails: pl.DataFrame) -> pl.DataFrame:
    """Last-touch attribution over the exploded emails of replied leads (from
    :func:`explode_emails` with ``_lead`` and ``replied_at`` carried): one row (``_lead``,
    ``step``[, ``variant``], ``_attributed``) per lead whose reply has a delivered email at or
    before it, and ``_touch_at`` (that email's ``sent_at``). Leads missing from the result are
    unattributed."""
    at_or_before = pl.col("replied_at").is_null() | (pl.col("sent_at") <= pl.col("replied_at"))
    # The latest candidate: by send time, then step, then place in the list. An email without
    # sent_at compares as null, so it is never "before" a dated reply; for an undated reply it
    # sorts first, so any dated email is preferred. Sorting once and keeping each lead's last
    # row measured several times faster than a sort_by inside group_by.
    keep = ["_lead", "step", *(["variant"] if "variant" in emails.columns else [])]
    return (
        emails.filter(pl.col("_delivered") & at_or_before)
        .sort(["_lead", "sent_at", "step", "_pos"], nulls_last=False)
        .unique("_lead", keep="last")
        # _touch_at: when the email the reply is attributed to was sent, which places the
        # reply in a time window (see _windows.py).
        .select(*keep, _attributed=pl.lit(True), _touch_at=pl.col("sent_at"))
    )


def replies_in_window(base: pl.DataFrame, window: Window) -> pl.DataFrame:
    """Per replied lead of ``base`` (from :func:`prepare`, with ``replied``, ``replied_at`` and
    ``emails``): ``_lead``, ``_attributed`` (a delivered email at or before the reply) and
    ``_in_window``: the reply is in ``window`` by the rule of ``_windows.py`` (the attributed
    email's send time, else the reply's own time)."""
    replied = base.filter(pl.col("replied").fill_null(False))
    touches = attribute_replies(explode_emails(replied, ["_lead", "replied_at"], variant=False))
    return (
        replied.select("_lead", "replied_at")
        .join(touches.select("_lead", "_attributed", "_touch_at"), on="_lead", how="left")
        .select(
            "_lead",
            _attributed=pl.col("_attributed").fill_null(False),
            _in_window=pl.when(pl.col("_attributed").fill_null(False))
            .then(window.contains(pl.col("_touch_at")))
            .otherwise(window.contains(pl.col("replied_at"))),
        )
    )


def email_any(condition: pl.Expr) -> pl.Expr:
    """Per lead: does any email satisfy ``condition``? (False for no emails.)"""
    # list.eval + list.any measured faster than list.agg(condition.any()) on a million leads.
    return EMAILS.list.eval(condition).list.any().fill_null(False)


def reply_attribution(
    leads: pl.DataFrame,
    *,
    positive_tags: Iterable[str] | None = None,
    sequence: SequenceSource | None = None,
    label_from: LabelFrom = "subject",
) -> pl.DataFrame:
    """One row per replied lead with the step its reply is attributed to (last touch).

    Columns: ``campaign_id``, ``id``, ``replied_at``, ``ai_tag``, ``positive``, ``attributed``
    (False: no delivered email at or before the reply; such a reply counts in the headline's
    ``unattributed``, and also in ``unattributed_replies`` if the lead was never emailed),
    ``step`` (the sequence order, null when unattributed), ``step_number`` and ``step_label`` (as
    in :func:`funnel`, from ``sequence``; an unattributed reply reads ``"Unattributed"``) and
    ``variant`` (null when unattributed). Input order is kept.

    >>> from datetime import datetime, UTC
    >>> e = {"step": 0, "variant": None, "sent_at": datetime(2025, 6, 2, tzinfo=UTC),
    ...      "opened": False, "clicked": False, "bounced": False}
    >>> leads = pl.DataFrame({"campaign_id": ["c", "c"], "id": ["a", "b"], "replied": [True, True],
    ...     "replied_at": [datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 3, tzinfo=UTC)],
    ...     "ai_tag": [None, "interested"], "emails": [[e], [e]]})
    >>> seq = [{"type": "email", "order": 0, "subject": "Hi"}]
    >>> got = reply_attribution(leads, sequence=seq)
    >>> got.select("id", "attributed", "step", "step_label", "positive").rows()
    [('a', False, None, 'Unattributed', False), ('b', True, 0, 'Step 1 · Hi', True)]
    """
    check_leads(leads, ["campaign_id", "id", *REPLY_COLUMNS], "reply_attribution")
    base = prepare(leads, [], ["campaign_id", "id", *REPLY_COLUMNS]).filter(
        pl.col("replied").fill_null(False)
    )
    attributed = attribute_replies(explode_emails(base, ["_lead", "replied_at"], variant=True))
    out = (
        base.join(attributed, on="_lead", how="left", maintain_order="left")
        .with_columns(positive=positive_expr(positive_tags))
        .select(
            "campaign_id",
            "id",
            "replied_at",
            "ai_tag",
            "positive",
            attributed=pl.col("_attributed").fill_null(False),
            step=pl.col("step").cast(pl.Int32),
            variant=pl.col("variant").cast(pl.String),
        )
    )
    out = apply_labels(out, sequence_table(sequence, label_from, leads))
    # A null step here means "no email to attribute the reply to", not an unknown step.
    return out.with_columns(
        step_label=pl.when(pl.col("attributed"))
        .then(pl.col("step_label"))
        .otherwise(pl.lit("Unattributed"))
    )
