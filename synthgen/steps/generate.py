"""``generate``: one LLM call per record whose completion becomes the column ``name``."""

from __future__ import annotations

from typing import Any, Iterator

from ..prompts import EXAMPLES, FewShotPool, few_shot_rng
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
            self.keep_prompt(record, request)
            yield from self.fan_out(record, completions)

    def _request(self, record: Candidate):
        extra: dict[str, Any] = {}
        parents: tuple[str, ...] = ()
        if self.few_shot is not None:
            rotation, more = self.adjustment()
            extra[EXAMPLES], parents = self.few_shot.draw(few_shot_rng(self.runtime.recipe_seed, rotation,
                                                                       self._few_shot_key(record)), more)
        return self.request(record, render(self.config.template, record, **extra), parent_ids=parents)

    def _few_shot_key(self, record: Candidate) -> Any:
        """The run's first step keys its draws by request index, as the ``[prompt]`` shorthand does (so a
        one-step recipe draws what it always drew); later steps by (step name, record index)."""
        return record.request.index if self.runtime.first_llm else (self.name, record.index)
