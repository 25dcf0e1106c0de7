"""Equal-size and equal-token samples: diversity metrics depend on n and length, so compare like with like."""

from __future__ import annotations

from typing import Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def sample_indices(n: int, m: int, seed: int = 0) -> np.ndarray:
    """``m`` distinct indices of ``range(n)`` drawn with ``seed``, in increasing order (all when m ≥ n)."""
    if m >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=m, replace=False))


def take(items: Sequence[T] | np.ndarray, indices: np.ndarray) -> list[T] | np.ndarray:
    if isinstance(items, np.ndarray):
        return items[indices]
    return [items[i] for i in indices]


def equal_size(a: Sequence[T], b: Sequence[T], seed: int = 0) -> tuple[list[T] | np.ndarray, list[T] | np.ndarray]:
    """Seeded samples of ``a`` and ``b`` with min(len(a), len(b)) items each."""
    m = min(len(a), len(b))
    return take(a, sample_indices(len(a), m, seed)), take(b, sample_indices(len(b), m, seed + 1))


def split_halves(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded disjoint split of ``range(n)`` into two halves (the first gets the odd one)."""
    order = np.random.default_rng(seed).permutation(n)
    cut = (n + 1) // 2
    return np.sort(order[:cut]), np.sort(order[cut:])


def word_count(texts: Sequence[str]) -> int:
    return sum(len(text.split()) for text in texts)


def truncate_to_words(texts: Sequence[str], budget: int) -> list[str]:
    """The leading texts holding exactly ``budget`` whitespace words (the last one cut, words re-joined
    by single spaces); texts without words are skipped."""
    out: list[str] = []
    left = budget
    for text in texts:
        if left <= 0:
            break
        words = text.split()
        if words:
            out.append(" ".join(words[:left]))
            left -= min(left, len(words))
    return out


def equal_tokens(a: Sequence[str], b: Sequence[str], seed: int = 0) -> tuple[list[str], list[str]]:
    """Shuffle both (seeded) and cut each to the same whitespace-word budget: the smaller total."""
    a = take(a, np.random.default_rng(seed).permutation(len(a)))
    b = take(b, np.random.default_rng(seed + 1).permutation(len(b)))
    budget = min(word_count(a), word_count(b))
    return truncate_to_words(a, budget), truncate_to_words(b, budget)
