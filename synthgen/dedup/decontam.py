"""Eval-set decontamination by long n-gram overlap (GPT-3 / Llama practice: word 13-grams).

Every word ``n``-gram of every eval text is hashed (``fmix64(Σ_k w_k · c_k)``, the shingle hash of
:mod:`.minhash`, 64 bits kept). A candidate is contaminated when any of its n-grams is an eval n-gram.
Eval texts shorter than ``n`` words but at least ``min_tokens`` long are matched whole: the candidate is
contaminated when it contains the eval text as a contiguous word sequence. Shorter eval texts ("yes",
"Paris") are skipped (and counted), since they would flag ordinary prose.

Evidence: the eval record matched first, how many of the candidate's n-grams hit (``matched_ngrams``),
the share of its n-grams that hit (``overlap``), ``n``, and the eval file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .minhash import WordHashes, window_hashes64
from .normalize import tokenize
from .scopes import Match

EVAL_CONTAMINATION = "eval_contamination"


@dataclass
class _Windows:
    """Sorted n-gram hashes of one window length, with the eval record each came from."""

    hashes: list[np.ndarray] = field(default_factory=list)
    owners: list[np.ndarray] = field(default_factory=list)
    sorted_: np.ndarray | None = None
    owner_: np.ndarray | None = None

    def freeze(self) -> None:
        hashes, owners = np.concatenate(self.hashes), np.concatenate(self.owners)
        order = np.argsort(hashes, kind="stable")
        self.sorted_, self.owner_ = hashes[order], owners[order]

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Owner of each hash, −1 when it is not an eval n-gram."""
        if self.sorted_ is None:
            self.freeze()
        pos = np.minimum(np.searchsorted(self.sorted_, hashes), len(self.sorted_) - 1)
        return np.where(self.sorted_[pos] == hashes, self.owner_[pos], -1)


class Decontaminator:
    """Flags texts sharing a word ``ngram``-gram with any eval text added by :meth:`add_eval`."""

    def __init__(self, ngram: int = 13, min_tokens: int = 8):
        self.ngram, self.min_tokens = ngram, min(min_tokens, ngram)
        self.ids_: list[str] = []
        self.sources_: list[str] = []
        self.skipped_short_ = 0
        self.skipped_no_text_ = 0  # eval rows left out by their reader for unusable text
        self._by_length: dict[int, _Windows] = {}
        self._words = WordHashes()

    def __len__(self) -> int:
        return len(self.ids_)

    def add_eval(self, ids: list[str], texts: list[str], source: str, skipped: int = 0) -> None:
        """Index the n-grams of eval texts (one window of the whole text when shorter than ``ngram``);
        ``skipped``: the source's rows left out for unusable text (reported by :meth:`describe`)."""
        self.skipped_no_text_ += skipped
        token_lists = [tokenize(text) for text in texts]
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        usable = np.flatnonzero(lengths >= self.min_tokens)
        self.skipped_short_ += len(texts) - len(usable)
        numbers = np.arange(len(self.ids_), len(self.ids_) + len(usable))
        self.ids_ += [ids[i] for i in usable]
        self.sources_ += [source] * len(usable)
        sizes = np.minimum(lengths[usable], self.ngram)
        for size in np.unique(sizes).tolist():
            group = np.flatnonzero(sizes == size)
            chosen = [token_lists[usable[i]] for i in group]
            words = self._words.of([t for tokens in chosen for t in tokens])
            hashes, counts = window_hashes64(words, lengths[usable[group]], size)
            windows = self._by_length.setdefault(size, _Windows())
            windows.hashes.append(hashes)
            windows.owners.append(np.repeat(numbers[group], counts))
            windows.sorted_ = None

    def check(self, texts: list[str]) -> list[Match | None]:
        """A :class:`Match` for each contaminated text, None for a clean one."""
        token_lists = [tokenize(text) for text in texts]
        words = self._words.of([t for tokens in token_lists for t in tokens])
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        hits = np.zeros(len(texts), np.int64)
        first = np.full(len(texts), -1, np.int64)
        for size, windows in sorted(self._by_length.items(), reverse=True):
            hashes, counts = window_hashes64(words, lengths, size)
            owners = windows.lookup(hashes)
            doc = np.repeat(np.arange(len(texts)), counts)
            found = owners >= 0
            hits += np.bincount(doc[found], minlength=len(texts))
            rows = np.flatnonzero(found)
            _, at = np.unique(doc[rows], return_index=True)
            unset = first[doc[rows[at]]] < 0
            first[doc[rows[at]][unset]] = owners[rows[at]][unset]
        n_windows = np.maximum(lengths - self.ngram + 1, 1)
        return [self._match(int(first[i]), int(hits[i]), int(n_windows[i])) if hits[i] else None
                for i in range(len(texts))]

    def _match(self, owner: int, hits: int, n_windows: int) -> Match:
        extra = {"matched_ngrams": hits, "ngram": self.ngram, "source": self.sources_[owner]}
        return Match(EVAL_CONTAMINATION, "eval", self.ids_[owner], min(hits / n_windows, 1.0), "overlap", extra)

    def describe(self) -> dict:
        described = {"ngram": self.ngram, "min_tokens": self.min_tokens, "eval_records": len(self.ids_),
                     "skipped_short": self.skipped_short_}
        return described | ({"skipped_no_text": self.skipped_no_text_} if self.skipped_no_text_ else {})
