"""The case-record contract (``shared/contract/case-records.md``, version 1) as data.

Ingest, the simulator, the generated data dictionary and the models all read this module, so
the field list, types, roles, aliases, ranges and cross-field rules live in exactly one place.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import polars as pl

# polars is imported by the functions that build frames or expressions, not here: ingest reads
# the contract without polars, and importing it costs a fresh process a third of a second.

CONTRACT_VERSION: Final = 1


class Role(StrEnum):
    """Where a field may be used."""

    ID = "id"
    TIME = "time"
    CONTEXT = "context"  # known before the negotiation starts
    ACTION = "action"  # chosen by the debtor and counselor
    PROCESS = "process"  # happens during the negotiation
    OUTCOME = "outcome"  # the result; never a model input


class Kind(StrEnum):
    """Value type of a field."""

    STRING = "string"
    TIMESTAMP = "timestamp"
    DATE = "date"
    INT = "int"
    DECIMAL = "decimal"
    ENUM = "enum"
    BOOL = "bool"


@functools.cache
def polars_dtype(kind: Kind) -> pl.DataType:
    """The polars type of a field of ``kind`` once parsed."""
    import polars as pl

    return {
        Kind.STRING: pl.String(),
        Kind.TIMESTAMP: pl.Datetime("us"),
        Kind.DATE: pl.Date(),
        Kind.INT: pl.Int32(),
        Kind.DECIMAL: pl.Float64(),
        Kind.ENUM: pl.String(),
        Kind.BOOL: pl.Boolean(),
    }[kind]


TODAY: Final = "today"
"""Upper bound of a date range that means 'the as-of date of the run'."""


@dataclass(frozen=True)
class Field:
    """One column of a case record."""

    name: str
    zh: str
    kind: Kind
    role: Role
    required: bool
    meaning: str = ""
    values: dict[str, str] = field(default_factory=dict)  # code -> Chinese alias
    low: float | str | None = None
    high: float | str | None = None
    low_exclusive: bool = False
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None

    @property
    def dtype(self) -> pl.DataType:
        """The polars type of the field once parsed."""
        return polars_dtype(self.kind)

    def range_text(self) -> str:
        """The allowed values or range, as the contract writes it."""
        if self.values:
            return ", ".join(
                code if code == zh else f"{code} {zh}" for code, zh in self.values.items()
            )
        if self.pattern is not None:
            return f"`{self.pattern}`"
        if self.low is None and self.high is None:
            return ""
        low = "" if self.low is None else f"{'>' if self.low_exclusive else ''}{self.low}"
        if self.high is None:
            return f">= {low}" if not self.low_exclusive else f"{low}"
        return f"{low} .. {self.high}"


_AGE = {b: b for b in ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")}
APPROACHES: Final[dict[str, str]] = {
    "installment": "分期还款",
    "deferral": "延期还款",
    "stop_interest_installment": "停息分期",
    "penalty_waiver": "减免罚息",
    "principal_discount": "本金减免",
    "partial_first": "先还部分本金",
}
_MONEY = 1_000_000
_DEBT = 20 * _MONEY
"""The largest outstanding balance the contract allows."""
PLAUSIBILITY_BOUNDS: Final = (
    "penalty_accrued",
    "monthly_payment_due",
    "proposed_monthly_payment",
    "upfront_payment",
    "days_to_first_contact",
    "granted_monthly_payment",
    "relief_amount",
)
"""Fields whose upper bound this product adds to the written contract, which leaves them open.

An amount above any real value is a typing error or an identifier in disguise (13,812,345,678
was stored as a monthly payment): out of range, like any other. Amounts are bounded by the
largest debt (``outstanding_balance`` <= 20,000,000): a payment, penalty, upfront payment or
relief never exceeds what is owed in total, while a monthly payment may well exceed the
debtor's income (the monthly income bound would refuse real rows). ``days_to_first_contact``
has the bound of ``days_overdue_at_contact`` (3650), the same span counted from the same day.
"""

FIELDS: Final[tuple[Field, ...]] = (
    Field(
        "case_id",
        "案件编号",
        Kind.STRING,
        Role.ID,
        True,
        "opaque case key, unique per case",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        min_length=1,
        max_length=64,
    ),
    Field(
        "debtor_ref",
        "债务人编号",
        Kind.STRING,
        Role.ID,
        False,
        "pseudonymous key that links cases of one debtor with several lenders",
        min_length=1,
        max_length=64,
    ),
    Field(
        "record_updated_at",
        "更新时间",
        Kind.TIMESTAMP,
        Role.TIME,
        False,
        "when this version of the record was written; a later version replaces an earlier one",
    ),
    Field(
        "overdue_since",
        "逾期开始日期",
        Kind.DATE,
        Role.TIME,
        True,
        "first missed due date",
        low="2010-01-01",
        high=TODAY,
    ),
    Field(
        "first_contact_on",
        "首次协商日期",
        Kind.DATE,
        Role.TIME,
        True,
        "first contact between debtor (or helper) and lender about repayment",
    ),
    Field(
        "closed_on",
        "结案日期",
        Kind.DATE,
        Role.TIME,
        False,
        "when the negotiation ended; empty while it is open",
    ),
    Field("age_band", "年龄段", Kind.ENUM, Role.CONTEXT, True, values=_AGE),
    Field(
        "region",
        "地区",
        Kind.STRING,
        Role.CONTEXT,
        False,
        "province-level name, e.g. 广东 / Guangdong",
        max_length=64,
    ),
    Field(
        "city_tier",
        "城市等级",
        Kind.INT,
        Role.CONTEXT,
        False,
        "一线=1 … 四线及以下=4",
        low=1,
        high=4,
    ),
    Field(
        "employment",
        "就业状况",
        Kind.ENUM,
        Role.CONTEXT,
        True,
        values={
            "employed": "在职",
            "self_employed": "个体/自雇",
            "unemployed": "失业",
            "retired": "退休",
            "student": "学生",
            "other": "其他",
        },
    ),
    Field("monthly_income", "月收入", Kind.DECIMAL, Role.CONTEXT, True, low=0, high=_MONEY),
    Field(
        "monthly_essential_expenses",
        "月必要支出",
        Kind.DECIMAL,
        Role.CONTEXT,
        True,
        "rent, food, care of dependents",
        low=0,
        high=_MONEY,
    ),
    Field("dependents", "供养人数", Kind.INT, Role.CONTEXT, False, low=0, high=15),
    Field(
        "emergency_fund_months",
        "备用金月数",
        Kind.DECIMAL,
        Role.CONTEXT,
        False,
        "savings in months of living costs",
        low=0,
        high=120,
    ),
    Field(
        "lenders_in_arrears",
        "逾期机构数",
        Kind.INT,
        Role.CONTEXT,
        True,
        "lenders the debtor is overdue with now (多头借贷)",
        low=1,
        high=100,
    ),
    Field(
        "hardship_reason",
        "逾期原因",
        Kind.ENUM,
        Role.CONTEXT,
        True,
        values={
            "illness": "疾病",
            "job_loss": "失业",
            "business_failure": "经营失败",
            "income_reduction": "收入下降",
            "family_emergency": "家庭变故",
            "over_indebtedness": "过度负债",
            "fraud_victim": "被骗",
            "other": "其他",
        },
    ),
    Field(
        "lender_type",
        "机构类型",
        Kind.ENUM,
        Role.CONTEXT,
        True,
        "e.g. 借呗/微粒贷/美团 are online_platform, 安逸花 is consumer_finance",
        values={
            "bank_credit_card": "信用卡",
            "bank_loan": "银行贷款",
            "consumer_finance": "消费金融",
            "online_platform": "互联网平台",
            "p2p": "网贷P2P",
            "small_loan": "小额贷款",
        },
    ),
    Field(
        "principal",
        "借款本金",
        Kind.DECIMAL,
        Role.CONTEXT,
        True,
        "amount originally borrowed",
        low=0,
        high=10 * _MONEY,
        low_exclusive=True,
    ),
    Field(
        "outstanding_balance",
        "欠款总额",
        Kind.DECIMAL,
        Role.CONTEXT,
        True,
        "owed at first contact: principal left + interest + penalties + fees",
        low=0,
        high=_DEBT,
        low_exclusive=True,
    ),
    Field(
        "penalty_accrued",
        "罚息",
        Kind.DECIMAL,
        Role.CONTEXT,
        False,
        "penalty interest and fees inside outstanding_balance",
        low=0,
        high=_DEBT,
    ),
    Field(
        "annual_rate",
        "年化利率",
        Kind.DECIMAL,
        Role.CONTEXT,
        True,
        'contractual APR (0.24 = 24%); a CSV may write "24%"',
        low=0,
        high=1,
    ),
    Field(
        "monthly_payment_due",
        "原月供",
        Kind.DECIMAL,
        Role.CONTEXT,
        True,
        "contractual monthly payment before negotiating",
        low=0,
        high=_DEBT,
    ),
    Field("days_overdue_at_contact", "逾期天数", Kind.INT, Role.CONTEXT, True, low=0, high=3650),
    Field(
        "collection_stage",
        "催收阶段",
        Kind.ENUM,
        Role.CONTEXT,
        True,
        "furthest step the lender had taken at first contact",
        values={
            "none": "无",
            "reminders": "电话短信催收",
            "home_visit": "上门催收",
            "lawyer_letter": "律师函",
            "lawsuit_filed": "已起诉",
            "enforcement": "强制执行",
        },
    ),
    Field(
        "contact_initiated_by",
        "发起方",
        Kind.ENUM,
        Role.ACTION,
        True,
        values={"debtor": "债务人", "lender": "机构", "helper": "第三方"},
    ),
    Field(
        "channel",
        "协商渠道",
        Kind.ENUM,
        Role.ACTION,
        True,
        values={
            "phone": "电话",
            "app_online": "线上/APP",
            "in_person": "面谈",
            "written": "书面",
            "regulator_complaint": "监管投诉",
        },
    ),
    Field(
        "approach",
        "协商方案",
        Kind.ENUM,
        Role.ACTION,
        True,
        "what the debtor asked for",
        values=APPROACHES,
    ),
    Field("proposed_term_months", "申请期数", Kind.INT, Role.ACTION, False, low=0, high=120),
    Field(
        "proposed_monthly_payment", "申请月供", Kind.DECIMAL, Role.ACTION, False, low=0, high=_DEBT
    ),
    Field(
        "upfront_payment",
        "首付金额",
        Kind.DECIMAL,
        Role.ACTION,
        False,
        "paid at agreement",
        low=0,
        high=_DEBT,
    ),
    Field(
        "repayment_plan_prepared",
        "已制定还款计划",
        Kind.BOOL,
        Role.ACTION,
        True,
        "a written plan was brought to the lender",
    ),
    Field("doc_loan_contract", "借款合同", Kind.BOOL, Role.ACTION, True, "document brought"),
    Field("doc_income_proof", "收入证明", Kind.BOOL, Role.ACTION, True, "pay slips, tax records"),
    Field("doc_expense_statement", "支出明细", Kind.BOOL, Role.ACTION, True, "document brought"),
    Field("doc_bank_statement", "银行流水", Kind.BOOL, Role.ACTION, True, "document brought"),
    Field("doc_medical_report", "医疗证明", Kind.BOOL, Role.ACTION, True, "document brought"),
    Field(
        "doc_household_finances", "家庭财务状况", Kind.BOOL, Role.ACTION, True, "document brought"
    ),
    Field(
        "professional_help",
        "专业协助",
        Kind.ENUM,
        Role.ACTION,
        True,
        values={
            "none": "无",
            "lawyer": "律师",
            "nonprofit_counselor": "公益调解",
            "paid_agent": "付费代理/法务公司",
        },
    ),
    Field(
        "attitude_score",
        "沟通态度评分",
        Kind.INT,
        Role.ACTION,
        False,
        "counselor's coding of sincerity and cooperation (5 = most)",
        low=1,
        high=5,
    ),
    Field(
        "days_to_first_contact",
        "逾期后首次联系天数",
        Kind.INT,
        Role.ACTION,
        False,
        "days from overdue_since to the debtor's first contact; "
        "when missing it is first_contact_on - overdue_since",
        low=0,
        high=3650,
    ),
    Field("negotiation_rounds", "协商轮次", Kind.INT, Role.PROCESS, False, low=1, high=100),
    Field(
        "complaint_filed",
        "已投诉",
        Kind.BOOL,
        Role.PROCESS,
        False,
        "a complaint to a regulator was filed during the negotiation",
    ),
    Field(
        "outcome",
        "协商结果",
        Kind.ENUM,
        Role.OUTCOME,
        True,
        values={
            "agreed_as_requested": "按申请达成",
            "agreed_modified": "调整后达成",
            "refused": "被拒",
            "pending": "进行中",
            "escalated": "转诉讼",
        },
    ),
    Field(
        "granted_approach",
        "达成方案",
        Kind.ENUM,
        Role.OUTCOME,
        False,
        "empty unless agreed",
        values=APPROACHES,
    ),
    Field("granted_term_months", "达成期数", Kind.INT, Role.OUTCOME, False, low=0, high=120),
    Field(
        "granted_monthly_payment", "达成月供", Kind.DECIMAL, Role.OUTCOME, False, low=0, high=_DEBT
    ),
    Field("interest_waived", "免息", Kind.BOOL, Role.OUTCOME, False),
    Field("penalty_waived", "免罚息", Kind.BOOL, Role.OUTCOME, False),
    Field(
        "relief_amount",
        "减免金额",
        Kind.DECIMAL,
        Role.OUTCOME,
        False,
        "amount forgiven",
        low=0,
        high=_DEBT,
    ),
    Field(
        "plan_status",
        "履约状态",
        Kind.ENUM,
        Role.OUTCOME,
        False,
        "status of the agreed plan at the last follow-up",
        values={
            "completed": "已结清",
            "on_track": "正常履约",
            "broken": "违约",
            "not_applicable": "不适用",
        },
    ),
    Field(
        "followup_months",
        "跟踪月数",
        Kind.INT,
        Role.OUTCOME,
        False,
        "months observed since the agreement",
        low=0,
        high=120,
    ),
    Field(
        "months_to_redefault",
        "再次逾期月数",
        Kind.INT,
        Role.OUTCOME,
        False,
        "set when plan_status = broken",
        low=1,
        high=120,
    ),
)

FIELD_BY_NAME: Final[dict[str, Field]] = {f.name: f for f in FIELDS}
FIELD_BY_ZH: Final[dict[str, Field]] = {f.zh: f for f in FIELDS}
FIELD_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FIELDS)
REQUIRED: Final[tuple[str, ...]] = tuple(f.name for f in FIELDS if f.required)

TRUE_VALUES: Final = ("true", "是", "1", "y")
"""Spellings of true (compared case-insensitively after trimming)."""
FALSE_VALUES: Final = ("false", "否", "0", "n")

AGREED: Final = ("agreed_as_requested", "agreed_modified")
PENDING: Final = "pending"
SUSTAINED_HORIZONS: Final = (6, 12)


def fields_with_role(*roles: Role) -> tuple[str, ...]:
    """Names of the fields whose role is one of ``roles``, in contract order."""
    return tuple(f.name for f in FIELDS if f.role in roles)


ADVISING_ROLES: Final = (Role.CONTEXT, Role.ACTION)
"""The only roles that may feed a model that advises a counselor."""

DOCUMENT_FIELDS: Final = tuple(f.name for f in FIELDS if f.name.startswith("doc_"))
"""The six kinds of document a debtor may bring."""

PLAN_FIELDS: Final = ("proposed_term_months", "proposed_monthly_payment", "upfront_payment")
"""Action fields that follow from the approach asked for; they do not describe the debtor."""


def zh_value(field_name: str, code: str) -> str:
    """The Chinese alias of one category code."""
    return FIELD_BY_NAME[field_name].values[code]


def code_from_alias(field_name: str) -> dict[str, str]:
    """Every accepted spelling (code or Chinese alias) of a category field, mapped to its code."""
    values = FIELD_BY_NAME[field_name].values
    return {**{code: code for code in values}, **{zh: code for code, zh in values.items()}}


# --- rules across fields -------------------------------------------------------------------------
# A rule's condition is written once, as a small tree (columns, literals, comparisons, and/or/not
# with SQL's three-valued logic), and rendered three ways: a polars expression (frames), a SQL
# condition (ingest validates in DuckDB) and a Python check of one case (the service and
# ``overdue estimate``). A null operand makes a comparison unknown, as in SQL; a rule is broken
# only where its condition is true.

Truth = bool | None
"""Three-valued logic: true, false or unknown (None), as SQL's."""


class Term:
    """A column or a literal inside a condition."""

    def expr(self) -> pl.Expr:
        """The term as a polars expression."""
        raise NotImplementedError

    def sql(self) -> str:
        """The term as SQL."""
        raise NotImplementedError

    def value(self, case: Mapping[str, object]) -> object:
        """The term's value in one case (None when missing)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Col(Term):
    """A contract field."""

    name: str

    def expr(self) -> pl.Expr:
        import polars as pl

        return pl.col(self.name)

    def sql(self) -> str:
        return self.name

    def value(self, case: Mapping[str, object]) -> object:
        return case.get(self.name)


@dataclass(frozen=True)
class Lit(Term):
    """A constant."""

    literal: str | float

    def expr(self) -> pl.Expr:
        import polars as pl

        return pl.lit(self.literal)

    def sql(self) -> str:
        return _sql_literal(self.literal)

    def value(self, case: Mapping[str, object]) -> object:
        return self.literal


class Cond:
    """A condition on a row, in three-valued logic."""

    def expr(self) -> pl.Expr:
        """The condition as a polars expression (null where unknown)."""
        raise NotImplementedError

    def sql(self) -> str:
        """The condition as SQL (NULL where unknown)."""
        raise NotImplementedError

    def truth(self, case: Mapping[str, object]) -> Truth:
        """The condition on one case (None where unknown)."""
        raise NotImplementedError


_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    "=": operator.eq,
    "<>": operator.ne,
}


@dataclass(frozen=True)
class Compare(Cond):
    """``left op right``; unknown when either side is null."""

    left: Term
    op: str
    right: Term

    def expr(self) -> pl.Expr:
        left, right = self.left.expr(), self.right.expr()
        return {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            "=": left == right,
            "<>": left != right,
        }[self.op]

    def sql(self) -> str:
        return f"{self.left.sql()} {self.op} {self.right.sql()}"

    def truth(self, case: Mapping[str, object]) -> Truth:
        left, right = self.left.value(case), self.right.value(case)
        if left is None or right is None:
            return None
        return _COMPARE[self.op](left, right)


@dataclass(frozen=True)
class IsNull(Cond):
    """The field is empty (never unknown)."""

    column: Col

    def expr(self) -> pl.Expr:
        return self.column.expr().is_null()

    def sql(self) -> str:
        return f"{self.column.sql()} IS NULL"

    def truth(self, case: Mapping[str, object]) -> Truth:
        return self.column.value(case) is None


@dataclass(frozen=True)
class IsIn(Cond):
    """The field holds one of ``values``; unknown when it is empty."""

    column: Col
    values: tuple[str, ...]

    def expr(self) -> pl.Expr:
        return self.column.expr().is_in(list(self.values))

    def sql(self) -> str:
        return f"{self.column.sql()} IN ({', '.join(_sql_literal(v) for v in self.values)})"

    def truth(self, case: Mapping[str, object]) -> Truth:
        found = self.column.value(case)
        return None if found is None else found in self.values


@dataclass(frozen=True)
class Not(Cond):
    """Negation; unknown stays unknown."""

    part: Cond

    def expr(self) -> pl.Expr:
        return ~self.part.expr()

    def sql(self) -> str:
        return f"NOT ({self.part.sql()})"

    def truth(self, case: Mapping[str, object]) -> Truth:
        found = self.part.truth(case)
        return None if found is None else not found


@dataclass(frozen=True)
class And(Cond):
    """All parts: false if one is false, else unknown if one is unknown."""

    parts: tuple[Cond, ...]

    def expr(self) -> pl.Expr:
        return functools.reduce(operator.and_, (p.expr() for p in self.parts))

    def sql(self) -> str:
        return " AND ".join(f"({p.sql()})" for p in self.parts)

    def truth(self, case: Mapping[str, object]) -> Truth:
        found = [p.truth(case) for p in self.parts]
        return False if False in found else None if None in found else True


@dataclass(frozen=True)
class Or(Cond):
    """Any part: true if one is true, else unknown if one is unknown."""

    parts: tuple[Cond, ...]

    def expr(self) -> pl.Expr:
        return functools.reduce(operator.or_, (p.expr() for p in self.parts))

    def sql(self) -> str:
        return " OR ".join(f"({p.sql()})" for p in self.parts)

    def truth(self, case: Mapping[str, object]) -> Truth:
        found = [p.truth(case) for p in self.parts]
        return True if True in found else None if None in found else False


@dataclass(frozen=True)
class Known(Cond):
    """True only where the part is true (unknown counts as false): SQL's coalesce(x, false)."""

    part: Cond

    def expr(self) -> pl.Expr:
        return self.part.expr().fill_null(False)

    def sql(self) -> str:
        return f"coalesce({self.part.sql()}, false)"

    def truth(self, case: Mapping[str, object]) -> Truth:
        return self.part.truth(case) is True


def _cmp(left: str, op: str, right: str | float, *, column: bool = True) -> Compare:
    """``left op right``: ``right`` a field name (``column``) or a literal."""
    return Compare(Col(left), op, Col(str(right)) if column else Lit(right))


def _is(name: str, value: str) -> Compare:
    return _cmp(name, "=", value, column=False)


def _set(name: str) -> Cond:
    return Not(IsNull(Col(name)))


_AGREED_COND: Final = IsIn(Col("outcome"), AGREED)


@dataclass(frozen=True)
class Rule:
    """A cross-field rule: broken on rows where ``broken_when`` is true (never on unknown)."""

    code: str
    fields: tuple[str, ...]
    text: str
    broken_when: Cond

    @property
    def reason(self) -> str:
        """The quarantine reason for a row that breaks this rule."""
        return f"rule:{self.code}"

    def violated(self) -> pl.Expr:
        """A polars expression true on rows that break the rule (null where unknown)."""
        return self.broken_when.expr()

    @property
    def sql(self) -> str:
        """The same check as a SQL (DuckDB) condition, true on rows that break it (never null)."""
        return Known(self.broken_when).sql()

    def broken(self, case: Mapping[str, object]) -> bool:
        """Whether one case (field -> value, missing fields as None) breaks the rule."""
        return self.broken_when.truth(case) is True


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "first_contact_before_overdue",
        ("first_contact_on", "overdue_since"),
        "first_contact_on >= overdue_since",
        _cmp("first_contact_on", "<", "overdue_since"),
    ),
    Rule(
        "closed_before_first_contact",
        ("closed_on", "first_contact_on"),
        "closed_on >= first_contact_on when set",
        _cmp("closed_on", "<", "first_contact_on"),
    ),
    Rule(
        "pending_has_closed_on",
        ("outcome", "closed_on"),
        "outcome = pending has no closed_on",
        And((_is("outcome", PENDING), _set("closed_on"))),
    ),
    Rule(
        "closed_on_missing",
        ("outcome", "closed_on"),
        "every outcome other than pending has a closed_on",
        And((_cmp("outcome", "<>", PENDING, column=False), IsNull(Col("closed_on")))),
    ),
    Rule(
        "granted_without_agreement",
        (
            "outcome",
            "granted_approach",
            "granted_term_months",
            "granted_monthly_payment",
            "relief_amount",
            "plan_status",
        ),
        "granted_*, relief_amount and plan_status other than not_applicable appear only when "
        "the outcome is agreed_as_requested or agreed_modified",
        And(
            (
                Not(_AGREED_COND),
                Or(
                    (
                        _set("granted_approach"),
                        _set("granted_term_months"),
                        _set("granted_monthly_payment"),
                        _set("relief_amount"),
                        And(
                            (
                                _set("plan_status"),
                                _cmp("plan_status", "<>", "not_applicable", column=False),
                            )
                        ),
                    )
                ),
            )
        ),
    ),
    Rule(
        "broken_without_redefault",
        ("plan_status", "months_to_redefault", "followup_months"),
        "plan_status = broken requires months_to_redefault <= followup_months",
        And(
            (
                _is("plan_status", "broken"),
                Not(Known(_cmp("months_to_redefault", "<=", "followup_months"))),
            )
        ),
    ),
    Rule(
        "redefault_without_broken",
        ("months_to_redefault", "plan_status"),
        "months_to_redefault is set only when plan_status = broken",
        And((_set("months_to_redefault"), Not(Known(_is("plan_status", "broken"))))),
    ),
    Rule(
        "penalty_exceeds_balance",
        ("penalty_accrued", "outstanding_balance"),
        "penalty_accrued <= outstanding_balance",
        _cmp("penalty_accrued", ">", "outstanding_balance"),
    ),
    Rule(
        "upfront_exceeds_balance",
        ("upfront_payment", "outstanding_balance"),
        "upfront_payment <= outstanding_balance",
        _cmp("upfront_payment", ">", "outstanding_balance"),
    ),
    Rule(
        "relief_exceeds_balance",
        ("relief_amount", "outstanding_balance"),
        "relief_amount <= outstanding_balance",
        _cmp("relief_amount", ">", "outstanding_balance"),
    ),
    Rule(
        "contact_after_days_overdue",
        ("days_to_first_contact", "days_overdue_at_contact"),
        "days_to_first_contact <= days_overdue_at_contact",
        _cmp("days_to_first_contact", ">", "days_overdue_at_contact"),
    ),
)
"""Every cross-field rule, once: ingest runs their SQL, frames their polars expressions and a
single case their Python check (``broken_rules``); a test keeps the three in agreement."""


def broken_rules(case: Mapping[str, object], fields: Collection[str]) -> list[Rule]:
    """The rules one case breaks, among those whose fields are all in ``fields`` (a case from
    the service has its context and action fields only); missing values break nothing."""
    return [r for r in RULES if set(r.fields) <= set(fields) and r.broken(case)]


PII_KINDS: Final = ("resident_id", "mobile", "bank_card", "email")
"""Kinds of direct personal data that quarantine a row (reason ``pii:<kind>:<field>``)."""
MASKED_VALUE: Final = r"\[(?:" + "|".join(PII_KINDS) + r")\]"
"""Where personal data was masked (``[mobile]``, ...): never a valid key, so a row exported from
quarantine and ingested again unfixed is refused (``format:<id field>``), not loaded."""


def _masked_key(f: Field) -> bool:
    """An id field, whose value must not be a masked placeholder (``MASKED_VALUE``)."""
    return f.role is Role.ID and f.kind is Kind.STRING


def range_violation(f: Field, as_of: dt.date) -> pl.Expr | None:
    """Expression true where a typed value of ``f`` is out of its range or not an allowed value."""
    import polars as pl

    col = pl.col(f.name)
    if f.values:
        return col.is_not_null() & ~col.is_in(list(f.values))
    if f.kind in (Kind.STRING,):
        checks = []
        if f.min_length is not None:
            checks.append(col.str.len_chars() < f.min_length)
        if f.max_length is not None:
            checks.append(col.str.len_chars() > f.max_length)
        if f.pattern is not None:
            checks.append(~col.str.contains(f.pattern))
        if _masked_key(f):
            checks.append(col.str.contains(MASKED_VALUE))
        return pl.any_horizontal(checks).fill_null(False) if checks else None
    bounds = []
    for bound, is_low in ((f.low, True), (f.high, False)):
        if bound is None:
            continue
        value: object = bound
        if f.kind is Kind.DATE:
            value = as_of if bound == TODAY else dt.date.fromisoformat(str(bound))
        lit = pl.lit(value)
        if is_low:
            bounds.append(col <= lit if f.low_exclusive else col < lit)
        else:
            bounds.append(col > lit)
    return pl.any_horizontal(bounds).fill_null(False) if bounds else None


def violation_checks(columns: Collection[str], as_of: dt.date) -> dict[str, pl.Expr]:
    """Every check of the contract on a typed frame with ``columns``: reason -> broken expression.

    A required field missing from ``columns`` is broken on every row; a rule is checked when all
    its fields are present (``violations`` adds absent fields as empty columns first, so there
    every rule is checked). Each expression is true (never null) on the rows that break it.
    """
    import polars as pl

    present = set(columns)
    exprs: dict[str, pl.Expr] = {}
    for f in FIELDS:
        if f.name not in present:
            if f.required:
                exprs[f"required:{f.name}"] = pl.lit(True)
            continue
        if f.required:
            exprs[f"required:{f.name}"] = pl.col(f.name).is_null()
        check = range_violation(f, as_of)
        if check is not None:
            prefix = "enum" if f.values else "format" if f.kind is Kind.STRING else "range"
            exprs[f"{prefix}:{f.name}"] = check
    for rule in RULES:
        if present.issuperset(rule.fields):
            exprs[rule.reason] = rule.violated().fill_null(False)
    return exprs


def violations(frame: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
    """One row per broken check of a typed frame: ``row`` (0-based), ``reason`` (e.g. ``range:x``).

    Contract fields the frame lacks count as empty.
    """
    import polars as pl

    absent = [f for f in FIELDS if f.name not in frame.columns]
    frame = frame.with_columns(pl.lit(None, dtype=f.dtype).alias(f.name) for f in absent)
    flags = frame.lazy().select(
        pl.int_range(pl.len()).alias("row"), **violation_checks(frame.columns, as_of)
    )
    return (
        flags.unpivot(index="row", variable_name="reason", value_name="broken")
        .filter(pl.col("broken"))
        .select("row", "reason")
        .sort("row", "reason")
        .collect()
    )


def _sql_literal(value: object) -> str:
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def range_violation_sql(f: Field, as_of: dt.date) -> str | None:
    """``range_violation`` as a SQL condition on the typed column ``f.name`` (never null)."""
    col = f'"{f.name}"'
    if f.values:
        allowed = ", ".join(_sql_literal(v) for v in f.values)
        return f"coalesce({col} NOT IN ({allowed}), false)"
    checks = []
    if f.kind is Kind.STRING:
        if f.min_length is not None:
            checks.append(f"length({col}) < {f.min_length}")
        if f.max_length is not None:
            checks.append(f"length({col}) > {f.max_length}")
        if f.pattern is not None:
            checks.append(f"NOT regexp_matches({col}, {_sql_literal(f.pattern)})")
        if _masked_key(f):
            checks.append(f"regexp_matches({col}, {_sql_literal(MASKED_VALUE)})")
    else:
        for bound, is_low in ((f.low, True), (f.high, False)):
            if bound is None:
                continue
            value: object = bound
            if f.kind is Kind.DATE:
                value = as_of if bound == TODAY else dt.date.fromisoformat(str(bound))
            op = ("<=" if f.low_exclusive else "<") if is_low else ">"
            checks.append(f"{col} {op} {_sql_literal(value)}")
    if not checks:
        return None
    return f"coalesce({' OR '.join(checks)}, false)"


def violation_checks_sql(columns: Collection[str], as_of: dt.date) -> dict[str, str]:
    """``violation_checks`` as SQL conditions (reason -> condition true on broken rows)."""
    present = set(columns)
    checks: dict[str, str] = {}
    for f in FIELDS:
        if f.name not in present:
            if f.required:
                checks[f"required:{f.name}"] = "true"
            continue
        if f.required:
            checks[f"required:{f.name}"] = f'"{f.name}" IS NULL'
        check = range_violation_sql(f, as_of)
        if check is not None:
            prefix = "enum" if f.values else "format" if f.kind is Kind.STRING else "range"
            checks[f"{prefix}:{f.name}"] = check
    for rule in RULES:
        if all(c in present for c in rule.fields):
            checks[rule.reason] = rule.sql
    return checks
