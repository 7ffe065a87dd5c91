"""Where the dashboard's data comes from: the API (a client) or a workspace store on disk
(optionally with a client, to sync it).

The dashboard loads through one small interface, :class:`Source`, so nothing else in it asks
which kind of source it has: the campaigns list, a campaign's leads, the reference time of
relative date windows, what Refresh does before reloading, and the sending mailboxes.

* :class:`ApiSource` reads the API directly; Refresh simply loads again.
* :class:`StoreSource` reads a store (:func:`sendkit_nb.open_store`) with no network. With a
  client, Refresh first syncs the campaign on show into the store (incremental: a campaign the
  API says is unchanged is not fetched), then reads the store again; without one, Refresh is
  unavailable (the store has nothing to compare against) and so are the senders (the store
  holds no mailboxes).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import polars as pl

from sendkit_nb._client import SendKitClient
from sendkit_nb._errors import BadRequestError, SendKitError, StoreError
from sendkit_nb._files import kind_of
from sendkit_nb._frames import IncompleteLoadWarning, load_campaigns, load_leads
from sendkit_nb._mailboxes import load_mailboxes
from sendkit_nb._present import fmt_int
from sendkit_nb._progress import ProgressCallback
from sendkit_nb._store import Store, open_store
from sendkit_nb._store_sync import SyncResult, sync

__all__ = ["ApiSource", "OfflineError", "Source", "StoreSource", "make_source"]

#: Told a stage of the work: (stage of ``_layout.STAGES``, text for the progress line).
StageCallback = Callable[[str, str], None]


class OfflineError(SendKitError):
    """An action that needs the API, asked of a dashboard opened on a store without a client."""

    default_hint = (
        "Open the dashboard with a client as well: sk.dashboard(client, store=path) syncs the "
        "store on Refresh and loads the senders from the API."
    )


class Source(Protocol):
    """What the dashboard loads from."""

    @property
    def loaded_from(self) -> str:
        """How the progress line says where a campaign was loaded from ("from the API")."""
        ...

    @property
    def is_demo(self) -> bool:
        """Whether the data is the demo API's (the dashboard then says it is synthetic)."""
        ...

    @property
    def client(self) -> SendKitClient | None:
        """The client the source loads or syncs with (None: a store read offline)."""
        ...

    @property
    def refresh_unavailable(self) -> str | None:
        """Why Refresh cannot run (None when it can): the Refresh button's tooltip then."""
        ...

    @property
    def refresh_tip(self) -> str:
        """What the Refresh button does (its tooltip when it can run)."""
        ...

    @property
    def senders_unavailable(self) -> str | None:
        """Why the senders cannot be loaded (None when they can)."""
        ...

    def campaigns(self) -> pl.DataFrame:
        """The campaigns list (the campaigns frame, step sequences included)."""
        ...

    def leads(
        self, campaign_id: str, on_leads: ProgressCallback | None
    ) -> tuple[pl.DataFrame, list[str]]:
        """Every lead of ``campaign_id``, and warnings to show about the load."""
        ...

    def as_of(self, campaign_id: str | None = None) -> datetime | None:
        """The source's clock when the data of ``campaign_id`` (None: every campaign) was
        pulled: what relative windows ("7d") count back from. None: the latest timestamp in
        the campaign's leads (the metrics' own default)."""
        ...

    def update(
        self, campaign_id: str | None, on_stage: StageCallback, on_leads: ProgressCallback
    ) -> tuple[str, str | None]:
        """Bring the data of ``campaign_id`` (None: the workspace) up to date before Refresh
        reloads it: (what was done, for the progress line; an error to show, or None)."""
        ...

    def mailboxes(self, since: date | None, until: date | None) -> pl.DataFrame:
        """The sending mailboxes (``load_mailboxes``), sent between ``since`` and ``until``."""
        ...

    def close(self) -> None: ...


class ApiSource:
    """The API, through ``client`` (closed by :meth:`close` when ``owned``)."""

    loaded_from = "from the API"
    refresh_tip = "Reload the campaigns list and the current campaign from the API"
    refresh_unavailable: str | None = None
    senders_unavailable: str | None = None

    def __init__(self, client: SendKitClient, *, owned: bool = False) -> None:
        self.client: SendKitClient | None = client
        self._client = client
        self._owned = owned

    @property
    def is_demo(self) -> bool:
        return self._client.is_demo

    def campaigns(self) -> pl.DataFrame:
        return load_campaigns(self._client)

    def leads(
        self, campaign_id: str, on_leads: ProgressCallback | None
    ) -> tuple[pl.DataFrame, list[str]]:
        # Never a tqdm bar: it would land in whichever output area happens to be current,
        # outside the dashboard, which draws its own progress from on_leads.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", IncompleteLoadWarning)
            leads = load_leads(self._client, campaign_id, progress=on_leads or False, strict=False)
        notes = []
        for warning in caught:
            if issubclass(warning.category, IncompleteLoadWarning):
                # Shown in the dashboard, where the analyst looks, not on stderr.
                notes.append(str(warning.message))
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        return leads, notes

    def as_of(self, campaign_id: str | None = None) -> datetime | None:
        # The server's clock at the load (its Date header), as the report and a store count
        # back from: "last 7 days" means the same days on every front end. The demo API's
        # clock is frozen where its data ends, so its windows are never empty by accident.
        return self._client.server_time

    def update(
        self, campaign_id: str | None, on_stage: StageCallback, on_leads: ProgressCallback
    ) -> tuple[str, str | None]:
        return "", None  # the reload that follows is the update

    def mailboxes(self, since: date | None, until: date | None) -> pl.DataFrame:
        return load_mailboxes(self._client, since=since, until=until)

    def close(self) -> None:
        if self._owned:
            self._client.close()


class StoreSource:
    """A workspace store, read with no network; ``client`` (optional) syncs it on Refresh.

    ``path`` may name a folder that is not a store yet when a client is given: the first
    campaigns list then syncs the whole workspace into it, with progress.
    """

    loaded_from = "from the store"

    def __init__(
        self,
        store: Store | str | os.PathLike[str],
        client: SendKitClient | None = None,
        *,
        on_stage: StageCallback | None = None,
        on_leads: ProgressCallback | None = None,
    ) -> None:
        self.client = client
        self.path = store.path if isinstance(store, Store) else Path(store).expanduser()
        self._store: Store | None = store if isinstance(store, Store) else None
        if self._store is None and client is None:
            self._store = open_store(self.path)  # offline, a path must be a store already
        # For the first sync of a new store, which happens inside campaigns().
        self.on_stage = on_stage
        self.on_leads = on_leads

    @property
    def is_demo(self) -> bool:
        # A sync never mixes the demo's synthetic campaigns with real ones, so the store says
        # what its data is even offline; with a client, the client says the same.
        if self.client is not None:
            return self.client.is_demo
        return self._store is not None and self._store.is_demo

    @property
    def refresh_unavailable(self) -> str | None:
        if self.client is not None:
            return None
        return (
            "Refresh is unavailable offline: this dashboard reads a store with no client. "
            "Open it with sk.dashboard(client, store=...) to sync the store on Refresh."
        )

    @property
    def refresh_tip(self) -> str:
        return self.refresh_unavailable or (
            "Sync the current campaign into the store (only if it changed) and reload it"
        )

    @property
    def senders_unavailable(self) -> str | None:
        if self.client is not None:
            return None
        return (
            "Senders need the API: the store holds campaigns and leads, not the sending "
            "mailboxes. Open the dashboard with a client (sk.dashboard(client, store=...)) "
            "to see them."
        )

    @property
    def store(self) -> Store:
        """The store, opened (and with a client, created by a first sync) on first use."""
        if self._store is None:
            try:
                self._store = open_store(self.path)
            except StoreError:
                # Only a folder that does not exist or is empty becomes a new store; a file or
                # a folder of other things keeps the error that says what it is, as does a
                # path that cannot be looked up (a name too long, a symlink loop).
                try:
                    kind = kind_of(self.path)
                    taken = kind != "missing" and (kind != "folder" or any(self.path.iterdir()))
                except OSError:
                    taken = True
                if self.client is None or taken:
                    raise
                self._sync(None, self.on_stage, self.on_leads)
                self._store = open_store(self.path)
        return self._store

    def campaigns(self) -> pl.DataFrame:
        return self.store.campaigns()

    def leads(
        self, campaign_id: str, on_leads: ProgressCallback | None
    ) -> tuple[pl.DataFrame, list[str]]:
        leads = self.store.leads([campaign_id])
        if on_leads is not None:
            on_leads(leads.height, leads.height)
        notes = []
        campaigns = self.store.campaigns().filter(pl.col("campaign_id") == campaign_id)
        if campaigns.height and campaigns["deleted"][0]:
            notes.append(
                "This campaign was deleted in SendKit; the store keeps its leads as last pulled."
            )
        return leads, notes

    def as_of(self, campaign_id: str | None = None) -> datetime | None:
        # The source's clock when a sync last pulled the campaign or found it unchanged; a
        # sync of another campaign (a Refresh elsewhere) does not move it, as the report from
        # a store counts. None: the oldest over the store's campaigns.
        if campaign_id is None:
            return self.store.as_of
        return self.store.as_of_for([campaign_id])

    def update(
        self, campaign_id: str | None, on_stage: StageCallback, on_leads: ProgressCallback
    ) -> tuple[str, str | None]:
        if self.client is None:
            raise OfflineError(self.refresh_unavailable or "no client")
        result = self._sync(campaign_id, on_stage, on_leads)
        if campaign_id is not None and campaign_id in result.failed:
            pulled = self.as_of(campaign_id)
            when = f" (as of {pulled:%Y-%m-%d %H:%M} UTC)" if pulled else ""
            error = (
                f"The sync could not pull this campaign: {result.failed[campaign_id]}. "
                f"Showing the store's copy{when}."
            )
            return "Sync failed", error
        gone = self.store.campaigns().filter(pl.col("campaign_id") == campaign_id)
        if result.fetched:
            done = f"Synced: {fmt_int(result.leads_written)} leads pulled"
        elif gone.height and gone["deleted"][0]:
            done = "Synced: deleted in SendKit, its leads kept as last pulled"
        else:
            done = "Synced: unchanged since the last sync"
        return f"{done} ({result.seconds:.1f} s)", None

    def _sync(
        self,
        campaign_id: str | None,
        on_stage: StageCallback | None,
        on_leads: ProgressCallback | None,
    ) -> SyncResult:
        if self.client is None:
            raise OfflineError(self.refresh_unavailable or "no client")
        if on_stage is not None:
            what = "the campaign" if campaign_id is not None else "the workspace"
            on_stage("leads", f"Syncing {what} into {self.path}…")
        return sync(
            self.client,
            self.path,
            campaign_id,
            progress=on_leads if on_leads is not None else False,
        )

    def mailboxes(self, since: date | None, until: date | None) -> pl.DataFrame:
        if self.client is None:
            raise OfflineError(self.senders_unavailable or "no client")
        return load_mailboxes(self.client, since=since, until=until)

    def close(self) -> None:
        """Nothing to release: the store is files, and the client is the caller's."""


def make_source(
    source: SendKitClient | Store | None,
    store: Store | str | os.PathLike[str] | None,
    connect: Callable[[], SendKitClient],
) -> ApiSource | StoreSource:
    """The source for ``Dashboard(source, store=store)``: a store alone (offline), a client
    with a store (synced on Refresh), a client alone, or nothing (``connect()``)."""
    if source is not None and not isinstance(source, Store | SendKitClient):
        raise BadRequestError(
            f"the dashboard takes a SendKitClient or a Store, got {type(source).__name__}",
            hint="sk.dashboard(sk.connect()) for the API (the demo without a key), or "
            "sk.dashboard(sk.open_store(path)) for a store.",
        )
    if isinstance(source, Store):
        if store is not None:
            raise BadRequestError(
                "two stores given to the dashboard",
                hint="Pass it once: sk.dashboard(store), or sk.dashboard(client, store=path).",
            )
        return StoreSource(source)
    if store is not None:
        if source is None:
            raise BadRequestError(
                "store= needs a client to sync it",
                hint="sk.dashboard(client, store=path), or sk.dashboard(sk.open_store(path)) "
                "to read the store offline.",
            )
        return StoreSource(store, source)
    if source is None:
        return ApiSource(connect(), owned=True)
    return ApiSource(source)
