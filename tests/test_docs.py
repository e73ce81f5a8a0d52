"""Generated documentation stays in step with the contract."""

from __future__ import annotations

from pathlib import Path

from overdue.contract import FIELDS, RULES
from overdue.docs import data_dictionary_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_committed_data_dictionary_is_the_generated_one() -> None:
    """docs/data-dictionary.md is what `make dictionary` writes today."""
    committed = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    assert committed == data_dictionary_markdown(), "run `make dictionary` and commit"


def test_dictionary_has_a_row_per_field_and_rule() -> None:
    """Every field and every cross-field rule appears once."""
    text = data_dictionary_markdown()
    for f in FIELDS:
        assert text.count(f"| `{f.name}` | {f.zh} |") == 1
    for rule in RULES:
        assert f"`{rule.reason}`" in text


def test_the_simulator_page_documents_every_simulated_effect_size() -> None:
    """Each named effect of the simulator appears in docs/simulator.md with its current size."""
    from overdue.simulate import EFFECT

    page = (ROOT / "docs" / "simulator.md").read_text(encoding="utf-8")
    for name, size in EFFECT.items():
        assert f"`{name}` = {size:g}" in page, name
