"""Loader speed against the demo API, one process, one run, three contenders on the same pages:

- ``sendkit_nb``: ``load_leads`` (concurrent page fetches, polars JSON parsing) into a frame;
- ``naive``: a sequential ``requests`` loop over the pages + ``pandas.json_normalize``;
- ``raw``: the same pages fetched on the same number of connections, bodies read, nothing parsed
  (the floor: what the transfer alone costs).

The demo server runs in a subprocess (so its work does not share our GIL) with 0 ms or 20 ms of
latency per request. Prints seconds and ratios; exits 3 when a target at the largest size is
missed: with 20 ms, >= 8x faster than naive and <= 1.3x raw; with 0 ms, >= 5x faster than
naive and <= 2x raw.

Memory: a fresh subprocess loads a ``--memory-leads`` campaign (default 300,000) and reports
the peak resident memory the load added over the process's own baseline (after imports and a
first request), against the frame's ``estimated_size()``; target <= 3x with polars' default
allocator settings. A second run, with freed pages handed back at once, shows how much of that
peak is memory already freed. Linux only (it reads ``/proc/self/status``).

    python benchmarks/bench_loader.py [--sizes 10000 100000] [--latencies 0 20]
                                      [--memory-leads 300000]
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pandas as pd
import requests

import sendkit_nb as sk
from sendkit_nb.demo import DEMO_API_KEY

LIMIT = 100
WORKERS = 8
#: Peak memory a load may add, as a multiple of the frame it returns.
MEMORY_TARGET = 3.0
#: Per latency: (at least this many times faster than naive, at most this multiple of raw).
#: A latency not listed is held to the targets of the next lower one listed.
SPEED_TARGETS = {0: (5.0, 2.0), 20: (8.0, 1.3)}


def missed_targets(size: int, latency: int, speedup: float, overhead: float) -> list[str]:
    at_least, at_most = SPEED_TARGETS[max(k for k in SPEED_TARGETS if k <= latency)]
    missed = []
    if speedup < at_least:
        missed.append(
            f"{size} leads, {latency} ms: {speedup:.1f}x faster than naive, target {at_least:g}x"
        )
    if overhead > at_most:
        missed.append(f"{size} leads, {latency} ms: {overhead:.2f}x raw, target {at_most:g}x")
    return missed


@contextmanager
def demo_server(leads: int, latency_ms: int) -> Iterator[str]:
    cmd = [
        sys.executable,
        "-m",
        "sendkit_nb.demo",
        "--port",
        "0",
        "--leads",
        str(leads),
        "--latency-ms",
        str(latency_ms),
        "--pagination",
        "page",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not match:
            raise RuntimeError(f"demo server did not start: {line!r}")
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        yield match.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def campaign_id(base_url: str) -> str:
    body = requests.get(f"{base_url}/v1/campaigns", headers={"X-Api-Key": DEMO_API_KEY}, timeout=30)
    return str(body.json()["data"][0]["_id"])


def run_sendkit(base_url: str, cid: str) -> int:
    with sk.SendKitClient(DEMO_API_KEY, base_url=base_url, max_workers=WORKERS) as client:
        return sk.load_leads(client, cid, progress=False, limit=LIMIT).height


def run_naive(base_url: str, cid: str) -> int:
    session = requests.Session()
    session.headers["X-Api-Key"] = DEMO_API_KEY
    items: list[dict[str, object]] = []
    page = 1
    while True:
        body = session.get(
            f"{base_url}/v1/campaigns/{cid}/leads",
            params={"page": page, "limit": LIMIT},
            timeout=60,
        ).json()
        items.extend(body["data"])
        if page >= body["pagination"]["pages"]:
            break
        page += 1
    frame = pd.json_normalize(items)
    return len(frame)


def run_raw(base_url: str, cid: str) -> int:
    local = threading.local()
    url = f"{base_url}/v1/campaigns/{cid}/leads"

    def fetch(page: int) -> bytes:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers["X-Api-Key"] = DEMO_API_KEY
        return bytes(
            local.session.get(url, params={"page": page, "limit": LIMIT}, timeout=60).content
        )

    first = requests.get(
        url, params={"page": 1, "limit": LIMIT}, headers={"X-Api-Key": DEMO_API_KEY}, timeout=60
    )
    pages = int(first.json()["pagination"]["pages"])
    with ThreadPoolExecutor(WORKERS) as pool:
        sizes = [len(b) for b in pool.map(fetch, range(2, pages + 1))]
    return len(first.content) + sum(sizes)


def best_of(runs: int, fn: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    result = 0
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def _status_kib(field: str) -> int:
    """A ``kB`` line of /proc/self/status (VmRSS, VmHWM), in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(base_url: str, cid: str) -> None:
    """In a fresh process: print the peak RSS the load added (bytes), the frame's
    ``estimated_size()`` and its height."""
    with sk.SendKitClient(DEMO_API_KEY, base_url=base_url, max_workers=WORKERS) as client:
        sk.load_campaigns(client)  # sessions and polars' thread pool exist before the baseline
        # "5" resets VmHWM to the current RSS, so the peak read afterwards is the load's alone.
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        baseline = _status_kib("VmRSS")
        leads = sk.load_leads(client, cid, progress=False, limit=LIMIT)
        added = (_status_kib("VmHWM") - baseline) * 1024
    print(added, leads.estimated_size(), leads.height)


#: Polars' allocator (jemalloc) keeps freed pages resident for half a second before giving them
#: back (polars sets dirty_decay_ms:500), so a peak of RSS also counts memory the load had
#: already freed. The second run returns freed pages at once: the memory the load needed.
ALLOCATOR_RUNS = {
    "polars' default allocator settings": {},
    "freed pages returned at once": {"_RJEM_MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"},
}


def measure_memory(size: int) -> tuple[int, dict[str, int]]:
    """Bytes of the frame from loading ``size`` leads, and the peak bytes the load added in a
    fresh process per allocator setting of :data:`ALLOCATOR_RUNS`."""
    peaks: dict[str, int] = {}
    frame = 0
    with demo_server(size, 0) as url:
        cid = campaign_id(url)
        for name, env in ALLOCATOR_RUNS.items():
            child = subprocess.run(
                [sys.executable, __file__, "--memory-child", url, cid],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, **env},
            )
            added, frame, height = (int(word) for word in child.stdout.split())
            if height != size:
                raise SystemExit(f"wrong result in the memory run: loaded {height} of {size}")
            peaks[name] = added
    return frame, peaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 20])
    parser.add_argument("--runs", type=int, default=3, help="best of N for the fast contenders")
    parser.add_argument(
        "--memory-leads", type=int, default=300_000, help="leads for the memory run; 0 skips it"
    )
    parser.add_argument(
        "--memory-child", nargs=2, metavar=("URL", "CAMPAIGN"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return 0

    print(
        f"{'leads':>8} {'latency':>8} {'sendkit_nb':>11} {'naive':>9} {'raw':>9} "
        f"{'naive/ours':>11} {'ours/raw':>9}"
    )
    failures: list[str] = []
    for size in args.sizes:
        for latency in args.latencies:
            with demo_server(size, latency) as url:
                cid = campaign_id(url)
                run_raw(url, cid)  # warm the server's page cache before anything is timed
                ours, n_ours = best_of(args.runs, functools.partial(run_sendkit, url, cid))
                raw, _ = best_of(args.runs, functools.partial(run_raw, url, cid))
                naive, n_naive = best_of(1, functools.partial(run_naive, url, cid))
            if n_ours != size or n_naive != size:
                raise SystemExit(
                    f"wrong result at {size} leads, {latency} ms: loaded {n_ours}, naive {n_naive}"
                )
            speedup, overhead = naive / ours, ours / raw
            print(
                f"{size:>8} {latency:>6}ms {ours:>10.2f}s {naive:>8.2f}s {raw:>8.2f}s "
                f"{speedup:>10.1f}x {overhead:>8.2f}x",
                flush=True,
            )
            if size == max(args.sizes):
                failures += missed_targets(size, latency, speedup, overhead)
    if args.memory_leads and os.path.exists("/proc/self/clear_refs"):
        frame, peaks = measure_memory(args.memory_leads)
        print(
            f"memory, {args.memory_leads} leads, a {frame / 2**20:.0f} MiB frame "
            f"(estimated_size; target: a peak of at most {MEMORY_TARGET:.0f}x that)"
        )
        for name, added in peaks.items():
            print(f"  peak +{added / 2**20:.0f} MiB, {added / frame:.1f}x, with {name}")
        ratio = next(iter(peaks.values())) / frame
        if ratio > MEMORY_TARGET:
            failures.append(
                f"{args.memory_leads} leads: peak memory {ratio:.1f}x the frame, "
                f"target {MEMORY_TARGET:.0f}x"
            )
    elif args.memory_leads:
        print("memory: skipped (needs Linux /proc)")
    for failure in failures:
        print(f"TARGET MISSED: {failure}")
    return SPEED_TARGET_MISSED if failures else 0


# Exit status when the results are right but a speed or memory target was missed (scripts/bench
# reports it); a wrong result exits 1.
SPEED_TARGET_MISSED = 3


if __name__ == "__main__":
    raise SystemExit(main())
