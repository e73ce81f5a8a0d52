"""The family of simulated worlds: causal structures the simulator can draw case records from.

In the spirit of the ACIC 2016 and 2019 causal inference challenges (Dorie et al., 2019): many
data-generating processes, each knob turned one at a time from today's simulator
(``baseline``), plus a few combined hard worlds. A world is declared here as data; the
simulator (``overdue.simulate``) gives each knob its meaning, and docs/worlds.md says why each
world exists. Worlds marked ``held_out`` are kept out of every modelling decision: their
numbers are read only to report how the product does on data it was not tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Final

OVERLAP_FLOOR: Final = 0.15  # share of the approach choice that is uniform: P(approach) >= 2.5%
MIN_PROPENSITY_FLOOR: Final = 0.06  # the weakest overlap of the family: P(approach) >= 1%


class Surface(StrEnum):
    """How the context drivers act on the log-odds of an agreement."""

    ADDITIVE = "additive"  # today's: each driver on its own (mostly log) scale, added up
    SMOOTH = "smooth"  # continuous drivers act through S-curves around a plausible threshold
    STEPS = "steps"  # continuous drivers act in steps at plausible thresholds
    INTERACTIONS = "interactions"  # additive, plus interactions among the preparation factors


class Moderator(StrEnum):
    """A field (or mechanism) whose value changes how well each approach works."""

    LENDER_TYPE = "lender_type"
    DAYS_OVERDUE = "days_overdue"
    PLAN_TERMS = "plan_terms"  # affordability of the plan each approach implies, lump vs savings
    MONTHS_OF_BUDGET = "months_of_budget"
    SAVINGS_TO_BALANCE = "savings_to_balance"
    HARDSHIP = "hardship"
    PENALTY_SHARE = "penalty_share"
    LENDERS_IN_ARREARS = "lenders_in_arrears"
    INCOME_SURPLUS = "income_surplus"
    ANNUAL_RATE = "annual_rate"
    COLLECTION_STAGE = "collection_stage"
    AGE_BAND = "age_band"
    EMPLOYMENT = "employment"
    DOCUMENTS = "documents"


M = Moderator
TODAY_MODERATORS: Final = (M.LENDER_TYPE, M.DAYS_OVERDUE, M.PLAN_TERMS)
"""Today's simulator: the lender table, the age of the debt and the plan terms."""
MODEL_MODERATORS: Final = (
    M.LENDER_TYPE,
    M.DAYS_OVERDUE,
    M.MONTHS_OF_BUDGET,
    M.SAVINGS_TO_BALANCE,
    M.PLAN_TERMS,
)
"""The four the advising model was first built around, plus the plan terms."""
OTHER_MODERATORS: Final = (
    M.HARDSHIP,
    M.PENALTY_SHARE,
    M.INCOME_SURPLUS,
    M.ANNUAL_RATE,
    M.COLLECTION_STAGE,
    M.PLAN_TERMS,
)
"""Fields the advising model was not built around."""
UNSEEN_MODERATORS: Final = (
    M.LENDERS_IN_ARREARS,
    M.AGE_BAND,
    M.EMPLOYMENT,
    M.DOCUMENTS,
    M.PLAN_TERMS,
)
"""Fields that moderate the approaches in one held-out world only."""


@dataclass(frozen=True)
class World:
    """One causal structure: how agreement, the choice of approach and the records arise.

    Every knob's default is today's simulator; ``overdue.simulate`` gives each its meaning.
    """

    name: str
    about: str  # why the world exists, in one sentence
    surface: Surface = Surface.ADDITIVE
    moderators: tuple[Moderator, ...] = TODAY_MODERATORS  # what changes each approach's effect
    moderation: float = 1.0  # scale of every approach x moderator effect
    confounding: float = 1.0  # scale of the case-dependent part of the approach-choice scores
    confounder_moderation: float = 0.0  # log-odds per unit of the choice score (selection on gains)
    overlap_floor: float = OVERLAP_FLOOR  # share of the approach choice that is uniform
    base_rate: float | None = None  # target agreement rate of labelled cases; None: as it falls
    missing: float | None = None  # share of each optional field left empty; None: today's rates
    hidden_confounder: float = 0.0  # log-odds per SD of an unrecorded field on agreement and on
    # asking for the approach it confounds (HIDDEN_CONFOUNDED in overdue.simulate)
    held_out: bool = False  # kept out of every modelling decision

    def knobs(self) -> str:
        """The world's knobs in one line, e.g. ``surface=steps confounding=2.0 ...``."""
        shown = []
        for f in fields(self):
            if f.name in ("name", "about", "held_out"):
                continue
            value = getattr(self, f.name)
            if f.name == "moderators":
                value = ",".join(value) or "none"
            elif value is None:
                value = "as-is"
            shown.append(f"{f.name}={value}")
        return " ".join(shown)


def _family() -> tuple[World, ...]:
    """Every world, baseline first, then one knob at a time, then the combined hard ones."""
    return (
        World("baseline", "today's simulator: the reference every other world turns one knob of"),
        World(
            "no_moderation",
            "every case gains the same from an approach on the log-odds: no one to personalise for",
            moderators=(),
        ),
        World(
            "model_moderators",
            "the advising model's own four moderators (lender, days, months of budget, savings)",
            moderators=MODEL_MODERATORS,
        ),
        World(
            "other_moderators",
            "hardship, penalty share, income surplus, rate and collection stage moderate instead",
            moderators=OTHER_MODERATORS,
        ),
        World(
            "strong_moderation",
            "today's moderators half as strong again: per-case answers matter more",
            moderation=1.5,
        ),
        World(
            "smooth_surface",
            "context acts through smooth saturating curves instead of straight log-scale lines",
            surface=Surface.SMOOTH,
        ),
        World(
            "step_surface",
            "context acts in steps at 90/180 days overdue, a year's income, three lenders ...",
            surface=Surface.STEPS,
        ),
        World(
            "prep_interactions",
            "preparation factors work together (a plan with income proof, an agent's plan ...)",
            surface=Surface.INTERACTIONS,
        ),
        World(
            "strong_confounding",
            "the approach asked for depends twice as strongly on the situation",
            confounding=2.0,
        ),
        World(
            "selection_on_gains",
            "debtors tend to ask for what suits them: the choice's drivers also moderate",
            confounder_moderation=0.3,
        ),
        World(
            "weak_overlap",
            "some approaches are almost never asked for in some situations (P >= 1%)",
            overlap_floor=MIN_PROPENSITY_FLOOR,
        ),
        World("rare_agreement", "lenders agree a fifth of the time", base_rate=0.20),
        World("common_agreement", "lenders agree three times in four", base_rate=0.75),
        World(
            "sparse_records",
            "a third of every optional field is left empty (true values still act)",
            missing=0.35,
        ),
        World(
            "hidden_confounder",
            "the lender's unrecorded goodwill drives agreement and asking for stopped interest",
            hidden_confounder=0.6,
        ),
        World(
            "hard_steps",
            "other fields moderate in steps, strong confounding, selection on gains, weak overlap",
            surface=Surface.STEPS,
            moderators=OTHER_MODERATORS,
            confounding=2.0,
            confounder_moderation=0.3,
            overlap_floor=MIN_PROPENSITY_FLOOR,
            held_out=True,
        ),
        World(
            "unseen_moderators",
            "lenders in arrears, age, employment and documents moderate, in smooth curves",
            surface=Surface.SMOOTH,
            moderators=UNSEEN_MODERATORS,
            held_out=True,
        ),
        World(
            "rare_and_sparse",
            "agreement in three cases of ten, sparse records, preparation factors interacting",
            surface=Surface.INTERACTIONS,
            base_rate=0.30,
            missing=0.30,
            held_out=True,
        ),
    )


WORLDS: Final[dict[str, World]] = {w.name: w for w in _family()}
"""Every named world by name; ``baseline`` is today's simulator, byte for byte."""
BASELINE: Final = WORLDS["baseline"]
HELD_OUT: Final = tuple(name for name, w in WORLDS.items() if w.held_out)


class UnknownWorldError(ValueError):
    """A world name that is not in ``WORLDS``."""


def world_named(name: str) -> World:
    """The world called ``name``; raises UnknownWorldError with the names to choose from."""
    try:
        return WORLDS[name]
    except KeyError:
        raise UnknownWorldError(
            f"no world named {name!r}: use one of {', '.join(WORLDS)} (or list)"
        ) from None
