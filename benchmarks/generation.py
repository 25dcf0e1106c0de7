"""Generation throughput: raw ``vllm.LLM.generate`` against synthgen's whole pipeline, in one run.

Both paths share one engine (loaded once) and the same prompts, per-request seeds and sampling, so the
only difference is synthgen's work around the engine: planning requests, steps, verifiers, checkpoints
and writing the run directory (all included in synthgen's time).

- one step: a [prompt] recipe (target: synthgen ≥ 0.95× raw tokens/s);
- two steps: instruction → response, each step one batched call (target: ≥ 0.9× raw on the same total
  prompts: raw generates the instructions, then the responses to them, in two calls).

    .venv/bin/python benchmarks/generation.py [--prompts 48] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

BACKEND = {"type": "vllm", "model": "embedded", "max_model_len": 1024, "enforce_eager": True}
SEEDS = {"type": "grid", "axes": {"topic": ["rivers", "bread", "chess", "tides", "owls", "glass", "maps", "bees"],
                                  "persona": ["a child", "a chef", "a nurse", "a pilot", "a farmer", "a poet"]}}


def recipe(prompts: int, max_tokens: int, two_steps: bool) -> dict:
    sampling = {"temperature": 0.9, "top_p": 0.95, "max_tokens": max_tokens, "seed": 1}
    raw = {"recipe": {"name": "bench", "seed": 1}, "seeds": SEEDS,
           "generation": {"target": prompts, "max_candidates": prompts, "batch_size": prompts, "backend": BACKEND,
                          "sampling": sampling}}
    if not two_steps:
        return {**raw, "prompt": {"template": "A question about {topic} asked by {persona}:"}}
    return {**raw, "steps": [
        {"type": "generate", "name": "instruction", "template": "A question about {topic} asked by {persona}:"},
        {"type": "generate", "name": "response", "template": "Question: {instruction}\nAnswer:"}]}


def raw_generate(engine, prompts: list[str], seeds: list[int], sampling) -> tuple[list[str], int, float]:
    import vllm

    params = [vllm.SamplingParams(n=1, temperature=sampling.temperature, top_p=sampling.top_p,
                                  max_tokens=sampling.max_tokens, seed=seed) for seed in seeds]
    start = time.perf_counter()
    outputs = engine.generate(prompts, params, use_tqdm=False)
    seconds = time.perf_counter() - start
    return [o.outputs[0].text.strip() for o in outputs], sum(len(o.outputs[0].token_ids) for o in outputs), seconds


def raw_path(plan, engine, two_steps: bool) -> tuple[int, float]:
    """Raw vLLM over the same prompts synthgen renders: step 1, then (two steps) the responses to it."""
    from synthgen.records import Candidate
    from synthgen.steps.base import render

    requests = plan.seeds.requests.batch(0, plan.limits.batch_size)
    first = plan.pipeline[0]
    records = [Candidate(r, 0, "", 0, index=r.index) for r in requests]
    prompts = [render(first.config.template, record) for record in records]
    texts, tokens, seconds = raw_generate(engine, prompts, [r.sampling_seed for r in requests], plan.sampling)
    if two_steps:
        second = plan.pipeline[1].config.template
        prompts = [second.format(instruction=text) for text in texts]
        _, more, extra = raw_generate(engine, prompts, [r.sampling_seed + 1 for r in requests], plan.sampling)
        tokens, seconds = tokens + more, seconds + extra
    return tokens, seconds


def synthgen_path(loaded, backend, out: Path) -> tuple[int, float]:
    from synthgen.api import run_recipe

    start = time.perf_counter()
    result = run_recipe(loaded, out=out, backend=backend, progress=False, overwrite=True, close_backend=False)
    return result.report.throughput.completion_tokens, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    from synthgen.plan import build_run_plan
    from synthgen.recipe import recipe_from_dict

    backend, rows = None, []
    for name, two, target in (("one step", False, 0.95), ("two steps", True, 0.9)):
        loaded = recipe_from_dict(recipe(args.prompts, args.max_tokens, two), source="bench")
        plan = build_run_plan(loaded, backend)
        if backend is None:
            backend, start = plan.backend, time.perf_counter()
            backend.load()
            load_s = time.perf_counter() - start
            backend.generate(plan.seeds.requests.batch(0, 4), plan.sampling)  # warm-up
        raw_tokens, raw_s = raw_path(plan, backend.engine, two)
        with tempfile.TemporaryDirectory() as tmp:
            syn_tokens, syn_s = synthgen_path(loaded, backend, Path(tmp) / "run")
        rows.append((name, raw_tokens, raw_s, syn_tokens, syn_s, target))
    backend.close()
    print(f"\nengine load: {load_s:.1f} s; {args.prompts} prompts per step, max_tokens={args.max_tokens}\n")
    print("| recipe | raw tokens | raw s | raw tok/s | synthgen tokens | synthgen s | synthgen tok/s | ratio | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, rt, rs, st, ss, target in rows:
        ratio = (st / ss) / (rt / rs)
        verdict = "PASS" if ratio >= target else "FAIL"
        print(f"| {name} | {rt} | {rs:.2f} | {rt / rs:.1f} | {st} | {ss:.2f} | {st / ss:.1f} | {ratio:.2f}x | "
              f"≥ {target}x {verdict} |")


if __name__ == "__main__":
    main()
