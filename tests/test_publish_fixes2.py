"""The dataset card states what is really published: the real data's sources from the manifest's absolute
input paths, the mix folder's own figures, each step's sampling, the gate kinds, the small default model,
the model's terms beside a custom license; and `publish` fails in one line on a bad --out or an evolve project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from helpers_publish import MIX, finished_run, no_stored_login, run_dir  # noqa: F401 (fixtures)

from synthgen.publish import PublishError, build_hub_folder
from synthgen.publish.cli import publish_command
from synthgen.publish.folder import write_shards


def edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def edit_recipe(run: Path, **tables) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    edit_json(run / "manifest.json", recipe={**manifest["recipe"], **tables})


def card(run: Path, out: str = "out", **options) -> str:
    return (build_hub_folder(run, run / out, "me/tiny", **options) / "README.md").read_text()


def front_matter(text: str) -> dict:
    return yaml.safe_load(text.split("\n---\n", 1)[0][4:])


def saved_dataset(folder: Path, name: str, license: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "dataset_info.json").write_text(json.dumps({"dataset_name": name, "license": license}))
    return folder


def inputs_at(**paths: Path) -> dict:
    """A manifest's ``inputs``: recipe key (``mix.real``; ``__`` for ``.``) → the absolute path recorded."""
    return {key.replace("__", "."): {"path": str(path), "sha256": "0"} for key, path in paths.items()}


# --- 1. provenance from the manifest's absolute input paths -----------------------------------------


def test_sources_are_the_manifests_inputs_wherever_publish_runs(run_dir, tmp_path, monkeypatch):
    data = tmp_path / "recipe-folder" / "data"
    mix_real = saved_dataset(data / "mix_ds", "fortunes_mix", "gpl-2.0")
    few_shot = saved_dataset(data / "fs_ds", "fortunes_full", "cc-by-4.0")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    recipe = manifest["recipe"]
    recipe["mix"]["real"], recipe["prompt"]["few_shot"]["path"] = "data/mix_ds", "data/fs_ds"
    edit_json(run_dir / "manifest.json", recipe=recipe, recipe_source="recipe.toml",
              inputs=inputs_at(prompt__few_shot__path=few_shot, mix__real=mix_real))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither the recipe's folder nor where `generate` ran
    text = card(run_dir)
    assert front_matter(text)["source_datasets"] == ["extended|fortunes_full", "extended|fortunes_mix"]
    assert ("- source data fortunes_mix: license gpl-2.0 (`data/mix_ds`); real rows published in the `mix` "
            "config") in text
    assert "- source data fortunes_full: license cc-by-4.0 (`data/fs_ds`); few-shot examples" in text


def test_every_steps_few_shot_and_the_references_are_listed(run_dir, tmp_path):
    step_data = saved_dataset(tmp_path / "step_ds", "step_examples", "mit")
    reference = tmp_path / "ref.jsonl"
    reference.write_text('{"text": "a real line"}\n')
    steps = [{"type": "generate", "name": "instruction", "template": "{examples}",
              "few_shot": {"path": "step_ds", "k": 2}, "sampling": {"temperature": 0.9}}]
    edit_recipe(run_dir, steps=steps, dedup={"against_real": [{"path": "ref.jsonl"}]},
                diversity={"reference": "ref.jsonl"})
    inputs = json.loads((run_dir / "manifest.json").read_text())["inputs"]
    edit_json(run_dir / "manifest.json", inputs={**inputs, **inputs_at(
        steps__0__few_shot__path=step_data, dedup__against_real__0__path=reference, diversity__reference=reference)})
    text = card(run_dir)
    assert "extended|step_examples" in front_matter(text)["source_datasets"]
    assert "license mit (`step_ds`); few-shot examples of step instruction" in text
    assert ("- source data ref.jsonl: license not stated; dedup reference (not published), diversity reference "
            "(not published)") in text


def test_mix_real_is_a_source_only_when_the_mix_is_published(run_dir, tmp_path):
    mix_real = saved_dataset(tmp_path / "mix_ds", "fortunes_mix", "gpl-2.0")
    edit_json(run_dir / "manifest.json", inputs=inputs_at(mix__real=mix_real))
    assert front_matter(card(run_dir))["source_datasets"] == ["extended|fortunes_mix"]
    shutil.rmtree(run_dir / "mix")
    text = card(run_dir, "out2", force=True)
    assert front_matter(text)["source_datasets"] == ["original"] and "fortunes_mix" not in text


# --- 2. the mix as published, from mix/summary.json -------------------------------------------------


def remix(run: Path, share: float) -> dict:
    """`synthgen mix --out RUN/mix` again, as synthgen's hint suggests; returns the new summary."""
    from synthgen.mix.cli import run_mix

    run_mix(run.parent / "real.jsonl", run / "data.parquet", run / "mix", max_synthetic_share=share)
    return json.loads((run / "mix" / "summary.json").read_text())


@pytest.fixture
def real_beside(run_dir, finished_run):
    shutil.copy(finished_run.parent.parent / "real.jsonl", run_dir.parent / "real.jsonl")
    return run_dir


def test_card_describes_the_mix_folder_that_is_published(real_beside):
    run = real_beside
    summary = remix(run, 0.2)
    assert (summary["n_real"], summary["n_synthetic"], summary["cap"]) == (4, 1, 0.2)
    text = card(run)
    assert "the `mix` config holds 4 real + 1 synthetic rows, a synthetic share of 0.2 (cap 0.2)" in text
    assert "- synthetic share: the default config is 100% synthetic; the `mix` config holds 4 real + 1" in text
    assert "| mix | synthetic_share | cap | 0.2 | 0.2 |" in text
    assert "report.json describes 4 real + 4 synthetic rows, cap 0.5" in text


def test_lowered_cap_says_that_cap_applies(real_beside):
    run = real_beside
    summary = remix(run, 0.2)
    edit_json(run / "report.json", mix={k: v for k, v in summary.items() if k != "kind"})
    text = card(run)
    assert "default cap applies" not in text and "the mix was rebuilt" not in text
    assert "- override reason: none needed (the cap set for this mix, 0.2, is below the default 0.5: that lower " \
           "cap applies)" in text


# --- 3. sampling: each step's own, and the remediated one -------------------------------------------


def test_sampling_is_each_steps_own_for_a_steps_recipe(run_dir):
    steps = [{"type": "generate", "name": "instruction", "template": "x", "sampling": {"temperature": 0.9,
                                                                                       "max_tokens": 40}},
             {"type": "judge", "name": "score", "template": "y", "sampling": {"temperature": 0.0, "top_p": None}}]
    edit_recipe(run_dir, steps=steps)
    text = card(run_dir)
    assert "Sampling of step instruction: temperature=0.9, top_p=1, max_tokens=40, stop=[], n=1" in text
    assert "Sampling of step score: temperature=0, top_p=1, max_tokens=20, stop=[], n=1" in text
    assert "\nSampling: " not in text


def test_sampling_names_the_gate_remediation(run_dir):
    edit_json(run_dir / "report.json", final_sampling={"temperature": 1.3, "top_p": 1.0, "step": "text"})
    text = card(run_dir)
    assert "Sampling: temperature=1, top_p=1, max_tokens=20" in text
    assert "remediation changed the sampling: the run ended at temperature=1.3;" in text
    edit_json(run_dir / "report.json", final_sampling={"temperature": 1.0, "top_p": 1.0, "step": "text"})
    assert "remediation changed" not in card(run_dir, "out2")


# --- 5. --out under a file -------------------------------------------------------------------------


def test_out_under_a_file_is_one_clear_error(run_dir, tmp_path):
    (tmp_path / "afile").write_text("")
    for out in (tmp_path / "afile" / "sub", tmp_path / "afile" / "sub" / "deeper"):
        result = CliRunner().invoke(publish_command, [str(run_dir), "--repo-id", "me/tiny", "--dry-run",
                                                      "--out", str(out)])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "afile is a file, not a folder" in lines[0]
    with pytest.raises(PublishError, match="is a file, not a folder"):
        build_hub_folder(run_dir, tmp_path / "afile" / "sub", "me/tiny")


# --- 7. a custom license still names the model's terms ----------------------------------------------


def test_custom_license_keeps_the_gemma_terms(run_dir):
    edit_json(run_dir / "manifest.json", backend={"backend": "vllm", "model": "embedded"})
    out = run_dir.parent / "hub-out"
    result = CliRunner().invoke(publish_command, [str(run_dir), "--repo-id", "me/tiny", "--dry-run", "--out",
                                                  str(out), "--license", "other", "--license-name", "my-terms"])
    assert result.exit_code == 0, result.output
    text = (out / "README.md").read_text()
    assert front_matter(text)["license_name"] == "my-terms"
    assert ("`other` (my-terms): chosen when publishing: my-terms; the generating model's terms "
            "(https://ai.google.dev/gemma/terms) also apply.") in text


# --- smaller faults --------------------------------------------------------------------------------


def test_gate_rows_are_labelled_by_kind(run_dir):
    diversity = {"metric": "distinct_2", "against": "real", "value": 0.7, "threshold": 0.5, "passed": True,
                 "status": "pass", "rule": ">= 0.5× real"}
    fidelity = {"metric": "rare_type_recall", "against": "real", "gate": "fidelity", "value": None,
                "threshold": None, "passed": None, "status": "not_computed", "reason": "too few words",
                "blocking": False}
    checks = [{"window": [0, 5], "attempt": 0, "passed": False, "decisions": [diversity]},
              {"window": [0, 10], "attempt": 1, "passed": True, "decisions": [diversity, fidelity]}]
    edit_json(run_dir / "report.json", gates=checks, gates_passed=True)
    text = card(run_dir)
    assert "| diversity | records 0-10, attempt 1 | distinct_2 |" in text
    assert "| fidelity | records 0-10, attempt 1 | rare_type_recall |" in text
    assert "Gate rare_type_recall (fidelity) was not computed" in text
    assert "diversity and fidelity gates: 2 checks ran and 1 failed" in text
    assert "(gates)" not in text and "| gates |" not in text


@pytest.mark.parametrize(("model", "note"), [("embedded", "gemma3-270m, synthgen's embedded default model"),
                                             ("gemma3-270m", "gemma3-270m"), ("/m/other-270m", "/m/other-270m"),
                                             ("meta-llama/Llama-3-70B", None)])
def test_the_small_default_model_is_named_small(run_dir, model, note):
    edit_json(run_dir / "manifest.json", backend={"backend": "vllm", "model": model})
    text = card(run_dir)
    assert (f"Generated by a small model ({note})." in text) if note else "Generated by a small model" not in text


@pytest.mark.parametrize(("rows", "wanted"), [(24, 18), (24, 24), (7, 3), (5, 100), (1, 1)])
def test_shards_are_never_empty(tmp_path, rows, wanted):
    source = tmp_path / "data.parquet"
    pq.write_table(pa.table({"text": [f"row {i:04d} " + "x" * 40 for i in range(rows)]}), source)
    nbytes = pq.read_table(source).nbytes
    written = write_shards(source, tmp_path / "out", shard_bytes=-(-nbytes // wanted))
    counts = [pq.read_metadata(p).num_rows for p in sorted((tmp_path / "out").glob("train-*.parquet"))]
    assert written == rows and sum(counts) == rows
    assert len(counts) == min(rows, wanted) and min(counts) >= 1 and max(counts) - min(counts) <= 1


def test_publishing_an_evolve_project_suggests_publishing_a_generation(tmp_path):
    project = tmp_path / "evo"
    for name in ("gen-1", "gen-2", "gen-10-notes"):
        (project / name).mkdir(parents=True)
    (project / "report.json").write_text(json.dumps({"project": str(project), "generations": [], "stop_reason": "x"}))
    result = CliRunner().invoke(publish_command, [str(project), "--repo-id", "me/tiny", "--dry-run"])
    assert result.exit_code == 1
    assert f"`synthgen publish {project}/gen-2 --repo-id OWNER/NAME`" in result.output
    assert "synthgen report" not in result.output
