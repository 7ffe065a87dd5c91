"""Presentation facts, written once: how numbers print, what each rate is called and what it is
over, the KPI catalogue, and the names shown for metrics, statuses, variants and campaigns.

Every front end (the dashboard, the report, the charts, the command line) prints through this
module, so the same rate reads the same everywhere: ``0.85%`` on a KPI card, in the report, in
a chart's hover and in the terminal, always labelled with its denominator
("Replied / contacted"). Nothing here computes a metric; it only words and formats them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import polars as pl

__all__ = [
    "DASH",
    "EVENT_OF",
    "HEADLINE_BASE",
    "KPIS",
    "NO_VARIANT_LABEL",
    "RATE_TITLE",
    "KpiSpec",
    "fmt_int",
    "fmt_interval",
    "fmt_kpi",
    "fmt_level",
    "fmt_p",
    "fmt_pct",
    "fmt_pp",
    "headline_table",
    "is_number",
    "rate_label",
    "status_label",
    "unique_labels",
    "unique_names",
    "variant_label",
]

#: What a missing number prints as (a zero denominator, no data): never "nan", "None" or "n/a".
DASH: Final = "–"

#: The count a rate counts, by metric name ("reply" rate counts ``replied`` leads).
EVENT_OF: Final[dict[str, str]] = {
    "open": "opened",
    "click": "clicked",
    "reply": "replied",
    "positive": "positive",
    "bounce": "bounced",
}
#: A rate's name in a title or a legend.
RATE_TITLE: Final[dict[str, str]] = {metric: f"{metric.capitalize()} rate" for metric in EVENT_OF}
#: What each rate of the campaign headline (``metrics.headline``, per lead) is over.
HEADLINE_BASE: Final[dict[str, str]] = {
    "positive_rate": "contacted",
    "reply_rate": "contacted",
    "bounce_rate": "contacted",
    "open_rate": "delivered",
    "click_rate": "delivered",
}
#: How a lead without a variant (a step's single arm) is shown.
NO_VARIANT_LABEL: Final = "(no variant)"


# -- numbers ------------------------------------------------------------------------------------


def is_number(value: object) -> bool:
    """A finite int or float (not a bool, not None, not NaN)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_int(value: object) -> str:
    """A count with thousands separators.

    >>> fmt_int(3239), fmt_int(None)
    ('3,239', '–')
    """
    return f"{int(value):,}" if is_number(value) else DASH  # type: ignore[call-overload]


def fmt_pct(value: object) -> str:
    """A share as a percentage: one decimal, two below 1% (where one decimal hides the
    differences that matter for replies); missing -> ``"–"``.

    >>> fmt_pct(0.0085), fmt_pct(0.0799), fmt_pct(0), fmt_pct(None)
    ('0.85%', '8.0%', '0.0%', '–')
    """
    if not is_number(value):
        return DASH
    pct = float(value) * 100  # type: ignore[arg-type]
    return f"{pct:.2f}%" if 0 < abs(pct) < 1 else f"{pct:.1f}%"


def fmt_pp(value: object) -> str:
    """A difference of two shares in percentage points, signed.

    >>> fmt_pp(-0.0123)
    '-1.23 pp'
    """
    if not is_number(value):
        return DASH
    return f"{float(value) * 100:+.2f} pp"  # type: ignore[arg-type]


def fmt_p(value: object) -> str:
    """A p-value: three decimals, ``"< 0.001"`` below that.

    >>> fmt_p(0.0004), fmt_p(0.0312)
    ('< 0.001', '0.031')
    """
    if not is_number(value):
        return DASH
    p = float(value)  # type: ignore[arg-type]
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_level(level: float) -> str:
    """A confidence level: ``0.95`` -> ``"95%"``, ``0.975`` -> ``"97.5%"``."""
    return f"{level * 100:.4g}%"


def fmt_interval(low: object, high: object) -> str:
    """An interval of two shares, ``"7.1% – 9.0%"`` (``"–"`` when a bound is missing)."""
    if not (is_number(low) and is_number(high)):
        return DASH
    return f"{fmt_pct(low)} – {fmt_pct(high)}"


# -- words --------------------------------------------------------------------------------------


def rate_label(metric: str, base: str) -> str:
    """The one way a rate is named with its denominator, everywhere.

    >>> rate_label("reply", "contacted"), rate_label("bounce", "sent")
    ('Replied / contacted', 'Bounced / sent')
    """
    return f"{EVENT_OF[metric].capitalize()} / {base}"


def status_label(status: object) -> str:
    """A SendKit lead or campaign status as people read it: ``"meeting_booked"`` ->
    ``"Meeting booked"``; missing -> ``"–"``."""
    if status is None or status == "":
        return DASH
    return str(status).replace("_", " ").capitalize()


def variant_label(variant: object) -> str:
    """A variant's name; a lead without one is its step's single arm."""
    return NO_VARIANT_LABEL if variant is None else str(variant)


def unique_labels(labels: Sequence[str], keys: Sequence[Any]) -> list[str]:
    """``labels`` made unique by appending the last six characters of the key where two share a
    label (two campaigns may have the same name). A label that is its key already is unique.

    >>> unique_labels(["Q3", "Q3", "Pilot"], ["aa1111", "bb2222", "cc3333"])
    ['Q3 (aa1111)', 'Q3 (bb2222)', 'Pilot']
    """
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    return [
        f"{label} ({str(key)[-6:]})"
        if seen[label] > 1 and key is not None and label != str(key)
        else label
        for label, key in zip(labels, keys, strict=True)
    ]


def unique_names(ids: Sequence[str], names: Mapping[str, str | None]) -> dict[str, str]:
    """Display names of campaigns: the name (the id without one), with the id's tail added
    where two share a name, so no switcher or legend shows two identical entries."""
    shown = [names.get(cid) or cid for cid in ids]
    return dict(zip(ids, unique_labels(shown, ids), strict=True))


# -- the KPI catalogue --------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiSpec:
    """One headline number: ``column`` of ``metrics.headline``, how it prints (``kind``), the
    label people read, the count it is over (rates only) and its definition."""

    key: str
    column: str
    kind: Literal["count", "rate"]
    label: str
    definition: str
    denominator: str | None = None


def _rate(metric: str, definition: str) -> KpiSpec:
    column = f"{metric}_rate"
    base = HEADLINE_BASE[column]
    return KpiSpec(column, column, "rate", rate_label(metric, base), definition, base)


#: The campaign headline's numbers in display order (the dashboard shows every one as a card,
#: the report as its KPI strip).
KPIS: Final[dict[str, KpiSpec]] = {
    spec.key: spec
    for spec in (
        KpiSpec("leads", "leads", "count", "Leads", "Campaign leads in the selection"),
        KpiSpec("contacted", "contacted", "count", "Contacted", "Leads with at least one email"),
        KpiSpec(
            "delivered",
            "delivered",
            "count",
            "Delivered",
            "Leads with at least one email that did not bounce",
        ),
        KpiSpec(
            "opened",
            "opened",
            "count",
            "Opened",
            "Leads who opened a delivered email (directional: proxies and image blocking "
            "distort opens)",
        ),
        KpiSpec("replied", "replied", "count", "Replied", "Contacted leads who replied"),
        KpiSpec(
            "positive",
            "positive",
            "count",
            "Positive",
            "Replied leads with a positive AI tag",
        ),
        _rate("positive", "The headline rate: positive replies per lead contacted"),
        _rate("reply", "Replied leads per lead contacted"),
    )
}


def fmt_kpi(spec: KpiSpec, headline: Mapping[str, Any]) -> str:
    """A KPI's value from a headline row, printed as its kind prints."""
    value = headline.get(spec.column)
    return fmt_pct(value) if spec.kind == "rate" else fmt_int(value)


# -- tables for a terminal ----------------------------------------------------------------------


def headline_table(headline: pl.DataFrame, names: Mapping[str, str | None]) -> pl.DataFrame:
    """The campaign headline (``metrics.headline`` by campaign) as the command line prints it:
    the campaign's name, its main counts, and its per-lead rates as text printed by
    :func:`fmt_pct` under their :func:`rate_label`, exactly as the dashboard and report print
    them."""
    ids = [str(cid) for cid in headline["campaign_id"].to_list()]
    shown = unique_names(ids, names)
    rates = ("positive_rate", "reply_rate", "bounce_rate")
    return headline.select(
        pl.Series("name", [shown[cid] for cid in ids], dtype=pl.String),
        "leads",
        "contacted",
        "replied",
        "positive",
        "bounced",
        *(
            pl.Series(
                rate_label(rate.removesuffix("_rate"), HEADLINE_BASE[rate]),
                [fmt_pct(v) for v in headline[rate].to_list()],
                dtype=pl.String,
            )
            for rate in rates
        ),
    )
