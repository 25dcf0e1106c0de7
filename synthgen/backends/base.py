"""The Backend contract: ``generate(requests) → results`` in the same order and length.

Backends receive synthgen's own :class:`SamplingConfig`; only an adapter knows its engine's names.
Heavy engines are imported in ``load()``, never at module import.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..records import Completion, GenerationRequest
from ..recipe.schema import SamplingConfig

DEFAULT_KEY = "generation.backend"  # the recipe key of the run's backend table; a judge's or step's differs


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


SHAPE_HINT = "the backend broke its contract (one list of n completions per request): report it to its authors"


def check_result_shape(requests: list[GenerationRequest], results: list[list[Completion]], n: int, backend: str) -> None:
    """Guard the contract: a backend that loses or reorders rows is a bug, not a silent drop (one line,
    not a traceback: the batches already checkpointed stay, and the run resumes once it is fixed)."""
    from ..errors import BackendError

    if len(results) != len(requests):
        raise BackendError(f"backend {backend} returned {len(results)} results for {len(requests)} requests",
                           hint=SHAPE_HINT)
    for request, completions in zip(requests, results):
        if len(completions) != n:
            raise BackendError(f"backend {backend} returned {len(completions)} completions for request "
                               f"{request.index}, expected {n}", hint=SHAPE_HINT)


def check_sampling(sampling: SamplingConfig) -> None:
    """Refuse settings every backend would honour uselessly: n > 1 greedy samples are one sample n times."""
    from ..errors import BackendError

    if sampling.n > 1 and sampling.temperature == 0:
        raise BackendError(
            f"n={sampling.n} with temperature=0 would repeat one greedy completion",
            hint="set [generation.sampling] temperature > 0, or n = 1",
        )


def decoding_constraint(sampling: SamplingConfig) -> tuple[str, Any] | None:
    """The one structured-output constraint of ``sampling`` as ``(kind, value)``: ``json`` (a JSON Schema),
    ``choice`` (a list of strings) or ``regex``; None when decoding is free. Two at once is an error."""
    from ..errors import BackendError

    set_ = [(kind, value) for kind, value in (("json", sampling.json_schema), ("choice", sampling.choice),
                                               ("regex", sampling.regex)) if value is not None]
    if len(set_) > 1:
        raise BackendError(f"sampling sets {' and '.join(k for k, _ in set_)} constraints; decoding takes one",
                           hint="keep one of json_schema, choice, regex")
    return set_[0] if set_ else None
