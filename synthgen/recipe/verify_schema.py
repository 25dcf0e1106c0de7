"""[[verify]] tables: one model per verifier, selected by ``type``. Every check a config can make without
files or models happens here (regexes compile, schemas are valid, thresholds lie inside their scale), so a
misconfigured verifier is a validation error that names its key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .base import Placed, Strict

RegexFlag = Literal["ignorecase", "multiline", "dotall"]


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def _check_bounds(low: float | None, high: float | None, low_name: str, high_name: str) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"{low_name} ({low}) is greater than {high_name} ({high})")


class NonEmptyVerifierConfig(Placed):
    type: Literal["non_empty"]
    strip: bool = True


class LengthVerifierConfig(Placed):
    type: Literal["length"]
    unit: Literal["chars", "words", "tokens"] = Field("chars", description="tokens: the backend's token count.")
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bounds(self) -> "LengthVerifierConfig":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        _check_bounds(self.min, self.max, "min", "max")
        return self


class RegexVerifierConfig(Placed):
    type: Literal["regex"]
    must_match: list[str] = Field(default_factory=list, description="Patterns that must each be found (re.search).")
    must_not_match: list[str] = Field(default_factory=list, description="Patterns that must not be found.")
    flags: list[RegexFlag] = Field(default_factory=list)

    @field_validator("must_match", "must_not_match")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        return [_compiles(p) for p in patterns]

    @model_validator(mode="after")
    def _some(self) -> "RegexVerifierConfig":
        if not self.must_match and not self.must_not_match:
            raise ValueError("give must_match, must_not_match or both")
        return self


class BlocklistVerifierConfig(Placed):
    type: Literal["blocklist"]
    phrases: list[str] | None = Field(None, description="Blocked phrases; default: refusal boilerplate.")
    case_sensitive: bool = False
    prompt_echo: bool = Field(True, description="Also reject texts that mostly copy the prompt's lines.")
    echo_min_chars: int = Field(20, ge=1, description="Shorter lines never count as copied.")
    echo_max_share: float = Field(0.5, ge=0.0, le=1.0, description="Largest share of copied characters kept.")

    @field_validator("phrases")
    @classmethod
    def _non_blank(cls, phrases: list[str] | None) -> list[str] | None:
        if phrases is not None and any(not p.strip() for p in phrases):
            raise ValueError("a blank phrase would block every text")
        return phrases


class RepetitionVerifierConfig(Placed):
    type: Literal["repetition"]
    n: int = Field(3, ge=1, le=20, description="Word n-gram size.")
    max_fraction: float = Field(0.3, ge=0.0, le=1.0, description="Largest repeated n-gram fraction kept.")


class ScriptVerifierConfig(Placed):
    type: Literal["script"]
    scripts: list[str] = Field(default_factory=lambda: ["latin"], min_length=1, description="Allowed scripts.")
    min_share: float = Field(0.9, ge=0.0, le=1.0, description="Smallest share of letters in those scripts.")

    @field_validator("scripts")
    @classmethod
    def _known(cls, scripts: list[str]) -> list[str]:
        from ..verify.text_stats import SCRIPTS, canonical_script

        unknown = [s for s in scripts if canonical_script(s) not in SCRIPTS]
        if unknown:
            raise ValueError(f"unknown script {unknown[0]!r}; known: {', '.join(SCRIPTS)}")
        return scripts


class RequiredFieldsVerifierConfig(Placed):
    type: Literal["required_fields"]
    fields: list[str] = Field(min_length=1, description="Fields that must be present and non-empty.")
    source: Literal["auto", "columns", "json", "labels"] = Field(
        "auto", description="columns (from an earlier verifier), json (object in the text), labels (Name: value).")
    allow_empty: bool = False
    to_columns: bool = Field(True, description="Fields read from the text become dataset columns.")


class JsonSchemaVerifierConfig(Placed):
    type: Literal["json"]
    json_schema: dict[str, Any] | None = Field(None, description="Inline JSON Schema.")
    schema_path: Path | None = Field(None, description="JSON Schema file, relative to the recipe.")
    extract: Literal["auto", "strict"] = Field("auto", description="auto: tolerate fences and surrounding prose.")
    columns: Literal["all", "none"] | list[str] = Field("all", description="Top-level keys that become columns.")
    column_prefix: str = ""
    text: Literal["raw", "json"] = Field("raw", description="json: replace the text with the extracted JSON.")
    constrain: bool = Field(False, description="Also constrain decoding to the schema (vLLM structured outputs).")

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            check_json_schema(schema)
        return schema

    @model_validator(mode="after")
    def _one_source(self) -> "JsonSchemaVerifierConfig":
        if self.json_schema is not None and self.schema_path is not None:
            raise ValueError("give json_schema or schema_path, not both")
        if self.constrain and self.json_schema is None and self.schema_path is None:
            raise ValueError("constrain needs a schema: set json_schema or schema_path")
        return self


def check_json_schema(schema: dict[str, Any]) -> None:
    """Raise ValueError naming the problem when ``schema`` is not a valid JSON Schema."""
    try:
        from ..verify.structured import schema_validator

        schema_validator(schema)
    except ImportError:  # pragma: no cover - jsonschema is a dependency
        return
    except Exception as exc:  # noqa: BLE001 - jsonschema.SchemaError and friends
        message = getattr(exc, "message", str(exc))
        where = getattr(exc, "json_path", "$")
        raise ValueError(f"not a valid JSON Schema at {where}: {message}") from None


class CodeExecutionVerifierConfig(Placed):
    type: Literal["code_execution"]
    program: str = Field("{prompt}{code}\n{test}\ncheck({entry_point})\n",
                         description="Program template: {code} plus seed fields/columns; {{ }} for braces.")
    extract: Literal["auto", "fenced", "raw"] = Field("auto", description="How {code} is taken from the text.")
    language: Literal["python"] = "python"
    timeout_s: float = Field(5.0, gt=0, le=600, description="Wall-clock limit per program.")
    cpu_s: int | None = Field(None, ge=1, le=600, description="CPU-time limit; default: timeout rounded up.")
    memory_mb: int = Field(1024, ge=64, description="Address-space limit.")
    file_size_mb: int = Field(16, ge=1, description="Largest file the program may write.")
    disk_mb: int = Field(64, ge=1, description="Total bytes the program may leave in its directory.")
    max_processes: int = Field(64, ge=1, description="RLIMIT_NPROC (ignored by the kernel for root).")
    workers: int | None = Field(None, ge=1, le=256, description="Parallel sandboxes; default: one per core.")
    isolation: Literal["auto", "namespaces", "none"] = Field(
        "auto", description="namespaces: no network devices, descendants die with the program (unshare).")
    python: str | None = Field(None, description="Interpreter; default: the one running synthgen.")
    site_packages: bool = Field(False, description="Let programs import installed packages (slower start-up).")
    exit_zero_passes: bool = Field(False, description="Count sys.exit(0) as a pass (unittest.main()).")
    code_column: str | None = Field("code", description="Column that receives the extracted code.")

    @field_validator("program")
    @classmethod
    def _has_code(cls, program: str) -> str:
        fields = _placeholders(program)
        if "code" not in fields and "text" not in fields:
            raise ValueError("the program template must contain {code} (or {text})")
        return program


def _placeholders(template: str) -> list[str]:
    from ..prompts import template_fields

    try:
        return template_fields(template)
    except ValueError as exc:
        raise ValueError(f"{exc} (write literal braces as {{{{ and }}}})") from None


class JudgeVerifierConfig(Placed):
    type: Literal["judge"]
    mode: Literal["score", "pairwise"] = "score"
    template: str | None = Field(None, description="Rubric prompt; default per mode. {text}, {prompt}, seeds; "
                                                   "pairwise: {a}, {b}.")
    score_pattern: str | None = Field(None, description="Regex whose first group is the score.")
    min_score: float = 1
    max_score: float = 10
    threshold: float = Field(7, description="Keep candidates scoring at least this (score mode).")
    reference: str | None = Field(None, description="Pairwise: seed field or column holding the reference text.")
    winner_pattern: str | None = Field(None, description="Pairwise: regex whose first group is A, B or tie.")
    allow_ties: bool = False
    temperature: float = Field(0.0, ge=0.0, le=5.0)
    max_tokens: int = Field(64, ge=1)
    seed: int = 0
    backend: Any = Field(None, description="The judge's own [verify.backend] table; default: the generator's.")
    prompt_mode: Literal["auto", "completion", "chat"] = Field("auto", description="For the judge's own backend.")
    system: str | None = Field(None, description="System message for the judge's own backend in chat mode.")

    @field_validator("score_pattern", "winner_pattern")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        return None if pattern is None else _compiles(pattern)

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, threshold: float, info: ValidationInfo) -> float:
        low, high = info.data.get("min_score"), info.data.get("max_score")
        if info.data.get("mode") == "score" and low is not None and high is not None and not low <= threshold <= high:
            raise ValueError(f"threshold lies outside [min_score, max_score] = [{low:g}, {high:g}]")
        return threshold

    @field_validator("template")
    @classmethod
    def _template(cls, template: str | None) -> str | None:
        if template is not None:
            _placeholders(template)
        return template

    @field_validator("backend", mode="before")
    @classmethod
    def _backend(cls, value: Any) -> Any:
        return None if value is None else validate_backend_table(value)

    @model_validator(mode="after")
    def _consistent(self) -> "JudgeVerifierConfig":
        _check_bounds(self.min_score, self.max_score, "min_score", "max_score")
        if self.mode == "pairwise" and not self.reference:
            raise ValueError("pairwise mode needs reference: the seed field or column to compare against")
        if self.template is not None:
            needed = {"a", "b"} if self.mode == "pairwise" else {"text"}
            missing = sorted(needed - set(_placeholders(self.template)))
            if missing:
                raise ValueError(f"the {self.mode} template must contain {{{missing[0]}}}")
        return self


def validate_backend_table(value: Any) -> Any:
    """A backend table validated with the recipe's own backend models (imported late: schema imports us)."""
    from pydantic import TypeAdapter, ValidationError

    from .schema import BackendConfig

    if not isinstance(value, dict) and hasattr(value, "model_dump"):
        return value
    try:
        return TypeAdapter(BackendConfig).validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:] if p not in ("vllm", "openai", "replay", "scripted"))
        raise ValueError(f"invalid backend table: {where or 'type'}: {first['msg']}") from None


class SelfConsistencyConfig(Placed):
    type: Literal["self_consistency"]
    answer_pattern: str | None = Field(None, description="Regex whose first non-empty group is the final answer; "
                                                         "default: '#### x', '\\boxed{x}' or 'answer: x'.")
    normalize: Literal["exact", "text", "number"] = "number"
    min_agreement: float = Field(0.5, gt=0.0, le=1.0, description="Majority share of the n samples required.")
    keep: Literal["all", "first"] = Field("all", description="Keep every majority sample or only the first.")
    answer_column: str | None = "answer"

    @field_validator("answer_pattern")
    @classmethod
    def _pattern(cls, pattern: str | None) -> str | None:
        return None if pattern is None else _compiles(pattern)


VerifierConfig = Annotated[
    Union[NonEmptyVerifierConfig, LengthVerifierConfig, RegexVerifierConfig, BlocklistVerifierConfig,
          RepetitionVerifierConfig, ScriptVerifierConfig, RequiredFieldsVerifierConfig, JsonSchemaVerifierConfig,
          CodeExecutionVerifierConfig, JudgeVerifierConfig, SelfConsistencyConfig],
    Field(discriminator="type"),
]
