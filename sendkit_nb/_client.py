"""The HTTP layer: one client per API key, keep-alive sessions, retries, errors.

Nothing above this module talks HTTP. The API key lives only in request headers; it never
enters a URL, a repr, a log record or an error message.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from sendkit_nb._errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SendKitError,
    ServerError,
)

if TYPE_CHECKING:
    from sendkit_nb.demo import DemoServer

__all__ = ["RetryPolicy", "SendKitClient"]

log = logging.getLogger("sendkit_nb")

DEFAULT_BASE_URL = "https://api.sendkit.ai"
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
# Endpoints that are not scoped to a workspace: platform keys need no X-Workspace-Id there.
_UNSCOPED_PATHS = ("/v1/account", "/v1/workspaces")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_T = TypeVar("_T")


def check_object_id(value: object, what: str = "campaign id") -> str:
    """Return ``value`` if it is a 24-hex ObjectId string, else raise BadRequestError."""
    if not isinstance(value, str) or not _OBJECT_ID.match(value):
        shown = repr(value) if not isinstance(value, str) or len(value) < 60 else repr(value[:60])
        raise BadRequestError(
            f"{what} must be a 24-character hex id like '665a1b2c3d4e5f6a7b8c9d0e', got {shown}",
            hint="Copy the id from load_campaigns(client) or `sendkit-nb campaigns`.",
        )
    return value


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
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        # The HTTP-date form: wait until then.
        from email.utils import parsedate_to_datetime

        try:
            return float(parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


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
            self._cond.notify_all()

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


def _error_for(response: requests.Response, path: str) -> SendKitError:
    """Build the error for a non-2xx response from the documented body
    ``{"error", "message", "code"}``, falling back to the reason phrase for other bodies."""
    status = response.status_code
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("error") or "")
    if not message:
        snippet = response.text.strip().replace("\n", " ")[:200]
        message = response.reason or "error"
        if snippet:
            message += f" (body: {snippet!r})"
    cls = _STATUS_ERRORS.get(status, ServerError if status >= 500 else SendKitError)
    request_id = response.headers.get("X-Request-Id") or response.headers.get("Request-Id")
    return cls(message, status=status, path=path, request_id=request_id)


class SendKitClient:
    """A SendKit API client: holds the key, the base URL and keep-alive connections.

    >>> client = SendKitClient("sk_example", base_url="http://127.0.0.1:9")
    >>> client
    SendKitClient(base_url='http://127.0.0.1:9', key=<workspace key>)

    Arguments default to the environment: ``SENDKIT_API_KEY``, ``SENDKIT_BASE_URL`` (default
    ``https://api.sendkit.ai``) and ``SENDKIT_WORKSPACE_ID`` (needed with ``sk_user_`` platform
    keys, never sent with ``sk_`` workspace keys). ``sleep`` and ``retry`` are injectable so tests
    need not wait. ``max_workers`` bounds concurrent page fetches.
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
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("SENDKIT_API_KEY")
        if not key:
            raise AuthenticationError(
                "no API key: pass api_key= or set SENDKIT_API_KEY",
                hint="Use sendkit_nb.connect() or SendKitClient.demo() to try the demo API.",
            )
        self.__key = key.strip()
        self.base_url = (base_url or os.environ.get("SENDKIT_BASE_URL") or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        if self.base_url.endswith("/v1"):
            self.base_url = self.base_url[: -len("/v1")]
        self.workspace_id = workspace_id or os.environ.get("SENDKIT_WORKSPACE_ID") or None
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.max_workers = max(1, max_workers)
        self.sleep = sleep
        self.concurrency = _AdaptiveLimit(self.max_workers)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._demo_server: DemoServer | None = None

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
    def is_platform_key(self) -> bool:
        return self.__key.startswith("sk_user_")

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
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        self._local = threading.local()
        if self._demo_server is not None:
            self._demo_server.stop()
            self._demo_server = None

    # -- transport ------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        # requests.Session is not documented as thread-safe, so each thread gets its own
        # keep-alive session; all of them are closed together by close().
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # requests re-reads proxy and CA settings from the environment on every request,
            # a cost comparable to parsing a page; read them once per session instead.
            session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if ca_bundle:
                session.verify = ca_bundle
            session.trust_env = False
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.max_workers, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self._headers())
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def _headers(self) -> dict[str, str]:
        return {
            "X-Api-Key": self.__key,
            "Accept": "application/json",
            "User-Agent": "sendkit_nb/0.1",
        }

    def _scope_headers(self, path: str) -> dict[str, str]:
        if not self.is_platform_key or path.startswith(_UNSCOPED_PATHS):
            return {}
        if not self.workspace_id:
            raise AuthenticationError(
                "a platform key (sk_user_...) needs a workspace id for workspace endpoints",
                path=path,
                hint="Pass workspace_id= or set SENDKIT_WORKSPACE_ID; client.workspaces() "
                "lists the ids this key can use.",
            )
        return {"X-Workspace-Id": self.workspace_id}

    def request(
        self,
        path: str,
        params: Mapping[str, object] | None = None,
        *,
        parse: Callable[[bytes], _T],
    ) -> _T:
        """GET ``path`` and return ``parse(body)``, retrying what is worth retrying.

        ``parse`` runs inside the retry loop, so a body that is cut short (invalid JSON) is
        fetched again like a dropped connection; a ``SendKitError`` raised by ``parse`` (a schema
        problem) is final.
        """
        headers = self._scope_headers(path)
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path
        attempt = 0
        while True:
            started = time.perf_counter()
            retry_after: float | None = None
            try:
                response = self._session().get(
                    url, params=query, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                # ConnectionError covers refused and dropped connections and broken chunked
                # bodies; neither carries a status, and both are worth another try.
                failure: SendKitError = APIConnectionError(
                    f"no response ({type(exc).__name__})", path=path
                )
            else:
                elapsed_ms = (time.perf_counter() - started) * 1000
                self._log_response(path, response, elapsed_ms)
                if response.status_code < 300:
                    try:
                        result = parse(response.content)
                    except SendKitError as exc:
                        exc.path = exc.path or path
                        raise
                    except ValueError:
                        failure = APIConnectionError(
                            "the response body is not valid JSON (cut short?)",
                            status=response.status_code,
                            path=path,
                        )
                    else:
                        self.concurrency.succeeded()
                        return result
                else:
                    failure = _error_for(response, path)
                    if response.status_code not in _RETRY_STATUSES:
                        raise failure
                    if response.status_code == 429:
                        self.concurrency.throttled()
                    retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            if attempt >= self.retry.max_retries:
                failure.message += f" (after {attempt + 1} attempts)"
                raise failure
            delay = self.retry.delay(attempt, retry_after)
            log.info("retrying GET %s in %.2fs: %s", path, delay, failure.message)
            self.sleep(delay)
            attempt += 1

    def _log_response(self, path: str, response: requests.Response, elapsed_ms: float) -> None:
        limits = {
            k: v
            for k, v in response.headers.items()
            if k.lower().startswith(("x-ratelimit", "ratelimit"))
        }
        log.debug(
            "GET %s -> %s in %.0f ms%s",
            path,
            response.status_code,
            elapsed_ms,
            f" {limits}" if limits else "",
        )

    def get_json(self, path: str, params: Mapping[str, object] | None = None) -> Any:
        """GET ``path`` and return the envelope's ``data`` (whole body when there is none)."""
        body = self.request(path, params, parse=json.loads)
        return body["data"] if isinstance(body, dict) and "data" in body else body

    # -- endpoints ------------------------------------------------------------------------

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        """``GET /v1/campaigns/{id}``: one campaign with its ``sequence``."""
        check_object_id(campaign_id)
        data: dict[str, Any] = self.get_json(f"/v1/campaigns/{campaign_id}")
        return data

    def campaign_analytics(
        self, campaign_id: str, *, date_from: str | None = None, date_to: str | None = None
    ) -> dict[str, Any]:
        """``GET /v1/campaigns/{id}/analytics``: the server's per step x variant counts."""
        check_object_id(campaign_id)
        data: dict[str, Any] = self.get_json(
            f"/v1/campaigns/{campaign_id}/analytics", {"from": date_from, "to": date_to}
        )
        return data

    def workspaces(self) -> list[dict[str, Any]]:
        """``GET /v1/workspaces``: the workspaces this key can use (first page)."""
        data: list[dict[str, Any]] = self.get_json("/v1/workspaces", {"limit": 100})
        return data
