"""Sensitivity to a hidden confounder: DoubleML's numbers on fixed predictions, and verdicts in a
world whose hidden confounder is known."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm
from sensitivity_support import fit_of, tiny

from overdue import simulate
from overdue.contract import APPROACHES
from overdue.features import build_features
from overdue.models.effects import APPROACH_TREATMENT, LEVERS, EffectFit, aipw
from overdue.models.sensitivity import (
    MIN_BENCHMARK_ROWS,
    SensitivityRow,
    benchmarks,
    bounds,
    confounding_strength,
    elements,
    fits_sensitivity,
    gain_statistics,
    headline_contrasts,
    robustness_values,
    sensitivity_rows,
)
from overdue.worlds import WORLDS

Z = float(norm.ppf(0.975))
ATE = np.array([-1.0, 1.0])

# doubleml 0.11.4 on tiny(2, seed=1) as DoubleMLIRM and tiny(3, seed=2) as DoubleMLAPO per level,
# external predictions, sensitivity_analysis(cf_y=0.03, cf_d=0.04, rho=1.0, level=0.975)
# (printed by `python tests/models/sensitivity_support.py`)
IRM = {"theta": 0.13466449, "lower": 0.09920964, "upper": 0.17011934, "rv": 0.12557358}
IRM_SE = {"lower": 0.04925664, "upper": 0.04956225}
IRM_GAINS = {"cf_y": 0.04046272, "cf_d": 0.03257485, "rho": 0.32412531, "delta": 0.01161292}
APO = [  # theta, theta lower, theta upper, rv
    (0.33892904, 0.30691833, 0.37093974, 0.31077566),
    (0.55153133, 0.51982542, 0.58323723, 0.45431560),
    (0.60662391, 0.57691080, 0.63633702, 0.50687811),
]


def test_the_ate_bounds_and_robustness_value_are_doublemls() -> None:
    """On fixed predictions the estimate, its bounds and RV equal DoubleMLIRM's."""
    el = elements(fit_of(*tiny(2, seed=1)), ATE)
    b = bounds(el, confounding_strength(0.03, 0.04))
    assert el.theta == pytest.approx(IRM["theta"], abs=1e-8)
    assert (b.theta_low, b.theta_high) == pytest.approx((IRM["lower"], IRM["upper"]), abs=1e-8)
    assert robustness_values(el)[0] == pytest.approx(IRM["rv"], abs=1e-5)


def test_the_confidence_bounds_use_each_bounds_own_influence() -> None:
    """The lower bound theta - cS has influence psi - c psi_S. DoubleML pairs it with the other
    combination (its scaled psi is -psi for AIPW scores), so its two standard errors swap."""
    el = elements(fit_of(*tiny(2, seed=1)), ATE)
    b = bounds(el, confounding_strength(0.03, 0.04))
    assert b.ci_low == pytest.approx(IRM["lower"] - Z * IRM_SE["upper"], abs=1e-7)
    assert b.ci_high == pytest.approx(IRM["upper"] + Z * IRM_SE["lower"], abs=1e-7)


def test_with_no_confounding_the_bounds_are_the_95_percent_interval() -> None:
    """Strength 0: the confidence bounds are the estimate -/+ 1.96 sd(phi) / sqrt(n) (ddof 0)."""
    el = elements(fit_of(*tiny(2, seed=1)), ATE)
    b = bounds(el, 0.0)
    half = Z * el.psi.std() / np.sqrt(len(el.psi))
    assert (b.ci_low, b.ci_high) == pytest.approx((el.theta - half, el.theta + half))


@pytest.mark.parametrize("level", range(3))
def test_each_potential_outcome_matches_doublemls_apo(level: int) -> None:
    """A three-level treatment: each level's rate, bounds and RV equal DoubleMLAPO's."""
    el = elements(fit_of(*tiny(3, seed=2)), np.eye(3)[level])
    b = bounds(el, confounding_strength(0.03, 0.04))
    theta, low, high, rv = APO[level]
    assert (el.theta, b.theta_low, b.theta_high) == pytest.approx((theta, low, high), abs=1e-8)
    assert robustness_values(el)[0] == pytest.approx(rv, abs=1e-5)


def test_robustness_values_bring_the_bound_and_its_interval_to_zero() -> None:
    """At cf_y = cf_d = RV the bound nearest zero is zero; at RVa its confidence bound is."""
    el = elements(fit_of(*tiny(2, seed=1)), ATE)
    rv, rva = robustness_values(el)
    assert 0 < rva < rv < 1
    assert bounds(el, confounding_strength(rv, rv)).theta_low == pytest.approx(0, abs=1e-12)
    assert bounds(el, confounding_strength(rva, rva)).ci_low == pytest.approx(0, abs=1e-9)


def test_benchmark_gains_are_doublemls() -> None:
    """cf_y, cf_d, rho and the change in the estimate equal DoubleML's gain_statistics."""
    y, codes, mu, e = tiny(2, seed=1)
    short_e = np.column_stack([1 - (0.5 * e[:, 1] + 0.25), 0.5 * e[:, 1] + 0.25])
    long = elements(fit_of(y, codes, mu, e), ATE)
    short = elements(fit_of(y, codes, 0.5 * mu + 0.3, short_e), ATE)
    gains = gain_statistics("x", long, short)
    assert (gains.cf_y, gains.cf_d, gains.rho, gains.delta_theta) == pytest.approx(
        tuple(IRM_GAINS.values()), abs=1e-8
    )


def test_a_benchmark_on_a_subsample_compares_fits_made_from_it(features: pl.DataFrame) -> None:
    """Capped at 1,500 of the cases, a benchmark reads the same as one made on those 1,500
    alone: the full model is refitted on them too, so leaving a group out is not confused with
    learning from fewer cases (which made every group look strong)."""
    labelled = features.filter(pl.col("y_agreement").is_not_null())
    lever = LEVERS[-1]
    contrasts = headline_contrasts(lever)
    capped = benchmarks(
        labelled, aipw(labelled, lever, "y_agreement", 1), contrasts, "y_agreement", 1, 1_500
    )
    rows = np.sort(np.random.default_rng(1).choice(labelled.height, 1_500, replace=False))
    sample = labelled[rows]
    alone = benchmarks(
        sample, aipw(sample, lever, "y_agreement", 1), contrasts, "y_agreement", 1, 1_500
    )
    assert capped == alone
    assert len(capped[contrasts[0].level]) == 4


def test_a_treatment_fitted_on_too_few_cases_is_not_benchmarked(features: pl.DataFrame) -> None:
    """Below MIN_BENCHMARK_ROWS no group is refitted: each contrast keeps its robustness value
    in words, and no verdict claims robust or fragile."""
    labelled = features.filter(pl.col("y_agreement").is_not_null())
    assert labelled.height < MIN_BENCHMARK_ROWS
    fit = aipw(labelled, LEVERS[-1], "y_agreement", 1)
    rows = fits_sensitivity([EffectFit(fit, labelled)], "y_agreement", 1, k=1)
    assert rows == sensitivity_rows(fit, None)
    assert {r.verdict for r in rows} <= {"not_benchmarked", "unclear", "not_estimable"}
    assert all(r.benchmark_cf_y is None for r in rows)


# --- a world whose hidden confounder is known ----------------------------------------------------

AS_OF = dt.date(2026, 6, 30)
BIASED = simulate.HIDDEN_CONFOUNDED
CLEAR = ("installment", "penalty_waiver", "principal_discount")  # true contrasts beyond +/-0.09


def approach_sensitivity(world: str) -> tuple[dict[str, SensitivityRow], dict[str, float]]:
    """30,000 cases of ``world``: each approach's row, and its true contrast with the average."""
    run = simulate.simulate_cases(30_000, seed=3, as_of=AS_OF, world=WORLDS[world])
    features = build_features(run.cases.lazy()).collect()
    labelled = features.filter(pl.col("y_agreement").is_not_null())
    truth = labelled.select("case_id").join(run.truth, on="case_id", maintain_order="left")
    rates = {code: float(truth[f"p_{code}"].mean()) for code in APPROACHES}
    average = float(np.mean(list(rates.values())))
    assert labelled.height >= MIN_BENCHMARK_ROWS  # benchmarked as training benchmarks
    fit = aipw(labelled, APPROACH_TREATMENT, "y_agreement", seed=1)
    found = fits_sensitivity([EffectFit(fit, labelled)], "y_agreement", 1, k=1)
    rows = {r.level: r for r in found}
    return rows, {code: rate - average for code, rate in rates.items()}


@pytest.fixture(scope="module")
def hidden() -> tuple[dict[str, SensitivityRow], dict[str, float]]:
    return approach_sensitivity("hidden_confounder")


@pytest.mark.slow
def test_the_contrast_a_hidden_confounder_flips_is_fragile(
    hidden: tuple[dict[str, SensitivityRow], dict[str, float]],
) -> None:
    """Stopped interest is worse than average in truth, looks better (its interval excludes
    zero and the truth), and a confounder as strong as an observed group could undo that."""
    rows, true = hidden
    row = rows[BIASED]
    assert true[BIASED] < 0 < row.ci_low
    assert row.verdict == "fragile"
    assert row.rva <= max(row.benchmark_cf_y, row.benchmark_cf_d)
    assert "could" in row.text["en"] and "未观测混杂因素" in row.text["zh"]
    assert row.bound_ci_low <= 0 <= row.bound_ci_high


@pytest.mark.slow
def test_clear_contrasts_stay_robust_beside_a_hidden_confounder(
    hidden: tuple[dict[str, SensitivityRow], dict[str, float]],
) -> None:
    """The large contrasts the confounder barely touches are robust to one as strong as the
    strongest observed group."""
    rows, true = hidden
    assert all(abs(true[code]) > 0.05 for code in CLEAR)
    assert {code: rows[code].verdict for code in CLEAR} == dict.fromkeys(CLEAR, "robust")
    assert all("would not erase" in rows[code].text["en"] for code in CLEAR)


@pytest.mark.slow
def test_on_baseline_the_clear_contrasts_are_robust() -> None:
    """Without a hidden confounder every contrast beyond +/-0.05 is robust, of the true sign."""
    rows, true = approach_sensitivity("baseline")
    clear = [code for code in APPROACHES if abs(true[code]) > 0.05]
    assert set(CLEAR) <= set(clear)
    assert all(rows[code].verdict == "robust" for code in clear)
    assert all(np.sign(rows[code].estimate) == np.sign(true[code]) for code in clear)


def test_the_hidden_field_is_recorded_in_the_truth_but_not_in_the_cases(tmp_path: Path) -> None:
    """The world's truth summary names the hidden field and the contrast it biases; the case
    records never carry it."""
    world = WORLDS["hidden_confounder"]
    result = simulate.write_simulation(
        tmp_path / "c.parquet", rows=300, seed=1, as_of=AS_OF, world=world
    )
    summary = json.loads(result.truth_summary_path.read_text(encoding="utf-8"))
    assert summary["hidden_confounder"]["field"] == simulate.HIDDEN_FIELD
    assert summary["hidden_confounder"]["biases"]["level"] == BIASED
    columns = pl.read_parquet(result.cases_path).columns
    assert simulate.HIDDEN_FIELD not in columns
    assert not any("goodwill" in c for c in columns)
