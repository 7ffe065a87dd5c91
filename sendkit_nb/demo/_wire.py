"""Writing the demo API's answers to the socket: well-formed ones in one write, and the broken
ones its faults send (a body cut short, a broken chunked stream)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from ._replies import _dumps

_MAX_BODY = 1 << 20  # request bodies are drained (keep-alive needs it), never parsed


def _drain(h: BaseHTTPRequestHandler) -> None:
    if h.headers.get("Transfer-Encoding"):
        h.close_connection = True  # chunked bodies are not worth parsing here
        return
    try:
        length = int(h.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > _MAX_BODY:
        h.close_connection = True
    elif length > 0:
        h.rfile.read(length)


def _head(
    h: BaseHTTPRequestHandler, status: int, headers: Iterable[tuple[str, str]], length: int | None
) -> bytes:
    """The status line and headers; ``length`` None sends no Content-Length (chunked)."""
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: application/json; charset=utf-8",
    ]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.extend(f"{k}: {v}" for k, v in headers)
    if h.close_connection:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _write(
    h: BaseHTTPRequestHandler, status: int, body: bytes, headers: Iterable[tuple[str, str]]
) -> None:
    head = _head(h, status, headers, len(body))
    try:
        # one write: headers and body in the same segment(s), no Nagle interplay
        h.wfile.write(head + body)
    except OSError:
        h.close_connection = True


def _redirect(h: BaseHTTPRequestHandler, location: str) -> None:
    body = _dumps({"error": "Found", "message": f"Moved to {location}", "code": 302})
    _write(h, 302, body, [("Location", location)])


def _write_short(
    h: BaseHTTPRequestHandler, status: int, body: bytes, headers: Iterable[tuple[str, str]]
) -> None:
    # The head is built before close_connection is set: a server that cuts a response
    # short does not announce it, the client only learns from the early EOF.
    head = _head(h, status, headers, len(body))
    h.close_connection = True
    with contextlib.suppress(OSError):
        h.wfile.write(head + body[: len(body) // 2])
        h.connection.shutdown(socket.SHUT_WR)  # EOF now, not when the handler unwinds


def _write_broken_chunks(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    headers: Iterable[tuple[str, str]],
    bad_size_line: bool,
) -> None:
    head = _head(h, status, [*headers, ("Transfer-Encoding", "chunked")], None)
    h.close_connection = True
    # at least one byte: a first chunk of size 0 would be a valid end of an empty body
    cut = max(1, len(body) // 2)
    if bad_size_line:
        # a valid first chunk, then a size line that is not hex
        stream = b"%x\r\n%s\r\nzz-not-hex\r\n%s" % (cut, body[:cut], body[cut:])
    else:
        # one chunk announcing the whole body, closed after half of it
        stream = b"%x\r\n%s" % (len(body), body[:cut])
    with contextlib.suppress(OSError):
        h.wfile.write(head + stream)
        h.connection.shutdown(socket.SHUT_WR)
