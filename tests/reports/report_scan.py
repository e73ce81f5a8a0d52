"""Report test support: the built fixture's shape, and reading back what a page publishes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plotly.offline import get_plotlyjs

from overdue.config import Settings

JSON_SCRIPT = re.compile(r'<script type="application/json"[^>]*>(.*?)</script>', re.S)
COUNT_CELL = re.compile(r'<td class="count"[^>]*>([^<]*)</td>')
N_EQUALS = re.compile(r"n\s*=\s*([\d,]+)")


@dataclass(frozen=True)
class Built:
    """The warehouse, its settings and the reports folder built from it."""

    folder: Path
    warehouse: Path
    reports: Path
    settings: Settings
    first_run: str
    run_id: str


DATA_KEYS = ("x", "y", "z", "customdata", "text", "hovertext")
RAW_TRACE_TYPES = {"histogram", "histogram2d", "histogram2dcontour", "box", "violin"}


def page_without_library(path: Path) -> str:
    """The page with the inlined plotly.js removed (the library holds its own numbers)."""
    page = path.read_text(encoding="utf-8")
    library = get_plotlyjs()
    assert page.count(library) <= 1, "plotly.js is inlined more than once"
    return page.replace(library, "")


def embedded_json(page: str) -> list[Any]:
    """Every JSON document the page embeds (figure specs and filter slices)."""
    return [json.loads(block.replace("<\\/", "</")) for block in JSON_SCRIPT.findall(page)]


def traces(document: Any) -> Iterator[dict[str, Any]]:
    """Every trace (a dict with a ``type``) anywhere in a JSON document."""
    if isinstance(document, dict):
        if "type" in document and any(key in document for key in DATA_KEYS):
            yield document
        for value in document.values():
            yield from traces(value)
    elif isinstance(document, list):
        for value in document:
            yield from traces(value)


def leaves(value: Any) -> Iterator[Any]:
    """Every scalar inside nested lists."""
    if isinstance(value, list):
        for item in value:
            yield from leaves(item)
    else:
        yield value


def published_counts(path: Path) -> list[int]:
    """Every count a reader can reach: integers in trace data, 'n = ...' text, count cells."""
    page = page_without_library(path)
    counts: list[int] = []
    for document in embedded_json(page):
        for trace in traces(document):
            for key in DATA_KEYS:
                for leaf in leaves(trace.get(key, [])):
                    if isinstance(leaf, int) and not isinstance(leaf, bool):
                        counts.append(leaf)
                    elif isinstance(leaf, str):
                        counts += [int(m.replace(",", "")) for m in N_EQUALS.findall(leaf)]
    for cell in COUNT_CELL.findall(page):
        counts.append(int(cell.replace(",", "")))
    return counts


def trace_types(path: Path) -> set[str]:
    """Types of every trace the page draws."""
    page = page_without_library(path)
    return {t["type"] for document in embedded_json(page) for t in traces(document)}
