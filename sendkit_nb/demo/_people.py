"""The demo workspace's people: ``GET /v1/leads`` items (sendkit-api.md 4.8) for every lead its
campaigns reference, plus some that are in no campaign.

The campaign data is fixed (tests and snapshots depend on it), so the people are derived from
it after the fact: a person's id, email, names and company are those of the campaign lead's
populated ``leadId``; the other attributes are drawn from an RNG seeded by the workspace seed
and the lead id, *given the campaign outcome*. Drawing job title, country and company size
with outcome-dependent weights is Bayes run backwards: if replied leads draw "Founder" with
weight ``base * lift`` and the others with ``base``, then Founders' reply rate comes out about
``lift / mean lift`` times the overall rate, which is exactly the variation a breakdown by
attribute should find. Email verification is drawn given whether the lead bounced, so
unverified and risky addresses bounce more, as they do in life.

Campaign leads whose ``leadId`` is null (the person was deleted, see ``_data._apply_edge_cases``)
have no person here. A lead in several campaigns is one person; its outcome is "replied in any".
A few people have absent, null or empty fields (the loader must cope), and ``customFields``
appears on most items although the docs show it only on the create-lead response (the demo's
guess; see the open question in the loader).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._data import DemoWorkspace, JSONDict, _parse_ms, iso

__all__ = ["COUNTRY_LIFTS", "SIZE_LIFTS", "TITLE_LIFTS", "make_people"]

_DAY = 86_400_000

#: (job title, share of leads, reply lift): Founders and CEOs answer, engineers do not.
TITLE_LIFTS: tuple[tuple[str, float, float], ...] = (
    ("Founder", 0.10, 2.4),
    ("CEO", 0.10, 1.8),
    ("CTO", 0.08, 1.0),
    ("VP Sales", 0.10, 1.3),
    ("Head of Growth", 0.10, 1.5),
    ("Marketing Manager", 0.14, 0.8),
    ("Operations Manager", 0.12, 0.9),
    ("Software Engineer", 0.12, 0.3),
    ("CFO", 0.07, 1.2),
    ("Office Manager", 0.07, 0.4),
)
#: (country, share, reply lift, ((city, state), ...)).
COUNTRY_LIFTS: tuple[tuple[str, float, float, tuple[tuple[str, str], ...]], ...] = (
    (
        "United States",
        0.40,
        1.0,
        (("New York", "NY"), ("San Francisco", "CA"), ("Austin", "TX"), ("Chicago", "IL")),
    ),
    ("United Kingdom", 0.15, 1.7, (("London", "England"), ("Manchester", "England"))),
    ("Germany", 0.12, 0.6, (("Berlin", "Berlin"), ("Munich", "Bavaria"))),
    ("France", 0.08, 0.7, (("Paris", "Île-de-France"),)),
    ("Canada", 0.08, 1.3, (("Toronto", "Ontario"), ("Montréal", "Québec"))),
    ("Australia", 0.07, 1.0, (("Sydney", "New South Wales"),)),
    ("India", 0.10, 0.5, (("Bengaluru", "Karnataka"), ("Pune", "Maharashtra"))),
)
#: (customFields.companySize, share, reply lift): small companies answer more.
SIZE_LIFTS: tuple[tuple[str, float, float], ...] = (
    ("1-10", 0.15, 1.6),
    ("11-50", 0.25, 1.3),
    ("51-200", 0.25, 1.0),
    ("201-1000", 0.20, 0.7),
    ("1000+", 0.15, 0.5),
)
_INDUSTRIES = ("saas", "fintech", "retail", "logistics", "health")
_SOURCES = ("import-2025-05", "webinar", "referral", "linkedin")
_PROVIDERS = (("google", "Google Workspace"), ("microsoft", "Microsoft 365"), (None, None))
#: People in the workspace but in no campaign (added, never used).
_UNUSED_PEOPLE = 150


def _draw(rng: random.Random, weights: Sequence[float]) -> int:
    u = rng.random() * sum(weights)
    for i, w in enumerate(weights):
        if u < w:
            return i
        u -= w
    return len(weights) - 1


def _person(
    rng: random.Random,
    lead_id: str,
    who: JSONDict,
    *,
    replied: bool,
    bounced: bool,
    first_added: int,
    tags: Sequence[str],
) -> JSONDict:
    title = TITLE_LIFTS[_draw(rng, [s * (r if replied else 1.0) for _, s, r in TITLE_LIFTS])][0]
    country, _, _, places = COUNTRY_LIFTS[
        _draw(rng, [s * (r if replied else 1.0) for _, s, r, _ in COUNTRY_LIFTS])
    ]
    city, state = places[int(rng.random() * len(places))]
    size = SIZE_LIFTS[_draw(rng, [s * (r if replied else 1.0) for _, s, r in SIZE_LIFTS])][0]
    # Unverified and risky addresses are what bounces.
    u = rng.random()
    if bounced:
        verified, result = (False, None) if u < 0.55 else (True, "risky" if u < 0.9 else "valid")
    else:
        verified, result = (
            (True, "valid" if u < 0.55 else "deliverable") if u < 0.85 else (False, None)
        )
    provider, provider_name = _PROVIDERS[int(rng.random() * len(_PROVIDERS))]
    source = _SOURCES[int(rng.random() * len(_SOURCES))]
    person: JSONDict = {
        "_id": lead_id,
        "email": str(who.get("email") or "").lower() or None,
        "firstName": who.get("firstName"),
        "lastName": who.get("lastName"),
        "companyName": who.get("companyName"),
        "jobTitle": title,
        "tags": sorted({*tags, source}),
        "emailVerified": verified,
        "emailVerificationResult": result,
        "segProtected": provider is not None,
        "segProvider": provider,
        "segProviderName": provider_name,
        "city": city,
        "state": state,
        "country": country,
        "createdAt": iso(first_added - int(rng.random() * 30 * _DAY) - _DAY),
    }
    u = rng.random()
    if u < 0.85:
        person["customFields"] = {
            "companySize": size,
            "industry": _INDUSTRIES[int(rng.random() * len(_INDUSTRIES))],
        }
    elif u < 0.9:
        person["customFields"] = {}
    # else: no customFields key at all (the list item in the docs has none)
    return person


def _blank_some(people: list[JSONDict], rng: random.Random) -> None:
    """Absent, null and empty fields: people imported with no details at all, and a few holes."""
    for person in people:
        u = rng.random()
        if u < 0.02:
            # imported with an email only: every attribute missing (absent keys, not nulls)
            for key in ("jobTitle", "city", "state", "country", "customFields"):
                person.pop(key, None)
            person.update(emailVerified=None, emailVerificationResult=None, tags=[])
        elif u < 0.03:
            person.update(jobTitle="", city=None, state=None)
        elif u < 0.035:
            person.update(tags=None, country=None)


@dataclass
class _Seen:
    """What the campaigns say about one person (over all the campaigns it is in)."""

    who: JSONDict
    replied: bool
    bounced: bool
    added: int
    tags: set[str] = field(default_factory=set)


def make_people(workspace: DemoWorkspace) -> list[JSONDict]:
    """Every person of the workspace, sorted by ``_id`` (the order cursors need)."""
    seed = workspace.seed
    seen: dict[str, _Seen] = {}
    for leads in workspace.leads.values():
        for lead in leads:
            who = lead.get("leadId")
            if not who:
                continue  # deleted person: the campaign lead keeps its history, nothing else
            lead_id = str(who["_id"])
            added = _parse_ms(lead["addedAt"])
            bounced = any(email["bounced"] for email in lead["emailsSent"])
            entry = seen.get(lead_id)
            if entry is None:
                entry = seen[lead_id] = _Seen(who, bool(lead["replied"]), bounced, added)
            else:  # the same person in another campaign
                entry.replied = entry.replied or bool(lead["replied"])
                entry.bounced = entry.bounced or bounced
                entry.added = min(entry.added, added)
            entry.tags.update(str(t) for t in lead.get("tags") or [])
    people: list[JSONDict] = []
    for lead_id, entry in seen.items():
        rng = random.Random(f"{seed}:person:{lead_id}")
        people.append(
            _person(
                rng,
                lead_id,
                entry.who,
                replied=entry.replied,
                bounced=entry.bounced,
                first_added=entry.added,
                tags=sorted(entry.tags),
            )
        )
    rng = random.Random(f"{seed}:unused-people")
    for n in range(_UNUSED_PEOPLE):
        # Ids below every campaign id (a prefix the id factory never reaches), so they sort first.
        lead_id = f"6640{seed % 0x10000:04x}{n:016x}"
        who = {"email": f"prospect{n}@unused-{n % 7}.example.com", "firstName": f"P{n}"}
        people.append(
            _person(
                rng,
                lead_id,
                who,
                replied=False,
                bounced=False,
                first_added=_parse_ms("2025-03-01T00:00:00.000Z") + n * 3_600_000,
                tags=["unused"],
            )
        )
    _blank_some(people, random.Random(f"{seed}:blank-people"))
    people.sort(key=lambda p: str(p["_id"]))
    return people
