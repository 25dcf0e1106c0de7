"""Measure near-duplicate accuracy on a corpus with planted near-duplicates, against exact Jaccard.

- :func:`plant` copies texts with word edits at controlled rates (each word, with probability ``rate``, is
  substituted, deleted, or followed by an inserted word, equally likely);
- :func:`exact_jaccard_matrix` is the brute-force truth: ``J(A, B) = |A ∩ B| / |A ∪ B|`` over the same
  word shingles the MinHash sees, for every pair, via a sparse product ``X Xᵀ`` (n ≲ 10⁴);
- :func:`accuracy`: recall = share of pairs with ``J ≥ recall_at`` where one side was dropped;
  precision = share of dropped texts whose matched record has ``J ≥ precision_at`` with them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from .minhash import WordHashes, window_hashes64
from .normalize import tokenize
from .scopes import Match


def mutate(words: list[str], rate: float, vocabulary: list[str], rng: random.Random) -> list[str]:
    """Edit each word with probability ``rate``: substitute, delete, or insert a word after it."""
    out: list[str] = []
    for word in words:
        if rng.random() >= rate:
            out.append(word)
            continue
        op = rng.randrange(3)
        if op == 0:
            out.append(rng.choice(vocabulary))
        elif op == 2:
            out += [word, rng.choice(vocabulary)]
    return out


def plant(texts: list[str], n_copies: int, rates: list[float], seed: int = 0) -> tuple[list[str], list[tuple[int, int, float]]]:
    """``texts`` followed by ``n_copies`` mutated copies of random originals, shuffled into the corpus.

    Returns the corpus and ``(original position, copy position, rate)`` for every planted pair; every
    copy comes after its original, as a run's later candidates come after earlier ones.
    """
    rng = random.Random(seed)
    vocabulary = sorted({w for text in texts[:2000] for w in text.split()})
    plan = [(rng.randrange(len(texts)), rates[i % len(rates)]) for i in range(n_copies)]
    copies = [" ".join(mutate(texts[src].split(), rate, vocabulary, rng)) for src, rate in plan]
    corpus = list(texts) + copies
    pairs = [(src, len(texts) + i, rate) for i, (src, rate) in enumerate(plan)]
    return corpus, pairs


def shingle_sets(texts: list[str], ngram: int) -> list[np.ndarray]:
    """The set of 64-bit word-shingle hashes of each text (same tokenization and windows as MinHash)."""
    words = WordHashes()
    token_lists = [tokenize(text) for text in texts]
    lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(texts))
    hashes, counts = window_hashes64(words.of([t for tokens in token_lists for t in tokens]), lengths, ngram)
    return [np.unique(part) for part in np.split(hashes, np.cumsum(counts)[:-1])]


def exact_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0


def exact_jaccard_matrix(sets: list[np.ndarray]):
    """Sparse upper-triangular matrix of ``J(i, j) > 0`` for all pairs ``i < j`` (brute force)."""
    from scipy import sparse

    vocab, inverse = np.unique(np.concatenate(sets), return_inverse=True)
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    x = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, inverse)), shape=(len(sets), len(vocab)))
    inter = sparse.triu(x @ x.T, k=1).tocoo()
    sizes = np.array([len(s) for s in sets], dtype=np.float64)
    values = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    return sparse.coo_matrix((values, (inter.row, inter.col)), shape=inter.shape)


@dataclass(frozen=True)
class Accuracy:
    recall: float
    precision: float
    n_true_pairs: int
    n_dropped: int

    def as_dict(self) -> dict:
        return {"recall": round(self.recall, 4), "precision": round(self.precision, 4),
                "true_pairs": self.n_true_pairs, "dropped": self.n_dropped}


def accuracy(verdicts: list[Match | None], ids: list[str], sets: list[np.ndarray], truth,
             recall_at: float = 0.85, precision_at: float = 0.8) -> Accuracy:
    """Recall over true pairs ``J ≥ recall_at``; precision over near/exact drops (matched pair ``J ≥ precision_at``)."""
    dropped = np.array([v is not None for v in verdicts])
    strong = truth.data >= recall_at
    caught = dropped[truth.row[strong]] | dropped[truth.col[strong]]
    position = {record_id: i for i, record_id in enumerate(ids)}
    matched = [(i, position[v.matched_id]) for i, v in enumerate(verdicts) if v is not None and v.matched_id in position]
    good = [exact_jaccard(sets[i], sets[j]) >= precision_at for i, j in matched]
    recall = float(caught.mean()) if len(caught) else 1.0
    precision = float(np.mean(good)) if good else 1.0
    return Accuracy(recall, precision, int(strong.sum()), len(matched))
