"""Scale-out table (issue 15): one function per row, ``main`` prints them.

Row here:
  dedup: ``synthgen dedup`` on 1,000,000 ~50-word documents, the local executor with ``--workers 1``
         against ``--executor ray`` on a local Ray cluster with 2 workers (target ≥ 1.7×), both as child
         processes (Ray's start-up included), with the kept ids compared.
The generation row (2 replicas of a latency-bound test backend vs 1) is the lead's to add: write
``row_generation(args, folder) -> list[Row]`` and list it in ``ROWS``.

Other agents may share the CPU: the load average before and after each run is printed with it.

    .venv/bin/python benchmarks/scale.py [--docs 1000000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import Row, print_table, run_child, run_rows, write_corpus  # noqa: E402


def dedup_run(source: Path, out: Path, *options: str):
    return run_child([sys.executable, "-m", "synthgen", "dedup", str(source), "--out", str(out), *options])


def row_dedup(args, folder: Path) -> list[Row]:
    """Local single worker vs Ray with 2 workers on the same corpus."""
    import pyarrow.parquet as pq

    source = write_corpus(args.docs, folder)
    local = dedup_run(source, folder / "local", "--workers", "1")
    ray = dedup_run(source, folder / "ray", "--executor", "ray", "--workers", "2")
    same = (pq.read_table(folder / "local" / "kept.parquet", columns=["id"]).column("id").to_pylist()
            == pq.read_table(folder / "ray" / "kept.parquet", columns=["id"]).column("id").to_pylist())
    rows: list[Row] = []
    for name, run in (("local, --workers 1", local), ("ray, 2 workers (local cluster)", ray)):
        rows.append(("dedup", name, f"{run.wall:.1f} s wall, {run.cpu:.1f} s CPU (children), peak RSS "
                     f"{run.peak_rss_mib:,.0f} MiB, load {run.load_before:.2f} -> {run.load_after:.2f}"))
    rows.append(("dedup", "(CPU: the child and the processes it reaped; Ray daemons not included)", ""))
    rows.append(("dedup", "speed-up ray 2 workers vs local 1 (target >= 1.7x)", f"{local.wall / ray.wall:.2f}x wall"))
    rows.append(("dedup", "same kept ids", str(same)))
    return rows


ROWS = {"dedup": row_dedup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows to run")
    args = parser.parse_args()
    print_table(run_rows(args, ROWS), row_width=5)


if __name__ == "__main__":
    main()
