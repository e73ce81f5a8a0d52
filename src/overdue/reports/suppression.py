"""Small-cell suppression: the k rule and complementary suppression, as pure functions.

A report publishes *cells*: a count ``n`` of cases and, for a rate, the ``x`` of them that
succeeded. A cell is hidden on its own (primary suppression) when

- its count is between 1 and k - 1, or
- for a rate, the denominator, the numerator or its complement (n - x) is under k (a rate of
  0% or 100% tells every member's outcome, so 0 counts as under k here).

Cells add up along *lines*: the parts of a line (the approaches, the lender types, the years...)
add up to its total. When a line has exactly one hidden member, that member follows from the
others, so a second one is hidden (complementary suppression); when the hidden parts together
hold fewer than k cases (or, for rates, fewer than k successes or k failures) their sum would be
a small number, so more are hidden. The smallest visible part is chosen each time; the rule is
applied to every line until nothing changes, so a cell shared by several lines (a margin of one
table is a part of another) is hidden in all of them or in none.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass

Key = tuple[Hashable, ...]


@dataclass(frozen=True)
class Cell:
    """A published count ``n`` and, when a rate is published, its ``x`` successes."""

    n: int
    x: int | None = None


@dataclass(frozen=True)
class Line:
    """``total`` is the sum of ``parts`` (a row or column of a table and its margin)."""

    total: Key
    parts: tuple[Key, ...]


@dataclass(frozen=True)
class Protection:
    """Which cells publish no count, and which publish no rate (nor its interval)."""

    count_hidden: frozenset[Key]
    rate_hidden: frozenset[Key]

    def count_shown(self, key: Key) -> bool:
        """True when the count of ``key`` may be published."""
        return key not in self.count_hidden

    def rate_shown(self, key: Key) -> bool:
        """True when the rate of ``key`` (and its interval) may be published."""
        return key not in self.rate_hidden and key not in self.count_hidden


def count_is_small(n: int, k: int) -> bool:
    """Primary suppression of a count: 1 .. k - 1 (zero is no group of people)."""
    return 0 < n < k


def rate_is_small(n: int, x: int, k: int) -> bool:
    """Primary suppression of a rate x / n: n, x or n - x under k."""
    return n < k or x < k or n - x < k


def _fix_line(
    line: Line,
    cells: Mapping[Key, Cell],
    hidden: set[Key],
    values: Callable[[Cell], tuple[int, ...]],
    k: int,
) -> bool:
    """Hide one more member of ``line`` if the line lets a hidden value be recovered."""
    if line.total not in cells or cells[line.total].n == 0:
        return False  # no published total: nothing follows from this line
    total = line.total
    parts = [p for p in line.parts if p in cells and cells[p].n > 0]
    members = [total, *parts]
    hidden_members = [m for m in members if m in hidden]
    if not hidden_members:
        return False
    total_hidden = total in hidden
    exposed = len(hidden_members) == 1
    if not exposed and not total_hidden:
        sums = [
            sum(column) for column in zip(*(values(cells[p]) for p in hidden_members), strict=True)
        ]
        exposed = any(s < k for s in sums)
    if not exposed:
        return False
    candidates = [p for p in parts if p not in hidden]
    if candidates:
        hidden.add(min(candidates, key=lambda p: (cells[p].n, repr(p))))
        return True
    if total not in hidden:
        hidden.add(total)
        return True
    return False


def protect(
    cells: Mapping[Key, Cell], lines: Iterable[Line], k: int, hidden: Iterable[Key] = ()
) -> Protection:
    """Primary and complementary suppression of ``cells`` under the ``lines`` they add up along.

    ``hidden`` names cells to hide whatever their counts (suppressed upstream).
    """
    lines = list(lines)
    count_hidden = {key for key, cell in cells.items() if count_is_small(cell.n, k)}
    count_hidden |= {key for key in hidden if key in cells}
    rated = {key for key, cell in cells.items() if cell.x is not None}
    rate_hidden = {key for key in rated if rate_is_small(cells[key].n, cells[key].x or 0, k)} | (
        count_hidden & rated
    )
    changed = True
    while changed:
        changed = False
        for line in lines:
            changed |= _fix_line(line, cells, count_hidden, lambda c: (c.n,), k)
            members = [m for m in (line.total, *line.parts) if m in cells]
            if members and all(m in rated for m in members):
                changed |= _fix_line(
                    line, cells, rate_hidden, lambda c: (c.x or 0, c.n - (c.x or 0)), k
                )
            new = (count_hidden & rated) - rate_hidden
            if new:
                rate_hidden |= new
                changed = True
    return Protection(frozenset(count_hidden), frozenset(rate_hidden))


def protect_counts(counts: Mapping[Key, int], total: Key | None, k: int) -> Protection:
    """One line of counts adding up to ``total`` (itself one of ``counts``), or no line."""
    cells = {key: Cell(n) for key, n in counts.items()}
    parts = tuple(key for key in counts if key != total)
    lines = [Line(total, parts)] if total is not None else []
    return protect(cells, lines, k)
