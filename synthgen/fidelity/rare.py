"""Rare types of the real data: which of them a model can still emit (support) and which a sample of fixed
size contains (recall). Rare = seen at most ``max_count`` times in the real data (its tail, which goes first
under collapse: Shumailov et al. 2024). Recall is only comparable at equal token budgets and against real
texts that did not define the rare set (a slice of the defining data holds those types by construction).

Two forms: token ids with numpy (the collapse benchmark) and texts (synthgen's own tokenizer).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from ..diversity.lexical import rare_type_recall as _text_recall
from ..diversity.lexical import tokenize

__all__ = ["rare_mask", "rare_share", "rare_types", "rare_type_recall", "rare_type_support"]


def rare_mask(token_counts: np.ndarray, max_count: int = 2, exclude: Iterable[int] = ()) -> np.ndarray:
    """Boolean over token ids: 0 < count ≤ ``max_count`` (ids in ``exclude``, e.g. markers, never rare)."""
    counts = np.asarray(token_counts)
    mask = (counts > 0) & (counts <= max_count)
    mask[list(exclude)] = False
    return mask


def rare_share(present: np.ndarray, rare: np.ndarray) -> float:
    """|rare ∩ present| / |rare|; ``present`` is a boolean mask over ids or an array of ids present."""
    present = np.asarray(present)
    if present.dtype == bool:
        hits = int((present & rare).sum())
    else:
        hits = int(rare[np.unique(present)].sum()) if present.size else 0
    total = int(rare.sum())
    return hits / total if total else float("nan")


def rare_types(reference_texts: Sequence[str], max_count: int = 2) -> set[str]:
    """The token types seen at most ``max_count`` times in the reference texts."""
    counts = Counter(tok for text in reference_texts for tok in tokenize(text))
    return {tok for tok, count in counts.items() if count <= max_count}


def rare_type_support(texts: Sequence[str], rare: set[str]) -> float:
    """Share of the ``rare`` types that occur anywhere in ``texts`` (size-dependent: compare at equal size)."""
    if not rare:
        return float("nan")
    return len(rare & {tok for text in texts for tok in tokenize(text)}) / len(rare)


def rare_type_recall(texts: Sequence[str], reference_texts: Sequence[str], max_count: int = 2) -> float:
    """Share of the reference's rare types present in ``texts`` (synthgen.diversity.lexical's formula)."""
    return _text_recall(texts, reference_texts, max_count)
