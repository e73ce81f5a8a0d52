"""What the self-check says about a case's 95% ranges, in plain words for the counselor.

The published model card holds the self-check (``overdue.models.selfcheck``): how often the
refitted procedure's 95% intervals held the planted truth, over every checked case and per
lender type with at least k test cases, and under each approach. A case is told the number of
its own lender type when there is one, else the number over every checked case; and, under
an approach whose own ranges held the truth less than 90 times in 100 (the mean over the six
hides it), that number too.
"""

from __future__ import annotations

from typing import Any, Final

from overdue.serve.i18n import interval_check_text, value_label

TOO_NARROW: Final = 0.90
"""Below this coverage the sentence adds that the ranges are likely too narrow (issue 14 asks
for 90-97% from a 95% interval)."""


def narrow_approaches(by_approach: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The approaches whose own ranges held the planted truth less often than ``TOO_NARROW``
    over every checked case, in whole times in 100 as the sentence says them (0.896 is 90,
    not flagged), least often first."""
    times = {code: round(100 * group["coverage"]) for code, group in by_approach.items()}
    narrow = [
        {"approach": code, "times_in_100": n}
        for code, n in times.items()
        if n < round(100 * TOO_NARROW)
    ]
    return sorted(narrow, key=lambda n: n["times_in_100"])


def interval_check(
    self_check: dict[str, Any] | None, lender_type: str | None, lang: str, k: int
) -> dict[str, Any] | None:
    """The coverage for cases like this one and its sentence; None without a self-check or
    when it rests on fewer than ``k`` test cases (the service's k may exceed training's)."""
    if not self_check or self_check["pooled"]["case_coverage"] is None:
        return None
    if self_check["test_cases"] < k:
        return None
    pooled = self_check["pooled"]
    group = pooled["coverage_by_lender"].get(lender_type) if lender_type else None
    if group and group["test_cases"] < k:
        group = None
    coverage = float(group["coverage"] if group else pooled["case_coverage"])
    times = round(100 * coverage)
    if group:
        lender = value_label("lender_type", str(lender_type), lang)
        sentence = interval_check_text("lender_type", lang, lender=lender, times=times)
    else:
        sentence = interval_check_text("all", lang, times=times)
    parts = [sentence]
    if coverage < TOO_NARROW:
        parts.append(interval_check_text("too_narrow", lang))
    narrow = narrow_approaches(pooled["coverage_by_approach"])
    parts.extend(
        interval_check_text(
            "approach_too_narrow",
            lang,
            approach=value_label("approach", n["approach"], lang),
            times=n["times_in_100"],
        )
        for n in narrow
    )
    parts.append(interval_check_text("how", lang))
    return {
        "coverage": round(coverage, 4),
        "times_in_100": times,
        "lender_type": lender_type if group else None,
        "test_cases": int(group["test_cases"] if group else self_check["test_cases"]),
        "too_narrow": coverage < TOO_NARROW,
        "narrow_approaches": narrow,
        "text": ("" if lang == "zh" else " ").join(parts),
    }
