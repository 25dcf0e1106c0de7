"""Bug-hunt fixes in steps and verifiers: a preference ``score`` that names text, invisible-only chat turns,
the length of a conversation, and structured_qa's few-shot format and stop string under constrained JSON."""

from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthgen.api import run_recipe
from synthgen.cli import cli
from synthgen.errors import RecipeError
from synthgen.plan import build_run_plan
from synthgen.recipe.load import load_recipe, recipe_from_dict
from synthgen.recipe.steps_schema import PreferenceStep
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.steps.base import StepRuntime
from synthgen.steps.preference import INVALID_SCORE, NO_SCORE, PreferenceStage, as_score
from synthgen.tabular import read_rows
from synthgen.verify.rules import LengthVerifier, NonEmptyVerifier
from synthgen.verify.structured import json_can_contain

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
REQUEST = GenerationRequest(index=0, prompt="", seed=Seed(0, {"topic": "tides"}), sampling_seed=0)


def plan_error(raw: dict, base: Path) -> str:
    """The first line of the RecipeError building the plan of ``raw`` (paths relative to ``base``) raises."""
    with pytest.raises(RecipeError) as caught:
        build_run_plan(recipe_from_dict(raw, "r.toml", base))
    return str(caught.value)


# --- bug 1: a preference step's score ------------------------------------------------------------------


def preference_recipe(tmp_path: Path, score: str, extra_steps: list[dict] = (), judge_first: bool = False) -> dict:
    """instruction → 4 responses → judge score → preference; ``extra_steps`` go before the preference step."""
    judge = {"type": "judge", "name": "score", "target": "instruction" if judge_first else "response",
             "backend": {"type": "scripted", "outputs": ["7", "3", "9", "1"]}}
    instruction = {"type": "generate", "name": "instruction", "template": "A question about {topic}:"}
    response = {"type": "generate", "name": "response", "template": "Q: {instruction}\nA:", "sampling": {"n": 4}}
    steps = [instruction, judge, response] if judge_first else [instruction, response, judge]
    return {"recipe": {"name": "pref", "seed": 1},
            "seeds": {"type": "inline", "records": [{"topic": "tides", "level": 3}, {"topic": "bread", "level": 5}]},
            "steps": [*steps, *extra_steps,
                      {"type": "preference", "prompt": "instruction", "response": "response", "score": score}],
            "generation": {"target": 2, "max_candidates": 8, "batch_size": 2, "backend": {"type": "scripted"}},
            "output": {"format": "preference", "dir": str(tmp_path / "run")}}


@pytest.mark.parametrize("score, extra, says", [
    ("instruction", [], "'instruction' is a text column of generate step 'instruction', not a score"),
    ("response", [], "'response' is a text column of generate step 'response', not a score"),
    ("topic", [], "'topic' is a seed field, the same for every response of a prompt"),
    ("level", [], "'level' is a seed field, the same for every response of a prompt"),  # numeric, still one value
    ("note", [{"type": "template", "name": "note", "template": "{response}!"}], "text column of template step"),
    ("tier", [{"type": "sample", "name": "tier", "values": ["easy", "hard"]}], "values are not all numbers"),
])
def test_a_preference_score_that_cannot_rank_responses_is_refused_when_the_plan_is_built(tmp_path, score, extra,
                                                                                         says):
    line = plan_error(preference_recipe(tmp_path, score, extra), tmp_path)
    assert line.startswith("r.toml:steps.") and ".score: " in line and says in line, line
    assert "name a judge step's column, a verifier's score or a sample step with numeric values" in line


def test_a_judge_score_written_before_the_responses_is_refused(tmp_path):
    line = plan_error(preference_recipe(tmp_path, "score", judge_first=True), tmp_path)
    assert "r.toml:steps.3.score: 'score' is written by judge step 'score' before the responses" in line, line


def test_validate_refuses_a_text_score_in_one_line_with_exit_1(tmp_path):
    """The tester's recipe: validate said ok, then generate crashed in float()."""
    source = (RECIPES / "preferences.toml").read_text()
    path = tmp_path / "p.toml"
    path.write_text(source)
    index = next(i for i, step in enumerate(tomllib.loads(source)["steps"]) if step["type"] == "preference")
    result = CliRunner().invoke(cli, ["validate", str(path), "--set", f"steps.{index}.score=instruction"])
    assert result.exit_code == 1, result.output
    first = result.output.strip().splitlines()[0]
    assert f"{path}:steps.{index}.score: 'instruction' is a text column of generate step" in first, first
    assert "Traceback" not in result.output


@pytest.mark.parametrize("score, extra", [
    ("score", []),
    ("bonus", [{"type": "sample", "name": "bonus", "values": [1, 2.5, 4]}]),
])
def test_a_judge_score_or_a_numeric_sample_still_validates(tmp_path, score, extra):
    build_run_plan(recipe_from_dict(preference_recipe(tmp_path, score, extra), "r.toml", tmp_path))


@pytest.mark.parametrize("value, expected", [(7, 7.0), (2.5, 2.5), ("3", 3.0), (" 4.5 ", 4.5), ("abc", None),
                                             (True, None), (math.nan, None), (math.inf, None), ([1], None)])
def test_as_score_takes_finite_numbers_only(value, expected):
    assert as_score(value) == expected


def test_a_score_that_is_not_a_number_at_run_time_is_a_reject_not_a_traceback():
    """A value that cannot be a score (from a plugin or a hand-built record) drops that response as
    invalid_score with the value as evidence; the other responses are still paired."""
    config = PreferenceStep(type="preference", prompt="topic", response="response", score="score", min_margin=1)
    stage = PreferenceStage(config, StepRuntime(), group_size=4)
    rejections = []
    stage.bind(rejections.append)
    scores = [9, "not a number", math.nan, 2]
    records = [Candidate(REQUEST, j, f"answer {j}", 1, columns={"response": f"answer {j}", "score": s}, index=j)
               for j, s in enumerate(scores)]
    records.append(Candidate(REQUEST, 4, "answer 4", 1, columns={"response": "answer 4"}, index=4))
    kept = stage.run(records)
    assert [(r["chosen"], r["rejected"]) for r in (k.columns for k in kept)] == [("answer 0", "answer 3")]
    reasons = {(r.reason, r.candidate.text) for r in rejections}
    assert reasons == {(INVALID_SCORE, "answer 1"), (INVALID_SCORE, "answer 2"), (NO_SCORE, "answer 4")}
    invalid = next(r for r in rejections if r.candidate.text == "answer 1")
    assert invalid.evidence == {"score": "score", "value": "'not a number'"}


# --- bug 2: invisible-only chat turns ------------------------------------------------------------------


def chat_recipe(tmp_path: Path, outputs: list[str], verify: list[dict] = ()) -> dict:
    return {"recipe": {"name": "conv", "seed": 1},
            "seeds": {"type": "inline", "records": [{"topic": "tea"}, {"topic": "maps"}]},
            "steps": [{"type": "chat", "name": "messages", "turns": 2, "user_template": "About {topic}.\n{history}\nUser:"}],
            "verify": list(verify),
            "generation": {"target": 2, "max_candidates": 2, "batch_size": 2,
                           "backend": {"type": "scripted", "outputs": outputs}},
            "output": {"format": "messages", "dir": str(tmp_path / "run")}}


@pytest.mark.parametrize("invisible", ["\u200b", "\u200b\u200d \ufeff", "\u2060"])
def test_a_chat_turn_of_invisible_characters_only_is_an_empty_turn(tmp_path, invisible):
    result = run_recipe(recipe_from_dict(chat_recipe(tmp_path, [invisible]), "c.toml", tmp_path), progress=False)
    assert len(result.dataset) == 0
    assert {(r["stage"], r["reason"]) for r in result.rejected.to_list()} == {("messages", "empty_turn")}


def conversation(*contents: str) -> Candidate:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": c} for i, c in enumerate(contents)]
    return Candidate(REQUEST, 0, contents[-1] if contents else "", 6, columns={"messages": messages}).view("messages")


@pytest.mark.parametrize("contents, message", [(("ok", "\u200b"), 2), (("\u200c", "fine"), 1), (("ok", " "), 2),
                                               (("ok", ""), 2)])
def test_non_empty_on_a_conversation_rejects_an_invisible_or_blank_turn(contents, message):
    verdict = NonEmptyVerifier().check(conversation(*contents))
    assert not verdict.keep and verdict.reason == "empty_output" and verdict.evidence["message"] == message


def test_non_empty_on_a_conversation_keeps_visible_turns_and_rejects_no_turns():
    assert NonEmptyVerifier().check(conversation("ok", "\u200bfine")).keep
    assert not NonEmptyVerifier().check(conversation()).keep
    assert NonEmptyVerifier(strip=False).check(conversation("ok", "\u200b")).keep  # strip=false: only ""
    assert not NonEmptyVerifier(strip=False).check(conversation("ok", "")).keep


def test_view_of_a_text_column_has_no_turns_and_non_empty_is_unchanged():
    record = Candidate(REQUEST, 0, "", 1, columns={"answer": "\u200b"})
    assert record.view("answer").turns is None
    assert not NonEmptyVerifier().check(record.view("answer")).keep


# --- bug 3: the length of a conversation ---------------------------------------------------------------


def test_a_conversation_is_as_long_as_its_turns_contents_not_its_role_labels():
    six = conversation("ok", "sure", "why", "because", "fine", "bye")
    verdict = LengthVerifier(unit="words", min=12).check(six)
    assert not verdict.keep and verdict.reason == "too_short" and verdict.evidence["length"] == 6
    assert LengthVerifier(unit="words", min=6, max=6).check(six).keep
    chars = LengthVerifier(unit="chars", min=1).check(six)
    assert chars.score == len("oksurewhybecausefinebye")
    assert LengthVerifier(unit="words", min=1).check(conversation("日本語", " two words ")).score == 5


def test_tokens_of_a_conversation_are_the_backends_count():
    record = conversation("ok", "sure")
    assert LengthVerifier(unit="tokens", min=1).check(record).score == 6  # n_tokens, not words


def test_conversations_recipe_rejects_six_one_word_turns(tmp_path):
    """recipes/conversations.toml's ``min = 12`` words: six one-word turns are 6 words (they were 12 with
    the ``user:`` / ``assistant:`` labels, and passed)."""
    raw = tomllib.loads((RECIPES / "conversations.toml").read_text())
    raw["generation"] = {**raw["generation"], "target": 2, "max_candidates": 2, "batch_size": 2,
                         "backend": {"type": "scripted", "outputs": ["ok"]}}
    raw["output"]["dir"] = str(tmp_path / "run")
    result = run_recipe(recipe_from_dict(raw, "conversations.toml", RECIPES), progress=False)
    assert len(result.dataset) == 0
    rejected = result.rejected.to_list()
    assert {(r["stage"], r["reason"]) for r in rejected} == {("length", "too_short")}


# --- bug 4: structured_qa's few-shot format, and stop strings under constrained JSON --------------------


def structured_qa(tmp_path: Path, outputs: list[str]) -> dict:
    raw = tomllib.loads((RECIPES / "structured_qa.toml").read_text())
    raw["generation"] = {**raw["generation"], "target": 3, "max_candidates": 6, "batch_size": 3,
                         "backend": {"type": "scripted", "outputs": outputs}}
    raw["output"] = {"dir": str(tmp_path / "run")}
    return raw


def test_structured_qa_few_shot_examples_are_on_their_own_lines(tmp_path):
    outputs = ['{"topic": "astronomy", "question": "Why do stars twinkle at night?"}', "{"]
    result = run_recipe(recipe_from_dict(structured_qa(tmp_path, outputs), "structured_qa.toml", RECIPES),
                        progress=False)
    rows = result.dataset.to_list()
    assert len(rows) == 3 and {row["question"] for row in rows} == {"Why do stars twinkle at night?"}
    prompt = rows[0]["prompt"]
    assert "\\n" not in prompt and '\n{"topic": "' in prompt and prompt.count("# topic: ") == 5, prompt
    assert {(r["stage"], r["reason"]) for r in result.rejected.to_list()} == {("json", "invalid_json")}


def test_structured_qa_validates_with_and_without_the_constraint():
    for overrides in ([], ["verify.1.constrain=false"]):
        build_run_plan(load_recipe(RECIPES / "structured_qa.toml", overrides))


@pytest.mark.parametrize("stop", ["\n", "\n\n", " ", "\r\n", "\t", "\n}", "}\n", '"\n', "1\n", "e\n", "\nnull",
                                  '\n"key', "###", "</s>", ', "'])
def test_stop_strings_json_text_can_contain(stop):
    assert json_can_contain(stop)


@pytest.mark.parametrize("stop", ["\n#", "\nUser:", "\nQuestion:", "abc\n", "\nnope", "\n\n# topic", "\x00", ""])
def test_stop_strings_json_text_cannot_contain(stop):
    assert not json_can_contain(stop)


@pytest.mark.parametrize("stop, found", [("\n", "as whitespace between tokens"), ("###", "inside a string")])
def test_a_stop_string_json_can_contain_under_constrained_decoding_is_refused(tmp_path, stop, found):
    raw = structured_qa(tmp_path, ["{}"])
    raw["generation"]["sampling"]["stop"] = [stop]
    line = plan_error(raw, RECIPES)
    assert line.startswith("r.toml:generation.sampling.stop: ") and f"stop string {stop!r}" in line, line
    assert found in line and "(verify.1.constrain)" in line and "remove it" in line
    raw["verify"][1]["constrain"] = False
    build_run_plan(recipe_from_dict(raw, "r.toml", RECIPES))  # free decoding: the stop is the recipe's business


def test_the_error_names_the_steps_own_stop_and_a_json_schema_in_sampling(tmp_path):
    schema = {"type": "object"}
    steps = [{"type": "generate", "name": "question", "template": "About {topic}:"},
             {"type": "generate", "name": "answer", "template": "{question}", "sampling": {"stop": ["\n\n"]}}]
    raw = {"recipe": {"name": "j", "seed": 1}, "seeds": {"type": "inline", "records": [{"topic": "tea"}]},
           "steps": steps, "verify": [{"type": "json", "field": "answer", "json_schema": schema, "constrain": True}],
           "generation": {"target": 1, "backend": {"type": "scripted"}}, "output": {"dir": str(tmp_path / "run")}}
    assert plan_error(copy.deepcopy(raw), tmp_path).startswith("r.toml:steps.1.sampling.stop: stop string '\\n\\n'")
    raw["verify"] = []
    raw["generation"]["sampling"] = {"json_schema": schema, "stop": ["\n"]}
    line = plan_error(raw, tmp_path)
    assert line.startswith("r.toml:generation.sampling.stop: stop string '\\n'"), line
    assert "(generation.sampling.json_schema)" in line
