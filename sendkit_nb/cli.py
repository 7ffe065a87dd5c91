"""The ``sendkit-nb`` command line: a thin front end over the loader, the metrics and the report.

The API key comes from ``SENDKIT_API_KEY`` only (a flag would land in shell history);
``--demo`` runs on the embedded demo API. Every error ends in a one-line message on stderr and
exit status 1 (2 for a malformed command line), never a traceback.

Output files (``-o``) are checked before anything is loaded and replaced atomically (see
``sendkit_nb._files``); missing folders are created, and each creation is said on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import polars as pl

from sendkit_nb._client import SendKitClient, check_object_id
from sendkit_nb._connect import connect
from sendkit_nb._errors import BadRequestError, SendKitError
from sendkit_nb._files import check_writable, make_parents, write_atomic
from sendkit_nb._frames import _check_statuses, load_campaigns, load_leads
from sendkit_nb._schema import LEAD_STATUSES

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
        return connect(demo=True)
    if not os.environ.get("SENDKIT_API_KEY"):
        raise BadRequestError(
            "no API key: set SENDKIT_API_KEY (never pass keys as flags), or add --demo",
            hint="`sendkit-nb leads --all --demo -o leads.parquet` runs on synthetic data.",
        )
    return connect(demo=False)


def _print_table(frame: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_width_chars=160, tbl_hide_dataframe_shape=True):
        print(frame)


def _cmd_campaigns(args: argparse.Namespace) -> int:
    with _client(args) as client:
        campaigns = load_campaigns(client, status=args.status, search=args.search)
    _print_table(campaigns.select("campaign_id", "name", "status"))
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


def _write(frame: pl.DataFrame, path: Path) -> None:
    _make_parents(path)
    if path.suffix.lower() == ".parquet":
        write_atomic(path, frame.write_parquet)
    else:
        # CSV has no nested types: tags become "a;b", each lead's emails one JSON array.
        flat = frame.with_columns(
            pl.col("tags").list.join(";"),
            pl.format(
                "[{}]", pl.col("emails").list.eval(pl.element().struct.json_encode()).list.join(",")
            ).alias("emails"),
        )
        write_atomic(path, flat.write_csv)


def _statuses(args: argparse.Namespace) -> list[str] | None:
    """``--status a --status b,c`` as a checked list (None: every status)."""
    if not args.status:
        return None
    wanted = [s.strip() for value in args.status for s in value.split(",") if s.strip()]
    return _check_statuses(wanted)


def _campaign_ids(args: argparse.Namespace) -> list[str] | None:
    """The campaign ids named on the command line (None with ``--all``), checked before any
    request so that a typo fails fast."""
    if args.all and args.campaigns:
        raise BadRequestError("name campaign ids or --all, not both")
    if args.all:
        return None
    if not args.campaigns:
        raise BadRequestError(
            "name at least one campaign id, or --all",
            hint="`sendkit-nb campaigns` lists the ids.",
        )
    return [check_object_id(c) for c in dict.fromkeys(args.campaigns)]


def _cmd_leads(args: argparse.Namespace) -> int:
    output = _check_output(Path(args.output))
    wanted = _campaign_ids(args)
    statuses = _statuses(args)
    from sendkit_nb.metrics import headline

    with _client(args) as client:
        campaigns = load_campaigns(client)
        names = dict(zip(campaigns["campaign_id"], campaigns["name"], strict=True))
        ids = list(names) if wanted is None else wanted
        if not ids:
            raise BadRequestError("nothing to write: the workspace has no campaigns")
        frames = [
            load_leads(client, campaign_id, statuses, progress=not args.no_progress)
            for campaign_id in ids
        ]
    leads = pl.concat(frames) if frames else pl.DataFrame()
    _write(leads, output)
    summary = headline(leads).with_columns(
        pl.col("campaign_id").replace_strict(names, default=None).alias("name")
    )
    # The headline's main columns, so the table fits a terminal; rates as percentages.
    _print_table(
        summary.select(
            pl.col("name").str.slice(0, 32),
            "leads",
            "contacted",
            "replied",
            "positive",
            "bounced",
            *(
                (pl.col(rate) * 100).round(1).alias(f"{rate} %")
                for rate in ("positive_rate", "reply_rate", "bounce_rate")
            ),
        )
    )
    print(f"wrote {leads.height} leads of {len(ids)} campaign(s) to {output}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    # Everything that can be checked without the network is checked first.
    from sendkit_nb._report import _require, check_report_path

    output = check_writable(check_report_path(args.output))
    ids = _campaign_ids(args)
    statuses = _statuses(args)
    _require("plotly", "jinja2")
    from sendkit_nb._report import report, write_report

    with _client(args) as client:
        html = report(
            client,
            ids,
            None,  # written below, once the missing folders are created and announced
            status=statuses,
            title=args.title,
            metric=args.metric,
            denominator=args.denominator,
            progress=not args.no_progress,
        )
    _make_parents(output)
    write_report(html, output)
    size = len(html.encode("utf-8"))
    print(f"wrote {output.resolve()} ({size / 1e6:.1f} MB; open it in any browser, offline)")
    return 0


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


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--demo", action="store_true", help="use the embedded demo API (synthetic data, no key)"
    )
    common.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser = _Parser(
        prog="sendkit-nb",
        description="SendKit campaign analytics. The API key is read from SENDKIT_API_KEY "
        "(SENDKIT_BASE_URL and SENDKIT_WORKSPACE_ID optional).",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    campaigns = sub.add_parser("campaigns", parents=[common], help="list campaigns")
    campaigns.add_argument("--status", help="draft, active, paused, completed or archived")
    campaigns.add_argument("--search", help="part of the campaign name")
    campaigns.set_defaults(run=_cmd_campaigns)

    leads = sub.add_parser(
        "leads",
        parents=[common],
        help="write campaign leads to a file",
        description="Write every lead of the chosen campaigns to one .parquet or .csv file and "
        "print a per-campaign summary. A load that ends with fewer leads than the API announced "
        f"is an error (exit status 1), not a short file. {_OUTPUT_NOTE}",
    )
    leads.add_argument("campaigns", nargs="*", metavar="CAMPAIGN", help="campaign ids")
    leads.add_argument("--all", action="store_true", help="every campaign of the workspace")
    leads.add_argument("--status", action="append", help=_STATUS_HELP)
    leads.add_argument(
        "-o",
        "--output",
        required=True,
        help="file ending in .parquet or .csv (replaced atomically; missing folders are created)",
    )
    leads.set_defaults(run=_cmd_leads)

    report = sub.add_parser(
        "report",
        parents=[common],
        help="write one offline HTML report (KPIs, funnels, A/B tests, charts)",
        description="Write a single self-contained HTML report: no network or kernel needed "
        f"to open it, and never the API key. {_OUTPUT_NOTE}",
    )
    report.add_argument("campaigns", nargs="*", metavar="CAMPAIGN", help="campaign ids")
    report.add_argument("--all", action="store_true", help="every campaign of the workspace")
    report.add_argument("--status", action="append", help=_STATUS_HELP)
    report.add_argument(
        "-o",
        "--output",
        required=True,
        help="file ending in .html (replaced atomically; missing folders are created)",
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

    demo = sub.add_parser(
        "demo-server",
        help="serve the demo API on 127.0.0.1 (options: see `sendkit-nb demo-server -h`)",
        add_help=False,
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER)
    demo.set_defaults(run=_cmd_demo_server)
    return parser


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


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
        print(f"sendkit-nb: error: {_one_line(str(exc))}", file=sys.stderr)
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
