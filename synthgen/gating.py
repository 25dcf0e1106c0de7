"""The diversity gate inside a run: measure windows of accepted records, remediate failures.

Records accepted by the stages form a *window*; when it holds ``window`` records (or the target is
reached) the gate measures it against the real reference and the previous generation. A passing window
is committed. A failing one is revoked (its records move to the rejects with the failing metrics as
evidence), sampling is adjusted by :func:`~synthgen.diversity.remediate.remediation_step` (temperature /
top_p up, wider seeds, rotated few-shot examples) and generation goes on; when the remediation budget is
spent the run stops with ``gate_failed`` and the CLI exits 3, naming the metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GATE_STAGE = "diversity_gate"
GATE_FAILED_REASON = "diversity_gate_failed"


@dataclass
class GateState:
    """What must survive a restart: the committed prefix, failed attempts and the adjustments made."""

    committed: int = 0
    attempt: int = 0
    temperature: float | None = None
    top_p: float | None = None
    seed_factor: int = 1
    rotation: int = 0
    checks: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class GateOutcome:
    passed: bool
    retry: bool
    check: dict[str, Any]


class GateController:
    """Owns the gate, its inputs (reference, previous generation, embedder) and the remediation bounds."""

    def __init__(self, gate: Any, reference: list[str], previous: list[str] | None, embedder: Any,
                 bounds: Any, window: int):
        self.gate, self.reference, self.previous, self.embedder = gate, reference, previous, embedder
        self.bounds, self.window = bounds, window
        self.state = GateState()

    def due(self, n_kept: int, final: bool) -> bool:
        """A full window is waiting, or the run is ending with records not yet gated."""
        pending = n_kept - self.state.committed
        return pending >= self.window or (final and pending > 0)

    def check(self, kept_texts: list[str], sampling: Any) -> GateOutcome:
        """Gate the pending window (topped up with committed records to ``window`` when it is short)."""
        from .diversity.remediate import remediation_step

        start = max(0, min(self.state.committed, len(kept_texts) - self.window))
        result = self.gate.evaluate(kept_texts[start:], self.reference, self.previous, embedder=self.embedder)
        check = {"window": [start, len(kept_texts)], "attempt": self.state.attempt, **result.to_dict(),
                 "summary": result.summary()}
        if result.passed:
            self.state.committed = len(kept_texts)
            self.state.checks.append(check)
            return GateOutcome(True, False, check)
        step = remediation_step(result, sampling, self.state.attempt, self.bounds)
        check["remediation"] = step.to_dict()
        self.state.checks.append(check)
        if step.retry:
            self._apply(step)
        return GateOutcome(False, step.retry, check)

    def _apply(self, step: Any) -> None:
        self.state.attempt += 1
        self.state.temperature, self.state.top_p = step.temperature, step.top_p
        self.state.seed_factor *= step.seed_widening
        self.state.rotation += int(step.rotate_few_shot)

    def sampling_update(self) -> dict[str, float]:
        """The sampling fields remediation changed (empty before any failure)."""
        if self.state.temperature is None:
            return {}
        return {"temperature": self.state.temperature, "top_p": self.state.top_p}

    def restore(self, data: dict[str, Any]) -> None:
        self.state = GateState(**data)


def build_gate_controller(config: Any, context: Any, embedder: Any, target: int) -> GateController | None:
    """A controller for the [diversity] table's gate, or None when the gate is off; ``context`` (a
    RecipeContext) resolves paths and gives the seed."""
    if config is None or not config.gate.enabled:
        return None
    from .diversity.build import gate_from_config, previous_texts, reference_texts

    seed = context.seed_for(config.seed)
    window = min(target, max(config.gate.min_samples, 100))
    return GateController(gate_from_config(config, seed), reference_texts(config, context.resolve),
                          previous_texts(config, context.resolve), embedder, config.remediation, window)
