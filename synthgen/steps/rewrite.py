"""``rewrite``: Evol-Instruct operators applied to an earlier column, the operator recorded per record.

The operators follow WizardLM's Evol-Instruct (Xu et al. 2023, arXiv 2304.12244): in-depth evolving
(add constraints, deepen, concretize, increase reasoning steps) and in-breadth evolving (a new, rarer
instruction in the same domain). Each record's operator is drawn with a seeded RNG from its index, so a
resumed run draws the same one. The prompts are completion-style, for base models too.
"""

from __future__ import annotations

import random
from typing import Iterator

from ..prompts import derive_seed
from ..records import Candidate
from ..recipe.schema import OPERATOR_SUFFIX
from .base import LLMStepStage, render, value_of

OPERATOR_INSTRUCTIONS = {
    "add_constraints": "more demanding by adding one more constraint or requirement to it",
    "deepen": "ask about the same subject in more depth, covering more of what an expert would want to know",
    "concretize": "more specific, replacing general concepts with concrete ones (names, numbers, situations)",
    "increase_reasoning": "require several explicit steps of reasoning to answer, not a single fact",
    "breadth": "into a brand-new instruction on a rarer topic from the same domain, of similar length",
}
REWRITE_PROMPT = (
    "Rewrite the instruction below to make it {operator_instruction}. The rewritten instruction must be "
    "self-contained, answerable and no more than twice as long.\n\n"
    "Instruction: {source_text}\nRewritten instruction:"
)


class RewriteStage(LLMStepStage):
    def process(self, records: list[Candidate]) -> Iterator[Candidate]:
        operators = [self._operator(record) for record in records]
        template = self.config.template or REWRITE_PROMPT
        requests = [self.request(record, render(template, record, operator=op,
                                                operator_instruction=OPERATOR_INSTRUCTIONS[op],
                                                source_text=value_of(record, self.config.source)))
                    for record, op in zip(records, operators)]
        results = self.ask(requests)
        for record, op, request, completions in zip(records, operators, requests, results, strict=True):
            self.keep_prompt(record, request)
            yield from self.fan_out(record, completions, **{self.name + OPERATOR_SUFFIX: op})

    def _operator(self, record: Candidate) -> str:
        rng = random.Random(derive_seed(self.runtime.recipe_seed, "rewrite", self.name, record.index))
        return rng.choice(list(self.config.operators))
