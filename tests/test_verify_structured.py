"""Structured output: tolerant JSON extraction, schema validation, columns in the dataset."""

from __future__ import annotations

import json

import pytest

from synthgen.errors import RecipeError
from synthgen.recipe.load import load_recipe, recipe_from_dict
from synthgen.records import Candidate, GenerationRequest, Seed
from synthgen.plan import build_run_plan
from synthgen.verify import VerifyContext, build_verify_stages
from synthgen.verify.extract import extract_code, extract_json, fenced_blocks
from synthgen.verify.structured import JsonSchemaVerifier, column_value

SCHEMA = {"type": "object", "required": ["question", "answer"],
          "properties": {"question": {"type": "string"}, "answer": {"type": "string"},
                         "difficulty": {"type": "integer"}, "tags": {"type": "array"}}}
MINIMAL = {"recipe": {"name": "r"}, "seeds": {"type": "inline", "records": [{"topic": "a"}]},
           "prompt": {"template": "About {topic}"}, "generation": {"target": 1, "backend": {"type": "scripted"}}}


def cand(text: str) -> Candidate:
    return Candidate(GenerationRequest(0, "p", Seed(0, {}), 0), 0, text, 1)


@pytest.mark.parametrize("text, value", [
    ('{"a": 1}', {"a": 1}),
    ('  [1, 2]\n', [1, 2]),
    ('Sure! Here it is:\n```json\n{"a": {"b": [1, 2]}}\n```\nHope this helps.', {"a": {"b": [1, 2]}}),
    ('```\n{"a": 1}\n```', {"a": 1}),
    ('The answer is {"a": "x}"} and that is all {not json}.', {"a": "x}"}),
    ('{broken {"a": 1} trailing', {"a": 1}),
    ('```json\n{"a": 1, "b": 2', None),
    ("no json here", None),
])
def test_extract_json_tolerates_fences_and_prose(text, value):
    found = extract_json(text)
    assert (found[0] if found else None) == value


def test_extract_json_strict_mode():
    assert extract_json('{"a": 1}', "strict")[0] == {"a": 1}
    assert extract_json('Here: {"a": 1}', "strict") is None


def test_fenced_blocks_and_code_extraction():
    text = "Intro\n```text\nnot code\n```\n```python\ndef f():\n    return 1\n```\n"
    assert [lang for lang, _ in fenced_blocks(text)] == ["text", "python"]
    assert extract_code(text) == "def f():\n    return 1\n"
    assert extract_code("    return 1\n") == "    return 1\n"
    assert extract_code("plain prose", "fenced") is None
    assert extract_code("```py\nx = 1", "fenced") == "x = 1"  # unclosed (truncated) fence


def test_valid_json_becomes_columns_with_stable_types():
    verifier = JsonSchemaVerifier(schema=SCHEMA)
    c = cand('```json\n{"question": "Why?", "answer": "Because.", "difficulty": 2, "tags": ["a"], "id": 7}\n```')
    assert verifier.check(c).keep
    assert c.columns == {"question": "Why?", "answer": "Because.", "difficulty": 2, "tags": '["a"]', "json_id": "7"}
    assert column_value(3, float) == 3.0 and column_value(True, None) == "true" and column_value("s", None) == "s"


def test_schema_mismatch_and_invalid_json_are_rejections_with_evidence():
    verifier = JsonSchemaVerifier(schema=SCHEMA)
    mismatch = verifier.check(cand('{"question": "Why?", "answer": 3}'))
    assert (mismatch.reason, mismatch.evidence["path"]) == ("schema_mismatch", "answer")
    assert "is not of type 'string'" in mismatch.evidence["error"]
    assert verifier.check(cand("Sorry, no JSON today.")).reason == "invalid_json"


def test_columns_selection_prefix_and_text_replacement():
    c = cand('Result: {"question": "Why?", "answer": "Yes", "extra": 1} -- end')
    verifier = JsonSchemaVerifier(columns=["answer", "missing"], column_prefix="qa_", text="json")
    assert verifier.check(c).keep
    assert c.columns == {"qa_answer": "Yes"}
    assert json.loads(c.text) == {"question": "Why?", "answer": "Yes", "extra": 1}


def test_schema_path_resolves_against_the_recipe(tmp_path):
    (tmp_path / "schema.json").write_text(json.dumps(SCHEMA))
    recipe = tmp_path / "r.toml"
    recipe.write_text('[recipe]\nname = "r"\n[seeds]\ntype = "inline"\nrecords = [{topic = "a"}]\n'
                      '[prompt]\ntemplate = "{topic}"\n[generation]\ntarget = 1\n[generation.backend]\n'
                      'type = "scripted"\n[[verify]]\ntype = "json"\nschema_path = "schema.json"\nconstrain = true\n')
    loaded = load_recipe(recipe)
    [stage] = build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded))
    assert stage.verifier.schema == SCHEMA
    assert build_run_plan(loaded).sampling.json_schema == SCHEMA   # constrain = true: decoding follows it
    (tmp_path / "schema.json").write_text('{"type": 12}')
    with pytest.raises(RecipeError, match=r"r.toml:verify.0.schema_path: .*not a valid JSON Schema"):
        build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded))
    (tmp_path / "schema.json").unlink()
    with pytest.raises(RecipeError, match=r"r.toml:verify.0.schema_path: .*file not found"):
        build_verify_stages(loaded.recipe.verify, VerifyContext.of(loaded))


def test_no_constrained_schema_means_no_decoding_schema():
    loaded = recipe_from_dict({**MINIMAL, "verify": [{"type": "json", "json_schema": SCHEMA}]})
    assert build_run_plan(loaded).sampling.json_schema is None


@pytest.mark.parametrize("table, expected", [
    ({"type": "json", "json_schema": {"type": "objekt"}}, "r.toml:verify.0.json_schema: not a valid JSON Schema"),
    ({"type": "json", "json_schema": SCHEMA, "schema_path": "s.json"}, "r.toml:verify.0: give json_schema or"),
    ({"type": "json", "constrain": True}, "r.toml:verify.0: constrain needs a schema"),
    ({"type": "json", "columns": "some"}, "r.toml:verify.0.columns"),
    ({"type": "json", "schema": SCHEMA}, "r.toml:verify.0.schema: unknown key"),
])
def test_misconfigured_json_verifier_names_the_key(table, expected):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({**MINIMAL, "verify": [table]}, source="r.toml")
    assert info.value.problems[0].startswith(expected), info.value.problems


def test_run_writes_json_fields_as_dataset_columns(tmp_path):
    from synthgen.api import run_recipe

    outputs = ['{"question": "Why is ice slippery?", "answer": "A thin water layer.", "difficulty": 2}',
               'Here you go: ```json\n{"question": "Why do cats purr?", "answer": "Contentment.", "difficulty": 1}```',
               "I cannot produce JSON.",
               '{"question": "Missing answer"}']
    raw = {**MINIMAL, "generation": {"target": 4, "max_candidates": 8, "batch_size": 4,
                                     "backend": {"type": "scripted", "outputs": outputs}},
           "verify": [{"type": "json", "json_schema": SCHEMA, "columns": ["question", "answer", "difficulty"]}]}
    loaded = recipe_from_dict(raw, base_dir=tmp_path)
    result = run_recipe(loaded, out=tmp_path / "run", progress=False)
    rows = result.dataset.to_list()
    assert {r["question"] for r in rows} == {"Why is ice slippery?", "Why do cats purr?"}
    assert all(isinstance(r["difficulty"], int) for r in rows)
    reasons = result.report.to_dict()["stages"][0]["reasons"]
    assert reasons == {"invalid_json": 2, "schema_mismatch": 2}


def test_json_stage_summary_for_the_report():
    from synthgen.verify.structured import json_stage_summary

    stages = [{"stage": "non_empty", "seen": 10, "reasons": {}},
              {"stage": "json", "seen": 8, "reasons": {"invalid_json": 2, "schema_mismatch": 1}}]
    assert json_stage_summary(stages) == [
        {"stage": "json", "seen": 8, "constrained": False, "constraint": "not requested",
         "invalid_json_rate": 0.25, "schema_mismatch_rate": 0.125}]
    enforced = {"json": {"requested": True, "enforced": True, "backend": "vllm"}}
    assert json_stage_summary(stages, enforced)[0]["constrained"] is True
