"""Refutation tests: they pass on simulated worlds and fail on a planted leak."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import replace
from functools import cache
from html import escape
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest

from overdue.features import build_features
from overdue.i18n import LANGS
from overdue.models.effects import APPROACH_TREATMENT, aipw
from overdue.models.parallel import fit_threads
from overdue.models.refute import (
    PLACEBO_STRATA,
    TEST_NAMES,
    VERDICT_TEXT,
    Refutation,
    allowed_misses,
    random_cause_result,
    refutations,
    shuffled_within,
    with_columns,
)
from overdue.publish import effects_document
from overdue.reports.build import build_report
from overdue.reports.i18n import text
from overdue.reports.queries import model_runs
from overdue.simulate import simulate_cases
from overdue.warehouse import migrate, open_warehouse
from overdue.worlds import WORLDS
from warehouse_support import insert_model_run, schema_up_to

LABEL = "y_agreement"
ROWS = 4_000
K = 10


@cache
def labelled(world: str) -> pl.DataFrame:
    """Labelled features of a small population of ``world``."""
    run = simulate_cases(ROWS, seed=41, as_of=dt.date(2026, 6, 30), world=WORLDS[world])
    return build_features(run.cases.lazy()).collect().filter(pl.col(LABEL).is_not_null())


@cache
def refuted(world: str) -> dict[str, Refutation]:
    """The refutation tests of ``world``, by test."""
    with fit_threads(2):
        return {r.test: r for r in refutations(labelled(world), LABEL, 5, K)}


WORLDS_CHECKED = ("baseline", "strong_confounding", "hidden_confounder")


@pytest.mark.parametrize("world", WORLDS_CHECKED)
def test_placebo_and_random_common_cause_pass_on_simulated_worlds(world: str) -> None:
    """Shuffled approaches show no effect; a noise covariate moves no effect; half samples
    agree with the whole; every approach checked."""
    found = refuted(world)
    for test in ("placebo", "random_common_cause", "data_subset"):
        assert found[test].passed is True, (test, found[test].text["en"])
        assert found[test].verdict == "passed"
        assert found[test].checks >= 6
    assert found["placebo"].statistic is not None
    assert found["placebo"].statistic <= (found["placebo"].allowed or 0)
    assert all(-0.1 < c["estimate"] < 0.1 for c in found["placebo"].contrasts)


def test_the_negative_control_is_said_to_be_missing_not_invented() -> None:
    """The contract has no outcome the approach cannot affect: the result says so."""
    control = refuted("baseline")["negative_control"]
    assert control.passed is None and control.verdict == "not_available"
    assert control.contrasts == [] and control.statistic is None
    assert "no outcome" in control.text["en"] and "没有" in control.text["zh"]


def test_placebo_fails_when_the_label_leaks_into_the_approach() -> None:
    """If agreed cases are coded as the first approach, shuffling the recorded approach
    leaves the leak in place and the placebo finds effects."""
    levels = APPROACH_TREATMENT.levels
    leaky = replace(
        APPROACH_TREATMENT,
        assign=lambda _: (
            pl.when(pl.col(LABEL) == 1)
            .then(0)
            .otherwise(pl.col("approach").replace_strict({v: i for i, v in enumerate(levels)}))
        ),
    )
    with fit_threads(2):
        found = {r.test: r for r in refutations(labelled("baseline"), LABEL, 5, K, leaky)}
    placebo = found["placebo"]
    assert placebo.passed is False and placebo.verdict == "failed"
    assert placebo.statistic is not None and placebo.statistic > (placebo.allowed or 0)
    assert placebo.text["en"].startswith("Failed") and placebo.text["zh"].startswith("未通过")


def test_random_common_cause_fails_when_the_added_covariate_is_the_outcome() -> None:
    """The same refit with the added covariate a copy of the outcome instead of noise: the
    effects collapse to zero, far beyond their standard errors."""
    data = labelled("baseline").with_columns(pl.col(LABEL).cast(pl.Float64).alias("leak"))
    with fit_threads(2):
        base = aipw(data, APPROACH_TREATMENT, LABEL, 5, folds=2)
        leaked = aipw(data, with_columns(APPROACH_TREATMENT, "leak"), LABEL, 5, folds=2)
    result = random_cause_result(base, leaked, K)
    assert result.passed is False and result.statistic is not None and result.statistic > 2
    moved = max(abs(c["refitted"]) for c in result.contrasts)
    assert moved < 0.02  # the leak explains agreement: no approach differs any more


def test_shuffling_keeps_every_strata_mix_of_approaches() -> None:
    """Within each stratum the shuffled approaches are the same multiset, in another order."""
    data = labelled("baseline")
    shuffled = shuffled_within(data, "approach", PLACEBO_STRATA, 3)

    def mix(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.group_by([*PLACEBO_STRATA, "approach"]).len().sort(pl.all())

    assert mix(shuffled).equals(mix(data))
    assert (shuffled["approach"].to_numpy() != data["approach"].to_numpy()).mean() > 0.5
    assert shuffled.drop("approach").equals(data.drop("approach"))


def test_misses_allowed_follow_the_binomial() -> None:
    """Six 95% intervals: two misses are still chance (P(X >= 3) < 1%), eighteen: four."""
    assert allowed_misses(6) == 2
    assert allowed_misses(18) == 4
    assert allowed_misses(0) == 0


def test_every_text_is_in_both_languages() -> None:
    """Verdicts and test names in zh and en."""
    for table in (VERDICT_TEXT, TEST_NAMES):
        assert all(set(texts) == set(LANGS) and all(texts.values()) for texts in table.values())
    found = refuted("baseline")
    assert all(set(r.text) == set(LANGS) for r in found.values())
    assert np.isfinite([r.rows for r in found.values()]).all()


def test_training_stores_the_refutations_and_the_policy_value(
    trained: dict[str, Any], effects_json: dict[str, Any]
) -> None:
    """model_runs holds both as JSON; `overdue effects --json` returns the refutations as
    stored and every policy row, the numbers of those on too few cases left out."""
    with open_warehouse(trained["folder"] / "w.duckdb", read_only=True) as con:
        row = con.execute("SELECT refutations, policy_value FROM model_runs").fetchall()[0]
    stored, policy = json.loads(row[0]), json.loads(row[1])
    assert [r["test"] for r in stored] == [
        "placebo",
        "random_common_cause",
        "data_subset",
        "negative_control",
    ]
    assert all(set(r["text"]) == set(LANGS) for r in stored)
    population = [r for r in policy if r["subgroup"] == "population"]
    assert {r["policy"] for r in population} == {"model", "model_affordable"}
    assert all(r["suppressed"] or r["value_low"] <= r["value"] <= r["value_high"] for r in policy)
    document = effects_json
    assert document["refutations"] == stored
    published = document["policy_value"]
    assert [(r["policy"], r["subgroup"]) for r in published] == [
        (r["policy"], r["subgroup"]) for r in policy
    ]
    for mine, kept in zip(published, policy, strict=True):
        if mine["suppressed"]:
            assert mine["n"] is None and mine["n_followed"] is None and mine["value"] is None
        else:
            assert mine == kept and min(kept["n"], kept["n_followed"]) >= 10
    assert any(r["suppressed"] for r in published) and not all(r["suppressed"] for r in published)


def test_the_report_shows_both_sections_in_both_languages(trained: dict[str, Any]) -> None:
    """A table of the four tests with their verdict sentences, and the policy's rows."""
    pages = sorted((trained["folder"] / "reports" / "latest").glob("[ez][nh].html"))
    assert [p.name for p in pages] == ["en.html", "zh.html"]
    for page in pages:
        text = page.read_text(encoding="utf-8")
        refuted = text[text.index('<section id="refutations">') :]
        refuted = refuted[: refuted.index("</section>")]
        assert refuted.count("<tr data-verdict=") == 4
        policy = text[text.index('<section id="policy">') :]
        policy = policy[: policy.index("</section>")]
        assert policy.count('<tr data-policy="model">') >= 1
        if page.name == "zh.html":
            assert "安慰剂方案" in refuted and "评分最高的方案" in policy
        else:
            assert "Placebo approach" in refuted
            assert "best approach" in policy and escape("not available") in refuted


def test_migration_6_keeps_runs_made_before_refutations(tmp_path: Path) -> None:
    """A run trained before migration 6 reads, before and after migrating, with neither
    refutations nor a policy value."""
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        schema_up_to(con, 5)
        insert_model_run(con)
        before = model_runs(con)
        assert [(r["refutations"], r["policy_value"]) for r in before] == [(None, None)]
        assert migrate(con) == [6]
        after = model_runs(con)
        assert [(r["refutations"], r["policy_value"]) for r in after] == [(None, None)]
    finally:
        con.close()


def test_a_run_trained_before_them_says_so(trained: dict[str, Any], tmp_path: Path) -> None:
    """A warehouse from before migration 6 (read-only, not migrated) builds a report whose two
    sections say the run has nothing stored; ``effects --json`` returns None for both."""
    old = tmp_path / "old.duckdb"
    shutil.copy(trained["folder"] / "w.duckdb", old)
    with open_warehouse(old) as con:
        con.execute("ALTER TABLE model_runs DROP COLUMN refutations")
        con.execute("ALTER TABLE model_runs DROP COLUMN policy_value")
        con.execute("DELETE FROM schema_migrations WHERE version = 6")
    report = build_report(old, tmp_path / "reports", k=K)
    for lang in LANGS:
        page = report.files[lang].read_text(encoding="utf-8")
        for section, key in (("refutations", "refutations_missing"), ("policy", "policy_missing")):
            shown = page[page.index(f'<section id="{section}">') :]
            assert escape(text(key, lang)) in shown[: shown.index("</section>")]
    with duckdb.connect(str(old), read_only=True) as con:
        assert "refutations" not in {r[0] for r in con.execute("DESCRIBE model_runs").fetchall()}
    document = effects_document(old, 10)
    assert document["refutations"] is None and document["policy_value"] is None
