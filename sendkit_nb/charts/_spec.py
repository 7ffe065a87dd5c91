"""Figures built as plain dicts and handed to plotly once, whole.

plotly's object model checks every property as it is set (``go.Bar(...)``, ``add_trace``,
``update_layout``, ``update_xaxes``...). That costs 15–50 ms per chart, most of a dashboard
refresh, to re-check property names and values that are the same on every call: the charts
are the only writers of these dicts. So a chart is built as the JSON plotly.js reads, in a
:class:`FigureSpec` (a few methods shaped like plotly's, so chart code reads the same), and
wrapped in a ``go.Figure`` without re-validation at the end. Validation is not lost: the tests
feed every chart's output through plotly's full validation and require it to come out
unchanged, which also holds the dicts to plotly's canonical form (``title={"text": ...}``,
never a bare string).

The returned figure validates again from then on: what a caller changes on it is checked as
usual.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import plotly.graph_objects as go

from ._theme import TEMPLATE

__all__ = ["FigureSpec"]

_TEMPLATE_JSON = TEMPLATE.to_plotly_json()
_AXIS = {letter: re.compile(rf"{letter}axis\d*") for letter in "xy"}
#: Layout properties that are lists of objects (added one by one with ``add_annotation``).
_OBJECT_LISTS = frozenset({"annotations", "shapes", "images"})


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Update ``target`` with ``patch`` the way plotly's ``update`` does: nested dicts merge
    key by key, anything else replaces, ``None`` removes. Dicts from ``patch`` are copied, so
    a constant such as ``{"size": 11}`` is never shared between figures."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            inner = target.get(key)
            target[key] = merge(inner if isinstance(inner, dict) else {}, value)
        else:
            target[key] = value
    return target


class FigureSpec:
    """A figure under construction: ``data`` (trace dicts) and ``layout`` (a dict).

    >>> spec = FigureSpec()
    >>> spec.add_trace({"type": "bar", "x": ["a"], "y": [1]})
    >>> spec.update_yaxes(title={"text": "Leads"})
    >>> fig = spec.figure()
    >>> fig.data[0].y, fig.layout.yaxis.title.text
    ((1,), 'Leads')
    """

    __slots__ = ("data", "layout")

    def __init__(self, layout: dict[str, Any] | None = None) -> None:
        self.data: list[dict[str, Any]] = []
        self.layout: dict[str, Any] = layout if layout is not None else {}

    def add_trace(self, trace: dict[str, Any], *, row: int | None = None) -> None:
        """Append ``trace`` (with its ``type``); ``row`` places it in that panel of a
        :func:`stacked` grid."""
        if row is not None:
            n = row if row > 1 else ""
            trace = {**trace, "xaxis": f"x{n}", "yaxis": f"y{n}"}
        self.data.append(trace)

    def update_layout(self, **props: Any) -> None:
        lists = sorted(k for k in props.keys() & _OBJECT_LISTS if props[k] is not None)
        if lists:
            # plotly would merge such a list item by item; here it would replace the list
            # (and lose the subtitle and footnotes): one way only.
            raise TypeError(f"update_layout({lists[0]}=...): use add_annotation() instead")
        merge(self.layout, props)

    def update_xaxes(self, *, row: int | None = None, **props: Any) -> None:
        """Update the x axis of panel ``row``, or every x axis."""
        for key in self._axes("x", row, props):
            merge(self.layout.setdefault(key, {}), props)

    def update_yaxes(self, *, row: int | None = None, **props: Any) -> None:
        """Update the y axis of panel ``row``, or every y axis."""
        for key in self._axes("y", row, props):
            merge(self.layout.setdefault(key, {}), props)

    def add_annotation(self, **props: Any) -> None:
        self.layout.setdefault("annotations", []).append(merge({}, props))

    def update_annotations(self, **props: Any) -> None:
        for annotation in self.layout.get("annotations", ()):
            merge(annotation, props)

    def _axes(self, letter: str, row: int | None, props: dict[str, Any]) -> list[str]:
        # plotly's selectors that a one-column grid has no use for; as axis properties they
        # would be written into the layout silently.
        unsupported = sorted(props.keys() & {"col", "selector", "secondary_y"})
        if unsupported:
            raise TypeError(f"update_{letter}axes: {unsupported[0]}= is not supported here")
        if row is not None:
            return [f"{letter}axis{row if row > 1 else ''}"]
        return [key for key in self.layout if _AXIS[letter].fullmatch(key)] or [f"{letter}axis"]

    def figure(self) -> go.Figure:
        """The finished ``go.Figure``, with the sendkit theme.

        Each figure gets its own copy of the template (0.3 ms): a caller who edits
        ``fig.layout.template`` must not change every other chart's theme.
        """
        layout = {**self.layout, "template": copy.deepcopy(_TEMPLATE_JSON)}
        fig = go.Figure({"data": self.data, "layout": layout}, _validate=False)
        # Trusted input is in; from here on, changes made by the caller are checked.
        fig._validate = True
        _validate_from_now_on(fig.layout)
        for trace in fig.data:
            _validate_from_now_on(trace)
        return fig


def _validate_from_now_on(obj: Any) -> None:
    """Switch validation back on for ``obj`` and the property objects plotly built inside it
    while validation was off (a trace's ``marker``, the layout's axes...)."""
    obj._validate = True
    for child in obj._compound_props.values():
        _validate_from_now_on(child)
    for children in obj._compound_array_props.values():
        for child in children:
            _validate_from_now_on(child)
