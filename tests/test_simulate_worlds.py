"""The family of simulated worlds: valid records in each, today's simulator unchanged as the
baseline, and every knob doing what it says."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import polars.selectors as cs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_support import ROOT, overdue
from overdue import contract, simulate
from overdue.contract import AGREED, APPROACHES
from overdue.ingest import ingest_paths
from overdue.simulate import Cases, simulate_cases, write_simulation
from overdue.worlds import BASELINE, HELD_OUT, WORLDS, Moderator, World

AS_OF = dt.date(2026, 6, 30)
CODES = list(APPROACHES)
INSTALLMENT, STOP_INTEREST = CODES.index("installment"), CODES.index("stop_interest_installment")
# sha256 over cases.csv, the truth as CSV (its probabilities to 8 decimals) and cases.truth.json
# of write_simulation(3,000 rows, seed 7, as of 2026-06-30), recorded from the simulator before
# worlds existed (b3344cb^). numpy's AVX-512 and AVX2 code give some probabilities one unit in
# the last place apart: the cases and the summary are the same bytes on both, the rounded truth too.
BASELINE_SHA256 = "9f9d476c217de6c5e7d49bccf1337fe70e450004d6e44fffa74ba04d9c7344de"
TRUTH_DECIMALS = 8


@pytest.fixture(scope="module")
def runs() -> dict[str, simulate.Chunk]:
    """8,000 cases of every world, one seed."""
    return {
        name: simulate_cases(8_000, seed=21, as_of=AS_OF, world=w) for name, w in WORLDS.items()
    }


def world_cases(world: World, rows: int = 3_000, seed: int = 4) -> Cases:
    """Cases of ``world`` up to the approach asked for (what the agreement logit reads)."""
    cases, _ = simulate._cases(np.random.default_rng(seed), rows, AS_OF, world)
    return cases


def logits(world: World, cases: Cases) -> np.ndarray:
    """n x approaches: the world's log-odds of an agreement."""
    return np.column_stack([simulate.agreement_logit(a, cases, world) for a in range(len(CODES))])


def test_baseline_writes_the_bytes_of_the_simulator_before_worlds(tmp_path: Path) -> None:
    """The baseline world is today's simulator: the same seed writes the same bytes as before."""
    result = write_simulation(tmp_path / "cases.csv", rows=3_000, seed=7, as_of=AS_OF)
    digest = hashlib.sha256(result.cases_path.read_bytes())
    truth = pl.read_parquet(result.truth_cases_path)
    digest.update(truth.with_columns(cs.float().round(TRUTH_DECIMALS)).write_csv().encode())
    digest.update(result.truth_summary_path.read_bytes())
    assert digest.hexdigest() == BASELINE_SHA256


def test_the_family_has_named_worlds_and_three_held_out() -> None:
    """At least eight worlds, baseline first with today's knobs, three kept out of tuning."""
    assert len(WORLDS) >= 8
    assert next(iter(WORLDS)) == "baseline" and World("baseline", BASELINE.about) == BASELINE
    assert all(name == w.name for name, w in WORLDS.items())
    assert len(HELD_OUT) == 3


@pytest.mark.parametrize("name", list(WORLDS))
def test_every_world_obeys_the_contract_with_the_same_truth_columns(
    runs: dict[str, simulate.Chunk], name: str
) -> None:
    """Records break no rule; the truth has baseline's columns and probabilities in [0, 1]."""
    run = runs[name]
    assert run.cases.columns == list(contract.FIELD_NAMES)
    assert contract.violations(run.cases, AS_OF).is_empty()
    assert run.truth.columns == runs["baseline"].truth.columns
    p = run.truth.select(pl.col("^p_.*$"), pl.col("^propensity_.*$")).to_numpy()
    assert np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()
    assert run.truth["case_id"].equals(run.cases["case_id"])


@pytest.mark.parametrize("name", list(WORLDS))
def test_every_worlds_truth_is_what_its_outcomes_average_to(
    runs: dict[str, simulate.Chunk], name: str
) -> None:
    """Among labelled cases, the observed agreement rate matches the mean true chance of the
    approach asked for: the truth is the world's own."""
    run = runs[name]
    asked = run.truth.select(
        pl.concat_list(pl.col("^p_.*$")).list.get(
            pl.col("approach").replace_strict({c: i for i, c in enumerate(CODES)})
        )
    ).to_series()
    labelled = (run.cases["outcome"] != "pending").to_numpy()
    observed = run.cases["outcome"].is_in(AGREED).to_numpy()[labelled].mean()
    expected = asked.to_numpy()[labelled].mean()
    assert abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / labelled.sum())


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(list(WORLDS)),
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 1_500),
)
def test_any_world_and_seed_gives_valid_reproducible_records(
    name: str, seed: int, rows: int
) -> None:
    """Any world, any seed: valid records, and the same seed gives the same records."""
    first = simulate_cases(rows, seed, AS_OF, WORLDS[name])
    assert contract.violations(first.cases, AS_OF).is_empty()
    assert first.cases.equals(simulate_cases(rows, seed, AS_OF, WORLDS[name]).cases)


def test_every_world_loads_through_ingest_without_quarantine(tmp_path: Path) -> None:
    """CSV files of every world pass the real ingest validation: every row loads."""
    folder = tmp_path / "in"
    for seed, (name, world) in enumerate(WORLDS.items()):  # a seed each: case ids differ
        write_simulation(folder / f"{name}.csv", rows=300, seed=seed, as_of=AS_OF, world=world)
    summary = ingest_paths([str(folder / "*.csv")], tmp_path / "w.duckdb", as_of=AS_OF)
    assert summary.total("rows_loaded") == 300 * len(WORLDS)
    assert summary.total("rows_quarantined") == 0


@pytest.mark.parametrize("name", ["rare_agreement", "common_agreement", "rare_and_sparse"])
def test_base_rate_worlds_land_near_their_target(name: str) -> None:
    """On 20,000 fresh cases (another seed than the pilot's), labelled cases agree at the
    world's base rate, within two points."""
    world = WORLDS[name]
    assert world.base_rate is not None
    cases = simulate_cases(20_000, seed=99, as_of=AS_OF, world=world).cases
    labelled = cases.filter(pl.col("outcome") != "pending")
    assert labelled["outcome"].is_in(AGREED).mean() == pytest.approx(world.base_rate, abs=0.02)


def test_weak_overlap_goes_down_to_a_one_percent_propensity(
    runs: dict[str, simulate.Chunk],
) -> None:
    """The weak-overlap worlds' smallest propensity is near 1%; today's stays at 2.5% or more."""

    def smallest(name: str) -> float:
        return runs[name].truth.select(pl.col("^propensity_.*$")).min().min_horizontal().item()

    assert 0.01 - 1e-12 <= smallest("weak_overlap") < 0.0125
    assert 0.01 - 1e-12 <= smallest("hard_steps") < 0.0125
    assert smallest("baseline") >= simulate.OVERLAP_FLOOR / len(CODES) - 1e-12


def test_stronger_confounding_makes_the_choice_more_predictable() -> None:
    """Doubling the choice scores' case-dependent part makes the largest propensity of a case
    larger on average, on the same cases."""
    base = world_cases(BASELINE)["propensity"].max(axis=1).mean()
    strong = world_cases(WORLDS["strong_confounding"])["propensity"].max(axis=1).mean()
    assert strong > base + 0.05


def test_without_moderators_every_case_gains_the_same_from_an_approach() -> None:
    """No moderators: each approach's effect on the log-odds is one number for every case;
    today's moderators make it vary."""
    for world, varies in ((WORLDS["no_moderation"], False), (BASELINE, True)):
        logit = logits(world, world_cases(world))
        spread = (logit - logit[:, [INSTALLMENT]]).std(axis=0)
        assert bool(spread.max() > 0.1) is varies, world.name
        if not varies:
            assert np.allclose(spread, 0, atol=1e-9)


def test_a_field_moderates_only_in_worlds_that_name_it() -> None:
    """Raising every case's APR from 15% to 30% widens the gap between stop-interest and plain
    instalments by its documented size where the rate moderates, and not at all elsewhere."""
    effect = simulate.APPROACH_BY_DRIVER[Moderator.ANNUAL_RATE]
    per_unit = effect[STOP_INTEREST] - effect[INSTALLMENT]
    for world in (WORLDS["other_moderators"], BASELINE):
        cases = world_cases(world)
        gaps = []
        for rate in (0.15, 0.30):
            logit = logits(world, cases | {"annual_rate": np.full_like(cases["annual_rate"], rate)})
            gaps.append(logit[:, STOP_INTEREST] - logit[:, INSTALLMENT])
        moderates = Moderator.ANNUAL_RATE in world.moderators
        assert np.allclose(gaps[1] - gaps[0], per_unit * 1.5 if moderates else 0.0), world.name


def test_moderation_strength_scales_the_approach_effects() -> None:
    """At 1.5x moderation every approach x moderator term is 1.5 times today's."""
    cases = world_cases(BASELINE)
    strong = WORLDS["strong_moderation"]
    for m in (Moderator.LENDER_TYPE, Moderator.DAYS_OVERDUE):
        today = simulate.moderation_effect(m, STOP_INTEREST, cases, BASELINE)
        assert np.allclose(simulate.moderation_effect(m, STOP_INTEREST, cases, strong), 1.5 * today)


def with_days(cases: Cases, days: int) -> Cases:
    """The same cases, every one ``days`` overdue at first contact."""
    return cases | {"days_overdue_at_contact": np.full_like(cases["days_overdue_at_contact"], days)}


def test_a_step_surface_acts_only_at_its_thresholds() -> None:
    """Steps: nothing changes between 100 and 170 days overdue, a step at 90 days; today's
    log-scale surface keeps falling."""
    steps = WORLDS["step_surface"]
    cases = world_cases(steps)
    at = {d: logits(steps, with_days(cases, d))[:, INSTALLMENT] for d in (89, 90, 100, 170)}
    assert np.array_equal(at[100], at[170])
    assert (at[89] - at[90]).min() > 0.5
    today = {d: logits(BASELINE, with_days(cases, d))[:, INSTALLMENT] for d in (100, 170)}
    assert (today[100] - today[170]).min() > 0.1


def test_a_smooth_surface_levels_off() -> None:
    """Smooth: the effect of days overdue saturates (little change from 2,000 to 3,000 days),
    where today's log scale keeps falling."""
    for world, saturates in ((WORLDS["smooth_surface"], True), (BASELINE, False)):
        cases = world_cases(world)
        change = logits(world, with_days(cases, 2_000)) - logits(world, with_days(cases, 3_000))
        assert bool(np.abs(change).max() < 0.03) is saturates, world.name


def test_preparation_factors_interact_only_on_the_interactions_surface() -> None:
    """A written plan is worth more with income proof on the interactions surface (by the
    documented amount) and the same either way on today's additive surface."""
    for world in (WORLDS["prep_interactions"], BASELINE):
        cases = world_cases(world)
        plan_gain = []
        for proof in (False, True):
            at = {
                plan: logits(
                    world,
                    cases
                    | {
                        "doc_income_proof": np.full_like(cases["doc_income_proof"], proof),
                        "repayment_plan_prepared": np.full_like(
                            cases["repayment_plan_prepared"], plan
                        ),
                    },
                )
                for plan in (False, True)
            }
            plan_gain.append(at[True] - at[False])
        expected = simulate.PREPARATION_INTERACTION["plan_with_income_proof"]
        interacts = world.surface == "interactions"
        assert np.allclose(plan_gain[1] - plan_gain[0], expected if interacts else 0.0)


def test_with_selection_on_gains_cases_ask_for_what_suits_them() -> None:
    """Where confounders also moderate, the approach a case is pushed toward gains it more:
    the change from today's log-odds rises with the case's propensity of that approach."""
    world = WORLDS["selection_on_gains"]
    cases = world_cases(world, rows=5_000)
    change = logits(world, cases) - logits(BASELINE, cases)
    discount = CODES.index("principal_discount")
    assert np.corrcoef(cases["propensity"][:, discount], change[:, discount])[0, 1] > 0.5


def test_sparse_worlds_leave_the_documented_share_of_optional_fields_empty() -> None:
    """Each optional field the simulator may leave empty is empty at the world's rate."""
    cases = simulate_cases(20_000, seed=8, as_of=AS_OF, world=WORLDS["sparse_records"]).cases
    for name in simulate.MISSING_P:
        assert cases[name].null_count() / cases.height == pytest.approx(0.35, abs=0.015), name
    today = simulate_cases(20_000, seed=8, as_of=AS_OF).cases
    assert today["emergency_fund_months"].null_count() / today.height == pytest.approx(
        simulate.MISSING_P["emergency_fund_months"], abs=0.015
    )


def test_the_base_rate_shift_is_a_property_of_the_world() -> None:
    """The intercept shift depends on the world's knobs only, not on a run's seed or size."""
    world = WORLDS["rare_agreement"]
    shift = simulate.intercept_shift(world)
    assert shift < -1
    assert simulate.intercept_shift(replace(world, name="renamed")) == shift
    assert simulate.intercept_shift(BASELINE) == 0.0


def test_a_world_records_itself_in_the_truth_summary(tmp_path: Path) -> None:
    """Another world's summary names the world and its knobs; the baseline keeps today's form."""
    world = WORLDS["hard_steps"]
    result = write_simulation(tmp_path / "c.parquet", rows=200, seed=1, as_of=AS_OF, world=world)
    summary = json.loads(result.truth_summary_path.read_text(encoding="utf-8"))
    assert summary["generator"] == f"{simulate.GENERATOR_VERSION}+hard_steps"
    assert summary["world"] == {"name": "hard_steps", "knobs": world.knobs(), "held_out": True}
    result = write_simulation(tmp_path / "b.parquet", rows=200, seed=1, as_of=AS_OF)
    summary = json.loads(result.truth_summary_path.read_text(encoding="utf-8"))
    assert summary["generator"] == simulate.GENERATOR_VERSION and "world" not in summary


# --- the command line and the docs ---------------------------------------------------------------


def test_simulate_world_list_prints_every_world_and_its_knobs() -> None:
    """``overdue simulate --world list``: one line per world with its knobs, held-out marked."""
    result = overdue("simulate", "--world", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(WORLDS)
    for line, world in zip(lines, WORLDS.values(), strict=True):
        assert world.knobs() in line
        assert ("held out" in line) is world.held_out


def test_simulate_an_unknown_world_is_a_one_line_error(tmp_path: Path) -> None:
    """An unknown world name exits 2 with one line naming the choices, and writes nothing."""
    out = tmp_path / "x.parquet"
    result = overdue("simulate", "--world", "atlantis", "--rows", "5", "--out", str(out))
    assert result.returncode == 2
    message = (result.stdout + result.stderr).strip()
    assert len(message.splitlines()) == 1
    assert "atlantis" in message and "baseline" in message and "Traceback" not in message
    assert not out.exists()


def test_simulate_writes_the_world_asked_for(tmp_path: Path) -> None:
    """``--world NAME`` writes that world's records and names it in the truth summary."""
    out = tmp_path / "rare.parquet"
    result = overdue(
        "simulate",
        *("--world", "rare_agreement", "--rows", "300", "--seed", "3"),
        *("--as-of", AS_OF.isoformat(), "--out", str(out)),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(simulate.truth_paths(out)[1].read_text(encoding="utf-8"))
    assert summary["world"]["name"] == "rare_agreement"
    expected = simulate_cases(300, 3, AS_OF, WORLDS["rare_agreement"]).cases
    assert pl.read_parquet(out).equals(expected)


def test_the_docs_describe_every_world_and_name_the_held_out_ones() -> None:
    """docs/worlds.md has a section per world; docs/simulator.md names exactly the held-out
    worlds."""
    docs = (ROOT / "docs/worlds.md").read_text(encoding="utf-8")
    for name in WORLDS:
        assert f"### `{name}`" in docs, name
    simulator = (ROOT / "docs/simulator.md").read_text(encoding="utf-8")
    line = next(line for line in simulator.splitlines() if line.startswith("Held-out worlds:"))
    assert sorted(w.strip("`,. ") for w in line.split(":")[1].split()) == sorted(HELD_OUT)
