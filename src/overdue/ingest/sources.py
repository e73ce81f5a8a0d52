"""Source mappings: another organisation's export, described once, turned into case records.

A mapping is a YAML file (``sources/<name>.yaml``) that names the export's columns and says, for
every contract field, where its value comes from: a column (optionally through a value map), a
constant (with the reason it is a constant), or a formula in the small expression language of
``overdue.ingest.expr``. Rules say which rows are negotiation cases (``cases``, one or more kinds
of case, first match wins) and which are skipped and why (``skip``, ``otherwise``). The mapping
is validated when it is loaded (``load_mapping``): unknown columns, fields, constants and
functions, value maps onto values the contract does not allow, bad date formats and missing
required fields are errors naming the file, the key and the problem.

``map_frame`` applies a mapping to a source file's rows (all text) with polars and returns the
cases as contract-shaped text columns, plus the count of skipped rows per reason; ingest then
types, validates, screens and loads those rows exactly like a contract file
(``ingest.load.ingest_file(..., mapping=...)``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from overdue.contract import FIELD_BY_NAME, FIELD_NAMES, REQUIRED, Kind
from overdue.ingest.expr import (
    ExprError,
    Scope,
    Type,
    Value,
    compile_expression,
    constant_value,
    references,
)
from overdue.ingest.pii import find_pii

SOURCES_ENV: Final = "OVERDUE_SOURCES_DIR"
"""Folder of mapping files; default ``sources/`` in the working directory, else the repo's."""

KIND_EXTRA: Final = "source_case_kind"
PLACEHOLDER_EXTRA: Final = "placeholder_fields"
"""Keys every mapped case gets in ``cases.extra``: the case kind, and the contract fields that
hold a documented placeholder because the source cannot know them. (The raw file line of each
case is ``cases.source_line``, as for any file.)"""

_DATE_TOKENS: Final = {"YYYY": "%Y", "MM": "%m", "DD": "%d", "Mon": "%b", "Month": "%B"}
_REASON: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ConstantValue = str | bool | int | float | dt.date


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file, the key and the problem."""


# --- the schema ----------------------------------------------------------------------------


class FieldSpec(BaseModel):
    """Where one contract field's value comes from: exactly one of column, expr, value."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    expr: str | None = None
    value: ConstantValue | None = None
    map: dict[str, ConstantValue | None] | None = None
    default: ConstantValue | None = None
    placeholder: bool = False
    why: str | None = None

    @field_validator("map", mode="before")
    @classmethod
    def _keys_are_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, bool):
                    raise ValueError(
                        f"key {key!r}: YAML reads yes/no/on/off/true/false as booleans; "
                        "quote the source value, e.g. 'Y' or 'yes'"
                    )
            return {str(k): v for k, v in value.items()}
        return value


class CaseRule(BaseModel):
    """One kind of negotiation case: the rows it takes and the fields it sets or overrides."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    when: str
    fields: dict[str, FieldSpec | str] = Field(default_factory=dict)


class SkipRule(BaseModel):
    """Rows that are not negotiation cases, with the reason counted for them."""

    model_config = ConfigDict(extra="forbid")

    when: str
    reason: str


class Constant(BaseModel):
    """A named constant of the mapping, with the reason for its value."""

    model_config = ConfigDict(extra="forbid")

    value: ConstantValue
    why: str


class MappingFile(BaseModel):
    """The YAML document of a mapping, as written."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str
    doc: str | None = None
    date_format: str = "YYYY-MM-DD"
    columns: list[str]
    constants: dict[str, Constant] = Field(default_factory=dict)
    skip: list[SkipRule] = Field(default_factory=list)
    cases: list[CaseRule]
    otherwise: str = "matches_no_case_rule"
    fields: dict[str, FieldSpec | str] = Field(default_factory=dict)
    extra: dict[str, str] = Field(default_factory=dict)


# --- compiled mapping ----------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledKind:
    """One case kind: its condition and its fields (in dependency order) as expressions."""

    kind: str
    when: pl.Expr
    fields: tuple[tuple[str, Value], ...]
    placeholders: tuple[str, ...]


@dataclass(frozen=True)
class SourceMapping:
    """A loaded, validated mapping, ready to apply to a source file."""

    name: str
    path: Path
    sha256: str
    description: str
    columns: tuple[str, ...]
    used_columns: tuple[str, ...]
    skips: tuple[tuple[str, pl.Expr], ...]
    kinds: tuple[CompiledKind, ...]
    otherwise: str
    extras: tuple[tuple[str, Value], ...]

    @property
    def output_columns(self) -> tuple[str, ...]:
        """The columns of a mapped frame after ``_ordinal``: contract fields, then extras."""
        mapped = {name for kind in self.kinds for name, _ in kind.fields}
        return (
            *(f for f in FIELD_NAMES if f in mapped),
            *(name for name, _ in self.extras),
            KIND_EXTRA,
            PLACEHOLDER_EXTRA,
        )


def strptime_format(date_format: str) -> str:
    """``Mon-YYYY`` -> ``%b-%Y``; raises ``ValueError`` for a format it cannot read."""
    pattern = re.compile("|".join(sorted(_DATE_TOKENS, key=len, reverse=True)))
    out, position = [], 0
    for match in pattern.finditer(date_format):
        between = date_format[position : match.start()]
        if re.search(r"[A-Za-z0-9%]", between):
            break
        out.append(between + _DATE_TOKENS[match.group()])
        position = match.end()
    rest = date_format[position:]
    tokens = [m.group() for m in pattern.finditer(date_format)]
    if re.search(r"[A-Za-z0-9%]", rest) or "YYYY" not in tokens or len(set(tokens)) != len(tokens):
        raise ValueError(
            f"{date_format!r} is not a date format this reader knows: combine YYYY with MM or "
            "Mon (Jan) or Month (January), and optionally DD, separated by - / . or space, "
            "e.g. Mon-YYYY or YYYY-MM-DD"
        )
    return "".join(out) + rest


def _loc(parts: Sequence[object]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _spec(raw: FieldSpec | str) -> FieldSpec:
    return FieldSpec(expr=raw) if isinstance(raw, str) else raw


def _check_value(field: str, value: object) -> str | None:  # noqa: PLR0911 - one per kind
    """Why ``value`` cannot be a value of contract field ``field`` (None when it can)."""
    f = FIELD_BY_NAME[field]
    if value is None:
        return None
    if f.values:
        if value not in f.values:
            return f"{value!r} is not an allowed value of {field} (allowed: {', '.join(f.values)})"
    elif f.kind is Kind.BOOL:
        if not isinstance(value, bool):
            return f"{value!r} is not true or false ({field} is a yes/no field)"
    elif f.kind in (Kind.INT, Kind.DECIMAL):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number ({field} is a {f.kind} field)"
        if f.kind is Kind.INT and float(value) != int(value):
            return f"{value!r} is not a whole number ({field} is an int field)"
    elif f.kind is Kind.DATE and not isinstance(value, dt.date):
        try:
            dt.date.fromisoformat(str(value))
        except ValueError:
            return f"{value!r} is not a date written YYYY-MM-DD"
    return None


def _as_text(value: Value) -> pl.Expr:
    """A compiled value as the text a contract file would hold."""
    match value.type:
        case Type.NUMBER:
            whole = value.expr == value.expr.round(0)
            return (
                pl.when(whole & (value.expr.abs() < 2**53))
                .then(value.expr.cast(pl.Int64).cast(pl.String))
                .otherwise(value.expr.cast(pl.String))
            )
        case Type.DATE:
            return value.expr.dt.strftime("%Y-%m-%d")
        case Type.BOOL:
            return pl.when(value.expr).then(pl.lit("true")).otherwise(pl.lit("false"))
        case Type.NULL:
            return pl.lit(None, dtype=pl.String)
    return value.expr.cast(pl.String)


def _map_values(text: pl.Expr, spec: FieldSpec) -> pl.Expr:
    """Apply the value map: mapped values as contract text, others as written (or default)."""
    assert spec.map is not None
    old = list(spec.map)
    new = [None if v is None else _as_text_literal(v) for v in spec.map.values()]
    default = text if spec.default is None else pl.lit(_as_text_literal(spec.default))
    return text.replace_strict(old, new, default=default, return_dtype=pl.String)


def _as_text_literal(value: ConstantValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _output_column(field: str) -> str:
    return f"__out__{field}"


class _Loader:
    """Validates a parsed mapping and compiles its expressions, collecting every error."""

    def __init__(self, doc: MappingFile, path: Path) -> None:
        self.doc = doc
        self.path = path
        self.errors: list[str] = []

    def error(self, key: str, problem: str) -> None:
        self.errors.append(f"{key}: {problem}")

    def scope(self, outputs: Mapping[str, Type], date_format: str) -> Scope:
        constants = {name: c.value for name, c in self.doc.constants.items()}
        return Scope(self.doc.columns, constants, outputs, date_format, _output_column)

    def compile(self, key: str, text: str, scope: Scope) -> Value | None:
        try:
            return compile_expression(text, scope)
        except ExprError as exc:
            self.error(key, str(exc))
            return None

    def condition(self, key: str, text: str, scope: Scope) -> pl.Expr | None:
        value = self.compile(key, text, scope)
        if value is None:
            return None
        if value.type is not Type.BOOL:
            self.error(key, f"{text!r} is {value.type}, not a condition (true or false)")
            return None
        return value.expr.fill_null(False)

    def field_order(self, key: str, specs: Mapping[str, FieldSpec]) -> list[str]:
        """Fields in an order where every out.<field> is computed before it is used."""
        needs: dict[str, set[str]] = {}
        for name, spec in specs.items():
            refs: set[str] = set()
            if spec.expr is not None:
                try:
                    refs = references(spec.expr)[1]
                except ExprError:
                    refs = set()  # reported when compiled
            needs[name] = {r for r in refs if r in specs}
        order: list[str] = []
        pending = dict(needs)
        while pending:
            ready = [n for n, deps in pending.items() if deps <= set(order)]
            if not ready:
                cycle = ", ".join(sorted(pending))
                self.error(key, f"fields refer to each other in a circle through out.: {cycle}")
                return order
            for name in sorted(ready, key=list(specs).index):
                order.append(name)
                del pending[name]
        return order

    # every check of one field spec, each adding its error, so one load reports them all
    def compile_field(  # noqa: PLR0912
        self, key: str, name: str, spec: FieldSpec, scope: Scope
    ) -> Value | None:
        sources = [s for s in ("column", "expr", "value") if getattr(spec, s) is not None]
        if len(sources) != 1:
            self.error(key, "give exactly one of column, expr or value")
            return None
        if (spec.value is not None or spec.placeholder) and not spec.why:
            what = "a placeholder" if spec.placeholder else "a constant"
            self.error(key, f"{what} needs `why`: say why this value is used for every row")
        if spec.value is not None:
            problem = _check_value(name, spec.value)
            if problem:
                self.error(f"{key}.value", problem)
            compiled: Value | None = constant_value(spec.value)
            if isinstance(spec.value, dt.date) or FIELD_BY_NAME[name].kind is Kind.DATE:
                compiled = Value(pl.lit(_as_text_literal(spec.value)), Type.TEXT)
        elif spec.column is not None:
            if spec.column not in self.doc.columns:
                self.error(
                    f"{key}.column",
                    f"unknown source column {spec.column!r} (not in the mapping's `columns`)"
                    + _suggest(spec.column, self.doc.columns),
                )
                compiled = None
            else:
                compiled = Value(pl.col(spec.column), Type.TEXT)
        else:
            assert spec.expr is not None
            compiled = self.compile(f"{key}.expr" if "." in key else key, spec.expr, scope)
        if spec.map is not None:
            for raw, target in spec.map.items():
                problem = _check_value(name, target)
                if problem:
                    self.error(f"{key}.map[{raw!r}]", problem)
            if spec.default is not None and (problem := _check_value(name, spec.default)):
                self.error(f"{key}.default", problem)
        if compiled is None:
            return None
        if spec.map is not None:
            return Value(_map_values(_as_text(compiled), spec), Type.TEXT)
        if spec.default is not None:
            self.error(f"{key}.default", "a default only applies to a value map (`map`)")
        return compiled

    def kind(self, index: int, rule: CaseRule, date_format: str) -> CompiledKind | None:
        key = f"cases[{index}]"
        if not _NAME.match(rule.kind):
            self.error(f"{key}.kind", f"{rule.kind!r}: use letters, digits and _")
        when = self.condition(f"{key}.when", rule.when, self.scope({}, date_format))
        specs: dict[str, FieldSpec] = {}
        origin: dict[str, str] = {}
        for where, fields in (("fields", self.doc.fields), (f"{key}.fields", rule.fields)):
            for name, raw in fields.items():
                if name not in FIELD_BY_NAME:
                    self.error(
                        f"{where}.{name}",
                        "unknown contract field" + _suggest(name, FIELD_NAMES),
                    )
                    continue
                specs[name] = _spec(raw)
                origin[name] = f"{where}.{name}"
        missing = [f for f in REQUIRED if f not in specs]
        if missing:
            self.error(
                key,
                f"case kind {rule.kind!r} does not map required contract fields: "
                + ", ".join(missing)
                + " (map each, or give a documented placeholder: value + why + placeholder: true)",
            )
        outputs: dict[str, Type] = {}
        compiled: list[tuple[str, Value]] = []
        for name in self.field_order(key, specs):
            value = self.compile_field(
                origin[name], name, specs[name], self.scope(outputs, date_format)
            )
            if value is not None:
                compiled.append((name, value))
                outputs[name] = value.type
        placeholders = tuple(n for n in FIELD_NAMES if n in specs and specs[n].placeholder)
        if when is None:
            return None
        return CompiledKind(rule.kind, when, tuple(compiled), placeholders)

    # every check of the document, each adding its error, so one load reports them all
    def load(self, sha256: str) -> SourceMapping:  # noqa: PLR0912
        doc = self.doc
        if not _NAME.match(doc.name):
            self.error("name", f"{doc.name!r}: use letters, digits and _")
        duplicates = [c for c, n in Counter(doc.columns).items() if n > 1]
        if duplicates:
            self.error("columns", f"listed twice: {', '.join(duplicates)}")
        try:
            date_format = strptime_format(doc.date_format)
        except ValueError as exc:
            self.error("date_format", str(exc))
            date_format = "%Y-%m-%d"
        for name, constant in doc.constants.items():
            if not _NAME.match(name):
                self.error(f"constants.{name}", "use letters, digits and _ in constant names")
            if not constant.why.strip():
                self.error(f"constants.{name}.why", "say why this value")
        scope = self.scope({}, date_format)
        skips = []
        for i, rule in enumerate(doc.skip):
            if not _REASON.match(rule.reason):
                self.error(f"skip[{i}].reason", f"{rule.reason!r}: use lower-case letters, _")
            condition = self.condition(f"skip[{i}].when", rule.when, scope)
            if condition is not None:
                skips.append((rule.reason, condition))
        if not _REASON.match(doc.otherwise):
            self.error("otherwise", f"{doc.otherwise!r}: use lower-case letters, digits and _")
        if not doc.cases:
            self.error("cases", "give at least one kind of case")
        kinds = [k for i, rule in enumerate(doc.cases) if (k := self.kind(i, rule, date_format))]
        names = [rule.kind for rule in doc.cases]
        if len(set(names)) != len(names):
            self.error("cases", "two case kinds have the same name")
        extras = []
        reserved = {*FIELD_NAMES, "source_line", KIND_EXTRA, PLACEHOLDER_EXTRA}
        for name, text in doc.extra.items():
            if name in reserved:
                self.error(f"extra.{name}", "is a contract field or a reserved key; rename it")
                continue
            value = self.compile(f"extra.{name}", text, scope)
            if value is not None:
                extras.append((name, value))
        if self.errors:
            listed = "\n  ".join(self.errors)
            raise MappingError(
                f"{self.path}: the mapping has {len(self.errors)} problem(s):\n  {listed}"
            )
        used: set[str] = set()
        for texts in (
            [r.when for r in doc.skip],
            [r.when for r in doc.cases],
            list(doc.extra.values()),
        ):
            for text in texts:
                used |= references(text)[0]
        for fields in (doc.fields, *(r.fields for r in doc.cases)):
            for raw in fields.values():
                spec = _spec(raw)
                if spec.column:
                    used.add(spec.column)
                if spec.expr:
                    used |= references(spec.expr)[0]
        return SourceMapping(
            name=doc.name,
            path=self.path,
            sha256=sha256,
            description=doc.description,
            columns=tuple(doc.columns),
            used_columns=tuple(c for c in doc.columns if c in used),
            skips=tuple(skips),
            kinds=tuple(kinds),
            otherwise=doc.otherwise,
            extras=tuple(extras),
        )


def _personal_data(value: object, loc: tuple[object, ...] = ()) -> list[str]:
    """``key: kind`` for each key or scalar of a parsed mapping that holds personal data (a
    key of the mapping's own is named by its parent and position, never repeated)."""
    if isinstance(value, dict):
        found = []
        for position, (key, item) in enumerate(value.items(), start=1):
            if hits := find_pii(str(key)):
                name = f"{_loc(loc)}: key {position}" if loc else f"key {position}"
                found += [f"{name}: {hit.kind}" for hit in hits]
            else:
                found += _personal_data(item, (*loc, key))
        return found
    if isinstance(value, list):
        return [hit for i, item in enumerate(value) for hit in _personal_data(item, (*loc, i))]
    return [f"{_loc(loc)}: {hit.kind}" for hit in find_pii(str(value))]


def parse_mapping(text: str, path: Path) -> SourceMapping:
    """Validate and compile the YAML ``text`` of a mapping (``path`` names it in errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML ({exc})") from None
    except RecursionError:
        raise MappingError(f"{path}: YAML nested too deeply to be a mapping") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a mapping file is a YAML document of keys (name, columns...)")
    if personal := list(dict.fromkeys(_personal_data(data))):
        listed = "\n  ".join(personal)
        raise MappingError(
            f"{path}: the mapping holds personal data, which a mapping never needs; remove it "
            f"(the values are not repeated here):\n  {listed}"
        )
    try:
        doc = MappingFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if "str" in error["loc"] and error["type"] == "string_type":
                continue  # the other reading of `field: text-or-keys` says what is wrong
            loc = [p for p in error["loc"] if p not in ("str", "FieldSpec")]
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (a typo?)"
            problems.append(f"{_loc(loc)}: {message}")
        unique = list(dict.fromkeys(problems))
        listed = "\n  ".join(unique)
        raise MappingError(
            f"{path}: the mapping has {len(unique)} problem(s):\n  {listed}"
        ) from None
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return _Loader(doc, path).load(sha)


def load_mapping(path: Path) -> SourceMapping:
    """Read, validate and compile the mapping file at ``path``; raises ``MappingError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping ({exc.strerror})") from None
    return parse_mapping(text, path)


def sources_dir() -> Path:
    """Where mapping files live: $OVERDUE_SOURCES_DIR, ./sources, or the repository's."""
    if env := os.environ.get(SOURCES_ENV):
        return Path(env)
    here = Path("sources")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "sources"


def find_mapping(name: str, folder: Path | None = None) -> SourceMapping:
    """The mapping called ``name`` (``<folder>/<name>.yaml``) or at the path ``name``."""
    given = Path(name)
    if given.suffix in (".yaml", ".yml") and given.is_file():
        return load_mapping(given)
    base = folder or sources_dir()
    path = base / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in base.glob("*.yaml")) if base.is_dir() else []
        listed = ", ".join(known) if known else "none"
        raise MappingError(f"no source mapping {name!r}: {path} does not exist (known: {listed})")
    return load_mapping(path)


# --- applying a mapping --------------------------------------------------------------------

ORDINAL: Final = "_ordinal"


@dataclass(frozen=True)
class MappedRows:
    """A source file after its mapping: the case rows as text, and what was skipped."""

    frame: pl.DataFrame  # _ordinal, then SourceMapping.output_columns, all text
    rows_read: int
    skipped: dict[str, int]  # reason -> rows, commonest first

    @property
    def rows_skipped(self) -> int:
        """Rows that are not negotiation cases."""
        return sum(self.skipped.values())


def map_frame(raw: pl.DataFrame, mapping: SourceMapping) -> MappedRows:
    """Apply ``mapping`` to the source rows ``raw`` (text columns; ``_ordinal`` 1-based, kept
    on the cases so the loader can give each its file line).

    Each row is skipped (the first ``skip`` rule it meets), or a case of the first kind whose
    ``when`` holds, or skipped as ``otherwise``. Nothing is lost: ``rows_read`` = cases + skipped.
    """
    missing = [c for c in mapping.used_columns if c not in raw.columns]
    if missing:
        raise MappingError(
            f"the file lacks columns the mapping {mapping.name!r} ({mapping.path}) uses: "
            + ", ".join(missing)
        )
    frame = raw.select(
        ORDINAL, *(pl.col(c).cast(pl.String) for c in mapping.used_columns)
    ).with_columns(
        # an empty cell is missing, as in a contract file
        pl.col(c).replace("", None)
        for c in mapping.used_columns
    )
    skip = pl.lit(None, dtype=pl.String)
    for reason, condition in reversed(mapping.skips):
        skip = pl.when(condition).then(pl.lit(reason)).otherwise(skip)
    kind = pl.lit(None, dtype=pl.String)
    for compiled in reversed(mapping.kinds):
        kind = pl.when(compiled.when).then(pl.lit(compiled.kind)).otherwise(kind)
    frame = frame.with_columns(__skip=skip).with_columns(
        __kind=pl.when(pl.col("__skip").is_null()).then(kind)
    )
    frame = frame.with_columns(
        __skip=pl.when(pl.col("__kind").is_null())
        .then(pl.coalesce("__skip", pl.lit(mapping.otherwise)))
        .otherwise(None)
    )
    reasons = frame.filter(pl.col("__skip").is_not_null())["__skip"].value_counts(sort=True)
    skipped = {str(r): int(n) for r, n in reasons.iter_rows()}
    outputs = mapping.output_columns
    parts = []
    for compiled in mapping.kinds:
        rows = frame.filter(pl.col("__kind") == compiled.kind)
        if rows.height == 0:
            continue
        for name, value in compiled.fields:
            typed = value.expr.cast(pl.Float64) if value.type is Type.NUMBER else value.expr
            rows = rows.with_columns(typed.alias(_output_column(name)))
        selected = rows.select(
            pl.col(ORDINAL),
            *(
                _as_text(Value(pl.col(_output_column(n)), v.type)).alias(n)
                for n, v in compiled.fields
            ),
            *(_as_text(value).alias(name) for name, value in mapping.extras),
            pl.lit(compiled.kind).alias(KIND_EXTRA),
            pl.lit(",".join(compiled.placeholders) or None, dtype=pl.String).alias(
                PLACEHOLDER_EXTRA
            ),
        )
        parts.append(
            selected.with_columns(
                pl.lit(None, dtype=pl.String).alias(c) for c in outputs if c not in selected.columns
            ).select(ORDINAL, *outputs)
        )
    schema = pl.Schema({ORDINAL: pl.Int64, **dict.fromkeys(outputs, pl.String)})
    cases = (
        pl.concat([p.cast(schema) for p in parts]).sort(ORDINAL)
        if parts
        else pl.DataFrame(schema=schema)
    )
    return MappedRows(cases, raw.height, skipped)


def read_source_frame(path: Path, fmt: str) -> pl.DataFrame:
    """A source file's rows as text columns with a 1-based ``_ordinal`` (CSV or Parquet)."""
    if fmt == "parquet":
        frame = pl.read_parquet(path)
        frame = frame.select(pl.all().cast(pl.String))
    elif fmt == "csv":
        separator = "\t" if path.suffix.lower() == ".tsv" else ","
        frame = pl.read_csv(
            path,
            infer_schema=False,
            separator=separator,
            encoding="utf8",  # the caller passes a UTF-8 copy (read.utf8_copy)
        )
        frame = frame.rename({c: c.lstrip("\ufeff") for c in frame.columns})
    else:
        raise MappingError(f"{path}: a source mapping reads CSV or Parquet files, not {fmt}")
    return frame.with_row_index(ORDINAL, offset=1).with_columns(pl.col(ORDINAL).cast(pl.Int64))


def skip_reasons_text(skipped: Mapping[str, int]) -> str:
    """``no_case (960), settlement_cancelled (2)``."""
    return ", ".join(f"{reason} ({n:,})" for reason, n in skipped.items())
