"""The deduplication engine: exact and near duplicates against reference scopes and the records kept so far.

Decision for each text, in order (the first that holds is the evidence kept):

1. normalized text empty → ``empty_text``;
2. exact key equal to a reference record (real, then history), then to a kept record → ``exact_duplicate``;
3. an LSH candidate (shares ≥ 1 of b bands) with estimated Jaccard ``Ĵ ≥ threshold`` in a reference, then
   among kept records → ``near_duplicate`` with the best-scoring match (ties: the earliest record).

Kept texts join the run scope at once, so later texts of the same batch are compared with them:
first seen wins, and deduplicating the kept output again drops nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .lsh import band_keys, optimal_params
from .minhash import MAX_HASH, MinHasher, SplitWordHashes, auto_ngram
from .normalize import exact_keys, normalize_text
from .scopes import EMPTY_TEXT, EXACT_DUPLICATE, NEAR_DUPLICATE, FrozenScope, Match, RunScope, SketchSet

BATCH = 8192


@dataclass(frozen=True)
class DedupParams:
    """Engine settings; ``ngram=None`` picks 5 or 3 from the first texts checked (see ``auto_ngram``), not
    from reference texts (they wait for it, see :meth:`Deduplicator.add_reference_texts`)."""

    exact: bool = True
    near: bool = True
    num_perm: int = 128
    seed: int = 1
    ngram: int | None = None
    lsh_threshold: float = 0.7
    threshold: float = 0.8
    bands: int | None = None
    rows: int | None = None

    def band_geometry(self) -> tuple[int, int]:
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_params(self.lsh_threshold, self.num_perm)


@dataclass
class Prepared:
    """A batch made comparable: normalized texts, sketches and LSH band keys."""

    normalized: list[str]
    sketches: SketchSet
    keys: np.ndarray
    has_sig: np.ndarray


class Deduplicator:
    """Finds exact and near duplicates of texts against reference scopes and earlier kept texts."""

    def __init__(self, params: DedupParams | None = None):
        self.params = params or DedupParams()
        self.bands_, self.rows_ = self.params.band_geometry()
        self.ngram_: int | None = None
        self.hasher_: MinHasher | None = None
        self._words = SplitWordHashes()
        if self.params.ngram is not None:
            self.set_ngram(self.params.ngram)
        self.references_: list[FrozenScope] = []
        self.skipped_: dict[str, int] = {}  # reference rows left out for unusable text, by scope
        self._waiting: list = []  # scopes waiting, in order, for reference texts to be sketched (see add_scope)
        self.run_ = RunScope(self.params.num_perm, self.bands_, self.rows_)

    def set_ngram(self, ngram: int) -> None:
        self.ngram_ = ngram
        self.hasher_ = MinHasher(self.params.num_perm, ngram, self.params.seed, self._words)

    def fix_ngram(self, ngram: int | None) -> None:
        """Fix an automatic shingle size decided from the texts to deduplicate (``synthgen dedup`` reads its
        input first) and sketch the waiting references; ``None`` (no text had a word): they decide."""
        if self.hasher_ is None and ngram is not None:
            self.set_ngram(ngram)
        self._add_waiting(decide=True)

    def prepare(self, ids: list[str], texts: list[str]) -> Prepared:
        """Normalize, hash and sign a batch; the first batch fixes an automatic n-gram size."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        normalized = [normalize_text(text) for text in texts]
        words, lengths = self._words.flatten(normalized)
        if self.hasher_ is None and lengths.any():
            self.set_ngram(auto_ngram([int(n) for n in lengths if n]))
        if self.hasher_ is None:  # nothing but empty texts so far: every signature is the empty one
            sigs = np.full((len(ids), self.params.num_perm), MAX_HASH, dtype=np.uint32)
        else:
            sigs = self.hasher_.signatures_of_words(words, lengths)
        sketches = SketchSet(list(ids), exact_keys(normalized), sigs)
        return Prepared(normalized, sketches, band_keys(sigs, self.bands_, self.rows_), sketches.has_signature)

    def add_reference(self, name: str, sketches: SketchSet) -> FrozenScope:
        """Compare every later text with these records (checked in the order references were added)."""
        return self.add_scope(FrozenScope(name, sketches, self.bands_, self.rows_))

    def add_scope(self, scope) -> Any:
        """Add a reference scope (a :class:`FrozenScope`, or one with its methods, e.g. a Redis history);
        it joins :attr:`references_` after the reference texts given before it are sketched."""
        self._waiting.append(scope)
        self._add_waiting(decide=False)
        return scope

    def add_reference_texts(self, name: str, ids: list[str], texts: list[str], skipped: int = 0) -> FrozenScope | None:
        """Sketch texts (in slices of ``BATCH``) and add them as a reference scope; ``skipped`` counts the
        source's rows left out for unusable text (reported by :meth:`describe`).

        While an automatic n-gram size is not fixed, the texts wait (None is returned) for the first texts
        checked to fix it: the texts being deduplicated choose their shingle size, not the references."""
        if skipped:
            self.skipped_[name] = self.skipped_.get(name, 0) + skipped
        self._waiting.append((name, list(ids), list(texts)))
        self._add_waiting(decide=False)
        return None if self._waiting else self.references_[-1]

    def _add_waiting(self, decide: bool) -> None:
        """Sketch the waiting reference texts in order once the n-gram size is fixed; with ``decide``, now
        (their first texts with a word fix an automatic size, as the first texts seen)."""
        while self._waiting:
            item = self._waiting[0]
            if isinstance(item, tuple):  # (name, ids, texts)
                if not decide and self.hasher_ is None:
                    return
                name, ids, texts = item
                parts = [self.prepare(ids[lo:lo + BATCH], texts[lo:lo + BATCH]).sketches
                         for lo in range(0, len(ids), BATCH)]
                item = FrozenScope(name, SketchSet.concat(parts, self.params.num_perm), self.bands_, self.rows_)
            self.references_.append(item)
            self._waiting.pop(0)

    def reset_run(self) -> None:
        """Forget the run scope (kept records), keeping real data and history."""
        self.run_ = RunScope(self.params.num_perm, self.bands_, self.rows_)

    def observe(self, ids: list[str], texts: list[str]) -> None:
        """Add already-kept texts to the run scope without checking them (a resumed run's records)."""
        for lo in range(0, len(ids), BATCH):
            prep = self.prepare(ids[lo:lo + BATCH], texts[lo:lo + BATCH])
            keys = prep.keys.tolist()
            for i in range(len(prep.normalized)):
                self._keep(prep, i, keys[i])

    def check(self, ids: list[str], texts: list[str]) -> list[Match | None]:
        """One verdict per text: a :class:`Match` to drop it, None to keep it (it joins the run scope).

        Large inputs go through in slices of ``BATCH`` texts (same decisions, bounded memory)."""
        if len(ids) != len(texts):
            raise ValueError(f"{len(ids)} ids for {len(texts)} texts")
        verdicts: list[Match | None] = []
        for lo in range(0, len(ids), BATCH):
            verdicts += self._check_batch(ids[lo:lo + BATCH], texts[lo:lo + BATCH])
        return verdicts

    def _check_batch(self, ids: list[str], texts: list[str]) -> list[Match | None]:
        prep = self.prepare(ids, texts)
        self._add_waiting(decide=any(prep.normalized))  # a text without words still needs the exact keys
        exact_hits, near_hits = self._reference_hits(prep)
        keys = prep.keys.tolist()
        verdicts: list[Match | None] = []
        for i in range(len(ids)):
            match = self._decide(prep, i, exact_hits[i], near_hits[i], keys[i], bool(prep.has_sig[i]))
            if match is None:
                self._keep(prep, i, keys[i])
            verdicts.append(match)
        return verdicts

    def _decide(self, prep: Prepared, i: int, ref_exact: Match | None, ref_near: Match | None,
                keys: list[int], has_sig: bool) -> Match | None:
        if not prep.normalized[i]:
            return Match(EMPTY_TEXT, self.run_.name)
        if self.params.exact:
            match = ref_exact or self.run_.exact_match(int(prep.sketches.exact[i]))
            if match is not None:
                return match
        if self.params.near and has_sig:
            return ref_near or self.run_.near_match(prep.sketches.sigs[i], keys, self.params.threshold)
        return None

    def _keep(self, prep: Prepared, i: int, keys: list[int]) -> None:
        self.run_.add(prep.sketches.ids[i], int(prep.sketches.exact[i]), prep.sketches.sigs[i],
                      keys if prep.has_sig[i] else None)

    def _reference_hits(self, prep: Prepared) -> tuple[list[Match | None], list[Match | None]]:
        """Per text, the first reference scope's exact match and near match (vectorized per scope)."""
        n = len(prep.normalized)
        exact: list[Match | None] = [None] * n
        near: list[Match | None] = [None] * n
        for scope in self.references_:
            rows = scope.exact_matches(prep.sketches.exact) if self.params.exact else np.full(n, -1)
            best, jac = (scope.near_matches(prep.sketches.sigs, prep.keys, self.params.threshold)
                         if self.params.near else (np.full(n, -1), np.zeros(n)))
            for i in np.flatnonzero(rows >= 0):
                exact[i] = exact[i] or scope.match(int(rows[i]), 1.0, EXACT_DUPLICATE)
            for i in np.flatnonzero(best >= 0):
                near[i] = near[i] or scope.match(int(best[i]), float(jac[i]), NEAR_DUPLICATE)
        return exact, near

    def describe(self) -> dict:
        """Resolved settings, for reports: shingle size, band geometry, thresholds, scope sizes, and (when
        any) the reference rows skipped for unusable text (``skipped_no_text``, by scope)."""
        waiting = [(item[0], len(item[1])) if isinstance(item, tuple) else (item.name, len(item))
                   for item in self._waiting]
        scopes = {s.name: len(s) for s in self.references_} | dict(waiting)
        described = {"ngram": self.ngram_, "num_perm": self.params.num_perm, "bands": self.bands_, "rows": self.rows_,
                     "lsh_threshold": self.params.lsh_threshold, "threshold": self.params.threshold,
                     "scopes": scopes | {"run": len(self.run_)}}
        return described | ({"skipped_no_text": dict(self.skipped_)} if self.skipped_ else {})
