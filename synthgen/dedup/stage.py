"""Pipeline stages: ``decontam`` (eval n-gram overlap) and ``dedup`` (exact + near, every scope).

Every drop goes through :meth:`Stage.drop` with its evidence, e.g.
``{"scope": "history", "matched_id": "3f2a…", "jaccard": 0.8516}``, which lands in ``rejected.parquet``.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..pipeline import Stage
from ..records import Candidate
from .decontam import Decontaminator
from .deduplicator import Deduplicator
from .index import HistoryWriter

INVALID_TEXT = "invalid_text"


def _text_of(item: Any) -> Any:
    return item.get("text") if isinstance(item, dict) else getattr(item, "text", None)


def _id_of(item: Any) -> str:
    return str(item.get("id")) if isinstance(item, dict) else item.id


class _TextStage(Stage):
    """Shared part: a candidate whose text is not a string is dropped as ``invalid_text``."""

    def _valid(self, candidates: list[Candidate]) -> list[Candidate]:
        valid = []
        for candidate in candidates:
            if isinstance(candidate.text, str):
                valid.append(candidate)
            else:
                self.drop(candidate, INVALID_TEXT, evidence={"type": type(candidate.text).__name__})
        return valid


class DedupStage(_TextStage):
    """Drops exact and near duplicates of the run's kept records, real data and history."""

    name = "dedup"

    def __init__(self, engine: Deduplicator, history: HistoryWriter | None = None):
        super().__init__()
        self.engine, self.history = engine, history

    def process(self, candidates: list[Candidate]) -> Iterable[Candidate]:
        candidates = self._valid(candidates)
        verdicts = self.engine.check([c.id for c in candidates], [c.text for c in candidates])
        kept = []
        for candidate, match in zip(candidates, verdicts, strict=True):
            if match is None:
                kept.append(candidate)
            else:
                self.drop(candidate, match.reason, match.score, match.evidence())
        return kept

    def finish(self, rows: list[Any]) -> None:
        """Write the run's final records (not those the gate revoked or the target trimmed) to history."""
        if self.history is None:
            return
        self.observe_kept(rows)
        if self.engine.ngram_ is not None:
            self.history.parts = 0  # the first write replaces this run's earlier shards
            self.history.write(self.engine.run_, 0, self.engine.ngram_)

    def observe_kept(self, candidates: list[Any]) -> None:
        """Rebuild the run scope from the records the run keeps (on resume, and after the diversity gate
        revokes a window), so a revoked record no longer blocks its near-duplicates."""
        self.engine.reset_run()
        items = [item for item in candidates if isinstance(_text_of(item), str)]
        if items:
            self.engine.observe([_id_of(item) for item in items], [_text_of(item) for item in items])

    def describe(self) -> dict[str, Any]:
        return self.engine.describe()


class DecontamStage(_TextStage):
    """Drops candidates sharing a long word n-gram with an eval set (``eval_contamination``)."""

    name = "decontam"

    def __init__(self, decontaminator: Decontaminator):
        super().__init__()
        self.decontaminator = decontaminator

    def process(self, candidates: list[Candidate]) -> Iterable[Candidate]:
        candidates = self._valid(candidates)
        kept = []
        for candidate, match in zip(candidates, self.decontaminator.check([c.text for c in candidates]), strict=True):
            if match is None:
                kept.append(candidate)
            else:
                self.drop(candidate, match.reason, match.score, match.evidence())
        return kept

    def describe(self) -> dict[str, Any]:
        return self.decontaminator.describe()
