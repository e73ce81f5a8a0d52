"""The cases the models learn from: every labelled case, or a seeded stratified sample of them.

The advising model, the effects, the self-check, the refutations, the policy value and the
plan-kept model all learn from the frame ``model_cases`` returns. Up to the cap
(``Settings.model_max_cases``) it is every labelled case, as it always was; beyond it, a sample
of exactly the cap, drawn within each approach x outcome cell in proportion to the cell's size
(so the approaches' and the outcome's shares are those of all labelled cases, to one case), in
stored order. Intervals are then those of the sample, and every published number says how many
cases it rests on. Counts and descriptive tables keep using every case.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

STRATA: Final = ("approach", "y_agreement")
"""The cells a sample is drawn within, each in proportion to its size."""


def capped_rows(rows: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """``rows`` if there are at most ``cap`` of them, else a random ``cap`` of them in order."""
    return rows if len(rows) <= cap else np.sort(rng.choice(rows, cap, replace=False))


def stratum_quotas(sizes: np.ndarray, total: int) -> np.ndarray:
    """How many of ``total`` rows each cell of ``sizes`` rows gives: its proportional share
    rounded down, the rows left over to the cells with the largest remainders (ties: the
    earlier cell), never more than a cell holds."""
    exact = sizes * (total / sizes.sum())
    quotas = np.minimum(np.floor(exact).astype(np.int64), sizes)
    left = total - int(quotas.sum())
    order = np.argsort(-(exact - quotas), kind="stable")
    for cell in order:
        if left == 0:
            break
        if quotas[cell] < sizes[cell]:
            quotas[cell] += 1
            left -= 1
    return quotas


def stratified_rows(cells: list[np.ndarray], total: int, seed: int) -> np.ndarray:
    """Row indices (sorted) of a seeded sample of ``total`` rows: ``stratum_quotas`` of each
    cell's rows (``cells``: the row indices of each cell, in a fixed order)."""
    rng = np.random.default_rng(seed)
    quotas = stratum_quotas(np.array([len(rows) for rows in cells]), total)
    chosen = [
        rng.choice(rows, quota, replace=False) for rows, quota in zip(cells, quotas, strict=True)
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def model_cases(labelled: pl.DataFrame | pl.LazyFrame, cap: int, seed: int) -> pl.DataFrame:
    """``labelled`` itself (collected, if lazy) when it has at most ``cap`` rows, else a seeded
    sample of ``cap`` of them stratified by approach and outcome (``STRATA``), in stored order.
    A lazy frame (e.g. a Parquet scan) is read whole only up to the cap; beyond it, only its
    strata and then the sampled rows are read."""
    rows = int(labelled.lazy().select(pl.len()).collect().item())
    if rows <= cap:
        return labelled if isinstance(labelled, pl.DataFrame) else labelled.collect()
    strata = labelled.lazy().select(STRATA).collect()
    keys = strata.unique().sort(STRATA, nulls_last=True).with_row_index("cell")
    cell = (
        strata.join(keys, on=list(STRATA), how="left", nulls_equal=True, maintain_order="left")
        .get_column("cell")
        .to_numpy()
    )
    del strata
    order = np.argsort(cell, kind="stable")
    chosen = stratified_rows(np.split(order, np.cumsum(np.bincount(cell))[:-1]), cap, seed)
    return (
        labelled.lazy()
        .with_row_index("_row")
        .filter(pl.col("_row").is_in(pl.Series(chosen, dtype=pl.UInt32).implode()))
        .drop("_row")
        .collect()
    )
