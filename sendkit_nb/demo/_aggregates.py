"""The demo API's server-side aggregations (campaign analytics, daily counts), computed from the
leads it serves so that they agree with them."""

from __future__ import annotations

from collections.abc import Sequence

from ._data import (
    POSITIVE_TAGS,
    JSONDict,
)


def _in_range(stamp: str | None, since: str | None, until: str | None) -> bool:
    if stamp is None:
        return since is None and until is None
    day = stamp[:10]
    return (since is None or day >= since) and (until is None or day <= until)


def _analytics(
    campaign: JSONDict, leads: Sequence[JSONDict], since: str | None, until: str | None
) -> JSONDict:
    """``GET /v1/campaigns/{id}/analytics`` computed from the leads, so it agrees with them.

    ``from``/``to`` filter emails by send day and replies by reply day (inclusive, UTC);
    ``statusBreakdown`` is the current state and ignores them.
    """
    everything = since is None and until is None
    steps: dict[tuple[int, str | None], list[int]] = {}
    breakdown: dict[str, int] = {}
    replied = unsubscribed = 0
    for lead in leads:
        status = lead["status"]
        breakdown[status] = breakdown.get(status, 0) + 1
        unsubscribed += status == "unsubscribed"
        for email in lead["emailsSent"]:
            if everything or _in_range(email["sentAt"], since, until):
                key = (email["sequenceStep"], email["variant"])
                counts = steps.get(key)
                if counts is None:
                    counts = steps[key] = [0, 0, 0, 0]
                counts[0] += 1
                counts[1] += email["opened"]
                counts[2] += email["clicked"]
                counts[3] += email["bounced"]
        if lead["replied"] and (everything or _in_range(lead["repliedAt"], since, until)):
            replied += 1
    sent, opened, clicked, bounced = (sum(c[i] for c in steps.values()) for i in range(4))
    # same keys and meaning as the campaign's own stats (see _data.campaign_stats)
    stats = {
        "sent": sent,
        "delivered": sent - bounced,
        "opened": opened,
        "clicked": clicked,
        "replied": replied,
        "bounced": bounced,
        "unsubscribed": unsubscribed,
    }
    step_rows = [
        {
            "_id": {"sequenceStep": step, "variant": variant},
            "sent": c[0],
            "opened": c[1],
            "clicked": c[2],
            "bounced": c[3],
        }
        for (step, variant), c in sorted(steps.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]
    return {
        "campaign": {
            "id": campaign["_id"],
            "name": campaign["name"],
            "status": campaign["status"],
            "startedAt": campaign["startedAt"],
        },
        "stats": stats,
        "stepAnalytics": step_rows,
        "statusBreakdown": breakdown,
        "totalReplied": replied,
    }


def _daily(leads: Sequence[JSONDict], since: str | None, until: str | None) -> list[JSONDict]:
    """Per UTC day: sends (and their opens/clicks/bounces) by send day, replies by reply day.

    Opens and clicks carry no timestamps in the API, so they are bucketed with their send.
    Replies without ``repliedAt`` cannot be placed on a day and are left out.
    """
    days: dict[str, list[int]] = {}

    def bucket(day: str) -> list[int]:
        found = days.get(day)
        if found is None:
            found = days[day] = [0, 0, 0, 0, 0, 0]
        return found

    for lead in leads:
        for email in lead["emailsSent"]:
            day = email["sentAt"][:10]
            if _in_range(day, since, until):
                row = bucket(day)
                row[0] += 1
                row[1] += email["opened"]
                row[2] += email["clicked"]
                row[3] += email["bounced"]
        replied_at = lead["repliedAt"]
        if lead["replied"] and replied_at is not None:
            day = replied_at[:10]
            if _in_range(day, since, until):
                row = bucket(day)
                row[4] += 1
                row[5] += lead["aiTag"] in POSITIVE_TAGS
    keys = ("sent", "opened", "clicked", "bounced", "replied", "positiveReplied")
    return [{"_id": day, **dict(zip(keys, days[day], strict=True))} for day in sorted(days)]
