"""Recipe loading: validation messages name file:table.key, overrides, hashing, schema export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from synthgen.errors import RecipeError
from synthgen.recipe import load_recipe, recipe_from_dict
from synthgen.recipe.schema import Recipe

MINIMAL = {
    "recipe": {"name": "m"},
    "seeds": {"type": "inline", "records": [{"topic": "a"}]},
    "prompt": {"template": "About {topic}:"},
    "generation": {"target": 2, "backend": {"type": "scripted"}},
}


def problems(raw, overrides=()):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(raw, source="r.toml", overrides=list(overrides))
    return info.value.problems


def test_minimal_recipe_gets_defaults():
    loaded = recipe_from_dict(MINIMAL)
    gen = loaded.recipe.generation
    assert gen.candidate_budget == 8
    assert gen.sampling.temperature == 1.0


def test_default_backend_is_the_embedded_vllm_model():
    raw = {**MINIMAL, "generation": {"target": 1}}
    backend = recipe_from_dict(raw).recipe.generation.backend
    assert backend.type == "vllm" and backend.model == "embedded"


def test_unknown_key_names_file_table_key_and_guesses():
    raw = {**MINIMAL, "generation": {"target": 2, "backend": {"type": "vllm", "modle": "x"}}}
    [line] = problems(raw)
    assert line.startswith("r.toml:generation.backend.modle: unknown key")
    assert "did you mean 'model'?" in line


def test_unknown_top_level_table():
    [line] = problems({**MINIMAL, "generaton": {}})
    assert line.startswith("r.toml:generaton: unknown key") and "'generation'" in line


def test_wrong_type_reports_value():
    raw = {**MINIMAL, "generation": {"target": "many", "backend": {"type": "scripted"}}}
    [line] = problems(raw)
    assert line.startswith("r.toml:generation.target:") and "'many'" in line


def test_every_problem_is_reported():
    raw = {"recipe": {"name": "m", "sede": 1}, "seeds": {"type": "nope"}, "prompt": {}, "generation": {}}
    lines = problems(raw)
    assert any("recipe.sede" in line for line in lines)
    assert any(line.startswith("r.toml:seeds") for line in lines)
    assert any("prompt.template: required" in line for line in lines)
    assert any("generation.target: required" in line for line in lines)


def test_verify_list_locations_drop_the_type_tag():
    raw = {**MINIMAL, "verify": [{"type": "non_empty"}, {"type": "length", "mn": 3}]}
    [line] = problems(raw)
    assert line.startswith("r.toml:verify.1.mn: unknown key") and "'min'" in line


def test_budget_below_target_is_refused():
    raw = {**MINIMAL, "generation": {"target": 5, "max_candidates": 2, "backend": {"type": "scripted"}}}
    [line] = problems(raw)
    assert "max_candidates (2) is below target (5)" in line


def test_overrides_apply_before_validation_and_are_recorded():
    loaded = recipe_from_dict(MINIMAL, overrides=["generation.target=7", 'generation.sampling.stop=["\\n"]'])
    assert loaded.recipe.generation.target == 7
    assert loaded.recipe.generation.sampling.stop == ["\n"]
    assert loaded.overrides == ("generation.target=7", 'generation.sampling.stop=["\\n"]')


def test_override_string_values_and_errors():
    loaded = recipe_from_dict(MINIMAL, overrides=["recipe.name=hello world"])
    assert loaded.recipe.recipe.name == "hello world"
    assert "expected KEY=VALUE" in problems(MINIMAL, ["generation.target"])[0]
    assert "is not a table" in problems(MINIMAL, ["recipe.name.x=1"])[0]


def test_hash_is_canonical_and_ignores_output_dir():
    a = recipe_from_dict(MINIMAL)
    b = recipe_from_dict({**MINIMAL, "output": {"dir": "elsewhere"}})
    c = recipe_from_dict(MINIMAL, overrides=["generation.target=3"])
    assert a.hash == b.hash != c.hash


def test_malformed_toml_names_the_file(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text("[recipe\nname = 1\n")
    with pytest.raises(RecipeError, match=r"bad.toml: invalid TOML"):
        load_recipe(path)


def test_missing_recipe_file(tmp_path: Path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.toml")


def test_relative_paths_resolve_against_the_recipe_folder(tmp_path: Path):
    path = tmp_path / "sub" / "r.toml"
    path.parent.mkdir()
    path.write_text('[recipe]\nname="x"\n[seeds]\ntype="file"\npath="seeds.jsonl"\n'
                    '[prompt]\ntemplate="{topic}"\n[generation]\ntarget=1\n')
    loaded = load_recipe(path)
    assert loaded.resolve(loaded.recipe.seeds.path) == path.parent / "seeds.jsonl"


def test_json_schema_is_exported():
    schema = Recipe.model_json_schema()
    assert schema["additionalProperties"] is False
    assert {"recipe", "seeds", "generation"} <= set(schema["required"])
    json.dumps(schema)


SHIPPED = sorted(Path(__file__).resolve().parents[1].joinpath("recipes").glob("*.toml"))


def test_recipes_are_shipped():
    assert {"quickstart", "instructions", "conversations", "preferences", "evol"} <= {p.stem for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_recipe_validates(path):
    from synthgen.api import validate_recipe

    real = re.findall(r"data/real/[\w.]+", path.read_text())
    missing = [name for name in real if not (path.parent / name).exists()]
    if missing:
        pytest.skip(f"{missing[0]} not prepared (make real-data; fortunes needs apt)")
    validate_recipe(load_recipe(path))


def test_override_indexes_arrays_of_tables():
    raw = {**MINIMAL, "verify": [{"type": "non_empty"}, {"type": "length", "min": 3}]}
    loaded = recipe_from_dict(raw, overrides=["verify.1.min=9"])
    assert loaded.recipe.verify[1].min == 9
    assert "no item '5'" in problems(raw, ["verify.5.min=1"])[0]


def test_false_turns_an_optional_setting_off():
    raw = {**MINIMAL, "diversity": {"embedder": "tfidf", "reference": "r.jsonl", "near_duplicate_threshold": False,
                                    "gate": {"vendi_ratio_min": False}}}
    diversity = recipe_from_dict(raw).recipe.diversity
    assert diversity.near_duplicate_threshold is None and diversity.gate.vendi_ratio_min is None
