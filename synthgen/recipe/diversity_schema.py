"""[diversity] table: embedder, semantic near-duplicates, the batch gate, remediation and selection.

Defaults are DESIGN.md §7. Relative paths resolve against the recipe's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from .base import Strict


class DiversityGateConfig(Strict):
    """[diversity.gate]: thresholds (null turns a rule off) and the sample sizes behind each metric."""

    enabled: bool = True
    distinct_2_ratio_min: float | None = Field(0.85, gt=0, description="distinct-2 ≥ this × real (equal words).")
    compression_ratio_max: float | None = Field(1.10, gt=0, description="gzip ratio ≤ this × real (equal words).")
    mean_cosine_margin: float | None = Field(0.05, ge=0, description="Mean pairwise cosine ≤ real + this ...")
    mean_cosine_cap: float = Field(0.8, gt=0, le=1, description="... and ≤ this (Artificial Hivemind marker).")
    vendi_ratio_min: float | None = Field(0.8, gt=0, description="Vendi ≥ this × real (same n, same embedder).")
    coverage_ratio_min: float | None = Field(0.9, gt=0, description="Real-cluster coverage ≥ this × real's own.")
    rare_type_recall_ratio_min: float | None = Field(None, gt=0, description="Rare-type recall ≥ this × real.")
    previous_tolerance: float | None = Field(0.05, ge=0, lt=1, description="Largest loss vs the previous generation.")
    on_not_computed: Literal["fail", "warn"] = Field(
        "fail", description="A metric that cannot be computed (too few samples): fail the gate or only warn.")
    min_samples: int = Field(20, ge=2, description="Fewest texts at equal n for embedding metrics.")
    min_tokens: int = Field(200, ge=1, description="Fewest words at equal budget for lexical metrics.")
    max_samples: int = Field(10_000, ge=2, description="Texts measured per side (seeded sample).")
    self_bleu_sample: int = Field(500, ge=2)
    nn_queries: int | None = Field(500, ge=1, description="Rows whose nearest neighbour is searched; null = all.")
    clusters: int = Field(100, ge=2, description="k of the k-means fitted on real embeddings.")
    cluster_splits: int = Field(5, ge=1, description="Cluster coverage and JS divergence are the mean over this "
                                "many seeded halvings of the reference (k-means on one half, compared on the other).")


class FidelityConfig(Strict):
    """[diversity.fidelity]: the batch against the real data under a frozen reference model (issue 16).
    The perplexity rule is two-sided; its noise bound is calibrated on real-vs-real splits (docs/collapse.md)."""

    enabled: bool = Field(True, description="Gate on fidelity as well as diversity (needs the reference).")
    scorer: Literal["ngram", "vllm"] = Field("ngram", description="Reference model: an n-gram LM fitted on half "
                                             "the reference (CPU, seconds), or a vLLM model's prompt logprobs.")
    order: int = Field(3, ge=1, le=6, description="n of the n-gram model (interpolated Kneser-Ney).")
    model: str = Field("embedded", description="The vLLM scorer's model (a name or a local folder).")
    perplexity_tolerance: float | None = Field(
        1.25, gt=1, description="The batch's median per-record perplexity may differ from real's by this factor "
                                "either way (or the calibrated noise bound, when wider); null turns the rule off.")
    false_alarm_rate: float = Field(0.05, gt=0, lt=0.5, description="α of the calibrated noise bound.")
    calibration_draws: int = Field(200, ge=20, description="Real-vs-real splits the noise bound is measured on.")
    rare_type_recall_ratio_min: float | None = Field(
        0.8, gt=0, description="Rare-type recall ≥ this × real's at an equal word budget; null turns it off.")
    rare_max_count: int = Field(2, ge=1, description="A type seen at most this often in the reference is rare.")
    min_records: int = Field(20, ge=2, description="Fewest scored records for the perplexity rule.")
    rare_min_words: int = Field(2000, ge=1, description="Fewest words at an equal budget for the rare-type rule "
                                "(below it recall is too noisy to gate on).")
    on_not_computed: Literal["fail", "warn"] = Field(
        "warn", description="A fidelity rule that cannot be computed (too few records or words): warn or fail.")


class RemediationConfig(Strict):
    """[diversity.remediation]: how a failing batch is retried, within these bounds."""

    budget: int = Field(3, ge=0, description="Retries before the run stops with exit code 3.")
    temperature_step: float = Field(0.1, ge=0)
    max_temperature: float = Field(1.3, gt=0, le=5)
    min_temperature: float = Field(0.1, gt=0, le=5, description="Lowest temperature a 'too far' batch goes to.")
    top_p_step: float = Field(0.05, ge=0)
    max_top_p: float = Field(1.0, gt=0, le=1)
    seed_widening: int = Field(2, ge=1, description="Distinct seeds per batch multiply by this per retry.")
    rotate_few_shot: bool = True
    max_step_multiple: float = Field(3.0, ge=1, description="A fidelity perplexity shift k tolerances wide moves "
                                     "the temperature min(k, this) steps at once (1: always one step).")


class DiversityConfig(Strict):
    """[diversity]: measured diversity against real data."""

    field: str | None = Field(None, description="Column measured and gated; default: the record's main text.")
    embedder: Literal["minilm", "tfidf"] = Field("minilm", description="tfidf needs no torch.")
    batch_size: int = Field(64, ge=1, description="Texts per embedding batch (minilm).")
    tfidf_components: int = Field(256, ge=2, description="SVD dimensions of the tfidf embedder.")
    cache_dir: Path | None = Field(None, description="Embedding cache; default $SYNTHGEN_HOME/embeddings.")
    reference: Path | None = Field(None, description="Real texts (jsonl/csv/parquet/saved dataset).")
    reference_field: str = "text"
    reference_limit: int | None = Field(None, ge=1, description="Use at most this many reference rows.")
    previous: Path | None = Field(None, description="The previous generation's dataset, compared by the gate.")
    previous_field: str = "text"
    near_duplicate_threshold: float | None = Field(0.9, gt=0, le=1, description="Drop at cosine ≥ this; null = off.")
    dedup_against_reference: bool = Field(True, description="Near-duplicates of real samples are dropped too.")
    selection: Literal["first", "k_center", "cluster_stratified"] = Field(
        "first", description="Which passing records to keep when more pass than the target needs.")
    seed: int | None = Field(None, description="Sampling seed of the metrics; defaults to recipe.seed.")
    gate: DiversityGateConfig = Field(default_factory=DiversityGateConfig)
    fidelity: FidelityConfig = Field(default_factory=FidelityConfig)
    remediation: RemediationConfig = Field(default_factory=RemediationConfig)

    @model_validator(mode="after")
    def _gate_needs_reference(self) -> "DiversityConfig":
        if self.gate.enabled and self.reference is None:
            raise ValueError("the diversity gate compares against real data: set reference = 'real.jsonl' "
                             "or gate.enabled = false")
        return self
