"""Risks and rights from the editable guidance file, advice that fits the case, the limits box."""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_support import CASE_EN, COURT_WITH_AGENT

from overdue.serve.advice import advice, suggested_documents
from overdue.serve.guidance import DEFAULT_GUIDANCE, GuidanceError, load_guidance, risks
from overdue.serve.limits import limits

_RATE = {"ci_low": 0.6, "ci_high": 0.7, "overlap_warning": False, "suppressed": False}
EFFECTS = {
    "levers": {
        "early_contact": {
            "<=30 days": {**_RATE, "estimate": 0.71, "ci_low": 0.69, "ci_high": 0.73},
            ">30 days": {**_RATE, "estimate": 0.6, "ci_low": 0.58, "ci_high": 0.62},
        },
        "documents": {
            "3+": {**_RATE, "estimate": 0.72, "ci_low": 0.7, "ci_high": 0.74},
            "0-2": {**_RATE, "estimate": 0.6, "ci_low": 0.58, "ci_high": 0.62},
        },
    }
}
"""Published lever effects, as far as advice reads them."""


def test_the_installed_guidance_file_loads_with_sources_for_every_note() -> None:
    """Every note of the shipped file has zh and en text and at least one http(s) source."""
    guidance = load_guidance(DEFAULT_GUIDANCE)
    assert guidance.reviewed_by == "(organisation to fill)"
    assert {n.id for n in guidance.notes} >= {"official_channels", "paid_agent", "court"}
    for note in guidance.notes:
        assert note.zh and note.en and note.sources
        assert all(s.url.startswith(("http://", "https://")) for s in note.sources)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_client_in_court_with_a_paid_agent_gets_both_notes(lang: str) -> None:
    """The paid-agent and court notes apply, beside the note for every case; not enforcement."""
    found = risks(load_guidance(DEFAULT_GUIDANCE), COURT_WITH_AGENT, lang)
    assert [r["id"] for r in found] == ["official_channels", "paid_agent", "court"]
    text = " ".join(r["text"] for r in found)
    words = ("反催收", "12348", "答辩状", "调解") if lang == "zh" else ("anti-collection", "12348")
    assert all(word in text for word in words)


def test_a_case_without_agent_or_court_gets_only_the_general_note() -> None:
    """Notes appear only where they apply."""
    case = {**CASE_EN, "professional_help": "none", "collection_stage": "reminders"}
    found = risks(load_guidance(DEFAULT_GUIDANCE), case, "zh")
    assert [r["id"] for r in found] == ["official_channels"]


def test_only_a_credit_card_debt_hears_of_the_individual_instalment_agreement() -> None:
    """The credit-card rule on individual instalment agreements (第七十条) is cited for credit
    card debts only, never beside an online platform's."""
    guidance = load_guidance(DEFAULT_GUIDANCE)
    card = risks(guidance, {**CASE_EN, "lender_type": "bank_credit_card"}, "zh")
    platform = risks(guidance, {**CASE_EN, "lender_type": "online_platform"}, "zh")
    assert "card_installment" in [r["id"] for r in card]
    assert "个性化分期" in " ".join(r["text"] for r in card)
    cited = " ".join(s["title"] for r in platform for s in r["sources"])
    assert "card_installment" not in [r["id"] for r in platform] and "第七十条" not in cited


def test_a_bad_guidance_file_names_the_file_and_the_note(tmp_path: Path) -> None:
    """A condition on a value the contract does not know stops the start, naming the note."""
    path = tmp_path / "guidance.yaml"
    path.write_text(
        "reviewed_by: x\nnotes:\n  - id: agent\n    when: {professional_help: [agency]}\n"
        "    zh: 注意\n    en: careful\n    sources: [{title: t, url: 'https://example.org'}]\n",
        encoding="utf-8",
    )
    with pytest.raises(GuidanceError, match=r"guidance\.yaml: note 'agent', when"):
        load_guidance(path)
    path.write_text("reviewed_by: x\nnotes:\n  - id: agent\n    zh: 注意\n", encoding="utf-8")
    with pytest.raises(GuidanceError, match="note 'agent', en: Field required"):
        load_guidance(path)


def test_no_early_contact_advice_400_days_overdue() -> None:
    """The 30-day window is long gone: no 'contact within 30 days' advice; within it, yes."""
    late = advice({**CASE_EN, "days_overdue_at_contact": 400}, EFFECTS, "en")
    assert "early_contact" not in [item["lever"] for item in late]
    assert not any("30 days" in item["text"] for item in late)
    early = advice({**CASE_EN, "days_overdue_at_contact": 20}, EFFECTS, "en")
    assert "early_contact" in [item["lever"] for item in early]


def test_job_loss_and_illness_ask_for_proof_of_the_hardship() -> None:
    """No income proof for a debtor without income or too ill to work: proof of the hardship."""
    job_loss = suggested_documents({**CASE_EN, "hardship_reason": "job_loss"}, "zh")
    assert "离职证明" in job_loss[0] and "收入证明" not in job_loss
    illness = suggested_documents({**CASE_EN, "hardship_reason": "illness"}, "zh")
    assert illness[0] == "医疗证明" and "收入证明" not in illness
    other = suggested_documents(CASE_EN, "zh")
    assert other[0] == "收入证明" and other[-1] == "医疗证明"
    text = advice({**CASE_EN, "hardship_reason": "job_loss"}, EFFECTS, "zh")[0]["text"]
    assert "离职证明" in text and "收入证明" not in text


def test_the_limits_box_says_simulated_period_version_and_date() -> None:
    """A model trained on the simulator's files is flagged; period, version and date shown."""
    card = {
        "data_period": {"train_from": "2023-01-02", "test_to": "2026-05-30"},
        "data_sources": [{"file": "cases.parquet", "sha256": "ab", "cases": 20, "simulated": True}],
        "simulated": True,
        "trained_at": "2026-06-30T02:00:01",
    }
    box = limits(card, {"model_version": "m-1", "run_id": "r-1"}, "zh")
    assert box["simulated"] is True and "模拟" in box["text"][0]
    assert any("2023-01-02" in line and "2026-05-30" in line for line in box["text"])
    assert any("m-1" in line and "2026-06-30" in line for line in box["text"])
    assert any("政策会变化" in line for line in box["text"])
    real = limits({**card, "simulated": False}, {"model_version": "m-1", "run_id": "r-1"}, "en")
    assert not any("simulated" in line for line in real["text"])
