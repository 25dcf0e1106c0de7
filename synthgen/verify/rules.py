"""Cheap rule verifiers: run first, they cost microseconds per candidate.

Length (chars, words or tokens), regex must / must-not match, and a phrase blocklist with prompt-echo
detection. Repetition and script share live in ``text_stats``; required fields in ``fields``.
"""

from __future__ import annotations

from typing import Literal

import re
from functools import lru_cache

from ..records import Candidate, Verdict
from .base import Verifier
from pydantic import Field, field_validator, model_validator

from ..recipe.base import Placed
from .checks import RegexFlag, check_bounds, compiles

EMPTY = "empty_output"
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
REGEX_NOT_MATCHED = "regex_not_matched"
REGEX_FORBIDDEN = "regex_forbidden_match"
BLOCKED_PHRASE = "blocked_phrase"
PROMPT_ECHO = "prompt_echo"

REFUSALS = (
    "as an ai language model", "as a language model", "as an ai assistant", "as an ai,",
    "i'm sorry, but i can't", "i'm sorry, but i cannot", "i am sorry, but i cannot", "i cannot fulfill",
    "i can't fulfill", "i can't help with that", "i cannot help with that", "i can't assist with",
    "i cannot assist with", "i am unable to", "i'm unable to", "i'm not able to provide",
    "i cannot provide", "i can't provide", "i won't be able to", "my knowledge cutoff",
    "as of my last update", "i do not have personal opinions", "i don't have personal opinions",
)
_FLAGS = {"ignorecase": re.IGNORECASE, "multiline": re.MULTILINE, "dotall": re.DOTALL}


class NonEmptyVerifierConfig(Placed):
    type: Literal["non_empty"]
    strip: bool = True


class NonEmptyVerifier(Verifier):
    """Drops completions that are empty (or, when ``strip``, only whitespace and invisible format characters:
    zero-width spaces and joiners, word joiners, byte-order marks, soft hyphens; ``str.strip`` keeps them,
    so a completion of U+200B alone passed as text).

    A conversation (a chat step's column) is empty when it has no turns or when any turn is empty by the
    same rule: its transcript always holds the role labels, so testing the transcript never rejected one,
    and a conversation with an empty turn is what the chat step itself drops (``empty_turn``)."""

    name = "non_empty"
    Config = NonEmptyVerifierConfig

    def __init__(self, strip: bool = True):
        self.strip = strip

    def check(self, candidate: Candidate) -> Verdict:
        if candidate.turns is not None:
            return self._check_turns(candidate.turns)
        return Verdict.accept() if self._has_text(candidate.text) else Verdict.reject(EMPTY)

    def _check_turns(self, turns: tuple[str, ...]) -> Verdict:
        if not turns:
            return Verdict.reject(EMPTY, turns=0)
        empty = next((number for number, turn in enumerate(turns, 1) if not self._has_text(turn)), None)
        return Verdict.accept() if empty is None else Verdict.reject(EMPTY, message=empty, turns=len(turns))

    def _has_text(self, text: str) -> bool:
        return bool(visible(text) if self.strip else text)


def visible(text: str) -> str:
    """``text`` stripped of whitespace and of format characters (:mod:`synthgen.invisible`)."""
    from ..invisible import drop_format

    return drop_format(text.strip()).strip()


def measure_length(text: str, unit: str, n_tokens: int | None = None) -> int:
    """Length in ``chars``, ``words`` (whitespace-separated, each Chinese or Japanese character one word:
    :func:`synthgen.cjk.text_units`), or ``tokens`` (the backend's count; words when it has none)."""
    from ..cjk import text_units

    if unit == "tokens":
        return n_tokens if n_tokens is not None else text_units(text)
    return text_units(text) if unit == "words" else len(text)


def conversation_length(turns: tuple[str, ...], unit: str, n_tokens: int | None = None) -> int:
    """A conversation's length is its turns' contents: the sum of each (stripped) turn's ``chars`` or
    ``words``, without the role labels or the line breaks of its transcript (``user: ok`` is one word, not
    two). ``tokens`` stays the backend's count of the record's completions, as for any column: a chat
    step's completions are its turns, and the role labels are prompt text, never completion, so they are
    not counted there either. With no count, the turns' words."""
    if unit == "tokens" and n_tokens is not None:
        return n_tokens
    unit = "words" if unit == "tokens" else unit
    return sum(measure_length(turn.strip(), unit) for turn in turns)


class LengthVerifierConfig(Placed):
    type: Literal["length"]
    unit: Literal["chars", "words", "tokens"] = Field("chars", description="tokens: the backend's token count.")
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> "LengthVerifierConfig":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        check_bounds(self.min, self.max, "min", "max")
        return self


class LengthVerifier(Verifier):
    """Keeps completions whose length in ``unit`` (chars, words or tokens) lies within [min, max]; a
    conversation's length is its turns' contents (:func:`conversation_length`)."""

    name = "length"
    Config = LengthVerifierConfig

    def __init__(self, unit: str = "chars", min: int | None = None, max: int | None = None):  # noqa: A002
        self.unit, self.min, self.max = unit, min, max

    def check(self, candidate: Candidate) -> Verdict:
        if candidate.turns is not None:
            size = conversation_length(candidate.turns, self.unit, candidate.n_tokens)
        else:
            size = measure_length(candidate.text.strip(), self.unit, candidate.n_tokens)
        if self.min is not None and size < self.min:
            return Verdict.reject(TOO_SHORT, float(size), length=size, min=self.min, unit=self.unit)
        if self.max is not None and size > self.max:
            return Verdict.reject(TOO_LONG, float(size), length=size, max=self.max, unit=self.unit)
        return Verdict.accept(float(size))


def compile_flags(flags: list[str] | tuple[str, ...]) -> int:
    value = 0
    for flag in flags:
        value |= _FLAGS[flag]
    return value


class RegexVerifierConfig(Placed):
    type: Literal["regex"]
    must_match: list[str] = Field(default_factory=list, description="Patterns that must each be found (re.search).")
    must_not_match: list[str] = Field(default_factory=list, description="Patterns that must not be found.")
    flags: list[RegexFlag] = Field(default_factory=list)

    @field_validator("must_match", "must_not_match")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        return [compiles(p) for p in patterns]

    @model_validator(mode="after")
    def _some(self) -> "RegexVerifierConfig":
        if not self.must_match and not self.must_not_match:
            raise ValueError("give must_match, must_not_match or both")
        return self


class RegexVerifier(Verifier):
    """Every ``must_match`` pattern must be found (``re.search``) and no ``must_not_match`` pattern may be."""

    name = "regex"
    Config = RegexVerifierConfig

    def __init__(self, must_match: list[str] = (), must_not_match: list[str] = (), flags: list[str] = ()):
        self.must_match, self.must_not_match, self.flags = list(must_match), list(must_not_match), list(flags)
        compiled = compile_flags(self.flags)
        self._must = [re.compile(p, compiled) for p in self.must_match]
        self._must_not = [re.compile(p, compiled) for p in self.must_not_match]

    def check(self, candidate: Candidate) -> Verdict:
        for pattern in self._must:
            if pattern.search(candidate.text) is None:
                return Verdict.reject(REGEX_NOT_MATCHED, pattern=pattern.pattern)
        for pattern in self._must_not:
            found = pattern.search(candidate.text)
            if found is not None:
                return Verdict.reject(REGEX_FORBIDDEN, pattern=pattern.pattern, match=found.group(0)[:200])
        return Verdict.accept()


def normalize_line(line: str) -> str:
    return " ".join(line.split()).casefold()


@lru_cache(maxsize=256)
def _prompt_lines(prompt: str) -> frozenset[str]:
    """The prompt's normalized lines (cached: the n samples of a request share one prompt)."""
    return frozenset(normalize_line(line) for line in prompt.splitlines())


def echo_share(text: str, prompt: str, min_chars: int) -> tuple[float, str | None]:
    """Share of the text's characters (in lines of at least ``min_chars``) on lines copied from the prompt.

    share = Σ len(line) over text lines found verbatim among the prompt's lines / Σ len(line) over all
    text lines, after whitespace collapsing and casefolding. Returns the share and the first copied line.
    """
    prompt_lines = _prompt_lines(prompt)
    lines = [normalize_line(line) for line in text.splitlines()]
    total = sum(len(line) for line in lines)
    copied = [line for line in lines if len(line) >= min_chars and line in prompt_lines]
    if not total or not copied:
        return 0.0, None
    return sum(len(line) for line in copied) / total, copied[0]


class BlocklistVerifierConfig(Placed):
    type: Literal["blocklist"]
    phrases: list[str] | None = Field(None, description="Blocked phrases; default: refusal boilerplate.")
    case_sensitive: bool = False
    prompt_echo: bool = Field(True, description="Also reject texts that mostly copy the prompt's lines.")
    echo_min_chars: int = Field(20, ge=1, description="Shorter lines never count as copied.")
    echo_max_share: float = Field(0.5, ge=0.0, le=1.0, description="Largest share of copied characters kept.")

    @field_validator("phrases")
    @classmethod
    def _non_blank(cls, phrases: list[str] | None) -> list[str] | None:
        if phrases is not None and any(not p.strip() for p in phrases):
            raise ValueError("a blank phrase would block every text")
        return phrases


class BlocklistVerifier(Verifier):
    """Rejects texts containing a blocked phrase (by default, refusals and 'As an AI language model'
    boilerplate) and, with ``prompt_echo``, texts that mostly copy the prompt back."""

    name = "blocklist"
    Config = BlocklistVerifierConfig

    def __init__(self, phrases: list[str] | None = None, case_sensitive: bool = False, prompt_echo: bool = True,
                 echo_min_chars: int = 20, echo_max_share: float = 0.5):
        self.phrases = list(REFUSALS if phrases is None else phrases)
        self.case_sensitive, self.prompt_echo = case_sensitive, prompt_echo
        self.echo_min_chars, self.echo_max_share = echo_min_chars, echo_max_share
        # substring tests on casefolded text: ~10x faster than one IGNORECASE alternation regex
        self._needles = [(p if case_sensitive else p.casefold(), p) for p in self.phrases]

    def check(self, candidate: Candidate) -> Verdict:
        haystack = candidate.text if self.case_sensitive else candidate.text.casefold()
        for needle, phrase in self._needles:
            if needle in haystack:
                return Verdict.reject(BLOCKED_PHRASE, phrase=phrase)
        if self.prompt_echo:
            share, line = echo_share(candidate.text, candidate.request.prompt, self.echo_min_chars)
            if share > self.echo_max_share:
                return Verdict.reject(PROMPT_ECHO, round(share, 4), share=round(share, 4), line=line[:200])
        return Verdict.accept()
