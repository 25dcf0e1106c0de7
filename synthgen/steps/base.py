"""What every step shares: the stage contract, the fields a template sees, and one batched backend call.

A step is a :class:`~synthgen.pipeline.Stage` that adds columns to the records it receives. An LLM step
renders one prompt per record and makes **one** backend call for the whole batch. ``n > 1`` fans a record
out: child ``j`` gets index ``parent.index + j * stride`` (``stride`` is the product of the later fan-out
steps' ``n``), so every record of a run has a unique index that a resumed run recomputes exactly.
"""

from __future__ import annotations

import string
import time
from dataclasses import dataclass, replace
from typing import Any

from ..pipeline import Stage
from ..prompts import derive_seed
from ..readahead import call_usage
from ..records import Candidate, Completion, GenerationRequest, as_text, canonical_json, content_hash


@dataclass(frozen=True)
class StepRuntime:
    """What a step needs besides its config, fixed by the run plan."""

    backend: Any = None
    sampling: Any = None
    stride: int = 1
    first_llm: bool = False
    recipe_seed: int = 0
    sampling_seed: int = 0
    strip: bool = True
    owns_backend: bool = False
    feeds_later: bool = False   # a later step follows (it may build on this step's column)


class _Fields(dict):
    def __missing__(self, key: str) -> Any:
        raise KeyError(key)


def record_fields(record: Candidate, **extra: Any) -> dict[str, Any]:
    """A template's values: the seed fields, then every column written so far (as text), then ``extra``."""
    values: dict[str, Any] = dict(record.request.seed.fields)
    values.update({name: as_text(value) for name, value in record.columns.items()})
    values.update(extra)
    return _Fields(values)


def value_of(record: Candidate, name: str) -> str:
    """A column written by an earlier step, else the seed field of that name, as text."""
    value = record.columns[name] if name in record.columns else record.request.seed.fields.get(name, "")
    return as_text(value)


def render(template: str, record: Candidate, **extra: Any) -> str:
    return string.Formatter().vformat(template, (), record_fields(record, **extra))


class StepStage(Stage):
    """Base of every step: a named stage that writes the column ``config.name``."""

    def __init__(self, config: Any, runtime: StepRuntime):
        self.name = config.name
        super().__init__()
        self.config, self.runtime = config, runtime

    def child(self, record: Candidate, j: int, fanned: bool) -> Candidate:
        """Sample ``j`` of ``record`` (``record`` itself, shared, when the step does not fan out)."""
        if not fanned:
            return record
        parent = None if self.runtime.first_llm else content_hash(canonical_json(record.columns))
        return replace(record, columns=dict(record.columns), scores=dict(record.scores),
                       index=record.index + j * self.runtime.stride, parent_id=parent or record.parent_id,
                       sample_index=j if self.runtime.first_llm else record.sample_index)


class LLMStepStage(StepStage):
    """A step that asks a backend: one batched call per :meth:`ask`."""

    def __init__(self, config: Any, runtime: StepRuntime):
        super().__init__(config, runtime)
        self._loaded = not runtime.owns_backend

    def request(self, record: Candidate, prompt: str, call: str = "", parent_ids: tuple[str, ...] = ()
                ) -> GenerationRequest:
        """The first LLM call of a record keeps the run's request (index, sampling seed): the rest derive
        their sampling seed from the step, the call and the record index."""
        root = record.request
        if self.runtime.first_llm and not call:
            return GenerationRequest(root.index, prompt, root.seed, root.sampling_seed, parent_ids)
        seed = derive_seed(self.runtime.sampling_seed, "step", self.name, call, record.index)
        return GenerationRequest(record.index, prompt, root.seed, seed, parent_ids)

    def keep_prompt(self, record: Candidate, request: GenerationRequest) -> None:
        """The run's first prompt is the record's provenance (its ``prompt_hash``): whatever the first LLM
        step (generate, chat, rewrite), the record keeps the request it actually sent. A later step's
        few-shot examples are added to the record's ``parent_ids`` (in step order, once each), so they
        list every example its chain of steps was shown."""
        if self.runtime.first_llm:
            record.request = request
        elif request.parent_ids:
            shown = tuple(dict.fromkeys((*record.request.parent_ids, *request.parent_ids)))
            record.request = replace(record.request, parent_ids=shown)

    def ask(self, requests: list[GenerationRequest], sampling: Any = None) -> list[list[Completion]]:
        """One backend call for the batch; tokens and seconds are counted on this step's stats."""
        if not requests:
            return []
        self.start()
        start = time.perf_counter()
        results = self.runtime.backend.generate(requests, sampling or self.runtime.sampling)
        waited = time.perf_counter() - start
        self._count(results, call_usage(self.runtime.backend, waited), waited)
        return results

    def _count(self, results: list[list[Completion]], usage: dict[str, Any], waited: float) -> None:
        """``llm_seconds``: how long the step waited (for another thread's call too, when the backend is
        shared with read-ahead); ``backend_seconds``: how long the backend worked on this call."""
        self.stats.llm_seconds += waited
        self.stats.backend_seconds += float(usage["seconds"])
        self.stats.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.stats.completion_tokens += sum(c.n_tokens for completions in results for c in completions)
        if usage.get("tokens_known") is False:
            self.stats.tokens_unknown = True

    def fan_out(self, record: Candidate, completions: list[Completion], **columns: Any) -> list[Candidate]:
        """One record per completion (the record itself when the step samples once): the completion is
        the column ``name`` and the record's text; ``columns`` are written alongside. When a later step
        follows, a completion with nothing visible in it is dropped here (``empty_output``, the step's name as
        the stage): the later step would build on the empty column (answer an empty question) and the record
        would be kept. The last step's text is left to the recipe's verifiers (``non_empty``), as before."""
        from ..verify.rules import EMPTY, visible

        fanned = self.runtime.sampling.n > 1
        self.stats.created += len(completions) - 1
        children = []
        for j, completion in enumerate(completions):
            child = self.child(record, j, fanned)
            text = self.clean(completion.text)
            child.columns.update({self.name: text, **columns})
            child.text, child.finish_reason = text, completion.finish_reason
            child.n_tokens = record.n_tokens + completion.n_tokens
            if visible(text) or not self.runtime.feeds_later:
                children.append(child)
            else:
                self.drop(child, EMPTY, evidence={"step": self.name, "sample": j})
        return children

    def clean(self, text: str) -> str:
        return text.strip() if self.runtime.strip else text

    def start(self) -> None:
        """Load the step's own backend (once): the runner calls this before generating, so a step server
        that cannot be reached stops the run before anything is made."""
        if not self._loaded:
            self.runtime.backend.load()
            self._loaded = True

    def close(self) -> None:
        if self.runtime.owns_backend and self._loaded:
            self.runtime.backend.close()
            self._loaded = False
