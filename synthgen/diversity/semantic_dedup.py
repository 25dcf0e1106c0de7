"""Semantic near-duplicates: drop a candidate whose cosine to an accepted or real sample is ≥ 0.9.

Persona Hub's rule (DESIGN.md §7). Memory holds the embeddings of the real reference and of every
candidate this stage kept; each batch is compared with it in blocked matrix products (no n×n matrix), then
within itself in order, so the first of two near-twins in a batch is kept. ``observe_kept`` rebuilds the
accepted part on resume. Place it last among the stages: it remembers what *it* kept.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from ..pipeline import Stage
from ..records import Candidate, content_hash
from .semantic import max_similarity

NEAR_DUPLICATE = "semantic_near_duplicate"
ACCEPTED, REAL = "accepted", "real"
CHUNK = 1024  # candidates compared with each other at once


class EmbeddingMemory:
    """A growable (n, d) float32 matrix with an id and a source per row."""

    def __init__(self) -> None:
        self.embeddings_ = np.zeros((0, 0), dtype=np.float32)
        self.ids_: list[str] = []
        self.sources_: list[str] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, rows: np.ndarray, ids: Sequence[str], source: str) -> None:
        rows = np.asarray(rows, dtype=np.float32)
        if len(rows) == 0:
            return
        if self._size + len(rows) > len(self.embeddings_):
            grown = np.zeros((max(2 * len(self.embeddings_), self._size + len(rows), 1024), rows.shape[1]), np.float32)
            if self._size:
                grown[:self._size] = self.embeddings_[:self._size]
            self.embeddings_ = grown
        self.embeddings_[self._size:self._size + len(rows)] = rows
        self._size += len(rows)
        self.ids_.extend(ids)
        self.sources_.extend([source] * len(rows))

    def nearest(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(best cosine, row index) of each query against the memory; (−inf, −1) when empty."""
        return max_similarity(np.asarray(queries, dtype=np.float32), self.embeddings_[:self._size])

    def remove(self, source: str) -> None:
        """Forget every row from ``source``."""
        keep = [i for i, s in enumerate(self.sources_) if s != source]
        self.embeddings_ = self.embeddings_[keep]
        self.ids_ = [self.ids_[i] for i in keep]
        self.sources_ = [self.sources_[i] for i in keep]
        self._size = len(keep)


class SemanticDeduplicator(Stage):
    """Params: an embedder, the cosine ``threshold`` (drop at ≥), and the real texts to guard against."""

    name = "semantic_dedup"

    def __init__(self, embedder: Any, threshold: float = 0.9, reference_texts: Sequence[str] = ()):
        super().__init__()
        self.embedder, self.threshold = embedder, threshold
        self.reference_texts = list(reference_texts)
        self.memory_ = EmbeddingMemory()
        self._reference_loaded = False

    def _ensure_reference(self) -> None:
        if not self._reference_loaded:
            self._reference_loaded = True
            texts = list(dict.fromkeys(t for t in self.reference_texts if t and t.strip()))
            if texts:
                self.memory_.add(self.embedder.encode(texts), [content_hash(t) for t in texts], REAL)

    def process(self, candidates: list[Candidate]) -> Iterator[Candidate]:
        self._ensure_reference()
        for start in range(0, len(candidates), CHUNK):
            yield from self._process_chunk(candidates[start:start + CHUNK])

    def _process_chunk(self, candidates: list[Candidate]) -> Iterator[Candidate]:
        """Memory first (blocked), then earlier kept members of the chunk (chunk × chunk, ≤ CHUNK²)."""
        batch = np.asarray(self.embedder.encode([c.text for c in candidates]), dtype=np.float32)
        best, arg = self.memory_.nearest(batch)
        inside = batch @ batch.T
        kept = np.zeros(len(candidates), dtype=bool)
        for i, candidate in enumerate(candidates):
            match = self._match(i, best[i], arg[i], np.where(kept[:i], inside[i, :i], -np.inf), candidates)
            kept[i] = match is None
            if kept[i]:
                yield candidate
            else:
                self.drop(candidate, NEAR_DUPLICATE, match["cosine"], match)
        self.memory_.add(batch[kept], [c.id for c, k in zip(candidates, kept) if k], ACCEPTED)

    def _match(self, i: int, best: float, arg: int, earlier: np.ndarray,
               candidates: list[Candidate]) -> dict[str, Any] | None:
        """Evidence of the closest earlier sample at cosine ≥ threshold, or None."""
        j = int(earlier.argmax()) if len(earlier) else -1
        if j >= 0 and earlier[j] >= max(best, self.threshold):
            return {"matched_id": candidates[j].id, "cosine": round(float(earlier[j]), 6), "matched": ACCEPTED}
        if best >= self.threshold:
            return {"matched_id": self.memory_.ids_[arg], "cosine": round(float(best), 6),
                    "matched": self.memory_.sources_[arg]}
        return None

    def observe_kept(self, rows: list[Any]) -> None:
        """Rebuild the accepted memory from a run's kept records (Candidates or row dicts with ``text``)."""
        self._ensure_reference()
        self.memory_.remove(ACCEPTED)
        texts = [row.text if isinstance(row, Candidate) else row["text"] for row in rows]
        ids = [content_hash(t) for t in texts]
        if texts:
            self.memory_.add(self.embedder.encode(texts), ids, ACCEPTED)
