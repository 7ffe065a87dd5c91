"""What a report is about: the leads, the campaigns chosen, their catalog, and where the data
came from. Loading goes through the loader (``load_campaigns``, ``load_leads``); nothing here
talks HTTP itself."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from sendkit_nb._checks import check_object_id, shown
from sendkit_nb._client import SendKitClient
from sendkit_nb._errors import BadRequestError, StoreError
from sendkit_nb._frames import _check_statuses, campaigns_frame, load_campaigns, load_leads
from sendkit_nb._schema import CAMPAIGNS_SCHEMA, LEADS_SCHEMA
from sendkit_nb._store import Store

__all__ = ["CampaignChoice", "Selection", "normalize_campaigns", "select"]

#: ``campaigns=``: one id, several ids, a Series of ids or a campaigns frame (``campaign_id``).
CampaignChoice = str | Iterable[str] | pl.Series | pl.DataFrame | None

#: Lead columns the report reads (the metrics and the data checks).
REPORT_COLUMNS: tuple[str, ...] = (
    "campaign_id",
    "id",
    "email",
    "status",
    "current_step",
    "replied",
    "replied_at",
    "ai_tag",
    "emails",
)
_LEADS_HINT = (
    "Pass a SendKitClient, a store (sk.open_store(path)), or the frame from "
    "sk.load_leads(client, campaign_id) (several campaigns: pl.concat of their frames)."
)
#: What a campaign deleted upstream is called in a report from a store that still holds it.
DELETED_SUFFIX = " (deleted upstream)"


@dataclass(frozen=True)
class Selection:
    """The data of one report."""

    leads: pl.DataFrame
    campaign_ids: tuple[str, ...]
    catalog: pl.DataFrame | None
    #: Where the leads came from, for the report header (never holds the key).
    source: str
    #: When the leads were loaded; None when a frame was passed in.
    pulled_at: datetime | None
    statuses: tuple[str, ...] | None
    #: True when every campaign of the source is in the report (``campaigns=None``).
    all_campaigns: bool
    demo: bool
    #: The data's "now", which relative windows ("30d") count back from: the source's clock
    #: when it was pulled (the API server's ``Date``; the demo's is frozen at its data's end),
    #: else the pull time; None: the latest timestamp in the leads.
    as_of: datetime | None = None
    #: Said in the report's banners (what the source left out, and why).
    notes: tuple[str, ...] = ()


def normalize_campaigns(campaigns: CampaignChoice) -> list[str] | None:
    """``campaigns=`` as a de-duplicated list of ids in the given order (None: all).

    >>> normalize_campaigns("683b61000000000000000001")
    ['683b61000000000000000001']
    >>> normalize_campaigns(None) is None
    True
    """
    if campaigns is None:
        return None
    if isinstance(campaigns, pl.DataFrame):
        if "campaign_id" not in campaigns.columns:
            raise BadRequestError(
                "campaigns= got a frame without a 'campaign_id' column",
                hint="Pass campaign ids, or a frame from sk.load_campaigns(client).",
            )
        values: list[object] = campaigns["campaign_id"].to_list()
    elif isinstance(campaigns, pl.Series):
        values = campaigns.to_list()
    elif isinstance(campaigns, str):
        values = [campaigns]
    elif isinstance(campaigns, Iterable):
        values = list(campaigns)
    else:
        raise BadRequestError(
            f"campaigns= must be a campaign id or a list of them, got {type(campaigns).__name__}",
            hint="Pass campaign ids, or a frame from sk.load_campaigns(client).",
        )
    bad = [v for v in values if not isinstance(v, str)]
    if bad:
        raise BadRequestError(
            f"campaign ids are strings, got {shown(bad[0])}",
            hint="Copy the ids from load_campaigns(client) or `sendkit-nb campaigns`.",
        )
    ids = list(dict.fromkeys(str(v) for v in values))
    if not ids:
        raise BadRequestError(
            "campaigns= is empty: name at least one campaign",
            hint="campaigns=None reports on every campaign of the source.",
        )
    return ids


def _check_catalog(catalog: object) -> pl.DataFrame:
    if not isinstance(catalog, pl.DataFrame) or not {"campaign_id", "name"} <= set(catalog.columns):
        raise BadRequestError(
            "catalog= must be a campaigns frame with 'campaign_id' and 'name' columns",
            hint="Pass sk.load_campaigns(client).",
        )
    return catalog


def _check_leads(leads: pl.DataFrame) -> None:
    missing = [c for c in REPORT_COLUMNS if c not in leads.columns]
    if missing:
        raise BadRequestError(
            f"report: the leads frame lacks the column(s) {', '.join(map(repr, missing))}",
            hint=_LEADS_HINT,
        )


def _empty_leads() -> pl.DataFrame:
    return pl.DataFrame(schema=LEADS_SCHEMA)


def select(
    source: object,
    campaigns: CampaignChoice,
    *,
    status: str | Sequence[str] | None,
    catalog: pl.DataFrame | None,
    progress: bool,
    pulled_at: datetime | None,
) -> Selection:
    """Validate the arguments (before any request), then gather the report's data."""
    statuses = _check_statuses(status)
    ids = normalize_campaigns(campaigns)
    if catalog is not None:
        catalog = _check_catalog(catalog)
    if isinstance(source, SendKitClient):
        return _from_client(source, ids, statuses, catalog, progress, pulled_at)
    if isinstance(source, pl.DataFrame):
        return _from_frame(source, ids, statuses, catalog, pulled_at)
    if isinstance(source, Store):
        return _from_store(source, ids, statuses, catalog, pulled_at)
    raise BadRequestError(
        f"report() needs a SendKitClient, a store or a leads frame, got {type(source).__name__}",
        hint=_LEADS_HINT,
    )


def _from_client(
    client: SendKitClient,
    ids: list[str] | None,
    statuses: list[str] | None,
    catalog: pl.DataFrame | None,
    progress: bool,
    pulled_at: datetime | None,
) -> Selection:
    if ids is not None:
        # Canonical (lower-case) ids, each once: the leads and the catalog spell them so.
        ids = list(dict.fromkeys(check_object_id(i) for i in ids))
    started = pulled_at or datetime.now(UTC)
    if catalog is None:
        catalog = load_campaigns(client)
    known = set(catalog["campaign_id"].to_list())
    if ids is None:
        ids = list(dict.fromkeys(catalog["campaign_id"].drop_nulls().to_list()))
        if not ids:
            raise BadRequestError(
                "nothing to report: this workspace has no campaigns",
                hint="Create a campaign in SendKit, or try the demo API: sk.connect(demo=True).",
            )
    missing = [i for i in ids if i not in known]
    if missing:
        # Not in the catalog given (or a campaign created since): ask for it by id, which
        # also turns a wrong id into the API's clear 404 before any lead is loaded.
        extra = campaigns_frame([client.campaign(i) for i in missing])
        catalog = pl.concat(
            [catalog.select(CAMPAIGNS_SCHEMA.names()), extra], how="vertical_relaxed"
        )
    frames = [load_leads(client, i, statuses, progress=progress) for i in ids]
    leads = pl.concat(frames, how="vertical") if frames else _empty_leads()
    if client.is_demo:
        source = "the embedded demo API (synthetic data)"
    else:
        source = f"the SendKit API at {client.base_url}"
    return Selection(
        leads=leads,
        campaign_ids=tuple(ids),
        catalog=catalog,
        source=source,
        pulled_at=started,
        statuses=tuple(statuses) if statuses else None,
        all_campaigns=campaigns_all(ids, catalog),
        demo=client.is_demo,
        as_of=client.server_time or started,
    )


def campaigns_all(ids: Sequence[str], catalog: pl.DataFrame | None) -> bool:
    if catalog is None:
        return False
    return set(ids) >= set(catalog["campaign_id"].drop_nulls().to_list())


def _from_frame(
    leads: pl.DataFrame,
    ids: list[str] | None,
    statuses: list[str] | None,
    catalog: pl.DataFrame | None,
    pulled_at: datetime | None,
) -> Selection:
    _check_leads(leads)
    present = list(dict.fromkeys(leads["campaign_id"].cast(pl.String).drop_nulls().to_list()))
    if ids is None:
        if not present:
            raise BadRequestError(
                "nothing to report: the leads frame has no rows",
                hint="Name the campaigns (and pass catalog=) to report on empty campaigns.",
            )
        ids = present
        all_campaigns = True
    else:
        listed = set(catalog["campaign_id"].to_list()) if catalog is not None else set()
        unknown = [i for i in ids if i not in present and i not in listed]
        if unknown:
            shown = ", ".join(present[:5]) + (" ..." if len(present) > 5 else "")
            raise BadRequestError(
                f"campaign {unknown[0]} is not in the leads frame"
                + (" nor in the catalog" if catalog is not None else ""),
                hint=f"The frame holds {len(present)} campaign(s): {shown or 'none'}.",
            )
        all_campaigns = set(ids) >= set(present)
    chosen = leads.with_columns(pl.col("campaign_id").cast(pl.String)).filter(
        pl.col("campaign_id").is_in(ids)
    )
    if statuses:
        chosen = chosen.filter(pl.col("status").cast(pl.String).is_in(statuses))
    return Selection(
        leads=chosen,
        campaign_ids=tuple(ids),
        catalog=catalog,
        source="a leads frame passed to report()",
        pulled_at=pulled_at,
        statuses=tuple(statuses) if statuses else None,
        all_campaigns=all_campaigns,
        demo=False,
        as_of=pulled_at,
    )


def _last_sync(store: Store, held: pl.DataFrame, notes: list[str]) -> datetime | None:
    """When the store was last synced, for the header. A report draws no trend, so the
    history (``syncs.parquet``) only dates it: a damaged one is said in a note, with how to mend
    it, and the date comes from the campaigns' latest pull instead of failing the report."""
    try:
        return store.pulled_at
    except StoreError as exc:
        notes.append(
            f"The store's sync history cannot be read ({exc.message}); the pull time shown is "
            f"the latest pull of its campaigns. {exc.hint}"
        )
    latest = held.get_column("pulled_at").max()
    return latest if isinstance(latest, datetime) else None


def _from_store(
    store: Store,
    ids: list[str] | None,
    statuses: list[str] | None,
    catalog: pl.DataFrame | None,
    pulled_at: datetime | None,
) -> Selection:
    """A store's leads, with its campaigns as the catalog and its last sync as the pull time.

    Campaigns deleted upstream: ``campaigns=None`` leaves them out (a note says how many and
    how to include them), as a report on the API would not list them; named by id they are
    reported, their name marked :data:`DELETED_SUFFIX`."""
    held = store.campaigns()
    pulled = held.filter(pl.col("leads").is_not_null())
    deleted = set(pulled.filter(pl.col("deleted").fill_null(False))["campaign_id"].to_list())
    notes: list[str] = []
    if ids is None:
        ids = [c for c in pulled["campaign_id"].to_list() if c not in deleted]
        if not ids:
            raise BadRequestError(
                f"nothing to report: the store at {store.path} holds no campaign the API "
                "still lists" + (" (only deleted ones: name them by id)" if deleted else ""),
                hint="Fill it with sk.sync(client, path) or `sendkit-nb sync --store DIR`.",
            )
        if deleted:
            count = len(deleted)
            notes.append(
                f"{count} campaign{'s' if count != 1 else ''} deleted upstream but kept in the "
                f"store {'is' if count == 1 else 'are'} left out; name "
                f"{'it' if count == 1 else 'them'} by id (campaigns=) to include "
                f"{'it' if count == 1 else 'them'}."
            )
        all_campaigns = True
    else:
        ids = list(dict.fromkeys(check_object_id(i) for i in ids))
        all_campaigns = set(ids) >= set(pulled["campaign_id"].to_list()) - deleted
    leads = store.leads(ids, status=statuses)  # an id the store never pulled: a clear error
    if catalog is None:
        catalog = held.with_columns(
            name=pl.when(pl.col("deleted").fill_null(False))
            .then(pl.col("name").fill_null(pl.col("campaign_id")) + DELETED_SUFFIX)
            .otherwise(pl.col("name"))
        )
    when = pulled_at or _last_sync(store, held, notes)
    shown = f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when is not None else "never"
    # A store synced from the demo API holds its synthetic data: the report says so, as the
    # report from the demo API itself does.
    demo = store.is_demo
    origin = " (synced from the embedded demo API: synthetic data)" if demo else ""
    return Selection(
        leads=leads,
        campaign_ids=tuple(ids),
        catalog=catalog,
        source=f"a local store at {store.path}{origin}, pulled {shown}",
        pulled_at=when,
        statuses=tuple(statuses) if statuses else None,
        all_campaigns=all_campaigns,
        demo=demo,
        # The oldest check of the campaigns reported: a window never claims days one of them
        # was not synced for (a sync of some campaigns leaves the others' clocks as they were).
        as_of=store.as_of_for(ids),
        notes=tuple(notes),
    )
