"""Hostile input files, each as an Excel user or an attacker could hand them to ingest."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import polars as pl
from ingest_cases import VALID, csv_text, record

MOBILE_IN_NAME = "13812345678"
ID_IN_NAME = "420102198503121238"
MOBILE_HEADER = "13912345678"
PII_NAME = f"张三_{MOBILE_IN_NAME}_{ID_IN_NAME}.csv"
"""A file name holding a mobile number and a resident ID, as counselors name exports."""

AWKWARD_KEYS = ('a"b', "a\\b", "a.b", "a*b", "x[0]", "$", "has space", "", "备注", "a/b", "a~0")
"""JSON keys that break a JSON path or a SQL identifier when quoted naively."""

BIG_CELL = 50_000_000


def rows(n: int, prefix: str = "C-") -> list[dict[str, str]]:
    """``n`` valid records with distinct case ids."""
    return [record(case_id=f"{prefix}{i:07d}") for i in range(n)]


def awkward_keys_jsonl(path: Path) -> Path:
    """One valid record per awkward key, each with that key set to ``v<i>``."""
    lines = [
        json.dumps({**record(case_id=f"C-J{i}"), key: f"v{i}"}, ensure_ascii=False)
        for i, key in enumerate(AWKWARD_KEYS)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wide_csv(path: Path, extra_columns: int = 10_000) -> Path:
    """One valid record with ``extra_columns`` more columns than the contract."""
    header = [*VALID, *(f"x{i}" for i in range(extra_columns))]
    path.write_text(csv_text([record()], header=header), encoding="utf-8")
    return path


def mixed_newlines_csv(path: Path, encoding: str = "utf-8") -> Path:
    """Four records, lines ending CRLF and LF alternately (an Excel round trip)."""
    data = [{**row, "region": "上海"} for row in rows(4, prefix=f"C-{encoding}-")]
    lines = csv_text(data).splitlines()
    text = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines))
    path.write_bytes(text.encode(encoding))
    return path


def gb18030_cut_csv(path: Path, records: int = 3) -> Path:
    """A GB18030 file whose last record ends inside a two-byte character (the file was cut)."""
    data = rows(records)
    for row in data:
        row["region"] = "上海"
    content = csv_text(data, header=[*VALID, "region"]).rstrip("\n").encode("gb18030")
    assert content.endswith("海".encode("gb18030"))
    path.write_bytes(content[:-1])
    return path


def big_cell_csv(path: Path, size: int = BIG_CELL) -> Path:
    """Ten records; the fifth has ``size`` characters in its ``notes`` cell."""
    data = rows(10)
    for row in data:
        row["notes"] = "ok"
    data[4]["notes"] = "x" * size
    path.write_text(csv_text(data, header=[*VALID, "notes"]), encoding="utf-8")
    return path


def nul_csv(path: Path, nul_row: int) -> Path:
    """300 records; record ``nul_row`` has a NUL byte at the start of its ``region``."""
    data = rows(300)
    for row in data:
        row["region"] = "north"
    data[nul_row]["region"] = "\x00north"
    path.write_text(csv_text(data, header=[*VALID, "region"]), encoding="utf-8")
    return path


def nul_jsonl(path: Path) -> Path:
    """Three records; the second has a NUL (written \\u0000) in its ``region``."""
    data = rows(3)
    data[1]["region"] = "\x00north"
    path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    return path


def nul_parquet(path: Path) -> Path:
    """Three records; the second has a NUL in its ``region``."""
    data = rows(3)
    data[1]["region"] = "north\x00"
    pl.DataFrame(data).write_parquet(path)
    return path


def pii_named_csv(folder: Path) -> Path:
    """A valid record in a file named with a mobile and a resident ID, under a header that is a
    mobile number (its cell holds a plain note)."""
    path = folder / PII_NAME
    row = {**record(case_id="C-PII"), MOBILE_HEADER: "call back"}
    path.write_text(csv_text([row]), encoding="utf-8")
    return path


def deep_jsonl(path: Path, depth: int = 1_000) -> Path:
    """A valid record with a value nested ``depth`` lists deep."""
    line = json.dumps(record(case_id="C-DEEP"))[:-1] + ', "notes": ' + "[" * depth + "]" * depth
    path.write_text(line + "}\n", encoding="utf-8")
    return path


def long_line_jsonl(path: Path) -> Path:
    """Three records; the second is a 3 MB line (longer than the reader's line size)."""
    data = rows(3)
    data[1]["notes"] = "y" * 3_000_000
    path.write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    return path


HOSTILE: dict[str, Callable[[Path], Path]] = {
    "keys.jsonl": awkward_keys_jsonl,
    "wide.csv": wide_csv,
    "mixed.csv": mixed_newlines_csv,
    "mixed-gb18030.csv": lambda p: mixed_newlines_csv(p, "gb18030"),
    "cut-gb18030.csv": gb18030_cut_csv,
    "big-cell.csv": big_cell_csv,
    "nul-early.csv": lambda p: nul_csv(p, 2),
    "nul-late.csv": lambda p: nul_csv(p, 280),
    "nul.jsonl": nul_jsonl,
    "nul.parquet": nul_parquet,
    "deep.jsonl": deep_jsonl,
    "long-line.jsonl": long_line_jsonl,
    "empty.csv": lambda p: _write(p, b""),
    "random.bin": lambda p: _write(p, os.urandom(4096)),
    "utf16.csv": lambda p: _write(p, csv_text(rows(2)).encode("utf-16")),
    "workbook.xlsx": lambda p: _write(p, b"PK\x03\x04" + os.urandom(200)),
    "note.txt": lambda p: _write(p, "Call Mr Wang back on Tuesday.\nHe will bring the contract.\n"),
    "truncated.parquet": lambda p: _write(p, _parquet_bytes(p)[:300]),
    "array.json": lambda p: _write(p, json.dumps(rows(2)) + "\n"),
    "many-keys.jsonl": lambda p: _write(p, json.dumps({f"k{i}": i for i in range(1_001)}) + "\n"),
    "not-utf8.jsonl": lambda p: _write(
        p, (json.dumps(record(case_id="C-U1")) + "\n").encode() + b'{"case_id": "\xff\xfe"}\n'
    ),
    "reserved-headers.csv": lambda p: _write(
        p, csv_text([{**record(), "_ordinal": "1", "__bad": "2", "Case_ID__text": "3"}])
    ),
    "blank-lines.csv": lambda p: _write(p, "\n\n\n"),
    "header-only.csv": lambda p: _write(p, ",".join(VALID) + "\n"),
    "quotes.csv": lambda p: _write(p, csv_text(rows(2)) + '"C-9,"unclosed\n'),
}
"""Every hostile file by name, with the function that writes it."""


def _write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _parquet_bytes(path: Path) -> bytes:
    full = path.with_suffix(".full")
    pl.DataFrame(rows(50)).write_parquet(full)
    data = full.read_bytes()
    full.unlink()
    return data


def write_hostile(folder: Path) -> list[Path]:
    """Every hostile file, plus the file named with personal data, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return [make(folder / name) for name, make in HOSTILE.items()] + [pii_named_csv(folder)]
