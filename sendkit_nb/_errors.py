"""The error hierarchy. Every error carries the HTTP status, the server's message, the request
path and a hint for what to do next, and never the API key."""

from __future__ import annotations

__all__ = [
    "APIConnectionError",
    "AuthenticationError",
    "BadRequestError",
    "DeadlineExceededError",
    "IncompleteLoadError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "SchemaError",
    "SendKitError",
    "ServerError",
    "StoreError",
]


class SendKitError(Exception):
    """Base of every error raised by sendkit_nb.

    Attributes: ``status`` (HTTP status or None when no response came), ``message`` (the server's
    ``message`` or our own description), ``path`` (the request path, without query secrets),
    ``hint`` (what to try next) and ``request_id`` (when the server sent one).
    """

    default_hint = "See the README's troubleshooting section."

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        hint: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.path = path
        self.hint = hint if hint is not None else self.default_hint
        self.request_id = request_id
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"HTTP {self.status}: " if self.status is not None else ""
        where = f" (GET {self.path})" if self.path else ""
        rid = f" [request id {self.request_id}]" if self.request_id else ""
        return f"{head}{self.message}{where}{rid}. Hint: {self.hint}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
            f"path={self.path!r})"
        )


class BadRequestError(SendKitError, ValueError):
    """400, or an argument rejected before any request was sent."""

    # Neutral: this hint shows under any rejected argument that has no hint of its own, so it
    # must not name the checks of one particular argument.
    default_hint = "Check the value named above; the function's docstring says what it takes."


class AuthenticationError(SendKitError):
    """401: the key is missing, malformed or revoked; or a platform key lacks a workspace id."""

    default_hint = (
        "Set SENDKIT_API_KEY to a valid key (workspace keys start with sk_, platform keys with "
        "sk_user_ and also need SENDKIT_WORKSPACE_ID)."
    )


class PermissionDeniedError(SendKitError):
    """403: the key is valid but may not see this resource or workspace."""

    default_hint = (
        "Check that the key belongs to the workspace; platform keys need the right "
        "SENDKIT_WORKSPACE_ID, workspace keys must not send one."
    )


class NotFoundError(SendKitError):
    """404: no such campaign (or other resource) in this workspace."""

    default_hint = "List the campaigns with load_campaigns(client) or `sendkit-nb campaigns`."


class RateLimitError(SendKitError):
    """429 that persisted through every retry."""

    default_hint = "Wait a minute and retry, or lower max_workers on the client."


class ServerError(SendKitError):
    """5xx that persisted through every retry."""

    default_hint = "SendKit had a server problem; retry later."


class APIConnectionError(SendKitError):
    """No usable response: connection refused or dropped, timeout, or a body that is not JSON."""

    default_hint = "Check the network and SENDKIT_BASE_URL; raise timeout= for slow links."


class DeadlineExceededError(APIConnectionError):
    """The client's overall ``deadline`` passed before the work finished (a server that drips
    its body byte by byte never trips the per-read ``timeout``)."""

    default_hint = "Raise deadline= (or pass deadline=None) for very large campaigns or slow links."


class PaginationError(SendKitError):
    """The pages do not add up: a repeated cursor or page, a full page with no way forward, or
    more pages than the safety cap."""

    default_hint = "The campaign may be changing while it loads; retry the load."


class SchemaError(SendKitError):
    """A response field has a type or value the loader cannot accept; the message names it."""

    default_hint = "The API may have changed shape; report it with the field named above."


class IncompleteLoadError(SendKitError):
    """Fewer (or more) leads arrived than the API's ``total`` announced, even after a second walk
    by cursor. ``loaded`` and ``expected`` carry both numbers."""

    default_hint = (
        "The campaign may have changed while loading: retry, or pass strict=False to accept the "
        "partial frame with an IncompleteLoadWarning."
    )

    def __init__(
        self,
        message: str,
        *,
        loaded: int,
        expected: int,
        status: int | None = None,
        path: str | None = None,
        hint: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.loaded = loaded
        self.expected = expected
        super().__init__(message, status=status, path=path, hint=hint, request_id=request_id)


class StoreError(SendKitError):
    """A folder given as a workspace store (:func:`sendkit_nb.open_store`, :func:`sendkit_nb.sync`)
    is not one, or was written by a version of sendkit_nb whose store format this one cannot
    read; or a store's file is damaged. The message names the folder and what is wrong."""

    default_hint = (
        "Sync into a new folder (sk.sync(client, 'sendkit-data')), or sync this one again with "
        "the sendkit_nb version that wrote it."
    )
