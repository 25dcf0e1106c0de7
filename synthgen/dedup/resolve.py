"""Decide every row of a sketched table exactly as the sequential :class:`Deduplicator` would.

The sequential engine compares each text with the kept texts that share an LSH band (or its exact key)
with it. A text that shares no band key and no exact key with any other text of the input can only be
matched by a reference scope (real data, history), so it is decided by vectorized reference look-ups.
Only the texts that share a bucket (band key or exact key) with another text (found with a compiled
hash table per column) go through the sequential rule (:mod:`.rule`), in input order, over only them:
the same decisions and the same evidence as the engine, at a cost proportional to those texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..progress import PhaseHook, silent
from .deduplicator import DedupParams
from .rule import KEPT, REF_EXACT, REF_NEAR, RUN_EXACT, RuleInput, groups_of, run_rule, shared_rows
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

    def add(self, chunk: ChunkSketch) -> None:
        if chunk.sigs is not None:
            chunk.spill(str(self.folder))
        self.chunks.append(chunk)

    @staticmethod
    def of(chunk: ChunkSketch) -> np.ndarray:
        """One chunk's signatures."""
        return np.load(chunk.sig_file) if chunk.sigs is None else chunk.sigs

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


class BandColumns:
    """Every row's LSH band keys, one contiguous column per band, appended as the chunks arrive (the copy
    overlaps the workers' sketching; the decision pass then scans contiguous columns)."""

    def __init__(self, bands: int):
        self.values = np.empty((bands, 1 << 14), np.uint64)
        self.size = 0

    def add(self, chunk: ChunkSketch) -> None:
        """Take ``chunk.bands`` over (the chunk keeps ``None``, so the keys are held once)."""
        end = self.size + len(chunk)
        if end > self.values.shape[1]:
            grown = np.empty((self.values.shape[0], max(end, 2 * self.values.shape[1])), np.uint64)
            grown[:, :self.size] = self.values[:, :self.size]
            self.values = grown
        self.values[:, self.size:end] = chunk.bands.T
        self.size, chunk.bands = end, None

    def column(self, band: int) -> np.ndarray:
        return self.values[band, :self.size]

    def at(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), bands)`` keys of ``rows``."""
        return self.values[:, rows].T


@dataclass
class Table:
    """All chunks' sketches (signatures in ``store``, band keys in ``bands``), addressable by global row."""

    chunks: list[ChunkSketch]
    store: SigStore
    bands: BandColumns

    def __post_init__(self) -> None:
        self.starts = np.array([c.start for c in self.chunks], np.int64)
        self.ids = [i for c in self.chunks for i in c.ids]
        self.exact = _concat([c.exact for c in self.chunks], np.uint64)
        self.has_sig = _concat([c.has_sig for c in self.chunks], bool)
        self.active = np.ones(len(self.ids), bool)
        for c in self.chunks:
            self.active[c.start + np.fromiter(c.early, np.int64, len(c.early))] = False

    def gather(self, rows: np.ndarray, values: Callable[[ChunkSketch], np.ndarray]) -> np.ndarray:
        """``values(chunk)`` (one row per chunk row) at the sorted global ``rows``, reading each chunk once."""
        parts = []
        for chunk in self.chunks:
            lo, hi = np.searchsorted(rows, [chunk.start, chunk.start + len(chunk)])
            if hi > lo:
                parts.append(values(chunk)[rows[lo:hi] - chunk.start])
        return np.concatenate(parts)


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


def bucket_sharing_rows(table: Table, params: DedupParams, bands: int, threads: int = 1) -> np.ndarray:
    """Sorted global rows that share an exact key or a band key with another active row (the compiled
    scan releases the GIL, so the columns are scanned on ``threads`` threads)."""
    from concurrent.futures import ThreadPoolExecutor

    active = np.flatnonzero(table.active)
    signed = np.flatnonzero(table.active & table.has_sig)
    jobs = [(table.exact, active)] if params.exact else []
    if params.near:
        jobs += [(table.bands.column(b), signed) for b in range(bands)]
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        found = list(pool.map(lambda job: shared_rows(*job), jobs))
    return np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)


def rule_verdicts(table: Table, rows: np.ndarray, params: DedupParams, ref_exact: dict[int, Match],
                  ref_near: dict[int, Match], matched_rows: bool = False) -> dict[int, Match]:
    """The engine's rule (:mod:`.rule`) over the bucket-sharing ``rows`` (sorted): global row → Match for
    each one it drops. ``matched_rows`` (the input's ids are not unique, so an id can name several rows):
    a match within the input also gives the matched row's number (``matched_row`` in the evidence)."""
    if not len(rows):
        return {}
    exact_group, band_group = groups_of(table.exact[rows], table.bands.at(rows))
    listed = rows.tolist()
    rule = RuleInput(exact_group, band_group, table.has_sig[rows], table.gather(rows, table.store.of),
                     np.array([r in ref_exact for r in listed], bool), np.array([r in ref_near for r in listed], bool))
    status, other, jaccard = run_rule(rule, params.exact, params.near, params.threshold)
    verdicts: dict[int, Match] = {}
    for n in np.flatnonzero(status != KEPT).tolist():
        row, kind = listed[n], int(status[n])
        if kind == REF_EXACT:
            verdicts[row] = ref_exact[row]
        elif kind == REF_NEAR:
            verdicts[row] = ref_near[row]
        else:
            matched = listed[other[n]]
            extra = {"matched_row": matched} if matched_rows else {}
            if kind == RUN_EXACT:
                verdicts[row] = Match(EXACT_DUPLICATE, "run", table.ids[matched], 1.0, extra=extra)
            else:
                verdicts[row] = Match(NEAR_DUPLICATE, "run", table.ids[matched], float(jaccard[n]), extra=extra)
    return verdicts


def resolve(table: Table, params: DedupParams, bands: int, ref_exact: dict[int, Match],
            ref_near: dict[int, Match], threads: int = 1,
            progress: PhaseHook = silent, matched_rows: bool = False) -> dict[int, Match]:
    """Global row → Match for every dropped row (early verdicts included); rows not in it are kept.
    ``ref_exact`` / ``ref_near``: see :func:`add_reference_hits`; ``matched_rows``: see
    :func:`rule_verdicts`. ``progress`` (a
    :data:`synthgen.progress.PhaseHook`) hears the two phases start: grouping rows by LSH bucket, then
    verifying the rows that share one (their count as the total)."""
    progress("LSH candidates", None, None)
    verdicts = {chunk.start + i: match for chunk in table.chunks for i, match in chunk.early.items()}
    for row in sorted(set(ref_exact) | set(ref_near)):
        match = (ref_exact.get(row) if params.exact else None) or ref_near.get(row)
        if match is not None and table.active[row]:
            verdicts[row] = match
    sharing = bucket_sharing_rows(table, params, bands, threads)
    progress("verify", None, len(sharing))
    for row in sharing.tolist():
        verdicts.pop(row, None)
    verdicts.update(rule_verdicts(table, sharing, params, ref_exact, ref_near, matched_rows))
    return verdicts


def kept_sketches(chunk: ChunkSketch, verdicts: dict[int, Match], store: SigStore) -> SketchSet:
    """The chunk's kept rows as sketches (for the history index)."""
    rows = [i for i in range(len(chunk)) if chunk.start + i not in verdicts]
    return SketchSet([chunk.ids[i] for i in rows], chunk.exact[rows], store.of(chunk)[rows])
