"""Generation throughput: raw ``vllm.LLM.generate`` against synthgen's whole pipeline, in one run.

Both paths share one engine (loaded once) and the same prompts, per-request seeds and sampling, so the
only difference is synthgen's work around the engine: planning requests, verifiers, checkpoints and
writing the run directory (all included in synthgen's time). Target: synthgen ≥ 0.95× raw tokens/s.

    .venv/bin/python benchmarks/generation.py [--prompts 48] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

EXTRA: list[str] = []
RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.toml"


def overrides(prompts: int, max_tokens: int) -> list[str]:
    return [f"generation.target={prompts}", f"generation.max_candidates={prompts}",
            f"generation.batch_size={prompts}", f"generation.sampling.max_tokens={max_tokens}",
            "generation.sampling.stop=[]", "seeds.sample=48", *EXTRA]


def raw_vllm(backend, requests, sampling) -> tuple[int, float]:
    """Tokens and seconds of one ``LLM.generate`` call over all prompts, with synthgen's seeds."""
    import vllm

    params = [vllm.SamplingParams(n=1, temperature=sampling.temperature, top_p=sampling.top_p,
                                  max_tokens=sampling.max_tokens, seed=r.sampling_seed) for r in requests]
    start = time.perf_counter()
    outputs = backend.engine.generate([r.prompt for r in requests], params, use_tqdm=False)
    seconds = time.perf_counter() - start
    return sum(len(o.outputs[0].token_ids) for o in outputs), seconds


def synthgen_pipeline(loaded, backend, out: Path) -> tuple[int, float]:
    from synthgen.api import run_recipe

    start = time.perf_counter()
    result = run_recipe(loaded, out=out, backend=backend, progress=False, overwrite=True)
    seconds = time.perf_counter() - start
    return result.report["throughput"]["completion_tokens"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=48)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra recipe override")
    args = parser.parse_args()
    EXTRA.extend(args.extra)

    from synthgen.api import build_plan
    from synthgen.backends import build_backend
    from synthgen.recipe import load_recipe

    loaded = load_recipe(RECIPE, overrides(args.prompts, args.max_tokens))
    plan, _, _ = build_plan(loaded)
    requests = plan.batch(0, args.prompts)
    sampling = loaded.recipe.generation.sampling
    backend = build_backend(loaded)
    start = time.perf_counter()
    backend.load()
    load_s = time.perf_counter() - start
    backend.generate(requests[:4], sampling)  # warm-up
    raw_tokens, raw_s = raw_vllm(backend, requests, sampling)
    with tempfile.TemporaryDirectory() as tmp:
        syn_tokens, syn_s = synthgen_pipeline(loaded, backend, Path(tmp) / "run")
    raw_rate, syn_rate = raw_tokens / raw_s, syn_tokens / syn_s
    print(f"\nengine load: {load_s:.1f} s; {args.prompts} prompts, max_tokens={args.max_tokens}\n")
    print("| path | tokens | seconds | tokens/s | vs raw |")
    print("|---|---:|---:|---:|---:|")
    print(f"| raw vllm.LLM.generate | {raw_tokens} | {raw_s:.2f} | {raw_rate:.1f} | 1.00x |")
    print(f"| synthgen run_recipe (whole pipeline) | {syn_tokens} | {syn_s:.2f} | {syn_rate:.1f} | "
          f"{syn_rate / raw_rate:.2f}x |")
    verdict = "PASS" if syn_rate >= 0.95 * raw_rate else "FAIL"
    print(f"\ntarget synthgen >= 0.95x raw: {verdict}")


if __name__ == "__main__":
    main()
