"""The ``sendkit-nb`` command line: a thin front end over the loader, the metrics and the report.

The API key comes from ``SENDKIT_API_KEY`` only (a flag would land in shell history);
``--demo`` runs on the embedded demo API. Every error ends in a one-line message on stderr and
exit status 1 (2 for a malformed command line), never a traceback.

Output files (``-o``) are checked before anything is loaded and replaced atomically (see
``sendkit_nb._files``); missing folders are created, and each creation is said on stderr.
Tables and progress bars size campaign names to the terminal (``shutil.get_terminal_size``,
which honours ``COLUMNS``).

``sync`` keeps a local store (``sendkit_nb._store``) up to date, and ``report --from DIR``
builds the report from a store with no key and no network.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import polars as pl

from sendkit_nb._checks import check_object_id, check_path, check_text, statuses_from_args
from sendkit_nb._client import SendKitClient, check_seconds
from sendkit_nb._connect import connect
from sendkit_nb._errors import (
    AuthenticationError,
    BadRequestError,
    DeadlineExceededError,
    IncompleteLoadError,
    SchemaError,
    SendKitError,
)
from sendkit_nb._files import check_writable, make_parents
from sendkit_nb._frames import (
    IncompleteLoadWarning,
    campaigns_frame,
    list_campaigns,
    load_campaigns,
    load_leads,
)
from sendkit_nb._present import fmt_int, fmt_seconds
from sendkit_nb._progress import Progress
from sendkit_nb._schema import LEAD_STATUSES
from sendkit_nb._store_files import write_leads

__all__ = ["main"]

_STATUS_HELP = (
    f"only leads with this status (repeatable, or comma-separated): {', '.join(LEAD_STATUSES)}"
)
_LEADS_SUFFIXES = (".parquet", ".csv")
_OUTPUT_NOTE = (
    "The output path is checked before anything is loaded. The file is written to a temporary "
    "file next to it and renamed into place only when complete, so a failed run leaves an "
    "existing file as it was. Missing folders are created, and each creation is said on stderr "
    "('created folder X')."
)


def _client(args: argparse.Namespace) -> SendKitClient:
    if args.demo:
        client = connect(demo=True)
    elif not os.environ.get("SENDKIT_API_KEY"):
        raise BadRequestError(
            "no API key: set SENDKIT_API_KEY (never pass keys as flags), or add --demo",
            hint="`sendkit-nb leads --all --demo -o leads.parquet` runs on synthetic data.",
        )
    else:
        client = connect(demo=False)
    # Without one a server that drips its body byte by byte holds the command for ever (the
    # timeout bounds each read, not their sum): a cron job wants to give up and say so.
    client.deadline = args.deadline
    return client


def _seconds(text: str) -> float:
    """``--deadline``'s value, by the client's own rule for seconds (positive, finite)."""
    try:
        return check_seconds(float(text), "--deadline")
    except (ValueError, BadRequestError):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}") from None


# -- terminal widths ------------------------------------------------------------------------------

#: Names are never cut shorter than this in tables (the width they had before tables were
#: sized to the terminal); a wider terminal shows more, up to the whole name.
_MIN_NAME = 32
#: Progress bar labels: at least this much of the name, and room left for the bar's counts.
_MIN_LABEL, _BAR_ROOM = 20, 60


def _columns() -> int:
    """The terminal's width (``COLUMNS`` first; 80 when stdout is not a terminal)."""
    return shutil.get_terminal_size().columns


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "\u2026"


def _table_config(rows: int, name_width: int) -> pl.Config:
    return pl.Config(
        tbl_rows=max(rows, 1),
        tbl_cols=-1,
        # Wide enough never to wrap a cell: the names are cut here, to the terminal, instead.
        tbl_width_chars=10_000,
        fmt_str_lengths=max(name_width, _MIN_NAME),
        tbl_hide_dataframe_shape=True,
    )


def _print_table(frame: pl.DataFrame, name: str = "name") -> None:
    """Print ``frame`` whole, its ``name`` column as wide as the terminal allows (never
    narrower than ``_MIN_NAME``, so a narrow terminal shows what it always did)."""
    # The width of everything but the names: the table drawn with blank names.
    with _table_config(frame.height, _MIN_NAME):
        blank = str(frame.with_columns(pl.lit("", pl.String).alias(name)))
    # A blank name column is as wide as its header, "---" or "str".
    rest = len(blank.splitlines()[0]) - max(len(name), 3)
    width = max(_MIN_NAME, _columns() - rest)
    names = pl.col(name)
    cut = frame.with_columns(
        pl.when(names.str.len_chars() > width)
        .then(names.str.slice(0, width - 1) + "\u2026")
        .otherwise(names)
        .alias(name)
    )
    with _table_config(frame.height, width):
        print(cut)


def _label(name: str) -> str:
    """A progress bar label: the campaign name, cut to leave the bar its room."""
    return _cut(name, max(_MIN_LABEL, _columns() - _BAR_ROOM))


# -- campaigns and workspaces -------------------------------------------------------------------


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _lead_count(item: dict[str, Any]) -> int | None:
    """The campaign's lead count as its list item carries it: ``leadCounts.total`` (the
    detail shape, which the demo's list items share) or ``stats.totalLeads`` (the newer list
    shape); None when the item has neither."""
    for group, key in (("leadCounts", "total"), ("stats", "totalLeads")):
        values = item.get(group)
        if isinstance(values, dict):
            count = _count(values.get(key))
            if count is not None:
                return count
    return None


def _date(column: str, alias: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%Y-%m-%d").fill_null("-").alias(alias)


def _cmd_campaigns(args: argparse.Namespace) -> int:
    with _client(args) as client:
        items = list_campaigns(
            client, status=args.status, search=args.search, deadline=client.deadline_at()
        )
    campaigns = campaigns_frame(items).with_columns(
        pl.Series("leads", [_lead_count(item) for item in items], dtype=pl.Int64)
    )
    _print_table(
        campaigns.select(
            "campaign_id",
            "name",
            "status",
            "leads",
            _date("created_at", "created"),
            _date("started_at", "started"),
        )
    )
    return 0


def _cmd_workspaces(args: argparse.Namespace) -> int:
    with _client(args) as client:
        items = client.workspaces()
        platform = client.is_platform_key
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise SchemaError("unexpected workspaces response: expected a list of objects")
    rows = []
    for item in items:
        usage = item.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        workspace_id = item.get("id", item.get("_id"))
        rows.append(
            {
                "workspace_id": None if workspace_id is None else str(workspace_id),
                "name": None if item.get("name") is None else str(item["name"]),
                "campaigns": _count(usage.get("totalCampaigns")),
                "leads": _count(usage.get("totalLeads")),
            }
        )
    schema = {
        "workspace_id": pl.String,
        "name": pl.String,
        "campaigns": pl.Int64,
        "leads": pl.Int64,
    }
    _print_table(pl.DataFrame(rows, schema=schema))
    if platform:
        print(
            "sendkit-nb: set SENDKIT_WORKSPACE_ID to one of these ids to use this platform key "
            "with the other commands",
            file=sys.stderr,
        )
    return 0


def _check_output(path: Path) -> Path:
    """Everything about an output path that can fail, checked before any request: a bad path
    must not cost a whole load."""
    if path.suffix.lower() not in _LEADS_SUFFIXES:
        raise BadRequestError(
            f"cannot write {path.name}: the output must end in .parquet or .csv",
            hint="For example -o leads.parquet",
        )
    return check_writable(path)


def _make_parents(path: Path) -> None:
    """Create the output's missing folders (only once there is something to write), and say
    so: a folder appearing in silence hides a typo in the path."""
    created = make_parents(path)
    if created is not None:
        print(f"sendkit-nb: created folder {created}", file=sys.stderr)


def _write(frame: pl.DataFrame, path: Path, campaigns: pl.DataFrame) -> None:
    """Parquet with the campaigns (names, sequences) in its metadata, so that
    ``sk.read_leads``/``sk.read_campaigns`` give both back; CSV, which has no nested types,
    as one row per email (``sendkit_nb._store_files``), which ``sk.read_leads`` reads back."""
    _make_parents(path)
    write_leads(frame, path, campaigns)


def _statuses(args: argparse.Namespace) -> list[str] | None:
    """``--status a --status b,c`` as a checked list (None: every status), by the rule the
    magics' ``--status`` follows too."""
    checked = statuses_from_args(args.status)
    return None if checked is None else list(checked)


def _campaign_ids(args: argparse.Namespace) -> list[str] | None:
    """The campaign ids named on the command line (None with ``--all``), checked before any
    request so that a typo fails fast."""
    if args.all and args.campaigns:
        raise BadRequestError(
            "name campaign ids or --all, not both",
            hint="Drop --all to take only the ids named, or drop the ids to take every campaign.",
        )
    if args.all:
        return None
    if not args.campaigns:
        raise BadRequestError(
            "name at least one campaign id, or --all",
            hint="`sendkit-nb campaigns` lists the ids.",
        )
    # Normalised before de-duplicating: the same id typed in two cases is one campaign.
    return list(dict.fromkeys(check_object_id(c) for c in args.campaigns))


class _CampaignBar:
    """A tqdm bar labelled with the campaign's name, fed through ``load_leads``' progress
    function (the loader's own bars can only say ``leads 000001``)."""

    def __init__(self, label: str) -> None:
        from tqdm.auto import tqdm

        self._label = label
        self._bar: Any = tqdm(desc=label, unit=" leads", leave=True, dynamic_ncols=True)
        self._pages = 0

    def __call__(self, done: int, total: int | None) -> None:
        if done < self._bar.n:
            # The loader's second walk, by cursor, counts from zero again.
            self._bar.reset(total=total)
            self._bar.set_description(f"{self._label} (again, by cursor)", refresh=False)
            self._pages = 0
        self._pages += 1
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.set_postfix(pages=self._pages, refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


@contextmanager
def _progress(label: str, show: bool) -> Iterator[Progress]:
    """``progress=`` for one load: a bar named ``label``, or False for none."""
    if not show:
        yield False
        return
    bar = _CampaignBar(label)
    try:
        yield bar
    finally:
        bar.close()


@dataclass
class _Load:
    """What the ``leads`` command loaded of one campaign."""

    campaign_id: str
    frame: pl.DataFrame
    #: The loader's warnings of a short load (``--allow-partial``), one per status walked.
    short: list[str] = field(default_factory=list)


def _load_campaign(
    client: SendKitClient,
    campaign_id: str,
    name: str,
    statuses: list[str] | None,
    *,
    show_progress: bool,
    strict: bool,
) -> _Load:
    """One campaign's leads, one ``load_leads`` call per status so that each bar says which
    status it counts (as the loader's own bars do); a lead can be in one status only, but
    one that changed status between the walks is kept once, as the loader keeps it."""
    frames = []
    short: list[str] = []
    walks: list[str | None] = [*statuses] if statuses else [None]
    for status in walks:
        label = _label(name) + (f" [{status}]" if status else "")
        with (
            _progress(label, show_progress) as progress,
            warnings.catch_warnings(record=True) as seen,
        ):
            warnings.simplefilter("always", IncompleteLoadWarning)
            frames.append(load_leads(client, campaign_id, status, progress=progress, strict=strict))
        for warning in seen:
            if issubclass(warning.category, IncompleteLoadWarning):
                short.append(_one_line(str(warning.message)))
                print(f"sendkit-nb: warning: {short[-1]}", file=sys.stderr)
            else:
                warnings.showwarning(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
    if len(frames) == 1:
        return _Load(campaign_id, frames[0], short)
    leads = pl.concat(frames, how="vertical")
    if leads.get_column("id").n_unique() != leads.height:
        leads = leads.unique(subset="id", keep="first", maintain_order=True)
    return _Load(campaign_id, leads.rechunk(), short)


def _why_empty(statuses: list[str] | None) -> str:
    if not statuses:
        return "no leads"
    return f"no leads with status {' or '.join(statuses)}"


def _cmd_leads(args: argparse.Namespace) -> int:
    output = _check_output(check_path(args.output, "-o", example="leads.parquet"))
    wanted = _campaign_ids(args)
    statuses = _statuses(args)
    from sendkit_nb._present import headline_table
    from sendkit_nb.metrics import headline

    with _client(args) as client:
        campaigns = load_campaigns(client)
        names = dict(zip(campaigns["campaign_id"], campaigns["name"], strict=True))
        states = dict(zip(campaigns["campaign_id"], campaigns["status"], strict=True))
        ids = list(names) if wanted is None else wanted
        if not ids:
            raise BadRequestError(
                "nothing to write: the workspace has no campaigns",
                hint="`sendkit-nb campaigns` lists them; check SENDKIT_WORKSPACE_ID.",
            )
        loads = [
            _load_campaign(
                client,
                campaign_id,
                names.get(campaign_id) or campaign_id,
                statuses,
                show_progress=not args.no_progress,
                strict=not args.allow_partial,
            )
            for campaign_id in ids
        ]
    leads = pl.concat([load.frame for load in loads])
    _write(leads, output, campaigns.filter(pl.col("campaign_id").is_in(ids)))
    # Rates printed as every front end prints them, under labels that name their denominator.
    _print_table(headline_table(headline(leads), names))
    rows = ""
    if output.suffix.lower() == ".csv":
        emails = leads.get_column("emails").list.len().clip(lower_bound=1).sum()
        rows = f" (one row per email: {fmt_int(emails)} rows; sk.read_leads reads it back)"
    print(f"wrote {leads.height} leads of {len(ids)} campaign(s) to {output}{rows}")
    _say_left_out(loads, names, states, statuses)
    return 0


def _describe_campaign(campaign_id: str, names: dict[str, str], states: dict[str, str]) -> str:
    name = names.get(campaign_id)
    state = states.get(campaign_id)
    details = ", ".join(x for x in (campaign_id, state) if x)
    return f"{name} ({details})" if name else details


def _say_left_out(
    loads: Sequence[_Load],
    names: dict[str, str],
    states: dict[str, str],
    statuses: list[str] | None,
) -> None:
    """After the summary: the campaigns it has no row for (nothing to write), and why; and on
    stderr, the campaigns written short (``--allow-partial``)."""
    empty = [load.campaign_id for load in loads if load.frame.height == 0]
    if empty:
        print(
            f"left out {len(empty)} of {len(loads)} campaign(s), with nothing to write "
            "(not in the file or the table above):"
        )
        for campaign_id in empty:
            print(f"  {_describe_campaign(campaign_id, names, states)}: {_why_empty(statuses)}")
    short = [load.campaign_id for load in loads if load.short]
    if short:
        listed = "; ".join(_describe_campaign(c, names, states) for c in short)
        print(
            f"sendkit-nb: warning: wrote fewer leads than the API announced for {len(short)} "
            f"campaign(s) (--allow-partial): {listed}",
            file=sys.stderr,
        )


def _cmd_report(args: argparse.Namespace) -> int:
    # Everything that can be checked without the network is checked first.
    from sendkit_nb._report import _require, check_report_path

    output = check_writable(check_report_path(check_path(args.output, "-o", example="report.html")))
    store = None if args.store is None else check_path(args.store, "--from")
    # Refused here rather than defaulted: `--title "$TITLE"` with TITLE unset is a mistake.
    check_text(args.title, "--title", example="Q3 outbound")
    if store is not None:
        if args.demo:
            raise BadRequestError(
                "--from reads a store and uses no API: drop --demo",
                hint="`sendkit-nb sync --demo --store DIR` fills a store from the demo API.",
            )
        ids = None if args.all or not args.campaigns else _campaign_ids(args)
    else:
        ids = _campaign_ids(args)
    statuses = _statuses(args)
    _require("plotly", "jinja2")
    from sendkit_nb._report import report, write_report

    options: dict[str, Any] = {
        "status": statuses,
        "title": args.title,
        "metric": args.metric,
        "denominator": args.denominator,
        "progress": not args.no_progress,
        "since": args.since,
        "until": args.until,
    }
    if store is not None:
        html = _report_from_store(store, ids, options)
    else:
        with _client(args) as client:
            # The path is None: written below, once the missing folders are created and said.
            html = report(client, ids, None, **options).as_raw_html()
    _make_parents(output)
    write_report(html, output)
    size = len(html.encode("utf-8"))
    print(f"wrote {output.resolve()} ({size / 1e6:.1f} MB; open it in any browser, offline)")
    return 0


def _report_from_store(root: Path, ids: list[str] | None, options: dict[str, Any]) -> str:
    """The report's HTML from a store (``sk.report(store)``: its campaigns give the names and
    steps, its last sync the pull time; campaigns deleted upstream are left out with a note
    unless named). No client, no request."""
    from sendkit_nb._report import report
    from sendkit_nb._store import open_store

    return report(open_store(root), ids, None, **options).as_raw_html()


#: Campaigns listed per group (fetched, failed, deleted) in the sync summary before "and N more".
_SYNC_LISTED = 10


def _cmd_sync(args: argparse.Namespace) -> int:
    from sendkit_nb._store import open_store
    from sendkit_nb._store_sync import HistoryResetWarning, history_reset_note, sync

    wanted = list(dict.fromkeys(check_object_id(c) for c in args.campaign or [])) or None
    root = check_path(args.store, "--store")
    # No key: an error before any folder is made. A folder that cannot be a store, or a store
    # of the other kind (demo or real), fails in sync() before any request.
    with _client(args) as client, warnings.catch_warnings():
        # Said below, on one line of our own, rather than as Python's warning.
        warnings.simplefilter("ignore", HistoryResetWarning)
        result = sync(client, root, wanted, full=args.full, progress=not args.no_progress)
    if result.history_set_aside is not None:
        note = history_reset_note(result.history_set_aside)
        print(f"sendkit-nb: warning: {note}", file=sys.stderr)
    store = open_store(root)
    catalog = store.campaigns()
    names = dict(zip(catalog["campaign_id"], catalog["name"], strict=True))
    leads = dict(zip(catalog["campaign_id"], catalog["leads"], strict=True))
    print(repr(store))
    print(
        f"this sync: {fmt_int(len(result.fetched))} fetched, {fmt_int(len(result.skipped))} "
        f"unchanged, {fmt_int(len(result.failed))} failed"
        + (f", {fmt_int(len(result.deleted))} deleted upstream" if result.deleted else "")
        + f"; {fmt_int(result.leads_written)} leads written in {fmt_seconds(result.seconds)}"
    )
    width = max(_MIN_LABEL, _columns() - 50)

    def listed(title: str, rows: list[str]) -> None:
        if not rows:
            return
        print(f"{title}:")
        for row in rows[:_SYNC_LISTED]:
            print(f"  {row}")
        if len(rows) > _SYNC_LISTED:
            print(f"  ... and {fmt_int(len(rows) - _SYNC_LISTED)} more")

    def who(campaign_id: str) -> str:
        return f"{_cut(names.get(campaign_id) or '(unnamed)', width)} ({campaign_id})"

    listed(
        "fetched",
        [f"{who(c)}: {fmt_int(leads.get(c))} leads" for c in result.fetched],
    )
    listed("deleted upstream (leads kept)", [who(c) for c in result.deleted])
    listed(
        "failed (left as they were)",
        [f"{c}: {_sync_failure(c, e, args)}" for c, e in result.failed.items()],
    )
    if result.failed:
        print(
            f"sendkit-nb: error: {len(result.failed)} campaign(s) failed to sync; the store "
            "keeps their previous leads and the next sync retries them",
            file=sys.stderr,
        )
        return 1
    return 0


def _sync_again(args: argparse.Namespace, campaign_id: str) -> str:
    """The command that syncs one campaign of this sync's store again."""
    demo = " --demo" if args.demo else ""
    return (
        f"sendkit-nb sync{demo} --store {shlex.quote(args.store)} --full --campaign {campaign_id}"
    )


def _sync_failure(campaign_id: str, text: str, args: argparse.Namespace) -> str:
    """One failed campaign's line: the error's text (``SyncResult.failed``), with the hint
    of a campaign that changed while it was pulled (``pull_again_hint``, a Python call) given
    as the command that pulls it again."""
    from sendkit_nb._store_sync import pull_again_hint

    line = _one_line(text)
    short_load = f". Hint: {_one_line(pull_again_hint(campaign_id))}"
    if line.endswith(short_load):
        line = line.removesuffix(short_load) + (
            ". Hint: The campaign changed while it was being pulled (the store keeps what it "
            f"had of it). Pull it again: `{_sync_again(args, campaign_id)}`."
        )
    return line


def _cmd_demo_server(args: argparse.Namespace) -> int:
    from sendkit_nb.demo.__main__ import main as demo_main

    # Every command takes --demo; for the demo server it is what it does anyway (main() drops
    # it from the arguments).
    code: int = demo_main(args.demo_args)
    return code


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block), so every failure reads the same."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def _add_campaign_choice(command: argparse.ArgumentParser) -> None:
    """The campaign ids (or ``--all``) a command works on; :func:`_campaign_ids` reads them."""
    command.add_argument("campaigns", nargs="*", metavar="CAMPAIGN", help="campaign ids")
    command.add_argument("--all", action="store_true", help="every campaign of the workspace")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--demo", action="store_true", help="use the embedded demo API (synthetic data, no key)"
    )
    common.add_argument("--no-progress", action="store_true", help="hide progress bars")
    common.add_argument(
        "--deadline",
        type=_seconds,
        metavar="SECONDS",
        help="give up a call to the API (the campaigns list, one campaign's leads), retries "
        "and waits included, after this many seconds (default: no limit)",
    )
    parser = _Parser(
        prog="sendkit-nb",
        description="SendKit campaign analytics. The API key is read from SENDKIT_API_KEY "
        "(SENDKIT_BASE_URL and SENDKIT_WORKSPACE_ID optional).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    campaigns = sub.add_parser(
        "campaigns",
        parents=[common],
        help="list campaigns, with their lead counts and dates",
        description="List the workspace's campaigns: id, name, status, lead count (as the API "
        "lists it) and the dates each was created and started (UTC).",
    )
    campaigns.add_argument("--status", help="draft, active, paused, completed or archived")
    campaigns.add_argument("--search", help="part of the campaign name")
    campaigns.set_defaults(run=_cmd_campaigns)

    workspaces = sub.add_parser(
        "workspaces",
        parents=[common],
        help="list the workspaces the key can use (for SENDKIT_WORKSPACE_ID)",
        description="List the workspaces the key can use. A platform key (sk_user_...) needs "
        "one of these ids in SENDKIT_WORKSPACE_ID for every other command; a workspace key "
        "lists its own.",
    )
    workspaces.set_defaults(run=_cmd_workspaces)

    leads = sub.add_parser(
        "leads",
        parents=[common],
        help="write campaign leads to a file",
        description="Write every lead of the chosen campaigns to one .parquet or .csv file and "
        "print a per-campaign summary, then the campaigns left out of it (no leads to write) "
        "and why. A load that ends with fewer leads than the API announced is an error (exit "
        "status 1), not a short file, unless --allow-partial is given. Parquet carries the "
        "campaigns (names, sequences) in its metadata (sk.read_leads / sk.read_campaigns read "
        "them back); CSV, which cannot nest a lead's emails, has one row per email (a lead "
        "without emails once), which sk.read_leads folds back into one row per lead. "
        f"{_OUTPUT_NOTE}",
    )
    _add_campaign_choice(leads)
    leads.add_argument("--status", action="append", help=_STATUS_HELP)
    leads.add_argument(
        "-o",
        "--output",
        required=True,
        help="file ending in .parquet or .csv (replaced atomically; missing folders are created)",
    )
    leads.add_argument(
        "--allow-partial",
        action="store_true",
        help="write what a short load got (fewer leads than the API announced), with a warning "
        "on stderr, instead of exiting with status 1",
    )
    leads.set_defaults(run=_cmd_leads)

    report = sub.add_parser(
        "report",
        parents=[common],
        help="write one offline HTML report (KPIs, funnels, A/B tests, charts)",
        description="Write a single self-contained HTML report: no network or kernel needed "
        f"to open it, and never the API key. {_OUTPUT_NOTE}",
    )
    _add_campaign_choice(report)
    report.add_argument(
        "--from",
        dest="store",
        metavar="DIR",
        help="build the report from the store in DIR (written by `sendkit-nb sync`), with no "
        "API key and no network; every campaign in it unless CAMPAIGN ids are given",
    )
    report.add_argument("--status", action="append", help=_STATUS_HELP)
    report.add_argument(
        "-o",
        "--output",
        required=True,
        help="file ending in .html (replaced atomically; missing folders are created)",
    )
    report.add_argument(
        "--since",
        metavar="WHEN",
        help="only emails sent from then on, and the replies to them: a date (2025-06-01), an "
        "ISO time, or a span before the data's pull time (30d, 4w, 3m)",
    )
    report.add_argument(
        "--until", metavar="WHEN", help="only emails sent before then (a date counts whole)"
    )
    report.add_argument("--title", help="the report's title")
    report.add_argument(
        "--metric",
        default="reply",
        choices=["open", "click", "reply", "positive"],
        help="the rate the A/B test compares (default: reply)",
    )
    report.add_argument(
        "--denominator",
        default="delivered",
        choices=["delivered", "sent", "opened"],
        help="what the open/click/reply/positive rates are over (default: delivered)",
    )
    report.set_defaults(run=_cmd_report)

    sync_ = sub.add_parser(
        "sync",
        parents=[common],
        help="bring a local store of the workspace up to date (only what changed)",
        description="Pull the workspace's campaigns into a store folder of parquet files "
        "(campaigns.parquet, leads/campaign_id=<id>/data.parquet, syncs.parquet), fetching "
        "only the campaigns whose status, counts or update time changed since their last "
        "pull. A campaign that fails is left as it was (exit status 1, and the next sync "
        "retries it); one deleted upstream is marked, not dropped. `sendkit-nb report --from "
        "DIR` builds the report from the store offline.",
    )
    sync_.add_argument(
        "--store",
        default="sendkit-data",
        metavar="DIR",
        help="the store folder (default: sendkit-data; created if missing or empty)",
    )
    sync_.add_argument("--full", action="store_true", help="pull every campaign, changed or not")
    sync_.add_argument(
        "--campaign",
        action="append",
        metavar="ID",
        help="only this campaign (repeatable); default: every campaign of the workspace",
    )
    sync_.set_defaults(run=_cmd_sync)

    demo = sub.add_parser(
        "demo-server",
        help="serve the demo API on 127.0.0.1 (options: see `sendkit-nb demo-server -h`)",
        add_help=False,
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER)
    demo.set_defaults(run=_cmd_demo_server)
    return parser


def _version() -> str:
    """The installed distribution's version, else the package's own (a source checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sendkit_nb")
    except PackageNotFoundError:
        from sendkit_nb._version import __version__

        return __version__


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error_line(exc: SendKitError, command: str | None) -> str:
    """The error's one line, its hint rewritten where the library's hint names an argument a
    command-line user cannot pass."""
    hint = exc.hint
    if isinstance(exc, IncompleteLoadError):
        if command == "leads":
            hint = "The campaign may have changed while loading: retry, or rerun with "
            hint += "--allow-partial to keep the partial file."
        else:
            hint = "The campaign may have changed while loading: retry (`sendkit-nb leads "
            hint += "--allow-partial` writes a partial leads file)."
    elif isinstance(exc, DeadlineExceededError):
        hint = "Raise --deadline (or leave it out for no limit) for very large campaigns or "
        hint += "slow links."
    elif isinstance(exc, AuthenticationError | BadRequestError) and "client.workspaces()" in hint:
        hint = "Set SENDKIT_WORKSPACE_ID; `sendkit-nb workspaces` lists the ids this key can use."
    if hint != exc.hint:
        exc.hint = hint
    return _one_line(str(exc))


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["demo-server"]:
        # Everything after the command belongs to the demo server's own parser: argparse's
        # REMAINDER does not pass on options such as --port when they come first.
        rest = [a for a in args_list[1:] if a != "--demo"]
        args = argparse.Namespace(run=_cmd_demo_server, demo_args=rest)
    else:
        args = _parser().parse_args(args_list)
    try:
        code: int = args.run(args)
    except SendKitError as exc:
        line = _error_line(exc, getattr(args, "command", None))
        print(f"sendkit-nb: error: {line}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A file that cannot be written (permissions, a folder in the way, a full disk).
        print(f"sendkit-nb: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sendkit-nb: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A bug, not a usage problem: still one line, with a way to see the details.
        if os.environ.get("SENDKIT_NB_DEBUG"):
            raise
        print(
            f"sendkit-nb: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            "(set SENDKIT_NB_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
