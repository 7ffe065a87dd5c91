"""Breakdowns by any lead attribute (``metrics.breakdown``, ``charts.breakdown``) and
``segment=`` with any column or expression, against plain Python over the raw demo JSON.

The reference numbers are computed from the campaign-lead dicts exactly as the demo API serves
them over HTTP (``emailsSent``, ``replied``, ``aiTag``, ``tags``), following the text of the
analytics contract; the frames under test come from the real loader over the same HTTP API.
Attributes the campaign-leads endpoint does not have (a job title, a company size) are derived
from the lead's id the same way on both sides, so every group is known in advance.
"""

from __future__ import annotations

import doctest
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any, cast

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest
import requests
from scipy import stats as sps

import sendkit_nb as sk
from sendkit_nb import BadRequestError, SendKitError, charts
from sendkit_nb import metrics as skm
from sendkit_nb._present import TONE_COLORS
from sendkit_nb._schema import EMAIL_STRUCT
from sendkit_nb.charts import NO_DATA
from sendkit_nb.charts import _breakdown as breakdown_chart_module
from sendkit_nb.demo import DemoServer
from sendkit_nb.metrics import _segments as segments_module
from sendkit_nb.metrics._segments import benjamini_hochberg
from sendkit_nb.metrics._stats import holm
from tests.conftest import OfflinePage

Raw = dict[str, Any]
POSITIVE = {"interested", "meeting_booked"}
TITLES: tuple[str | None, ...] = ("CEO", "CTO", "VP Sales", "Head of Growth", "Founder", None)
BASES = {
    "reply": ("replied", "contacted"),
    "positive": ("positive", "contacted"),
    "bounce": ("bounced", "contacted"),
    "open": ("opened", "delivered"),
    "click": ("clicked", "delivered"),
}
NONE = "(none)"


# --------------------------------------------------------------- raw JSON over HTTP


def _get(server: DemoServer, path: str, **params: Any) -> Raw:
    response = requests.get(
        server.url + path, headers={"X-Api-Key": server.api_key}, params=params, timeout=30
    )
    response.raise_for_status()
    return cast(Raw, response.json())


@pytest.fixture(scope="module")
def raw(demo_server: DemoServer) -> dict[str, list[Raw]]:
    """Every campaign's leads, as the demo API serves them (page by page, plain requests)."""
    out: dict[str, list[Raw]] = {}
    for campaign in _get(demo_server, "/v1/campaigns", limit=100)["data"]:
        cid = campaign["_id"]
        items: list[Raw] = []
        page = 1
        while True:
            body = _get(demo_server, f"/v1/campaigns/{cid}/leads", limit=100, page=page)
            items.extend(body["data"])
            if page >= body["pagination"]["pages"]:
                break
            page += 1
        out[cid] = items
    assert sum(map(len, out.values())) > 5000
    return out


@pytest.fixture(scope="module")
def client(demo_server: DemoServer) -> Iterator[sk.SendKitClient]:
    with sk.SendKitClient(demo_server.api_key, base_url=demo_server.url) as c:
        yield c


# The derived attributes, once as polars expressions and once in plain Python.
# The demo numbers its ids in steps of two (a person, then its campaign lead): halved, the
# campaign-lead ids run through every residue.
_LAST2 = pl.col("id").str.slice(-4).str.to_integer(base=16) // 2
_LAST3 = pl.col("id").str.slice(-3).str.to_integer(base=16) // 2
JOB_TITLE = _LAST2.mod(len(TITLES)).replace_strict(dict(enumerate(TITLES)), return_dtype=pl.String)
EMPLOYEES = pl.when(_LAST3.mod(13) == 0).then(None).otherwise(_LAST3.mod(1000))
SIZE = (
    pl.when(pl.col("employees") < 50)
    .then(pl.lit("1-49"))
    .when(pl.col("employees") < 200)
    .then(pl.lit("50-199"))
    .when(pl.col("employees").is_not_null())
    .then(pl.lit("200+"))
    .alias("size")
)
DOMAIN = pl.col("email").str.split("@").list.last().alias("domain")


def ref_title(item: Raw) -> str | None:
    return TITLES[int(item["_id"][-4:], 16) // 2 % len(TITLES)]


def ref_employees(item: Raw) -> int | None:
    n = int(item["_id"][-3:], 16) // 2
    return None if n % 13 == 0 else n % 1000


def ref_size(item: Raw) -> str | None:
    n = ref_employees(item)
    if n is None:
        return None
    return "1-49" if n < 50 else "50-199" if n < 200 else "200+"


def ref_domain(item: Raw) -> str | None:
    person = item.get("leadId") or {}
    email = person.get("email")
    return None if email is None else email.split("@")[-1]


@pytest.fixture(scope="module")
def leads(client: sk.SendKitClient, raw: dict[str, list[Raw]]) -> pl.DataFrame:
    frame = pl.concat([sk.load_leads(client, cid, progress=False) for cid in raw])
    return frame.with_columns(job_title=JOB_TITLE, employees=EMPLOYEES).with_columns(SIZE)


# --------------------------------------------------------------- the plain-Python reference


def ref_flags(item: Raw) -> dict[str, int]:
    """The headline's per-lead counts, from the contract's wording."""
    emails = item.get("emailsSent") or []
    delivered = [e for e in emails if not e.get("bounced")]
    contacted = bool(emails)
    replied = contacted and bool(item.get("replied"))
    return {
        "leads": 1,
        "contacted": contacted,
        "delivered": bool(delivered),
        "bounced": contacted and not delivered,
        "opened": any(e.get("opened") for e in delivered),
        "clicked": any(e.get("clicked") for e in delivered),
        "replied": replied,
        "positive": replied and (item.get("aiTag") or "").lower() in POSITIVE,
    }


def _z_p(x1: int, n1: int, x2: int, n2: int) -> float | None:
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    return 2 * (1 - NormalDist().cdf(abs((x1 / n1 - x2 / n2) / se)))


def _holm_by_hand(p: list[float]) -> list[float]:
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    best = 0.0
    for rank, i in enumerate(order):
        best = max(best, min(1.0, (m - rank) * p[i]))
        out[i] = best
    return out


def ref_breakdown(
    raw: dict[str, list[Raw]],
    values: Callable[[Raw], Sequence[object]],
    *,
    metric: str = "reply",
    min_leads: int = 30,
    other: str | None = None,
    adjust: str = "holm",
    alpha: float = 0.05,
) -> dict[str, dict[str, Any]]:
    events, over = BASES[metric]
    per_lead: list[tuple[dict[str, int], set[str]]] = []
    for items in raw.values():
        for item in items:
            found = {NONE if v is None else str(v) for v in values(item)} or {NONE}
            per_lead.append((ref_flags(item), found))

    def count(groups_of: Callable[[set[str]], set[str]]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for flags, found in per_lead:
            for g in groups_of(found):
                for k, v in flags.items():
                    out[g][k] += int(v)
        return out

    counts = count(lambda found: found)
    sizes = dict.fromkeys(counts, 1)
    if other is not None:
        small = {g for g, c in counts.items() if c[over] < min_leads and g != NONE}
        if small:
            counts = count(lambda found: {other if g in small else g for g in found})
            sizes = {g: 1 for g in counts if g != other} | {other: len(small)}
    all_x = sum(int(f[events]) for f, _ in per_lead)
    all_n = sum(int(f[over]) for f, _ in per_lead)
    rows: dict[str, dict[str, Any]] = {}
    for g, c in counts.items():
        x, n = c[events], c[over]
        rx, rn = all_x - x, all_n - n
        row: dict[str, Any] = {
            "leads": c["leads"],
            "contacted": c["contacted"],
            "delivered": c["delivered"],
            "events": x,
            "rate": x / n if n else None,
            "rest_rate": rx / rn if rn else None,
            "too_small": n < min_leads,
            "groups": sizes[g],
            "test": None,
            "p_value": None,
        }
        row["diff"] = (
            None
            if row["rate"] is None or row["rest_rate"] is None
            else row["rate"] - row["rest_rate"]
        )
        if n:
            ci = sps.binomtest(x, n).proportion_ci(0.95, method="wilson")
            row["rate_low"], row["rate_high"] = float(ci.low), float(ci.high)
        else:
            row["rate_low"] = row["rate_high"] = None
        if n and rn:
            pooled = (x + rx) / (n + rn)
            cells = (n * pooled, n * (1 - pooled), rn * pooled, rn * (1 - pooled))
            if min(cells) < 5:
                row["test"] = "fisher"
                row["p_value"] = float(sps.fisher_exact([[x, n - x], [rx, rn - rx]]).pvalue)
            else:
                row["p_value"] = _z_p(x, n, rx, rn)
                row["test"] = "z" if row["p_value"] is not None else None
        rows[g] = row
    family = [g for g, r in rows.items() if r["p_value"] is not None and not r["too_small"]]
    ps = [rows[g]["p_value"] for g in family]
    adjusted = (
        _holm_by_hand(ps)
        if adjust == "holm"
        else [float(q) for q in sps.false_discovery_control(ps, method="bh")]
        if ps
        else []
    )
    for g in rows:
        rows[g]["p_value_adj"] = None
        rows[g]["significant"] = None
    for g, q in zip(family, adjusted, strict=True):
        rows[g]["p_value_adj"] = q
        rows[g]["significant"] = q < alpha
    for r in rows.values():
        r["overall_rate"] = all_x / all_n if all_n else None
    return rows


def assert_matches(got: pl.DataFrame, want: dict[str, dict[str, Any]], group: str) -> None:
    rows = {r[group]: r for r in got.to_dicts()}
    assert len(rows) == got.height, "one row per group"
    assert set(rows) == set(want)
    for g, expected in want.items():
        for column, w in expected.items():
            value = rows[g][column]
            if w is None:
                assert value is None, (g, column, value)
            elif isinstance(w, bool | str):
                assert value == w, (g, column, value, w)
            else:
                assert value == pytest.approx(w, rel=1e-9, abs=1e-12), (g, column, value, w)


# --------------------------------------------------------------- breakdown against raw JSON


@pytest.mark.parametrize("metric", list(BASES))
def test_breakdown_by_job_title_matches_raw_json(
    raw: dict[str, list[Raw]], leads: pl.DataFrame, metric: str
) -> None:
    got = skm.breakdown(leads, "job_title", metric=cast(Any, metric))
    want = ref_breakdown(raw, lambda item: [ref_title(item)], metric=metric)
    assert_matches(got, want, "job_title")
    assert got.columns[0] == "job_title"
    assert set(got["denominator"]) == {BASES[metric][1]} and set(got["metric"]) == {metric}
    assert set(got["by"]) == {"job_title"} and set(got["adjust"]) == {"holm"}
    assert not got["multi_valued"].any()
    # a null title is its own group, and every lead is in exactly one group
    assert NONE in got["job_title"].to_list()
    assert got["leads"].sum() == sum(map(len, raw.values()))
    # highest rate first
    rates = got["rate"].drop_nulls().to_list()
    assert rates == sorted(rates, reverse=True)


def test_breakdown_counts_are_the_headlines(leads: pl.DataFrame) -> None:
    """The counting rules exist once: per group, the headline's numbers summed over campaigns."""
    got = skm.breakdown(leads, "job_title", metric="positive")
    head = (
        skm.headline(leads, segment="job_title")
        .with_columns(pl.col("job_title").fill_null(NONE))
        .group_by("job_title")
        .agg(pl.col("contacted", "positive").sum())
    )
    joined = got.join(head, on="job_title")
    assert joined.height == got.height
    assert (joined["events"] == joined["positive"]).all()
    assert (joined["contacted"] == joined["contacted_right"]).all()


def test_breakdown_by_an_expression(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    got = skm.breakdown(leads, DOMAIN, metric="bounce", adjust="bh")
    want = ref_breakdown(raw, lambda item: [ref_domain(item)], metric="bounce", adjust="bh")
    assert_matches(got, want, "domain")
    assert got.columns[0] == "domain" and set(got["adjust"]) == {"bh"}
    # deleted leads have no email: their domain is "(none)", not a dropped row
    assert got.filter(pl.col("domain") == NONE)["leads"].item() > 0
    # without an alias the group column is named after the expression's output: the column
    unnamed = skm.breakdown(leads, pl.col("email").str.split("@").list.last())
    assert unnamed.columns[0] == "email" and set(unnamed["email"]) == set(got["domain"])


def test_breakdown_by_a_bucketed_number(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    got = skm.breakdown(leads, "size", metric="open")
    want = ref_breakdown(raw, lambda item: [ref_size(item)], metric="open")
    assert_matches(got, want, "size")
    assert set(got["size"]) == {"1-49", "50-199", "200+", NONE}
    # a plain number is grouped by its value, shown as text
    by_number = skm.breakdown(leads.head(200), "employees")
    assert by_number.schema["employees"] == pl.String
    assert set(by_number["employees"]) <= {NONE, *(str(n) for n in range(1000))}


def test_breakdown_by_a_list_column(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    """A lead counts once in each of its distinct tags; no tags at all is "(none)"."""
    got = skm.breakdown(leads, "tags", metric="click")
    want = ref_breakdown(raw, lambda item: sorted(set(item.get("tags") or [])), metric="click")
    assert_matches(got, want, "tags")
    assert got["multi_valued"].all()
    assert set(got["tags"]) == {"vip", "q3", NONE}
    # the groups overlap (q3 leads are vip leads too), so they add up to more than all leads
    assert got["leads"].sum() > leads.height
    # the rest of a tag is every lead without it, not the other groups' rows
    vip = got.filter(pl.col("tags") == "vip").row(0, named=True)
    others = leads.filter(~pl.col("tags").list.contains("vip"))
    rest = skm.headline(others).select(pl.col("clicked", "delivered").sum()).row(0)
    assert vip["rest_rate"] == pytest.approx(rest[0] / rest[1])


def test_tiny_groups_are_flagged_and_folded(raw: dict[str, list[Raw]], leads: pl.DataFrame) -> None:
    # the first 900 leads, and every deleted lead (no email, so no domain)
    sample = leads.filter((pl.int_range(pl.len()) < 900) | pl.col("email").is_null())
    items = {r: None for r in sample["id"]}
    sub = {cid: [i for i in its if i["_id"] in items] for cid, its in raw.items()}
    got = skm.breakdown(sample, DOMAIN, min_leads=40)
    want = ref_breakdown(sub, lambda item: [ref_domain(item)], min_leads=40)
    assert_matches(got, want, "domain")
    small = got.filter(pl.col("too_small"))
    assert small.height > 0 and (small["contacted"] < 40).all()
    # too-small groups keep their raw p-value but are left out of the adjusted family
    assert small["p_value_adj"].null_count() == small.height
    assert small["significant"].null_count() == small.height

    folded = skm.breakdown(sample, DOMAIN, min_leads=40, other="Other")
    want = ref_breakdown(sub, lambda item: [ref_domain(item)], min_leads=40, other="Other")
    assert_matches(folded, want, "domain")
    other = folded.filter(pl.col("domain") == "Other").row(0, named=True)
    assert other["groups"] == small.filter(pl.col("domain") != NONE).height
    assert other["contacted"] == small.filter(pl.col("domain") != NONE)["contacted"].sum()
    # "(none)" is never folded: missing data is not a rare value
    assert NONE in folded["domain"].to_list()
    assert folded["leads"].sum() == sample.height


def test_folding_a_list_column_counts_each_lead_once(
    raw: dict[str, list[Raw]], leads: pl.DataFrame
) -> None:
    # vip and q3 both under the bar: a lead tagged with both is one lead in "Other"
    got = skm.breakdown(leads, "tags", min_leads=10**6, other="Other")
    want = ref_breakdown(
        raw, lambda item: sorted(set(item.get("tags") or [])), min_leads=10**6, other="Other"
    )
    assert_matches(got, want, "tags")
    tagged = leads.filter(pl.col("tags").list.len() > 0).height
    assert got.filter(pl.col("tags") == "Other")["leads"].item() == tagged
    assert got.filter(pl.col("tags") == "Other")["groups"].item() == 2


def test_other_may_not_take_the_name_of_a_big_group(leads: pl.DataFrame) -> None:
    with pytest.raises(BadRequestError, match="CEO") as info:
        skm.breakdown(leads, "job_title", min_leads=1000, other="CEO")
    assert info.value.hint


def test_null_and_empty_group_values() -> None:
    def lead(title: str | None, tags: list[str | None] | None, replied: bool) -> Raw:
        email = {
            "sequenceStep": 0,
            "variant": None,
            "sentAt": "2025-06-02T09:00:00.000Z",
            "opened": False,
            "clicked": False,
            "bounced": False,
        }
        return {
            "_id": f"{abs(hash((title, str(tags), replied))) % 16**24:024x}",
            "leadId": None,
            "status": "active",
            "emailsSent": [email],
            "replied": replied,
            "repliedAt": None,
            "aiTag": None,
            "tags": tags,
            "addedAt": "2025-06-01T00:00:00.000Z",
        }

    items = [
        lead("CEO", ["a", "a", None], True),
        lead(None, [], False),
        lead(None, None, True),
        lead("CEO", ["b"], False),
    ]
    frame = sk.leads_from_items(items, "c" * 24).with_columns(
        title=pl.Series(["CEO", None, None, "CEO"], dtype=pl.String)
    )
    by_title = skm.breakdown(frame, "title", min_leads=0)
    assert sorted(by_title.select("title", "leads", "events").rows()) == [
        (NONE, 2, 1),
        ("CEO", 2, 1),
    ]
    by_tag = {
        r[0]: r[1:]
        for r in skm.breakdown(frame, "tags", min_leads=0).select("tags", "leads", "events").rows()
    }
    # a repeated tag counts once, a null tag is dropped, an empty or null list is "(none)"
    assert by_tag == {"a": (1, 1), "b": (1, 0), NONE: (2, 1)}
    # a frame of no leads: no rows, every column typed
    empty = skm.breakdown(frame.head(0), "title")
    assert empty.height == 0 and empty.schema["rate"] == pl.Float64


# --------------------------------------------------------------- the adjustment


def test_adjustments_by_hand() -> None:
    # R: p.adjust(c(.01, .02, .03, .04, .05), "holm") and "BH"
    p = [0.01, 0.02, 0.03, 0.04, 0.05]
    assert holm(p) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])
    assert benjamini_hochberg(p) == pytest.approx([0.05] * 5)
    p = [0.04, 0.001, 0.3, 0.012]
    # BH by hand: sorted 0.001, 0.012, 0.04, 0.3 -> 4*0.001/1, 4*0.012/2, 4*0.04/3, 4*0.3/4
    assert benjamini_hochberg(p) == pytest.approx([0.04 * 4 / 3, 0.004, 0.3, 0.024])
    assert benjamini_hochberg([]) == []


def test_breakdown_adjusts_over_the_tested_groups() -> None:
    """Three groups of 100 with 30, 10 and 5 replies: each against the other 200."""
    rows = []
    for title, replies in (("A", 30), ("B", 10), ("C", 5)):
        rows += [(title, i < replies) for i in range(100)]
    email = {
        "step": 0,
        "variant": None,
        "sent_at": None,
        "opened": False,
        "clicked": False,
        "bounced": False,
    }
    frame = pl.DataFrame(
        {
            "campaign_id": ["c"] * len(rows),
            "title": [t for t, _ in rows],
            "replied": [r for _, r in rows],
            "replied_at": [None] * len(rows),
            "ai_tag": [None] * len(rows),
            "emails": [[email]] * len(rows),
        },
        # typed as the loader types them (a struct field of dtype Null makes polars panic)
        schema_overrides={"replied_at": pl.Datetime("us", "UTC"), "emails": pl.List(EMAIL_STRUCT)},
    )
    raw_p = {"A": _z_p(30, 100, 15, 200), "B": _z_p(10, 100, 35, 200), "C": _z_p(5, 100, 40, 200)}
    for adjust in ("holm", "bh"):
        got = {r["title"]: r for r in skm.breakdown(frame, "title", adjust=adjust).to_dicts()}
        ps = [cast(float, raw_p[g]) for g in "ABC"]
        want = _holm_by_hand(ps) if adjust == "holm" else list(sps.false_discovery_control(ps))
        for g, q in zip("ABC", want, strict=True):
            assert got[g]["test"] == "z"
            assert got[g]["p_value"] == pytest.approx(raw_p[g], rel=1e-9)
            assert got[g]["p_value_adj"] == pytest.approx(q, rel=1e-9)
        assert got["A"]["significant"] is True and got["A"]["diff"] == pytest.approx(0.3 - 0.075)
    # a fourth, tiny group is not tested in the family: the others' adjusted p stay put
    tiny = frame.head(5).with_columns(title=pl.lit("D"), replied=pl.lit(True))
    both = skm.breakdown(pl.concat([frame, tiny]), "title", adjust="holm")
    d = both.filter(pl.col("title") == "D").row(0, named=True)
    assert d["too_small"] and d["test"] == "fisher" and d["p_value_adj"] is None


# --------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": "job_titel"}, "job_titel"),
        ({"by": pl.col("country").str.to_uppercase()}, "country"),
        ({"by": pl.col("email").dt.year()}, "email"),
        ({"by": pl.struct("email", "status")}, "struct"),
        ({"by": pl.col("email").alias("rate")}, "rate"),
        ({"by": 3}, "column name or a polars expression"),
        ({"by": ""}, "empty"),
        ({"by": "job_title", "metric": "replies"}, "metric"),
        ({"by": "job_title", "adjust": "bonferroni"}, "adjust"),
        ({"by": "job_title", "min_leads": -1}, "min_leads"),
        ({"by": "job_title", "alpha": 0}, "alpha"),
        ({"by": "job_title", "confidence": 95}, "confidence"),
        ({"by": "job_title", "other": ""}, "other"),
    ],
)
def test_bad_input_is_a_clear_error(
    leads: pl.DataFrame, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SendKitError, match=message) as info:
        skm.breakdown(leads.head(50), **kwargs)
    assert isinstance(info.value, BadRequestError) and info.value.hint


def test_bad_leads_frame_names_the_column(leads: pl.DataFrame) -> None:
    with pytest.raises(BadRequestError, match="emails"):
        skm.breakdown(leads.drop("emails"), "job_title")
    with pytest.raises(BadRequestError, match="DataFrame"):
        skm.breakdown(cast(Any, leads.head(3).to_dicts()), "job_title")


# --------------------------------------------------------------- segment= takes any column


def test_headline_segmented_by_an_expression(
    raw: dict[str, list[Raw]], leads: pl.DataFrame
) -> None:
    got = skm.headline(leads, segment=[DOMAIN, "job_title"])
    assert got.columns[:3] == ["campaign_id", "domain", "job_title"]
    want: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for cid, items in raw.items():
        for item in items:
            for k, v in ref_flags(item).items():
                want[(cid, ref_domain(item), ref_title(item))][k] += int(v)
    rows = {(r["campaign_id"], r["domain"], r["job_title"]): r for r in got.to_dicts()}
    assert set(rows) == set(want)
    for key, counts in want.items():
        for column, value in counts.items():
            assert rows[key][column] == value, (key, column)


def test_funnel_segmented_by_a_column_and_an_expression(leads: pl.DataFrame) -> None:
    whole = skm.funnel(leads)
    by_title = skm.funnel(leads, segment="job_title")
    by_size = skm.funnel(leads, segment=[SIZE.alias("bucket"), "tag:vip"], by="variant")
    assert by_title.columns[:2] == ["job_title", "step"]
    assert by_size.columns[:3] == ["bucket", "tag:vip", "step"]
    for frame in (by_title, by_size):
        summed = frame.group_by("step").agg(pl.col("sent", "delivered", "replied").sum())
        assert (
            summed.sort("step").select("sent", "delivered", "replied").rows()
            == whole.select("sent", "delivered", "replied").rows()
        )
    # variant_funnel and compare_campaigns take expressions too
    assert "domain" in skm.variant_funnel(leads, segment=DOMAIN).columns
    steps = skm.compare_campaigns(leads, by="step", segment=DOMAIN)
    assert steps.columns[:3] == ["campaign_id", "campaign_name", "domain"]


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ("country", "no column 'country'"),
        (pl.col("email").str.split("@"), "List"),
        (pl.col("replied").not_(), "alias"),
        ("replied", "alias"),
        (pl.col("ai_tag").str.to_uppercase(), "alias"),
        (pl.col("email").dt.year(), "cannot be computed"),
        (3, "column name or a polars expression"),
    ],
)
def test_bad_segment_is_a_clear_error(leads: pl.DataFrame, segment: Any, message: str) -> None:
    for metric in (skm.headline, skm.funnel):
        with pytest.raises(BadRequestError, match=message) as info:
            metric(leads.head(20), segment=segment)
        assert info.value.hint


# --------------------------------------------------------------- the chart


def _as_json(fig: go.Figure) -> Any:
    return json.loads(pio.to_json(fig, validate=False))


def test_chart_ranks_groups_with_whiskers_and_faded_small_ones(leads: pl.DataFrame) -> None:
    frame = skm.breakdown(leads.head(900), DOMAIN, min_leads=40)
    fig = charts.breakdown(frame)
    assert [t.name for t in fig.data] == ["Groups", "Labels"]
    assert [t.uid for t in fig.data] == ["breakdown-bars", "breakdown-labels"]
    bars = fig.data[0]
    rows = frame.sort(["rate", "contacted"], descending=True, nulls_last=True).to_dicts()
    assert list(bars.y) == [r["domain"] for r in rows]
    assert list(bars.x) == pytest.approx([r["rate"] for r in rows])
    # whiskers are the frame's Wilson bounds, not a computation of the chart's own
    assert list(bars.error_x.array) == pytest.approx([r["rate_high"] - r["rate"] for r in rows])
    assert list(bars.error_x.arrayminus) == pytest.approx([r["rate"] - r["rate_low"] for r in rows])
    # too-small groups are faded and hatched, and labelled so
    small = [bool(r["too_small"]) for r in rows]
    assert any(small) and not all(small)
    assert list(bars.marker.opacity) == [0.4 if s else 1.0 for s in small]
    assert list(bars.marker.pattern.shape) == ["x" if s else "" for s in small]
    labels = fig.data[1]
    for text, colour, s in zip(labels.text, labels.textfont.color, small, strict=True):
        assert ("too small" in text) == s
        assert (colour == TONE_COLORS["small"]) == s
    # the rate of all leads is a line across the plot
    overall = frame["overall_rate"][0]
    (line,) = [s for s in fig.layout.shapes if s.name == "sendkit:overall"]
    assert line.x0 == line.x1 == pytest.approx(overall) and (line.y0, line.y1) == (0, 1)
    # the subtitle says what the rate is over, the interval and the adjustment
    subtitle = next(a.text for a in fig.layout.annotations if a.name == "sendkit:subtitle")
    for words in ("Replied / contacted per domain", "95% Wilson", "Holm-adjusted", "fewer than 40"):
        assert words in subtitle.replace("<br>", " "), words
    assert fig.layout.title.text == "<b>Reply rate by domain</b>"
    hover = bars.hovertext[0]
    assert "Reply rate" in hover and "contacted" in hover and "Rest of the leads" in hover
    # plotly's full validation leaves the figure unchanged
    assert _as_json(go.Figure(_as_json(fig))) == _as_json(fig)


def test_chart_words_the_frames_own_settings(leads: pl.DataFrame) -> None:
    frame = skm.breakdown(leads, "tags", metric="open", adjust="bh", min_leads=10)
    fig = charts.breakdown(frame)
    subtitle = next(a.text for a in fig.layout.annotations if a.name == "sendkit:subtitle")
    assert "Opened / delivered per tags" in subtitle and "Benjamini-Hochberg" in subtitle
    notes = " ".join(a.text for a in fig.layout.annotations if a.name == "sendkit:footnote")
    assert "counts once in each" in notes and "Opens are directional" in notes
    assert fig.layout.title.text == "<b>Open rate by tags</b>"
    # a significant group is coloured by what it means for the reader, and says it in words
    seeded = skm.breakdown(
        leads.with_columns(hot=pl.col("replied") & (pl.col("job_title") == "CEO")),
        pl.when(pl.col("hot")).then(pl.lit("hot")).otherwise(pl.col("job_title")).alias("who"),
    )
    fig = charts.breakdown(seeded)
    labels = dict(zip(fig.data[0].y, fig.data[1].text, strict=True))
    assert "higher than the rest" in labels["hot"]


def test_chart_of_many_groups_draws_the_largest(leads: pl.DataFrame) -> None:
    frame = skm.breakdown(leads, "employees")
    fig = charts.breakdown(frame, max_groups=12)
    assert len(fig.data[0].y) == 12
    largest = set(frame.sort("contacted", descending=True).head(12)["employees"])
    assert set(fig.data[0].y) == largest
    subtitle = next(a.text for a in fig.layout.annotations if a.name == "sendkit:subtitle")
    assert f"12 largest of {frame.height:,} groups" in subtitle.replace("<br>", " ")


def test_chart_of_nothing_and_bad_frames(leads: pl.DataFrame) -> None:
    fig = charts.breakdown(skm.breakdown(leads.head(0), "job_title"))
    assert any(a.name == NO_DATA for a in fig.layout.annotations)
    assert len(fig.data) == 2
    with pytest.raises(BadRequestError, match="rate_low"):
        charts.breakdown(skm.breakdown(leads.head(30), "job_title").drop("rate_low"))
    with pytest.raises(BadRequestError, match="max_groups"):
        charts.breakdown(skm.breakdown(leads.head(30), "job_title"), max_groups=0)
    mixed = pl.concat(
        [
            skm.breakdown(leads.head(30), "job_title"),
            skm.breakdown(leads.head(30), "job_title", metric="open"),
        ]
    )
    with pytest.raises(BadRequestError, match="one metric"):
        charts.breakdown(mixed)


# --------------------------------------------------------------- with the lead details


@pytest.mark.skipif(
    not hasattr(sk, "load_lead_details"), reason="sk.load_lead_details is not in this checkout"
)
def test_breakdown_on_the_joined_lead_details(
    client: sk.SendKitClient, demo_server: DemoServer, raw: dict[str, list[Raw]]
) -> None:
    """End to end: who replies, by the attributes of the workspace leads (GET /v1/leads)."""
    loader = cast(Any, sk)  # the loaders of the lead details, when present
    campaign_leads = pl.concat([sk.load_leads(client, cid, progress=False) for cid in raw])
    leads = loader.with_lead_details(
        campaign_leads, loader.load_lead_details(client, progress=False)
    )
    people: dict[str, Raw] = {}
    page = 1
    while True:
        body = _get(demo_server, "/v1/leads", limit=100, page=page)
        people.update({p["_id"]: p for p in body["data"]})
        if page >= body["pagination"]["pages"]:
            break
        page += 1
    assert len(people) == body["pagination"]["total"] > 1000

    def person(item: Raw) -> Raw | None:
        return people.get((item.get("leadId") or {}).get("_id", ""))

    def title(item: Raw) -> list[object]:
        who = person(item)
        # the loader reads blank text as no value
        return [None if who is None else (who.get("jobTitle") or "").strip() or None]

    def size(item: Raw) -> list[object]:
        who = person(item)
        return [((who or {}).get("customFields") or {}).get("companySize")]

    def tags(item: Raw) -> list[object]:
        who = person(item)
        return sorted({t.strip() for t in (who or {}).get("tags") or [] if t.strip()})

    by_title = skm.breakdown(leads, "job_title")
    assert_matches(by_title, ref_breakdown(raw, title), "job_title")
    # the demo plants real differences between job titles, and the breakdown finds them
    assert by_title["significant"].any()
    company_size = pl.col("custom_fields").str.json_path_match("$.companySize")
    by_size = skm.breakdown(leads, company_size.alias("company_size"), metric="positive")
    assert_matches(by_size, ref_breakdown(raw, size, metric="positive"), "company_size")
    by_tag = skm.breakdown(leads, "tags_details", adjust="bh")
    assert_matches(by_tag, ref_breakdown(raw, tags, adjust="bh"), "tags_details")
    for frame in (by_title, by_size, by_tag):
        fig = charts.breakdown(frame)
        assert len(fig.data[0].y) == frame.height


def test_chart_renders_in_a_browser_offline(
    leads: pl.DataFrame, browser: Any, test_output: Path
) -> None:
    """What the reader sees: one bar per group, the faded ones drawn faded, the line, the
    subtitle, with plotly.js inline and the network off."""
    frame = skm.breakdown(leads.head(900), DOMAIN, min_leads=40)
    path = test_output / "breakdown_chart.html"
    path.write_text(charts.breakdown(frame).to_html(include_plotlyjs=True), encoding="utf-8")
    offline = OfflinePage(browser, width=1000)
    try:
        page = offline.goto(path)
        page.wait_for_selector(".main-svg .bars .point path")
        opacities = page.eval_on_selector_all(
            ".main-svg .bars .point path", "els => els.map(e => getComputedStyle(e).opacity)"
        )
        assert len(opacities) == frame.height
        assert sorted(float(o) for o in opacities).count(0.4) == frame["too_small"].sum()
        assert page.locator(".shapelayer path").count() >= 1  # the overall line
        text = " ".join(
            page.eval_on_selector_all(".annotation-text", "els => els.map(e => e.textContent)")
        )
        assert "Replied / contacted per domain" in text and "Holm-adjusted" in text
        page.screenshot(path=str(test_output / "breakdown_chart.png"), full_page=True)
    finally:
        offline.context.close()
    assert offline.requests == [] and offline.errors == []


@pytest.mark.parametrize("module", [segments_module, breakdown_chart_module])
def test_docstring_examples_run(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
