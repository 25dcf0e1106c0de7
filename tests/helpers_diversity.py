"""Test doubles for the diversity tests: embedders that need no model, and text corpora with known shape."""

from __future__ import annotations

import hashlib
import random

import numpy as np

from synthgen.records import Candidate, GenerationRequest, Seed


class HashEmbedder:
    """Bag of words hashed into ``dim`` buckets, L2-normalised: same words → cosine 1."""

    name = "hash"

    def __init__(self, dim: int = 64):
        self.dim = dim
        self.calls: list[list[str]] = []

    def encode(self, texts):
        texts = list(texts)
        self.calls.append(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


class TableEmbedder:
    """Looks each text up in a dict of vectors (normalised)."""

    name = "table"

    def __init__(self, table: dict[str, list[float]]):
        self.table = {k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in table.items()}

    def encode(self, texts):
        dim = len(next(iter(self.table.values())))
        return np.stack([self.table[t] for t in texts]) if len(texts) else np.zeros((0, dim), np.float32)


def corpus(n: int, vocab: int, seed: int = 0, lengths: tuple[int, int] = (8, 30)) -> list[str]:
    """``n`` texts of random words drawn from the first ``vocab`` of 3,000 (small vocab = collapsed)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(vocab)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(*lengths))) for _ in range(n)]


def candidate(text: str, index: int = 0) -> Candidate:
    request = GenerationRequest(index, f"prompt {index}", Seed(index, {}), sampling_seed=index)
    return Candidate(request, 0, text, len(text.split()))


def blobs(sizes: list[int], dim: int = 16, spread: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors in tight clusters around orthogonal axes: (embeddings, cluster label per row)."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for c, size in enumerate(sizes):
        center = np.eye(dim)[c % dim]
        rows.append(center + spread * rng.normal(size=(size, dim)))
        labels += [c] * size
    x = np.concatenate(rows).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.array(labels)
