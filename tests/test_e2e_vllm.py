"""End to end on the real embedded model through vLLM (CPU): the quickstart recipe, shrunk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthgen.api import run_recipe

QUICKSTART = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.toml"
SMALL = ["generation.target=6", "generation.max_candidates=18", "generation.batch_size=6",
         "generation.sampling.max_tokens=24", "diversity.gate.min_samples=6", "diversity.gate.min_tokens=30",
         "diversity.gate.clusters=3"]


@pytest.mark.slow
def test_quickstart_on_real_vllm(tmp_path):
    result = run_recipe(QUICKSTART, overrides=SMALL, out=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in ("dataset", "data.parquet", "rejected.parquet", "manifest.json", "report.json", "report.md"):
        assert (run / name).exists(), name

    report = json.loads((run / "report.json").read_text())
    assert report["stop_reason"] in ("target_reached", "budget_exhausted")
    assert report["throughput"]["candidates"] == report["kept"] + report["rejected"]
    assert report["throughput"]["completion_tokens"] > 0 and report["throughput"]["tokens_per_s"] > 0

    dataset = result.dataset
    assert len(dataset) == report["kept"] >= 1
    for row in dataset:
        assert row["text"].strip() and row["model"] == "gemma3-270m" and row["backend"] == "vllm"
        assert row["recipe_hash"] == report["recipe_hash"] and len(row["parent_ids"]) == 4
        assert row["n_tokens"] <= 24
    letters = sum(ch.isalpha() for ch in "".join(dataset["text"]))
    assert letters / max(1, len("".join(dataset["text"]))) > 0.6, "the model should write words, not garbage"

    manifest = result.manifest
    assert manifest["backend"]["engine"] == "vllm" and manifest["backend"]["model_fingerprint"]
    assert manifest["overrides"] == SMALL and manifest["status"] in ("complete", "incomplete")


INSTRUCTIONS = Path(__file__).resolve().parents[1] / "recipes" / "instructions.toml"


@pytest.mark.slow
def test_instructions_recipe_on_real_vllm_gives_a_messages_dataset(tmp_path):
    """persona x topic -> instruction -> verify -> response -> judge on the embedded model, loaded back
    as a `datasets` dataset in TRL's conversational format; every reject carries its reason."""
    import datasets

    small = ["generation.target=4", "generation.max_candidates=16", "generation.batch_size=8"]
    result = run_recipe(INSTRUCTIONS, overrides=small, out=tmp_path / "run", progress=False)
    dataset = datasets.load_from_disk(str(tmp_path / "run" / "dataset"))
    assert "messages" in dataset.column_names and "instruction" not in dataset.column_names
    for row in dataset:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert all(m["content"].strip() for m in row["messages"]) and 1 <= row["score"] <= 10
    stages = [s["stage"] for s in result.report.to_dict()["stages"]]
    assert stages.index("length") == stages.index("instruction") + 1 < stages.index("response")
    for row in result.rejected.to_list():
        assert row["stage"] and row["reason"], row
    assert result.report.to_dict()["throughput"]["completion_tokens"] > 0
