"""The IPython extension: ``%load_ext sendkit_nb`` registers the ``%sendkit`` line magic.

::

    %sendkit campaigns [--status STATUS] [--search TEXT] [--demo]
    %sendkit leads CAMPAIGN [--status STATUS ...] [--quiet] [--demo]
    %sendkit dashboard [CAMPAIGN] [--status STATUS ...] [--store DIR [--offline]] [--demo]
    %sendkit --help            (or %sendkit SUBCOMMAND --help)

Loading also switches plotly's default renderer to ``plotly_mimetype+sendkit_offline`` (see
``sk.use_offline_renderer``): JupyterLab draws figures from the plotly mimetype, and the
``text/html`` copy (plotly.js embedded once; unlike plotly's own ``notebook`` renderer, no
MathJax from a CDN) is what ``jupyter nbconvert --to html`` keeps, so exported notebooks show
their charts offline. ``%unload_ext sendkit_nb`` restores the previous renderer and removes
the magic.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from sendkit_nb._checks import check_object_id, object_id_or_none, shown, statuses_from_args
from sendkit_nb._connect import connect
from sendkit_nb._errors import BadRequestError, SendKitError
from sendkit_nb._schema import CAMPAIGN_STATUSES, LEAD_STATUSES

if TYPE_CHECKING:
    import polars as pl

    from sendkit_nb._client import SendKitClient
    from sendkit_nb.widgets import Dashboard

from sendkit_nb._renderer import NOTEBOOK_RENDERERS, use_offline_renderer

__all__ = ["RENDERER", "SendKitMagics", "load_ipython_extension", "unload_ipython_extension"]

#: plotly renderer while the extension is loaded: the plotly mimetype for JupyterLab, plus a
#: text/html copy with plotly.js embedded (not from a CDN) for nbconvert and offline viewing.
RENDERER = NOTEBOOK_RENDERERS


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as an IPython ``UsageError`` (one clean line
    in the notebook) instead of exiting the kernel process's argparse way."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage().strip()}")


class _HelpShown(Exception):
    """``--help`` was printed; the magic returns nothing."""


class _HelpAction(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show this help and return")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.print_help()
        raise _HelpShown


def build_parser() -> argparse.ArgumentParser:
    """The ``%sendkit`` command line (also used to print ``--help``)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "--demo",
        action="store_true",
        help="use the embedded demo API (synthetic data) even when SENDKIT_API_KEY is set",
    )
    parser = _Parser(
        prog="%sendkit",
        description="SendKit campaigns in the notebook. Without SENDKIT_API_KEY every command "
        "runs on the embedded demo API. One client per IPython session.",
        add_help=False,
    )
    parser.add_argument("-h", "--help", action=_HelpAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add_command(
        name: str, summary: str, description: str | None = None, *, demo_option: bool = True
    ) -> _Parser:
        """A subcommand whose ``-h`` prints its help and returns (argparse's own would exit
        the kernel), with the shared ``--demo`` option unless ``demo_option=False``."""
        command = sub.add_parser(
            name,
            parents=[common] if demo_option else [],
            add_help=False,
            help=summary,
            description=description,
        )
        command.add_argument("-h", "--help", action=_HelpAction)
        return command

    campaigns = add_command(
        "campaigns",
        "the campaigns list as a polars DataFrame",
        "Return every campaign of the workspace (one row each, with its sequence).",
    )
    campaigns.add_argument("--status", choices=CAMPAIGN_STATUSES, help="only this status")
    campaigns.add_argument("--search", metavar="TEXT", help="only names containing TEXT")

    leads = add_command(
        "leads",
        "every lead of a campaign as a polars DataFrame",
        "Return every lead of CAMPAIGN (its 24-character id, or its exact name).",
    )
    leads.add_argument("campaign", metavar="CAMPAIGN", help="campaign id or exact name")
    leads.add_argument(
        "--status",
        nargs="+",
        metavar="STATUS",
        help=f"only leads with these statuses ({', '.join(LEAD_STATUSES)}); "
        "space- or comma-separated",
    )
    leads.add_argument("--quiet", action="store_true", help="no progress bar")

    dash = add_command(
        "dashboard",
        "the interactive dashboard",
        "Open the campaign dashboard (pickers, KPIs, charts, lead table, export).",
    )
    dash.add_argument("campaign", nargs="?", metavar="CAMPAIGN", help="campaign to open first")
    dash.add_argument("--status", nargs="+", metavar="STATUS", help="initial status filter")
    dash.add_argument(
        "--store",
        metavar="DIR",
        help="read the campaigns from the workspace store DIR (sk.sync); Refresh syncs it "
        "(a folder that is not a store yet is synced first)",
    )
    dash.add_argument(
        "--offline",
        action="store_true",
        help="with --store: read the store only, no client and no request (Refresh and the "
        "senders are then unavailable)",
    )

    add_command("help", "show this help", demo_option=False)
    return parser


@magics_class
class SendKitMagics(Magics):
    """The ``%sendkit`` magic and the session's clients."""

    def __init__(self, shell: Any, previous_renderer: str | None = None) -> None:
        super().__init__(shell)
        self._clients: dict[bool, SendKitClient] = {}
        self.previous_renderer = previous_renderer
        self.parser = build_parser()

    # The docstring is what `%sendkit?` shows.
    @line_magic
    def sendkit(self, line: str) -> Any:
        """SendKit campaigns in the notebook.

        %sendkit campaigns [--status STATUS] [--search TEXT] [--demo]
            The campaigns list (polars DataFrame).
        %sendkit leads CAMPAIGN [--status STATUS ...] [--quiet] [--demo]
            Every lead of CAMPAIGN (id or exact name) as a polars DataFrame.
        %sendkit dashboard [CAMPAIGN] [--status STATUS ...] [--store DIR [--offline]] [--demo]
            The interactive dashboard (on a workspace store with --store: synced on Refresh,
            or read with no request at all with --offline).
        %sendkit --help, %sendkit COMMAND --help
            Usage.

        Without SENDKIT_API_KEY (or with --demo) the embedded demo API is used.
        """
        try:
            args = self.parser.parse_args(shlex.split(line))
        except _HelpShown:
            return None
        except ValueError as exc:  # shlex: unbalanced quotes
            raise UsageError(f"%sendkit: {exc}") from None
        if args.command in (None, "help"):
            self.parser.print_help()
            return None
        try:
            if args.command == "campaigns":
                return self.campaigns(args.status, args.search, demo=args.demo)
            # ``--status a b`` and ``--status a,b`` both work; checked here by the CLI's rule, so
            # that `leads` and `dashboard` treat one --status the same way (the dashboard
            # object alone reads an empty filter as "every status").
            statuses = statuses_from_args(args.status)
            if args.command == "leads":
                return self.leads(args.campaign, statuses, demo=args.demo, progress=not args.quiet)
            return self.dashboard(
                args.campaign, statuses, demo=args.demo, store=args.store, offline=args.offline
            )
        except SendKitError as exc:
            # The API's message and hint, without a traceback through the HTTP layer.
            raise UsageError(str(exc)) from None

    # -- the commands (plain methods, so they can be called and tested directly) ----------------

    def client(self, *, demo: bool = False) -> SendKitClient:
        """The session's client: made by ``connect()`` on first use and kept for the session;
        ``demo=True`` gives the embedded demo API's client."""
        if demo and False in self._clients and self._clients[False].is_demo:
            return self._clients[False]
        if demo not in self._clients:
            self._clients[demo] = connect(demo=True) if demo else connect()
        return self._clients[demo]

    def campaigns(
        self, status: str | None = None, search: str | None = None, *, demo: bool = False
    ) -> pl.DataFrame:
        from sendkit_nb._frames import load_campaigns

        return load_campaigns(self.client(demo=demo), status=status, search=search)

    def resolve(
        self, campaign: str, *, demo: bool = False, catalog: pl.DataFrame | None = None
    ) -> str:
        """A campaign id from an id (as the loader accepts it, returned in lower case) or an
        exact (case-insensitive) campaign name, looked up in ``catalog`` (default: the
        campaigns list of the API)."""
        found_id = object_id_or_none(campaign)
        if found_id is not None:
            return found_id
        if not isinstance(campaign, str) or not campaign.strip():
            # Neither an id nor a name to look up: the loader's own message.
            return check_object_id(campaign)
        import polars as pl

        text = campaign.strip().lower()
        listed = catalog if catalog is not None else self.campaigns(demo=demo)
        found = listed.filter(pl.col("name").str.to_lowercase() == text)
        ids = found["campaign_id"].to_list()
        if len(ids) > 1:
            raise BadRequestError(
                f"{len(ids)} campaigns are named {shown(campaign)}",
                hint=f"Pass the id instead: {', '.join(ids[:5])}{' ...' if len(ids) > 5 else ''}.",
            )
        if not ids:
            raise BadRequestError(
                f"no campaign with id or name {shown(campaign)}",
                hint="`%sendkit campaigns` lists them; ids are 24 hex characters.",
            )
        return str(ids[0])

    def leads(
        self,
        campaign: str,
        status: str | Sequence[str] | None = None,
        *,
        demo: bool = False,
        progress: bool = True,
    ) -> pl.DataFrame:
        from sendkit_nb._frames import load_leads

        campaign_id = self.resolve(campaign, demo=demo)
        return load_leads(self.client(demo=demo), campaign_id, status, progress=progress)

    def dashboard(
        self,
        campaign: str | None = None,
        status: Sequence[str] | None = None,
        *,
        demo: bool = False,
        store: str | None = None,
        offline: bool = False,
    ) -> Dashboard:
        from sendkit_nb._store import open_store
        from sendkit_nb.widgets import Dashboard

        if offline:
            if store is None:
                raise BadRequestError(
                    "--offline reads a store: name it with --store DIR",
                    hint="%sendkit dashboard --store sendkit-data --offline",
                )
            opened = open_store(store)
            names = opened.campaigns()
            campaign_id = self.resolve(campaign, catalog=names) if campaign else None
            return Dashboard(opened, campaign=campaign_id, statuses=status or ())
        campaign_id = self.resolve(campaign, demo=demo) if campaign else None
        return Dashboard(
            self.client(demo=demo), store=store, campaign=campaign_id, statuses=status or ()
        )

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _registered(ipython: Any) -> SendKitMagics | None:
    found = ipython.magics_manager.registry.get(SendKitMagics.__name__)
    return found if isinstance(found, SendKitMagics) else None


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%sendkit`` and set plotly's renderer (see the module docstring)."""
    import plotly.io as pio

    previous = _registered(ipython)
    if previous is not None:
        # %reload_ext: keep the renderer that was in place before the first load.
        saved = previous.previous_renderer
        _remove(ipython, previous)
    else:
        saved = pio.renderers.default
    ipython.register_magics(SendKitMagics(ipython, previous_renderer=saved))
    use_offline_renderer()  # sets pio.renderers.default to RENDERER


def _remove(ipython: Any, magics: SendKitMagics) -> None:
    manager = ipython.magics_manager
    for kind, names in magics.magics.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    manager.registry.pop(SendKitMagics.__name__, None)
    magics.close()


def unload_ipython_extension(ipython: Any) -> None:
    """Remove ``%sendkit``, close the session's clients and restore plotly's renderer."""
    import plotly.io as pio

    magics = _registered(ipython)
    if magics is None:
        return
    _remove(ipython, magics)
    pio.renderers.default = magics.previous_renderer or ""
