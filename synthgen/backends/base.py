"""The Backend contract: ``generate(requests) → results`` in the same order and length.

Backends receive synthgen's own :class:`SamplingConfig`; only an adapter knows its engine's names.
Heavy engines are imported in ``load()``, never at module import.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..records import Completion, GenerationRequest
from ..recipe.schema import SamplingConfig


@runtime_checkable
class Backend(Protocol):
    """A text generator. ``generate`` returns, for each request, ``sampling.n`` completions."""

    name: str

    def load(self) -> None:
        """Start the engine or check the server; idempotent."""

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[Completion]]:
        """One list of ``sampling.n`` completions per request, in request order."""

    def describe(self) -> dict[str, Any]:
        """Model, revision, engine version and non-default arguments, for provenance."""

    def close(self) -> None:
        """Release the engine; idempotent."""


def check_result_shape(requests: list[GenerationRequest], results: list[list[Completion]], n: int, backend: str) -> None:
    """Guard the contract: a backend that loses or reorders rows is a bug, not a silent drop."""
    if len(results) != len(requests):
        raise RuntimeError(f"backend {backend} returned {len(results)} results for {len(requests)} requests")
    for request, completions in zip(requests, results):
        if len(completions) != n:
            raise RuntimeError(
                f"backend {backend} returned {len(completions)} completions for request {request.index}, expected {n}"
            )
