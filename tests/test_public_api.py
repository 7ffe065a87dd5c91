"""The public surface stays small and honest: everything in ``__all__`` exists, nothing public
is left out, and top-level recipes work over real HTTP."""

from __future__ import annotations

import inspect
import types
from typing import Any

import pytest

import sendkit_nb as sk
from tests.scripted_server import ScriptedServer, lead


def test_all_names_exist_and_public_names_are_listed() -> None:
    for name in sk.__all__:
        assert hasattr(sk, name), name
    public = {
        name
        for name, value in vars(sk).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name not in {"annotations", "Any"}
    }
    assert public <= set(sk.__all__), public - set(sk.__all__)


def test_reconcile_finds_nothing_on_consistent_demo_data(
    client: sk.SendKitClient, server: Any
) -> None:
    for campaign in server.workspace.campaigns:
        differences = sk.reconcile(client, campaign["_id"], progress=False)
        assert differences.height == 0, differences


def test_reconcile_lists_a_disagreement() -> None:
    campaign = "665a1b2c3d4e5f6a7b8c9d0e"
    analytics = {
        "campaign": {"id": campaign, "name": "x", "status": "active"},
        "stepAnalytics": [
            {
                "_id": {"sequenceStep": 0, "variant": None},
                "sent": 2,
                "opened": 0,
                "clicked": 0,
                "bounced": 0,
            }
        ],
        "statusBreakdown": {"active": 1},
        "totalReplied": 0,
    }

    def script(path: str, query: dict[str, str]) -> tuple[int, Any]:
        if path.endswith("/analytics"):
            return 200, {"success": True, "data": analytics}
        pagination = {"limit": 100, "total": 1, "hasMore": False, "nextCursor": None}
        return 200, {"success": True, "data": [lead(1)], "pagination": pagination}

    with (
        ScriptedServer(script) as server,
        sk.SendKitClient("sk_test", base_url=server.url) as client,
    ):
        differences = sk.reconcile(client, campaign, progress=False)
    row = differences.filter(differences["what"] == "sent").row(0, named=True)
    assert (row["step"], row["from_leads"], row["from_api"]) == (0, 1, 2)


def test_connect_uses_demo_without_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SENDKIT_API_KEY", raising=False)
    with sk.connect() as client:
        assert client.is_demo
        assert sk.load_campaigns(client).height > 0
    assert "demo API" in capsys.readouterr().err
    assert not client.is_demo, "closing the client stops its demo server"


def test_beyond_the_campaign_table_loaders_return_their_schemas(
    demo_client: sk.SendKitClient,
) -> None:
    campaign = sk.load_campaigns(demo_client)["campaign_id"][0]
    leads = sk.load_leads(demo_client, campaign, progress=False)
    details = sk.load_lead_details(demo_client, progress=False)
    assert details.schema == sk.LEAD_DETAILS_SCHEMA
    assert sk.with_lead_details(leads, details).height == leads.height
    assert sk.load_mailboxes(demo_client).schema == sk.MAILBOXES_SCHEMA
    replies = sk.load_replies(demo_client, campaign, leads=leads, progress=False)
    assert replies.schema == sk.REPLIES_SCHEMA and replies.height > 0


def test_metrics_and_charts_list_what_they_export() -> None:
    for module in (sk.metrics, sk.charts):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
    # who replies, by any lead attribute: a metric and its chart
    assert {"breakdown", "BreakdownMetric", "Adjust", "ADJUSTMENTS"} <= set(sk.metrics.__all__)
    assert "breakdown" in sk.charts.__all__
    # which email earned the reply, and which sender
    assert {"Attribution", "ATTRIBUTIONS", "ATTRIBUTION_CHANGES", "compare_attribution"} <= set(
        sk.metrics.__all__
    )
    assert {"mailbox_rates", "MAILBOX_RATES", "DEFAULT_BOUNCE_THRESHOLD"} <= set(sk.metrics.__all__)
    assert "mailboxes" in sk.charts.__all__
    params = inspect.signature(sk.funnel).parameters
    assert params["attribution"].default == "last_touch" and params["replies"].default is None
