"""The generation stop rule: a pure function of the per-generation health measures.

Each measure is a ratio to held-out real data, oriented so that higher is healthier. Stop when any
measure worsens ``patience`` generations in a row (each step a drop of more than half its tolerance), or
falls more than its tolerance below its best so far. A measure's tolerance is the larger of ``tolerance``
and its noise floor (how far real data itself strays at the same sample size). The best generation is the
one with the highest mean measure.

A noise floor that could not be measured (``None``: real samples of that size had too few texts or words)
is not taken as 0: the rule does not judge that measure at all, since a bare ``tolerance`` on a sample
too small to measure real data's own spread would stop on noise. The decision names such measures in
``unjudged`` so the report can say so. (:mod:`.measure` first tries the lexical measures' floor at the
generation's word budget, so this happens only where the reference is too small for that too.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str | None
    best: int | None  # index into the history
    unjudged: tuple[str, ...] = ()  # measures with a value but no measured noise floor: not judged


def best_generation(history: list[dict[str, float | None]]) -> int | None:
    scores = [_mean(h) for h in history]
    valid = [(s, i) for i, s in enumerate(scores) if s is not None]
    return max(valid)[1] if valid else None


def should_stop(history: list[dict[str, float | None]], tolerance: float = 0.02, patience: int = 2,
                noise: dict[str, float | None] | None = None) -> StopDecision:
    """Apply the rule to the measures of generations 1..k (``history[-1]`` is the newest). ``noise=None``:
    no floors, ``tolerance`` alone; else a measure whose floor is ``None`` or missing is not judged."""
    best = best_generation(history)
    latest = history[-1] if history else {}
    unjudged = tuple(m for m in latest if noise is not None and noise.get(m) is None and latest[m] is not None)
    for metric in latest:
        if metric in unjudged:
            continue
        values = [h.get(metric) for h in history]
        allowed = max(tolerance, (noise or {}).get(metric) or 0.0)
        reason = _worsening(metric, values, patience, allowed / 2) or _below_best(metric, values, allowed)
        if reason:
            return StopDecision(True, reason, best, unjudged)
    return StopDecision(False, None, best, unjudged)


def _worsening(metric: str, values: list[float | None], patience: int, step: float) -> str | None:
    tail = values[-(patience + 1):]
    if len(tail) < patience + 1 or any(v is None for v in tail):
        return None
    if all(later < earlier - step for earlier, later in zip(tail, tail[1:])):
        steps = " -> ".join(f"{v:.3f}" for v in tail)
        return f"{metric} worsened {patience} generations in a row ({steps})"
    return None


def _below_best(metric: str, values: list[float | None], tolerance: float) -> str | None:
    known = [v for v in values if v is not None]
    latest = values[-1]
    if latest is None or len(known) < 2:
        return None
    best = max(known)
    if latest < best * (1 - tolerance):
        return f"{metric} {latest:.3f} is {1 - latest / best:.1%} below its best {best:.3f} (tolerance {tolerance:.1%})"
    return None


def _mean(measures: dict[str, float | None]) -> float | None:
    known = [v for v in measures.values() if v is not None]
    return sum(known) / len(known) if known else None
