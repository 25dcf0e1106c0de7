"""The engine's first-seen-wins rule over the rows that share a bucket, as one compiled loop.

:func:`.resolve.resolve` sends only the rows that share an exact key or an LSH band key with another row
through the sequential rule; on 1,000,000 documents that is ~90,000 rows, and the rule in Python (a dict
per band, a ``set`` of candidates per row) took 2.7 s of the driver's serial time, the largest serial
part of a parallel ``synthgen dedup``. Here the buckets are integer group ids (``np.unique`` per band) and
each group's kept rows a linked list through ``prev``, so the loop compiles with numba (the MinHash
kernel's dependency, :mod:`.kernel`); without numba the same function runs as Python, with the same
result.

The decisions equal the engine's: for each row in input order, a reference exact match, else an exact
copy of a kept row, else (signed rows) a reference near match, else the kept row with the highest
estimated Jaccard among those sharing a band (lowest row on ties) at or above the threshold; otherwise
the row is kept and joins its buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernel import _jit

KEPT, REF_EXACT, RUN_EXACT, REF_NEAR, RUN_NEAR = 0, 1, 2, 3, 4


@dataclass
class RuleInput:
    """The bucket-sharing rows (sorted), as the arrays the compiled loop reads."""

    exact_group: np.ndarray  # (m,) int64: rows with the same exact key share a group
    band_group: np.ndarray  # (m, bands) int64: group of each band key, distinct across bands
    has_sig: np.ndarray  # (m,) bool
    sigs: np.ndarray  # (m, num_perm) uint32 (rows without a signature: anything)
    ref_exact: np.ndarray  # (m,) bool: a reference scope holds an exact copy
    ref_near: np.ndarray  # (m,) bool: a reference scope holds a near copy


def groups_of(exact: np.ndarray, bands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense group ids: one per distinct exact key, and per band one per distinct key (offset so that
    two bands never share a group)."""
    exact_group = np.unique(exact, return_inverse=True)[1].astype(np.int64).reshape(-1)
    band_group = np.empty(bands.shape, np.int64)
    offset = 0
    for b in range(bands.shape[1]):
        values, inverse = np.unique(bands[:, b], return_inverse=True)
        band_group[:, b] = inverse.reshape(-1) + offset
        offset += len(values)
    return exact_group, band_group


def run_rule(rule: RuleInput, use_exact: bool, use_near: bool, threshold: float):
    """Per row: its status (``KEPT``, ``REF_EXACT``, ``RUN_EXACT``, ``REF_NEAR``, ``RUN_NEAR``), the
    position of the kept row it copies (run matches, else -1) and the estimated Jaccard (near ones)."""
    m = len(rule.has_sig)
    status = np.zeros(m, np.int8)
    other = np.full(m, -1, np.int64)
    jaccard = np.zeros(m, np.float64)
    if m:
        n_exact = int(rule.exact_group.max()) + 1
        n_band = int(rule.band_group.max()) + 1 if rule.band_group.size else 0
        _rule_loop(rule.exact_group, np.ascontiguousarray(rule.band_group), rule.has_sig,
                   np.ascontiguousarray(rule.sigs, np.uint32), rule.ref_exact, rule.ref_near, n_exact, n_band,
                   use_exact, use_near, float(threshold), status, other, jaccard)
    return status, other, jaccard


@_jit(boundscheck=False)
def _rule_loop(exact_group, band_group, has_sig, sigs, ref_exact, ref_near, n_exact, n_band,
               use_exact, use_near, threshold, status, other, jaccard):  # pragma: no cover - runs compiled
    m, bands = band_group.shape
    num_perm = sigs.shape[1]
    first_kept = np.full(n_exact, -1, np.int64)
    last_kept = np.full(n_band, -1, np.int64)  # per band group: the latest kept row in it
    prev = np.full((m, bands), -1, np.int64)  # per kept row and band: the kept row before it in its group
    seen = np.full(m, -1, np.int64)  # the row whose candidates last visited this kept row
    for i in range(m):
        if use_exact:
            if ref_exact[i]:
                status[i] = REF_EXACT
                continue
            first = first_kept[exact_group[i]]
            if first >= 0:
                status[i] = RUN_EXACT
                other[i] = first
                continue
        if use_near and has_sig[i]:
            if ref_near[i]:
                status[i] = REF_NEAR
                continue
            best = -1
            best_jac = -1.0
            for b in range(bands):
                j = last_kept[band_group[i, b]]
                while j >= 0:
                    if seen[j] != i:
                        seen[j] = i
                        equal = 0
                        for p in range(num_perm):
                            if sigs[i, p] == sigs[j, p]:
                                equal += 1
                        jac = equal / num_perm
                        if jac > best_jac or (jac == best_jac and j < best):
                            best, best_jac = j, jac
                    j = prev[j, b]
            if best >= 0 and best_jac >= threshold:
                status[i] = RUN_NEAR
                other[i] = best
                jaccard[i] = best_jac
                continue
        if first_kept[exact_group[i]] < 0:
            first_kept[exact_group[i]] = i
        if has_sig[i]:
            for b in range(bands):
                g = band_group[i, b]
                prev[i, b] = last_kept[g]
                last_kept[g] = i


def warm_up() -> None:
    """Load the compiled loops from numba's on-disk cache (~0.4 s in a fresh process), so a driver can do
    it in a thread while its workers sketch instead of at the start of the serial decision pass."""
    rows = np.arange(2, dtype=np.int64)
    shared_rows(np.zeros(2, np.uint64), rows)
    exact_group, band_group = groups_of(np.zeros(2, np.uint64), np.zeros((2, 1), np.uint64))
    run_rule(RuleInput(exact_group, band_group, np.ones(2, bool), np.zeros((2, 4), np.uint32), np.zeros(2, bool),
                       np.zeros(2, bool)), True, True, 0.5)


def shared_rows(column: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The rows (among ``rows``, in their order) whose value in ``column`` occurs at least twice among
    ``rows``: one pass through an open-addressing hash table instead of two sorts of the column."""
    bits = max(int(2 * len(rows)).bit_length(), 4)
    flags = np.zeros(len(rows), np.bool_)
    _mark_shared(column, np.ascontiguousarray(rows, np.int64), bits, flags)
    return rows[flags]


@_jit(boundscheck=False)
def _mark_shared(column, rows, bits, flags):  # pragma: no cover - runs compiled
    size = 1 << bits
    mask = np.uint64(size - 1)
    shift = np.uint64(64 - bits)
    keys = np.empty(size, np.uint64)
    first = np.full(size, -1, np.int64)  # position in ``rows`` of the key's first row; -1: empty slot
    for n in range(rows.shape[0]):
        key = column[rows[n]]
        slot = (key * np.uint64(0x9E3779B97F4A7C15)) >> shift
        while True:
            at = first[slot]
            if at < 0:
                keys[slot] = key
                first[slot] = n
                break
            if keys[slot] == key:
                flags[n] = True
                flags[at] = True
                break
            slot = (slot + np.uint64(1)) & mask
