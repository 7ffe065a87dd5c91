"""The demo API's endpoints beyond campaigns: workspace leads (``GET /v1/leads``), sender
analytics (``GET /v1/analytics/mailboxes``) and the inbox (``GET /v1/inbox``,
``GET /v1/inbox/{id}``).

Their data is derived from the campaign data (see ``_people``, ``_mailboxes``, ``_inbox``) on
first use and rebuilt when campaigns grow (``add_leads``), so a server that never serves them
pays nothing, and what they serve always agrees with the campaign leads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ._data import DemoWorkspace, JSONDict
from ._inbox import Inbox, make_inbox
from ._mailboxes import MailboxPlan, mailbox_analytics, plan_mailboxes
from ._params import _HEX24, _paginate, _parse_paging, _parse_range
from ._people import make_people
from ._replies import _ApiError, _dumps, _ok, _Reply

__all__ = ["BeyondEndpoints"]

#: The inbox examples in the docs show ``limit: 20`` (leads and campaigns show 25).
_INBOX_DEFAULT_LIMIT = 20
_TRUE_FALSE = {"true": True, "false": False}


@dataclass(frozen=True)
class _Built:
    key: tuple[int, ...]
    people: list[JSONDict]
    people_ids: list[str]
    people_blobs: list[bytes]
    mailboxes: MailboxPlan
    inbox: Inbox


class BeyondEndpoints:
    """Builds and caches the derived data of one workspace and answers the four endpoints."""

    def __init__(self, workspace: DemoWorkspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._built: _Built | None = None
        self._mailbox_cache: dict[tuple[object, ...], list[JSONDict]] = {}

    def _data(self) -> _Built:
        ws = self.workspace
        with ws.lock:
            key = (len(ws.campaigns), *(len(v) for v in ws.leads.values()))
        with self._lock:
            built = self._built
            if built is None or built.key != key:
                with ws.lock:
                    people = make_people(ws)
                    plan = plan_mailboxes(ws)
                    inbox = make_inbox(ws, plan)
                built = self._built = _Built(
                    key,
                    people,
                    [str(p["_id"]) for p in people],
                    [_dumps(p) for p in people],
                    plan,
                    inbox,
                )
                self._mailbox_cache.clear()
            return built

    # -- GET /v1/leads ---------------------------------------------------------------------

    def people(self, query: dict[str, str], mode: Literal["page", "cursor"]) -> _Reply:
        """Workspace leads in ``_id`` order; filters ``tags`` (comma-separated, any matches),
        ``emailVerified`` (true/false) and ``search`` (email or name, case-insensitive)."""
        limit, page, cursor = _parse_paging(query, mode)
        built = self._data()
        keep = _people_filter(query)
        if keep is None:
            ids, blobs = built.people_ids, built.people_blobs
        else:
            chosen = [i for i, p in enumerate(built.people) if keep(p)]
            ids = [built.people_ids[i] for i in chosen]
            blobs = [built.people_blobs[i] for i in chosen]
        start, end, pagination = _paginate(ids, limit, page, cursor, mode)
        body = b"".join(
            (
                b'{"success":true,"data":[',
                b",".join(blobs[start:end]),
                b'],"pagination":',
                _dumps(pagination),
                b"}",
            )
        )
        return _Reply(200, body)

    # -- GET /v1/analytics/mailboxes -------------------------------------------------------

    def mailboxes(self, query: dict[str, str]) -> _Reply:
        """Every mailbox's counts within ``from``/``to`` (inclusive UTC dates; none: all time,
        like the demo's daily analytics). The docs show a plain list, so no pagination."""
        since, until = _parse_range(query)
        built = self._data()
        with self._lock:
            found = self._mailbox_cache.get((built.key, since, until))
        if found is None:
            with self.workspace.lock:
                found = mailbox_analytics(self.workspace, built.mailboxes, since, until)
            with self._lock:
                self._mailbox_cache[(built.key, since, until)] = found
        return _ok(found)

    # -- GET /v1/inbox, GET /v1/inbox/{id} ---------------------------------------------------

    def conversations(self, query: dict[str, str], mode: Literal["page", "cursor"]) -> _Reply:
        """Conversations in ``id`` order, filtered by ``campaign_id``, ``tag`` (AI tag) and
        ``status=unread``, paginated like every list."""
        if "limit" not in query:
            query = {**query, "limit": str(_INBOX_DEFAULT_LIMIT)}
        limit, page, cursor = _parse_paging(query, mode)
        campaign_id = query.get("campaign_id")
        if campaign_id is not None:
            if not _HEX24.fullmatch(campaign_id):
                raise _ApiError(
                    400,
                    f"Invalid campaign_id {campaign_id[:40]!r}: expected 24 hexadecimal characters",
                )
            campaign_id = campaign_id.lower()
        status = query.get("status")
        if status is not None and status != "unread":
            raise _ApiError(400, f"Invalid status {status[:40]!r}: expected unread")
        tag = query.get("tag")
        items = [
            x
            for x in self._data().inbox.items
            if (campaign_id is None or x["campaign"]["_id"] == campaign_id)
            and (tag is None or x["aiTag"] == tag)
            and (status is None or not x["isRead"])
        ]
        start, end, pagination = _paginate([str(x["id"]) for x in items], limit, page, cursor, mode)
        return _ok(items[start:end], pagination)

    def thread(self, raw_id: str) -> _Reply:
        if not _HEX24.fullmatch(raw_id):
            raise _ApiError(
                400, f"Invalid conversation id {raw_id[:40]!r}: expected 24 hexadecimal characters"
            )
        found = self._data().inbox.threads.get(raw_id.lower())
        if found is None:
            raise _ApiError(404, f"Conversation {raw_id.lower()} not found")
        return _ok(found)


def _people_filter(query: dict[str, str]) -> Callable[[JSONDict], bool] | None:
    tags = {t.strip() for t in query.get("tags", "").split(",") if t.strip()} or None
    verified_raw = query.get("emailVerified")
    verified: bool | None = None
    if verified_raw is not None:
        if verified_raw not in _TRUE_FALSE:
            raise _ApiError(
                400, f"Invalid emailVerified {verified_raw[:40]!r}: expected true or false"
            )
        verified = _TRUE_FALSE[verified_raw]
    search = query.get("search", "").strip().lower() or None
    if tags is None and verified is None and search is None:
        return None

    def keep(person: JSONDict) -> bool:
        if tags is not None and not tags.intersection(person.get("tags") or ()):
            return False
        if verified is not None and bool(person.get("emailVerified")) != verified:
            return False
        if search is not None:
            text = " ".join(
                str(person.get(k) or "") for k in ("email", "firstName", "lastName")
            ).lower()
            return search in text
        return True

    return keep
