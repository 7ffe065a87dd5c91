"""Small recipes that join the layers for one question (load, then compute)."""

from __future__ import annotations

import polars as pl

from sendkit_nb._client import SendKitClient, check_client
from sendkit_nb._errors import BadRequestError
from sendkit_nb._frames import load_leads
from sendkit_nb._inbox import load_replies
from sendkit_nb.metrics import reconcile as reconcile_frames


def reconcile(
    client: SendKitClient,
    campaign_id: str,
    *,
    progress: bool = True,
    include_matches: bool = False,
    replies: pl.DataFrame | None = None,
    inbox: bool = False,
) -> pl.DataFrame:
    """Load a campaign's leads and its ``/analytics`` and list every number on which they differ.

    One row per difference (``campaign_id, what, step, variant, from_leads, from_api,
    difference``); an empty frame means the leads reproduce the API's own step x variant
    sent/opened/clicked/bounced counts, status breakdown and reply total. See
    :func:`sendkit_nb.metrics.reconcile` for what is compared and how.

    ``replies`` (:func:`~sendkit_nb.load_replies` of the campaign), or ``inbox=True`` to load
    them here (one request per inbox thread, which is why it is not the default), adds the
    per-step comparison of last-touch attribution with the inbox threads (``what="replied"``
    and ``"unattributed"`` rows).
    """
    check_client(client, "reconcile")
    if replies is not None and inbox:
        raise BadRequestError(
            "pass replies= or inbox=True, not both",
            hint="inbox=True loads the replies; replies= uses those already loaded.",
        )
    if replies is not None and not isinstance(replies, pl.DataFrame):
        raise BadRequestError(
            "replies must be the polars DataFrame of sk.load_replies, got "
            f"{type(replies).__name__}",
            hint="replies = sk.load_replies(client, campaign_id), or inbox=True to load them here.",
        )
    leads = load_leads(client, campaign_id, progress=progress)
    analytics = client.campaign_analytics(campaign_id)
    if inbox:
        # The leads just loaded give the threads' emails their steps: no second walk.
        replies = load_replies(client, campaign_id, leads=leads, progress=progress)
    return reconcile_frames(leads, analytics, replies=replies, include_matches=include_matches)
