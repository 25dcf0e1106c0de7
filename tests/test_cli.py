"""CLI: every command and --help, exit codes, error lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthgen.cli import cli

COMMANDS = [[], ["generate"], ["plan"], ["validate"], ["schema"], ["models"], ["models", "pull"], ["models", "list"],
            ["dedup"], ["metrics"], ["mix"], ["lineage"], ["judge-eval"], ["evolve"], ["report"], ["publish"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "synthgen")
def test_help(args):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_generate_prints_summary_and_writes_run(write_recipe, tmp_path):
    result = CliRunner().invoke(cli, ["generate", str(write_recipe()), "--quiet", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "10 records (target_reached)" in result.output
    assert (tmp_path / "o" / "dataset").is_dir()


def test_generate_set_and_limit(write_recipe, tmp_path):
    out = tmp_path / "o"
    args = ["generate", str(write_recipe()), "--quiet", "--out", str(out), "--set", "recipe.seed=9", "--limit", "4"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["overrides"] == ["recipe.seed=9", "generation.target=4"]


def test_generate_refuses_foreign_run_dir_with_exit_1(write_recipe, tmp_path):
    out = tmp_path / "o"
    CliRunner().invoke(cli, ["generate", str(write_recipe()), "--quiet", "--out", str(out)])
    result = CliRunner().invoke(cli, ["generate", str(write_recipe(target=3)), "--quiet", "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and "--overwrite" in result.output


def test_budget_warning(write_recipe, tmp_path):
    args = ["generate", str(write_recipe(target=10, budget=10)), "--quiet", "--set", "verify.1.min=50"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    assert "Warning: target 10 not reached (budget_exhausted)" in result.output


def test_validate_ok_and_problems(write_recipe, tmp_path):
    good = CliRunner().invoke(cli, ["validate", str(write_recipe())])
    assert good.exit_code == 0 and "ok (hash" in good.output
    bad = tmp_path / "bad.toml"
    bad.write_text(write_recipe().read_text().replace("max_tokens", "max_token").replace("target = 10", "target = -1"))
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any(line.startswith(f"{bad}:generation.target:") for line in lines)
    assert any("generation.sampling.max_token: unknown key; did you mean 'max_tokens'?" in line for line in lines)


def test_validate_missing_placeholder(write_recipe, tmp_path):
    path = write_recipe()
    path.write_text(path.read_text().replace("{persona}", "{personaa}"))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1 and "prompt.template: placeholder {personaa} is not a seed field" in result.output


def test_missing_recipe_is_a_usage_error_free_message(tmp_path):
    result = CliRunner().invoke(cli, ["generate", str(tmp_path / "nope.toml")])
    assert result.exit_code == 1 and "recipe file not found" in result.output


def test_schema_command(tmp_path):
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0 and json.loads(result.output)["title"] == "Recipe"
    out = tmp_path / "s.json"
    assert CliRunner().invoke(cli, ["schema", "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["title"] == "Recipe"


def test_unknown_command_exits_2():
    assert CliRunner().invoke(cli, ["nope"]).exit_code == 2


def test_unknown_model_is_one_line_naming_the_key(write_recipe, tmp_path):
    path = write_recipe()
    path.write_text(path.read_text().replace('type = "scripted"\ndelay_s = 0.0', 'type = "vllm"\nmodel = "no-such-model"'))
    result = CliRunner().invoke(cli, ["generate", str(path), "--quiet"])
    assert result.exit_code == 1
    assert f"{path}:generation.backend: unknown model 'no-such-model'" in result.output
    assert "synthgen models list" in result.output


def test_server_down_is_one_line_and_loses_nothing(write_recipe, tmp_path):
    """A server that dies mid-run, then is down on restart: one error line, the checkpoints untouched."""
    import socket

    from synthgen.api import run_recipe
    from synthgen.backends.testing import ScriptedBackend
    from synthgen.errors import BackendError

    class DiesAfterOneBatch(ScriptedBackend):
        def generate(self, requests, sampling):
            if self.calls:
                raise BackendError("connection reset by peer")
            return super().generate(requests, sampling)

        def describe(self):  # stands in for the recipe's server: a resume refuses checkpoints of another backend
            return {"backend": "openai", "model": "m"}

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    path = write_recipe()
    server = f'type = "openai"\nbase_url = "http://127.0.0.1:{port}/v1"\nmodel = "m"\nmax_retries = 0'
    path.write_text(path.read_text().replace('type = "scripted"\ndelay_s = 0.0', server))
    out = tmp_path / "run"
    with pytest.raises(BackendError):
        run_recipe(path, out=out, backend=DiesAfterOneBatch(), progress=False)
    shard = out / "checkpoints" / "batch-000000.json"
    before = shard.read_bytes()

    result = CliRunner().invoke(cli, ["generate", str(path), "--quiet", "--out", str(out)])
    assert result.exit_code == 1 and f"{path}:generation.backend: cannot reach" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert shard.read_bytes() == before


def test_summary_line_names_both_units_when_steps_fan_out():
    """The console's end-of-run line uses report.md's words: candidate records, with fan-out children and
    records merged into preference pairs named."""
    from types import SimpleNamespace

    from synthgen.cli import summary_line

    def report(kept, rejected, candidates, made=None, stages=()):
        data = {"kept": kept, "rejected": rejected, "candidate_records": made, "stages": list(stages),
                "throughput": {"candidates": candidates}}
        return SimpleNamespace(kept=kept, rejected=rejected, stop_reason="target_reached", to_dict=lambda: data)

    assert summary_line(report(10, 4, 14, 14), Path("r")) == "10 records (target_reached), 4 rejected of 14 candidates -> r"
    assert summary_line(report(3, 40, 20, 43), Path("r")) == \
        "3 records (target_reached), 40 rejected of 43 candidate records (20 first-step candidates + 23 fan-out children) -> r"
