"""Lexical diversity metrics: pure functions of texts. Each docstring gives the formula.

Tokens are ``\\w+`` runs and single punctuation marks of the casefolded text, each Chinese or Japanese
character a token of its own (:func:`tokenize`; :mod:`synthgen.cjk`). Every
metric raises :class:`NotComputed` when its input cannot support it (too few texts, no n-grams).
"""

from __future__ import annotations

import gzip
import math
import random
import re
from collections import Counter
from typing import Iterable, Sequence

from ..cjk import CJK_RANGES
from .results import NotComputed

TOKEN = re.compile(rf"[{CJK_RANGES}]|[^\W{CJK_RANGES}]+|[^\w\s]")  # a CJK character is a token of its own


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.casefold())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return list(zip(*(tokens[i:] for i in range(n))))


def nonempty(texts: Iterable[str], need: int, metric: str) -> list[str]:
    """The texts with at least one non-space character; NotComputed when fewer than ``need``."""
    texts = list(texts)
    kept = [t for t in texts if t and t.strip()]
    if len(kept) < need:
        empty = len(texts) - len(kept)
        raise NotComputed(f"{metric} needs at least {need} non-empty texts, got {len(kept)} ({empty} empty)")
    return kept


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """distinct-n = |unique n-grams| / |n-grams|, n-grams taken within each text and pooled
    (Li et al. 2016). 1 = no n-gram repeats; lower = more repetitive."""
    grams = [g for text in nonempty(texts, 1, f"distinct_{n}") for g in ngrams(tokenize(text), n)]
    if not grams:
        raise NotComputed(f"distinct_{n}: no text has {n} tokens")
    return len(set(grams)) / len(grams)


def compression_ratio(texts: Sequence[str]) -> float:
    """CR = bytes(D) / bytes(gzip(D)), D = the texts joined by single spaces, UTF-8, gzip level 9 with
    mtime 0 (Shaib et al. 2024). Higher = more repetitive."""
    data = " ".join(nonempty(texts, 1, "compression_ratio")).encode("utf-8")
    return len(data) / len(gzip.compress(data, compresslevel=9, mtime=0))


def self_repetition(texts: Sequence[str], n: int = 4) -> float:
    """SR = (1/N) Σ_i log(1 + Σ_{g ∈ G_i} (df(g) − 1)), G_i = the distinct n-grams of text i, df(g) =
    the number of texts containing g (Salkar et al., as in Shaib's ``diversity``). 0 = no n-gram is shared."""
    texts = nonempty(texts, 2, "self_repetition")
    sets = [set(ngrams(tokenize(text), n)) for text in texts]
    df = Counter(g for grams in sets for g in grams)
    return sum(math.log1p(sum(df[g] - 1 for g in grams)) for grams in sets) / len(texts)


def vocabulary_size(texts: Sequence[str]) -> float:
    """|V| = the number of distinct tokens (types) in the texts; compare at equal token budgets."""
    types = {tok for text in nonempty(texts, 1, "vocabulary_size") for tok in tokenize(text)}
    return float(len(types))


def rare_type_recall(texts: Sequence[str], reference_texts: Sequence[str], max_count: int = 2) -> float:
    """recall = |R ∩ V(texts)| / |R|, R = the types occurring at most ``max_count`` times in the reference
    (its tail). Compare against a disjoint real split at the same token budget, never the reference itself."""
    counts = Counter(tok for text in reference_texts for tok in tokenize(text))
    rare = {tok for tok, count in counts.items() if count <= max_count}
    if not rare:
        raise NotComputed(f"rare_type_recall: the reference has no type seen ≤ {max_count} times")
    types = {tok for text in nonempty(texts, 1, "rare_type_recall") for tok in tokenize(text)}
    return len(rare & types) / len(rare)


def self_bleu(texts: Sequence[str], sample: int = 500, seed: int = 0, max_n: int = 4) -> float:
    """Self-BLEU = (1/m) Σ_i BLEU(text_i; every other sampled text as references) on a seeded sample of
    m ≤ ``sample`` texts (Zhu et al. 2018, Texygen). BLEU = BP · exp((1/N) Σ_k log p_k) with clipped
    precisions p_k (max reference count per n-gram), zero matches smoothed to 0.1 / count (NLTK method1),
    BP = exp(1 − r/c) when c ≤ r, r = the closest reference length. Higher = less diverse."""
    texts = nonempty(texts, 2, "self_bleu")
    if len(texts) > sample:
        texts = random.Random(seed).sample(texts, sample)
    docs = [tokenize(text) for text in texts]
    counts = [[Counter(ngrams(doc, k)) for k in range(1, max_n + 1)] for doc in docs]
    best = [_top_two(c[k] for c in counts) for k in range(max_n)]
    lengths = [len(doc) for doc in docs]
    scores = [_bleu(i, counts[i], best, lengths) for i in range(len(docs))]
    return sum(scores) / len(scores)


def _top_two(counters: Iterable[Counter]) -> dict[tuple, tuple[int, int, int]]:
    """For each n-gram: (highest count, the text holding it, second highest count)."""
    best: dict[tuple, tuple[int, int, int]] = {}
    for i, counter in enumerate(counters):
        for gram, count in counter.items():
            top, owner, second = best.get(gram, (0, -1, 0))
            if count > top:
                best[gram] = (count, i, top)
            elif count > second:
                best[gram] = (top, owner, count)
    return best


def _bleu(i: int, counts: list[Counter], best: list[dict], lengths: list[int]) -> float:
    log_p = 0.0
    for k, counter in enumerate(counts):
        total = sum(counter.values())
        matched = sum(min(c, _max_other(best[k][g], i)) for g, c in counter.items())
        log_p += math.log((matched or 0.1) / max(total, 1))
    return _brevity(i, lengths) * math.exp(log_p / len(counts))


def _max_other(entry: tuple[int, int, int], i: int) -> int:
    top, owner, second = entry
    return second if owner == i else top


def _brevity(i: int, lengths: list[int]) -> float:
    c = lengths[i]
    if c == 0:
        return 0.0
    others = lengths[:i] + lengths[i + 1:]
    r = min(others, key=lambda length: (abs(length - c), length))
    return 1.0 if c > r else math.exp(1 - r / c)
