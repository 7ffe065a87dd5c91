"""The HTTP layer: one client per API key, keep-alive sessions, retries, errors.

Nothing above this module talks HTTP. The API key lives only in request headers; it never
enters a URL, a repr, a log record or an error message.
"""

from __future__ import annotations

import http
import http.client
import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool

# check_object_id lives with the other argument checks; it is imported here, where the
# endpoints use it, and re-exported for the modules that have always imported it from here.
from sendkit_nb._checks import check_object_id as check_object_id
from sendkit_nb._checks import kind_shown
from sendkit_nb._errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    DeadlineExceededError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SchemaError,
    SendKitError,
    ServerError,
)

if TYPE_CHECKING:
    from sendkit_nb.demo import DemoServer

__all__ = ["RetryPolicy", "SendKitClient", "check_client", "check_seconds"]

log = logging.getLogger("sendkit_nb")

DEFAULT_BASE_URL = "https://api.sendkit.ai"
# Endpoints that are not scoped to a workspace: platform keys need no X-Workspace-Id there.
_UNSCOPED_PATHS = ("/v1/account", "/v1/workspaces")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
# What an HTTP header value may hold here: printable ASCII without spaces. A key pasted with a
# trailing newline or a non-ASCII look-alike would otherwise fail deep inside http.client, in
# an error that quotes the header, key included.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
_READ_SIZE = 1 << 16
_T = TypeVar("_T")


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before retrying a request.

    Capped exponential backoff with jitter (``base * 2**attempt``, at most ``max_delay``, scaled
    by a random factor in [0.5, 1)), unless the server sent ``Retry-After``, which wins (capped at
    ``max_retry_after``). ``rng`` is injectable so tests get repeatable delays.
    """

    max_retries: int = 5
    base_delay: float = 0.25
    max_delay: float = 20.0
    max_retry_after: float = 120.0
    rng: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * 2.0**attempt)
        return backoff * (0.5 + self.rng() / 2)


def _parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None (use the backoff) for a value
    that is absent or makes no sense (``nan``, ``inf``, garbage)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        # The HTTP-date form: wait until then.
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    return seconds if math.isfinite(seconds) else None


def _check_key(key: object) -> str:
    """The API key, stripped, or an AuthenticationError that never quotes it."""
    if key is not None and not isinstance(key, str):
        raise AuthenticationError(
            f"the API key must be a string, got a {type(key).__name__}",
            hint="Pass api_key='sk_...' or set SENDKIT_API_KEY.",
        )
    stripped = (key or "").strip()
    if not stripped:
        raise AuthenticationError(
            "no API key: pass api_key= or set SENDKIT_API_KEY",
            hint="Use sendkit_nb.connect() or SendKitClient.demo() to try the demo API.",
        )
    if not _HEADER_SAFE.fullmatch(stripped):
        raise AuthenticationError(
            "the API key contains a character that cannot be sent in an HTTP header (a space, "
            "a line break, a control or non-ASCII character); the key is not shown here",
            hint="Copy the key again from SendKit's settings; a stray newline from copy and "
            "paste is the usual cause.",
        )
    return stripped


def _check_base_url(url: object) -> str:
    hint = "Use the API's address with its scheme, e.g. https://api.sendkit.ai."
    if not isinstance(url, str):
        raise BadRequestError(f"base_url must be a string, got {type(url).__name__}", hint=hint)
    cleaned = url.strip().rstrip("/")
    if cleaned.endswith("/v1"):
        cleaned = cleaned[: -len("/v1")]
    try:
        parts = urlsplit(cleaned)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise BadRequestError(
            f"base_url is not a valid URL: {cleaned[:120]!r}", hint=hint
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequestError(
            f"base_url must start with http:// or https:// and name a host, got {cleaned[:120]!r}",
            hint=hint,
        )
    if parts.username or parts.password:
        raise BadRequestError(
            "base_url must not carry a user name or password; the API key goes in api_key=",
            hint=hint,
        )
    return cleaned


def check_seconds(value: object, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise BadRequestError(
            f"{name} must be a positive number of seconds, got {value!r}",
            hint=f"For example {name}=30; None (where allowed) means no limit.",
        )
    return float(value)


Origin = tuple[str, str, int]


def _origin(url: str) -> Origin:
    """(scheme, host, port) of ``url``; ValueError when it has none of them right."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    return scheme, parts.hostname.lower(), parts.port or (443 if scheme == "https" else 80)


def _origin_text(origin: Origin) -> str:
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


class _TransportFailure(Exception):
    """Internal: carries the SendKitError for a failed exchange, and whether a retry could
    help (a dropped connection may; a refused redirect will not)."""

    def __init__(self, error: SendKitError, *, final: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.final = final


def _transport_failure(exc: Exception, path: str, deadline: float | None) -> _TransportFailure:
    """Map anything requests, urllib3 or the socket layer raised to a SendKitError."""
    if deadline is not None and time.monotonic() >= deadline:
        return _TransportFailure(
            DeadlineExceededError(
                f"the deadline passed while waiting for the response ({type(exc).__name__})",
                path=path,
            ),
            final=True,
        )
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.InvalidSchema
        | urllib3.exceptions.LocationParseError,
    ):
        return _TransportFailure(
            BadRequestError(f"the request URL was rejected ({type(exc).__name__})", path=path),
            final=True,
        )
    if isinstance(exc, requests.exceptions.ContentDecodingError | urllib3.exceptions.DecodeError):
        what = "a compressed body that does not decompress"
    elif isinstance(
        exc,
        requests.exceptions.ChunkedEncodingError
        | urllib3.exceptions.ProtocolError
        | http.client.IncompleteRead,
    ):
        what = "a body cut short"
    elif isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError) and not isinstance(
        # urllib3 files a refused connection under ConnectTimeoutError, for backwards
        # compatibility; it is not one.
        exc,
        urllib3.exceptions.NewConnectionError,
    ):
        what = "no answer within the timeout"
    else:
        # Refused, reset or dropped connections, and whatever else the layers below raise.
        what = "no response"
    return _TransportFailure(APIConnectionError(f"{what} ({type(exc).__name__})", path=path))


def _read_body(raw: urllib3.BaseHTTPResponse, deadline: float | None) -> bytes:
    """The whole (decoded) body. With a deadline, read what has arrived piece by piece and
    check the clock between pieces: the socket timeout bounds each read, not their sum."""
    if deadline is None:
        return bytes(raw.read(decode_content=True))
    pieces: list[bytes] = []
    while True:
        if time.monotonic() >= deadline:
            raise _TransportFailure(
                DeadlineExceededError("the deadline passed while the body was arriving"),
                final=True,
            )
        piece = raw.read1(_READ_SIZE, decode_content=True)
        if not piece:
            return b"".join(pieces)
        pieces.append(piece)


@dataclass(frozen=True)
class _Transport:
    """The client's connections: requests' adapter, configured as requests would configure it
    (proxies from the environment, the CA bundle, TLS), and its urllib3 pool for the API's
    origin, which every request is sent through.

    Going to the pool directly skips what requests adds per call (settings merged, the
    environment re-read, a Response built, cookies extracted, hooks), which on a fast link cost
    more CPU than the rest of a page's round trip: 0.47 ms a request through the adapter, 0.21
    through the pool. Redirects are only followed within the origin, so one pool serves them.
    """

    adapter: HTTPAdapter
    pool: HTTPConnectionPool
    #: An HTTP proxy (no tunnel) wants the whole URL in the request line, not just the path.
    absolute_urls: bool

    @classmethod
    def open(cls, base_url: str, max_workers: int) -> _Transport:
        proxies = dict(requests.utils.get_environ_proxies(base_url))
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max_workers, max_retries=0)
        probe = requests.PreparedRequest()
        probe.prepare(method="GET", url=base_url + "/")
        # Typed as the abstract ConnectionPool; what a PoolManager hands out is always an
        # HTTP(S)ConnectionPool.
        pool = cast(
            HTTPConnectionPool,
            adapter.get_connection_with_tls_context(probe, ca_bundle or True, proxies),
        )
        absolute = adapter.request_url(probe, proxies) != probe.path_url
        return cls(adapter, pool, absolute)

    def send(
        self, url: str, headers: Mapping[str, str], timeout: float
    ) -> urllib3.BaseHTTPResponse:
        """Send a GET and return the response with its body unread (read it, then
        ``release_conn()``)."""
        if self.absolute_urls:
            target = url
        else:
            parts = urlsplit(url)
            target = parts.path + ("?" + parts.query if parts.query else "")
        return self.pool.urlopen(
            "GET",
            target,
            headers=dict(headers),
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=True,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )


class _AdaptiveLimit:
    """A concurrency limit that halves on 429 and creeps back up on success.

    Concurrent page fetches take a slot each; when the server says "too many requests" fewer
    connections are used from then on, so a rate-limited load slows down instead of failing.
    """

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self._active = 0
        self._successes = 0
        self._cond = threading.Condition()

    def __enter__(self) -> None:
        with self._cond:
            while self._active >= self.limit:
                self._cond.wait()
            self._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._active -= 1
            # One slot freed: one waiter. Waking them all would have every blocked thread
            # contend for the lock on every answer, only for all but one to sleep again.
            self._cond.notify()

    def throttled(self) -> None:
        with self._cond:
            self.limit = max(1, self.limit // 2)
            self._successes = 0

    def succeeded(self) -> None:
        with self._cond:
            self._successes += 1
            if self.limit < self.maximum and self._successes >= 4 * self.limit:
                self.limit += 1
                self._successes = 0
                self._cond.notify_all()


_STATUS_ERRORS: dict[int, type[SendKitError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
}


def _error_for(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    path: str,
    redact: Callable[[str], str],
) -> SendKitError:
    """Build the error for a non-2xx response from the documented body
    ``{"error", "message", "code"}``, falling back to the reason phrase for other bodies.
    ``redact`` removes the key, which a server may echo back in its message."""
    message = ""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        message = str(doc.get("message") or doc.get("error") or "")
    if not message:
        snippet = body.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
        try:
            message = http.HTTPStatus(status).phrase
        except ValueError:
            message = "error"
        if snippet:
            message += f" (body: {snippet!r})"
    cls = _STATUS_ERRORS.get(status, ServerError if status >= 500 else SendKitError)
    request_id = headers.get("X-Request-Id") or headers.get("Request-Id")
    return cls(redact(message), status=status, path=path, request_id=request_id)


class SendKitClient:
    """A SendKit API client: holds the key, the base URL and keep-alive connections.

    >>> client = SendKitClient("sk_example", base_url="http://127.0.0.1:9")
    >>> client
    SendKitClient(base_url='http://127.0.0.1:9', key=<workspace key>)

    Arguments default to the environment: ``SENDKIT_API_KEY``, ``SENDKIT_BASE_URL`` (default
    ``https://api.sendkit.ai``) and ``SENDKIT_WORKSPACE_ID`` (needed with ``sk_user_`` platform
    keys, never sent with ``sk_`` workspace keys). ``timeout`` bounds each connect and each read;
    ``deadline`` (seconds, default None: no limit) bounds a whole call such as one
    ``load_leads``, retries and waits included, which is what stops a server that drips its
    body byte by byte. ``sleep`` and ``retry`` are injectable so tests need not wait.
    ``max_workers`` bounds concurrent page fetches.

    Every argument is checked here, before any request: a bad one raises a
    :class:`SendKitError` subclass whose message never contains the key.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        workspace_id: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_workers: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
    ) -> None:
        self.__key = _check_key(
            api_key if api_key is not None else os.environ.get("SENDKIT_API_KEY")
        )
        self.base_url = _check_base_url(
            base_url or os.environ.get("SENDKIT_BASE_URL") or DEFAULT_BASE_URL
        )
        self._origin = _origin(self.base_url)
        workspace = workspace_id or os.environ.get("SENDKIT_WORKSPACE_ID") or None
        if workspace is not None and not (
            isinstance(workspace, str) and _HEADER_SAFE.fullmatch(workspace)
        ):
            raise BadRequestError(
                "workspace_id must be printable ASCII text without spaces",
                hint="Copy the id from client.workspaces() or the SendKit settings page.",
            )
        self.workspace_id = workspace
        self.timeout = check_seconds(timeout, "timeout")
        self.deadline = None if deadline is None else check_seconds(deadline, "deadline")
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise BadRequestError(
                f"max_workers must be a positive integer, got {max_workers!r}",
                hint="8 concurrent connections suit most links; the client halves it on 429.",
            )
        self.retry = retry or RetryPolicy()
        self.max_workers = max_workers
        self.sleep = sleep
        self.concurrency = _AdaptiveLimit(self.max_workers)
        self._headers = {
            "X-Api-Key": self.__key,
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "Connection": "keep-alive",
            "User-Agent": "sendkit_nb/0.1",
        }
        self._scoped_headers = (
            {**self._headers, "X-Workspace-Id": self.workspace_id}
            if self.workspace_id
            else self._headers
        )
        self._transport: _Transport | None = None
        self._transport_lock = threading.Lock()
        self._demo_server: DemoServer | None = None
        # The Date header of the latest successful response: the server's clock (see
        # server_time), kept as the text it came in so the hot path only stores a reference.
        self._server_date: str | None = None

    # -- construction helpers -------------------------------------------------------------

    @classmethod
    def demo(cls, **server_options: Any) -> SendKitClient:
        """A client on a fresh embedded demo API server (127.0.0.1, any free port).

        The server lives as long as the client: ``client.close()`` (or leaving a ``with``
        block) stops it. ``server_options`` go to :class:`sendkit_nb.demo.DemoServer`.
        """
        from sendkit_nb.demo import DemoServer

        server = DemoServer(**server_options).start()
        client = cls(server.api_key, base_url=server.url)
        client._demo_server = server
        return client

    @property
    def is_demo(self) -> bool:
        """True when the client talks to an embedded demo server."""
        return self._demo_server is not None

    @property
    def server_time(self) -> datetime | None:
        """The server's clock at its latest successful response (its HTTP ``Date``), or None
        before any response or when the server sends no valid ``Date``. This is the "now" of
        the data: the pull time for the real API, the frozen clock of the demo workspace (so
        "the last 30 days" of demo data are days it has)."""
        from email.utils import parsedate_to_datetime

        if self._server_date is None:
            return None
        try:
            when = parsedate_to_datetime(self._server_date)
        except (TypeError, ValueError, IndexError):
            return None
        return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)

    @property
    def is_platform_key(self) -> bool:
        return self.__key.startswith("sk_user_")

    @property
    def closed(self) -> bool:
        """True when no connection is open (before the first request or after ``close()``)."""
        return self._transport is None

    def __repr__(self) -> str:
        kind = "platform key" if self.is_platform_key else "workspace key"
        ws = f", workspace_id={self.workspace_id!r}" if self.is_platform_key else ""
        demo = ", demo=True" if self.is_demo else ""
        return f"SendKitClient(base_url={self.base_url!r}, key=<{kind}>{ws}{demo})"

    def __enter__(self) -> SendKitClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection (and stop an embedded demo server)."""
        with self._transport_lock:
            if self._transport is not None:
                self._transport.adapter.close()
                self._transport = None
        if self._demo_server is not None:
            self._demo_server.stop()
            self._demo_server = None

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced, for anything a server or a caller may echo."""
        return text.replace(self.__key, "<redacted key>") if self.__key in text else text

    # -- transport ------------------------------------------------------------------------

    def _connection(self) -> _Transport:
        transport = self._transport
        if transport is None:
            with self._transport_lock:
                if self._transport is None:
                    self._transport = _Transport.open(self.base_url, self.max_workers)
                transport = self._transport
        return transport

    def _headers_for(self, path: str) -> dict[str, str]:
        if not self.is_platform_key or path.startswith(_UNSCOPED_PATHS):
            return self._headers
        if not self.workspace_id:
            raise AuthenticationError(
                "a platform key (sk_user_...) needs a workspace id for workspace endpoints",
                path=path,
                hint="Pass workspace_id= or set SENDKIT_WORKSPACE_ID; client.workspaces() "
                "lists the ids this key can use.",
            )
        return self._scoped_headers

    def deadline_at(self, seconds: float | None = None) -> float | None:
        """The ``time.monotonic()`` instant by which work started now must end: ``seconds``
        from now, or the client's ``deadline`` when ``seconds`` is None; None for no limit."""
        budget = self.deadline if seconds is None else check_seconds(seconds, "deadline")
        return None if budget is None else time.monotonic() + budget

    def request(
        self,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        parse: Callable[[bytes], _T],
        deadline: float | None = None,
    ) -> _T:
        """GET ``path`` and return ``parse(body)``, retrying what is worth retrying.

        ``parse`` runs inside the retry loop, so a body that is cut short (invalid JSON) is
        fetched again like a dropped connection; a ``SendKitError`` raised by ``parse`` (a schema
        problem) is final. ``deadline`` is a ``time.monotonic()`` instant (see
        :meth:`deadline_at`; default: the client's ``deadline`` from now) after which the call
        raises :class:`DeadlineExceededError` instead of waiting or retrying.
        """
        headers = self._headers_for(path)
        if deadline is None:
            deadline = self.deadline_at()
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path + ("?" + urlencode(query) if query else "")
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                status, response_headers, body = self._get(url, path, headers, deadline)
            except _TransportFailure as exc:
                if exc.final:
                    raise exc.error from exc.__cause__
                failure: SendKitError = exc.error
            else:
                if status < 300:
                    try:
                        result = parse(body)
                    except SendKitError as exc:
                        exc.path = exc.path or path
                        raise
                    except ValueError:
                        failure = APIConnectionError(
                            "the response body is not valid JSON (cut short?)",
                            status=status,
                            path=path,
                        )
                    except Exception as exc:  # nothing but a SendKitError may leave the client
                        raise SchemaError(
                            f"the response could not be read ({type(exc).__name__}: {exc})",
                            status=status,
                            path=path,
                        ) from exc
                    else:
                        self.concurrency.succeeded()
                        self._server_date = response_headers.get("Date") or self._server_date
                        return result
                else:
                    failure = _error_for(status, response_headers, body, path, self.redact)
                    if status not in _RETRY_STATUSES:
                        raise failure
                    if status == 429:
                        self.concurrency.throttled()
                    retry_after = _parse_retry_after(response_headers.get("Retry-After"))
            if attempt >= self.retry.max_retries:
                failure.message += f" (after {attempt + 1} attempts)"
                raise failure
            delay = self.retry.delay(attempt, retry_after)
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise DeadlineExceededError(
                    f"the deadline passed before the request could be retried "
                    f"(last failure: {failure.message})",
                    status=failure.status,
                    path=path,
                ) from failure
            log.info("retrying GET %s in %.2fs: %s", path, delay, failure.message)
            self.sleep(delay)
            attempt += 1

    def _get(
        self, url: str, path: str, headers: Mapping[str, str], deadline: float | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One GET with same-origin redirects followed; (status, headers, body) or
        :class:`_TransportFailure` carrying the SendKitError to raise or retry."""
        for _ in range(_MAX_REDIRECTS + 1):
            started = time.perf_counter()
            timeout = self.timeout
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _TransportFailure(
                        DeadlineExceededError("the deadline passed", path=path), final=True
                    )
                timeout = min(timeout, remaining)
            try:
                response = self._connection().send(url, headers, timeout)
                try:
                    body = _read_body(response, deadline)
                except BaseException:
                    response.close()  # the connection is in an unknown state: not reused
                    raise
                finally:
                    response.release_conn()
            except _TransportFailure:
                raise
            except Exception as exc:  # whatever the layers below raise becomes a SendKitError
                raise _transport_failure(exc, path, deadline) from exc
            status = response.status
            self._log_response(path, status, response.headers, started)
            if status not in _REDIRECT_STATUSES:
                return status, response.headers, body
            url = self._redirect_target(url, response.headers.get("Location"), status, path)
        raise _TransportFailure(
            APIConnectionError(
                f"more than {_MAX_REDIRECTS} redirects (a redirect loop?)",
                status=status,
                path=path,
                hint="Check SENDKIT_BASE_URL: it should be the API's final address.",
            ),
            final=True,
        )

    def _redirect_target(self, url: str, location: str | None, status: int, path: str) -> str:
        """Where a redirect points, if it stays on the API's origin. The key travels in a
        header, and requests forwards custom headers to any host it is redirected to; so a
        redirect to another origin (host, port or scheme) is refused, never followed."""
        hint = "Set SENDKIT_BASE_URL to the API's final address (scheme, host and port)."
        if not location:
            raise _TransportFailure(
                APIConnectionError(
                    "a redirect without a Location", status=status, path=path, hint=hint
                ),
                final=True,
            )
        try:
            target = urljoin(url, location.strip())
            origin = _origin(target)
        except ValueError:
            shown = self.redact(location)[:120]
            raise _TransportFailure(
                APIConnectionError(
                    f"a redirect to a malformed address {shown!r}",
                    status=status,
                    path=path,
                    hint=hint,
                ),
                final=True,
            ) from None
        if origin != self._origin:
            raise _TransportFailure(
                APIConnectionError(
                    f"the server redirected to another origin, {_origin_text(origin)}; not "
                    f"following it, so the API key is not sent there",
                    status=status,
                    path=path,
                    hint=hint,
                ),
                final=True,
            )
        return target

    @staticmethod
    def _log_response(path: str, status: int, headers: Mapping[str, str], started: float) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return  # the hot path: one check instead of a dict comprehension per page
        limits = {
            k: v for k, v in headers.items() if k.lower().startswith(("x-ratelimit", "ratelimit"))
        }
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug(
            "GET %s -> %s in %.0f ms%s", path, status, elapsed_ms, f" {limits}" if limits else ""
        )

    def get_json(self, path: str, params: Mapping[str, object] | None = None) -> Any:
        """GET ``path`` and return the envelope's ``data`` (whole body when there is none)."""
        body = self.request(path, params, parse=json.loads)
        return body["data"] if isinstance(body, dict) and "data" in body else body

    # -- endpoints ------------------------------------------------------------------------

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        """``GET /v1/campaigns/{id}``: one campaign with its ``sequence``."""
        campaign_id = check_object_id(campaign_id)
        data: dict[str, Any] = self.get_json(f"/v1/campaigns/{campaign_id}")
        return data

    def campaign_analytics(
        self, campaign_id: str, *, date_from: str | None = None, date_to: str | None = None
    ) -> dict[str, Any]:
        """``GET /v1/campaigns/{id}/analytics``: the server's per step x variant counts."""
        campaign_id = check_object_id(campaign_id)
        data: dict[str, Any] = self.get_json(
            f"/v1/campaigns/{campaign_id}/analytics", {"from": date_from, "to": date_to}
        )
        return data

    def workspaces(self) -> list[dict[str, Any]]:
        """``GET /v1/workspaces``: the workspaces this key can use (first page)."""
        data: list[dict[str, Any]] = self.get_json("/v1/workspaces", {"limit": 100})
        return data


def check_client(value: object, entry: str, *, writes_store: bool = False) -> SendKitClient:
    """``value`` if it is a :class:`~sendkit_nb.SendKitClient`, else BadRequestError saying that
    ``entry`` takes one. A :class:`~sendkit_nb.Store` is the likely mistake (both are "where
    the data comes from"), so it gets its own hint; ``writes_store``: ``entry`` writes a store
    (``sync``), which the message says."""
    if isinstance(value, SendKitClient):
        return value
    got = type(value).__name__
    if got == "Store":  # by name: the store module sits above this one
        why = "; a Store is what it writes" if writes_store else ", which reads no API"
        raise BadRequestError(
            f"{entry} takes a SendKitClient as client, got a Store{why}",
            hint="Pass the client from sk.connect() (the demo API without a key); read a store "
            "with store.leads() / store.campaigns(), or report it with sk.report(store).",
        )
    raise BadRequestError(
        f"{entry} takes a SendKitClient as client, got {kind_shown(value)}",
        hint="Create one with client = sk.connect() (the embedded demo API when "
        "SENDKIT_API_KEY is not set).",
    )
