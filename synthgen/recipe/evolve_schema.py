"""[evolve] table: how one generation feeds the next, and when the loop stops."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from .base import Strict

HEALTH_METRICS = ("distinct_2", "vendi", "cluster_coverage", "compression_ratio", "mean_pairwise_cosine")


class EvolveConfig(Strict):
    """[evolve]: `synthgen evolve` runs generation after generation of this recipe."""

    feed: Literal["few_shot", "seeds", "generator"] = Field(
        "few_shot", description="few_shot: the next generation's few-shot pool is the real pool plus this "
        "generation's (capped) synthetic records; seeds: its seed rows are this generation's records; "
        "generator: train_command trains the next generation's model on this generation's mix.")
    train_command: str | None = Field(
        None, description="feed = 'generator': a command run after each generation, with {data} (the training "
        "parquet: the mix when [mix] is set), {model_dir} (where to save the model) and {generation}.")
    generations: int = Field(3, ge=1, le=100, description="Generations to run (--generations overrides).")
    project_dir: Path | None = Field(None, description="Where generations and the ledger go; default runs/<name>-evolve.")
    reference: Path | None = Field(None, description="Held-out real texts the stop rule measures against; default "
                                   "[diversity].reference, else [mix].real, else the few-shot file.")
    reference_field: str = "text"
    stop_metrics: list[Literal[HEALTH_METRICS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["distinct_2", "vendi", "cluster_coverage"],
        description="Ratios to real data the stop rule watches (compression and cosine are inverted).")
    tolerance: float = Field(0.02, ge=0, lt=1, description="Stop when a measure falls this far below its best.")
    patience: int = Field(2, ge=1, description="Stop when a measure worsens this many generations in a row.")
    embedder: Literal["tfidf", "minilm"] = Field("tfidf", description="Embedder for the held-out measures.")

    @model_validator(mode="after")
    def _generator_needs_a_trainer(self) -> "EvolveConfig":
        if self.feed == "generator" and not self.train_command:
            raise ValueError("feed = 'generator' needs train_command, e.g. "
                             "'python train.py --data {data} --out {model_dir}'")
        return self
