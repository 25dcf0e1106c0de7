"""Module C's model: an interpolated maximum-likelihood word-bigram LM, fitted and sampled with numpy.

P(w | v) = λ·c(v, w)/c(v) + (1 − λ)·c(w)/N, λ = 0.7 (unigram only when v was never a context). Sampling at
temperature T uses c^{1/T} in both count vectors, and only types seen in training: a type that gets no
sample is gone from the next model for good (Shumailov's absorbing case; what truncated LLM sampling
does). Evaluation adds a fixed floor, (1 − ε)·P + ε/|V|, ε = 10⁻³, |V| the real training vocabulary,
identical for every regime, so held-out perplexity is finite.

Counts are one sorted array of bigram keys ``v·S + w`` (S = vocabulary size incl. the two markers), so a
row's successors are a contiguous slice: sampling is one ``searchsorted`` per step for all documents.
"""

from __future__ import annotations

import numpy as np

from .corpus import BOS, EOS

LAMBDA = 0.7
FLOOR = 1e-3
MAX_LEN = 100


def transitions(docs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(previous, next, doc index) over every document framed as <s> w1 … wn </s>."""
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    flat = np.concatenate(docs).astype(np.int64) if docs else np.empty(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(docs) else lengths
    prev = np.insert(flat, starts, BOS)
    nxt = np.insert(flat, starts + lengths, EOS)
    return prev, nxt, np.repeat(np.arange(len(docs)), lengths + 1)


class BigramLM:
    """Fitted state ends in ``_``: sorted bigram ``keys_`` with ``counts_``, ``row_ptr_``, ``unigram_``."""

    def __init__(self, size: int, lam: float = LAMBDA):
        self.size, self.lam = size, lam

    def fit(self, docs: list[np.ndarray]) -> "BigramLM":
        prev, nxt, _ = transitions(docs)
        keys, counts = np.unique(prev * self.size + nxt, return_counts=True)
        self.keys_, self.counts_ = keys, counts.astype(np.float64)
        self.rows_, self.cols_ = keys // self.size, keys % self.size
        self.row_ptr_ = np.searchsorted(self.rows_, np.arange(self.size + 1))
        self.row_total_ = np.bincount(self.rows_, weights=self.counts_, minlength=self.size)
        self.unigram_ = np.bincount(nxt, minlength=self.size).astype(np.float64)
        self._samplers: dict[float, tuple] = {}
        return self

    @property
    def support(self) -> np.ndarray:
        """Boolean mask over token ids: the word types this model can emit (markers excluded)."""
        mask = self.unigram_ > 0
        mask[[EOS, BOS]] = False
        return mask

    def prob(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """P(next | prev) at T = 1 (no floor)."""
        keys = prev.astype(np.int64) * self.size + nxt
        pos = np.minimum(np.searchsorted(self.keys_, keys), len(self.keys_) - 1)
        pair = np.where(self.keys_[pos] == keys, self.counts_[pos], 0.0)
        context = self.row_total_[prev]
        uni = self.unigram_[nxt] / self.unigram_.sum()
        bigram = pair / np.maximum(context, 1.0)
        return np.where(context > 0, self.lam * bigram + (1 - self.lam) * uni, uni)

    def doc_nll(self, docs: list[np.ndarray], floor_vocab: int) -> tuple[np.ndarray, np.ndarray]:
        """Per document: summed negative log-likelihood (floored) and token count (incl. </s>)."""
        prev, nxt, doc = transitions(docs)
        p = (1 - FLOOR) * self.prob(prev, nxt) + FLOOR / floor_vocab
        nll = np.bincount(doc, weights=-np.log(p), minlength=len(docs))
        return nll, np.bincount(doc, minlength=len(docs)).astype(np.float64)

    def perplexity(self, docs: list[np.ndarray], floor_vocab: int) -> float:
        nll, n = self.doc_nll(docs, floor_vocab)
        return float(np.exp(nll.sum() / n.sum()))

    def _sampler(self, temperature: float) -> tuple:
        if temperature not in self._samplers:
            weights = self.counts_ ** (1.0 / temperature)
            cum = np.cumsum(weights)
            base = np.concatenate([[0.0], cum])[self.row_ptr_[:-1]]
            total = np.bincount(self.rows_, weights=weights, minlength=self.size)
            uni_cum = np.cumsum(self.unigram_ ** (1.0 / temperature))
            self._samplers[temperature] = (cum, base, total, uni_cum)
        return self._samplers[temperature]

    def next_tokens(self, prev: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
        """One draw of the next token for each context in ``prev``."""
        cum, base, total, uni_cum = self._sampler(temperature)
        u, branch = rng.random(len(prev)), rng.random(len(prev))
        bigram = (total[prev] > 0) & (branch < self.lam)
        out = np.empty(len(prev), dtype=np.int64)
        v = prev[bigram]
        j = np.searchsorted(cum, base[v] + u[bigram] * total[v], side="right")
        out[bigram] = self.cols_[np.clip(j, self.row_ptr_[v], self.row_ptr_[v + 1] - 1)]
        j = np.searchsorted(uni_cum, u[~bigram] * uni_cum[-1], side="right")
        out[~bigram] = np.minimum(j, self.size - 1)
        return out

    def sample(self, n: int, temperature: float, rng: np.random.Generator, max_len: int = MAX_LEN) -> list[np.ndarray]:
        """``n`` documents: from <s> until </s> or ``max_len`` tokens (then cut)."""
        out = np.full((n, max_len), -1, dtype=np.int32)
        current = np.full(n, BOS, dtype=np.int64)
        alive = np.arange(n)
        for step in range(max_len):
            if not len(alive):
                break
            tokens = self.next_tokens(current[alive], temperature, rng)
            going = tokens != EOS
            out[alive[going], step] = tokens[going]
            current[alive] = tokens
            alive = alive[going]
        lengths = (out >= 0).sum(axis=1)
        return [row[:k].copy() for row, k in zip(out, lengths)]


def fit(docs: list[np.ndarray], size: int) -> BigramLM:
    return BigramLM(size).fit(docs)
