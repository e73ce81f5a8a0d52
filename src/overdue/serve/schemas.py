"""The API's documents: what each route answers (the OpenAPI spec) and its error shape."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from overdue.models.selfcheck import SelfCheck


class FieldError(BaseModel):
    """One problem with a request; never contains a submitted value."""

    field: str
    message: str
    reason: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer of the API."""

    detail: list[FieldError]


class SnapshotInfo(BaseModel):
    """Which published snapshot answered."""

    run_id: str
    model_version: str
    data_snapshot_hash: str | None = None
    published_at: str | None = None


class Plan(BaseModel):
    """A repayment plan for this case and what it leaves of the monthly budget
    (``overdue.plans``): an approach's typical plan, or the client's own."""

    term_months: int
    monthly_payment: float
    upfront: float
    relief: float
    budget_left: float
    margin: float
    budget_share: float | None
    affordable: bool
    warnings: list[str]
    warning_texts: list[str]
    source: str
    text: str


class Difference(BaseModel):
    """This approach's P minus the most likely approach's, with the 95% interval of the
    difference (not of either estimate)."""

    difference: float
    low: float
    high: float


class Kept(BaseModel):
    """P(the plan is still kept 12 months after the agreement | agreed) and its 95% interval
    (``overdue.models.sustain``; sampling error only)."""

    p: float
    low: float
    high: float


class ApproachEstimate(BaseModel):
    """P(agreement) had the debtor asked for this approach, and the plan that assumes."""

    approach: str
    approach_zh: str
    label: str
    p: float
    low: float
    high: float
    difference_from_planned: float | None
    vs_best: Difference
    kept_12: Kept | None
    plan: Plan | None
    similar_cases: int | str
    thin_data: bool


class Recommendation(BaseModel):
    """Approaches ranked, which are about as likely as the first and which clearly less."""

    ranking: list[str]
    best: str
    about_equal: list[str]
    clearly_less: list[str]
    text: str


class WhatIf(BaseModel):
    """A lever the case can still act on and the model's P(agreement) before and after it."""

    lever: str
    label: str
    changes: dict[str, Any]
    p_before: float
    p_after: float
    gain: float
    gain_interval: list[float]
    clear: bool
    text: str


class Budget(BaseModel):
    """What is left each month after essential expenses and the margin a plan must keep."""

    budget_left: float
    margin: float
    nothing_left: bool
    texts: list[str]


class NarrowApproach(BaseModel):
    """An approach whose own 95% ranges held the planted truth less often than 90 in 100."""

    approach: str
    times_in_100: int


class IntervalCheck(BaseModel):
    """What the self-check says about the 95% ranges for cases like this one."""

    coverage: float
    times_in_100: int
    lender_type: str | None
    test_cases: int
    too_narrow: bool
    narrow_approaches: list[NarrowApproach]
    text: str


class Driver(BaseModel):
    """A group of features and how much it moves this case's chance against a typical case."""

    driver: str
    label: str
    value: str
    change: float


class Advice(BaseModel):
    """Practical advice from a measured preparation effect."""

    lever: str
    kind: str
    text: str
    better_level: str
    better_rate: float
    better_interval: list[float]
    other_level: str
    other_rate: float
    other_interval: list[float]
    certain: bool
    overlap_warning: bool


class EstimateResponse(BaseModel):
    """Everything a counselor sees for one case (the page draws this)."""

    case_id: str
    model_version: str
    run_id: str | None
    planned_approach: str
    best_approach: str
    approaches: list[ApproachEstimate]
    recommendation: Recommendation
    what_if: list[WhatIf]
    budget: Budget
    own_plan: Plan | None
    plan_note: str
    kept_note: str
    drivers: list[Driver]
    advice: list[Advice]
    interval_check: IntervalCheck | None = None
    risks: list[Risk]
    limits: Limits
    note: str
    lang: str
    k: int
    snapshot: SnapshotInfo


class EffectEntry(BaseModel):
    """Adjusted agreement rate had every case taken this level (null where suppressed)."""

    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    n_asked: int | None = None
    overlap_warning: bool | None = None
    suppressed: bool | None = None


class EffectsResponse(BaseModel):
    """The published effects: approaches (population, subgroups) and preparation levers."""

    model_version: str
    run_id: str | None = None
    outcome: str | None = None
    population: dict[str, EffectEntry]
    subgroups: dict[str, dict[str, EffectEntry]]
    levers: dict[str, dict[str, EffectEntry]]
    snapshot: SnapshotInfo


class SourceRef(BaseModel):
    """A public source a risk note rests on."""

    title: str
    url: str


class Risk(BaseModel):
    """A risks-and-rights note that applies to this case (``serve/guidance.yaml``)."""

    id: str
    text: str
    sources: list[SourceRef]


class DataSource(BaseModel):
    """A file the model's cases came from."""

    file: str
    sha256: str
    cases: int
    simulated: bool


class Limits(BaseModel):
    """What the estimate rests on and cannot know, for the page's limits box."""

    simulated: bool | None
    data_from: str | None
    data_to: str | None
    sources: list[str]
    model_version: str
    trained_at: str | None
    run_id: str
    text: list[str]


class ModelCard(BaseModel):
    """What the model is, what it learnt from, how good it is and what it cannot do."""

    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    run_id: str | None = None
    trained_at: str | None = None
    outcome: str | None = None
    data_snapshot_hash: str | None = None
    data_period: dict[str, str | None] | None = None
    data_sources: list[DataSource] | None = None
    simulated: bool | None = None
    cases: int | None = None
    labelled_cases: int | None = None
    model_cases: int | None = None
    """The labelled cases the models and effects learnt from: all of them, or a seeded sample
    of ``model_max_cases`` (docs/configuration.md)."""
    split_sizes: dict[str, int] | None = None
    model_choice: dict[str, Any] | None = None
    """What held-out loss chose for the advising model: the spline component's penalty ``c``,
    interaction ``scale``, ``reweightings`` and each feature's interaction ``weights``, every
    fit ``tried``, the ``stack`` weights and the boosting's rounds."""
    metrics: dict[str, dict[str, float | None]] | None = None
    calibration: list[dict[str, Any]] = []
    drivers: list[dict[str, Any]] = []
    self_check: SelfCheck | None = None
    k: int | None = None
    known_limits: list[str] = []
    snapshot: SnapshotInfo


class Health(BaseModel):
    """Whether the service has a snapshot to answer from."""

    status: str
    model_version: str | None = None
    run_id: str | None = None
    error: str | None = None


ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": ErrorResponse, "description": "missing or wrong bearer token"},
    422: {"model": ErrorResponse, "description": "invalid request"},
    429: {"model": ErrorResponse, "description": "too many requests from this client"},
    503: {"model": ErrorResponse, "description": "no published snapshot yet"},
}
