"""Scale-out table (issue 15): one function per row, ``main`` prints them.

Row here:
  dedup: ``synthgen dedup`` on 1,000,000 ~50-word documents, the local executor with ``--workers 1``
         against ``--executor ray --workers 2`` (target ≥ 1.7×), both as child processes, with the kept ids
         compared, in ``--repeat`` interleaved rounds (the best wall of each setting counts). Ray runs two
         ways: on a local cluster the command starts itself (its start-up and shut-down included), and on a
         running cluster (``ray start --head --num-cpus 2``, started 10 s before the timed run, once its
         start-up work is done, and stopped after it, so the local runs never share the machine with Ray's
         daemons), which is how a team runs Ray.
The generation row (2 replicas of a latency-bound test backend vs 1) is the lead's to add: write
``row_generation(args, folder) -> list[Row]`` and list it in ``ROWS``.

Other agents may share the CPU: the load average before and after each run is printed with it.

    .venv/bin/python benchmarks/scale.py [--docs 1000000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import Row, print_table, run_child, run_rows, write_corpus  # noqa: E402


def dedup_run(source: Path, out: Path, *options: str):
    return run_child([sys.executable, "-m", "synthgen", "dedup", str(source), "--out", str(out), "--overwrite",
                      *options], sample=False)  # rounds reuse their folder


@contextlib.contextmanager
def running_cluster(cpus: int = 2, port: int = 6390, settle_s: float = 10.0):
    """``ray start --head`` for the block (token auth off, as on a private test machine), then ``ray stop``."""
    ray = str(Path(sys.executable).with_name("ray"))
    os.environ["RAY_AUTH_MODE"] = "disabled"
    subprocess.run([ray, "start", "--head", "--num-cpus", str(cpus), "--port", str(port), "--node-ip-address",
                    "127.0.0.1", "--disable-usage-stats", "--include-dashboard=false"], check=True, capture_output=True)
    time.sleep(settle_s)  # the raylet prestarts idle workers for a few seconds: a running cluster is past that
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True)


def kept_ids(out: Path) -> list:
    import pyarrow.parquet as pq

    return pq.read_table(out / "kept.parquet", columns=["id"]).column("id").to_pylist()


def row_dedup(args, folder: Path) -> list[Row]:
    """Local single worker vs Ray with 2 workers (a cluster it starts, and a running one), interleaved."""
    source = write_corpus(args.docs, folder)
    walls: dict[str, list[float]] = {"local": [], "started": [], "running": []}
    for _ in range(args.repeat):
        walls["local"].append(dedup_run(source, folder / "local", "--workers", "1").wall)
        walls["started"].append(dedup_run(source, folder / "started", "--executor", "ray", "--workers", "2").wall)
        with running_cluster() as address:
            walls["running"].append(dedup_run(source, folder / "running", "--executor", "ray", "--workers", "2",
                                              "--address", address).wall)
    same = kept_ids(folder / "local") == kept_ids(folder / "started") == kept_ids(folder / "running")
    clusters = {"started": "cluster started by the command", "running": "running cluster (ray start --head)"}
    names = {"local": "local, --workers 1", **{key: f"ray, 2 workers, {value}" for key, value in clusters.items()}}
    best = {key: min(values) for key, values in walls.items()}
    rows: list[Row] = [("dedup", f"{names[key]} (best of {', '.join(f'{w:.1f}' for w in values)} s)",
                        f"{best[key]:.1f} s wall") for key, values in walls.items()]
    for key in ("running", "started"):
        rows.append(("dedup", f"speed-up vs local 1, {clusters[key]} (target >= 1.7x)",
                     f"{best['local'] / best[key]:.2f}x wall, best vs best (rounds: "
                     + ", ".join(f"{a / b:.2f}x" for a, b in zip(walls['local'], walls[key])) + ")"))
    rows.append(("dedup", "same kept ids (all three)", str(same)))
    return rows


ROWS = {"dedup": row_dedup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds; the best wall counts")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows to run")
    args = parser.parse_args()
    print_table(run_rows(args, ROWS), row_width=5)


if __name__ == "__main__":
    main()
