"""The report's key findings and what changed since the previous run (pure functions).

Every function takes what ``content`` already protected (the effects table after small-cell
suppression, the sensitivity rows the report may show) and picks what a reader should see first;
nothing here reads the warehouse, and a suppressed cell never becomes a finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from overdue.reports.content import family_of

CLEARLY_HIGHER: Final = "higher"
CLEARLY_LOWER: Final = "lower"
NO_CLEAR_DIFFERENCE: Final = "unclear"
SUBGROUP_FINDINGS_MAX: Final = 6
"""At most this many subgroup differences open the page (the largest gaps); the rest are in
the per-subgroup charts."""


@dataclass(frozen=True)
class ContrastFinding:
    """One headline contrast: the level's adjusted rate and its difference against the
    population's average approach (approaches) or the lever's reference level, each with its
    95% interval, the direction the difference's interval supports and the sensitivity verdict."""

    treatment: str
    level: str
    against: str
    rate: float
    rate_low: float
    rate_high: float
    difference: float
    difference_low: float
    difference_high: float
    direction: str
    verdict: str
    thin_overlap: bool = False
    """The level's population cell has thin overlap (few comparable cases took it): its rate
    leans on the models more than the data."""


@dataclass(frozen=True)
class SubgroupFinding:
    """Two subgroups of one family whose adjusted rates for one approach differ beyond their
    95% intervals (the intervals do not overlap)."""

    treatment: str
    level: str
    family: str
    high: dict[str, Any]
    low: dict[str, Any]

    @property
    def gap(self) -> float:
        """Difference of the two adjusted rates."""
        return float(self.high["estimate"] - self.low["estimate"])


def direction_of(low: float, high: float) -> str:
    """What a difference's 95% interval supports: clearly above zero, below, or neither."""
    if low > 0:
        return CLEARLY_HIGHER
    if high < 0:
        return CLEARLY_LOWER
    return NO_CLEAR_DIFFERENCE


def contrast_findings(
    effects: pl.DataFrame, sensitivity: list[dict[str, Any]] | None
) -> list[ContrastFinding]:
    """Each shown headline contrast with its level's shown adjusted rate: approaches first,
    then levers; within each, clearly higher before unclear before clearly lower.

    The difference and its interval are the stored contrast of the sensitivity analysis (the
    AIPW contrast's own interval, not two rates' intervals side by side); a contrast whose
    level's rate is suppressed is left out. None stored (an older run): no contrast findings.
    """
    rates = {
        (r["treatment"], r["level"]): r
        for r in effects.filter(
            (pl.col("subgroup") == "population") & ~pl.col("suppressed")
        ).iter_rows(named=True)
    }
    found = []
    for row in sensitivity or []:
        rate = rates.get((row["treatment"], row["level"]))
        if rate is None or rate["estimate"] is None:
            continue
        found.append(
            ContrastFinding(
                treatment=row["treatment"],
                level=row["level"],
                against=row["against"],
                rate=rate["estimate"],
                rate_low=rate["ci_low"],
                rate_high=rate["ci_high"],
                difference=row["estimate"],
                difference_low=row["ci_low"],
                difference_high=row["ci_high"],
                direction=direction_of(row["ci_low"], row["ci_high"]),
                verdict=row["verdict"],
                thin_overlap=bool(rate["overlap_flag"]),
            )
        )
    order = {CLEARLY_HIGHER: 0, NO_CLEAR_DIFFERENCE: 1, CLEARLY_LOWER: 2}
    return sorted(
        found,
        key=lambda f: (f.treatment != "approach", f.treatment, order[f.direction], -f.difference),
    )


def subgroup_findings(
    effects: pl.DataFrame, limit: int = SUBGROUP_FINDINGS_MAX
) -> list[SubgroupFinding]:
    """For each approach and subgroup family, the highest and the lowest shown subgroup rate
    when their 95% intervals do not overlap; the ``limit`` largest gaps. Approaches only: the
    report's subgroup charts (the evidence) show approaches.

    Disjoint intervals are what the stored intervals support (the difference's own interval is
    not stored per subgroup): it is a conservative reading, so a finding here is a clear one.
    A cell with thin overlap (few comparable cases took the approach: its rate leans on the
    models) is never one side of a finding.
    """
    shown = effects.filter(
        (pl.col("treatment") == "approach")
        & ~pl.col("suppressed")
        & ~pl.col("overlap_flag")
        & pl.col("estimate").is_not_null()
    )
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in shown.iter_rows(named=True):
        family = family_of(r["subgroup"])
        if family is not None:
            groups.setdefault((r["treatment"], r["level"], family), []).append(r)
    found = []
    for (treatment, level, family), rows in groups.items():
        if len(rows) < 2:
            continue
        high = max(rows, key=lambda r: r["estimate"])
        low = min(rows, key=lambda r: r["estimate"])
        if high["ci_low"] > low["ci_high"]:
            found.append(SubgroupFinding(treatment, level, family, high, low))
    found.sort(key=lambda f: (-f.gap, f.treatment, f.level, f.family))
    return found[:limit]


def moved_effects(latest: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Effects shown in both runs whose estimate moved by more than the width of its interval
    (the wider of the two runs' intervals), largest move first."""
    keys = ["treatment", "level", "subgroup"]
    values = ["estimate", "ci_low", "ci_high"]

    def shown(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
        return frame.filter(~pl.col("suppressed") & pl.col("estimate").is_not_null()).select(
            *keys, *(pl.col(v).alias(f"{prefix}_{v}") for v in values)
        )

    width = pl.max_horizontal(
        pl.col("new_ci_high") - pl.col("new_ci_low"), pl.col("old_ci_high") - pl.col("old_ci_low")
    )
    return (
        shown(latest, "new")
        .join(shown(previous, "old"), on=keys, how="inner")
        .with_columns((pl.col("new_estimate") - pl.col("old_estimate")).round(4).alias("shift"))
        .filter(pl.col("shift").abs() > width)
        .sort(pl.col("shift").abs(), descending=True)
    )


def source_changes(
    latest: list[dict[str, Any]] | None, previous: list[dict[str, Any]] | None
) -> tuple[list[dict[str, str]], list[dict[str, str]]] | None:
    """Source files (name and SHA-256, as training records them) the latest run learnt from and
    the previous did not, and the other way round; None when either run did not record them.
    A file whose content changed is both: removed under its old hash, added under its new."""
    if latest is None or previous is None:
        return None

    def files(sources: list[dict[str, Any]]) -> dict[str, str]:
        return {str(s["sha256"]): str(s["file"]) for s in sources}

    new, old = files(latest), files(previous)

    def listed(chosen: dict[str, str], other: dict[str, str]) -> list[dict[str, str]]:
        return sorted(
            ({"file": name, "sha256": sha} for sha, name in chosen.items() if sha not in other),
            key=lambda s: (s["file"], s["sha256"]),
        )

    return listed(new, old), listed(old, new)
