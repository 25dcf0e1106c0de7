"""Templates rendered per candidate (judge rubrics, test programs): ``str.format`` placeholders filled from
the candidate's seed fields, columns and text. Literal braces are written ``{{`` and ``}}``."""

from __future__ import annotations

import string
from typing import Any

from ..records import Candidate

MISSING_FIELD = "missing_field"


class MissingField(KeyError):
    """A placeholder no field fills; ``name`` says which."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class _Fields(dict):
    def __missing__(self, key: str) -> Any:
        raise MissingField(key)


def candidate_fields(candidate: Candidate, **extra: Any) -> dict[str, Any]:
    """What a template may use: ``{prompt}`` and ``{generation_prompt}`` (the prompt the generator saw; a
    seed field named ``prompt`` takes precedence for ``{prompt}``), every seed field, every column set by
    an earlier verifier, ``{text}`` (the completion) and ``extra``."""
    fields: dict[str, Any] = {"prompt": candidate.request.prompt}
    fields.update(candidate.request.seed.fields)
    fields.update(candidate.columns)
    fields.update(generation_prompt=candidate.request.prompt, text=candidate.text, **extra)
    return fields


def render(template: str, fields: dict[str, Any]) -> str:
    """Fill ``template``; raises :class:`MissingField` for an unknown placeholder."""
    return string.Formatter().vformat(template, (), _Fields(fields))
