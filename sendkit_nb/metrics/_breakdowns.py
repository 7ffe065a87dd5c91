"""Breakdowns of a campaign's leads: by lead status and by AI reply tag."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb._schema import LEAD_STATUSES, LeadStatus
from sendkit_nb.metrics._common import (
    check_leads,
    positive_tags_column,
    tag_is_positive,
)

__all__ = ["ai_tag_counts", "status_counts"]


def status_counts(leads: pl.DataFrame) -> pl.DataFrame:
    """Leads per campaign and lead status, every status listed (zero included).

    Columns: ``campaign_id``, ``status`` (the LeadStatus enum, in its order), ``leads`` (Int64),
    ``share`` (of the campaign's leads; Float64).

    >>> leads = pl.DataFrame({"campaign_id": ["c", "c", "c"],
    ...     "status": pl.Series(["active", "replied", "active"], dtype=LeadStatus)})
    >>> status_counts(leads).filter(pl.col("leads") > 0).rows()
    [('c', 'active', 2, 0.6666666666666666), ('c', 'replied', 1, 0.3333333333333333)]
    """
    check_leads(leads, ["campaign_id", "status"], "status_counts")
    # Count on the raw columns first (fast on the enum), then cast the few result rows through
    # String so a plain-string status column works too; unknown values fail loudly.
    counts = (
        leads.group_by("campaign_id", "status")
        .agg(leads=pl.len().cast(pl.Int64))
        .with_columns(pl.col("campaign_id").cast(pl.String), pl.col("status").cast(pl.String))
    )
    unknown = counts.filter(
        pl.col("status").is_not_null() & ~pl.col("status").is_in(list(LEAD_STATUSES))
    )
    if unknown.height:
        raise BadRequestError(
            f"unknown lead status {unknown['status'][0]!r}",
            hint=f"Lead statuses are {', '.join(LEAD_STATUSES)}.",
        )
    # Every status for every campaign, so campaigns line up row by row; a null status (not seen
    # from the API, but possible in a hand-made frame) gets a row only where it occurs.
    grid = pl.concat(
        [
            counts.select(pl.col("campaign_id").unique()).join(
                pl.DataFrame({"status": list(LEAD_STATUSES)}), how="cross"
            ),
            counts.filter(pl.col("status").is_null()).select("campaign_id", "status"),
        ]
    )
    return (
        grid.join(counts, on=["campaign_id", "status"], how="left", nulls_equal=True)
        .with_columns(status=pl.col("status").cast(LeadStatus), leads=pl.col("leads").fill_null(0))
        .pipe(_with_share)
        .sort("campaign_id", "status", nulls_last=True)
    )


def _with_share(frame: pl.DataFrame) -> pl.DataFrame:
    total = pl.col("leads").sum().over("campaign_id")
    return frame.with_columns(
        share=pl.when(total > 0).then(pl.col("leads") / total).otherwise(None).cast(pl.Float64)
    )


def ai_tag_counts(
    leads: pl.DataFrame, *, positive_tags: Iterable[str] | None = None
) -> pl.DataFrame:
    """Leads per campaign and AI tag (null = untagged), most frequent first.

    Columns: ``campaign_id``, ``ai_tag``, ``is_positive`` (the tag is in the positive set),
    ``leads``, ``replied`` (of those, replied; Int64), ``share`` (of the campaign's leads) and
    ``positive_tags`` (the positive set, ``"interested, meeting_booked"``).

    >>> leads = pl.DataFrame({"campaign_id": ["c"] * 3, "replied": [True, True, False],
    ...     "ai_tag": ["interested", "not_interested", None]})
    >>> ai_tag_counts(leads).select("ai_tag", "is_positive", "leads").rows()
    [(None, False, 1), ('interested', True, 1), ('not_interested', False, 1)]
    """
    check_leads(leads, ["campaign_id", "ai_tag", "replied"], "ai_tag_counts")
    counts = (
        leads.group_by("campaign_id", "ai_tag")
        .agg(
            leads=pl.len().cast(pl.Int64),
            replied=pl.col("replied").fill_null(False).sum().cast(pl.Int64),
        )
        .with_columns(pl.col("campaign_id").cast(pl.String), pl.col("ai_tag").cast(pl.String))
    )
    return (
        counts.with_columns(is_positive=tag_is_positive(pl.col("ai_tag"), positive_tags))
        .pipe(_with_share)
        .sort(
            ["campaign_id", "leads", "ai_tag"],
            descending=[False, True, False],
            nulls_last=False,
        )
        .with_columns(positive_tags_column(positive_tags))
        .select(
            "campaign_id", "ai_tag", "is_positive", "leads", "replied", "share", "positive_tags"
        )
    )
