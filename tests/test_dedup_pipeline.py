"""[dedup] in a real run on the scripted backend: evidence in rejected.parquet, history across runs,
real data and eval sets, resume, and recipe / input errors."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synthgen.api import run_recipe
from synthgen.dedup import HistoryIndex, exact_key
from synthgen.errors import RecipeError, SynthgenError

OUTPUTS = [
    "Rivers carve canyons slowly over millions of years of flowing water",
    "Bread rises because yeast turns sugar into carbon dioxide gas bubbles",
    "rivers carve canyons slowly over millions of years of flowing water",  # exact (case)
    "Chess openings control the center early and develop the minor pieces",
    "Bread rises because yeast turns sugar into carbon dioxide gas bubbles!",  # near (punctuation)
    "A heron waits in the shallows for fish to swim within striking reach",
    "Rivers carve canyons slowly over millions of years of flowing water and wind",  # near
    "Glaciers grind valleys into wide U shapes as they advance and retreat",
]

RECIPE = """
[recipe]
name = "{name}"
seed = 1
generation = {generation}

[seeds]
type = "inline"
records = [{{ topic = "nature" }}]

[prompt]
template = "Write about {{topic}}."

[generation]
target = {target}
max_candidates = {budget}
batch_size = 2
[generation.backend]
type = "scripted"
outputs = {outputs}

[dedup]
{dedup}
"""


def write(tmp_path: Path, name: str = "dd", generation: int = 1, target: int = 5, budget: int = 16,
          outputs: list[str] = OUTPUTS, dedup: str = 'history = "hist"') -> Path:
    path = tmp_path / f"{name}.toml"
    body = RECIPE.format(name=name, generation=generation, target=target, budget=budget,
                         outputs=json.dumps(outputs), dedup=textwrap.dedent(dedup))
    path.write_text(body)
    return path


def rejected_rows(result):
    return [{**row, "evidence": json.loads(row["evidence"]) if row["evidence"] else None}
            for row in result.rejected.to_list()]


def test_duplicates_are_dropped_with_evidence(tmp_path):
    result = run_recipe(write(tmp_path), out=tmp_path / "run", progress=False)
    texts = result.dataset["text"]
    assert len({exact_key(t) for t in texts}) == len(texts) == 5
    kept_ids = set(result.dataset["id"])
    dedup_rows = [row for row in rejected_rows(result) if row["stage"] == "dedup"]
    reasons = {row["reason"] for row in dedup_rows}
    assert reasons == {"exact_duplicate", "near_duplicate"}
    for row in dedup_rows:
        assert row["evidence"]["scope"] == "run" and row["evidence"]["matched_id"] in kept_ids
        assert row["score"] == pytest.approx(row["evidence"]["jaccard"], abs=1e-4) and row["score"] >= 0.8
    stage = next(s for s in result.report.to_dict()["stages"] if s["stage"] == "dedup")
    assert stage["dropped"] == len(dedup_rows) and stage["seen"] == stage["kept"] + stage["dropped"]


def test_next_generation_drops_copies_of_history_and_rerun_does_not_match_itself(tmp_path):
    first = run_recipe(write(tmp_path), out=tmp_path / "gen1", progress=False)
    again = run_recipe(write(tmp_path), out=tmp_path / "gen1", overwrite=True, progress=False)
    assert again.dataset["text"] == first.dataset["text"]

    second = run_recipe(write(tmp_path, name="dd2", generation=2), out=tmp_path / "gen2", progress=False)
    # (an empty dataset/ folder is not loadable by datasets.load_from_disk: count the parquet instead)
    assert second.stop_reason == "budget_exhausted" and pq.read_table(second.run_dir / "data.parquet").num_rows == 0
    evidence = [row["evidence"] for row in rejected_rows(second)]
    assert {e["scope"] for e in evidence} == {"history"}
    assert {e["matched_id"] for e in evidence} <= set(first.dataset["id"])
    assert len(HistoryIndex(tmp_path / "hist").keys()) == 2


def test_real_data_and_eval_sets(tmp_path):
    (tmp_path / "real.jsonl").write_text(json.dumps({"id": "real-7", "text": OUTPUTS[3].upper()}) + "\n")
    (tmp_path / "eval.jsonl").write_text(json.dumps({"question": "A heron waits in the shallows for fish to swim"
                                                     " within striking reach of its beak"}) + "\n")
    dedup = """
    against_real = ["real.jsonl"]
    eval_sets = [{ path = "eval.jsonl", field = "question" }]
    decontam_ngram = 8
    """
    result = run_recipe(write(tmp_path, target=3, dedup=dedup), out=tmp_path / "run", progress=False)
    rows = rejected_rows(result)
    real = next(row for row in rows if row["evidence"]["scope"] == "real")
    assert real["reason"] == "exact_duplicate" and real["evidence"]["matched_id"] == "real-7"
    leak = next(row for row in rows if row["reason"] == "eval_contamination")
    assert leak["stage"] == "decontam" and leak["evidence"]["source"] == "eval.jsonl"
    assert [s["stage"] for s in result.report.to_dict()["stages"]] == ["decontam", "dedup"]


def test_resume_rebuilds_the_run_index(tmp_path):
    recipe = write(tmp_path, target=5)
    reference = run_recipe(recipe, out=tmp_path / "ref", progress=False)
    assert reference.report.to_dict()["throughput"]["batches"] >= 3
    shutil.copytree(tmp_path / "ref", tmp_path / "cut")
    for shard in sorted((tmp_path / "cut" / "checkpoints").glob("batch-*.json"))[1:]:
        shard.unlink()
    resumed = run_recipe(recipe, out=tmp_path / "cut", progress=False)
    assert resumed.report.to_dict()["resumed_batches"] == 1
    assert resumed.dataset["text"] == reference.dataset["text"]
    assert [r["reason"] for r in resumed.rejected.to_list()] == [r["reason"] for r in reference.rejected.to_list()]
    history = set(HistoryIndex(tmp_path / "hist").load(128).ids)
    assert set(resumed.dataset["id"]) <= history


@pytest.mark.parametrize("dedup,message", [
    ("exactt = true", "exactt"),
    ("bands = 20\nrows = 10", "did you forget num_perm"),
    ("bands = 4", "set bands and rows together"),
    ("lsh_threshold = 0.9", "lsh_threshold"),
    ("exact = false\nnear = false", "nothing to do"),
    ('ngram = "big"', "ngram"),
])
def test_recipe_errors_name_the_key(tmp_path, dedup, message):
    with pytest.raises(RecipeError, match=message) as error:
        run_recipe(write(tmp_path, dedup=dedup), out=tmp_path / "run", progress=False)
    assert "dedup" in str(error.value)


def test_missing_real_file_or_column_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match=r"dedup.against_real\[0\].*file not found"):
        run_recipe(write(tmp_path, dedup='against_real = ["nope.jsonl"]'), out=tmp_path / "a", progress=False)
    (tmp_path / "real.jsonl").write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(RecipeError, match="no 'text' column") as error:
        run_recipe(write(tmp_path, dedup='against_real = ["real.jsonl"]'), out=tmp_path / "b", progress=False)
    assert "body" in error.value.hint


def test_corrupt_history_fails_before_generating(tmp_path):
    run_recipe(write(tmp_path), out=tmp_path / "gen1", progress=False)
    shard = next((tmp_path / "hist").rglob("*.npz"))
    shard.write_bytes(b"\x00" * 10)
    with pytest.raises(SynthgenError, match="corrupt dedup history"):
        run_recipe(write(tmp_path, name="dd2", generation=2), out=tmp_path / "gen2", progress=False)
    assert not (tmp_path / "gen2" / "checkpoints").exists() or not any((tmp_path / "gen2" / "checkpoints").iterdir())


def test_history_holds_exactly_the_final_dataset(tmp_path):
    """Records trimmed by the target (or revoked by the gate) never enter the history index."""
    outputs = [f"distinct sentence number {word} about the weather today" for word in
               "one two three four five six seven eight".split()]
    result = run_recipe(write(tmp_path, target=3, outputs=outputs), out=tmp_path / "run", progress=False)
    over = [r for r in result.rejected.to_list() if r["reason"] == "over_target"]
    assert over, "batches of 2 overshoot a target of 3"
    history = set(HistoryIndex(tmp_path / "hist").load(128).ids)
    assert history == set(result.dataset["id"])
