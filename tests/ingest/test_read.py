"""Finding files, recognising format and encoding, mapping headers."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

import pytest

from overdue.ingest.read import (
    _CHUNK,
    Format,
    SourceError,
    discover_sources,
    inbox_files,
    inspect_source,
    map_columns,
    utf8_evidence,
)

Write = Callable[..., Path]


def test_headers_map_from_english_any_case_and_exact_chinese() -> None:
    """English names (any case) and the exact Chinese aliases, slash included, map to fields."""
    columns = map_columns(["Case_ID", "就业状况", "月收入", " outcome ", "备注"])
    assert columns.names == ("case_id", "employment", "monthly_income", "outcome", "备注")
    assert columns.unknown == ("备注",)


def test_two_headers_for_one_field_are_refused() -> None:
    """case_id and 案件编号 in one file is ambiguous and refused, naming both."""
    with pytest.raises(SourceError, match="案件编号"):
        map_columns(["case_id", "案件编号"])


def test_quarantine_export_columns_are_ignored() -> None:
    """The columns an export adds are neither fields nor kept aside."""
    columns = map_columns(["quarantine_batch", "quarantine_line", "quarantine_reasons", "case_id"])
    assert columns.fields == ("case_id",)
    assert columns.ignored == ("quarantine_batch", "quarantine_line", "quarantine_reasons")


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("案件编号\nC1\n".encode(), "utf-8"),
        (codecs.BOM_UTF8 + b"case_id\nC1\n", "utf-8-sig"),
        ("案件编号\nC1\n".encode("gb18030"), "gb18030"),
    ],
)
def test_encoding_is_detected(write: Write, content: bytes, encoding: str) -> None:
    """UTF-8, UTF-8 with BOM and GB18030 are told apart."""
    assert inspect_source(write("a.csv", content)).encoding == encoding


def test_format_is_sniffed_without_a_known_suffix(write: Write) -> None:
    """A file named .dat is JSON Lines when it starts with '{', CSV otherwise."""
    assert inspect_source(write("a.dat", '{"case_id": "C1"}\n')).format is Format.JSONL
    assert inspect_source(write("b.dat", "case_id\nC1\n")).format is Format.CSV


def test_the_hash_is_of_the_bytes(write: Write) -> None:
    """Two files with the same bytes share a SHA-256; one more byte changes it."""
    a = inspect_source(write("a.csv", "case_id\nC1\n"))
    b = inspect_source(write("b.csv", "case_id\nC1\n"))
    c = inspect_source(write("c.csv", "case_id\nC1\n\n"))
    assert a.sha256 == b.sha256 != c.sha256


def test_discovery_skips_non_data_files_and_repeats(write: Write, tmp_path: Path) -> None:
    """Folders yield their data files once, in name order, even when named twice."""
    write("d/b.csv", "x")
    write("d/a.parquet", "x")
    write("d/notes.md", "x")
    found = discover_sources([tmp_path / "d", tmp_path / "d" / "b.csv"])
    assert [p.name for p in found] == ["a.parquet", "b.csv"]


def test_discovery_passes_over_uploads_under_hidden_names(write: Write, tmp_path: Path) -> None:
    """A file being uploaded under a hidden name, or into a hidden folder, is not read until
    it is renamed into place; a folder that is a file cannot be listed and says so."""
    write("d/a.csv", "x")
    write("d/.a.csv.part", "x")
    write("d/.incoming/b.csv", "x")
    assert [p.name for p in discover_sources([tmp_path / "d"])] == ["a.csv"]
    assert [p.name for p in inbox_files(tmp_path / "d")] == ["a.csv"]
    with pytest.raises(SourceError, match=r"cannot list the inbox .*a\.csv \(not a directory\)"):
        inbox_files(tmp_path / "d" / "a.csv")


UTF8_LINE = "C-1,浙江\n".encode()
GBK_LINE = "C-2,江苏\n".encode("gbk")
STRAY_LINE = b"C-3,Jiangsu\xff\n"
CHANCE_LINE = "C-4,郑\n".encode("gbk")  # GBK bytes that happen to be valid UTF-8 too


@pytest.mark.parametrize(
    ("lines", "counted"),
    [
        ([b"case_id\n", b"C-0\n"], (0, 0, True)),
        ([UTF8_LINE] * 3 + [GBK_LINE], (3, 1, True)),
        ([UTF8_LINE, GBK_LINE], (1, 1, True)),  # a tie goes to UTF-8
        ([UTF8_LINE, GBK_LINE, GBK_LINE], (1, 2, False)),
        ([UTF8_LINE, STRAY_LINE, STRAY_LINE], (1, 2, True)),  # valid in neither: no evidence
        ([STRAY_LINE, GBK_LINE], (0, 2, False)),
        ([CHANCE_LINE] + [GBK_LINE] * 3, (1, 3, False)),
        ([UTF8_LINE.rstrip(b"\n"), b"\n", GBK_LINE.rstrip(b"\n")], (1, 1, True)),
    ],
)
def test_utf8_evidence_counts_the_lines_of_each_encoding(
    write: Write, lines: list[bytes], counted: tuple[int, int, bool]
) -> None:
    """Non-ASCII lines are counted as UTF-8 or not; the file is UTF-8 unless more of them are
    valid GB18030 only than are valid UTF-8."""
    evidence = utf8_evidence(write("a.csv", b"".join(lines)))
    assert (evidence.utf8, evidence.other, evidence.is_utf8) == counted


def test_utf8_evidence_reads_the_whole_file_in_blocks_of_whole_lines(write: Write) -> None:
    """A GBK line whose first character straddles the 4 MiB block boundary is one line; a
    file past that boundary is counted to its end."""
    start = _CHUNK - len(b"C-2,") - 1  # the line's first GBK byte is the block's last byte
    before = start // len(UTF8_LINE)
    lines = [UTF8_LINE] * before + [b"x" * (start - before * len(UTF8_LINE)), GBK_LINE]
    content = b"".join(lines + [UTF8_LINE] * 10)
    assert content[_CHUNK - 1 : _CHUNK + 1] == "江".encode("gbk")
    path = write("big.csv", content)
    evidence = utf8_evidence(path)
    assert (evidence.utf8, evidence.other, evidence.is_utf8) == (before + 10, 1, True)


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (UTF8_LINE * 3 + GBK_LINE, "utf-8"),  # the first 64 KiB are not UTF-8: counted
        (GBK_LINE * 3 + UTF8_LINE, "gb18030"),
        (b"case_id\n" + STRAY_LINE, "utf-8"),
    ],
)
def test_encoding_is_judged_from_the_lines_of_the_file(
    write: Write, content: bytes, encoding: str
) -> None:
    """A file whose start is not UTF-8 is judged from all its lines, not from that start."""
    assert inspect_source(write("a.csv", b"case_id,region\n" + content)).encoding == encoding
