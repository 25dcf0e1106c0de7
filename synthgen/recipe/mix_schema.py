"""[mix] table: the capped training mix of real and synthetic data (DESIGN.md §6 ``mix/``, §7 defaults).

``max_synthetic_share`` left unset takes the default for the run's depth (0.5; 0.3 when the generator was
trained on earlier synthetic data; 0.2 when that loop also samples at temperature or top-p < 1). A value
above that default needs ``override_reason``; that check needs the depth, so the Mixer makes it.
``measure_share`` keeps, below the cap, only the share the real data is measured to carry
(:mod:`synthgen.mix.measured`): measured on ``validation`` (real text the generator never saw), else on a
held-out ``validation_share`` of the real rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Strict

MixStrategy = Literal["random", "stratified", "best_score", "diversity_first", "importance"]


class MixConfig(Strict):
    """[mix]: every real row, plus synthetic rows up to the cap, written to the run's ``mix/``."""

    real: Path = Field(description="Real data (jsonl/csv/parquet/saved dataset), relative to the recipe.")
    text_field: str = Field("text", min_length=1, description="Column of the real data holding the text.")
    split: str | None = Field(None, description="Split to read when `real` is a saved DatasetDict.")
    max_synthetic_share: float | None = Field(
        None, ge=0, le=1, description="Synthetic fraction of the whole mix; unset = the default for the depth.")
    strategy: MixStrategy = Field("random", description="Which synthetic rows fill the capped share.")
    stratify_by: str | None = Field(None, description="Column for strategy 'stratified', e.g. 'seed_topic'.")
    score_field: str | None = Field(None, description="Score for strategy 'best_score' (column or scores key).")
    override_reason: str | None = Field(
        None, description="Why a cap above the default is safe here; recorded in the manifest and dataset card.")
    seed: int | None = Field(None, description="Selection seed; defaults to recipe.seed.")
    measure_share: bool = Field(
        False, description="Keep only the share at which held-out real text loses ≤ max_perplexity_rise.")
    max_perplexity_rise: float = Field(
        0.05, gt=0, allow_inf_nan=False, description="With measure_share: the held-out perplexity rise allowed "
        "(0.05 = 5%).")
    validation: Path | None = Field(
        None, description="With measure_share: real rows the generator never saw, measured on only.")
    validation_share: float = Field(
        0.2, gt=0, lt=1, description="With measure_share and no validation: real rows held out to measure on.")

    @field_validator("override_reason")
    @classmethod
    def _reason_not_blank(cls, reason: str | None) -> str | None:
        if reason is not None and not reason.strip():
            raise ValueError("override_reason is blank: say why the higher cap is safe, or remove the key")
        return reason

    @model_validator(mode="after")
    def _measure_keys_need_measure_share(self) -> "MixConfig":
        stray = sorted({"max_perplexity_rise", "validation", "validation_share"} & self.model_fields_set)
        if stray and not self.measure_share:
            raise ValueError(f"{', '.join(stray)}: used only with measure_share = true; add it, or remove "
                             f"{'them' if len(stray) > 1 else 'it'}")
        if self.validation is not None and "validation_share" in self.model_fields_set:
            raise ValueError("validation_share holds real rows out when there is no validation file; with "
                             "validation set it is not used: remove one of them")
        return self

    @model_validator(mode="after")
    def _strategy_has_its_field(self) -> "MixConfig":
        if self.strategy == "stratified" and not self.stratify_by:
            raise ValueError("strategy 'stratified' needs stratify_by, e.g. stratify_by = 'seed_topic'")
        if self.strategy == "best_score" and not self.score_field:
            raise ValueError("strategy 'best_score' needs score_field, e.g. score_field = 'judge'")
        return self
