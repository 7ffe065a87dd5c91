"""The report as plain data: what the template lays out, already worded and formatted.

Keeping formatting here (not in the template) lets tests read a view without parsing HTML and
keeps ``report.html.j2`` a layout file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Block",
    "CampaignView",
    "Cell",
    "Chart",
    "Check",
    "Column",
    "Kpi",
    "ReportView",
    "Table",
]


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool = False


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, and optionally a flag that the stylesheet colours (an A/B
    verdict's tone: ``good``, ``bad``, ``neutral`` or ``small``), or a link within the page."""

    text: str
    flag: str | None = None
    href: str | None = None


@dataclass(frozen=True)
class Table:
    key: str
    caption: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    note: str = ""
    headline: bool = False


@dataclass(frozen=True)
class Chart:
    """A chart slot: a stored figure (``figure_id``) or, when there is nothing to draw, the
    sentence saying why (``empty``)."""

    key: str
    title: str
    caption: str = ""
    figure_id: str | None = None
    empty: str | None = None


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    count: int


@dataclass(frozen=True)
class CampaignView:
    campaign_id: str
    anchor: str
    name: str
    status: str | None
    leads: int
    leads_text: str
    kpis: tuple[Kpi, ...] = ()
    charts: tuple[Chart, ...] = ()
    tables: tuple[Table, ...] = ()
    checks: tuple[Check, ...] = ()
    #: With inbox attribution: replied leads per step, last touch against the threads.
    attribution: Table | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Block:
    """A block of the definitions text: ``paragraph`` or ``list`` (one line per item)."""

    kind: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class ReportView:
    title: str
    version: str
    built_at: str
    meta: tuple[tuple[str, str], ...]
    overview_chart: Chart
    overview_table: Table
    campaigns: tuple[CampaignView, ...]
    definitions: tuple[Block, ...]
    banners: tuple[str, ...] = ()
    chart_notes: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: The Senders section (``report(..., mailboxes=)``): its chart and table, else None.
    senders: tuple[Chart, Table] | None = None
