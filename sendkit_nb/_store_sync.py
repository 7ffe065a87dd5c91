"""Bringing a workspace store up to date: :func:`sync`.

One sync lists the campaigns (one request per 100), compares each campaign's fingerprint with
the one its leads were pulled under, and pulls only the campaigns that changed. The
fingerprint is a hash of what the campaigns list says about a campaign's activity: ``status``,
``stats``, ``leadCounts``, ``updatedAt`` and ``completedAt``, whichever the API gives. A list
item with none of ``stats``, ``leadCounts`` or ``updatedAt`` gives no fingerprint (status alone
would hide new sends and replies), and such a campaign is pulled on every sync.

Up to three campaigns are pulled side by side, each with the loader's concurrent page fetches,
and all of them within the client's connection budget (``max_workers``, halved on 429): every
page past a campaign's first takes a slot of the client's limit in the loader, and the sync
holds a slot for each campaign's first request (:class:`_FirstRequest`). (A campaign the
loader walks again by cursor, after its count came out wrong, makes those requests one at a
time outside the limit, as the loader always does.) At most three campaigns' leads are in
memory at once.

Each campaign's file is replaced atomically once its leads are complete. ``campaigns.parquet``
and ``syncs.parquet`` are rewritten at the end, also when the sync fails or is interrupted, for
the campaigns it finished; a campaign it did not finish keeps its previous file and
fingerprint, so the next sync pulls it. A campaign that fails (any API error) is reported in
:attr:`SyncResult.failed` and the sync goes on with the others.

Each campaign's ``source_time`` in ``campaigns.parquet`` is the source's clock (the API
server's ``Date``, else the local clock) when this sync listed the campaigns, set for the
campaigns it pulled or found unchanged; a campaign that failed or was outside ``campaigns=``
keeps its older value. That is what windows count back from (``Store.as_of_for``).

One sync at a time per store: a sync holds ``sync.lock`` in the store's root (created with
``O_CREAT | O_EXCL``, so only one process can create it; it holds the pid, host and start
time) from before it reads the store's tables until after it writes them back, and removes it
when it ends, whatever happens. Two syncs at once would each read ``syncs.parquet``, add their
rows and write it back, and the later write would drop the earlier one's rows; the second
sync is refused with a :class:`~sendkit_nb.StoreError` instead. A lock left by a sync that
was killed is taken over when its process is gone (same host), or, when that cannot be told
(another host, an unreadable lock), once it is older than :data:`_STALE_AFTER`.

This module joins the frames, the store and the metrics (the history holds each campaign's
headline); the metrics never import the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from sendkit_nb._checks import check_flag, check_object_id
from sendkit_nb._client import SendKitClient, check_client
from sendkit_nb._errors import (
    BadRequestError,
    IncompleteLoadError,
    NotFoundError,
    SendKitError,
    StoreError,
)
from sendkit_nb._frames import campaigns_frame, list_campaigns, load_leads
from sendkit_nb._present import fmt_int
from sendkit_nb._progress import Progress, check_progress
from sendkit_nb._store import (
    CAMPAIGNS_FILE,
    HISTORY_KEYS,
    STORE_CAMPAIGNS_SCHEMA,
    SYNC_LOCK,
    SYNCS_FILE,
    Store,
    history_schema,
    leads_file,
    prepare_store,
    read_store_frame,
    record_source,
    remove_folder_hint,
    take_history,
    write_error,
    write_store_frame,
)
from sendkit_nb._store_files import write_leads

__all__ = ["HistoryResetWarning", "SyncResult", "fingerprint", "history_reset_note", "sync"]

#: The list item's fields that make up a campaign's fingerprint.
_FINGERPRINT_FIELDS = ("status", "stats", "leadCounts", "updatedAt", "completedAt")
#: At least one of these must be present for the fingerprint to notice new activity.
_ACTIVITY_FIELDS = ("stats", "leadCounts", "updatedAt")
#: Campaigns loaded side by side. Each load already fetches its pages on the client's
#: connections; what the lanes add is overlap of one campaign's parsing, conversion, file
#: write and headline with the next one's download (about a third faster on the demo's
#: 5,000-lead campaigns than one at a time). More lanes only hold more campaigns in memory.
_LANES = 3
#: The lock file a running sync holds in the store's root.
LOCK_FILE = SYNC_LOCK
#: A lock whose process cannot be checked (written on another host, or unreadable) is taken
#: over after this long: no sync of a workspace takes a day.
_STALE_AFTER = timedelta(days=1)


def pull_again_hint(campaign_id: str) -> str:
    """The hint of a campaign whose leads did not add up to the API's total even after the
    loader's second walk (``SyncResult.failed``): it changed while it was pulled, and sync never
    keeps a partial campaign, so pulling it again once it has settled is what helps. With
    ``full=True``: the campaigns list may describe it as the store still does (its fingerprint
    unchanged), and a plain sync would skip it."""
    return (
        "The campaign changed while it was being pulled (the store keeps what it had of it). "
        "Pull it again once it has settled: "
        f"sk.sync(client, path, campaigns={campaign_id!r}, full=True)."
    )


def fingerprint(item: Mapping[str, Any]) -> str | None:
    """A campaigns-list item's fingerprint (16 hex digits), or None when the item carries
    nothing that changes with activity."""
    if all(item.get(k) is None for k in _ACTIVITY_FIELDS):
        return None
    text = json.dumps({k: item.get(k) for k in _FINGERPRINT_FIELDS}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class SyncResult:
    """What one :func:`sync` did. ``fetched``: campaigns whose leads were pulled and written;
    ``skipped``: unchanged since their last pull; ``failed``: campaign id -> the error's text
    (never the key), left as they were; ``deleted``: gone from the API since the last sync
    (marked, kept); ``leads_written``; ``seconds``; ``path``: the store folder;
    ``history_set_aside``: where a damaged ``syncs.parquet`` was moved before this sync started
    a new history (None: it was readable, or there was none), also said in a warning."""

    path: Path
    fetched: tuple[str, ...]
    skipped: tuple[str, ...]
    failed: Mapping[str, str]
    deleted: tuple[str, ...]
    leads_written: int
    seconds: float
    history_set_aside: Path | None = None

    @property
    def ok(self) -> bool:
        """True when no campaign failed."""
        return not self.failed

    def __repr__(self) -> str:
        parts = [
            f"{fmt_int(len(self.fetched))} fetched",
            f"{fmt_int(len(self.skipped))} skipped",
            f"{fmt_int(len(self.failed))} failed",
        ]
        if self.deleted:
            parts.append(f"{fmt_int(len(self.deleted))} deleted upstream")
        reset = ""
        if self.history_set_aside is not None:
            reset = f"; damaged history set aside as {self.history_set_aside.name}, a new one begun"
        return (
            f"SyncResult({str(self.path)!r}: {', '.join(parts)}; "
            f"{fmt_int(self.leads_written)} leads written in {self.seconds:.1f} s{reset})"
        )


class HistoryResetWarning(UserWarning):
    """A sync found the store's ``syncs.parquet`` damaged, set it aside and began a new
    history (:attr:`SyncResult.history_set_aside` says where the old file went)."""


def history_reset_note(aside: Path) -> str:
    """What a sync that set a damaged ``syncs.parquet`` aside (:func:`take_history`) says, as a
    warning and in the command line's summary."""
    return (
        f"the store's history ({SYNCS_FILE}) could not be read: it was set aside as {aside} "
        "and a new history begins with this sync (store.history() and the trends start again "
        "here)"
    )


# -- arguments -------------------------------------------------------------------------------


def _check_campaigns(campaigns: str | Sequence[str] | None) -> list[str] | None:
    if campaigns is None:
        return None
    if isinstance(campaigns, str):
        campaigns = [campaigns]
    elif not isinstance(campaigns, Sequence):
        raise BadRequestError(
            f"campaigns must be a campaign id or a list of them, got {type(campaigns).__name__}",
            hint="For example campaigns='665a1b2c3d4e5f6a7b8c9d0e', or campaigns=None for every "
            "campaign.",
        )
    ids = list(dict.fromkeys(check_object_id(c) for c in campaigns))
    if not ids:
        raise BadRequestError(
            "campaigns=[] names no campaign", hint="Pass campaigns=None to sync every campaign."
        )
    return ids


_MAX_AGE_HINT = (
    "For example max_age=timedelta(days=1) or max_age=86400; None never re-pulls by age."
)


def _check_max_age(max_age: timedelta | float | None) -> timedelta | None:
    if max_age is None or isinstance(max_age, timedelta):
        if max_age is not None and max_age.total_seconds() < 0:
            raise BadRequestError(
                f"max_age must not be negative, got {max_age}", hint=_MAX_AGE_HINT
            )
        return max_age
    if (
        isinstance(max_age, bool)
        or not isinstance(max_age, int | float)
        or not math.isfinite(max_age)
        or max_age < 0
        # Beyond timedelta's range (about 2.7 million years): not an age, and an OverflowError.
        or max_age > timedelta.max.total_seconds()
    ):
        raise BadRequestError(
            "max_age must be a timedelta or a number of seconds >= 0 that a timedelta can "
            f"hold, got {max_age!r}",
            hint=_MAX_AGE_HINT,
        )
    return timedelta(seconds=max_age)


def _announced(item: Mapping[str, Any]) -> int | None:
    """The lead count a campaigns-list item announces (``leadCounts.total``, or the newer
    ``stats.totalLeads``), for the progress bar's total."""
    for group, key in (("leadCounts", "total"), ("stats", "totalLeads")):
        values = item.get(group)
        if isinstance(values, dict):
            value = values.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
    return None


# -- progress --------------------------------------------------------------------------------


class _SyncProgress:
    """One bar (or the caller's function) over every lead the sync pulls. Campaigns load side
    by side, so each reports its own count and the bar adds what each one grew by."""

    def __init__(self, progress: Progress, total: int | None) -> None:
        self._callback: Callable[[int, int | None], None] | None = (
            progress if callable(progress) else None
        )
        self._total = total
        self._done = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        if progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(desc="sync", total=total, unit=" leads", dynamic_ncols=True)

    def campaign(self, name: str) -> Callable[[int, int | None], None]:
        """The loader's progress function for one campaign. The loader counts from zero on
        each walk (a second walk by cursor too), so only growth past the best count is added."""
        best = 0

        def on_page(done: int, total: int | None) -> None:
            nonlocal best
            with self._lock:
                grown, best = max(done - best, 0), max(best, done)
                self._done += grown
                if self._bar is not None:
                    self._bar.set_description(f"sync {name[:40]}", refresh=False)
                    self._bar.update(grown)
                if self._callback is not None:
                    self._callback(self._done, self._total)

        return on_page

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_description("sync", refresh=False)
            self._bar.close()


class _Stopping(Exception):
    """Internal: raised from a campaign's progress function when the sync is stopping (an
    interrupt, or an unexpected error in another campaign), so its load ends at the next page."""


class _FirstRequest:
    """A slot of the client's connection limit, held while a campaign's load makes its first
    request and given back when that first page arrives.

    The loader sends a walk's first request outside the client's limit and every later page
    inside it. Campaigns loaded side by side would each add one connection beyond the limit;
    holding a slot for that first request keeps them all within it. The slot is never held
    while the loader waits for another one, so it cannot deadlock even when a 429 shrinks
    the limit.
    """

    def __init__(self, client: SendKitClient) -> None:
        self._limit = client.concurrency
        self._held = False

    def __enter__(self) -> _FirstRequest:
        self._limit.__enter__()
        self._held = True
        return self

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limit.__exit__()

    def __exit__(self, *exc: object) -> None:
        self.release()


# -- one sync at a time ----------------------------------------------------------------------


def _pid_running(pid: int) -> bool:
    if os.name == "nt":
        return True  # os.kill(pid, 0) there would send Ctrl-C: only the lock's age tells
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else (PermissionError)
    return True


def _lock_holder(lock: Path) -> tuple[dict[str, Any], bool]:
    """What ``lock`` says (pid, host, since; empty when unreadable) and whether it is stale."""
    try:
        text = lock.read_text("utf-8")
        age = datetime.now(UTC) - datetime.fromtimestamp(lock.stat().st_mtime, UTC)
    except FileNotFoundError:
        return {}, True  # released meanwhile: free to take
    except OSError:
        return {}, False
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        return {}, age > _STALE_AFTER  # being written just now, or damaged
    pid = info.get("pid")
    if info.get("host") == socket.gethostname() and isinstance(pid, int) and pid > 0:
        return info, not _pid_running(pid)
    return info, age > _STALE_AFTER


def _create_lock(lock: Path) -> bool:
    """Create ``lock`` holding this process's pid, host and time; False if it exists."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise write_error(lock, exc) from None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC)}
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(info, handle, default=lambda when: when.isoformat())
    except OSError as exc:
        lock.unlink(missing_ok=True)
        raise write_error(lock, exc) from None
    return True


def _take_over(lock: Path, judged: dict[str, Any]) -> bool:
    """Remove a stale ``lock`` that still says ``judged``: it is renamed aside first (atomic),
    and put back if what was renamed is another sync's fresh lock (two syncs that found the
    same stale lock both try; only the first takes it)."""
    aside = lock.with_name(f".{lock.name}.{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise write_error(lock, exc) from None
    try:
        renamed = json.loads(aside.read_text("utf-8"))
    except (OSError, ValueError):
        renamed = {}
    if renamed != judged:
        with contextlib.suppress(OSError):
            os.link(aside, lock)  # give it back, unless yet another sync holds the name now
        aside.unlink(missing_ok=True)
        return False
    aside.unlink(missing_ok=True)
    return True


def _shown_time(noted: object) -> str:
    """A lock's ISO time as the message shows it."""
    try:
        return f"{datetime.fromisoformat(str(noted)).astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    except ValueError:
        return "an unknown time"


@contextlib.contextmanager
def _sync_lock(root: Path) -> Iterator[None]:
    """Hold the store's sync lock for the ``with`` block (StoreError if another sync does)."""
    lock = root / LOCK_FILE
    taken = _create_lock(lock)
    if not taken:
        holder, stale = _lock_holder(lock)
        if stale and _take_over(lock, holder):
            taken = _create_lock(lock)
        if not taken:
            holder = _lock_holder(lock)[0] or holder
            who = (
                f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, " if holder else ""
            )
            raise StoreError(
                f"another sync is running on {root} since {_shown_time(holder.get('since'))} "
                f"({who}lock file {lock})",
                hint="Wait for it to finish and sync again. If no sync is running (it was "
                f"killed), delete {lock}.",
            )
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()


# -- one sync --------------------------------------------------------------------------------


@dataclass
class _Outcome:
    """What the sync did so far; written to the store's tables whatever happens."""

    fetched: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> history row
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _no_leads_headline() -> dict[str, Any]:
    """The headline columns of a campaign without leads (headline() gives it no row)."""
    return {
        name: (0 if dtype == pl.Int64 else None)
        for name, dtype in history_schema().items()
        if name not in HISTORY_KEYS
    }


#: Leads whose campaigns' headlines are computed in one call. headline() costs about 10 ms
#: however few leads it is given, a fifth of loading a 5,000-lead campaign; one call over
#: many campaigns (it groups by campaign) costs little more than one.
_HEADLINE_BATCH = 50_000


class _Summaries:
    """Campaigns written to the store whose history rows wait for their headline, computed a
    batch at a time; the rest are computed when the sync ends, also when it fails or is
    interrupted. A campaign counts as fetched once its row is complete: if the process is
    killed before that, its file is already the new one but its fingerprint was never
    recorded, so the next sync fetches it again."""

    def __init__(self, outcome: _Outcome) -> None:
        self._outcome = outcome
        self._pending: list[tuple[dict[str, Any], pl.DataFrame]] = []
        self._rows = 0
        self._lock = threading.Lock()

    def add(self, row: dict[str, Any], leads: pl.DataFrame) -> None:
        with self._lock:
            self._pending.append((row, leads))
            self._rows += leads.height
            if self._rows < _HEADLINE_BATCH:
                return
            batch, self._pending, self._rows = self._pending, [], 0
        self._summarise(batch)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending, self._rows = self._pending, [], 0
        self._summarise(batch)

    def _summarise(self, batch: list[tuple[dict[str, Any], pl.DataFrame]]) -> None:
        from sendkit_nb.metrics import headline

        if not batch:
            return
        leads = pl.concat([frame for _, frame in batch], how="vertical")
        found = {h.pop("campaign_id"): h for h in headline(leads).to_dicts()}
        with self._outcome.lock:
            for row, _ in batch:
                summary = found.get(row["campaign_id"]) or _no_leads_headline()
                self._outcome.fetched[row["campaign_id"]] = {**row, **summary}


def sync(
    client: SendKitClient,
    path: str | os.PathLike[str] = "sendkit-data",
    campaigns: str | Sequence[str] | None = None,
    *,
    full: bool = False,
    max_age: timedelta | float | None = None,
    progress: Progress = True,
) -> SyncResult:
    """Bring the store at ``path`` up to date with the workspace (or only ``campaigns``, an id
    or a list of ids), creating it if the folder does not exist or is empty.

    A campaign whose fingerprint (status, lead counts, stats, ``updatedAt``) has not changed
    since its leads were pulled is skipped, unless ``full=True`` or it was pulled longer
    than ``max_age`` ago (a timedelta or seconds). A campaign gone from the API is marked
    ``deleted`` (its leads are kept). Named in ``campaigns``, such a campaign is marked (or
    stays marked) and nothing is pulled for it; with ``full=True``, which asks for its leads
    again, it raises :class:`~sendkit_nb.NotFoundError` before anything is pulled or written
    (its leads cannot be pulled again). ``progress``: a bar over the leads pulled (True), none
    (False), or a function called with (leads so far, leads announced), from the sync's
    worker threads, one call at a time.

    Returns a :class:`SyncResult`. A campaign that fails to load is listed in its ``failed``
    and left as it was; the next sync pulls it. Bad arguments, a folder that is not a store,
    and a campaign named but unknown raise before anything is written. A file that cannot be
    written (no permission, a full disk) stops the sync with a
    :class:`~sendkit_nb.StoreError` naming it; what it finished is kept. Another sync running
    on the same store raises a StoreError and changes nothing.

    ``store.json`` records whether the store holds the embedded demo API's synthetic data
    (``client.is_demo``); a sync of the other kind is refused before any request. A store that
    does not record it (written by an earlier release) gets it under the sync's lock, once the
    campaigns are listed: when it holds no campaign yet, or one of its campaigns is in the list.
    Otherwise its campaigns may be of the other kind, and the sync raises a StoreError and
    changes nothing.
    """
    started = time.perf_counter()
    check_client(client, "sync", writes_store=True)
    wanted = _check_campaigns(campaigns)
    age = _check_max_age(max_age)
    check_flag(full, "full")
    check_progress(progress)
    # Only checks an existing store (the flag is recorded under the lock, by _sync); a new one
    # is created with the flag: a demo store's report says so.
    root = prepare_store(path, demo=client.is_demo)
    with _sync_lock(root):
        result = _sync(client, root, wanted, age, full, progress, started)
    if result.history_set_aside is not None:
        warnings.warn(
            history_reset_note(result.history_set_aside), HistoryResetWarning, stacklevel=2
        )
    return result


def _sync(
    client: SendKitClient,
    root: Path,
    wanted: list[str] | None,
    age: timedelta | None,
    full: bool,
    progress: Progress,
    started: float,
) -> SyncResult:
    """The sync itself, under the store's lock."""
    items = list_campaigns(client, deadline=client.deadline_at())
    # The ids as the loader and the store spell them (the API's are lower case already).
    listed = campaigns_frame(items).with_columns(
        pl.col("campaign_id").str.strip_chars().str.to_lowercase()
    )
    listed_ids: list[str] = listed.get_column("campaign_id").to_list()
    prints = dict(zip(listed_ids, (fingerprint(item) for item in items), strict=True))
    announced = dict(zip(listed_ids, (_announced(item) for item in items), strict=True))
    names = dict(zip(listed_ids, listed.get_column("name").to_list(), strict=True))

    record_source(root, client.is_demo, listed_ids)
    old = read_store_frame(root, CAMPAIGNS_FILE, STORE_CAMPAIGNS_SCHEMA)
    before = {row["campaign_id"]: row for row in (old.to_dicts() if old is not None else [])}
    unknown = [c for c in wanted or [] if c not in prints and c not in before]
    if unknown:
        raise NotFoundError(
            f"campaign {unknown[0]} is not in the workspace nor in the store at {root}",
            hint="`sendkit-nb campaigns` lists the workspace's campaigns.",
        )
    gone = [c for c in wanted or [] if c not in prints] if full else []
    if gone:
        # full=True asks for the campaign's leads again, which a deleted campaign cannot give.
        raise NotFoundError(
            f"campaign {gone[0]} is no longer in the workspace (deleted in SendKit), so its "
            "leads cannot be pulled again as full=True (--full) asks",
            hint="Leave it out of campaigns= (--campaign), or sync without full=True: the "
            "store keeps its leads as last pulled and marks it deleted. If its leads file is "
            "damaged, " + remove_folder_hint(root, gone[0]),
        )
    scope = listed_ids if wanted is None else [c for c in wanted if c in prints]
    checked = before if wanted is None else {c: before[c] for c in wanted if c in before}
    now = datetime.now(UTC)
    # What each campaign pulled or found unchanged is complete up to: the list's moment.
    source_time = client.server_time or now

    outcome = _Outcome()
    outcome.deleted = [c for c, row in checked.items() if c not in prints and not row["deleted"]]
    to_fetch = []
    for campaign_id in scope:
        row = before.get(campaign_id)
        stale = (
            row is None
            or prints[campaign_id] is None
            or row["fingerprint"] != prints[campaign_id]
            or row["pulled_at"] is None
            or (age is not None and now - row["pulled_at"] > age)
            or not leads_file(root, campaign_id).exists()
        )
        if full or stale:
            to_fetch.append(campaign_id)
        else:
            outcome.skipped.append(campaign_id)

    sizes = [announced[c] for c in to_fetch]
    total = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
    bar = _SyncProgress(progress, total)

    stop = threading.Event()
    summaries = _Summaries(outcome)

    def pull(campaign_id: str) -> None:
        """Load, write and summarise one campaign (in a lane of its own)."""
        if stop.is_set():
            return
        report = bar.campaign(names[campaign_id] or campaign_id)
        with _FirstRequest(client) as first:

            def on_page(done: int, total: int | None) -> None:
                first.release()
                if stop.is_set():
                    raise _Stopping
                report(done, total)

            try:
                leads = load_leads(client, campaign_id, progress=on_page)
            except SendKitError as exc:
                if isinstance(exc, IncompleteLoadError):
                    # The loader's own hint (strict=False) is not something sync takes.
                    exc.hint = pull_again_hint(campaign_id)
                with outcome.lock:
                    outcome.failed[campaign_id] = client.redact(str(exc))
                return
            except _Stopping:
                return
        pulled_at = datetime.now(UTC)
        # A complete campaign is written even when the sync is stopping: the write is atomic.
        target = leads_file(root, campaign_id)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_leads(leads, target, listed.filter(pl.col("campaign_id") == campaign_id))
        except OSError as exc:
            raise write_error(target, exc) from None
        row = {
            "campaign_id": campaign_id,
            "campaign_name": names[campaign_id],
            "pulled_at": pulled_at,
            "fingerprint": prints[campaign_id],
            "deleted": False,
        }
        summaries.add(row, leads)

    lanes = ThreadPoolExecutor(
        max_workers=max(1, min(_LANES, client.max_workers, len(to_fetch))),
        thread_name_prefix="sendkit-sync",
    )
    try:
        futures = [lanes.submit(pull, campaign_id) for campaign_id in to_fetch]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            future.result()  # an unexpected error (a full disk, a bug) or an interrupt
    except BaseException:
        stop.set()
        raise
    finally:
        lanes.shutdown(wait=True, cancel_futures=True)
        bar.close()
        try:
            summaries.flush()
        finally:
            set_aside = _record(root, listed, before, outcome, now, source_time)
    fetched = tuple(c for c in to_fetch if c in outcome.fetched)
    return SyncResult(
        path=root,
        fetched=fetched,
        skipped=tuple(outcome.skipped),
        failed=dict(outcome.failed),
        deleted=tuple(outcome.deleted),
        leads_written=sum(int(outcome.fetched[c]["leads"]) for c in fetched),
        seconds=time.perf_counter() - started,
        history_set_aside=set_aside,
    )


def _record(
    root: Path,
    listed: pl.DataFrame,
    before: dict[str, dict[str, Any]],
    outcome: _Outcome,
    now: datetime,
    source_time: datetime,
) -> Path | None:
    """Write ``campaigns.parquet`` and append this sync's rows to ``syncs.parquet``, for what
    the sync finished (also after a failure or an interruption). ``source_time`` is set for
    the campaigns it pulled or found unchanged. Returns where a damaged ``syncs.parquet`` was
    set aside (:func:`take_history`), or None."""
    with outcome.lock:
        fetched = dict(outcome.fetched)
    skipped = set(outcome.skipped)
    history, set_aside = take_history(root)
    last: dict[str, dict[str, Any]] = {}
    if history is not None and history.height:
        latest = history.sort("pulled_at").group_by("campaign_id", maintain_order=True).last()
        last = {row["campaign_id"]: row for row in latest.to_dicts()}

    rows: list[dict[str, Any]] = []
    for campaign in listed.to_dicts():
        campaign_id = campaign["campaign_id"]
        if campaign_id in fetched:
            done = fetched[campaign_id]
            store = {
                "leads": done["leads"],
                "fingerprint": done["fingerprint"],
                "pulled_at": done["pulled_at"],
                "source_time": source_time,
            }
        elif campaign_id in before:
            # Skipped, failed or outside this sync's campaigns: its leads are as they were,
            # and complete up to now only if this sync found it unchanged.
            previous = before[campaign_id]
            store = {k: previous[k] for k in ("leads", "fingerprint", "pulled_at", "source_time")}
            if campaign_id in skipped:
                store["source_time"] = source_time
        else:
            continue  # never pulled: the store does not hold it yet
        rows.append({**campaign, **store, "deleted": False})
    listed_ids = set(listed.get_column("campaign_id").to_list())
    for campaign_id, previous in before.items():
        if campaign_id not in listed_ids:
            rows.append(
                {**previous, "deleted": previous["deleted"] or campaign_id in outcome.deleted}
            )
    campaigns = pl.DataFrame(rows, schema=STORE_CAMPAIGNS_SCHEMA)

    names = dict(zip(listed["campaign_id"], listed["name"], strict=True))
    new_history = list(fetched.values())
    unrecorded = []
    for campaign_id in outcome.skipped:
        if campaign_id in last:
            # Unchanged leads, so the same counts; the name as the API gives it now.
            row = {**last[campaign_id], "campaign_name": names[campaign_id]}
            new_history.append({**row, "pulled_at": now, "deleted": False})
        else:
            unrecorded.append(campaign_id)
    new_history.extend(_rows_from_files(root, unrecorded, names, before, now))
    for campaign_id in outcome.deleted:
        previous = last.get(campaign_id) or {
            "campaign_id": campaign_id,
            "campaign_name": before[campaign_id]["name"],
            "fingerprint": before[campaign_id]["fingerprint"],
            "leads": before[campaign_id]["leads"],
        }
        new_history.append({**previous, "pulled_at": now, "deleted": True})
    added = pl.DataFrame(new_history, schema=history_schema())
    history = added if history is None else pl.concat([history, added], how="vertical")

    write_store_frame(root, CAMPAIGNS_FILE, campaigns)
    write_store_frame(root, SYNCS_FILE, history)
    return set_aside


def _rows_from_files(
    root: Path,
    campaign_ids: list[str],
    names: Mapping[str, str | None],
    before: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """History rows of campaigns found unchanged that the history has no row of (it was
    damaged and begun anew, or lost), from their leads in the store: otherwise such a campaign
    would get no row until it changes, and its trend would stop. A file that cannot be read is
    left out; reading the store names it."""
    from sendkit_nb.metrics import headline

    if not campaign_ids:
        return []
    store = Store(root)
    try:
        # One read of the catalog and the files; campaign by campaign only when one fails.
        leads = store.leads(campaign_ids)
        readable = list(campaign_ids)
    except SendKitError:
        frames: dict[str, pl.DataFrame] = {}
        for campaign_id in campaign_ids:
            with contextlib.suppress(SendKitError):
                frames[campaign_id] = store.leads(campaign_id)
        if not frames:
            return []
        leads = pl.concat(frames.values(), how="vertical")
        readable = list(frames)
    found = {h.pop("campaign_id"): h for h in headline(leads).to_dicts()}
    return [
        {
            "campaign_id": campaign_id,
            "campaign_name": names[campaign_id],
            "pulled_at": now,
            "fingerprint": before[campaign_id]["fingerprint"],
            "deleted": False,
            **(found.get(campaign_id) or _no_leads_headline()),
        }
        for campaign_id in readable
    ]
