"""The workspace store at agency scale: 200 campaigns and 1,000,000 leads of the demo API.

One process, one run, each number against its baseline measured in the same run:

- ``raw transfer``: every leads page of every campaign (and the campaigns list) fetched with the
  same client on the same number of connections, bodies read, nothing parsed: the floor;
- ``load_leads``: every campaign loaded with ``sk.load_leads``, one after another, kept in
  memory: what the sync costs without the store (for reading its own overhead);
- ``first sync``: ``sk.sync`` into an empty folder (parse, convert, write parquet, headline
  per campaign, history); target <= 1.5x the raw transfer;
- ``second sync``: after 5 campaigns changed on the server (each gains 10 leads and a newer
  ``updatedAt``); it must fetch exactly those 5 and take < 10% of the first sync;
- ``whole-store metrics``: in a fresh process, ``store.scan_leads()`` with the columns the
  metrics read, collected with polars' streaming engine, then the headline per campaign and
  the step funnel over every lead of the store; target < 2 s, with the process's peak
  resident memory < 1 GB (Linux: VmHWM).

The demo server runs in a subprocess (its work does not share our GIL), built with
``make_workspace(sizes=[...])``; how long building it takes is reported too (about 40 s at
full scale). ``--campaigns``/``--leads`` scale the workspace down for a quick look; the
targets are checked at any scale, and the table says which scale was used. Exits 1 on a
wrong result, 3 when a speed or memory target is missed (see scripts/bench).

    python benchmarks/bench_store.py [--campaigns 200] [--leads 1000000]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import sendkit_nb as sk
from sendkit_nb._frames import list_campaigns
from sendkit_nb.demo import DEMO_API_KEY

WORKERS = 8
LIMIT = 100
CHANGED = 5
#: First sync at most this multiple of the raw transfer.
FIRST_SYNC_TARGET = 1.5
#: Second sync (5 campaigns changed) under this share of the first.
SECOND_SYNC_TARGET = 0.10
#: Whole-store metrics: seconds and peak resident bytes.
METRICS_SECONDS_TARGET = 2.0
METRICS_RSS_TARGET = 1 << 30


# -- the demo server, in a subprocess -----------------------------------------------------------


def serve(campaigns: int, per_campaign: int) -> None:
    """Child: build the workspace, serve it, say where and how long building took; then
    change campaigns on request (``change K`` on stdin) until stdin closes."""
    from sendkit_nb.demo import DemoServer, make_workspace

    started = time.perf_counter()
    workspace = make_workspace(sizes=[per_campaign] * campaigns)
    built = time.perf_counter() - started
    server = DemoServer(workspace).start()
    serialised = time.perf_counter() - started - built
    print(f"{server.url} {built:.2f} {serialised:.2f}", flush=True)
    ids = [str(c["_id"]) for c in workspace.campaigns]
    for line in sys.stdin:
        count = int(line.split()[1])
        # Spread over the workspace: the first, the last and between.
        chosen = [ids[round(i * (len(ids) - 1) / max(count - 1, 1))] for i in range(count)]
        for campaign_id in chosen:
            server.change_campaign(campaign_id, add_leads=10)
        print(" ".join(chosen), flush=True)
    server.stop()


@contextmanager
def demo_server(
    campaigns: int, per_campaign: int
) -> Iterator[tuple[str, float, float, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(campaigns), str(per_campaign)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"(http://127\.0\.0\.1:\d+) ([\d.]+) ([\d.]+)\s*", line)
        if not match:
            raise RuntimeError(f"demo server did not start: {line!r}")
        yield match.group(1), float(match.group(2)), float(match.group(3)), proc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=60)


def change_campaigns(proc: subprocess.Popen[str], count: int) -> list[str]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"change {count}\n")
    proc.stdin.flush()
    return proc.stdout.readline().split()


# -- the contenders -----------------------------------------------------------------------------


def raw_transfer(client: sk.SendKitClient) -> tuple[int, int]:
    """Every page the first sync fetches, on WORKERS connections: (bytes, pages)."""
    # The campaigns list as the sync walks it (parsed: the page numbers come from it).
    items = list_campaigns(client)
    pages = [
        (str(item["_id"]), n)
        for item in items
        for n in range(1, max(1, -(-int(item["leadCounts"]["total"]) // LIMIT)) + 1)
    ]

    def fetch(page: tuple[str, int]) -> int:
        path = f"/v1/campaigns/{page[0]}/leads"
        return client.request(path, {"page": page[1], "limit": LIMIT}, parse=len)

    with ThreadPoolExecutor(WORKERS) as pool:
        sizes = list(pool.map(fetch, pages))
    return sum(sizes), len(pages)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def metrics_child(store_path: str) -> None:
    """Child: whole-store headline and funnel through scan_leads(), streaming; print JSON."""
    baseline = _status_kib("VmRSS") * 1024
    started = time.perf_counter()
    store = sk.open_store(store_path)
    # Only the columns the headline and the funnel read: the scan skips the rest of each file
    # (names, addresses, tags), which is most of its bytes.
    needed = ["campaign_id", "replied", "replied_at", "ai_tag", "emails"]
    leads = store.scan_leads().select(needed).collect(engine="streaming")
    read = time.perf_counter() - started
    headline = sk.headline(leads)
    after_headline = time.perf_counter() - started
    funnel = sk.funnel(leads)
    total = time.perf_counter() - started
    print(
        json.dumps(
            {
                "read": read,
                "headline": after_headline - read,
                "funnel": total - after_headline,
                "total": total,
                "peak": _status_kib("VmHWM") * 1024,
                "baseline": baseline,
                "frame": leads.estimated_size(),
                "leads": int(headline["leads"].sum()),
                "campaigns": headline.height,
                "steps": funnel.height,
            }
        )
    )


# -- the run ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in all")
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--metrics-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return 0
    if args.metrics_child:
        metrics_child(args.metrics_child)
        return 0

    per_campaign = args.leads // args.campaigns
    total_leads = per_campaign * args.campaigns
    scale = f"{args.campaigns} campaigns x {per_campaign:,} leads = {total_leads:,} leads"
    full = (args.campaigns, total_leads) == (200, 1_000_000)
    print(f"scale: {scale}{'' if full else ' (scaled down from 200 x 5,000)'}")
    folder = Path(tempfile.mkdtemp(prefix="bench-store-"))
    missed: list[str] = []
    try:
        with demo_server(args.campaigns, per_campaign) as (url, built, serialised, proc):
            print(f"demo workspace built in {built:.1f} s, served after {serialised:.1f} s more")
            with sk.SendKitClient(DEMO_API_KEY, base_url=url, max_workers=WORKERS) as client:
                raw_start = time.perf_counter()
                size, pages = raw_transfer(client)
                raw = time.perf_counter() - raw_start

                load_start = time.perf_counter()
                loaded = sum(
                    sk.load_leads(client, campaign_id, progress=False).height
                    for campaign_id in sk.load_campaigns(client)["campaign_id"]
                )
                load = time.perf_counter() - load_start
                if loaded != total_leads:
                    print(f"WRONG: load_leads gave {loaded} leads, expected {total_leads}")
                    return 1

                first = sk.sync(client, folder / "store", progress=False)
                if first.leads_written != total_leads or len(first.fetched) != args.campaigns:
                    print(f"WRONG: first sync {first!r}, expected {total_leads} leads")
                    return 1

                changed = change_campaigns(proc, CHANGED)
                second = sk.sync(client, folder / "store", progress=False)
                if sorted(second.fetched) != sorted(changed) or second.failed:
                    print(f"WRONG: second sync fetched {second.fetched}, changed {changed}")
                    return 1

        child = subprocess.run(
            [sys.executable, __file__, "--metrics-child", str(folder / "store")],
            capture_output=True,
            text=True,
            check=True,
        )
        metrics = json.loads(child.stdout)
        if metrics["leads"] != total_leads + 10 * CHANGED:
            print(f"WRONG: the whole-store headline counts {metrics['leads']} leads")
            return 1
        store_bytes = sum(p.stat().st_size for p in (folder / "store").rglob("*.parquet"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ratio_first = first.seconds / raw
    ratio_second = second.seconds / first.seconds
    mib = 1 << 20
    print()
    print(f"| step ({scale}) | seconds | against | target |")
    print("|---|---:|---|---|")
    print(f"| raw transfer ({pages:,} pages, {size / mib:,.0f} MiB) | {raw:.2f} | baseline | |")
    print(f"| load_leads, campaign after campaign | {load:.2f} | {load / raw:.2f}x raw | |")
    print(
        f"| first sync ({first.leads_written:,} leads, store {store_bytes / mib:,.0f} MiB) | "
        f"{first.seconds:.2f} | {ratio_first:.2f}x raw, {first.seconds / load:.2f}x load_leads "
        f"| <= {FIRST_SYNC_TARGET}x raw |"
    )
    print(
        f"| second sync ({CHANGED} campaigns changed, {second.leads_written:,} leads) | "
        f"{second.seconds:.2f} | {ratio_second:.1%} of first | < {SECOND_SYNC_TARGET:.0%} |"
    )
    print(f"| whole-store metrics: scan_leads, 5 columns, streaming | {metrics['read']:.2f} | | |")
    print(f"| + headline per campaign ({metrics['campaigns']}) | {metrics['headline']:.2f} | | |")
    print(f"| + step funnel, whole store | {metrics['funnel']:.2f} | | |")
    print(
        f"| whole-store metrics, total | {metrics['total']:.2f} | peak RSS "
        f"{metrics['peak'] / mib:,.0f} MiB (process; frame {metrics['frame'] / mib:,.0f} MiB) | "
        f"< {METRICS_SECONDS_TARGET:g} s, < 1 GiB |"
    )
    if ratio_first > FIRST_SYNC_TARGET:
        missed.append(f"first sync {ratio_first:.2f}x raw, target {FIRST_SYNC_TARGET}x")
    if ratio_second >= SECOND_SYNC_TARGET:
        missed.append(f"second sync {ratio_second:.1%} of the first, target < 10%")
    if metrics["total"] >= METRICS_SECONDS_TARGET:
        missed.append(f"whole-store metrics {metrics['total']:.2f} s, target < 2 s")
    if metrics["peak"] >= METRICS_RSS_TARGET:
        missed.append(f"whole-store metrics peak RSS {metrics['peak'] / mib:,.0f} MiB, < 1 GiB")
    for line in missed:
        print(f"TARGET MISSED: {line}")
    return 3 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
