"""train, effects and estimate as a user runs them: real processes on a real warehouse
(``trained``, in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from rich.cells import cell_len

from cli_support import overdue
from overdue.contract import APPROACHES, FIELDS, Role
from overdue.models.selfcheck import subsample_size
from overdue.serve.i18n import driver_labels
from overdue.warehouse import open_warehouse


def test_effects_json_gives_no_hidden_cell_away(effects_json: dict) -> None:
    """A subgroup family's estimates average, case-weighted, to the population's: so where one
    cell of a family is hidden, another is too, together on at least k askers; no count of
    askers under k and no policy row on fewer than k followers is published."""
    k = 10
    families: dict[tuple[str, str], list[dict]] = {}
    for subgroup, levels in effects_json["subgroups"].items():
        family = subgroup.split("=")[0] if "=" in subgroup else "overdue_band"
        for level, entry in levels.items():
            families.setdefault((family, level), []).append(entry)
            assert entry["n_asked"] is None or entry["n_asked"] >= k
            assert (entry["estimate"] is None) == entry["suppressed"] == (entry["n_asked"] is None)
    hidden = {key: [e for e in entries if e["suppressed"]] for key, entries in families.items()}
    assert any(hidden.values())  # the small sample hides some cells: the rule is exercised
    assert all(len(cells) != 1 for cells in hidden.values())
    for row in effects_json["policy_value"]:
        assert row["suppressed"] or min(row["n"], row["n_followed"]) >= k


def test_train_reports_metrics_against_baselines(trained: dict) -> None:
    """Training prints the calibrated model and both baselines with their metrics."""
    out = trained["train_out"]
    names = ("spline_logistic_calibrated", "gradient_boosting_calibrated", "logistic_baseline")
    for name in (*names, "base_rate_baseline"):
        assert name in out
    assert (trained["folder"] / "models" / "latest.json").exists()


def test_train_stores_and_prints_the_self_check(trained: dict) -> None:
    """One plain line about the self-check; its result in the bundle and in model_runs; its
    spread is the one the bundled model's intervals take."""
    folder = trained["folder"]
    latest = json.loads((folder / "models" / "latest.json").read_text(encoding="utf-8"))
    bundle = json.loads(
        (folder / "models" / latest["path"] / "bundle.json").read_text(encoding="utf-8")
    )
    rows = subsample_size(bundle["labelled"])
    assert f"self-check on {rows:,} of {bundle['labelled']:,}" in trained["train_out"]
    with open_warehouse(folder / "w.duckdb", read_only=True) as con:
        stored = con.execute("SELECT self_check FROM model_runs").fetchall()
    assert len(stored) == 1
    assert json.loads(stored[0][0]) == bundle["self_check"]
    assert bundle["self_check"]["rows_used"] == rows
    assert bundle["interval_spread"] == bundle["self_check"]["interval_spread"] > 0
    assert len(bundle["self_check"]["surfaces"]) == 3


def test_effects_json_has_the_published_shape(effects_json: dict) -> None:
    """The exact interface outside tools read: version, outcome, population and subgroups."""
    document = effects_json
    assert document["outcome"] == "agreement"
    assert document["model_version"].startswith("m-")
    assert list(document["population"]) == list(APPROACHES)
    for entry in document["population"].values():
        assert entry["ci_low"] <= entry["estimate"] <= entry["ci_high"]
        assert isinstance(entry["n"], int)
    assert "lender_type=bank_credit_card" in document["subgroups"]
    assert "days_overdue_at_contact>=180" in document["subgroups"]
    for group in document["subgroups"].values():
        for entry in group.values():
            assert entry["estimate"] is None or entry["n_asked"] >= 10
    assert set(document["levers"]) == {
        "professional_help",
        "documents",
        "written_plan",
        "early_contact",
    }


def test_effects_put_the_observed_rate_beside_the_adjusted(
    trained: dict, effects_json: dict
) -> None:
    """Every approach and lever level has its observed rate (the share of the labelled cases
    that took it and agreed, as the warehouse holds them) and its difference from the
    adjusted rate; the table printed shows both."""
    document = effects_json
    with open_warehouse(trained["folder"] / "w.duckdb", read_only=True) as con:
        observed = dict(
            con.execute(
                "SELECT approach, avg(y_agreement) FROM features "
                "WHERE y_agreement IS NOT NULL GROUP BY approach"
            ).fetchall()
        )
    for code, entry in document["population"].items():
        assert entry["naive"] == pytest.approx(observed[code], abs=1e-12)
        assert entry["difference"] == round(entry["naive"] - entry["estimate"], 4)
    levels = [e for lever in document["levers"].values() for e in lever.values()]
    assert len(levels) == 10
    assert all(e["naive"] is not None and e["difference"] is not None for e in levels)
    printed = overdue("effects", env=trained["env"]).stdout
    assert "observed" in printed and "removed" in printed and "written_plan" in printed


def test_effects_json_returns_the_stored_sensitivity_rows(
    trained: dict, effects_json: dict
) -> None:
    """One row per headline contrast on at least k cases of each level it weighs: each
    approach against the average and each lever level against its reference, with the verdict
    in both languages. These 4,000 cases are too few to benchmark (MIN_BENCHMARK_ROWS): no
    contrast is called robust or fragile."""
    document = effects_json
    rows = document["sensitivity"]
    approaches = {r["level"]: r for r in rows if r["treatment"] == "approach"}
    assert list(approaches) == list(APPROACHES)
    assert all(r["against"] == "average" for r in approaches.values())
    levers = [r for r in rows if r["treatment"] != "approach"]
    assert {r["treatment"] for r in levers} == set(document["levers"])
    assert all(r["against"] != "average" for r in levers)
    assert all(r["benchmark"] is None for r in rows)
    for row in rows:
        assert row["n_min"] >= 10
        assert row["verdict"] in ("unclear", "not_estimable", "not_benchmarked")
        assert row["text"]["en"].startswith(row["contrast"]["en"])
        assert row["text"]["zh"].startswith(row["contrast"]["zh"])
    with open_warehouse(trained["folder"] / "w.duckdb", read_only=True) as con:
        stored = con.execute("SELECT sensitivity FROM model_runs").fetchall()[0][0]
    assert json.loads(stored) == rows


INPUTS = [f.name for f in FIELDS if f.role in (Role.CONTEXT, Role.ACTION)]


@pytest.fixture(scope="module")
def first_case(
    trained: dict, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """The first simulated case as a JSON file, and what `estimate --case FILE --json` prints
    for it (read by the two tests below)."""
    one = pl.read_parquet(trained["cases"]).head(1).select("case_id", *INPUTS).to_dicts()[0]
    case_file = tmp_path_factory.mktemp("first-case") / "case.json"
    case_file.write_text(json.dumps(one, default=str), encoding="utf-8")
    single = overdue("estimate", "--case", str(case_file), "--json", env=trained["env"])
    assert single.returncode == 0, single.stderr
    return case_file, json.loads(single.stdout)


def test_estimate_one_case_matches_the_batch(
    trained: dict, first_case: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """`estimate --case` and `estimate --cases` give the same numbers for the same case."""
    cases = pl.read_parquet(trained["cases"]).head(5).select("case_id", *INPUTS)
    result = first_case[1]
    cases_file, out = tmp_path / "cases.csv", tmp_path / "estimates.csv"
    cases.write_csv(cases_file)
    batch = overdue("estimate", "--cases", str(cases_file), "--out", str(out), env=trained["env"])
    assert batch.returncode == 0, batch.stderr
    estimates = pl.read_csv(out)
    assert estimates.columns[0] == "case_id"
    assert estimates["case_id"].to_list() == cases["case_id"].to_list()
    first = estimates.row(0, named=True)
    for row in result["approaches"]:
        code = row["approach"]
        assert first[f"p_{code}"] == pytest.approx(row["p"], abs=1e-4)
        assert first[f"p_{code}_low"] <= first[f"p_{code}"] <= first[f"p_{code}_high"]


def test_estimate_json_names_the_model_its_date_and_data(
    trained: dict, first_case: tuple[Path, dict[str, Any]]
) -> None:
    """`estimate --case --json` says which model answered, when it was trained and on which
    data snapshot, as the printed line does: an estimate that changes after a nightly run can
    be told apart by more than a hash."""
    answer = first_case[1]
    printed = overdue("estimate", "--case", str(first_case[0]), env=trained["env"]).stdout
    assert answer["trained_at"][:10] in printed
    assert answer["data_snapshot_hash"][:12] in printed
    assert f"model {answer['model_version']}, trained " in printed


def test_estimate_says_how_often_its_ranges_held_the_truth(
    trained: dict, first_case: tuple[Path, dict[str, Any]]
) -> None:
    """`estimate --case` prints (and returns) the self-check's coverage for cases like this."""
    case_file, answer = first_case
    printed = overdue("estimate", "--case", str(case_file), env=trained["env"])
    check = answer["interval_check"]
    assert check is not None and 0 < check["coverage"] <= 1
    assert f"held the true rate {check['times_in_100']} times in 100" in " ".join(
        printed.stdout.split()
    )


def test_estimate_names_the_bad_field_without_echoing_it(trained: dict, tmp_path: Path) -> None:
    """A negative income is refused with the field named and the value not repeated."""
    case_file = tmp_path / "bad.json"
    case_file.write_text(
        json.dumps({"monthly_income": -12345, "age_band": "25-34"}), encoding="utf-8"
    )
    result = overdue("estimate", "--case", str(case_file), env=trained["env"])
    assert result.returncode == 2
    assert "monthly_income" in result.stdout
    assert "employment: Field required" in result.stdout
    assert "-12345" not in result.stdout + result.stderr


def test_estimate_refuses_personal_data_and_leaves_other_columns_out(
    trained: dict, tmp_path: Path
) -> None:
    """A phone number as the case id, or an ID number in a column of the counselor's own, is
    refused with row and field named and never written or printed (as ingest and the service
    refuse it); a column outside the contract without personal data is left out, named once."""
    cases = pl.read_parquet(trained["cases"]).head(3).select("case_id", *INPUTS)
    phone, resident_id = "13812345678", "11010519491231002X"
    single = tmp_path / "phone.json"
    single.write_text(
        json.dumps({**cases.to_dicts()[0], "case_id": phone}, default=str), encoding="utf-8"
    )
    noted = cases.with_columns(pl.Series("备注", ["客户配合", f"身份证 {resident_id}", "-"]))
    many, out = tmp_path / "cases.csv", tmp_path / "estimates.csv"
    noted.write_csv(many)

    refused = overdue("estimate", "--case", str(single), env=trained["env"])
    assert refused.returncode == 2
    assert "row 1, case_id: holds personal data (mobile)" in refused.stdout
    batch = overdue("estimate", "--cases", str(many), "--out", str(out), env=trained["env"])
    assert batch.returncode == 2
    assert "row 2, a column not in the contract: holds personal data (resident_id)" in batch.stdout
    assert not out.exists()
    for result in (refused, batch):
        assert phone not in result.stdout + result.stderr
        assert resident_id not in result.stdout + result.stderr

    noted.with_columns(pl.lit("-").alias("备注")).write_csv(many)
    kept = overdue("estimate", "--cases", str(many), "--out", str(out), env=trained["env"])
    assert kept.returncode == 0, kept.stdout
    assert kept.stderr.count("备注") == 1
    assert "left out, not in the case-record contract: 备注" in kept.stderr
    assert pl.read_csv(out)["case_id"].to_list() == cases["case_id"].to_list()


def test_train_prints_each_stage_as_it_starts(trained: dict) -> None:
    """Training says on standard error which stage it is in and since when, one line each."""
    lines = [line for line in trained["train_err"].splitlines() if line.startswith("training: ")]
    stages = [line.removeprefix("training: ").split("...")[0] for line in lines]
    assert stages == [
        "reading cases", "features and plans",
        "outcome model, self-check and effects, side by side",
        "self-check, plan-kept model and diagnostics, side by side", "policy value",
        "bundle and tables",
    ]  # fmt: skip
    assert all(line.endswith(" s)") for line in lines)


def fits_80_columns(text: str) -> bool:
    """Every line of ``text`` is at most 80 columns wide (a Chinese character takes two) and
    nothing was cut short with an ellipsis."""
    return all(cell_len(line.rstrip()) <= 80 for line in text.splitlines()) and "…" not in text


def test_estimate_names_its_model_and_fits_80_columns(trained: dict, tmp_path: Path) -> None:
    """On an 80-column terminal: the model, its training date and data snapshot come first;
    every approach's name is whole; differences are in percentage points."""
    inputs = [f.name for f in FIELDS if f.role in (Role.CONTEXT, Role.ACTION)]
    one = pl.read_parquet(trained["cases"]).head(1).select("case_id", *inputs).to_dicts()[0]
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(one, default=str), encoding="utf-8")
    printed = overdue("estimate", "--case", str(case_file), env={**trained["env"], "COLUMNS": "80"})
    assert printed.returncode == 0, printed.stderr
    latest = json.loads((trained["folder"] / "models" / "latest.json").read_text("utf-8"))
    bundle = json.loads(
        (trained["folder"] / "models" / latest["path"] / "bundle.json").read_text(encoding="utf-8")
    )
    head = " ".join(printed.stdout.splitlines()[:2])
    assert f"model {bundle['model_version']}, trained {bundle['trained_at'][:10]}" in head
    assert f"data snapshot {bundle['snapshot_hash'][:12]}" in head
    assert fits_80_columns(printed.stdout), printed.stdout
    table = printed.stdout.split("estimate: the chance")[0]
    rows = [
        row for row in map(str.split, table.splitlines()) if row[:1] in [[a] for a in APPROACHES]
    ]
    assert [row[0] for row in rows] == list(APPROACHES)
    assert all(row[1] == APPROACHES[row[0]] and row[-2] == "pp" for row in rows)
    answer = json.loads(
        overdue("estimate", "--case", str(case_file), "--json", env=trained["env"]).stdout
    )
    words = " ".join(printed.stdout.split())
    names = driver_labels("en")  # the drivers by name, as the page writes them, not by code
    assert all(
        f"{names[d['driver']]} {100 * d['change']:+.1f} pp" in words for d in answer["drivers"]
    )


def test_effects_tables_fit_80_columns_in_percentage_points(trained: dict) -> None:
    """Every level's name is whole at 80 columns; what adjustment removed is in pp."""
    printed = overdue("effects", env={**trained["env"], "COLUMNS": "80"}).stdout
    assert fits_80_columns(printed), printed
    table = printed.split("observed: the rate")[0]
    rows = [
        row for row in map(str.split, table.splitlines()) if row[:1] in [[a] for a in APPROACHES]
    ]
    assert [row[0] for row in rows] == list(APPROACHES)
    assert all(row[-2] == "pp" for row in rows)
