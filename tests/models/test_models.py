"""Outcome models, effects, estimates and the registry on small data with known answers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import skops.io as sio
from sklearn.metrics import log_loss

from overdue.contract import APPROACHES
from overdue.features import build_features
from overdue.models import train
from overdue.models.design import Design, spline_logistic
from overdue.models.effects import (
    APPROACH_TREATMENT,
    Treatment,
    aipw,
    group_masks,
    summarize,
)
from overdue.models.estimate import estimate_case, estimate_many
from overdue.models.metrics import expected_calibration_error, probability_metrics
from overdue.models.registry import (
    BUNDLE_FORMAT,
    ESTIMATORS_FILE,
    Bundle,
    UntrustedBundleError,
    load_bundle,
    save_bundle,
)
from overdue.models.selfcheck import SURFACES, spread_surfaces
from overdue.models.train import (
    ADVISING_DESIGN,
    ADVISING_METRICS,
    PENALTY_GRID,
    OutcomeModel,
    TooFewCasesError,
    choose_penalty,
    fit_outcome_model,
    time_split,
)
from overdue.simulate import Chunk, simulate_cases


def test_expected_calibration_error_of_known_cases() -> None:
    """Predicting each group's true rate has no error; a constant 0.9 on a 50% rate has 0.4."""
    y = np.array([0, 1] * 500)
    assert expected_calibration_error(y, np.full(1000, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(1000, 0.9)) == pytest.approx(0.4)
    metrics = probability_metrics(y, np.full(1000, 0.5))
    assert metrics["auc"] == 0.5
    assert metrics["brier"] == pytest.approx(0.25)


def test_time_split_tests_on_the_newest_cases(features: pl.DataFrame) -> None:
    """Every test case started no earlier than every training case."""
    split = time_split(features)
    dates = features["first_contact_on"]
    assert dates.gather(split.train).max() <= dates.gather(split.test).min()
    assert len(split.train) + len(split.calibration) + len(split.test) == features.height


def test_models_refuse_to_fit_on_too_few_cases(features: pl.DataFrame) -> None:
    """Too few labelled cases give a clear refusal, not numbers."""
    with pytest.raises(TooFewCasesError, match="labelled cases"):
        fit_outcome_model(features.head(50), seed=1)


def test_large_data_are_subsampled_as_the_caps_say(
    features: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the caps, the penalty search fits and scores on subsamples, each component and the
    baseline learn from one and the stack weighs the out-of-fold log-odds of another (memory
    and time stay bounded); the sizes say so."""
    monkeypatch.setattr(train, "SELECTION_ROWS", 600)
    monkeypatch.setattr(train, "ADVISING_MAX_ROWS", 1_500)
    monkeypatch.setattr(train, "STACK_MAX_ROWS", 1_000)
    monkeypatch.setattr(train, "BOOSTING_MAX_ROWS", 2_000)
    sizes = fit_outcome_model(features, seed=3).sizes
    assert sizes["train"] > 1_500 and sizes["calibration"] > 600
    assert sizes["selection"] == sizes["selection_scoring"] == 600
    assert sizes["advising_model_train"] == sizes["baseline_train"] == 1_500
    assert sizes["stack"] == 1_000 and sizes["boosting_train"] == 2_000


def test_the_stack_weighs_every_case_below_its_cap(model: OutcomeModel) -> None:
    """Below the caps the stack learns from every case of the training and calibration
    periods, each from components that did not see it."""
    assert model.sizes["stack"] == model.sizes["train"] + model.sizes["calibration"]


def test_calibrated_model_beats_the_base_rate(model: OutcomeModel) -> None:
    """On the newest cases the model predicts better than the base rate, and is calibrated."""
    ours = model.metrics[ADVISING_METRICS]
    base = model.metrics["base_rate_baseline"]
    assert ours["log_loss"] < base["log_loss"]
    assert ours["auc"] > 0.65
    assert ours["ece"] < 0.06
    assert set(model.metrics) >= {"logistic_baseline", "gradient_boosting_calibrated"}


def test_intervals_hold_the_estimate(model: OutcomeModel, features: pl.DataFrame) -> None:
    """Probabilities lie in [0, 1] inside their own interval."""
    p, low, high = model.predict_with_interval(features.head(200))
    assert ((low >= 0) & (low <= p) & (p <= high) & (high <= 1)).all()
    assert (high - low).mean() > 0.01


def test_covariance_assumes_scikit_learns_penalty(
    model: OutcomeModel, features: pl.DataFrame
) -> None:
    """The covariance is the inverse Hessian of ``C · Σ log loss + ½‖w‖²``: at the fit, that
    objective's gradient vanishes, and the covariance is symmetric positive definite."""
    gam = model.advising
    labelled = features.filter(pl.col("y_agreement").is_not_null())
    split = time_split(labelled)
    train = np.concatenate([split.train, split.calibration])  # what the final fit learns from
    basis = gam[:-1].transform(model.design.matrix(labelled)[train])
    y = labelled["y_agreement"].to_numpy()[train]
    lr = gam[-1]
    residual = 1 / (1 + np.exp(-lr.decision_function(basis))) - y
    gradient = lr.C * basis.T @ residual + lr.coef_[0]
    if_mean_loss = lr.C / len(y) * basis.T @ residual + lr.coef_[0]  # another convention
    # lbfgs stops at a tolerance: the gradient is small against the penalty's own gradient
    # (the coefficients), and far smaller than under the other convention
    assert np.abs(gradient).max() < 5e-2 * np.abs(lr.coef_).max()
    assert np.abs(gradient).max() < 0.2 * np.abs(if_mean_loss).max()
    assert abs(residual.sum()) < 1e-2 * len(y)  # the intercept: unpenalised
    assert np.allclose(model.covariance, model.covariance.T)
    assert np.linalg.eigvalsh(model.covariance).min() > 0


def test_estimates_track_the_true_probabilities(
    model: OutcomeModel, features: pl.DataFrame, population: Chunk
) -> None:
    """Per approach, estimates correlate with the truth and are close on average."""
    estimates = model.predict_by_approach(features)
    for code in APPROACHES:
        truth = population.truth[f"p_{code}"].to_numpy()
        assert np.corrcoef(estimates[code], truth)[0, 1] > 0.5, code
        assert abs(estimates[code].mean() - truth.mean()) < 0.06, code


def confounded(n: int, seed: int) -> pl.DataFrame:
    """Features where long-overdue debtors mostly ask for deferral and succeed less often with
    instalments: P(agree | installment) is 0.7, or 0.3 past 90 days overdue."""
    rng = np.random.default_rng(seed)
    frame = simulate_cases(n, seed=seed, as_of=dt.date(2026, 6, 30)).cases
    features = build_features(frame.lazy()).collect()
    late = features["days_overdue_at_contact"].to_numpy() > 90
    asks_deferral = rng.random(n) < np.where(late, 0.8, 0.2)
    y = rng.random(n) < np.where(asks_deferral, 0.3, np.where(late, 0.3, 0.7))
    return features.with_columns(
        pl.Series("approach", np.where(asks_deferral, "deferral", "installment")),
        pl.Series("y_agreement", y.astype(float)),
    )


def test_aipw_recovers_a_known_rate_under_confounding() -> None:
    """The adjusted rate of 'installment' is right where the naive rate is far off."""
    features = confounded(6_000, seed=4)
    late = features["days_overdue_at_contact"].to_numpy() > 90
    true_installment = float(np.where(late, 0.3, 0.7).mean())
    treatment = Treatment(
        "approach",
        ("installment", "deferral"),
        lambda _: pl.col("approach").replace_strict({"installment": 0, "deferral": 1}),
        Design(("days_overdue_at_contact",)),
    )
    fit = aipw(features, treatment, "y_agreement", seed=1, folds=3)
    rows = summarize(fit, {"population": np.ones(features.height, dtype=bool)}, k=10)
    installment = next(r for r in rows if r.level == "installment")
    naive = features.filter(pl.col("approach") == "installment")["y_agreement"].mean()
    assert abs(naive - true_installment) > 0.05
    assert installment.ci_low <= true_installment <= installment.ci_high
    assert abs(installment.estimate - true_installment) < 0.03


def test_small_cells_are_suppressed(features: pl.DataFrame) -> None:
    """A subgroup where fewer than k cases asked for an approach publishes no number."""
    data = features.filter(pl.col("y_agreement").is_not_null())
    fit = aipw(data, APPROACH_TREATMENT, "y_agreement", seed=1, folds=2)
    rows = summarize(fit, group_masks(data), k=10)
    tiny = [r for r in rows if r.n_treated < 10]
    assert tiny, "the sample should have some tiny cells"
    assert all(r.suppressed and r.estimate is None for r in tiny)
    assert all(r.estimate is not None for r in rows if r.n_treated >= 10)


def test_bundle_reloads_with_identical_estimates(
    model: OutcomeModel, population: Chunk, tmp_path: Path
) -> None:
    """Saved and loaded again, the bundle gives the same numbers to the last bit."""
    model.extra = {"similar_cases": {}, "reference": {}}
    folder = save_bundle(model, {"model_version": "m-test", "run_id": "r1"}, tmp_path / "m")
    loaded = load_bundle(folder)
    cases = population.cases.head(300)
    before = estimate_many(Bundle(model, {"model_version": "m-test"}), cases, 10)
    after = estimate_many(loaded, cases, 10)
    assert before.equals(after)
    assert loaded.version == "m-test"


def test_bundle_with_foreign_types_is_refused(tmp_path: Path) -> None:
    """A bundle file that asks to load anything we never save is not loaded."""
    folder = tmp_path / "evil"
    folder.mkdir()
    sio.dump({"calibrated": Path("x")}, folder / ESTIMATORS_FILE)
    (folder / "bundle.json").write_text(
        json.dumps({"bundle_format": BUNDLE_FORMAT}), encoding="utf-8"
    )
    with pytest.raises(UntrustedBundleError, match="refusing"):
        load_bundle(folder)


def test_estimate_case_reports_every_approach(
    model: OutcomeModel, features: pl.DataFrame, population: Chunk
) -> None:
    """Six approaches with intervals, differences from the plan, support shown as '<k'."""
    from overdue.models.estimate import reference_values

    model.extra = {
        "similar_cases": {"online_platform|<30|installment": 4},
        "reference": reference_values(features),
    }
    case = population.cases.filter(pl.col("lender_type") == "online_platform").head(1)
    result = estimate_case(Bundle(model, {"model_version": "m-x", "run_id": "r"}), case, k=10)
    assert [r["approach"] for r in result["approaches"]] == list(APPROACHES)
    planned = next(r for r in result["approaches"] if r["approach"] == result["planned_approach"])
    assert planned["difference_from_planned"] == 0
    for row in result["approaches"]:
        assert row["low"] <= row["p"] <= row["high"]
        assert row["similar_cases"] == "<10" or row["similar_cases"] >= 10
    assert len(result["drivers"]) == 3
    assert "not a promise" in result["note"]


def test_diagnostics_publish_no_cell_under_k(model: OutcomeModel, features: pl.DataFrame) -> None:
    """Reliability bins and category shares hold at least k cases each."""
    from overdue.models.diagnostics import feature_distributions, reliability_table

    data = features.filter(pl.col("y_agreement").is_not_null())
    y, p = data["y_agreement"].to_numpy(), model.predict(data)
    table = reliability_table(y, p, k=300)
    assert table
    assert all(row["n"] >= 300 for row in table)
    assert len(reliability_table(y, p, k=10 * len(y))) == 0
    distributions = feature_distributions(data, k=300)
    hardship = distributions["hardship_reason"]["shares"]
    counts = data["hardship_reason"].value_counts()
    rare = [level for level, n in counts.iter_rows() if n < 300]
    assert rare and not set(rare) & set(hardship)
    assert sum(hardship.values()) == pytest.approx(1.0)


def test_population_stability_is_zero_for_the_same_data_and_grows_with_drift(
    features: pl.DataFrame,
) -> None:
    """PSI of a feature against its own distribution is ~0; a shifted one scores above 0.25."""
    from overdue.models.diagnostics import feature_distributions, population_stability

    before = feature_distributions(features, k=10)["monthly_income"]
    assert population_stability(before, features["monthly_income"]) < 0.02
    assert population_stability(before, features["monthly_income"] * 3) > 0.25


def planted_agreement(features: pl.DataFrame, moderation: float, seed: int) -> np.ndarray:
    """Outcomes whose log-odds add an approach effect that, times ``moderation``, flips sign
    with the days overdue (0: every case gains the same from an approach)."""
    days = features["days_overdue_at_contact"].to_numpy()
    asked = features["approach"].replace_strict({c: i for i, c in enumerate(APPROACHES)})
    effect = np.linspace(-0.5, 0.5, len(APPROACHES))[asked.to_numpy()]
    late = np.where(days > np.median(days), 1.0, -1.0)
    log_odds = 0.3 + effect + moderation * 1.5 * late * effect / 0.5
    rng = np.random.default_rng(seed)
    return (rng.random(len(days)) < 1 / (1 + np.exp(-log_odds))).astype(np.int8)


def test_the_interactions_chosen_follow_the_data(features: pl.DataFrame) -> None:
    """On the same cases, outcomes where approaches work the same for everyone choose much
    weaker approach interactions (their prior variance, C x scale²) than outcomes where an
    approach's effect flips with the days overdue; there the reweighting leans the
    interactions on the days overdue, and leaving them out costs held-out log loss."""
    labelled = features.filter(pl.col("y_agreement").is_not_null())
    split = time_split(labelled)
    x = ADVISING_DESIGN.matrix(labelled)
    chosen = {}
    for moderation in (0.0, 1.0):
        y = planted_agreement(labelled, moderation, seed=4)
        chosen[moderation] = choose_penalty(
            ADVISING_DESIGN,
            x[split.train],
            y[split.train],
            x[split.calibration],
            y[split.calibration],
        )
    variance = {m: choice["c"] * choice["scale"] ** 2 for m, choice in chosen.items()}
    assert variance[1.0] >= 4 * variance[0.0]
    # reweighted as held-out loss asks, the interactions lean on the days overdue (or on a
    # field that moves with them), several times as much as the average feature's
    weights = chosen[1.0]["weights"]
    assert chosen[1.0]["reweightings"] >= 1
    strongest = max(weights, key=weights.get)
    assert strongest in {"days_overdue_at_contact", "overdue_band", "days_to_first_contact"}
    assert weights[strongest] >= 2
    c, scale = chosen[1.0]["c"], chosen[1.0]["scale"]
    y = planted_agreement(labelled, 1.0, seed=4)

    def held_out_loss(interactions: float, penalty: float = c) -> float:
        model = spline_logistic(ADVISING_DESIGN, penalty, interactions).fit(
            x[split.train], y[split.train]
        )
        p = model.predict_proba(x[split.calibration])[:, 1]
        return float(log_loss(y[split.calibration], p))

    assert held_out_loss(0.0) > held_out_loss(scale) + 0.01
    # the choice's gain over the best fit without interactions, as refitted here
    plain = min(held_out_loss(0.0, penalty) for penalty in PENALTY_GRID)
    best = min(t["held_out_log_loss"] for t in chosen[1.0]["tried"])
    gain = chosen[1.0]["interaction_gain"]
    assert gain["held_out_log_loss"] == pytest.approx(plain - best, abs=1e-3)
    # far beyond its noise where approaches are moderated, so the surface that doubles the
    # interactions sets the intervals' spread; about its noise where they are not (a little
    # above it: the choice is the best of many fits on the same held-out cases)
    assert gain["held_out_log_loss"] > 3 * gain["standard_error"]
    assert spread_surfaces(chosen[1.0]) == SURFACES
    none = chosen[0.0]["interaction_gain"]
    assert none["held_out_log_loss"] < 2 * none["standard_error"]
