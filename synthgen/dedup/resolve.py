"""Decide every row of a sketched table exactly as the sequential :class:`Deduplicator` would.

The sequential engine compares each text with the kept texts that share an LSH band (or its exact key)
with it. A text that shares no band key and no exact key with any other text of the input can only be
matched by a reference scope (real data, history), so it is decided by vectorized reference look-ups.
Only the texts that share a bucket (band key or exact key) with another text (found by sorting each
band column) go through the sequential rule, in input order, with bucket tables that hold only them:
the same decisions and the same evidence as the engine, at a cost proportional to those texts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .deduplicator import DedupParams
from .minhash import estimate_jaccard
from .scopes import EXACT_DUPLICATE, NEAR_DUPLICATE, FrozenScope, Match, SketchSet
from .sketch import ChunkSketch


@dataclass
class Table:
    """All chunks' sketches, addressable by global row number."""

    chunks: list[ChunkSketch]

    def __post_init__(self) -> None:
        self.starts = np.array([c.start for c in self.chunks], np.int64)
        self.ids = [i for c in self.chunks for i in c.ids]
        self.exact = _concat([c.exact for c in self.chunks], np.uint64)
        self.has_sig = _concat([c.has_sig for c in self.chunks], bool)
        self.active = np.ones(len(self.ids), bool)
        for c in self.chunks:
            self.active[c.start + np.fromiter(c.early, np.int64, len(c.early))] = False

    def sig(self, row: int) -> np.ndarray:
        chunk = self.chunks[int(np.searchsorted(self.starts, row, side="right")) - 1]
        return chunk.sigs[row - chunk.start]

    def band_column(self, band: int) -> np.ndarray:
        return _concat([c.bands[:, band] for c in self.chunks], np.uint64)


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype)


def reference_hits(table: Table, references: list[FrozenScope], params: DedupParams) -> tuple[dict, dict]:
    """Per global row, the first reference scope's exact match and near match (as the engine orders them)."""
    exact: dict[int, Match] = {}
    near: dict[int, Match] = {}
    for chunk in table.chunks:
        for scope in references:
            if params.exact:
                rows = scope.exact_matches(chunk.exact)
                for i in np.flatnonzero(rows >= 0).tolist():
                    exact.setdefault(chunk.start + i, scope.match(int(rows[i]), 1.0, EXACT_DUPLICATE))
            if params.near:
                best, jac = scope.near_matches(chunk.sigs, chunk.bands, params.threshold)
                for i in np.flatnonzero((best >= 0) & chunk.has_sig).tolist():
                    near.setdefault(chunk.start + i, scope.match(int(best[i]), float(jac[i]), NEAR_DUPLICATE))
    return exact, near


def _shared(column: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The rows (among ``rows``) whose value in ``column`` occurs at least twice among ``rows``."""
    values = column[rows]
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    dup = np.zeros(len(rows), bool)
    if len(rows) > 1:
        same = ordered[1:] == ordered[:-1]
        dup[1:] |= same
        dup[:-1] |= same
    return rows[order[dup]]


def bucket_sharing_rows(table: Table, params: DedupParams, bands: int) -> np.ndarray:
    """Sorted global rows that share an exact key or a band key with another active row."""
    active = np.flatnonzero(table.active)
    found = [_shared(table.exact, active)] if params.exact else []
    if params.near:
        signed = np.flatnonzero(table.active & table.has_sig)
        found += [_shared(table.band_column(b), signed) for b in range(bands)]
    return np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)


class SequentialRule:
    """The engine's rule over the bucket-sharing rows, in input order (see the module docstring)."""

    def __init__(self, table: Table, params: DedupParams, bands: int, ref_exact: dict, ref_near: dict):
        self.table, self.params, self.bands = table, params, bands
        self.ref_exact, self.ref_near = ref_exact, ref_near
        self.kept_exact: dict[int, int] = {}
        self.buckets: list[dict[int, list[int]]] = [{} for _ in range(bands)]

    def run(self, rows: np.ndarray) -> dict[int, Match]:
        keys = np.stack([self.table.band_column(b)[rows] for b in range(self.bands)], axis=1) if len(rows) else None
        verdicts: dict[int, Match] = {}
        for n, row in enumerate(rows.tolist()):
            row_keys = keys[n].tolist()
            match = self.decide(row, row_keys)
            if match is None:
                self.keep(row, row_keys)
            else:
                verdicts[row] = match
        return verdicts

    def decide(self, row: int, keys: list[int]) -> Match | None:
        if self.params.exact:
            match = self.ref_exact.get(row) or self._run_exact(row)
            if match is not None:
                return match
        if self.params.near and self.table.has_sig[row]:
            return self.ref_near.get(row) or self._run_near(row, keys)
        return None

    def _run_exact(self, row: int) -> Match | None:
        first = self.kept_exact.get(int(self.table.exact[row]))
        return None if first is None else Match(EXACT_DUPLICATE, "run", self.table.ids[first], 1.0)

    def _run_near(self, row: int, keys: list[int]) -> Match | None:
        found: set[int] = set()
        for bucket, key in zip(self.buckets, keys):
            found.update(bucket.get(key, ()))
        if not found:
            return None
        rows = sorted(found)
        jac = estimate_jaccard(np.stack([self.table.sig(r) for r in rows]), self.table.sig(row))
        best = int(np.argmax(jac))
        if jac[best] < self.params.threshold:
            return None
        return Match(NEAR_DUPLICATE, "run", self.table.ids[rows[best]], float(jac[best]))

    def keep(self, row: int, keys: list[int]) -> None:
        self.kept_exact.setdefault(int(self.table.exact[row]), row)
        if self.table.has_sig[row]:
            for bucket, key in zip(self.buckets, keys):
                bucket.setdefault(key, []).append(row)


def resolve(table: Table, params: DedupParams, bands: int, references: list[FrozenScope]) -> dict[int, Match]:
    """Global row → Match for every dropped row (early verdicts included); rows not in it are kept."""
    ref_exact, ref_near = reference_hits(table, references, params)
    verdicts = {chunk.start + i: match for chunk in table.chunks for i, match in chunk.early.items()}
    for row in np.flatnonzero(table.active).tolist():
        match = (ref_exact.get(row) if params.exact else None) or (
            ref_near.get(row) if params.near and table.has_sig[row] else None)
        if match is not None:
            verdicts[row] = match
    sharing = bucket_sharing_rows(table, params, bands)
    for row in sharing.tolist():
        verdicts.pop(row, None)
    verdicts.update(SequentialRule(table, params, bands, ref_exact, ref_near).run(sharing))
    return verdicts


def kept_sketches(chunk: ChunkSketch, verdicts: dict[int, Match]) -> SketchSet:
    """The chunk's kept rows as sketches (for the history index)."""
    rows = [i for i in range(len(chunk)) if chunk.start + i not in verdicts]
    return SketchSet([chunk.ids[i] for i in rows], chunk.exact[rows], chunk.sigs[rows])
