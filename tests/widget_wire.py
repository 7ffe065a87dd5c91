"""What widgets send to the browser, recorded in a test: each comm's opening state and later
messages, as JSON (what the browser receives), and the reports plotly's view sends back.

The browser side of a plotly ``FigureWidget`` is an anywidget model, and anywidget drops every
message to a model whose front-end module (plotly.js, ~5 MB) took more than 2 s to load: such a
"deaf" model shows the figure as it was in the comm's opening message, whatever came after.
:meth:`Wire.deaf_view` is that figure; :meth:`Wire.render_report` delivers what plotly's view
reports when it renders, for a deaf model or for one that took every message.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import pytest
from comm.base_comm import BaseComm
from jupyter_client.session import json_packer


def as_sent(value: Any) -> Any:
    """``value`` as the kernel encodes it for the browser (dates as ISO text, ...)."""
    return json.loads(json_packer(value))


class Wire:
    """Every widget comm opened while installed (see :meth:`install`): the opening state
    and the later messages, as JSON, by model id; and the ids of the comms closed."""

    def __init__(self) -> None:
        self.openings: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.closed: set[str] = set()

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> Wire:
        """A recorder of every widget made from now until the test ends (no kernel needed)."""
        import comm

        recorder = cls()
        monkeypatch.setattr(comm, "create_comm", recorder.comm)
        return recorder

    def comm(self, **kwargs: Any) -> BaseComm:
        """Stands in for ``comm.create_comm``."""
        wire = self

        class RecordingComm(BaseComm):
            def publish_msg(
                self,
                msg_type: str,
                data: Any = None,
                metadata: Any = None,
                buffers: Any = None,
                **keys: Any,
            ) -> None:
                assert not buffers, "the charts send no binary buffers"
                sent = as_sent(data or {})
                if msg_type == "comm_open":
                    wire.openings[self.comm_id] = sent["state"]
                    wire.messages[self.comm_id] = []
                elif msg_type == "comm_msg":
                    wire.messages[self.comm_id].append(sent)
                else:
                    wire.closed.add(self.comm_id)

        return RecordingComm(**kwargs)

    def deaf_view(self, figure: Any) -> go.Figure:
        """What a browser model that dropped every message after the opening shows."""
        state = self.openings[figure.model_id]
        return go.Figure(data=state["_widget_data"], layout=state["_widget_layout"])

    def render_report(self, figure: Any, *, deaf: bool) -> None:
        """Deliver what plotly's view sends when it renders: the trace edit id its model has
        seen (the opening's when deaf, else the last one sent)."""
        seen = self.openings[figure.model_id]["_last_trace_edit_id"]
        if not deaf:
            for message in self.messages[figure.model_id]:
                seen = message.get("state", {}).get("_last_trace_edit_id", seen)
        state = {"_js2py_traceDeltas": {"trace_deltas": [], "trace_edit_id": seen}}
        figure.comm.handle_msg(
            {
                "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
                "buffers": [],
            }
        )
