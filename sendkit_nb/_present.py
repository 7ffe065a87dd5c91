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
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple

import polars as pl

from sendkit_nb.metrics import Window
from sendkit_nb.metrics._timing import WITHIN_DAYS

__all__ = [
    "DASH",
    "EVENT_OF",
    "HEADLINE_BASE",
    "KPIS",
    "NO_VARIANT_LABEL",
    "RATE_TITLE",
    "TEST_NAMES",
    "TONE_COLORS",
    "KpiSpec",
    "Tone",
    "Verdict",
    "ab_verdict",
    "ab_verdicts",
    "describe_window",
    "fmt_days",
    "fmt_int",
    "fmt_interval",
    "fmt_kpi",
    "fmt_level",
    "fmt_moment",
    "fmt_p",
    "fmt_pct",
    "fmt_pp",
    "fmt_seconds",
    "headline_table",
    "is_number",
    "rate_label",
    "status_label",
    "too_small_rule",
    "unique_labels",
    "unique_names",
    "variant_label",
    "variant_subjects",
    "with_variant_subjects",
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


def fmt_seconds(value: object) -> str:
    """How long something took: two decimals under a second (a dashboard switch), one above.

    >>> fmt_seconds(0.1034), fmt_seconds(12.345), fmt_seconds(None)
    ('0.10 s', '12.3 s', '–')
    """
    if not is_number(value):
        return DASH
    seconds = float(value)  # type: ignore[arg-type]
    return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"


def fmt_moment(at: datetime) -> str:
    """A moment in UTC: the date alone at midnight (a window's day boundary), else with the
    minutes.

    >>> fmt_moment(datetime(2025, 6, 1, tzinfo=UTC)), fmt_moment(datetime(2025, 6, 1, 12, 30))
    ('2025-06-01 UTC', '2025-06-01 12:30 UTC')
    """
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if (at.hour, at.minute, at.second, at.microsecond) == (0, 0, 0, 0):
        return f"{at:%Y-%m-%d} UTC"
    return f"{at:%Y-%m-%d %H:%M} UTC"


def describe_window(window: Window | None) -> str:
    """A resolved time window in words, the same on the dashboard and in the report: which
    emails it counts (the end is not included) and, for a relative window, the moment it
    counts back from.

    >>> from sendkit_nb.metrics import resolve_window
    >>> describe_window(resolve_window("7d", as_of=datetime(2025, 7, 1, 12, tzinfo=UTC)))
    'emails sent since 2025-06-24 12:00 UTC, counted back from 2025-07-01 12:00 UTC'
    >>> describe_window(resolve_window("2025-06-01", "2025-06-30"))
    'emails sent from 2025-06-01 UTC to 2025-07-01 UTC (not included)'
    >>> describe_window(None)
    'all time'
    """
    if window is None:
        return "all time"
    if window.start is not None and window.end is not None:
        span = f"emails sent from {fmt_moment(window.start)} to {fmt_moment(window.end)} "
        span += "(not included)"
    elif window.start is not None:
        span = f"emails sent since {fmt_moment(window.start)}"
    elif window.end is not None:
        span = f"emails sent before {fmt_moment(window.end)}"
    else:  # a relative window over leads without any timestamp: nothing to count back from
        span = "no dated email to count back from"
    if window.as_of is None:
        return span
    return f"{span}, counted back from {fmt_moment(window.as_of)}"


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


def fmt_days(value: object) -> str:
    """A duration in days, one decimal (medians of reply times fall between whole days).

    >>> fmt_days(3.32137), fmt_days(None)
    ('3.3 days', '–')
    """
    return f"{float(value):.1f} days" if is_number(value) else DASH  # type: ignore[arg-type]


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


# -- A/B verdicts -------------------------------------------------------------------------------

#: What an arm's A/B verdict means for the user: ``good`` (it leads a step where some gap is
#: significant), ``bad`` (it is significantly below its step's leader), ``neutral`` (no
#: significant difference, or nothing to compare) and ``small`` (too small to call).
Tone = Literal["good", "bad", "neutral", "small"]

#: How a chart colours each tone. The report's stylesheet gives its ``sk-flag-<tone>`` classes
#: the same colours, so a verdict looks the same wherever it is read.
TONE_COLORS: Final[dict[str, str]] = {
    "good": "#15803d",
    "bad": "#b91c1c",
    "neutral": "#5f6c7b",
    "small": "#b45309",
}


class Verdict(NamedTuple):
    """One arm's A/B verdict: the sentence (``text``), what it means for the user (``tone``)
    and the few words a chart prints above the arm's bar (``label``)."""

    text: str
    tone: Tone
    label: str


#: The tests :func:`~sendkit_nb.metrics.variant_funnel` runs, by its ``test`` column.
TEST_NAMES: Final[dict[str, str]] = {"z": "z-test", "fisher": "Fisher's exact test"}


def _p_words(p: object) -> str:
    shown = fmt_p(p)
    return f"p {shown}" if shown.startswith("<") else f"p = {shown}"


def _arm_words(row: Mapping[str, Any], rate: str) -> str:
    """``"A 2.92% (95% CI 2.21% – 3.85%)"``: the arm's rate and its Wilson interval."""
    shown = f"{variant_label(row['variant'])} {fmt_pct(row.get(rate))}"
    interval = fmt_interval(row.get(f"{rate}_low"), row.get(f"{rate}_high"))
    if interval == DASH:
        return shown
    level: Any = row.get("confidence")
    ci = f"{fmt_level(float(level))} CI" if is_number(level) else "CI"
    return f"{shown} ({ci} {interval})"


def too_small_rule(sends: object, events: object, event: str) -> str:
    """The too-small-to-call rule with the thresholds an A/B test ran with (a variant funnel's
    ``min_sends`` and ``min_events``), or in words when they are not known; ``event`` is what
    the test counts (``"replied"``).

    >>> too_small_rule(100, 10, "replied")
    "fewer than 100 leads in the denominator, or fewer than 10 replied across the step's arms"
    """
    if sends is None or events is None:
        return (
            "too few leads in the denominator, or too few "
            f"{event} across the step's arms (the frame's min_sends and min_events)"
        )
    return (
        f"fewer than {sends} leads in the denominator, or fewer than {events} {event} across "
        "the step's arms"
    )


def _small_words(row: Mapping[str, Any]) -> str:
    """Why an arm is too small to call, with the thresholds it was tested with."""
    event = EVENT_OF.get(str(row.get("test_metric") or "reply"), "replied")
    return too_small_rule(row.get("min_sends"), row.get("min_events"), event)


def ab_verdict(row: Mapping[str, Any], step: Sequence[Mapping[str, Any]]) -> Verdict:
    """The verdict on one arm of a :func:`~sendkit_nb.metrics.variant_funnel` row, worded and
    coloured by what it means for the user. ``step``: every row of the arm's step (``row``
    among them), so the verdict can name the leader (the arm with the highest rate among arms
    big enough to lead), or the arms the leader beats.

    A significant gap is good news for the leader and bad news for the arm below it; a gap that
    is not significant is neutral, one too small to call is ``small``. Each verdict names the
    leader, the gap in percentage points, the p-value (Holm-adjusted within the step) and the
    arms' rates with their Wilson intervals.

    >>> a = {"variant": "A", "test_metric": "reply", "reply_rate": 0.03, "arms": 2,
    ...      "is_leader": False, "diff_vs_leader": -0.015, "p_value_adj": 0.016,
    ...      "too_small": False, "significant": True}
    >>> b = {**a, "variant": "B", "reply_rate": 0.045, "is_leader": True, "diff_vs_leader": 0.0,
    ...      "p_value_adj": None, "significant": None}
    >>> ab_verdict(a, [a, b]).tone, ab_verdict(b, [a, b]).tone
    ('bad', 'good')
    >>> ab_verdict(a, [a, b]).text
    'A vs leader B: -1.50 pp, significantly lower (p = 0.016, Holm-adjusted). A 3.0%; B 4.5%.'
    """
    rate = f"{row.get('test_metric') or 'reply'}_rate"
    if (row.get("arms") or len(step)) <= 1:
        return Verdict("Only arm of this step: nothing to compare.", "neutral", "")
    leader = next((r for r in step if r.get("is_leader")), None)
    if leader is None:
        return Verdict("No leader: no arm of this step has leads to compare.", "neutral", "")
    name = variant_label(leader["variant"])
    if row.get("is_leader"):
        return _leader_verdict(leader, [r for r in step if r is not leader], rate)
    gap = fmt_pp(row.get("diff_vs_leader"))
    head = f"{variant_label(row['variant'])} vs leader {name}: {gap}"
    arms = f"{_arm_words(row, rate)}; {_arm_words(leader, rate)}."
    test = TEST_NAMES.get(str(row.get("test")))
    p = f"{_p_words(row.get('p_value_adj'))}, Holm-adjusted" + (f"; {test}" if test else "")
    if row.get("too_small") or leader.get("too_small"):
        return Verdict(
            f"{head}, too small to call ({_small_words(row)}). {arms}", "small", "too small"
        )
    if row.get("significant") is True:
        return Verdict(f"{head}, significantly lower ({p}). {arms}", "bad", f"{gap} · significant")
    if row.get("significant") is False:
        return Verdict(f"{head}, not significant ({p}). {arms}", "neutral", f"{gap} · n.s.")
    return Verdict(f"{head}, not tested. {arms}", "neutral", gap)


def _leader_verdict(
    leader: Mapping[str, Any], others: Sequence[Mapping[str, Any]], rate: str
) -> Verdict:
    name = variant_label(leader["variant"])
    own = _arm_words(leader, rate)
    tested = [r for r in others if is_number(r.get("p_value_adj"))]
    if leader.get("too_small") or (others and all(r.get("too_small") for r in others)):
        return Verdict(
            f"{name} leads, too small to call ({_small_words(leader)}). {own}.",
            "small",
            "leader · no call",
        )
    if not tested:
        return Verdict(f"{name} leads; no arm was tested against it. {own}.", "neutral", "leader")
    gaps = "; ".join(
        f"{fmt_pp(-float(r['diff_vs_leader'] or 0.0))} over {variant_label(r['variant'])}, "
        + ("significant" if r.get("significant") else "not significant")
        + f" ({_p_words(r['p_value_adj'])})"
        for r in tested
    )
    text = f"{name} leads: {gaps}; p-values Holm-adjusted. {own}."
    if any(r.get("significant") is True for r in tested):
        return Verdict(text, "good", "leader · significant")
    return Verdict(text, "neutral", "leader · n.s.")


def ab_verdicts(variants: pl.DataFrame) -> list[Verdict]:
    """:func:`ab_verdict` for every row of a variant funnel, in row order (steps are told apart
    by ``campaign_id`` and ``step``, or ``step_label`` in a frame without ``step``)."""
    keys: list[str] = [c for c in ("campaign_id", "step") if c in variants.columns]
    keys = keys or ["step_label"]
    rows = variants.to_dicts()
    steps: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        steps.setdefault(tuple(r[k] for k in keys), []).append(r)
    return [ab_verdict(r, steps[tuple(r[k] for k in keys)]) for r in rows]


def variant_subjects(
    campaigns: pl.DataFrame | Sequence[Mapping[str, Any]] | None, campaign_id: str | None
) -> dict[tuple[int, str], str]:
    """The subject line of each A/B variant of one campaign, by ``(step order, variant name)``,
    from the ``variants`` (``name``, ``subject``) of its ``sequence`` steps. ``campaigns``: the
    campaigns frame (when its sequence carries variants) or campaign dicts as the API returns
    them. Steps and variants without a subject are left out: the arm is shown by name alone.

    >>> campaign = {"_id": "c1", "sequence": [{"order": 0, "subject": "Hi", "variants": [
    ...     {"name": "A", "subject": "Hi"}, {"name": "B", "subject": " Hello "}]}]}
    >>> variant_subjects([campaign], "c1")
    {(0, 'A'): 'Hi', (0, 'B'): 'Hello'}
    """
    if campaigns is None:
        return {}
    if isinstance(campaigns, pl.DataFrame):
        if "sequence" not in campaigns.columns:
            return {}
        chosen = campaigns
        if campaign_id is not None and "campaign_id" in campaigns.columns:
            chosen = campaigns.filter(pl.col("campaign_id") == campaign_id)
        rows: Sequence[Mapping[str, Any]] = chosen.select("sequence").head(1).to_dicts()
    else:
        rows = [
            c
            for c in campaigns
            if campaign_id is None or campaign_id in (c.get("_id"), c.get("campaign_id"))
        ][:1]
    found: dict[tuple[int, str], str] = {}
    for step in (rows[0].get("sequence") or []) if rows else []:
        order = step.get("order")
        for variant in step.get("variants") or []:
            name, subject = variant.get("name"), (variant.get("subject") or "").strip()
            if isinstance(order, int) and name is not None and subject:
                found[(order, str(name))] = subject
    return found


def with_variant_subjects(
    variants: pl.DataFrame, subjects: Mapping[tuple[int, str], str]
) -> pl.DataFrame:
    """A variant funnel with ``variant_subject``: each arm's subject line from
    :func:`variant_subjects` (null where the sequence has none), for the report's variant table
    and the variant chart's hover."""
    keys = zip(variants["step"].to_list(), variants["variant"].to_list(), strict=True)
    found = [
        subjects.get((int(s), str(v))) if s is not None and v is not None else None for s, v in keys
    ]
    return variants.with_columns(pl.Series("variant_subject", found, dtype=pl.String))


# -- the KPI catalogue --------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiSpec:
    """One headline number: ``column`` of a campaign summary's headline (``metrics.headline``
    and the reply-timing numbers of ``metrics.reply_timing_summary``), how it prints
    (``kind``), the label people read, the count it is over and its definition."""

    key: str
    column: str
    kind: Literal["count", "rate", "days"]
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
        # Not "median days to reply": with reply rates far below 50% the reply curve never
        # reaches its median, and the card would always read "not reached".
        KpiSpec(
            "replied_within",
            "replied_within",
            "rate",
            f"Replied within {WITHIN_DAYS} days",
            f"Share of contacted leads who replied within {WITHIN_DAYS} days of their first "
            "email (Kaplan–Meier: a lead emailed more recently counts only for the days it has "
            "been observed)",
            "contacted",
        ),
        KpiSpec(
            "median_days_replied",
            "median_days_replied",
            "days",
            "Median days to reply (repliers)",
            "Median time from a lead's first email to its reply, among the contacted leads "
            "who replied (replies before the first email or without a time are left out)",
            "replied",
        ),
    )
}


def fmt_kpi(spec: KpiSpec, headline: Mapping[str, Any]) -> str:
    """A KPI's value from a headline row, printed as its kind prints."""
    value = headline.get(spec.column)
    if spec.kind == "rate":
        return fmt_pct(value)
    return fmt_days(value) if spec.kind == "days" else fmt_int(value)


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
