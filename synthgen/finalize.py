"""Turn a finished (or budget-stopped) runner into the run directory's final artifacts."""

from __future__ import annotations

import time
from typing import Any

from .provenance import normalize_rows, record_as_reject
from .recipe.load import LoadedRecipe
from .report import build_report, render_markdown
from .rundir import RunDir, write_json_atomic
from .verify.structured import json_stage_summary

OVER_TARGET = "over_target"


def split_over_target(kept: list[dict[str, Any]], target: int, chosen: list[int] | None = None
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Keep ``target`` records (the first ones, or the ``chosen`` indices); the rest go to the rejects with
    reason ``over_target`` (never silently dropped)."""
    keep = set(range(min(target, len(kept)))) if chosen is None else set(chosen)
    extra = [record_as_reject(row, "target", OVER_TARGET) for i, row in enumerate(kept) if i not in keep]
    return [row for i, row in enumerate(kept) if i in keep], extra


def choose_diverse(kept: list[dict[str, Any]], target: int, loaded: LoadedRecipe, embedder: Any) -> list[int] | None:
    """With [diversity] selection, the ``target`` records that cover the embedding space best."""
    config = loaded.recipe.diversity
    if config is None or config.selection == "first" or len(kept) <= target:
        return None
    from .diversity.embed import for_comparison
    from .diversity.select import select_diverse

    texts = [row["text"] for row in kept]
    vectors = for_comparison(embedder, texts).encode(texts)
    seed = config.seed if config.seed is not None else loaded.recipe.recipe.seed
    return sorted(int(i) for i in select_diverse(vectors, target, config.selection, seed))


def finalize_run(runner: Any, loaded: LoadedRecipe, run_dir: RunDir, *, wall_start: float,
                 resumed: int, embedder: Any = None) -> dict[str, Any]:
    """Write dataset/, data.parquet, rejected.parquet, report.json and report.md; return the report."""
    state, recipe = runner.state, loaded.recipe
    target = recipe.generation.target
    kept, extra = split_over_target(state.kept_rows, target, choose_diverse(state.kept_rows, target, loaded, embedder))
    for stage in runner.stages:
        stage.finish(kept)
    rejected = normalize_rows(state.rejected_rows + extra)
    run_dir.write_dataset(normalize_rows(kept))
    run_dir.write_rejected(rejected)
    mix = finalize_mix(loaded, run_dir) if recipe.mix is not None else None
    report = build_report(
        name=recipe.recipe.name, recipe_hash=loaded.hash, target=recipe.generation.target,
        budget=recipe.generation.candidate_budget, stop_reason=runner.stop_reason() or "interrupted",
        counters=state.counters(), stages=[s.to_dict() for s in runner.all_stats()], n_kept=len(kept),
        n_rejected=len(rejected), rejected_rows=rejected, wall_seconds=time.perf_counter() - wall_start,
        resumed_batches=resumed)
    if mix is not None:
        report["mix"] = mix
    structured = json_stage_summary(report["stages"], constrained=runner.sampling.json_schema is not None)
    if structured:
        report["structured"] = structured
    if runner.gate is not None:
        report["final_sampling"] = {k: getattr(runner.sampling, k) for k in ("temperature", "top_p")}
        report["gates"] = runner.gate.state.checks
        report["gates_passed"] = not runner.gate_failed and bool(runner.gate.state.checks) and \
            runner.gate.state.checks[-1]["passed"]
        if runner.gate_failed:
            report["status"] = "failed_gate"
            report["gate_failure"] = runner.gate.state.checks[-1]["summary"]
    write_report(run_dir, report, kept, rejected)
    return report


def write_report(run_dir: RunDir, report: dict[str, Any], kept: list[dict[str, Any]],
                 rejected: list[dict[str, Any]]) -> None:
    """report.json, report.md and report.html."""
    from .report import write_html_report

    write_json_atomic(run_dir.path / "report.json", report)
    run_dir.write_text("report.md", render_markdown(report, kept[:5], rejected[:5]))
    write_html_report(run_dir.path, report)


def finalize_mix(loaded: LoadedRecipe, run_dir: RunDir) -> dict[str, Any]:
    """Write ``mix/``: every real row plus synthetic rows up to the cap; returns the mix summary."""
    from .api import run_depth
    from .mix.run import mix_run_dir, mixer_from_config, read_real_rows

    recipe = loaded.recipe
    depth = run_depth(recipe)
    where = f"{loaded.source}:mix"
    sampling = recipe.generation.sampling
    mixer = mixer_from_config(recipe.mix, depth=depth, loop_temperature=sampling.temperature,
                              loop_top_p=sampling.top_p, default_seed=recipe.recipe.seed, where=where)
    real = read_real_rows(recipe.mix, loaded.resolve, where=where)
    return mix_run_dir(run_dir.path, mixer, real).summary()

