"""Verifier templates, columns, interpreters, schema files and sampling constraints are refused at
``synthgen validate`` with the key named, instead of rejecting every candidate after generation."""

from __future__ import annotations

import sys

import pytest

from synthgen.api import run_recipe, validate_recipe
from synthgen.backends.base import decoding_constraint
from synthgen.backends.testing import ScriptedBackend
from synthgen.errors import RecipeError
from synthgen.recipe.load import recipe_from_dict
from synthgen.recipe.schema import ScriptedBackendConfig
from synthgen.verify.structured import pinned_types

JUDGE_BACKEND = {"type": "scripted", "outputs": ["Score: 8"]}
BASE = {"recipe": {"name": "r"}, "seeds": {"type": "grid", "axes": {"topic": ["rivers", "bees"], "persona": ["kid"]}},
        "prompt": {"template": "Write about {topic} for a {persona}."},
        "generation": {"target": 2, "max_candidates": 4, "backend": {"type": "scripted"}}}
STEPS = {**{k: v for k, v in BASE.items() if k != "prompt"},
         "steps": [{"type": "generate", "name": "instruction", "template": "A question about {topic}"},
                   {"type": "generate", "name": "response", "template": "Answer: {instruction}"}]}


def validate(raw: dict, tmp_path=None) -> None:
    validate_recipe(recipe_from_dict(raw, source="r.toml", base_dir=tmp_path))


def refused(raw: dict, tmp_path=None) -> str:
    with pytest.raises(RecipeError) as info:
        validate(raw, tmp_path)
    return str(info.value)


def with_verify(*tables: dict, base: dict = BASE) -> dict:
    return {**base, "verify": list(tables)}


# --- 1. templates and columns a verifier reads --------------------------------------------------


def test_a_judge_template_placeholder_that_nothing_fills_is_refused_at_validate():
    message = refused(with_verify({"type": "non_empty"}, {"type": "non_empty"},
                                  {"type": "judge", "template": "Rate {text} about {topc}", "backend": JUDGE_BACKEND}))
    assert message.startswith("r.toml:verify.2.template: placeholder {topc} is not a seed field or an earlier column")
    assert "did you mean 'topic'?" in message and "persona" in message


def test_a_pairwise_reference_that_is_no_field_is_refused():
    message = refused(with_verify({"type": "judge", "mode": "pairwise", "reference": "nope", "backend": JUDGE_BACKEND}))
    assert message.startswith("r.toml:verify.0.reference: 'nope' is not a seed field or an earlier column")


def test_a_program_placeholder_that_nothing_fills_is_refused():
    message = refused(with_verify({"type": "code_execution", "program": "{code}\n{nope}"}))
    assert message.startswith("r.toml:verify.0.program: placeholder {nope} is not a seed field or an earlier column")


def test_the_default_program_needs_its_humaneval_seed_fields():
    assert refused(with_verify({"type": "code_execution"})).startswith(
        "r.toml:verify.0.program: placeholder {test} is not a seed field")


def test_an_unknown_conversion_in_a_judge_template_is_refused():
    message = refused(with_verify({"type": "judge", "template": "Rate {text} for {persona!z}", "backend": JUDGE_BACKEND}))
    assert message.startswith("r.toml:verify.0.template: placeholder {persona!z} has an unknown conversion")


def test_templates_may_use_seeds_columns_and_what_the_verifier_fills():
    validate(with_verify({"type": "judge", "template": "{prompt} {generation_prompt} {text} {topic} {persona} "
                                                       "{min_score}-{max_score}", "backend": JUDGE_BACKEND}))
    validate(with_verify({"type": "judge", "mode": "pairwise", "reference": "instruction", "field": "response",
                          "template": "{instruction}: {a} vs {b}", "backend": JUDGE_BACKEND}, base=STEPS))
    validate(with_verify({"type": "code_execution", "program": "{code}\nassert {topic!r}"}))


def test_a_template_naming_a_later_step_or_a_column_a_later_verifier_adds_is_refused():
    early = {"type": "judge", "field": "instruction", "template": "{text} {response}", "backend": JUDGE_BACKEND}
    assert "written by a later step" in refused(with_verify(early, base=STEPS))
    json_then_judge = [{"type": "json", "columns": ["answer"]},
                       {"type": "judge", "template": "{text} {answer}", "backend": JUDGE_BACKEND}]
    validate(with_verify(*json_then_judge))
    assert refused(with_verify(*reversed(json_then_judge))).startswith("r.toml:verify.0.template: placeholder {answer}")


def test_names_after_a_verifier_that_may_add_any_column_are_left_unchecked():
    validate(with_verify({"type": "json"}, {"type": "judge", "template": "{text} {whatever}", "backend": JUDGE_BACKEND}))


def test_a_missing_interpreter_is_refused_at_validate():
    message = refused(with_verify({"type": "code_execution", "program": "{code}", "python": "/no/such/python"}))
    assert message.startswith("r.toml:verify.0.python: '/no/such/python' is not an executable file here")


def test_an_executable_that_is_not_python_is_refused(tmp_path):
    fake = tmp_path / "fakepython"
    fake.write_text("#!/bin/sh\nexit 2\n")
    fake.chmod(0o755)
    message = refused(with_verify({"type": "code_execution", "program": "{code}", "python": str(fake)}))
    assert message.startswith(f"r.toml:verify.0.python: '{fake}' is not a Python interpreter")


def test_a_working_interpreter_is_kept_by_absolute_path():
    from synthgen.verify.execution import checked_interpreter

    validate(with_verify({"type": "code_execution", "program": "{code}", "python": sys.executable}))
    assert checked_interpreter(sys.executable, "w") == sys.executable


# --- 2. schema_path -----------------------------------------------------------------------------


def test_a_schema_path_that_is_a_folder_is_one_clear_line(tmp_path):
    (tmp_path / "sdir").mkdir()
    message = refused(with_verify({"type": "json", "schema_path": "sdir"}), tmp_path)
    assert message.startswith("r.toml:verify.0.schema_path: ") and "is a folder, not a JSON Schema file" in message


def test_a_boolean_true_schema_is_accepted_and_false_refused(tmp_path):
    (tmp_path / "true.json").write_text("true")
    (tmp_path / "false.json").write_text("false")
    validate(with_verify({"type": "json", "schema_path": "true.json"}), tmp_path)
    validate(with_verify({"type": "json", "schema_path": "true.json", "constrain": True}), tmp_path)
    message = refused(with_verify({"type": "json", "schema_path": "false.json"}), tmp_path)
    assert message.startswith("r.toml:verify.0.schema_path: ") and "no JSON document satisfies" in message
    assert pinned_types(True) == {} and pinned_types({"properties": True}) == {}


# --- 3. a verifier on a seed field --------------------------------------------------------------


def test_a_verifier_on_a_seed_field_says_verifiers_check_generated_columns():
    message = refused(with_verify({"type": "length", "field": "topic", "min": 1}))
    assert message == ("r.toml:verify.0.field: 'topic' is a seed field, not a generated column: checks here run on "
                       "what a step writes (generated columns: text; filter seed rows at their source)")
    assert refused(with_verify({"type": "length", "field": "txt", "min": 1})) == (
        "r.toml:verify.0.field: 'txt' is not a generated column (did you mean 'text'? generated columns: text)")


# --- 4. a judge step's score_pattern --------------------------------------------------------------


def test_a_judge_steps_score_pattern_is_checked_like_the_judge_verifiers():
    raw = {**STEPS, "steps": [*STEPS["steps"], {"type": "judge", "name": "score", "target": "response",
                                                 "score_pattern": "("}]}
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(raw, source="r.toml")
    assert str(info.value).startswith("r.toml:steps.2.score_pattern: invalid regular expression '('")


# --- 5. sampling constraints --------------------------------------------------------------------


@pytest.mark.parametrize("sampling, says", [
    ({"regex": "("}, "r.toml:generation.sampling.regex: invalid regular expression '('"),
    ({"json_schema": {"type": "objekt"}}, "r.toml:generation.sampling.json_schema: not a valid JSON Schema"),
    ({"choice": []}, "r.toml:generation.sampling.choice: choice needs at least one string"),
    ({"choice": ["a"], "regex": "a"}, "r.toml:generation.sampling: regex and choice are both set, but decoding "
                                      "takes one constraint"),
    ({"json_schema": {"type": "object"}, "regex": "a"}, "r.toml:generation.sampling: json_schema and regex"),
])
def test_sampling_constraints_are_checked_at_load(sampling, says):
    raw = {**BASE, "generation": {**BASE["generation"], "sampling": sampling}}
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(raw, source="r.toml")
    assert str(info.value).startswith(says), str(info.value)


def test_a_constrained_json_verifier_on_a_regex_constrained_step_is_refused():
    raw = with_verify({"type": "json", "json_schema": {"type": "object"}, "constrain": True})
    raw["generation"] = {**raw["generation"], "sampling": {"regex": ".*"}}
    assert refused(raw).startswith("r.toml:verify.0.constrain: step 'text' already decodes under "
                                   "[generation.sampling] regex")


class _OneConstraintBackend(ScriptedBackend):
    """Refuses two constraints the way the real backends do."""

    def generate(self, requests, sampling):
        decoding_constraint(sampling)
        return super().generate(requests, sampling)


def test_a_judge_step_replaces_the_generation_constraint_with_its_own(tmp_path):
    raw = {**STEPS, "generation": {**STEPS["generation"], "sampling": {"regex": "[a-z ]+"}},
           "steps": [*STEPS["steps"], {"type": "judge", "name": "score", "target": "response"}]}
    backend = _OneConstraintBackend(ScriptedBackendConfig(type="scripted", outputs=["Score: 8"]))
    result = run_recipe(recipe_from_dict(raw, base_dir=tmp_path), out=tmp_path / "run", backend=backend,
                        progress=False)
    assert result.report.to_dict()["kept"] == 2
