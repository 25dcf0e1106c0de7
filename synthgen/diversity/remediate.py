"""What to change when a batch fails the gate: a pure function of the gate result.

Lexical failures (repetitive wording) raise temperature and top_p; semantic failures (samples bunched in
embedding space) also widen seed sampling and rotate few-shot examples; tail failures (real clusters left
uncovered) widen seeds and rotate examples, and raise the temperature instead when the run has neither
lever (a generator without seeds to widen or examples to rotate has only its sampling left to spread).
Fidelity decisions carry a ``side``: *too typical* (per-record perplexity below real's, rare types
missing) is treated like a lexical and a tail failure at once (more temperature, wider seeds); *too far*
(perplexity above real's: noise) lowers the temperature and asks for more real few-shot examples. When the
directions conflict, measured repetition (a lexical failure) still raises the temperature (cooling cannot
fix repetition; real few-shot examples and wider seeds address the drift), while a batch that is only
bunched in embedding space but too far from real text is cooled (the fidelity side decides) and its seeds
widened. A step that reverses the previous one is half of it (bisection), and a step never goes past a
temperature this batch already failed at from the other side (:class:`Bracket`): it stops halfway instead.
Within ``bounds``; once ``attempt`` reaches the budget, or nothing can change, ``retry`` is False and the
message names the failing metrics (the run exits 3).

Only *blocking* decisions steer remediation: a decision marked ``blocking: False`` (a metric that could not
be computed under ``on_not_computed = "warn"``) is a warning, never a failure. ``levers`` says what the run
can actually change: a seed source that cannot widen (a grid without ``sample``, or one already whole; inline,
file or dataset seeds) or a recipe without few-shot examples is never reported as widened or rotated, and a
retry whose only changes would be those is no retry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

LEXICAL = {"distinct_2", "compression_ratio", "self_repetition", "rare_type_recall"}
SEMANTIC = {"mean_pairwise_cosine", "vendi"}
TAIL = {"cluster_coverage", "cluster_js_divergence"}
TOO_TYPICAL, TOO_FAR = "too_typical", "too_far"


@dataclass(frozen=True)
class RemediationBounds:
    budget: int = 3
    temperature_step: float = 0.1
    max_temperature: float = 1.3
    min_temperature: float = 0.1
    top_p_step: float = 0.05
    max_top_p: float = 1.0
    seed_widening: int = 2          # factor per attempt: distinct seeds per batch × this
    rotate_few_shot: bool = True
    max_step_multiple: float = 3.0  # a perplexity shift k tolerances wide moves min(k, this) steps


@dataclass(frozen=True)
class Levers:
    """What a retry can change besides sampling: ``widen_seeds`` (the seed source gives more distinct seeds at
    the next factor) and ``few_shot`` (some step draws few-shot examples to rotate or add to)."""

    widen_seeds: bool = True
    few_shot: bool = True


@dataclass(frozen=True)
class Bracket:
    """The temperatures a batch's earlier attempts failed at: ``low``, the highest one whose remedy was more
    temperature; ``high``, the lowest one whose remedy was less. Between them lies the band the gate can
    pass, so a step that would reach either goes halfway there instead. Without it, a batch that failed
    coverage at 1.0, then was too far at 1.1 and at 1.05, was cooled a whole step to 0.94, below the 1.0 it
    had nearly passed at (the collapse benchmark's starved generations)."""

    low: float | None = None
    high: float | None = None

    def after(self, temperature: float, new_temperature: float, anchored: bool = True) -> "Bracket":
        """The bracket once a failed attempt at ``temperature`` moved the next one to ``new_temperature``.
        An attempt failed only by previous-generation rules (``anchored`` False: they apply only at the
        sampling the previous batch was accepted at) says nothing about other temperatures."""
        if not anchored:
            return self
        if new_temperature > temperature:
            return Bracket(temperature if self.low is None else max(self.low, temperature), self.high)
        if new_temperature < temperature:
            return Bracket(self.low, temperature if self.high is None else min(self.high, temperature))
        return self

    def clamp(self, temperature: float, new_temperature: float) -> float:
        """``new_temperature``, or halfway from ``temperature`` to the failed side it would reach."""
        high, low = self.high, self.low
        if new_temperature > temperature and high is not None and temperature < high <= new_temperature:
            return round((temperature + high) / 2, 4)
        if new_temperature < temperature and low is not None and new_temperature <= low < temperature:
            return round((temperature + low) / 2, 4)
        return new_temperature


@dataclass(frozen=True)
class Remediation:
    """The next attempt's settings: absolute ``temperature`` and ``top_p``; ``seed_widening`` multiplies the
    current number of distinct seeds per batch (1 = unchanged); ``rotate_few_shot`` asks for new examples."""

    retry: bool
    temperature: float
    top_p: float
    seed_widening: int
    rotate_few_shot: bool
    message: str
    failing: tuple[str, ...] = ()
    more_few_shot: bool = False     # a "too far" batch: show more real examples per prompt
    sides: tuple[str, ...] = ()     # the fidelity sides that failed (too_typical / too_far)
    anchored: bool = True           # some failure holds at any sampling (not only previous-generation rules)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failing": list(self.failing), "sides": list(self.sides)}


def remediation_step(gate_result: Any, sampling: Any, attempt: int, bounds: Any = None,
                     previous_move: float = 0.0, levers: Levers | None = None,
                     bracket: Bracket | None = None) -> Remediation:
    """The adjustment after failed attempt ``attempt`` (0 = the first try) of a batch. ``previous_move`` is the
    signed temperature change of the retry before this one: when the new move goes the other way (the last
    step overshot), the step is half of that move, so the temperature settles between the two sides
    (bisection) instead of bouncing between them."""
    bounds = bounds or RemediationBounds()
    temp, top_p = float(_get(sampling, "temperature")), float(_get(sampling, "top_p"))
    failures = [d for d in gate_result.decisions if d["status"] != "pass" and d.get("blocking", True) is not False]
    names = tuple(dict.fromkeys(d["metric"] for d in failures))
    what = "; ".join(_why(d) for d in failures)
    keep = dict(temperature=temp, top_p=top_p, seed_widening=1, rotate_few_shot=False, failing=names)
    if gate_result.passed or not failures:
        return Remediation(False, message="diversity gate passed: no change", **{**keep, "failing": ()})
    if all(d["status"] == "not_computed" for d in failures):
        hint = _not_computed_hint(failures)
        return Remediation(False, message=f"cannot remediate, metrics not computed: {what} ({hint})", **keep)
    budget = _get(bounds, "budget")
    if attempt >= budget:
        return Remediation(False, message=f"remediation budget spent ({budget} retries); still failing: {what}", **keep)
    sides = tuple(dict.fromkeys(d["side"] for d in failures if d.get("side")))
    plain = {d["metric"] for d in failures if not d.get("side")}
    step = _adjust(plain, sides, temp, top_p, attempt, bounds, what, names, previous_move,
                   _step_multiple(failures, bounds), levers or Levers(), bracket or Bracket())
    return replace(step, anchored=any(d.get("against") != "previous" for d in failures))


SHORT_BATCH = ("the batch has", "scored records", "words to compare", "words at an equal budget")


def _not_computed_hint(failures: list[dict[str, Any]]) -> str:
    """What would let the metrics be computed: a larger window when the batch is what is short, else more
    reference data; either way, on_not_computed = 'warn' makes them warnings."""
    reasons = " ".join(str(d.get("reason") or "") for d in failures)
    if any(marker in reasons for marker in SHORT_BATCH):
        return ("the gated window is too small: raise generation.target or generation.max_candidates, or lower "
                "diversity.gate.min_samples / min_tokens; or set on_not_computed = 'warn'")
    return "add real reference data or set on_not_computed = 'warn'"


def _step_multiple(failures: list[dict[str, Any]], bounds: Any) -> float:
    """How many temperature steps the move takes: the fidelity perplexity shift measured in tolerances,
    |log ratio| / log tolerance, between 1 and ``max_step_multiple``. A batch at 0.3× real's perplexity (T =
    0.7 on a base model) then moves 0.3 at once instead of spending three attempts on 0.1 steps; a batch
    just outside the band moves one step."""
    import math

    widths = [abs(math.log(d["ratio"])) / math.log(d["factor"]) for d in failures
              if d.get("metric") == "perplexity_shift" and d.get("side") and d.get("ratio") and (d.get("factor") or 0) > 1]
    return min(max([1.0, *widths]), max(float(_get(bounds, "max_step_multiple")), 1.0))


def _adjust(failed: set[str], sides: tuple[str, ...], temp: float, top_p: float, attempt: int, bounds: Any,
            what: str, names: tuple[str, ...], previous_move: float = 0.0, multiple: float = 1.0,
            levers: Levers = Levers(), bracket: Bracket = Bracket()) -> Remediation:
    lexical, semantic, tail = failed & LEXICAL, failed & SEMANTIC, failed & TAIL
    cooler = TOO_FAR in sides
    no_other_lever = not (levers.widen_seeds or levers.few_shot)
    hotter = bool(lexical or TOO_TYPICAL in sides or ((semantic or (tail and no_other_lever)) and not cooler))
    new_temp, new_top_p = temp, top_p
    step = round(_get(bounds, "temperature_step") * multiple, 4)
    if previous_move and (previous_move > 0) != hotter and (hotter or cooler):
        step = abs(previous_move) / 2  # the direction flipped: bisect
    if hotter:
        new_temp = min(round(temp + step, 4), _get(bounds, "max_temperature"))
        new_top_p = min(round(top_p + _get(bounds, "top_p_step"), 4), _get(bounds, "max_top_p"))
    elif cooler:
        new_temp = max(round(temp - step, 4), _get(bounds, "min_temperature"))
    new_temp = bracket.clamp(temp, new_temp)
    broaden = bool(semantic or tail or TOO_TYPICAL in sides or (hotter and cooler))
    factor = _get(bounds, "seed_widening") if broaden and levers.widen_seeds else 1
    rotate = (broaden or cooler) and bool(_get(bounds, "rotate_few_shot")) and levers.few_shot
    more = cooler and levers.few_shot
    changes = _changes(temp, new_temp, top_p, new_top_p, factor, rotate) + (["more real few-shot examples"]
                                                                           if more else [])
    names = tuple(sorted(set(names)))
    if not changes:
        return Remediation(False, temp, top_p, 1, False, f"{_stuck(broaden, levers)}; {what}", names, sides=sides)
    conflict = "; conflicting directions: repetition decides the temperature" if hotter and cooler else ""
    message = f"attempt {attempt + 1}/{_get(bounds, 'budget')}: {what} -> {', '.join(changes)}{conflict}"
    return Remediation(True, new_temp, new_top_p, factor, rotate, message, names, more, sides)


def _stuck(broaden: bool, levers: Levers) -> str:
    """Why no lever can change anything (the retry would generate the same way)."""
    why = []
    if broaden and not levers.widen_seeds:
        why.append("the seed source cannot widen (only a grid with `sample` below the whole grid can)")
    if broaden and not levers.few_shot:
        why.append("no step draws few-shot examples to rotate")
    return "nothing left to adjust: " + "; ".join(why) if why else "bounds reached, nothing left to adjust"


def _changes(temp: float, new_temp: float, top_p: float, new_top_p: float, factor: int, rotate: bool) -> list[str]:
    out = []
    if new_temp != temp:
        out.append(f"temperature {temp:g} -> {new_temp:g}")
    if new_top_p != top_p:
        out.append(f"top_p {top_p:g} -> {new_top_p:g}")
    if factor > 1:
        out.append(f"seed sampling widened x{factor}")
    if rotate:
        out.append("few-shot examples rotated")
    return out


def _why(decision: dict[str, Any]) -> str:
    if decision["status"] == "not_computed":
        return f"{decision['metric']} not computed ({decision['reason']})"
    return decision["reason"]


def _get(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)
