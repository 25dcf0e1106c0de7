"""A recipe whose inputs are missing gets one error naming every missing file by its key, and a template one
naming every unknown placeholder: the builders stop at the first problem, so a moved data folder or two
typos took one `synthgen validate` each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthgen.cli import cli
from synthgen.errors import RecipeError
from synthgen.plan import build_run_plan
from synthgen.recipe import recipe_from_dict

RECIPE = """
[recipe]
name = "missing"
seed = 3

[seeds]
type = "file"
path = "data/seeds.jsonl"

[prompt]
template = "Say something about {topic}."

[generation]
target = 2
backend = { type = "scripted" }

[dedup]
against_real = ["data/real.jsonl"]
history = "history"

[mix]
real = "data/mix.jsonl"
"""


def write_inputs(folder: Path, *names: str) -> None:
    (folder / "data").mkdir(exist_ok=True)
    for name in names:
        (folder / "data" / name).write_text(json.dumps({"topic": "rivers", "text": "Rivers run to the sea."}) + "\n")


def test_every_missing_input_is_one_line_naming_its_key(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(RECIPE)
    write_inputs(tmp_path, "seeds.jsonl")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "r.toml")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == "Error: 2 problems:"
    assert lines[1] == f"{tmp_path / 'r.toml'}:dedup.against_real.0.path: {tmp_path / 'data' / 'real.jsonl'}: file not found"
    assert lines[2].startswith(f"{tmp_path / 'r.toml'}:mix.real: {tmp_path / 'data' / 'mix.jsonl'}: file not found")
    assert lines[2].endswith("(check the path; relative paths start at the recipe's folder)")


def test_one_missing_input_keeps_the_message_of_the_part_that_reads_it(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(RECIPE)
    write_inputs(tmp_path, "seeds.jsonl", "real.jsonl")
    with pytest.raises(RecipeError) as info:
        build_run_plan(recipe_from_dict(_raw(tmp_path), source="r.toml", base_dir=tmp_path))
    assert info.value.problems == [str(info.value.message)]
    assert "mix.real" in info.value.message and "file not found" in info.value.message


def test_a_history_that_does_not_exist_yet_is_not_missing(tmp_path: Path) -> None:
    (tmp_path / "r.toml").write_text(RECIPE)
    write_inputs(tmp_path, "seeds.jsonl", "real.jsonl", "mix.jsonl")
    assert not (tmp_path / "history").exists()
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "r.toml")])
    assert result.exit_code == 0, result.output


def _raw(folder: Path) -> dict:
    import tomllib

    return tomllib.loads((folder / "r.toml").read_text())


def test_every_unknown_placeholder_of_a_template_is_named_once(tmp_path: Path) -> None:
    (tmp_path / "t.toml").write_text('[recipe]\nname = "t"\n[seeds]\ntype = "inline"\nrecords = [{topic = "a"}]\n'
                                     '[prompt]\ntemplate = "Write {topik} and {foo} about {topic} {topik}"\n'
                                     '[generation]\ntarget = 1\nbackend = {type = "scripted"}\n')
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "t.toml")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0] == "Error: 2 problems:"
    assert lines[1].endswith("prompt.template: placeholder {topik} is not a seed field or an earlier column "
                             "(did you mean 'topic'? available: topic)")
    assert lines[2].endswith("prompt.template: placeholder {foo} is not a seed field or an earlier column "
                             "(available: topic)")
