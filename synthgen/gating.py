"""The diversity (and fidelity) gate inside a run: measure windows of accepted records, remediate failures.

Records accepted by the stages form a *window*; when it holds ``window`` records (or the target is
reached) the gate measures it against the real reference and the previous generation, and the fidelity
gate ([diversity.fidelity]) scores it under a reference model fitted once on the real data. Comparisons
with the previous generation are made like with like: only while this run samples as the previous batch
was accepted (its records' ``sampling``); after remediation moved the sampling, the rules relative to real
data decide alone, so a remediated parent cannot ratchet every later generation (issue 16). A passing window
is committed. A failing one is revoked (its records move to the rejects with the failing metrics as
evidence), sampling is adjusted by :func:`~synthgen.diversity.remediate.remediation_step` (temperature /
top_p up, wider seeds, rotated few-shot examples) and generation goes on; when the remediation budget is
spent the run stops with ``gate_failed`` and the CLI exits 3, naming the metric.

A window holds at least :func:`gate_min_records` records (the gate's ``min_samples``): a run whose target is
smaller collects that many and keeps its target (the rest are ``over_target`` rejects), so a small target
(``--limit 5``) is gated on a window its metrics can be computed on. Only blocking decisions fail a window:
a metric that could not be computed under ``on_not_computed = "warn"`` is a warning. Remediation changes only
what the run can change (:meth:`GateController.bind_levers`).
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
    few_shot_extra: int = 0
    last_move: float = 0.0          # signed temperature change of the last retry (bisection on a flip)
    bracket_low: float | None = None   # this window's failed temperatures (remediate.Bracket): needed hotter
    bracket_high: float | None = None  # ... needed cooler
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
                 bounds: Any, window: int, fidelity: Any = None, previous_sampling: dict[str, float] | None = None):
        self.gate, self.reference, self.previous, self.embedder = gate, reference, previous, embedder
        self.bounds, self.window = bounds, window
        self.fidelity, self.previous_sampling = fidelity, previous_sampling
        self.state = GateState()
        self._can_widen: Any = None
        self._few_shot = True

    def bind_levers(self, can_widen: Any, few_shot: bool) -> None:
        """What remediation can change in this run: ``can_widen(current, new)`` says whether the seed source
        gives more distinct seeds at factor ``new`` than at ``current``; ``few_shot``: some step draws
        few-shot examples (to rotate or add to)."""
        self._can_widen, self._few_shot = can_widen, few_shot

    def levers(self) -> Any:
        from .diversity.remediate import Levers

        current = self.state.seed_factor
        new = current * int(getattr(self.bounds, "seed_widening", 1))
        widen = new > current and (self._can_widen is None or bool(self._can_widen(current, new)))
        return Levers(widen_seeds=widen, few_shot=self._few_shot)

    def due(self, n_kept: int, final: bool) -> bool:
        """A full window is waiting, or the run is ending with records not yet gated."""
        pending = n_kept - self.state.committed
        return pending >= self.window or (final and pending > 0)

    def check(self, kept_texts: list[str], sampling: Any) -> GateOutcome:
        """Gate the pending window (topped up with committed records to ``window`` when it is short)."""
        from .diversity.remediate import Bracket, remediation_step

        start = max(0, min(self.state.committed, len(kept_texts) - self.window))
        window = kept_texts[start:]
        unlike = self.unlike_previous(sampling)
        previous = None if unlike else self.previous
        result = self.gate.evaluate(window, self.reference, previous, embedder=self.embedder)
        if self.fidelity is not None:
            result = result.merged(fidelity_result(self.fidelity, window))
        check = {"window": [start, len(kept_texts)], "attempt": self.state.attempt, **result.to_dict(),
                 "summary": result.summary(), "sampling": _sampling_values(sampling)}
        if unlike:
            check["previous_skipped"] = unlike
        if result.passed:
            self.state.committed, self.state.last_move = len(kept_texts), 0.0
            self.state.bracket_low = self.state.bracket_high = None
            self.state.checks.append(check)
            return GateOutcome(True, False, check)
        bracket = Bracket(self.state.bracket_low, self.state.bracket_high)
        step = remediation_step(result, sampling, self.state.attempt, self.bounds, self.state.last_move,
                                self.levers(), bracket)
        check["remediation"] = step.to_dict()
        self.state.checks.append(check)
        if step.retry:
            temperature = _sampling_values(sampling).get("temperature", step.temperature)
            self.state.last_move = step.temperature - temperature
            moved = bracket.after(temperature, step.temperature, step.anchored)
            self.state.bracket_low, self.state.bracket_high = moved.low, moved.high
            self._apply(step)
        return GateOutcome(False, step.retry, check)

    def unlike_previous(self, sampling: Any) -> str | None:
        """Why the previous generation is not comparable with this attempt (None when it is, or unknown)."""
        if not self.previous or not self.previous_sampling:
            return None
        now = _sampling_values(sampling)
        differs = [k for k, v in self.previous_sampling.items() if k in now and abs(now[k] - v) > 1e-9]
        if not differs:
            return None
        return ("previous generation accepted at " + ", ".join(f"{k} {self.previous_sampling[k]:g}" for k in differs)
                + ", this attempt samples at " + ", ".join(f"{k} {now[k]:g}" for k in differs)
                + ": not like with like, the rules relative to real data decide")

    def _apply(self, step: Any) -> None:
        self.state.attempt += 1
        self.state.temperature, self.state.top_p = step.temperature, step.top_p
        self.state.seed_factor *= step.seed_widening
        self.state.rotation += int(step.rotate_few_shot)
        self.state.few_shot_extra += int(getattr(step, "more_few_shot", False))

    def final_metrics(self, texts: list[str]) -> list[dict[str, Any]]:
        """The whole diversity table of the final dataset, once, for the report (the gate computes only what
        it gates on), plus the fidelity gate's model and calibration."""
        from .diversity.embed import comparison_embedder
        from .diversity.metrics import compute_metrics

        embedder, embed_reference = comparison_embedder(self.embedder, self.reference, texts)
        rows = compute_metrics(texts, self.reference, embedder, self.gate.settings, embed_reference=embed_reference)
        return [row.to_dict() for row in rows]

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

    from .diversity.build import fidelity_from_config, previous_sampling
    from .diversity.embed import prepare

    seed = context.seed_for(config.seed)
    least = gate_min_records(config)
    window = min(max(target, least), max(least, 100))
    reference = reference_texts(config, context)
    if embedder is not None:
        embedder = prepare(embedder, reference)  # fitted once per run (a no-op when the run already did)
    return GateController(gate_from_config(config, seed), reference, previous_texts(config, context), embedder,
                          config.remediation, window, fidelity_from_config(config, reference, seed),
                          previous_sampling(config, context))


def gate_min_records(config: Any) -> int:
    """The fewest records a window must hold for the gate to be computable: the [diversity.gate]'s
    ``min_samples``, and the fidelity perplexity rule's ``min_records`` when its not-computed blocks. 0 when
    the gate is off."""
    if config is None or not config.gate.enabled:
        return 0
    fidelity = config.fidelity
    blocks = fidelity.enabled and fidelity.on_not_computed == "fail" and fidelity.perplexity_tolerance is not None
    return max(config.gate.min_samples, fidelity.min_records if blocks else 0)


def fidelity_result(fidelity: Any, window: list[str]) -> Any:
    """The fidelity gate's result, each decision marked blocking or a warning (its ``on_not_computed``)."""
    from .diversity.gate import GateResult, mark_blocking

    result = fidelity.evaluate(window)
    blocking = getattr(fidelity, "blocking", {"fail", "not_computed"})
    return GateResult(result.passed, mark_blocking(result.decisions, blocking), result.metrics, result.label)


def _sampling_values(sampling: Any) -> dict[str, float]:
    get = sampling.get if isinstance(sampling, dict) else lambda k: getattr(sampling, k, None)
    return {k: float(get(k)) for k in ("temperature", "top_p") if get(k) is not None}
