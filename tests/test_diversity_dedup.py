"""Semantic near-duplicates: the 0.9 rule, evidence, memory across batches and chunks, resume."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_diversity import HashEmbedder, TableEmbedder, candidate
from synthgen.diversity import semantic_dedup
from synthgen.diversity.semantic_dedup import NEAR_DUPLICATE, EmbeddingMemory, SemanticDeduplicator
from synthgen.records import content_hash

TABLE = TableEmbedder({
    "a": [1, 0, 0], "a2": [0.95, np.sqrt(1 - 0.95**2), 0], "b": [0, 1, 0], "c": [0, 0, 1],
    "real": [0.6, 0.8, 0], "real2": [0.6, 0.8, 0.05],
})


def run(stage, texts):
    rejected = []
    stage.bind(rejected.append)
    kept = stage.run([candidate(t, i) for i, t in enumerate(texts)])
    return [c.text for c in kept], rejected


def test_a_near_twin_in_the_batch_is_dropped_with_evidence():
    kept, rejected = run(SemanticDeduplicator(TABLE, 0.9), ["a", "b", "a2", "c"])
    assert kept == ["a", "b", "c"]
    (r,) = rejected
    assert r.reason == NEAR_DUPLICATE and r.stage == "semantic_dedup"
    assert r.evidence == {"matched_id": content_hash("a"), "cosine": pytest.approx(0.95, abs=1e-5),
                          "matched": "accepted"}
    assert r.score == pytest.approx(0.95, abs=1e-5)


def test_the_threshold_is_inclusive_and_tunable():
    assert run(SemanticDeduplicator(TABLE, 0.96), ["a", "a2"])[0] == ["a", "a2"]
    assert run(SemanticDeduplicator(TABLE, 0.95), ["a", "a2"])[0] == ["a"]


def test_near_duplicates_of_real_samples_are_dropped():
    kept, rejected = run(SemanticDeduplicator(TABLE, 0.9, reference_texts=["real"]), ["real2", "b"])
    assert kept == ["b"] and rejected[0].evidence["matched"] == "real"
    assert rejected[0].evidence["matched_id"] == content_hash("real")


def test_memory_spans_batches_and_counts_add_up():
    stage = SemanticDeduplicator(TABLE, 0.9)
    run(stage, ["a", "b"])
    kept, rejected = run(stage, ["a2", "c"])
    assert kept == ["c"] and rejected[0].evidence["matched_id"] == content_hash("a")
    assert stage.stats.seen == 4 and stage.stats.kept == 3 and stage.stats.dropped[NEAR_DUPLICATE] == 1


def test_observe_kept_rebuilds_memory_on_resume():
    stage = SemanticDeduplicator(TABLE, 0.9)
    stage.observe_kept([{"id": content_hash("a"), "text": "a"}])
    stage.observe_kept([{"id": content_hash("b"), "text": "b"}])  # replaces, never doubles
    assert stage.memory_.ids_ == [content_hash("b")]
    assert run(stage, ["a2"])[0] == ["a2"]
    stage.observe_kept([{"text": "a"}])
    assert run(stage, ["a2"])[0] == []


def test_chunks_see_each_other(monkeypatch):
    monkeypatch.setattr(semantic_dedup, "CHUNK", 2)
    kept, _ = run(SemanticDeduplicator(TABLE, 0.9), ["a", "b", "c", "a2"])
    assert kept == ["a", "b", "c"]


def test_many_rows_with_planted_duplicates():
    embedder = HashEmbedder(dim=256)
    texts = [f"t{i} u{i} v{i}" for i in range(1500)]
    texts += [texts[7], texts[900] + " "]  # exact copies embed identically
    kept, rejected = run(SemanticDeduplicator(embedder, 0.9), texts)
    assert len(kept) + len(rejected) == len(texts)
    assert {r.evidence["matched_id"] for r in rejected} >= {content_hash(texts[7]), content_hash(texts[900])}


def test_embedding_memory_grows_and_forgets():
    memory = EmbeddingMemory()
    memory.add(np.eye(3, dtype=np.float32), ["x", "y", "z"], "real")
    memory.add(np.eye(3, dtype=np.float32)[:1], ["w"], "accepted")
    best, arg = memory.nearest(np.array([[0, 1, 0]], dtype=np.float32))
    assert best[0] == 1.0 and memory.ids_[arg[0]] == "y"
    memory.remove("real")
    assert len(memory) == 1 and memory.ids_ == ["w"]
