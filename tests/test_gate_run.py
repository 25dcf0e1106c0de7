"""The diversity gate inside a run: a collapsed batch is revoked, remediated, and the run exits 3 when the
budget is spent; a healthy run passes and records every decision."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from synthgen.api import run_recipe
from synthgen.backends.testing import ScriptedBackend
from synthgen.cli import cli
from synthgen.recipe.schema import ScriptedBackendConfig


def sentences(count: int, offset: int) -> list[str]:
    """Real, varied English sentences from CPython's pydoc topics, shuffled once so that any two slices
    are samples of the same distribution (the reference and a healthy generation)."""
    import random

    from pydoc_data.topics import topics

    text = " ".join(topics[key] for key in sorted(topics))
    found = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 8 <= len(s.split()) <= 30][:1000]
    random.Random(0).shuffle(found)
    return found[offset:offset + count]


GATE = """
[diversity]
embedder = "tfidf"
tfidf_components = 32
reference = "reference.jsonl"
near_duplicate_threshold = false  # TOML has no null: false turns it off

[diversity.gate]
min_samples = 20
clusters = 3

[diversity.remediation]
budget = 1
"""


@pytest.fixture
def gated_recipe(write_recipe, tmp_path):
    (tmp_path / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(200, 0)))
    return write_recipe(target=30, budget=120, batch_size=30, extra=GATE)


def scripted(outputs: list[str]) -> ScriptedBackend:
    return ScriptedBackend(ScriptedBackendConfig(type="scripted", outputs=outputs))


def test_healthy_generation_passes_the_gate(gated_recipe):
    result = run_recipe(gated_recipe, backend=scripted(sentences(150, 200)), progress=False)
    report = result.report.to_dict()
    assert report["status"] == "complete" and report["gates_passed"] is True
    # the gate computed only what it gates on; the report measures the whole dataset once, every metric
    gated = {d["metric"] for d in report["gates"][-1]["decisions"]}
    final = {row["metric"]: row for row in report["diversity"]}
    assert {"distinct_2", "vendi", "mean_pairwise_cosine", "cluster_coverage", "self_repetition"} <= set(final)
    assert set(final) - gated and final["distinct_2"]["reference"] is not None
    assert "## Diversity of the dataset" in (result.run_dir / "report.md").read_text()
    check = report["gates"][-1]
    assert check["passed"] and {"metric", "value", "threshold", "reference"} <= set(check["decisions"][0])
    assert len(result.dataset) == 30


def test_collapsed_generation_is_revoked_remediated_and_fails(gated_recipe):
    narrow = [f"What is the best way to cook rice number {i % 3}?" for i in range(60)]
    result = run_recipe(gated_recipe, backend=scripted(narrow), progress=False)
    report = result.report.to_dict()
    assert report["status"] == "failed_gate" and report["stop_reason"] == "gate_failed"
    first, last = report["gates"][0], report["gates"][-1]
    assert not first["passed"] and first["remediation"]["retry"] is True
    assert "temperature" in first["remediation"]["message"]
    assert not last["remediation"]["retry"]
    assert "distinct_2" in report["gate_failure"] or "compression" in report["gate_failure"]
    rejected = result.rejected.to_list()
    revoked = [r for r in rejected if r["reason"] == "diversity_gate_failed"]
    assert len(revoked) == 60 and len(result.dataset) == 0
    markdown = (result.run_dir / "report.md").read_text()
    assert "## Diversity gate" in markdown and "**Failed:**" in markdown and "Remediation: attempt 1/1" in markdown
    temperatures = {json.loads(r["evidence"])["attempt"] for r in revoked}
    assert temperatures == {0, 1}


def test_gate_failure_exits_3_naming_the_metric(gated_recipe):
    narrow = [f"What is the best way to cook rice number {i % 3}?" for i in range(60)]
    path = gated_recipe
    text = path.read_text().replace('type = "scripted"', 'type = "scripted"\noutputs = ' + json.dumps(narrow))
    path.write_text(text)
    result = CliRunner().invoke(cli, ["generate", str(path), "--quiet"])
    assert result.exit_code == 3, result.output
    assert "quality gate failed" in result.output and "distinct_2" in result.output


def test_remediated_sampling_is_recorded_on_records(gated_recipe, tmp_path):
    """First window collapses; after remediation the scripted backend (which cycles outputs) yields
    varied text, which passes; records carry the raised temperature."""
    narrow = [f"What is the best way to cook rice number {i % 3}?" for i in range(30)]
    result = run_recipe(gated_recipe, backend=scripted(narrow + sentences(30, 300)), progress=False)
    assert result.report.to_dict()["gates_passed"] is True and len(result.report.to_dict()["gates"]) == 2
    sampling = json.loads(result.dataset[0]["sampling"])
    assert sampling["temperature"] > 1.0


def test_diverse_selection_keeps_the_records_that_cover_the_space(write_recipe, tmp_path):
    (tmp_path / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(200, 0)))
    same = [f"How do I bake bread at home with flour number {i}?" for i in range(12)]
    distinct = sentences(6, 400)
    extra = GATE.replace("[diversity.gate]", 'selection = "k_center"\n[diversity.gate]\nenabled = false')
    path = write_recipe(target=8, budget=18, batch_size=18, extra=extra)
    outputs = [text for i in range(6) for text in (same[2 * i], same[2 * i + 1], distinct[i])]
    result = run_recipe(path, backend=scripted(outputs), overrides=["generation.sampling.max_tokens=64"],
                        progress=False)
    assert result.report.to_dict()["throughput"]["candidates"] == 12, "selection draws from 1.5x the target"
    kept = result.dataset["text"]
    assert len(kept) == 8 and set(distinct[:4]) <= set(kept), "first-8 would keep only 2 distinct texts"
    over = [r for r in result.rejected.to_list() if r["reason"] == "over_target"]
    assert len(over) == 4 and all(r["text"] in same for r in over)


def test_revoked_records_no_longer_block_their_duplicates(write_recipe, tmp_path):
    """After a window is revoked, the run's dedup memory holds only what the run keeps: a later copy of a
    revoked text is not dropped as a duplicate of a record that is not in the dataset."""
    import random

    (tmp_path / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(200, 0)))
    vocab = "rice bread soup salt pepper oven pan boil bake stir".split()
    rng = random.Random(0)
    narrow = [" ".join(rng.sample(vocab, 10)) + "?" for _ in range(30)]  # distinct texts, tiny vocabulary
    second = narrow[:5] + sentences(25, 600)
    # the five cooking texts share no word with the reference, so the tfidf embedder (fitted once on the
    # reference) maps them to one zero vector: Vendi of the second window is 0.76x real, hence the 0.7 here
    extra = GATE.replace("clusters = 3", "clusters = 3\nvendi_ratio_min = 0.7") + "\n[dedup]\nngram = 3\n"
    path = write_recipe(target=30, budget=60, batch_size=30, extra=extra)
    result = run_recipe(path, backend=scripted(narrow + second), progress=False)
    assert not result.report.to_dict()["gates"][0]["passed"], "the narrow first window is revoked"
    assert set(narrow[:5]) <= set(result.dataset["text"])
    dropped = [r for r in result.rejected.to_list() if r["reason"] in ("exact_duplicate", "near_duplicate")]
    assert not dropped




def test_reports_show_the_fidelity_gate(gated_recipe):
    """The fidelity rules run with the diversity gate by default; report.md and report.html show them."""
    result = run_recipe(gated_recipe, backend=scripted(sentences(150, 200)), progress=False)
    decisions = result.report.to_dict()["gates"][-1]["decisions"]
    fidelity = {d["metric"]: d for d in decisions if d.get("gate") == "fidelity"}
    assert fidelity["perplexity_shift"]["status"] == "pass" and fidelity["perplexity_shift"]["reference"] > 1
    markdown = (result.run_dir / "report.md").read_text()
    assert "## Fidelity gate" in markdown and "per-record perplexity p50" in markdown
    assert "Fidelity gate" in (result.run_dir / "report.html").read_text()


def test_fidelity_fragments_name_the_failing_side():
    from synthgen.fidelity.report import fidelity_html, fidelity_markdown

    failing = {"metric": "perplexity_shift", "gate": "fidelity", "against": "real", "status": "fail", "passed": False,
               "side": "too_far", "value": 900.0, "reference": 300.0, "threshold": 375.0, "reason": "too far <x>",
               "details": {"low": 240.0, "high": 375.0, "false_alarm_rate": 0.0,
                           "quantiles": {"p50": {"value": 900.0, "reference": 300.0}}}}
    report = {"gates": [{"decisions": [failing], "remediation": {"message": "temperature 1 -> 0.9"}}]}
    text = "\n".join(fidelity_markdown(report))
    assert "FAIL (too far)" in text and "240 – 375" in text and "temperature 1 -> 0.9" in text
    assert "&lt;x&gt;" in fidelity_html(report) and fidelity_markdown({"gates": []}) == []


def test_a_too_far_window_brings_more_real_examples_into_the_next_prompts(gated_recipe):
    """Word salad fails the fidelity rule as too far; the retry cools the sampling and every prompt it
    sends holds one more real few-shot example (k = 2 → 3)."""
    import random

    words = " ".join(sentences(200, 400)).split()
    rng = random.Random(1)
    salad = [" ".join(rng.sample(words, 14)) for _ in range(30)]

    class Recording(ScriptedBackend):
        prompts: list[str] = []

        def generate(self, requests, sampling):
            self.prompts.extend(r.prompt for r in requests)
            return super().generate(requests, sampling)

    backend = Recording(ScriptedBackendConfig(type="scripted", outputs=salad + sentences(150, 200)))
    result = run_recipe(gated_recipe, backend=backend, progress=False)
    first = result.report.to_dict()["gates"][0]
    far = [d for d in first["decisions"] if d["metric"] == "perplexity_shift"]
    assert not first["passed"] and far and far[0]["side"] == "too_far"
    examples = [prompt.count("Q: ") for prompt in backend.prompts]
    assert examples[:30] == [2] * 30 and 3 in examples[30:], examples
    assert result.report.to_dict()["status"] == "complete"
