"""``synthgen plan`` fixes: fan-out units, the selection pool, the gate preview (fidelity included), the
report's forecast table, a replay file's capacity, where plan writes, and the pilot's batch sizes."""

from __future__ import annotations

import json
import math
import tempfile

import pytest
from click.testing import CliRunner

from synthgen.api import build_run_plan, load_recipe, run_recipe
from synthgen.backends.testing import ScriptedBackend
from synthgen.cli import cli
from synthgen.pilot import forecast, plan_recipe
from synthgen.pilot_text import render_plan
from synthgen.progress import RunProgress, acceptance
from synthgen.recipe.schema import ScriptedBackendConfig
from synthgen.report.timing import forecast_section
from synthgen.rundir import RunDir
from synthgen.runner import Runner
from tests.helpers_steps import write_steps_recipe
from tests.test_gate_run import sentences

FAN_OUT = """
[[steps]]
type = "generate"
name = "instruction"
template = "Topic: {topic}\\nQuestion:"

[[steps]]
type = "generate"
name = "response"
template = "Q: {instruction}\\nA:"
[steps.sampling]
n = 4
"""


def write_reference(tmp_path, count: int = 200) -> None:
    (tmp_path / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(count, 0)))


# --- #1: a fan-out recipe: candidates, yield and acceptance -------------------------------------------------


def test_plan_forecasts_a_fan_out_recipe_in_first_step_candidates(tmp_path):
    """One instruction becomes 4 responses: 12 records need 3 candidates; acceptance stays a share."""
    recipe = write_steps_recipe(tmp_path, FAN_OUT, target=12)
    result = plan_recipe(load_recipe(recipe), sample=4)
    pilot, fc = result["pilot"], result["forecast"]
    assert pilot["candidates"] == 4 and pilot["kept"] == 16 and pilot["fan_out"] == 4
    assert pilot["acceptance_rate"] == 1.0 and pilot["yield_per_candidate"] == 4.0 and pilot["duplicate_rate"] <= 1
    assert all(stage["acceptance"] <= 1 for stage in pilot["stages"])
    assert fc["candidates_needed"] == 3 and fc["candidates_interval"][0] == 3 and fc["yield_interval"][1] == 4.0
    run = run_recipe(recipe, out=tmp_path / "run", progress=False)
    assert run.report.to_dict()["throughput"]["candidates"] == 4  # one batch of 4 requests
    text = render_plan(result)
    assert "400" not in text and "16/16" in text and "records kept per candidate" in text


def test_forecast_of_a_fan_out_pilot_keeps_its_interval_around_the_point_forecast():
    pilot = {"kept": 11, "candidates": 8, "fan_out": 3, "acceptance_rate": 11 / 8, "backend_seconds_per_candidate": 0.1,
             "stage_seconds_per_candidate": 0.1}
    fc = forecast(pilot, target=10, budget=40)
    low, high = fc["candidates_interval"]
    assert fc["candidates_needed"] == math.ceil(10 * 8 / 11) and low <= fc["candidates_needed"] <= high
    assert 0 < fc["yield_interval"][0] < 11 / 8 < fc["yield_interval"][1] <= 3 and fc["acceptance_interval"] is None
    assert forecast({**pilot, "fan_out": 1}, target=10, budget=40)["candidates_needed"] == math.ceil(10 * 8 / 11)


def test_progress_acceptance_is_kept_over_records_made_on_a_fan_out_run(tmp_path):
    loaded = load_recipe(write_steps_recipe(tmp_path, FAN_OUT, target=12))
    run_dir = RunDir(tmp_path / "run")
    run_dir.prepare(loaded.hash)
    plan = build_run_plan(loaded)
    plan.backend.load()
    runner = Runner(plan, run_dir, progress=False)
    runner.run()
    assert len(runner.state.kept_rows) > runner.state.candidates  # 16 records from 4 candidates
    assert "acc 100%" in RunProgress(runner, enabled=False).line()
    assert acceptance(3, 1) == 0.75 and acceptance(0, 0) == 0.0


# --- #3: the selection pool -------------------------------------------------------------------------------------

SELECTION = """
[diversity]
embedder = "tfidf"
tfidf_components = 8
near_duplicate_threshold = false
selection = "k_center"
reference = "reference.jsonl"
[diversity.gate]
enabled = false
"""


def test_with_diverse_selection_forecast_and_outcome_both_count_the_pool(write_recipe, tmp_path):
    write_reference(tmp_path)
    recipe = write_recipe(target=12, budget=60, batch_size=8, extra=SELECTION)
    out = tmp_path / "run"
    planned = CliRunner().invoke(cli, ["plan", str(recipe), "--sample", "16", "--out", str(out)])
    assert planned.exit_code == 0, planned.output
    assert "forecast for target 12 (the run collects 18 records" in planned.output
    run_recipe(recipe, out=out, progress=False)
    compared = json.loads((out / "report.json").read_text())["forecast"]
    assert compared["predicted"]["collect"] == compared["outcome"]["collect"] == 18
    assert compared["outcome"]["candidates_to_target"] >= 18 and compared["within_interval"]
    assert "candidates to reach the 18 records collected (for target 12" in (out / "report.md").read_text()


# --- #4: the gate preview is the run's GateController.check, fidelity included ----------------------------------

FIDELITY_ONLY = """
[diversity]
embedder = "tfidf"
tfidf_components = 32
reference = "reference.jsonl"
near_duplicate_threshold = false

[diversity.gate]
distinct_2_ratio_min = false
compression_ratio_max = false
mean_cosine_margin = false
vendi_ratio_min = false
coverage_ratio_min = false
previous_tolerance = false
min_samples = 20
clusters = 3

[diversity.remediation]
budget = 0
"""


def test_the_pilot_gate_fails_where_the_run_fails_the_fidelity_gate(write_recipe, tmp_path):
    """Word salad passes every (disabled) diversity rule and fails fidelity; with no remediation budget
    the run stops at its first window, and the plan says so."""
    import random

    write_reference(tmp_path)
    words = " ".join(sentences(200, 400)).split()
    rng = random.Random(1)
    salad = json.dumps([" ".join(rng.sample(words, 14)) for _ in range(30)])
    recipe = write_recipe(target=30, budget=90, batch_size=30, extra=FIDELITY_ONLY)
    recipe.write_text(recipe.read_text().replace("delay_s = 0.0", f"delay_s = 0.0\noutputs = {salad}"))
    planned = plan_recipe(load_recipe(recipe), sample=30)
    gate = planned["pilot"]["gate"]
    assert gate["checked"] and not gate["passed"] and not gate["retry"] and "perplexity_shift" in gate["summary"]
    assert planned["forecast"]["gate_stops_run"] and planned["forecast"]["budget_enough"] == "not"
    assert "may not retry" in render_plan(planned)
    run = run_recipe(recipe, out=tmp_path / "run", progress=False)
    assert run.report.to_dict()["stop_reason"] == "gate_failed"


# --- #6: no Python None in the report's forecast table ----------------------------------------------------------


def test_forecast_table_writes_unreachable_and_n_a_when_the_pilot_kept_nothing():
    pilot = {"kept": 0, "candidates": 8, "backend_seconds_per_candidate": 0.1, "stage_seconds_per_candidate": 0.1}
    predicted = forecast(pilot, target=10, budget=30)
    outcome = {"candidates": 30, "kept": 0, "yield_per_candidate": 0.0, "acceptance_rate": 0.0}
    report = {"forecast": {"predicted": predicted, "outcome": outcome, "within_interval": None, "error": None},
              "timings": {"generate_seconds": 0.01}}
    text = "\n".join(forecast_section(report))
    assert "None" not in text
    assert f"unreachable (≥{predicted['candidates_interval'][0]})" in text and "| generation seconds | n/a |" in text


# --- #7: a replay file's capacity, and a replay hint that fits the command ---------------------------------------

REPLAY = """
[recipe]
name = "replayed"
seed = 1

[seeds]
type = "inline"
records = [{{topic = "cats"}}, {{topic = "dogs"}}, {{topic = "owls"}}]

[prompt]
template = "Topic: {{topic}}\\n"

[generation]
target = {target}
max_candidates = 30
batch_size = 4

[generation.backend]
type = "replay"
path = "saved.jsonl"
"""


def write_replay(tmp_path, rows: int, target: int = 10, body: str = ""):
    texts = [f"saved completion number {i} about something" for i in range(rows)]
    (tmp_path / "saved.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    path = tmp_path / "replay.toml"
    path.write_text(REPLAY.format(target=target) + body)
    return path


def test_the_forecast_counts_only_the_completions_a_replay_file_holds(tmp_path):
    result = plan_recipe(load_recipe(write_replay(tmp_path, rows=7)), sample=5)
    fc = result["forecast"]
    assert fc["capacity"] == 7 and fc["usable_candidates"] == 7
    assert fc["budget_enough"] == "unlikely" and fc["budget_enough_probability"] < 0.1
    assert "the replay file can answer 7 candidates" in render_plan(result)
    assert plan_recipe(load_recipe(write_replay(tmp_path, rows=7)), sample=32)["pilot"]["requests"] == 7


def test_a_later_fan_out_step_cannot_run_a_replay_file_dry_mid_run(tmp_path):
    """Every step reads the one replay file, a later step at rows record index × n + j: the run counts
    whole requests' worth of those rows, so it stops `source_exhausted` instead of failing mid-batch."""
    recipe = write_replay(tmp_path, rows=30, target=8).read_text().replace(
        '[prompt]\ntemplate = "Topic: {topic}\\n"\n', FAN_OUT)
    (tmp_path / "replay.toml").write_text(recipe)
    generated = CliRunner().invoke(cli, ["generate", str(tmp_path / "replay.toml"), "--quiet",
                                         "--out", str(tmp_path / "run")])
    assert generated.exit_code == 0, generated.output
    assert "4 records (source_exhausted)" in generated.output  # one request (16 rows) fits in 30, not two
    planned = CliRunner().invoke(cli, ["plan", str(tmp_path / "replay.toml"), "--sample", "8"])
    assert planned.exit_code == 0, planned.output


def test_a_replay_file_that_runs_dry_names_the_remedy_of_the_command_being_run(tmp_path, monkeypatch):
    import synthgen.pilot as pilot
    from synthgen.backends.replay import ReplayBackend, ReplayExhausted
    from synthgen.records import GenerationRequest
    from synthgen.recipe.schema import SamplingConfig

    write_replay(tmp_path, rows=2)
    replay = ReplayBackend(tmp_path / "saved.jsonl")
    with pytest.raises(ReplayExhausted) as during_generate:
        replay.generate([GenerationRequest(5, "p", None, 0)], SamplingConfig())
    assert "lower generation.target" in during_generate.value.hint and "--sample" not in during_generate.value.hint

    def run_dry(plan, sample):
        raise during_generate.value

    monkeypatch.setattr(pilot, "run_pilot", run_dry)
    with pytest.raises(ReplayExhausted) as during_plan:
        pilot.run_replayed(None, 8)
    assert "lower --sample" in during_plan.value.hint


# --- #8: plan --out checks ownership before it writes; a plain plan leaves nothing behind -----------------------


def test_plan_refuses_another_recipes_run_before_writing_into_it(write_recipe, tmp_path):
    out = tmp_path / "run"
    run_recipe(write_recipe(target=4, name="first.toml"), out=out, progress=False)
    other = write_recipe(target=5, name="second.toml")
    before = sorted(p.name for p in out.iterdir())
    result = CliRunner().invoke(cli, ["plan", str(other), "--sample", "4", "--out", str(out)])
    assert result.exit_code == 1 and "holds a run of a different recipe" in result.output
    assert sorted(p.name for p in out.iterdir()) == before and not (out / "logs").exists()


def test_plan_without_out_leaves_no_scratch_folder(write_recipe, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = CliRunner().invoke(cli, ["plan", str(write_recipe(target=4)), "--sample", "4"])
    assert result.exit_code == 0, result.output
    assert not list(scratch.glob("synthgen-plan-*"))


# --- #12: the pilot keeps the run's batch sizes past the target -------------------------------------------------


def test_the_pilot_keeps_full_batches_once_it_passes_the_target(write_recipe):
    backend = ScriptedBackend(ScriptedBackendConfig(type="scripted"))
    plan_recipe(load_recipe(write_recipe(target=6, budget=40, batch_size=8)), sample=32, backend=backend)
    sizes = [len(requests) for requests in backend.calls]
    assert sum(sizes) == 32 and len(sizes) <= 6 and 1 not in sizes[:-1], sizes
