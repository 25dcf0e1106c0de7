"""Verification filters. ``build_verifier`` turns a recipe's [[verify]] table into a verifier."""

from __future__ import annotations

from .base import Verifier
from .rules import LengthVerifier, NonEmptyVerifier

_REGISTRY = {"non_empty": NonEmptyVerifier, "length": LengthVerifier}


def build_verifier(config) -> Verifier:
    """A verifier from its validated config: the config's fields (less ``type``) are the constructor's params."""
    params = config.model_dump(exclude={"type"})
    return _REGISTRY[config.type](**params)


__all__ = ["Verifier", "build_verifier", "LengthVerifier", "NonEmptyVerifier"]
