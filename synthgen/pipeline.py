"""Stages and their bookkeeping.

A :class:`Stage` takes candidates and yields the kept ones; every drop goes through :meth:`Stage.drop`,
which counts it by reason and hands a :class:`Rejection` (with evidence) to the run's reject sink, so no
row is ever lost silently. Row accounting is checked: ``seen == kept + dropped`` for every stage.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from .errors import SynthgenError
from .records import Candidate, Rejection, Verdict, as_text


@dataclass
class StageStats:
    """What one stage saw, kept and dropped (by reason). A step may also create records (``n > 1`` fans a
    record out) or merge them (preference pairs), so ``seen + created == kept + dropped + merged``.
    LLM steps count their backend's tokens and seconds: ``llm_seconds`` is how long the step waited on the
    backend (part of ``seconds``), ``backend_seconds`` how long the backend worked on the step's requests
    (the same when sequential; with read-ahead the work overlapped other stages and the wait is shorter)."""

    name: str
    seen: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    created: int = 0
    merged: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    backend_seconds: float = 0.0
    tokens_unknown: bool = False  # the backend did not say how many tokens it made (a server without usage)

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        data = {
            "stage": self.name,
            "seen": self.seen,
            "kept": self.kept,
            "dropped": self.n_dropped,
            "reasons": dict(self.dropped.most_common()),
            "seconds": round(self.seconds, 4),
        }
        extra = {key: getattr(self, key) for key in _STEP_COUNTERS if getattr(self, key)}
        return {**data, **{k: round(v, 4) if isinstance(v, float) else v for k, v in extra.items()}}

    def restore(self, data: dict[str, Any]) -> None:
        self.seen, self.kept = data["seen"], data["kept"]
        self.dropped = Counter(data["reasons"])
        self.seconds = data.get("seconds", 0.0)
        for key in _STEP_COUNTERS:
            setattr(self, key, data.get(key, 0))

    def balanced(self) -> bool:
        return self.seen + self.created == self.kept + self.n_dropped + self.merged


_STEP_COUNTERS = ("created", "merged", "prompt_tokens", "completion_tokens", "llm_seconds", "backend_seconds",
                  "tokens_unknown")  # saved (and checkpointed) when set


VERIFIER_ERROR = "verifier_error"

RejectSink = Callable[[Rejection], None]


class Stage:
    """Base of every pipeline stage. Subclasses implement :meth:`process`. A stage with a ``field`` checks
    that column of each record (as its ``text``) and remembers that column of the records a run keeps."""

    name = "stage"
    field: str | None = None

    def __init__(self) -> None:
        self.stats = StageStats(self.name)
        self._sink: RejectSink = lambda rejection: None

    def bind(self, sink: RejectSink) -> "Stage":
        self._sink = sink
        return self

    def drop(self, candidate: Candidate, reason: str, score: float | None = None, evidence: dict | None = None) -> None:
        self.stats.dropped[reason] += 1
        self._sink(Rejection(candidate, self.name, reason, score, evidence))

    def process(self, candidates: list[Candidate]) -> Iterable[Candidate]:
        raise NotImplementedError

    def run(self, candidates: list[Candidate]) -> list[Candidate]:
        import time

        start = time.perf_counter()
        self.stats.seen += len(candidates)
        kept = self._process_field(candidates) if self.field else list(self.process(candidates))
        self.stats.kept += len(kept)
        self.stats.seconds += time.perf_counter() - start
        if not self.stats.balanced():
            raise RuntimeError(f"stage {self.name} lost rows: {self.stats.to_dict()}")
        return kept

    def _process_field(self, candidates: list[Candidate]) -> list[Candidate]:
        views = [candidate.view(self.field) for candidate in candidates]
        records = {id(view): candidate for view, candidate in zip(views, candidates)}
        return [records.get(id(kept), kept) for kept in self.process(views)]

    def field_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record rows as this stage sees them: ``text`` is its field."""
        if not self.field:
            return rows
        return [{**row, "text": as_text(row.get(self.field, row.get("text")))} for row in rows]

    def observe(self, rows: list[dict[str, Any]]) -> None:
        self.observe_kept(self.field_rows(rows))

    def finish_run(self, rows: list[dict[str, Any]]) -> None:
        self.finish(self.field_rows(rows))

    def observe_kept(self, rows: list[dict[str, Any]]) -> None:
        """Called with every record row the run keeps, on resume and after the gate revokes a window:
        a stage with memory rebuilds it from exactly these rows."""

    def finish(self, rows: list[dict[str, Any]]) -> None:
        """Called once with the run's final records (after target trimming): persist what outlives the run."""

    def start(self) -> None:
        """Make ready what the stage needs before the run generates (a judge's own model, whose server is
        checked here, once); most need nothing. Called after the generator's backend is loaded."""

    def close(self) -> None:
        """Release what the stage holds (a judge's own model); most hold nothing."""


class VerifierStage(Stage):
    """Adapts a verifier (``check_batch(candidates) → verdicts``) to the stage contract. With ``field``
    the verifier sees that column of the record as its text."""

    def __init__(self, verifier: Any, name: str | None = None):
        self.name = name or verifier.name
        super().__init__()
        self.verifier = verifier

    def start(self) -> None:
        start = getattr(self.verifier, "start", None)
        if start is not None:
            start()

    def close(self) -> None:
        close = getattr(self.verifier, "close", None)
        if close is not None:
            close()

    def process(self, candidates: list[Candidate]) -> Iterator[Candidate]:
        for candidate, verdict in zip(candidates, self._verdicts(candidates), strict=True):
            if verdict.score is not None:
                candidate.scores[self.name] = verdict.score
            if verdict.keep:
                yield candidate
            else:
                self.drop(candidate, verdict.reason or "rejected", verdict.score, verdict.evidence)

    def _verdicts(self, candidates: list[Candidate]) -> list[Verdict]:
        """Batch verdicts; if the batch call fails, judge one by one so one bad row cannot sink the rest.
        A :class:`~synthgen.errors.SynthgenError` is not a bad row but a verifier that cannot work (its
        server is down, its replay file ran dry, its sandbox cannot start): it stops the run, before the
        batch is checkpointed, so no candidate is rejected for it and a resume checks the batch again."""
        try:
            return self.verifier.check_batch(candidates)
        except SynthgenError:
            raise
        except Exception:  # noqa: BLE001
            return [self._safe_check(candidate) for candidate in candidates]

    def _safe_check(self, candidate: Candidate) -> Verdict:
        try:
            return self.verifier.check(candidate)
        except SynthgenError:
            raise  # the verifier's infrastructure failed, not the candidate: see _verdicts
        except Exception as exc:  # noqa: BLE001 - recorded as the row's reason, the run goes on
            return Verdict.reject(VERIFIER_ERROR, error=f"{type(exc).__name__}: {exc}"[:500])


def run_stages(stages: list[Stage], candidates: list[Candidate]) -> list[Candidate]:
    """Pass a batch through every stage in order; what survives is the batch's kept records."""
    for stage in stages:
        if not candidates:
            break
        candidates = stage.run(candidates)
    return candidates
