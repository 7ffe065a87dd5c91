"""Which email earned each reply: a campaign's inbox threads (sendkit-api.md 4.9) as one row per
message from the lead, attributed to the email the thread shows before it.

Last-touch attribution (the metrics' default) infers a reply's step from the campaign lead's
``emailsSent`` and ``repliedAt``; it goes wrong when ``repliedAt`` is recorded after a follow-up
that went out while the reply was already in (the reply answers the earlier email), and it
counts auto-replies as replies. The thread has neither problem: it lists sent emails and
replies in order, with ``isAutoReply`` per reply.

**Step numbering.** The docs' only thread example numbers the first email ``sequenceStep: 1``,
while the campaign-lead example numbers it ``emailsSent[0].sequenceStep: 0``, and the campaign
leads number steps by the sequence ``order`` (wait steps included: 0, 2, 4). The demo API
mirrors the docs (threads count email steps from 1), so the numbers do *not* match and the
loader assumes nothing about them: it matches the thread's email to the lead's ``emailsSent``
by its send time, which gives the step in the leads' numbering and the A/B variant (threads
carry no variant). Only when no sent time matches does it fall back to reading the thread's
number as "the n-th email step of the sequence, counting from 1" (what the docs' example
suggests), and the ``attribution`` column says which way each row was found.

Other open questions the loader is tolerant of: whether a conversation ``id`` is the
campaign-lead ``_id`` (the loader matches on it first, then on the lead's id); the ``type`` of
manual messages (only ``isFromLead: false`` marks ours; rows are the lead's messages, with an
absent ``isFromLead`` read as the lead's); whether ``isAutoReply`` is always present.

**Automatic replies.** The loader owns the one rule, and the metrics read its ``is_auto_reply``
column only (:func:`is_automatic`): a message is automatic when its ``isAutoReply`` is true, or
when the conversation's AI tag is ``out_of_office`` (ignoring case), whatever the flag says.
The tag counts even beside ``isAutoReply: false`` because the API tags conversations, not
messages, and an out-of-office conversation is one no person answered; an absent flag (older
payloads) leaves the tag alone to tell.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from sendkit_nb._checks import check_object_id
from sendkit_nb._client import SendKitClient, check_client
from sendkit_nb._envelope import bad_value
from sendkit_nb._errors import BadRequestError
from sendkit_nb._frames import load_leads
from sendkit_nb._items import (
    boolean,
    integer,
    load_list,
    obj,
    parse_items_page,
    text,
    timestamp,
)
from sendkit_nb._pagination import Page
from sendkit_nb._progress import Progress, check_progress, progress_bar
from sendkit_nb._schema import REPLIES_SCHEMA

__all__ = ["load_replies"]

_INT32 = 2**31
#: The AI tag that marks an out-of-office answer (a documented example label), compared
#: ignoring case.
OUT_OF_OFFICE = "out_of_office"


def is_automatic(flag: bool | None, ai_tag: str | None) -> bool:
    """The ``is_auto_reply`` of a lead's message: its ``isAutoReply`` is true, or its
    conversation's AI tag is ``out_of_office`` in any case (see the module docstring).

    >>> is_automatic(None, "Out_Of_Office"), is_automatic(False, "interested")
    (True, False)
    """
    return flag is True or (ai_tag is not None and ai_tag.lower() == OUT_OF_OFFICE)


@dataclass(frozen=True)
class _Conversation:
    id: str
    campaign_id: str | None
    lead_id: str | None
    email: str | None
    ai_tag: str | None


@dataclass(frozen=True)
class _Message:
    kind: str | None
    at: datetime | None  # sentAt for sent emails, receivedAt for replies
    step: int | None
    from_lead: bool | None
    auto_reply: bool | None


def _conversation(item: dict[str, Any], where: str) -> _Conversation:
    what = "inbox"
    lead = obj(item, "lead", where, what) or {}
    campaign = obj(item, "campaign", where, what) or {}
    return _Conversation(
        id=str(item["id"]).lower(),
        campaign_id=(text(campaign, "_id", f"{where}.campaign", what) or "").lower() or None,
        lead_id=text(lead, "_id", f"{where}.lead", what),
        email=text(lead, "email", f"{where}.lead", what),
        ai_tag=text(item, "aiTag", where, what),
    )


def _parse_conversations(body: bytes) -> Page[list[tuple[str, _Conversation]]]:
    return parse_items_page(body, "inbox", _conversation, id_key="id")


def _parse_thread(body: bytes) -> list[_Message]:
    """One ``GET /v1/inbox/{id}`` body -> its messages. ValueError if not JSON (retried)."""
    what = "inbox thread"
    doc = json.loads(body)
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise bad_value(what, "data", "object", data)
    raw = data.get("messages")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise bad_value(what, "messages", "list", raw)
    messages = []
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_value(what, where, "object", message)
        kind = text(message, "type", where, what)
        step = integer(message, "sequenceStep", where, what)
        if step is not None and not -_INT32 <= step < _INT32:
            raise bad_value(what, f"{where}.sequenceStep", "an integer within Int32", step)
        messages.append(
            _Message(
                kind=kind,
                at=timestamp(message, "sentAt" if kind == "sent" else "receivedAt", where, what),
                step=step,
                from_lead=boolean(message, "isFromLead", where, what),
                auto_reply=boolean(message, "isAutoReply", where, what),
            )
        )
    return messages


def _fetch_threads(
    client: SendKitClient,
    ids: list[str],
    progress: Progress,
    deadline: float | None,
) -> dict[str, list[_Message]]:
    """Every thread, on up to ``client.max_workers`` connections (fewer after a 429: the
    client's adaptive limit is shared with page fetches); the first failure cancels the rest
    and is raised."""

    def fetch(conversation_id: str) -> list[_Message]:
        with client.concurrency:
            return client.request(
                f"/v1/inbox/{conversation_id}", parse=_parse_thread, deadline=deadline
            )

    threads: dict[str, list[_Message]] = {}
    if not ids:
        return threads
    one = Page(items=None, count=1, first_id=None, last_id=None, pagination={})
    with (
        progress_bar("inbox threads", progress) as bar,
        ThreadPoolExecutor(
            max_workers=min(client.max_workers, len(ids)), thread_name_prefix="sendkit-thread"
        ) as pool,
    ):
        pending: dict[Future[list[_Message]], str] = {pool.submit(fetch, i): i for i in ids}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    conversation_id = pending.pop(future)
                    threads[conversation_id] = future.result()
                    bar.page(one, len(ids))
        finally:
            for future in pending:
                future.cancel()
    return threads


class _Emails:
    """The campaign leads' sent emails, to find a thread's email by its send time."""

    def __init__(self, leads: pl.DataFrame) -> None:
        self.ids: set[str] = set(leads.get_column("id").to_list())
        self.by_lead: dict[str, str] = {}
        repeated: set[str] = set()
        for cl_id, lead_id in leads.select("id", "lead_id").iter_rows():
            if lead_id is None:
                continue
            if lead_id in self.by_lead:
                repeated.add(lead_id)
            self.by_lead[lead_id] = cl_id
        for lead_id in repeated:  # ambiguous: the same person twice in one campaign
            del self.by_lead[lead_id]
        self.sent: dict[tuple[str, datetime], tuple[int | None, str | None]] = {}
        for cl_id, emails in leads.select("id", "emails").iter_rows():
            for email in emails or []:
                if email["sent_at"] is not None:
                    self.sent[(cl_id, email["sent_at"])] = (email["step"], email["variant"])

    def campaign_lead(self, conversation: _Conversation) -> str | None:
        if conversation.id in self.ids:
            return conversation.id
        return self.by_lead.get(conversation.lead_id) if conversation.lead_id else None


def _email_orders(client: SendKitClient, campaign_id: str, deadline: float | None) -> list[int]:
    """The ``order`` of each email step of the campaign's sequence, in order."""

    def parse(body: bytes) -> list[int]:
        doc = json.loads(body)
        data = doc.get("data") if isinstance(doc, dict) else None
        steps = data.get("sequence") if isinstance(data, dict) else None
        orders = []
        for i, step in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(step, dict) and step.get("type") == "email":
                order = integer(step, "order", f"sequence[{i}]", "campaign")
                orders.append(i if order is None else order)
        return sorted(orders)

    return client.request(f"/v1/campaigns/{campaign_id}", parse=parse, deadline=deadline)


def _rows(
    campaign_id: str,
    conversation: _Conversation,
    messages: list[_Message],
    emails: _Emails,
    orders: list[int] | None,
) -> Iterable[dict[str, Any]]:
    cl_id = emails.campaign_lead(conversation)
    sent = [m for m in messages if m.kind == "sent"]
    index = 0
    for position, message in enumerate(messages):
        if message.kind != "reply" or message.from_lead is False:
            continue
        # The last email sent before this reply: by time where the reply has one (a thread's
        # order could place a late-recorded email first), else by its place in the thread.
        last: _Message | None = None
        if message.at is not None:
            received = message.at
            candidates = [m for m in sent if m.at is not None and m.at <= received]
            last = max(candidates, key=lambda m: m.at or received) if candidates else None
        else:
            earlier = [m for m in messages[:position] if m.kind == "sent"]
            last = earlier[-1] if earlier else None
        step: int | None = None
        variant: str | None = None
        attribution: str | None = None
        if last is not None:
            found = emails.sent.get((cl_id, last.at)) if cl_id and last.at else None
            if found is not None:
                (step, variant), attribution = found, "sent_at"
            elif orders is not None and last.step is not None and 1 <= last.step <= len(orders):
                step, attribution = orders[last.step - 1], "thread_step"
        yield {
            "campaign_id": campaign_id,
            "conversation_id": conversation.id,
            "id": cl_id,
            "lead_id": conversation.lead_id,
            "email": conversation.email,
            "reply_index": index,
            "received_at": message.at,
            "is_auto_reply": is_automatic(message.auto_reply, conversation.ai_tag),
            "ai_tag": conversation.ai_tag,
            "step": step,
            "variant": variant,
            "step_sent_at": last.at if last is not None else None,
            "thread_step": last.step if last is not None else None,
            "attribution": attribution,
        }
        index += 1


def load_replies(
    client: SendKitClient,
    campaign_id: str,
    *,
    leads: pl.DataFrame | None = None,
    progress: Progress = True,
    strict: bool = True,
    deadline: float | None = None,
) -> pl.DataFrame:
    """Every message a lead sent into a campaign's inbox threads, one row each (schema:
    ``sendkit_nb.REPLIES_SCHEMA``), attributed to the email the thread shows before it.

    Lists the campaign's conversations (``GET /v1/inbox?campaign_id=...``), then fetches each
    thread (``GET /v1/inbox/{id}``) concurrently within the client's connection budget
    (``max_workers``, halved on 429 like page fetches). The lead's ``emailsSent`` give each
    attributed email its step and variant: pass the campaign's ``leads`` frame if it is loaded
    already, else they are loaded here (one more walk of the campaign). ``is_auto_reply`` is
    true when the message's ``isAutoReply`` is true or the conversation's AI tag is
    ``out_of_office`` (any case): the one rule of automatic replies, which inbox attribution
    reads as it is (:func:`is_automatic`). See this module's docstring for the step-numbering
    assumption.

    ``progress``, ``strict`` and ``deadline`` (seconds for the whole load) as in
    :func:`sendkit_nb.load_leads`.
    """
    check_client(client, "load_replies")
    campaign_id = check_object_id(campaign_id)
    check_progress(progress)
    if leads is not None and (
        not isinstance(leads, pl.DataFrame) or not {"id", "lead_id", "emails"} <= set(leads.columns)
    ):
        raise BadRequestError(
            "leads must be the campaign's leads frame (sk.load_leads), with id, lead_id, emails",
            hint="Pass leads=sk.load_leads(client, campaign_id), or leave it out.",
        )
    deadline_at = client.deadline_at(deadline)
    conversations = [
        c
        for c in load_list(
            client,
            "/v1/inbox",
            {"campaign_id": campaign_id},
            _parse_conversations,
            what="conversations",
            label=f"inbox {campaign_id[-6:]}",
            progress=False,
            strict=strict,
            deadline=deadline_at,
        )
        # A server that ignored the filter must not mix in other campaigns' replies.
        if c.campaign_id in (None, campaign_id)
    ]
    threads = _fetch_threads(client, [c.id for c in conversations], progress, deadline_at)
    if leads is None:
        remaining = None if deadline_at is None else max(deadline_at - time.monotonic(), 0.001)
        leads = load_leads(
            client, campaign_id, progress=progress, strict=strict, deadline=remaining
        )
    elif "campaign_id" in leads.columns:
        leads = leads.filter(pl.col("campaign_id") == campaign_id)
    emails = _Emails(leads.select("id", "lead_id", "emails"))

    def rows(orders: list[int] | None) -> list[dict[str, Any]]:
        return [
            row
            for c in conversations
            for row in _rows(campaign_id, c, threads[c.id], emails, orders)
        ]

    found = rows(None)
    # Only replies whose email matched no send time need the sequence (one more request).
    if any(r["attribution"] is None and r["thread_step"] is not None for r in found):
        found = rows(_email_orders(client, campaign_id, deadline_at))
    return pl.DataFrame(found, schema=REPLIES_SCHEMA)
