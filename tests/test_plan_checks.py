"""Inputs the run reads or writes after generation ([output] columns, [mix], [diversity] / [dedup] data)
are checked when the run plan is built: one ``file:key`` line from `synthgen validate`, no generation."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from synthgen.errors import RecipeError
from synthgen.plan import build_run_plan
from synthgen.recipe import recipe_from_dict

BASE = {
    "recipe": {"name": "checks", "seed": 7},
    "seeds": {"type": "grid", "axes": {"topic": ["rivers", "bread"], "persona": ["a child", "a chef"]}},
    "prompt": {"template": "Write a question about {topic} asked by {persona}.\nQ:"},
    "generation": {"target": 2, "backend": {"type": "scripted"}},
    "verify": [{"type": "non_empty"}],
}

STEPS = [{"type": "generate", "name": "instruction", "template": "A question about {topic}:"},
         {"type": "generate", "name": "response", "template": "Answer: {instruction}"}]


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path.name


def recipe(tmp_path: Path, steps: bool = False, **tables) -> dict:
    write_jsonl(tmp_path / "real.jsonl", [{"text": "Why is the sky blue?"}, {"text": "How do bees fly?"}])
    raw = copy.deepcopy(BASE)
    if steps:
        del raw["prompt"]
        raw["steps"] = copy.deepcopy(STEPS)
    raw.update(tables)
    return raw


def plan(tmp_path: Path, raw: dict):
    return build_run_plan(recipe_from_dict(raw, source="r.toml", base_dir=tmp_path))


def plan_error(tmp_path: Path, raw: dict) -> str:
    with pytest.raises(RecipeError) as info:
        plan(tmp_path, raw)
    assert "\n" not in str(info.value)
    return str(info.value)


# --- bug 1: [output] columns ---------------------------------------------------------------------------


def test_an_unknown_output_prompt_column_is_refused_with_a_guess(tmp_path):
    raw = recipe(tmp_path, steps=True, output={"format": "messages", "prompt": "instructon"})
    assert plan_error(tmp_path, raw) == (
        "r.toml:output.prompt: 'instructon' is not a column (did you mean 'instruction'? "
        "columns: instruction, persona, response, topic)")


def test_an_unknown_output_completion_column_is_refused(tmp_path):
    raw = recipe(tmp_path, steps=True, output={"format": "prompt_completion", "prompt": "instruction",
                                                "completion": "nope"})
    assert plan_error(tmp_path, raw).startswith("r.toml:output.completion: 'nope' is not a column (columns: ")


def test_output_messages_must_name_a_chat_step(tmp_path):
    raw = recipe(tmp_path, steps=True, output={"format": "messages", "messages": "nope"})
    assert plan_error(tmp_path, raw) == ("r.toml:output.messages: 'nope' is not a chat step's conversation "
                                         "(chat steps: none)")


def test_output_columns_may_name_seed_fields_and_step_columns(tmp_path):
    raw = recipe(tmp_path, steps=True, output={"format": "prompt_completion", "prompt": "topic",
                                                "completion": "response"})
    plan(tmp_path, raw)


# --- bug 2: [mix] ------------------------------------------------------------------------------------


def test_a_missing_mix_real_file_is_refused_at_plan_time(tmp_path):
    error = plan_error(tmp_path, recipe(tmp_path, mix={"real": "nope.jsonl"}))
    assert error.startswith(f"r.toml:mix.real: {tmp_path / 'nope.jsonl'}: file not found")


def test_mix_real_without_its_text_column_names_the_key_and_file(tmp_path):
    write_jsonl(tmp_path / "q.jsonl", [{"q": "a"}])
    error = plan_error(tmp_path, recipe(tmp_path, mix={"real": "q.jsonl"}))
    assert error == "r.toml:mix.real (q.jsonl): the real rows have no 'text' column (columns are: q)"


def test_mix_stratify_by_must_be_a_column_the_run_writes(tmp_path):
    raw = recipe(tmp_path, mix={"real": "real.jsonl", "strategy": "stratified", "stratify_by": "nope"})
    assert plan_error(tmp_path, raw) == ("r.toml:mix.stratify_by: 'nope' is not a column of the run's data "
                                         "(columns: prompt, seed_persona, seed_topic)")
    raw["mix"]["stratify_by"] = "topic"
    assert "did you mean 'seed_topic'?" in plan_error(tmp_path, raw)
    raw["mix"]["stratify_by"] = "seed_topic"
    plan(tmp_path, raw)


def test_mix_score_field_may_be_a_column_or_a_scores_key(tmp_path):
    raw = recipe(tmp_path, mix={"real": "real.jsonl", "strategy": "best_score", "score_field": "nope"})
    assert plan_error(tmp_path, raw).endswith("(columns: prompt, seed_persona, seed_topic; scores keys: non_empty)")
    raw["mix"]["score_field"] = "non_empty"
    plan(tmp_path, raw)


# --- bug 3: [diversity] / [dedup] inputs name their key ------------------------------------------------


@pytest.mark.parametrize("key", ["reference", "previous"])
def test_a_missing_diversity_file_names_its_key(tmp_path, key):
    diversity = {"embedder": "tfidf", "reference": "real.jsonl", key: "nope.jsonl"}
    error = plan_error(tmp_path, recipe(tmp_path, diversity=diversity))
    assert error.startswith(f"r.toml:diversity.{key}: {tmp_path / 'nope.jsonl'}: file not found")


def test_a_diversity_reference_without_text_names_its_key(tmp_path):
    write_jsonl(tmp_path / "q.jsonl", [{"q": "a"}])
    error = plan_error(tmp_path, recipe(tmp_path, diversity={"embedder": "tfidf", "reference": "q.jsonl"}))
    assert error.startswith("r.toml:diversity.reference: ") and "no column 'text'" in error


def test_a_dedup_history_that_is_a_file_names_its_key(tmp_path):
    error = plan_error(tmp_path, recipe(tmp_path, dedup={"history": "real.jsonl"}))
    assert error.startswith("r.toml:dedup.history: ") and "must be a folder" in error
