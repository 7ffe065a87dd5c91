"""The README's code runs as written: every ```python block, and the notebook-only ```ipython
block of magics, executed in order in one namespace (a later block uses the names of earlier
ones, as in one notebook) on the embedded demo API, with no key and in a scratch folder.

A block that cannot run may opt out only by starting with ``# not run: <why>``; such blocks
are listed in ``NOT_RUN`` here, so adding one is a visible decision. Every other fence must
carry a language this test knows, so a Python block tagged ``py`` (or not at all) is not
silently skipped.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.io as pio
import pytest
from IPython.core.interactiveshell import InteractiveShell

import sendkit_nb as sk
from sendkit_nb._report import Report
from sendkit_nb.widgets import Dashboard

README = Path(__file__).resolve().parent.parent / "README.md"

#: Languages of blocks that run: plain Python, and IPython (magics) run in an IPython shell.
RUN = {"python", "ipython"}
#: Languages of blocks that are read, not run (shell commands, output, file listings).
NOT_CODE = {"bash", "text"}
#: Blocks that opt out with ``# not run:`` (their first line); none do today.
NOT_RUN: list[str] = []
#: The README holds at least this many runnable blocks (guards the extraction itself).
AT_LEAST = 8

_FENCE = re.compile(r"^```(\S*)[ \t]*$")


@dataclass(frozen=True)
class Block:
    lang: str
    #: README line of the block's first code line (1-based).
    line: int
    source: str


def blocks(text: str) -> list[Block]:
    """The README's fenced code blocks in order (fences start at column 0 there)."""
    found: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        start = index
        while index < len(lines) and lines[index].rstrip() != "```":
            index += 1
        assert index < len(lines), f"README.md:{start}: code block never closed"
        found.append(Block(opening.group(1), start + 1, "\n".join(lines[start:index]) + "\n"))
        index += 1
    return found


def run(block: Block, namespace: dict[str, Any], shell: InteractiveShell) -> list[tuple[str, Any]]:
    """Execute one block statement by statement; return each top-level expression's source
    and value (what a notebook would display, had each been the last line of a cell).
    Tracebacks point at README.md's own lines."""
    source = block.source
    if block.lang == "ipython":
        # %magics become get_ipython().run_line_magic(...) calls, line for line.
        transform: Callable[[str], str] = shell.transform_cell
        source = transform(source)
    tree = ast.parse(source, str(README))
    ast.increment_lineno(tree, block.line - 1)
    shown: list[tuple[str, Any]] = []
    for statement in tree.body:
        if isinstance(statement, ast.Expr):
            code = compile(ast.Expression(statement.value), str(README), "eval")
            shown.append((ast.unparse(statement.value), eval(code, namespace)))
        else:
            module = ast.Module(body=[statement], type_ignores=[])
            exec(compile(module, str(README), "exec"), namespace)
    return shown


@pytest.fixture()
def shell() -> Iterator[InteractiveShell]:
    """The IPython shell the ```ipython block's magics run in; the extension is unloaded and
    plotly's renderer restored afterwards, so no other test sees either."""
    ip = InteractiveShell.instance()
    renderer = pio.renderers.default
    try:
        yield ip
    finally:
        if "SendKitMagics" in ip.magics_manager.registry:
            ip.run_line_magic("unload_ext", "sendkit_nb")
        pio.renderers.default = renderer


def test_every_readme_code_block_runs_on_the_demo_api(
    shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SENDKIT_API_KEY", "SENDKIT_BASE_URL", "SENDKIT_WORKSPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # files the blocks write land here

    found = blocks(README.read_text("utf-8"))
    unknown = [f"README.md:{b.line}: ```{b.lang}" for b in found if b.lang not in RUN | NOT_CODE]
    assert not unknown, f"code blocks in a language this test does not know: {unknown}"
    runnable = [b for b in found if b.lang in RUN]
    assert len(runnable) >= AT_LEAST, "fewer code blocks than the README holds: extraction?"
    skipped = [b for b in runnable if b.source.startswith("# not run:")]
    assert [b.source.splitlines()[0] for b in skipped] == NOT_RUN

    namespace: dict[str, Any] = {"__name__": "__main__", "get_ipython": lambda: shell}
    shown: list[tuple[str, Any]] = []
    opened: list[Any] = []  # clients and dashboards, closed at the end (demo servers stop)
    ran = 0
    try:
        for block in runnable:
            if block in skipped:
                continue
            try:
                values = run(block, namespace, shell)
            except Exception as exc:
                raise AssertionError(
                    f"README.md:{block.line}: the ```{block.lang} block failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            shown += values
            opened += [v for _, v in values] + list(namespace.values())
            ran += 1
    finally:
        for thing in {id(t): t for t in opened}.values():
            if isinstance(thing, Dashboard | sk.SendKitClient):
                thing.close()
    assert ran == len(runnable) - len(skipped) >= AT_LEAST - len(NOT_RUN)

    # What a notebook would show for these lines is small: dashboards are widgets built without
    # any frontend, a report is one line and a link, and no cell prints a megabyte string.
    dashboards = [v for code, v in shown if "dashboard" in code]
    assert dashboards and all(isinstance(v, Dashboard) for v in dashboards), dashboards
    reports = [v for code, v in shown if re.match(r"(sk\.)?report\b", code)]
    assert reports and all(isinstance(v, Report) for v in reports), reports
    for report in reports:
        assert len(repr(report)) < 120 and "\n" not in repr(report)
        assert len(report._repr_html_()) < 2_000
    last = {r.path: r for r in reports if r.path is not None}  # a later one may overwrite
    assert last and all(path.read_text("utf-8") == r.html for path, r in last.items())
    big = [code for code, v in shown if isinstance(v, str) and len(v) > 10_000]
    assert not big, f"lines that would print a long string in a notebook: {big}"
    written = sorted(tmp_path.glob("*.html"))
    assert written and all(p.read_text("utf-8").startswith("<!DOCTYPE html>") for p in written)
