"""The Verifier contract: params-only constructor, ``check(candidate) → Verdict``, ``check_batch`` loops."""

from __future__ import annotations

from typing import Any

from ..records import Candidate, Verdict

PLACEMENT_KEYS = ("type", "field", "after")


def config_params(config: Any, *drop: str) -> dict[str, Any]:
    """A verifier table's fields as constructor params (less ``type``, the placement keys and ``drop``)."""
    return config.model_dump(exclude={*PLACEMENT_KEYS, *drop})


class Verifier:
    """Subclasses set ``name`` and ``Config`` (the pydantic model of their ``[[verify]]`` table, in the same
    file) and implement :meth:`check`; batch-capable ones override :meth:`check_batch`. ``from_config``
    builds one from its validated table; verifiers that need files or a model override it.

    A verdict is about the candidate. When the verifier cannot check at all (its server is down, its files
    are gone), it raises a :class:`~synthgen.errors.SynthgenError`: the run stops with that error instead of
    rejecting the batch, and a resume checks the batch again."""

    name = "verifier"
    Config: Any = None

    @classmethod
    def from_config(cls, config: Any, context: Any, where: str) -> "Verifier":
        return cls(**config_params(config))

    def check(self, candidate: Candidate) -> Verdict:
        raise NotImplementedError

    def check_batch(self, candidates: list[Candidate]) -> list[Verdict]:
        return [self.check(candidate) for candidate in candidates]

    def start(self) -> None:
        """Make ready what :meth:`check` needs before the run generates (a judge starts its own model, so
        a server that is down fails the run at once); the default needs nothing."""

    def close(self) -> None:
        """Release what the verifier holds (a judge's own model); the default holds nothing."""
