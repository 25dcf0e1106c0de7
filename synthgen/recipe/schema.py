"""The recipe schema: pydantic models with ``extra="forbid"`` and a ``type`` discriminator per pluggable table.

These are validated *descriptions* of a run; runtime objects (seed readers, backends, stages) are built
from them elsewhere and hold no state here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from .base import Strict
from .dedup_schema import DedupConfig
from .diversity_schema import DiversityConfig
from .evolve_schema import EvolveConfig
from .execution_schema import ExecutionConfig
from .mix_schema import MixConfig
from .steps_schema import FewShotConfig, GenerateStep, StepConfig
from .verify_schema import VerifierConfig


# --- [recipe] ---------------------------------------------------------------------------------------


class RecipeMeta(Strict):
    name: str = Field(min_length=1, description="Run name; names the default output directory.")
    seed: int = Field(0, description="Master random seed: seed sampling, few-shot rotation, sampling seeds.")
    description: str = ""
    generation: int = Field(1, ge=1, description="Generation index of this run (1 = first synthetic).")
    depth: int | None = Field(None, ge=1, description=(
        "Depth from human data of the generator's training (1 = trained on human data only; 2+ = a model "
        "trained on earlier synthetic data). Defaults to 1; tightens the default mix cap."))


# --- [seeds] ----------------------------------------------------------------------------------------


class InlineSeeds(Strict):
    type: Literal["inline"]
    records: list[dict[str, Any]] = Field(min_length=1, description="Seed rows written in the recipe.")


class FileSeeds(Strict):
    type: Literal["file"]
    path: Path = Field(description="jsonl, csv or parquet file, relative to the recipe.")
    format: Literal["auto", "jsonl", "csv", "parquet"] = "auto"
    limit: int | None = Field(None, ge=1)


class DatasetSeeds(Strict):
    type: Literal["dataset"]
    path: Path = Field(description="A datasets.Dataset or DatasetDict saved with save_to_disk.")
    split: str | None = Field(None, description="Split to read when the folder holds a DatasetDict.")
    limit: int | None = Field(None, ge=1)


class GridSeeds(Strict):
    type: Literal["grid"]
    axes: dict[str, list[Any]] = Field(description="Named lists; seeds are their product.")
    sample: int | None = Field(None, ge=1, description="Draw this many combinations (seeded) instead of all.")

    @field_validator("axes")
    @classmethod
    def _axes_non_empty(cls, axes: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if not axes:
            raise ValueError("a grid needs at least one axis, e.g. topic = ['a', 'b']")
        empty = [name for name, values in axes.items() if not values]
        if empty:
            raise ValueError(f"grid axis {empty[0]!r} is empty: give it at least one value")
        return axes


SeedsConfig = Annotated[Union[InlineSeeds, FileSeeds, DatasetSeeds, GridSeeds], Field(discriminator="type")]


# --- [prompt] ---------------------------------------------------------------------------------------


class PromptConfig(Strict):
    template: str = Field(min_length=1, description="Prompt with {field} placeholders; {examples} for few-shot.")
    mode: Literal["auto", "completion", "chat"] = Field(
        "auto", description="auto: chat when the model has a chat template, else completion."
    )
    system: str | None = Field(None, description="System message in chat mode.")
    few_shot: FewShotConfig | None = None


# --- [generation] -----------------------------------------------------------------------------------


CONSTRAINT_KEYS = ("json_schema", "regex", "choice")


class SamplingConfig(Strict):
    """synthgen's own sampling settings; only the vLLM adapter knows vLLM's names."""

    temperature: float = Field(1.0, ge=0.0, le=5.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int = Field(128, ge=1)
    stop: list[str] = Field(default_factory=list)
    n: int = Field(1, ge=1, description="Completions per prompt.")
    seed: int | None = Field(None, description="Base sampling seed; defaults to recipe.seed.")
    json_schema: dict[str, Any] | None = Field(
        None, description="Constrain decoding to this JSON Schema (set from a json verifier with constrain = true).")
    choice: list[str] | None = Field(
        None, description="Constrain each completion to exactly one of these strings (the LLM judge sets it).")
    regex: str | None = Field(None, description="Constrain each completion to match this regular expression.")

    @field_validator("regex")
    @classmethod
    def _regex(cls, regex: str | None) -> str | None:
        from ..verify.checks import compiles

        return None if regex is None else compiles(regex)

    @field_validator("json_schema")
    @classmethod
    def _schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        from ..verify.checks import check_json_schema

        if schema is not None:
            check_json_schema(schema)
        return schema

    @field_validator("choice")
    @classmethod
    def _choice(cls, choice: list[str] | None) -> list[str] | None:
        if choice is not None and not choice:
            raise ValueError("choice needs at least one string (an empty list allows no completion)")
        return choice

    @model_validator(mode="after")
    def _one_constraint(self) -> "SamplingConfig":
        set_ = [key for key in CONSTRAINT_KEYS if getattr(self, key) is not None]
        if len(set_) > 1:
            raise ValueError(f"{' and '.join(set_)} are both set, but decoding takes one constraint: keep one of "
                             f"{', '.join(CONSTRAINT_KEYS)}")
        return self


class VllmBackendConfig(Strict):
    type: Literal["vllm"]
    model: str = Field("embedded", description="'embedded' (default model), a registered name or a local HF folder.")
    dtype: str = "auto"
    max_model_len: int | None = Field(2048, ge=16)
    enforce_eager: bool = True
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra vllm.LLM(...) arguments.")


class OpenAIBackendConfig(Strict):
    type: Literal["openai"]
    base_url: str = Field(description="e.g. http://127.0.0.1:8000/v1")
    model: str
    api_key_env: str | None = Field(None, description="Environment variable that holds the API key.")
    concurrency: int = Field(8, ge=1, le=1024)
    timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)


class ReplayBackendConfig(Strict):
    type: Literal["replay"]
    path: Path = Field(description="jsonl of saved completions ('text' per line), relative to the recipe.")
    field: str = "text"


class ScriptedBackendConfig(Strict):
    """Deterministic test backend: completions are a pure function of the prompt and sampling seed."""

    type: Literal["scripted"]
    outputs: list[str] = Field(default_factory=list, description="Cycled outputs; empty = derived from prompts.")
    delay_s: float = Field(0.0, ge=0.0, description="Sleep per batch (for interruption tests).")
    latency_per_prompt_s: float | None = Field(None, ge=0.0, description="Extra sleep per prompt of a batch "
                                               "(a GPU server's cost, for throughput benchmarks).")


class PluginBackendConfig(Strict):
    """A third-party backend registered under the ``synthgen.backends`` entry point group."""

    type: Literal["plugin"]
    name: str = Field(min_length=1, description="The entry point's name, e.g. 'echo'.")
    options: dict[str, Any] = Field(default_factory=dict, description="Passed to the plugin's factory as is.")


BackendConfig = Annotated[
    Union[VllmBackendConfig, OpenAIBackendConfig, ReplayBackendConfig, ScriptedBackendConfig, PluginBackendConfig],
    Field(discriminator="type"),
]


class GenerationConfig(Strict):
    backend: BackendConfig = Field(default_factory=lambda: VllmBackendConfig(type="vllm"))
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    target: int = Field(ge=1, description="Stop when this many records pass every stage.")
    max_candidates: int | None = Field(None, ge=1, description="Candidate budget; default 4x target.")
    batch_size: int = Field(64, ge=1, description="Prompts per backend call and per checkpoint.")
    strip: bool = Field(True, description="Strip surrounding whitespace from completions (false for code).")
    pipelined: bool | None = Field(None, description="Generate the next batch while the stages take this one "
                                   "(default: on, except for vLLM on CPU; the dataset is the same either way).")
    prefetch: int | None = Field(None, ge=1, le=8, description="Batches generated ahead when pipelined (default 1).")

    @model_validator(mode="after")
    def _budget_covers_target(self) -> "GenerationConfig":
        if self.max_candidates is not None and self.max_candidates < self.target:
            raise ValueError(
                f"max_candidates ({self.max_candidates}) is below target ({self.target}): "
                "raise max_candidates or lower target"
            )
        return self

    @property
    def candidate_budget(self) -> int:
        return self.max_candidates if self.max_candidates is not None else 4 * self.target


# --- [output] ---------------------------------------------------------------------------------------


OUTPUT_FORMATS = ("raw", "messages", "prompt_completion", "preference")


class OutputConfig(Strict):
    """Where the run goes and the dataset's shape: ``raw`` (every column), or one of TRL's formats:
    ``messages`` (conversational), ``prompt_completion`` or ``preference`` (prompt / chosen / rejected)."""

    dir: Path | None = Field(None, description="Run directory; default runs/<recipe.name> beside the recipe.")
    format: Literal["raw", "messages", "prompt_completion", "preference"] = "raw"
    prompt: str | None = Field(None, description="Column holding the prompt (messages / prompt_completion).")
    completion: str | None = Field(None, description="Column holding the completion; default: the last LLM step.")
    messages: str | None = Field(None, description="Column holding a conversation; default: the chat step's.")


class Recipe(Strict):
    recipe: RecipeMeta
    seeds: SeedsConfig
    prompt: PromptConfig | None = Field(None, description="Shorthand for one generate step named 'text'.")
    steps: list[StepConfig] | None = Field(None, description="Ordered steps; each adds a column to the record.")
    generation: GenerationConfig
    verify: list[VerifierConfig] = Field(default_factory=list, description="Verifiers, applied in order.")
    dedup: DedupConfig | None = Field(None, description="Exact and near-duplicate removal.")
    diversity: DiversityConfig | None = Field(None, description="Semantic near-duplicates and the diversity gate.")
    mix: MixConfig | None = Field(None, description="Cap the synthetic share of a real + synthetic training mix.")
    evolve: EvolveConfig | None = Field(None, description="Multi-generation loop settings (synthgen evolve).")
    output: OutputConfig = Field(default_factory=OutputConfig)
    execution: ExecutionConfig | None = Field(None, exclude=True, description="Executor (local or ray) and its width; not hashed.")

    @model_validator(mode="after")
    def _prompt_or_steps(self) -> "Recipe":
        if (self.prompt is None) == (self.steps is None):
            raise ValueError("give either [prompt] (one generate step) or [[steps]], not both and not neither")
        if self.steps is not None:
            _check_step_names(self.steps)
        return self

    def step_configs(self) -> list[Any]:
        """The record's steps; ``[prompt]`` is one generate step named ``text`` with the run's sampling."""
        if self.steps is not None:
            return list(self.steps)
        prompt = self.prompt
        return [GenerateStep(type="generate", name="text", template=prompt.template, few_shot=prompt.few_shot)]

    @property
    def is_shorthand(self) -> bool:
        return self.steps is None


RESERVED_COLUMNS = ("id", "generation", "depth", "recipe_hash", "model", "backend", "sampling", "sampling_hash",
                    "seed_index", "prompt_hash", "parent_ids", "parent_id", "candidate_index", "n_tokens",
                    "finish_reason", "scores", "created_at", "text")


def _check_step_names(steps: list[Any]) -> None:
    if not steps:
        raise ValueError("[[steps]] is empty: add at least one step, e.g. type = 'generate'")
    seen: set[str] = set()
    for i, step in enumerate(steps):  # "steps.N.name: " locates the message (format_problem reads it)
        if step.name in seen:
            raise ValueError(f"steps.{i}.name: two steps write the column {step.name!r}: give each step its own name")
        if step.name in RESERVED_COLUMNS or step.name.startswith("seed_"):
            raise ValueError(f"steps.{i}.name: step name {step.name!r} is a provenance column: choose another name")
        seen.add(step.name)
    _check_step_columns(steps)


OPERATOR_SUFFIX = "_operator"  # a rewrite step's second column: the operator each record was rewritten with
PAIR_COLUMNS = ("prompt", "chosen", "rejected", "chosen_score", "rejected_score", "margin")  # a preference step's


def step_columns(step: Any) -> tuple[str, ...]:
    """The columns a step writes: its name, and a rewrite's operator; a preference step writes the pair."""
    if step.type == "preference":
        return PAIR_COLUMNS
    if step.type == "rewrite":
        return (step.name, step.name + OPERATOR_SUFFIX)
    return (step.name,)


def _check_step_columns(steps: list[Any]) -> None:
    """A column written by two steps would keep only the later value, silently: refused like a shared name."""
    writers: dict[str, int] = {}
    for i, step in enumerate(steps):
        for column in step_columns(step):
            if column in writers:
                raise ValueError(_column_clash(steps, writers[column], i, column))
            if column != step.name and (column in RESERVED_COLUMNS or column.startswith("seed_")):
                raise ValueError(f"steps.{i}.name: step {step.name!r} writes the column {column!r}, a provenance "
                                 "column: choose another name")
            writers[column] = i


def _column_clash(steps: list[Any], first: int, second: int, column: str) -> str:
    """``steps.N[.name]: two steps write the column …``, naming both writers and which step to rename."""
    earlier, later = steps[first], steps[second]
    if later.type == "preference":  # its columns are fixed: the other step must be renamed
        return (f"steps.{second}: two steps write the column {column!r}: step {earlier.name!r} and this preference "
                f"step (it writes {', '.join(PAIR_COLUMNS)}): rename step {earlier.name!r}")
    return (f"steps.{second}.name: two steps write the column {column!r}: step {earlier.name!r} "
            f"{_writes(earlier, column)} and step {later.name!r} {_writes(later, column)}: "
            "give each step its own name")


def _writes(step: Any, column: str) -> str:
    """How ``step`` writes ``column``: as its name, as a rewrite's operator column, or as a pair column."""
    if column == step.name:
        return "(its name)"
    if step.type == "rewrite":
        return "(its rewrite operator column)"
    return "(a preference pair column)"
