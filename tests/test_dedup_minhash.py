"""Normalization, vectorized MinHash signatures (bit-identical to datasketch) and LSH band geometry."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from synthgen.dedup.lsh import BandTable, FrozenBands, band_keys, candidate_probability, optimal_params
from synthgen.dedup.minhash import MAX_HASH, MinHasher, affine32_permutations, auto_ngram, estimate_jaccard
from synthgen.dedup.normalize import exact_key, normalize_text, tokenize

TEXTS = [
    "The quick brown fox jumps over the lazy dog near the river bank at dawn.",
    "Ｆｕｌｌｗｉｄｔｈ  letters,\tTABS and\nnewlines — and ÉCOLE straße",
    "one two",
    "",
    "!!! ???",
    " ".join(f"word{i}" for i in range(120)),
]


def test_normalize_is_nfkc_casefold_and_collapsed_whitespace():
    assert normalize_text("  Ｈｅｌｌｏ\t\tWORLD\n straße ") == "hello world strasse"
    assert exact_key("Hello   World") == exact_key("hello world") != exact_key("hello world!")


def test_tokenize_drops_punctuation():
    assert tokenize("Cats, dogs; and—birds!") == ["cats", "dogs", "and", "birds"]
    assert tokenize("!!!") == []


@pytest.mark.parametrize("num_perm,seed", [(128, 1), (64, 7)])
def test_permutations_are_datasketchs_affine32(num_perm, seed):
    a, b = affine32_permutations(num_perm, seed)
    reference = MinHash(num_perm=num_perm, seed=seed).permutations
    assert MinHash(num_perm=num_perm, seed=seed).scheme == "affine32"
    assert np.array_equal(a, reference[0]) and np.array_equal(b, reference[1])


@pytest.mark.parametrize("ngram", [1, 3, 5, 13])
@pytest.mark.parametrize("num_perm,seed", [(128, 1), (32, 42)])
def test_signatures_equal_datasketch_minhash(ngram, num_perm, seed):
    """Same hashfunc (our shingle hash), same seed and num_perm → the same hash values, bit for bit."""
    hasher = MinHasher(num_perm, ngram, seed)
    signatures = hasher.signatures(TEXTS)
    for text, signature in zip(TEXTS, signatures):
        reference = MinHash(num_perm=num_perm, seed=seed, hashfunc=hasher.shingle_hash)
        for shingle in hasher.shingles(text):
            reference.update(shingle.encode())
        assert np.array_equal(reference.hashvalues, signature), text


def test_empty_text_has_the_empty_signature_and_short_text_one_shingle():
    hasher = MinHasher(ngram=5)
    sigs = hasher.signatures(["", "!!!", "one two"])
    assert (sigs[:2] == MAX_HASH).all()
    assert not (sigs[2] == MAX_HASH).all()
    assert hasher.shingles("One, two") == ["one two"]


def test_signatures_do_not_depend_on_batch_composition():
    hasher = MinHasher(ngram=3)
    together = hasher.signatures(TEXTS)
    alone = np.vstack([hasher.signatures([text]) for text in TEXTS])
    assert np.array_equal(together, alone)


def test_estimate_is_unbiased_with_the_binomial_error():
    """Ĵ − J has mean ≈ 0 and sd ≈ √(J(1 − J)/K) over many pairs of known Jaccard."""
    rng = np.random.default_rng(0)
    hasher = MinHasher(128, ngram=1)
    words = [f"w{i}" for i in range(4000)]
    errors, expected = [], []
    for trial in range(300):
        pool = rng.choice(words, 60, replace=False).tolist()
        a, b = pool[:50], pool[10:]  # |A ∩ B| = 40, |A ∪ B| = 60 → J = 2/3
        sig = hasher.signatures([" ".join(a), " ".join(b)])
        errors.append(estimate_jaccard(sig[0], sig[1]) - 2 / 3)
    assert abs(np.mean(errors)) < 0.01
    assert np.std(errors) == pytest.approx(np.sqrt((2 / 3) * (1 / 3) / 128), rel=0.2)


def test_auto_ngram_uses_the_median_length():
    assert auto_ngram([60, 55, 10]) == 5
    assert auto_ngram([20, 30, 70]) == 3
    assert auto_ngram([]) == 3


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.85, 0.9])
@pytest.mark.parametrize("num_perm", [64, 128, 256])
def test_optimal_params_match_datasketch(threshold, num_perm):
    """datasketch's public MinHashLSH picks its (b, r) with the same rule: read them off the index."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    assert optimal_params(threshold, num_perm) == (lsh.b, lsh.r)


def test_default_band_geometry_and_s_curve():
    b, r = optimal_params(0.7, 128)
    assert (b, r) == (14, 9)
    assert candidate_probability(0.7, b, r) == pytest.approx(0.44, abs=0.01)
    assert candidate_probability(0.85, b, r) > 0.97


def test_band_keys_equal_iff_bands_equal():
    sigs = np.arange(2 * 128, dtype=np.uint32).reshape(2, 128)
    sigs[1, :9] = sigs[0, :9]
    keys = band_keys(sigs, 14, 9)
    assert keys.shape == (2, 14)
    assert keys[0, 0] == keys[1, 0] and (keys[0, 1:] != keys[1, 1:]).all()


def test_band_table_and_frozen_bands_find_the_same_candidates():
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 5, size=(40, 3)).astype(np.uint64)
    table = BandTable(3)
    for row, row_keys in enumerate(keys.tolist()):
        table.add(row_keys, row)
    frozen = FrozenBands(keys)
    q, r = frozen.candidate_pairs(keys[:5])
    for i in range(5):
        assert set(r[q == i].tolist()) == table.candidates(keys[i].tolist())


def tricky_texts(seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = ["a", "b", "Über", "straße", "x,y", "—", "!!", "ｆｕｌｌ", "c.d.e", "z"]
    texts = [" ".join(rng.choice(words, int(n)).tolist()) for n in rng.integers(0, 40, 300)]
    return texts + TEXTS + ["word " * 200, "", "   "]


@pytest.mark.parametrize("ngram", [1, 2, 3, 5, 13])
def test_numba_kernel_equals_the_numpy_path(ngram):
    pytest.importorskip("numba")
    texts = tricky_texts(ngram)
    fused = MinHasher(128, ngram, 3, kernel="numba").signatures(texts)
    assert np.array_equal(fused, MinHasher(128, ngram, 3, kernel="numpy").signatures(texts))


def test_flatten_splits_words_like_tokenize():
    from synthgen.dedup.minhash import SplitWordHashes

    texts = [normalize_text(t) for t in tricky_texts(1)]
    words, lengths = SplitWordHashes().flatten(texts)
    expected = [tokenize(t) for t in texts]
    assert lengths.tolist() == [len(tokens) for tokens in expected]
    hashes = SplitWordHashes().words
    assert words.tolist() == [hashes[w] for tokens in expected for w in tokens]


def test_update_batch_with_our_hashfunc_gives_the_same_signature():
    """datasketch's own fast path (update_batch, shared permutations) agrees bit for bit too."""
    hasher = MinHasher(128, 3, 1)
    permutations = MinHash(num_perm=128, seed=1).permutations
    for text, signature in zip(TEXTS, hasher.signatures(TEXTS)):
        reference = MinHash(num_perm=128, seed=1, hashfunc=hasher.shingle_hash, permutations=permutations,
                            scheme="affine32")
        reference.update_batch([s.encode() for s in hasher.shingles(text)])
        assert np.array_equal(reference.hashvalues, signature), text
