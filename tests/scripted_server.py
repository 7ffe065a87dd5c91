"""A tiny real HTTP server on 127.0.0.1 whose answers a test scripts, for the misbehaviours the
demo API never shows (repeated cursors, pages that do not advance, wrong field types)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

# (status, JSON-able body or raw bytes) or (status, body, extra headers such as Location)
Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Script = Callable[[str, dict[str, str]], Answer]


class ScriptedServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.headers: list[dict[str, str]] = []  # the request headers, in arrival order
        self.targets: list[str] = []  # each request line's target, as sent
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.targets.append(self.path)
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                outer.requests.append((parts.path, query))
                outer.headers.append(dict(self.headers.items()))
                answer = outer.script(parts.path, query)
                status, body = answer[0], answer[1]
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (answer[2] if len(answer) == 3 else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def lead(n: int, **fields: Any) -> dict[str, Any]:
    """A well-formed campaign-lead item with id number ``n``."""
    item: dict[str, Any] = {
        "_id": f"{n:024x}",
        "leadId": {"_id": f"{n + 10**6:024x}", "email": f"lead{n}@example.com"},
        "status": "active",
        "currentSequenceStep": 1,
        "emailsSent": [
            {
                "sequenceStep": 0,
                "variant": None,
                "sentAt": "2025-06-16T10:30:00.000Z",
                "opened": False,
                "clicked": False,
                "bounced": False,
            }
        ],
        "replied": False,
        "repliedAt": None,
        "aiTag": None,
        "tags": [],
        "addedAt": "2025-06-15T09:00:00.000Z",
    }
    item.update(fields)
    return item
