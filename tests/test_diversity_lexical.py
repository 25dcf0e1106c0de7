"""Lexical metrics against hand-computed values, equal-token sampling, and the not-computed paths."""

from __future__ import annotations

import gzip
import math

import pytest

from helpers_diversity import corpus
from synthgen.diversity.lexical import (compression_ratio, distinct_n, rare_type_recall, self_bleu, self_repetition,
                                        tokenize, vocabulary_size)
from synthgen.diversity.metrics import MetricSettings, lexical_table
from synthgen.diversity.results import NotComputed, measure
from synthgen.diversity.sampling import equal_size, equal_tokens, split_halves, truncate_to_words, word_count


def test_tokenize_casefolds_and_splits_punctuation():
    assert tokenize("Hi, hi!") == ["hi", ",", "hi", "!"]


def test_distinct_n_by_hand():
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)  # ab, ba, ab
    assert distinct_n(["a b", "a b"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["Hi, hi!"], 1) == pytest.approx(3 / 4)
    assert distinct_n(["a b", "b a"], 2) == 1.0  # n-grams never cross texts


def test_compression_ratio_is_the_gzip_formula_and_orders_repetition():
    texts = ["the cat sat", "on the mat"]
    data = b"the cat sat on the mat"
    assert compression_ratio(texts) == pytest.approx(len(data) / len(gzip.compress(data, 9, mtime=0)))
    assert compression_ratio(["same words again"] * 50) > compression_ratio(corpus(50, 3000))


def test_self_repetition_by_hand():
    assert self_repetition(["a b c d", "a b c d", "e f g h"]) == pytest.approx(2 * math.log(2) / 3)
    assert self_repetition(["a b c d e", "b c d e f"]) == pytest.approx(math.log(2))  # share b c d e
    assert self_repetition(["a b c d", "e f g h"]) == 0.0


def test_self_bleu_by_hand():
    assert self_bleu(["a b c d e", "a b c d e"]) == pytest.approx(1.0)
    # p1 = 3/4, p2 = 2/3, equal lengths: sqrt(1/2) for both texts
    assert self_bleu(["a b c d", "a b c e"], max_n=2) == pytest.approx(math.sqrt(0.5))
    # brevity: "a b" vs "a b c d" → e^(1-2)·1; "a b c d" vs "a b" → BP 1, p1 = 2/4
    assert self_bleu(["a b", "a b c d"], max_n=1) == pytest.approx((math.exp(-1) + 0.5) / 2)
    # no match at all: smoothed to 0.1 / 2
    assert self_bleu(["a b", "c d"], max_n=1) == pytest.approx(0.05)


def test_self_bleu_samples_with_a_seed():
    texts = corpus(80, 40)
    assert self_bleu(texts, sample=20, seed=1) == self_bleu(texts, sample=20, seed=1)
    assert self_bleu(texts, sample=20, seed=1) != self_bleu(texts, sample=20, seed=2)


def test_self_bleu_uses_the_best_other_reference_not_itself():
    # the most frequent n-gram owner is the hypothesis itself: the clip must use the runner-up
    assert self_bleu(["x x x x", "x y z w"], max_n=1) == pytest.approx((1 / 4 + 1 / 4) / 2)


def test_vocabulary_and_rare_type_recall_by_hand():
    assert vocabulary_size(["The cat.", "the dog"]) == 4  # the, cat, ., dog
    # reference counts: x 3, y 1, z 1 → rare {y, z}; texts hold y → 1/2
    assert rare_type_recall(["x y"], ["x x x y z"], max_count=2) == pytest.approx(0.5)


@pytest.mark.parametrize("call, message", [
    (lambda: distinct_n([], 2), "at least 1 non-empty"),
    (lambda: distinct_n(["", "  "], 2), "(2 empty)"),
    (lambda: distinct_n(["a"], 2), "no text has 2 tokens"),
    (lambda: self_bleu(["only one"]), "at least 2"),
    (lambda: self_repetition(["one", ""]), "at least 2"),
    (lambda: rare_type_recall(["a"], ["a a a"]), "no type seen"),
    (lambda: compression_ratio([""]), "non-empty"),
])
def test_bad_input_raises_not_computed(call, message):
    with pytest.raises(NotComputed, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_measure_marks_not_computed_with_the_reason():
    result = measure("distinct_2", distinct_n, [""], 2)
    assert result.value is None and not result.computed and "non-empty" in result.reason
    assert measure("distinct_2", distinct_n, ["a b a b"], 2).value == pytest.approx(2 / 3)


def test_word_budgets():
    assert truncate_to_words(["a b c", "", "d e"], 4) == ["a b c", "d"]
    a, b = equal_tokens(["one two three", "four five"], ["x y"], seed=0)
    assert word_count(a) == word_count(b) == 2


def test_equal_size_and_split_halves():
    a, b = equal_size(list(range(10)), list(range(4)), seed=0)
    assert len(a) == len(b) == 4 and len(set(a)) == 4
    first, second = split_halves(7, seed=0)
    assert len(first) == 4 and len(second) == 3 and not set(first) & set(second)


def test_lexical_table_compares_at_equal_words():
    real, mine = corpus(200, 2000, seed=1), corpus(100, 60, seed=2)
    rows = {row.metric: row for row in lexical_table(mine, real, MetricSettings())}
    assert rows["distinct_2"].details["words"] == min(word_count(mine), word_count(real))
    assert rows["distinct_2"].ratio < 0.85 and rows["compression_ratio"].ratio > 1.1
    assert rows["rare_type_recall"].value < rows["rare_type_recall"].reference


def test_lexical_table_too_few_words_is_not_computed():
    rows = lexical_table(["a few words here"], ["and some real ones"], MetricSettings(min_tokens=200))
    assert all(row.value is None for row in rows)
    assert "need at least 200" in rows[0].reason and "reference" in rows[0].reason
