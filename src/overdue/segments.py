"""The subgroups that effects, ground truth and reports are broken down by (one definition)."""

from __future__ import annotations

from typing import Final

import polars as pl

from overdue.contract import FIELD_BY_NAME

OVERDUE_BANDS: Final[dict[str, tuple[int | None, int | None]]] = {
    "days_overdue_at_contact<90": (None, 90),
    "90<=days_overdue_at_contact<180": (90, 180),
    "days_overdue_at_contact>=180": (180, None),
}
"""Bands of days overdue at first contact: [low, high)."""


def overdue_band(low: int | None, high: int | None) -> pl.Expr:
    """True where days_overdue_at_contact lies in [low, high)."""
    days = pl.col("days_overdue_at_contact")
    expr = pl.lit(True)
    if low is not None:
        expr = expr & (days >= low)
    if high is not None:
        expr = expr & (days < high)
    return expr


def subgroups() -> dict[str, pl.Expr]:
    """Every subgroup by its key, in the order reports show them.

    Keys look like ``lender_type=p2p`` or ``days_overdue_at_contact>=180``.
    """

    def by_value(name: str) -> dict[str, pl.Expr]:
        return {f"{name}={code}": pl.col(name) == code for code in FIELD_BY_NAME[name].values}

    return {
        **by_value("lender_type"),
        **{key: overdue_band(*band) for key, band in OVERDUE_BANDS.items()},
        **by_value("hardship_reason"),
        **by_value("collection_stage"),
    }
