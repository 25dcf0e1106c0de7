"""Turn a finished (or budget-stopped) runner into the run directory's final artifacts."""

from __future__ import annotations

import time
from typing import Any

from .provenance import normalize_rows, now_iso
from .recipe.load import LoadedRecipe
from .report import build_report, render_markdown
from .rundir import RunDir, write_json_atomic

OVER_TARGET = "over_target"


def split_over_target(kept: list[dict[str, Any]], target: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Records past the target go to the rejects with reason ``over_target`` (never silently dropped)."""
    extra = [_as_reject(row) for row in kept[target:]]
    return kept[:target], extra


def _as_reject(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "candidate_index": row["candidate_index"], "stage": "target", "reason": OVER_TARGET,
            "score": None, "evidence": None, "text": row["text"], "seed_index": row["seed_index"],
            "prompt_hash": row["prompt_hash"], "n_tokens": row["n_tokens"],
            "finish_reason": row["finish_reason"], "created_at": now_iso()}


def finalize_run(runner: Any, loaded: LoadedRecipe, run_dir: RunDir, *, wall_start: float,
                 resumed: int) -> dict[str, Any]:
    """Write dataset/, data.parquet, rejected.parquet, report.json and report.md; return the report."""
    state, recipe = runner.state, loaded.recipe
    kept, extra = split_over_target(state.kept_rows, recipe.generation.target)
    rejected = normalize_rows(state.rejected_rows + extra)
    run_dir.write_dataset(normalize_rows(kept))
    run_dir.write_rejected(rejected)
    report = build_report(
        name=recipe.recipe.name, recipe_hash=loaded.hash, target=recipe.generation.target,
        budget=recipe.generation.candidate_budget, stop_reason=runner.stop_reason() or "interrupted",
        counters=state.counters(), stages=[s.stats.to_dict() for s in runner.stages], n_kept=len(kept),
        n_rejected=len(rejected), rejected_rows=rejected, wall_seconds=time.perf_counter() - wall_start,
        resumed_batches=resumed)
    write_json_atomic(run_dir.path / "report.json", report)
    run_dir.write_text("report.md", render_markdown(report, kept[:5], rejected[:5]))
    return report


def finalize_mix(loaded: LoadedRecipe, run_dir: RunDir, depth: int) -> dict[str, Any]:
    """Write ``mix/``: every real row plus synthetic rows up to the cap; returns the mix summary."""
    from .mix.run import mix_run_dir, mixer_from_config, read_real_rows

    recipe = loaded.recipe
    where = f"{loaded.source}:mix"
    sampling = recipe.generation.sampling
    mixer = mixer_from_config(recipe.mix, depth=depth, loop_temperature=sampling.temperature,
                              loop_top_p=sampling.top_p, default_seed=recipe.recipe.seed, where=where)
    real = read_real_rows(recipe.mix, loaded.resolve, where=where)
    return mix_run_dir(run_dir.path, mixer, real).summary()
