"""Campaigns side by side: the headline of each, named, for comparison."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb.metrics._attribution import Attribution
from sendkit_nb.metrics._definitions import (
    Denominator,
)
from sendkit_nb.metrics._emails import (
    Segment,
    check_choice,
)
from sendkit_nb.metrics._funnel import funnel
from sendkit_nb.metrics._headline import headline
from sendkit_nb.metrics._labels import LabelFrom, SequenceSource
from sendkit_nb.metrics._windows import WindowBound

__all__ = ["compare_campaigns"]


def _campaign_names(campaigns: pl.DataFrame | Iterable[Mapping[str, Any]] | None) -> pl.DataFrame:
    schema = {"campaign_id": pl.String, "campaign_name": pl.String}
    if campaigns is None:
        return pl.DataFrame(schema=schema)
    if isinstance(campaigns, pl.DataFrame):
        if "campaign_id" not in campaigns.columns or "name" not in campaigns.columns:
            raise BadRequestError(
                "the campaigns frame needs 'campaign_id' and 'name' columns",
                hint="Pass load_campaigns(client).",
            )
        return campaigns.select(
            pl.col("campaign_id").cast(pl.String), campaign_name=pl.col("name").cast(pl.String)
        ).unique("campaign_id", keep="first", maintain_order=True)
    rows = []
    for c in campaigns:
        if not isinstance(c, Mapping):
            raise BadRequestError(
                f"campaigns must be a frame or campaign dicts, got {type(c).__name__}",
                hint="Pass load_campaigns(client) or the 'data' list of GET /v1/campaigns.",
            )
        cid = c.get("campaign_id", c.get("_id", c.get("id")))
        rows.append({"campaign_id": cid, "campaign_name": c.get("name")})
    return pl.DataFrame(rows, schema=schema).unique(
        "campaign_id", keep="first", maintain_order=True
    )


def compare_campaigns(
    leads: pl.DataFrame,
    campaigns: pl.DataFrame | Sequence[Mapping[str, Any]] | None = None,
    *,
    by: Literal["campaign", "step"] = "campaign",
    segment: Segment = None,
    denominator: Denominator = "delivered",
    positive_tags: Iterable[str] | None = None,
    label_from: LabelFrom = "subject",
    confidence: float = 0.95,
    since: WindowBound = None,
    until: WindowBound = None,
    as_of: datetime | None = None,
    attribution: Attribution = "last_touch",
    replies: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Several campaigns side by side on the same definitions (concatenate their lead frames).

    ``by="campaign"``: the :func:`headline` per campaign with a ``campaign_name`` column after
    ``campaign_id``, best headline rate first. ``by="step"``: :func:`funnel` segmented by
    campaign, steps labelled from each campaign's own sequence (when ``campaigns`` is given),
    with ``campaign_name``. ``campaigns`` is ``load_campaigns(client)`` or a list of campaign
    dicts; without it names are null. ``confidence`` is the level of the Wilson intervals.
    ``since`` / ``until`` / ``as_of``: a time window, as in :func:`headline`.
    ``attribution`` / ``replies``: as in :func:`headline` (``"inbox"`` with
    ``replies=sk.load_replies(...)`` of the campaigns, concatenated): a report that places
    replies by the inbox threads compares its campaigns on the same reply counts its campaign
    sections show.

    >>> from datetime import datetime, UTC
    >>> e = {"step": 0, "variant": None, "sent_at": datetime(2025, 6, 2, tzinfo=UTC),
    ...      "opened": False, "clicked": False, "bounced": False}
    >>> leads = pl.DataFrame({"campaign_id": ["a", "b", "b"], "replied": [False, True, False],
    ...     "replied_at": [None] * 3, "ai_tag": [None, "interested", None], "emails": [[e]] * 3})
    >>> names = [{"_id": "a", "name": "Alpha"}, {"_id": "b", "name": "Beta"}]
    >>> cmp = compare_campaigns(leads, names)
    >>> cmp.select("campaign_name", "contacted", "positive_rate").rows()
    [('Beta', 2, 0.5), ('Alpha', 1, 0.0)]
    """
    check_choice(by, ("campaign", "step"), "by=")
    names = _campaign_names(campaigns)
    if by == "campaign":
        out = headline(
            leads,
            segment=segment,
            positive_tags=positive_tags,
            confidence=confidence,
            since=since,
            until=until,
            as_of=as_of,
            attribution=attribution,
            replies=replies,
        )
        out = out.join(names, on="campaign_id", how="left", maintain_order="left")
        out = out.sort(
            ["positive_rate", "campaign_name", "campaign_id"],
            descending=[True, False, False],
            nulls_last=True,
        )
    else:
        extra = (
            []
            if segment is None
            else [segment]
            if isinstance(segment, str | pl.Expr)
            else list(segment)
        )
        sequence: SequenceSource | None = None
        if campaigns is not None:
            sequence = campaigns if isinstance(campaigns, pl.DataFrame) else list(campaigns)
            if isinstance(sequence, list):
                sequence = [c for c in sequence if "sequence" in c]
                if not sequence:
                    sequence = None
        out = funnel(
            leads,
            segment=["campaign_id", *extra],
            denominator=denominator,
            positive_tags=positive_tags,
            sequence=sequence,
            label_from=label_from,
            confidence=confidence,
            since=since,
            until=until,
            as_of=as_of,
            attribution=attribution,
            replies=replies,
        )
        out = out.join(names, on="campaign_id", how="left", maintain_order="left")
    columns = list(out.columns)
    columns.remove("campaign_name")
    columns.insert(columns.index("campaign_id") + 1, "campaign_name")
    return out.select(columns)
