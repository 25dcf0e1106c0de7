"""Verification filters. ``build_verify_stages`` turns a recipe's [[verify]] tables into pipeline stages.

Each ``type`` maps to a factory ``(config, context, where) → Verifier | Stage``; most are the verifier's
class called with the config's fields. Factories are cheap (no model loading; at most one ``unshare true``
probe when a code verifier requires namespaces), so ``synthgen validate`` can build the stages to check
cross-table settings and files. Heavy verifiers import their dependencies lazily.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import RecipeError
from .base import Verifier
from .rules import BlocklistVerifier, LengthVerifier, NonEmptyVerifier, RegexVerifier
from .text_stats import RepetitionVerifier, ScriptVerifier


@dataclass(frozen=True)
class VerifyContext:
    """What a verifier may need beyond its own table: the recipe's name for errors, a resolver for
    relative paths, the generator's backend (a judge may reuse it) and how many samples each record's
    prompt got (self-consistency compares them)."""

    recipe_source: str = "<recipe>"
    resolve: Callable[[Any], Path] = Path
    backend: Any = None
    n: int = 2

    @classmethod
    def of(cls, loaded: Any, backend: Any = None) -> "VerifyContext":
        """The context of a loaded recipe's own run (tests and one-off tools)."""
        return cls(loaded.source, loaded.resolve, backend, loaded.recipe.generation.sampling.n)

    def source(self) -> str:
        return self.recipe_source


Factory = Callable[[Any, VerifyContext, str], Any]


def _params(config: Any, *drop: str) -> dict[str, Any]:
    """The config's fields as constructor params (less ``type``, the placement keys and ``drop``)."""
    return config.model_dump(exclude={"type", "field", "after", *drop})


def _plain(cls: type) -> Factory:
    return lambda config, context, where: cls(**_params(config))


def load_schema(config: Any, context: VerifyContext, where: str) -> dict[str, Any] | None:
    """The json verifier's schema: inline, or read (and checked) from ``schema_path``."""
    if config.schema_path is None:
        return config.json_schema
    from ..recipe.verify_schema import check_json_schema

    path = context.resolve(config.schema_path)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        check_json_schema(schema)
    except FileNotFoundError:
        raise RecipeError(f"{where}.schema_path: {path}: file not found", hint="paths start at the recipe's folder") from None
    except ValueError as exc:
        raise RecipeError(f"{where}.schema_path: {path}: {exc}", hint="fix the JSON Schema file") from None
    return schema


def _json(config: Any, context: VerifyContext, where: str) -> Verifier:
    from .structured import JsonSchemaVerifier

    schema = load_schema(config, context, where)
    return JsonSchemaVerifier(schema=schema, **_params(config, "json_schema", "schema_path", "constrain"))


def _lazy(module: str, name: str) -> Factory:
    """A factory that imports its verifier class on first use."""

    def factory(config: Any, context: VerifyContext, where: str) -> Verifier:
        import importlib

        return getattr(importlib.import_module(module, __name__), name)(**_params(config))

    return factory


def _code_execution(config: Any, where: str) -> Verifier:
    """The sandboxed verifier; ``isolation = "namespaces"`` is checked here (one ``unshare true``)."""
    from . import isolation
    from .execution import CodeExecutionVerifier

    if config.isolation == "namespaces" and isolation.available() is None:
        raise RecipeError(f"{where}.isolation: 'namespaces' is not available here (unshare failed)",
                          hint="use isolation = 'auto' (falls back to limits and the audit hook) or allow namespaces")
    return CodeExecutionVerifier(**_params(config))


def _judge(config: Any, context: VerifyContext, where: str) -> Verifier:
    from .judge import JudgeVerifier
    from .judge_backend import judge_backend

    params = {k: v for k, v in _params(config, "backend", "prompt_mode", "system").items() if v is not None}
    verifier = JudgeVerifier(backend=judge_backend(config, context), **params)
    verifier.owns_backend = config.backend is not None
    return verifier


def _self_consistency(config: Any, context: VerifyContext, where: str) -> Any:
    from .consistency import SelfConsistencyStage

    n = context.n
    if n < 2:
        raise RecipeError(f"{where}: self_consistency compares several samples per prompt, but "
                          f"generation.sampling.n is {n}", hint="set generation.sampling.n to 5 or more")
    params = {k: v for k, v in _params(config).items() if v is not None or k == "answer_column"}
    return SelfConsistencyStage(n=n, **params)


_REGISTRY: dict[str, Factory] = {
    "non_empty": _plain(NonEmptyVerifier), "length": _plain(LengthVerifier), "regex": _plain(RegexVerifier),
    "blocklist": _plain(BlocklistVerifier), "repetition": _plain(RepetitionVerifier),
    "script": _plain(ScriptVerifier), "required_fields": _lazy(".fields", "RequiredFieldsVerifier"),
    "json": _json, "code_execution": lambda c, ctx, w: _code_execution(c, w),
    "judge": _judge, "self_consistency": _self_consistency,
}


def build_verifier(config: Any, context: VerifyContext | None = None, where: str | None = None) -> Any:
    """A verifier (or, for self-consistency, a stage) from its validated config."""
    context = context or VerifyContext()
    return _REGISTRY[config.type](config, context, where or f"{context.source()}:verify")


def build_verify_stages(configs: list[Any], context: VerifyContext | None = None, index: int = 0) -> list:
    """One stage per [[verify]] table, in order, with unique names (``length``, ``length_2``…);
    ``index`` is the first table's position in the recipe (for error messages)."""
    from ..pipeline import Stage, VerifierStage

    context = context or VerifyContext()
    stages = []
    seen: dict[str, int] = {}
    for i, config in enumerate(configs):
        seen[config.type] = seen.get(config.type, 0) + 1
        name = config.type if seen[config.type] == 1 else f"{config.type}_{seen[config.type]}"
        built = build_verifier(config, context, f"{context.source()}:verify.{index + i}")
        if isinstance(built, Stage):
            built.name = built.stats.name = name
            stages.append(built)
        else:
            stages.append(VerifierStage(built, name=name))
    return stages


def decoding_schema(configs: list[Any], context: VerifyContext | None = None) -> dict[str, Any] | None:
    """The JSON Schema decoding should be constrained to: that of the first json verifier with
    ``constrain = true``, or None. The run sets it as ``SamplingConfig.json_schema``."""
    context = context or VerifyContext()
    for i, config in enumerate(configs):
        if config.type == "json" and config.constrain:
            return load_schema(config, context, f"{context.source()}:verify.{i}")
    return None


__all__ = ["Verifier", "VerifyContext", "build_verifier", "build_verify_stages", "decoding_schema",
           "BlocklistVerifier", "LengthVerifier", "NonEmptyVerifier", "RegexVerifier", "RepetitionVerifier",
           "ScriptVerifier"]
