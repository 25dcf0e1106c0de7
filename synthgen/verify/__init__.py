"""Verification filters. ``build_verify_stages`` turns a recipe's [[verify]] tables into pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .base import Verifier
from .rules import LengthVerifier, NonEmptyVerifier

_REGISTRY: dict[str, type[Verifier]] = {"non_empty": NonEmptyVerifier, "length": LengthVerifier}


@dataclass(frozen=True)
class VerifyContext:
    """What a verifier may need beyond its params: the loaded recipe (to resolve paths) and the
    generator's backend (a judge may reuse it)."""

    loaded: Any = None
    backend: Any = None


def build_verifier(config: Any, context: VerifyContext | None = None) -> Verifier:
    """A verifier from its validated config: the config's fields (less ``type``) are the constructor's params."""
    params = config.model_dump(exclude={"type"})
    return _REGISTRY[config.type](**params)


def build_verify_stages(configs: list[Any], context: VerifyContext | None = None) -> list:
    """One stage per [[verify]] table, in order, with unique names (``length``, ``length_2``…)."""
    from ..pipeline import VerifierStage

    stages = []
    seen: dict[str, int] = {}
    for config in configs:
        seen[config.type] = seen.get(config.type, 0) + 1
        suffix = "" if seen[config.type] == 1 else f"_{seen[config.type]}"
        stages.append(VerifierStage(build_verifier(config, context), name=f"{config.type}{suffix}"))
    return stages


__all__ = ["Verifier", "VerifyContext", "build_verifier", "build_verify_stages", "LengthVerifier",
           "NonEmptyVerifier"]
