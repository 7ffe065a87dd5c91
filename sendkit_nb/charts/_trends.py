"""Charts of time as an axis: the send-cohort heatmap and a campaign's rates across syncs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Final

import plotly.graph_objects as go
import polars as pl

from sendkit_nb._errors import BadRequestError
from sendkit_nb._present import EVENT_OF, HEADLINE_BASE

from ._common import (
    check_frame,
    esc,
    finish,
    fmt_int,
    fmt_pct,
    hover_template,
    interval_level,
    is_number,
    level_words,
    names_for,
    rate_sentence,
    row_level,
    trace_uid,
)
from ._spec import FigureSpec
from ._theme import COLORWAY

__all__ = ["TREND_METRICS", "cohorts", "trend"]

_COHORT_HINT: Final = "Pass sendkit_nb.metrics.cohort_curves(leads, every='1w')."
_COHORT_COLUMNS: Final = ("cohort", "day", "cumulative_share", "ci_low", "ci_high", "at_risk")
_TREND_HINT: Final = (
    "Pass the store's sync history (store.history(), the syncs.parquet frame): one row per "
    "campaign per sync with pulled_at and the headline's counts and rates."
)
#: The rates ``trend`` can draw: the headline's rate columns.
TREND_METRICS: Final[tuple[str, ...]] = tuple(HEADLINE_BASE)
#: A sequential, colour-blind-safe scale (white to Okabe–Ito blue): darker = more replied.
_SCALE: Final = [[0.0, "#F7FBFF"], [0.5, "#56B4E9"], [1.0, "#0072B2"]]


def _cohort_label(start: date | None, every: str | None) -> str:
    if start is None:
        return "No cohort"
    if every == "1w":
        return f"Week of {start.isoformat()}"
    if every in ("1mo", "1m"):
        return start.strftime("%B %Y")
    return start.isoformat()


#: Cells with fewer leads still at risk than this are left blank by default.
MIN_AT_RISK: Final = 10


def cohorts(
    curves: pl.DataFrame, *, max_days: int | None = 28, min_at_risk: int = MIN_AT_RISK
) -> go.Figure:
    """A cohort x days-since-first-email heatmap: each cell is the Kaplan–Meier share of the
    cohort's contacted leads who replied within that many days of their first email.

    Takes :func:`sendkit_nb.metrics.cohort_curves` output. Rows are cohorts (oldest at the
    top), columns days 0..``max_days`` (None: every day observed). A cell is blank where the
    cohort has not been observed that long yet: young cohorts are censored, never counted as
    non-repliers. A cell is blank too where fewer than ``min_at_risk`` leads were still
    waiting that day: at a curve's tail one lead's reply can swing the estimate to 100%. The
    hover gives the share, its band, and the leads on the cohort's curve.

    One trace, ``"cohorts"`` (uid ``"cohorts-heatmap"``).
    """
    frame = check_frame(curves, _COHORT_COLUMNS, "cohorts", _COHORT_HINT)
    if max_days is not None and (
        isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 0
    ):
        raise BadRequestError(
            f"cohorts: max_days must be a whole number of days >= 0 or None, got {max_days!r}",
            hint="For example max_days=30 to draw the first month; None draws every day.",
        )
    if isinstance(min_at_risk, bool) or not isinstance(min_at_risk, int) or min_at_risk < 0:
        raise BadRequestError(
            f"cohorts: min_at_risk must be a whole number of leads >= 0, got {min_at_risk!r}",
            hint="For example min_at_risk=20: a day where fewer leads are still waiting is left "
            "blank.",
        )
    level = interval_level(frame)
    every = frame["every"][0] if "every" in frame.columns and frame.height else None
    if max_days is not None:
        frame = frame.filter(pl.col("day") <= max_days)
    frame = frame.sort("cohort", "day")
    starts = frame["cohort"].unique(maintain_order=True).to_list()
    days = sorted(set(frame["day"].to_list())) if frame.height else []
    days = list(range(max(days) + 1)) if days else []
    on_curve = {
        row["cohort"]: row["at_risk"] for row in frame.filter(pl.col("day") == 0).to_dicts()
    }
    cells = {(row["cohort"], row["day"]): row for row in frame.to_dicts()}
    labels = [f"{_cohort_label(s, every)} ({fmt_int(on_curve.get(s, 0))} leads)" for s in starts]
    z: list[list[float | None]] = []
    hover: list[list[str]] = []
    for start, label in zip(starts, labels, strict=True):
        z_row: list[float | None] = []
        h_row: list[str] = []
        for day in days:
            row = cells.get((start, day))
            if row is None:
                z_row.append(None)
                h_row.append(
                    f"<b>{esc(label)}</b> · day {day}<br>Not observed this long yet "
                    "(the cohort is younger than that)"
                )
                continue
            if (row["at_risk"] or 0) < min_at_risk:
                z_row.append(None)
                h_row.append(
                    f"<b>{esc(label)}</b> · day {day}<br>Only {fmt_int(row['at_risk'])} "
                    f"lead{'s' if row['at_risk'] != 1 else ''} still waiting: too few to "
                    f"estimate (under {min_at_risk}); the share so far was "
                    f"{fmt_pct(row['cumulative_share'])}"
                )
                continue
            z_row.append(row["cumulative_share"])
            text = (
                f"<b>{esc(label)}</b> · day {day}<br>Replied within {day} "
                f"day{'s' if day != 1 else ''}: {fmt_pct(row['cumulative_share'])} (Kaplan–Meier)"
            )
            if is_number(row["ci_low"]) and is_number(row["ci_high"]):
                text += (
                    f"<br>{level_words(row_level(row, level))}CI {fmt_pct(row['ci_low'])} – "
                    f"{fmt_pct(row['ci_high'])}"
                )
            text += f"<br>{fmt_int(row['at_risk'])} leads still waiting at the start of the day"
            h_row.append(text)
        z.append(z_row)
        hover.append(h_row)
    fig = FigureSpec()
    shares = [float(v) for r in z for v in r if v is not None and is_number(v)]
    top = max(shares, default=0.0) or 0.01
    fig.add_trace(
        dict(
            type="heatmap",
            name="cohorts",
            uid=trace_uid("cohorts", "heatmap"),
            x=days,
            y=labels,
            z=z,
            zmin=0.0,
            zmax=top,
            colorscale=_SCALE,
            hoverongaps=False,
            hovertext=hover,
            hovertemplate=hover_template(),
            colorbar={"title": {"text": "Replied"}, "tickformat": ".0%"},
        )
    )
    fig.update_xaxes(title={"text": "Days since the lead's first email"}, dtick=7)
    fig.update_yaxes(autorange="reversed", title={"text": "Send cohort"}, automargin=True)
    unit = {"1d": "day", "1w": "week (from Monday)", "1mo": "month", "1m": "month"}
    return finish(
        fig,
        chart="cohorts",
        title="Reply curve by send cohort",
        subtitle=(
            "Kaplan–Meier share of each cohort's contacted leads who replied within N days of "
            f"their first email; a cohort is the UTC {unit.get(str(every), 'period')} of that "
            "first email"
        ),
        notes=[
            "Denominator: the cohort's contacted leads on the reply curve (replies before the "
            "first email or without a time are left off). Leads still waiting are censored at the "
            "end of the data, so a young cohort is not counted as not replying; blank cells are "
            "days the cohort has not been observed yet. Every reply counts, whatever step it "
            f"answers. Cells where fewer than {min_at_risk} leads were still waiting are blank "
            "too (too few to estimate)."
        ],
        plot=max(160, 26 * len(starts)),
        bottom=58,
        empty="no contacted leads with a dated first email." if not starts else None,
    )


def _metric(metric: object) -> str:
    name = metric if isinstance(metric, str) else ""
    if name in (m.removesuffix("_rate") for m in TREND_METRICS):
        name = f"{name}_rate"
    if name not in TREND_METRICS:
        raise BadRequestError(
            f"trend: unknown metric {metric!r}",
            hint=f"Use one of the headline's rates: {', '.join(TREND_METRICS)}.",
        )
    return name


def _pulled(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def trend(
    history: pl.DataFrame,
    metric: str = "reply_rate",
    campaign_ids: str | Sequence[str] | None = None,
    *,
    names: Mapping[str, str] | None = None,
) -> go.Figure:
    """A campaign's headline rate over successive syncs: one line per campaign, one point per
    sync.

    ``history``: the store's sync history (``store.history()``, ``syncs.parquet``): columns
    ``campaign_id``, ``campaign_name``, ``pulled_at``, ``deleted`` and the counts and rates of
    :func:`sendkit_nb.metrics.headline`. ``metric``: a headline rate (``"reply_rate"``,
    ``"positive_rate"``, ``"bounce_rate"``, ``"open_rate"``, ``"click_rate"``; the short
    ``"reply"`` is accepted). ``campaign_ids``: which campaigns (default every one in the
    history). ``names`` overrides the campaign names shown (default: each campaign's latest
    ``campaign_name``).

    Each point is the campaign's whole-life rate as the sync found it, so a line shows how the
    rate has moved as sends and replies came in. Syncs that found the campaign deleted upstream
    are left out (its line ends at its last sync before that).

    Traces: one per campaign, named by the campaign (uid ``"trend-<campaign id>"``).
    """
    rate = _metric(metric)
    base = HEADLINE_BASE[rate]
    events = EVENT_OF[rate.removesuffix("_rate")]
    frame = check_frame(
        history, ("campaign_id", "pulled_at", rate, events, base), "trend", _TREND_HINT
    )
    wanted: list[str] | None = None
    if campaign_ids is not None:
        wanted = [campaign_ids] if isinstance(campaign_ids, str) else list(campaign_ids)
        known = set(frame["campaign_id"].to_list())
        missing = [c for c in wanted if c not in known]
        if missing:
            raise BadRequestError(
                f"trend: no sync history for campaign(s) {', '.join(map(repr, missing))}",
                hint="Sync them first (sk.sync(client, path, campaigns=[...])), or check the ids.",
            )
        frame = frame.filter(pl.col("campaign_id").is_in(wanted))
    if "deleted" in frame.columns:
        frame = frame.filter(~pl.col("deleted").fill_null(False))
    frame = frame.sort("campaign_id", "pulled_at")
    level = interval_level(frame)
    ids = wanted or frame["campaign_id"].unique(maintain_order=True).to_list()
    ids = [c for c in ids if c in set(frame["campaign_id"].to_list())]
    shown_names: dict[str, str] = {}
    if "campaign_name" in frame.columns:
        for cid, name in frame.select("campaign_id", "campaign_name").iter_rows():
            if name:
                shown_names[cid] = name  # the latest sync's name wins (sorted by time)
    shown_names.update(names or {})
    shown = names_for(ids, shown_names)
    fig = FigureSpec()
    top = 0.0
    for i, (cid, name) in enumerate(zip(ids, shown, strict=True)):
        part = frame.filter(pl.col("campaign_id") == cid)
        rows = part.to_dicts()
        values = [r[rate] for r in rows]
        top = max([top, *(v for v in values if is_number(v))])
        fig.add_trace(
            dict(
                type="scatter",
                name=name,
                uid=trace_uid("trend", cid),
                x=[_pulled(r["pulled_at"]) for r in rows],
                y=values,
                mode="lines+markers",
                line={"color": COLORWAY[i % len(COLORWAY)], "width": 2},
                marker={"size": 7},
                hovertext=[
                    f"<b>{esc(name)}</b> · synced {_pulled(r['pulled_at'])}<br>"
                    + rate_sentence(
                        rate.removesuffix("_rate"),
                        r[rate],
                        r[events],
                        base,
                        r[base],
                        low=r.get(f"{rate}_low"),
                        high=r.get(f"{rate}_high"),
                        level=row_level(r, level),
                        tags=r.get("positive_tags"),
                    )
                    for r in rows
                ],
                hovertemplate=hover_template(),
            )
        )
    fig.update_xaxes(title={"text": "Sync (when the data was pulled, UTC)"}, type="date")
    fig.update_yaxes(
        title={"text": f"{rate.removesuffix('_rate').capitalize()} rate"},
        tickformat=".1~%",
        range=[0, max(top, 0.01) * 1.12],
    )
    return finish(
        fig,
        chart="trend",
        title=f"{rate.removesuffix('_rate').capitalize()} rate across syncs",
        subtitle=(
            f"Each point is a campaign's whole-life {rate.replace('_', ' ')} over {base} "
            "leads, as one sync of the store found it"
        ),
        notes=[
            f"Headline definitions: {events} leads / {base} leads (sendkit_nb.metrics.headline); "
            "a sync that found the campaign deleted upstream is not drawn."
        ],
        plot=300,
        bottom=58,
        legend=shown,
        empty="no sync of these campaigns in the history yet." if not ids else None,
    )
