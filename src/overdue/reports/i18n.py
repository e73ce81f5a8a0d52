"""Report text in Chinese and English; Chinese labels of fields and values from the contract.

Tables are key → language → text, the shape of every text table in the package (why:
``overdue.i18n``).
"""

from __future__ import annotations

from typing import Final

from overdue.contract import FIELD_BY_NAME, RULES
from overdue.i18n import LANGS, Lang
from overdue.serve.i18n import DRIVER_LABELS, PII_KINDS

__all__ = ["LANGS", "Lang"]

TEXT: Final[dict[str, dict[Lang, str]]] = {
    "title": {"zh": "协商方案效果报告", "en": "Which negotiation approaches work"},
    "all_reports": {"zh": "全部报告", "en": "All reports"},
    "other_language": {"zh": "English", "en": "中文"},
    "contents": {"zh": "目录", "en": "Contents"},
    "sec_data": {"zh": "数据", "en": "Data"},
    "sec_success": {"zh": "各类情况的成功率", "en": "Success rates"},
    "sec_effects": {"zh": "方案效果(模型调整后)", "en": "Approach effects (adjusted)"},
    "sec_heatmap": {"zh": "方案 × 人群", "en": "Approach × segment"},
    "sec_overlap": {"zh": "重叠性警告", "en": "Overlap warnings"},
    "sec_naive": {"zh": "观察值与调整值对比", "en": "Observed beside adjusted"},
    "sec_sensitivity": {
        "zh": "对未观测混杂因素的敏感性",
        "en": "Sensitivity to unmeasured confounding",
    },
    "sec_sustained": {"zh": "持续履约(6 与 12 个月)", "en": "Sustained success (6 and 12 months)"},
    "sec_quality": {"zh": "模型质量", "en": "Model quality"},
    "sec_drivers": {"zh": "成功的驱动因素", "en": "Drivers of success"},
    "sec_changes": {"zh": "与上次运行相比的变化", "en": "What changed since the previous run"},
    "sec_methods": {"zh": "方法与注意事项", "en": "Methods and caveats"},
    "provenance": {"zh": "来源", "en": "Provenance"},
    "run_id": {"zh": "运行编号", "en": "Run id"},
    "snapshot": {"zh": "数据快照", "en": "Data snapshot"},
    "model_version": {"zh": "模型版本", "en": "Model version"},
    "generated_at": {"zh": "生成时间", "en": "Generated at"},
    "k_rule": {"zh": "小样本阈值 k", "en": "Small-cell threshold k"},
    "languages": {"zh": "语言", "en": "Languages"},
    "date": {"zh": "日期", "en": "Date"},
    "no_model": {
        "zh": "尚无训练好的模型:请先运行 `overdue train`。本节暂无内容。",
        "en": "No trained model yet: run `overdue train`. This section has nothing to show.",
    },
    "no_previous": {
        "zh": "只有一次训练运行,暂无可比较的上次运行。",
        "en": "Only one training run so far: there is no previous run to compare with.",
    },
    # key findings (overdue.reports.findings) and what changed
    "sec_findings": {"zh": "主要发现", "en": "Key findings"},
    "simulated_banner": {
        "zh": "注意:本报告的数据是模拟数据(随附的样本或模拟器生成),不是真实案例。数字只说明"
        "报告如何运作,不代表真实的债务人与债权人。",
        "en": "Note: these data are simulated (the bundled sample or the simulator's output), "
        "not real cases. The numbers show how the report works, not how real debtors and "
        "lenders behave.",
    },
    "findings_intro": {
        "zh": "以下各条均由下方各节的数字自动算出:调整后的成功率与 95% 区间;方案与平均方案相比、"
        "准备措施与其参照水平相比的差值及该差值自身的 95% 区间;少于 k 个案例的格子不作为发现。",
        "en": "Each line is computed from the sections below: adjusted agreement rates with 95% "
        "intervals; each approach against the average approach and each preparation lever "
        "against its reference level, with the 95% interval of that difference itself; no "
        "finding rests on a cell of fewer than k cases.",
    },
    "findings_what": {
        "zh": "哪些方案与准备措施让达成协议更有可能",
        "en": "Which approaches and preparation levers make agreement more likely",
    },
    "finding_higher": {
        "zh": "{label}:达成协议更有可能。调整后成功率 {rate}({low} 至 {high}),"
        "与{against}相比 {diff}({dlow} 至 {dhigh})。可信程度:{sure}。",
        "en": "{label}: agreement more likely. Adjusted rate {rate} ({low} to {high}), "
        "{diff} against {against} ({dlow} to {dhigh}). How sure: {sure}.",
    },
    "finding_lower": {
        "zh": "{label}:达成协议的可能更小。调整后成功率 {rate}({low} 至 {high}),"
        "与{against}相比 {diff}({dlow} 至 {dhigh})。可信程度:{sure}。",
        "en": "{label}: agreement less likely. Adjusted rate {rate} ({low} to {high}), "
        "{diff} against {against} ({dlow} to {dhigh}). How sure: {sure}.",
    },
    "findings_unclear": {
        "zh": "与比较对象没有明确差别(差值的区间包含 0):",
        "en": "No clear difference from the comparison (the difference's interval includes 0):",
    },
    "findings_none_clear": {
        "zh": "没有哪个方案或准备措施与其比较对象有明确差别。",
        "en": "No approach or lever differs clearly from its comparison.",
    },
    "findings_no_contrasts": {
        "zh": "本次运行没有保存差值的区间(在敏感性分析之前训练),或所有差值都因样本太少而隐藏;"
        "请看下方的调整后成功率。",
        "en": "This run stored no intervals of differences (trained before the sensitivity "
        "analysis), or every difference rests on too few cases; see the adjusted rates below.",
    },
    "against_average": {"zh": "平均方案", "en": "the average approach"},
    "points": {"zh": "{value} 个百分点", "en": "{value} points"},
    "sure_robust": {
        "zh": "稳健(即使有与最强已测因素同样强的未观测混杂,区间也不会触及 0)",
        "en": "robust (a hidden confounder as strong as the strongest measured factor would "
        "not bring its interval to zero)",
    },
    "sure_fragile": {
        "zh": "脆弱(与最强已测因素同样强的未观测混杂就可能让区间触及 0)",
        "en": "fragile (a hidden confounder as strong as the strongest measured factor could "
        "bring its interval to zero)",
    },
    "sure_unclear": {"zh": "不明确", "en": "unclear"},
    "sure_not_benchmarked": {
        "zh": "未做未观测混杂检验",
        "en": "not checked against hidden confounding",
    },
    "sure_not_estimable": {"zh": "敏感性无法估计", "en": "sensitivity not estimable"},
    "findings_whom": {"zh": "对哪些人群不同", "en": "For whom they differ"},
    "finding_subgroup": {
        "zh": "{label}(按{family}):{high_group} {high}({high_low} 至 {high_high}),"
        "{low_group} {low}({low_low} 至 {low_high}),两个区间不重叠。",
        "en": "{label} by {family}: {high_group} {high} ({high_low} to {high_high}) against "
        "{low_group} {low} ({low_low} to {low_high}); the intervals do not overlap.",
    },
    "findings_whom_none": {
        "zh": "没有哪两个人群的调整后成功率差到区间不重叠。",
        "en": "No two subgroups have adjusted rates that differ beyond their intervals.",
    },
    "findings_whom_note": {
        "zh": "只列出 95% 区间不重叠的人群(保守的判断:每个人群差值的区间未保存);"
        "重叠性不足的格子(可比案例太少,估计主要依赖模型)不列入。",
        "en": "Only subgroups whose 95% intervals do not overlap are listed (a conservative "
        "reading: the interval of each subgroup difference is not stored); cells with thin "
        "overlap (too few comparable cases: the rate leans on the models) are left out.",
    },
    "evidence": {"zh": "依据", "en": "evidence"},
    "data_at_end": {
        "zh": "数据与导入细节在本页末尾。",
        "en": "Data and ingest details are at the end of the page.",
    },
    "moved_title": {
        "zh": "估计值移动超过其区间宽度的效果",
        "en": "Effects whose estimate moved by more than its interval's width",
    },
    "moved_none": {
        "zh": "没有效果的估计值移动超过其区间宽度。",
        "en": "No effect's estimate moved by more than its interval's width.",
    },
    "moved_note": {
        "zh": "宽度取两次运行中较宽的 95% 区间;只比较两次都未隐藏的效果。",
        "en": "The width is that of the wider of the two runs' 95% intervals; only effects shown "
        "in both runs are compared.",
    },
    "moved_subgroups": {
        "zh": "{n} 个人群中的效果移动超过其区间宽度(点击展开)",
        "en": "{n} subgroup effects moved by more than their interval's width (open)",
    },
    "previous_estimate": {"zh": "上次估计(区间)", "en": "Previous estimate (interval)"},
    "latest_estimate": {"zh": "本次估计(区间)", "en": "Latest estimate (interval)"},
    "sources_title": {"zh": "数据来源文件的变化", "en": "Source files added or removed"},
    "sources_added": {"zh": "新增", "en": "added"},
    "sources_removed": {"zh": "移除", "en": "removed"},
    "sources_same": {
        "zh": "两次运行使用的来源文件相同。",
        "en": "Both runs learnt from the same source files.",
    },
    "sources_unknown": {
        "zh": "有一次运行没有记录其来源文件(模型包缺失或较旧),无法比较。",
        "en": "A run did not record its source files (its bundle is missing or older): they "
        "cannot be compared.",
    },
    "snapshot_differs": {
        "zh": "注意:模型训练之后数据已变化(快照不同);模型部分不显示人数。",
        "en": "Note: the data changed after the model was trained (different snapshot); the "
        "model sections show no counts.",
    },
    "suppressed": {"zh": "已隐藏", "en": "suppressed"},
    "suppressed_note": {
        "zh": "“已隐藏”:少于 k 个案例,或为防止由合计推算而一并隐藏。",
        "en": "'suppressed': fewer than k cases, or hidden so that another hidden cell cannot "
        "be worked out from the totals.",
    },
    "lender_filter": {"zh": "机构类型", "en": "Lender type"},
    "period_filter": {"zh": "时期(首次协商年份)", "en": "Period (year of first contact)"},
    "all": {"zh": "全部", "en": "all"},
    "cases": {"zh": "案例数", "en": "cases"},
    "labelled": {"zh": "已有结果", "en": "labelled"},
    "pending": {"zh": "进行中", "en": "pending"},
    "success_rate": {"zh": "达成协议比例", "en": "agreement rate"},
    "interval": {"zh": "95% 区间", "en": "95% interval"},
    "estimate": {"zh": "估计值", "en": "estimate"},
    "batches": {"zh": "导入批次", "en": "Batches"},
    "batch": {"zh": "批次", "en": "batch"},
    "file": {"zh": "文件", "en": "file"},
    "format": {"zh": "格式", "en": "format"},
    "status": {"zh": "状态", "en": "status"},
    "finished_at": {"zh": "完成时间", "en": "finished"},
    "rows_read": {"zh": "读取行数", "en": "rows read"},
    "rows_loaded": {"zh": "载入行数", "en": "loaded"},
    "rows_quarantined": {"zh": "隔离行数", "en": "quarantined"},
    "rows_replaced": {"zh": "重复替换", "en": "replaced duplicates"},
    "rows_skipped": {"zh": "按映射跳过", "en": "skipped by mapping"},
    "cases_superseded": {"zh": "被新版本替换", "en": "superseded"},
    "total": {"zh": "合计", "en": "total"},
    "quarantine_reasons": {"zh": "隔离原因(行数)", "en": "Quarantine reasons (rows)"},
    "reason": {"zh": "原因", "en": "reason"},
    "rows": {"zh": "行数", "en": "rows"},
    "coverage": {"zh": "字段填写率", "en": "Coverage of each field"},
    "coverage_axis": {"zh": "已填写比例", "en": "share filled in"},
    "period": {"zh": "时期", "en": "Period"},
    "by_month": {"zh": "按首次协商月份的案例数", "en": "Cases by month of first contact"},
    "month": {"zh": "月份", "en": "month"},
    "no_quarantine": {"zh": "没有被隔离的行。", "en": "No rows were quarantined."},
    "counts": {"zh": "案例总数", "en": "Case counts"},
    "effects_overall": {
        "zh": "若所有案例都申请该方案时的达成率(全体)",
        "en": "Agreement rate had every case asked for the approach (everyone)",
    },
    "effects_levers": {
        "zh": "准备工作:专业协助、材料、书面计划、尽早联系",
        "en": "Preparation: professional help, documents, written plan, early contact",
    },
    "effects_subgroups": {"zh": "各人群中的方案效果", "en": "Approach effects per subgroup"},
    "family": {"zh": "人群划分", "en": "Subgroups by"},
    "heatmap_note": {
        "zh": "颜色:模型调整后的达成率;× 为已隐藏;! 为重叠性不足(见下节)。",
        "en": "Colour: adjusted agreement rate; × marks a suppressed cell, ! thin overlap "
        "(see the next section).",
    },
    "overlap_none": {"zh": "没有重叠性警告。", "en": "No overlap warnings."},
    "naive_title": {
        "zh": "各方案与准备工作:观察到的达成率与调整后的达成率",
        "en": "Observed and adjusted agreement rate of each approach and preparation level",
    },
    "naive_rate": {"zh": "观察到的达成率", "en": "observed rate"},
    "adjusted": {"zh": "调整后", "en": "adjusted"},
    "removed": {
        "zh": "调整去除的部分(观察值 − 调整值)",
        "en": "removed by adjustment (observed − adjusted)",
    },
    "naive_note": {
        "zh": "观察到的达成率:实际选择该方案(或该准备方式)的案例中达成协议的比例。调整后的达成率:"
        "若所有案例都如此选择时的估计达成率,已考虑选择之前的情况(逾期天数、负债收入比等)。"
        "两者之差是调整归因于“谁做了这个选择”而非选择本身的部分;正值表示这些案例本来就更容易达成协议。"
        "空心标记:重叠性不足(见“重叠性警告”)。",
        "en": "Observed rate: the share of the cases that took the approach (or preparation) "
        "and agreed. Adjusted rate: the estimated rate had every case taken it, allowing for "
        "what came before the choice (days overdue, debt-to-income and more). Their "
        "difference is what adjustment puts down to who made the choice rather than to the "
        "choice; positive means those cases would have agreed more often anyway. Open "
        "markers: thin overlap (see the overlap warnings).",
    },
    "naive_missing": {
        "zh": "此次运行训练于保存观察达成率之前:请重新运行 `overdue train` 以显示本节。",
        "en": "This run was trained before observed rates were stored: run `overdue train` "
        "again to fill this section.",
    },
    "contrast": {"zh": "对比", "en": "contrast"},
    "contrast_difference": {"zh": "达成率差异", "en": "difference in agreement rate"},
    "rv": {"zh": "稳健值 RV(估计归零)", "en": "RV (estimate to zero)"},
    "rva": {"zh": "稳健值 RVa(区间触及零)", "en": "RVa (interval to zero)"},
    "benchmark": {
        "zh": "最强的已观测变量组(对结果 / 对选择)",
        "en": "strongest observed group (on the outcome / on the choice)",
    },
    "not_benchmarked": {"zh": "未比较", "en": "not compared"},
    "verdict": {"zh": "结论", "en": "verdict"},
    "sensitivity_note": {
        "zh": "RV:一个未观测的混杂因素若同时解释达成结果与该选择中协变量未能解释部分的这一比例,"
        "就足以使估计归零;RVa:足以使 95% 区间触及零。括号中为最强的一组已观测变量"
        "(从模型中去掉后重新估计)所解释的比例:若 RVa 不超过它,一个同等强度的未观测因素"
        "就可能推翻结论。这些数字只说明需要多强的混杂,不能说明这样的混杂是否存在。",
        "en": "RV: the share of what the covariates leave unexplained of both agreement and "
        "the choice that a hidden confounder would have to explain to bring the estimate to "
        "zero; RVa: to bring its 95% interval to zero. In brackets: the shares the strongest "
        "group of observed covariates explains (refitted without it); where RVa is not above "
        "them, a hidden confounder as strong could undo the finding. The numbers say how "
        "strong a confounder would have to be, not whether one exists.",
    },
    "sensitivity_missing": {
        "zh": "此次运行训练于保存敏感性分析之前,暂无内容:请重新运行 `overdue train`。",
        "en": "None: this run was trained before the sensitivity analysis was stored; run "
        "`overdue train` again.",
    },
    "sensitivity_empty": {
        "zh": "没有可公布的对比:每个对比涉及的各组都须至少有 k 个案例,且其调整后的达成率已公布。",
        "en": "No contrast to show: each must rest on at least k cases of every level it "
        "weighs, whose adjusted rates are shown.",
    },
    "sec_refutations": {"zh": "反驳检验", "en": "Refutation tests"},
    "refutation_test": {"zh": "检验", "en": "test"},
    "refutation_result": {"zh": "结果", "en": "result"},
    "refutation_passed": {"zh": "通过", "en": "passed"},
    "refutation_failed": {"zh": "未通过", "en": "failed"},
    "refutation_not_run": {"zh": "未进行", "en": "not run"},
    "refutation_not_available": {"zh": "无法进行", "en": "not available"},
    "refutations_missing": {
        "zh": "此次运行训练于保存反驳检验之前,暂无内容:请重新运行 `overdue train`。",
        "en": "None: this run was trained before the refutation tests were stored; run "
        "`overdue train` again.",
    },
    "refutations_note": {
        "zh": "各检验在至多 10,000 个已有结果的案例上用两折交叉拟合重新估计各方案与平均方案的对比。"
        "通过不能证明估计正确,只说明这些已知会出错的情形没有发生;未通过则说明估计方法本身有问题。",
        "en": "Each test refits every approach's contrast with the average approach on at most "
        "10,000 labelled cases with two folds. Passing does not prove the estimates right, "
        "only that these known ways of going wrong did not show; a failure means the method "
        "itself is in doubt.",
    },
    "sec_policy": {"zh": "按模型建议选择方案的价值", "en": "The value of following the model"},
    "policy_group": {"zh": "人群", "en": "group"},
    "policy_name": {"zh": "策略", "en": "policy"},
    "policy_model": {"zh": "评分最高的方案", "en": "best approach"},
    "policy_model_affordable": {"zh": "评分最高且负担得起的方案", "en": "best affordable"},
    "policy_value": {"zh": "按策略的达成率", "en": "agreement under the policy"},
    "policy_actual": {"zh": "实际达成率", "en": "agreement as asked"},
    "policy_gain": {"zh": "差值", "en": "difference"},
    "policy_gain_low": {"zh": "差值 95% 区间下限", "en": "difference, 95% low"},
    "policy_gain_high": {"zh": "差值 95% 区间上限", "en": "difference, 95% high"},
    "policy_missing": {
        "zh": "此次运行训练于保存策略价值之前,暂无内容:请重新运行 `overdue train`。",
        "en": "None: this run was trained before the policy value was stored; run "
        "`overdue train` again.",
    },
    "policy_empty": {
        "zh": "没有可公布的结果:每一行都须至少有 k 个案例、k 个按建议申请的案例、"
        "k 个达成和 k 个未达成。",
        "en": "Nothing to show: each row must rest on at least k cases, k that asked for the "
        "advised approach, k agreements and k refusals.",
    },
    "policy_note": {
        "zh": "在模型从未见过的最新 {cases} 个案例上评估(模型只用较早的案例训练):若每个案例都申请"
        "模型评分最高的方案,达成率会是多少,与债务人实际申请的方案相比。用双重稳健估计"
        "(交叉拟合的 AIPW),区间来自逐案差值。“负担得起”:只在典型还款计划不超出该案例"
        "预算的方案中选择,只计至少有一个这样方案的案例。不足 k 个案例、k 个按建议申请、"
        "k 个达成或 k 个未达成的人群不列出。",
        "en": "Evaluated on the newest {cases} cases, which the model never saw (it is trained "
        "on older ones): the agreement rate had every case asked for the approach the model "
        "rates highest for it, against what debtors actually asked for. Doubly robust "
        "(cross-fitted AIPW); the difference's interval from the per-case differences. "
        "Affordable: chosen among the approaches whose typical plan the case's budget bears, "
        "over the cases with at least one. A group with fewer than k cases, k that asked for "
        "the advised approach, k agreements or k refusals is not listed.",
    },
    "overlap_intro": {
        "zh": "以下组合中,申请该方案的案例太少,或超过 10% 的案例几乎不可能申请该方案;"
        "其估计更依赖模型外推,请谨慎解读。",
        "en": "In these cells few cases asked for the approach, or more than 10% of the cases "
        "had almost no chance of asking for it: the estimate leans on the model's "
        "extrapolation. Read it with care.",
    },
    "treatment": {"zh": "选择", "en": "choice"},
    "level": {"zh": "取值", "en": "level"},
    "subgroup": {"zh": "人群", "en": "subgroup"},
    "low_propensity": {"zh": "低倾向比例", "en": "share with low propensity"},
    "population": {"zh": "全体", "en": "everyone"},
    "survival_title": {
        "zh": "达成协议后仍在履约的比例(Kaplan-Meier,考虑删失)",
        "en": "Share of agreements still kept (Kaplan-Meier, with censoring)",
    },
    "months_since": {"zh": "达成后月数", "en": "months since agreement"},
    "kept": {"zh": "仍在履约", "en": "still kept"},
    "at_risk": {"zh": "仍在跟踪(约)", "en": "still followed (about)"},
    "sustained_at": {"zh": "持续履约率", "en": "Sustained at"},
    "as_of_month": {"zh": "取自曲线第几个月", "en": "read off the curve at month"},
    "sustained_note": {
        "zh": "每个公布的月份之前至少有 k 个计划违约;柱状图取 6 / 12 个月或之前最后一个公布的月份。"
        "没有公布月份的方案不显示。",
        "en": "Each published month follows at least k broken plans since the one before; the "
        "bars read the curve at the last published month up to 6 / 12 months. Approaches with "
        "no published month by then are not shown.",
    },
    "months": {"zh": "个月", "en": "months"},
    "roc": {"zh": "ROC 曲线(测试集)", "en": "ROC curve (test set)"},
    "reliability": {"zh": "可靠性图(测试集)", "en": "Reliability diagram (test set)"},
    "predicted": {"zh": "预测概率", "en": "predicted"},
    "observed": {"zh": "实际比例", "en": "observed"},
    "fpr": {"zh": "假阳性率", "en": "false positive rate"},
    "tpr": {"zh": "真阳性率", "en": "true positive rate"},
    "our_model": {"zh": "我们的模型", "en": "our model"},
    "baseline": {"zh": "基准(逻辑回归)", "en": "baseline (logistic regression)"},
    "metrics": {"zh": "指标(测试集)", "en": "Metrics (test set)"},
    "model": {"zh": "模型", "en": "model"},
    "calibration_error": {"zh": "校准误差 ECE", "en": "calibration error (ECE)"},
    "test_period": {"zh": "测试期", "en": "test period"},
    "model_sample": {
        "zh": "模型与效果估计基于已有结果的 {labelled:,} 个案件中按协商方式和结果分层、"
        "固定随机种子抽取的 {used:,} 个(OVERDUE_MODEL_MAX_CASES);区间和每个数字旁的案件数"
        "都来自这个样本。案件总数和描述性表格仍使用全部案件。",
        "en": "The models and effects learnt from {used:,} of the {labelled:,} labelled cases, "
        "a seeded sample stratified by approach and outcome (OVERDUE_MODEL_MAX_CASES); the "
        "intervals and the case counts beside each estimate are the sample's. Case totals and "
        "descriptive tables use every case.",
    },
    "drivers_title": {
        "zh": "打乱每组特征后对数损失增加多少(越大越重要)",
        "en": "How much the log loss grows when each group of features is shuffled "
        "(larger = more important)",
    },
    "log_loss_increase": {"zh": "对数损失增加", "en": "log loss increase"},
    "psi_title": {
        "zh": "各特征的人群稳定性指数 PSI(>0.1 值得关注,>0.25 变化较大)",
        "en": "Population stability index per feature (>0.1 worth a look, >0.25 a large shift)",
    },
    "psi_unavailable": {
        "zh": "暂无可比较的特征分布。",
        "en": "No feature distributions to compare.",
    },
    "feature": {"zh": "特征", "en": "feature"},
    "shift_title": {
        "zh": "方案效果的变化(本次减上次,全体)",
        "en": "Shift in approach effects (this run minus the previous one, everyone)",
    },
    "shift": {"zh": "变化", "en": "change"},
    "previous": {"zh": "上次", "en": "previous"},
    "latest": {"zh": "本次", "en": "this run"},
    "previous_run": {"zh": "上次运行", "en": "previous run"},
    "sc_title": {
        "zh": "自检：在本机构案例上模拟已知结果",
        "en": "Self-check: known outcomes planted on our own cases",
    },
    "sc_intro": {
        "zh": "模型在与本机构案例相似的数据上表现如何：从已有结果的案例中随机抽取一部分（保留真实的"
        "情况、准备与所申请的方案），按三种可能的规律模拟结果（真实概率已知），重新拟合模型与调整后"
        "的效果，再在最新的案例上与真实值比较。95% 区间应当约 95 次/100 次包含真实值。“放宽前”"
        "是模型自身区间的覆盖率；“所需离散度”是为使 95% 的区间包含真实值，还需在对数几率尺度上"
        "（平方和方式）加入的离散度；“放宽后”是加入离散度后的覆盖率，每种规律所用的离散度取自另外"
        "两种规律，因此不是为凑出该数字而选的。咨询页面上的区间也按这样放宽。",
        "en": "How the model fares on cases shaped like ours: on a random subsample of the "
        "labelled cases (their real situations, preparation and approaches), outcomes were drawn "
        "from three plausible patterns whose true chances are known; the model and the adjusted "
        "effects were fitted again on them and compared with the truth on the newest cases. A "
        "95% range should hold the truth about 95 times in 100. 'Before widening' is the "
        "coverage of the model's own ranges; the spread needed is the log-odds spread that, "
        "added in quadrature, would make 95% of them hold it; 'widened' is the coverage with a "
        "spread added, for each pattern the spread measured on the other two, so it is not the "
        "number the spread was chosen to hit. The ranges counselors see are widened the same "
        "way.",
    },
    "sc_size": {
        "zh": "自检在 {rows_used:,} 个案例上重新拟合（共 {rows_available:,} 个，最新的 "
        "{test_cases:,} 个用于核对），用时 {seconds:.0f} 秒。"
        "模拟规律（{surfaces}）合计所需离散度的 {share}，即 {spread}，加入完整模型的区间"
        "（这一比例是固定的，在开发用的模拟世界中选定：5 万和 20 万个案例的 28 次运行中，"
        "它使完整模型区间的覆盖率在 27 次落在 90-97%；"
        "在没有任何字段改变方案效果的世界里，20 万个案例时区间偏宽；"
        "数据显示不出方案效果因案例而异时，加倍差异的规律不计入），区间平均宽 {full}"
        "（自检中放宽后平均宽 {width}）。这些数字来自模拟的结果：它们说明区间在这些规律下是否"
        "诚实，不能证明在真实规律下也如此。",
        "en": "The self-check refitted on {rows_used:,} of {rows_available:,} cases (the newest "
        "{test_cases:,} checked) in {seconds:.0f} s. {share} of the spread the patterns "
        "({surfaces}) needed together, {spread}, widens the full model's ranges (a fixed share, "
        "chosen on the development worlds: over 28 runs at 50,000 and 200,000 cases it put the "
        "full model's ranges at 90-97% coverage in 27, too wide at 200,000 cases where no field "
        "changes how the approaches work; the doubled pattern does not count where the data show "
        "no case-to-case difference in how the approaches work); they are {full} wide on "
        "average (the self-check's widened ranges {width}). These numbers come from planted "
        "outcomes: they show whether the ranges are honest under these patterns, not that they "
        "are under the real one.",
    },
    "sc_none": {
        "zh": "本次训练没有运行自检（已关闭）。",
        "en": "This training run has no self-check (it was switched off).",
    },
    "sc_surface": {"zh": "模拟规律", "en": "planted pattern"},
    "sc_case_error": {"zh": "单案平均误差", "en": "per-case error"},
    "sc_case_coverage_unwidened": {
        "zh": "95% 区间包含真实值（放宽前）",
        "en": "95% ranges holding the truth, before widening",
    },
    "sc_spread": {"zh": "所需离散度", "en": "spread needed"},
    "sc_spread_applied": {"zh": "所加离散度", "en": "spread added"},
    "sc_case_coverage": {"zh": "放宽后包含真实值", "en": "widened: holding the truth"},
    "sc_width": {"zh": "放宽后平均宽度", "en": "widened: mean width"},
    "sc_effect_error": {"zh": "总体效果最大误差", "en": "largest population-effect error"},
    "sc_effect_coverage": {"zh": "效果区间包含真实值", "en": "effect intervals holding the truth"},
    "sc_by_lender": {
        "zh": "按机构类型（至少 k 个测试案例）：95% 区间包含真实值的比例",
        "en": "By lender type (at least k test cases): 95% ranges holding the truth",
    },
    "sc_by_approach": {
        "zh": "按方案（每个测试案例在六种方案下各算一次）：95% 区间包含真实值的比例；"
        "六种方案的平均会掩盖个别方案偏窄的区间",
        "en": "By approach (every test case under each of the six): 95% ranges holding the "
        "truth; the mean over the six hides an approach whose ranges are too narrow",
    },
    "sc_test_cases": {"zh": "测试案例数", "en": "test cases"},
    "sc_fitted": {"zh": "本模型本身", "en": "our fitted model"},
    "sc_boosted": {"zh": "梯度提升模型", "en": "a boosted model"},
    "sc_heterogeneous": {"zh": "方案差异加倍", "en": "approach differences doubled"},
    "sc_pooled": {"zh": "三者合计", "en": "all three"},
    "missing_tables": {
        "zh": "仓库中缺少以下表,相关部分未生成:",
        "en": "The warehouse lacks these tables, so their sections are empty:",
    },
    "runs_title": {"zh": "全部报告", "en": "All reports"},
    "pp": {"zh": "个百分点", "en": "pp"},
    "filter_suffix": {"zh": "(筛选)", "en": " (filter)"},
    "download_csv": {"zh": "下载表格(CSV)", "en": "Download the table (CSV)"},
    "sort_hint": {"zh": "点击列名排序。", "en": "Click a column name to sort."},
    "interval_low": {"zh": "95% 区间下限", "en": "95% interval, low"},
    "interval_high": {"zh": "95% 区间上限", "en": "95% interval, high"},
    "field": {"zh": "字段", "en": "field"},
    "flag_yes": {"zh": "是", "en": "yes"},
    "flag_no": {"zh": "否", "en": "no"},
    "thin_overlap": {"zh": "重叠性不足", "en": "thin overlap"},
    "approach": {"zh": "协商方案", "en": "approach"},
    "horizon": {"zh": "期限(月)", "en": "horizon (months)"},
    "log_loss": {"zh": "对数损失", "en": "log loss"},
    "open_marker": {
        "zh": "空心标记:重叠性不足",
        "en": "open marker: thin overlap",
    },
    "open_marker_note": {
        "zh": "空心标记:重叠性不足(见“重叠性警告”);灰色 ×:已隐藏。",
        "en": "Open markers: thin overlap (see the overlap warnings); grey crosses: suppressed.",
    },
    "heatmap_value": {"zh": "调整后达成率", "en": "adjusted agreement rate"},
    "not_filtered": {
        "zh": "本节不随上方的机构类型与时期筛选变化:模型的估计基于全部机构类型与时期。",
        "en": "This section does not follow the lender-type and period filters above: the "
        "model's estimates cover every lender type and period.",
    },
    "data_filtered": {
        "zh": "本节只有“按月份的案例数”随时期筛选变化;其余数字涵盖全部机构类型与时期。",
        "en": "Here only the cases by month follow the period filter; the other numbers cover "
        "every lender type and period.",
    },
    "filtered": {
        "zh": "本节随上方的机构类型与时期筛选变化。",
        "en": "This section follows the lender-type and period filters above.",
    },
    "open": {"zh": "打开", "en": "open"},
}

METHODS: Final[dict[str, dict[Lang, str]]] = {
    "observational": {
        "zh": "<b>观察性数据。</b>方案由债务人自行选择,而非随机分配。申请本金减免的人与申请延期的人"
        "情况不同(欠款更多、逾期更久、已被起诉),因此原始成功率混合了方案本身的作用与选择者的"
        "处境(混杂)。",
        "en": "<b>Observational data.</b> Debtors chose their approach; nobody assigned it at "
        "random. People who ask for a principal discount differ from those who ask for a "
        "deferral (bigger, older debts, lawsuits), so raw success rates mix the effect of the "
        "approach with the situation of the people who chose it (confounding).",
    },
    "success_rates": {
        "zh": "<b>成功率</b>是实际观察值:在已有结果的案例中达成协议的比例(进行中的案例不计入),"
        "附 95% Wilson 区间。它描述发生了什么,而不是某方案对另一个人会有什么效果。",
        "en": "<b>Success rates</b> are observed: agreed cases among cases with a result (pending "
        "cases are left out), with 95% Wilson intervals. They describe what happened, not what "
        "an approach would do for someone else.",
    },
    "adjusted_effects": {
        "zh": "<b>调整后的效果</b>估计“若所有案例都申请该方案”时的达成率,使用双重稳健加权(AIPW),"
        "只调整选择之前已知的信息。它消除了已测量的混杂,但无法消除未测量的因素(例如债务人的"
        "说服力)。95% 区间只反映抽样误差,不反映这类偏差。",
        "en": "<b>Adjusted effects</b> estimate the agreement rate had every case asked for each "
        "approach, by doubly robust weighting (AIPW) over what was known before the choice. "
        "They remove the confounding we measured, not what we did not measure (for example a "
        "debtor's persuasiveness). The 95% interval covers sampling error, not that bias.",
    },
    "overlap": {
        "zh": "<b>重叠性。</b>当某类人几乎没有人申请某方案时,估计依赖外推;这些格子会被标出。",
        "en": "<b>Overlap.</b> Where almost nobody like a group asks for an approach, its estimate "
        "rests on extrapolation; such cells are flagged.",
    },
    "sustained": {
        "zh": "<b>持续履约</b>按月跟踪已达成的计划;跟踪时间不足且未违约的计划视为删失,而不是失败"
        "(Kaplan-Meier)。已结清的计划始终视为履约。",
        "en": "<b>Sustained success</b> follows agreed plans month by month; a plan followed for "
        "fewer months than the horizon and not broken is censored, not counted as a failure "
        "(Kaplan-Meier). Completed plans stay kept.",
    },
    "model_quality": {
        "zh": "<b>模型质量</b>在模型从未见过的最新 20% 案例上评估,并与逻辑回归基准比较。",
        "en": "<b>Model quality</b> is measured on the newest 20% of cases, which the model never "
        "saw, against a logistic-regression baseline.",
    },
    "self_check": {
        "zh": "<b>自检。</b>真实结果没有已知的“正确答案”，所以每次训练时，在本机构已有结果的案例中"
        "随机抽取一部分，按三种可能的规律（本模型本身、梯度提升模型、方案差异加倍）给出已知的真实"
        "概率并据此模拟结果，用同样的方法重新拟合，核对单案误差、95% 区间包含真实值的比例和总体"
        "效果。这些规律是合理的猜测，不是真相；在它们上表现好不能证明方法正确，表现差则说明有问题。",
        "en": "<b>Self-check.</b> Real outcomes come with no known right answer, so each "
        "training run takes a random subsample of our labelled cases, gives them known true "
        "chances from three plausible patterns (the fitted model itself, a boosted model, "
        "approach differences doubled), draws outcomes from them, fits the same method again and "
        "checks per-case errors, how often the 95% ranges hold the truth, and the population "
        "effects. The patterns are plausible guesses, not the truth: doing well on them does not "
        "prove the method right, doing badly shows a problem.",
    },
    "limits": {
        "zh": "<b>这些数字不能说明:</b>某一个人会怎样;方案为什么有效;少于 k 人的群体的任何情况。",
        "en": "<b>What the numbers cannot say:</b> what will happen to one person; why an approach "
        "worked; anything about groups smaller than k.",
    },
    "privacy": {
        "zh": "<b>隐私。</b>报告只发布汇总数。任何数字都不基于少于 k 个案例:1 到 k-1 的计数,以及"
        "成功或失败数少于 k 的比例都被隐藏;并额外隐藏其他格子,使被隐藏的值无法由合计推算。"
        "生存曲线中的跟踪人数向下取整到 k 的倍数。",
        "en": "<b>Privacy.</b> Only aggregates are published. No number rests on fewer than k "
        "cases: counts of 1 to k-1 and rates whose successes or failures are under k are "
        "suppressed, and further cells are suppressed so that a hidden one cannot be worked out "
        "from totals. At-risk counts of survival curves are rounded down to a multiple of k.",
    },
}

DIMENSION_LABELS: Final[dict[str, dict[Lang, str]]] = {
    "overdue_band": {"zh": "逾期天数段", "en": "days overdue at contact"},
    "documents": {"zh": "提供材料数", "en": "documents brought"},
    "written_plan": {"zh": "书面还款计划", "en": "written repayment plan"},
    "contact_timing": {"zh": "逾期后首次联系时间", "en": "contact timing"},
    "early_contact": {"zh": "尽早联系", "en": "early contact"},
    "approach": {"zh": "协商方案", "en": "approach"},
}

FEATURE_LABELS: Final[dict[str, dict[Lang, str]]] = {
    "balance_to_principal": {"zh": "欠款与本金之比", "en": "balance to principal"},
    "collection_stage_rank": {"zh": "催收阶段(等级)", "en": "collection stage (rank)"},
    "debt_to_income": {"zh": "负债收入比", "en": "debt to income"},
    "disposable_income": {"zh": "可支配收入", "en": "disposable income"},
    "documents_count": {"zh": "提供材料数", "en": "documents brought"},
    "months_to_clear": {"zh": "还清所需月数", "en": "months to clear"},
    "payment_due_to_income": {"zh": "应还额与收入之比", "en": "payment due to income"},
    "penalty_share": {"zh": "罚息占比", "en": "penalty share"},
    "prior_agreements": {"zh": "此前达成的协议数", "en": "earlier agreements"},
    "prior_cases": {"zh": "此前的案例数", "en": "earlier cases"},
    "savings_to_balance": {"zh": "储蓄与欠款之比", "en": "savings to balance"},
}
"""Derived features (not contract fields) as the drift chart names them."""

REASON_KINDS: Final[dict[str, dict[Lang, str]]] = {
    "enum": {"zh": "取值不在允许范围", "en": "value not allowed"},
    "parse": {"zh": "无法读取", "en": "unreadable"},
    "required": {"zh": "必填项缺失", "en": "required value missing"},
    "rule": {"zh": "违反字段间规则", "en": "cross-field rule broken"},
    "format": {"zh": "格式不对", "en": "wrong format"},
    "range": {"zh": "超出范围", "en": "out of range"},
    "nul": {"zh": "含 NUL 字符", "en": "NUL character"},
    "too_long": {"zh": "内容过长", "en": "text too long"},
    "pii": {"zh": "含个人信息（{kind}）", "en": "personal data ({kind})"},
}
"""Quarantine reasons by their first part (``overdue.ingest``: ``docs/ingest.md``)."""
READ_PROBLEMS: Final[dict[str, dict[Lang, str]]] = {
    "encoding": {"zh": "文字编码", "en": "text encoding"},
    "too_long": {"zh": "行过长", "en": "line too long"},
    "json": {"zh": "JSON 行", "en": "JSON line"},
}
"""What a ``parse:`` reason names besides a field: the line itself."""

LEVEL_LABELS: Final[dict[str, dict[Lang, str]]] = {
    "days_overdue_at_contact<90": {"zh": "逾期 <90 天", "en": "<90 days overdue"},
    "90<=days_overdue_at_contact<180": {"zh": "逾期 90-179 天", "en": "90-179 days overdue"},
    "days_overdue_at_contact>=180": {"zh": "逾期 ≥180 天", "en": "180+ days overdue"},
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    "<=30 days": {"zh": "≤30 天", "en": "within 30 days"},
    ">30 days": {"zh": ">30 天", "en": "after 30 days"},
    "31-90 days": {"zh": "31-90 天", "en": "31-90 days"},
    "91-180 days": {"zh": "91-180 天", "en": "91-180 days"},
    ">180 days": {"zh": ">180 天", "en": "after 180 days"},
    "0": {"zh": "0 份", "en": "none"},
    "1-2": {"zh": "1-2 份", "en": "1-2"},
    "3-4": {"zh": "3-4 份", "en": "3-4"},
    "5-6": {"zh": "5-6 份", "en": "5-6"},
    "0-2": {"zh": "0-2 份", "en": "0-2"},
    "3+": {"zh": "3 份及以上", "en": "3 or more"},
    "population": {"zh": "全体", "en": "everyone"},
    "__all__": {"zh": "全部", "en": "all"},
    "loaded": {"zh": "已载入", "en": "loaded"},
    "already_loaded": {"zh": "此前已载入", "en": "already loaded"},
    "refused": {"zh": "已拒收", "en": "refused"},
}


MODEL_LABELS: Final[dict[str, dict[Lang, str]]] = {
    "advising_stack": {"zh": "咨询所用模型(组合)", "en": "advising model (stack)"},
    "spline_logistic_calibrated": {
        "zh": "样条逻辑回归(已校准)",
        "en": "spline logistic regression (calibrated)",
    },
    "gradient_boosting_calibrated": {
        "zh": "梯度提升(已校准)",
        "en": "gradient boosting (calibrated)",
    },
    "logistic_baseline": {"zh": "基准:逻辑回归", "en": "baseline: logistic regression"},
    "base_rate_baseline": {"zh": "基准:总体达成率", "en": "baseline: overall rate"},
    "ours": {"zh": "我们的模型", "en": "our model"},
    "baseline": {"zh": "基准(逻辑回归)", "en": "baseline (logistic regression)"},
}


def model_label(name: str, lang: Lang) -> str:
    """A model of the quality section as a reader sees it (its code when unknown)."""
    return MODEL_LABELS[name][lang] if name in MODEL_LABELS else name


def driver_label(name: str, lang: Lang) -> str:
    """A group of features of the drivers chart (the counselor page's names)."""
    if name in DRIVER_LABELS:
        return DRIVER_LABELS[name][lang]
    return field_label(name, lang)


def methods(lang: Lang) -> list[str]:
    """The paragraphs of the methods and caveats section in ``lang``, in reading order."""
    return [texts[lang] for texts in METHODS.values()]


def text(key: str, lang: Lang) -> str:
    """One string of the report in ``lang``."""
    return TEXT[key][lang]


def field_label(name: str, lang: Lang) -> str:
    """A field or derived dimension as a reader sees it (Chinese alias from the contract)."""
    if name in DIMENSION_LABELS:
        return DIMENSION_LABELS[name][lang]
    if name in FEATURE_LABELS:
        return FEATURE_LABELS[name][lang]
    if name in FIELD_BY_NAME:
        return FIELD_BY_NAME[name].zh if lang == "zh" else name.replace("_", " ")
    return name.replace("_", " ")


def value_label(name: str, code: str, lang: Lang) -> str:
    """A category value as a reader sees it (the contract's Chinese alias in Chinese)."""
    if code in LEVEL_LABELS:
        return LEVEL_LABELS[code][lang]
    field = FIELD_BY_NAME.get(name)
    if field is not None and code in field.values:
        return field.values[code] if lang == "zh" else code.replace("_", " ")
    return code.replace("_", " ")


def reason_label(reason: str, lang: Lang) -> str:
    """A quarantine reason (``enum:age_band``, ``rule:<code>``) in words: its kind and the
    fields it concerns; the code itself when unknown."""
    kind, _, name = reason.partition(":")
    if kind not in REASON_KINDS:
        return reason
    what = REASON_KINDS[kind][lang]
    if kind == "pii":  # pii:<kind>:<field or column>
        found, _, name = name.partition(":")
        what = what.format(kind=PII_KINDS.get(found, {}).get(lang, found))
    rule = next((r for r in RULES if r.code == name), None)
    fields = rule.fields if kind == "rule" and rule is not None else (name,)
    joiner = "、" if lang == "zh" else ", "
    colon = ":" if lang == "zh" else ": "
    if kind == "parse" and name in READ_PROBLEMS:
        return what + colon + READ_PROBLEMS[name][lang]
    return what + colon + joiner.join(field_label(f, lang) for f in fields)


def subgroup_label(key: str, lang: Lang) -> str:
    """A subgroup key such as ``lender_type=p2p`` or ``days_overdue_at_contact>=180``."""
    if key in LEVEL_LABELS:
        return LEVEL_LABELS[key][lang]
    if "=" in key:
        name, code = key.split("=", 1)
        return f"{field_label(name, lang)}: {value_label(name, code, lang)}"
    return key
