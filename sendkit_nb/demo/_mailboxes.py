"""The demo workspace's sending mailboxes: which mailbox sent each campaign lead's emails, and
``GET /v1/analytics/mailboxes`` counted from those emails.

The mailboxes are the ids each campaign already lists in ``mailboxes`` (three per campaign), so
the demo's ``/v1/workspaces`` ``totalMailboxes`` and this endpoint agree. Nothing here changes
the campaign data: a lead's mailbox is drawn from an RNG seeded by the workspace seed and the
campaign-lead id, after the fact. One lead keeps one mailbox for its whole thread (what real
senders do so that follow-ups land in the same conversation).

To give the analyst a sender to find, the third mailbox of the first campaign is "bad": it
takes most of that campaign's bounced leads and few of the others, so its bounce rate is many
times its siblings' (as a mailbox on a burnt domain with warm-up switched off would show).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._aggregates import _in_range
from ._data import DEMO_NOW, POSITIVE_TAGS, DemoWorkspace, JSONDict, iso

__all__ = ["MailboxPlan", "mailbox_analytics", "mailbox_of", "plan_mailboxes"]

_SENDERS = ("alex", "sam", "jordan", "taylor", "casey", "morgan", "riley", "jamie", "drew")
_DOMAINS = ("sendkit-demo.com", "trysendkit-demo.com", "getsendkit-demo.io")
_LIMITS = (30, 40, 50)


@dataclass(frozen=True)
class MailboxPlan:
    """Every mailbox's static record (API field names, no counts) and each campaign lead's
    mailbox id (``by_lead``, keyed by campaign-lead ``_id``)."""

    mailboxes: list[JSONDict]
    by_lead: dict[str, str]
    bad_mailbox: str | None

    @property
    def by_id(self) -> dict[str, JSONDict]:
        return {str(m["_id"]): m for m in self.mailboxes}


def _bounced(lead: JSONDict) -> bool:
    return any(email["bounced"] for email in lead["emailsSent"])


def plan_mailboxes(workspace: DemoWorkspace) -> MailboxPlan:
    """Mailbox records and the lead -> mailbox assignment, deterministic for a workspace."""
    seed = workspace.seed
    records: dict[str, JSONDict] = {}
    by_lead: dict[str, str] = {}
    bad: str | None = None
    for k, campaign in enumerate(workspace.campaigns):
        boxes = [str(m) for m in campaign.get("mailboxes", [])]
        if not boxes:
            continue
        campaign_bad = boxes[-1] if k == 0 and len(boxes) > 1 else None
        bad = bad or campaign_bad
        for j, box in enumerate(boxes):
            if box in records:
                continue
            n = len(records)
            sender = _SENDERS[n % len(_SENDERS)]
            domain = _DOMAINS[n % len(_DOMAINS)]
            record: JSONDict = {
                "_id": box,
                "email": f"{sender}{n + 1}@{domain}",
                "displayName": f"{sender.title()} from SendKit demo",
                "status": "paused" if campaign["status"] == "archived" else "active",
                "dailySendLimit": _LIMITS[(n + j) % len(_LIMITS)],
                "warmup": {"enabled": True, "status": "active" if n % 4 == 1 else "completed"},
            }
            if box == campaign_bad:
                record.update(
                    email=f"outreach@bulk-{domain}",
                    displayName="Outreach (bulk domain)",
                    dailySendLimit=150,
                    warmup={"enabled": False, "status": "paused"},
                )
            elif n == 7:
                # The docs show ``warmup`` on every item; a loader must still cope without it.
                del record["warmup"]
            records[box] = record
        good = [b for b in boxes if b != campaign_bad]
        for lead in workspace.leads.get(str(campaign["_id"]), []):
            rng = random.Random(f"{seed}:mailbox:{lead['_id']}")
            if campaign_bad is not None and rng.random() < (0.75 if _bounced(lead) else 0.12):
                box = campaign_bad
            else:
                box = good[int(rng.random() * len(good))]
            by_lead[str(lead["_id"])] = box
    return MailboxPlan(list(records.values()), by_lead, bad)


def _rate(part: int, whole: int) -> str:
    """The API's rate strings: percent with one decimal (like ``/v1/analytics/overview``)."""
    return f"{100 * part / whole:.1f}" if whole else "0.0"


def mailbox_analytics(
    workspace: DemoWorkspace, plan: MailboxPlan, since: str | None, until: str | None
) -> list[JSONDict]:
    """``GET /v1/analytics/mailboxes`` items, one per mailbox in ``_id`` order.

    ``performance`` counts emails by send day and replies by reply day within ``from``/``to``
    (inclusive UTC dates, like the daily analytics); ``totalSent``, ``totalReceived`` (replied
    leads), ``bounceRate`` (all time, in percent with two decimals, as the newer docs'
    example 3.14 suggests) and ``sentToday`` ignore the range.
    """
    everything = since is None and until is None
    today = iso(DEMO_NOW)[:10]
    # per mailbox: sent, opened, clicked, bounced, replied, positive (in range); total sent,
    # total bounced, total received, sent today (all time)
    counts: dict[str, list[int]] = {m["_id"]: [0] * 10 for m in plan.mailboxes}
    for leads in workspace.leads.values():
        for lead in leads:
            box = plan.by_lead.get(str(lead["_id"]))
            if box is None:
                continue
            c = counts[box]
            for email in lead["emailsSent"]:
                day = email["sentAt"][:10]
                c[6] += 1
                c[7] += email["bounced"]
                c[9] += day == today
                if everything or _in_range(day, since, until):
                    c[0] += 1
                    c[1] += email["opened"]
                    c[2] += email["clicked"]
                    c[3] += email["bounced"]
            if lead["replied"]:
                c[8] += 1
                if everything or _in_range(lead["repliedAt"], since, until):
                    c[4] += 1
                    c[5] += lead["aiTag"] in POSITIVE_TAGS
    items: list[JSONDict] = []
    for record in sorted(plan.mailboxes, key=lambda m: str(m["_id"])):
        c = counts[record["_id"]]
        sent = c[0]
        item: JSONDict = {
            "_id": record["_id"],
            "email": record["email"],
            "displayName": record["displayName"],
            "status": record["status"],
            "totalSent": c[6],
            "totalReceived": c[8],
            "bounceRate": round(100 * c[7] / c[6], 2) if c[6] else 0,
            "sentToday": c[9],
            "dailySendLimit": record["dailySendLimit"],
        }
        if "warmup" in record:
            item["warmup"] = dict(record["warmup"])
        item["performance"] = {
            "sent": sent,
            "opened": c[1],
            "clicked": c[2],
            "bounced": c[3],
            "replied": c[4],
            "positiveReplied": c[5],
        }
        item["rates"] = {
            "open": _rate(c[1], sent),
            "click": _rate(c[2], sent),
            "bounce": _rate(c[3], sent),
            "reply": _rate(c[4], sent),
            "positiveReply": _rate(c[5], sent),
        }
        items.append(item)
    return items


def mailbox_of(plan: MailboxPlan, campaign_lead_id: str) -> JSONDict | None:
    """The mailbox record that sends this campaign lead's emails, or None."""
    box = plan.by_lead.get(campaign_lead_id)
    return None if box is None else plan.by_id.get(box)
