"""``generate``: one LLM call per record whose completion becomes the column ``name``."""

from __future__ import annotations

import random
from typing import Any, Iterator

from ..prompts import EXAMPLES, FewShotPool, derive_seed
from ..records import Candidate
from .base import LLMStepStage, StepRuntime, render


class GenerateStage(LLMStepStage):
    """Renders ``template`` from seed fields and earlier columns (and rotated real few-shot examples),
    asks the backend once for the batch, and writes each completion; ``n > 1`` fans the record out.
    ``few_shot_adjustment()`` gives the gate's (rotation, extra examples) at the time of the batch."""

    def __init__(self, config: Any, runtime: StepRuntime, few_shot: FewShotPool | None = None,
                 few_shot_adjustment: Any = None):
        super().__init__(config, runtime)
        self.few_shot = few_shot
        self.adjustment = few_shot_adjustment or (lambda: (0, 0))

    def process(self, records: list[Candidate]) -> Iterator[Candidate]:
        requests = [self._request(record) for record in records]
        results = self.ask(requests)
        for record, request, completions in zip(records, requests, results, strict=True):
            if self.runtime.first_llm:
                record.request = request  # the run's first prompt is the record's provenance
            yield from self.fan_out(record, completions)

    def _request(self, record: Candidate):
        extra: dict[str, Any] = {}
        parents: tuple[str, ...] = ()
        if self.few_shot is not None:
            more = self.adjustment()[1]
            extra[EXAMPLES], parents = self.few_shot.draw(random.Random(self._few_shot_seed(record)), more)
        return self.request(record, render(self.config.template, record, **extra), parent_ids=parents)

    def _few_shot_seed(self, record: Candidate) -> int:
        """The legacy salt for the run's first step (so a one-step recipe draws what it always drew)."""
        rotation = self.adjustment()[0]
        key = record.request.index if self.runtime.first_llm else (self.name, record.index)
        salt = ("few_shot", key) if rotation == 0 else ("few_shot", rotation, key)
        return derive_seed(self.runtime.recipe_seed, *salt)
