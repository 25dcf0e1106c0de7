"""``run_recipe``: the one entry point behind the CLI, notebooks and tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RecipeError, SynthgenError
from .plan import RecipeContext, RunPlan, build_run_plan
from .provenance import normalize_rows, now_iso
from .recipe.load import LoadedRecipe, load_recipe
from .report.model import RunReport
from .rundir import RunDir, run_identity
from .runner import Runner


@dataclass
class RunResult:
    """What a run produced. ``dataset`` and ``rejected`` load lazily from the run directory."""

    run_dir: Path
    report: RunReport
    manifest: dict[str, Any]

    @property
    def stop_reason(self) -> str:
        return self.report.stop_reason

    @property
    def dataset(self):
        import datasets

        return datasets.load_from_disk(str(RunDir(self.run_dir).dataset_dir))

    @property
    def rejected(self):
        import datasets
        import pyarrow.parquet as pq

        return datasets.Dataset(pq.read_table(RunDir(self.run_dir).rejected_path))

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Publish this run to the Hugging Face Hub (see ``synthgen publish``); returns a PublishResult."""
        from .publish import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)


def run_recipe(recipe: str | Path | LoadedRecipe, *, overrides: list[str] | tuple[str, ...] = (),
               out: str | Path | None = None, limit: int | None = None, overwrite: bool = False,
               backend: Any = None, progress: bool = True, close_backend: bool = True,
               executor: str | None = None, address: str | None = None, sequential: bool = False) -> RunResult:
    """Generate a recipe's dataset into its run directory, resuming from checkpoints when they exist.
    ``close_backend=False`` leaves a passed-in backend's engine running (the evolve loop reuses it).
    ``executor`` ("local" or "ray") and ``address`` (a Ray cluster) override the recipe's [execution];
    ``sequential=True`` turns off read-ahead generation (same dataset, for debugging)."""
    from .executors import resolve_execution, run_with_executor

    loaded = recipe if isinstance(recipe, LoadedRecipe) else load_recipe(recipe, list(overrides))
    loaded = _apply_limit(loaded, limit)
    execution = resolve_execution(loaded.recipe, executor, address)
    if execution.executor != "local":
        return run_with_executor(loaded, execution, out=out, overwrite=overwrite, progress=progress,
                                 backend=backend, close_backend=close_backend)
    plan = build_run_plan(loaded, backend)
    run_dir = RunDir(resolve_out_dir(loaded, out))
    run_dir.prepare(loaded.hash, overwrite=overwrite, identity=run_identity(loaded))
    return execute(loaded, plan, run_dir, progress, close_backend, sequential)


def execute(loaded: LoadedRecipe, plan: RunPlan, run_dir: RunDir, progress: bool = True,
            close_backend: bool = True, sequential: bool = False) -> RunResult:
    """Run (or resume) ``plan`` in ``run_dir``, then write the dataset, rejects, report and manifest."""
    from .finalize import finalize_run
    from .manifest import build_manifest

    started, wall = now_iso(), time.perf_counter()
    runner = Runner(plan, run_dir, progress=progress, prefetch=prefetch_depth(loaded, sequential),
                    force_pipelined=loaded.recipe.generation.pipelined is True)
    resumed = runner.resume()
    if resumed:
        check_resumed_inputs(run_dir, plan)
    described = run_dir.previous_backend()
    if runner.stop_reason() is None:
        load_backend(plan.backend, plan.context)
        described = plan.backend.describe()
        run_dir.write_manifest(build_manifest(loaded, plan, status="running", backend=described, started_at=started))
        try:
            runner.run()
        finally:
            if close_backend:
                plan.backend.close()
            plan.close()
    report = finalize_run(runner, plan, run_dir, wall_start=wall, resumed=resumed)
    manifest = build_manifest(loaded, plan, status=report.status, backend=described, started_at=started)
    if report.mix is not None:
        manifest["mix"] = report.mix
    run_dir.write_manifest(manifest)
    return RunResult(run_dir.path, report, manifest)


def check_resumed_inputs(run_dir: RunDir, plan: RunPlan) -> None:
    """Checkpoints exist: their inputs (as the run's manifest hashed them) must be the ones read now."""
    from .manifest import check_inputs_unchanged, input_digests

    try:
        recorded = run_dir.read_manifest()
    except SynthgenError:  # a corrupt manifest is rewritten by this run; there is nothing to compare
        return
    check_inputs_unchanged(recorded, input_digests(plan.inputs), plan.context, run_dir.path)


def prefetch_depth(loaded: LoadedRecipe, sequential: bool = False) -> int:
    """Batches the backend generates ahead: [generation] prefetch (default 1), 0 when sequential."""
    gen = loaded.recipe.generation
    if sequential or gen.pipelined is False:
        return 0
    return gen.prefetch or 1


def load_backend(backend: Any, context: RecipeContext) -> None:
    """Start the backend; its errors name the recipe table that configured it."""
    try:
        backend.load()
    except RecipeError:
        raise
    except SynthgenError as exc:
        raise type(exc)(f"{context.where('generation.backend')}: {exc.message}", exc.hint) from None


def _apply_limit(loaded: LoadedRecipe, limit: int | None) -> LoadedRecipe:
    """``--limit N`` lowers the target to N (recorded as an override; the budget still covers it)."""
    if limit is None or limit >= loaded.recipe.generation.target:
        return loaded
    recipe = loaded.recipe
    lowered = recipe.model_copy(update={"generation": recipe.generation.model_copy(update={"target": limit})})
    return LoadedRecipe(lowered, loaded.source, loaded.base_dir, (*loaded.overrides, f"generation.target={limit}"))


def validate_recipe(loaded: LoadedRecipe) -> RunPlan:
    """Everything that can be checked before a model starts: the whole run plan is built (seeds, steps,
    templates, columns, verifiers, dedup, gate, mix), then its stages are closed."""
    plan = build_run_plan(loaded)
    plan.close()
    return plan


def resolve_out_dir(loaded: LoadedRecipe, out: str | Path | None) -> Path:
    if out is not None:
        return Path(out)
    configured = loaded.recipe.output.dir
    return loaded.resolve(configured) if configured else loaded.base_dir / "runs" / loaded.recipe.recipe.name


__all__ = ["RunResult", "run_recipe", "normalize_rows"]
