"""``[[steps]]``: a record is built by an ordered list of named steps, each adding columns.

LLM steps (``generate``, ``chat``, ``rewrite``, ``judge``) render a template from seed fields and earlier
columns and make one batched backend call per batch; ``sample`` and ``template`` need no model;
``preference`` turns several scored responses to one prompt into a ``prompt / chosen / rejected`` row.
A recipe with a ``[prompt]`` table instead is shorthand for one ``generate`` step named ``text``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from .base import Strict

COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
EVOL_OPERATORS = ("add_constraints", "deepen", "concretize", "increase_reasoning", "breadth")


class StepSampling(Strict):
    """A step's own sampling: every key unset but ``n`` falls back to ``[generation.sampling]``; ``n``
    defaults to 1 (a step fans out only where its own ``n`` says so)."""

    temperature: float | None = Field(None, ge=0.0, le=5.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    stop: list[str] | None = None
    n: int | None = Field(None, ge=1, description="Outputs per record; > 1 fans the record out (parent_id).")
    seed: int | None = None


class StepBase(Strict):
    name: str = Field(description="The column this step writes (a Python identifier).")

    @field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not COLUMN_NAME.match(name):
            raise ValueError(f"step name {name!r} must be an identifier (letters, digits, _), e.g. 'response'")
        return name


class LLMStep(StepBase):
    sampling: StepSampling = Field(default_factory=StepSampling)
    backend: Any = Field(None, description="This step's own backend table; default: [generation.backend].")

    @field_validator("backend", mode="before")
    @classmethod
    def _backend(cls, value: Any) -> Any:
        from .verify_schema import validate_backend_table

        return None if value is None else validate_backend_table(value)


class FewShotConfig(Strict):
    path: Path = Field(description="Real examples (jsonl/csv/parquet/saved dataset), relative to the recipe.")
    k: int = Field(3, ge=1, description="Examples per prompt, rotated across requests.")
    field: str = Field("text", description="Column holding the example text.")
    format: str = Field("{text}", description="How one example is rendered; {text} and other columns.")
    separator: str = "\n"


class GenerateStep(LLMStep):
    type: Literal["generate"]
    template: str = Field(min_length=1, description="Prompt with {seed_field} / {earlier_column} placeholders.")
    few_shot: FewShotConfig | None = Field(None, description="Real examples rotated into {examples}.")


class ChatStep(LLMStep):
    """A conversation of ``turns`` user/assistant exchanges stored as ``[{role, content}, …]``."""

    type: Literal["chat"]
    name: str = "messages"
    turns: int = Field(ge=1, le=32, description="User/assistant exchanges.")
    user_template: str = Field(min_length=1, description=(
        "Prompt that writes the next user message: seed fields, earlier columns, {history} (the transcript "
        "so far) and {turn} (1-based)."))
    first_user: str | None = Field(None, description="Column used as the first user message (e.g. an instruction).")
    assistant_template: str | None = Field(None, description=(
        "Prompt that writes the assistant reply; default: the transcript ending in 'Assistant:'. {history}."))
    user_sampling: StepSampling = Field(default_factory=StepSampling, description="Sampling of the user turns.")

    @field_validator("sampling", "user_sampling")
    @classmethod
    def _one_per_turn(cls, sampling: StepSampling) -> StepSampling:
        if sampling.n not in (None, 1):
            raise ValueError("a chat step writes one conversation per record: leave n unset (fan out earlier)")
        return sampling


class RewriteStep(LLMStep):
    """Evol-Instruct: an operator (chosen per record, seeded) rewrites an earlier column."""

    type: Literal["rewrite"]
    source: str = Field(description="The earlier column to rewrite (e.g. 'instruction').")
    operators: list[Literal[EVOL_OPERATORS]] = Field(default_factory=lambda: list(EVOL_OPERATORS), min_length=1)
    template: str | None = Field(None, description="Own prompt; {source_text}, {operator_instruction}, seeds, columns.")


class SampleStep(StepBase):
    """A value drawn per record (seeded): from ``values``, uniformly or by ``weights``."""

    type: Literal["sample"]
    values: list[Any] = Field(min_length=1)
    weights: list[float] | None = None

    @field_validator("values")
    @classmethod
    def _one_type(cls, values: list[Any]) -> list[Any]:
        """The values become one dataset column, which Arrow writes with one type."""
        from ..tabular import column_type_problem

        problem = column_type_problem(values)
        if problem is not None:
            raise ValueError(f"{problem}: give every value the same type, e.g. quote the numbers")
        return values

    @field_validator("weights")
    @classmethod
    def _finite(cls, weights: list[float] | None) -> list[float] | None:
        bad = next((w for w in weights or () if not math.isfinite(w)), None)
        if bad is not None:
            raise ValueError(f"weights must be finite numbers (got {bad}): "
                             "give every value a finite, non-negative weight")
        return weights

    @model_validator(mode="after")
    def _weights_match(self) -> "SampleStep":
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(f"weights has {len(self.weights)} entries for {len(self.values)} values")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative with a positive sum")
        return self


class TemplateStep(StepBase):
    type: Literal["template"]
    template: str = Field(min_length=1, description="Formatted from seed fields and earlier columns.")


class JudgeStep(LLMStep):
    """Scores an earlier column with an LLM and writes the score (a verifier decides keep/drop)."""

    type: Literal["judge"]
    target: str = Field(description="The column to judge (e.g. 'response').")
    prompt_field: str | None = Field(None, description="Column or seed field shown as the instruction.")
    template: str | None = Field(None, description="Rubric; {text} (the target), {prompt}, seeds, columns.")
    min_score: float = 1
    max_score: float = 10
    score_pattern: str | None = Field(None, description="Regex whose first group is the score.")

    @field_validator("score_pattern")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        from ..verify.checks import compiles

        return None if pattern is None else compiles(pattern)

    @model_validator(mode="after")
    def _scale(self) -> "JudgeStep":
        if self.min_score >= self.max_score:
            raise ValueError(f"min_score ({self.min_score}) must be below max_score ({self.max_score})")
        return self


class PreferenceStep(StepBase):
    """Several scored responses to one prompt → one ``prompt / chosen / rejected`` row."""

    type: Literal["preference"]
    name: str = "preference"
    prompt: str = Field(description="Column (or seed field) holding the prompt.")
    response: str = Field(description="Column holding the responses (fanned out with n > 1).")
    score: str = Field(description="Column (e.g. a judge step) or verifier score holding each response's score.")
    min_margin: float = Field(1.0, ge=0.0, description="chosen − rejected score must reach this.")


StepConfig = Annotated[
    Union[GenerateStep, ChatStep, RewriteStep, SampleStep, TemplateStep, JudgeStep, PreferenceStep],
    Field(discriminator="type"),
]
LLM_STEP_TYPES = ("generate", "chat", "rewrite", "judge")
