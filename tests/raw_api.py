"""Plain-Python reads of the demo API over HTTP (urllib, no sendkit_nb code), so that tests
compare the loaders with the raw JSON a server really sent."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlencode

from sendkit_nb.demo import DemoServer


def get(server: DemoServer, path: str, **params: Any) -> Any:
    """The whole JSON body of one GET."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    request = urllib.request.Request(
        f"{server.url}{path}{'?' + query if query else ''}",
        headers={"X-Api-Key": server.api_key},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def every_item(server: DemoServer, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a list endpoint: by page number where the server numbers pages, by
    cursor where it does not."""
    first = get(server, path, limit=100, **params)
    items: list[dict[str, Any]] = list(first["data"])
    pagination = first["pagination"]
    if "pages" in pagination:
        for page in range(2, pagination["pages"] + 1):
            items.extend(get(server, path, limit=100, page=page, **params)["data"])
        return items
    while pagination.get("hasMore"):
        body = get(server, path, limit=100, cursor=pagination["nextCursor"], **params)
        items.extend(body["data"])
        pagination = body["pagination"]
    return items
