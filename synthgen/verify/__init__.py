"""Verification filters. ``build_verify_stages`` turns a recipe's [[verify]] tables into pipeline stages.

Each ``type`` names a verifier class (:mod:`.registry`: built-ins and ``synthgen.verifiers`` plugins);
its ``from_config`` builds it from the validated table. Building is cheap (no model loading; at most one
``unshare``/``bwrap`` probe when a code verifier requires isolation), so ``synthgen validate`` can build
the stages to check cross-table settings and files. Heavy verifiers import their dependencies lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

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


def build_verifier(config: Any, context: VerifyContext | None = None, where: str | None = None) -> Any:
    """A verifier (or, for self-consistency, a stage) from its validated config."""
    from .registry import build_from_config

    context = context or VerifyContext()
    return build_from_config(config, context, where or f"{context.source()}:verify")


def load_schema(config: Any, context: VerifyContext, where: str) -> dict[str, Any] | None:
    """The json verifier's schema: inline, or read (and checked) from ``schema_path``."""
    from .structured import load_schema as load

    return load(config, context, where)


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


__all__ = ["Verifier", "VerifyContext", "build_verifier", "build_verify_stages",
           "BlocklistVerifier", "LengthVerifier", "NonEmptyVerifier", "RegexVerifier", "RepetitionVerifier",
           "ScriptVerifier"]
