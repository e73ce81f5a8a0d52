"""The simulator: contract-valid, deterministic, grounded, confounded with overlap, with truth."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overdue import contract, simulate
from overdue.contract import AGREED, APPROACHES, FIELD_BY_ZH, FIELD_NAMES
from overdue.simulate import OutputFormat, simulate_cases, write_simulation

AS_OF = dt.date(2026, 6, 30)
APPROACH_CODES = list(APPROACHES)


@pytest.fixture(scope="module")
def big() -> simulate.Chunk:
    """100,000 cases: enough to measure confounding and effects tightly."""
    return simulate_cases(100_000, seed=11, as_of=AS_OF)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 3_000),
    as_of=st.dates(dt.date(2021, 1, 1), dt.date(2030, 12, 31)),
)
def test_every_contract_rule_holds_for_any_seed(seed: int, rows: int, as_of: dt.date) -> None:
    """Simulated records break no type, range, enum, required field or cross-field rule."""
    run = simulate_cases(rows, seed, as_of)
    assert run.cases.columns == list(FIELD_NAMES)
    assert run.cases.height == rows
    assert contract.violations(run.cases, as_of).is_empty()
    assert run.cases["case_id"].n_unique() == rows
    assert run.truth["case_id"].equals(run.cases["case_id"])


def test_chunks_join_without_repeating_ids() -> None:
    """A run over a chunk boundary keeps ids unique and rows valid."""
    run = simulate_cases(simulate.CHUNK_ROWS + 7, seed=5, as_of=AS_OF)
    assert run.cases["case_id"].n_unique() == simulate.CHUNK_ROWS + 7
    assert contract.violations(run.cases.tail(1000), AS_OF).is_empty()


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_same_seed_gives_byte_identical_files(tmp_path: Path, fmt: OutputFormat) -> None:
    """Two runs with one seed write the same bytes; another seed writes other bytes."""
    paths = [tmp_path / name / f"cases.{fmt}" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (3, 3, 4), strict=True):
        write_simulation(path, rows=2_500, seed=seed, as_of=AS_OF, fmt=fmt)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    truth = [simulate.truth_paths(p) for p in paths[:2]]
    assert truth[0][0].read_bytes() == truth[1][0].read_bytes()
    assert truth[0][1].read_bytes() == truth[1][1].read_bytes()


def from_chinese(frame: pl.DataFrame) -> pl.DataFrame:
    """Undo a Chinese export: headers, category values, 是/否, 2024/3/5 and 24.5% back to codes."""
    exprs = []
    for zh in frame.columns:
        f = FIELD_BY_ZH[zh]
        col = pl.col(zh)
        if f.values:
            col = col.replace_strict(contract.code_from_alias(f.name), default=None)
        elif f.kind is contract.Kind.BOOL:
            col = col.replace_strict({"是": True, "否": False}, default=None)
        elif f.kind is contract.Kind.DATE:
            col = col.str.to_date("%Y/%-m/%-d")
        elif f.kind is contract.Kind.TIMESTAMP:
            col = col.str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us")
        elif f.name == "annual_rate":
            col = col.str.strip_suffix("%").cast(pl.Float64) / 100
        exprs.append(col.cast(f.dtype).alias(f.name))
    return frame.select(exprs)


def test_chinese_gb18030_round_trips_to_the_english_records(tmp_path: Path) -> None:
    """A Chinese GB18030 export decodes back to exactly the English-coded records."""
    zh_path = tmp_path / "zh.csv"
    write_simulation(zh_path, rows=3_000, seed=9, as_of=AS_OF, chinese=True, encoding="gb18030")
    raw = zh_path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    assert text.splitlines()[0].startswith("案件编号,债务人编号,更新时间")
    read = pl.read_csv(text.encode("utf-8"), infer_schema=False)
    expected = simulate_cases(3_000, seed=9, as_of=AS_OF).cases
    decoded = from_chinese(read)
    assert decoded.columns == expected.columns
    for name in expected.columns:
        a, b = decoded[name], expected[name]
        if b.dtype == pl.Float64:
            assert np.allclose(
                a.fill_null(-1).to_numpy(), b.fill_null(-1).to_numpy(), rtol=1e-9, atol=1e-6
            ), name
        else:
            assert a.equals(b), name


def test_csv_and_jsonl_read_back_to_the_same_records(tmp_path: Path) -> None:
    """English CSV and JSON Lines files hold the same records as the Parquet file."""
    frames = {}
    for fmt in OutputFormat:
        path = tmp_path / f"cases.{fmt}"
        write_simulation(path, rows=1_000, seed=2, as_of=AS_OF)
        schema = {f.name: f.dtype for f in contract.FIELDS}
        if fmt is OutputFormat.CSV:
            frames[fmt] = pl.read_csv(path, schema=schema)
        elif fmt is OutputFormat.JSONL:
            as_text = {
                n: pl.String if t in (pl.Date, pl.Datetime("us")) else t for n, t in schema.items()
            }
            frames[fmt] = pl.read_ndjson(path, schema=as_text).with_columns(
                pl.col("overdue_since", "first_contact_on", "closed_on").str.to_date(),
                pl.col("record_updated_at").str.to_datetime(time_unit="us"),
            )
        else:
            frames[fmt] = pl.read_parquet(path)
    parquet = frames[OutputFormat.PARQUET]
    assert frames[OutputFormat.CSV].equals(parquet)
    assert frames[OutputFormat.JSONL].equals(parquet)


# --- grounded in the domain ----------------------------------------------------------------------


def test_income_rises_with_employment_and_city_tier(big: simulate.Chunk) -> None:
    """Employed debtors earn more than unemployed ones, tier-1 cities more than tier-4."""
    median = big.cases.group_by("employment").agg(pl.col("monthly_income").median())
    by_job = dict(median.iter_rows())
    assert by_job["employed"] > 3 * by_job["unemployed"]
    tiers = dict(big.cases.group_by("city_tier").agg(pl.col("monthly_income").median()).iter_rows())
    assert tiers[1] > 1.5 * tiers[4]


def test_collection_escalates_with_days_overdue(big: simulate.Chunk) -> None:
    """The lender's furthest step grows with how long the debt is overdue."""
    stage = pl.col("collection_stage").replace_strict(
        {s: i for i, s in enumerate(contract.FIELD_BY_NAME["collection_stage"].values)}
    )
    bands = (
        big.cases.group_by(
            pl.col("days_overdue_at_contact").bin_intervals([30, 90, 180, 365], labels=False)
        )
        .agg(stage.mean())
        .sort("days_overdue_at_contact")
    )
    levels = bands["collection_stage"].to_list()
    assert levels == sorted(levels)
    assert levels[-1] - levels[0] > 1.5


def test_balances_hold_principal_interest_and_penalties(big: simulate.Chunk) -> None:
    """Balances grow with days overdue relative to principal; penalties sit inside them."""
    c = big.cases.filter(pl.col("penalty_accrued").is_not_null())
    assert (c["penalty_accrued"] <= c["outstanding_balance"]).all()
    ratio = c.group_by(pl.col("days_overdue_at_contact") >= 365).agg(
        (pl.col("outstanding_balance") / pl.col("principal")).median()
    )
    old, fresh = (dict(ratio.iter_rows())[k] for k in (True, False))
    assert old > fresh * 1.2


def test_lender_mix_is_led_by_online_platforms_and_cards(big: simulate.Chunk) -> None:
    """Online platforms and credit cards are the most common lenders, P2P the rarest."""
    share = big.cases["lender_type"].value_counts(normalize=True, sort=True)["lender_type"]
    assert set(share.head(2)) == {"online_platform", "bank_credit_card"}
    assert share[-1] in ("p2p", "bank_loan")


def test_documented_drivers_act_with_their_sizes(big: simulate.Chunk) -> None:
    """Switching a driver on changes the agreement log-odds by exactly its documented size."""
    rng = np.random.default_rng(0)
    c = simulate._debtors(rng, 2_000)
    simulate._debts(rng, c, AS_OF)
    simulate._actions(rng, c)
    base = {
        k: (np.zeros_like(v) if k.startswith("doc_") or k == "repayment_plan_prepared" else v)
        for k, v in c.items()
    }
    for driver in ("repayment_plan_prepared", "doc_income_proof", "doc_bank_statement"):
        on = base | {driver: np.ones_like(base[driver])}
        delta = simulate.agreement_logit(0, on) - simulate.agreement_logit(0, base)
        assert np.allclose(delta, simulate.EFFECT[driver]), driver
    helped = {k: v.copy() for k, v in base.items()}
    help_idx = simulate.HELP
    for kind, size in (("nonprofit_counselor", 0.50), ("paid_agent", -0.45)):
        helped["help_idx"] = np.full_like(base["help_idx"], help_idx.index(kind))
        none = base | {"help_idx": np.zeros_like(base["help_idx"])}
        delta = simulate.agreement_logit(0, helped) - simulate.agreement_logit(0, none)
        assert np.allclose(delta, size), kind
    later = base | {"attitude_score": base["attitude_score"] + 1}
    delta = simulate.agreement_logit(0, later) - simulate.agreement_logit(0, base)
    assert np.allclose(delta, simulate.EFFECT["attitude_per_point"])


def test_early_contact_raises_the_true_chance(big: simulate.Chunk) -> None:
    """Cases contacting within 30 days have a higher true agreement chance than after a year."""
    data = pl.concat([big.cases.select("days_overdue_at_contact"), big.truth], how="horizontal")
    early = data.filter(pl.col("days_overdue_at_contact") < 30)["p_installment"].mean()
    late = data.filter(pl.col("days_overdue_at_contact") >= 365)["p_installment"].mean()
    assert early > late + 0.1


def test_redefault_hazard_grows_with_payment_to_income(big: simulate.Chunk) -> None:
    """Plans that take a larger share of income break more often within 12 months."""
    agreed = big.cases.filter(
        pl.col("outcome").is_in(AGREED)
        & (pl.col("followup_months") >= 12)
        & (pl.col("granted_term_months") >= 12)
        & (pl.col("monthly_income") > 0)
    ).with_columns(
        (pl.col("granted_monthly_payment") / pl.col("monthly_income")).alias("pti"),
        ((pl.col("plan_status") == "broken") & (pl.col("months_to_redefault") <= 12)).alias("b"),
    )
    low = agreed.filter(pl.col("pti") < pl.col("pti").quantile(0.25))["b"].mean()
    high = agreed.filter(pl.col("pti") > pl.col("pti").quantile(0.75))["b"].mean()
    assert high > low * 1.5


def test_pending_cases_are_the_newest_and_unlabelled(big: simulate.Chunk) -> None:
    """Pending cases opened late in the period, have no closing date and no result fields."""
    pending = big.cases.filter(pl.col("outcome") == "pending")
    assert 0.005 < pending.height / big.cases.height < 0.1
    newest_tenth = big.cases["first_contact_on"].sort()[int(0.9 * big.cases.height)]
    assert pending["first_contact_on"].sort()[pending.height // 2] > newest_tenth
    assert pending["first_contact_on"].min() > AS_OF - dt.timedelta(days=365)
    assert pending["closed_on"].null_count() == pending.height
    assert not big.truth.filter(big.cases["outcome"] == "pending")["labelled"].any()


def test_followup_is_censored_for_recent_agreements(big: simulate.Chunk) -> None:
    """Recent agreements are followed for fewer months, and never past the as-of date."""
    agreed = big.cases.filter(pl.col("outcome").is_in(AGREED))
    recent = agreed.filter(pl.col("closed_on") > dt.date(2026, 1, 1))
    assert recent["followup_months"].max() <= 6
    assert agreed["followup_months"].max() <= simulate.MAX_FOLLOWUP_MONTHS


# --- causal structure ----------------------------------------------------------------------------


def test_confounding_is_real(big: simulate.Chunk) -> None:
    """Naive observed rates miss the true per-approach rates by far more than sampling error."""
    labelled = pl.concat([big.cases, big.truth.select(pl.col("^p_.*$"))], how="horizontal").filter(
        pl.col("outcome") != "pending"
    )
    gaps = []
    for code in APPROACH_CODES:
        asked = labelled.filter(pl.col("approach") == code)
        observed = asked["outcome"].is_in(AGREED).mean()
        se = np.sqrt(observed * (1 - observed) / asked.height)
        gaps.append(abs(observed - labelled[f"p_{code}"].mean()) / se)
    assert max(gaps) > 5
    assert sum(g > 3 for g in gaps) >= 3


def test_truth_differs_by_lender_and_age_of_debt(big: simulate.Chunk) -> None:
    """Which approach is best depends on the case: P2P and old debts favour a discount."""
    data = pl.concat([big.cases, big.truth.select(pl.col("^p_.*$"))], how="horizontal")
    p2p = data.filter(pl.col("lender_type") == "p2p")
    card = data.filter(pl.col("lender_type") == "bank_credit_card")
    assert (p2p["p_principal_discount"].mean() - p2p["p_deferral"].mean()) > 0.1
    assert (card["p_principal_discount"].mean() - card["p_deferral"].mean()) < -0.1
    best = data.select(pl.concat_list(pl.col("^p_.*$")).list.arg_max())
    assert best.n_unique() >= 3


def test_every_approach_keeps_a_real_chance_for_every_case(big: simulate.Chunk) -> None:
    """Overlap: every case had at least a 2.5% chance of each approach, and every cell of
    lender type x overdue band x collection stage with 200+ cases saw each approach."""
    propensities = big.truth.select(pl.col("^propensity_.*$"))
    assert propensities.min().min_horizontal().item() >= simulate.OVERLAP_FLOOR / 6 - 1e-12
    cells = big.cases.group_by(
        "lender_type",
        pl.col("days_overdue_at_contact").bin_intervals([90, 180], labels=False),
        "collection_stage",
    ).agg(pl.len(), *[(pl.col("approach") == a).mean().alias(a) for a in APPROACH_CODES])
    crowded = cells.filter(pl.col("len") >= 200)
    assert crowded.height >= 20
    assert crowded.select(APPROACH_CODES).min().min_horizontal().item() > 0.005


def test_truth_summary_agrees_with_the_per_case_truth(tmp_path: Path) -> None:
    """The population and subgroup truths are the means of the per-case truths."""
    result = write_simulation(tmp_path / "cases.parquet", rows=4_000, seed=1, as_of=AS_OF)
    summary = json.loads(result.truth_summary_path.read_text(encoding="utf-8"))
    truth = pl.read_parquet(result.truth_cases_path)
    cases = pl.read_parquet(result.cases_path)
    labelled = truth.filter("labelled")
    for code in APPROACH_CODES:
        assert summary["labelled"]["population"][code] == pytest.approx(
            labelled[f"p_{code}"].mean(), abs=1e-6
        )
        assert summary["all_cases"]["population"][code] == pytest.approx(
            truth[f"p_{code}"].mean(), abs=1e-6
        )
    p2p = truth.filter((cases["lender_type"] == "p2p") & truth["labelled"])
    group = summary["labelled"]["subgroups"]["lender_type=p2p"]
    assert group["n"] == p2p.height
    assert group["installment"] == pytest.approx(p2p["p_installment"].mean(), abs=1e-6)
    assert "days_overdue_at_contact>=180" in summary["labelled"]["subgroups"]


def test_truth_is_what_outcomes_average_to(big: simulate.Chunk) -> None:
    """Among cases that asked for an approach, observed agreement matches the true chance."""
    labelled = pl.concat([big.cases, big.truth.select(pl.col("^p_.*$"))], how="horizontal").filter(
        pl.col("outcome") != "pending"
    )
    for code in APPROACH_CODES:
        asked = labelled.filter(pl.col("approach") == code)
        observed = asked["outcome"].is_in(AGREED).mean()
        expected = asked[f"p_{code}"].mean()
        assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / asked.height)


def test_committed_sample_is_what_make_sample_writes(tmp_path: Path) -> None:
    """data/sample is reproducible: the simulator with the default seed writes the same bytes."""
    from overdue.config import Settings

    settings = Settings()
    root = Path(__file__).resolve().parents[1]
    fresh = write_simulation(
        tmp_path / "cases.parquet", rows=20_000, seed=settings.seed, as_of=settings.as_of
    )
    assert fresh.cases_path.read_bytes() == (root / "data/sample/cases.parquet").read_bytes()
    assert fresh.truth_summary_path.read_text(encoding="utf-8") == (
        root / "data/sample/cases.truth.json"
    ).read_text(encoding="utf-8")
