"""A workspace store: a folder of parquet files that :func:`sendkit_nb.sync` keeps up to date
and :func:`open_store` reads, with no client and no network.

Layout (format version :data:`STORE_VERSION`)::

    sendkit-data/
      store.json                              format name and version, sendkit_nb version,
                                              whether the data is the demo API's
      campaigns.parquet                       the campaigns frame, with sequences, plus
                                              leads, fingerprint, pulled_at, source_time,
                                              deleted
      leads/campaign_id=<id>/data.parquet     one campaign's leads (LEADS_SCHEMA)
      syncs.parquet                           one row per campaign per sync: the history

The leads folder is Hive-partitioned, so DuckDB, Spark and polars read it as one dataset.
Each file keeps its ``campaign_id`` column as well as the folder name: a file stays a complete
leads frame on its own (and carries its campaign's name and sequence in its metadata, see
``sendkit_nb._store_files``), and readers that take the column from the file (polars does when
a file has it) get text ids, never ids that happen to be all digits read as numbers.

A campaign deleted upstream keeps its leads file and its row in ``campaigns.parquet``, with
``deleted`` true; its history gets a row saying so.

``source_time`` is per campaign because a sync may cover only some campaigns (``campaigns=``,
the dashboard's Refresh) or fail for some: each campaign's data is known complete only up to
the last time a sync looked at it. Stores written before the column existed kept one
``source_time`` in ``store.json`` for the whole store; they still read (see
:meth:`Store.as_of_for`), and ``sync`` fills the column in as it checks each campaign.

``store.json``'s ``demo`` is true for a store synced from the embedded demo API
(``SendKitClient.demo()``, ``--demo``): its numbers are synthetic, and a report from it says so
as a report from the demo API does. One store holds one kind of data: a sync from the demo into
a store of real campaigns, or the other way round, is refused before any request. Stores
written before the flag existed get it from their next sync (under its lock) when they hold no
campaign yet or one of their campaigns is in the campaigns list that sync fetches; a store whose
campaigns the source does not list is refused, as its kind cannot be told.

While a sync runs it holds ``sync.lock`` in the root (see ``sendkit_nb._store_sync``).
"""

from __future__ import annotations

import functools
import json
import os
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC as UTC_ZONE
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from polars._typing import PolarsDataType

from sendkit_nb._checks import check_object_id, check_path, check_statuses
from sendkit_nb._errors import BadRequestError, StoreError
from sendkit_nb._files import check_names, checked_kind, kind_of, path_error, write_atomic
from sendkit_nb._present import fmt_int
from sendkit_nb._schema import CAMPAIGNS_SCHEMA, LEADS_SCHEMA, UTC

__all__ = [
    "CAMPAIGNS_FILE",
    "STORE_CAMPAIGNS_SCHEMA",
    "STORE_FORMAT",
    "STORE_VERSION",
    "SYNCS_FILE",
    "SYNC_LOCK",
    "Store",
    "leads_file",
    "open_store",
    "prepare_store",
    "read_store_frame",
    "record_source",
    "remove_folder_hint",
    "take_history",
    "write_error",
    "write_store_frame",
]

#: What ``store.json`` says a store is.
STORE_FORMAT = "sendkit_nb workspace store"
#: The layout this version writes and reads. A store of another version is refused with a
#: :class:`~sendkit_nb.StoreError` rather than misread.
STORE_VERSION = 1

_MARKER = "store.json"
CAMPAIGNS_FILE = "campaigns.parquet"
SYNCS_FILE = "syncs.parquet"
_LEADS = "leads"
#: The lock file a running sync holds in the store's root (see ``sendkit_nb._store_sync``):
#: while it is there, the store's tables may lag its leads files.
SYNC_LOCK = "sync.lock"

#: ``campaigns.parquet``: the campaigns frame and what the store holds of each campaign.
_STORE_COLUMNS: dict[str, PolarsDataType] = dict(CAMPAIGNS_SCHEMA)
STORE_CAMPAIGNS_SCHEMA = pl.Schema(
    {
        **_STORE_COLUMNS,
        "leads": pl.Int64,  # leads in the store's file (null until first pulled)
        "fingerprint": pl.String,  # what the campaigns list said when the leads were pulled
        "pulled_at": UTC,  # when the leads in the store were pulled
        # The source's clock (the API's Date) when a sync last pulled the campaign or found it
        # unchanged: its data is complete up to then. Null in stores written before it existed.
        "source_time": UTC,
        "deleted": pl.Boolean,  # gone from the API's campaigns list
    }
)
#: Columns a store written by an earlier release of format 1 lacks: read as null.
_LATER_COLUMNS = frozenset({"source_time"})


#: ``syncs.parquet``: the columns before the headline's own.
HISTORY_KEYS: dict[str, PolarsDataType] = {
    "campaign_id": pl.String,
    "campaign_name": pl.String,
    "pulled_at": UTC,
    "fingerprint": pl.String,
    "deleted": pl.Boolean,
}


@functools.cache
def history_schema() -> pl.Schema:
    """``syncs.parquet``: campaign_id, campaign_name, pulled_at, fingerprint, deleted, then
    every column of :func:`sendkit_nb.headline` but its campaign_id (``leads``,
    ``contacted``, ..., ``positive_rate``, ..., the Wilson bounds, ``confidence``,
    ``positive_tags``)."""
    from sendkit_nb.metrics import headline

    columns: dict[str, PolarsDataType] = dict(headline(pl.DataFrame(schema=LEADS_SCHEMA)).schema)
    columns.pop("campaign_id")
    return pl.Schema({**HISTORY_KEYS, **columns})


def leads_file(root: Path, campaign_id: str) -> Path:
    """Where a campaign's leads live in the store at ``root``."""
    return root / _LEADS / f"campaign_id={campaign_id}" / "data.parquet"


#: The hint of a store path that cannot be looked up (too long a name, a symlink loop, a
#: folder without permission).
_PATH_HINT = (
    "Check the store's path: each name must fit the file system (at most 255 bytes), its "
    "folders must be readable, and no symlink in it may lead back to itself."
)


def _missing(path: Path) -> bool:
    """Whether a store file is absent (a store not synced yet has none); a StoreError when it
    cannot be looked up, rather than reading a damaged store as an empty one."""
    return checked_kind(path, StoreError, doing="read", hint=_PATH_HINT) == "missing"


def _listed(path: Path) -> bool:
    """Whether ``path`` has an entry in its folder (a symlink loop has one), however broken."""
    try:
        path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        pass  # there, but not readable: the footer check says so, naming the file
    return True


def _read_marker(root: Path) -> dict[str, Any]:
    """``store.json`` of ``root``, checked; StoreError naming what is wrong."""
    marker = root / _MARKER
    if checked_kind(marker, StoreError, doing="read", hint=_PATH_HINT) != "file":
        raise StoreError(
            f"{root} is not a sendkit_nb store: it has no {_MARKER}",
            hint="Create one with sk.sync(client, path) or `sendkit-nb sync --store PATH`.",
        )
    try:
        info = json.loads(marker.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{marker} cannot be read: {exc}") from None
    if not isinstance(info, dict) or info.get("format") != STORE_FORMAT:
        raise StoreError(f"{root} is not a sendkit_nb store: {_MARKER} names another format")
    version = info.get("version")
    # By type as well: True == 1 and 1.0 == 1 in Python, and neither is a format number.
    if isinstance(version, bool) or not isinstance(version, int):
        raise StoreError(
            f"{marker} is damaged: its version is {version!r}, not a format number",
            hint="Sync into a new folder; the old one can be deleted once the new one is complete.",
        )
    if version != STORE_VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > STORE_VERSION:
            raise StoreError(
                f"{root} was written by a newer sendkit_nb ({info.get('written_by', '?')}, store "
                f"format {version}); this version reads format {STORE_VERSION}",
                hint="Upgrade sendkit_nb (pip install -U sendkit_nb).",
            )
        raise StoreError(
            f"{root} was written by an older sendkit_nb ({info.get('written_by', '?')}, store "
            f"format {version!r}); this version reads format {STORE_VERSION}",
            hint="Sync into a new folder; the old one can be deleted once the new one is complete.",
        )
    return info


def create_store(root: Path, *, demo: bool | None = None) -> None:
    """Make ``root`` a new, empty store (the folder must not exist or be empty); ``demo``:
    whether it is filled from the demo API (None: not known yet, the first sync says)."""
    from sendkit_nb._version import __version__

    root.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {
        "format": STORE_FORMAT,
        "version": STORE_VERSION,
        "written_by": __version__,
    }
    if demo is not None:
        info["demo"] = demo
    _write_marker(root, info)


def _write_marker(root: Path, info: dict[str, Any]) -> None:
    text = json.dumps(info, indent=2) + "\n"
    write_atomic(root / _MARKER, lambda handle: handle.write(text.encode("utf-8")))


def _check_source(root: Path, info: dict[str, Any], demo: bool) -> None:
    """Refuse to mix the demo's synthetic campaigns with real ones in the store at ``root``
    (``info``: its ``store.json``). Only checks: a store that does not say yet is left to
    :func:`record_source`, under the sync's lock."""
    held = info.get("demo")
    if held is True and not demo:
        raise StoreError(
            f"the store at {root} holds the sendkit_nb demo API's synthetic data: real "
            "campaigns synced into it would be mixed with made-up ones",
            hint="Sync into another folder (`sendkit-nb sync --store DIR`, or sk.sync(client, "
            "path)); this one can be deleted.",
        )
    if held is False and demo:
        raise StoreError(
            f"the store at {root} holds campaigns from the SendKit API: the demo API's "
            "synthetic campaigns would be mixed with them",
            hint="Sync the demo into another folder, e.g. `sendkit-nb sync --demo --store "
            "sendkit-demo-data`.",
        )


def record_source(root: Path, demo: bool, listed_ids: Collection[str]) -> None:
    """Check the source of the store at ``root`` again and record it (``demo``: the sync's
    client is the embedded demo API) in a store that does not say yet; called by the sync
    under its lock, with the campaign ids it just listed (another sync may have recorded the
    flag since :func:`prepare_store` looked).

    A store written before the flag existed is recorded as the client's kind when it holds no
    campaign yet, or when one of its campaigns is in ``listed_ids``: then it came from this
    source. A store whose campaigns the source does not list could hold the other kind (a
    real workspace's campaigns and a demo sync, or the other way round), and is refused rather
    than mixed or mislabelled."""
    info = _read_marker(root)
    _check_source(root, info, demo)
    if isinstance(info.get("demo"), bool):
        return
    held = read_store_frame(root, CAMPAIGNS_FILE, STORE_CAMPAIGNS_SCHEMA)
    held_ids = set() if held is None else set(held.get_column("campaign_id").to_list())
    if held_ids and held_ids.isdisjoint(listed_ids):
        source = " (the embedded demo API's)" if demo else ""
        command = "sync --demo --store sendkit-demo-data" if demo else "sync --store DIR"
        raise StoreError(
            f"the store at {root} does not record its source (it was written by an earlier "
            f"sendkit_nb) and its campaigns are not in this workspace{source}: syncing would "
            "mix campaigns of two sources in one store",
            hint=f"Sync into another folder (`sendkit-nb {command}`, or sk.sync(client, "
            "path)); nothing in this one was changed.",
        )
    try:
        _write_marker(root, {**info, "demo": demo})
    except OSError as exc:
        raise write_error(root / _MARKER, exc) from None


def write_error(what: Path, exc: OSError) -> StoreError:
    """The StoreError for a store file or folder that cannot be written (no permission, a
    full disk, a file where a folder belongs)."""
    return StoreError(
        f"cannot write {what}: {exc.strerror or exc}",
        hint="Check that the store's folder is writable and its disk has room. Every campaign "
        "the sync finished is kept; the next sync completes the others.",
    )


def prepare_store(path: str | os.PathLike[str], *, demo: bool | None = None) -> Path:
    """The store folder to sync into: an existing store of this version, or a new one in a
    folder that does not exist yet or is empty. Anything else (a file, a folder of other
    things, a store of another version, a folder that cannot be read or created) is refused
    before any request.

    ``demo``: whether the sync's client is the embedded demo API (None: not known here). It is
    recorded in a new store; a store that says it holds the other kind (demo data and real
    campaigns) is refused. An existing store is not written to here, before the sync's lock:
    one that does not say yet gets the flag from :func:`record_source`, under the lock."""
    root = check_path(path, "path")
    kind = checked_kind(root, StoreError, doing="sync into", hint=_PATH_HINT)
    if kind not in ("missing", "folder"):
        raise BadRequestError(
            f"cannot sync into {root}: it is a file", hint="Name a folder for the store."
        )
    if kind == "folder" and not _missing(root / _MARKER):
        info = _read_marker(root)
        if demo is not None:
            _check_source(root, info, demo)
        return root
    try:
        holds_files = kind == "folder" and any(root.iterdir())
    except OSError as exc:
        raise StoreError(
            f"cannot sync into {root}: the folder cannot be read ({exc.strerror or exc})",
            hint="Name a folder you can read and write.",
        ) from None
    if holds_files:
        raise StoreError(
            f"cannot sync into {root}: the folder holds other files and is not a sendkit_nb "
            "store (it has no store.json)",
            hint="Name a new or empty folder; nothing in this one was changed.",
        )
    # Before any folder is made: a name too long below them would leave them behind.
    check_names(root, StoreError, doing="create a store at", hint=_PATH_HINT)
    try:
        create_store(root, demo=demo)
    except OSError as exc:
        raise StoreError(
            f"cannot create a store at {root}: {exc.strerror or exc}",
            hint="Name a folder you can create and write to.",
        ) from None
    return root


def _read(path: Path, schema: pl.Schema | None = None) -> pl.DataFrame:
    try:
        # glob=False everywhere: a store's path may hold [ ] * ? (polars would expand them).
        frame = pl.read_parquet(path, glob=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise StoreError(
            f"{path} cannot be read ({_first_line(exc)})", hint=_repair_hint(path)
        ) from None
    if schema is not None:
        missing = [c for c in schema.names() if c not in frame.columns]
        later = [c for c in missing if c in _LATER_COLUMNS]
        if len(later) < len(missing):
            lost = next(c for c in missing if c not in _LATER_COLUMNS)
            raise StoreError(
                f"{path} lacks the column {lost!r}: the store is damaged",
                hint=_repair_hint(path),
            )
        frame = frame.with_columns(pl.lit(None, schema[c]).alias(c) for c in later)
        frame = frame.select(schema.names())
    return frame


def _sync_command(root: Path) -> str:
    """The command that syncs the store at ``root``: from the demo again for a demo store
    (without ``--demo`` the command wants a key)."""
    try:
        demo = " --demo" if _read_marker(root).get("demo") is True else ""
    except StoreError:
        demo = ""  # the marker's own damage is reported where it is read
    return f"sendkit-nb sync{demo} --store {shlex.quote(str(root))}"


def _repair_hint(path: Path) -> str | None:
    """The way out of a damaged ``campaigns.parquet`` or ``syncs.parquet`` (None for another
    file: the default hint)."""
    root = path.parent
    if path.name == SYNCS_FILE:
        # Derived data (one row per campaign per sync): sync() sets it aside, see take_history.
        return (
            f"It holds only the history of the syncs, so the next sync sets it aside as "
            f"{SYNCS_FILE}.damaged-<time> and starts a new history: `{_sync_command(root)}` "
            "(in Python: sk.sync(client, path))."
        )
    if path.name == CAMPAIGNS_FILE:
        # Not set aside by the sync itself: it also holds the campaigns deleted upstream.
        aside = shlex.quote(f"{path}.damaged")
        return (
            f"Move it aside (`mv {shlex.quote(str(path))} {aside}`), then sync again: "
            f"`{_sync_command(root)}` (in Python: sk.sync(client, path)) pulls every campaign "
            f"the API lists and writes {CAMPAIGNS_FILE} anew."
        )
    return None


def take_history(root: Path) -> tuple[pl.DataFrame | None, Path | None]:
    """``syncs.parquet`` of the store at ``root`` for a sync to append to (None: there is none
    yet), and where a damaged one was set aside (None: it was not). Called under the sync's
    lock.

    The history is derived data (each sync's headline of each campaign), so a damaged one (not
    readable, lacking a column, holding one with another type) must not stop the sync that
    mends everything else: it is renamed, atomically, to ``syncs.parquet.damaged-<UTC time>``
    (kept, for whoever wants to look into it) and the sync starts a new history."""
    path = root / SYNCS_FILE
    if _missing(path):
        return None, None
    schema = history_schema()
    try:
        # A file that cannot be opened (no permission, an I/O error) is not damaged: it is
        # said, and left where it is. Only what opens and is no history is set aside.
        path.open("rb").close()
    except OSError as exc:
        raise path_error(
            path,
            exc,
            StoreError,
            doing="read",
            hint="Check the store folder's permissions and disk; the sync changed nothing.",
        ) from None
    try:
        frame = _read(path, schema)
    except StoreError:
        pass
    else:
        if frame.schema == schema:
            return frame, None
    stamp = datetime.now(UTC_ZONE).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{SYNCS_FILE}.damaged-{stamp}")
    count = 1
    while _listed(aside):
        count += 1
        aside = path.with_name(f"{SYNCS_FILE}.damaged-{stamp}-{count}")
    try:
        os.rename(path, aside)
    except OSError as exc:
        raise write_error(path, exc) from None
    return None, aside


def _campaign_of(path: Path) -> str:
    """The campaign id of a leads file, from its partition folder's name."""
    return path.parent.name.removeprefix("campaign_id=")


def remove_folder_hint(root: Path, campaign_id: str) -> str:
    """How to drop the leads of a campaign deleted upstream from the store at ``root`` (when
    its file is damaged: no sync can pull it again). Only its leads folder goes; the store
    reads without it."""
    folder = shlex.quote(str(leads_file(root, campaign_id).parent))
    return (
        f"remove its folder: `rm -r {folder}`. The store then reads without this campaign's "
        "leads; its rows in store.campaigns() and store.history() stay."
    )


def _deleted_upstream(root: Path, campaign_id: str) -> bool:
    """Whether the store at ``root`` marks ``campaign_id`` deleted upstream (False when its
    ``campaigns.parquet`` cannot say: that damage is reported where it is read)."""
    try:
        held = read_store_frame(root, CAMPAIGNS_FILE, STORE_CAMPAIGNS_SCHEMA)
    except StoreError:
        return False
    if held is None:
        return False
    row = held.filter(pl.col("campaign_id") == campaign_id)
    return bool(row.height) and row.get_column("deleted").item(0) is True


def _damaged_file(path: Path, problem: str, *, remove_first: bool = False) -> StoreError:
    """The StoreError for one damaged leads file: the sync that rewrites just its campaign
    (after removing what stands in the file's place, when the sync cannot replace it). A
    campaign deleted upstream cannot be pulled (a sync only pulls what the API lists): its
    hint removes its folder instead."""
    campaign_id = _campaign_of(path)
    root = path.parents[2]
    if _deleted_upstream(root, campaign_id):
        return StoreError(
            f"{path} {problem}: the store is damaged",
            hint="Its campaign no longer exists in the API (deleted in SendKit), so its leads "
            "cannot be pulled again. To drop the damaged file, "
            + remove_folder_hint(root, campaign_id),
        )
    first = f"Remove {path}, then pull" if remove_first else "Pull"
    return StoreError(
        f"{path} {problem}: the store is damaged",
        hint=f"{first} the campaign again: `{_sync_command(root)} --full --campaign "
        f"{campaign_id}` (in Python: "
        f"sk.sync(client, path, campaigns={campaign_id!r}, full=True)); its file is replaced "
        "whole.",
    )


def _check_leads_file(path: Path) -> None:
    """Raise a StoreError naming ``path`` unless its parquet footer says it holds every
    ``LEADS_SCHEMA`` column with its type (a footer read, no data)."""
    try:
        kind = kind_of(path)
    except OSError as exc:
        raise _damaged_file(
            path, f"cannot be looked up ({exc.strerror or exc})", remove_first=True
        ) from None
    if kind != "file":
        raise _damaged_file(path, "is not a file", remove_first=True)
    try:
        with path.open("rb") as handle:  # a path would be taken as a glob pattern
            found = pl.read_parquet_schema(handle)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _damaged_file(path, f"is not a readable parquet file ({_first_line(exc)})") from None
    for name, dtype in LEADS_SCHEMA.items():
        if name not in found:
            raise _damaged_file(path, f"lacks the leads column {name!r}")
        if found[name] != dtype:
            raise _damaged_file(path, f"holds the column {name!r} as {found[name]}, not {dtype}")


def _identity(path: Path) -> tuple[int, int, int] | None:
    """What tells a file from the one that replaces it (an atomic write makes a new inode and
    time); None when it is not there."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns, found.st_size


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    # polars ends some messages with its own "Hint: ..." (about its scan options): under our
    # message it would read as advice to the reader, next to the store's own hint.
    first = lines[0].split(" Hint: ")[0].strip() if lines else ""
    return f"{type(exc).__name__}: {first}"


@dataclass(frozen=True, eq=False)
class Store:
    """A store folder opened for reading (see :func:`open_store`). Nothing here talks to the
    API; every method reads the files as they are now, so a store that a sync is updating
    shows each campaign either as it was or as it is after the sync, never half of one."""

    path: Path

    def __post_init__(self) -> None:
        # Store is public and may be made directly: a str (or any PathLike) is taken as
        # open_store takes it, anything else refused at once rather than at the first read.
        object.__setattr__(self, "path", check_path(self.path, "path"))

    def campaigns(self) -> pl.DataFrame:
        """One row per campaign the store has seen: ``CAMPAIGNS_SCHEMA`` (names, sequences,
        dates) plus ``leads`` (in the store), ``fingerprint``, ``pulled_at``, ``source_time``
        (the source's clock when a sync last checked the campaign; null in a store written
        before it was recorded) and ``deleted`` (gone from the API; its leads are kept). Pass
        it as ``catalog=`` to ``sk.report``."""
        path = self.path / CAMPAIGNS_FILE
        if _missing(path):
            # A store with no campaign yet has no leads file either. A first sync writes
            # leads files before this file, at its end: while it holds the lock that is no
            # damage (and once it is done, the file is there: looked up again).
            held = self._files()
            if held and not self._syncing() and _missing(path):
                raise StoreError(
                    f"{path} is missing, yet the store holds leads files of "
                    f"{fmt_int(len(held))} campaign(s): the store is damaged",
                    hint=f"Sync it again: `{_sync_command(self.path)}` (in Python: "
                    f"sk.sync(client, path)) pulls every campaign the API lists and writes "
                    f"{CAMPAIGNS_FILE} anew.",
                )
            if _missing(path):
                return pl.DataFrame(schema=STORE_CAMPAIGNS_SCHEMA)
            # A first sync ended between the two looks: its file is there now.
        return _read(path, STORE_CAMPAIGNS_SCHEMA)

    def _syncing(self) -> bool:
        """Whether a sync holds the store's lock (or a killed one left it): its tables may lag
        the leads files it has replaced so far."""
        return os.path.lexists(self.path / SYNC_LOCK)

    def scan_leads(self) -> pl.LazyFrame:
        """Every lead in the store as one LazyFrame (``LEADS_SCHEMA``) over the partitioned
        folder: filters on ``campaign_id`` skip whole files, and ``collect(engine="streaming")``
        works through the store in bounded memory.

        Each leads file's footer is checked here, before anything is collected: a file that is
        not parquet, is cut short (the footer is at the end, so any truncation shows), is
        empty (polars would skip it without a word and its leads would silently be missing),
        or lacks a column of ``LEADS_SCHEMA`` or holds it with another type raises a
        :class:`~sendkit_nb.StoreError` naming the file and the sync that rewrites it. Columns
        a file has beyond ``LEADS_SCHEMA`` are left out of the scan. A file that holds another
        campaign's leads (its ``campaign_id`` column is not its folder's id), or another number
        of leads than ``campaigns.parquet`` records for its campaign (compared only while no
        sync is changing the store), raises one too. That costs one small read per campaign and
        one read of the ``campaign_id`` column, not a read of the data.

        What can still fail only at ``collect()``, with polars' own error (``ComputeError``),
        is damage inside an intact file (its data pages, not its footer), or a file changed
        by another program after this call; :meth:`leads` wraps such a failure in a
        StoreError naming the file."""
        return self._scan(self._files())

    def _scan(self, files: list[Path]) -> pl.LazyFrame:
        """The checked ``files`` (see :meth:`scan_leads`) as one LazyFrame."""
        for path in files:
            _check_leads_file(path)
        if not files:
            return pl.LazyFrame(schema=LEADS_SCHEMA)
        self._check_contents(files)
        # The files just checked, not the glob again at collect: what is scanned is what was
        # checked (a sync replaces each file atomically, with one that is whole).
        return pl.scan_parquet(
            files,
            glob=False,
            hive_partitioning=True,
            hive_schema={"campaign_id": pl.String},
            schema=dict(LEADS_SCHEMA),
            extra_columns="ignore",
        )

    def _check_contents(self, files: list[Path]) -> None:
        """Raise a StoreError naming the first of ``files`` (footers checked) that holds
        another campaign's leads (its ``campaign_id`` column is not its folder's id: a file
        copied into the wrong folder), or another number of leads than ``campaigns.parquet``
        records for its campaign. One query reads the ``campaign_id`` column of every file,
        side by side: about what the footer checks cost.

        A sync replaces each leads file when it has the campaign but rewrites
        ``campaigns.parquet`` at its end, so a file can be newer than its row without any
        damage: while a sync holds the lock (a killed one's lock stays until the next sync),
        or when one ended while the files were read (``campaigns.parquet`` was replaced
        meanwhile). The counts are compared only when neither is the case."""
        catalog = self.path / CAMPAIGNS_FILE
        before = _identity(catalog)
        try:
            held = self.campaigns()
        except StoreError:
            # The catalog's own damage is said where it is read (campaigns(), a report): the
            # leads files still read, and still must hold their own campaign's leads.
            held = pl.DataFrame(schema=STORE_CAMPAIGNS_SCHEMA)
        recorded = dict(zip(held["campaign_id"], held["leads"], strict=True))
        try:
            found = (
                pl.scan_parquet(
                    files,
                    schema={"campaign_id": pl.String},
                    extra_columns="ignore",
                    hive_partitioning=False,
                    glob=False,
                    include_file_paths="file",
                )
                .group_by("file")
                .agg(
                    rows=pl.len(),
                    nulls=pl.col("campaign_id").null_count(),
                    low=pl.col("campaign_id").min(),
                    high=pl.col("campaign_id").max(),
                )
                .collect()
            )
        except (pl.exceptions.PolarsError, OSError):
            # Damage behind an intact footer: it surfaces where the data is read, as
            # documented (collect() of the scan; leads() names the file).
            return
        # A file without rows (a campaign without leads) has no group.
        counts = {row["file"]: row for row in found.to_dicts()}
        if not set(counts) <= {str(path) for path in files}:
            return  # polars spelled a path its own way: no file can be told, none is blamed
        differ: list[tuple[Path, int, int]] = []
        for path in files:
            campaign_id = _campaign_of(path)
            row = counts.get(str(path), {"rows": 0, "nulls": 0})
            if row["nulls"]:
                raise _damaged_file(path, "holds leads without a campaign_id")
            other = next((c for c in (row.get("low"), row.get("high")) if c != campaign_id), None)
            if row["rows"] and other is not None:
                raise _damaged_file(
                    path, f"holds leads of campaign {other}, not of its folder's {campaign_id}"
                )
            expected = recorded.get(campaign_id)
            if expected is not None and expected != row["rows"]:
                differ.append((path, row["rows"], expected))
        if differ and not self._syncing() and _identity(catalog) == before:
            path, rows, expected = differ[0]
            raise _damaged_file(
                path,
                f"holds {fmt_int(rows)} leads where {CAMPAIGNS_FILE} records {fmt_int(expected)} "
                "for its campaign",
            )

    def leads(
        self,
        campaign_ids: str | Sequence[str] | None = None,
        *,
        status: str | Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """The leads of the given campaigns (one id or a list; None: every campaign in the
        store, deleted ones included), optionally only those with ``status`` (one lead
        status or several). An id the store has never pulled is a BadRequestError."""
        statuses = check_statuses(status)
        files = self._files()
        if campaign_ids is not None:
            given = [campaign_ids] if isinstance(campaign_ids, str) else list(campaign_ids)
            ids = list(dict.fromkeys(check_object_id(c) for c in given))
            present = {_campaign_of(p) for p in files}
            unknown = [c for c in ids if c not in present]
            if unknown:
                raise BadRequestError(
                    f"the store at {self.path} has no leads of campaign {unknown[0]}",
                    hint="store.campaigns() lists what it holds; sync to pull new campaigns.",
                )
            # Only these campaigns' files are checked and read: a damaged file of another
            # campaign does not stand in the way.
            files = [p for p in files if _campaign_of(p) in ids]
        scan = self._scan(files)
        if statuses is not None:
            scan = scan.filter(pl.col("status").is_in(statuses))
        try:
            return scan.collect()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise self._damaged(exc, files) from None

    def _damaged(self, exc: Exception, files: list[Path]) -> StoreError:
        """The StoreError for a failed read of ``files`` after they passed the footer check of
        :meth:`scan_leads`: it names the first one that cannot be read whole (polars' message
        may not say which it was). Only on this error path is every file read through."""
        for path in files:
            try:
                pl.read_parquet(path, columns=LEADS_SCHEMA.names(), glob=False)
            except (pl.exceptions.PolarsError, OSError) as bad:
                return _damaged_file(path, f"cannot be read ({_first_line(bad)})")
        return StoreError(
            f"the leads in {self.path / _LEADS} cannot be read ({type(exc).__name__}: {exc})",
            hint="Sync the store again with full=True (`sendkit-nb sync --full`) to rewrite "
            "its files.",
        )

    def history(self) -> pl.DataFrame:
        """``syncs.parquet``: one row per campaign per sync (``campaign_id``,
        ``campaign_name``, ``pulled_at``, ``fingerprint``, ``deleted``, ``leads`` and the
        headline counts and rates as :func:`sendkit_nb.headline` names them), oldest first:
        what ``sk.charts.trend`` draws. A damaged file raises a StoreError naming it; being
        derived data, it is set aside by the next sync, which begins a new history
        (:func:`take_history`)."""
        path = self.path / SYNCS_FILE
        if _missing(path):
            return pl.DataFrame(schema=history_schema())
        return _read(path, history_schema()).sort("pulled_at", "campaign_id", maintain_order=True)

    @property
    def pulled_at(self) -> datetime | None:
        """When the store was last synced (the latest ``pulled_at`` of its history), or None
        for a store never synced."""
        path = self.path / SYNCS_FILE
        if _missing(path):
            return None
        latest = _read(path).get_column("pulled_at").max()
        return latest if isinstance(latest, datetime) else None

    @property
    def is_demo(self) -> bool:
        """True for a store synced from the embedded demo API (``SendKitClient.demo()``,
        ``--demo``): its campaigns and numbers are synthetic, and a report from it says so.
        False for real campaigns, and for a store written before this was recorded and not
        synced since."""
        return _read_marker(self.path).get("demo") is True

    @property
    def as_of(self) -> datetime | None:
        """The "now" of the store's data as a whole: :meth:`as_of_for` over every campaign the
        API still lists, the oldest of their ``source_time``. A window over the whole store
        ("the last 7 days") then never claims days some campaign was not checked for, even
        after a sync of only some campaigns."""
        return self.as_of_for()

    def as_of_for(self, campaign_ids: str | Sequence[str] | None = None) -> datetime | None:
        """The "now" of the given campaigns' data (one id or a list; None: every campaign not
        deleted upstream, or every campaign if all were): the oldest of their
        ``source_time``, the source's clock (the API server's ``Date``) when a sync last
        pulled the campaign or found it unchanged. Relative windows ("7d") count back from it.

        For the real API that is the moment of the check; the demo API's clock is frozen at
        its data's end (``DEMO_NOW``), so a report's "last 30 days" of a demo store are days
        its data has. A campaign without a ``source_time`` (a store written before it was
        recorded) counts with the store's single note in ``store.json``, else
        :attr:`pulled_at`, as do ids the store does not hold. None: a store never synced."""
        held = self.campaigns()
        if campaign_ids is None:
            live = held.filter(~pl.col("deleted").fill_null(False))
            chosen = live if live.height else held
        else:
            given = [campaign_ids] if isinstance(campaign_ids, str) else list(campaign_ids)
            chosen = held.filter(pl.col("campaign_id").is_in(given))
        if not chosen.height:
            return self._legacy_as_of()
        times = chosen.get_column("source_time")
        if times.null_count():
            legacy = self._legacy_as_of()
            if legacy is not None:
                times = times.fill_null(legacy)
        oldest = times.min()
        return oldest if isinstance(oldest, datetime) else None

    def _legacy_as_of(self) -> datetime | None:
        """The whole store's "now" as stores written before ``source_time`` kept it: the note in
        ``store.json``, else the last sync's pull time."""
        noted = _read_marker(self.path).get("source_time")
        if isinstance(noted, str):
            try:
                return datetime.fromisoformat(noted).astimezone(UTC_ZONE)
            except ValueError:
                pass  # a hand-edited marker: the pull time is the next best "now"
        return self.pulled_at

    def _files(self) -> list[Path]:
        """Every campaign's leads file. Not a glob: a glob drops a file it cannot look up (a
        symlink loop) without a word, and that campaign's leads with it; here only a missing
        file is left out, and the footer check of :meth:`scan_leads` names any other."""
        folder = self.path / _LEADS
        if checked_kind(folder, StoreError, doing="read", hint=_PATH_HINT) != "folder":
            return []
        try:
            parts = sorted(p for p in folder.iterdir() if p.name.startswith("campaign_id="))
        except OSError as exc:
            raise path_error(folder, exc, StoreError, doing="read", hint=_PATH_HINT) from None
        return [file for part in parts if _listed(file := part / "data.parquet")]

    def __repr__(self) -> str:
        campaigns = self.campaigns()
        deleted = int(campaigns.get_column("deleted").sum())
        leads = campaigns.get_column("leads").sum()
        pulled = self.pulled_at
        when = f"synced {pulled:%Y-%m-%d %H:%M} UTC" if pulled else "never synced"
        gone = f" ({fmt_int(deleted)} deleted upstream)" if deleted else ""
        demo = ", synthetic demo data" if self.is_demo else ""
        return (
            f"Store({str(self.path)!r}: {fmt_int(campaigns.height)} campaigns{gone}, "
            f"{fmt_int(leads)} leads, {when}{demo})"
        )


def open_store(path: str | os.PathLike[str]) -> Store:
    """Open the store at ``path`` (written by :func:`sendkit_nb.sync`) for reading.

    >>> import sendkit_nb as sk
    >>> store = sk.open_store("sendkit-data")  # doctest: +SKIP
    >>> store.leads(status="replied")  # doctest: +SKIP

    A folder that is not a store, or a store written in another format version, raises
    :class:`~sendkit_nb.StoreError` saying which.
    """
    root = check_path(path, "path")
    kind = checked_kind(root, StoreError, doing="open the store at", hint=_PATH_HINT)
    if kind != "folder":
        raise StoreError(
            f"no store at {root}: {'no such folder' if kind == 'missing' else 'it is a file'}",
            hint="Create one with sk.sync(client, path) or `sendkit-nb sync --store PATH`.",
        )
    _read_marker(root)
    return Store(root)


def read_store_frame(root: Path, name: str, schema: pl.Schema) -> pl.DataFrame | None:
    """A store's ``campaigns.parquet`` or ``syncs.parquet`` for the sync to update, or None."""
    path = root / name
    return None if _missing(path) else _read(path, schema)


def write_store_frame(root: Path, name: str, frame: pl.DataFrame) -> None:
    """Replace ``campaigns.parquet`` or ``syncs.parquet`` atomically; a StoreError naming the
    file when it cannot be written."""
    try:
        write_atomic(root / name, frame.write_parquet)
    except OSError as exc:
        raise write_error(root / name, exc) from None
