"""The generate loop: plan a batch, generate, pass it through the stages, checkpoint, repeat.

The loop stops when ``target`` records passed every stage, when the candidate budget is spent, or when a
finite backend (replay) runs dry. Each batch is checkpointed atomically, so a killed run resumes from the
last finished batch and, because request ``i`` is a pure function of the recipe seed and ``i``, ends with
the same dataset an uninterrupted run would have produced.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from .pipeline import Stage, run_stages
from .prompts import RequestPlan
from .provenance import RunContext, now_iso, record_row, rejection_row
from .records import Candidate, Rejection
from .rundir import RunDir

TARGET_REACHED = "target_reached"
BUDGET_EXHAUSTED = "budget_exhausted"
SOURCE_EXHAUSTED = "source_exhausted"


@dataclass
class RunState:
    """Counters restored from the last checkpoint; rows accumulate across batches."""

    next_request: int = 0
    candidates: int = 0
    batches: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generate_seconds: float = 0.0
    kept_rows: list[dict[str, Any]] = field(default_factory=list)
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)

    def counters(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("next_request", "candidates", "batches", "prompt_tokens",
                                               "completion_tokens", "generate_seconds")}


@dataclass(frozen=True)
class Limits:
    target: int
    budget: int
    batch_size: int
    n: int


def next_batch_size(state: RunState, limits: Limits, capacity: int | None) -> int:
    """Requests for the next batch: enough to reach the target at the observed acceptance rate (+20%),
    never more than ``batch_size``, the remaining budget, or what the backend can still produce."""
    room = limits.budget - state.candidates
    if capacity is not None:
        room = min(room, capacity - state.candidates)
    max_requests = room // limits.n
    need = limits.target - len(state.kept_rows)
    rate = max(len(state.kept_rows) / state.candidates, 0.05) if state.candidates else 1.0
    wanted = math.ceil(need * (1.2 if state.candidates else 1.0) / rate / limits.n)
    return max(0, min(limits.batch_size, max_requests, max(wanted, 1)))


class Runner:
    def __init__(self, plan: RequestPlan, backend: Any, stages: list[Stage], run_dir: RunDir,
                 ctx: RunContext, limits: Limits, sampling: Any, progress: bool = True, strip: bool = True):
        self.plan, self.backend, self.stages, self.run_dir = plan, backend, stages, run_dir
        self.ctx, self.limits, self.sampling, self.progress = ctx, limits, sampling, progress
        self.strip = strip
        self.state = RunState()
        self._pending: list[Rejection] = []
        for stage in stages:
            stage.bind(self._pending.append)

    def resume(self) -> int:
        """Restore state from checkpoints; returns the number of batches restored."""
        shards = self.run_dir.read_checkpoints()
        for shard in shards:
            self.state.kept_rows.extend(shard["kept"])
            self.state.rejected_rows.extend(shard["rejected"])
        if shards:
            last = shards[-1]
            for key, value in last["counters"].items():
                setattr(self.state, key, value)
            stats = {entry["stage"]: entry for entry in last["stages"]}
            for stage in self.stages:
                if stage.name in stats:
                    stage.stats.restore(stats[stage.name])
            for stage in self.stages:
                stage.observe_kept(self.state.kept_rows)
        return len(shards)

    def stop_reason(self) -> str | None:
        if len(self.state.kept_rows) >= self.limits.target:
            return TARGET_REACHED
        capacity = getattr(self.backend, "capacity", None)
        if capacity is not None and self.state.candidates >= capacity:
            return SOURCE_EXHAUSTED
        if next_batch_size(self.state, self.limits, capacity) == 0:
            return BUDGET_EXHAUSTED
        return None

    def run(self) -> str:
        """Generate until a stop reason holds; returns it."""
        with _progress_bar(self.limits.target, len(self.state.kept_rows), self.progress) as bar:
            while (reason := self.stop_reason()) is None:
                self._run_batch(next_batch_size(self.state, self.limits, getattr(self.backend, "capacity", None)))
                bar.update(min(len(self.state.kept_rows), self.limits.target) - bar.n)
                bar.set_postfix(self._rates(), refresh=False)
        return reason

    def _run_batch(self, size: int) -> None:
        requests = self.plan.batch(self.state.next_request, size)
        start = time.perf_counter()
        results = self.backend.generate(requests, self.sampling)
        self.state.generate_seconds += time.perf_counter() - start
        self._count_tokens(results)
        candidates = [Candidate(r, j, c.text.strip() if self.strip else c.text, c.n_tokens, c.finish_reason)
                      for r, completions in zip(requests, results, strict=True) for j, c in enumerate(completions)]
        kept = run_stages(self.stages, candidates)
        created = now_iso()
        kept_rows = [record_row(c, self.ctx, created) for c in kept]
        rejected_rows = [rejection_row(r, self.ctx, created) for r in self._pending]
        self._pending.clear()
        self.state.next_request += size
        self.state.candidates += len(candidates)
        self.state.batches += 1
        self.state.kept_rows.extend(kept_rows)
        self.state.rejected_rows.extend(rejected_rows)
        self.run_dir.write_checkpoint(self.state.batches - 1, {
            "batch": self.state.batches - 1, "kept": kept_rows, "rejected": rejected_rows,
            "counters": self.state.counters(), "stages": [s.stats.to_dict() for s in self.stages]})

    def _count_tokens(self, results: list) -> None:
        usage = getattr(self.backend, "last_usage", None) or {}
        self.state.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.state.completion_tokens += sum(c.n_tokens for completions in results for c in completions)

    def _rates(self) -> dict[str, str]:
        seconds = max(self.state.generate_seconds, 1e-9)
        accepted = len(self.state.kept_rows) / self.state.candidates if self.state.candidates else 0.0
        return {"cand": str(self.state.candidates), "acc": f"{accepted:.0%}",
                "samples/s": f"{self.state.candidates / seconds:.2f}",
                "tok/s": f"{self.state.completion_tokens / seconds:.1f}"}


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=min(initial, total), unit="rec", desc="generate", disable=not enabled,
                dynamic_ncols=True)
