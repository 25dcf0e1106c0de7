"""The pipelined runner's planning half: which requests to generate ahead, and when.

When batch ``k`` (requests ``[a, a + s)``) enters the stages, :meth:`Pipelining.before_batch` asks the
read-ahead thread for the first LLM step's requests of the next ``prefetch`` batches: indices from
``a + s`` on, each batch's size *guessed* with the sequential rule from the state batch ``k`` will
probably leave. Batch sizes themselves are still chosen by :func:`synthgen.runner.next_batch_size` from
the state after batch ``k``, exactly as the sequential runner chooses them, and since request ``i`` is a
pure function of ``i``, a guess only decides what is ready early: the sizes, hence the batches,
checkpoints, gate windows, stop point and over-target rows, are the sequential runner's; read-ahead that
turns out unneeded is dropped uncounted (and a resumed run never sees it: it is not checkpointed).

Only a first LLM step of type ``generate`` on the run's backend is read ahead (its prompt is a pure
function of the record); steps before it that add columns without a model (sample, template) are
applied to copies to predict its prompts. Other recipes run sequentially.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import replace
from typing import Any

from .readahead import ReadAhead, serialized
from .records import Candidate


class Pipelining:
    """Read-ahead for one run; :meth:`start` installs it, :meth:`stop` removes it."""

    def __init__(self, runner: Any, depth: int, forced: bool = False):
        self.runner, self.depth, self.forced = runner, depth, forced
        self.first, self.prefix, self.reason = read_ahead_step(runner.stages, runner.backend)
        self.readahead: ReadAhead | None = None
        self.ahead_until = 0
        self._stack = ExitStack()

    @property
    def enabled(self) -> bool:
        return self.depth > 0 and self.first is not None

    def start(self) -> None:
        """Install read-ahead. Unless the recipe says ``pipelined = true``, a backend that computes on this
        machine's CPU (vLLM on CPU) runs sequentially: overlap would only make it share its cores (measured
        0.48x on the quickstart on 2 cores)."""
        if self.enabled and not self.forced and getattr(self.runner.backend, "shares_host_cpu", False):
            self.first, self.reason = None, "the backend computes on this CPU (set pipelined = true to overlap)"
        if not self.enabled:
            return
        try:
            self._stack.enter_context(serialized(self.runner.backend))
        except (AttributeError, TypeError):  # a backend object that cannot be wrapped (__slots__, frozen)
            self.first, self.reason = None, "the backend's generate cannot be serialized"
            return
        self.readahead = ReadAhead(self.first.runtime.backend)
        self.first.runtime = replace(self.first.runtime, backend=self.readahead)

    def stop(self) -> None:
        if self.readahead is not None:
            self.first.runtime = replace(self.first.runtime, backend=self.readahead.backend)
            self.readahead.close()
        self._stack.close()

    def reset(self) -> None:
        """The gate changed prompts or sampling: what was generated ahead no longer matches."""
        self.ahead_until = 0

    def before_batch(self, start: int, size: int) -> None:
        """Batch ``[start, start + size)`` is about to run: queue whatever of it was not read ahead yet
        (the first batch, or after the gate changed prompts), then the next ``depth`` batches."""
        if self.readahead is None:
            return
        bounds = [start, start + size, *self._guessed_ends(start + size, size)]
        for begin, stop in zip(bounds, bounds[1:]):
            begin = max(begin, self.ahead_until)
            if begin < stop:
                self.readahead.submit(self.requests(begin, stop), self.first.runtime.sampling)
                self.ahead_until = stop

    def _guessed_ends(self, end: int, size: int) -> list[int]:
        """Where the next ``depth`` batches probably end: sized by the sequential rule from the state this
        batch will probably leave (the acceptance so far applied to it). A wrong guess costs time only:
        a batch that is really smaller leaves unused read-ahead, a larger one generates the rest then."""
        from .runner import batch_size_for

        state, limits = self.runner.state, self.runner.limits
        capacity = getattr(self.runner.backend, "capacity", None)
        kept, candidates = len(state.kept_rows), state.candidates
        ends = []
        for _ in range(self.depth):
            rate = kept / candidates if candidates else 1.0
            kept, candidates = kept + round(size * limits.n * rate), candidates + size * limits.n
            size = batch_size_for(kept, candidates, limits, capacity) if kept < limits.target else 0
            if size == 0:
                break
            end += size
            ends.append(end)
        return ends

    def requests(self, begin: int, stop: int) -> list[Any]:
        """The first LLM step's requests for request indices ``[begin, stop)``, as it will make them."""
        per_request = self.runner.per_request
        records = [Candidate(r, 0, "", 0, index=r.index * per_request)
                   for r in self.runner.plan.batch(begin, stop - begin)]
        for stage in self.prefix:
            records = list(stage.process(records))
        return [self.first._request(record) for record in records]  # noqa: SLF001 - the step's own prompt

    def summary(self) -> dict[str, Any]:
        """The report's pipelining facts. ``backend_busy_seconds`` covers the read-ahead step's calls only
        (``read_ahead_step``), in this process: the backend's work on every LLM call is the report's
        ``timings.backend_seconds``."""
        data: dict[str, Any] = {"pipelined": self.readahead is not None, "prefetch": self.depth}
        if self.readahead is not None:
            data.update(backend_busy_seconds=round(self.readahead.busy_seconds, 3), read_ahead_step=self.first.name,
                        read_ahead_discarded=self.readahead.discarded)
        elif self.depth > 0:
            data["sequential_because"] = self.reason
        return data


def read_ahead_step(stages: list[Any], backend: Any) -> tuple[Any, list[Any], str]:
    """(the first LLM step if it can be read ahead, the model-free steps before it, why not otherwise)."""
    from .steps.base import LLMStepStage, StepStage
    from .steps.generate import GenerateStage

    prefix = []
    for stage in stages:
        if isinstance(stage, LLMStepStage):
            if not isinstance(stage, GenerateStage):
                return None, [], f"the first LLM step ({stage.name}) is not a generate step"
            if stage.runtime.backend is not backend:
                return None, [], f"step {stage.name} has its own backend"
            return stage, prefix, ""
        if isinstance(stage, StepStage):
            prefix.append(stage)
    return None, [], "no LLM step"
