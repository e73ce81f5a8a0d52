"""Personal data: found in any cell, however written, masked before it is stored, never printed."""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import pytest
from ingest_cases import VALID, csv_text, ingest, one, query, record

from overdue.ingest.pii import PREFILTER, find_pii, mask_text, normalise

Write = Callable[..., Path]
ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(first17: str) -> str:
    """The 18-character ID: ``first17`` and its GB 11643 check character (the standard's table)."""
    return (
        first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]
    )


def luhn_complete(body: str) -> str:
    """``body`` and the digit that makes it pass the Luhn check."""
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return body + str(-total % 10)


RESIDENT_ID = "11010519491231002X"  # the standard's example: valid region, birth date, check digit
CARD = "6222021234567894"  # Luhn-valid
CARD_19 = luhn_complete("622202123456789012")
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
CIRCLED = str.maketrans("0123456789", "⓪①②③④⑤⑥⑦⑧⑨")
DINGBAT = str.maketrans("123456789", "❶❷❸❹❺❻❼❽❾")
SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def test_the_helpers_agree_with_the_standards_examples() -> None:
    """The test's own check digits reproduce the published examples."""
    assert resident_id(RESIDENT_ID[:17]) == RESIDENT_ID
    assert luhn_complete(CARD[:-1]) == CARD


# Every spelling the issue found loaded, and the other common ones: (text, kind found).
SPELLINGS = [
    ("510107198503121231", "resident_id"),  # Chengdu Wuhou, a district created in 1990
    (resident_id("31011519900307123"), "resident_id"),  # Pudong
    (resident_id("44030620010611004"), "resident_id"),  # Shenzhen Nanshan
    (resident_id("44030719780228315"), "resident_id"),  # Shenzhen Longgang
    (resident_id("11011419650704281"), "resident_id"),  # Beijing Changping
    (resident_id("11011519930915562"), "resident_id"),  # Beijing Daxing
    (resident_id("99887720000229001"), "resident_id"),  # a made-up region, a leap day
    ("110105491231002", "resident_id"),  # 15-digit old ID
    ("身份证 510107850312123 已核", "resident_id"),
    (resident_id("11010519491231002").translate(FULL_WIDTH), "resident_id"),  # full width
    ("110105 19491231 002x", "resident_id"),
    ("No.420102198503121238", "resident_id"),
    ("１５８１２３４５６７８", "mobile"),
    ("13812345678".translate(CIRCLED), "mobile"),
    ("13812345678".translate(DINGBAT), "mobile"),
    ("13812345678".translate(SUPERSCRIPT), "mobile"),
    ("13812345678".translate(SUBSCRIPT), "mobile"),
    ("138 1234 5678".translate(CIRCLED), "mobile"),
    (resident_id("11010519491231002").translate(SUPERSCRIPT), "resident_id"),
    (CARD.translate(CIRCLED), "bank_card"),
    ("0086 138 1234 5678", "mobile"),
    ("008613812345678", "mobile"),
    ("(+86) 13812345678", "mobile"),
    ("+86 138-1234-5678", "mobile"),
    ("8613812345678", "mobile"),
    ("138\u30001234\u30005678", "mobile"),
    ("138\u00a01234\u00a05678", "mobile"),
    ("138\u202f1234\u20075678", "mobile"),
    ("138－1234—5678", "mobile"),
    ("188.1234.5678", "mobile"),
    ("1381 2345 678", "mobile"),
    ("138 - 1234 - 5678", "mobile"),
    ("Tel.13712345678", "mobile"),
    ("手机13712345678。", "mobile"),
    ("13,812,345,678", "mobile"),
    ("(138)1234-5678", "mobile"),  # the first digits in parentheses, as often typed
    ("（138）1234 5678", "mobile"),
    ("(138) 1234 5678", "mobile"),
    ("(0)138 1234 5678", "mobile"),
    ("+86 (138) 1234-5678", "mobile"),
    ("138(1234)5678", "mobile"),
    ("138,1234,5678", "mobile"),  # commas as group separators
    ("138，1234，5678", "mobile"),
    ("[138, 1234, 5678]", "mobile"),  # a list of its groups
    ("138,1234,5678.00", "mobile"),
    ("1.3812345678e10", "mobile"),
    ("1.3812345678E+10", "mobile"),
    ("13812345678.0", "mobile"),
    (CARD, "bank_card"),
    ("6222 0212 3456 7894", "bank_card"),
    ("6222,0212,3456,7894", "bank_card"),
    ("(6222)0212 3456 7894", "bank_card"),
    (f"{CARD_19[:6]} {CARD_19[6:]}", "bank_card"),  # 6 + 13
    (f"{CARD_19[:4]}-{CARD_19[4:10]}-{CARD_19[10:]}", "bank_card"),
    ("mail a.b-c@example.com.cn ok", "email"),
    ("张三@例子.中国", "email"),
    ("张三＠例子.中国", "email"),
    ("zhang.san＠qq。com", "email"),
    ('"zs"@example.cn', "email"),  # a quoted local part
    ('"zhang san"@example.com.cn', "email"),
    ("zs[at]example.cn", "email"),  # common ways to keep an address from robots
    ("zs(at)example.cn", "email"),
    ("zs{at}example.cn", "email"),
    ("zs <at> example.cn", "email"),
    ("zs（at）example。cn", "email"),
    ("zs [AT] example [DOT] cn", "email"),
    ("zs(at)example(dot)com(dot)cn", "email"),
    ("zs@example dot cn", "email"),
    ("zs at example dot cn", "email"),
    ("zs AT mail.example DOT cn", "email"),
    ("张三 at 例子 dot 中国", "email"),
]


@pytest.mark.parametrize(("text", "kind"), SPELLINGS)
def test_every_spelling_is_found_and_masked(text: str, kind: str) -> None:
    """Each spelling is found as its kind and masking leaves none of its digits or its @."""
    assert kind in [hit.kind for hit in find_pii(text)]
    masked = mask_text(text)
    assert f"[{kind}]" in masked
    assert len(re.sub(r"\D", "", normalise(masked))) < 11
    assert not set("@＠") & set(masked)


@pytest.mark.parametrize(("text", "kind"), SPELLINGS)
def test_the_prefilter_matches_every_spelling(text: str, kind: str) -> None:
    """DuckDB's prefilter (RE2, run on whole rows) matches every spelling the detector finds."""
    con = duckdb.connect()
    row = f"C-1\x1f{text}\x1f广东"
    assert con.execute("SELECT regexp_matches(?, ?)", [row, PREFILTER]).fetchone() == (True,)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"id {RESIDENT_ID}.", "id [resident_id]."),
        ("call 13812345678 now", "call [mobile] now"),
        ("+86 138-1234-5678", "[mobile]"),
        ("Tel.13712345678", "Tel.[mobile]"),
        (f"card {CARD}", "card [bank_card]"),
        ("张三_13812345678_420102198503121238.csv", "张三_[mobile]_[resident_id].csv"),
        ("13812345678/13912345678", "[mobile]/[mobile]"),
        ("电话（138）1234 5678。", "电话[mobile]。"),
        ("tel (+86)(138)1234-5678", "tel [mobile]"),
        ("1) 138,1234,5678", "1) [mobile]"),
        ("联系张三@例子.中国", "[email]"),
        ('mail "zs"@example.cn', "mail [email]"),
        ("请发 zs[at]example.cn 谢谢", "请发 [email] 谢谢"),
        ("write to zs at example dot cn today", "write to [email] today"),
    ],
)
def test_masks_replace_exactly_the_personal_data(text: str, masked: str) -> None:
    """Masks name the kind in brackets and leave the rest of the text as it was."""
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "110105194912310021",  # wrong check digit
        "110105194913310029",  # no 13th month
        "110105491331002",  # old ID without a 13th month
        "12812345678",  # not a mobile prefix
        "6222021234567895",  # fails Luhn
        "0000000000000",  # passes Luhn, but no card starts with 0
        "0.2399999999999999",  # a fraction's digits
        "0.2399999999999999 0.5",
        "C1352908-0000001",  # two 7-digit groups failing Luhn
        "C1352908-N0000a00",  # the simulator's ids
        "2026-06-04 18:51:09",
        "2026-06-04T18:51:09.123456",
        "2024/3/5",
        "1381234567890123456789012",  # 25 digits: no kind of personal data
        "12,000.50",
        "1,234,567.89",
        "12,000,000",
        "0.2399999999999999,0.5",  # a list of fractions: each fraction stays unread
        "0.2399999999999999, 0.18",
        "1,234,567.89,0.2399999999999999",
        "(1)(2)(3) 2026-06-04",
        "(010)8765 4321",  # a landline with its area code
        "(2026)06-04",
        "24%",
        "0.2044",
        "1.38e10",  # the digits after 138 are lost: no identifier left
        "1.38123E+10",
        "@张三 请回电",
        "look at the results",  # " at " is read only before a domain with a spelled dot
        "look at this",
        "available at example.com",
        "we met at home.Then",
        "AT&T at 5 pm (at) the office",
        "see [at] page 5",
    ],
)
def test_lookalikes_are_not_personal_data(text: str) -> None:
    """Numbers that only look like personal data are left alone."""
    assert find_pii(text) == []


# What docs/personal-data.md lists as missed: when one is found one day, move it to SPELLINGS
# and update the page.
KNOWN_MISSES = [
    "13812.345678",  # reads as a decimal amount
    "138\n1234 5678",  # a line break inside the number
    "138  1234  5678",  # two separators in a row
    "138 -- 1234 -- 5678",
    "138)1234-5678",  # an unbalanced parenthesis
    "(138) - 1234 - 5678",
    "1381234567813912345678",  # two mobiles glued together: 22 digits
    "0622021234567894",  # a card number starting with 0
    "一三八一二三四五六七八",  # Chinese numerals
    "1.38e10",  # scientific notation that has lost digits
    "zs at example.cn",  # " at " with real dots: also how prose reads
    "zs#example.cn",  # "#" for "@": also a URL fragment, a file name
    "zs 艾特 example.cn",
    "a" * 65 + " at example dot cn",  # no local part is that long
    "138,12.345678",  # a list of 138 and the amount 12.345678
    "⑬⑧1234 5678",  # ⑬ stands for two digits
    "&#49;3812345678",  # an HTML entity
    "13812345678"[::-1],
    base64.b64encode(RESIDENT_ID.encode()).decode(),
]


@pytest.mark.parametrize("text", KNOWN_MISSES)
def test_the_documented_misses_are_missed(text: str) -> None:
    """The misses the page lists are the detector's behaviour, no more and no less."""
    assert find_pii(text) == []


# What docs/personal-data.md lists as false alarms (a missed identifier costs more).
KNOWN_FALSE_ALARMS = [
    ("C1352908-0000006", "bank_card"),  # 14 digits across the hyphen pass Luhn
    ("C1352908-0000a00", "mobile"),  # 1352908-0000
    ("1200 3400 5600 7806", "bank_card"),  # several numbers that together pass Luhn
    ("1200,3400,5600,7806", "bank_card"),
    ("(1200)3400 5600 7806", "bank_card"),
    ("look at this dot com", "email"),
]


@pytest.mark.parametrize(("text", "kind"), KNOWN_FALSE_ALARMS)
def test_the_documented_false_alarms_are_raised(text: str, kind: str) -> None:
    """The false alarms the page lists are the detector's behaviour."""
    assert [hit.kind for hit in find_pii(text)] == [kind]


def test_normalising_keeps_positions() -> None:
    """Look-alike characters become ASCII one for one, so masks land on the original text."""
    text = "１３８\u3000１２３４－５６７８＠ｑｑ．ｃｏｍ"
    assert normalise(text) == "138 1234-5678@qq.com"
    assert len(normalise(text)) == len(text)


def test_normalising_reads_what_nfkc_reads_as_one_ascii_character() -> None:
    """Every character whose NFKC form is one ASCII character (full-width, circled, super- and
    subscript, math letters ...) is read as it; every Unicode digit is read as its digit."""
    for code in range(0x80, 0x20000):
        char = chr(code)
        compatible = unicodedata.normalize("NFKC", char)
        digit = unicodedata.digit(char, None)
        if digit is not None:
            assert normalise(char) == str(digit), hex(code)
        elif len(compatible) == 1 and compatible.isascii() and not compatible.isspace():
            assert normalise(char) == compatible, hex(code)


def test_the_simulators_ids_are_not_mistaken() -> None:
    """No case id or debtor ref of the committed sample (default seed) reads as personal data."""
    sample = pl.read_parquet(ROOT / "data" / "sample" / "cases.parquet")
    ids = sample["case_id"].to_list() + sample["debtor_ref"].drop_nulls().to_list()
    assert [i for i in ids if find_pii(i)] == []


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("debtor_ref", RESIDENT_ID, "pii:resident_id:debtor_ref"),
        ("debtor_ref", "510107198503121231", "pii:resident_id:debtor_ref"),
        ("case_id", "13812345678", "pii:mobile:case_id"),
        ("notes", f"paid with card {CARD}", "pii:bank_card:notes"),
        ("notes", "１５８１２３４５６７８", "pii:mobile:notes"),
        ("notes", "Tel.13712345678", "pii:mobile:notes"),
        ("region", "me@example.com", "pii:email:region"),
        ("region", "张三@例子.中国", "pii:email:region"),
        ("notes", '"zs"@example.cn', "pii:email:notes"),
        ("notes", "zs[at]example.cn", "pii:email:notes"),
        ("region", "zs at example dot cn", "pii:email:region"),
        ("region", "138\u30001234\u30005678", "pii:mobile:region"),
        ("region", "(138)1234-5678", "pii:mobile:region"),
        ("notes", "（138）1234 5678", "pii:mobile:notes"),
        ("notes", "138,1234,5678", "pii:mobile:notes"),
        ("notes", "13812345678".translate(CIRCLED), "pii:mobile:notes"),
        ("notes", "13812345678".translate(SUPERSCRIPT), "pii:mobile:notes"),
        ("monthly_payment_due", "13812345678", "pii:mobile:monthly_payment_due"),
        ("monthly_payment_due", "13,812,345,678", "pii:mobile:monthly_payment_due"),
        ("monthly_payment_due", "1.3812345678e10", "pii:mobile:monthly_payment_due"),
        ("monthly_payment_due", "13812345678e-5", "pii:mobile:monthly_payment_due"),
        ("upfront_payment", "13,812,345,678", "pii:mobile:upfront_payment"),
        ("principal", "13812345678", "pii:mobile:principal"),
        ("days_to_first_contact", "13812345678", "pii:mobile:days_to_first_contact"),
    ],
)
def test_a_row_with_personal_data_is_quarantined_masked(
    write: Write, wh: Path, column: str, value: str, reason: str
) -> None:
    """A hit anywhere in a row quarantines it with pii:<kind>:<column>, the value masked."""
    row = {**VALID, "notes": "", "debtor_ref": "", "region": "", column: value}
    ingest([write("p.csv", csv_text([row]))], wh)
    reasons = one(wh, "SELECT reasons FROM quarantine")
    assert reason in reasons
    stored = json.loads(one(wh, "SELECT record FROM quarantine"))
    assert value not in json.dumps(stored, ensure_ascii=False)
    assert "[" in stored[column]
    assert one(wh, "SELECT count(*) FROM cases") == 0
    assert value.encode() not in wh.read_bytes()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("monthly_payment_due", "20000001"),
        ("proposed_monthly_payment", "25,000,000"),
        ("granted_monthly_payment", "1e9"),
        ("penalty_accrued", "20000000.5"),
        ("upfront_payment", "99999999"),
        ("relief_amount", "3e7"),
        ("days_to_first_contact", "3651"),
    ],
)
def test_amounts_beyond_any_real_value_are_out_of_range(
    write: Write, wh: Path, column: str, value: str
) -> None:
    """Amounts above the largest debt, and days beyond ten years, are out of range."""
    row = record(**{column: value})
    ingest([write("r.csv", csv_text([row]))], wh)
    assert f"range:{column}" in one(wh, "SELECT reasons FROM quarantine")


def test_amounts_up_to_the_largest_debt_load(write: Write, wh: Path) -> None:
    """A monthly payment as large as the largest balance the contract allows still loads."""
    row = record(outstanding_balance="20000000", monthly_payment_due="20,000,000")
    report = ingest([write("ok.csv", csv_text([row]))], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (1, 0)


def test_personal_data_never_reaches_the_warehouse_file(write: Write, wh: Path) -> None:
    """The raw number is nowhere in the warehouse file's bytes after ingest."""
    rows = [record(case_id=f"C-{i}", debtor_ref="D-1") for i in range(3)]
    rows[1]["debtor_ref"] = "13987654321"
    ingest([write("p.csv", csv_text(rows))], wh)
    assert b"13987654321" not in wh.read_bytes()
    assert query(wh, "SELECT case_id FROM cases ORDER BY 1") == [("C-0",), ("C-2",)]


def test_case_ids_with_digits_are_not_mistaken(write: Write, wh: Path) -> None:
    """Simulator-style ids and long fractions load as they are."""
    row = record(
        case_id="C1352908-N0000a00",
        debtor_ref="D1352908-0000001",
        annual_rate="0.2399999999999999",
        monthly_payment_due="12,000.50",
    )
    report = ingest([write("ok.csv", csv_text([row]))], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (1, 0)


def test_ordinary_numbers_with_commas_and_parentheses_load(write: Write, wh: Path) -> None:
    """Amounts with thousands commas, lists of fractions, numbered notes and dates load."""
    row = record(
        outstanding_balance="20,000,000",
        monthly_payment_due="12,000,000",
        notes="(1) paid 12,000,000 on 2026-06-04 (2) rates 0.2399999999999999,0.18",
    )
    report = ingest([write("ok.csv", csv_text([row]))], wh).batches[0]
    assert (report.rows_loaded, report.rows_quarantined) == (1, 0)
