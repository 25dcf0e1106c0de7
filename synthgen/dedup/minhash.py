"""Vectorized MinHash signatures over word shingles, compatible with ``datasketch.MinHash``.

Hashing, once per token and once per shingle:

- word hash ``w = blake2b(word, digest_size=8)`` (cached per distinct word);
- shingle hash of words ``w_0 … w_{m-1}`` (m = n, or the whole text when it has fewer than n words):
  ``h = fmix64(Σ_k w_k · c_k mod 2^64) >> 32`` with fixed odd constants ``c_k`` (one per position);
- permutation ``k`` (datasketch 2.x's default ``affine32`` scheme, same ``seed``):
  ``π_k(h) = a_k · fmix32(h) + b_k mod 2^32``, ``a_k`` odd;
- signature ``sig_k = min over shingles of π_k(h)``; an empty text keeps ``2^32 − 1`` everywhere.

Signatures come from a fused numba kernel (:mod:`.kernel`: each shingle hashed, permuted and min-reduced
in one pass) or, without numba, from one ``(shingles × num_perm)`` uint32 numpy block and a segmented
``np.minimum.reduceat``; both give the same bits. Passing
:meth:`MinHasher.shingle_hash` as ``hashfunc`` to ``datasketch.MinHash(num_perm, seed)`` and updating it
with :meth:`MinHasher.shingles` gives bit-identical hash values (tested), so datasketch's LSH and
``jaccard`` interoperate with these signatures.

The estimated Jaccard of two signatures is the share of equal positions, ``Ĵ = #{k: x_k = y_k} / K``,
with standard error ``√(J(1 − J)/K)`` (≈ 0.035 at J = 0.8, K = 128).
"""

from __future__ import annotations

import hashlib
from itertools import chain
from statistics import median

import numpy as np

from .normalize import normalize_text, tokenize, tokens_of_normalized

MASK64 = (1 << 64) - 1
MAX_HASH = np.uint32(0xFFFFFFFF)
MAX_NGRAM = 64
_CHUNK_SHINGLES = 8192
HASH_SCHEME = "blake2b64-words/sum-fmix64/affine32"


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


POSITION_CONSTANTS = np.array([_splitmix64(k) | 1 for k in range(MAX_NGRAM)], dtype=np.uint64)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (a bijection), element-wise with wraparound."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch applies it before the affine32 permutations."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` exactly as ``datasketch.MinHash(num_perm, seed, scheme="affine32")`` draws them."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def auto_ngram(token_counts: list[int], long_text: int = 50) -> int:
    """Shingle size from the sample length: word 5-grams when the median text has ≥ 50 words, else 3."""
    return 5 if token_counts and median(token_counts) >= long_text else 3


class WordHashes(dict):
    """word → 64-bit ``blake2b(word, digest_size=8)``, computed on first use and cached (up to 4M words)."""

    def __missing__(self, word: str) -> int:
        value = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        if len(self) < 4_000_000:
            self[word] = value
        return value

    def of(self, tokens: list[str]) -> np.ndarray:
        """uint64 hashes of ``tokens``, in order."""
        return np.fromiter(map(self.__getitem__, tokens), dtype=np.uint64, count=len(tokens))


class SplitWordHashes(dict):
    """Whitespace token of normalized text → the hashes of its words (punctuation splits it, see
    :func:`tokens_of_normalized`), cached: punctuation is stripped once per distinct token, not per use."""

    def __init__(self, words: WordHashes | None = None):
        super().__init__()
        self.words = words or WordHashes()

    def __missing__(self, token: str) -> tuple[int, ...]:
        value = tuple(map(self.words.__getitem__, tokens_of_normalized(token)))
        if len(self) < 4_000_000:
            self[token] = value
        return value

    def flatten(self, normalized: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Word hashes of all texts in one flat uint64 array, and the number of words per text.

        pyarrow splits the texts and dictionary-encodes the tokens, so Python touches each distinct
        token of the batch once (not each occurrence); numpy expands tokens to their words."""
        import pyarrow as pa
        import pyarrow.compute as pc

        lists = pc.split_pattern(pa.array(normalized, pa.large_string()), pattern=" ")
        encoded = lists.flatten().dictionary_encode()
        token = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        parts = list(map(self.__getitem__, encoded.dictionary.to_pylist()))
        per_token = np.fromiter(map(len, parts), np.int64, len(parts))
        token_words = np.fromiter(chain.from_iterable(parts), np.uint64, int(per_token.sum()))
        words_of = per_token[token]
        first = np.cumsum(words_of) - words_of
        positions = np.repeat((np.cumsum(per_token) - per_token)[token] - first, words_of)
        positions += np.arange(len(positions))
        before = np.concatenate([[0], np.cumsum(words_of)])
        offsets = lists.offsets.to_numpy()
        return token_words[positions], before[offsets[1:]] - before[offsets[:-1]]


def window_layout(lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of every text in a flat token array: ``(starts, sizes, counts per text)``.

    A text of L ≥ n tokens has L − n + 1 windows of n tokens; 0 < L < n gives one window of L tokens.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    counts = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1))
    offsets = np.cumsum(lengths) - lengths
    first = np.cumsum(counts) - counts
    total = int(counts.sum())
    starts = np.repeat(offsets, counts) + (np.arange(total) - np.repeat(first, counts))
    sizes = np.repeat(np.minimum(lengths, n), counts)
    return starts, sizes, counts


def window_hashes64(words: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hash of every word window: ``fmix64(Σ_k w_{s+k} · c_k)``; returns ``(hashes, counts)``."""
    if not 1 <= n <= MAX_NGRAM:
        raise ValueError(f"n-gram size must be between 1 and {MAX_NGRAM}, got {n}")
    starts, sizes, counts = window_layout(lengths, n)
    padded = np.concatenate([words, np.zeros(n, dtype=np.uint64)])
    acc = np.zeros(len(starts), dtype=np.uint64)
    full = bool((sizes == n).all())
    for k in range(n):
        term = padded[starts + k] * POSITION_CONSTANTS[k]
        acc += term if full else term * (sizes > k).astype(np.uint64)
    return fmix64(acc), counts


class MinHasher:
    """MinHash signatures of texts: ``num_perm`` permutations, word ``ngram`` shingles, ``seed``."""

    def __init__(self, num_perm: int = 128, ngram: int = 5, seed: int = 1, words: SplitWordHashes | None = None,
                 kernel: str = "auto"):
        if not 1 <= ngram <= MAX_NGRAM:
            raise ValueError(f"ngram must be between 1 and {MAX_NGRAM}, got {ngram}")
        if kernel not in ("auto", "numba", "numpy"):
            raise ValueError(f"kernel must be 'auto', 'numba' or 'numpy', got {kernel!r}")
        self.num_perm, self.ngram, self.seed, self.kernel = num_perm, ngram, seed, kernel
        self.a_, self.b_ = affine32_permutations(num_perm, seed)
        self.words = words or SplitWordHashes()

    def word_hashes(self, tokens: list[str]) -> np.ndarray:
        return self.words.words.of(tokens)

    def signatures(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), num_perm)`` uint32 signatures of raw texts."""
        return self.signatures_of_words(*self.words.flatten([normalize_text(text) for text in texts]))

    def signatures_of_tokens(self, token_lists: list[list[str]]) -> np.ndarray:
        """Signatures of already tokenized texts."""
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        return self.signatures_of_words(self.word_hashes(list(chain.from_iterable(token_lists))), lengths)

    def shingle_hashes(self, words: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """32-bit shingle hashes of all texts, flat, and the number of shingles per text."""
        hashes, counts = window_hashes64(words, lengths, self.ngram)
        return (hashes >> np.uint64(32)).astype(np.uint32), counts

    def signatures_of_words(self, words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Signatures from flat word hashes and words per text (see :meth:`SplitWordHashes.flatten`).

        The fused numba kernel (:mod:`.kernel`) when numba is installed, else the numpy formulation."""
        if self.kernel != "numpy":
            from . import kernel

            if kernel.available():
                return kernel.signatures(words, lengths, self.ngram, POSITION_CONSTANTS, self.a_, self.b_)
            if self.kernel == "numba":
                raise ImportError("numba is not installed: pip install numba (or use kernel='numpy')")
        return self.numpy_signatures(words, lengths)

    def numpy_signatures(self, words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The numpy path: all shingles × permutations as one block, segmented ``minimum.reduceat``."""
        hashes, counts = self.shingle_hashes(words, lengths)
        out = np.full((len(lengths), self.num_perm), MAX_HASH, dtype=np.uint32)
        mixed = fmix32(hashes)
        ends = np.cumsum(counts)
        for lo, hi in _chunks(ends, _CHUNK_SHINGLES):
            self._fill(out, mixed, counts, ends, lo, hi)
        return out

    def _fill(self, out: np.ndarray, mixed: np.ndarray, counts: np.ndarray, ends: np.ndarray, lo: int, hi: int) -> None:
        """Signatures of texts ``lo:hi``: permute their shingles at once, min-reduce per text."""
        begin = int(ends[lo] - counts[lo])
        block = np.multiply.outer(mixed[begin:int(ends[hi - 1])], self.a_)
        block += self.b_
        present = np.flatnonzero(counts[lo:hi])
        if len(present):
            seg = (ends[lo:hi] - counts[lo:hi])[present] - begin
            out[lo + present] = np.minimum.reduceat(block, seg, axis=0)

    def shingles(self, text: str) -> list[str]:
        """The shingles of ``text`` as space-joined strings (for feeding ``datasketch.MinHash.update``)."""
        tokens = tokenize(text)
        n = min(self.ngram, len(tokens))
        return [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)] if tokens else []

    def shingle_hash(self, shingle: str | bytes) -> int:
        """The 32-bit hash of one shingle string, as a ``datasketch.MinHash`` ``hashfunc``."""
        if isinstance(shingle, bytes):
            shingle = shingle.decode("utf-8")
        tokens = shingle.split(" ")
        hashes, _ = window_hashes64(self.word_hashes(tokens), np.array([len(tokens)]), len(tokens))
        return int(hashes[0] >> np.uint64(32))


def _chunks(ends: np.ndarray, budget: int):
    """Split texts into consecutive ranges holding about ``budget`` shingles each."""
    lo, n = 0, len(ends)
    while lo < n:
        base = int(ends[lo - 1]) if lo else 0
        hi = int(np.searchsorted(ends, base + budget, side="right"))
        hi = max(hi, lo + 1)
        yield lo, min(hi, n)
        lo = hi


def estimate_jaccard(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``Ĵ = mean_k [x_k = y_k]`` along the last axis (broadcasts)."""
    return (x == y).mean(axis=-1)
