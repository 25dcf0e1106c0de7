"""What a text is compared against: sketches, frozen reference scopes and the run's growing scope.

A :class:`SketchSet` holds, per record, its id, its exact key (hash of the normalized text) and its
MinHash signature (all ``2^32 − 1`` when the text has no word token, which never matches by LSH).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .lsh import BandTable, FrozenBands, band_keys
from .minhash import MAX_HASH, estimate_jaccard

EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
EMPTY_TEXT = "empty_text"


@dataclass(frozen=True)
class Match:
    """Why a text is dropped, and the evidence: which record it matched, where, at what similarity."""

    reason: str
    scope: str
    matched_id: str | None = None
    score: float | None = None
    score_name: str = "jaccard"
    extra: dict[str, Any] = field(default_factory=dict)

    def evidence(self) -> dict[str, Any]:
        base: dict[str, Any] = {"scope": self.scope, "matched_id": self.matched_id}
        if self.score is not None:
            base[self.score_name] = round(self.score, 4)
        return {**base, **self.extra}


@dataclass
class SketchSet:
    """Parallel arrays: ``ids`` (list of str), ``exact`` (uint64, n), ``sigs`` (uint32, n × num_perm)."""

    ids: list[str]
    exact: np.ndarray
    sigs: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_signature(self) -> np.ndarray:
        return ~(self.sigs == MAX_HASH).all(axis=1)

    @classmethod
    def empty(cls, num_perm: int) -> "SketchSet":
        return cls([], np.empty(0, np.uint64), np.empty((0, num_perm), np.uint32))

    @classmethod
    def concat(cls, parts: list["SketchSet"], num_perm: int) -> "SketchSet":
        if not parts:
            return cls.empty(num_perm)
        ids = [i for part in parts for i in part.ids]
        return cls(ids, np.concatenate([p.exact for p in parts]), np.concatenate([p.sigs for p in parts]))

    def take(self, rows: list[int] | np.ndarray) -> "SketchSet":
        rows = np.asarray(rows, dtype=np.int64)
        return SketchSet([self.ids[i] for i in rows], self.exact[rows], self.sigs[rows])


class FrozenScope:
    """A fixed reference set (real data, history), queried a batch at a time, fully vectorized."""

    def __init__(self, name: str, sketches: SketchSet, bands: int, rows: int):
        self.name, self.sketches, self.bands, self.rows = name, sketches, bands, rows
        order = np.argsort(sketches.exact, kind="stable")
        self._exact_sorted, self._exact_order = sketches.exact[order], order
        self._near_rows = np.flatnonzero(sketches.has_signature)
        self._bands = FrozenBands(band_keys(sketches.sigs[self._near_rows], bands, rows))

    def __len__(self) -> int:
        return len(self.sketches)

    def exact_matches(self, keys: np.ndarray) -> np.ndarray:
        """Row of the first reference record with the same exact key, or −1."""
        if not len(self._exact_sorted):
            return np.full(len(keys), -1, np.int64)
        pos = np.searchsorted(self._exact_sorted, keys)
        pos_clipped = np.minimum(pos, len(self._exact_sorted) - 1)
        found = self._exact_sorted[pos_clipped] == keys
        return np.where(found, self._exact_order[pos_clipped], -1)

    def near_matches(self, sigs: np.ndarray, keys: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Best reference row with estimated Jaccard ≥ threshold (−1 if none) and that Jaccard, per query."""
        best, best_j = np.full(len(sigs), -1, np.int64), np.zeros(len(sigs))
        q, r = self._bands.candidate_pairs(keys)
        if not len(q):
            return best, best_j
        r = self._near_rows[r]
        jac = estimate_jaccard(sigs[q], self.sketches.sigs[r])
        keep = jac >= threshold
        q, r, jac = q[keep], r[keep], jac[keep]
        order = np.lexsort((r, -jac, q))
        first = order[np.unique(q[order], return_index=True)[1]]
        best[q[first]], best_j[q[first]] = r[first], jac[first]
        return best, best_j

    def match(self, row: int, score: float, reason: str) -> Match:
        return Match(reason, self.name, self.sketches.ids[row], score)


class RunScope:
    """The records this run kept so far: exact keys in a dict, signatures in a growing LSH table."""

    name = "run"

    def __init__(self, num_perm: int, bands: int, rows: int):
        self.bands, self.rows = bands, rows
        self.ids: list[str] = []
        self.keys: list[int] = []
        self.exact: dict[int, int] = {}
        self.table = BandTable(bands)
        self._sigs = np.empty((64, num_perm), np.uint32)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def sigs_(self) -> np.ndarray:
        return self._sigs[: len(self.ids)]

    def exact_match(self, key: int) -> Match | None:
        row = self.exact.get(key)
        return None if row is None else Match(EXACT_DUPLICATE, self.name, self.ids[row], 1.0)

    def near_match(self, sig: np.ndarray, keys: list[int], threshold: float) -> Match | None:
        rows = sorted(self.table.candidates(keys))
        if not rows:
            return None
        jac = estimate_jaccard(self._sigs[rows], sig)
        best = int(np.argmax(jac))
        if jac[best] < threshold:
            return None
        return Match(NEAR_DUPLICATE, self.name, self.ids[rows[best]], float(jac[best]))

    def add(self, record_id: str, key: int, sig: np.ndarray | None, keys: list[int] | None) -> None:
        row = len(self.ids)
        if row == len(self._sigs):
            self._sigs = np.concatenate([self._sigs, np.empty_like(self._sigs)])
        self.ids.append(record_id)
        self.keys.append(key)
        self.exact.setdefault(key, row)
        self._sigs[row] = sig if sig is not None else MAX_HASH
        if sig is not None and keys is not None:
            self.table.add(keys, row)

    def sketches(self, start: int = 0) -> SketchSet:
        """The kept records from number ``start`` on."""
        return SketchSet(self.ids[start:], np.array(self.keys[start:], dtype=np.uint64), self.sigs_[start:].copy())
