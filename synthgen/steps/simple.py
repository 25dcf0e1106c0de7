"""Steps without a model: ``sample`` draws a value per record, ``template`` formats earlier columns."""

from __future__ import annotations

import random
from typing import Iterator

from ..prompts import derive_seed
from ..records import Candidate
from .base import StepStage, render


class SampleStage(StepStage):
    """A value from ``values`` (uniform, or by ``weights``), drawn with a seeded RNG from the record index."""

    def process(self, records: list[Candidate]) -> Iterator[Candidate]:
        values, weights = list(self.config.values), self.config.weights
        for record in records:
            rng = random.Random(derive_seed(self.runtime.recipe_seed, "sample", self.name, record.index))
            record.columns[self.name] = rng.choices(values, weights=weights)[0]
            yield record


class TemplateStage(StepStage):
    def process(self, records: list[Candidate]) -> Iterator[Candidate]:
        for record in records:
            record.columns[self.name] = render(self.config.template, record)
            yield record
