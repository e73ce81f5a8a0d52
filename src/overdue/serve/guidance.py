"""Risks and rights for a counselor, from an editable, sources-cited YAML file.

The file (``guidance.yaml`` beside this module, or ``Settings.guidance_file``) holds short
notes in Chinese and English, each with the condition when it applies (contract field -> codes)
and its public sources. It is read and checked once when the service starts (``load_guidance``):
a bad file stops the start with a message naming the file and the note. ``risks`` picks the
notes that apply to one case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from overdue.case_input import INPUT_FIELDS
from overdue.contract import FIELD_BY_NAME

DEFAULT_GUIDANCE: Final = Path(__file__).with_name("guidance.yaml")
_CJK: Final = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
_CJK_BREAK: Final = re.compile(rf"(?<={_CJK})\s+(?={_CJK})")
"""A line break YAML folded into a space between two Chinese characters or punctuation marks."""


class GuidanceError(ValueError):
    """A guidance file that cannot be served; the message names the file and the note."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """A public source a note rests on."""

    title: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://[^\s]+$")


class Note(_Strict):
    """One note: when it applies, its text in both languages, its sources."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    when: dict[str, list[str]] = {}
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    sources: list[Source] = Field(min_length=1)

    @field_validator("zh")
    @classmethod
    def _no_folded_spaces(cls, text: str) -> str:
        """Chinese text written over several lines has no spaces where the lines were joined."""
        return _CJK_BREAK.sub("", text)

    @field_validator("when")
    @classmethod
    def _contract_values(cls, when: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, codes in when.items():
            field = FIELD_BY_NAME.get(name)
            if field is None or name not in INPUT_FIELDS or not field.values:
                raise ValueError(f"{name!r} is not a category field a counselor enters")
            unknown = [code for code in codes if code not in field.values]
            if unknown or not codes:
                raise ValueError(f"{name} takes codes among {', '.join(field.values)}")
        return when

    def applies(self, case: Mapping[str, Any]) -> bool:
        """Whether every condition of the note holds for ``case``."""
        return all(case.get(name) in codes for name, codes in self.when.items())


class Guidance(_Strict):
    """The whole file."""

    reviewed_by: str
    reviewed_on: str | None = None
    notes: list[Note]

    @field_validator("notes")
    @classmethod
    def _unique_ids(cls, notes: list[Note]) -> list[Note]:
        seen = [note.id for note in notes]
        doubled = sorted({i for i in seen if seen.count(i) > 1})
        if doubled:
            raise ValueError(f"note ids must be unique: {', '.join(doubled)}")
        return notes


def _where(loc: tuple[int | str, ...], raw: Any) -> str:
    """A problem's place in the file: the note by its id (or position), then the key."""
    if len(loc) >= 2 and loc[0] == "notes" and isinstance(loc[1], int):
        notes = raw.get("notes") if isinstance(raw, dict) else None
        entry = notes[loc[1]] if isinstance(notes, list) and loc[1] < len(notes) else None
        name = entry.get("id") if isinstance(entry, dict) else None
        note = f"note {name!r}" if isinstance(name, str) else f"note no. {loc[1] + 1}"
        rest = ".".join(str(part) for part in loc[2:])
        return f"{note}, {rest}" if rest else note
    return ".".join(str(part) for part in loc) or "file"


@lru_cache(maxsize=4)
def load_guidance(path: Path) -> Guidance:
    """The guidance file at ``path``, checked; ``GuidanceError`` names the file and the note."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise GuidanceError(f"guidance file {path}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise GuidanceError(f"guidance file {path}: not valid YAML{line}") from None
    try:
        return Guidance.model_validate(raw)
    except ValidationError as error:
        problems = [
            f"{_where(tuple(item['loc']), raw)}: {item['msg']}"
            for item in error.errors(include_input=False, include_url=False)
        ]
        raise GuidanceError(f"guidance file {path}: " + "; ".join(problems)) from None


def risks(guidance: Guidance, case: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    """The notes that apply to ``case`` (contract field values), in ``lang``, with sources."""
    return [
        {
            "id": note.id,
            "text": note.zh if lang == "zh" else note.en,
            "sources": [source.model_dump() for source in note.sources],
        }
        for note in guidance.notes
        if note.applies(case)
    ]
