"""Small recipes that join the layers for one question (load, then compute)."""

from __future__ import annotations

import polars as pl

from sendkit_nb._client import SendKitClient
from sendkit_nb._frames import load_leads
from sendkit_nb.metrics import reconcile as reconcile_frames


def reconcile(
    client: SendKitClient, campaign_id: str, *, progress: bool = True, include_matches: bool = False
) -> pl.DataFrame:
    """Load a campaign's leads and its ``/analytics`` and list every number on which they differ.

    One row per difference (``campaign_id, what, step, variant, from_leads, from_api,
    difference``); an empty frame means the leads reproduce the API's own step x variant
    sent/opened/clicked/bounced counts, status breakdown and reply total. See
    :func:`sendkit_nb.metrics.reconcile` for what is compared and how.
    """
    leads = load_leads(client, campaign_id, progress=progress)
    analytics = client.campaign_analytics(campaign_id)
    return reconcile_frames(leads, analytics, include_matches=include_matches)
