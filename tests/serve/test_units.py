"""The service's pieces in-process: one-pass answers, batched estimates, advice, guards."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.special import expit, logit
from serve_support import CASE_EN, Published, entered_cases

from overdue.case_input import (
    CaseInput,
    cases_frame,
    pii_reasons,
    read_case_json,
    validated_cases,
)
from overdue.contract import APPROACHES
from overdue.features import build_features
from overdue.models.estimate import CaseEstimator, direct_features, estimate_case
from overdue.publish import Snapshot
from overdue.serve.advice import advice
from overdue.serve.coverage import interval_check
from overdue.serve.guard import TokenBuckets, token_ok
from overdue.serve.i18n import pick_lang
from overdue.serve.parsing import read_case, validation_errors
from overdue.serve.snapshot import NOT_PUBLISHED, ONE_SNAPSHOT, REFUSED, SnapshotHolder


@pytest.fixture(scope="module")
def past_cases(published: Published) -> pl.DataFrame:
    """40 simulated cases as a counselor would enter them (contract input fields only)."""
    return entered_cases(published, 40)


def test_one_pass_answers_equal_scikit_learn(snapshot: Snapshot, past_cases: pl.DataFrame) -> None:
    """The one-pass probabilities equal the stacked components' own predictions, on rows with
    missing values and an approach no model saw; each interval holds its estimate and is not
    empty."""
    model = snapshot.bundle.model
    x = model.design.matrix(build_features(past_cases.lazy()).collect())
    x[:5, model.design.features.index("approach")] = 99
    x[5:10, 3] = np.nan
    p, low, high = model.predict_matrix(x)
    spline = model.advising.predict_proba(x)[:, 1]
    boosting = model.boosting.predict_proba(x)[:, 1]
    log_odds = model.stack @ np.array([np.ones(len(x)), logit(spline), logit(boosting)])
    assert np.allclose(p, expit(log_odds), rtol=0, atol=1e-9)
    assert np.all((low <= p) & (p <= high)) and np.all(high - low > 0)


def test_batched_estimates_equal_estimate_case(
    snapshot: Snapshot, past_cases: pl.DataFrame
) -> None:
    """One batched pass gives, case by case, exactly what estimate_case gives alone."""
    batched = CaseEstimator(snapshot.bundle, k=10).estimate_frame(past_cases)
    assert len(batched) == past_cases.height
    for i, answer in list(enumerate(batched))[:: past_cases.height // 10]:
        assert answer == estimate_case(snapshot.bundle, past_cases[i], 10)


def test_approach_table_equals_the_model_on_substituted_frames(
    snapshot: Snapshot, past_cases: pl.DataFrame
) -> None:
    """The table ``overdue estimate --cases`` writes and every answer's approaches equal the
    model on frames whose approach column was replaced (substituted design columns are
    substituted frame columns)."""
    model = snapshot.bundle.model
    features = build_features(past_cases.lazy()).collect()
    estimator = CaseEstimator(snapshot.bundle, k=10)
    table = estimator.approach_table(past_cases)
    answers = estimator.estimate_frame(past_cases)
    assert table["case_id"].to_list() == past_cases["case_id"].to_list()
    for code in APPROACHES:
        p, low, high = model.predict_with_interval(features.with_columns(approach=pl.lit(code)))
        assert np.allclose(table[f"p_{code}"], p.round(6), rtol=0, atol=1e-9)
        assert np.allclose(table[f"p_{code}_low"], low.round(6), rtol=0, atol=1e-9)
        assert np.allclose(table[f"p_{code}_high"], high.round(6), rtol=0, atol=1e-9)
        shown = [
            next(a for a in answer["approaches"] if a["approach"] == code) for answer in answers
        ]
        assert [a["p"] for a in shown] == [round(float(v), 4) for v in p]
        assert [a["high"] for a in shown] == [round(float(v), 4) for v in high]


def test_cases_sharing_an_id_are_estimated_apart(
    snapshot: Snapshot, past_cases: pl.DataFrame
) -> None:
    """Two different cases under one id keep their own answers, in order."""
    estimator = CaseEstimator(snapshot.bundle, k=10)
    twins = past_cases.head(2).with_columns(case_id=pl.lit("same"))
    table = estimator.approach_table(twins)
    alone = pl.concat([estimator.approach_table(twins[i]) for i in range(2)])
    assert table.equals(alone)


def test_direct_features_equal_build_features(past_cases: pl.DataFrame) -> None:
    """Entered cases have no debtor history: the direct select equals build_features."""
    fast = direct_features(past_cases)
    slow = build_features(past_cases.lazy()).collect().select(fast.columns)
    assert fast.equals(slow)


def test_advice_skips_suppressed_levels() -> None:
    """A lever level suppressed under k gives no advice; published levels do."""
    entry = {"ci_low": 0.5, "ci_high": 0.6, "overlap_warning": False, "suppressed": False}
    effects = {
        "levers": {
            "written_plan": {
                "yes": {**entry, "estimate": 0.7, "ci_low": 0.65, "ci_high": 0.75},
                "no": {**entry, "estimate": 0.55},
            },
            "documents": {
                "3+": {"estimate": None, "ci_low": None, "ci_high": None, "suppressed": True},
                "0-2": {**entry, "estimate": 0.55},
            },
        }
    }
    items = advice({"repayment_plan_prepared": False}, effects, "en")
    assert [i["lever"] for i in items] == ["written_plan"]
    assert items[0]["kind"] == "do" and items[0]["certain"] is True
    assert "70%" in items[0]["text"] and "55%" in items[0]["text"]


SELF_CHECK = {
    "test_cases": 400,
    "pooled": {
        "case_coverage": 0.931,
        "coverage_by_lender": {
            "p2p": {"coverage": 0.874, "test_cases": 12},
            "bank_credit_card": {"coverage": 0.962, "test_cases": 90},
        },
        "coverage_by_approach": {
            code: {"coverage": 0.95, "test_cases": 400}
            for code in APPROACHES
            if code not in ("principal_discount", "partial_first")
        }
        | {
            "principal_discount": {"coverage": 0.861, "test_cases": 400},
            "partial_first": {"coverage": 0.884, "test_cases": 400},
        },
    },
}
"""A published self-check, as far as the sentence reads it."""


def test_the_interval_check_speaks_of_the_cases_lender_type() -> None:
    """A lender type with its own coverage gets that number; the sentence names the type."""
    found = interval_check(SELF_CHECK, "bank_credit_card", "en", k=10)
    assert found is not None
    assert (found["times_in_100"], found["lender_type"], found["test_cases"]) == (
        96,
        "bank_credit_card",
        90,
    )
    assert found["text"].startswith(
        "On cases like this one (credit card debts), our 95% ranges held the true rate "
        "96 times in 100."
    )
    assert not found["too_narrow"]
    zh = interval_check(SELF_CHECK, "bank_credit_card", "zh", k=10)
    assert zh is not None and "96 次/100 次" in zh["text"] and "信用卡" in zh["text"]


def test_the_interval_check_falls_back_to_every_checked_case() -> None:
    """A lender type without a published coverage (under k test cases) gets the pooled one."""
    found = interval_check(SELF_CHECK, "small_loan", "en", k=10)
    assert found is not None
    assert (found["times_in_100"], found["lender_type"], found["test_cases"]) == (93, None, 400)
    assert found["text"].startswith("On all the cases we checked")


def test_the_interval_check_warns_when_ranges_are_too_narrow() -> None:
    """Under 90 times in 100 the sentence says the ranges are likely too narrow."""
    found = interval_check(SELF_CHECK, "p2p", "en", k=10)
    assert found is not None and found["too_narrow"]
    assert "likely too narrow" in found["text"]
    assert interval_check(None, "p2p", "en", k=10) is None


def test_the_interval_check_names_approaches_whose_own_ranges_are_too_narrow() -> None:
    """The mean over the six approaches can pass while one approach's own ranges held the
    truth under 90 times in 100: those approaches are named, least covered first, with their
    number, in both languages; with every approach at 90 or more (in whole times in 100, as
    the sentence says them), none is."""
    found = interval_check(SELF_CHECK, "bank_credit_card", "en", k=10)
    assert found is not None and not found["too_narrow"]
    assert found["narrow_approaches"] == [
        {"approach": "principal_discount", "times_in_100": 86},
        {"approach": "partial_first", "times_in_100": 88},
    ]
    assert "Under principal discount they held it only 86 times in 100" in found["text"]
    assert found["text"].index("principal discount") < found["text"].index("partial payment first")
    zh = interval_check(SELF_CHECK, "bank_credit_card", "zh", k=10)
    assert zh is not None and "本金减免的区间只有 86 次/100 次" in zh["text"]
    assert "先还部分本金的区间只有 88 次/100 次" in zh["text"]
    even = {code: {"coverage": 0.93, "test_cases": 400} for code in APPROACHES}
    even["principal_discount"]["coverage"] = 0.896  # said as 90 in 100: not flagged
    steady = {**SELF_CHECK, "pooled": {**SELF_CHECK["pooled"], "coverage_by_approach": even}}
    calm = interval_check(steady, "bank_credit_card", "en", k=10)
    assert calm is not None and calm["narrow_approaches"] == []
    assert "Under" not in calm["text"]


def test_the_interval_check_rests_on_at_least_the_services_k() -> None:
    """A lender type under the service's k falls back to every checked case; a test period
    under k gives no sentence."""
    found = interval_check(SELF_CHECK, "p2p", "en", k=20)
    assert found is not None and found["lender_type"] is None and found["times_in_100"] == 93
    assert interval_check(SELF_CHECK, "p2p", "en", k=401) is None


def test_token_bucket_refills_at_its_rate() -> None:
    """A burst of 3, then one request per second."""
    buckets = TokenBuckets(per_minute=60, burst=3)
    assert [buckets.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", now=0.0) == pytest.approx(1.0)
    assert buckets.take("b", now=0.0) == 0.0
    assert buckets.take("a", now=1.0) == 0.0


def test_tokens_are_checked_as_bearer_tokens() -> None:
    """Only 'Bearer <token>' with the exact token passes; no token configured lets all in."""
    assert token_ok(None, None)
    assert token_ok("s3cret", "Bearer s3cret") and token_ok("s3cret", "bearer s3cret")
    assert not token_ok("s3cret", "s3cret") and not token_ok("s3cret", "Bearer s3cre")
    assert not token_ok("s3cret", None)


def test_personal_data_is_found_in_values_numbers_and_keys() -> None:
    """Every key and scalar is looked at; the field is named only when it is a contract field."""
    found = pii_reasons(
        {"region": "a@b.cn", "月收入": 13812345678, "note 11010519491231002X": 1, "ok": "广东"}
    )
    assert found == [("email", "region"), ("mobile", "monthly_income"), ("resident_id", "body")]
    assert pii_reasons({**CASE_EN, "case_id": "C-2024-0001"}) == []


@pytest.mark.parametrize(
    ("typed", "income"),
    [("８０００", 8000), ("１２，０００", 12000), ("5.8万", 58000), ("1.5 万", 15000)],
)
def test_amounts_read_as_a_chinese_input_method_types_them(typed: str, income: float) -> None:
    """Full-width digits and amounts in 万 are the amounts they say; a rate in full-width
    percent too."""
    case = CaseInput(**{**CASE_EN, "monthly_income": typed, "annual_rate": "１８％"})
    assert case.monthly_income == income and case.annual_rate == pytest.approx(0.18)


@pytest.mark.parametrize("rate", ["18", "240%"])
def test_a_rate_without_its_percent_sign_is_told_how_to_write_it(rate: str) -> None:
    """18 for 18% is out of range; the message says how to write it, in both languages; bounds
    read as people write them."""
    case, problems = read_case(json.dumps({**CASE_EN, "annual_rate": rate}).encode())
    assert case is None
    assert (
        validation_errors(problems, "zh")[0]["message"]
        == "不能大于 1（18% 写作 18% 或 0.18，不写 18）"
    )
    assert validation_errors(problems, "en")[0]["message"].endswith("(write 18% as 18% or 0.18)")
    _, problems = read_case(json.dumps({**CASE_EN, "monthly_income": 10**9}).encode())
    assert validation_errors(problems, "en")[0]["message"] == "must be at most 1,000,000"


def test_read_case_refuses_values_a_typed_frame_cannot_hold() -> None:
    """A whole number beyond Int32 is out of range, not a crash later."""
    body = json.dumps({**CASE_EN, "days_to_first_contact": 10**15}).encode()
    case, problems = read_case(body)
    assert case is None
    messages = validation_errors(problems, "en")
    assert messages == [
        {
            "field": "days_to_first_contact",
            "message": "must be at most 3650",
            "reason": "less_than_equal:days_to_first_contact",
        }
    ]
    nan_body = b'{"monthly_income": NaN}'
    assert read_case(nan_body)[1] == [{"type": "json_invalid", "loc": ("body",)}]


def test_the_cli_refuses_a_case_breaking_a_cross_field_rule() -> None:
    """`overdue estimate` reads cases through the same rules as the service and ingest."""
    with pytest.raises(ValueError, match="penalty_accrued, outstanding_balance"):
        validated_cases([{**CASE_EN, "outstanding_balance": 1000, "penalty_accrued": 5000}])


def test_the_cli_names_a_rows_other_problems_beside_its_personal_data() -> None:
    """A row with personal data is refused with its other problems in the same message; the
    field holding it gets no other problem and its value is not repeated."""
    row = {k: v for k, v in CASE_EN.items() if k != "employment"}
    with pytest.raises(ValueError) as refused:
        validated_cases([{**row, "region": "13812345678", "dependents": 99}])
    lines = str(refused.value).splitlines()[1:]
    assert [line.strip().split(":")[0] for line in lines] == [
        "row 1, region",
        "row 1, employment",
        "row 1, dependents",
    ]
    assert "13812345678" not in str(refused.value)


def test_an_integer_too_long_for_python_is_a_range_error_on_its_field(tmp_path: Path) -> None:
    """Python converts at most 4,300 digits to an int: a longer number in a case (request body
    or `--case` file) is still named by its field's range, and a file nested too deep is named
    as such, never a traceback."""
    body = json.dumps(CASE_EN)[:-1] + ', "principal": ' + "9" * 5001 + "}"
    _, problems = read_case(body.encode())
    assert [(p["type"], p["loc"]) for p in problems] == [("less_than_equal", ("principal",))]
    path = tmp_path / "case.json"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ValueError, match="principal: Input should be less than or equal"):
        read_case_json(path)
    path.write_text('{"a":' * 100_000 + "1" + "}" * 100_000, encoding="utf-8")
    with pytest.raises(ValueError, match="nested deeper than a case's fields can be"):
        read_case_json(path)


def test_a_date_outside_the_contracts_range_is_named() -> None:
    """``overdue_since`` must lie in 2010-01-01 .. today even when no other date is given."""
    for day, reason in (("9999-12-31", "less_than_equal"), ("2009-12-31", "greater_than_equal")):
        _, problems = read_case(json.dumps({**CASE_EN, "overdue_since": day}).encode())
        detail = validation_errors(problems, "en")
        assert [d["reason"] for d in detail] == [f"{reason}:overdue_since"]
    assert read_case(json.dumps({**CASE_EN, "overdue_since": "2024-05-01"}).encode())[1] == []


def test_a_field_given_by_both_its_names_is_refused() -> None:
    """``principal`` and ``借款本金`` in one case: which was meant cannot be known."""
    _, problems = read_case(json.dumps({**CASE_EN, "借款本金": 2}).encode())
    assert [d["reason"] for d in validation_errors(problems, "en")] == ["duplicate:principal"]
    with pytest.raises(ValueError, match="row 1, principal: given twice"):
        validated_cases([{**CASE_EN, "借款本金": 2}])


def test_messages_name_fields_in_the_requested_language() -> None:
    """zh by default, en on request; the allowed values come from the contract."""
    assert pick_lang(None, None) == "zh" and pick_lang("en", "zh") == "en"
    assert pick_lang(None, "en-GB,en;q=0.8") == "en" and pick_lang("fr", "de") == "zh"
    _, problems = read_case(json.dumps({**CASE_EN, "employment": "boss"}).encode())
    zh = validation_errors(problems, "zh")[0]["message"]
    assert zh.startswith("只能是：") and "在职（employed）" in zh and "boss" not in zh


def test_a_case_without_id_is_case_1_as_the_cli_names_it() -> None:
    """The service's default id matches cases_frame for a single case."""
    case = CaseInput.model_validate({k: v for k, v in CASE_EN.items() if k != "case_id"})
    assert cases_frame([case])["case_id"][0] == "case-1"


def test_the_holder_keeps_serving_when_the_pointer_is_broken(published: Published) -> None:
    """A CURRENT that names nothing leaves the loaded snapshot in place, with an error."""
    holder = SnapshotHolder(published.published, k=10, check_seconds=0)
    holder.load_now()
    assert holder.served is not None
    before = holder.served
    folder = published.folder / "broken-published"
    folder.mkdir()
    (folder / "CURRENT").write_text("no-such-run\n", encoding="utf-8")
    holder.published_dir = folder
    holder.load_now()
    assert holder.served is before
    assert holder.error == REFUSED


def test_a_snapshot_folder_given_as_the_published_folder_is_named(
    published: Published, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator who points the service at one snapshot instead of the folder holding
    CURRENT is told so, the log naming the folder to use and the open health check no path;
    an empty folder says nothing is published."""
    snapshot = published.published / (published.published / "CURRENT").read_text().strip()
    holder = SnapshotHolder(snapshot, k=10, check_seconds=0)
    with caplog.at_level(logging.ERROR, logger="overdue.serve.snapshot"):
        holder.load_now()
    assert holder.served is None
    assert holder.error == ONE_SNAPSHOT
    assert str(published.folder) not in holder.error
    assert f"usually its parent, {published.published}" in caplog.text
    assert holder.unavailable == "one_snapshot"  # what a 503 tells an API client
    empty = published.folder / "empty-published"
    empty.mkdir()
    nothing = SnapshotHolder(empty, k=10, check_seconds=0)
    nothing.load_now()
    assert nothing.served is None and nothing.error == NOT_PUBLISHED
    assert nothing.unavailable == "not_published"


def test_the_service_reads_a_case_as_the_cli_does() -> None:
    """A request body and a case file with the same keys give the same validated case."""
    case, problems = read_case(json.dumps(CASE_EN).encode())
    assert case is not None and not problems
    assert cases_frame([case]).equals(validated_cases([CASE_EN]))
