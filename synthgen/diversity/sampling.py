"""Equal-size and equal-token samples: diversity metrics depend on n and length, so compare like with like."""

from __future__ import annotations

import itertools
from typing import Sequence, TypeVar

import numpy as np

from ..cjk import UNIT as _UNIT
from ..cjk import has_cjk, text_units

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
    """The budget of ``texts``: the sum of their :func:`text_units`."""
    return sum(text_units(text) for text in texts)


def unit_note(*sides: Sequence[str]) -> str:
    """What a "word" of a budget message is, when any side holds CJK text (else "": English unchanged)."""
    return " (a CJK character counts as one word)" if any(has_cjk(t) for side in sides for t in side) else ""


def truncate_to_words(texts: Sequence[str], budget: int) -> list[str]:
    """The leading texts holding exactly ``budget`` units (:func:`text_units`; the last text cut, inside a
    CJK clause if need be); texts without units are skipped. Whitespace runs become single spaces, but no
    space is put between CJK characters: the metrics see the texts' own bytes (gzip compression would
    change if every CJK character gained spaces, and a CJK reference cut the same way keeps the
    comparison fair), so an uncut CJK text reads as it was written."""
    out: list[str] = []
    left = budget
    for text in texts:
        if left <= 0:
            break
        units = text_units(text)
        if units:
            out.append(_first_units(text, min(left, units)))
            left -= min(left, units)
    return out


def _first_units(text: str, n: int) -> str:
    """The first ``n`` units of ``text`` (n ≥ 1), whitespace runs collapsed to one space."""
    if text.isascii():
        return " ".join(text.split()[:n])
    last = next(itertools.islice(_UNIT.finditer(text), n - 1, None))
    return " ".join(text[:last.end()].split())


def equal_tokens(a: Sequence[str], b: Sequence[str], seed: int = 0) -> tuple[list[str], list[str]]:
    """Shuffle both (seeded) and cut each to the same word budget (:func:`text_units`): the smaller total."""
    a = take(a, np.random.default_rng(seed).permutation(len(a)))
    b = take(b, np.random.default_rng(seed + 1).permutation(len(b)))
    budget = min(word_count(a), word_count(b))
    return truncate_to_words(a, budget), truncate_to_words(b, budget)
