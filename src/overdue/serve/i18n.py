"""What the service says, in Chinese (default) and English.

Chinese names of fields and values come from the contract (``overdue.contract``); English names
are the contract's codes written for people. Validation messages name the field in the
request's language and never contain the submitted value. Tables are key → language → text,
the shape of every text table in the package (why: ``overdue.i18n``); read them with the
lookup functions below.
"""

from __future__ import annotations

from typing import Any, Final

from overdue.contract import FIELD_BY_NAME
from overdue.i18n import NOTE, in_language

LANGS: Final = ("zh", "en")
DEFAULT_LANG: Final = "zh"

FIELD_EN: Final[dict[str, str]] = {
    "case_id": "Case id",
    "overdue_since": "Overdue since",
    "first_contact_on": "First contact on",
    "age_band": "Age band",
    "region": "Region (province)",
    "city_tier": "City tier",
    "employment": "Employment",
    "monthly_income": "Monthly income (CNY)",
    "monthly_essential_expenses": "Essential monthly expenses (CNY)",
    "dependents": "Dependents",
    "emergency_fund_months": "Savings (months of living costs)",
    "lenders_in_arrears": "Lenders in arrears",
    "hardship_reason": "Reason for falling behind",
    "lender_type": "Lender type",
    "principal": "Principal borrowed (CNY)",
    "outstanding_balance": "Outstanding balance (CNY)",
    "penalty_accrued": "Penalty interest and fees (CNY)",
    "annual_rate": "Annual rate (APR)",
    "monthly_payment_due": "Contractual monthly payment (CNY)",
    "days_overdue_at_contact": "Days overdue at contact",
    "collection_stage": "Collection stage",
    "contact_initiated_by": "Contact initiated by",
    "channel": "Channel",
    "approach": "Approach the debtor plans to ask for",
    "proposed_term_months": "Proposed term (months)",
    "proposed_monthly_payment": "Proposed monthly payment (CNY)",
    "upfront_payment": "Upfront payment (CNY)",
    "repayment_plan_prepared": "Written repayment plan prepared",
    "doc_loan_contract": "Loan contract",
    "doc_income_proof": "Income proof",
    "doc_expense_statement": "Expense statement",
    "doc_bank_statement": "Bank statements",
    "doc_medical_report": "Medical report",
    "doc_household_finances": "Household finances",
    "professional_help": "Professional help",
    "attitude_score": "Attitude score (1-5)",
    "days_to_first_contact": "Days from falling overdue to first contact",
}

VALUE_EN: Final[dict[str, str]] = {
    "self_employed": "self-employed",
    "job_loss": "job loss",
    "business_failure": "business failure",
    "income_reduction": "income reduction",
    "family_emergency": "family emergency",
    "over_indebtedness": "over-indebtedness",
    "fraud_victim": "fraud victim",
    "bank_credit_card": "credit card",
    "bank_loan": "bank loan",
    "consumer_finance": "consumer finance",
    "online_platform": "online platform",
    "p2p": "P2P lending",
    "small_loan": "small loan company",
    "home_visit": "home visit",
    "lawyer_letter": "lawyer's letter",
    "lawsuit_filed": "lawsuit filed",
    "enforcement": "enforcement",
    "app_online": "app / online",
    "in_person": "in person",
    "regulator_complaint": "regulator complaint",
    "installment": "installments",
    "stop_interest_installment": "interest stop + installments",
    "penalty_waiver": "penalty waiver",
    "principal_discount": "principal discount",
    "partial_first": "partial payment first",
    "nonprofit_counselor": "nonprofit mediator",
    "paid_agent": "paid agent",
    "none": "none",
}

HINTS: Final[dict[str, dict[str, str]]] = {
    "monthly_income": {
        "zh": "税后，所有来源，单位元；可写 12,000",
        "en": "after tax, all sources, in CNY; 12,000 is fine",
    },
    "monthly_essential_expenses": {
        "zh": "房租、饮食、赡养等必要开销",
        "en": "rent, food, care of dependents",
    },
    "emergency_fund_months": {
        "zh": "存款够几个月生活费",
        "en": "how many months of living costs savings cover",
    },
    "lenders_in_arrears": {
        "zh": "目前逾期的机构数（多头借贷）",
        "en": "lenders the debtor is overdue with now",
    },
    "outstanding_balance": {
        "zh": "首次协商时欠款总额：剩余本金+利息+罚息+费用",
        "en": "owed at first contact: principal, interest, penalties, fees",
    },
    "penalty_accrued": {
        "zh": "欠款总额中的罚息和费用",
        "en": "penalty interest and fees inside the outstanding balance",
    },
    "annual_rate": {"zh": "合同年化利率，可写 24% 或 0.24", "en": "contractual APR: 24% or 0.24"},
    "days_overdue_at_contact": {
        "zh": "首次协商时已逾期的天数",
        "en": "days overdue when the negotiation starts",
    },
    "days_to_first_contact": {"zh": "不填则等于逾期天数", "en": "left empty: the days overdue"},
    "attitude_score": {
        "zh": "顾问对诚意与配合程度的评分，5 为最好",
        "en": "counselor's coding of sincerity and cooperation, 5 = most",
    },
    "approach": {
        "zh": "债务人打算向机构申请的方案；下方会比较全部六种方案",
        "en": "what the debtor plans to ask for; all six approaches are compared below",
    },
    "region": {"zh": "省级名称，例如 广东", "en": "province-level name, e.g. Guangdong"},
    "documents": {
        "zh": "债务人将带去协商的材料",
        "en": "documents the debtor will bring to the negotiation",
    },
}

DRIVER_LABELS: Final[dict[str, dict[str, str]]] = {
    "documents": {"zh": "携带的材料", "en": "documents brought"},
    "written_plan": {"zh": "书面还款计划", "en": "written repayment plan"},
    "contact_timing": {"zh": "联系时机", "en": "timing of contact"},
    "professional_help": {"zh": "专业协助", "en": "professional help"},
    "channel": {"zh": "协商渠道与发起方", "en": "channel and who initiated"},
    "attitude": {"zh": "沟通态度", "en": "attitude"},
    "days_overdue": {"zh": "逾期时长与催收阶段", "en": "days overdue and collection stage"},
    "debt_burden": {"zh": "债务负担", "en": "debt burden"},
    "income": {"zh": "收入与支出", "en": "income and expenses"},
    "hardship": {"zh": "逾期原因", "en": "reason for falling behind"},
    "lender": {"zh": "机构类型与利率", "en": "lender type and rate"},
    "other_debts": {"zh": "其他逾期债务", "en": "other overdue debts"},
}

TEXT: Final[dict[str, dict[str, str]]] = {
    "title": {"zh": "逾期协商评估", "en": "Overdue negotiation estimate"},
    "subtitle": {
        "zh": "输入债务人的情况，查看每种协商方案在类似案件中达成协议的可能性。",
        "en": "Enter the debtor's situation and see, for each approach, how likely an agreement "
        "was in cases like this one.",
    },
    "promise": NOTE,
    "switch": {"zh": "English", "en": "中文"},
    "situation": {"zh": "债务人情况", "en": "Debtor's situation"},
    "debt": {"zh": "债务", "en": "The debt"},
    "actions": {"zh": "协商准备", "en": "Preparation"},
    "documents": {"zh": "携带材料", "en": "Documents brought"},
    "submit": {"zh": "评估", "en": "Estimate"},
    "token": {"zh": "访问令牌", "en": "Access token"},
    "token_hint": {
        "zh": "服务设置了访问令牌：请向管理员索取",
        "en": "this service needs an access token: ask its administrator",
    },
    "results": {
        "zh": "各方案达成协议的估计概率",
        "en": "Estimated chance of an agreement by approach",
    },
    "approach": {"zh": "方案", "en": "Approach"},
    "estimate": {"zh": "估计概率", "en": "Estimate"},
    "interval": {"zh": "95% 区间", "en": "95% interval"},
    "vs_planned": {"zh": "与计划方案相比", "en": "vs planned approach (pp: percentage points)"},
    "similar": {"zh": "类似案件数", "en": "Similar past cases"},
    "warning": {"zh": "提示", "en": "Note"},
    "thin": {
        "zh": "数据较少：类似案件中很少有人申请此方案，估计主要依赖模型",
        "en": "thin data: few similar cases asked for this approach; the estimate leans on the "
        "model",
    },
    "planned": {"zh": "（计划）", "en": " (planned)"},
    "narrow_range": {
        "zh": "自检发现此方案的区间可能偏窄（见表下说明）",
        "en": "the self-check found this approach's ranges likely too narrow (see below the table)",
    },
    "drivers": {
        "zh": "主要影响因素（与典型案件相比）",
        "en": "Main drivers (against a typical case)",
    },
    "advice": {
        "zh": "可以提高机会的准备（以下比例是全部以往案例经调整后的达成率，不是本案的估计）",
        "en": "Preparation that raises the chances (the rates below are over all past cases, "
        "adjusted, not this case's estimate)",
    },
    "no_advice": {
        "zh": "已测得的准备措施中，没有可给出的建议。",
        "en": "No advice can be drawn from the measured preparation effects.",
    },
    "model": {"zh": "模型", "en": "model"},
    "run": {"zh": "运行", "en": "run"},
    "error": {"zh": "请检查以下内容：", "en": "Please check:"},
    "failed": {
        "zh": "评估失败，请稍后再试。",
        "en": "The estimate failed; please try again later.",
    },
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    "empty": {"zh": "（不填）", "en": "(empty)"},
    "chart_x": {"zh": "达成协议的估计概率", "en": "estimated chance of an agreement"},
    "raises": {"zh": "提高", "en": "raises"},
    "lowers": {"zh": "降低", "en": "lowers"},
    "points": {"zh": "个百分点", "en": "pp"},
    "busy": {"zh": "请求过多，请稍后再试。", "en": "Too many requests; please try again shortly."},
    "unauthorized": {"zh": "访问令牌无效。", "en": "The access token is not valid."},
    "legend_planned": {"zh": "计划申请的方案", "en": "approach planned"},
    "legend_other": {"zh": "其他方案", "en": "other approaches"},
    "legend_thin": {
        "zh": "数据较少（估计主要依赖模型）",
        "en": "thin data (the estimate leans on the model)",
    },
    "legend_interval": {"zh": "横线：95% 区间", "en": "whiskers: 95% interval"},
    "risks": {"zh": "风险与权利", "en": "Risks and rights"},
    "sources": {"zh": "依据：", "en": "Sources: "},
    "limits": {"zh": "这些数字的局限", "en": "Limits of these numbers"},
    "print": {"zh": "打印 / 保存为 PDF", "en": "Print / save as PDF"},
    "scroll_hint": {
        "zh": "表格较宽：左右滑动可看到典型计划和是否超出预算 →",
        "en": "The table is wide: swipe sideways for the typical plan and whether it fits the "
        "budget →",
    },
    "print_case": {"zh": "评估时间：{date}。案件：", "en": "Estimated on {date}. The case: "},
    "snapshot_changed": {
        "zh": "模型已更新（新的运行 {run}）：上面的结果来自旧模型，请重新评估。",
        "en": "The model has been updated (new run {run}): the results above come from the "
        "previous model; estimate again.",
    },
    "snapshot_newer": {
        "zh": "注意：这次的结果来自新发布的模型（运行 {run}），与之前的结果可能不同。",
        "en": "Note: these results come from a newly published model (run {run}) and may differ "
        "from earlier ones.",
    },
}

INTERVAL_CHECK: Final[dict[str, dict[str, str]]] = {
    "lender_type": {
        "zh": "在与此案相似的案例上（同为{lender}），我们的 95% 区间有 {times} 次/100 次包含"
        "真实比例。",
        "en": "On cases like this one ({lender} debts), our 95% ranges held the true rate "
        "{times} times in 100.",
    },
    "all": {
        "zh": "在我们自检的全部案例上，我们的 95% 区间有 {times} 次/100 次包含真实比例。",
        "en": "On all the cases we checked, our 95% ranges held the true rate {times} times "
        "in 100.",
    },
    "too_narrow": {
        "zh": "区间可能偏窄，请给上下都留些余地。",
        "en": "The ranges are likely too narrow: leave room on both sides.",
    },
    "approach_too_narrow": {
        "zh": "其中{approach}的区间只有 {times} 次/100 次包含真实比例，请给它多留些余地。",
        "en": "Under {approach} they held it only {times} times in 100: leave its range more room.",
    },
    "how": {
        "zh": "（自检：在模型学习所用的案例上按几种可能的规律模拟结果，重新训练模型后核对。）",
        "en": "(Self-check: outcomes simulated on the cases the model learnt from, under a few "
        "plausible patterns, the model refitted and its ranges checked.)",
    },
}
"""The sentence beside the intervals: how often the self-check found the ranges holding the
truth, for the case's lender type or over every checked case, and under an approach whose own
ranges held it less often (``overdue.serve.coverage``)."""

LIMITS: Final[dict[str, dict[str, str]]] = {
    "simulated": {
        "zh": "注意：本模型是用随附的模拟样本数据训练的，不是真实案件。这里的数字只用于演示和试用，"
        "不能作为真实咨询的依据。",
        "en": "Note: this model was trained on the bundled simulated sample, not on real cases. "
        "Its numbers are for demonstration and trying the tool out, not for advising a real "
        "client.",
    },
    "period": {
        "zh": "数据期间：首次协商日期 {start} 至 {end} 的案件。",
        "en": "Data period: cases first contacted from {start} to {end}.",
    },
    "sources": {
        "zh": "数据来源：{files}（共 {cases} 件案件）。",
        "en": "Data source: {files} ({cases} cases).",
    },
    "policies": {
        "zh": "估计描述的是过去的类似案件；机构的政策会变化，今天的结果可能不同。",
        "en": "Estimates describe past cases like this one; lenders' policies change, so today's "
        "outcome may differ.",
    },
    "version": {
        "zh": "模型 {version}，训练于 {date}（运行 {run}）。",
        "en": "Model {version}, trained on {date} (run {run}).",
    },
}
"""The limits box beside every estimate (``overdue.serve.limits``)."""

HTTP_ERRORS: Final[dict[str, dict[str, str]]] = {
    "not_found": {"zh": "没有这个地址", "en": "not found"},
    "method_not_allowed": {"zh": "此地址不接受这种请求方法", "en": "method not allowed"},
    "http_error": {"zh": "请求无法处理", "en": "the request cannot be handled"},
    "too_large": {"zh": "请求内容太大", "en": "request body too large"},
    "rate_limited": {"zh": "请求过多，请稍后再试", "en": "too many requests"},
}
"""The messages of refusals made before a request reaches a route, by their ``reason``."""


def http_error(reason: str, lang: str) -> dict[str, str]:
    """One problem of a refusal made before any route (``HTTP_ERRORS``), in ``lang``."""
    field = {"too_large": "body", "rate_limited": "client"}.get(reason, "path")
    return {"field": field, "message": HTTP_ERRORS[reason][lang], "reason": reason}


ERRORS: Final[dict[str, dict[str, str]]] = {
    "missing": {"zh": "必填", "en": "is required"},
    "extra_forbidden": {
        "zh": "第 {position} 个字段不是案件记录合同中的字段",
        "en": "key no. {position} is not a field of the case-record contract",
    },
    "duplicate": {
        "zh": "给了两次（英文名和中文名各一次）：只保留一个",
        "en": "is given twice (by its English and its Chinese name): keep one",
    },
    "literal_error": {"zh": "只能是：{expected}", "en": "must be one of: {expected}"},
    "greater_than_equal": {"zh": "不能小于 {ge}", "en": "must be at least {ge}"},
    "greater_than": {"zh": "必须大于 {gt}", "en": "must be greater than {gt}"},
    "less_than_equal": {"zh": "不能大于 {le}", "en": "must be at most {le}"},
    "less_than": {"zh": "必须小于 {lt}", "en": "must be less than {lt}"},
    "int_parsing": {"zh": "必须是整数", "en": "must be a whole number"},
    "int_from_float": {"zh": "必须是整数", "en": "must be a whole number"},
    "int_type": {"zh": "必须是整数", "en": "must be a whole number"},
    "float_parsing": {"zh": "必须是数字", "en": "must be a number"},
    "float_type": {"zh": "必须是数字", "en": "must be a number"},
    "finite_number": {"zh": "必须是有限的数字", "en": "must be a finite number"},
    "bool_parsing": {"zh": "必须是 是/否", "en": "must be yes/no (true/false, 是/否)"},
    "bool_type": {"zh": "必须是 是/否", "en": "must be yes/no (true/false, 是/否)"},
    "string_type": {"zh": "必须是文字", "en": "must be text"},
    "string_too_long": {
        "zh": "最多 {max_length} 个字符",
        "en": "must have at most {max_length} characters",
    },
    "string_too_short": {
        "zh": "至少 {min_length} 个字符",
        "en": "must have at least {min_length} characters",
    },
    "string_pattern_mismatch": {
        "zh": "格式不对：只能用字母、数字、- 和 _",
        "en": "may hold only letters, digits, - and _",
    },
    "date_parsing": {"zh": "必须是日期，如 2026-01-31", "en": "must be a date such as 2026-01-31"},
    "date_from_datetime_parsing": {
        "zh": "必须是日期，如 2026-01-31",
        "en": "must be a date such as 2026-01-31",
    },
    "date_type": {"zh": "必须是日期，如 2026-01-31", "en": "must be a date such as 2026-01-31"},
    "json_invalid": {"zh": "请求内容不是有效的 JSON", "en": "the request body is not valid JSON"},
    "model_type": {
        "zh": "请求内容必须是一个 JSON 对象",
        "en": "the request body must be one JSON object",
    },
    "dict_type": {
        "zh": "请求内容必须是一个 JSON 对象",
        "en": "the request body must be one JSON object",
    },
    "pii": {
        "zh": "疑似个人信息（{kind}），已拒绝；请删除后再提交",
        "en": "looks like personal data ({kind}) and was refused; remove it and submit again",
    },
    "too_deep": {"zh": "请求内容嵌套过深", "en": "the request body is nested too deeply"},
    "media_type": {
        "zh": "请求内容必须以 JSON 发送（Content-Type: application/json）",
        "en": "the request body must be sent as JSON (Content-Type: application/json)",
    },
    "invalid": {"zh": "值无效", "en": "is not a valid value"},
}

RULE_ERRORS: Final[dict[str, dict[str, str]]] = {
    "first_contact_before_overdue": {
        "zh": "首次协商日期不能早于逾期开始日期",
        "en": "the first contact cannot come before the debt fell overdue",
    },
    "penalty_exceeds_balance": {
        "zh": "罚息不能大于欠款总额（罚息包含在欠款总额中）",
        "en": "penalty interest and fees cannot exceed the outstanding balance that includes them",
    },
    "upfront_exceeds_balance": {
        "zh": "首付金额不能大于欠款总额",
        "en": "the upfront payment cannot exceed the outstanding balance",
    },
    "contact_after_days_overdue": {
        "zh": "逾期后首次联系天数不能大于首次协商时的逾期天数",
        "en": "the days to first contact cannot exceed the days overdue at that contact",
    },
}
"""Messages of the contract's cross-field rules a case can break (``contract.RULES``), shown
beside every field the rule names."""

PII_KINDS: Final[dict[str, dict[str, str]]] = {
    "resident_id": {"zh": "身份证号", "en": "resident ID"},
    "mobile": {"zh": "手机号", "en": "mobile number"},
    "bank_card": {"zh": "银行卡号", "en": "bank card"},
    "email": {"zh": "邮箱", "en": "email address"},
}


def text(key: str, lang: str) -> str:
    """One string of the page or the service in ``lang``."""
    return TEXT[key][lang]


def interval_check_text(key: str, lang: str, **values: object) -> str:
    """One sentence of ``INTERVAL_CHECK`` in ``lang``, its placeholders filled."""
    return INTERVAL_CHECK[key][lang].format(**values)


DRIVER_VALUES: Final[dict[str, dict[str, str]]] = {
    "documents": {"zh": "{n} 种材料", "en": "{n} documents"},
    "yes": {"zh": "有", "en": "yes"},
    "no": {"zh": "没有", "en": "no"},
    "days": {"zh": "{n} 天", "en": "{n} days"},
    "balance": {"zh": "欠款 {amount} 元", "en": "owes {amount} CNY"},
    "income": {
        "zh": "月收入 {income} 元，必要支出 {expenses} 元",
        "en": "income {income}, essential expenses {expenses} CNY a month",
    },
    "lenders": {"zh": "{n} 家机构逾期", "en": "overdue with {n} lenders"},
}
"""How the value behind a driver is said (``overdue.serve.drivers``)."""


def driver_value_text(key: str, lang: str, **values: object) -> str:
    """One phrase of ``DRIVER_VALUES`` in ``lang``, its placeholders filled."""
    return DRIVER_VALUES[key][lang].format(**values)


HARDSHIP_PROOF: Final[dict[str, dict[str, str]]] = {
    "job_loss": {
        "zh": "失业证明（离职证明或失业登记证明）",
        "en": "proof of the job loss (leaving certificate or unemployment registration)",
    },
}
"""Proof of a hardship that is not one of the contract's documents, suggested by advice."""


def hardship_proof(reason: object, lang: str) -> str:
    """The proof of hardship ``reason`` to suggest, in ``lang`` (``HARDSHIP_PROOF``)."""
    return HARDSHIP_PROOF[str(reason)][lang]


def limits_text(key: str, lang: str, **values: object) -> str:
    """One sentence of ``LIMITS`` in ``lang``, its placeholders filled."""
    return LIMITS[key][lang].format(**values)


def page_text(lang: str) -> dict[str, str]:
    """Every string of the page in ``lang``, for the page's script (``TEXT`` and the advising
    parts' words, ``ADVISING``)."""
    return {**in_language(ADVISING, lang), **in_language(TEXT, lang)}


def hint(field_name: str, lang: str) -> str:
    """The help line under a form field in ``lang``; empty when the field has none."""
    texts = HINTS.get(field_name)
    return texts[lang] if texts else ""


def driver_labels(lang: str) -> dict[str, str]:
    """Names of the driver groups in ``lang``, by group."""
    return in_language(DRIVER_LABELS, lang)


def pii_kind_label(kind: str, lang: str) -> str:
    """A kind of personal data (``mobile``, ``email``...) in ``lang``; unknown kinds as given."""
    texts = PII_KINDS.get(kind)
    return texts[lang] if texts else kind


def pick_lang(query: str | None, accept_language: str | None) -> str:
    """``?lang=`` first, then the first supported language of ``Accept-Language``; else zh."""
    if query in LANGS:
        return query
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return DEFAULT_LANG


def field_label(name: str, lang: str) -> str:
    """A field's name for people: the contract's Chinese alias, or English."""
    field = FIELD_BY_NAME.get(name)
    if field is None:
        return name
    return field.zh if lang == "zh" else FIELD_EN.get(name, name.replace("_", " "))


def value_label(field_name: str, code: str, lang: str) -> str:
    """A category value for people: the contract's Chinese alias, or English."""
    if lang == "zh":
        return FIELD_BY_NAME[field_name].values.get(code, code)
    return VALUE_EN.get(code, code.replace("_", " "))


def _allowed(field_name: str, lang: str) -> str:
    field = FIELD_BY_NAME.get(field_name)
    if field is None or not field.values:
        return ""
    if lang == "zh":
        return "、".join(
            f"{zh}（{code}）" if zh != code else code for code, zh in field.values.items()
        )
    return ", ".join(field.values)


RATE_HINT: Final = {"zh": "（18% 写作 18% 或 0.18，不写 18）", "en": " (write 18% as 18% or 0.18)"}
"""Added to a rate's range or number error: the usual slip is a percent without its sign."""


def _bound(value: int | float | str) -> int | float | str:
    """A bound as people write it: ``1,000,000`` rather than ``1000000.0``, ``1`` not ``1.0``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) and abs(value) >= 10_000 else value


def error_message(kind: str, field_name: str, lang: str, context: dict[str, Any] | None) -> str:
    """One validation problem in ``lang``; ``context`` holds the rule's bounds, never the input."""
    values = {k: _bound(v) for k, v in (context or {}).items() if isinstance(v, int | float | str)}
    if kind == "rule":
        rule = RULE_ERRORS.get(str(values.get("rule")))
        return rule[lang] if rule else ERRORS["invalid"][lang]
    if kind == "literal_error":
        values["expected"] = _allowed(field_name, lang) or str(values.get("expected", ""))
    try:
        message = ERRORS.get(kind, ERRORS["invalid"])[lang].format(**values)
    except (KeyError, IndexError, ValueError):
        return ERRORS["invalid"][lang]
    rate_slip = field_name == "annual_rate" and kind in ("less_than_equal", "float_parsing")
    return message + RATE_HINT[lang] if rate_slip else message


ADVISING: Final[dict[str, dict[str, str]]] = {
    "plan_note": {
        "zh": "各方案的概率假设申请的还款计划与以往申请该方案的案件相近（见“典型计划”），"
        "不随上面填写的申请期数、月供和首付改变。",
        "en": "Each approach's chance assumes a plan like those past cases proposed under it "
        "(see 'typical plan'); it does not change with the term, payment and upfront typed in "
        "above.",
    },
    "kept_column": {
        "zh": "12 个月后仍在履约（若达成）",
        "en": "Still kept at 12 months (if agreed)",
    },
    "kept_note": {
        "zh": "“12 个月后仍在履约”：达成协议的以往类似案件中，计划 12 个月后仍在按期履行"
        "（或已还清）的估计比例；尚未跟踪满 12 个月的案件按逆概率加权计入。"
        "其区间只含抽样误差，比达成概率的区间更窄、更不保守。",
        "en": "'Still kept at 12 months': among similar past cases that reached an agreement, the "
        "estimated share whose plan was still being kept (or paid off) 12 months later; cases "
        "followed for less than 12 months count through inverse-probability weights. Its "
        "interval holds sampling error only: narrower and less cautious than the agreement "
        "interval.",
    },
    "plan_terms": {"zh": "{term} 期，每月 {payment} 元", "en": "{term} months at {payment} CNY"},
    "plan_lump": {"zh": "一次性还款", "en": "one lump sum"},
    "plan_lump_of": {"zh": "一次性还款 {amount} 元", "en": "one lump sum of {amount} CNY"},
    "plan_upfront": {"zh": "首付 {upfront} 元", "en": "{upfront} CNY upfront"},
    "plan_relief": {"zh": "减免约 {relief} 元", "en": "about {relief} CNY forgiven"},
    "plan_share": {"zh": "占每月结余 {share}", "en": "{share} of what is left each month"},
    "plan_rule": {
        "zh": "（以往此类计划少于 {k} 个，按通用规则：余额分 {term} 期）",
        "en": "(fewer than {k} past plans: a plain rule, the balance over {term} months)",
    },
    "affordable": {"zh": "负担得起", "en": "affordable"},
    "not_affordable": {"zh": "超出预算", "en": "beyond the budget"},
    "nothing_left": {
        "zh": "月收入不高于必要支出：没有余钱可以还款。任何承诺的月供都要从基本生活开支里挤出，"
        "这样的协议最容易违约。",
        "en": "Income does not cover essential expenses: nothing is left to pay with. Any "
        "promised payment would come out of essentials, the commonest way an agreement breaks.",
    },
    "below_margin": {
        "zh": "每月还 {payment} 元后只剩 {left_after} 元，低于应急安全余量 {margin} 元："
        "这样的计划很难坚持。",
        "en": "After paying {payment} CNY a month only {left_after} CNY is left, less than the "
        "safety margin of {margin} CNY for emergencies: a plan like this is hard to keep.",
    },
    "above_budget": {
        "zh": "月供 {payment} 元超过每月结余（收入减必要支出）{left} 元：只能靠挤占基本生活开支或"
        "再借钱来还，这样的计划很难坚持。",
        "en": "The monthly payment of {payment} CNY is more than what is left each month after "
        "essentials ({left} CNY): it could only be paid by cutting essentials or borrowing "
        "again; a plan like this is hard to keep.",
    },
    "upfront_above_savings": {
        "zh": "首付 {upfront} 元超过储蓄（约 {savings} 元）。",
        "en": "The upfront payment of {upfront} CNY is more than the savings (about {savings} "
        "CNY).",
    },
    "own_ok": {
        "zh": "所填计划每月 {payment} 元，占每月结余的 {share}，并留有应急安全余量 {margin} 元。",
        "en": "The plan typed in, {payment} CNY a month, takes {share} of what is left each "
        "month and keeps the safety margin of {margin} CNY for emergencies.",
    },
    "own_title": {"zh": "客户自己的计划", "en": "The client's own plan"},
    "margin_rule": {
        "zh": "安全余量：每月至少留出必要支出的 {share}；储蓄不足 {months} 个月必要支出时，"
        "留出足以在 {build} 个月内补足的金额。",
        "en": "Safety margin: at least {share} of essential expenses a month; while savings are "
        "below {months} months of essentials, enough to rebuild them within {build} months.",
    },
    "ranking": {"zh": "按估计概率排序：{order}。", "en": "Ranked by estimated chance: {order}."},
    "about_equal": {
        "zh": "{names}的可能性大致相当（与最高者之差的 95% 区间包含 0，数据分不出高低）。",
        "en": "{names} are about equally likely (the 95% interval of each difference from the "
        "first includes 0: the data cannot tell them apart).",
    },
    "clearly_less": {
        "zh": "{others}对本案这一阶段的债务明显可能性较低。",
        "en": "{others} clearly less likely for a debt at this stage.",
    },
    "clearly_best": {
        "zh": "{best}的可能性明显最高。",
        "en": "{best} is clearly the most likely.",
    },
    "cannot_separate": {
        "zh": "数据无法区分各方案对本案的差别。",
        "en": "The data cannot separate the approaches for this case.",
    },
    "best_unaffordable_alike": {
        "zh": "注意：{best}的典型计划超出本案预算；可能性相当、又在预算之内的有{names}。",
        "en": "Note: the typical plan of {best} does not fit this budget; about as likely and "
        "within it: {names}.",
    },
    "best_unaffordable_less": {
        "zh": "注意：{best}的典型计划超出本案预算；在预算之内的是{names}，但可能性较低。",
        "en": "Note: the typical plan of {best} does not fit this budget; within it: {names}, "
        "though less likely.",
    },
    "none_affordable": {
        "zh": "注意：没有一个方案的典型计划在本案预算之内：无论选哪种，计划都要按客户每月真正"
        "付得起的金额来拟定。",
        "en": "Note: no approach's typical plan fits this budget: whichever is chosen, the plan "
        "must be written around what the client can really pay each month.",
    },
    "not_an_order": {
        "zh": "这是估计，不是指令：选择由债务人决定。",
        "en": "This is an estimate, not an instruction: the choice is the debtor's.",
    },
    "is": {"zh": "", "en": " is"},
    "are": {"zh": "", "en": " are"},
    "what_if_title": {
        "zh": "本案还能改变什么（模型估计的变化，按增益排序）",
        "en": "What this case can still change (the model's what-if, largest gain first)",
    },
    "what_if_item": {
        "zh": "{lever}：{before} → {after}（{gain}，区间 {low} 至 {high}）",
        "en": "{lever}: {before} → {after} ({gain}, interval {low} to {high})",
    },
    "what_if_unsure": {"zh": "（差别不确定）", "en": " (the difference is uncertain)"},
    "what_if_none": {
        "zh": "模型中本案可改变的准备措施都已做到。",
        "en": "The case already does every preparation the model can weigh.",
    },
    "try": {"zh": "试一试", "en": "Try it"},
    "plan_column": {
        "zh": "典型计划（以往同类申请）",
        "en": "Typical plan (as past cases proposed)",
    },
    "recommendation_title": {"zh": "建议（以及有多确定）", "en": "Recommendation, and how sure"},
    "budget_title": {"zh": "每月预算", "en": "Monthly budget"},
    "budget_left_text": {
        "zh": "收入减必要支出后每月结余 {left} 元；计划需留出的安全余量 {margin} 元。",
        "en": "Left each month after essential expenses: {left} CNY; the safety margin a plan "
        "must keep: {margin} CNY.",
    },
    "change": {"zh": "变化", "en": "change"},
    "compare_title": {"zh": "改动前后对比", "en": "Before and after the change"},
    "compare_changed": {"zh": "改动：{fields}", "en": "Changed: {fields}"},
    "before": {"zh": "改动前", "en": "before"},
    "after": {"zh": "改动后", "en": "after"},
    "lever_proof": {"zh": "带上{doc}", "en": "bring the {doc}"},
    "lever_written_plan": {"zh": "准备书面还款计划", "en": "prepare a written repayment plan"},
    "lever_nonprofit_mediator": {
        "zh": "改由公益调解协助",
        "en": "get a nonprofit mediator's help instead",
    },
    "lever_documents_3plus": {
        "zh": "补齐到 3 种材料：{docs}",
        "en": "bring 3 or more documents: {docs}",
    },
    "lever_in_person": {"zh": "改为面谈", "en": "meet in person"},
    "lever_written_channel": {"zh": "改为书面协商", "en": "negotiate in writing"},
    "lever_hardship_extra": {"zh": "，并附{proof}", "en": ", with {proof}"},
}
"""What the advising parts of an estimate say: plans and affordability, the recommendation
with its uncertainty, the what-if levers (``overdue.serve.advising``)."""


def advising_text(key: str, lang: str, **values: object) -> str:
    """One phrase of ``ADVISING`` in ``lang``, its placeholders filled."""
    return ADVISING[key][lang].format(**values)
