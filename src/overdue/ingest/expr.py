"""A small, safe expression language for source mappings, compiled to polars expressions.

A mapping writes derived fields as short formulas over the source's columns, e.g.
``annual_inc / 12 * const.usd_to_cny`` or ``months_between(date(hardship_start_date),
const.export_as_of)``. The text is parsed with Python's ``ast`` module and only the nodes listed
here are accepted; nothing is ever evaluated by Python. Every name is checked when the mapping is
loaded: a bare name is a column of the source, ``out.<field>`` is a contract field the mapping
computes (so one field can build on another), ``const.<name>`` is one of the mapping's constants.

Values have four types: text (every source cell is read as text), number, date and bool. Text is
read as a number where arithmetic or a numeric function needs one (a cell that is not a number
becomes empty), and as a date only through ``date(...)``, with the mapping's date format.
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import polars as pl


class ExprError(ValueError):
    """An expression that is not allowed or names something unknown; the message says which."""


MAX_EXPRESSION_CHARS: Final = 2_000
"""Longest expression: a mapping's formulas are a line or two; longer text is not parsed."""
MAX_EXPRESSION_DEPTH: Final = 100
"""Deepest nesting of operators and calls in an expression; compiling recurses per level."""


class Type(StrEnum):
    """The type of a compiled value."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    BOOL = "bool"
    NULL = "null"


@dataclass(frozen=True)
class Value:
    """A compiled expression and its type."""

    expr: pl.Expr
    type: Type


@dataclass(frozen=True)
class Scope:
    """What names may refer to while compiling one expression."""

    columns: Sequence[str]
    constants: Mapping[str, str | float | int | bool | dt.date]
    outputs: Mapping[str, Type]  # contract fields computed before this one, with their types
    date_format: str  # strptime format of dates in the source, e.g. "%b-%Y"
    output_column: Callable[[str], str]  # the frame column holding a computed field


FUNCTIONS: Final = {
    "number": "text as a number (e.g. '12000.0'); empty when it is not one",
    "first_number": "the first number inside text (' 36 months' -> 36)",
    "date": "text as a date in the mapping's date_format (a month becomes its first day)",
    "add_months": "add_months(date, n): the date n months later",
    "add_days": "add_days(date, n): the date n days later",
    "months_between": "months_between(a, b): whole calendar months from date a to date b",
    "days_between": "days_between(a, b): days from date a to date b",
    "floor": "round down",
    "round": "round to the nearest whole number",
    "min": "the smallest of its arguments (empty ones ignored)",
    "max": "the largest of its arguments (empty ones ignored)",
    "coalesce": "the first argument that is not empty",
    "when": "when(condition, a, b): a where the condition holds, else b",
    "concat": "the arguments as text, joined",
    "is_empty": "true where the value is empty",
    "upper": "text in upper case",
    "trim": "text without surrounding spaces",
}
"""Every function an expression may call, with what it does (shown in error messages)."""

_ONE_ARGUMENT: Final = frozenset(
    ("number", "floor", "round", "first_number", "date", "is_empty", "upper", "trim")
)
_ARITHMETIC: Final = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARE: Final = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}


def references(text: str) -> tuple[set[str], set[str], set[str]]:
    """The (columns, out fields, constants) an expression names, without compiling it."""
    tree = _parse(text)
    columns: set[str] = set()
    outputs: set[str] = set()
    constants: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            (outputs if node.value.id == "out" else constants).add(node.attr)
        elif isinstance(node, ast.Name) and not _is_namespace(node, tree):
            columns.add(node.id)
    return columns, outputs, constants


def _is_namespace(name: ast.Name, tree: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Attribute) and n.value is name
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
    )


def _too_deep(what: str) -> ExprError:
    return ExprError(
        f"{what} is nested more than {MAX_EXPRESSION_DEPTH} levels deep (the limit); "
        "split it into fields that build on each other with out.<field>"
    )


def _depth(tree: ast.AST) -> int:
    """How deeply the nodes of ``tree`` nest (counted without recursion)."""
    deepest, pending = 0, [(tree, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _parse(text: str) -> ast.expr:
    """The syntax tree of ``text``, within ``MAX_EXPRESSION_CHARS`` and
    ``MAX_EXPRESSION_DEPTH`` (checked before anything recurses over it)."""
    stripped = text.strip()
    if len(stripped) > MAX_EXPRESSION_CHARS:
        raise ExprError(
            f"the expression is {len(stripped):,} characters long, more than the "
            f"{MAX_EXPRESSION_CHARS:,} allowed; split it into fields with out.<field>"
        )
    try:
        tree = ast.parse(stripped, mode="eval").body
    except SyntaxError as exc:
        if "too many nested" in (exc.msg or ""):
            raise _too_deep("the expression") from None
        raise ExprError(f"not a valid expression ({exc.msg}): {stripped[:80]!r}") from None
    except (RecursionError, MemoryError):
        raise _too_deep("the expression") from None
    if _depth(tree) > MAX_EXPRESSION_DEPTH:
        raise _too_deep("the expression")
    return tree


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _list_number(item: object) -> float:
    """One value of a numeric `in [...]` list as a number (an ExprError when it is not one)."""
    if isinstance(item, int | float | str):
        try:
            return float(item)
        except ValueError:
            pass
    raise ExprError(f"`in` compares numbers here, and {item!r} is not a number")


class _Compiler:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def compile(self, node: ast.expr) -> Value:  # noqa: PLR0911, PLR0912 - one case per node kind
        match node:
            case ast.Constant(value=None):
                return Value(pl.lit(None), Type.NULL)
            case ast.Constant(value=bool() as b):
                return Value(pl.lit(b), Type.BOOL)
            case ast.Constant(value=int() | float() as n):
                return Value(pl.lit(float(n)), Type.NUMBER)
            case ast.Constant(value=str() as s):
                return Value(pl.lit(s, dtype=pl.String), Type.TEXT)
            case ast.Name(id=name):
                return self._column(name)
            case ast.Attribute(value=ast.Name(id=space), attr=attr):
                return self._namespaced(space, attr)
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                return Value(-self.number(operand), Type.NUMBER)
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                return Value(~self.boolean(operand), Type.BOOL)
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _ARITHMETIC:
                lhs, rhs = self.number(left), self.number(right)
                ops: dict[type, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
                    ast.Add: lambda x, y: x + y,
                    ast.Sub: lambda x, y: x - y,
                    ast.Mult: lambda x, y: x * y,
                    ast.Div: lambda x, y: pl.when(y != 0).then(x / y),
                }
                return Value(ops[type(op)](lhs, rhs), Type.NUMBER)
            case ast.BoolOp(op=op, values=values):
                parts = [self.boolean(v) for v in values]
                combined = parts[0]
                for part in parts[1:]:
                    combined = combined & part if isinstance(op, ast.And) else combined | part
                return Value(combined, Type.BOOL)
            case ast.Compare(left=left, ops=[op], comparators=[right]):
                return self._compare(left, op, right)
            case ast.Call(func=ast.Name(id=name), args=args, keywords=[]):
                return self._call(name, args)
        raise ExprError(
            f"{ast.unparse(node)!r} is not allowed: use column names, numbers, 'text', "
            "+ - * /, comparisons, and/or/not, `in [...]`, out.<field>, const.<name> and the "
            f"functions {', '.join(FUNCTIONS)}"
        )

    def _column(self, name: str) -> Value:
        if name not in self.scope.columns:
            raise ExprError(
                f"unknown source column {name!r} (not in the mapping's `columns`)"
                + _suggest(name, self.scope.columns)
            )
        return Value(pl.col(name), Type.TEXT)

    def _namespaced(self, space: str, attr: str) -> Value:
        if space == "out":
            if attr not in self.scope.outputs:
                raise ExprError(
                    f"out.{attr} is not a field this mapping computes"
                    + _suggest(attr, list(self.scope.outputs))
                )
            return Value(pl.col(self.scope.output_column(attr)), self.scope.outputs[attr])
        if space == "const":
            if attr not in self.scope.constants:
                raise ExprError(
                    f"const.{attr} is not one of the mapping's constants"
                    + _suggest(attr, list(self.scope.constants))
                )
            return constant_value(self.scope.constants[attr])
        raise ExprError(f"{space}.{attr}: only out.<field> and const.<name> have a dot")

    def number(self, node: ast.expr) -> pl.Expr:
        value = self.compile(node)
        return self.as_number(value, node)

    def as_number(self, value: Value, node: ast.expr) -> pl.Expr:
        match value.type:
            case Type.NUMBER:
                return value.expr
            case Type.TEXT:
                return value.expr.str.strip_chars().cast(pl.Float64, strict=False)
            case Type.NULL:
                return pl.lit(None, dtype=pl.Float64)
        raise ExprError(f"{ast.unparse(node)!r} is a {value.type}, not a number")

    def date(self, node: ast.expr) -> pl.Expr:
        value = self.compile(node)
        if value.type is Type.DATE:
            return value.expr
        if value.type is Type.NULL:
            return pl.lit(None, dtype=pl.Date)
        raise ExprError(
            f"{ast.unparse(node)!r} is {value.type}, not a date: read text with date(column)"
        )

    def boolean(self, node: ast.expr) -> pl.Expr:
        value = self.compile(node)
        if value.type is not Type.BOOL:
            raise ExprError(f"{ast.unparse(node)!r} is {value.type}, not a condition")
        return value.expr

    def _compare(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> Value:
        if isinstance(op, ast.In | ast.NotIn):
            if not isinstance(right, ast.List | ast.Tuple) or not all(
                isinstance(e, ast.Constant) for e in right.elts
            ):
                raise ExprError(f"`in` needs a list of values: {ast.unparse(right)!r}")
            a = self.compile(left)
            items = [e.value for e in right.elts if isinstance(e, ast.Constant)]
            if all(isinstance(i, str) for i in items) and a.type is Type.TEXT:
                found = a.expr.is_in(items)
            else:
                found = self.as_number(a, left).is_in([_list_number(i) for i in items])
            return Value(found if isinstance(op, ast.In) else ~found, Type.BOOL)
        if type(op) not in _COMPARE:
            raise ExprError(f"comparison {ast.unparse(op)!r} is not allowed")
        a, b = self.compile(left), self.compile(right)
        if Type.NUMBER in (a.type, b.type):
            x, y = self.as_number(a, left), self.as_number(b, right)
        elif Type.DATE in (a.type, b.type):
            x, y = self.date(left), self.date(right)
        else:
            x, y = a.expr, b.expr
        ops: dict[type, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
            ast.Eq: lambda p, q: p == q,
            ast.NotEq: lambda p, q: p != q,
            ast.Lt: lambda p, q: p < q,
            ast.LtE: lambda p, q: p <= q,
            ast.Gt: lambda p, q: p > q,
            ast.GtE: lambda p, q: p >= q,
        }
        return Value(ops[type(op)](x, y), Type.BOOL)

    def _arity(self, name: str, args: Sequence[ast.expr], low: int, high: int | None) -> None:
        if len(args) < low or (high is not None and len(args) > high):
            want = (
                f"{low}" if low == high else f"{low} or more" if high is None else f"{low}-{high}"
            )
            raise ExprError(f"{name}() takes {want} arguments, got {len(args)}")

    # one case per function of the language, so the whole language reads in one place
    def _call(self, name: str, args: Sequence[ast.expr]) -> Value:  # noqa: PLR0911, PLR0912, PLR0915
        if name not in FUNCTIONS:
            raise ExprError(
                f"unknown function {name!r}{_suggest(name, list(FUNCTIONS))}; "
                f"the functions are: {', '.join(FUNCTIONS)}"
            )
        if name in _ONE_ARGUMENT:
            self._arity(name, args, 1, 1)
        match name:
            case "number":
                return Value(self.number(args[0]), Type.NUMBER)
            case "floor":
                return Value(self.number(args[0]).floor(), Type.NUMBER)
            case "round":
                return Value(self.number(args[0]).round(0), Type.NUMBER)
            case "first_number":
                text = self._text(args[0])
                found = text.str.extract(r"(-?\d+(?:\.\d+)?)", 1)
                return Value(found.cast(pl.Float64, strict=False), Type.NUMBER)
            case "date":
                value = self.compile(args[0])
                if value.type is Type.DATE:
                    return value
                text = self._text(args[0]).str.strip_chars()
                parsed = text.str.strptime(pl.Date, self.scope.date_format, strict=False)
                return Value(parsed, Type.DATE)
            case "add_months":
                self._arity(name, args, 2, 2)
                months = self.number(args[1]).cast(pl.Int64)
                offset = pl.concat_str(months.cast(pl.String), pl.lit("mo"))
                return Value(self.date(args[0]).dt.offset_by(offset), Type.DATE)
            case "add_days":
                self._arity(name, args, 2, 2)
                days = self.number(args[1]).cast(pl.Int64)
                offset = pl.concat_str(days.cast(pl.String), pl.lit("d"))
                return Value(self.date(args[0]).dt.offset_by(offset), Type.DATE)
            case "months_between":
                self._arity(name, args, 2, 2)
                a, b = self.date(args[0]), self.date(args[1])
                months = (b.dt.year() - a.dt.year()) * 12 + (
                    b.dt.month().cast(pl.Int32) - a.dt.month().cast(pl.Int32)
                )
                return Value(months.cast(pl.Float64), Type.NUMBER)
            case "days_between":
                self._arity(name, args, 2, 2)
                days = (self.date(args[1]) - self.date(args[0])).dt.total_days()
                return Value(days.cast(pl.Float64), Type.NUMBER)
            case "min" | "max":
                self._arity(name, args, 2, None)
                values = [self.compile(a) for a in args]
                if all(v.type in (Type.DATE, Type.NULL) for v in values):
                    parts = [self.date(a) for a in args]
                    kind = Type.DATE
                else:
                    parts = [self.as_number(v, a) for v, a in zip(values, args, strict=True)]
                    kind = Type.NUMBER
                combine = pl.min_horizontal if name == "min" else pl.max_horizontal
                return Value(combine(parts), kind)
            case "coalesce":
                self._arity(name, args, 2, None)
                return self._same_type(name, args, pl.coalesce)
            case "when":
                self._arity(name, args, 3, 3)
                condition = self.boolean(args[0])
                return self._same_type(
                    name,
                    args[1:],
                    lambda parts: (
                        pl.when(condition.fill_null(False)).then(parts[0]).otherwise(parts[1])
                    ),
                )
            case "concat":
                self._arity(name, args, 1, None)
                return Value(pl.concat_str([self._text(a) for a in args]), Type.TEXT)
            case "is_empty":
                value = self.compile(args[0])
                empty = value.expr.is_null()
                if value.type is Type.TEXT:
                    empty = empty | (value.expr.str.strip_chars() == "")
                return Value(empty, Type.BOOL)
            case "upper":
                return Value(self._text(args[0]).str.to_uppercase(), Type.TEXT)
            case "trim":
                return Value(self._text(args[0]).str.strip_chars(), Type.TEXT)
        raise AssertionError(name)  # pragma: no cover - every function is handled above

    def _text(self, node: ast.expr) -> pl.Expr:
        value = self.compile(node)
        if value.type is Type.NUMBER:
            # 36.0 -> "36", 12.5 -> "12.5": ids and counts read back as written
            whole = value.expr == value.expr.round(0)
            return (
                pl.when(whole)
                .then(value.expr.cast(pl.Int64).cast(pl.String))
                .otherwise(value.expr.cast(pl.String))
            )
        return value.expr.cast(pl.String)

    def _same_type(
        self, name: str, args: Sequence[ast.expr], combine: Callable[[list[pl.Expr]], pl.Expr]
    ) -> Value:
        values = [self.compile(a) for a in args]
        types = {v.type for v in values} - {Type.NULL}
        if len(types) > 1:
            if types <= {Type.TEXT, Type.NUMBER}:
                return Value(
                    combine([self.as_number(v, a) for v, a in zip(values, args, strict=True)]),
                    Type.NUMBER,
                )
            raise ExprError(
                f"{name}() mixes {', '.join(sorted(types))}: its values must have one type"
            )
        kind = types.pop() if types else Type.NULL
        casts = {Type.NUMBER: pl.Float64, Type.DATE: pl.Date, Type.BOOL: pl.Boolean}
        dtype = casts.get(kind, pl.String)
        return Value(combine([v.expr.cast(dtype) for v in values]), kind)


def compile_expression(text: str, scope: Scope) -> Value:
    """``text`` as a polars expression over the source frame; raises ``ExprError``."""
    return _Compiler(scope).compile(_parse(text))


def constant_value(value: bool | float | dt.date | str) -> Value:
    """A mapping's constant as a typed literal."""
    if isinstance(value, bool):
        return Value(pl.lit(value), Type.BOOL)
    if isinstance(value, int | float):
        return Value(pl.lit(float(value)), Type.NUMBER)
    if isinstance(value, dt.date):
        return Value(pl.lit(value, dtype=pl.Date), Type.DATE)
    return Value(pl.lit(value, dtype=pl.String), Type.TEXT)
