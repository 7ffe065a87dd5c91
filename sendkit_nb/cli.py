"""The ``sendkit-nb`` command line: a thin front end over the loader and the metrics.

The API key comes from ``SENDKIT_API_KEY`` only (a flag would land in shell history);
``--demo`` runs on the embedded demo API. Errors end in a one-line message and exit code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from sendkit_nb._client import SendKitClient
from sendkit_nb._connect import connect
from sendkit_nb._errors import BadRequestError, SendKitError
from sendkit_nb._frames import load_campaigns, load_leads
from sendkit_nb._schema import LEAD_STATUSES

__all__ = ["main"]


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


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    elif path.suffix == ".csv":
        # CSV has no nested types: tags become "a;b", each lead's emails one JSON array.
        flat = frame.with_columns(
            pl.col("tags").list.join(";"),
            pl.format(
                "[{}]", pl.col("emails").list.eval(pl.element().struct.json_encode()).list.join(",")
            ).alias("emails"),
        )
        flat.write_csv(path)
    else:
        raise BadRequestError(
            f"cannot write {path.name}: the output must end in .parquet or .csv",
            hint="For example -o leads.parquet",
        )


def _cmd_leads(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.suffix not in (".parquet", ".csv"):
        _write(pl.DataFrame(), output)  # raises the clear error before any request
    from sendkit_nb.metrics import headline

    with _client(args) as client:
        campaigns = load_campaigns(client)
        names = dict(zip(campaigns["campaign_id"], campaigns["name"], strict=True))
        ids = list(names) if args.all else args.campaigns
        if not ids:
            raise BadRequestError("name at least one campaign id, or --all")
        frames = [
            load_leads(client, campaign_id, args.status, progress=not args.no_progress)
            for campaign_id in ids
        ]
    leads = pl.concat(frames) if frames else pl.DataFrame()
    _write(leads, output)
    summary = headline(leads).with_columns(
        pl.col("campaign_id").replace_strict(names, default=None).alias("name")
    )
    _print_table(summary.select("name", *[c for c in summary.columns if c != "name"]))
    print(f"wrote {leads.height} leads of {len(ids)} campaign(s) to {output}")
    return 0


def _cmd_demo_server(args: argparse.Namespace) -> int:
    from sendkit_nb.demo.__main__ import main as demo_main

    return demo_main(args.demo_args)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--demo", action="store_true", help="use the embedded demo API (synthetic data, no key)"
    )
    common.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser = argparse.ArgumentParser(
        prog="sendkit-nb",
        description="SendKit campaign analytics. The API key is read from SENDKIT_API_KEY "
        "(SENDKIT_BASE_URL and SENDKIT_WORKSPACE_ID optional).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    campaigns = sub.add_parser("campaigns", parents=[common], help="list campaigns")
    campaigns.add_argument("--status", help="draft, active, paused, completed or archived")
    campaigns.add_argument("--search", help="part of the campaign name")
    campaigns.set_defaults(run=_cmd_campaigns)

    leads = sub.add_parser("leads", parents=[common], help="write campaign leads to a file")
    leads.add_argument("campaigns", nargs="*", metavar="CAMPAIGN", help="campaign ids")
    leads.add_argument("--all", action="store_true", help="every campaign of the workspace")
    leads.add_argument(
        "--status", action="append", choices=LEAD_STATUSES, help="lead status (repeatable)"
    )
    leads.add_argument("-o", "--output", required=True, help="file ending in .parquet or .csv")
    leads.set_defaults(run=_cmd_leads)

    demo = sub.add_parser(
        "demo-server",
        help="serve the demo API on 127.0.0.1 (options: see `sendkit-nb demo-server -h`)",
        add_help=False,
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER)
    demo.set_defaults(run=_cmd_demo_server)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except SendKitError as exc:
        print(f"sendkit-nb: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sendkit-nb: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
