"""Turning a report view into one self-contained HTML string, and writing it.

The page layout lives in package files (``templates/report.html.j2``, ``report.css``,
``report.js``); this module fills them in. plotly.js is inlined exactly once; each figure is a
JSON block drawn by ``report.js``, with the (large, shared) plotly template stored once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from sendkit_nb._checks import check_path
from sendkit_nb._errors import BadRequestError
from sendkit_nb._files import check_writable, checked_kind, make_parents, path_error, write_atomic

__all__ = ["FigureStore", "check_report_path", "render", "write_report"]

#: File endings a report may be written to: it is HTML and nothing else.
REPORT_SUFFIXES = (".html", ".htm")
#: The hint of a report path that cannot be looked up.
_LOOKUP_HINT = "Choose an output path whose names fit the file system, with no symlink loop."


def check_report_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it ends in ``.html``/``.htm``, else a
    :class:`~sendkit_nb.BadRequestError` (raised before any data is loaded).

    >>> check_report_path("out/report.html").name
    'report.html'
    >>> check_report_path("report.pdf")
    Traceback (most recent call last):
    ...
    sendkit_nb._errors.BadRequestError: cannot write report.pdf: a report is a single HTML file, \
so the output must end in .html. Hint: For example -o report.html
    """
    target = check_path(path, "path", example="report.html")
    # A folder is named as one, whatever its name ends in: "must end in .html" would send the
    # reader renaming a folder.
    if checked_kind(target, BadRequestError, doing="write", hint=_LOOKUP_HINT) == "folder":
        raise BadRequestError(
            f"cannot write {target}: it is a folder",
            hint=f"Name a file inside it, for example {target / 'report.html'}",
        )
    if target.suffix.lower() not in REPORT_SUFFIXES:
        raise BadRequestError(
            f"cannot write {target.name}: a report is a single HTML file, so the output must "
            "end in .html",
            hint="For example -o report.html",
        )
    return target


def write_report(html: str, path: str | os.PathLike[str]) -> Path:
    """Write ``html`` to ``path`` (``.html``), creating folders; return the path written. A
    path that cannot be written is a :class:`~sendkit_nb.BadRequestError` (see
    :func:`sendkit_nb._files.check_writable`), with nothing created.

    The file is written next to its target and then moved into place
    (:func:`sendkit_nb._files.write_atomic`), so an interrupted write never leaves a half report
    where a complete one was.
    """
    target = check_writable(check_report_path(path))
    make_parents(target)
    try:
        write_atomic(target, lambda handle: handle.write(html.encode("utf-8")))
    except OSError as exc:
        raise path_error(
            target,
            exc,
            BadRequestError,
            doing="write",
            hint="Check that the folder is writable and its disk has room.",
        ) from None
    return target


def script_json(value: Any) -> str:
    """JSON that is safe inside ``<script>``: ``<``, ``>`` and ``&`` are escaped as ``\\u00XX``
    (still valid JSON), so a campaign name holding ``</script>`` cannot end the block."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@dataclass
class FigureStore:
    """Figures of one report as JSON blocks, with their plotly templates stored once.

    Every chart carries the same theme template (several kB of JSON); storing it once per
    report instead of once per figure keeps a campaign's share of the file small.
    """

    prefix: str = "sk-fig"
    figures: list[dict[str, str]] = field(default_factory=list)
    templates: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: Any) -> str:
        """Store a plotly figure; return the id of its JSON block."""
        import plotly.io as pio

        # plotly's own encoder: numpy arrays become typed-array specs, dates ISO strings.
        spec: dict[str, Any] = json.loads(pio.to_json(figure, validate=False))
        layout = spec.setdefault("layout", {})
        template = layout.pop("template", None)
        if template is not None:
            text = json.dumps(template, sort_keys=True, separators=(",", ":"))
            key = hashlib.sha256(text.encode()).hexdigest()[:12]
            self.templates.setdefault(key, template)
            spec["template"] = key
        figure_id = f"{self.prefix}-{len(self.figures) + 1}"
        self.figures.append({"id": figure_id, "json": script_json(spec)})
        return figure_id


def _template_file(name: str) -> str:
    return resources.files("sendkit_nb._report").joinpath("templates", name).read_text("utf-8")


@cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("sendkit_nb._report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


@cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    js: str = get_plotlyjs()
    # Inlined in a <script> element: a literal "</script" would end it early.
    return js.replace("</script", "<\\/script")


def render(view: Any, store: FigureStore) -> str:
    """The complete HTML page for ``view`` (a ``ReportView``) and the figures in ``store``."""
    from markupsafe import Markup

    template = _environment().get_template("report.html.j2")
    html: str = template.render(
        view=view,
        css=Markup(_template_file("report.css")),
        report_js=Markup(_template_file("report.js")),
        plotly_js=Markup(_plotly_js()),
        templates_json=Markup(script_json(store.templates)),
        figures=[{"id": f["id"], "json": Markup(f["json"])} for f in store.figures],
    )
    return html
