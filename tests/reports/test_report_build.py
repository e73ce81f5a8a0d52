"""``overdue report`` on a real warehouse: files, provenance, sections, languages."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

from plotly.offline import get_plotlyjs
from report_scan import Built, embedded_json, page_without_library

from cli_support import overdue
from overdue.publish import effects_document
from overdue.reports.build import build_report
from overdue.reports.i18n import text, value_label
from overdue.reports.pages import self_check_part
from overdue.warehouse import open_warehouse


def test_report_writes_both_languages_latest_and_index(built: Built) -> None:
    """reports/<run_id>/ holds zh.html, en.html, index.html and report.json; latest/ a copy."""
    folder = built.reports / built.run_id
    for name in ("zh.html", "en.html", "index.html", "report.json"):
        assert (folder / name).exists()
        assert (built.reports / "latest" / name).read_bytes() == (folder / name).read_bytes()
    index = (built.reports / "index.html").read_text(encoding="utf-8")
    assert built.run_id in index
    assert built.first_run in index


def test_provenance_names_run_snapshot_and_model(built: Built) -> None:
    """The footer and the manifest carry the run id, snapshot hash, model version and time."""
    manifest = json.loads((built.reports / built.run_id / "report.json").read_text())
    with open_warehouse(built.warehouse, read_only=True) as con:
        version, snapshot = con.execute(
            "SELECT model_version, snapshot_hash FROM model_runs WHERE run_id = ?", [built.run_id]
        ).fetchall()[0]
    assert manifest["model_version"] == version
    assert manifest["snapshot_hash"] == snapshot
    page = (built.reports / built.run_id / "en.html").read_text(encoding="utf-8")
    footer = page[page.index('<footer id="provenance">') :]
    for value in (built.run_id, snapshot, version, manifest["generated_at"]):
        assert value in footer


def test_report_has_every_section_in_both_languages(built: Built) -> None:
    """Each section is there; the Chinese page uses the contract's Chinese labels."""
    ids = ("data", "success", "effects", "heatmap", "overlap", "naive", "sensitivity",
           "sustained", "quality", "drivers", "changes", "methods", "provenance")  # fmt: skip
    for lang in ("zh", "en"):
        page = page_without_library(built.reports / built.run_id / f"{lang}.html")
        for section in ids:
            assert f'id="{section}"' in page, (lang, section)
    zh = page_without_library(built.reports / built.run_id / "zh.html")
    for label in ("停息分期", "网贷P2P", "逾期原因", "催收阶段", "专业协助"):
        assert label in zh
    en = page_without_library(built.reports / built.run_id / "en.html")
    assert "Population stability index" in en
    assert "Observational data" in en


def test_the_model_section_shows_the_self_check(built: Built) -> None:
    """The model-quality section holds the training run's self-check in both languages: one
    row per planted surface and all three together (coverage before and after widening, the
    spread added), the full model's spread, and the coverage per lender type and per
    approach."""
    with open_warehouse(built.warehouse, read_only=True) as con:
        stored = con.execute(
            "SELECT self_check FROM model_runs WHERE run_id = ?", [built.run_id]
        ).fetchall()[0][0]
    check = json.loads(stored)
    words_by_lang = {
        "zh": ("自检", "三者合计", "方案差异加倍"),
        "en": ("Self-check", "all three", "approach differences doubled"),
    }
    for lang, words in words_by_lang.items():
        page = page_without_library(built.reports / built.run_id / f"{lang}.html")
        section = page[page.index('id="quality"') : page.index('id="drivers"')]
        part = section[section.index('id="self-check"') :]
        for word in words:
            assert word in part, (lang, word)
        assert f"{check['pooled']['case_coverage']:.1%}" in part
        for surface in check["surfaces"]:
            assert f"{surface['case_mae']:.3f}" in part
            assert f"{surface['case_coverage_unwidened']:.1%}" in part
            assert f"{surface['spread_applied']:.3f}" in part
        assert f"{check['rows_used']:,}" in part
        assert f"{check['interval_spread']:.3f}" in part
        assert f"{check['spread_share']:.0%}" in part
        by_approach = part[part.index(text("sc_by_approach", lang)) :]
        for code, group in check["pooled"]["coverage_by_approach"].items():
            row = by_approach[
                by_approach.index(f"<td>{value_label('approach', code, lang)}</td>") :
            ]
            assert row.split("</tr>")[0].count(f"{group['coverage']:.1%}") >= 1, (lang, code)


def test_a_run_without_a_self_check_says_so() -> None:
    """A run trained with the self-check switched off says that, in both languages."""
    assert "switched off" in self_check_part(None, "en")
    assert "已关闭" in self_check_part(None, "zh")


def test_plotly_js_is_inlined_once_and_every_figure_is_json(built: Built) -> None:
    """One copy of plotly.js per page; figures are embedded data, drawn without the network."""
    for lang in ("zh", "en"):
        page = built.reports / built.run_id / f"{lang}.html"
        assert page.read_text(encoding="utf-8").count(get_plotlyjs()) == 1
        assert len(embedded_json(page_without_library(page))) >= 20
    assert "cdn" not in page_without_library(page).lower()


def test_lang_option_writes_one_language(built: Built, tmp_path: Path) -> None:
    """--lang zh writes only the Chinese page, saying each stage on standard error."""
    env = {"OVERDUE_WAREHOUSE": str(built.warehouse)}
    result = overdue("report", "--lang", "zh", "--out", str(tmp_path), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    stages = [line.split("...")[0] for line in result.stderr.splitlines()]
    assert stages == ["report: reading the warehouse", "report: writing zh.html"]
    assert (tmp_path / built.run_id / "zh.html").exists()
    assert not (tmp_path / built.run_id / "en.html").exists()
    assert overdue("report", "--lang", "fr", "--out", str(tmp_path), env=env).returncode != 0


def test_ingest_only_report_says_what_is_missing(ingest_only: Built) -> None:
    """Without a model run the report names the missing tables and has a fresh run id."""
    page = page_without_library(ingest_only.reports / ingest_only.run_id / "en.html")
    assert "The warehouse lacks these tables, so their sections are empty: features" in page
    for section in ("effects", "heatmap", "overlap", "quality", "drivers", "changes"):
        start = page.index(f'<section id="{section}">')
        assert "run `overdue train`" in page[start : page.index("</section>", start)]
    assert len(ingest_only.run_id) == 32


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    """No warehouse: exit code 2 and a message that says what to do."""
    result = overdue("report", "--warehouse", str(tmp_path / "none.duckdb"), env={})
    assert result.returncode == 2
    assert "overdue ingest" in result.stdout


def _section(page: str, section: str) -> str:
    start = page.index(f'<section id="{section}">')
    return page[start : page.index("</section>", start)]


def test_observed_beside_adjusted_has_a_chart_and_a_table_in_both_languages(built: Built) -> None:
    """One row per approach and lever level with the observed rate, the adjusted rate and
    their difference, as stored; a chart with both on one axis; labels translated."""
    with open_warehouse(built.warehouse, read_only=True) as con:
        stored = con.execute(
            "SELECT naive, estimate FROM approach_effects WHERE run_id = ? AND "
            "subgroup = 'population' AND treatment = 'written_plan' AND level = 'yes'",
            [built.run_id],
        ).fetchall()[0]
    words = {
        "zh": ("观察到的达成率", "调整去除的部分", "书面还款计划", "个百分点"),
        "en": ("observed rate", "removed by adjustment", "written repayment plan", "pp"),
    }
    for lang, expected in words.items():
        page = page_without_library(built.reports / built.run_id / f"{lang}.html")
        section = _section(page, "naive")
        assert section.count("<tr>") == 1 + 6 + 10
        for word in expected:
            assert word in section, (lang, word)
        assert f"{stored[0]:.1%}" in section
        assert f"{100 * round(stored[0] - stored[1], 4):+.1f} {expected[-1]}" in section
        assert 'id="fig-naive"' in section


def test_sensitivity_table_shows_each_contrasts_verdict_in_both_languages(built: Built) -> None:
    """The stored verdict sentence of every contrast on at least k cases, in the page's
    language, beside its robustness values."""
    with open_warehouse(built.warehouse, read_only=True) as con:
        rows = json.loads(
            con.execute(
                "SELECT sensitivity FROM model_runs WHERE run_id = ?", [built.run_id]
            ).fetchall()[0][0]
        )
    shown = [r for r in rows if r["n_min"] >= built.settings.k]
    assert any(r["treatment"] == "approach" for r in shown)
    for lang in ("zh", "en"):
        page = page_without_library(built.reports / built.run_id / f"{lang}.html")
        section = _section(page, "sensitivity")
        assert section.count("data-verdict=") <= len(shown)
        approaches = [r for r in shown if r["treatment"] == "approach"]
        for row in approaches:
            assert html.escape(row["text"][lang]) in section, (lang, row["level"])
            if row["rva"] is not None:
                assert f"{row['rva']:.3f}" in section
    assert "RVa" in section


OLD_RUN_WORDS = {
    "en": ("None: this run was trained before", "trained before observed"),
    "zh": ("训练于保存敏感性分析之前", "训练于保存观察达成率之前"),
}


def test_a_run_trained_before_sensitivity_was_stored_still_renders(
    built: Built, tmp_path: Path
) -> None:
    """A warehouse from before migration 5 (no observed rates, no sensitivity column) builds a
    report whose new sections say there is nothing for that run; migrated, the run's empty
    cells still say so, and ``effects --json`` returns no sensitivity."""
    old = tmp_path / "old.duckdb"
    shutil.copy(built.warehouse, old)
    with open_warehouse(old) as con:
        con.execute("ALTER TABLE model_runs DROP COLUMN sensitivity")
        con.execute("ALTER TABLE model_runs DROP COLUMN refutations")  # migration 6
        con.execute("ALTER TABLE model_runs DROP COLUMN policy_value")
        con.execute("ALTER TABLE approach_effects DROP COLUMN naive")
        con.execute("ALTER TABLE approach_effects DROP COLUMN n_agreed")
        con.execute("DELETE FROM schema_migrations WHERE version >= 5")
    for migrated in (False, True):
        if migrated:
            with open_warehouse(old) as con:  # opening for writing applies migration 5
                assert "sensitivity" in {
                    r[0] for r in con.execute("DESCRIBE model_runs").fetchall()
                }
        out = tmp_path / f"reports-{migrated}"
        report = build_report(old, out, k=built.settings.k)
        for lang, words in OLD_RUN_WORDS.items():
            page = page_without_library(report.files[lang])
            assert words[0] in _section(page, "sensitivity")
            assert words[1] in _section(page, "naive")
        document = effects_document(old, 10)
        assert document["sensitivity"] is None
        assert all(e["naive"] is None for e in document["population"].values())
