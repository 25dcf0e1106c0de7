"""Cheap rule verifiers: run first, they cost microseconds per candidate."""

from __future__ import annotations

from ..records import Candidate, Verdict
from .base import Verifier

EMPTY = "empty_output"
TOO_SHORT = "too_short"
TOO_LONG = "too_long"


class NonEmptyVerifier(Verifier):
    """Drops completions that are empty (or only whitespace when ``strip``)."""

    name = "non_empty"

    def __init__(self, strip: bool = True):
        self.strip = strip

    def check(self, candidate: Candidate) -> Verdict:
        text = candidate.text.strip() if self.strip else candidate.text
        return Verdict.accept() if text else Verdict.reject(EMPTY)


def measure_length(text: str, unit: str) -> int:
    return len(text.split()) if unit == "words" else len(text)


class LengthVerifier(Verifier):
    """Keeps completions whose length in ``unit`` (chars or words) lies within [min, max]."""

    name = "length"

    def __init__(self, unit: str = "chars", min: int | None = None, max: int | None = None):  # noqa: A002
        self.unit, self.min, self.max = unit, min, max

    def check(self, candidate: Candidate) -> Verdict:
        size = measure_length(candidate.text.strip(), self.unit)
        if self.min is not None and size < self.min:
            return Verdict.reject(TOO_SHORT, float(size), length=size, min=self.min, unit=self.unit)
        if self.max is not None and size > self.max:
            return Verdict.reject(TOO_LONG, float(size), length=size, max=self.max, unit=self.unit)
        return Verdict.accept(float(size))
