"""``run_recipe``: the one entry point behind the CLI, notebooks and tests."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .arguments import check_run_arguments
from .errors import RecipeError, RunDirError, SynthgenError, option, options_spelled_for
from .outpaths import check_out_dir
from .plan import RecipeContext, RunPlan, build_run_plan
from .provenance import RunContext, normalize_rows, now_iso
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
    ``overrides`` (``["generation.target=5"]``) apply to a recipe path and to a LoadedRecipe alike.
    ``backend`` replaces the recipe's [generation.backend] (the records' provenance names it);
    ``close_backend=False`` leaves a passed-in backend's engine running (the evolve loop reuses it).
    ``executor`` ("local" or "ray") and ``address`` (a Ray cluster) override the recipe's [execution];
    ``sequential=True`` turns off read-ahead generation (same dataset, for debugging). Bad arguments are
    an :class:`ArgumentError` before anything is read or written."""
    with options_spelled_for("python"):
        check_run_arguments(recipe, overrides, out, limit, backend)
        loaded = _apply_limit(with_overrides(recipe, overrides), limit)
        return _run_loaded(loaded, out=out, overwrite=overwrite, backend=backend, progress=progress,
                           close_backend=close_backend, executor=executor, address=address, sequential=sequential)


def _run_loaded(loaded: LoadedRecipe, *, out: str | Path | None, overwrite: bool, backend: Any, progress: bool,
                close_backend: bool, executor: str | None, address: str | None, sequential: bool) -> RunResult:
    from .executors import resolve_execution, run_with_executor

    execution = resolve_execution(loaded.recipe, executor, address)
    if execution.executor != "local":
        return run_with_executor(loaded, execution, out=out, overwrite=overwrite, progress=progress,
                                 backend=backend, close_backend=close_backend, sequential=sequential)
    plan = build_run_plan(loaded, backend)
    if backend is not None:
        plan.run_context = provenance_of(backend, plan.run_context, loaded.recipe.generation.backend)
    run_path = resolve_out_dir(loaded, out)
    if out is None:
        check_out_dir(run_path, option=f"{loaded.source}:output.dir" if loaded.recipe.output.dir else "run directory")
    run_dir = RunDir(run_path)
    run_dir.prepare(loaded.hash, overwrite=overwrite, identity=run_identity(loaded))
    return execute(loaded, plan, run_dir, progress, close_backend, sequential)


def with_overrides(recipe: str | Path | LoadedRecipe, overrides: list[str] | tuple[str, ...]) -> LoadedRecipe:
    """Load a recipe path with ``overrides``; a LoadedRecipe gets them on top of its own (validated again,
    recorded after the ones it was loaded with)."""
    if not isinstance(recipe, LoadedRecipe):
        return load_recipe(recipe, list(overrides))
    if not overrides:
        return recipe
    from .recipe.load import recipe_from_dict

    raw = recipe.recipe.model_dump(mode="json", exclude_unset=True)
    again = recipe_from_dict(raw, recipe.source, recipe.base_dir, list(overrides))
    return LoadedRecipe(again.recipe, recipe.source, recipe.base_dir, (*recipe.overrides, *overrides))


def provenance_of(backend: Any, context: RunContext, configured: Any) -> RunContext:
    """The records' ``backend`` and ``model`` columns for a backend passed to run_recipe: from its
    ``describe()``, unless it describes the recipe's own backend (then the recipe's labels stand)."""
    described = backend.describe() or {}
    name = str(described.get("backend") or getattr(backend, "name", None) or type(backend).__name__)
    model = str(described.get("model") or name)
    if name == configured.type and model == getattr(configured, "model", None):
        return context
    return replace(context, backend=name, model=model)


def announce_warnings(warnings: list[str]) -> None:
    """The plan's warnings (what ``synthgen validate`` warns about: a run that cannot pass its first gate
    check, a share measured on few-shot text) on stderr before generation starts, for the user who never
    ran ``validate``; a run that is already finished does not repeat them."""
    import sys

    for warning in warnings:
        print(f"Warning: {warning}.", file=sys.stderr, flush=True)


def execute(loaded: LoadedRecipe, plan: RunPlan, run_dir: RunDir, progress: bool = True,
            close_backend: bool = True, sequential: bool = False) -> RunResult:
    """Run (or resume) ``plan`` in ``run_dir``, then write the dataset, rejects, report and manifest. A run
    that was already finished is a no-op: its artifacts are written again, its measured figures kept."""
    from .finalize import finalize_run
    from .manifest import build_manifest

    started, wall = now_iso(), time.perf_counter()
    runner = Runner(plan, run_dir, progress=progress, prefetch=prefetch_depth(loaded, sequential),
                    force_pipelined=loaded.recipe.generation.pipelined is True)
    resumed = runner.resume()
    if resumed:
        check_resumed_inputs(run_dir, plan)
        check_resumed_backend(run_dir, plan.backend)
    described = run_dir.previous_backend()
    measured, started_before = measured_run(run_dir) if resumed and runner.stop_reason() is not None else (None, None)
    if runner.stop_reason() is None:
        announce_warnings(plan.warnings)
        load_backend(plan.backend, plan.context)
        described = plan.backend.describe()
        run_dir.write_manifest(build_manifest(loaded, plan, status="running", backend=described, started_at=started))
        try:
            runner.run()
        finally:
            if close_backend:
                plan.backend.close()
            plan.close()
    report = finalize_run(runner, plan, run_dir, wall_start=wall, resumed=resumed, measured=measured)
    started = started_before or started
    manifest = build_manifest(loaded, plan, status=report.status, backend=described, started_at=started)
    if report.mix is not None:
        manifest["mix"] = report.mix
    run_dir.write_manifest(manifest)
    if report.mix is not None:
        from .mix.run import check_mix_written

        check_mix_written(report.mix, run_dir.path)
    return RunResult(run_dir.path, report, manifest)


def check_resumed_inputs(run_dir: RunDir, plan: RunPlan) -> None:
    """Checkpoints exist: their inputs (as the run's manifest hashed them) must be the ones read now."""
    from .manifest import check_inputs_unchanged, input_digests

    try:
        recorded = run_dir.read_manifest()
    except SynthgenError:  # a corrupt manifest is rewritten by this run; there is nothing to compare
        return
    check_inputs_unchanged(recorded, input_digests(plan.inputs), plan.context, run_dir.path)


def check_resumed_backend(run_dir: RunDir, backend: Any) -> None:
    """Checkpoints exist: the backend that continues them must be the one that made them (the same
    ``backend`` and ``model`` in its ``describe()`` as the manifest recorded), or the dataset would mix two
    models' records under one provenance."""
    before = run_dir.previous_backend()
    now = backend.describe() or {}
    if not isinstance(before, dict) or not any(_differs(before, now, key) for key in ("backend", "model")):
        return
    raise RunDirError(f"{run_dir.path}: its checkpoints were made by {_backend_label(before)}, and this run's "
                      f"backend is {_backend_label(now)}",
                      hint=f"resume with the backend that made them; or start over with {option('overwrite')}, "
                           f"or in a new folder with {option('out')}")


def _differs(before: dict[str, Any], now: dict[str, Any], key: str) -> bool:
    return before.get(key) is not None and now.get(key) is not None and str(before[key]) != str(now[key])


def _backend_label(described: dict[str, Any]) -> str:
    name, model = described.get("backend", "?"), described.get("model")
    return f"{name} (model {model})" if model is not None else str(name)


def measured_run(run_dir: RunDir) -> tuple[RunReport | None, str | None]:
    """A finished run's folder, re-run: its report (whose measured figures the no-op keeps) and when it
    started; (None, None) when it has no readable report, e.g. it was killed while writing its artifacts."""
    try:
        report, manifest = run_dir.read_report(), run_dir.read_manifest()
    except SynthgenError:
        return None, None
    if report is None:
        return None, None
    return report, (manifest or {}).get("started_at")


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
    """``limit`` (``--limit N``) lowers the target to N (recorded as an override; the budget still covers it)."""
    if limit is None or limit >= loaded.recipe.generation.target:
        return loaded
    limit = int(limit)
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
