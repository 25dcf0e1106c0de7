"""Self-consistency: sample n answers per request, keep the majority answer when enough samples agree.

A stage rather than a verifier because it needs every sample of a request at once; the runner's batches
always hold all n completions of each request, so candidates are grouped by ``request.index``. In a steps
recipe the samples compared are those one parent record got at the step that writes the checked column
(:meth:`SelfConsistencyStage.group_by_parent`): an earlier fan-out gives many parents the same request.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Hashable, Iterator, Literal

from ..pipeline import Stage
from ..records import Candidate
from pydantic import Field, field_validator

from ..recipe.base import Placed
from .checks import compiles

NO_ANSWER = "no_answer"
LOW_AGREEMENT = "low_agreement"
MINORITY_ANSWER = "minority_answer"
REDUNDANT_SAMPLE = "redundant_sample"
ANSWER_PATTERN = r"####\s*([^\n]+)|\\boxed\{([^{}]+)\}|(?i:final answer|answer)\s*(?:is|:)\s*\**([^\n*]+)"
_NUMBER = re.compile(r"^[-+]?[$€£]?\s*[-+]?\d[\d,]*(?:\.\d+)?%?$")


def extract_answer(text: str, pattern: re.Pattern) -> str | None:
    """The last match's first non-empty group (the whole match for a pattern without groups)."""
    last = None
    for found in pattern.finditer(text):
        last = found
    if last is None:
        return None
    if not last.groups():
        return last.group(0)
    return next((g for g in last.groups() if g is not None), None)


def normalize_answer(answer: str, mode: str) -> str:
    """``exact``: stripped. ``text``: casefolded, whitespace collapsed, trailing punctuation dropped.
    ``number``: like text, and numbers compare by value (``1,000.0`` == ``1000``)."""
    answer = answer.strip()
    if mode == "exact":
        return answer
    answer = " ".join(answer.casefold().split()).rstrip(".!;:").strip("$ ")
    if mode == "number" and _NUMBER.match(answer):
        try:
            value = float(re.sub(r"[,$€£%\s]", "", answer))
        except ValueError:
            return answer
        return str(int(value)) if value.is_integer() else repr(value)
    return answer


class SelfConsistencyConfig(Placed):
    type: Literal["self_consistency"]
    answer_pattern: str | None = Field(None, description="Regex whose first non-empty group is the final answer; "
                                                         "default: '#### x', '\\boxed{x}' or 'answer: x'.")
    normalize: Literal["exact", "text", "number"] = "number"
    min_agreement: float = Field(0.5, gt=0.0, le=1.0, description="Majority share of the n samples required.")
    keep: Literal["all", "first"] = Field("all", description="Keep every majority sample or only the first.")
    answer_column: str | None = "answer"

    @field_validator("answer_pattern")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        return None if pattern is None else compiles(pattern)


class SelfConsistencyStage(Stage):
    """Keeps the samples that give the request's majority answer when agreement ≥ ``min_agreement``.

    agreement = count(majority answer) / max(n, samples present), so samples dropped by earlier stages
    count as disagreeing. A tie for the top answer is no majority. ``keep = "first"`` keeps one sample.
    """

    name = "self_consistency"
    Config = SelfConsistencyConfig

    @classmethod
    def added_columns(cls, config: Any) -> set[str]:
        return {config.answer_column} if config.answer_column else set()

    @classmethod
    def from_config(cls, config: Any, context: Any, where: str) -> "SelfConsistencyStage":
        """Compares the ``context.n`` samples of each prompt, so it needs n ≥ 2."""
        from ..errors import RecipeError
        from .base import config_params

        if context.n < 2:
            raise RecipeError(f"{where}: self_consistency compares several samples per prompt, but "
                              f"generation.sampling.n is {context.n}", hint="set generation.sampling.n to 5 or more")
        params = {k: v for k, v in config_params(config).items() if v is not None or k == "answer_column"}
        return cls(n=context.n, **params)

    def __init__(self, answer_pattern: str = ANSWER_PATTERN, normalize: str = "number", min_agreement: float = 0.5,
                 keep: str = "all", answer_column: str | None = "answer", n: int = 1, name: str | None = None):
        self.name = name or self.name
        super().__init__()
        self.pattern = re.compile(answer_pattern)
        self.normalize, self.min_agreement, self.keep = normalize, min_agreement, keep
        self.answer_column, self.n = answer_column, n
        self.stride: int | None = None  # set by group_by_parent: samples are then grouped by record index

    def group_by_parent(self, n: int, stride: int) -> None:
        """Compare the ``n`` samples each parent record got at the step that writes the checked column.

        That step gives sample ``j`` of a parent the record index ``parent + j * stride`` (``stride``: the
        product of the later fan-out steps' n, see :mod:`synthgen.steps.base`), so ``index // (n * stride)``
        names the parent and ``index % stride`` the position a later fan-out gave the record. Grouping by
        ``request.index`` instead would pool the samples of every parent an earlier fan-out made."""
        self.n, self.stride = n, stride

    def process(self, candidates: list[Candidate]) -> Iterator[Candidate]:
        groups: dict[Hashable, list[Candidate]] = {}
        for candidate in candidates:
            groups.setdefault(self._group_key(candidate), []).append(candidate)
        for group in groups.values():
            yield from self._judge_group(group)

    def _group_key(self, candidate: Candidate) -> Hashable:
        if self.stride is None or candidate.index is None:
            return candidate.request.index
        return candidate.index // (self.n * self.stride), candidate.index % self.stride

    def _judge_group(self, group: list[Candidate]) -> Iterator[Candidate]:
        answers = [extract_answer(c.text, self.pattern) for c in group]
        keys = [normalize_answer(a, self.normalize) if a is not None else None for a in answers]
        counts = Counter(k for k in keys if k)
        top = counts.most_common(2)
        denominator = max(self.n, len(group))
        agreement = top[0][1] / denominator if top else 0.0
        tied = len(top) == 2 and top[0][1] == top[1][1]
        majority = top[0][0] if top and not tied and agreement >= self.min_agreement else None
        kept = 0
        for candidate, answer, key in zip(group, answers, keys):
            if self._keeps(candidate, answer, key, majority, agreement, kept, counts):
                kept += 1
                yield candidate

    def _keeps(self, candidate: Candidate, answer: str | None, key: str | None, majority: str | None,
               agreement: float, kept: int, counts: Counter) -> bool:
        score = round(agreement, 4)
        evidence = {"answer": answer, "agreement": score, "votes": dict(counts.most_common(5))}
        if not key:
            self.drop(candidate, NO_ANSWER, score, evidence)
        elif majority is None:
            self.drop(candidate, LOW_AGREEMENT, score, {**evidence, "min_agreement": self.min_agreement})
        elif key != majority:
            self.drop(candidate, MINORITY_ANSWER, score, {**evidence, "majority": majority})
        elif self.keep == "first" and kept:
            self.drop(candidate, REDUNDANT_SAMPLE, score, evidence)
        else:
            candidate.scores[self.name] = score
            if self.answer_column:
                candidate.columns[self.answer_column] = answer.strip() if answer else answer
            return True
        return False
