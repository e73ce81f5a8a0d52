"""What the service says, in Chinese (default) and English.

Chinese names of fields and values come from the contract (``overdue.contract``); English names
are the contract's codes written for people. Validation messages name the field in the
request's language and never contain the submitted value.
"""

from __future__ import annotations

from typing import Any, Final

from overdue.contract import FIELD_BY_NAME
from overdue.i18n import NOTE

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
    "nonprofit_counselor": "nonprofit counselor",
    "paid_agent": "paid agent",
    "none": "none",
}

HINTS: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "monthly_income": "税后，所有来源，单位元；可写 12,000",
        "monthly_essential_expenses": "房租、饮食、赡养等必要开销",
        "emergency_fund_months": "存款够几个月生活费",
        "lenders_in_arrears": "目前逾期的机构数（多头借贷）",
        "outstanding_balance": "首次协商时欠款总额：剩余本金+利息+罚息+费用",
        "penalty_accrued": "欠款总额中的罚息和费用",
        "annual_rate": "合同年化利率，可写 24% 或 0.24",
        "days_overdue_at_contact": "首次协商时已逾期的天数",
        "days_to_first_contact": "不填则等于逾期天数",
        "attitude_score": "顾问对诚意与配合程度的评分，5 为最好",
        "approach": "债务人打算向机构申请的方案；下方会比较全部六种方案",
        "region": "省级名称，例如 广东",
        "documents": "债务人将带去协商的材料",
    },
    "en": {
        "monthly_income": "after tax, all sources, in CNY; 12,000 is fine",
        "monthly_essential_expenses": "rent, food, care of dependents",
        "emergency_fund_months": "how many months of living costs savings cover",
        "lenders_in_arrears": "lenders the debtor is overdue with now",
        "outstanding_balance": "owed at first contact: principal, interest, penalties, fees",
        "penalty_accrued": "penalty interest and fees inside the outstanding balance",
        "annual_rate": "contractual APR: 24% or 0.24",
        "days_overdue_at_contact": "days overdue when the negotiation starts",
        "days_to_first_contact": "left empty: the days overdue",
        "attitude_score": "counselor's coding of sincerity and cooperation, 5 = most",
        "approach": "what the debtor plans to ask for; all six approaches are compared below",
        "region": "province-level name, e.g. Guangdong",
        "documents": "documents the debtor will bring to the negotiation",
    },
}

DRIVERS: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "documents": "携带的材料",
        "written_plan": "书面还款计划",
        "contact_timing": "联系时机",
        "professional_help": "专业协助",
        "channel": "协商渠道与发起方",
        "attitude": "沟通态度",
        "days_overdue": "逾期时长与催收阶段",
        "debt_burden": "债务负担",
        "income": "收入与支出",
        "hardship": "逾期原因",
        "lender": "机构类型与利率",
        "other_debts": "其他逾期债务",
    },
    "en": {
        "documents": "documents brought",
        "written_plan": "written repayment plan",
        "contact_timing": "timing of contact",
        "professional_help": "professional help",
        "channel": "channel and who initiated",
        "attitude": "attitude",
        "days_overdue": "days overdue and collection stage",
        "debt_burden": "debt burden",
        "income": "income and expenses",
        "hardship": "reason for falling behind",
        "lender": "lender type and rate",
        "other_debts": "other overdue debts",
    },
}

TEXT: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "title": "逾期协商评估",
        "subtitle": "输入债务人的情况，查看每种协商方案在类似案件中达成协议的可能性。",
        "promise": NOTE["zh"],
        "switch": "English",
        "situation": "债务人情况",
        "debt": "债务",
        "actions": "协商准备",
        "documents": "携带材料",
        "submit": "评估",
        "token": "访问令牌",
        "token_hint": "服务设置了访问令牌：请向管理员索取",
        "results": "各方案达成协议的估计概率",
        "approach": "方案",
        "estimate": "估计概率",
        "interval": "95% 区间",
        "vs_planned": "与计划方案相比",
        "similar": "类似案件数",
        "warning": "提示",
        "thin": "数据较少：类似案件中很少有人申请此方案，估计主要依赖模型",
        "planned": "（计划）",
        "drivers": "主要影响因素（与典型案件相比）",
        "advice": "可以提高机会的准备",
        "no_advice": "已测得的准备措施中，没有可给出的建议。",
        "model": "模型",
        "run": "运行",
        "error": "请检查以下内容：",
        "failed": "评估失败，请稍后再试。",
        "yes": "是",
        "no": "否",
        "empty": "（不填）",
        "chart_x": "达成协议的估计概率",
        "raises": "提高",
        "lowers": "降低",
        "points": "个百分点",
        "busy": "请求过多，请稍后再试。",
        "unauthorized": "访问令牌无效。",
    },
    "en": {
        "title": "Overdue negotiation estimate",
        "subtitle": "Enter the debtor's situation and see, for each approach, how likely an "
        "agreement was in cases like this one.",
        "promise": NOTE["en"],
        "switch": "中文",
        "situation": "Debtor's situation",
        "debt": "The debt",
        "actions": "Preparation",
        "documents": "Documents brought",
        "submit": "Estimate",
        "token": "Access token",
        "token_hint": "this service needs an access token: ask its administrator",
        "results": "Estimated chance of an agreement by approach",
        "approach": "Approach",
        "estimate": "Estimate",
        "interval": "95% interval",
        "vs_planned": "vs planned approach",
        "similar": "Similar past cases",
        "warning": "Note",
        "thin": "thin data: few similar cases asked for this approach; the estimate leans on "
        "the model",
        "planned": " (planned)",
        "drivers": "Main drivers (against a typical case)",
        "advice": "Preparation that raises the chances",
        "no_advice": "No advice can be drawn from the measured preparation effects.",
        "model": "model",
        "run": "run",
        "error": "Please check:",
        "failed": "The estimate failed; please try again later.",
        "yes": "yes",
        "no": "no",
        "empty": "(empty)",
        "chart_x": "estimated chance of an agreement",
        "raises": "raises",
        "lowers": "lowers",
        "points": "percentage points",
        "busy": "Too many requests; please try again shortly.",
        "unauthorized": "The access token is not valid.",
    },
}

_ERRORS: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "missing": "必填",
        "extra_forbidden": "第 {position} 个字段不是案件记录合同中的字段",
        "literal_error": "只能是：{expected}",
        "greater_than_equal": "不能小于 {ge}",
        "greater_than": "必须大于 {gt}",
        "less_than_equal": "不能大于 {le}",
        "less_than": "必须小于 {lt}",
        "int_parsing": "必须是整数",
        "int_from_float": "必须是整数",
        "int_type": "必须是整数",
        "float_parsing": "必须是数字",
        "float_type": "必须是数字",
        "finite_number": "必须是有限的数字",
        "bool_parsing": "必须是 是/否",
        "bool_type": "必须是 是/否",
        "string_type": "必须是文字",
        "string_too_long": "最多 {max_length} 个字符",
        "string_too_short": "至少 {min_length} 个字符",
        "string_pattern_mismatch": "格式不对：只能用字母、数字、- 和 _",
        "date_parsing": "必须是日期，如 2026-01-31",
        "date_from_datetime_parsing": "必须是日期，如 2026-01-31",
        "date_type": "必须是日期，如 2026-01-31",
        "json_invalid": "请求内容不是有效的 JSON",
        "model_type": "请求内容必须是一个 JSON 对象",
        "dict_type": "请求内容必须是一个 JSON 对象",
        "pii": "疑似个人信息（{kind}），已拒绝；请删除后再提交",
        "too_deep": "请求内容嵌套过深",
        "media_type": "请求内容必须以 JSON 发送（Content-Type: application/json）",
        "invalid": "值无效",
    },
    "en": {
        "missing": "is required",
        "extra_forbidden": "key no. {position} is not a field of the case-record contract",
        "literal_error": "must be one of: {expected}",
        "greater_than_equal": "must be at least {ge}",
        "greater_than": "must be greater than {gt}",
        "less_than_equal": "must be at most {le}",
        "less_than": "must be less than {lt}",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "int_type": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "finite_number": "must be a finite number",
        "bool_parsing": "must be yes/no (true/false, 是/否)",
        "bool_type": "must be yes/no (true/false, 是/否)",
        "string_type": "must be text",
        "string_too_long": "must have at most {max_length} characters",
        "string_too_short": "must have at least {min_length} characters",
        "string_pattern_mismatch": "may hold only letters, digits, - and _",
        "date_parsing": "must be a date such as 2026-01-31",
        "date_from_datetime_parsing": "must be a date such as 2026-01-31",
        "date_type": "must be a date such as 2026-01-31",
        "json_invalid": "the request body is not valid JSON",
        "model_type": "the request body must be one JSON object",
        "dict_type": "the request body must be one JSON object",
        "pii": "looks like personal data ({kind}) and was refused; remove it and submit again",
        "too_deep": "the request body is nested too deeply",
        "media_type": "the request body must be sent as JSON (Content-Type: application/json)",
        "invalid": "is not a valid value",
    },
}

PII_KIND: Final[dict[str, dict[str, str]]] = {
    "zh": {"resident_id": "身份证号", "mobile": "手机号", "bank_card": "银行卡号", "email": "邮箱"},
    "en": {
        "resident_id": "resident ID",
        "mobile": "mobile number",
        "bank_card": "bank card",
        "email": "email address",
    },
}


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


def error_message(kind: str, field_name: str, lang: str, context: dict[str, Any] | None) -> str:
    """One validation problem in ``lang``; ``context`` holds the rule's bounds, never the input."""
    templates = _ERRORS[lang]
    values = {k: v for k, v in (context or {}).items() if isinstance(v, int | float | str)}
    if kind == "literal_error":
        values["expected"] = _allowed(field_name, lang) or str(values.get("expected", ""))
    try:
        return templates.get(kind, templates["invalid"]).format(**values)
    except (KeyError, IndexError, ValueError):
        return templates["invalid"]
