"""The cases the models learn from: every labelled case up to the cap, a sample beyond."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from overdue.models.sample import model_cases, stratum_quotas


def _labelled(rows: int) -> pl.DataFrame:
    """Labelled rows with uneven approach x outcome cells (one approach rare, some missing)."""
    rng = np.random.default_rng(7)
    approach = rng.choice(
        ["installments", "deferral", "principal_discount", ""], rows, p=[0.6, 0.3, 0.02, 0.08]
    )
    return pl.DataFrame(
        {
            "case_id": [f"c{i:06d}" for i in range(rows)],
            "approach": approach,
            "y_agreement": (rng.random(rows) < np.where(approach == "deferral", 0.2, 0.6)).astype(
                float
            ),
        }
    ).with_columns(pl.col("approach").replace("", None))


def _cells(frame: pl.DataFrame) -> dict[tuple[str | None, float], int]:
    counts = frame.group_by("approach", "y_agreement").len().iter_rows()
    return {(a, y): n for a, y, n in counts}


def test_at_or_below_the_cap_every_labelled_case_is_used_unchanged() -> None:
    """Up to the cap the models see exactly the frame they always saw: nothing is sampled."""
    frame = _labelled(5_000)
    assert model_cases(frame, 5_000, seed=1) is frame


def test_above_the_cap_the_sample_has_the_cap_and_every_cell_its_share() -> None:
    """Beyond the cap: exactly the cap, distinct rows in stored order, and each approach x
    outcome cell (the missing approach included) within one case of its proportional share."""
    frame = _labelled(20_000)
    sample = model_cases(frame, 3_000, seed=1)
    assert sample.height == 3_000
    assert sample["case_id"].n_unique() == 3_000
    assert sample["case_id"].is_sorted()
    whole, drawn = _cells(frame), _cells(sample)
    assert set(drawn) == set(whole)
    for cell, n in whole.items():
        assert abs(drawn[cell] - n * 3_000 / frame.height) <= 1


def test_the_sample_is_fixed_by_the_seed() -> None:
    """The same seed draws the same cases; another seed draws others."""
    frame = _labelled(20_000)
    first = model_cases(frame, 3_000, seed=1)["case_id"]
    assert first.equals(model_cases(frame, 3_000, seed=1)["case_id"])
    assert not first.equals(model_cases(frame, 3_000, seed=2)["case_id"])


@given(
    st.lists(st.integers(1, 500), min_size=1, max_size=12),
    st.floats(0, 1),
)
def test_quotas_add_up_and_never_exceed_a_cell(sizes: list[int], share: float) -> None:
    """However uneven the cells, the quotas sum to the total asked and fit in their cells."""
    cells = np.array(sizes)
    total = round(share * cells.sum())
    quotas = stratum_quotas(cells, total)
    assert quotas.sum() == total
    assert (quotas >= 0).all() and (quotas <= cells).all()
