"""A SendKit-compatible HTTP API over a :class:`DemoWorkspace`, standard library only.

It is three things at once: the keyless default that notebooks and Binder talk to, the real
server every test of the client talks HTTP to (with switchable faults), and the server the
benchmarks measure against. Hence the emphasis on speed (each lead's JSON is serialised once and
pages are joined from bytes) and on being exactly as strict as the docs (limit 1..100, documented
status values, 24-hex ids, key kinds and ``X-Workspace-Id`` rules).

Only loopback addresses are ever bound: this is test and demo infrastructure, not a service.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from email.message import Message
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, Literal, NamedTuple, cast
from urllib.parse import parse_qsl, urlsplit

from .._schema import CAMPAIGN_STATUSES
from ._aggregates import _analytics, _daily
from ._beyond import BeyondEndpoints
from ._data import (
    DEMO_NOW,
    DEMO_USER_ID,
    DemoWorkspace,
    JSONDict,
    make_workspace,
)
from ._params import (
    _HEX24,
    _format_seconds,
    _paginate,
    _parse_paging,
    _parse_range,
    _parse_statuses,
)
from ._replies import _ApiError, _dumps, _error_reply, _ok, _Reply
from ._wire import (
    _drain,
    _head,
    _redirect,
    _write,
    _write_broken_chunks,
    _write_short,
)

__all__ = [
    "DEMO_API_KEY",
    "DEMO_PLATFORM_KEY",
    "FAULT_KINDS",
    "DemoServer",
    "Faults",
    "LoggedRequest",
    "OtherOriginRequest",
]

_log = logging.getLogger(__name__)

#: A workspace key (``sk_...``): bound to the demo workspace, must not send ``X-Workspace-Id``.
DEMO_API_KEY = "sk_demo_workspace_key"
#: A platform key (``sk_user_...``): needs ``X-Workspace-Id: DEMO_WORKSPACE_ID`` on
#: workspace-scoped endpoints.
DEMO_PLATFORM_KEY = "sk_user_demo_platform_key"

#: The eight documented filter values of ``GET /v1/campaigns/{id}/leads``. ``failed`` exists as
#: a lead status but is not a documented filter value, so filtering by it is a 400 like any
#: other unknown value.
LEAD_FILTER_STATUSES: tuple[str, ...] = (
    "pending",
    "active",
    "paused",
    "completed",
    "bounced",
    "unsubscribed",
    "replied",
    "removed",
)

#: Kinds accepted by :meth:`DemoServer.fail_next`. The first twelve can also be drawn at random
#: through :class:`Faults`; the ``redirect_*`` kinds only through ``fail_next``:
#:
#: * ``redirect_loop``: 302 to the same URL plus a ``_demo_loop=1`` marker; a request carrying
#:   the marker is answered with a 302 to itself, forever (the hops draw no faults);
#: * ``redirect_other_origin``: 302 to the same path on a second port of this server
#:   (:attr:`DemoServer.other_origin_url`), whose requests go to
#:   :attr:`DemoServer.other_origin_log` (with whether an API key came along) instead of
#:   :attr:`DemoServer.request_log`;
#: * ``redirect_scheme``: 302 to ``ftp://127.0.0.1:<port>/<same path>``;
#: * ``redirect_malformed``: 302 with an unparsable ``Location`` (``http://[::1/<path>``).
FAULT_KINDS: tuple[str, ...] = (
    "429",
    "500",
    "502",
    "503",
    "drop",
    "slow",
    "truncated",
    "short_body",
    "chunked_broken",
    "bad_gzip",
    "drip",
    "retry_after_garbage",
    "redirect_loop",
    "redirect_other_origin",
    "redirect_scheme",
    "redirect_malformed",
)
#: Faults that only mangle how a 200's body is framed or encoded: other statuses (a 401, a 404)
#: are written normally, as with ``truncated``, so that a test's error paths stay deterministic.
_BODY_FAULTS = frozenset({"truncated", "short_body", "chunked_broken", "bad_gzip"})
#: Query parameter that marks a hop of a ``redirect_loop``.
_LOOP_MARKER = "_demo_loop"

#: The ``Date`` of every answer: the demo workspace's frozen clock (DEMO_NOW, in ms), as a real
#: API's Date is its clock. A client takes it as the data's "now" (``client.server_time``), so
#: "the last 30 days" of demo data are the data's last 30 days, not an empty stretch after it.
_CLOCK_DATE = formatdate(DEMO_NOW / 1000, usegmt=True)

_ALLOWED_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}


@dataclass
class Faults:
    """Fault probabilities per ``/v1/`` request; mutate ``server.faults`` to switch them on.

    One uniform draw per request from an RNG seeded with ``seed`` picks at most one kind, checked
    in field order (so probabilities add up; keep their sum <= 1).
    """

    rate_limit: float = 0.0  # 429 with Retry-After and an error body
    server_error: float = 0.0  # 500, 502, 503 in rotation, with an error body
    drop: float = 0.0  # connection closed without any response
    slow: float = 0.0  # sleep slow_seconds, then answer normally
    truncated: float = 0.0  # 200 whose body is cut in half (Content-Length matches the cut)
    # The kinds below were added later; they come after the original five so that a seed that
    # only sets the original ones still draws the very same sequence of faults.
    #: 200 whose Content-Length announces the whole body, but half is sent before the
    #: connection is closed (the client sees an incomplete read, not invalid JSON).
    short_body: float = 0.0
    #: 200 with ``Transfer-Encoding: chunked`` whose chunk stream breaks: alternately a
    #: non-hex chunk-size line after the first half, and a close in the middle of a chunk.
    chunked_broken: float = 0.0
    #: 200 with ``Content-Encoding: gzip`` on a body that is plain JSON.
    bad_gzip: float = 0.0
    #: The response body sent one byte per ``drip_seconds``: no single read ever waits long
    #: enough for a per-read timeout, yet a page of leads takes minutes.
    drip: float = 0.0
    #: 429 whose Retry-After is ``garbage_retry_after`` (unparsable, or NaN when parsed naively).
    retry_after_garbage: float = 0.0
    #: Retry-After value in seconds sent with 429s; None omits the header.
    retry_after: float | None = 0
    slow_seconds: float = 2.0
    drip_seconds: float = 0.01
    garbage_retry_after: str = "nan"
    seed: int = 0


class LoggedRequest(NamedTuple):
    """One entry of :attr:`DemoServer.request_log`; status 0 means the connection was dropped."""

    method: str
    path: str
    query: dict[str, str]
    status: int


class OtherOriginRequest(NamedTuple):
    """One entry of :attr:`DemoServer.other_origin_log`: a request that followed a
    ``redirect_other_origin`` to the second port. ``key_sent`` tells whether it carried an API
    key (``X-Api-Key`` or ``Authorization``), i.e. whether the client leaked it cross-origin."""

    method: str
    path: str
    query: dict[str, str]
    key_sent: bool


class _LeadIndex:
    """Pre-serialised leads of one campaign, plus cached status-filtered views.

    Views are tuples of lists that are never mutated after creation: a growing campaign gets new
    lists, so a request that already holds a view keeps a consistent snapshot.
    """

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.statuses: list[str] = []
        self.blobs: list[bytes] = []
        self.views: dict[frozenset[str] | None, tuple[list[str], list[bytes]]] = {}

    def sync(self, items: Sequence[JSONDict]) -> None:
        n = len(items)
        if n == len(self.ids):
            return
        tail = items[len(self.ids) : n]
        self.ids = self.ids + [x["_id"] for x in tail]
        self.statuses = self.statuses + [x["status"] for x in tail]
        self.blobs = self.blobs + [_dumps(x) for x in tail]
        self.views = {}

    def view(self, statuses: frozenset[str] | None) -> tuple[list[str], list[bytes]]:
        found = self.views.get(statuses)
        if found is None:
            if statuses is None:
                found = (self.ids, self.blobs)
            else:
                keep = [i for i, s in enumerate(self.statuses) if s in statuses]
                found = ([self.ids[i] for i in keep], [self.blobs[i] for i in keep])
            self.views[statuses] = found
        return found


class _HTTPServer(ThreadingHTTPServer):
    # Room for 16 concurrent clients opening connections in a burst (the default is 5).
    request_queue_size = 128
    daemon_threads = True
    allow_reuse_address = True
    demo: DemoServer
    #: True for the second port that ``redirect_other_origin`` points at.
    other_origin = False
    #: Set by stop() before shutting down, so that a dripping response notices and ends
    #: instead of keeping its thread busy for minutes.
    closed = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up mid-response (a timeout, a deadline, a refused redirect) resets
        # its connection; with the transport faults that is routine, not worth a stderr dump.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall
        # for seconds on machines without DNS; loopback needs none of it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client's connection pool is part of the test
    timeout = 60  # idle keep-alive connections are closed after a minute
    server_version = "SendKitDemo/1.0"

    def setup(self) -> None:
        super().setup()
        # Responses go out in one write, but Nagle + delayed ACK could still add 40 ms stalls
        # to small exchanges on some stacks; loopback latency must be the configured one.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._demo()._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._demo()._track(self.connection, add=False)

    def _demo(self) -> DemoServer:
        return cast(_HTTPServer, self.server).demo

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr line; :attr:`DemoServer.request_log` has it."""

    def do_GET(self) -> None:
        self._demo()._handle(self, "GET")

    def do_POST(self) -> None:
        self._demo()._handle(self, "POST")

    def do_PUT(self) -> None:
        self._demo()._handle(self, "PUT")

    def do_PATCH(self) -> None:
        self._demo()._handle(self, "PATCH")

    def do_DELETE(self) -> None:
        self._demo()._handle(self, "DELETE")


class DemoServer:
    """A SendKit-compatible API on 127.0.0.1 serving a synthetic workspace.

    ``with DemoServer() as srv:`` starts it in a daemon thread; ``srv.url`` is the base URL (the
    client appends ``/v1/...``) and ``srv.api_key`` the demo workspace key. ``pagination``
    chooses the docs generation: ``"page"`` (older: ``page`` param and page-style pagination
    unless a ``cursor`` is sent) or ``"cursor"`` (newer: ``page`` is ignored, always cursor
    style). ``latency`` seconds are slept before every response to simulate a network.

    Tests steer it with :attr:`faults`, :meth:`fail_next`, :meth:`add_leads_during_paging`, and
    read :attr:`request_log` (and :attr:`other_origin_log`, for ``redirect_other_origin``);
    :meth:`reset` clears all of those.
    """

    def __init__(
        self,
        workspace: DemoWorkspace | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pagination: Literal["page", "cursor"] = "page",
        latency: float = 0.0,
    ) -> None:
        if host not in _ALLOWED_HOSTS:
            raise ValueError(
                f"DemoServer only binds loopback addresses (127.0.0.1, localhost, ::1), "
                f"not {host!r}"
            )
        if pagination not in ("page", "cursor"):
            raise ValueError(f"pagination must be 'page' or 'cursor', not {pagination!r}")
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        self.workspace = workspace if workspace is not None else make_workspace()
        self.host = _ALLOWED_HOSTS[host]
        self.port = port
        self.pagination: Literal["page", "cursor"] = pagination
        self.latency = latency
        self.api_key = DEMO_API_KEY
        self.platform_key = DEMO_PLATFORM_KEY
        self.workspace_id = self.workspace.workspace_id
        self.faults = Faults()

        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self._log_lock = threading.Lock()
        # Bumped by reset(): a request that began before a reset (a slow answer the client gave
        # up on) must not appear in the log of the test that comes after it.
        self._generation = 0
        self._request_generation = threading.local()
        self._log: list[LoggedRequest] = []
        self._in_flight = 0
        self._peak_in_flight = 0
        self._fault_lock = threading.Lock()
        self._queued: deque[str] = deque()
        self._rng = random.Random(0)
        self._rng_owner: Faults | None = None
        self._rng_seed: int | None = None
        self._5xx_turn = 0
        self._chunked_turn = 0
        self._grow: dict[str, deque[int]] = {}
        # The second port for redirect_other_origin: started on first use, since most servers
        # never need it and every start costs a socket and a thread.
        self._other: _HTTPServer | None = None
        self._other_thread: threading.Thread | None = None
        self._other_lock = threading.Lock()
        self._other_log: list[OtherOriginRequest] = []
        self._index_lock = threading.Lock()
        self._indexes: dict[str, _LeadIndex] = {}
        self._analytics_cache: dict[tuple[Any, ...], Any] = {}
        # /v1/leads, /v1/analytics/mailboxes and /v1/inbox: built on first use
        self._beyond = BeyondEndpoints(self.workspace)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> DemoServer:
        """Serialise every lead once, bind, and serve in a daemon thread. Returns self."""
        if self._httpd is not None:
            raise RuntimeError("DemoServer is already running")
        # Serialising every lead allocates heavily; the cyclic GC would only slow that down.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for campaign_id in list(self.workspace.leads):
                self._index(campaign_id)
        finally:
            if was_enabled:
                gc.enable()
        cls = _HTTPServer6 if self.host == "::1" else _HTTPServer
        httpd = cls((self.host, self.port), _Handler)
        httpd.demo = self
        self.port = int(httpd.server_address[1])
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sendkit-demo-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        with self._other_lock:
            other, self._other = self._other, None
            other_thread, self._other_thread = self._other_thread, None
        for server in (httpd, other):
            if server is not None:
                server.closed = True
                server.shutdown()
                server.server_close()
        if other_thread is not None:
            other_thread.join(timeout=5)
        # Keep-alive connections would otherwise keep their handler threads blocked in a read.
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765`` (no trailing slash, no ``/v1``)."""
        if self._httpd is None:
            raise RuntimeError("DemoServer is not running; call start() or use it in a with")
        return self._base_url(self.port)

    @property
    def other_origin_url(self) -> str | None:
        """Base URL of the second port ``redirect_other_origin`` points at, once it was used."""
        other = self._other
        return None if other is None else self._base_url(other.server_port)

    @property
    def other_origin_log(self) -> list[OtherOriginRequest]:
        """A snapshot of every request that reached the second (other-origin) port."""
        with self._log_lock:
            return list(self._other_log)

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._httpd is not None

    def __repr__(self) -> str:
        where = self.url if self._httpd is not None else "stopped"
        return f"DemoServer({where}, pagination={self.pagination!r})"

    # -- test controls -----------------------------------------------------------------------

    @property
    def request_log(self) -> list[LoggedRequest]:
        """A snapshot of every request so far: ``(method, path, query, status)``."""
        with self._log_lock:
            return list(self._log)

    @property
    def peak_in_flight(self) -> int:
        """The most requests the server was answering at once since it started or was
        :meth:`reset` (a client's concurrency, as the server saw it)."""
        with self._log_lock:
            return self._peak_in_flight

    def fail_next(self, kind: str, n: int = 1) -> None:
        """Make the next ``n`` ``/v1/`` requests fail with ``kind`` (see :data:`FAULT_KINDS`),
        before any random fault is drawn."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        with self._fault_lock:
            self._queued.extend([kind] * n)

    def add_leads_during_paging(self, campaign_id: str, n: int) -> None:
        """Right after the next page of this campaign's leads is produced, append ``n`` leads.

        Models a campaign that grows while it is being loaded. The page itself still shows the
        state before the growth; every later request sees the new leads (higher ids, so a cursor
        walk reaches them). Several calls queue up, one per page served. Only complete 200
        pages count: a page cut short by a ``truncated`` fault does not trigger the growth.
        """
        if self.workspace.campaign(campaign_id) is None:
            raise KeyError(f"no campaign {campaign_id!r} in the demo workspace")
        with self._fault_lock:
            self._grow.setdefault(campaign_id, deque()).append(n)

    def change_campaign(self, campaign_id: str, *, add_leads: int = 1) -> None:
        """Change one campaign as new activity would: append ``add_leads`` leads (no emails
        yet; their counts refresh ``stats`` and ``leadCounts``) and move ``updatedAt`` one
        second on, so what the campaigns list says about it changes (a store's sync sees it).

        No cache needs clearing: leads are only appended, and the lead index and the
        analytics cache are keyed by the campaign's lead count.
        """
        from datetime import datetime, timedelta

        with self.workspace.lock:
            campaign = self.workspace.campaign(campaign_id)
            if campaign is None:
                raise KeyError(f"no campaign {campaign_id!r} in the demo workspace")
            self.workspace.add_leads(campaign_id, add_leads)
            updated = datetime.fromisoformat(str(campaign["updatedAt"]).replace("Z", "+00:00"))
            later = updated + timedelta(seconds=1)
            campaign["updatedAt"] = later.strftime("%Y-%m-%dT%H:%M:%S.") + (
                f"{later.microsecond // 1000:03d}Z"
            )
        self._index(campaign_id)

    def remove_campaign(self, campaign_id: str) -> None:
        """Delete a campaign as deleting it in SendKit would: it leaves the campaigns list and
        its endpoints answer 404."""
        with self.workspace.lock:
            campaign = self.workspace.campaign(campaign_id)
            if campaign is None:
                raise KeyError(f"no campaign {campaign_id!r} in the demo workspace")
            self.workspace.campaigns.remove(campaign)
            self.workspace.leads.pop(campaign_id, None)
        with self._index_lock:
            self._indexes.pop(campaign_id, None)
        self._analytics_cache.clear()

    def reset(self) -> None:
        """Clear faults, queued failures, pending growth, both request logs and the peak of
        requests in flight."""
        with self._fault_lock:
            self.faults = Faults()
            self._queued.clear()
            self._grow.clear()
            self._rng_owner = None
            self._5xx_turn = 0
            self._chunked_turn = 0
        with self._log_lock:
            self._log.clear()
            self._other_log.clear()
            self._generation += 1
            self._peak_in_flight = self._in_flight

    # -- request handling --------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record(self, method: str, path: str, query: dict[str, str], status: int) -> None:
        began = getattr(self._request_generation, "value", None)
        with self._log_lock:
            if began is None or began == self._generation:
                self._log.append(LoggedRequest(method, path, query, status))

    def _draw_fault(self) -> str | None:
        with self._fault_lock:
            if self._queued:
                return self._queued.popleft()
            f = self.faults
            kinds = (
                ("429", f.rate_limit),
                ("5xx", f.server_error),
                ("drop", f.drop),
                ("slow", f.slow),
                ("truncated", f.truncated),
                ("short_body", f.short_body),
                ("chunked_broken", f.chunked_broken),
                ("bad_gzip", f.bad_gzip),
                ("drip", f.drip),
                ("retry_after_garbage", f.retry_after_garbage),
            )
            if all(p <= 0 for _, p in kinds):
                return None
            if f is not self._rng_owner or f.seed != self._rng_seed:
                # (Re)seed whenever the Faults object or its seed changes, so that a test that
                # sets faults gets the same sequence of faults on every run.
                self._rng = random.Random(f.seed)
                self._rng_owner, self._rng_seed = f, f.seed
            u = self._rng.random()
            acc = 0.0
            for kind, p in kinds:
                acc += max(p, 0.0)
                if u < acc:
                    if kind == "5xx":
                        kind = ("500", "502", "503")[self._5xx_turn % 3]
                        self._5xx_turn += 1
                    return kind
            return None

    def _handle(self, h: _Handler, method: str) -> None:
        with self._log_lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
        try:
            self._answer(h, method)
        finally:
            with self._log_lock:
                self._in_flight -= 1

    def _answer(self, h: _Handler, method: str) -> None:
        self._request_generation.value = self._generation
        split = urlsplit(h.path)
        path = split.path
        query: dict[str, str] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            # Repeated status params mean "any of these"; other repeats: the last one wins.
            if key == "status" and key in query:
                query[key] = f"{query[key]},{value}"
            else:
                query[key] = value
        _drain(h)
        fault: str | None = None
        other_origin = cast(_HTTPServer, h.server).other_origin
        if other_origin:
            # Someone followed a redirect_other_origin here: log whether the key came along
            # (in other_origin_log, not request_log), then answer like the API would, never
            # with a fault, so that nothing loops back.
            self._record_other(method, path, query, h.headers)
        elif _LOOP_MARKER in query:
            # A hop of a redirect loop: back to the very same URL, forever, drawing no fault
            # (so fail_next counts stay about requests the client chose to make).
            self._record(method, path, query, 302)
            _redirect(h, self._base_url(self.port) + h.path)
            return
        elif path.startswith("/v1/"):
            fault = self._draw_fault()
        if fault == "drop":
            self._record(method, path, query, 0)
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.latency > 0:
            time.sleep(self.latency)
        if fault == "slow":
            time.sleep(max(self.faults.slow_seconds, 0.0))
        if fault is not None and fault.startswith("redirect_"):
            location = self._redirect_target(fault, split.path, split.query)
            if location is None:  # the server is stopping: no second port to send anyone to
                h.close_connection = True
                return
            self._record(method, path, query, 302)
            _redirect(h, location)
            return
        if fault in ("429", "retry_after_garbage"):
            headers = []
            retry_after = self.faults.retry_after
            if fault == "retry_after_garbage":
                headers.append(("Retry-After", self.faults.garbage_retry_after))
            elif retry_after is not None:
                headers.append(("Retry-After", _format_seconds(retry_after)))
            reply = _error_reply(429, "Too many requests, please slow down", headers)
        elif fault in ("500", "502", "503"):
            status = int(fault)
            reply = _error_reply(status, f"Simulated upstream failure ({status})")
        else:
            try:
                reply = self._route(method, path, query, h.headers)
            except _ApiError as err:
                reply = _error_reply(err.status, err.message)
            except Exception:  # the demo must answer, not hang the client, whatever happens
                _log.exception("demo server error on %s %s", method, path)
                reply = _error_reply(500, "Internal error in the demo server")
        reply = replace(reply, headers=[*reply.headers, ("Date", _CLOCK_DATE)])
        body = reply.body
        # A page the client cannot read in full was not delivered: it must not trigger growth.
        mangled = fault if fault in _BODY_FAULTS and reply.status == 200 else None
        if mangled is None and reply.after is not None:
            reply.after()
        if not other_origin:
            self._record(method, path, query, reply.status)
        if mangled == "truncated":
            _write(h, reply.status, body[: len(body) // 2], reply.headers)
        elif mangled == "short_body":
            _write_short(h, reply.status, body, reply.headers)
        elif mangled == "chunked_broken":
            with self._fault_lock:
                bad_size_line = self._chunked_turn % 2 == 0
                self._chunked_turn += 1
            _write_broken_chunks(h, reply.status, body, reply.headers, bad_size_line)
        elif mangled == "bad_gzip":
            _write(h, reply.status, body, [*reply.headers, ("Content-Encoding", "gzip")])
        elif fault == "drip":
            self._write_drip(h, reply.status, body, reply.headers)
        else:
            _write(h, reply.status, body, reply.headers)

    def _base_url(self, port: int) -> str:
        # Not self.url: that raises once stop() has begun, and a handler may still be running.
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    def _redirect_target(self, fault: str, path: str, query: str) -> str | None:
        target = f"{path}?{query}" if query else path
        if fault == "redirect_loop":
            marked = f"{query}&{_LOOP_MARKER}=1" if query else f"{_LOOP_MARKER}=1"
            return f"{self._base_url(self.port)}{path}?{marked}"
        if fault == "redirect_other_origin":
            port = self._other_origin_port()
            return None if port is None else self._base_url(port) + target
        if fault == "redirect_scheme":
            return f"ftp://{self.host}:{self.port}{target}"
        # redirect_malformed: an IPv6 literal without its closing bracket cannot be parsed
        return f"http://[::1{target}"

    def _other_origin_port(self) -> int | None:
        with self._other_lock:
            if self._other is None:
                # stop() clears _httpd before it takes this lock: checking under the lock means
                # a second port is never started after stop() collected the one to close.
                if self._httpd is None:
                    return None
                cls = _HTTPServer6 if self.host == "::1" else _HTTPServer
                other = cls((self.host, 0), _Handler)
                other.demo = self
                other.other_origin = True
                thread = threading.Thread(
                    target=other.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"sendkit-demo-{self.port}-other-origin",
                    daemon=True,
                )
                thread.start()
                self._other, self._other_thread = other, thread
            return self._other.server_port

    def _record_other(
        self, method: str, path: str, query: dict[str, str], headers: Message[str, str]
    ) -> None:
        # Only whether a key was sent is kept: the log must not become a copy of the secret.
        key_sent = bool(headers.get("X-Api-Key") or headers.get("Authorization"))
        with self._log_lock:
            self._other_log.append(OtherOriginRequest(method, path, query, key_sent))

    def _write_drip(
        self, h: _Handler, status: int, body: bytes, headers: Iterable[tuple[str, str]]
    ) -> None:
        server = cast(_HTTPServer, h.server)
        pause = max(self.faults.drip_seconds, 0.0)
        try:
            h.wfile.write(_head(h, status, headers, len(body)))
            for i in range(len(body)):
                # A stopping server must not keep this thread dripping for minutes; a client
                # that went away ends it too, through the OSError of the next write or two.
                if server.closed:
                    break
                time.sleep(pause)
                h.wfile.write(body[i : i + 1])
            else:
                return
        except OSError:
            pass
        h.close_connection = True

    # -- routing -----------------------------------------------------------------------------

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: Message[str, str]
    ) -> _Reply:
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] != "v1":
            raise _ApiError(404, f"Route {path} not found")
        rest = parts[1:]
        handler: Callable[[], _Reply]
        scoped = True
        platform_only = False
        if rest == ["campaigns"]:
            handler = lambda: self._list_campaigns(query)  # noqa: E731
        elif len(rest) == 2 and rest[0] == "campaigns":
            handler = lambda: self._get_campaign(rest[1])  # noqa: E731
        elif len(rest) == 3 and rest[0] == "campaigns" and rest[2] == "leads":
            handler = lambda: self._list_leads(rest[1], query)  # noqa: E731
        elif len(rest) == 3 and rest[0] == "campaigns" and rest[2] == "analytics":
            handler = lambda: self._campaign_analytics(rest[1], query)  # noqa: E731
        elif len(rest) == 4 and rest[:3] == ["analytics", "daily", "campaigns"]:
            handler = lambda: self._daily(rest[3], query)  # noqa: E731
        elif rest == ["leads"]:
            handler = lambda: self._beyond.people(query, self.pagination)  # noqa: E731
        elif rest == ["analytics", "mailboxes"]:
            handler = lambda: self._beyond.mailboxes(query)  # noqa: E731
        elif rest == ["inbox"]:
            handler = lambda: self._beyond.conversations(query, self.pagination)  # noqa: E731
        elif len(rest) == 2 and rest[0] == "inbox":
            handler = lambda: self._beyond.thread(rest[1])  # noqa: E731
        elif rest == ["workspaces"]:
            handler, scoped = self._workspaces, False
        elif rest == ["account"]:
            handler, scoped, platform_only = self._account, False, True
        else:
            raise _ApiError(404, f"Route {path} not found")
        if method != "GET":
            raise _ApiError(405, f"{method} is not supported on {path} by the demo API")
        self._authenticate(headers, scoped=scoped, platform_only=platform_only)
        return handler()

    def _authenticate(
        self, headers: Message[str, str], *, scoped: bool, platform_only: bool
    ) -> None:
        key = headers.get("X-Api-Key")
        if not key:
            auth = headers.get("Authorization") or ""
            scheme, _, token = auth.partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else None
        # Error messages never echo the key: it is a secret even when it is wrong.
        if key not in (DEMO_API_KEY, DEMO_PLATFORM_KEY):
            raise _ApiError(
                401,
                "Invalid or missing API key: send it in the X-Api-Key header "
                "or as Authorization: Bearer <key>",
            )
        workspace_header = headers.get("X-Workspace-Id")
        if key == DEMO_API_KEY:
            if workspace_header is not None:
                raise _ApiError(
                    400,
                    "X-Workspace-Id must not be sent with a workspace API key "
                    "(sk_...): the key is already bound to its workspace",
                )
            if platform_only:
                raise _ApiError(403, "This endpoint requires a platform API key (sk_user_...)")
            return
        if scoped:
            if not workspace_header:
                raise _ApiError(
                    400, "X-Workspace-Id header is required with a platform API key (sk_user_...)"
                )
            if workspace_header.strip().lower() != self.workspace_id:
                raise _ApiError(
                    403, "You don't have permission to access this workspace (X-Workspace-Id)"
                )

    # -- endpoints ---------------------------------------------------------------------------

    def _list_campaigns(self, query: dict[str, str]) -> _Reply:
        statuses = _parse_statuses(query, CAMPAIGN_STATUSES)
        limit, page, cursor = _parse_paging(query, self.pagination)
        search = query.get("search", "").strip().lower()
        with self.workspace.lock:
            items = sorted(self.workspace.campaigns, key=lambda c: str(c["_id"]))
            items = [
                c
                for c in items
                if (statuses is None or c["status"] in statuses)
                and (not search or search in str(c["name"]).lower())
            ]
            ids = [str(c["_id"]) for c in items]
            start, end, pagination = _paginate(ids, limit, page, cursor, self.pagination)
            # serialise under the lock: add_leads may be refreshing a campaign's counters
            return _ok(items[start:end], pagination)

    def _campaign(self, raw_id: str) -> tuple[str, JSONDict]:
        if not _HEX24.fullmatch(raw_id):
            raise _ApiError(
                400, f"Invalid campaign id {raw_id[:40]!r}: expected 24 hexadecimal characters"
            )
        campaign_id = raw_id.lower()
        campaign = self.workspace.campaign(campaign_id)
        if campaign is None:
            raise _ApiError(404, f"Campaign {campaign_id} not found")
        return campaign_id, campaign

    def _get_campaign(self, raw_id: str) -> _Reply:
        _, campaign = self._campaign(raw_id)
        with self.workspace.lock:
            return _ok(campaign)

    def _index(self, campaign_id: str) -> _LeadIndex:
        with self._index_lock:
            index = self._indexes.get(campaign_id)
            if index is None:
                index = self._indexes[campaign_id] = _LeadIndex()
            index.sync(self.workspace.leads.get(campaign_id, []))
            return index

    def _list_leads(self, raw_id: str, query: dict[str, str]) -> _Reply:
        campaign_id, _ = self._campaign(raw_id)
        statuses = _parse_statuses(query, LEAD_FILTER_STATUSES)
        limit, page, cursor = _parse_paging(query, self.pagination)
        index = self._index(campaign_id)
        with self._index_lock:
            ids, blobs = index.view(statuses)
        start, end, pagination = _paginate(ids, limit, page, cursor, self.pagination)
        body = b"".join(
            (
                b'{"success":true,"data":[',
                b",".join(blobs[start:end]),
                b'],"pagination":',
                _dumps(pagination),
                b"}",
            )
        )
        return _Reply(200, body, after=lambda: self._grow_after_page(campaign_id))

    def _grow_after_page(self, campaign_id: str) -> None:
        with self._fault_lock:
            pending = self._grow.get(campaign_id)
            n = pending.popleft() if pending else None
            if pending is not None and not pending:
                del self._grow[campaign_id]
        if n:
            self.workspace.add_leads(campaign_id, n)
            self._index(campaign_id)

    def _cached(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        # Leads are only ever appended, so (campaign, lead count, params) identifies a result.
        found = self._analytics_cache.get(key)
        if found is None:
            found = compute()
            if len(self._analytics_cache) > 256:
                self._analytics_cache.clear()
            self._analytics_cache[key] = found
        return found

    def _campaign_analytics(self, raw_id: str, query: dict[str, str]) -> _Reply:
        campaign_id, campaign = self._campaign(raw_id)
        since, until = _parse_range(query)
        leads = self.workspace.leads.get(campaign_id, [])
        key = ("analytics", campaign_id, len(leads), since, until)
        data = self._cached(key, lambda: _analytics(campaign, leads[: key[2]], since, until))
        return _ok(data)

    def _daily(self, raw_id: str, query: dict[str, str]) -> _Reply:
        campaign_id, _ = self._campaign(raw_id)
        since, until = _parse_range(query)
        # The docs default to the last 30 days; the demo world's clock is frozen in mid-2025, so
        # a wall-clock default would always be empty. Deviation: no from/to means all days.
        leads = self.workspace.leads.get(campaign_id, [])
        key = ("daily", campaign_id, len(leads), since, until)
        data = self._cached(key, lambda: _daily(leads[: key[2]], since, until))
        return _ok(data)

    def _workspaces(self) -> _Reply:
        ws = self.workspace
        with ws.lock:
            mailboxes = {m for c in ws.campaigns for m in c.get("mailboxes", [])}
            item = {
                "id": ws.workspace_id,
                "name": "SendKit demo workspace",
                "ownerId": DEMO_USER_ID,
                "memberCount": 3,
                "usage": {
                    "totalCampaigns": len(ws.campaigns),
                    "totalLeads": sum(len(v) for v in ws.leads.values()),
                    "totalMailboxes": len(mailboxes),
                    "totalEmailsSent": sum(int(c["stats"]["sent"]) for c in ws.campaigns),
                },
                "createdAt": "2025-01-15T10:00:00.000Z",
            }
        return _ok([item])

    def _account(self) -> _Reply:
        return _ok(
            {
                "id": DEMO_USER_ID,
                "name": "Demo User",
                "email": "demo@example.com",
                "image": None,
                "tier": "starter",
                "workspaces": [
                    {
                        "workspaceId": self.workspace_id,
                        "role": "owner",
                        "joinedAt": "2025-01-15T10:00:00.000Z",
                    }
                ],
            }
        )
