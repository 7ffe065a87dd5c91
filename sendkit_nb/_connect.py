"""Choosing between the real API and the embedded demo."""

from __future__ import annotations

import os
import sys
from typing import Any

from sendkit_nb._client import SendKitClient


def connect(*, demo: bool | None = None, **options: Any) -> SendKitClient:
    """A client for the real API when ``SENDKIT_API_KEY`` is set, else for the embedded demo.

    ``demo=True`` forces the demo API, ``demo=False`` forces the real one (and fails clearly
    without a key). ``options`` go to :class:`SendKitClient` (or to the demo server with
    ``demo=True``). A note on stderr says when the demo is used, so nobody mistakes its
    synthetic numbers for their own.
    """
    use_demo = demo if demo is not None else not os.environ.get("SENDKIT_API_KEY")
    if use_demo:
        why = "demo requested" if demo else "no SENDKIT_API_KEY set"
        print(
            f"sendkit_nb: {why}, using the embedded demo API (synthetic data).",
            file=sys.stderr,
        )
        return SendKitClient.demo(**options)
    return SendKitClient(**options)
