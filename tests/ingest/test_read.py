"""Finding files, recognising format and encoding, mapping headers."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path

import pytest

from overdue.ingest.read import Format, SourceError, discover_sources, inspect_source, map_columns

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
