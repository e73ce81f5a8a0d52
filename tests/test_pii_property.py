"""Every personal identifier, however spelled, is refused everywhere it can enter.

Generators write resident IDs over every region code (any 6 digits starting 1-9) and birth
years 1930-2025 with their check digit, 15-digit old IDs, mobiles with every common prefix,
separator and grouping, Luhn-valid cards of 13-19 digits in any grouping (digits full-width,
circled, super- or subscript at times), and emails (ASCII, Chinese, full-width ＠), embedded
in random text without digits. The same
generators, seeded, plant a few hundred values into real CSV, JSON Lines and Parquet files
ingested by the real `overdue ingest`, and into request bodies of the API (most through
``read_case``, a handful through a real server process).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_support import overdue
from ingest.ingest_cases import VALID
from overdue.case_input import validated_cases
from overdue.contract import FIELD_NAMES
from overdue.ingest.pii import PREFILTER, find_pii, mask_text, normalise
from overdue.serve.parsing import read_case, validation_errors
from serve.serve_support import CASE_EN, Server

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
FULL_WIDTH = str.maketrans("0123456789-./", "０１２３４５６７８９－．／")
OTHER_DIGITS = (
    str.maketrans("0123456789", "⓪①②③④⑤⑥⑦⑧⑨"),  # circled
    str.maketrans("123456789", "❶❷❸❹❺❻❼❽❾"),  # dingbat (no NFKC form; 0 stays ASCII)
    str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"),  # superscript
    str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"),  # subscript
)
SEPARATORS = (
    *" -./_",
    "\u3000",  # ideographic space
    "\u00a0",  # no-break space
    "\u2007",  # figure space
    "\u202f",  # narrow no-break space
    "\u2009",  # thin space
    "\t",
    "－",  # full-width hyphen
    "‐",  # U+2010
    "–",  # en dash
    "—",  # em dash
    "\u2212",  # minus sign
    " - ",
    ",",
    "，",  # full-width comma
    ", ",
)
MOBILE_PREFIXES = ("", "", "86", "+86", "+86 ", "0086", "0086 ", "0086-", "(+86)", "(+86) ", "0")
AROUND = "abcxyzXEe张三李四电话卡号身份证邮箱：:;,.!?()[]（）【】、。 -_/#*"
"""Surrounding characters: letters, Chinese and punctuation, never a digit or an @."""
AT_SIGNS = ("@", "@", "＠", "﹫", "[at]", "(at)", "{AT}", " [at] ", "（at）", " at ")
DOTS_AFTER_AT_WORD = (" dot ", " DOT ", "[dot]", " (dot) ")
"""`` at `` is an email's only with a spelled dot in its domain (``look at this`` is none)."""
TLDS = ("com", "cn", "net", "org", "com.cn", "中国", "公司", "网络", "xn--fiqs8s")


@dataclass(frozen=True)
class Planted:
    """A generated identifier: its kind, the core characters and the text written."""

    kind: str
    core: str  # digits (maybe a final X) or the email as written
    text: str  # as written in a cell, with the surrounding text

    @property
    def needles(self) -> tuple[str, ...]:
        """What must never be found in stored or printed output."""
        if self.kind == "email":
            return (self.text, self.core, normalise(self.core))
        return (self.text, self.core, self.core.rstrip("Xx")[:17])


def resident_id_18(rng: random.Random) -> str:
    """An 18-character ID: any region 100000-999999, a birth date 1930-2025, its check digit."""
    region = rng.randint(100_000, 999_999)
    born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randint(0, 35_063))  # to 2025-12-31
    first = f"{region}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(first, WEIGHTS, strict=True)) % 11]
    return first + (check.lower() if check == "X" and rng.random() < 0.3 else check)


def resident_id_15(rng: random.Random) -> str:
    """A 15-digit old ID: any region, a birth date 1930-1999 as YYMMDD, 3 digits."""
    born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randint(0, 25_566))  # to 1999-12-31
    return f"{rng.randint(100_000, 999_999)}{born:%y%m%d}{rng.randint(0, 999):03d}"


def mobile(rng: random.Random) -> str:
    """A mainland mobile number 1[3-9] + 9 digits."""
    return f"1{rng.choice('3456789')}{rng.randint(0, 10**9 - 1):09d}"


def card(rng: random.Random) -> str:
    """A Luhn-valid number of 13-19 digits starting 1-9."""
    body = str(rng.randint(1, 9)) + "".join(
        str(rng.randint(0, 9)) for _ in range(rng.randint(12, 18) - 1)
    )
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return body + str(-total % 10)


def grouped(rng: random.Random, chars: str) -> str:
    """``chars`` cut into groups of any size, joined by separators (never read as a decimal)."""
    cuts = sorted(rng.sample(range(1, len(chars)), rng.randint(1, min(6, len(chars) - 1))))
    groups = [chars[a:b] for a, b in zip([0, *cuts], [*cuts, len(chars)], strict=True)]
    joins = [rng.choice(SEPARATORS) for _ in groups[1:]]
    if "." in joins and any(j in (",", "，", ", ") for j in joins):
        joins = [" " if j in (",", "，", ", ") else j for j in joins]  # 1,3812.345678: decimal
    if joins == ["."]:  # 13812.345678 is a decimal number: its fraction is not read
        joins = [" "]
    return groups[0] + "".join(j + g for j, g in zip(joins, groups[1:], strict=True))


def spelled(rng: random.Random, chars: str) -> str:
    """One way a person or a spreadsheet writes the digits ``chars`` (maybe ending in X)."""
    styles = ["plain", "grouped", "grouped", "grouped"]
    if chars.isdigit():
        styles += ["thousands", "scientific", "decimal"]
    match rng.choice(styles):
        case "plain":
            text = chars
        case "grouped":
            text = grouped(rng, chars)
        case "thousands":
            text = f"{int(chars):,}"
        case "scientific":
            text = f"{chars[0]}.{chars[1:]}{rng.choice(['e', 'E', 'e+', 'E+'])}{len(chars) - 1}"
        case _:
            text = chars + rng.choice([".0", ".00", ".5"])
    style = rng.random()
    if style < 0.2:
        return text.translate(FULL_WIDTH)
    return text.translate(rng.choice(OTHER_DIGITS)) if style < 0.3 else text


def email(rng: random.Random) -> str:
    """An email address in ASCII, Chinese or full-width letters, with @, ＠ or ﹫, a quoted
    local part, or ``[at]``, ``(at)``, `` at `` ... (`` at `` with `` dot `` or ``[dot]``)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    ascii_local = "".join(rng.choice(letters + "0123456789") for _ in range(rng.randint(1, 12)))
    local = rng.choice(
        [ascii_local, f"{ascii_local}.{rng.choice(letters)}", "张三", "李四_1", f'"{ascii_local}"']
    )
    label = rng.choice(["".join(rng.choice(letters) for _ in range(5)), "qq", "例子", "邮箱"])
    at = rng.choice(AT_SIGNS)
    if at == " at " and local.startswith('"'):
        local = ascii_local
    dot = rng.choice(DOTS_AFTER_AT_WORD) if at == " at " or rng.random() < 0.1 else "."
    address = f"{local}{at}{label}{dot}{rng.choice(TLDS).replace('.', dot)}"
    if rng.random() < 0.2:
        address = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in address)
    return address


def surrounded(rng: random.Random, text: str) -> str:
    """``text`` inside random letters, Chinese and punctuation (no digits, no @)."""
    before = "".join(rng.choice(AROUND) for _ in range(rng.randint(0, 6)))
    after = "".join(rng.choice(AROUND) for _ in range(rng.randint(0, 6)))
    return before + text + after


def planted_resident_id(rng: random.Random) -> Planted:
    """An 18- or 15-character resident ID, spelled and surrounded."""
    core = resident_id_18(rng) if rng.random() < 0.7 else resident_id_15(rng)
    return Planted("resident_id", core, surrounded(rng, spelled(rng, core)))


def parenthesised(rng: random.Random, chars: str) -> str:
    """``chars`` with its first 3 or 4 digits in (full-width) parentheses: (138)1234-5678."""
    first = rng.choice([3, 4])
    left, right = rng.choice(["()", "（）"])
    rest = rng.choice(["", " ", "-"]) + rng.choice([chars[first:], grouped(rng, chars[first:])])
    return f"{left}{chars[:first]}{right}{rest}"


def planted_mobile(rng: random.Random) -> Planted:
    """A mobile with any prefix, spelled (sometimes its first digits in parentheses) and
    surrounded."""
    core = mobile(rng)
    text = parenthesised(rng, core) if rng.random() < 0.2 else spelled(rng, core)
    return Planted("mobile", core, surrounded(rng, rng.choice(MOBILE_PREFIXES) + text))


def planted_card(rng: random.Random) -> Planted:
    """A bank card, spelled and surrounded."""
    core = card(rng)
    return Planted("bank_card", core, surrounded(rng, spelled(rng, core)))


def planted_email(rng: random.Random) -> Planted:
    """An email, surrounded."""
    core = email(rng)
    return Planted("email", core, surrounded(rng, core))


GENERATORS: dict[str, Callable[[random.Random], Planted]] = {
    "resident_id": planted_resident_id,
    "mobile": planted_mobile,
    "bank_card": planted_card,
    "email": planted_email,
}
PREFILTER_DB = duckdb.connect()


def assert_refused(planted: Planted) -> None:
    """The detector finds it (as its kind, or as the bank card a longer Luhn-valid number
    around it makes: about one value in 65,000, as ``138…78.0.5``), DuckDB's prefilter matches
    it, and masking leaves none of it."""
    hits = find_pii(planted.text)
    assert hits, planted
    if planted.kind != "bank_card":  # a Luhn-valid number may also be an ID or a mobile
        assert {planted.kind, "bank_card"} & {h.kind for h in hits}, planted
    matched = PREFILTER_DB.execute("SELECT regexp_matches(?, ?)", [planted.text, PREFILTER])
    assert matched.fetchone() == (True,), planted
    masked = normalise(mask_text(planted.text))
    if planted.kind == "email":
        assert "@" not in masked and normalise(planted.core) not in masked, planted
    else:
        assert planted.core.rstrip("Xx")[:11] not in re.sub(r"\D", "", masked), planted


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_every_generated_identifier_is_refused(kind: str) -> None:
    """Hypothesis draws random identifiers of each kind; every one is found and masked."""

    @settings(max_examples=400, deadline=None, database=None)
    @given(st.randoms(use_true_random=False))
    def check(rng: random.Random) -> None:
        assert_refused(GENERATORS[kind](rng))

    check()


def plants(count: int = 60, seed: int = 20260612) -> list[Planted]:
    """A fixed set of ``count`` generated values of each kind (seeded)."""
    rng = random.Random(seed)
    return [generate(rng) for generate in GENERATORS.values() for _ in range(count)]


PLANTS = plants()
NUMERIC = "monthly_payment_due"
PLACES = ("case_id", "debtor_ref", "region", "notes", NUMERIC)
VALID_CASE: dict[str, str] = {k: v for k, v in VALID.items() if k != "case_id"}
COLUMNS = ["case_id", "debtor_ref", "region", *VALID_CASE, "notes"]
CONTROLS = 3


def planted_rows(prefix: str) -> list[dict[str, str]]:
    """One otherwise valid row per value and place, then CONTROLS clean rows."""
    rows = []
    for n, planted in enumerate(PLANTS):
        for place in PLACES:
            row = {"case_id": f"{prefix}-{n}-{place}", "debtor_ref": "D-1", "region": "广东"}
            rows.append({**row, **VALID_CASE, "notes": "ok", place: planted.text})
    clean = {"debtor_ref": "D-1", "region": "广东", **VALID_CASE, "notes": "ok"}
    return rows + [{"case_id": f"{prefix}-clean-{i}", **clean} for i in range(CONTROLS)]


def write_files(folder: Path) -> list[Path]:
    """The planted rows as CSV, JSON Lines and Parquet (all text), and a Parquet file whose
    numeric column holds the digit identifiers as numbers."""
    csv_path = folder / "planted.csv"
    pl.DataFrame(planted_rows("csv"), schema=dict.fromkeys(COLUMNS, pl.String)).write_csv(csv_path)
    jsonl_path = folder / "planted.jsonl"
    jsonl_path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in planted_rows("jsonl")),
        encoding="utf-8",
    )
    parquet_path = folder / "planted.parquet"
    pl.DataFrame(planted_rows("parquet"), schema=dict.fromkeys(COLUMNS, pl.String)).write_parquet(
        parquet_path
    )
    numbers = [p.core for p in PLANTS if p.core.isdigit() and int(p.core) < 2**63]
    typed = pl.DataFrame(
        [{**VALID_CASE, "case_id": f"num-{i}"} for i in range(len(numbers))]
    ).with_columns(pl.Series(NUMERIC, [int(n) for n in numbers], dtype=pl.Int64))
    typed_path = folder / "planted-numbers.parquet"
    typed.write_parquet(typed_path)
    return [csv_path, jsonl_path, parquet_path, typed_path]


@dataclass(frozen=True)
class Ingested:
    """The warehouse, the command's output and the report pages after ingesting the planted
    files."""

    warehouse: Path
    output: str
    numbers: int
    reports: str


def report_text(warehouse: Path, folder: Path) -> tuple[str, str]:
    """(every file of the report that `overdue report` writes for ``warehouse``, its output)."""
    done = overdue("report", "--warehouse", str(warehouse), "--out", str(folder))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    pages = "\n".join(
        p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file()
    )
    return pages, done.stdout + done.stderr


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """The planted files ingested by a real `overdue ingest` process into a real DuckDB file."""
    folder = tmp_path_factory.mktemp("planted")
    files = write_files(folder)
    warehouse = folder / "w.duckdb"
    done = overdue("ingest", *map(str, files), "--warehouse", str(warehouse))
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    numbers = sum(1 for p in PLANTS if p.core.isdigit() and int(p.core) < 2**63)
    reports, printed = report_text(warehouse, folder / "reports")
    return Ingested(warehouse, done.stdout + done.stderr + printed, numbers, reports)


def stored_text(warehouse: Path) -> Iterator[str]:
    """Every value of every table of the warehouse, as text."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                yield "\x1f".join(map(str, row))


def test_no_planted_value_is_loaded(ingested: Ingested) -> None:
    """Every planted row, in every format and place, is quarantined with a pii reason."""
    with duckdb.connect(str(ingested.warehouse), read_only=True) as con:
        loaded = con.execute("SELECT count(*) FROM cases").fetchone()
        batches = con.execute(
            "SELECT format, rows_read, rows_loaded, rows_quarantined FROM batches ORDER BY path"
        ).fetchall()
        without_pii = con.execute(
            "SELECT count(*) FROM quarantine "
            "WHERE len(list_filter(reasons, lambda r: starts_with(r, 'pii:'))) = 0"
        ).fetchone()
    planted = len(PLANTS) * len(PLACES)
    assert loaded == (3 * CONTROLS,)
    text_files = [(planted + CONTROLS, CONTROLS, planted)] * 3
    numbers_file = (ingested.numbers, 0, ingested.numbers)
    assert sorted(b[1:] for b in batches) == sorted([*text_files, numbers_file])
    assert without_pii == (0,)


def test_no_planted_value_is_stored_or_printed(ingested: Ingested) -> None:
    """Neither the warehouse file's bytes, its tables, the commands' output nor the report
    pages hold any of it."""
    raw = ingested.warehouse.read_bytes()
    wal = ingested.warehouse.with_suffix(".duckdb.wal")
    raw += wal.read_bytes() if wal.exists() else b""
    tables = "\n".join(stored_text(ingested.warehouse))
    for planted in PLANTS:
        for needle in planted.needles:
            assert needle.encode() not in raw, planted
            assert needle not in tables, planted
            assert needle not in ingested.output, planted
            assert needle not in ingested.reports, planted


def test_the_api_refuses_every_planted_value(tmp_path: Path) -> None:
    """As a body value, a nested value, a key or a number: 422 with a pii reason, nothing echoed."""
    for planted in PLANTS:
        bodies = [
            {**CASE_EN, "region": planted.text},
            {**CASE_EN, "region": {"note": [planted.text]}},
            {**CASE_EN, planted.text: 1},
        ]
        if planted.core.isdigit():
            bodies.append({**CASE_EN, NUMERIC: int(planted.core)})
        for body in bodies:
            case, problems = read_case(json.dumps(body, ensure_ascii=False).encode())
            assert case is None, planted
            errors = validation_errors(problems, "en")
            assert any(e["reason"].startswith("pii:") for e in errors), planted
            answer = json.dumps(errors, ensure_ascii=False)
            for needle in planted.needles:
                assert needle not in answer, planted


def test_the_estimate_files_refuse_every_planted_value() -> None:
    """As `overdue estimate --case/--cases` reads a row (a field, a column of the user's own,
    a key, a number): refused naming row and field, nothing echoed."""
    for planted in PLANTS:
        records = [
            {**CASE_EN, "region": planted.text},
            {**CASE_EN, "备注": planted.text},
            {**CASE_EN, planted.text: "1"},
        ]
        if planted.core.isdigit():
            records.append({**CASE_EN, NUMERIC: int(planted.core)})
        for row, record in enumerate(records, start=1):
            with pytest.raises(ValueError) as refused:
                validated_cases([CASE_EN, record])
            message = str(refused.value)
            assert "row 2, " in message and "holds personal data" in message, planted
            assert "row 1" not in message, (planted, row)
            for needle in planted.needles:
                assert needle not in message, planted


def post(server: Server, body: bytes) -> tuple[int, str]:
    """POST a raw JSON body to the estimate route; (status, body text)."""
    request = urllib.request.Request(
        f"{server.url}/api/v1/estimate",
        data=body,
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_real_server_refuses_them_without_echo(server: Server) -> None:
    """A handful of each kind, as a value and as a key: 422, a pii reason, nothing echoed or
    logged."""
    handful = PLANTS[:: len(PLANTS) // 12]  # 3 of each kind
    for planted in handful:
        for body in ({**CASE_EN, "region": planted.text}, {**CASE_EN, planted.text: 1}):
            status, text = post(server, json.dumps(body, ensure_ascii=False).encode())
            assert status == 422, (planted, text)
            assert "pii:" in text
            for needle in planted.needles:
                assert needle not in text and json.dumps(needle)[1:-1] not in text, planted
    log = server.log.read_text(encoding="utf-8", errors="replace")
    for planted in handful:
        for needle in planted.needles:
            assert needle not in log, planted


NAMED_FILE = "张三_13812345678_420102198503121238.csv"
HEADER = "13912345678"


def test_file_names_and_headers_are_masked(tmp_path: Path) -> None:
    """A file named after a person and a header holding a mobile are stored and printed masked."""
    rows = [{"case_id": f"N-{i}", **VALID_CASE, HEADER: "x"} for i in range(3)]
    path = tmp_path / NAMED_FILE
    pl.DataFrame(rows).write_csv(path)
    warehouse = tmp_path / "w.duckdb"
    done = overdue("ingest", str(path), "--warehouse", str(warehouse))
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    tables = "\n".join(stored_text(warehouse))
    raw = warehouse.read_bytes()
    for needle in ("13812345678", "420102198503121238", HEADER):
        assert needle not in done.stdout + done.stderr, needle
        assert needle not in tables, needle
        assert needle.encode() not in raw, needle
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM cases").fetchone() == (3,)
    reports, printed = report_text(warehouse, tmp_path / "reports")
    assert "[mobile]" in reports  # the batch is listed, by its masked name
    for needle in ("13812345678", "420102198503121238", HEADER):
        assert needle not in reports + printed, needle


def test_the_generators_cover_what_they_claim() -> None:
    """The fixed set holds every kind, both ID lengths, prefixes and full-width spellings."""
    kinds = {p.kind for p in PLANTS}
    assert kinds == set(GENERATORS)
    ids = [p.core for p in PLANTS if p.kind == "resident_id"]
    assert {len(i) for i in ids} == {15, 18}
    assert {len(p.core) for p in PLANTS if p.kind == "bank_card"} >= {13, 16, 19}
    texts = "".join(p.text for p in PLANTS)
    assert "０" in texts or "１" in texts
    assert set("①②③❶❷❸¹²³₁₂₃") & set(texts)
    assert "＠" in texts and "+86" in texts and " at " in texts and "(at)" in texts
    assert re.search(r"[(（]1[3-9]\d{1,2}[)）]", texts) and re.search(r"\d[,，]", texts)
    assert set(FIELD_NAMES) >= set(VALID_CASE)
