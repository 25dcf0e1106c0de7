"""The generate loop: plan a batch, run it through the steps and stages, checkpoint, repeat.

The loop stops when ``target`` records passed every stage, when the candidate budget is spent, or when a
finite backend (replay) runs dry. Each batch is checkpointed atomically, so a killed run resumes from the
last finished batch and, because request ``i`` is a pure function of the recipe seed and ``i``, ends with
the same dataset an uninterrupted run would have produced.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

from .gating import GATE_FAILED_REASON, GATE_STAGE
from .pipeline import StageStats, run_stages
from .pipelined import Pipelining
from .plan import Limits, RunPlan
from .provenance import now_iso, record_as_reject, record_row, rejection_row
from .records import Candidate, Rejection, as_text
from .progress import RunProgress
from .rundir import RunDir

TARGET_REACHED = "target_reached"
BUDGET_EXHAUSTED = "budget_exhausted"
SOURCE_EXHAUSTED = "source_exhausted"
GATE_FAILED = "gate_failed"


@dataclass
class RunState:
    """Counters restored from the last checkpoint; rows accumulate across batches."""

    next_request: int = 0
    candidates: int = 0
    batches: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    generate_seconds: float = 0.0
    backend_seconds: float = 0.0
    tokens_unknown: bool = False  # some completions came without a token count: totals are lower bounds
    kept_rows: list[dict[str, Any]] = field(default_factory=list)
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)

    def counters(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("next_request", "candidates", "batches", "prompt_tokens",
                                               "completion_tokens", "generate_seconds", "backend_seconds",
                                               "tokens_unknown")}


def next_batch_size(state: RunState, limits: Limits, capacity: int | None) -> int:
    """Requests for the next batch: enough to reach the target at the observed acceptance rate (+20%),
    never more than ``batch_size``, the remaining budget, or what the backend can still produce.
    It reads only the checkpointed state after the previous batch, so the pipelined runner, a resumed
    run and the sequential runner all choose the same sizes."""
    return batch_size_for(len(state.kept_rows), state.candidates, limits, capacity)


def batch_size_for(kept: int, candidates: int, limits: Limits, capacity: int | None) -> int:
    room = limits.budget - candidates
    if capacity is not None:
        room = min(room, capacity - candidates)
    max_requests = room // limits.n
    need = limits.target - kept
    rate = max(kept / candidates, 0.05) if candidates else 1.0
    wanted = math.ceil(need * (1.2 if candidates else 1.0) / rate / limits.n)
    return max(0, min(limits.batch_size, max_requests, max(wanted, 1)))


class Runner:
    """Runs a :class:`RunPlan`: each batch's requests become records that go through the pipeline (steps
    and the stages placed after them); kept records and every reject are checkpointed per batch."""

    def __init__(self, plan: RunPlan, run_dir: RunDir, progress: bool = True, prefetch: int = 0,
                 force_pipelined: bool = False):
        self.run_plan, self.run_dir, self.progress = plan, run_dir, progress
        self.plan, self.backend, self.stages = plan.seeds.requests, plan.backend, plan.pipeline
        self.ctx, self.limits, self.gate = plan.run_context, plan.limits, plan.gate
        self.per_request = records_per_request(plan)
        self.step_columns = None if plan.output.shorthand else plan.output.columns
        self.gate_stats = StageStats(GATE_STAGE)
        self.gate_failed = False
        self.state = RunState()
        self._pending: list[Rejection] = []
        for stage in self.stages:
            stage.bind(self._pending.append)
        self.pipelining = Pipelining(self, prefetch, forced=force_pipelined)

    def resume(self) -> int:
        """Restore state from checkpoints; returns the number of batches restored."""
        shards = self.run_dir.read_checkpoints()
        for shard in shards:
            revoked = set(shard.get("revoked", ()))
            if revoked:
                self.state.kept_rows = [r for r in self.state.kept_rows if r["candidate_index"] not in revoked]
            self.state.kept_rows.extend(shard["kept"])
            self.state.rejected_rows.extend(shard["rejected"])
        if shards:
            self._restore_counters(shards[-1])
            for stage in self.stages:
                stage.observe(self.state.kept_rows)
        return len(shards)

    def _restore_counters(self, last: dict[str, Any]) -> None:
        for key, value in last["counters"].items():
            setattr(self.state, key, value)
        stats = {entry["stage"]: entry for entry in last["stages"]}
        for stage_stats in self.checkpoint_stats():
            if stage_stats.name in stats:
                stage_stats.restore(stats[stage_stats.name])
        if self.gate is not None and last.get("gate"):
            self.gate.restore(last["gate"])
            self.gate_failed = bool(last.get("gate_failed"))
            self._apply_adjustments()

    def all_stats(self) -> list[StageStats]:
        """Every step's and stage's stats, with the diversity gate's last when the run has one. A [prompt]
        recipe's one generate step is the funnel's ``generated`` row, so it is not listed again."""
        stages = self.stages[1:] if self.step_columns is None else self.stages
        return [s.stats for s in stages] + ([self.gate_stats] if self.gate is not None else [])

    def checkpoint_stats(self) -> list[StageStats]:
        """What a checkpoint keeps: every stage's stats, steps included (they hold the token counts)."""
        return [s.stats for s in self.stages] + ([self.gate_stats] if self.gate is not None else [])

    def stop_reason(self) -> str | None:
        """Why the run is over, or None while there is work: generating, or gating the last window.

        When generating ends (budget or source spent) after a failed gate check with nothing left to gate,
        the failure stands: the run is ``gate_failed`` (exit 3), the same as when the last records were
        gated and failed; a window that passed after the failure ends the run by its limit as usual. So a
        revoked window never turns into an exit-0 ``budget_exhausted`` run, whatever was left over."""
        if self.gate_failed:
            return GATE_FAILED
        reason = self._limit_reason()
        if reason and self._gate_pending(final=True):
            return None
        if reason and reason != TARGET_REACHED and self._last_check_failed():
            self.gate_failed = True
            return GATE_FAILED
        return reason

    def limit_reason(self) -> str | None:
        """Why generating is over (target, budget or source), or None while it goes on."""
        return self._limit_reason()

    def _last_check_failed(self) -> bool:
        checks = self.gate.state.checks if self.gate is not None else []
        return bool(checks) and not checks[-1]["passed"]

    def _limit_reason(self) -> str | None:
        """Why generating is over, or None. The runner collects ``limits.target`` records, which is more
        than the dataset's target when diverse selection chooses from a pool (1.5x); a run whose budget or
        source ran out after the dataset's target was collected still reached it (only the pool is smaller
        than planned: see :meth:`selection_pool_short`)."""
        kept = len(self.state.kept_rows)
        if kept >= self.limits.target:
            return TARGET_REACHED
        reason = self._exhausted_reason()
        if reason is not None and kept >= self.run_plan.target:
            return TARGET_REACHED
        return reason

    def _exhausted_reason(self) -> str | None:
        """SOURCE_EXHAUSTED when a finite backend (replay) cannot give another request's ``n`` completions
        and the budget would have (a leftover below ``n`` is the source running dry, not the budget),
        BUDGET_EXHAUSTED when the candidate budget cannot pay for another request, else None."""
        capacity = candidate_capacity(self.run_plan)
        source_left = None if capacity is None else capacity - self.state.candidates
        if source_left is not None and source_left < self.limits.n and capacity <= self.limits.budget:
            return SOURCE_EXHAUSTED
        if next_batch_size(self.state, self.limits, capacity) == 0:
            return BUDGET_EXHAUSTED
        return None

    def selection_pool_short(self) -> dict[str, int] | None:
        """``{"collected", "planned"}`` when diverse selection chose from fewer records than planned."""
        kept = len(self.state.kept_rows)
        if self.run_plan.selection is None or kept >= self.limits.target or kept < self.run_plan.target:
            return None
        return {"collected": kept, "planned": self.limits.target}

    def run(self) -> str:
        """Generate (and gate) until a stop reason holds; returns it. With ``prefetch > 0`` the backend
        generates the next batches' first step while the stages take this one (see synthgen.pipelined).
        Every stage starts first (a judge's own server is checked before anything is generated); a stage
        that cannot work (:meth:`~synthgen.pipeline.VerifierStage._verdicts`) stops the run with its error,
        the batch unwritten and every finished batch checkpointed, so the same command resumes it."""
        for stage in self.stages:
            stage.start()
        progress = RunProgress(self, self.progress)
        self.pipelining.start()
        try:
            while (reason := self.stop_reason()) is None:
                final = self._limit_reason() is not None
                if not final and not self._gate_pending(final=False):
                    self._run_batch(next_batch_size(self.state, self.limits, candidate_capacity(self.run_plan)))
                    final = self._limit_reason() is not None
                self._gate_if_due(final)
                progress.update()
        finally:
            self.pipelining.stop()
            progress.close()
        return reason

    @property
    def sampling(self) -> Any:
        return self.run_plan.sampling

    def _run_batch(self, size: int) -> None:
        requests = self.plan.batch(self.state.next_request, size)
        self.pipelining.before_batch(self.state.next_request, size)
        records = [Candidate(r, 0, "", 0, index=r.index * self.per_request) for r in requests]
        kept = run_stages(self.stages, records)
        created = now_iso()
        main = self.run_plan.output.main_field
        kept_rows = [record_row(c, self.ctx, created, main, self.step_columns) for c in kept]
        rejected_rows = [rejection_row(r, self.ctx, created) for r in self._pending]
        self._pending.clear()
        self.state.next_request += size
        self.state.candidates += size * self.limits.n
        self._count_tokens()
        self.state.batches += 1
        self.state.kept_rows.extend(kept_rows)
        self.state.rejected_rows.extend(rejected_rows)
        self._checkpoint(kept_rows, rejected_rows)

    def _checkpoint(self, kept_rows: list, rejected_rows: list, revoked: list[int] | None = None) -> None:
        shard: dict[str, Any] = {"batch": self.state.batches - 1, "kept": kept_rows, "rejected": rejected_rows,
                                 "counters": self.state.counters(),
                                 "stages": [s.to_dict() for s in self.checkpoint_stats()]}
        if self.gate is not None:
            shard.update(revoked=revoked or [], gate=self.gate.state.to_dict(), gate_failed=self.gate_failed)
        self.run_dir.write_checkpoint(self.state.batches - 1, shard)

    # --- the diversity gate ----------------------------------------------------------------------

    def _gate_pending(self, final: bool) -> bool:
        return self.gate is not None and self.gate.due(len(self.state.kept_rows), final)

    def _gate_if_due(self, final: bool) -> None:
        """Gate the pending window; a failing window is revoked into the rejects (one checkpoint shard)."""
        if not self._gate_pending(final):
            return
        started = time.perf_counter()
        kept = self.state.kept_rows
        committed = self.gate.state.committed
        field = self.run_plan.diversity_field
        outcome = self.gate.check([as_text(row.get(field, row["text"])) for row in kept], self.sampling)
        pending = len(kept) - committed
        self.gate_stats.seen += pending
        revoked_rows: list[dict[str, Any]] = []
        if outcome.passed:
            self.gate_stats.kept += pending
        else:
            revoked_rows = kept[committed:]
            del kept[committed:]
            self.gate_stats.dropped[GATE_FAILED_REASON] += len(revoked_rows)
            self.gate_failed = not outcome.retry
            self._apply_adjustments()
            for stage in self.stages:
                stage.observe(kept)
        self.gate_stats.seconds += time.perf_counter() - started
        rejects = [gate_reject(row, outcome.check) for row in revoked_rows]
        self.state.rejected_rows.extend(rejects)
        self.state.batches += 1
        self._checkpoint([], rejects, [row["candidate_index"] for row in revoked_rows])

    def _apply_adjustments(self) -> None:
        """Re-apply the gate's remediation (sampling, seed widening, few-shot rotation and count) to this run: the
        sampling of the step that writes the gated column changes, and so does its provenance."""
        update = self.gate.sampling_update()
        if update:
            plan = self.run_plan
            sampling = plan.sampling.model_copy(update=update)
            plan.samplings[plan.gated_step] = sampling
            for stage in self.stages:
                if stage.name == plan.gated_step and hasattr(stage, "runtime"):
                    stage.runtime = replace(stage.runtime, sampling=sampling)
            recorded = self.ctx.sampling
            recorded = {**recorded, **update} if self.step_columns is None else \
                {**recorded, plan.gated_step: {**recorded[plan.gated_step], **update}}
            self.ctx = replace(self.ctx, sampling=recorded)
        self.plan.adjust(self.gate.state.seed_factor, self.gate.state.rotation, self.gate.state.few_shot_extra)
        self.pipelining.reset()

    def _count_tokens(self) -> None:
        """Totals over the LLM steps (their stats are checkpointed, so the totals survive a resume)."""
        stats = [stage.stats for stage in self.stages]
        self.state.prompt_tokens = sum(s.prompt_tokens for s in stats)
        self.state.completion_tokens = sum(s.completion_tokens for s in stats)
        self.state.generate_seconds = sum(s.llm_seconds for s in stats)
        self.state.backend_seconds = sum(s.backend_seconds for s in stats)
        self.state.tokens_unknown = any(s.tokens_unknown for s in stats)


def gate_reject(row: dict[str, Any], check: dict[str, Any]) -> dict[str, Any]:
    """A revoked record as a reject row, with the failing metrics as evidence."""
    evidence = {"failed": check.get("failed"), "attempt": check.get("attempt"), "window": check.get("window")}
    return record_as_reject(row, GATE_STAGE, GATE_FAILED_REASON, evidence)


def candidate_capacity(plan: RunPlan) -> int | None:
    """A finite backend's capacity (a replay file's rows) in first-step candidates, the unit of the budget:
    whole requests' worth of the rows every step of a request reads (``backend_rows_per_request``), so a
    later step that fans out cannot run the file dry in the middle of a batch. None when unbounded."""
    rows = getattr(plan.backend, "capacity", None)
    return None if rows is None else rows // plan.backend_rows_per_request * plan.limits.n


def records_per_request(plan: RunPlan) -> int:
    """How many record indices one request spans: the product of every fan-out step's ``n``."""
    return plan.records_per_request
