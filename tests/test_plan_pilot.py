"""``synthgen plan``: a pilot through every stage (nothing written, no persistent index touched) and a
forecast of the candidates the run needs, which the real run's report checks."""

from __future__ import annotations

import json

import pytest

from click.testing import CliRunner

from synthgen.api import run_recipe
from synthgen.cli import cli
from synthgen.pilot import budget_enough_probability, forecast, plan_recipe, wilson_interval
from synthgen.recipe import load_recipe

REAL = ["Never trust a computer you cannot throw out of a window.", "Work expands to fill the time available.",
        "A little learning is a dangerous thing, drink deep.", "Love is blind, but marriage restores its sight.",
        "Science is organized knowledge; wisdom is organized life.", "Bread is the warmest, kindest of words."]

QUICKSTART_SHAPED = """
[recipe]
name = "quick"
seed = 42

[seeds]
type = "grid"
[seeds.axes]
topic = ["computers", "work", "science", "food", "love", "education", "people", "wisdom", "art", "sports"]

[prompt]
template = "Sayings, each under its topic.\\n\\n{examples}\\n%\\nTopic: {topic}\\n"
[prompt.few_shot]
path = "real.jsonl"
k = 2
format = "Topic: x\\n{text}"
separator = "\\n%\\n"

[generation]
target = 60
max_candidates = 400
batch_size = 16
[generation.backend]
type = "scripted"
[generation.sampling]
max_tokens = 48

[[verify]]
type = "non_empty"

[[verify]]
type = "length"
unit = "words"
min = 6
max = 40

[[verify]]
type = "repetition"

[dedup]
against_real = ["real.jsonl"]
history = "history"
"""


def write(tmp_path):
    (tmp_path / "real.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in REAL))
    path = tmp_path / "quick.toml"
    path.write_text(QUICKSTART_SHAPED)
    return path


def test_wilson_interval_matches_a_hand_computed_value():
    low, high = wilson_interval(8, 10)  # p = 0.8, n = 10, z = 1.96: (0.4902, 0.9433)
    assert round(low, 3) == 0.490 and round(high, 3) == 0.943
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("total", [1, 3, 4, 7, 10, 49, 100, 1000])
def test_an_all_kept_pilot_forecasts_exactly_the_target_inside_its_interval(total):
    """Wilson's interval is exact at p = 1 (and p = 0): 8 of 8 kept means 8 needed, interval from 8."""
    assert wilson_interval(total, total)[1] == 1.0 and wilson_interval(0, total)[0] == 0.0
    pilot = {"kept": total, "candidates": total, "acceptance_rate": 1.0, "backend_seconds_per_candidate": 0.1,
             "stage_seconds_per_candidate": 0.1}
    fc = forecast(pilot, target=8, budget=24)
    assert fc["candidates_needed"] == 8 and fc["candidates_interval"][0] == 8


def test_budget_probability_is_high_when_the_budget_covers_the_interval_and_low_when_not():
    assert budget_enough_probability(50, 100, target=10, budget=40) > 0.99   # needs ~20
    assert budget_enough_probability(50, 100, target=10, budget=15) < 0.01   # needs ~20


def test_forecast_of_candidates_needed_is_within_30_percent_of_the_real_run(tmp_path):
    recipe = write(tmp_path)
    result = plan_recipe(load_recipe(recipe), sample=48)
    assert not (tmp_path / "history").exists(), "the pilot never writes the dedup history index"
    assert not (tmp_path / "runs").exists(), "the pilot writes no run directory"
    pilot, forecast = result["pilot"], result["forecast"]
    assert pilot["candidates"] == 48 and 0 < pilot["kept"] < 48, "some candidates are rejected"
    assert {s["stage"] for s in pilot["stages"]} >= {"length", "dedup"}
    run = run_recipe(recipe, out=tmp_path / "run", progress=False)
    real = run.report.to_dict()["throughput"]["candidates"]
    needed = forecast["candidates_needed"]
    low, high = forecast["candidates_interval"]
    assert abs(needed / real - 1) <= 0.3, (needed, real)
    assert low <= needed <= high and forecast["budget_enough"] == "likely"


def test_cli_plan_saves_the_forecast_and_the_report_compares_it(tmp_path):
    recipe = write(tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["plan", str(recipe), "--sample", "32", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["forecast"]["candidates_needed"] and (out / "forecast.json").is_file()
    assert not (out / "checkpoints").exists() or not list((out / "checkpoints").iterdir())
    text = CliRunner().invoke(cli, ["plan", str(recipe), "--sample", "16"])
    assert text.exit_code == 0 and "candidates needed" in text.output and "tokens/s" in text.output
    run = run_recipe(recipe, out=out, progress=False)
    compared = run.report.to_dict()["forecast"]
    assert compared["outcome"]["candidates_to_target"] <= run.report.to_dict()["throughput"]["candidates"]
    assert abs(compared["error"]) <= 0.3
    assert "## Forecast vs outcome" in (out / "report.md").read_text()
    assert "## Time per stage" in (out / "report.md").read_text()


def test_a_gate_that_fails_the_pilot_window_adds_a_window_to_the_forecast(write_recipe, tmp_path):
    """The run's first window is the pilot's requests: when the gate fails them, the run revokes that window
    and needs one window more; the forecast says so and stays within 30% of the run."""
    from tests.test_gate_run import GATE, sentences

    (tmp_path / "reference.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in sentences(200, 0)))
    narrow = [f"What is the best way to cook rice number {i % 3}?" for i in range(30)]
    outputs = json.dumps(narrow + sentences(90, 300))
    recipe = write_recipe(target=30, budget=150, batch_size=10, extra=GATE)
    recipe.write_text(recipe.read_text().replace('delay_s = 0.0', f"delay_s = 0.0\noutputs = {outputs}"))
    planned = plan_recipe(load_recipe(recipe), sample=30)
    assert planned["pilot"]["gate"]["checked"] and not planned["pilot"]["gate"]["passed"]
    run = run_recipe(recipe, out=tmp_path / "run", progress=False)
    assert not run.report.to_dict()["gates"][0]["passed"]
    needed = planned["forecast"]["candidates_needed"]
    assert needed >= 60 and abs(needed / run.report.to_dict()["throughput"]["candidates"] - 1) <= 0.3
