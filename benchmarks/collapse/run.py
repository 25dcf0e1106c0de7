"""The collapse benchmark's command line: plan the tasks, run them on ≤ 2 processes, write the report.

    python -m benchmarks.collapse --quick            # pydoc topics, 1 seed, < 2 minutes
    python -m benchmarks.collapse --full             # fortunes, 3 seeds, < 15 minutes; writes docs/collapse.md

Exit status: 0 when the run finished (the PASS/FAIL table is the result; ``--strict`` exits 3 on a FAIL,
like a failed synthgen quality gate), 2 when the full run's corpus is missing (the message says how to
install it) or the arguments are wrong.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import gaussian, mixture
from .regimes import REGIMES

TEMPERATURES = (1.0, 0.7)


@dataclass(frozen=True)
class Plan:
    mode: str
    corpus: str
    seeds: int = 3
    generations: int = 10
    b_seeds: int = 10
    b_generations: int = 50
    gate_sample: int = 1000
    regimes: tuple[str, ...] = REGIMES
    temperatures: tuple[float, ...] = TEMPERATURES
    modules: tuple[str, ...] = ("A", "B", "C")
    jobs: int = 2
    fortunes_dir: str | None = None
    corpus_sizes: tuple[int | None, int | None, int | None] = (None, None, None)  # train, test, budget
    a_scale: tuple[int | None, int | None] = (None, None)                        # generations, seeds


QUICK = Plan("quick", "pydoc", seeds=1, b_seeds=3)
FULL = Plan("full", "fortunes")


@dataclass
class Timings:
    tasks: dict[str, float] = field(default_factory=dict)
    setup: float = 0.0
    total: float = 0.0


_STATE: dict[str, Any] = {}  # corpus, contexts and workdir; set before the pool forks


def prepare(plan: Plan, workdir: Path) -> None:
    """Load the corpus and build each seed's measurement context (inherited by forked workers)."""
    if "C" not in plan.modules:
        return
    from .bigram import fit
    from .corpus import load_corpus
    from .measures import build_context, fit_embedder, real_reference

    n_train, n_test, budget = plan.corpus_sizes
    corpus = load_corpus(plan.corpus, Path(plan.fortunes_dir) if plan.fortunes_dir else None, n_train, n_test, budget)
    embedder, gen0 = fit_embedder(corpus), fit(corpus.train, corpus.size)
    contexts = {seed: build_context(corpus, gen0, embedder, seed) for seed in range(plan.seeds)}
    _STATE.update(corpus=corpus, contexts=contexts, workdir=workdir, reference=real_reference(contexts[0]))


def tasks(plan: Plan) -> list[tuple]:
    """Every unit of work, longest first (gated, then the other C runs, then B, then A)."""
    out: list[tuple] = []
    if "C" in plan.modules:
        out += [("C", r, t, s) for r in sorted(plan.regimes, key=lambda r: r != "gated")
                for t in sorted(plan.temperatures) for s in range(plan.seeds)]
        out += [("R", s) for s in range(plan.seeds)]
    if "B" in plan.modules:
        out += [("B", r, plan.b_generations, plan.b_seeds) for r in mixture.REGIMES]
    if "A" in plan.modules:
        out += [("A", r) + plan.a_scale for r in gaussian.PLAN]
    return out


def run_task(task: tuple, plan: Plan) -> tuple[tuple, list[dict[str, Any]], float]:
    start = time.perf_counter()
    _limit_threads()
    if task[0] == "R":
        from .fidelity import real_vs_real

        rows = real_vs_real(_STATE["contexts"][task[1]], task[1])
    elif task[0] == "A":
        rows = gaussian.run(task[1], task[2], task[3])
    elif task[0] == "B":
        rows = [row for seed in range(task[3]) for row in mixture.run(task[1], seed, task[2])]
    else:
        from .regimes import run_bigram

        _, regime, temperature, seed = task
        options = {"gate_sample": plan.gate_sample} if regime == "gated" else {}
        rows = run_bigram(_STATE["corpus"], regime, temperature, seed, plan.generations,
                          _STATE["contexts"][seed], _STATE["workdir"], fidelity_sample=plan.gate_sample, **options)
    return task, rows, time.perf_counter() - start


def _limit_threads() -> None:
    """One BLAS thread per process: two workers on two cores, no oversubscription."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - scikit-learn installs it
        pass


def _star(args: tuple) -> tuple:
    return run_task(*args)


def execute(plan: Plan, todo: list[tuple], timings: Timings, log=print) -> list[dict[str, Any]]:
    """Run the tasks (in a fork pool when ``plan.jobs`` > 1); rows of every task, in task order."""
    results: dict[tuple, list] = {}
    if plan.jobs > 1 and len(todo) > 1:
        with multiprocessing.get_context("fork").Pool(min(plan.jobs, 2)) as pool:
            for task, rows, seconds in pool.imap_unordered(_star, [(t, plan) for t in todo]):
                results[task] = rows
                timings.tasks[task_name(task)] = seconds
                log(f"  {task_name(task):<40} {seconds:7.1f} s")
    else:
        for task in todo:
            _, rows, seconds = run_task(task, plan)
            results[task] = rows
            timings.tasks[task_name(task)] = seconds
            log(f"  {task_name(task):<40} {seconds:7.1f} s")
    return [row for task in todo for row in results[task]]


def task_name(task: tuple) -> str:
    if task[0] == "C":
        return f"C {task[1]} T={task[2]:g} seed={task[3]}"
    if task[0] == "R":
        return f"R real-vs-real fidelity seed={task[1]}"
    return f"{task[0]} {task[1]}"


def benchmark(plan: Plan, out: Path, docs: Path | None, log=print) -> dict[str, Any]:
    """Run ``plan``; write results.jsonl and summary.json under ``out`` (and the report under ``docs``)."""
    from . import report

    timings, start = Timings(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="collapse-") as workdir:
        prepare(plan, Path(workdir))
        out.mkdir(parents=True, exist_ok=True)
        timings.setup = time.perf_counter() - start
        todo = tasks(plan)
        log(f"collapse benchmark ({plan.mode}): {len(todo)} tasks on {min(plan.jobs, 2)} process(es)")
        rows = execute(plan, todo, timings, log)
    timings.total = time.perf_counter() - start
    summary = report.summarize(rows, asdict(plan), asdict(timings), _STATE.get("reference"), _STATE.get("contexts"))
    report.write_results(rows, summary, out)
    log(report.checks_table(summary["checks"]))
    if docs is not None:
        path = report.write_markdown(summary, rows, docs)
        log(f"report: {path}")
    log(f"results: {out / 'results.jsonl'}  ({len(rows)} rows, {timings.total:.0f} s)")
    return summary


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.collapse", description=__doc__.split("\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="pydoc corpus, 1 seed (< 2 minutes)")
    mode.add_argument("--full", action="store_true", help="fortunes corpus, 3 seeds (< 15 minutes)")
    p.add_argument("--out", type=Path, help="results folder (default runs/collapse-<mode>)")
    p.add_argument("--docs", type=Path, help="where collapse.md and its plots go (default: docs/ for --full, "
                                              "the --out folder for --quick)")
    p.add_argument("--seeds", type=int, help="seeds of module C (default 3 full, 1 quick); module B runs 10 / 3 "
                                              "seeds, module A 100 (20 for accumulate) as in the design")
    p.add_argument("--generations", type=int, help="generations of module C (default 10)")
    p.add_argument("--jobs", type=int, choices=(1, 2), default=2, help="worker processes (default 2)")
    p.add_argument("--modules", default="A,B,C", help="subset of A,B,C (default all)")
    p.add_argument("--fortunes-dir", help="folder of fortune files (default /usr/share/games/fortunes)")
    p.add_argument("--strict", action="store_true", help="exit 3 when a prediction check fails")
    return p.parse_args(argv)


def plan_of(args: argparse.Namespace) -> Plan:
    plan = FULL if args.full else QUICK
    modules = tuple(m.strip().upper() for m in args.modules.split(",") if m.strip())
    if not modules or set(modules) - {"A", "B", "C"}:
        raise SystemExit(f"--modules: use a subset of A,B,C, got {args.modules!r}")
    return replace(plan, seeds=args.seeds or plan.seeds, generations=args.generations or plan.generations,
                   jobs=args.jobs, modules=modules, fortunes_dir=args.fortunes_dir)


def main(argv: list[str] | None = None) -> int:
    from .corpus import CorpusMissing

    args = parse(argv)
    plan = plan_of(args)
    out = args.out or Path("runs") / f"collapse-{plan.mode}"
    docs = args.docs or (Path("docs") if args.full else out)
    try:
        summary = benchmark(plan, out, docs)
    except CorpusMissing as exc:
        print(f"Error: {exc}\nhint: {exc.hint}", file=sys.stderr)
        return 2
    failed = [c for c in summary["checks"] if c["result"] == "FAIL"]
    return 3 if args.strict and failed else 0
