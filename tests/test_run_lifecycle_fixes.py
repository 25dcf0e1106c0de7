"""Run lifecycle fixes: stop reasons with diverse selection and finite sources, input hashes checked on
resume, run directories claimed by a failed or differently-targeted run, and command-specific hints."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from synthgen.api import run_recipe
from synthgen.cli import outcome_notes
from synthgen.errors import RecipeError, RunDirError
from synthgen.plan import RecipeContext, input_paths
from synthgen.recipe import load_recipe
from synthgen.rundir import RunDir

REAL_TEXTS = [f"real saying number {i} about {topic} and what it means to people" for i, topic in
              enumerate(["rivers", "bread", "chess", "tides", "owls", "salt", "maps", "bells"] * 3)]


def write_jsonl(path: Path, texts: list[str], field: str = "text") -> Path:
    path.write_text("".join(json.dumps({field: t}) + "\n" for t in texts))
    return path


def use_replay(recipe: Path, file: str, field: str = "text") -> Path:
    text = recipe.read_text().replace('type = "scripted"\ndelay_s = 0.0',
                                      f'type = "replay"\npath = "{file}"\nfield = "{field}"')
    recipe.write_text(text)
    return recipe


# --- 1. diverse selection: a full dataset from a smaller pool is complete ----------------------------

def test_selection_pool_short_of_plan_still_reaches_the_target(write_recipe, tmp_path):
    write_jsonl(tmp_path / "ref.jsonl", REAL_TEXTS)
    extra = ('\n[diversity]\nembedder = "tfidf"\nreference = "ref.jsonl"\nnear_duplicate_threshold = false\n'
             'selection = "k_center"\n[diversity.gate]\nenabled = false\n')
    rows = [f"saved completion {i} about rivers and bread" if i % 2 == 0 else "too short" for i in range(16)]
    write_jsonl(tmp_path / "saved.jsonl", rows)
    recipe = use_replay(write_recipe(target=4, budget=8, batch_size=4, extra=extra), "saved.jsonl")
    # the planned pool is 6 (1.5 x 4); the budget of 8 candidates yields 4 records (every other row is short)
    result = run_recipe(recipe, progress=False)
    report = result.report
    assert report.kept == 4 and report.stop_reason == "target_reached" and report.status == "complete"
    pool = report.to_dict()["selection_pool"]
    assert pool == {"collected": 4, "planned": 6}
    notes = outcome_notes(report)
    assert not any(n.startswith("Warning") for n in notes) and "diverse selection chose 4 of 4 records (planned a pool of 6" in notes[0]


# --- 2. inputs: every file hashed, a changed one refuses the resume ----------------------------------

def test_manifest_hashes_every_input_file(write_recipe, tmp_path):
    write_jsonl(tmp_path / "ref.jsonl", REAL_TEXTS)
    (tmp_path / "schema.json").write_text('{"type": "object"}')
    extra = ('\n[[verify]]\ntype = "json"\nschema_path = "schema.json"\n'
             '\n[dedup]\nagainst_real = ["ref.jsonl"]\nhistory = "hist"\n'
             '\n[diversity]\nembedder = "tfidf"\nreference = "ref.jsonl"\n'
             '\n[mix]\nreal = "ref.jsonl"\n')
    loaded = load_recipe(write_recipe(extra=extra))
    keys = set(input_paths(loaded.recipe, RecipeContext.from_loaded(loaded)))
    assert {"prompt.few_shot.path", "verify.2.schema_path", "dedup.against_real.0.path", "dedup.history",
            "diversity.reference", "mix.real"} <= keys

    from synthgen.manifest import input_digests

    digests = input_digests(input_paths(loaded.recipe, RecipeContext.from_loaded(loaded)))
    assert digests["mix.real"]["sha256"] and digests["verify.2.schema_path"]["sha256"]
    assert digests["dedup.history"]["sha256"] is None and "grows" in digests["dedup.history"]["not_hashed"]


def interrupt(run: Path, keep_batches: int) -> None:
    """What a killed run leaves: the first checkpoints, no report."""
    for shard in sorted((run / "checkpoints").glob("batch-*.json"))[keep_batches:]:
        shard.unlink()
    (run / "report.json").unlink()


def test_resume_refuses_a_changed_input_and_resumes_once_restored(write_recipe, tmp_path):
    recipe = write_recipe(target=12, budget=40, batch_size=3)
    reference = run_recipe(recipe, out=tmp_path / "reference", progress=False)
    run = tmp_path / "run"
    run_recipe(recipe, out=run, progress=False)
    interrupt(run, keep_batches=2)
    few_shot = tmp_path / "real.jsonl"
    original = few_shot.read_text()
    few_shot.write_text(original.replace("honey", "wax"))
    with pytest.raises(RunDirError) as error:
        run_recipe(recipe, out=run, progress=False)
    assert "recipe.toml:prompt.few_shot.path" in str(error.value) and "changed since the checkpoints" in str(error.value)
    assert "restore it" in str(error.value) and "out=DIR" in str(error.value)  # run_recipe's argument, not --out
    few_shot.write_text(original)
    resumed = run_recipe(recipe, out=run, progress=False)
    assert resumed.report.resumed_batches == 2
    strip = [{k: v for k, v in row.items() if k != "created_at"} for row in resumed.dataset.to_list()]
    assert strip == [{k: v for k, v in row.items() if k != "created_at"} for row in reference.dataset.to_list()]


# --- 3. a run that made nothing does not claim its folder --------------------------------------------

def test_a_failed_run_without_checkpoints_does_not_lock_the_folder(write_recipe, tmp_path, monkeypatch):
    from synthgen.backends.replay import ReplayBackend
    from synthgen.errors import SynthgenError

    write_jsonl(tmp_path / "saved.jsonl", ["a saved completion that is long enough"] * 6)
    bad = use_replay(write_recipe(target=3, name="bad.toml"), "saved.jsonl", field="txt")
    good = use_replay(write_recipe(target=3, name="good.toml"), "saved.jsonl")
    run = tmp_path / "runs" / "rb"
    with pytest.raises(RecipeError, match="no 'txt' field"):  # refused by the plan, before the folder is claimed
        run_recipe(bad, out=run, progress=False)
    assert not (run / "run.json").exists()

    def fail(self):  # the backend fails once the run has claimed the folder
        raise SynthgenError("the backend cannot load")

    with monkeypatch.context() as patch:
        patch.setattr(ReplayBackend, "load", fail)
        with pytest.raises(SynthgenError, match="cannot load"):
            run_recipe(good, out=run, progress=False)
    assert (run / "run.json").is_file() and not RunDir(run).has_data()
    result = run_recipe(good, out=run, progress=False)
    assert result.report.kept == 3 and result.report.stop_reason == "target_reached"
    assert json.loads((run / "run.json").read_text())["recipe_hash"] == load_recipe(good).hash


# --- 4. --limit on a run directory of the same recipe ------------------------------------------------

def test_limit_on_a_full_run_names_the_target(write_recipe, tmp_path):
    recipe = write_recipe(target=6)
    run_recipe(recipe, out=tmp_path / "run", progress=False)
    with pytest.raises(RunDirError) as error:
        run_recipe(recipe, out=tmp_path / "run", limit=3, progress=False)
    message = str(error.value)
    assert "only generation.target differs (6 there, 3 here)" in message  # run_recipe's arguments, not flags
    assert "resume it with target 6 (limit=None)" in message and "out=DIR for a preview" in message


def test_full_run_on_a_limit_preview_names_the_target(write_recipe, tmp_path):
    recipe = write_recipe(target=6)
    run_recipe(recipe, out=tmp_path / "run", limit=3, progress=False)
    with pytest.raises(RunDirError, match=r"only generation.target differs \(3 there, 6 here"):
        run_recipe(recipe, out=tmp_path / "run", progress=False)


# --- 5. replay: source_exhausted with n > 1, a missing file at validate time ---------------------------

def test_replay_rows_left_below_n_is_source_exhausted(write_recipe, tmp_path):
    write_jsonl(tmp_path / "saved.jsonl", [f"saved completion number {i} long enough" for i in range(30)])
    recipe = use_replay(write_recipe(target=40, budget=200, batch_size=7), "saved.jsonl")
    result = run_recipe(recipe, overrides=["generation.sampling.n=4"], progress=False)
    assert result.report.stop_reason == "source_exhausted"
    assert result.report.throughput.candidates == 28
    warning = outcome_notes(result.report)[0]
    assert "replay file ran out of rows" in warning and "max_candidates" not in warning


def test_replay_missing_file_fails_validation(write_recipe):
    from synthgen.api import validate_recipe

    recipe = use_replay(write_recipe(), "missing.jsonl")
    with pytest.raises(RecipeError, match=r"recipe.toml:generation.backend.path: .*missing.jsonl: file not found"):
        validate_recipe(load_recipe(recipe))


def test_budget_warning_still_names_max_candidates():
    report = SimpleNamespace(stop_reason="budget_exhausted", target=9, kept=3, extra={})
    assert "raise generation.max_candidates" in outcome_notes(report)[0]


# --- 6. synthgen plan's hints name only its own options ----------------------------------------------

def test_plan_hints_do_not_offer_overwrite(write_recipe, tmp_path):
    from synthgen.pilot import save_forecast

    foreign = tmp_path / "nonrun"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError) as error:
        save_forecast({}, foreign, "abc")
    assert "--overwrite" not in str(error.value) and "--out" in str(error.value)

    run = tmp_path / "run"
    run_recipe(write_recipe(target=3), out=run, progress=False)
    with pytest.raises(RunDirError) as error:
        save_forecast({}, run, "another-hash")
    assert "different recipe" in str(error.value) and "--overwrite" not in str(error.value)
    assert (foreign / "notes.txt").read_text() == "mine"
