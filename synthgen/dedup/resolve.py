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
from pathlib import Path

import numpy as np

from .deduplicator import DedupParams
from .minhash import estimate_jaccard
from .scopes import EXACT_DUPLICATE, NEAR_DUPLICATE, FrozenScope, Match, SketchSet
from .sketch import ChunkSketch


class SigStore:
    """Signatures spilled to ``sig-<chunk>.npy`` files in ``folder`` (written by the workers, see
    :meth:`.sketch.ChunkSketch.spill`), so the driver's memory holds only band keys, exact keys and ids
    (~140 bytes a row) instead of ``4 · num_perm`` more; read back on demand."""

    def __init__(self, folder: Path, num_perm: int):
        self.folder, self.num_perm = folder, num_perm
        folder.mkdir(parents=True, exist_ok=True)
        self.chunks: list[ChunkSketch] = []
        self.loaded: dict[int, np.ndarray] = {}

    def add(self, chunk: ChunkSketch) -> None:
        if chunk.sigs is not None:
            chunk.spill(str(self.folder))
        self.chunks.append(chunk)

    @staticmethod
    def of(chunk: ChunkSketch) -> np.ndarray:
        """One chunk's signatures."""
        return np.load(chunk.sig_file) if chunk.sigs is None else chunk.sigs

    def load(self, rows: np.ndarray) -> None:
        """Keep the signatures of ``rows`` (sorted) in memory, reading each chunk's file at most once."""
        for chunk in self.chunks:
            inside = rows[(rows >= chunk.start) & (rows < chunk.start + len(chunk))]
            if len(inside):
                sigs = self.of(chunk)
                self.loaded.update(zip(inside.tolist(), sigs[inside - chunk.start].copy()))

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Table:
    """All chunks' sketches (signatures in ``store``), addressable by global row number."""

    chunks: list[ChunkSketch]
    store: SigStore

    def __post_init__(self) -> None:
        self.starts = np.array([c.start for c in self.chunks], np.int64)
        self.ids = [i for c in self.chunks for i in c.ids]
        self.exact = _concat([c.exact for c in self.chunks], np.uint64)
        self.has_sig = _concat([c.has_sig for c in self.chunks], bool)
        self.active = np.ones(len(self.ids), bool)
        for c in self.chunks:
            self.active[c.start + np.fromiter(c.early, np.int64, len(c.early))] = False

    def sig(self, row: int) -> np.ndarray:
        return self.store.loaded[row]

    def band_column(self, band: int) -> np.ndarray:
        return _concat([c.bands[:, band] for c in self.chunks], np.uint64)


def _concat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype)


def add_reference_hits(chunk: ChunkSketch, references: list[FrozenScope], params: DedupParams,
                       exact: dict[int, Match], near: dict[int, Match]) -> None:
    """Record, per global row of ``chunk``, the first reference scope's exact and near match (the
    engine's order of scopes); called as each chunk's sketches arrive, before they are spilled."""
    for scope in references:
        if params.exact:
            rows = scope.exact_matches(chunk.exact)
            for i in np.flatnonzero(rows >= 0).tolist():
                exact.setdefault(chunk.start + i, scope.match(int(rows[i]), 1.0, EXACT_DUPLICATE))
        if params.near:
            best, jac = scope.near_matches(SigStore.of(chunk), chunk.bands, params.threshold)
            for i in np.flatnonzero((best >= 0) & chunk.has_sig).tolist():
                near.setdefault(chunk.start + i, scope.match(int(best[i]), float(jac[i]), NEAR_DUPLICATE))


def _shared(column: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The rows (among ``rows``) whose value in ``column`` occurs at least twice among ``rows``."""
    values = column[rows]
    ordered = np.sort(values)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    return rows[np.isin(values, repeated)] if len(repeated) else rows[:0]


def bucket_sharing_rows(table: Table, params: DedupParams, bands: int, threads: int = 1) -> np.ndarray:
    """Sorted global rows that share an exact key or a band key with another active row (numpy sorts
    release the GIL, so the columns are scanned on ``threads`` threads)."""
    from concurrent.futures import ThreadPoolExecutor

    active = np.flatnonzero(table.active)
    signed = np.flatnonzero(table.active & table.has_sig)
    jobs = [(table.exact, active)] if params.exact else []
    jobs += [(table.band_column(b), signed) for b in range(bands)] if params.near else []
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        found = list(pool.map(lambda job: _shared(*job), jobs))
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


def resolve(table: Table, params: DedupParams, bands: int, ref_exact: dict[int, Match],
            ref_near: dict[int, Match], threads: int = 1) -> dict[int, Match]:
    """Global row → Match for every dropped row (early verdicts included); rows not in it are kept.
    ``ref_exact`` / ``ref_near``: see :func:`add_reference_hits`."""
    verdicts = {chunk.start + i: match for chunk in table.chunks for i, match in chunk.early.items()}
    for row in sorted(set(ref_exact) | set(ref_near)):
        match = (ref_exact.get(row) if params.exact else None) or ref_near.get(row)
        if match is not None and table.active[row]:
            verdicts[row] = match
    sharing = bucket_sharing_rows(table, params, bands, threads)
    for row in sharing.tolist():
        verdicts.pop(row, None)
    table.store.load(sharing)
    verdicts.update(SequentialRule(table, params, bands, ref_exact, ref_near).run(sharing))
    return verdicts


def kept_sketches(chunk: ChunkSketch, verdicts: dict[int, Match], store: SigStore) -> SketchSet:
    """The chunk's kept rows as sketches (for the history index)."""
    rows = [i for i in range(len(chunk)) if chunk.start + i not in verdicts]
    return SketchSet([chunk.ids[i] for i in rows], chunk.exact[rows], store.of(chunk)[rows])
