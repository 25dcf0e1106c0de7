"""An interpolated Kneser-Ney n-gram language model, fitted on real texts in seconds (pure Python dicts).

For the highest order n and a context h (the previous n − 1 tokens)::

    P(w | h) = max(c(h w) − D_n, 0) / c(h •)  +  D_n · N1+(h •) / c(h •) · P_{n−1}(w | h')

where h' drops the oldest token of h, c(h •) = Σ_w c(h w) and N1+(h •) = |{w : c(h w) > 0}|; when c(h •) = 0
the model backs off to P_{n−1}(w | h') entirely. Lower orders k < n use the same formula on *continuation*
counts N1+(• g) = |{v : c(v g) > 0}| in place of c(g), except for n-grams that begin with <s>, which have no
left context and keep their raw counts (KenLM's rule). The unigram level interpolates with the uniform
distribution over the vocabulary plus one unknown type, so every token has a probability and the
probabilities of all types sum to 1 for every context. D_k = n1 / (n1 + 2 n2) from the order-k counts of
count 1 and 2 (Ney et al. 1994), or a fixed ``discount``. (Chen & Goodman 1999, "interpolated Kneser-Ney".)

Documents are tokenized like the diversity metrics (casefolded ``\\w+`` runs and punctuation marks), framed
by n − 1 start markers and one end marker; a record's log-perplexity is its mean negative log-probability
per predicted token (the end marker included).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Iterable, Sequence

import numpy as np

from ..diversity.lexical import tokenize

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
DEFAULT_DISCOUNT = 0.75  # when n1 / (n1 + 2 n2) is undefined (no counts of 1 or 2)


class KneserNeyLM:
    """Params-only constructor; fitted state ends in ``_`` (``counts_[k]``, ``totals_[k]``, ``types_[k]``,
    ``discounts_[k]`` for orders k = 1 … n, and ``vocab_``)."""

    def __init__(self, order: int = 3, discount: float | None = None):
        if order < 1:
            raise ValueError(f"order must be ≥ 1, got {order}")
        if discount is not None and not 0 < discount < 1:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        self.order, self.discount = order, discount

    def fit(self, texts: Iterable[str]) -> "KneserNeyLM":
        return self.fit_tokens(tokenize(t) for t in texts)

    def fit_tokens(self, docs: Iterable[Sequence[str]]) -> "KneserNeyLM":
        return self.fit_counts(raw_counts(docs, self.order))

    def fit_counts(self, raw: dict[int, Counter]) -> "KneserNeyLM":
        """Fit on :func:`raw_counts` of this order (counts of several corpora add up: ``merged_counts``)."""
        self.vocab_ = frozenset(g[-1] for g in raw[1])
        self.counts_ = {self.order: dict(raw[self.order])}
        for k in range(1, self.order):
            self.counts_[k] = adjusted_counts(raw[k], raw[k + 1])
        self.totals_, self.types_, self.discounts_ = {}, {}, {}
        for k, counts in self.counts_.items():
            self.totals_[k], self.types_[k] = context_sums(counts)
            self.discounts_[k] = self.discount or estimate_discount(counts.values())
        return self

    def prob(self, word: str, context: Sequence[str] = ()) -> float:
        """P(word | the last n − 1 tokens of ``context``), interpolated down to the uniform distribution."""
        context = tuple(context)
        return self._prob(word, ((BOS,) * (self.order - 1) + context)[len(context):])

    def _prob(self, word: str, h: tuple[str, ...]) -> float:
        p = 1.0 / (len(self.vocab_) + 1)
        for k in range(1, self.order + 1):
            ctx = h[len(h) - k + 1:] if k > 1 else ()
            total = self.totals_[k].get(ctx, 0)
            if total:
                d = self.discounts_[k]
                seen = max(self.counts_[k].get(ctx + (word,), 0) - d, 0.0)
                p = seen / total + d * self.types_[k][ctx] / total * p
        return p

    def doc_logprob(self, tokens: Sequence[str]) -> tuple[float, int]:
        """(Σ log P over the tokens and the end marker, the number of predicted tokens)."""
        padded = [BOS] * (self.order - 1) + list(tokens) + [EOS]
        total = 0.0
        for i in range(self.order - 1, len(padded)):
            total += math.log(self._prob(padded[i], tuple(padded[i - self.order + 1:i])))
        return total, len(padded) - self.order + 1

    def log_perplexities(self, texts: Sequence[str]) -> np.ndarray:
        """Per record: −(1/N) Σ log P(token) over its N predicted tokens (natural log)."""
        out = np.empty(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            logprob, n = self.doc_logprob(tokenize(text))
            out[i] = -logprob / n
        return out


def raw_counts(docs: Iterable[Sequence[str]], order: int) -> dict[int, Counter]:
    """Order k → Counter of the k-grams that end on a predicted token (a word or </s>). Position j of the
    k-grams ending at i = n − 1 … len − 1 (n = ``order``) is one slice of the padded document, so each
    order is counted by ``Counter.update`` over a ``zip`` of k slices (in C, not a Python loop per token)."""
    counts: dict[int, Counter] = {k: Counter() for k in range(1, order + 1)}
    for doc in docs:
        padded = [BOS] * (order - 1) + list(doc) + [EOS]
        end = len(padded)
        for k in range(1, order + 1):
            counts[k].update(zip(*(padded[order - k + j:end - k + 1 + j] for j in range(k))))
    return counts


def merged_counts(*parts: dict[int, Counter]) -> dict[int, Counter]:
    """The :func:`raw_counts` of several corpora as one (the counts of their concatenation)."""
    merged = {k: Counter(counts) for k, counts in parts[0].items()}
    for part in parts[1:]:
        for k, counts in part.items():
            merged[k].update(counts)
    return merged


def adjusted_counts(lower: Counter, higher: Counter) -> dict[tuple, int]:
    """Continuation counts N1+(• g) for the k-grams g; raw counts for those that begin with <s>."""
    left: Counter = Counter(g[1:] for g in higher)
    return {g: (c if g[0] == BOS else left[g]) for g, c in lower.items() if g[0] == BOS or left[g] > 0}


def context_sums(counts: dict[tuple, int]) -> tuple[dict[tuple, int], dict[tuple, int]]:
    """Per context h: (Σ_w count(h w), |{w : count(h w) > 0}|)."""
    totals: dict[tuple, int] = defaultdict(int)
    types: dict[tuple, int] = defaultdict(int)
    for gram, count in counts.items():
        totals[gram[:-1]] += count
        types[gram[:-1]] += 1
    return dict(totals), dict(types)


def estimate_discount(counts: Iterable[int]) -> float:
    """D = n1 / (n1 + 2 n2), n_r = the number of n-grams with count r; DEFAULT_DISCOUNT when undefined."""
    histogram = Counter(counts)
    n1, n2 = histogram.get(1, 0), histogram.get(2, 0)
    if n1 == 0 or n1 + 2 * n2 == 0:
        return DEFAULT_DISCOUNT
    return min(max(n1 / (n1 + 2 * n2), 0.05), 0.95)
