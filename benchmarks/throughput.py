"""Throughput table (issue 14): one function per row, ``main`` prints them.

Rows here:
  (c) ``synthgen dedup`` on 1,000,000 ~50-word documents (jsonl → parquet), as a child process: wall
      time, CPU time and peak RSS of the whole process tree (driver + workers, sampled every 50 ms), with
      ``--workers 1`` and with all cores, ``--repeat`` times each, interleaved (the best wall counts; every
      wall is printed). Timed runs are not sampled (polling the tree costs CPU the 2-worker run needs);
      one more sampled run per setting gives the peak RSS. Targets: all cores ≥ 1.7× faster, peak RSS < 2 GiB.
  (d) signatures/s of synthgen's ``MinHasher.signatures`` (raw text in: normalize, tokenize, hash, sign)
      against datasketch's ``MinHash.update_batch`` with shared permutations (shingles in), one core, CPU
      time. Target ≥ 3×.
Rows (a) and (b) (the pipelined runner) are ``benchmarks/throughput_pipeline.py``'s.

Corpus: ``benchmarks/dedup.py``'s generator (pydoc text chunks, a word-bigram model of it, 10% planted
near-duplicates with 0–30% word edits). Other agents may share the CPU: the load average before and after
each measurement is printed with it.

    .venv/bin/python benchmarks/throughput.py [--docs 1000000] [--rows c,d]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup import Clock, batch_datasketch, build_corpus  # noqa: E402

Row = tuple[str, str, str]  # (row, measure, value)


@dataclass
class ChildRun:
    wall: float
    cpu: float
    peak_rss_mib: float
    driver_cpu: float  # the child's own CPU seconds (its workers excluded): the serial part
    load_before: float
    load_after: float
    stdout: str


def load() -> float:
    return os.getloadavg()[0]


def own_cpu(pid: int) -> float:
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return times.user + times.system


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_child(command: list[str], sample: bool = True) -> ChildRun:
    """Run ``command``; CPU time from ``RUSAGE_CHILDREN``. ``sample``: poll the process tree's RSS and the
    driver's CPU every 50 ms (the polling costs CPU the command may need: time runs without it)."""
    import resource

    before, cpu0 = load(), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    peak, driver = [0], [0.0]

    def poll() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            driver[0] = max(driver[0], own_cpu(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=poll, daemon=True)
    if sample:
        sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    if sample:
        sampler.join()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise RuntimeError(f"{command} failed:\n{out}")
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return ChildRun(wall, cpu, peak[0] / 2**20, driver[0], before, load(), out)


def write_corpus(docs: int, folder: Path) -> Path:
    corpus, _ = build_corpus(docs)
    path = folder / "corpus.jsonl"
    with path.open("w") as handle:
        for i, text in enumerate(corpus):
            handle.write(json.dumps({"id": str(i), "text": text}) + "\n")
    return path


def dedup_child(source: Path, out: Path, workers: int, sample: bool = True) -> ChildRun:
    return run_child([sys.executable, "-m", "synthgen", "dedup", str(source), "--out", str(out),
                      "--workers", str(workers), "--overwrite"], sample)  # rounds reuse their folder


def row_c(args, folder: Path) -> list[Row]:
    """(c) ``synthgen dedup`` on ``--docs`` documents, one worker vs all cores."""
    from synthgen.dedup.sketch import default_workers

    source = write_corpus(args.docs, folder)
    cores = default_workers()
    tries = {w: [] for w in (1, cores)}
    for _ in range(args.repeat):  # interleaved, so a burst of load hits both settings alike; not sampled
        for w in tries:
            tries[w].append(dedup_child(source, folder / f"out{w}", w, sample=False))
    sampled = {w: dedup_child(source, folder / f"out{w}", w) for w in tries}  # peak RSS, driver CPU
    runs = {w: min(found, key=lambda run: run.wall) for w, found in tries.items()}
    summary = json.loads((folder / f"out{cores}" / "summary.json").read_text())
    same = (folder / "out1" / "kept.parquet").read_bytes() == (folder / f"out{cores}" / "kept.parquet").read_bytes()
    rows: list[Row] = [("c", "documents; kept / dropped", f"{args.docs:,}; {summary['kept']:,} / {summary['dropped']:,}")]
    for workers, run in runs.items():
        walls = ", ".join(f"{r.wall:.1f}" for r in tries[workers])
        probe = sampled[workers]
        rows.append(("c", f"--workers {workers} (best of {args.repeat}: {walls} s)",
                     f"{run.wall:.1f} s wall, {run.cpu:.1f} s CPU, load {run.load_before:.2f} -> {run.load_after:.2f}; "
                     f"sampled run: peak RSS {probe.peak_rss_mib:,.0f} MiB (tree), driver CPU {probe.driver_cpu:.1f} s"))
    speedup = runs[1].wall / runs[cores].wall
    rounds = ", ".join(f"{one.wall / many.wall:.2f}x" for one, many in zip(tries[1], tries[cores]))
    rows.append(("c", f"speed-up {cores} workers vs 1 (target >= 1.7x)", f"{speedup:.2f}x wall, best vs best "
                 f"(each round: {rounds})"))
    many = sampled[cores]
    bound = sampled[1].cpu / max(many.driver_cpu, many.cpu / cores)
    rows.append(("c", f"CPU-time bound on {cores} idle cores (not a measurement)",
                 f"{bound:.2f}x = CPU(1 worker) / max(driver CPU, total CPU / {cores})"))
    rows.append(("c", "peak RSS < 2 GiB; kept.parquet identical", f"{max(r.peak_rss_mib for r in sampled.values()) < 2048}; {same}"))
    return rows


def row_d(args, folder: Path) -> list[Row]:
    """(d) signatures/s, synthgen vs datasketch ``update_batch`` (shared permutations), one core."""
    from synthgen.dedup import MinHasher

    corpus, _ = build_corpus(args.sig_docs, seed=1)
    hasher = MinHasher(128, ngram=5)
    hasher.signatures(corpus[:100])  # compile or load the numba kernel: a once-per-process cost
    sample = corpus[:: max(len(corpus) // args.naive, 1)][: args.naive]
    before = load()
    theirs = batch_datasketch(sample, hasher.shingles)
    with Clock() as ours:
        hasher.signatures(corpus)
    ours_rate, theirs_rate = len(corpus) / ours.cpu, len(sample) / theirs.cpu
    return [("d", f"datasketch update_batch, shared perms ({len(sample):,} docs)", f"{theirs_rate:,.0f} sig/s CPU"),
            ("d", f"synthgen MinHasher.signatures ({len(corpus):,} docs)", f"{ours_rate:,.0f} sig/s CPU "
             f"({len(corpus) / ours.wall:,.0f} wall), load {before:.2f} -> {load():.2f}"),
            ("d", "speed-up per core (target >= 3x)", f"{ours_rate / theirs_rate:.1f}x")]


ROWS = {"c": row_c, "d": row_d}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000, help="documents for row (c)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per setting in row (c); the best wall counts")
    parser.add_argument("--sig-docs", type=int, default=100_000, help="documents for row (d)")
    parser.add_argument("--naive", type=int, default=3000, help="datasketch sample for row (d)")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows to run")
    args = parser.parse_args()
    print_table(run_rows(args, ROWS), row_width=3)


def run_rows(args, rows: dict) -> list[Row]:
    """The rows named by ``args.rows``, each measured in a shared temporary folder."""
    table: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.rows.split(","):
            table += rows[name](args, Path(tmp))
    return table


def print_table(table: list[Row], row_width: int) -> None:
    width = max(len(m) for _, m, _ in table)
    print(f"{'row':<{row_width}} | {'measure':<{width}} | value\n{'-' * (row_width + 1)}+-{'-' * width}-+-{'-' * 50}")
    for row, measure, value in table:
        print(f"{row:<{row_width}} | {measure:<{width}} | {value}")


if __name__ == "__main__":
    main()
