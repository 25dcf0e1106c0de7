"""Accuracy on real text (the stdlib's pydoc topics) with planted near-duplicates, against brute-force
exact Jaccard: recall ≥ 0.95 for pairs with J ≥ 0.85, precision ≥ 0.95 for the dropped pairs."""

from __future__ import annotations

import pydoc_data.topics
import pytest

from synthgen.dedup import NEAR_DUPLICATE, DedupParams, Deduplicator
from synthgen.dedup.evaluate import accuracy, exact_jaccard_matrix, plant, shingle_sets

RATES = [0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3]


def real_chunks(words_per_text: int, limit: int) -> list[str]:
    words = " ".join(pydoc_data.topics.topics.values()).split()
    return [" ".join(words[i:i + words_per_text]) for i in range(0, len(words) - words_per_text, words_per_text)][:limit]


@pytest.mark.parametrize("words_per_text,expected_ngram", [(60, 5), (25, 3)])
def test_planted_near_duplicates_recall_and_precision(words_per_text, expected_ngram):
    corpus, pairs = plant(real_chunks(words_per_text, 1000), 500, RATES, seed=1)
    ids = [str(i) for i in range(len(corpus))]
    engine = Deduplicator(DedupParams())
    verdicts = engine.check(ids, corpus)
    assert engine.ngram_ == expected_ngram
    sets = shingle_sets(corpus, engine.ngram_)
    truth = exact_jaccard_matrix(sets)
    result = accuracy(verdicts, ids, sets, truth, recall_at=0.85, precision_at=0.8)
    assert result.n_true_pairs > 150 and result.n_dropped > 150
    assert result.recall >= 0.95, result
    assert result.precision >= 0.95, result
    near_only = [v if v is not None and v.reason == NEAR_DUPLICATE else None for v in verdicts]
    near = accuracy(near_only, ids, sets, truth, precision_at=0.75)
    assert near.precision >= 0.95, near  # near drops alone: within ~1.5 standard errors of the threshold
