"""Run the demo API from a shell: ``python -m sendkit_nb.demo`` or ``sendkit-nb demo-server``.

The first line printed is ``SendKit demo API on <url>`` and it is flushed at once: benchmarks
and scripts start this as a subprocess and read that line to learn the port.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from ._data import DEMO_WORKSPACE_ID, make_workspace
from ._server import DEMO_API_KEY, DEMO_PLATFORM_KEY, DemoServer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sendkit-nb demo-server",
        description="Serve the SendKit-compatible demo API on synthetic data (loopback only).",
    )
    p.add_argument("--port", type=int, default=8765, help="TCP port, 0 for any free one")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        choices=["127.0.0.1", "localhost", "::1"],
        help="loopback address to bind",
    )
    p.add_argument(
        "--latency-ms", type=float, default=0.0, help="sleep this long before every response"
    )
    p.add_argument(
        "--leads",
        type=int,
        default=None,
        metavar="N",
        help="serve one campaign of N leads instead of the default workspace",
    )
    p.add_argument(
        "--pagination",
        choices=["page", "cursor"],
        default="page",
        help="docs generation to imitate: page (older) or cursor (newer)",
    )
    p.add_argument("--seed", type=int, default=7, help="seed of the synthetic data")
    return p


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status."""
    args = _parser().parse_args(argv)
    if args.leads is not None and args.leads < 0:
        print("error: --leads must be >= 0", file=sys.stderr)
        return 2
    if args.latency_ms < 0:
        print("error: --latency-ms must be >= 0", file=sys.stderr)
        return 2
    started = time.perf_counter()
    sizes = [args.leads] if args.leads is not None else None
    workspace = make_workspace(seed=args.seed, sizes=sizes)
    server = DemoServer(
        workspace,
        host=args.host,
        port=args.port,
        pagination=args.pagination,
        latency=args.latency_ms / 1000.0,
    )
    try:
        server.start()
    except OSError as err:
        print(f"error: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Signal handlers can only be installed from the main thread; when main() is called from
    # another thread (an embedding), the caller stops it some other way.
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        n_leads = sum(len(v) for v in workspace.leads.values())
        print(f"SendKit demo API on {server.url}", flush=True)
        print(
            f"  {len(workspace.campaigns)} campaigns, {n_leads} leads, "
            f"{args.pagination} pagination, ready in {time.perf_counter() - started:.1f}s\n"
            f"  workspace key: {DEMO_API_KEY}\n"
            f"  platform key:  {DEMO_PLATFORM_KEY} (with X-Workspace-Id: {DEMO_WORKSPACE_ID})\n"
            f"  export SENDKIT_BASE_URL={server.url} SENDKIT_API_KEY={DEMO_API_KEY}\n"
            "  Ctrl+C to stop",
            flush=True,
        )
        # A timed wait keeps the main thread returning to the interpreter, where signal
        # handlers run.
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("demo API stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
