"""Refreshing a displayed figure in place, for the dashboard's FigureWidgets.

Replacing a FigureWidget's figure re-renders it from scratch (a visible flicker, and the
analyst's zoom and legend toggles are lost); assigning new values to the existing traces and
layout inside one ``batch_update()`` sends a single update message that plotly.js applies in
one go.
"""

from __future__ import annotations

from typing import Any, Final

import plotly.graph_objects as go
from plotly.basedatatypes import BaseFigure

from sendkit_nb._errors import BadRequestError

__all__ = ["update_figure"]

#: Layout keys never copied: the template is the same for every chart and large.
_KEEP: Final = frozenset({"template"})
#: Trace keys never copied: the trace type never changes in place, and a FigureWidget's uid
#: is its own.
_TRACE_KEEP: Final = frozenset({"type", "uid"})
_ABSENT: Final = object()
#: Set by the browser, not by the charts: a legend click sets a trace's ``visible``, a zoom an
#: axis's ``range``/``autorange``. Kept across refreshes unless the new figure sets them itself,
#: so that a status switch keeps the analyst's legend toggles and zoom.
_BROWSER_OWNED: Final = frozenset({"visible", "range", "autorange"})


def _same_trace(a: Any, b: Any) -> bool:
    # A trace is updated in place only when it is the same kind of trace for the same thing
    # (a stage, a group). The charts' uids say which thing, but a FigureWidget replaces every
    # uid with a random one of its own (it maps front-end events back to traces by uid), so
    # the trace name, which the charts keep unique per figure, is the fallback.
    return bool(a.type == b.type and (a.uid == b.uid or a.name == b.name))


def update_figure(target: Any, source: Any) -> Any:
    """Copy a freshly built figure's data and layout into ``target`` (a ``go.Figure`` or a
    ``go.FigureWidget`` already on screen), in place, and return ``target``.

    Traces that match by position, type and ``uid`` (or ``name``: a plain FigureWidget assigns
    its own uids) are updated property by property, the uid excepted: properties that differ
    are assigned, a property the new trace lacks is reset, equal ones are left alone. On a
    FigureWidget, what the browser sets (a trace hidden from the legend, an axis range from a
    zoom) stays unless the new figure sets it, or that axis changes otherwise. Traces
    are removed or added only where the two figures differ (e.g. a reply curve with another
    number of groups). The layout is updated the same way key by key, titles and annotations
    included, except the template. Property updates happen in one ``batch_update()``, so a
    FigureWidget redraws once.

    >>> import plotly.graph_objects as go
    >>> import polars as pl
    >>> import sendkit_nb.charts as charts
    >>> def counts(leads):
    ...     return pl.DataFrame({"status": ["active", "replied"], "leads": [leads - 1, 1]})
    >>> shown = go.Figure(charts.status_breakdown(counts(10)))
    >>> before = shown.data[0]
    >>> _ = update_figure(shown, charts.status_breakdown(counts(25)))
    >>> shown.data[0] is before, sum(shown.data[0].y)
    (True, 25)
    """
    if not isinstance(target, BaseFigure) or not isinstance(source, BaseFigure):
        raise BadRequestError(
            "update_figure needs two plotly figures, got "
            f"{type(target).__name__} and {type(source).__name__}",
            hint="Pass the displayed go.Figure/FigureWidget and a figure from sendkit_nb.charts.",
        )
    new = list(source.data)
    # Structural changes first, outside the batch: batched edits are keyed by trace index,
    # which adding or removing traces would shift.
    keep = 0
    while keep < min(len(target.data), len(new)) and _same_trace(target.data[keep], new[keep]):
        keep += 1
    if keep < len(target.data):
        target.data = target.data[:keep]
    if keep < len(new):
        target.add_traces([trace.to_plotly_json() for trace in new[keep:]])

    # Only what differs is assigned: plotly checks every assigned value (most of a refresh's
    # time when everything was assigned), and the browser gets a smaller update. Both sides
    # are read as the plain property dicts plotly keeps (`_props`), not to_plotly_json(),
    # which deep-copies every value, the large template included.
    # Only a figure on screen has settings of the browser's own to keep.
    # (go.FigureWidget is plotly's stand-in class when anywidget is not installed.)
    kept = _BROWSER_OWNED if isinstance(target, go.FigureWidget) else frozenset()
    with target.batch_update():
        for old, fresh in zip(target.data[:keep], new[:keep], strict=True):
            # Never the uid: a FigureWidget's own uid is how it finds the trace on screen.
            _assign_changes(old, _props(fresh), skip=_TRACE_KEEP, kept=kept)
        _assign_changes(target.layout, _props(source.layout), skip=_KEEP, kept=kept)
    return target


def _assign_changes(
    target: Any, wanted: dict[str, Any], skip: frozenset[str], kept: frozenset[str]
) -> None:
    """Set each top-level property of ``target`` that differs from ``wanted`` (a property
    ``wanted`` lacks is reset to its default), leaving equal ones untouched, and leaving the
    ``kept`` settings (the browser's own) where ``wanted`` does not set them."""
    current = _props(target)
    for key in current.keys() - wanted.keys() - skip - kept:
        target[key] = None
    for key, value in wanted.items():
        if key in skip:
            continue
        old = current.get(key, _ABSENT)
        if isinstance(old, dict) and isinstance(value, dict):
            # An axis the browser zoomed differs from the chart's only by its range.
            old = {k: v for k, v in old.items() if k in value or k not in kept}
        if not _equal(old, value):
            target[key] = value


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except ValueError:  # an array-like whose == is elementwise: treat as changed
        return False


def _props(obj: Any) -> dict[str, Any]:
    """The properties set on a plotly object, as the plain dict plotly keeps (not a copy)."""
    props = obj._props
    return props if isinstance(props, dict) else {}
