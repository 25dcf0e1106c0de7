"""LLM judge: a rubric rendered per candidate, a score parsed from the judge's reply, a threshold.

Any backend can judge (the generator's model or its own). ``mode = "pairwise"`` compares the candidate with
a reference (a seed field or column) in both orders and keeps it only when both orders prefer it, so a
judge's position bias cannot let a candidate through. An unparseable reply is a rejection with its own
reason, never a crash. A judge whose backend fails (its server down, its replay file exhausted) rejects
nothing: the error, naming the judge's table, stops the run, and a resume judges the batch again. Its own
backend starts with the run, before anything is generated. The request for each prompt is a pure function
of the candidate (index, id, which prompt), so a resumed run asks what an uninterrupted one did.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from ..errors import SynthgenError
from ..prompts import derive_seed
from ..records import Candidate, GenerationRequest, Verdict
from .base import Verifier, config_params
from .judge_backend import no_backend_error
from .templating import MISSING_FIELD, MissingField, candidate_fields, render
from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..recipe.base import Placed
from .checks import check_bounds, compiles, placeholders, validate_backend_table

BELOW_THRESHOLD = "judge_below_threshold"
UNPARSEABLE = "judge_unparseable"
INCONSISTENT = "judge_inconsistent"
PREFERS_REFERENCE = "judge_prefers_reference"
TIE = "judge_tie"

SCORE_TEMPLATE = (
    "You are a strict grader. Rate the response to the instruction below for correctness, helpfulness and "
    "clarity on a scale of {min_score} to {max_score}.\n\nInstruction:\n{prompt}\n\nResponse:\n{text}\n\n"
    'Reply with one line: "Score: <number>".\nScore:'
)
PAIRWISE_TEMPLATE = (
    "Which response answers the instruction better?\n\nInstruction:\n{prompt}\n\nResponse A:\n{a}\n\n"
    'Response B:\n{b}\n\nReply with one line: "Winner: A", "Winner: B" or "Winner: tie".\nWinner:'
)
SCORE_PATTERN = r"(?i)\b(?:score|rating)\b[\s:=*_]*(-?\d+(?:\.\d+)?)|^[\s*_]*(-?\d+(?:\.\d+)?)"
WINNER_PATTERN = r"(?i)\b(?:winner|better)\b\W{0,3}(?:response\s+)?(A|B|tie)\b|^\W*(?:response\s+)?(A|B|tie)\b"
WINNER_CHOICES = ("A", "B", "tie")
NUMBER_REGEX = r"-?[0-9]{1,4}(\.[0-9]{1,3})?"
_BARE_NUMBER = re.compile(NUMBER_REGEX)
MAX_CHOICES = 101


def score_constraint(low: float, high: float, threshold: float) -> dict[str, Any]:
    """Decoding constraint for a score: the integers of an integer scale (up to 101 of them, and an integer
    threshold) as a choice; any short decimal number otherwise (:func:`parse_score` checks the range)."""
    integral = all(float(v).is_integer() for v in (low, high, threshold))
    if integral and 0 <= high - low < MAX_CHOICES:
        return {"choice": [str(i) for i in range(int(low), int(high) + 1)]}
    return {"regex": NUMBER_REGEX}


def first_group(pattern: re.Pattern, text: str) -> str | None:
    """The first non-empty group of the first match (the whole match for a pattern without groups)."""
    found = pattern.search(text)
    if found is None:
        return None
    if not found.groups():
        return found.group(0)
    return next((group for group in found.groups() if group is not None), None)


def parse_score(text: str, pattern: re.Pattern, low: float, high: float) -> float | None:
    """The score in ``text``, or None when absent, not a number, or outside [low, high]. A reply that is
    just a number (what constrained decoding returns) is read as is; anything else through ``pattern``."""
    raw = text.strip() if _BARE_NUMBER.fullmatch(text.strip()) else first_group(pattern, text.strip())
    try:
        score = float(raw) if raw is not None else None
    except ValueError:
        return None
    return score if score is not None and low <= score <= high else None


def parse_winner(text: str, pattern: re.Pattern) -> str | None:
    """``A``, ``B`` or ``tie`` from a pairwise reply (a bare ``A``/``B``/``tie`` as is), or None."""
    raw = text.strip() if text.strip() in WINNER_CHOICES else first_group(pattern, text.strip())
    if raw is None:
        return None
    raw = raw.strip()
    return "tie" if raw.casefold() == "tie" else raw.upper() if raw.upper() in ("A", "B") else None


class JudgeVerifierConfig(Placed):
    type: Literal["judge"]
    mode: Literal["score", "pairwise"] = "score"
    template: str | None = Field(None, description="Rubric prompt; default per mode. {text}, {prompt}, seeds; "
                                                   "pairwise: {a}, {b}.")
    score_pattern: str | None = Field(None, description="Regex whose first group is the score.")
    min_score: float = 1
    max_score: float = 10
    threshold: float = Field(7, description="Keep candidates scoring at least this (score mode).")
    reference: str | None = Field(None, description="Pairwise: seed field or column holding the reference text.")
    winner_pattern: str | None = Field(None, description="Pairwise: regex whose first group is A, B or tie.")
    allow_ties: bool = False
    temperature: float = Field(0.0, ge=0.0, le=5.0)
    max_tokens: int = Field(64, ge=1)
    seed: int = 0
    backend: Any = Field(None, description="The judge's own [verify.backend] table; default: the generator's.")
    prompt_mode: Literal["auto", "completion", "chat"] = Field("auto", description="For the judge's own backend.")
    system: str | None = Field(None, description="System message for the judge's own backend in chat mode.")

    @field_validator("score_pattern", "winner_pattern")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        return None if pattern is None else compiles(pattern)

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, threshold: float, info: ValidationInfo) -> float:
        low, high = info.data.get("min_score"), info.data.get("max_score")
        if info.data.get("mode") == "score" and low is not None and high is not None and not low <= threshold <= high:
            raise ValueError(f"threshold lies outside [min_score, max_score] = [{low:g}, {high:g}]")
        return threshold

    @field_validator("template")
    @classmethod
    def _template(cls, template: str | None) -> str | None:
        if template is not None:
            placeholders(template)
        return template

    @field_validator("backend", mode="before")
    @classmethod
    def _backend(cls, value: Any) -> Any:
        return None if value is None else validate_backend_table(value)

    @model_validator(mode="after")
    def _consistent(self) -> "JudgeVerifierConfig":
        check_bounds(self.min_score, self.max_score, "min_score", "max_score")
        if self.mode == "pairwise" and not self.reference:
            raise ValueError("pairwise mode needs reference: the seed field or column to compare against")
        if self.template is not None:
            needed = {"a", "b"} if self.mode == "pairwise" else {"text"}
            missing = sorted(needed - set(placeholders(self.template)))
            if missing:
                raise ValueError(f"the {self.mode} template must contain {{{missing[0]}}}")
        return self


class JudgeVerifier(Verifier):
    """Scores candidates with an LLM. ``mode``: ``score`` (keep when score ≥ ``threshold``) or ``pairwise``
    (keep when the candidate beats ``reference`` in both orders; ties kept with ``allow_ties``)."""

    name = "judge"
    Config = JudgeVerifierConfig

    @classmethod
    def templates(cls, config: Any) -> dict[str, tuple[str, set[str]]]:
        """The recipe's own rubric (the defaults use only fields every candidate has) and what fills it
        besides seed fields and columns; the plan checks every placeholder before generating."""
        if config.template is None:
            return {}
        own = {"min_score", "max_score"} | ({"a", "b"} if config.mode == "pairwise" else set())
        return {"template": (config.template, own)}

    @classmethod
    def references(cls, config: Any) -> dict[str, str]:
        """Keys naming a seed field or column read per candidate: pairwise mode's ``reference``."""
        return {"reference": config.reference} if config.mode == "pairwise" and config.reference else {}

    @classmethod
    def from_config(cls, config: Any, context: Any, where: str) -> "JudgeVerifier":
        """On its own ``[verify.backend]`` (which it then closes), else on the generator's backend."""
        from .judge_backend import judge_backend

        params = {k: v for k, v in config_params(config, "backend", "prompt_mode", "system").items() if v is not None}
        verifier = cls(backend=judge_backend(config, context, where), **params)
        verifier.owns_backend = config.backend is not None
        verifier.where = where
        return verifier

    def __init__(self, backend: Any = None, mode: str = "score", template: str | None = None,
                 score_pattern: str = SCORE_PATTERN, min_score: float = 1, max_score: float = 10,
                 threshold: float = 7, reference: str | None = None, winner_pattern: str = WINNER_PATTERN,
                 allow_ties: bool = False, temperature: float = 0.0, max_tokens: int = 64, seed: int = 0,
                 constrain: bool = True):
        self.backend, self.mode = backend, mode
        self.template = template or (PAIRWISE_TEMPLATE if mode == "pairwise" else SCORE_TEMPLATE)
        self.min_score, self.max_score, self.threshold = min_score, max_score, threshold
        self.reference, self.allow_ties, self.seed = reference, allow_ties, seed
        self._score_re, self._winner_re = re.compile(score_pattern), re.compile(winner_pattern)
        self.temperature, self.max_tokens = temperature, max_tokens
        self.constrain = constrain  # decode the verdict under structured outputs where the backend can
        self._loaded = False
        self.owns_backend = False  # set by the factory when the judge has its own [verify.backend]
        self.where = "judge"  # the recipe table (``file:verify.N``), set by the factory, names its errors

    def start(self) -> None:
        """Start the judge's own backend before the run generates: a server that is down fails here, once,
        naming the judge's table (the generator's backend, when shared, the run has started already)."""
        if self.owns_backend:
            self._load()

    def close(self) -> None:
        """Release the judge's own backend (never the generator's, which the run closes)."""
        if self.owns_backend and self.backend is not None:
            self.backend.close()
            self._loaded = False

    def check(self, candidate: Candidate) -> Verdict:
        return self.check_batch([candidate])[0]

    def check_batch(self, candidates: list[Candidate]) -> list[Verdict]:
        plans = [self._prompts(candidate) for candidate in candidates]
        asked = [(c, k, p) for c, plan in zip(candidates, plans) if isinstance(plan, list) for k, p in enumerate(plan)]
        replies = iter(self.ask([p for _, _, p in asked], [c.id for c, _, _ in asked],
                                [judge_request_index(c, k, self.prompts_per_candidate) for c, k, _ in asked],
                                [k for _, k, _ in asked]))
        return [plan if isinstance(plan, Verdict) else self._decide([next(replies) for _ in plan]) for plan in plans]

    @property
    def prompts_per_candidate(self) -> int:
        return 2 if self.mode == "pairwise" else 1

    def _prompts(self, candidate: Candidate) -> list[str] | Verdict:
        """One prompt (score mode) or two (pairwise: candidate as A, then as B), or a rejection."""
        scale = {"min_score": _fmt(self.min_score), "max_score": _fmt(self.max_score)}
        try:
            if self.mode == "score":
                return [render(self.template, candidate_fields(candidate, **scale))]
            fields = candidate_fields(candidate, **scale)
            reference = str(fields[self.reference]) if self.reference in fields else None
            if reference is None:
                raise MissingField(str(self.reference))
            return [render(self.template, {**fields, "a": candidate.text, "b": reference}),
                    render(self.template, {**fields, "a": reference, "b": candidate.text})]
        except MissingField as exc:
            return Verdict.reject(MISSING_FIELD, field=exc.name, template="judge")

    def ask(self, prompts: list[str], keys: list[str] | None = None, indices: list[int] | None = None,
            calls: list[int] | None = None) -> list[str]:
        """The judge's reply to each prompt (one backend call for the whole batch). Request ``i`` is a pure
        function of its prompt, ``keys[i]`` (the candidate's id), ``indices[i]`` (its request index, which a
        replay backend reads as the row) and ``calls[i]`` (which of the candidate's prompts it is), so a
        resumed run asks exactly what an uninterrupted one did. A backend failure is raised naming the
        judge's table: it says nothing about the candidates, and the run stops on it."""
        if not prompts:
            return []
        self._load()
        from ..recipe.schema import SamplingConfig

        sampling = SamplingConfig(temperature=self.temperature, max_tokens=self.max_tokens, n=1,
                                  **self.decoding_constraint())
        positions = list(range(len(prompts)))
        keys, indices, calls = keys or [str(i) for i in positions], indices or positions, calls or positions
        requests = [_request(index, prompt, derive_seed(self.seed, "judge", key, call))
                    for prompt, key, index, call in zip(prompts, keys, indices, calls, strict=True)]
        try:
            results = self.backend.generate(requests, sampling)
        except SynthgenError as exc:
            raise self._located(exc) from exc
        return [completions[0].text for completions in results]

    def _load(self) -> None:
        """Load the backend once; its errors name the judge's table."""
        if self.backend is None:
            raise no_backend_error()
        if self._loaded:
            return
        try:
            self.backend.load()
        except SynthgenError as exc:
            raise self._located(exc) from exc
        self._loaded = True

    def _located(self, error: SynthgenError) -> SynthgenError:
        """``error`` with the judge's table in front: ``file:verify.N.backend`` for its own backend."""
        where = f"{self.where}.backend" if self.owns_backend else f"{self.where} (the generator's backend)"
        return located_error(error, where)

    def decoding_constraint(self) -> dict[str, Any]:
        """``choice``/``regex`` sampling fields that make a reply exactly a verdict (vLLM offline and
        vLLM servers enforce them; other servers ignore them and the pattern parse reads free text)."""
        if not self.constrain:
            return {}
        if self.mode == "pairwise":
            return {"choice": list(WINNER_CHOICES)}
        return score_constraint(self.min_score, self.max_score, self.threshold)

    def _decide(self, replies: list[str]) -> Verdict:
        if self.mode == "score":
            return self._decide_score(replies[0])
        return self._decide_pair(replies)

    def _decide_score(self, reply: str) -> Verdict:
        score = parse_score(reply, self._score_re, self.min_score, self.max_score)
        if score is None:
            return Verdict.reject(UNPARSEABLE, reply=reply[:300])
        if score < self.threshold:
            return Verdict.reject(BELOW_THRESHOLD, score, threshold=self.threshold, reply=reply[:300])
        return Verdict.accept(score)

    def _decide_pair(self, replies: list[str]) -> Verdict:
        first, second = (parse_winner(r, self._winner_re) for r in replies)
        evidence = {"replies": [r[:200] for r in replies], "winners": [first, second]}
        if first is None or second is None:
            return Verdict.reject(UNPARSEABLE, **evidence)
        outcome = {"A": "win", "B": "loss", "tie": "tie"}[first], {"B": "win", "A": "loss", "tie": "tie"}[second]
        if outcome[0] != outcome[1]:
            return Verdict.reject(INCONSISTENT, 0.0, **evidence)
        if outcome[0] == "win":
            return Verdict.accept(1.0)
        if outcome[0] == "tie":
            return Verdict.accept(0.5) if self.allow_ties else Verdict.reject(TIE, 0.5, **evidence)
        return Verdict.reject(PREFERS_REFERENCE, 0.0, **evidence)


def judge_request_index(candidate: Candidate, call: int, calls: int) -> int:
    """The judge's request index for prompt ``call`` of ``calls`` about ``candidate``: from the record's
    index in the run (its request's for a hand-built candidate), never from how many were judged before."""
    record = candidate.index if candidate.index is not None else candidate.request.index
    return record * calls + call


def located_error(error: SynthgenError, where: str) -> SynthgenError:
    """The same error (type and hint) with ``where: `` before its message."""
    message = f"{where}: {error.message}"
    try:
        return type(error)(message, error.hint)
    except TypeError:  # a subclass with its own constructor
        return SynthgenError(message, error.hint)


def _request(index: int, prompt: str, sampling_seed: int) -> GenerationRequest:
    from ..records import Seed

    return GenerationRequest(index, prompt, Seed(index, {}), sampling_seed)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
