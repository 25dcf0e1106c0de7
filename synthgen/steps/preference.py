"""``preference``: several scored responses to one prompt become one ``prompt / chosen / rejected`` row.

The responses of one prompt are the records fanned out from the same parent (same index prefix). The
best-scored becomes ``chosen`` and the worst ``rejected`` when their margin reaches ``min_margin``; the
pair is one record (the rejected response is merged into it). Nothing is lost silently: a group whose
margin is too small goes to the rejects as ``preference_tie``, a lone survivor as ``single_survivor``,
a best and worst with the same text (greedy sampling repeats itself) as ``preference_identical``, and
the responses between the best and the worst as ``preference_unused``.

A response without a score is dropped as ``missing_score``, and one whose score is not a finite number
as ``invalid_score`` (with the value as evidence), the way a judge reply without a score is dropped as
``judge_unparseable``: one bad row is a reject, not a crash. The plan already refuses a ``score`` that
names a column which cannot hold numbers (:func:`score_column_problem`), so this is a safety net.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from ..recipe.schema import PAIR_COLUMNS
from ..records import Candidate, as_text
from .base import StepRuntime, StepStage, value_of

TIE = "preference_tie"
SINGLE = "single_survivor"
UNUSED = "preference_unused"
IDENTICAL = "preference_identical"
NO_SCORE = "missing_score"
INVALID_SCORE = "invalid_score"
SCORE_MUST_NAME = "name a judge step's column, a verifier's score or a sample step with numeric values"


def as_score(value: Any) -> float | None:
    """``value`` as a score: a finite int or float (not a bool), or a string holding one; else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        score = float(value)
    except ValueError:
        return None
    return score if math.isfinite(score) else None


def score_column_problem(writer: Any, writer_index: int, response_index: int) -> str | None:
    """Why the column of step ``writer`` (at ``writer_index``) cannot score the responses the step at
    ``response_index`` writes, or None when it can. A judge step writes a number; a sample step whose values are
    all numbers does too. Text columns (generate, rewrite, template, chat) are not scores, and a column
    written before the responses is copied into every response of a prompt, so it cannot rank them."""
    if writer.type == "sample":
        if any(as_score(value) is None for value in writer.values):
            return f"is sample step {writer.name!r}, whose values are not all numbers"
    elif writer.type != "judge":
        return f"is a text column of {writer.type} step {writer.name!r}, not a score"
    if writer_index < response_index:
        return (f"is written by {writer.type} step {writer.name!r} before the responses, so every response of a "
                "prompt has the same score")
    return None


class PreferenceStage(StepStage):
    """``group_size``: how many consecutive record indices descend from one parent (the fan-out step's
    ``n`` × its stride), so ``index // group_size`` names a record's prompt."""

    def __init__(self, config: Any, runtime: StepRuntime, group_size: int):
        super().__init__(config, runtime)
        self.group_size = group_size

    def process(self, records: list[Candidate]) -> Iterator[Candidate]:
        groups: dict[int, list[Candidate]] = {}
        for record in records:
            groups.setdefault(record.index // self.group_size, []).append(record)
        for members in groups.values():
            yield from self._pair(members)

    def _score(self, record: Candidate) -> float | None:
        """The record's score, or None after dropping it (``missing_score`` / ``invalid_score``)."""
        name = self.config.score
        value = record.columns.get(name, record.scores.get(name))
        score = None if value is None else as_score(value)
        if score is None:
            evidence = {"score": name} if value is None else {"score": name, "value": repr(value)[:300]}
            self.drop(record.view(self.config.response), NO_SCORE if value is None else INVALID_SCORE,
                      evidence=evidence)
        return score

    def _pair(self, members: list[Candidate]) -> Iterator[Candidate]:
        scored = [(self._score(m), m) for m in members]
        scored = sorted([(s, m) for s, m in scored if s is not None], key=lambda sm: (-sm[0], sm[1].index))
        if len(scored) == 1:
            self.drop(scored[0][1].view(self.config.response), SINGLE, scored[0][0])
            return
        if not scored:
            return
        (best, chosen), (worst, rejected) = scored[0], scored[-1]
        if best - worst < self.config.min_margin:
            for score, member in scored:
                self.drop(member.view(self.config.response), TIE, score,
                          {"margin": best - worst, "min_margin": self.config.min_margin})
            return
        for score, member in scored[1:-1]:
            self.drop(member.view(self.config.response), UNUSED, score, {"chosen_score": best})
        if self._text(chosen) == self._text(rejected):
            self._drop_identical(chosen, rejected, best, worst)
            return
        self.stats.merged += 1
        yield self._merge(chosen, rejected, best, worst)

    def _text(self, record: Candidate) -> str:
        return as_text(record.columns[self.config.response])

    def _drop_identical(self, chosen: Candidate, rejected: Candidate, best: float, worst: float) -> None:
        """A pair whose chosen and rejected texts are equal teaches nothing (and contradicts itself):
        both responses go to the rejects, with the pair's scores as evidence."""
        evidence = {"margin": best - worst, "chosen_score": best, "rejected_score": worst}
        self.drop(chosen.view(self.config.response), IDENTICAL, best, evidence)
        self.drop(rejected.view(self.config.response), IDENTICAL, worst, evidence)

    def _merge(self, chosen: Candidate, rejected: Candidate, best: float, worst: float) -> Candidate:
        config = self.config
        chosen.columns.update(prompt=value_of(chosen, config.prompt), chosen=self._text(chosen),
                              rejected=self._text(rejected), chosen_score=best,
                              rejected_score=worst, margin=best - worst)
        chosen.text = chosen.columns["chosen"]
        return chosen
