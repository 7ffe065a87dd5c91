"""The bundled demo API: a SendKit-compatible HTTP server on synthetic data.

It is what the package talks to when no API key is configured, the server every test talks real
HTTP to (with switchable faults), and the target of the benchmarks::

    from sendkit_nb.demo import DemoServer
    with DemoServer() as srv:          # http://127.0.0.1:<free port>, key srv.api_key
        ...

``python -m sendkit_nb.demo`` (or ``sendkit-nb demo-server``) runs it from a shell.
"""

from ._data import DEMO_WORKSPACE_ID, DemoWorkspace, make_workspace
from ._server import DEMO_API_KEY, DEMO_PLATFORM_KEY, DemoServer, Faults

__all__ = [
    "DEMO_API_KEY",
    "DEMO_PLATFORM_KEY",
    "DEMO_WORKSPACE_ID",
    "DemoServer",
    "DemoWorkspace",
    "Faults",
    "make_workspace",
]
