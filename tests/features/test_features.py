"""Features: right values, no leakage, labels with censoring."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from overdue.contract import FIELD_BY_NAME, FIELDS, PLAN_FIELDS, Role
from overdue.features import (
    FEATURES,
    HISTORY,
    build_features,
    debt_to_income,
    documents_count,
    overdue_band,
    sustained,
)
from overdue.models.effects import TREATMENTS
from overdue.models.train import ADVISING_DESIGN
from overdue.simulate import simulate_cases

AS_OF = dt.date(2026, 6, 30)


def test_debt_to_income_is_null_without_income() -> None:
    """A debtor with no income has no ratio rather than infinity."""
    df = pl.DataFrame(
        {"outstanding_balance": [12_000.0, 12_000.0], "monthly_income": [0.0, 1000.0]}
    )
    assert df.select(debt_to_income()).to_series().to_list() == [None, 1.0]


def test_documents_count_adds_the_six_kinds() -> None:
    """Each document brought counts once."""
    docs = {f.name: [True, False] for f in FIELDS if f.name.startswith("doc_")}
    docs["doc_bank_statement"] = [False, True]
    assert pl.DataFrame(docs).select(documents_count()).to_series().to_list() == [5.0, 1.0]


@pytest.mark.parametrize(
    ("days", "band"), [(0, "<30"), (29, "<30"), (30, "30-89"), (179, "90-179"), (365, "365+")]
)
def test_overdue_band_edges(days: int, band: str) -> None:
    """Bands are [low, high): 30 days is already the second band."""
    df = pl.DataFrame({"days_overdue_at_contact": [days]})
    assert df.select(overdue_band()).item() == band


def test_days_to_first_contact_falls_back_to_the_dates() -> None:
    """When the field is empty it is first_contact_on - overdue_since (contract)."""
    cases = simulate_cases(50, seed=1, as_of=AS_OF).cases.with_columns(
        pl.lit(None, dtype=pl.Int32).alias("days_to_first_contact")
    )
    features = build_features(cases.lazy()).collect()
    expected = (cases["first_contact_on"] - cases["overdue_since"]).dt.total_days()
    assert features["days_to_first_contact"].to_list() == expected.cast(pl.Float64).to_list()


def debtor_cases() -> pl.DataFrame:
    """Three cases of one debtor: started in January, March and May."""
    base = simulate_cases(3, seed=2, as_of=AS_OF).cases
    return base.with_columns(
        pl.lit("D-1").alias("debtor_ref"),
        pl.Series(
            "first_contact_on", [dt.date(2024, 1, 1), dt.date(2024, 3, 1), dt.date(2024, 5, 1)]
        ),
        pl.Series("closed_on", [dt.date(2024, 4, 1), dt.date(2024, 3, 20), None]),
        pl.Series("outcome", ["agreed_modified", "agreed_as_requested", "pending"]),
    )


def test_debtor_history_counts_only_earlier_cases() -> None:
    """Earlier starts count; agreements count only once closed before this case started."""
    features = build_features(debtor_cases().lazy()).collect()
    assert features["prior_cases"].to_list() == [0.0, 1.0, 2.0]
    # the January agreement closed in April: not known when the March case started
    assert features["prior_agreements"].to_list() == [0.0, 0.0, 2.0]


def test_changing_a_result_never_changes_that_case_or_earlier_cases() -> None:
    """Outcome and process fields of a case reach no feature of it or of cases before it."""
    cases = debtor_cases()
    changed = cases.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit("refused"))
        .otherwise(pl.col("outcome"))
        .alias("outcome"),
        pl.lit(40).cast(pl.Int32).alias("negotiation_rounds"),
        pl.lit(True).alias("complaint_filed"),
    )
    names = [f.name for f in FEATURES]
    before = build_features(cases.lazy()).collect().select(names)
    after = build_features(changed.lazy()).collect().select(names)
    assert before.head(2).equals(after.head(2))


def test_no_outcome_or_process_field_feeds_an_advising_model() -> None:
    """Every model input derives from context, action, id or time fields; the debtor-history
    features use earlier cases only (tested above); plan terms are left out."""
    allowed = {Role.CONTEXT, Role.ACTION, Role.ID, Role.TIME}
    history = {f.name for f in HISTORY}
    designs = [ADVISING_DESIGN, *(t.covariates for t in TREATMENTS)]
    for design in designs:
        for name in design.features:
            feature = next(f for f in FEATURES if f.name == name)
            if name not in history:
                assert feature.roles <= allowed, name
            assert not set(feature.sources) & set(PLAN_FIELDS), name
    forbidden = {f.name for f in FIELDS if f.role in (Role.PROCESS, Role.OUTCOME)}
    assert not forbidden & set(ADVISING_DESIGN.features)
    assert FIELD_BY_NAME["negotiation_rounds"].role is Role.PROCESS


def label_frame(**columns: list[object]) -> pl.DataFrame:
    """A frame of the fields the sustained label reads."""
    return pl.DataFrame(columns, schema={k: FIELD_BY_NAME[k].dtype for k in columns})


def test_sustained_handles_censoring() -> None:
    """Broken early fails, followed long enough succeeds, too short and unbroken is censored,
    not agreed fails, pending is unlabelled."""
    frame = label_frame(
        outcome=[
            "agreed_modified",
            "agreed_as_requested",
            "agreed_modified",
            "refused",
            "pending",
            "agreed_modified",
        ],
        plan_status=["broken", "on_track", "on_track", "not_applicable", None, "completed"],
        followup_months=[9, 12, 3, None, None, 2],
        months_to_redefault=[4, None, None, None, None, None],
    )
    assert frame.select(sustained(6)).to_series().to_list() == [0.0, 1.0, None, 0.0, None, 1.0]
    assert frame.select(sustained(12)).to_series().to_list() == [0.0, 1.0, None, 0.0, None, 1.0]
