"""The persistent history index: round trip, incremental extension, own-key exclusion, corrupt files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthgen.dedup import DedupParams, Deduplicator, HistoryIndex
from synthgen.dedup.index import HistoryWriter, run_key
from synthgen.errors import SynthgenError

TEXTS = ["the cat sat on the mat and looked out of the window", "dogs bark at the postman every single morning",
         "bread rises because yeast makes carbon dioxide gas"]


def engine_with(texts, ids=None):
    engine = Deduplicator(DedupParams(ngram=3))
    engine.check(ids or [f"id{i}" for i in range(len(texts))], texts)
    return engine


def test_write_then_load_round_trips(tmp_path):
    engine = engine_with(TEXTS)
    index = HistoryIndex(tmp_path / "hist")
    HistoryWriter(index, "run-a", seed=1).write(engine.run_, 0, engine.ngram_)
    loaded = index.load(128)
    original = engine.run_.sketches()
    assert loaded.ids == original.ids
    assert np.array_equal(loaded.exact, original.exact) and np.array_equal(loaded.sigs, original.sigs)
    meta = json.loads((tmp_path / "hist" / "index.json").read_text())
    assert meta["ngram"] == 3 and meta["num_perm"] == 128 and meta["version"] == 1
    assert not list((tmp_path / "hist").rglob("*.tmp"))


def test_writer_appends_one_shard_per_batch_and_own_key_is_excluded(tmp_path):
    index = HistoryIndex(tmp_path / "hist")
    engine = Deduplicator(DedupParams(ngram=3))
    writer = HistoryWriter(index, "run-a", seed=1)
    for i, text in enumerate(TEXTS):
        start = len(engine.run_)
        engine.check([f"a{i}"], [text])
        writer.write(engine.run_, start, engine.ngram_)
    assert len(list((tmp_path / "hist" / "run-a").glob("*.npz"))) == 3
    assert index.load(128).ids == ["a0", "a1", "a2"]
    assert index.load(128, exclude="run-a").ids == []


def test_a_rerun_replaces_its_own_shards(tmp_path):
    index = HistoryIndex(tmp_path / "hist")
    first = engine_with(TEXTS)
    HistoryWriter(index, "run-a", seed=1).write(first.run_, 0, 3)
    second = engine_with(TEXTS[:1], ["only"])
    HistoryWriter(index, "run-a", seed=1).write(second.run_, 0, 3)
    assert index.load(128).ids == ["only"]


def test_later_runs_read_earlier_ones_as_history(tmp_path):
    index = HistoryIndex(tmp_path / "hist")
    HistoryWriter(index, "gen1", seed=1).write(engine_with(TEXTS).run_, 0, 3)
    engine = Deduplicator(DedupParams(ngram=index.check(128, 1, None)))
    engine.add_reference("history", index.load(128, exclude="gen2"))
    verdicts = engine.check(["n0", "n1"], [TEXTS[1].upper(), "The cat sat on the mat and looked out of the door"])
    assert [(v.scope, v.matched_id) for v in verdicts] == [("history", "id1"), ("history", "id0")]


def test_settings_mismatch_is_a_clear_error(tmp_path):
    index = HistoryIndex(tmp_path / "hist")
    HistoryWriter(index, "gen1", seed=1).write(engine_with(TEXTS).run_, 0, 3)
    assert index.check(128, 1, None) == 3
    with pytest.raises(SynthgenError, match="ngram=3 .recipe: 5."):
        index.check(128, 1, 5)
    with pytest.raises(SynthgenError, match="num_perm=128"):
        index.check(256, 1, None)


@pytest.mark.parametrize("damage", ["garbage", "truncate", "wrong_shape", "missing_array"])
def test_a_corrupt_shard_names_the_file(tmp_path, damage):
    index = HistoryIndex(tmp_path / "hist")
    HistoryWriter(index, "gen1", seed=1).write(engine_with(TEXTS).run_, 0, 3)
    shard = next((tmp_path / "hist" / "gen1").glob("*.npz"))
    if damage == "garbage":
        shard.write_bytes(b"not a zip file at all")
    elif damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:100])
    elif damage == "wrong_shape":
        np.savez(shard, ids=np.array(["a"]), exact=np.zeros(1, np.uint64), sigs=np.zeros((1, 64), np.uint32))
    else:
        np.savez(shard, ids=np.array(["a"]), exact=np.zeros(1, np.uint64))
    with pytest.raises(SynthgenError) as error:
        index.load(128)
    assert str(shard) in error.value.message and "corrupt" in error.value.message
    assert "delete that file" in error.value.hint


def test_corrupt_or_missing_index_json_and_a_file_path_are_errors(tmp_path):
    index = HistoryIndex(tmp_path / "hist")
    HistoryWriter(index, "gen1", seed=1).write(engine_with(TEXTS).run_, 0, 3)
    (tmp_path / "hist" / "index.json").write_text("{oops")
    with pytest.raises(SynthgenError, match="not valid JSON"):
        index.meta()
    (tmp_path / "hist" / "index.json").unlink()
    with pytest.raises(SynthgenError, match="missing, but the folder holds shards"):
        index.meta()
    (tmp_path / "file").write_text("x")
    with pytest.raises(SynthgenError, match="must be a folder"):
        HistoryIndex(tmp_path / "file")


def test_build_dedup_stages_with_only_the_recipe_context(tmp_path):
    """The stages need a resolver, the recipe file (for error lines) and the run's history key, no recipe."""
    from synthgen.dedup import build_dedup_stages
    from synthgen.errors import RecipeError
    from synthgen.plan.model import RecipeContext
    from synthgen.recipe.dedup_schema import DedupConfig

    (tmp_path / "real.jsonl").write_text(json.dumps({"text": "a b c d e f g"}) + "\n")
    context = RecipeContext("r.toml", tmp_path, hash="abc", generation=2)
    stages = build_dedup_stages(DedupConfig(against_real=["real.jsonl"], history="hist"), context)
    assert [s.name for s in stages] == ["dedup"] and stages[0].history.key == run_key(context.run_label)
    assert stages[0].engine.describe()["scopes"]["real"] == 1
    with pytest.raises(RecipeError, match=r"r.toml:dedup.against_real\[0\]"):
        build_dedup_stages(DedupConfig(against_real=["missing.jsonl"]), context)
