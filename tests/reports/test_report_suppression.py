"""The k rule and complementary suppression."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from overdue.reports.suppression import Cell, Line, protect, protect_counts

K = 10


def test_small_count_is_hidden_and_zero_is_not() -> None:
    """Counts of 1..k-1 are hidden; zero is no group of people."""
    protection = protect_counts({("a",): 3, ("b",): 0, ("c",): 40}, None, K)
    assert not protection.count_shown(("a",))
    assert protection.count_shown(("b",))
    assert protection.count_shown(("c",))


def test_one_hidden_cell_of_a_line_gets_a_partner() -> None:
    """With the total shown, a lone hidden part would follow from the others."""
    counts = {("total",): 95, ("a",): 3, ("b",): 40, ("c",): 52}
    protection = protect_counts(counts, ("total",), K)
    assert not protection.count_shown(("a",))
    assert not protection.count_shown(("b",))  # the smallest other part
    assert protection.count_shown(("c",))
    assert protection.count_shown(("total",))


def test_hidden_parts_together_hold_at_least_k() -> None:
    """Two hidden parts of 2 and 3 would still reveal a group of 5: a third is hidden."""
    counts = {("total",): 105, ("a",): 2, ("b",): 3, ("c",): 20, ("d",): 80}
    protection = protect_counts(counts, ("total",), K)
    assert {key for key in counts if not protection.count_shown(key)} == {("a",), ("b",), ("c",)}


def test_rate_with_few_failures_is_hidden() -> None:
    """45 of 50 agreed: the 5 who did not are a small group, so the rate is hidden."""
    protection = protect({("a",): Cell(50, 45)}, [], K)
    assert protection.count_shown(("a",))
    assert not protection.rate_shown(("a",))


def test_rate_of_zero_or_all_is_hidden() -> None:
    """0% or 100% tells every member's outcome."""
    protection = protect({("a",): Cell(50, 0), ("b",): Cell(50, 50)}, [], K)
    assert not protection.rate_shown(("a",))
    assert not protection.rate_shown(("b",))


def test_hidden_rate_cannot_be_recovered_from_the_total_rate() -> None:
    """With the total rate shown, one hidden part's successes follow from the others."""
    cells = {
        ("t",): Cell(300, 150),
        ("a",): Cell(50, 3),
        ("b",): Cell(100, 50),
        ("c",): Cell(150, 97),
    }
    protection = protect(cells, [Line(("t",), (("a",), ("b",), ("c",)))], K)
    hidden = {key for key in cells if not protection.rate_shown(key)}
    assert ("a",) in hidden
    assert len(hidden - {("t",)}) >= 2


def test_a_margin_hidden_elsewhere_is_not_left_alone() -> None:
    """A total that is hidden while all its parts are shown would be their sum."""
    cells = {("t",): Cell(60), ("a",): Cell(30), ("b",): Cell(30)}
    protection = protect(cells, [Line(("t",), (("a",), ("b",)))], K, hidden=[("t",)])
    assert not protection.count_shown(("t",))
    assert sum(not protection.count_shown(k) for k in (("a",), ("b",))) >= 1


tables = st.lists(
    st.lists(st.integers(min_value=0, max_value=40), min_size=2, max_size=5),
    min_size=2,
    max_size=5,
).filter(lambda rows: len({len(r) for r in rows}) == 1)


@settings(max_examples=200, deadline=None)
@given(tables)
def test_no_line_of_a_table_exposes_a_hidden_cell(rows: list[list[int]]) -> None:
    """Property: on a table with margins, every line has no hidden member, or two or more
    (and, with its total shown, hidden parts holding at least k); shown counts are 0 or >= k."""
    cells: dict = {}
    for i, row in enumerate(rows):
        for j, n in enumerate(row):
            cells[(i, j)] = Cell(n)
        cells[(i, "all")] = Cell(sum(row))
    for j in range(len(rows[0])):
        cells[("all", j)] = Cell(sum(r[j] for r in rows))
    cells[("all", "all")] = Cell(sum(map(sum, rows)))
    columns = [*range(len(rows[0])), "all"]
    lines = [
        Line((i, "all"), tuple((i, j) for j in range(len(rows[0]))))
        for i in [*range(len(rows)), "all"]
    ]
    lines += [Line(("all", j), tuple((i, j) for i in range(len(rows)))) for j in columns]
    protection = protect(cells, lines, K)
    for key, cell in cells.items():
        if protection.count_shown(key):
            assert cell.n == 0 or cell.n >= K
    for line in lines:
        members = [m for m in (line.total, *line.parts) if cells[m].n > 0]
        hidden = [m for m in members if not protection.count_shown(m)]
        assert len(hidden) != 1
        if hidden and protection.count_shown(line.total):
            assert sum(cells[m].n for m in hidden) >= K
