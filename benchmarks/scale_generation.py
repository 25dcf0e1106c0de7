"""Generation on the Ray executor: how throughput scales with engine replicas, and what Ray costs.

Rows (one function each; a local Ray cluster is started once for all of them):

- replicas: the deterministic test backend behaving like a latency-bound server (each round trip
  answers one block of ``block_size`` requests in ``delay_s``), 2 replicas vs 1, the same recipe run
  end to end through synthgen (target: ≥ 1.8×, and the same dataset ids);
- overhead: the same recipe with no delay, local executor vs Ray executor (one replica): what shipping
  blocks to an actor and verdicts back costs per batch;
- pool vs Ray Data: one batch of requests through the persistent actor pool synthgen keeps vs a fresh
  Ray Data ``map_batches`` pipeline (actor-pool compute, ``concurrency=2``), which builds its actors
  (and so would load its engines) again for every batch.

    .venv/bin/python benchmarks/scale_generation.py [--batches 6] [--delay 0.2]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

SEEDS = {"type": "grid", "axes": {"topic": ["rivers", "bread", "chess", "tides", "owls", "glass", "maps", "bees"],
                                  "persona": ["a child", "a chef", "a nurse", "a pilot"]}}


def recipe_text(batches: int, batch_size: int, delay: float, replicas: int, block: int) -> str:
    target = batches * batch_size
    axes = ", ".join(f"{k} = {json.dumps(v)}" for k, v in SEEDS["axes"].items())
    return f"""
[recipe]
name = "scale-generation"
seed = 1

[seeds]
type = "grid"
axes = {{ {axes} }}

[prompt]
template = "A question about {{topic}} asked by {{persona}}:"

[generation]
target = {target}
max_candidates = {target}
batch_size = {batch_size}
[generation.backend]
type = "scripted"
delay_s = {delay}
[generation.sampling]
max_tokens = 32

[execution]
replicas = {replicas}
block_size = {block}
"""


def timed_run(folder: Path, name: str, text: str, executor: str) -> tuple[float, float, list[str]]:
    """(wall seconds, generation seconds, dataset ids) of one run of ``text``."""
    from synthgen.api import run_recipe

    path = folder / f"{name}.toml"
    path.write_text(text)
    start = time.perf_counter()
    result = run_recipe(path, out=folder / name, overwrite=True, progress=False, executor=executor)
    wall = time.perf_counter() - start
    return wall, result.report.timings.generate_seconds, list(result.dataset["id"])


def row_replicas(folder: Path, batches: int, delay: float) -> str:
    one = timed_run(folder, "one", recipe_text(batches, 32, delay, 1, 8), "ray")
    two = timed_run(folder, "two", recipe_text(batches, 32, delay, 2, 8), "ray")
    speedup = one[1] / two[1]
    same = "same ids" if one[2] == two[2] else "DIFFERENT ids"
    return (f"| generation, latency-bound test backend ({delay:g} s per block of 8), 2 replicas vs 1 | "
            f"{one[1]:.2f} s | {two[1]:.2f} s | {speedup:.2f}x ({same}) | >= 1.8x |")


def row_overhead(folder: Path, batches: int) -> str:
    local = timed_run(folder, "local", recipe_text(batches, 32, 0.0, 1, 32), "local")
    remote = timed_run(folder, "remote", recipe_text(batches, 32, 0.0, 1, 32), "ray")
    per_batch = (remote[1] - local[1]) / batches * 1000
    return (f"| Ray executor overhead, no delay, {batches} batches of 32 (generation s, local vs ray) | "
            f"{local[1]:.3f} s | {remote[1]:.3f} s | +{per_batch:.1f} ms per batch | - |")


def row_pool_vs_ray_data(batch_size: int = 32) -> str:
    import ray

    from synthgen.executors.ray_engines import _ENGINE_ACTOR
    from synthgen.plan import RecipeContext
    from synthgen.prompts import RequestPlan
    from synthgen.recipe.schema import GridSeeds, SamplingConfig, ScriptedBackendConfig
    from synthgen.seeds import load_seeds

    seeds = load_seeds(GridSeeds(type="grid", axes=SEEDS["axes"]), RecipeContext("bench", Path("."), seed=1))
    requests = RequestPlan(seeds, "A question about {topic}:", 1, None).batch(0, batch_size)
    config, sampling = ScriptedBackendConfig(type="scripted"), SamplingConfig()
    pool = [_ENGINE_ACTOR.options(num_cpus=0).remote(config, None, "auto", None) for _ in range(2)]
    ray.get([a.start.remote() for a in pool])
    start = time.perf_counter()
    half = batch_size // 2
    ray.get([pool[0].generate.remote(0, requests[:half], sampling), pool[1].generate.remote(half, requests[half:], sampling)])
    pooled = time.perf_counter() - start
    for actor in pool:
        ray.kill(actor)
    fresh = ray_data_batch(requests, config, sampling)
    return (f"| one batch of {batch_size} through 2 replicas: persistent actor pool vs a new Ray Data "
            f"map_batches pipeline | {pooled * 1000:.0f} ms | {fresh * 1000:.0f} ms | "
            f"{fresh / pooled:.0f}x slower per batch (before any engine load) | - |")


def ray_data_batch(requests: list, config, sampling) -> float:
    """One batch as Ray Data blocks through ``map_batches`` with a class UDF (a fresh actor pool)."""
    import pickle

    import ray

    class Replica:
        def __init__(self):
            from synthgen.backends.testing import ScriptedBackend

            self.backend = ScriptedBackend(config)

        def __call__(self, batch):
            reqs = [pickle.loads(r) for r in batch["request"]]
            out = self.backend.generate(reqs, sampling)
            return {"index": batch["index"], "text": [c[0].text for c in out]}

    items = [{"index": i, "request": pickle.dumps(r)} for i, r in enumerate(requests)]
    start = time.perf_counter()
    ds = ray.data.from_items(items).map_batches(Replica, concurrency=2, batch_size=len(items) // 2, num_cpus=0.5)
    rows = sorted(ds.take_all(), key=lambda row: row["index"])
    assert len(rows) == len(requests)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--delay", type=float, default=0.2, help="Seconds per block round trip.")
    args = parser.parse_args()
    import ray
    import ray.data

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row_replicas(Path(tmp), args.batches, args.delay), row_overhead(Path(tmp), args.batches),
                row_pool_vs_ray_data()]
    ray.shutdown()
    print("\n| row | baseline | ray | result | target |")
    print("|---|---:|---:|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
