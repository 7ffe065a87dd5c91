"""What the demo API answers: JSON bodies serialised once, errors in the API's shape, and the
exception an endpoint raises to answer with one."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from ._data import JSONDict

# One encoder for the whole module: json.dumps with non-default options builds a new encoder on
# every call, which is measurable when serialising 100k leads.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dumps(obj: Any) -> bytes:
    return _encode(obj).encode("utf-8")


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: Runs once the body is built (before it is written): used to grow a campaign right after
    #: a page of it was produced, so that the page reflects the state before the growth.
    after: Callable[[], None] | None = None


def _error_body(status: int, message: str) -> bytes:
    return _dumps({"error": HTTPStatus(status).phrase, "message": message, "code": status})


def _error_reply(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> _Reply:
    return _Reply(status, _error_body(status, message), headers or [])


def _ok(data: Any, pagination: JSONDict | None = None) -> _Reply:
    body: JSONDict = {"success": True, "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return _Reply(200, _dumps(body))
