"""One error adapter for every command: each command's error path exits 1 with one ``Error:`` line, usage
errors exit 2, a failed quality gate exits 3 whichever command meets it, Ctrl-C exits 130."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from synthgen.cli import cli
from synthgen.errors import GateFailure


def error_paths(tmp_path):
    """(command line, text the error names) for a real failure of every command."""
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"body": "no text column"}) + "\n")
    missing = str(tmp_path / "missing.toml")
    return {
        "generate": (["generate", missing], "recipe file not found"),
        "validate": (["validate", missing], "recipe file not found"),
        "evolve": (["evolve", missing], "recipe file not found"),
        "judge-eval": (["judge-eval", missing, str(rows)], "recipe file not found"),
        "models pull": (["models", "pull", "no-such-model"], "no-such-model"),
        "dedup": (["dedup", str(rows), "--out", str(tmp_path / "d")], "'text'"),
        "metrics": (["metrics", str(rows), "--embedder", "none"], "text"),
        "mix": (["mix", "--real", str(rows), "--synthetic", str(rows), "--out", str(tmp_path / "m")], "text"),
        "lineage": (["lineage", str(empty)], "lineage"),
        "report": (["report", str(empty)], "report.json"),
        "publish": (["publish", str(empty), "--repo-id", "nope"], "invalid repo id"),
    }


COMMANDS = ["generate", "validate", "evolve", "judge-eval", "models pull", "dedup", "metrics", "mix", "lineage",
            "report", "publish"]


@pytest.mark.parametrize("command", COMMANDS)
def test_error_exits_1_with_one_error_line(command, tmp_path):
    args, named = error_paths(tmp_path)[command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.output.startswith("Error: ") and named in result.output, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("args", [["generate"], ["validate", "a", "b"], ["dedup", "x"], ["mix"], ["publish", "."],
                                  ["metrics", "x", "--embedder", "bogus"], ["nope"], ["generate", "x", "--limit", "0"]])
def test_usage_errors_exit_2(args):
    assert CliRunner().invoke(cli, args).exit_code == 2


@pytest.mark.parametrize("target, args", [
    ("synthgen.evolve.loop.evolve", ["evolve", "r.toml", "--project", "p"]),
    ("synthgen.mix.cli.run_mix", ["mix", "--real", ".", "--synthetic", ".", "--out", "o"]),
    ("synthgen.publish.upload.publish_run", ["publish", "run", "--repo-id", "me/x"]),
    ("synthgen.report.html.rebuild_report", ["report", "."]),
])
def test_a_failed_gate_exits_3_from_any_command(target, args, monkeypatch):
    def fail(*args, **kwargs):
        raise GateFailure("quality gate failed: distinct_2 0.41 < 0.72", hint="see report.md")

    monkeypatch.setattr(target, fail)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, result.output
    assert result.output == "Error: quality gate failed: distinct_2 0.41 < 0.72 (see report.md)\n"


def test_ctrl_c_exits_130_and_generate_says_how_to_resume(monkeypatch, write_recipe):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("synthgen.api.run_recipe", interrupted)
    result = CliRunner().invoke(cli, ["generate", str(write_recipe())])
    assert result.exit_code == 130 and "run the same command to resume" in result.output


def test_several_recipe_problems_print_one_per_line(write_recipe, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(write_recipe().read_text().replace("max_tokens", "max_token").replace("target = 10", "target = -1"))
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and lines[0] == "Error: 2 problems:"
    assert all(line.startswith(f"{bad}:generation.") for line in lines[1:]) and len(lines) == 3
