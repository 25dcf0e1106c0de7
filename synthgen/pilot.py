"""``synthgen plan``: a small pilot through every step and stage, and the run's forecast.

The pilot takes the run's first ``sample`` requests (the same ones the run starts with), passes them
through the whole pipeline in the batch sizes the run uses, and measures: backend tokens/s, each stage's
acceptance, the duplicate rate and each part's time per candidate; the quality gate (diversity and
fidelity, through the run's own :class:`~synthgen.gating.GateController`) checks the kept records as it
will check the run's first window. Nothing is written: no run directory, no checkpoint, and no stage's
``finish`` (which is where the dedup history index is persisted).

Units. A *candidate* is a first-step completion (requests × the first LLM step's ``n``): the unit of
``max_candidates`` and of the forecast. A later step that fans out makes several records of one candidate
(at most ``fan_out``: the later steps' ``n`` multiplied, a preference step's group counted once), so the
*yield* ``y = kept / candidates`` (records kept per candidate) may exceed 1, while a stage's or the pilot's
*acceptance* (kept ÷ records made) never does.

The forecast: the share of the possible records kept, ``q = y / fan_out`` in [0, 1], gets a 95% Wilson
interval ``[lo, hi]`` over the ``c`` pilot candidates (records of one candidate are counted as one trial,
which widens the interval rather than narrowing it); the run needs about ``target / y`` candidates
(interval ``target / (fan_out·hi) .. target / (fan_out·lo)``). With diverse selection the run collects a
pool (1.5 × target) and the forecast is for the pool, which is what the run generates. Time is candidates ×
(backend seconds per candidate) sequentially, or the larger of backend and stage time when pipelined.
``P(budget enough)`` is the chance, under a Beta posterior for ``q``, that ``usable × fan_out × q ≥ target``,
where ``usable`` is ``max_candidates``, or less when a replay file holds fewer completions. ``synthgen plan
--out RUN_DIR`` saves it as ``RUN_DIR/forecast.json``; the run's report then sets it beside the outcome
(candidates until the pool's, or the target's, last record was kept).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from .pipeline import run_stages
from .records import Candidate, as_text

FORECAST_FILE = "forecast.json"
DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate", "semantic_near_duplicate")
Z95 = 1.959964
PLAN_REPLAY_HINT = "lower --sample, or add rows to the file"


def wilson_interval(kept: float, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion: (p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    if total == 0:
        return 0.0, 1.0
    p, n = kept / total, total
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)
    # exact at the ends (rounding gave 0.99999..., so "8 needed" came with an interval of 9-16)
    return (0.0 if kept == 0 else max(0.0, lo)), (1.0 if kept == total else min(1.0, hi))


def budget_enough_probability(kept: int, total: int, target: int, budget: int, fan_out: int = 1) -> float:
    """P(budget × fan_out × q ≥ target) with q ~ Beta(kept/fan_out + 1, total - kept/fan_out + 1)."""
    from scipy.stats import beta

    if budget <= 0:
        return 0.0
    need, share = target / (budget * fan_out), kept / fan_out
    return 1.0 if need <= 0 else float(beta.sf(min(need, 1.0), share + 1, total - share + 1))


def fan_out(plan: Any) -> int:
    """The most records one first-step candidate can become: the later fan-out steps' ``n`` multiplied,
    divided by the size of the groups a preference step pairs into one record."""
    paired = math.prod(getattr(stage, "group_size", 1) for stage in plan.pipeline)
    return max(1, plan.records_per_request // paired // plan.limits.n)


def pilot_batch_size(kept: int, done: int, sample: int, limits: Any) -> int:
    """The run's next batch size; once the run would stop (target or budget reached) the pilot goes on in
    the recipe's ``batch_size``, never in one-prompt batches."""
    from .runner import batch_size_for

    candidates = done * limits.n
    run_over = kept >= limits.target or candidates + limits.n > limits.budget
    size = limits.batch_size if run_over else batch_size_for(kept, candidates, limits, None)
    return min(max(size, 1), sample - done)


def run_pilot(plan: Any, sample: int) -> dict[str, Any]:
    """Pass the run's first ``sample`` requests through ``plan``'s pipeline (backend already loaded), in the
    batch sizes the run will choose; the gate checks the kept records when the run would first check them
    (a full window). Returns the measurements (no file is written)."""
    rejections: list[Any] = []
    for stage in plan.pipeline:
        stage.bind(rejections.append)
    limits, done, start = plan.limits, 0, time.perf_counter()
    kept: list[Candidate] = []
    gate: dict[str, Any] | None = None
    while done < sample:
        size = pilot_batch_size(len(kept), done, sample, limits)
        records = [Candidate(r, 0, "", 0, index=r.index * plan.records_per_request)
                   for r in plan.seeds.requests.batch(done, size)]
        kept += run_stages(plan.pipeline, records)
        done += size
        if gate is None and plan.gate is not None and plan.gate.due(len(kept), final=len(kept) >= limits.target):
            gate = preview_gate(plan, kept)
    result = measurements(plan, sample, len(kept), len(kept) + len(rejections), time.perf_counter() - start)
    if plan.gate is not None:
        result["gate"] = gate or {"checked": False, "why": f"{len(kept)} kept records; the gate's first window "
                                  f"needs {plan.gate.window}: raise --sample"}
    return result


def preview_gate(plan: Any, kept: list[Candidate]) -> dict[str, Any]:
    """The run's quality gate (its controller's ``check``: diversity and fidelity) on the records the run's
    first check will see (the same requests). ``retry`` is False when a failure would stop the run
    (the remediation budget is spent). The controller is the pilot's own: the run builds a fresh one."""
    field = plan.diversity_field
    texts = [as_text(c.columns[field]) if field in c.columns else c.text for c in kept]
    outcome = plan.gate.check(texts, plan.sampling)
    return {"checked": True, "passed": bool(outcome.passed), "retry": bool(outcome.retry),
            "summary": outcome.check["summary"], "window": plan.gate.window}


def measurements(plan: Any, requests: int, kept: int, made: int, wall: float) -> dict[str, Any]:
    """Per first-step candidate: yield, backend and stage seconds; per record made: acceptance, duplicates."""
    stats = [stage.stats for stage in plan.pipeline]
    candidates = requests * plan.limits.n
    backend_s = sum(s.backend_seconds for s in stats)
    stage_s = sum(max(s.seconds - s.llm_seconds, 0.0) for s in stats)
    duplicates = sum(s.dropped.get(reason, 0) for s in stats for reason in DUPLICATE_REASONS)
    unknown = any(s.tokens_unknown for s in stats)
    return {
        "requests": requests, "candidates": candidates, "records": made, "kept": kept,
        "fan_out": fan_out(plan), "wall_seconds": round(wall, 3),
        "acceptance_rate": kept / made if made else 0.0,
        "yield_per_candidate": kept / candidates if candidates else 0.0,
        "duplicate_rate": duplicates / made if made else 0.0,
        "completion_tokens": None if unknown else sum(s.completion_tokens for s in stats),
        "tokens_per_s": sum(s.completion_tokens for s in stats) / backend_s if backend_s and not unknown else None,
        "backend_seconds_per_candidate": backend_s / candidates if candidates else 0.0,
        "stage_seconds_per_candidate": stage_s / candidates if candidates else 0.0,
        "stages": [stage_measurement(s) for s in stats],
    }


def stage_measurement(stats: Any) -> dict[str, Any]:
    """A stage's records in (``seen``), out (``made``: after fan-out or pairing) and kept; its acceptance is
    kept ÷ made, never above 1."""
    made = stats.kept + stats.n_dropped
    return {"stage": stats.name, "seen": stats.seen, "made": made, "kept": stats.kept,
            "acceptance": round(stats.kept / made, 4) if made else None,
            "reasons": dict(stats.dropped.most_common(3))}


def forecast(pilot: dict[str, Any], target: int, budget: int, collect: int | None = None,
             capacity: int | None = None) -> dict[str, Any]:
    """Candidates needed to collect ``collect`` records (the run's pool; ``target`` when it selects none),
    with a 95% interval, time, and whether the usable candidates (``budget``, or a replay file's
    ``capacity`` when smaller) are enough. When the gate fails the pilot's window, the run revokes its
    first window: one window more is needed (later failures, after remediation, cannot be foreseen); when
    it may not retry, the run stops there."""
    gate = pilot.get("gate") or {}
    failed = bool(gate.get("checked") and not gate["passed"])
    stops = failed and not gate.get("retry", True)
    revoked = gate["window"] if failed and not stops else 0
    collect = collect or target
    records = collect + revoked
    usable = budget if capacity is None else min(budget, capacity)
    kept, total = pilot["kept"], pilot["candidates"]
    fan = max(pilot.get("fan_out", 1), -(-kept // total) if total else 1)  # a bound, whatever a step does
    need, interval, (lo, hi) = candidates_needed(kept, total, fan, records)
    probability = 0.0 if stops else budget_enough_probability(kept, total, records, usable, fan)
    return {
        "target": target, "collect": collect, "revoked_window": revoked, "gate_stops_run": stops,
        "max_candidates": budget, "capacity": capacity, "usable_candidates": usable, "fan_out": fan,
        "acceptance_interval": [round(lo, 4), round(hi, 4)] if fan == 1 else None,
        "yield_interval": [round(fan * lo, 4), round(fan * hi, 4)],
        "candidates_needed": need, "candidates_interval": interval, **forecast_seconds(pilot, need),
        "budget_enough_probability": round(probability, 3), "budget_enough": verdict(probability, stops),
    }


def candidates_needed(kept: int, total: int, fan: int, records: int) -> tuple[int | None, list, tuple]:
    """``ceil(records / yield)`` (None when nothing was kept), its interval from the Wilson interval of the
    kept share ``kept / (total × fan)``, and that interval."""
    lo, hi = wilson_interval(kept / fan, total)
    need = -(-records * total // kept) if kept else None
    interval = [math.ceil(records / (fan * hi)) if hi else None, math.ceil(records / (fan * lo)) if lo else None]
    return need, interval, (lo, hi)


def forecast_seconds(pilot: dict[str, Any], need: int | None) -> dict[str, float | None]:
    per_gen, per_stage = pilot["backend_seconds_per_candidate"], pilot["stage_seconds_per_candidate"]
    return {"generation_seconds": round(need * per_gen, 1) if need else None,
            "sequential_seconds": round(need * (per_gen + per_stage), 1) if need else None,
            "pipelined_seconds": round(need * max(per_gen, per_stage), 1) if need else None}


def verdict(probability: float, gate_stops: bool) -> str:
    if gate_stops:
        return "not"
    return "likely" if probability >= 0.9 else "unlikely" if probability < 0.5 else "uncertain"


def plan_recipe(loaded: Any, sample: int, backend: Any = None) -> dict[str, Any]:
    """Build the run plan, start its backend, run the pilot and forecast the run."""
    from .api import load_backend
    from .plan import build_run_plan
    from .runner import candidate_capacity

    plan = build_run_plan(loaded, backend)
    load_backend(plan.backend, plan.context)
    capacity = candidate_capacity(plan)
    sample = pilot_sample(sample, capacity, plan.limits.n)
    try:
        pilot = run_replayed(plan, sample)
    finally:
        plan.backend.close()
        plan.close()
    return {"recipe_hash": loaded.hash, "sample": sample, "pilot": pilot,
            "forecast": forecast(pilot, plan.target, plan.budget, plan.limits.target, capacity)}


def pilot_sample(sample: int, capacity: int | None, n: int) -> int:
    """At most the requests a finite backend (replay) can answer."""
    return sample if capacity is None else max(1, min(sample, capacity // n))


def run_replayed(plan: Any, sample: int) -> dict[str, Any]:
    """The pilot; a replay file that runs dry names plan's own remedy."""
    from .backends.replay import ReplayExhausted

    try:
        return run_pilot(plan, sample)
    except ReplayExhausted as error:
        raise ReplayExhausted(error.message, hint=PLAN_REPLAY_HINT) from None


def check_forecast_dir(run_dir: Path, recipe_hash: str) -> None:
    """Refuse ``run_dir`` before the pilot runs when the forecast could not be saved there (a folder that is
    not a run, or another recipe's run with data), so nothing is written into it first."""
    from .rundir import RunDir

    RunDir(run_dir).check_claim({"recipe_hash": recipe_hash}, can_overwrite=False)


def save_forecast(result: dict[str, Any], run_dir: Path, recipe_hash: str) -> Path:
    """Claim ``run_dir`` for this recipe (as a run would) and write forecast.json into it."""
    from .atomic import write_json_atomic
    from .rundir import RunDir

    RunDir(run_dir).prepare(recipe_hash, can_overwrite=False)  # plan has no --overwrite
    path = Path(run_dir) / FORECAST_FILE
    write_json_atomic(path, result)
    return path


def compare_forecast(run_dir: Path, report: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any] | None:
    """The saved forecast beside the run's outcome, or None when no forecast of this recipe was saved. Both
    sides count candidates until the same record: the pool's last with diverse selection, else the target's."""
    path = Path(run_dir) / FORECAST_FILE
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    if saved.get("recipe_hash") != report["recipe_hash"]:
        return None
    predicted = saved["forecast"]
    needed = outcome.get("candidates_to_target")
    low, high = predicted["candidates_interval"]
    return {"predicted": predicted, "outcome": outcome,
            "within_interval": None if needed is None or low is None else low <= needed <= (high or math.inf),
            "error": None if needed is None or not predicted["candidates_needed"]
            else round(predicted["candidates_needed"] / needed - 1, 3)}


def run_outcome(runner: Any) -> dict[str, Any]:
    """What the run really needed: candidates until the record it collects last (the ``collect``-th: the
    pool's with diverse selection, else the target's) was kept, and its yield per candidate."""
    state, limits = runner.state, runner.limits
    kept = len(state.kept_rows)
    outcome: dict[str, Any] = {"candidates": state.candidates, "kept": kept, "collect": limits.target,
                               "yield_per_candidate": round(kept / state.candidates, 4) if state.candidates else None,
                               "acceptance_rate": round(kept / (kept + len(state.rejected_rows)), 4)
                               if kept + len(state.rejected_rows) else None}
    if kept >= limits.target:
        index = state.kept_rows[limits.target - 1]["candidate_index"]
        outcome["candidates_to_target"] = (index // runner.per_request + 1) * limits.n
    return outcome
