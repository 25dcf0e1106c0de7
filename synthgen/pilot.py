"""``synthgen plan``: a small pilot through every step and stage, and the run's forecast.

The pilot takes the run's first ``sample`` requests (the same ones the run starts with), passes them
through the whole pipeline in the recipe's batch size, and measures: backend tokens/s, each stage's
acceptance, the duplicate rate and each part's time per candidate; the diversity gate checks the kept
records as it will check the run's first window. Nothing is written: no run directory, no checkpoint,
and no stage's ``finish`` (which is where the dedup history index is persisted).

The forecast: with ``k`` of ``c`` pilot candidates kept, the acceptance ``p`` has a 95% Wilson interval
``[lo, hi]``; the run needs about ``target / p`` candidates (interval ``target/hi .. target/lo``). Time is
candidates × (backend seconds per candidate) sequentially, or the larger of backend and stage time when
pipelined. ``P(budget enough)`` is the chance, under a Beta(k+1, c-k+1) posterior for ``p``, that
``max_candidates × p ≥ target``. ``synthgen plan --out RUN_DIR`` saves it as ``RUN_DIR/forecast.json``;
the run's report then sets it beside the outcome (candidates until the target-th record was kept).
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


def wilson_interval(kept: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion: (p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n)."""
    if total == 0:
        return 0.0, 1.0
    p, n = kept / total, total
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = (centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n)
    # exact at the ends (rounding gave 0.99999..., so "8 needed" came with an interval of 9-16)
    return (0.0 if kept == 0 else max(0.0, lo)), (1.0 if kept == total else min(1.0, hi))


def budget_enough_probability(kept: int, total: int, target: int, budget: int) -> float:
    """P(budget × p ≥ target) with p ~ Beta(kept + 1, total - kept + 1)."""
    from scipy.stats import beta

    need = target / budget
    return 1.0 if need <= 0 else float(beta.sf(min(need, 1.0), kept + 1, total - kept + 1))


def run_pilot(plan: Any, sample: int) -> dict[str, Any]:
    """Pass the run's first ``sample`` requests through ``plan``'s pipeline (backend already loaded), in the
    batch sizes the run will choose; the gate checks the kept records when the run would first check them
    (a full window). Returns the measurements (no file is written)."""
    from .runner import batch_size_for

    rejections: list[Any] = []
    for stage in plan.pipeline:
        stage.bind(rejections.append)
    limits, done, start = plan.limits, 0, time.perf_counter()
    kept: list[Candidate] = []
    gate: dict[str, Any] | None = None
    while done < sample:
        size = min(max(batch_size_for(len(kept), done * limits.n, limits, None), 1), sample - done)
        records = [Candidate(r, 0, "", 0, index=r.index * plan.records_per_request)
                   for r in plan.seeds.requests.batch(done, size)]
        kept += run_stages(plan.pipeline, records)
        done += size
        if gate is None and plan.gate is not None and plan.gate.due(len(kept), final=len(kept) >= limits.target):
            gate = preview_gate(plan, kept)
    result = measurements(plan, sample, len(kept), time.perf_counter() - start)
    if plan.gate is not None:
        result["gate"] = gate or {"checked": False, "why": f"{len(kept)} kept records; the gate's first window "
                                  f"needs {plan.gate.window}: raise --sample"}
    return result


def preview_gate(plan: Any, kept: list[Candidate]) -> dict[str, Any]:
    """The diversity gate on the records the run's first check will see (the same requests)."""
    gate, field = plan.gate, plan.diversity_field
    texts = [as_text(c.columns[field]) if field in c.columns else c.text for c in kept]
    result = gate.gate.evaluate(texts, gate.reference, gate.previous, embedder=gate.embedder)
    return {"checked": True, "passed": bool(result.passed), "summary": result.summary(), "window": gate.window}


def measurements(plan: Any, requests: int, kept: int, wall: float) -> dict[str, Any]:
    stats = [stage.stats for stage in plan.pipeline]
    candidates = requests * plan.limits.n
    backend_s = sum(s.backend_seconds for s in stats)
    stage_s = sum(max(s.seconds - s.llm_seconds, 0.0) for s in stats)
    duplicates = sum(s.dropped.get(reason, 0) for s in stats for reason in DUPLICATE_REASONS)
    return {
        "requests": requests, "candidates": candidates, "kept": kept, "wall_seconds": round(wall, 3),
        "acceptance_rate": kept / candidates if candidates else 0.0,
        "duplicate_rate": duplicates / candidates if candidates else 0.0,
        "completion_tokens": sum(s.completion_tokens for s in stats),
        "tokens_per_s": sum(s.completion_tokens for s in stats) / backend_s if backend_s else None,
        "backend_seconds_per_candidate": backend_s / candidates if candidates else 0.0,
        "stage_seconds_per_candidate": stage_s / candidates if candidates else 0.0,
        "stages": [{"stage": s.name, "seen": s.seen, "kept": s.kept,
                    "acceptance": round(s.kept / s.seen, 4) if s.seen else None,
                    "reasons": dict(s.dropped.most_common(3))} for s in stats],
    }


def forecast(pilot: dict[str, Any], target: int, budget: int) -> dict[str, Any]:
    """Candidates needed for ``target`` (with a 95% interval), time, and whether the budget is enough. When
    the gate fails the pilot's window, the run will revoke its first window: one window more is needed
    (later failures, after remediation, cannot be foreseen)."""
    gate = pilot.get("gate") or {}
    revoked = gate["window"] if gate.get("checked") and not gate["passed"] else 0
    shown, target = target, target + revoked
    kept, total = pilot["kept"], pilot["candidates"]
    lo, hi = wilson_interval(kept, total)
    need = math.ceil(target / pilot["acceptance_rate"]) if kept else None
    interval = [math.ceil(target / hi) if hi else None, math.ceil(target / lo) if lo else None]
    per_gen, per_stage = pilot["backend_seconds_per_candidate"], pilot["stage_seconds_per_candidate"]
    probability = budget_enough_probability(kept, total, target, budget)
    verdict = "likely" if probability >= 0.9 else "unlikely" if probability < 0.5 else "uncertain"
    return {
        "target": shown, "revoked_window": revoked, "max_candidates": budget, "acceptance_interval": [round(lo, 4), round(hi, 4)],
        "candidates_needed": need, "candidates_interval": interval,
        "generation_seconds": round(need * per_gen, 1) if need else None,
        "sequential_seconds": round(need * (per_gen + per_stage), 1) if need else None,
        "pipelined_seconds": round(need * max(per_gen, per_stage), 1) if need else None,
        "budget_enough_probability": round(probability, 3), "budget_enough": verdict,
    }


def plan_recipe(loaded: Any, sample: int, backend: Any = None) -> dict[str, Any]:
    """Build the run plan, start its backend, run the pilot and forecast the run."""
    from .api import load_backend
    from .plan import build_run_plan

    plan = build_run_plan(loaded, backend)
    load_backend(plan.backend, plan.context)
    try:
        pilot = run_pilot(plan, sample)
    finally:
        plan.backend.close()
        plan.close()
    return {"recipe_hash": loaded.hash, "sample": sample, "pilot": pilot,
            "forecast": forecast(pilot, plan.limits.target, plan.budget)}


def save_forecast(result: dict[str, Any], run_dir: Path, recipe_hash: str) -> Path:
    """Claim ``run_dir`` for this recipe (as a run would) and write forecast.json into it."""
    from .atomic import write_json_atomic
    from .rundir import RunDir

    RunDir(run_dir).prepare(recipe_hash, can_overwrite=False)  # plan has no --overwrite
    path = Path(run_dir) / FORECAST_FILE
    write_json_atomic(path, result)
    return path


def compare_forecast(run_dir: Path, report: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any] | None:
    """The saved forecast beside the run's outcome, or None when no forecast of this recipe was saved."""
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
            "within_interval": None if needed is None or low is None or high is None else low <= needed <= high,
            "error": None if needed is None or not predicted["candidates_needed"]
            else round(predicted["candidates_needed"] / needed - 1, 3)}


def run_outcome(runner: Any) -> dict[str, Any]:
    """What the run really needed: candidates until the target-th record was kept, and its acceptance."""
    state, limits = runner.state, runner.limits
    outcome: dict[str, Any] = {"candidates": state.candidates, "kept": len(state.kept_rows),
                               "acceptance_rate": round(len(state.kept_rows) / state.candidates, 4)
                               if state.candidates else None}
    target = runner.run_plan.target
    if len(state.kept_rows) >= target:
        index = state.kept_rows[target - 1]["candidate_index"]
        outcome["candidates_to_target"] = (index // runner.per_request + 1) * limits.n
    return outcome
