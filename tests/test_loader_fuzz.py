"""The loader's contract under a hostile network and sparse records, fuzzed with hypothesis.

Whatever the demo server does (every fault kind, scheduled or drawn at random) and whatever
optional fields the leads lack, ``load_leads`` either returns every lead exactly once or raises
a :class:`sendkit_nb.SendKitError` subclass. No other exception type may escape, a returned
frame is never short, the API key never reaches another origin, and a load with a deadline
does not outlive it by much.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sendkit_nb as sk
from sendkit_nb.demo import DemoServer, DemoWorkspace, Faults, make_workspace
from sendkit_nb.demo._server import FAULT_KINDS

# -- the shapes a lead may take ---------------------------------------------------------------

#: Optional fields of a campaign-lead item and their "empty" form (None: none, so "empty"
#: means null). ``_id`` and ``status`` are left alone: they are the identity being checked
#: and what the server indexes.
LEAD_FIELDS: dict[str, object] = {
    "leadId": {},
    "currentSequenceStep": None,
    "emailsSent": [],
    "replied": None,
    "repliedAt": "",
    "aiTag": "",
    "tags": [],
    "addedAt": "",
}
#: Fields of the ``leadId`` object (the workspace lead).
PERSON_FIELDS: dict[str, object] = {
    "_id": "",
    "email": "",
    "firstName": "",
    "lastName": "",
    "companyName": "",
}
#: Fields of one ``emailsSent`` item.
EMAIL_FIELDS: dict[str, object] = {
    "sequenceStep": None,
    "variant": "",
    "sentAt": "",
    "opened": None,
    "clicked": None,
    "bounced": None,
}
TARGETS: list[tuple[str, str]] = (
    [("lead", name) for name in LEAD_FIELDS]
    + [("person", name) for name in PERSON_FIELDS]
    + [("email", name) for name in EMAIL_FIELDS]
)
#: delete the key, set it to null, set it to its empty form, or (lists only) add a null item
OPS = ("delete", "null", "empty", "null_item")

Mutation = tuple[int, tuple[str, str], str]


def _mutate_one(holder: dict[str, Any], name: str, op: str, empty: object) -> None:
    if op == "delete":
        holder.pop(name, None)
    elif op == "null" or (op == "empty" and empty is None):
        holder[name] = None
    elif op == "empty":
        # a fresh object each time: leads must not share (and so co-mutate) a container
        holder[name] = type(empty)() if isinstance(empty, list | dict) else empty
    elif isinstance(holder.get(name), list):  # null_item, on list fields only
        holder[name] = [*holder[name], None]
    else:
        holder[name] = None


def apply_mutations(leads: list[dict[str, Any]], mutations: list[Mutation]) -> None:
    """Edit the workspace's lead dicts in place (before the server serialises them)."""
    if not leads:
        return
    for index, (where, name), op in mutations:
        lead = leads[index % len(leads)]
        if where == "lead":
            _mutate_one(lead, name, op, LEAD_FIELDS[name])
        elif where == "person" and isinstance(lead.get("leadId"), dict):
            _mutate_one(lead["leadId"], name, op, PERSON_FIELDS[name])
        elif where == "email":
            emails = lead.get("emailsSent")
            items = [e for e in emails if isinstance(e, dict)] if isinstance(emails, list) else []
            if items:
                _mutate_one(items[index % len(items)], name, op, EMAIL_FIELDS[name])


# -- running one load ---------------------------------------------------------------------------


class CheckedSleep:
    """Stands in for time.sleep without waiting, but rejects what time.sleep would reject.

    A delay of NaN, infinity or below zero (say, from a garbage Retry-After) is handed to the
    real time.sleep, which raises at once: the ValueError/OverflowError production would see.
    """

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if not (math.isfinite(seconds) and seconds >= 0):
            time.sleep(seconds)


@dataclass
class Outcome:
    frame: pl.DataFrame | None = None
    error: BaseException | None = None
    hung: bool = False
    elapsed: float = 0.0
    warnings: list[str] = field(default_factory=list)


def run_load(
    server: DemoServer,
    campaign_id: str,
    *,
    limit: int,
    by_cursor: bool,
    max_retries: int = 5,
    timeout: float = 1.0,
    deadline: float | None = None,
) -> Outcome:
    """One load_leads in a worker thread, so that a load that hangs fails the test instead of
    stalling the run: past its budget the server is stopped, which ends any response."""
    outcome = Outcome()
    sleep = CheckedSleep()

    def work() -> None:
        client = sk.SendKitClient(
            server.api_key,
            base_url=server.url,
            sleep=sleep,
            timeout=timeout,
            retry=sk.RetryPolicy(max_retries=max_retries, rng=lambda: 0.5),
            deadline=deadline,
        )
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                outcome.frame = sk.load_leads(
                    client, campaign_id, limit=limit, by_cursor=by_cursor, progress=False
                )
            outcome.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
        except BaseException as exc:  # judged by the caller: only SendKitError may get here
            outcome.error = exc
        finally:
            client.close()

    # A deadline bounds the load; without one, a few slow faults at `timeout` each do.
    budget = (deadline + 5.0) if deadline is not None else 60.0
    started = time.monotonic()
    worker = threading.Thread(target=work, name="fuzz-load", daemon=True)
    worker.start()
    worker.join(budget)
    if worker.is_alive():
        outcome.hung = True
        server.stop()
        worker.join(10)
    outcome.elapsed = time.monotonic() - started
    return outcome


def check(outcome: Outcome, server: DemoServer, want: list[str], context: str) -> None:
    """The contract: every lead exactly once, or a SendKitError; nothing else, ever."""
    # Whatever else happened, the key must not have been sent to a different origin.
    leaked = [r for r in server.other_origin_log if r.key_sent]
    assert not leaked, f"API key sent to another origin after a redirect: {leaked} ({context})"
    assert not outcome.hung, f"load still running after {outcome.elapsed:.1f}s ({context})"
    error = outcome.error
    if error is not None:
        if not isinstance(error, sk.SendKitError):
            kind = f"{type(error).__module__}.{type(error).__qualname__}"
            raise AssertionError(f"{kind} escaped load_leads: {error!r} ({context})") from error
        return
    assert outcome.frame is not None
    got = outcome.frame["id"].to_list()
    assert len(got) == len(set(got)), f"duplicate leads ({context})"
    assert sorted(got) == sorted(want), (
        f"returned {len(got)} leads, {len(set(want) - set(got))} missing, "
        f"{len(set(got) - set(want))} unknown, warnings {outcome.warnings} ({context})"
    )


# -- the property -------------------------------------------------------------------------------

#: Faults that cost (almost) no time, so they can be drawn at any rate.
FAST_RANDOM = (
    "rate_limit",
    "server_error",
    "drop",
    "truncated",
    "short_body",
    "chunked_broken",
    "bad_gzip",
    "retry_after_garbage",
)
GARBAGE_RETRY_AFTER = ("nan", "NaN", "inf", "-inf", "-5", "1e999", "soon", "", "Mon, 99 Foo")

mutations = st.lists(
    st.tuples(st.integers(0, 10**6), st.sampled_from(TARGETS), st.sampled_from(OPS)),
    max_size=12,
)
schedules = st.lists(st.tuples(st.sampled_from(FAULT_KINDS), st.integers(1, 3)), max_size=3)
random_faults = st.none() | st.tuples(
    st.lists(st.sampled_from(FAST_RANDOM), min_size=1, max_size=4, unique=True),
    st.sampled_from([0.05, 0.15, 0.3]),
    st.integers(0, 2**16),
)


def build_faults(
    drawn: tuple[list[str], float, int] | None, garbage: str, retry_after: float | None
) -> Faults:
    # slow and drip cost real seconds, so they only come scheduled (fail_next), a few at most
    faults = Faults(
        slow_seconds=1.3,
        drip_seconds=0.01,
        garbage_retry_after=garbage,
        retry_after=retry_after,
    )
    if drawn is not None:
        kinds, rate, seed = drawn
        for kind in kinds:
            setattr(faults, kind, rate / len(kinds))
        faults.seed = seed
    return faults


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(0, 350),
    limit=st.integers(1, 100),
    pagination=st.sampled_from(["page", "cursor"]),
    by_cursor=st.booleans(),
    edits=mutations,
    schedule=schedules,
    drawn=random_faults,
    garbage=st.sampled_from(GARBAGE_RETRY_AFTER),
    retry_after=st.sampled_from([0, 0.01, None]),
    max_retries=st.integers(0, 8),
)
def test_every_lead_once_or_a_sendkit_error(
    seed: int,
    n: int,
    limit: int,
    pagination: str,
    by_cursor: bool,
    edits: list[Mutation],
    schedule: list[tuple[str, int]],
    drawn: tuple[list[str], float, int] | None,
    garbage: str,
    retry_after: float | None,
    max_retries: int,
) -> None:
    workspace = make_workspace(seed=seed, sizes=[n])
    campaign_id = workspace.campaigns[0]["_id"]
    apply_mutations(workspace.leads[campaign_id], edits)
    want = [lead["_id"] for lead in workspace.leads[campaign_id]]
    # A fresh server per example (tens of ms for these sizes): the leads are serialised once,
    # at start(), so the edits above are what it serves; and a hung load may stop it.
    server = DemoServer(workspace, pagination="page" if pagination == "page" else "cursor")
    with server:
        server.faults = build_faults(drawn, garbage, retry_after)
        for kind, count in schedule:
            server.fail_next(kind, count)
        # drip never trips the per-read timeout: only a deadline ends it
        dripping = any(kind == "drip" for kind, _ in schedule)
        outcome = run_load(
            server,
            campaign_id,
            limit=limit,
            by_cursor=by_cursor,
            max_retries=max_retries,
            deadline=3.0 if dripping else None,
        )
        context = (
            f"n={n} limit={limit} {pagination} by_cursor={by_cursor} schedule={schedule} "
            f"faults={drawn} garbage={garbage!r} edits={len(edits)}"
        )
        check(outcome, server, want, context)


# -- one fault of each kind, and a heavy deterministic mix ------------------------------------


@pytest.fixture(scope="module")
def sparse_workspace() -> DemoWorkspace:
    """257 leads (three pages of 100, the last one short) with every optional field absent,
    null or empty somewhere."""
    workspace = make_workspace(seed=11, sizes=[257])
    leads = workspace.leads[workspace.campaigns[0]["_id"]]
    edits: list[Mutation] = [
        (i * 7 + k, target, op) for i, target in enumerate(TARGETS) for k, op in enumerate(OPS)
    ]
    apply_mutations(leads, edits)
    return workspace


@pytest.fixture(scope="module", params=["page", "cursor"])
def sparse_server(
    request: pytest.FixtureRequest, sparse_workspace: DemoWorkspace
) -> Iterator[DemoServer]:
    with DemoServer(sparse_workspace, pagination=request.param) as server:
        yield server


def test_sparse_records_load_without_faults(sparse_server: DemoServer) -> None:
    sparse_server.reset()
    campaign_id = sparse_server.workspace.campaigns[0]["_id"]
    want = [lead["_id"] for lead in sparse_server.workspace.leads[campaign_id]]
    outcome = run_load(sparse_server, campaign_id, limit=100, by_cursor=False)
    check(outcome, sparse_server, want, "no faults")


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_fault_kind_once(sparse_server: DemoServer, kind: str) -> None:
    """A single fault of each kind on the first request: the load recovers or says why."""
    sparse_server.reset()
    sparse_server.faults = Faults(slow_seconds=1.3, drip_seconds=0.01)
    sparse_server.fail_next(kind)
    campaign_id = sparse_server.workspace.campaigns[0]["_id"]
    want = [lead["_id"] for lead in sparse_server.workspace.leads[campaign_id]]
    outcome = run_load(
        sparse_server,
        campaign_id,
        limit=100,
        by_cursor=False,
        deadline=3.0 if kind == "drip" else None,
    )
    if not sparse_server.running:  # a hung load stopped it; later tests need it back
        sparse_server.start()
    check(outcome, sparse_server, want, f"fail_next({kind!r})")


SHAPES: list[tuple[tuple[str, str], str]] = [(target, op) for target in TARGETS for op in OPS]


@pytest.fixture(scope="module")
def shapes_server() -> Iterator[DemoServer]:
    """One campaign per (field, edit) pair, the edit applied to a few of its 30 leads, so that
    each shape's failure (if any) is reported on its own."""
    workspace = make_workspace(seed=5, sizes=[30] * len(SHAPES))
    for campaign, (target, op) in zip(workspace.campaigns, SHAPES, strict=True):
        leads = workspace.leads[campaign["_id"]]
        apply_mutations(leads, [(i, target, op) for i in (0, 4, 11, 29)])
    with DemoServer(workspace, pagination="cursor") as server:
        yield server


@pytest.mark.parametrize(("target", "op"), SHAPES, ids=[f"{t[0]}.{t[1]}-{op}" for t, op in SHAPES])
def test_each_field_shape_alone(
    shapes_server: DemoServer, target: tuple[str, str], op: str
) -> None:
    campaign_id = shapes_server.workspace.campaigns[SHAPES.index((target, op))]["_id"]
    want = [lead["_id"] for lead in shapes_server.workspace.leads[campaign_id]]
    outcome = run_load(shapes_server, campaign_id, limit=10, by_cursor=False)
    check(outcome, shapes_server, want, f"{target[0]}.{target[1]} {op}")


def test_half_of_all_requests_failing_still_loads_every_lead_once() -> None:
    """A 50% mix of every retryable kind, seeded: with enough retries the load is complete."""
    workspace = make_workspace(seed=21, sizes=[300])
    campaign_id = workspace.campaigns[0]["_id"]
    want = [lead["_id"] for lead in workspace.leads[campaign_id]]
    share = 0.5 / 9
    styles: tuple[Literal["page", "cursor"], ...] = ("page", "cursor")
    for pagination in styles:
        with DemoServer(workspace, pagination=pagination) as server:
            server.faults = Faults(
                rate_limit=share,
                server_error=share,
                drop=share,
                slow=share,
                truncated=share,
                short_body=share,
                chunked_broken=share,
                bad_gzip=share,
                retry_after_garbage=share,
                retry_after=0,
                slow_seconds=0.8,
                seed=2024,
            )
            outcome = run_load(
                server, campaign_id, limit=25, by_cursor=False, max_retries=20, timeout=0.5
            )
            assert outcome.error is None, f"{type(outcome.error).__name__}: {outcome.error}"
            check(outcome, server, want, f"50% mixed faults, {pagination}")
            # body faults are logged as 200s, so count requests beyond the 12 pages instead
            assert len(server.request_log) >= 12 + 5, "the faults really fired"
