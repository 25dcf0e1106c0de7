"""``judge`` as a step: an LLM scores an earlier column and the score becomes a column.

A verifier decides keep/drop; this step only measures (for preference pairs, reward columns, reports).
It shares the judge verifier's rubric, parser and decoding constraint: on vLLM (offline or a vLLM server)
the reply is decoded as one of the scale's scores (or a number), so it always parses there. A reply with
no score in range is dropped with ``judge_unparseable`` (a record without its score cannot be paired).
"""

from __future__ import annotations

import re
from typing import Iterator

from ..records import Candidate
from ..verify.judge import SCORE_PATTERN, SCORE_TEMPLATE, UNPARSEABLE, parse_score, score_constraint
from .base import LLMStepStage, render, value_of


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class JudgeStage(LLMStepStage):
    def process(self, records: list[Candidate]) -> Iterator[Candidate]:
        config = self.config
        pattern = re.compile(config.score_pattern or SCORE_PATTERN)
        requests = [self.request(record, self._prompt(record)) for record in records]
        constraint = score_constraint(config.min_score, config.max_score, config.min_score)
        sampling = self.runtime.sampling.model_copy(update={"json_schema": None, "regex": None, "choice": None,
                                                            **constraint})  # the score's constraint replaces any other
        for record, completions in zip(records, self.ask(requests, sampling), strict=True):
            reply = completions[0].text
            score = parse_score(reply, pattern, config.min_score, config.max_score)
            if score is None:
                self.drop(record.view(config.target), UNPARSEABLE, evidence={"reply": reply[:300]})
                continue
            record.columns[self.name] = score
            yield record

    def _prompt(self, record: Candidate) -> str:
        config = self.config
        prompt = value_of(record, config.prompt_field) if config.prompt_field else record.request.prompt
        return render(config.template or SCORE_TEMPLATE, record, text=value_of(record, config.target),
                      prompt=prompt, min_score=_fmt(config.min_score), max_score=_fmt(config.max_score))
