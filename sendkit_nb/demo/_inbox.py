"""The demo workspace's inbox (unibox, sendkit-api.md 4.9): one conversation per campaign lead
with a reply, its list item (``GET /v1/inbox``) and its thread (``GET /v1/inbox/{id}``).

Threads are built from the campaign data without changing it: the sent messages are the lead's
``emailsSent`` (with the step's subject), the lead's reply arrives at its ``repliedAt``. What the
campaign data cannot say is drawn from an RNG seeded by the workspace seed and the
campaign-lead id:

* replies tagged ``out_of_office`` are auto-replies (``isAutoReply: true``; on a few the flag is
  absent, as an older payload might have it, and only the tag tells);
* some human replies come after an earlier auto-reply ("I'm travelling") to the first email;
* some interested leads get our manual answer (``isFromLead: false``) and write back again;
* leads tagged ``out_of_office`` without a counted reply have a thread with the auto-reply only;
* **last touch disagrees** for a few leads: the reply arrived minutes *before* the next
  follow-up went out (its subject answers the earlier email), but the platform recorded
  ``repliedAt`` after that follow-up (the campaign data's time). Last-touch attribution from
  ``emailsSent``/``repliedAt`` names the follow-up; the thread shows the earlier step.

Numbering: the docs' only thread example has ``sequenceStep: 1`` on the first email while the
campaign-lead example has ``emailsSent[0].sequenceStep: 0``. The demo mirrors that: a thread's
``sequenceStep`` is the email's number among email steps counted from 1 (1, 2, 3), whereas
``emailsSent`` carries the step's ``order`` (0, 2, 4, wait steps included). The conversation
``id`` is the campaign-lead ``_id`` (the docs call conversations "campaign leads that have
replies" but do not say whether the ids are the same).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._data import DEMO_NOW, DemoWorkspace, JSONDict, _parse_ms, iso
from ._mailboxes import MailboxPlan, mailbox_of

__all__ = ["Inbox", "make_inbox"]

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

_HUMAN = {
    "interested": "Sounds interesting - can you send more details?",
    "meeting_booked": "Happy to talk. Does Tuesday at 3pm work?",
    "not_interested": "Thanks, but we are not looking at this right now.",
    "wrong_person": "I'm not the right person for this, try our ops team.",
}
_OUT_OF_OFFICE = "I am out of the office until next Monday with limited access to email."
_AUTO = "Thank you for your message. This is an automatic reply: I'm travelling this week."


@dataclass(frozen=True)
class Inbox:
    """Conversations in ``id`` order: ``items`` (list shape) and ``threads`` by id."""

    items: list[JSONDict]
    threads: dict[str, JSONDict]


def _render(text: str, who: JSONDict | None) -> str:
    who = who or {}
    for key in ("firstName", "companyName"):
        text = text.replace("{{" + key + "}}", str(who.get(key) or ""))
    return text.replace("{{city}}", "your city")


def _reply(
    at: int | None, subject: str, content: str, lead_email: str | None, box_email: str | None
) -> JSONDict:
    return {
        "type": "reply",
        "from": lead_email,
        "to": box_email,
        "subject": subject,
        "content": content,
        "htmlContent": f"<p>{content}</p>",
        "receivedAt": iso(at) if at is not None else None,
        "isFromLead": True,
        "isAutoReply": False,
        "read": True,
    }


def _when(message: JSONDict) -> int:
    stamp = message.get("sentAt") if message["type"] == "sent" else message.get("receivedAt")
    # A reply without a time goes last: a reader of the thread sees it after everything else.
    return _parse_ms(stamp) if stamp else 1 << 62


def _thread(
    campaign: JSONDict, lead: JSONDict, box: JSONDict | None, rng: random.Random
) -> list[JSONDict] | None:
    """The messages of one campaign lead's conversation, or None if it has none."""
    emails = lead["emailsSent"]
    tag = lead["aiTag"]
    if not lead["replied"] and not (tag == "out_of_office" and emails):
        return None
    who = lead.get("leadId")
    lead_email = who.get("email") if who else None
    box_email = box["email"] if box else None
    email_steps = [s for s in campaign.get("sequence", []) if s.get("type") == "email"]
    number = {int(s["order"]): k + 1 for k, s in enumerate(email_steps)}
    subjects = {int(s["order"]): _render(str(s.get("subject") or ""), who) for s in email_steps}
    messages: list[JSONDict] = []
    for email in emails:
        order = int(email["sequenceStep"])
        messages.append(
            {
                "type": "sent",
                "subject": subjects.get(order, ""),
                "body": f"<p>{subjects.get(order, '')}</p>",
                "sentAt": email["sentAt"],
                "sequenceStep": number.get(order, order + 1),
                "opened": email["opened"],
                "clicked": email["clicked"],
            }
        )
    sent_at = [_parse_ms(e["sentAt"]) for e in emails]
    first_subject = "Re: " + subjects.get(int(emails[0]["sequenceStep"]), "") if emails else "Hi"
    if not lead["replied"]:
        # Tagged out_of_office but not counted as a reply: the auto-reply is all there is.
        auto = _reply(sent_at[0] + 7 * _MINUTE, first_subject, _OUT_OF_OFFICE, lead_email, None)
        auto.update(isAutoReply=True, to=box_email)
        messages.append(auto)
        return sorted(messages, key=_when)
    replied_at = _parse_ms(lead["repliedAt"]) if lead["repliedAt"] else None
    # The email the reply answers by last touch: the latest one sent at or before repliedAt.
    before = [k for k, t in enumerate(sent_at) if replied_at is not None and t <= replied_at]
    answered = before[-1] if before else None
    received = replied_at
    if (
        tag != "out_of_office"
        and answered is not None
        and answered >= 1
        and rng.random() < 0.15
        and sent_at[answered] - sent_at[answered - 1] > _HOUR
    ):
        # Answered the earlier email minutes before the follow-up went out; repliedAt was
        # recorded once the reply was processed, after the follow-up.
        received = sent_at[answered] - int(5 + rng.random() * 40) * _MINUTE
        answered -= 1
    subject = (
        "Re: " + subjects.get(int(emails[answered]["sequenceStep"]), "")
        if answered is not None
        else first_subject
    )
    if tag == "out_of_office":
        main = _reply(received, subject, _OUT_OF_OFFICE, lead_email, box_email)
        if rng.random() < 0.2:
            del main["isAutoReply"]  # only the AI tag says it is an auto-reply
        else:
            main["isAutoReply"] = True
        messages.append(main)
        return sorted(messages, key=_when)
    messages.append(
        _reply(
            received,
            subject,
            _HUMAN.get(str(tag), "Thanks for reaching out."),
            lead_email,
            box_email,
        )
    )
    if (
        received is not None
        and sent_at
        and sent_at[0] + 2 * _HOUR < received
        and rng.random() < 0.15
    ):
        auto = _reply(sent_at[0] + 3 * _MINUTE, first_subject, _AUTO, lead_email, box_email)
        auto["isAutoReply"] = True
        messages.append(auto)
    if received is not None and tag in ("interested", "meeting_booked") and rng.random() < 0.5:
        ours = received + 2 * _HOUR
        if ours <= DEMO_NOW:
            messages.append(
                {
                    "type": "reply",
                    "from": box_email,
                    "to": lead_email,
                    "subject": subject,
                    "content": "Great - here is a link to book a slot.",
                    "htmlContent": "<p>Great - here is a link to book a slot.</p>",
                    "receivedAt": iso(ours),
                    "isFromLead": False,
                    "isAutoReply": False,
                    "read": True,
                }
            )
            again = ours + _DAY
            if again <= DEMO_NOW and rng.random() < 0.5:
                messages.append(
                    _reply(again, subject, "Booked, see you then.", lead_email, box_email)
                )
    return sorted(messages, key=_when)


def _item(
    campaign: JSONDict, lead: JSONDict, messages: list[JSONDict], rng: random.Random
) -> JSONDict:
    who = lead.get("leadId")
    last = messages[-1]
    from_lead = last["type"] != "sent" and last.get("isFromLead") is not False
    unread = 0 if rng.random() < 0.7 else 1
    return {
        "id": lead["_id"],
        "lead": (
            {k: who.get(k) for k in ("_id", "email", "firstName", "lastName", "companyName")}
            if who
            else None
        ),
        "campaign": {"_id": campaign["_id"], "name": campaign["name"]},
        "status": "active",
        "aiTag": lead["aiTag"],
        "tags": list(lead.get("tags") or []),
        "repliedAt": lead["repliedAt"],
        "lastMessage": {
            "content": last.get("content") if last["type"] != "sent" else last.get("body"),
            "from": last.get("from"),
            "receivedAt": last.get("receivedAt") if last["type"] != "sent" else last["sentAt"],
            "isFromLead": from_lead,
        },
        "isRead": unread == 0,
        "unreadCount": unread,
        "messageCount": len(messages),
    }


def make_inbox(workspace: DemoWorkspace, plan: MailboxPlan) -> Inbox:
    """Every conversation of the workspace, deterministic for its seed and data."""
    items: list[JSONDict] = []
    threads: dict[str, JSONDict] = {}
    for campaign in workspace.campaigns:
        for lead in workspace.leads.get(str(campaign["_id"]), []):
            rng = random.Random(f"{workspace.seed}:inbox:{lead['_id']}")
            box = mailbox_of(plan, str(lead["_id"]))
            messages = _thread(campaign, lead, box, rng)
            if messages is None:
                continue
            item = _item(campaign, lead, messages, rng)
            items.append(item)
            threads[str(lead["_id"])] = {
                "id": item["id"],
                "lead": item["lead"],
                "campaign": item["campaign"],
                "aiTag": item["aiTag"],
                "messages": messages,
                "scheduledReplies": [],
            }
    items.sort(key=lambda x: str(x["id"]))
    return Inbox(items, threads)
