"""Statistics and the protected content of reports, on tiny inline frames."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from overdue.reports.content import (
    DECILE_EDGES,
    effects_table,
    psi_table,
    reliability_shown,
    roc_shown,
    self_check_shown,
    sensitivity_shown,
    share_shown,
    survival_table,
)
from overdue.reports.figures import forest_figure, treatment_label, wrapped
from overdue.reports.stats import kaplan_meier, psi_from_shares, wilson_interval

K = 10


def test_wilson_interval_matches_the_textbook_value() -> None:
    """40 of 100: 95% Wilson interval 0.309 - 0.498."""
    low, high = wilson_interval(40, 100)
    assert low == pytest.approx(0.3094, abs=1e-4)
    assert high == pytest.approx(0.4980, abs=1e-4)


def test_kaplan_meier_keeps_censored_cases_out_of_failures() -> None:
    """10 followed, 2 fail in step 1; 5 left after censoring, 1 fails: S = 0.8 * 0.8."""
    curve = kaplan_meier([10, 5], [2, 1])
    assert curve[0][0] == pytest.approx(0.8)
    assert curve[1][0] == pytest.approx(0.64)
    assert curve[1][1] < 0.64 < curve[1][2]


def test_psi_agrees_with_the_training_code() -> None:
    """The report's PSI on shares equals ``population_stability`` on the values."""
    from overdue.models.diagnostics import population_stability

    values = pl.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    before = {"kind": "category", "shares": {"a": 0.4, "b": 0.4, "c": 0.2}}
    assert psi_from_shares(before["shares"], {"a": 0.5, "b": 0.3, "c": 0.2}) == pytest.approx(
        population_stability(before, values)
    )


def test_psi_leaves_out_numbers_with_tied_deciles() -> None:
    """A flag stores 1-2 edges and no shares: not compared; a continuous number is."""
    from overdue.models.diagnostics import DISTRIBUTION_BINS

    assert DECILE_EDGES == DISTRIBUTION_BINS - 1
    distributions = {
        "flag": {"kind": "number", "edges": [0.0, 1.0], "missing_share": 0.0},
        "income": {"kind": "number", "edges": [float(i) for i in range(1, 10)]},
    }
    current = {"flag": {"1": 0.5, "2": 0.5}, "income": {str(i): 0.1 for i in range(10)}}
    table = psi_table(distributions, current)
    assert table["feature"].to_list() == ["income"]
    assert table["psi"][0] == pytest.approx(0.0, abs=1e-9)


def test_survival_steps_rest_on_at_least_k_failures() -> None:
    """A published month follows k or more failures since the last one; at-risk is rounded."""
    months = list(range(1, 13))
    counts = pl.DataFrame(
        {
            "approach": ["installment"] * 12,
            "month": months,
            "at_risk": [200 - 7 * m for m in months],
            "events": [3] * 12,
        }
    )
    table = survival_table(counts, K)
    steps = table["month"].to_list()
    assert steps[0] == 0.0
    assert all(b - a >= 4 for a, b in itertools.pairwise(steps))  # 4 x 3 >= 10
    assert all(n % K == 0 for n in table["at_risk"])


def test_survival_of_a_small_approach_is_not_drawn() -> None:
    """Fewer than k agreed plans: no curve at all."""
    counts = pl.DataFrame({"approach": ["deferral"], "month": [1], "at_risk": [6], "events": [1]})
    assert survival_table(counts, K).height == 0


def test_roc_drops_points_near_the_corners() -> None:
    """A point with 1 true positive and no false positive names one case: dropped."""
    roc = {"fpr": [0.0, 0.0, 0.3, 1.0], "tpr": [0.0, 0.01, 0.6, 1.0]}
    shown = roc_shown(roc, positives=100, negatives=100, k=K)
    assert shown == {"fpr": [0.0, 0.3, 1.0], "tpr": [0.0, 0.6, 1.0]}


def test_reliability_bins_hide_small_numerators_and_protect_the_total() -> None:
    """A bin with 2 successes is hidden; the hidden total is kept at k or more."""
    table = [
        {"predicted": 0.05, "observed": 2 / 40, "n": 40},
        {"predicted": 0.5, "observed": 0.5, "n": 40},
        {"predicted": 0.6, "observed": 0.6, "n": 50},
    ]
    shown = reliability_shown(table, total=130, k=K)
    assert [b["n"] for b in shown] == [40, 50]


def _effects(rows: list[tuple[str, int, int]]) -> pl.DataFrame:
    n = len(rows)
    return pl.DataFrame(
        {
            "treatment": ["approach"] * n,
            "level": ["deferral"] * n,
            "subgroup": [s for s, _, _ in rows],
            "estimate": [0.5] * n,
            "ci_low": [0.4] * n,
            "ci_high": [0.6] * n,
            "n": [c for _, c, _ in rows],
            "n_treated": [t for _, _, t in rows],
            "share_low_propensity": [0.0] * n,
            "overlap_flag": [False] * n,
            "suppressed": [t < K for _, _, t in rows],
            "naive": [0.5] * n,
            "n_agreed": [t // 2 for _, _, t in rows],
        }
    )


def test_one_hidden_subgroup_effect_hides_a_second_of_its_family() -> None:
    """The population estimate is the weighted mean of a family's subgroups."""
    effects = _effects(
        [
            ("population", 1000, 120),
            ("lender_type=p2p", 100, 4),
            ("lender_type=bank_loan", 300, 30),
            ("lender_type=bank_credit_card", 600, 86),
        ]
    )
    table = effects_table(effects, K, None, show_counts=False)
    hidden = set(table.filter(pl.col("suppressed"))["subgroup"])
    assert hidden == {"lender_type=p2p", "lender_type=bank_loan"}
    assert table["n"].is_null().all()


def test_estimates_round_trip_as_plain_floats() -> None:
    """Figures get Python floats, never numpy scalars (which could be base64-packed)."""
    effects = _effects([("population", 1000, 120)])
    value = effects_table(effects, K, None, show_counts=False)["estimate"].to_list()[0]
    assert isinstance(value, float)
    assert not isinstance(value, np.floating)


def test_share_standing_for_few_cases_is_hidden() -> None:
    """3% of 100 cases is 3 cases: hidden; 30% of 100 is shown."""
    assert share_shown(0.03, 100, K) is None
    assert share_shown(0.97, 100, K) is None
    assert share_shown(0.3, 100, K) == 0.3
    assert share_shown(0.0, 100, K) == 0.0


def test_self_check_shows_no_lender_type_under_the_reports_k() -> None:
    """Lender types with fewer test cases than the report's k are left out, in the pooled and
    the per-surface numbers; a test period under k shows nothing."""
    groups = {
        "p2p": {"coverage": 0.9, "test_cases": 12},
        "bank_loan": {"coverage": 0.95, "test_cases": 90},
    }
    check = {
        "test_cases": 400,
        "pooled": {"case_coverage": 0.93, "coverage_by_lender": groups},
        "surfaces": [{"surface": "fitted", "coverage_by_lender": groups}],
    }
    shown = self_check_shown(check, k=20)
    assert shown is not None
    assert list(shown["pooled"]["coverage_by_lender"]) == ["bank_loan"]
    assert list(shown["surfaces"][0]["coverage_by_lender"]) == ["bank_loan"]
    assert list(check["pooled"]["coverage_by_lender"]) == ["p2p", "bank_loan"], "input kept"
    assert self_check_shown(check, k=401) is None
    assert self_check_shown(None, k=K) is None


def test_an_observed_rate_with_fewer_than_k_agreements_is_hidden() -> None:
    """12 cases took the level and 4 agreed: the adjusted rate shows, the observed rate (which
    with the count would tell the 4) does not, nor its difference."""
    effects = _effects([("population", 1000, 12)]).with_columns(
        pl.lit(4, dtype=pl.Int64).alias("n_agreed"), pl.lit(4 / 12).alias("naive")
    )
    row = effects_table(effects, K, None, show_counts=False).row(0, named=True)
    assert row["estimate"] == 0.5
    assert row["naive"] is None and row["difference"] is None
    shown = effects_table(_effects([("population", 1000, 120)]), K, None, show_counts=False)
    assert shown.row(0, named=True)["difference"] == 0.0


def _contrast(level: str, against: str, n_min: int) -> dict[str, object]:
    return {"treatment": "approach", "level": level, "against": against, "n_min": n_min}


def test_a_contrast_on_fewer_than_k_cases_or_a_hidden_rate_is_not_shown() -> None:
    """A contrast is shown only on at least k cases of each level it weighs and only when
    each of those levels' adjusted rates is shown (else it would give a hidden one away)."""
    effects = pl.DataFrame(
        {
            "treatment": ["approach"] * 3,
            "level": ["installment", "deferral", "partial_first"],
            "subgroup": ["population"] * 3,
            "suppressed": [False, False, True],
        }
    )
    rows = [
        _contrast("installment", "deferral", 40),
        _contrast("deferral", "installment", 9),
        _contrast("installment", "partial_first", 40),
        _contrast("installment", "average", 40),
    ]
    shown = sensitivity_shown(rows, effects, K)
    assert shown == [rows[0]]
    assert sensitivity_shown(None, effects, K) is None


def test_a_long_chinese_lever_label_is_wrapped_for_a_phone() -> None:
    """Chinese characters take two columns: '专业协助: 付费代理/法务公司' (14 characters, 26
    columns) goes on two lines in the charts, as a long English label does; a short one stays."""
    zh = treatment_label("professional_help", "paid_agent", "zh")
    assert zh.startswith("专业协助") and "法务" in zh
    assert wrapped(zh) == zh.replace(": ", ":<br>", 1) != zh
    assert wrapped("approach: short") == "approach: short"
    rows = pl.DataFrame(
        {
            "treatment": ["professional_help"], "level": ["paid_agent"], "estimate": [0.4],
            "ci_low": [0.3], "ci_high": [0.5], "n": [120], "overlap_flag": [False],
            "suppressed": [False],
        }
    )  # fmt: skip
    figure = forest_figure(rows, "t", "zh")
    assert list(figure.data[0].y) == [wrapped(zh)]
