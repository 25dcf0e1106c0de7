"""Verifiers over simple text statistics: repeated n-grams inside one sample, and character-script share."""

from __future__ import annotations

from typing import Literal

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from ..records import Candidate, Verdict
from .base import Verifier
from pydantic import Field, field_validator

from ..recipe.base import Placed


REPETITIVE = "repetitive"
WRONG_SCRIPT = "wrong_script"

SCRIPTS = (
    "latin", "cyrillic", "greek", "armenian", "georgian", "hebrew", "arabic", "syriac", "thaana", "devanagari",
    "bengali", "gurmukhi", "gujarati", "oriya", "tamil", "telugu", "kannada", "malayalam", "sinhala", "thai",
    "lao", "tibetan", "myanmar", "ethiopic", "khmer", "mongolian", "hiragana", "katakana", "hangul", "cjk",
)
_ALIASES = {"han": "cjk", "kana": "katakana"}
_NOT_ASCII_LETTER = re.compile(r"[^A-Za-z]+")


def repeated_ngram_fraction(text: str, n: int) -> float:
    """Fraction of word n-gram occurrences that repeat an earlier one.

    f = 1 − distinct(G) / |G|, where G is the list of word n-grams of the casefolded text. 0 for texts
    with fewer than n words; approaches 1 for a text that loops on one phrase.
    """
    words = text.casefold().split()
    total = len(words) - n + 1
    if total <= 0:
        return 0.0
    grams = Counter(tuple(words[i:i + n]) for i in range(total))
    return 1.0 - len(grams) / total


class RepetitionVerifierConfig(Placed):
    type: Literal["repetition"]
    n: int = Field(3, ge=1, le=20, description="Word n-gram size.")
    max_fraction: float = Field(0.3, ge=0.0, le=1.0, description="Largest repeated n-gram fraction kept.")


class RepetitionVerifier(Verifier):
    """Rejects samples whose repeated word n-gram fraction exceeds ``max_fraction`` (degenerate loops)."""

    name = "repetition"
    Config = RepetitionVerifierConfig

    def __init__(self, n: int = 3, max_fraction: float = 0.3):
        self.n, self.max_fraction = n, max_fraction

    def check(self, candidate: Candidate) -> Verdict:
        fraction = repeated_ngram_fraction(candidate.text, self.n)
        if fraction > self.max_fraction:
            return Verdict.reject(REPETITIVE, round(fraction, 4), fraction=round(fraction, 4), n=self.n,
                                  max_fraction=self.max_fraction)
        return Verdict.accept(round(fraction, 4))


@lru_cache(maxsize=65536)
def script_of(char: str) -> str:
    """The Unicode script of a letter, from its character name (``LATIN SMALL LETTER A`` → ``latin``)."""
    if char.isascii():
        return "latin"
    name = unicodedata.name(char, "")
    first = name.split(" ", 1)[0].casefold()
    if first == "cjk" or "ideograph" in name.casefold():
        return "cjk"
    return first or "unknown"


def script_shares(text: str) -> tuple[Counter, int]:
    """Letter counts per script and the number of letters (``str.isalpha``); other characters are ignored."""
    if text.isascii():  # fast path: every ASCII letter is Latin
        letters = len(_NOT_ASCII_LETTER.sub("", text))
        return Counter({"latin": letters} if letters else {}), letters
    counts = Counter(map(script_of, filter(str.isalpha, text)))
    return counts, sum(counts.values())


def canonical_script(name: str) -> str:
    name = name.casefold()
    return _ALIASES.get(name, name)


class ScriptVerifierConfig(Placed):
    type: Literal["script"]
    scripts: list[str] = Field(default_factory=lambda: ["latin"], min_length=1, description="Allowed scripts.")
    min_share: float = Field(0.9, ge=0.0, le=1.0, description="Smallest share of letters in those scripts.")

    @field_validator("scripts")
    @classmethod
    def _known(cls, scripts: list[str]) -> list[str]:
        unknown = [s for s in scripts if canonical_script(s) not in SCRIPTS]
        if unknown:
            raise ValueError(f"unknown script {unknown[0]!r}; known: {', '.join(SCRIPTS)}")
        return scripts


class ScriptVerifier(Verifier):
    """Keeps texts whose letters are at least ``min_share`` in the allowed ``scripts``; a cheap proxy for
    language (Latin vs Cyrillic vs CJK...). Texts with no letters get share 0."""

    name = "script"
    Config = ScriptVerifierConfig

    def __init__(self, scripts: list[str] = ("latin",), min_share: float = 0.9):
        self.scripts = [canonical_script(s) for s in scripts]
        self.min_share = min_share
        self._allowed = frozenset(self.scripts)

    def check(self, candidate: Candidate) -> Verdict:
        counts, letters = script_shares(candidate.text)
        share = sum(counts[s] for s in self._allowed) / letters if letters else 0.0
        if share < self.min_share:
            top = [s for s, _ in counts.most_common(3)]
            return Verdict.reject(WRONG_SCRIPT, round(share, 4), share=round(share, 4), scripts=top,
                                  min_share=self.min_share)
        return Verdict.accept(round(share, 4))
