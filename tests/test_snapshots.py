"""Snapshot tests: what readers see of the report and the campaign summary, as reviewed text.

Each test renders fixed demo data (the seeded default workspace, a fixed pull time) to a
normalised text form and compares it with a file under ``tests/snapshots/``:

* ``report_*.txt``: the report's HTML as an outline, one element per line (``tag#id.class
  [attr="value"]: text``), a table row per line, each chart's plotly figure summarised under
  its box (title, annotations, axis titles, traces and their labels; not the numbers), CSS,
  plotly.js, the report script and the figure JSON left out, the sendkit_nb version and the
  build time masked as ``<version>`` and ``<now>``;
* ``summary_*.md``: the frames of one :class:`~sendkit_nb._summary.CampaignSummary` as
  Markdown tables, floats with six decimals.

When a test fails it shows a unified diff of the snapshot against the output. If the change
is intended, rewrite the snapshots and review them like code::

    SENDKIT_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_snapshots.py
    git diff tests/snapshots/

(in the manner of great-tables' syrupy snapshots, without the dependency).
"""

from __future__ import annotations

import base64
import difflib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import sendkit_nb as sk
from sendkit_nb._summary import CampaignSummary, SummaryOptions, summarize
from sendkit_nb._version import __version__

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
#: Set to 1 to rewrite the snapshots from the current output instead of comparing.
UPDATE_VARIABLE = "SENDKIT_UPDATE_SNAPSHOTS"
UPDATE_COMMAND = f"{UPDATE_VARIABLE}=1 .venv/bin/python -m pytest tests/test_snapshots.py"

AB_CAMPAIGN = "683b61000000000000000001"  # active, an A/B test on step 1, 3,400 leads
PILOT_CAMPAIGN = "683b610000000000000041c1"  # completed, small, no click tracking
DRAFT_CAMPAIGN = "683b610000000000000042b7"  # draft: every lead pending, nothing sent

#: A fixed pull time (the demo's clock is frozen at 2025-07-01 12:00 UTC).
PULLED_AT = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)

#: Every snapshot file the tests below write (a file not listed here is stale).
SNAPSHOT_FILES = frozenset(
    {"report_ab_and_pilot.txt", "report_draft.txt", "summary_ab_campaign.md"}
)


# -- comparing and updating ---------------------------------------------------------------------


def updating() -> bool:
    return os.environ.get(UPDATE_VARIABLE, "") not in ("", "0")


def assert_snapshot(name: str, text: str, directory: Path = SNAPSHOTS) -> None:
    """Compare ``text`` with the snapshot file ``name``; with :data:`UPDATE_VARIABLE` set,
    write it instead (only when it changed, so an update leaves equal files untouched)."""
    path = directory / name
    text = text.rstrip("\n") + "\n"
    shown = f"tests/snapshots/{name}"
    if updating():
        if not path.exists() or path.read_text("utf-8") != text:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
        return
    if not path.exists():
        pytest.fail(
            f"no snapshot {shown} yet: create it with `{UPDATE_COMMAND}` and review it",
            pytrace=False,
        )
    expected = path.read_text("utf-8")  # universal newlines: a CRLF checkout compares equal
    if expected != text:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{shown} (snapshot)",
                tofile=f"{shown} (now)",
            )
        )
        pytest.fail(
            f"{shown} differs from the output. If the change is intended, run `{UPDATE_COMMAND}`"
            f" and review `git diff tests/snapshots/`.\n\n{diff}",
            pytrace=False,
        )


# -- the report's HTML as an outline ------------------------------------------------------------

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_INLINE = frozenset(
    {"a", "abbr", "b", "br", "code", "em", "i", "kbd", "mark", "q", "s", "small", "span"}
    | {"strong", "sub", "sup", "time", "u"}
)
#: Elements whose content is left out (CSS, plotly.js, the report script, figure JSON).
_OPAQUE = frozenset({"script", "style"})
#: Attributes left out: ``data-label`` repeats the column header on every cell.
_DROPPED_ATTRIBUTES = frozenset({"data-label"})
_SPACES = re.compile(r"[ \t\n\r\f]+")  # ASCII whitespace only: a no-break space is content

MASK_VERSION = "<version>"
MASK_NOW = "<now>"
_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?UTC|Z|[+-]\d{2}:?\d{2})?"
)


@dataclass
class Node:
    tag: str
    attrs: list[tuple[str, str | None]]
    children: list[Node | str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.attrs if k == name), None)


class _Tree(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", [])
        self.stack = [self.root]
        self.feed(text)
        self.close()

    def handle_decl(self, decl: str) -> None:
        self.root.children.append(Node(f"!{decl}", []))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, attrs)
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return
        raise AssertionError(f"</{tag}> closes no open element")

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def _selector(node: Node) -> str:
    """``tag#id.class.class[attr="value"]``, the other attributes in document order."""
    out = node.tag
    identifier = node.get("id")
    if identifier:
        out += f"#{identifier}"
    out += "".join(f".{name}" for name in (node.get("class") or "").split())
    for name, value in node.attrs:
        if name in ("id", "class") or name in _DROPPED_ATTRIBUTES:
            continue
        out += f"[{name}]" if value is None else f'[{name}="{_words(value)}"]'
    return out


def _words(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def _inline_only(node: Node) -> bool:
    return all(isinstance(c, str) or (c.tag in _INLINE and _inline_only(c)) for c in node.children)


def _inline(children: Sequence[Node | str]) -> str:
    parts: list[str] = []
    for child in children:
        if isinstance(child, str):
            parts.append(child)
        elif child.tag == "br":
            parts.append(" <br> ")
        else:
            parts.append(f"<{_selector(child)}>{_inline(child.children)}</{child.tag}>")
    return _words("".join(parts))


def _table_row(node: Node) -> str | None:
    """A ``<tr>`` of simple cells as one line, ``tr: td: text | td.num: 3,400 | ...``."""
    cells = [c for c in node.children if not (isinstance(c, str) and not c.strip())]
    if not cells or not all(
        isinstance(c, Node) and c.tag in ("td", "th") and _inline_only(c) for c in cells
    ):
        return None
    return "tr: " + " | ".join(
        f"{_selector(c)}: {_inline(c.children)}" for c in cells if isinstance(c, Node)
    )


def _outline(node: Node, depth: int, figures: Mapping[str, Any], lines: list[str]) -> None:
    pad = "  " * depth
    if node.tag.startswith("!"):
        lines.append(f"{pad}<{node.tag}>")
        return
    if node.tag in _OPAQUE:
        lines.append(f"{pad}{_selector(node)}: (content left out)")
        return
    if node.tag == "tr" and (row := _table_row(node)) is not None:
        lines.append(pad + row)
        return
    figure_id = node.get("data-figure")
    if figure_id is None and _inline_only(node):
        text = _inline(node.children)
        lines.append(f"{pad}{_selector(node)}: {text}" if text else pad + _selector(node))
        return
    lines.append(pad + _selector(node))
    run: list[Node | str] = []

    def flush() -> None:
        text = _inline(run)
        if text:
            lines.append(f"{pad}  | {text}")
        run.clear()

    for child in node.children:
        if isinstance(child, str) or (child.tag in _INLINE and _inline_only(child)):
            run.append(child)
            continue
        flush()
        _outline(child, depth + 1, figures, lines)
    flush()
    if figure_id is not None:
        spec = figures.get(figure_id)
        assert spec is not None, f"no figure JSON for data-figure={figure_id!r}"
        lines.extend(f"{pad}  {line}" for line in _figure_lines(figure_id, spec))


def _length(values: Any) -> int:
    """Entries of a plotly data array: a list, or plotly 6's typed array (base64 ``bdata``)."""
    if isinstance(values, list):
        return len(values)
    if isinstance(values, dict) and "bdata" in values:
        if "shape" in values:
            count = 1
            for size in str(values["shape"]).split(","):
                count *= int(size)
            return count
        width = int(re.sub(r"\D", "", str(values.get("dtype", "f8"))) or 8)
        return len(base64.b64decode(values["bdata"])) // width
    return 1


def _values(values: Any) -> str:
    """Text values (category labels, bar labels) as they read; numbers only counted."""
    if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
        if len(values) <= 12:
            return " | ".join(_words(v) for v in values)
        return f"{_words(values[0])} … {_words(values[-1])} ({len(values)} labels)"
    count = _length(values)
    return f"{count} number{'' if count == 1 else 's'}"


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("text")
    return _words(str(value)) if value is not None else ""


def _natural(key: str) -> tuple[str, int]:
    match = re.fullmatch(r"(\D+)(\d*)", key)
    assert match is not None
    return match.group(1), int(match.group(2) or 1)


def _figure_lines(figure_id: str, spec: Mapping[str, Any]) -> Iterator[str]:
    """What a reader sees of a chart, apart from the drawn values."""
    layout: Mapping[str, Any] = spec.get("layout", {})
    yield f"~ plotly figure {figure_id}: {_text(layout.get('title')) or '(no title)'}"
    for annotation in layout.get("annotations", []):
        yield f"  ~ annotation: {_text(annotation)}"
    for axis in sorted((k for k in layout if re.fullmatch(r"[xy]axis\d*", k)), key=_natural):
        title = _text((layout[axis] or {}).get("title"))
        if title:
            yield f"  ~ {axis} title: {title}"
    for trace in spec.get("data", []):
        name = trace.get("name")
        yield f"  ~ trace {trace.get('type', 'scatter')}" + (f' "{_words(name)}"' if name else "")
        for key in ("x", "y", "text"):
            if key in trace and trace[key] is not None and not isinstance(trace[key], str):
                yield f"    ~ {key}: {_values(trace[key])}"


def _figures(tree: Node) -> dict[str, Any]:
    """The figure JSON blocks of the page by id (``<script type="application/json">``)."""
    import json

    found: dict[str, Any] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.tag == "script" and node.get("type") == "application/json":
            spec = json.loads("".join(c for c in node.children if isinstance(c, str)))
            if isinstance(spec, dict) and "data" in spec:
                found[node.get("id") or ""] = spec
        stack.extend(c for c in node.children if isinstance(c, Node))
    return found


def mask(text: str, now: datetime | None = None) -> str:
    """The version and any timestamp of today or yesterday (UTC: the build, or a pull time
    that was not fixed) replaced by placeholders; the demo data's own dates are kept."""
    now = now or datetime.now(UTC)
    recent = {str(now.date()), str((now - timedelta(days=1)).date())}
    text = text.replace(f"sendkit_nb {__version__}", f"sendkit_nb {MASK_VERSION}")
    return _TIMESTAMP.sub(lambda m: MASK_NOW if m.group(1) in recent else m.group(0), text)


def html_outline(page: str, now: datetime | None = None) -> str:
    """The page as a masked outline: one element per line, indented by depth."""
    tree = _Tree(page).root
    lines: list[str] = []
    figures = _figures(tree)
    for child in tree.children:
        if isinstance(child, Node):
            _outline(child, 0, figures, lines)
        elif child.strip():
            lines.append(f"| {_words(child)}")
    return mask("\n".join(lines), now)


# -- frames as Markdown tables ------------------------------------------------------------------


def cell(value: Any) -> str:
    """One value as fixed text: floats with six decimals (no ``-0``), null as ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        text = f"{value:.6f}"
        return "0.000000" if text == "-0.000000" else text
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cell(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {cell(v)}" for k, v in value.items()) + "}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    widths = [max(w, 3) for w in widths]

    def line(values: Sequence[str]) -> str:
        padded = (
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    rule = "| " + " | ".join(
        "-" * (w - 1) + ":" if r else "-" * w for w, r in zip(widths, right, strict=True)
    )
    return "\n".join([line(header), rule + " |", *(line(r) for r in rows)])


def frame_rows(frame: pl.DataFrame) -> str:
    """A frame as a Markdown table, a row per line, its schema above it."""
    schema = ", ".join(f"{name}: {dtype}" for name, dtype in frame.schema.items())
    rows = [[cell(v) for v in row] for row in frame.iter_rows()]
    right = [dtype.is_numeric() for dtype in frame.schema.values()]
    return f"schema: {schema}\n\n" + _markdown(frame.columns, rows, right)


def frame_columns(frame: pl.DataFrame) -> str:
    """A wide frame turned on its side: a column per line (name, dtype, a value per row)."""
    header = ["column", "dtype", *(f"row {i}" for i in range(frame.height))]
    rows = [
        [name, str(dtype), *(cell(v) for v in frame[name].to_list())]
        for name, dtype in frame.schema.items()
    ]
    return _markdown(header, rows, [False] * len(header))


def mapping_table(values: Mapping[str, Any]) -> str:
    return _markdown(["field", "value"], [[k, cell(v)] for k, v in values.items()], [False, False])


def summary_text(summary: CampaignSummary, title: str) -> str:
    curve = summary.reply_curve
    head_days = 8
    curve_head = curve.filter(pl.int_range(pl.len()).over("group") < head_days)
    daily_head = 14
    parts = [
        f"# {title}",
        f"campaign_id: {summary.campaign_id}  \n"
        f"options: {summary.options!r}  \n"
        f"leads selected: {summary.leads.height}, curve_by_variant: "
        f"{summary.curve_by_variant}, detailed: {summary.detailed}",
        "## headline",
        mapping_table(summary.headline),
        "## funnel (a column per line)",
        frame_columns(summary.funnel),
        "## variant_funnel (a column per line)",
        frame_columns(summary.variant_funnel) if summary.variant_funnel is not None else "None",
        f"## reply_curve (first {head_days} rows of each group, {curve.height} rows in all)",
        frame_rows(curve_head),
        f"## daily (first {daily_head} rows, {summary.daily.height} in all)",
        frame_rows(summary.daily.head(daily_head)),
        "## status_counts",
        frame_rows(summary.status_counts),
        "## ai_tags",
        frame_rows(summary.ai_tags),
        "## timing",
        mapping_table(summary.timing) if summary.timing is not None else "None",
        "## checks",
        frame_rows(summary.checks) if summary.checks is not None else "None",
    ]
    return "\n\n".join(parts)


# -- the snapshots ------------------------------------------------------------------------------


def _report_outline(client: sk.SendKitClient, campaigns: list[str]) -> str:
    built = sk.report(client, campaigns, progress=False, pulled_at=PULLED_AT)
    text = html_outline(built.as_raw_html())
    # The masks must still find what they hide: if the footer or the generator tag change
    # form, say so here rather than let the snapshot hold a build time that fails tomorrow.
    assert MASK_NOW in text, "the build time was not found (and masked) in the report"
    assert f"sendkit_nb {MASK_VERSION}" in text, "the version was not found in the report"
    assert __version__ not in text.replace(f"sendkit_nb {MASK_VERSION}", "")
    return text


def test_report_of_an_ab_test_and_a_small_campaign(demo_client: sk.SendKitClient) -> None:
    text = _report_outline(demo_client, [AB_CAMPAIGN, PILOT_CAMPAIGN])
    assert_snapshot("report_ab_and_pilot.txt", text)


def test_report_of_a_draft_campaign(demo_client: sk.SendKitClient) -> None:
    text = _report_outline(demo_client, [DRAFT_CAMPAIGN])
    assert_snapshot("report_draft.txt", text)


def test_summary_of_an_ab_campaign(demo_client: sk.SendKitClient) -> None:
    catalog = sk.load_campaigns(demo_client)
    leads = sk.load_leads(demo_client, AB_CAMPAIGN, progress=False)
    summary = summarize(leads, catalog, SummaryOptions(), campaign_id=AB_CAMPAIGN)
    title = "Summary of the demo A/B campaign (default options)"
    assert_snapshot("summary_ab_campaign.md", summary_text(summary, title))


def test_every_snapshot_file_belongs_to_a_test() -> None:
    stale = sorted(p.name for p in SNAPSHOTS.glob("*") if p.name not in SNAPSHOT_FILES)
    assert not stale, f"snapshot files no test writes (delete them): {stale}"


# -- the helpers themselves ---------------------------------------------------------------------


def test_a_changed_snapshot_fails_with_a_diff_and_the_variable_rewrites_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UPDATE_VARIABLE, raising=False)
    (tmp_path / "x.txt").write_text("a\nb\n", encoding="utf-8")
    assert_snapshot("x.txt", "a\nb", tmp_path)
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_snapshot("x.txt", "a\nc\n", tmp_path)
    assert "-b\n+c" in str(failed.value)
    assert UPDATE_COMMAND in str(failed.value)
    with pytest.raises(pytest.fail.Exception, match="no snapshot"):
        assert_snapshot("new.txt", "a", tmp_path)
    monkeypatch.setenv(UPDATE_VARIABLE, "1")
    assert_snapshot("x.txt", "a\nc\n", tmp_path)
    assert_snapshot("new.txt", "a", tmp_path)
    assert (tmp_path / "x.txt").read_text("utf-8") == "a\nc\n"
    assert (tmp_path / "new.txt").read_text("utf-8") == "a\n"


def test_the_outline_masks_the_build_time_and_version_but_not_data_dates() -> None:
    now = datetime(2026, 1, 2, 0, 5, tzinfo=UTC)
    page = (
        '<!DOCTYPE html><html><head><meta name="generator" content="sendkit_nb '
        f'{__version__}"><style>p {{}}</style></head><body><table><tr><th class="num">Sent</th>'
        '<td data-label="Sent">1,000</td></tr></table><p>Built on 2026-01-01 23:59 UTC, '
        "<code>pulled</code> 2026-01-02T00:01:00Z; first email 2025-06-02 09:00 UTC</p>"
        "</body></html>"
    )
    assert html_outline(page, now).splitlines() == [
        "<!DOCTYPE html>",
        "html",
        "  head",
        '    meta[name="generator"][content="sendkit_nb <version>"]',
        "    style: (content left out)",
        "  body",
        "    table",
        "      tr: th.num: Sent | td: 1,000",
        "    p: Built on <now>, <code>pulled</code> <now>; first email 2025-06-02 09:00 UTC",
    ]


def test_frames_print_fixed_floats() -> None:
    frame = pl.DataFrame({"rate": [1 / 3, -1e-18, None], "n": [1, 2, 3]})
    assert frame_rows(frame).splitlines()[2:] == [
        "|     rate |   n |",
        "| -------: | --: |",
        "| 0.333333 |   1 |",
        "| 0.000000 |   2 |",
        "|     null |   3 |",
    ]
