"""The list envelope (``{"data": [...], "pagination": {...}}``) is checked in one place
(``sendkit_nb._envelope``), so the campaigns list, workspace leads, the inbox and the mailboxes
give the same SchemaError, word for word but for the endpoint's name, for the same bad body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
from tests.scripted_server import ScriptedServer

_CAMPAIGN = "c" * 24
_PAGED = {"page": 1, "limit": 100, "total": 3, "pages": 1}

# (path served the bad body, the `what` the message names, its items' id key, the load)
_LOADERS: dict[str, tuple[str, str, str, Callable[[sk.SendKitClient], pl.DataFrame]]] = {
    "campaigns list": ("/v1/campaigns", "campaigns", "_id", sk.load_campaigns),
    "workspace leads": (
        "/v1/leads",
        "workspace leads",
        "_id",
        lambda client: sk.load_lead_details(client, progress=False),
    ),
    "inbox": (
        "/v1/inbox",
        "inbox",
        "id",
        lambda client: sk.load_replies(client, _CAMPAIGN, progress=False),
    ),
    # One request, not a walk, but the same envelope and the same check.
    "mailboxes": ("/v1/analytics/mailboxes", "mailbox analytics", "_id", sk.load_mailboxes),
}

# (body, the message after "unexpected <what> response: "; {id} is the loader's id key)
_BAD_ENVELOPES: dict[str, tuple[Any, str]] = {
    "not an object": ([{"_id": "a", "id": "a"}], "not a JSON object: [{'_id': 'a', 'id': 'a'}]"),
    "a string": ("data", "not a JSON object: 'data'"),
    "data absent, positive total": (
        {"pagination": _PAGED},
        "no `data` list, though its pagination announces 3 items",
    ),
    "data null, positive total": (
        {"data": None, "pagination": {"limit": 100, "total": 3, "hasMore": False}},
        "no `data` list, though its pagination announces 3 items",
    ),
    "data absent, no total": ({"success": True}, "no `data` list"),
    "data not a list": (
        {"data": {"_id": "a"}, "pagination": _PAGED},
        "data: expected list, got {'_id': 'a'}",
    ),
    "pagination not an object": (
        {"data": [], "pagination": [1]},
        "pagination: expected object, got [1]",
    ),
    "an item not an object": (
        {"data": ["x"], "pagination": _PAGED},
        "page 1, data[0]: expected object, got 'x'",
    ),
    "an item without its id": (
        {"data": [{"name": "x"}], "pagination": {"limit": 100, "total": 1, "hasMore": False}},
        "a page, data[0].{id}: expected a non-empty string id, got None",
    ),
}


@pytest.mark.parametrize("loader", list(_LOADERS))
@pytest.mark.parametrize("envelope", list(_BAD_ENVELOPES))
def test_each_list_loader_words_a_bad_envelope_alike(loader: str, envelope: str) -> None:
    path, what, id_key, load = _LOADERS[loader]
    body, problem = _BAD_ENVELOPES[envelope]

    def script(asked: str, query: dict[str, str]) -> tuple[int, Any]:
        if asked == path:
            return 200, body
        return 404, {"success": False, "error": f"not scripted: {asked}"}

    with (
        ScriptedServer(script) as server,
        sk.SendKitClient("sk_test", base_url=server.url, sleep=lambda _: None) as client,
        pytest.raises(sk.SchemaError) as caught,
    ):
        load(client)
    assert caught.value.message == f"unexpected {what} response: {problem.replace('{id}', id_key)}"
    # A shape error is not retried: one request, and no other endpoint asked.
    assert [asked for asked, _ in server.requests] == [path]


@pytest.mark.parametrize("loader", list(_LOADERS))
@pytest.mark.parametrize("data", [None, "absent", []])
def test_no_data_with_a_total_of_zero_is_an_empty_list(loader: str, data: Any) -> None:
    path, _, _, load = _LOADERS[loader]
    body: dict[str, Any] = {"pagination": {"limit": 100, "total": 0, "hasMore": False}}
    if data != "absent":
        body["data"] = data

    def script(asked: str, query: dict[str, str]) -> tuple[int, Any]:
        if asked == path:
            return 200, body
        if asked.endswith("/leads"):  # the inbox loader's walk of the campaign
            return 200, {"data": [], "pagination": {"limit": 100, "total": 0, "hasMore": False}}
        return 404, {"success": False, "error": f"not scripted: {asked}"}

    with (
        ScriptedServer(script) as server,
        sk.SendKitClient("sk_test", base_url=server.url, sleep=lambda _: None) as client,
    ):
        loaded = load(client)
    assert loaded.height == 0
