"""Benchmark: sendkit_nb.metrics (polars) against a straightforward pandas implementation.

Builds N synthetic campaign leads (default 1,000,000) directly as a LEADS_SCHEMA frame, times
``funnel`` (per step), ``variant_funnel`` (per step x variant), ``headline`` and ``reply_curve``
(Kaplan–Meier) with polars and with pandas in the same run (best of 3, ``time.perf_counter``),
checks that both give the same numbers, prints a table and exits 3 when a target is
missed:

* polars is at least ``--min-ratio`` (5x) faster than pandas over the four together, and
* the four polars calls together take less than ``--max-seconds`` (1.0 s).

The baseline is, if anything, favoured: pandas gets the emails already exploded into a flat
table (the conversion is not timed, while every polars call explodes for itself), and it skips
work the polars side does (the A/B tests of ``variant_funnel``, the Greenwood band of the reply
curve, input checks, step labels). Polars runs multi-threaded, pandas single-threaded; on a
busy machine the ratio drops, so run it on an otherwise idle one.

Run: ``python benchmarks/bench_metrics.py [--leads N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from sendkit_nb._schema import LEADS_SCHEMA

_DAY_US = 86_400_000_000
_START_US = int(np.datetime64("2025-01-06T00:00:00", "us").astype(np.int64))


def synthetic_leads(n: int, seed: int = 0) -> pl.DataFrame:
    """``n`` campaign leads over 4 campaigns in LEADS_SCHEMA, vectorised and seeded.

    Emails go to steps 0, 2, 4 (wait steps take the odd indexes, as in the API's example),
    steps 0 and 2 have variants A/B, step 4 none. A bounce ends the sequence. About 7% of the
    delivered leads reply; a few replies come before the first send or lack ``replied_at``, and a
    few come from leads never emailed (counted beside the headline, not in it), as real data
    does.
    """
    rng = np.random.default_rng(seed)
    max_emails = 3
    planned = rng.choice(np.arange(max_emails + 1), size=n, p=[0.08, 0.42, 0.30, 0.20])
    t0 = _START_US + rng.integers(0, 90 * _DAY_US, size=n)

    # Per-lead email slots k = 0..2, then cut each lead at its planned count or first bounce.
    slot = np.arange(max_emails)
    bounced = rng.random((n, max_emails)) < 0.03
    # 1-based slot of the first bounce; one past the last slot when nothing bounces.
    first_bounce = np.where(bounced.any(axis=1), bounced.argmax(axis=1) + 1, max_emails + 1)
    n_emails = np.minimum(planned, first_bounce)
    has = slot[None, :] < n_emails[:, None]
    lead_idx, k = np.nonzero(has)  # row-major: lead order, then slot order
    m = lead_idx.size

    opened = (rng.random(m) < 0.45) & ~bounced[lead_idx, k]
    clicked = opened & (rng.random(m) < 0.08)
    variant = np.where(rng.random(m) < 0.5, "A", "B").astype(object)
    variant[k == 2] = None
    # Follow-ups every 3 days plus up to 6 hours; the first email goes out at t0 exactly.
    jitter = rng.integers(0, 6 * 3_600_000_000, size=m) * (k > 0)
    sent_us = t0[lead_idx] + k * 3 * _DAY_US + jitter
    flat = pl.DataFrame(
        {
            "_r": lead_idx.astype(np.int64),
            "step": (2 * k).astype(np.int32),
            "variant": pl.Series(variant, dtype=pl.String),
            "sent_at": pl.Series(sent_us).cast(pl.Datetime("us", "UTC")),
            "opened": opened,
            "clicked": clicked,
            "bounced": bounced[lead_idx, k],
        }
    )
    emails = flat.group_by("_r", maintain_order=True).agg(
        pl.struct("step", "variant", "sent_at", "opened", "clicked", "bounced").alias("emails")
    )

    contacted = n_emails > 0
    any_bounce = first_bounce <= n_emails
    replied = contacted & ~any_bounce & (rng.random(n) < 0.07)
    # A reply from a lead never emailed (e.g. to an earlier thread): headline unattributed_replies.
    replied |= ~contacted & (rng.random(n) < 0.01)
    reply_us = t0 + (rng.exponential(3.0, size=n) * _DAY_US).astype(np.int64)
    odd = rng.random(n)
    reply_us = np.where(odd < 0.003, t0 - _DAY_US, reply_us)  # reply before the first send
    reply_null = ~replied | ((odd >= 0.003) & (odd < 0.006))  # replied without repliedAt
    tags = ("interested", "meeting_booked", "not_interested", "out_of_office")
    tag_code = np.where(replied, rng.choice(4, size=n, p=[0.3, 0.1, 0.4, 0.2]), -1)
    ai_tag = pl.Series(tag_code).replace_strict(
        dict(enumerate(tags)), default=None, return_dtype=pl.String
    )
    status = np.where(
        ~contacted,
        "pending",
        np.where(any_bounce, "bounced", np.where(replied, "replied", "active")),
    )
    campaigns = np.array([f"66{c:022x}" for c in range(4)], dtype=object)

    leads = (
        pl.DataFrame(
            {
                "_r": np.arange(n, dtype=np.int64),
                "campaign_id": pl.Series(campaigns[rng.integers(0, 4, size=n)], dtype=pl.String),
                "status": pl.Series(status, dtype=pl.String),
                "current_step": np.where(contacted, 2 * (n_emails - 1) + 1, 0).astype(np.int32),
                "replied": replied,
                "replied_at": pl.Series(np.where(reply_null, 0, reply_us)),
                "_reply_null": reply_null,
                "ai_tag": ai_tag,
                "added_at": pl.Series(t0 - _DAY_US).cast(pl.Datetime("us", "UTC")),
            }
        )
        .with_columns(
            pl.format("67{}", pl.col("_r").cast(pl.String).str.zfill(22)).alias("id"),
            pl.format("68{}", pl.col("_r").cast(pl.String).str.zfill(22)).alias("lead_id"),
            pl.format("lead{}@example.com", pl.col("_r")).alias("email"),
            pl.lit(None, dtype=pl.String).alias("first_name"),
            pl.lit(None, dtype=pl.String).alias("last_name"),
            pl.lit(None, dtype=pl.String).alias("company_name"),
            pl.when(pl.col("_reply_null"))
            .then(None)
            .otherwise(pl.col("replied_at").cast(pl.Datetime("us", "UTC")))
            .alias("replied_at"),
            pl.lit([], dtype=pl.List(pl.String)).alias("tags"),
        )
        .join(emails, on="_r", how="left")
        .with_columns(pl.col("emails").fill_null([]))
    )
    return leads.select([pl.col(name).cast(dtype) for name, dtype in LEADS_SCHEMA.items()])


# ---------------------------------------------------------------- the pandas baseline
#
# The same definitions (sendkit_nb.metrics.DEFINITIONS and the reply-curve rules in
# sendkit_nb.metrics._timing), written the way an analyst would in pandas: exploded emails,
# boolean columns, groupby. No per-row Python.

_COUNTS = ("sent", "bounced", "delivered", "opened", "clicked", "replied", "positive")
_RATES = {
    "bounce_rate": ("bounced", "sent"),
    "open_rate": ("opened", "delivered"),
    "click_rate": ("clicked", "delivered"),
    "reply_rate": ("replied", "delivered"),
    "positive_rate": ("positive", "delivered"),
}


def _pd_ratio(num: Any, den: Any) -> Any:
    import pandas as pd

    out = num.astype("float64") / den.where(den > 0).astype("float64")
    return out.where(den > 0, pd.NA).astype("Float64")


def _pd_attribution(leads: Any, emails: Any) -> Any:
    """Last touch: per replied lead, its latest delivered email with sent_at <= replied_at."""
    replied = leads.loc[leads["replied"], ["_lead", "replied_at"]]
    e = emails.merge(replied, on="_lead", how="inner")
    keep = ~e["bounced"] & (e["replied_at"].isna() | (e["sent_at"] <= e["replied_at"]))
    e = e.loc[keep].sort_values(["_lead", "sent_at", "step", "_pos"], na_position="first")
    return e.drop_duplicates("_lead", keep="last")[["_lead", "step", "variant"]]


def pd_funnel(leads: Any, emails: Any, *, by_variant: bool) -> Any:
    keys = ["step", "variant"] if by_variant else ["step"]
    delivered = ~emails["bounced"]
    e = emails.assign(
        _d=delivered, _o=emails["opened"] & delivered, _c=emails["clicked"] & delivered
    )
    per_lead = e.groupby([*keys, "_lead"], dropna=False)[["_d", "_o", "_c"]].any()
    counts = per_lead.groupby(level=keys, dropna=False).agg(
        sent=("_d", "size"), delivered=("_d", "sum"), opened=("_o", "sum"), clicked=("_c", "sum")
    )
    attributed = _pd_attribution(leads, emails).merge(
        leads[["_lead", "_positive"]], on="_lead", how="left"
    )
    replies = attributed.groupby(keys, dropna=False).agg(
        replied=("_lead", "size"), positive=("_positive", "sum")
    )
    out = counts.join(replies, how="left").fillna({"replied": 0, "positive": 0}).reset_index()
    out["bounced"] = out["sent"] - out["delivered"]
    for c in _COUNTS:
        out[c] = out[c].astype("int64")
    for rate, (num, den) in _RATES.items():
        out[rate] = _pd_ratio(out[num], out[den])
    if by_variant:
        for name, (num, den) in _RATES.items():
            if name != "bounce_rate":
                _pd_wilson(out, name, num, den)
    return out.sort_values(keys, na_position="first").reset_index(drop=True)


def _pd_wilson(out: Any, name: str, num: str, den: str) -> None:
    """Add ``<name>_low``/``_high``: the 95% Wilson score interval, as the polars metrics
    report it (missing for an empty base or more events than the base)."""
    import pandas as pd

    z = 1.959963984540054
    x, n = out[num].astype("float64"), out[den].astype("float64")
    ok = (n > 0) & (x <= n)
    centre = (x + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * np.sqrt((x * (n - x)).where(ok) / n.where(ok) + z * z / 4)
    out[f"{name}_low"] = (centre - half).clip(lower=0.0).where(ok, pd.NA)
    out[f"{name}_high"] = (centre + half).clip(upper=1.0).where(ok, pd.NA)


def pd_headline(leads: Any, emails: Any) -> Any:
    delivered = ~emails["bounced"]
    per_lead = (
        emails.assign(
            _d=delivered, _o=emails["opened"] & delivered, _c=emails["clicked"] & delivered
        )
        .groupby("_lead")[["_d", "_o", "_c"]]
        .any()
    )
    attributed = _pd_attribution(leads, emails)["_lead"]
    x = leads.join(per_lead, on="_lead", how="left")
    for c in ("_d", "_o", "_c"):
        x[c] = x[c].astype("boolean").fillna(False).astype(bool)
    x["_contacted"] = x["_n"] > 0
    x["_bounced"] = x["_contacted"] & ~x["_d"]
    x["_unattributed"] = x["replied"] & ~x["_lead"].isin(attributed)
    # Numerators count contacted leads only; replies from leads never emailed go beside them.
    x["_replied"] = x["replied"] & x["_contacted"]
    x["_positive_contacted"] = x["_positive"] & x["_contacted"]
    x["_never_emailed"] = x["replied"] & ~x["_contacted"]
    out = x.groupby("campaign_id").agg(
        leads=("_lead", "size"),
        contacted=("_contacted", "sum"),
        delivered=("_d", "sum"),
        bounced=("_bounced", "sum"),
        opened=("_o", "sum"),
        clicked=("_c", "sum"),
        replied=("_replied", "sum"),
        positive=("_positive_contacted", "sum"),
        unattributed=("_unattributed", "sum"),
        unattributed_replies=("_never_emailed", "sum"),
    )
    out["positive_rate"] = _pd_ratio(out["positive"], out["contacted"])
    out["reply_rate"] = _pd_ratio(out["replied"], out["contacted"])
    out["bounce_rate"] = _pd_ratio(out["bounced"], out["contacted"])
    out["open_rate"] = _pd_ratio(out["opened"], out["delivered"])
    out["click_rate"] = _pd_ratio(out["clicked"], out["delivered"])
    for rate, num, den in _HEADLINE_RATES:
        _pd_wilson(out, rate, num, den)
    return out.reset_index().sort_values("campaign_id").reset_index(drop=True)


_HEADLINE_RATES = (
    ("positive_rate", "positive", "contacted"),
    ("reply_rate", "replied", "contacted"),
    ("bounce_rate", "bounced", "contacted"),
    ("open_rate", "opened", "delivered"),
    ("click_rate", "clicked", "delivered"),
)


def pd_reply_curve(leads: Any, emails: Any) -> Any:
    """Kaplan–Meier share replied by day N, censored at the latest timestamp in the data."""
    import pandas as pd

    timed = emails.dropna(subset=["sent_at"]).sort_values(["_lead", "sent_at", "step"])
    first = timed.drop_duplicates("_lead")[["_lead", "sent_at"]]
    end = max(timed["sent_at"].max(), leads["replied_at"].max())
    x = leads.loc[leads["_n"] > 0, ["_lead", "replied", "replied_at"]].merge(
        first, on="_lead", how="left"
    )
    x = x.loc[x["sent_at"].isna() | (x["sent_at"] <= end)]
    day_us = 86_400_000_000
    reply_us = (x["replied_at"] - x["sent_at"]) // pd.Timedelta(microseconds=1)
    seen_us = (end - x["sent_at"]) // pd.Timedelta(microseconds=1)
    excluded = (
        x["sent_at"].isna()
        | (x["replied"] & x["replied_at"].isna())
        | (x["replied"] & (reply_us < 0))
    )
    event = ~excluded & x["replied"] & (x["replied_at"] <= end)
    day = np.where(event, (reply_us + day_us - 1) // day_us, seen_us // day_us)
    on = pd.DataFrame({"day": day[~excluded.to_numpy()], "event": event[~excluded].to_numpy()})
    on["day"] = on["day"].astype("int64")
    counts = on.groupby("day")["event"].agg(replied_events="sum", n="size")
    counts = counts.reindex(range(int(on["day"].max()) + 1), fill_value=0)
    counts["censored"] = counts["n"] - counts["replied_events"]
    left = counts["n"].cumsum().shift(1, fill_value=0)
    counts["at_risk"] = len(on) - left
    counts["cumulative_share"] = (
        1.0 - (1.0 - counts["replied_events"] / counts["at_risk"]).cumprod()
    )
    return counts.reset_index()[
        ["day", "at_risk", "replied_events", "censored", "cumulative_share"]
    ]


def to_pandas(leads: pl.DataFrame) -> tuple[Any, Any]:
    """The leads (scalar columns) and their exploded emails as pandas frames (not timed)."""
    from sendkit_nb.metrics._common import positive_expr

    indexed = leads.with_row_index("_lead").with_columns(pl.col("_lead").cast(pl.Int64))
    scalars = indexed.select(
        "_lead",
        "campaign_id",
        pl.col("replied").fill_null(False),
        "replied_at",
        pl.col("emails").list.len().alias("_n"),
        positive_expr(None).alias("_positive"),
    )
    flat = (
        indexed.select("_lead", "emails")
        .explode("emails", keep_nulls=False)
        .unnest("emails")
        .with_row_index("_pos")
        .with_columns(
            pl.col("_pos").cast(pl.Int64),
            *(pl.col(c).fill_null(False) for c in ("opened", "clicked", "bounced")),
        )
    )
    return scalars.to_pandas(), flat.to_pandas()


# ---------------------------------------------------------------- comparing the results


def _same(name: str, ours: pl.DataFrame, theirs: Any, columns: list[str]) -> None:
    """Assert the polars and pandas results agree column by column (floats to 1e-9)."""
    base = pl.from_pandas(theirs[columns])
    mine = ours.select(columns)
    if mine.height != base.height:
        raise AssertionError(f"{name}: {mine.height} rows from polars, {base.height} from pandas")
    for c in columns:
        a, b = mine[c].to_list(), base[c].to_list()
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if isinstance(x, float) or isinstance(y, float):
                ok = (x is None and y is None) or (
                    x is not None and y is not None and abs(x - y) <= 1e-9
                )
            else:
                ok = x == y
            if not ok:  # not `assert`: the check must survive python -O
                raise AssertionError(f"{name}: column {c!r} row {i}: polars {x!r} != pandas {y!r}")


def _time_best(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=1_000_000, help="number of leads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-ratio", type=float, default=5.0, help="pandas / polars, at least")
    parser.add_argument("--max-seconds", type=float, default=1.0, help="polars total, at most")
    args = parser.parse_args(argv)

    from sendkit_nb.metrics import funnel, headline, reply_curve, variant_funnel

    start = time.perf_counter()
    leads = synthetic_leads(args.leads, args.seed)
    emails_n = int(leads["emails"].list.len().sum())
    print(
        f"built {leads.height:,} leads ({emails_n:,} emails) in "
        f"{time.perf_counter() - start:.2f} s; polars {pl.__version__}"
    )
    start = time.perf_counter()
    pd_leads, pd_emails = to_pandas(leads)
    print(f"converted to pandas (exploded emails) in {time.perf_counter() - start:.2f} s, untimed")

    cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        (
            "funnel by step",
            lambda: funnel(leads),
            lambda: pd_funnel(pd_leads, pd_emails, by_variant=False),
        ),
        (
            "variant funnel",
            lambda: variant_funnel(leads),
            lambda: pd_funnel(pd_leads, pd_emails, by_variant=True),
        ),
        ("headline", lambda: headline(leads), lambda: pd_headline(pd_leads, pd_emails)),
        ("reply curve", lambda: reply_curve(leads), lambda: pd_reply_curve(pd_leads, pd_emails)),
    ]
    rows: list[tuple[str, float, float]] = []
    results: dict[str, tuple[Any, Any]] = {}
    for name, ours, theirs in cases:
        t_pl, r_pl = _time_best(ours)
        t_pd, r_pd = _time_best(theirs)
        rows.append((name, t_pl, t_pd))
        results[name] = (r_pl, r_pd)

    counts = ["step", *_COUNTS, *_RATES]
    _same("funnel by step", results["funnel by step"][0], results["funnel by step"][1], counts)
    wilson = [f"{r}_{s}" for r in _RATES if r != "bounce_rate" for s in ("low", "high")]
    vf_ours, vf_theirs = results["variant funnel"]
    _same("variant funnel", vf_ours, vf_theirs, [*counts, "variant", *wilson])
    head = [
        "campaign_id",
        "leads",
        "contacted",
        "delivered",
        "bounced",
        "opened",
        "clicked",
        "replied",
        "positive",
        "unattributed",
        "unattributed_replies",
        "positive_rate",
        "reply_rate",
        "bounce_rate",
        "open_rate",
        "click_rate",
        *(f"{rate}_{side}" for rate, _, _ in _HEADLINE_RATES for side in ("low", "high")),
    ]
    _same("headline", results["headline"][0], results["headline"][1], head)
    curve = ["day", "at_risk", "replied_events", "censored", "cumulative_share"]
    _same("reply curve", results["reply curve"][0], results["reply curve"][1], curve)
    print("polars and pandas agree on every count, rate, interval and curve point")

    print(f"\n{'metric':<16}{'polars s':>10}{'pandas s':>10}{'ratio':>8}")
    for name, t_pl, t_pd in rows:
        print(f"{name:<16}{t_pl:>10.3f}{t_pd:>10.3f}{t_pd / t_pl:>7.1f}x")
    total_pl = sum(r[1] for r in rows)
    total_pd = sum(r[2] for r in rows)
    ratio = total_pd / total_pl
    print(f"{'all four':<16}{total_pl:>10.3f}{total_pd:>10.3f}{ratio:>7.1f}x")
    print(f"(best of 3 each, time.perf_counter; {leads.height:,} leads)")

    failed = []
    if ratio < args.min_ratio:
        failed.append(f"polars is {ratio:.1f}x faster than pandas, target {args.min_ratio:g}x")
    if total_pl >= args.max_seconds:
        failed.append(f"polars took {total_pl:.3f} s for all four, target < {args.max_seconds:g} s")
    for message in failed:
        print(f"TARGET MISSED: {message}")
    return SPEED_TARGET_MISSED if failed else 0


# Exit status when the results are right but a speed target was missed (scripts/bench reports
# it); wrong results raise and exit 1.
SPEED_TARGET_MISSED = 3

if __name__ == "__main__":
    sys.exit(main())
