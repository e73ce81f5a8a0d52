"""Hostile files end loaded, quarantined row by row, or refused with a reason: never a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_files import (
    AWKWARD_KEYS,
    BIG_CELL,
    ID_IN_NAME,
    MOBILE_HEADER,
    MOBILE_IN_NAME,
    awkward_keys_jsonl,
    big_cell_csv,
    gb18030_cut_csv,
    long_line_jsonl,
    mixed_newlines_csv,
    nul_csv,
    nul_jsonl,
    nul_parquet,
    pii_named_csv,
    rows,
    wide_csv,
    write_hostile,
)
from ingest_cases import AS_OF, VALID, csv_text, ingest, one, query, snapshot

from cli_support import overdue
from overdue.ingest import BatchReport
from overdue.ingest.read import MAX_CELL_CHARS, MAX_COLUMNS
from permission_support import small_disk

RAW_PII = (MOBILE_IN_NAME, ID_IN_NAME, MOBILE_HEADER)


def test_json_lines_keys_of_any_spelling_are_read_into_extra(tmp_path: Path, wh: Path) -> None:
    """Keys with quotes, backslashes, dots, stars, brackets, $, spaces, Chinese or nothing at
    all: every value is read and kept in extra (the empty key as _column_<n>)."""
    report = ingest([awkward_keys_jsonl(tmp_path / "keys.jsonl")], wh).batches[0]
    assert (report.status, report.rows_loaded) == ("loaded", len(AWKWARD_KEYS))
    extras = dict(query(wh, "SELECT case_id, extra FROM cases"))
    for i, key in enumerate(AWKWARD_KEYS):
        values = {k: v for k, v in json.loads(extras[f"C-J{i}"]).items() if v is not None}
        [(name, value)] = values.items()
        assert value == f"v{i}", key
        assert name == key if key else name.startswith("_column_")


def test_a_file_wider_than_the_column_limit_is_refused_with_a_batch_row(tmp_path: Path) -> None:
    """10,000 columns: refused before reading (no out-of-memory traceback), reason recorded."""
    wh = tmp_path / "w.duckdb"
    result = overdue("ingest", str(wide_csv(tmp_path / "wide.csv")), "--warehouse", str(wh))
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"10,029 columns, more than the {MAX_COLUMNS:,} ingest reads" in result.stdout
    assert query(wh, "SELECT status, message LIKE '%10,029 columns%' FROM batches") == [
        ("refused", True)
    ]


def test_a_file_at_the_column_limit_loads(tmp_path: Path, wh: Path) -> None:
    """Exactly MAX_COLUMNS columns is not refused."""
    path = wide_csv(tmp_path / "wide.csv", extra_columns=MAX_COLUMNS - len(VALID))
    assert ingest([path], wh).batches[0].rows_loaded == 1


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_mixed_line_endings_load_every_row_at_its_line(
    tmp_path: Path, wh: Path, encoding: str
) -> None:
    """CRLF and LF in one file (an Excel round trip): every record loads, on its own line."""
    path = mixed_newlines_csv(tmp_path / "mixed.csv", encoding)
    report = ingest([path], wh).batches[0]
    assert (report.status, report.rows_loaded, report.rows_quarantined) == ("loaded", 4, 0)
    assert query(wh, "SELECT source_line, region FROM cases ORDER BY 1") == [
        (line, "上海") for line in (2, 3, 4, 5)
    ]


@pytest.mark.parametrize("records", [3, 20_000])  # 20,000 records: more than one 4 MiB chunk
def test_a_gb18030_file_cut_inside_its_last_character(
    tmp_path: Path, wh: Path, records: int
) -> None:
    """The real byte offset is recorded; complete rows load, the cut one is quarantined."""
    path = gb18030_cut_csv(tmp_path / "cut.csv", records)
    offset = path.stat().st_size - 1  # the first byte of the cut two-byte character
    report = ingest([path], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (records - 1, 1)
    assert f"the first at byte offset {offset:,}" in str(report.message)
    assert one(wh, "SELECT message FROM batches") == report.message
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(records + 1, ["parse:encoding"])]


def test_one_huge_cell_quarantines_its_row_without_storing_it(tmp_path: Path, wh: Path) -> None:
    """A 50 MB cell: that row is quarantined as too_long:notes with a placeholder, the other 9
    load, and no part of the 50 MB text is stored."""
    report = ingest([big_cell_csv(tmp_path / "big.csv")], wh).batches[0]
    assert (report.status, report.rows_loaded, report.rows_quarantined) == ("loaded", 9, 1)
    line, reasons, record = query(wh, "SELECT line, reasons, record FROM quarantine")[0]
    assert (line, reasons) == (6, ["too_long:notes"])
    assert json.loads(record)["notes"] == f"[too long: {BIG_CELL:,} characters]"
    assert one(wh, "SELECT count(*) FROM cases WHERE extra->>'notes' <> 'ok'") == 0
    assert wh.stat().st_size < 10_000_000


def test_a_cell_at_the_limit_loads_and_one_past_it_is_quarantined(tmp_path: Path, wh: Path) -> None:
    """MAX_CELL_CHARS characters (Chinese: three bytes each) load; one more is too long."""
    data = rows(2)
    data[0]["notes"] = "备" * MAX_CELL_CHARS
    data[1]["notes"] = "备" * (MAX_CELL_CHARS + 1)
    path = tmp_path / "limit.csv"
    path.write_text(csv_text(data), encoding="utf-8")
    report = ingest([path], wh).batches[0]
    assert (report.rows_loaded, report.reasons) == (1, {"too_long:notes": 1})


def test_a_json_line_too_long_to_read_is_quarantined_and_later_lines_keep_their_numbers(
    tmp_path: Path, wh: Path
) -> None:
    """A 3 MB line is parse:too_long with a placeholder record; the next line is still line 3."""
    report = ingest([long_line_jsonl(tmp_path / "long.jsonl")], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert query(wh, "SELECT line, reasons, record->>'_text' FROM quarantine") == [
        (2, ["parse:too_long"], "[too long: 10,000+ characters]")
    ]
    assert query(wh, "SELECT source_line FROM cases ORDER BY 1") == [(1,), (3,)]


@pytest.mark.parametrize("first", ["C-0", "案件-0"])  # a plain ASCII start, or UTF-8 already
def test_a_later_json_line_that_is_not_utf8_is_quarantined(
    tmp_path: Path, wh: Path, first: str
) -> None:
    """Past the first 64 KiB, a JSON line with bytes that are not UTF-8 is parse:encoding at
    its line; the lines around it load and the batch stays UTF-8."""
    good = [json.dumps({**row, "region": first}, ensure_ascii=False) for row in rows(400)]
    bad = b'{"case_id": "C-\xff"}'
    text = [line.encode("utf-8") for line in good]
    path = tmp_path / "late.jsonl"
    path.write_bytes(b"\n".join([*text[:300], bad, *text[300:]]) + b"\n")
    assert path.stat().st_size > 1 << 16
    report = ingest([path], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (400, 1)
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(301, ["parse:encoding"])]
    assert one(wh, "SELECT encoding FROM batches") == "utf-8"
    assert one(wh, "SELECT max(source_line) FROM cases") == 401


def test_a_utf8_csv_with_one_bad_byte_is_not_read_as_gb18030(tmp_path: Path, wh: Path) -> None:
    """A file whose first 64 KiB are UTF-8 Chinese stays UTF-8: a later bad byte quarantines
    its line as parse:encoding instead of turning every Chinese cell into GB18030 mojibake."""
    data = [{**row, "region": "上海"} for row in rows(700)]
    content = csv_text(data).encode("utf-8")
    cut = content.index(b"\n", 1 << 17) + 1  # the start of a line past the first 64 KiB
    line = content[:cut].count(b"\n") + 1
    path = tmp_path / "bad-byte.csv"
    path.write_bytes(content[:cut] + b"\xff" + content[cut:])
    report = ingest([path], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (699, 1)
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(line, ["parse:encoding"])]
    assert query(wh, "SELECT DISTINCT region FROM cases") == [("上海",)]


@pytest.mark.parametrize(
    ("broken", "line", "loaded"),
    [
        ('"上海"x', 3, 3),  # stray text after a closing quote: that record alone
        ('"上海', 3, 1),  # a quote never closed: the record runs to the file's end, kept whole
    ],
)
def test_a_broken_quote_quarantines_its_record_not_the_file(
    tmp_path: Path, wh: Path, broken: str, line: int, loaded: int
) -> None:
    """DuckDB's sniffer cannot make out a file with a broken quote: its columns are then named
    from the header and the broken record is quarantined as parse:quotes at its line, with
    every line it spans; the other rows load and every row is accounted for."""
    text = csv_text([{**row, "region": "REGION"} for row in rows(4)])
    first, rest = text.split("REGION", 2)[:2], text.split("REGION", 2)[2]
    path = tmp_path / "quotes.csv"
    path.write_text(first[0] + "北京" + first[1] + broken + rest, encoding="utf-8")
    report = ingest([path], wh).batches[0]
    assert report.rows_loaded == loaded
    assert report.rows_read == report.rows_loaded + report.rows_quarantined
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(line, ["parse:quotes"])]
    assert one(wh, "SELECT count(*) FROM cases WHERE region = '北京'") == 1


@pytest.mark.parametrize(
    ("name", "make", "line"),
    [
        ("early.csv", lambda p: nul_csv(p, 2), 4),  # within the first 8 KiB
        ("late.csv", lambda p: nul_csv(p, 280), 282),  # after it
        ("nul.jsonl", nul_jsonl, 2),
        ("nul.parquet", nul_parquet, 2),
    ],
)
def test_a_nul_in_a_cell_is_a_bad_value_of_its_row(
    tmp_path: Path, wh: Path, name: str, make, line: int
) -> None:
    """NUL anywhere (CSV before or after 8 KiB, JSON \\u0000, a Parquet string) quarantines
    its row as nul:<field>; the other rows load and no NUL is stored."""
    report = ingest([make(tmp_path / name)], wh).batches[0]
    assert report.status == "loaded"
    assert report.rows_quarantined == 1
    assert report.rows_loaded == report.rows_read - 1
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(line, ["nul:region"])]
    assert one(wh, "SELECT count(*) FROM cases WHERE contains(region, chr(0))") == 0
    assert "\\u0000" not in one(wh, "SELECT record::VARCHAR FROM quarantine")


def test_file_and_header_names_with_personal_data_are_masked_everywhere(tmp_path: Path) -> None:
    """A file named with a mobile and a resident ID, with a header that is a mobile: the batch
    path, unknown columns, extra keys and the printed summary hold only [mobile] and
    [resident_id]; the raw digits are nowhere in the output or the warehouse file."""
    path = pii_named_csv(tmp_path)
    wh = tmp_path / "w.duckdb"
    result = overdue("ingest", str(path), "--warehouse", str(wh))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "张三_[mobile]_[resident_id].csv" in output
    assert "kept in cases.extra: [mobile]" in output
    batch = query(wh, "SELECT path, unknown_columns FROM batches")
    assert batch == [(str(tmp_path / "张三_[mobile]_[resident_id].csv"), ["[mobile]"])]
    assert json.loads(one(wh, "SELECT extra FROM cases")) == {"[mobile]": "call back"}
    stored = repr(snapshot(wh)) + wh.read_bytes().decode("latin-1")
    for raw in RAW_PII:
        assert raw not in output
        assert raw not in stored


def test_exit_status_says_how_the_files_ended(tmp_path: Path) -> None:
    """0 all loaded (and again: already loaded), 3 rows quarantined, 1 a file refused (even with
    quarantined rows), 2 the command could not run; --help says so."""
    wh = str(tmp_path / "w.duckdb")
    good = tmp_path / "good.csv"
    good.write_text(csv_text(rows(2)), encoding="utf-8")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(csv_text([*rows(1, "D-"), {**VALID, "age_band": "old"}]), encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert overdue("ingest", str(good), "--warehouse", wh).returncode == 0
    assert overdue("ingest", str(good), "--warehouse", wh).returncode == 0
    assert overdue("ingest", str(mixed), "--warehouse", wh).returncode == 3
    good.write_text(csv_text(rows(3)), encoding="utf-8")
    mixed.write_text(csv_text([*rows(2, "D-"), {**VALID, "age_band": "old"}]), encoding="utf-8")
    assert overdue("ingest", str(mixed), str(empty), str(good), "--warehouse", wh).returncode == 1
    missing = overdue("ingest", str(tmp_path / "nope.csv"), "--warehouse", wh)
    assert (missing.returncode, "no such file" in missing.stdout) == (2, True)
    assert overdue("ingest", "--no-such-option", "--warehouse", wh).returncode == 2
    helped = overdue("ingest", "--help").stdout
    assert "3 some rows quarantined" in helped
    assert "1 some file refused" in helped


def test_a_locked_warehouse_exits_2_and_changes_nothing(tmp_path: Path) -> None:
    """While another process writes the warehouse, ingest stops with exit status 2."""
    wh = tmp_path / "w.duckdb"
    good = tmp_path / "good.csv"
    good.write_text(csv_text(rows(2)), encoding="utf-8")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True);"
            " time.sleep(60)",
            str(wh),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        result = overdue("ingest", str(good), "--warehouse", str(wh))
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert "open for writing in another process" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_hostile_files_in_one_run_end_loaded_quarantined_or_refused(tmp_path: Path) -> None:
    """Every hostile file at once, in one `overdue ingest`: no traceback, a batches row for
    every file with a reason when refused, and each batch balances."""
    files = write_hostile(tmp_path / "in")
    wh = tmp_path / "w.duckdb"
    result = overdue("ingest", *map(str, files), "--warehouse", str(wh))
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "Error:" not in output, output
    assert result.returncode == 1, output  # some files are refused
    batches = query(
        wh,
        "SELECT path, status, message, rows_read, rows_loaded + rows_quarantined + rows_replaced "
        "+ rows_skipped FROM batches ORDER BY batch_id",
    )
    shown = [
        str(f).replace(MOBILE_IN_NAME, "[mobile]").replace(ID_IN_NAME, "[resident_id]")
        for f in files
    ]
    assert sorted(b[0] for b in batches) == sorted(shown)
    for path, status, message, read, accounted in batches:
        assert status in ("loaded", "refused"), path
        assert read == accounted, path
        assert status == "loaded" or message, path
    ended = {Path(path).name: status for path, status, *_ in batches}
    assert ended["wide.csv"] == ended["empty.csv"] == ended["random.bin"] == "refused"
    assert ended["truncated.parquet"] == ended["many-keys.jsonl"] == "refused"
    assert ended["big-cell.csv"] == ended["keys.jsonl"] == ended["deep.jsonl"] == "loaded"
    for raw in RAW_PII:
        assert raw not in output


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
def test_a_full_disk_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    """The warehouse on a 4 MB file system: ingesting a file that does not fit exits 2 with one
    line saying the disk is full and nothing was stored; the warehouse opens as it was."""
    with small_disk(tmp_path / "disk", "4m") as disk:
        wh = disk / "w.duckdb"
        small = tmp_path / "small.csv"
        small.write_text(csv_text(rows(3)), encoding="utf-8")
        assert overdue("ingest", str(small), "--warehouse", str(wh)).returncode == 0
        before = snapshot(wh)
        big = tmp_path / "big.csv"
        big.write_text(csv_text(rows(20_000, "B-")), encoding="utf-8")
        result = overdue("ingest", str(big), "--warehouse", str(wh))
        output = result.stdout + result.stderr
        assert result.returncode == 2, output
        assert "Traceback" not in output and "Exception" not in output, output
        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, output
        assert "no space left on device" in errors[0]
        assert "nothing of it was stored" in output
        assert snapshot(wh) == before


@pytest.mark.slow
def test_run_finishes_the_pipeline_and_exits_with_the_ingest_status(tmp_path: Path) -> None:
    """`overdue run` over good cases and hostile files: no traceback, the model, report and
    snapshot are made, the refusal is printed, and the exit status is 1 (a file refused)."""
    from overdue.simulate import write_simulation

    inbox = tmp_path / "inbox"
    simulated = write_simulation(tmp_path / "sim.parquet", rows=2_000, seed=3, as_of=AS_OF)
    inbox.mkdir()
    simulated.cases_path.rename(inbox / "cases.parquet")
    wide_csv(inbox / "wide.csv")
    nul_csv(inbox / "nul.csv", 280)
    pii_named_csv(inbox)
    env = {
        f"OVERDUE_{name.upper()}": str(tmp_path / name)
        for name in ("warehouse", "models_dir", "reports_dir", "published_dir")
    } | {"OVERDUE_SELF_CHECK": "false"}
    result = overdue("run", str(inbox), env=env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == 1, output
    assert "refused" in output and "10,029 columns" in output
    assert any((tmp_path / "published_dir").iterdir())
    for raw in RAW_PII:
        assert raw not in output


REGIONS = ("浙江", "江苏", "湖北")


def _regional(n: int, prefix: str = "C-") -> list[dict[str, str]]:
    """``n`` valid records, each with a Chinese region."""
    return [{**row, "region": REGIONS[i % len(REGIONS)]} for i, row in enumerate(rows(n, prefix))]


def _lines(data: list[dict[str, str]], encoding: str = "utf-8") -> list[bytes]:
    """The header and one line per record of ``data``, encoded."""
    return [line.encode(encoding) for line in csv_text(data).splitlines()]


def _balanced(report: BatchReport) -> None:
    assert report.rows_read == report.rows_loaded + report.rows_quarantined + report.rows_replaced


@pytest.mark.parametrize("records", [6, 2_000])  # 2,000: the late line is past the first 64 KiB
def test_gbk_lines_in_a_utf8_file_are_quarantined_and_the_rest_loads_intact(
    tmp_path: Path, wh: Path, records: int
) -> None:
    """A UTF-8 file with one GBK line early (line 3) and one late (the last): both lines are
    parse:encoding at their line numbers; every other Chinese cell loads as written."""
    data = _regional(records)
    lines = _lines(data)
    late = len(lines)  # line numbers are 1-based: the header is line 1
    lines[2] = csv_text([data[1]]).splitlines()[1].encode("gbk")
    lines[late - 1] = csv_text([data[-1]]).splitlines()[1].encode("gbk")
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert (records < 10) == (path.stat().st_size < 1 << 16)
    report = ingest([path], wh).batches[0]
    _balanced(report)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (
        records,
        records - 2,
        2,
    )
    assert query(wh, "SELECT line, reasons FROM quarantine ORDER BY line") == [
        (3, ["parse:encoding"]),
        (late, ["parse:encoding"]),
    ]
    loaded = dict(query(wh, "SELECT case_id, region FROM cases"))
    assert loaded == {row["case_id"]: row["region"] for row in data[:1] + data[2:-1]}
    assert one(wh, "SELECT encoding FROM batches") == "utf-8"
    assert report.message == (
        f"read as UTF-8: {records - 2:,} line(s) with non-ASCII text are UTF-8, "
        "2 are not and are quarantined as parse:encoding"
    )


def test_one_stray_byte_in_a_small_utf8_file_quarantines_only_its_line(
    tmp_path: Path, wh: Path
) -> None:
    """0xFF in one cell of a file whose only other Chinese is one line (P09 of the trial):
    UTF-8 still, the line with the byte is parse:encoding, the Chinese line loads intact."""
    data = _regional(3)
    data[0]["region"] = "Shandong"
    data[2]["region"] = "Jiangsu"
    lines = _lines(data)
    lines[1] = lines[1].replace(b"Shandong", b"Shandong\xff")
    path = tmp_path / "stray.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest([path], wh).batches[0]
    _balanced(report)
    assert (report.rows_loaded, report.rows_quarantined) == (2, 1)
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(2, ["parse:encoding"])]
    assert query(wh, "SELECT case_id, region FROM cases ORDER BY 1") == [
        ("C-0000001", "江苏"),
        ("C-0000002", "Jiangsu"),
    ]
    assert one(wh, "SELECT encoding FROM batches") == "utf-8"


def test_a_gbk_file_still_loads_as_gb18030_even_with_a_line_that_is_valid_utf8(
    tmp_path: Path, wh: Path
) -> None:
    """An Excel export in GBK throughout loads as GB18030, with no row quarantined, although
    one line's only Chinese (郑, D6 A3 in GBK) happens to be valid UTF-8 as well."""
    assert "郑".encode("gbk").decode("utf-8") != "郑"  # valid UTF-8, another character
    data = _regional(200)
    data[100]["region"] = "郑"
    path = tmp_path / "gbk.csv"
    path.write_bytes(b"\n".join(_lines(data, "gbk")) + b"\n")
    report = ingest([path], wh).batches[0]
    _balanced(report)
    assert (report.rows_loaded, report.rows_quarantined) == (200, 0)
    assert one(wh, "SELECT encoding FROM batches") == "gb18030"
    loaded = dict(query(wh, "SELECT case_id, region FROM cases"))
    assert loaded == {row["case_id"]: row["region"] for row in data}
    assert report.message == (
        "read as GB18030: 199 line(s) with non-ASCII text are not UTF-8, 1 are valid UTF-8 "
        "and were read as GB18030 too"
    )


def test_accounting_holds_with_a_gbk_line_and_a_replaced_duplicate(
    tmp_path: Path, wh: Path
) -> None:
    """read = loaded + quarantined + replaced in a UTF-8 file with a GBK line and an older
    version of a case; the GBK line's case is quarantined, not lost or garbled."""
    data = [{**row, "record_updated_at": "2024-05-01 00:00:00"} for row in _regional(5)]
    data.append({**data[0], "record_updated_at": "2024-04-01 00:00:00", "region": "上海"})
    lines = _lines(data)
    lines[4] = csv_text([data[3]]).splitlines()[1].encode("gb18030")
    path = tmp_path / "dup.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = ingest([path], wh).batches[0]
    _balanced(report)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (6, 4, 1)
    assert report.rows_replaced == 1
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(5, ["parse:encoding"])]
    assert one(wh, "SELECT region FROM cases WHERE case_id = 'C-0000000'") == "浙江"
    assert one(wh, "SELECT count(*) FROM cases WHERE region NOT IN ('浙江', '江苏', '湖北')") == 0


@pytest.mark.parametrize("at", [3, 900])  # about 5 KB and about 900 KB into the file
def test_a_json_line_that_is_not_utf8_is_quarantined_wherever_it_is(
    tmp_path: Path, wh: Path, at: int
) -> None:
    """JSON Lines with Chinese UTF-8 text and one line in GBK: that line is parse:encoding at
    its line number, early or late alike; the rest loads intact."""
    data = _regional(1_000)
    text = [json.dumps(row, ensure_ascii=False).encode() for row in data]
    text[at - 1] = json.dumps(data[at - 1], ensure_ascii=False).encode("gbk")
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(text) + b"\n")
    report = ingest([path], wh).batches[0]
    _balanced(report)
    assert (report.status, report.rows_loaded, report.rows_quarantined) == ("loaded", 999, 1)
    assert query(wh, "SELECT line, reasons FROM quarantine") == [(at, ["parse:encoding"])]
    loaded = dict(query(wh, "SELECT case_id, region FROM cases"))
    assert loaded == {row["case_id"]: row["region"] for i, row in enumerate(data) if i != at - 1}


def test_json_lines_in_gbk_throughout_are_refused_naming_the_first_line(
    tmp_path: Path, wh: Path
) -> None:
    """A JSON export in GBK is not JSON Lines (RFC 8259: UTF-8): refused with a reason that
    names the first line that is not UTF-8, and nothing of it stored."""
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in _regional(5))
    path = tmp_path / "gbk.jsonl"
    path.write_bytes(text.encode("gbk"))
    report = ingest([path], wh).batches[0]
    assert report.status == "refused"
    assert "5 of its 5 lines are not UTF-8 (the first is line 1)" in str(report.message)
    assert one(wh, "SELECT count(*) FROM cases") == 0
