"""run_recipe end to end on the scripted backend: run dir, provenance, targets, budgets, refusal."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from synthgen.api import run_recipe
from synthgen.backends.testing import ScriptedBackend
from synthgen.errors import RunDirError
from synthgen.recipe.schema import ScriptedBackendConfig

PROVENANCE = {"id", "generation", "depth", "recipe_hash", "model", "backend", "sampling", "sampling_hash",
              "seed_index", "prompt_hash", "parent_ids", "created_at"}


def test_run_writes_the_run_directory(write_recipe, tmp_path):
    result = run_recipe(write_recipe(), progress=False)
    run = tmp_path / "runs" / "tiny"
    assert result.run_dir == run
    for name in ("dataset", "data.parquet", "rejected.parquet", "manifest.json", "report.json", "report.md",
                 "report.html"):
        assert (run / name).exists(), name
    dataset = result.dataset
    assert len(dataset) == 10 and PROVENANCE <= set(dataset.column_names)
    assert {"seed_topic", "seed_persona", "prompt", "text"} <= set(dataset.column_names)
    row = dataset[0]
    assert row["model"] == "scripted" and row["backend"] == "scripted" and len(row["parent_ids"]) == 2
    assert pq.read_table(run / "data.parquet").num_rows == 10


def test_report_funnel_accounts_for_every_candidate(write_recipe):
    outputs = ["ok this is a fine question?", "", "too short", "another fine question here?"]
    backend = ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=outputs))
    result = run_recipe(write_recipe(target=6, budget=30), backend=backend, progress=False)
    report = result.report.to_dict()
    assert report["stop_reason"] == "target_reached" and report["kept"] == 6
    by_stage = {s["stage"]: s for s in report["stages"]}
    assert by_stage["non_empty"]["reasons"] == {"empty_output": by_stage["non_empty"]["dropped"]}
    assert set(by_stage["length"]["reasons"]) == {"too_short"}
    candidates = report["throughput"]["candidates"]
    assert candidates == report["kept"] + report["rejected"]
    rejected = result.rejected.to_list()
    assert {r["reason"] for r in rejected} <= {"empty_output", "too_short", "over_target"}
    short = next(r for r in rejected if r["reason"] == "too_short")
    assert short["text"] == "too short" and json.loads(short["evidence"])["min"] == 5


def test_budget_exhausted_is_reported(write_recipe):
    backend = ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=["short", "a good long question here?"]))
    result = run_recipe(write_recipe(target=10, budget=12), backend=backend, progress=False)
    assert result.report.to_dict()["stop_reason"] == "budget_exhausted"
    assert result.report.to_dict()["status"] == "incomplete"
    assert result.report.to_dict()["throughput"]["candidates"] <= 12
    assert len(result.dataset) == result.report.to_dict()["kept"] < 10


def test_batches_respect_batch_size_and_budget(write_recipe):
    backend = ScriptedBackend()
    run_recipe(write_recipe(target=10, budget=40, batch_size=3), backend=backend, progress=False)
    sizes = [len(call) for call in backend.calls]
    assert max(sizes) <= 3 and sum(sizes) >= 10
    indices = [r.index for call in backend.calls for r in call]
    assert indices == list(range(len(indices))), "requests are numbered without gaps or repeats"


def test_rerun_of_a_finished_run_does_not_generate(write_recipe):
    path = write_recipe()
    first = run_recipe(path, progress=False)
    backend = ScriptedBackend()
    second = run_recipe(path, backend=backend, progress=False)
    assert backend.calls == [] and second.report.to_dict()["resumed_batches"] == first.report.to_dict()["throughput"]["batches"]
    assert second.dataset.to_list() == first.dataset.to_list()


def test_a_different_recipe_is_refused_unless_overwrite(write_recipe, tmp_path):
    run_recipe(write_recipe(), progress=False)
    other = write_recipe(target=5, name="other.toml")  # same name, so the same default run dir
    with pytest.raises(RunDirError, match="holds a run of a different recipe"):
        run_recipe(other, progress=False)
    result = run_recipe(other, overwrite=True, progress=False)
    assert len(result.dataset) == 5


def test_a_foreign_folder_is_never_clobbered(write_recipe, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(RunDirError, match="not a synthgen run directory"):
        run_recipe(write_recipe(), out=out, progress=False)
    run_recipe(write_recipe(), out=out, overwrite=True, progress=False)
    assert (out / "precious.txt").read_text() == "keep me"


def test_manifest_records_overrides_limit_and_inputs(write_recipe):
    result = run_recipe(write_recipe(), overrides=["generation.sampling.temperature=0.5"], limit=3, progress=False)
    manifest = result.manifest
    assert manifest["overrides"] == ["generation.sampling.temperature=0.5", "generation.target=3"]
    assert manifest["recipe"]["generation"]["sampling"]["temperature"] == 0.5
    assert manifest["inputs"]["prompt.few_shot.path"]["sha256"]
    assert manifest["backend"]["backend"] == "scripted" and manifest["status"] == "complete"
    assert len(result.dataset) == 3


def test_replay_backend_regates_saved_generations(tmp_path, write_recipe):
    lines = ["a saved completion that is long enough", "nope", "another saved completion long enough"]
    (tmp_path / "saved.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in lines))
    path = write_recipe(target=5, budget=20)
    text = path.read_text().replace('type = "scripted"\ndelay_s = 0.0', 'type = "replay"\npath = "saved.jsonl"')
    path.write_text(text)
    result = run_recipe(path, progress=False)
    assert result.report.to_dict()["stop_reason"] == "source_exhausted"
    assert result.dataset["text"] == [lines[0], lines[2]]
    assert result.dataset[0]["model"] == "replay:saved.jsonl"


def test_sampling_n_gives_n_candidates_per_request(write_recipe):
    backend = ScriptedBackend()
    result = run_recipe(write_recipe(target=6), overrides=["generation.sampling.n=3"], backend=backend, progress=False)
    assert all(len(call) <= 4 for call in backend.calls)
    indices = sorted(result.dataset["candidate_index"])
    assert len(set(indices)) == len(indices)


def test_a_run_that_keeps_nothing_still_loads(write_recipe):
    backend = ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=["no"]))
    result = run_recipe(write_recipe(target=3, budget=6), backend=backend, progress=False)
    assert result.report.to_dict()["kept"] == 0 and len(result.dataset) == 0 and len(result.rejected) == 6


def test_mix_caps_the_synthetic_share_and_keeps_all_real(write_recipe, tmp_path):
    extra = '\n[mix]\nreal = "real.jsonl"\nmax_synthetic_share = 0.5\n'
    result = run_recipe(write_recipe(target=10, extra=extra), progress=False)
    mix = result.report.to_dict()["mix"]
    assert mix["n_real"] == 4 and mix["n_synthetic"] == 4 and mix["synthetic_share"] == 0.5
    assert result.manifest["mix"] == mix
    import datasets

    rows = datasets.load_from_disk(str(result.run_dir / "mix")).to_list()
    assert sorted(r["source"] for r in rows) == ["real"] * 4 + ["synthetic"] * 4
    assert "4 real + 4 synthetic records: synthetic share 0.500 (cap 0.500, default 0.500), strategy random" in (
        result.run_dir / "report.md").read_text()


def test_mix_cap_above_default_needs_a_reason_before_generating(write_recipe):
    from synthgen.errors import RecipeError

    backend = ScriptedBackend()
    extra = '\n[mix]\nreal = "real.jsonl"\nmax_synthetic_share = 0.9\n'
    with pytest.raises(RecipeError, match="mix"):
        run_recipe(write_recipe(extra=extra), backend=backend, progress=False)
    assert backend.calls == []


def test_push_to_hub_dry_run_builds_the_hub_folder(write_recipe, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    result = run_recipe(write_recipe(), progress=False)
    published = result.push_to_hub("someone/tiny-questions", dry_run=True)
    assert not published.uploaded and (published.folder / "README.md").is_file()
    assert "synthetic" in (published.folder / "README.md").read_text()
