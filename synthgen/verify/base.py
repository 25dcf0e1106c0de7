"""The Verifier contract: params-only constructor, ``check(candidate) → Verdict``, ``check_batch`` loops."""

from __future__ import annotations

from ..records import Candidate, Verdict


class Verifier:
    """Subclasses set ``name`` and implement :meth:`check`; batch-capable ones override :meth:`check_batch`."""

    name = "verifier"

    def check(self, candidate: Candidate) -> Verdict:
        raise NotImplementedError

    def check_batch(self, candidates: list[Candidate]) -> list[Verdict]:
        return [self.check(candidate) for candidate in candidates]

    def close(self) -> None:
        """Release what the verifier holds (a judge's own model); the default holds nothing."""
