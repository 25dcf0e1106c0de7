"""Recipe loader fixes: booleans refused inside unions and lists of numbers, one line per union-typed key,
allowed keys of path-or-table sources, --set on a missing last index, and plan's scratch folder."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from typing import Annotated

import pytest
from click.testing import CliRunner
from pydantic import Field, ValidationError

from synthgen.cli import cli
from synthgen.errors import RecipeError, SynthgenError
from synthgen.recipe import recipe_from_dict
from synthgen.recipe.base import Strict
from test_recipe import MINIMAL, problems



def with_dedup(**dedup):
    return {**MINIMAL, "dedup": dedup}


def sample_step(**keys):
    raw = {key: value for key, value in MINIMAL.items() if key != "prompt"}
    return {**raw, "steps": [
        {"type": "generate", "name": "response", "template": "About {topic}:"},
        {"type": "sample", "name": "tone", "values": ["calm", "angry"], **keys}]}


# --- #6: a boolean is refused where a number is expected, also inside unions and lists -----------------------


@pytest.mark.parametrize("value", [True, False])
def test_ngram_true_or_false_is_refused_not_read_as_a_number(value):
    [line] = problems(with_dedup(ngram=value))
    assert line.startswith("r.toml:dedup.ngram:") and f"(got {str(value).lower()})" in line


def test_sample_weights_of_booleans_are_refused():
    assert problems(sample_step(weights=[True, False])) == [
        "r.toml:steps.1.weights.0: Input should be a valid number (got true)",
        "r.toml:steps.1.weights.1: Input should be a valid number (got false)"]


def test_numbers_and_booleans_where_booleans_belong_still_load():
    loaded = recipe_from_dict(sample_step(values=[True, False], weights=[1, 2]))
    assert loaded.recipe.steps[1].values == [True, False] and loaded.recipe.steps[1].weights == [1.0, 2.0]
    assert recipe_from_dict(with_dedup(ngram=4, exact=False)).recipe.dedup.ngram == 4


class _Numbers(Strict):
    scores: dict[str, float] = {}
    sizes: list[Annotated[int, Field(ge=0)]] | None = None
    flags: list[bool] = []


@pytest.mark.parametrize("data", [{"scores": {"a": True}}, {"sizes": [1, True]}])
def test_booleans_are_refused_in_tables_and_annotated_lists_of_numbers(data):
    with pytest.raises(ValidationError):
        _Numbers.model_validate(data)
    assert _Numbers.model_validate({"flags": [True], "sizes": [0, 2]}).flags == [True]


# --- #13: one line per union-typed key, in the recipe's words ----------------------------------------------


@pytest.mark.parametrize("value, got", [("five", "'five'"), (0, "0"), (65, "65")])
def test_ngram_problem_is_one_line_saying_what_it_takes(value, got):
    assert problems(with_dedup(ngram=value)) == [
        f"r.toml:dedup.ngram: expected 'auto' or an integer from 1 to 64 (got {got})"]


@pytest.mark.parametrize("value, got", [(5, "5"), (["a"], "['a']")])
def test_history_problem_is_one_line_without_pydantic_internals(value, got):
    assert problems(with_dedup(history=value)) == [
        f"r.toml:dedup.history: expected a folder path or a redis:// URL (got {got})"]


def test_a_literal_or_list_union_is_one_line_with_the_whole_value():
    verifier = {"type": "json", "json_schema": {"type": "object"}, "columns": ["a", 1]}
    assert problems({**MINIMAL, "verify": [verifier]}) == [
        "r.toml:verify.0.columns: expected 'all', 'none' or a list of strings (got ['a', 1])"]


def test_union_lines_sit_among_the_other_problems_in_order():
    lines = problems(with_dedup(ngram="five", num_perm="x", history=5))
    assert [line.split(":")[1] for line in lines] == ["dedup.num_perm", "dedup.ngram", "dedup.history"]


# --- #14: unknown keys inside a path-or-table source list the allowed keys ---------------------------------


@pytest.mark.parametrize("key", ["against_real", "eval_sets"])
def test_unknown_key_in_a_source_table_lists_allowed_keys_and_guesses(key):
    assert problems(with_dedup(**{key: [{"path": "real.jsonl", "feild": "text"}]})) == [
        f"r.toml:dedup.{key}.0.feild: unknown key; did you mean 'field'? allowed: field, path, split"]


# --- #15: --set on a missing last array index names the whole key ------------------------------------------


@pytest.mark.parametrize("override, where", [("dedup.against_real.3=x", "dedup.against_real.3"),
                                             ("verify.2=x", "verify.2")])
def test_set_on_a_missing_last_index_names_the_dotted_key(override, where):
    raw = {**with_dedup(against_real=["a.jsonl"]), "verify": [{"type": "non_empty"}]}
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(raw, source="r.toml", overrides=[override])
    assert str(info.value).startswith(f"r.toml:{where}: ")


# --- #25: a failed plan leaves no scratch folder and names no empty log ------------------------------------


def test_a_failed_plan_leaves_no_folder_and_names_no_empty_log(write_recipe, tmp_path):
    recipe = write_recipe(target=4)
    (tmp_path / "real.jsonl").unlink()  # a plain recipe error, found once plan has started
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}  # a real terminal's descriptors: the log file is created
    result = subprocess.run([sys.executable, "-m", "synthgen", "plan", str(recipe), "--sample", "4"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1 and "real.jsonl" in result.stderr, result.stderr
    assert "library log" not in result.stderr
    assert list(scratch.iterdir()) == []


def test_a_failed_plan_names_a_log_that_holds_something(write_recipe, tmp_path, monkeypatch):
    import synthgen.pilot

    def chatty_failure(loaded, sample):
        logging.getLogger("vllm").warning("engine core died")
        raise SynthgenError("the pilot failed")

    monkeypatch.setattr(synthgen.pilot, "plan_recipe", chatty_failure)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    result = CliRunner().invoke(cli, ["plan", str(write_recipe(target=4))])
    assert result.exit_code == 1 and "the pilot failed" in result.output
    [log] = [line.split(": ", 1)[1] for line in result.output.splitlines() if line.startswith("library log: ")]
    assert "engine core died" in open(log, encoding="utf-8").read()
    assert not list(scratch.glob("synthgen-plan-*"))
