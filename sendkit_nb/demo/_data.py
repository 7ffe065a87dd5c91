"""Synthetic SendKit workspace: campaigns and campaign leads shaped exactly like the API's JSON.

Everything here is plain JSON-able dicts so that tests and metrics can compute expected numbers
from the very objects the demo server serialises. Generation is a small event simulation per
lead (send, bounce, open, click, reply, unsubscribe along the campaign's sequence) so that every
status is consistent with the lead's email history.

Conventions the rest of the package may rely on (and the tests check):

* ids are 24 lowercase hex characters: a fixed timestamp-like prefix plus a counter, so ids grow
  strictly in creation order and sorting by ``_id`` is insertion order (what cursors need);
* timestamps are ISO-8601 UTC with milliseconds and ``Z``;
* ``emailsSent[].sequenceStep`` is the email step's ``order`` in ``sequence`` (wait steps take an
  index too, as the docs' ``stepAnalytics`` example with steps 0 and 2 suggests);
* ``currentSequenceStep`` is 0 when nothing was sent; otherwise the ``order`` of the last sent
  email plus one (the step the lead moves on to), except for ``replied`` leads, which stay at the
  ``order`` of their last sent email. Both halves follow the two items on the seed docs page;
* the demo clock is frozen at :data:`DEMO_NOW` so that a seed always gives the same data.
"""

from __future__ import annotations

import gc
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "DEMO_NOW",
    "DEMO_USER_ID",
    "DEMO_WORKSPACE_ID",
    "POSITIVE_TAGS",
    "DemoWorkspace",
    "JSONDict",
    "campaign_stats",
    "iso",
    "make_workspace",
]

JSONDict = dict[str, Any]

#: The one workspace the demo serves (what ``X-Workspace-Id`` must carry with a platform key).
DEMO_WORKSPACE_ID = "6650c0ffee000000000000a1"
DEMO_USER_ID = "6650c0ffee000000000000b2"

_DAY = 86_400_000  # milliseconds
_HOUR = 3_600_000

#: AI tags the demo's analytics count as positive (the documented default positive labels).
POSITIVE_TAGS: frozenset[str] = frozenset({"interested", "meeting_booked"})

_REPLY_TAGS: tuple[tuple[str, float], ...] = (
    ("interested", 0.30),
    ("meeting_booked", 0.10),
    ("not_interested", 0.35),
    ("out_of_office", 0.15),
    ("wrong_person", 0.10),
)

_FIRST_NAMES = (
    "John",
    "Jane",
    "Alex",
    "Maria",
    "Sam",
    "Priya",
    "Tom",
    "Lena",
    "Omar",
    "Chloe",
    "Ravi",
    "Emma",
    "Lucas",
    "Aisha",
    "Noah",
    "Mia",
    "Ethan",
    "Sofia",
    "Liam",
    "Olivia",
    "Mateo",
    "Hannah",
    "Yuki",
    "Diego",
    "Grace",
    "Ivan",
    "Nora",
    "Felix",
    "Amara",
    "Leo",
    "Zara",
    "Kai",
    "Ines",
    "Marcus",
    "Elena",
    "Tariq",
    "Freya",
    "Hugo",
    "Mei",
    "Daniel",
)
_LAST_NAMES = (
    "Doe",
    "Smith",
    "Patel",
    "Garcia",
    "Kim",
    "Nguyen",
    "Brown",
    "Wilson",
    "Rossi",
    "Silva",
    "Chen",
    "Novak",
    "Khan",
    "Jensen",
    "Moreau",
    "Tanaka",
    "Okafor",
    "Schmidt",
    "Lopez",
    "Walsh",
    "Kowalski",
    "Haddad",
    "Berg",
    "Costa",
    "Fischer",
    "Ahmed",
    "Murphy",
    "Ito",
    "Larsen",
    "Duarte",
    "Reyes",
    "Quinn",
    "Sato",
    "Weber",
    "Park",
    "Byrne",
    "Lund",
    "Mendes",
    "Ortiz",
    "Hale",
)
_COMPANIES = (
    ("Acme Corp", "acme.com"),
    ("Example Inc", "example.com"),
    ("Northwind Traders", "northwind.io"),
    ("Globex", "globex.co"),
    ("Initech", "initech.com"),
    ("Umbrella Analytics", "umbrella.ai"),
    ("Hooli", "hooli.xyz"),
    ("Stark Logistics", "starklog.com"),
    ("Wayne Fintech", "waynefin.com"),
    ("Pied Piper", "piedpiper.net"),
    ("Vandelay Industries", "vandelay.biz"),
    ("Soylent Foods", "soylent.co"),
    ("Tyrell Systems", "tyrell.dev"),
    ("Cyberdyne Cloud", "cyberdyne.cloud"),
    ("Blue Sun Retail", "bluesun.shop"),
    ("Oceanic Travel", "oceanic.travel"),
    ("Massive Dynamic", "massivedynamic.com"),
    ("Gekko & Co", "gekko.co"),
    ("Monarch Health", "monarch.health"),
    ("Nakatomi Trading", "nakatomi.jp"),
)
#: (firstName, lastName, companyName, email local part): names the loader must round-trip.
_UNICODE_PEOPLE = (
    ("José", "García", "Telefónica Ñandú SA", "jose.garcia"),
    ("Zoë", "Müller", "Müller & Söhne GmbH", "zoe.mueller"),
    ("芳", "王", "北京科技有限公司", "wang.fang"),
    ("Ólafur", "Arnalds", "Reykjavík Hugbúnaður ehf", "olafur.arnalds"),
    ("Søren", "Ødegård", "Ærø Shipping ApS", "soren.odegard"),
)
_INDUSTRIES = ("saas", "fintech", "retail", "logistics", "health")


def _ms(text: str) -> int:
    """Milliseconds since the epoch of a naive ISO timestamp read as UTC."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


#: The frozen "now" of the demo world: the last moment anything can have happened.
DEMO_NOW = _ms("2025-07-01T12:00:00")


_DATE_PREFIX: dict[int, str] = {}


def iso(ms: int) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, the API's timestamp format.

    Hand-rolled with a per-day cache instead of ``datetime.isoformat`` because a 100k-lead
    workspace formats a few hundred thousand timestamps and this is several times faster.
    """
    secs, millis = divmod(ms, 1000)
    days, rem = divmod(secs, 86_400)
    date = _DATE_PREFIX.get(days)
    if date is None:
        date = _DATE_PREFIX[days] = time.strftime("%Y-%m-%dT", time.gmtime(days * 86_400))
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    return f"{date}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


class _IdFactory:
    """24-hex ids: a timestamp-like prefix (8 hex) over a counter (16 hex), i.e. a 96-bit number
    that only ever grows.

    Mongo ObjectIds start with a creation timestamp too, but real ones are only roughly ordered;
    here the counter makes them strictly increasing so that ``_id`` order is creation order.
    """

    def __init__(self, seed: int) -> None:
        # A prefix near June 2025 as epoch seconds; the seed shifts it so that workspaces made
        # from different seeds do not share ids.
        self.last = (0x683B5A00 + (seed % 0x10000) * 0x100) << 64

    def next(self) -> str:
        self.last += 1
        return f"{self.last:024x}"

    def skip_past(self, existing_id: str) -> None:
        """Never hand out an id at or below ``existing_id`` (for hand-built workspaces)."""
        try:
            value = int(existing_id, 16)
        except (TypeError, ValueError):
            return
        self.last = max(self.last, value)


@dataclass(frozen=True)
class _Plan:
    """How one synthetic campaign behaves. Rates are per email unless noted."""

    name: str
    status: str
    waits: tuple[int, ...]  # waitDays before each email after the first; len = emails - 1
    created: int
    started: int | None
    paused_at: int | None = None
    bounce: float = 0.03  # first email; later emails bounce far less (bad addresses go first)
    open: float = 0.42
    click: float = 0.12  # given an open; clicks without a tracked open are rarer
    reply: float = 0.03
    unsub: float = 0.004
    #: email index (0-based among email steps) -> (open multiplier, reply multiplier) of variant
    #: "B" relative to "A"; the email steps listed here carry A/B variants.
    variants: tuple[tuple[int, float, float], ...] = ()
    track_opens: bool = True
    track_clicks: bool = True
    late_add: float = 0.2  # share of leads added after the campaign started
    campaign_id_field: bool = False  # items carry the newer API's ``campaignId``
    subjects: tuple[str, ...] = ("Quick question, {{firstName}}", "Re: quick question", "Last try")

    @property
    def n_emails(self) -> int:
        return len(self.waits) + 1


_TEMPLATES: tuple[_Plan, ...] = (
    _Plan(
        name="Q3 SaaS founders - subject line A/B",
        status="active",
        waits=(3, 4),
        created=_ms("2025-05-28T14:00:00"),
        started=_ms("2025-06-02T09:00:00"),
        bounce=0.035,
        open=0.40,
        click=0.12,
        reply=0.028,
        variants=((0, 1.25, 1.35),),
        late_add=0.3,
        subjects=("Scaling {{companyName}} in Q3", "Re: Scaling in Q3", "Closing the loop"),
    ),
    _Plan(
        name="Agency outreach - spring",
        status="completed",
        waits=(5,),
        created=_ms("2025-03-31T10:00:00"),
        started=_ms("2025-04-07T09:00:00"),
        bounce=0.05,
        open=0.36,
        click=0.10,
        reply=0.025,
        late_add=0.1,
        subjects=("White-label SEO for {{companyName}}", "Following up"),
    ),
    _Plan(
        name="Fintech CFOs - Q2",
        status="paused",
        waits=(2, 3),
        created=_ms("2025-05-12T08:30:00"),
        started=_ms("2025-05-19T09:00:00"),
        paused_at=_ms("2025-06-13T17:00:00"),
        bounce=0.028,
        open=0.50,
        click=0.14,
        reply=0.03,
        late_add=0.25,
        campaign_id_field=True,
        subjects=("Month-end close in 2 days?", "Re: month-end close", "Worth a look?"),
    ),
    _Plan(
        name="E-commerce ops - multivariate",
        status="active",
        waits=(3, 3),
        created=_ms("2025-05-20T11:00:00"),
        started=_ms("2025-05-26T09:00:00"),
        bounce=0.026,
        open=0.52,
        click=0.09,
        reply=0.026,
        variants=((0, 0.85, 1.2), (1, 1.1, 0.8)),
        late_add=0.2,
        subjects=("Returns are eating your margin", "A 3-minute teardown", "Should I close this?"),
    ),
    _Plan(
        name="Local partners pilot",
        status="completed",
        waits=(4,),
        created=_ms("2025-04-20T16:00:00"),
        started=_ms("2025-04-22T09:00:00"),
        bounce=0.012,
        open=0.58,
        click=0.0,
        reply=0.03,
        track_clicks=False,
        late_add=0.0,
        subjects=("Partnering in {{city}}", "Coffee next week?"),
    ),
    _Plan(
        name="Enterprise ABM (draft)",
        status="draft",
        waits=(3, 5),
        created=_ms("2025-06-25T13:00:00"),
        started=None,
        late_add=0.0,
        subjects=("{{companyName}} x SendKit", "Re: {{companyName}}", "One more idea"),
    ),
    _Plan(
        name="Old smoke test",
        status="archived",
        waits=(2,),
        created=_ms("2025-02-03T10:00:00"),
        started=_ms("2025-02-04T09:00:00"),
        late_add=0.0,
        subjects=("Test", "Test follow-up"),
    ),
)

#: Leads per template in the default workspace (the archived campaign is empty on purpose:
#: loaders must cope with a campaign that has no leads at all).
_DEFAULT_SIZES: tuple[int, ...] = (3400, 2100, 1500, 1400, 120, 300, 0)


@dataclass
class DemoWorkspace:
    """A synthetic workspace: API-shaped ``campaigns`` and their ``leads`` (sorted by ``_id``).

    The dicts are exactly what the demo server serialises; treat them as read-only except through
    :meth:`add_leads`, which keeps ids increasing and the campaign's counters in step.
    """

    campaigns: list[JSONDict]
    leads: dict[str, list[JSONDict]]
    seed: int = 7
    workspace_id: str = DEMO_WORKSPACE_ID
    #: Guards :meth:`add_leads` against a server thread reading a campaign mid-update.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    _ids: _IdFactory = field(default_factory=lambda: _IdFactory(7), repr=False, compare=False)
    _rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False, compare=False)

    def __post_init__(self) -> None:
        # A workspace built by hand (tests do) may hold ids above the factory's start; new ids
        # must still sort after every existing one.
        for campaign in self.campaigns:
            self._ids.skip_past(str(campaign.get("_id", "")))
        for items in self.leads.values():
            for item in items[-1:]:
                self._ids.skip_past(str(item.get("_id", "")))

    def campaign(self, campaign_id: str) -> JSONDict | None:
        """The campaign with this ``_id``, or None."""
        for campaign in self.campaigns:
            if campaign["_id"] == campaign_id:
                return campaign
        return None

    def add_leads(self, campaign_id: str, n: int) -> list[JSONDict]:
        """Append ``n`` new leads (no emails yet) to a campaign and return them.

        New leads get status ``active`` in an active campaign and ``pending`` otherwise, as the
        docs say for ``POST /v1/campaigns/{id}/leads``. Their ids are higher than every existing
        id, so a cursor walk that is under way will still reach them.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        with self.lock:
            campaign = self.campaign(campaign_id)
            if campaign is None:
                raise KeyError(f"no campaign {campaign_id!r} in this workspace")
            status = "active" if campaign["status"] == "active" else "pending"
            existing = self.leads.setdefault(campaign_id, [])
            last_added = max((_parse_ms(x["addedAt"]) for x in existing[-1:]), default=DEMO_NOW)
            new: list[JSONDict] = []
            added = max(DEMO_NOW, last_added)
            for _ in range(n):
                added += 1000  # one a second, after the frozen "now" and after earlier additions
                new.append(
                    _lead_item(
                        self._ids,
                        self._rng,
                        status=status,
                        emails=[],
                        current_step=0,
                        replied_at=None,
                        replied=False,
                        ai_tag=None,
                        added=added,
                    )
                )
            existing.extend(new)
            _refresh_campaign(campaign, existing)
            return new


def _parse_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _lead_item(
    ids: _IdFactory,
    rng: random.Random,
    *,
    status: str,
    emails: list[JSONDict],
    current_step: int,
    replied: bool,
    replied_at: str | None,
    ai_tag: str | None,
    added: int,
) -> JSONDict:
    """One campaign-lead item, keys in the order of the seed docs page."""
    # indexing with random() instead of rng.choice: ~3x cheaper, and this runs once per lead
    rand = rng.random
    first = _FIRST_NAMES[int(rand() * len(_FIRST_NAMES))]
    last = _LAST_NAMES[int(rand() * len(_LAST_NAMES))]
    company, domain = _COMPANIES[int(rand() * len(_COMPANIES))]
    lead_id = ids.next()
    u = rand()
    tags = [] if u < 0.85 else (["vip"] if u < 0.95 else ["q3", "vip"])
    return {
        "_id": ids.next(),
        "leadId": {
            "_id": lead_id,
            # the lead's own id in the local part keeps every address unique
            "email": f"{first.lower()}.{last.lower()}.{lead_id[-5:]}@{domain}",
            "firstName": first,
            "lastName": last,
            "companyName": company,
        },
        "status": status,
        "currentSequenceStep": current_step,
        "emailsSent": emails,
        "replied": replied,
        "repliedAt": replied_at,
        "aiTag": ai_tag,
        "tags": tags,
        "addedAt": iso(added),
    }


def _pick_tag(rng: random.Random) -> str:
    u = rng.random()
    for tag, weight in _REPLY_TAGS:
        if u < weight:
            return tag
        u -= weight
    return _REPLY_TAGS[-1][0]


def _current_step(status: str, emails: list[JSONDict]) -> int:
    """See the module docstring: next step after the last email, replied leads stay put."""
    if not emails:
        return 0
    last = int(emails[-1]["sequenceStep"])
    return last if status == "replied" else last + 1


def _sequence(plan: _Plan) -> list[JSONDict]:
    """Email steps interleaved with wait steps; every step takes an ``order`` index."""
    variant_steps = {i for i, _, _ in plan.variants}
    steps: list[JSONDict] = []
    for i in range(plan.n_emails):
        if i > 0:
            steps.append(
                {
                    "type": "wait",
                    "order": len(steps),
                    "name": f"Wait {plan.waits[i - 1]} days",
                    "waitDays": plan.waits[i - 1],
                }
            )
        subject = plan.subjects[i % len(plan.subjects)]
        step: JSONDict = {
            "type": "email",
            "order": len(steps),
            "name": "Initial Email" if i == 0 else f"Follow-up {i}",
            "subject": subject,
            "body": f"<p>Hi {{{{firstName}}}},</p><p>{subject}</p>",
        }
        if i in variant_steps:
            # The docs never show how variants sit inside a step; this extra key is the demo's
            # guess and loaders must ignore it (they get variants from emailsSent).
            step["variants"] = [
                {"name": "A", "subject": subject},
                {"name": "B", "subject": subject + " (alt)"},
            ]
        steps.append(step)
    return steps


def _simulate_campaign(
    plan: _Plan, n: int, ids: _IdFactory, rng: random.Random
) -> tuple[list[JSONDict], int | None]:
    """Generate ``n`` leads for ``plan``; returns them and the campaign's completion time."""
    email_orders = [2 * i for i in range(plan.n_emails)]  # email, wait, email, wait, ...
    lifts = {i: (o, r) for i, o, r in plan.variants}
    # When sends stop: a paused campaign sent nothing after it was paused; a finished one ran
    # until everyone was done; an active one runs up to the frozen "now".
    if plan.status == "paused" and plan.paused_at is not None:
        send_cutoff = plan.paused_at
    elif plan.status in ("completed", "archived"):
        send_cutoff = 1 << 62
    else:
        send_cutoff = DEMO_NOW
    started = plan.started if plan.started is not None else DEMO_NOW
    n_late = round(n * plan.late_add)
    n_early = n - n_late
    early_end = plan.created + _HOUR + n_early * 1000
    late_start = max(started, early_end)
    if plan.status == "active":
        add_end = DEMO_NOW - _DAY
    elif plan.status == "paused":
        add_end = DEMO_NOW - 2 * _DAY  # some leads arrive after the pause: they stay pending
    else:
        add_end = started + 10 * _DAY
    add_end = max(add_end, late_start)

    leads: list[JSONDict] = []
    last_send = 0
    rand = rng.random
    for i in range(n):
        if i < n_early:
            added = plan.created + _HOUR + i * 1000  # one bulk import, a lead per second
        else:
            j = i - n_early
            added = late_start + (add_end - late_start) * j // max(n_late, 1)
        emails: list[JSONDict] = []
        reply_at: int | None = None
        bounced = unsubscribed = False
        if plan.status != "draft":
            t = max(added, started) + int(rand() * 3 * _DAY) + 5 * 60_000
            for k, order in enumerate(email_orders):
                if k > 0:
                    t += plan.waits[k - 1] * _DAY + int(rand() * _DAY / 2)
                if reply_at is not None and reply_at <= t:
                    break  # stopOnReply: the reply came in before this email went out
                if t > send_cutoff:
                    break
                variant: str | None = None
                open_mult = reply_mult = 1.0
                if k in lifts:
                    if rand() < 0.5:
                        variant = "A"
                    else:
                        variant = "B"
                        open_mult, reply_mult = lifts[k]
                last_send = max(last_send, t)
                if rand() < plan.bounce * (1.0 if k == 0 else 0.3):
                    emails.append(_email(order, variant, t, False, False, True))
                    bounced = True
                    break
                opened = plan.track_opens and rand() < plan.open * open_mult
                # clicks mostly follow a tracked open; a few come through with images blocked
                clicked = plan.track_clicks and rand() < (plan.click if opened else 0.004)
                emails.append(_email(order, variant, t, opened, clicked, False))
                if reply_at is None:
                    p_reply = plan.reply * reply_mult * (1.4 if opened else 0.7)
                    if rand() < p_reply:
                        reply_at = t + 10 * 60_000 + int(rng.expovariate(1.0 / (18 * _HOUR)))
                    elif rand() < plan.unsub:
                        unsubscribed = True
                        break
        if bounced:
            reply_at = None  # a bounced lead is finished; any later reply is out of the picture
        replied = reply_at is not None and reply_at <= DEMO_NOW
        if bounced:
            status = "bounced"
        elif replied:
            status = "replied"
        elif unsubscribed:
            status = "unsubscribed"
        elif plan.status == "draft":
            status = "pending"
        elif len(emails) == plan.n_emails:
            status = "completed"
        elif plan.status == "paused":
            # added after the pause: never started, like leads added to a non-active campaign
            status = "pending" if not emails and added >= send_cutoff else "paused"
        else:
            status = "paused" if rand() < 0.01 else "active"  # a few paused by hand
        if status in ("active", "paused", "completed") and emails:
            u = rand()
            if u < 0.012:
                # soft-deleted with email history ("remove" hard-deletes leads with none)
                status = "removed"
                del emails[rng.randint(1, len(emails)) :]
            elif u < 0.015:
                status = "failed"
                del emails[rng.randint(0, len(emails)) :]
        ai_tag: str | None = None
        if replied:
            ai_tag = _pick_tag(rng)
        elif rand() < 0.003:
            ai_tag = "out_of_office"  # auto-replies get tagged without counting as replies
        item = _lead_item(
            ids,
            rng,
            status=status,
            emails=emails,
            current_step=_current_step(status, emails),
            replied=replied,
            replied_at=iso(reply_at) if replied and reply_at is not None else None,
            ai_tag=ai_tag,
            added=added,
        )
        if plan.campaign_id_field:
            item["campaignId"] = None  # filled in by the caller, which knows the campaign id
        leads.append(item)
    completed_at = None
    if plan.status in ("completed", "archived"):
        completed_at = (last_send if last_send else started) + _DAY
    return leads, completed_at


def _email(
    order: int, variant: str | None, t: int, opened: bool, clicked: bool, bounced: bool
) -> JSONDict:
    return {
        "sequenceStep": order,
        "variant": variant,
        "sentAt": iso(t),
        "opened": opened,
        "clicked": clicked,
        "bounced": bounced,
    }


def _apply_edge_cases(
    leads: list[JSONDict], campaign_id: str, ids: _IdFactory, rng: random.Random
) -> None:
    """Plant a handful of each awkward-but-legal item the loader and metrics must survive."""
    n = len(leads)
    if n < 40:
        return
    used: set[int] = set()
    # One shuffled order, walked from the start by every pick: cheap even for 100k leads, and
    # the picks stay spread over the whole campaign.
    order = list(range(n))
    rng.shuffle(order)

    def pick(k: int, ok: Callable[[JSONDict], bool] | None = None) -> list[JSONDict]:
        chosen: list[int] = []
        for i in order:
            if len(chosen) == k:
                break
            if i not in used and (ok is None or ok(leads[i])):
                chosen.append(i)
        used.update(chosen)
        return [leads[i] for i in sorted(chosen)]

    for lead, (first, last, company, local) in zip(pick(5), _UNICODE_PEOPLE, strict=False):
        lead["leadId"].update(
            firstName=first,
            lastName=last,
            companyName=company,
            email=f"{local}.{lead['leadId']['_id'][-5:]}@example.org",
        )
    for lead in pick(2):
        lead["leadId"]["firstName"] = None
    for lead in pick(2):
        lead["leadId"]["lastName"] = None
    for lead in pick(3):
        lead["leadId"]["companyName"] = None
    for lead in pick(1):
        lead["leadId"].update(firstName=None, lastName=None, companyName=None)
    # The workspace lead was deleted; the campaign lead and its history remain.
    for lead in pick(3, lambda x: bool(x["emailsSent"])):
        lead["leadId"] = None
    # Replied, but the reply time was never recorded.
    for lead in pick(2, lambda x: x["status"] == "replied"):
        lead["repliedAt"] = None

    # A reply that arrived before the first email (e.g. to an earlier thread): attribution must
    # count it as unattributed, not drop it. The sequence stopped after that first email.
    def delivered_first(x: JSONDict) -> bool:
        return x["status"] in ("active", "completed") and bool(x["emailsSent"])

    for lead in pick(2, delivered_first):
        del lead["emailsSent"][1:]
        first_sent = _parse_ms(lead["emailsSent"][0]["sentAt"])
        lead.update(
            status="replied",
            replied=True,
            repliedAt=iso(first_sent - 3 * _HOUR),
            aiTag=_pick_tag(rng),
            currentSequenceStep=_current_step("replied", lead["emailsSent"]),
        )
    # A reply with no email at all (replied to a colleague's thread before the first send).
    for lead in pick(1, lambda x: x["status"] in ("active", "paused", "completed")):
        lead.update(
            status="replied",
            replied=True,
            emailsSent=[],
            currentSequenceStep=0,
            repliedAt=iso(_parse_ms(lead["addedAt"]) + _HOUR),
            aiTag="interested",
        )
    # Newer-generation fields the loader must ignore.
    for lead in pick(4, lambda x: x["status"] == "replied" and x["aiTag"] == "interested"):
        done = rng.random() < 0.5
        lead["subsequence"] = {
            "id": ids.next(),
            "status": "completed" if done else "active",
            "completedAt": lead["repliedAt"] if done else None,
            "repliedAt": lead["repliedAt"] if done else None,
        }
    for lead in pick(max(3, n // 40)):
        lead["customFields"] = {
            "industry": rng.choice(_INDUSTRIES),
            "seats": rng.randint(5, 500),
        }
    for lead in pick(3):
        lead.setdefault("campaignId", campaign_id)


def campaign_stats(leads: Sequence[JSONDict]) -> JSONDict:
    """The campaign ``stats`` object, counted from the leads' emails.

    ``sent``/``opened``/``clicked``/``bounced`` count emails, ``replied`` counts replied leads and
    ``unsubscribed`` leads with that status (the docs do not say; this is the natural reading).
    """
    sent = opened = clicked = bounced = replied = unsub = 0
    for lead in leads:
        for email in lead["emailsSent"]:
            sent += 1
            opened += email["opened"]
            clicked += email["clicked"]
            bounced += email["bounced"]
        replied += bool(lead["replied"])
        unsub += lead["status"] == "unsubscribed"
    return {
        "sent": sent,
        "delivered": sent - bounced,
        "opened": opened,
        "clicked": clicked,
        "replied": replied,
        "bounced": bounced,
        "unsubscribed": unsub,
    }


def _refresh_campaign(campaign: JSONDict, leads: Sequence[JSONDict]) -> None:
    campaign["stats"] = campaign_stats(leads)
    campaign["leadCounts"] = {
        "total": len(leads),
        "active": sum(1 for x in leads if x["status"] == "active"),
    }


def make_workspace(seed: int = 7, sizes: Sequence[int] | None = None) -> DemoWorkspace:
    """Build a deterministic synthetic workspace.

    With ``sizes=None`` it has seven campaigns (~8.8k leads): an active 3-email A/B test, a
    completed and a paused campaign, an active one with variants on two steps, a small completed
    one without click tracking, a draft whose leads are all pending, and an empty archived one.
    ``sizes`` gives leads per campaign instead (one campaign per entry, cycling through the same
    campaign kinds), e.g. ``sizes=[100_000]`` for benchmarks.
    """
    if sizes is None:
        sizes = _DEFAULT_SIZES
    if any(s < 0 for s in sizes):
        raise ValueError(f"sizes must be >= 0, got {list(sizes)}")
    # Building hundreds of thousands of small dicts keeps triggering the cyclic GC, which finds
    # nothing to free (no cycles here); pausing it makes a 100k-lead workspace ~25% faster.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _make_workspace(seed, sizes)
    finally:
        if was_enabled:
            gc.enable()


def _make_workspace(seed: int, sizes: Sequence[int]) -> DemoWorkspace:
    ids = _IdFactory(seed)
    rng = random.Random(seed)
    campaigns: list[JSONDict] = []
    leads_by_campaign: dict[str, list[JSONDict]] = {}
    for k, size in enumerate(sizes):
        plan = _TEMPLATES[k % len(_TEMPLATES)]
        name = plan.name if k < len(_TEMPLATES) else f"{plan.name} #{k // len(_TEMPLATES) + 1}"
        campaign_id = ids.next()
        mailboxes = [ids.next() for _ in range(3)]
        leads, completed_at = _simulate_campaign(plan, size, ids, rng)
        if plan.campaign_id_field:
            for lead in leads:
                lead["campaignId"] = campaign_id
        if plan.status != "draft":
            _apply_edge_cases(leads, campaign_id, ids, random.Random(seed * 1000 + k))
        # Edge cases allocate ids (subsequence ids) after the leads; that is fine because leads'
        # own ids were all allocated in order before them.
        updated = max([plan.created, plan.started or 0, completed_at or 0, plan.paused_at or 0])
        campaign: JSONDict = {
            "_id": campaign_id,
            "name": name,
            "userId": DEMO_USER_ID,
            "workspaceId": DEMO_WORKSPACE_ID,
            "status": plan.status,
            "mailboxes": mailboxes,
            "mailboxRotation": "round-robin",
            "sequence": _sequence(plan),
            "sendingSchedule": {
                "timezone": "America/New_York",
                "startTime": "09:00",
                "endTime": "17:00",
                "workingDays": [1, 2, 3, 4, 5],
            },
            "trackOpens": plan.track_opens,
            "trackClicks": plan.track_clicks,
            "stopOnReply": True,
            "includeUnsubscribeLink": False,
            "emailIntervalMinutes": 15,
            "stats": {},
            "leadCounts": {},
            "startedAt": iso(plan.started) if plan.started is not None else None,
            "completedAt": iso(completed_at) if completed_at is not None else None,
            "createdAt": iso(plan.created),
            "updatedAt": iso(updated),
        }
        _refresh_campaign(campaign, leads)
        campaigns.append(campaign)
        leads_by_campaign[campaign_id] = leads
    return DemoWorkspace(
        campaigns=campaigns,
        leads=leads_by_campaign,
        seed=seed,
        _ids=ids,
        _rng=random.Random(seed + 1),
    )
