"""What an estimate rests on and cannot know, from the published model card, for the page.

The model card records the period of the training data, the files the cases came from (and
whether the simulator wrote them: ``overdue.simulate.is_simulated_file``, checked at training)
and when the model was trained. The page shows these beside every estimate: a banner when the
model learnt from simulated cases, the data period and sources, the model version and its date,
and that lenders' policies change. The self-check's sentence is ``overdue.serve.coverage``'s.
"""

from __future__ import annotations

from typing import Any

from overdue.serve.i18n import limits_text


def limits(model_card: dict[str, Any], info: dict[str, Any], lang: str) -> dict[str, Any]:
    """The limits box of an estimate in ``lang`` from the snapshot's model card and ``info``."""
    period = model_card.get("data_period") or {}
    sources = model_card.get("data_sources") or []
    simulated = model_card.get("simulated")
    trained_at = model_card.get("trained_at")
    data_from, data_to = period.get("train_from"), period.get("test_to")
    files = [str(s["file"]) for s in sources]
    lines = []
    if simulated:
        lines.append(limits_text("simulated", lang))
    if data_from and data_to:
        lines.append(limits_text("period", lang, start=data_from, end=data_to))
    if files:
        cases = sum(int(s.get("cases") or 0) for s in sources)
        lines.append(limits_text("sources", lang, files=", ".join(files), cases=f"{cases:,}"))
    lines.append(limits_text("policies", lang))
    lines.append(
        limits_text(
            "version",
            lang,
            version=info["model_version"],
            date=(trained_at or "?")[:10],
            run=info["run_id"],
        )
    )
    return {
        "simulated": simulated,
        "data_from": data_from,
        "data_to": data_to,
        "sources": files,
        "model_version": info["model_version"],
        "trained_at": trained_at,
        "run_id": info["run_id"],
        "text": lines,
    }
