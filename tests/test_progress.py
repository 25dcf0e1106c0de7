"""The progress line's time shares and rates, and the report's per-stage time (backend vs stage)."""

from __future__ import annotations

from synthgen.api import run_recipe
from synthgen.pipeline import StageStats
from synthgen.progress import format_shares, time_shares


def test_time_shares_split_backend_work_from_each_stage_own_time():
    step = StageStats("text", seconds=5.0, llm_seconds=4.0, backend_seconds=6.0)  # waited 4 s, backend worked 6 s
    verify = StageStats("code_execution", seconds=3.0)
    dedup = StageStats("dedup", seconds=0.5)
    shares = dict(time_shares([step, verify, dedup]))
    # busy: gen 6, text own 1, code_execution 3, dedup 0.5 -> total 10.5
    assert round(shares["gen"], 4) == round(6 / 10.5, 4) and round(shares["code_execution"], 4) == round(3 / 10.5, 4)
    assert round(shares["text"], 4) == round(1 / 10.5, 4)
    assert format_shares(time_shares([step, verify, dedup])) == "gen 57% | code_execution 29% | text 10% | dedup 5%"
    assert time_shares([StageStats("idle")]) == []


def test_report_keeps_time_per_stage_with_the_backend_separated(write_recipe, tmp_path):
    result = run_recipe(write_recipe(target=6, delay=0.02), out=tmp_path / "run", progress=False)
    report = result.report.to_dict()
    assert report["timings"]["backend_seconds"] >= 0.02 * report["throughput"]["batches"] * 0.9
    assert all("seconds" in stage for stage in report["stages"])
    markdown = (result.run_dir / "report.md").read_text()
    assert "## Time per stage" in markdown and "| backend (every LLM call) |" in markdown
    assert report["throughput"]["pipelined"] and report["throughput"]["records_per_s"] > 0


def test_progress_line_names_rates_and_the_bottleneck(write_recipe, tmp_path, capsys):
    from synthgen.api import build_run_plan, load_recipe
    from synthgen.progress import RunProgress
    from synthgen.rundir import RunDir
    from synthgen.runner import Runner

    loaded = load_recipe(write_recipe(target=4, delay=0.05))
    plan = build_run_plan(loaded)
    run_dir = RunDir(tmp_path / "run")
    run_dir.prepare(loaded.hash)
    runner = Runner(plan, run_dir, progress=False, prefetch=1)
    plan.backend.load()
    runner.run()
    line = RunProgress(runner, enabled=False).line()
    assert "rec/s" in line and "cand/s" in line and "tok/s" in line and line.split("| ")[1].startswith("gen ")
