"""``run_recipe``: the one entry point behind the CLI, notebooks and tests."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import RecipeError, SynthgenError
from .pipeline import Stage
from .prompts import FewShotPool, RequestPlan, check_template
from .provenance import RunContext, normalize_rows, now_iso
from .recipe.load import LoadedRecipe, load_recipe
from .recipe.schema import Recipe
from .records import canonical_json, content_hash
from .rundir import RunDir, write_json_atomic
from .runner import Limits, Runner
from .seeds import load_seeds
from .seeds.sources import seed_widener
from .tabular import read_rows


@dataclass
class RunResult:
    """What a run produced. ``dataset`` and ``rejected`` load lazily from the run directory."""

    run_dir: Path
    report: dict[str, Any]
    manifest: dict[str, Any]

    @property
    def stop_reason(self) -> str:
        return self.report["stop_reason"]

    @property
    def dataset(self):
        import datasets

        return datasets.load_from_disk(str(self.run_dir / "dataset"))

    @property
    def rejected(self):
        import datasets
        import pyarrow.parquet as pq

        return datasets.Dataset(pq.read_table(self.run_dir / "rejected.parquet"))

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Publish this run to the Hugging Face Hub (see ``synthgen publish``); returns a PublishResult."""
        from .publish import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)


def run_recipe(recipe: str | Path | LoadedRecipe, *, overrides: list[str] | tuple[str, ...] = (),
               out: str | Path | None = None, limit: int | None = None, overwrite: bool = False,
               backend: Any = None, progress: bool = True, close_backend: bool = True) -> RunResult:
    """Generate a recipe's dataset into its run directory, resuming from checkpoints when they exist.
    ``close_backend=False`` leaves a passed-in backend's engine running (the evolve loop reuses it)."""
    loaded = recipe if isinstance(recipe, LoadedRecipe) else load_recipe(recipe, list(overrides))
    loaded = _apply_limit(loaded, limit)
    plan, n_seeds, seeds_hash = validate_recipe(loaded)
    run_dir = RunDir(resolve_out_dir(loaded, out))
    run_dir.prepare(loaded.hash, overwrite=overwrite)
    if backend is None:
        from .backends import build_backend

        backend = build_backend(loaded)
    return _execute(loaded, plan, backend, run_dir, n_seeds, seeds_hash, progress, close_backend)


def _execute(loaded: LoadedRecipe, plan: RequestPlan, backend: Any, run_dir: RunDir, n_seeds: int,
             seeds_hash: str, progress: bool, close_backend: bool = True) -> RunResult:
    from .manifest import build_manifest

    from .gating import build_gate_controller

    recipe = loaded.recipe
    started, wall = now_iso(), time.perf_counter()
    embedder = build_embedder(loaded)
    limits = run_limits(recipe)
    sampling = run_sampling(loaded)
    runner = Runner(plan, backend, build_stages(loaded, backend, embedder), run_dir, run_context(loaded, sampling),
                    limits, sampling, progress=progress, strip=recipe.generation.strip,
                    gate=build_gate_controller(loaded, embedder, limits.target))
    resumed = runner.resume()
    described = _previous_backend(run_dir)
    if runner.stop_reason() is None:
        load_backend(backend, loaded)
        described = backend.describe()
        manifest = build_manifest(loaded, status="running", backend=described, n_seeds=n_seeds,
                                  seeds_hash=seeds_hash, started_at=started)
        write_json_atomic(run_dir.path / "manifest.json", manifest)
        try:
            runner.run()
        finally:
            if close_backend:
                backend.close()
            for stage in runner.stages:
                stage.close()
    from .finalize import finalize_run

    report = finalize_run(runner, loaded, run_dir, wall_start=wall, resumed=resumed, embedder=embedder)
    manifest = build_manifest(loaded, status=report["status"], backend=described, n_seeds=n_seeds,
                              seeds_hash=seeds_hash, started_at=started)
    if "mix" in report:
        manifest["mix"] = report["mix"]
    write_json_atomic(run_dir.path / "manifest.json", manifest)
    return RunResult(run_dir.path, report, manifest)


def load_backend(backend: Any, loaded: LoadedRecipe) -> None:
    """Start the backend; its errors name the recipe table that configured it."""
    try:
        backend.load()
    except RecipeError:
        raise
    except SynthgenError as exc:
        raise type(exc)(f"{loaded.source}:generation.backend: {exc.message}", exc.hint) from None


def _apply_limit(loaded: LoadedRecipe, limit: int | None) -> LoadedRecipe:
    """``--limit N`` lowers the target to N (recorded as an override; the budget still covers it)."""
    if limit is None or limit >= loaded.recipe.generation.target:
        return loaded
    recipe = loaded.recipe
    lowered = recipe.model_copy(update={"generation": recipe.generation.model_copy(update={"target": limit})})
    return LoadedRecipe(lowered, loaded.source, loaded.base_dir, (*loaded.overrides, f"generation.target={limit}"))


def validate_recipe(loaded: LoadedRecipe) -> tuple[RequestPlan, int, str]:
    """Everything that can be checked before a model starts: seeds, template, few-shot pool, mix cap."""
    planned = build_plan(loaded)
    from .verify import VerifyContext, build_verify_stages

    for stage in build_verify_stages(loaded.recipe.verify, VerifyContext(loaded)):
        stage.close()
    if loaded.recipe.mix is not None:
        from .mix.run import mixer_from_config

        sampling = loaded.recipe.generation.sampling
        mixer_from_config(loaded.recipe.mix, depth=run_depth(loaded.recipe), loop_temperature=sampling.temperature,
                          loop_top_p=sampling.top_p, where=f"{loaded.source}:mix")
    return planned


def build_plan(loaded: LoadedRecipe) -> tuple[RequestPlan, int, str]:
    """Seeds, few-shot pool and template checked together; returns the plan, seed count and seed hash."""
    recipe = loaded.recipe
    seeds = load_seeds(loaded)
    pool = load_few_shot(loaded)
    fields = set().union(*(seed.fields for seed in seeds))
    check_template(recipe.prompt.template, fields, pool is not None, f"{loaded.source}:prompt.template")
    plan = RequestPlan(seeds, recipe.prompt.template, recipe.recipe.seed, recipe.generation.sampling.seed, pool,
                       widen=seed_widener(loaded))
    seeds_hash = content_hash(canonical_json([seed.fields for seed in seeds]))
    return plan, len(seeds), seeds_hash


def load_few_shot(loaded: LoadedRecipe) -> FewShotPool | None:
    config = loaded.recipe.prompt.few_shot
    if config is None:
        return None
    where = f"{loaded.source}:prompt.few_shot"
    try:
        rows = read_rows(loaded.resolve(config.path))
    except SynthgenError as exc:
        raise RecipeError(f"{where}.path: {exc.message}", hint=exc.hint) from None
    if not rows:
        raise RecipeError(f"{where}.path: the few-shot file has no rows", hint="add real examples")
    if any(config.field not in row for row in rows):
        raise RecipeError(f"{where}.field: some rows have no {config.field!r} column",
                          hint=f"columns are: {', '.join(sorted(rows[0]))}")
    return FewShotPool(rows, config.k, config.field, config.format, config.separator)


def build_embedder(loaded: LoadedRecipe) -> Any:
    """The [diversity] embedder, built once and shared by semantic dedup, the gate and selection."""
    config = loaded.recipe.diversity
    if config is None:
        return None
    from .diversity.build import embedder_from_config, reference_texts
    from .diversity.embed import prepare

    seed = config.seed if config.seed is not None else loaded.recipe.recipe.seed
    embedder = embedder_from_config(config, loaded.resolve, seed)
    return prepare(embedder, reference_texts(config, loaded.resolve)) if config.embedder == "tfidf" else embedder


def build_stages(loaded: LoadedRecipe, backend: Any = None, embedder: Any = None) -> list[Stage]:
    """The run's stages in order: verifiers first (cheap to costly), then deduplication, then semantic
    near-duplicates (which remember what they kept, so they come last)."""
    from .verify import VerifyContext, build_verify_stages

    recipe = loaded.recipe
    stages = build_verify_stages(recipe.verify, VerifyContext(loaded, backend))
    if recipe.dedup is not None:
        from .dedup import build_dedup_stages

        stages += build_dedup_stages(recipe.dedup, loaded)
    if recipe.diversity is not None:
        from .diversity.build import build_diversity_stages

        stages += build_diversity_stages(recipe.diversity, loaded, embedder)
    return stages


def run_sampling(loaded: LoadedRecipe) -> Any:
    """The recipe's sampling, constrained to a json verifier's schema when it asks for constrained decoding."""
    from .verify import VerifyContext, decoding_schema

    sampling = loaded.recipe.generation.sampling
    schema = decoding_schema(loaded.recipe.verify, VerifyContext(loaded))
    return sampling if schema is None else sampling.model_copy(update={"json_schema": schema})


def run_context(loaded: LoadedRecipe, sampling: Any) -> RunContext:
    recipe = loaded.recipe
    sampling = sampling.model_dump(mode="json", exclude_none=True)
    return RunContext(generation=recipe.recipe.generation, depth=run_depth(recipe),
                      recipe_hash=loaded.hash, model=model_label(recipe), backend=recipe.generation.backend.type,
                      sampling=sampling)


def run_depth(recipe: Recipe) -> int:
    """Depth from human data of the model that generated this run (1 unless the recipe says otherwise)."""
    return recipe.recipe.depth or 1


SELECTION_POOL = 1.5


def run_limits(recipe: Recipe) -> Limits:
    """The runner's limits; with diverse selection it collects 1.5× the target to choose from."""
    gen = recipe.generation
    target = gen.target
    if recipe.diversity is not None and recipe.diversity.selection != "first":
        target = min(math.ceil(gen.target * SELECTION_POOL), gen.candidate_budget)
    return Limits(target=target, budget=gen.candidate_budget, batch_size=gen.batch_size, n=gen.sampling.n)


def model_label(recipe: Recipe) -> str:
    """The model name recorded on every row."""
    config = recipe.generation.backend
    if config.type == "vllm":
        return "gemma3-270m" if config.model in ("embedded", "gemma3-270m") else config.model
    if config.type == "openai":
        return config.model
    if config.type == "replay":
        return f"replay:{Path(config.path).name}"
    return "scripted"


def resolve_out_dir(loaded: LoadedRecipe, out: str | Path | None) -> Path:
    if out is not None:
        return Path(out)
    configured = loaded.recipe.output.dir
    return loaded.resolve(configured) if configured else loaded.base_dir / "runs" / loaded.recipe.recipe.name


def _previous_backend(run_dir: RunDir) -> dict[str, Any] | None:
    path = run_dir.path / "manifest.json"
    try:
        return json.loads(path.read_text())["backend"] if path.is_file() else None
    except (ValueError, KeyError):
        return None


__all__ = ["RunResult", "run_recipe", "normalize_rows"]
