"""The Ray executor: the local run loop on the driver, each batch's work on a Ray cluster.

What stays on the driver is what needs the whole run: the runner's batch loop, its checkpoints (the run
directory's shards, in the same layout as a local run), dedup and semantic dedup (they remember every
kept record) and the diversity gate (it measures whole windows). What scales with the cluster is the
per-record work: generation on a pool of engine replicas (:mod:`.ray_engines`) and the stateless
verifiers on CPU workers (:mod:`.ray_verify`). Because each part returns exactly what its local version
would, in the same order, the dataset ids and the rejects are the local executor's.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import SynthgenError

log = logging.getLogger(__name__)


def run_on_ray(loaded: Any, execution: Any, *, out: Any = None, overwrite: bool = False, progress: bool = True,
               backend: Any = None, close_backend: bool = True, sequential: bool = False) -> Any:
    """Build the plan with engine replicas as its backend, join the cluster, run, leave the cluster.
    ``sequential`` turns off read-ahead generation, as for a local run."""
    from ..api import execute, resolve_out_dir
    from ..rundir import RunDir, run_identity
    from .ray_cluster import connect

    if backend is not None:
        raise SynthgenError("the Ray executor builds its engines from the recipe's [generation.backend]",
                            hint="drop the backend argument, or run with executor='local'")
    connection = connect(execution.address)
    try:
        plan = cluster_plan(loaded, execution)
        run_dir = RunDir(resolve_out_dir(loaded, out))
        run_dir.prepare(loaded.hash, overwrite=overwrite, identity=run_identity(loaded))
        return execute(loaded, plan, run_dir, progress, close_backend, sequential)
    finally:
        connection.close()


def cluster_plan(loaded: Any, execution: Any) -> Any:
    """The run plan with its generation on replica pools and its verifiers on Ray tasks, once the cluster
    is known to hold them all (the replicas' GPUs and CPUs, and a free CPU for the verifier tasks)."""
    from ..plan import RecipeContext, build_run_plan, check_replay_file
    from .ray_cluster import check_resources
    from .ray_verify import VERIFY_TASK_CPUS

    context = RecipeContext.from_loaded(loaded)
    check_replay_file(loaded.recipe.generation.backend, context)  # the local plan checks it as it builds its backend
    check_resources(execution, context.where("execution"))  # before the plan: the GPUs, for the common case
    plan = build_run_plan(loaded, engine_backend(loaded.recipe, context, execution))
    try:
        pools, moved = distribute(plan, execution)
        check_resources(execution, context.where("execution"), pools, VERIFY_TASK_CPUS if moved else 0.0)
    except BaseException:
        plan.close()
        raise
    return plan


def engine_backend(recipe: Any, context: Any, execution: Any) -> Any:
    """The run's main backend as a pool of replicas (built, not started: ``execute`` loads it)."""
    from .ray_engines import RayEngineBackend

    prompt = recipe.prompt
    mode, system = (prompt.mode, prompt.system) if prompt is not None else ("auto", None)
    return RayEngineBackend(recipe.generation.backend, context, execution, mode=mode, system=system)


def distribute(plan: Any, execution: Any) -> tuple[int, list[str]]:
    """Steps with their own backend table get their own replica pool; stateless verifiers become tasks.
    Returns the number of replica pools and the names of the verifiers moved to Ray tasks."""
    from dataclasses import replace

    from .ray_engines import RayEngineBackend
    from .ray_verify import distribute_verifiers

    pools = 1
    for stage in plan.pipeline:
        runtime = getattr(stage, "runtime", None)
        if runtime is not None and runtime.owns_backend:
            own = RayEngineBackend(stage.config.backend, plan.context, execution)
            stage.runtime = replace(runtime, backend=own)
            pools += 1
    moved = distribute_verifiers(plan.pipeline, execution.verify_block_size)
    log.info("Ray executor: %d replica(s); verifiers on workers: %s", execution.replicas, ", ".join(moved) or "none")
    return pools, moved
