"""The run plan's types: what a loaded recipe becomes (see :func:`synthgen.plan.build_run_plan`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..pipeline import Stage
from ..prompts import RequestPlan
from ..provenance import RunContext
from ..records import canonical_json, content_hash

@dataclass(frozen=True)
class RecipeContext:
    """What any package may know of the recipe besides its own table: where it lives (to resolve paths
    and to name ``file:key`` in errors), its master seed, name, hash, generation and depth."""

    source: str
    base_dir: Path
    seed: int = 0
    name: str = "run"
    hash: str = ""
    generation: int = 1
    depth: int = 1
    _reads: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @classmethod
    def from_loaded(cls, loaded: Any) -> "RecipeContext":
        meta = loaded.recipe.recipe
        return cls(loaded.source, loaded.base_dir, meta.seed, meta.name, loaded.hash, meta.generation,
                   meta.depth or 1)

    def resolve(self, path: Path | str) -> Path:
        path = Path(path).expanduser()
        return path if path.is_absolute() else Path(os.path.normpath(self.base_dir / path))

    def read_once(self, key: Any, read: Any) -> Any:
        """``read()`` the first time ``key`` is asked for, the same value after: a data input that several
        parts of the plan use (the diversity reference: the plan checks, the embedder, the gate, semantic
        dedup) is read once per plan. Callers must not mutate what they get."""
        if key not in self._reads:
            self._reads[key] = read()
        return self._reads[key]

    def where(self, key: str) -> str:
        return f"{self.source}:{key}"

    def seed_for(self, section_seed: int | None) -> int:
        """A table's own ``seed`` when set, else the recipe's (the one place this fallback lives)."""
        return self.seed if section_seed is None else section_seed

    @property
    def run_label(self) -> str:
        return f"gen{self.generation}-{self.hash}"


@dataclass(frozen=True)
class Limits:
    target: int
    budget: int
    batch_size: int
    n: int


@dataclass(frozen=True)
class SeedPlan:
    requests: RequestPlan
    count: int
    hash: str
    fields: frozenset[str]


@dataclass(frozen=True)
class OutputPlan:
    """The dataset's shape: ``format`` and the columns it reads; ``main_field`` is the record's text."""

    format: str
    main_field: str
    columns: tuple[str, ...]
    shorthand: bool
    prompt: str | None = None
    completion: str | None = None
    messages: str | None = None
    text_columns: tuple[str, ...] = ()


@dataclass
class MixPlan:
    mixer: Any
    config: Any
    context: RecipeContext

    def real_rows(self) -> list[dict[str, Any]]:
        from ..mix.run import read_real_rows

        return read_real_rows(self.config, self.context.resolve, where=self.context.where("mix"))

    def validation_rows(self) -> list[dict[str, Any]] | None:
        from ..mix.run import read_validation_rows

        return read_validation_rows(self.config, self.context.resolve, where=self.context.where("mix"))


@dataclass
class RunPlan:
    """Everything a run needs, built and checked before a model starts."""

    context: RecipeContext
    seeds: SeedPlan
    pipeline: list[Stage]
    backend: Any
    samplings: dict[str, Any]
    gated_step: str
    limits: Limits
    target: int
    budget: int
    run_context: RunContext
    output: OutputPlan
    gate: Any = None
    embedder: Any = None
    selection: Any = None
    mix: MixPlan | None = None
    diversity_field: str = "text"
    inputs: dict[str, Path] = field(default_factory=dict)
    records_per_request: int = 1
    verification: dict[str, Any] = field(default_factory=dict)
    backend_rows_per_request: int = 1  # see plan.pipeline.backend_rows_per_request
    warnings: list[str] = field(default_factory=list)  # the recipe runs, but not as meant (synthgen validate)

    @property
    def sampling(self) -> Any:
        """The sampling of the step the diversity gate remediates (the only step of a [prompt] recipe)."""
        return self.samplings[self.gated_step]

    def close(self) -> None:
        for stage in self.pipeline:
            stage.close()


def seeds_hash(rows: list[dict[str, Any]]) -> str:
    return content_hash(canonical_json(rows))
