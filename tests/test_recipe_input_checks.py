"""Bad recipe input is refused at load/plan time (what `synthgen validate` runs) with one clear line naming
the file and key, instead of crashing mid-run or at the final dataset write."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from synthgen.errors import RecipeError, SynthgenError
from synthgen.plan import build_run_plan
from synthgen.recipe import recipe_from_dict

BASE = {
    "recipe": {"name": "checks", "seed": 7},
    "seeds": {"type": "grid", "axes": {"topic": ["rivers", "bread"], "persona": ["a child", "a chef"]}},
    "prompt": {"template": "Write a question about {topic} asked by {persona}.\n{examples}\nQ:",
               "few_shot": {"path": "real.jsonl", "k": 1}},
    "generation": {"target": 2, "backend": {"type": "scripted"}},
}


def recipe(tmp_path: Path, **tables) -> dict:
    (tmp_path / "real.jsonl").write_text('{"text": "Why is the sky blue?"}\n{"text": "How do bees fly?"}\n')
    raw = copy.deepcopy(BASE)
    raw.update(tables)
    return raw


def plan_error(tmp_path: Path, raw: dict) -> str:
    """The one error `synthgen validate` reports for ``raw`` (load, then build the run plan)."""
    with pytest.raises(RecipeError) as info:
        build_run_plan(recipe_from_dict(raw, source="r.toml", base_dir=tmp_path))
    assert "\n" not in str(info.value)
    return str(info.value)


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path.name


def steps_recipe(tmp_path: Path, *steps: dict) -> dict:
    raw = recipe(tmp_path, steps=[*steps, {"type": "generate", "name": "out", "template": "{topic}"}])
    del raw["prompt"]
    return raw


# --- 1. mixed value types ------------------------------------------------------------------------


def test_a_grid_axis_with_mixed_types_is_refused(tmp_path):
    raw = recipe(tmp_path, seeds={"type": "grid", "axes": {"topic": ["a"], "persona": ["a child", 3]}})
    assert plan_error(tmp_path, raw) == ("r.toml:seeds.axes.persona: mixed value types (str, int) "
                                         "(give every value the same type, e.g. quote the numbers)")


def test_a_seed_file_field_with_mixed_types_is_refused(tmp_path):
    name = write_jsonl(tmp_path / "s.jsonl", [{"topic": "a", "persona": "b"}, {"topic": "c", "persona": 7}])
    raw = recipe(tmp_path, seeds={"type": "file", "path": name})
    assert plan_error(tmp_path, raw).startswith("r.toml:seeds.path: field 'persona' has mixed value types (str, int)")


def test_inline_seeds_with_mixed_types_are_refused(tmp_path):
    raw = recipe(tmp_path, seeds={"type": "inline", "records": [{"topic": "a", "persona": True},
                                                                {"topic": "b", "persona": 2}]})
    assert "r.toml:seeds.records: field 'persona' has mixed value types (bool, int)" in plan_error(tmp_path, raw)


@pytest.mark.parametrize("values", [["a", None], [1, 2.5], [{"a": 1}, [1, 2]], [{"a": 1}, "x"]])
def test_seed_values_arrow_can_store_are_accepted(tmp_path, values):
    """Nulls, int with float, and nested values (stored as JSON text) are one column type."""
    raw = recipe(tmp_path, seeds={"type": "inline", "records": [{"topic": "a", "persona": "p", "extra": v}
                                                                for v in values]})
    build_run_plan(recipe_from_dict(raw, source="r.toml", base_dir=tmp_path))


def test_sample_values_with_mixed_types_are_refused(tmp_path):
    raw = steps_recipe(tmp_path, {"type": "sample", "name": "shape", "values": [{"a": 1}, [1, 2]]})
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(raw, source="r.toml", base_dir=tmp_path)
    assert str(info.value) == ("r.toml:steps.0.values: mixed value types (dict, list): give every value the "
                               "same type, e.g. quote the numbers")


def test_a_dataset_that_arrow_cannot_write_keeps_the_rows_and_says_which_column(tmp_path):
    from synthgen.finalize import UNWRITTEN, write_dataset
    from synthgen.rundir import RunDir

    rows = [{"id": "1", "text": "x", "seed_persona": "b"}, {"id": "2", "text": "y", "seed_persona": 7}]
    run_dir = RunDir(tmp_path / "run")
    run_dir.path.mkdir()
    with pytest.raises(SynthgenError) as info:
        write_dataset(run_dir, rows, ("id", "text"), [])
    assert "cannot write the dataset: column 'seed_persona' has mixed value types (str, int)" in str(info.value)
    saved = [json.loads(line) for line in (run_dir.path / UNWRITTEN).read_text().splitlines()]
    assert saved == rows and run_dir.rejected_path.is_file()



def test_an_int_past_64_bits_keeps_the_rows_and_says_which_column(tmp_path):
    """A step's JSON can hold an integer Arrow cannot store: the run's rows are kept all the same."""
    from synthgen.finalize import UNWRITTEN, write_dataset
    from synthgen.rundir import RunDir

    rows = [{"id": "1", "text": "x", "answer_n": 2**70}]
    run_dir = RunDir(tmp_path / "run")
    run_dir.path.mkdir()
    with pytest.raises(SynthgenError) as info:
        write_dataset(run_dir, rows, ("id", "text"), [])
    assert f"column 'answer_n' has" in str(info.value) and str(2**70) in str(info.value)
    assert [json.loads(line) for line in (run_dir.path / UNWRITTEN).read_text().splitlines()] == rows

# --- 2. a seed row without a field the template uses ----------------------------------------------


def test_a_seed_file_row_without_a_template_field_is_refused(tmp_path):
    name = write_jsonl(tmp_path / "s.jsonl", [{"topic": "a", "persona": "b"}, {"topic": "c"}])
    raw = recipe(tmp_path, seeds={"type": "file", "path": name})
    assert plan_error(tmp_path, raw) == ("r.toml:seeds.path: row 2 has no 'persona' field (used by "
                                         "prompt.template) (give 'persona' a value in every seed row)")


def test_an_inline_row_with_a_null_template_field_is_refused(tmp_path):
    raw = recipe(tmp_path, seeds={"type": "inline", "records": [{"topic": "a", "persona": "b"},
                                                                {"topic": None, "persona": "d"}]})
    assert plan_error(tmp_path, raw).startswith("r.toml:seeds.records: row 2 has a null 'topic' (used by "
                                                "prompt.template)")


def test_a_field_no_template_uses_may_be_missing(tmp_path):
    raw = recipe(tmp_path, seeds={"type": "inline", "records": [{"topic": "a", "persona": "b", "note": "n"},
                                                                {"topic": "c", "persona": "d"}]})
    build_run_plan(recipe_from_dict(raw, source="r.toml", base_dir=tmp_path))


def test_a_step_template_field_missing_from_a_row_names_the_step(tmp_path):
    raw = steps_recipe(tmp_path)
    raw["seeds"] = {"type": "inline", "records": [{"topic": "a"}, {"other": "b"}]}
    assert plan_error(tmp_path, raw).startswith("r.toml:seeds.records: row 2 has no 'topic' field (used by "
                                                "steps.0.template)")


# --- 3. template mistakes beyond a plain {name} ------------------------------------------------------


@pytest.mark.parametrize("template, says", [
    ("About {persona.upper}", "r.toml:prompt.template: placeholder {persona.upper} uses attribute or index access "
                              "(use the plain field {persona}, or add a field holding the value you need)"),
    ("About {persona[0]}", "r.toml:prompt.template: placeholder {persona[0]} uses attribute or index access"),
    ("About {persona!x}", "r.toml:prompt.template: placeholder {persona!x} has an unknown conversion !x "
                          "(use !r, !s or !a, or none; escape literal braces as {{ and }})"),
    ("About {persona:>{width}}", "r.toml:prompt.template: placeholder {persona:>{width}} has a placeholder in its "
                                 "format spec (write the format with numbers, e.g. {persona:>20})"),
])
def test_template_mistakes_are_refused(tmp_path, template, says):
    raw = recipe(tmp_path)
    raw["prompt"]["template"] = template + " {topic} {examples}"
    assert plan_error(tmp_path, raw).startswith(says)


def test_a_step_template_mistake_names_the_step(tmp_path):
    raw = steps_recipe(tmp_path, {"type": "template", "name": "t", "template": "{topic!z}"})
    assert plan_error(tmp_path, raw).startswith("r.toml:steps.0.template: placeholder {topic!z} has an unknown")


def test_a_few_shot_format_placeholder_must_be_a_column_of_the_file(tmp_path):
    raw = recipe(tmp_path)
    raw["prompt"]["few_shot"]["format"] = "Q: {txt}"
    assert plan_error(tmp_path, raw) == ("r.toml:prompt.few_shot.format: placeholder {txt} is not a column of every "
                                         "few-shot row (did you mean {text}? columns: text)")


def test_a_few_shot_format_may_use_the_files_other_columns(tmp_path):
    raw = recipe(tmp_path)
    write_jsonl(tmp_path / "qa.jsonl", [{"q": "why?", "a": "because"}])
    raw["prompt"]["few_shot"] = {"path": "qa.jsonl", "field": "q", "format": "Q: {text!r} A: {a:>10}", "k": 1}
    build_run_plan(recipe_from_dict(raw, source="r.toml", base_dir=tmp_path))


# --- 4. non-finite sample weights -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_sample_weights_are_refused(tmp_path, bad):
    raw = steps_recipe(tmp_path, {"type": "sample", "name": "level", "values": ["a", "b"], "weights": [1, bad]})
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(raw, source="r.toml", base_dir=tmp_path)
    assert str(info.value) == (f"r.toml:steps.0.weights: weights must be finite numbers (got {bad}): give every "
                               "value a finite, non-negative weight")


def test_toml_nan_weights_are_refused(tmp_path):
    from synthgen.recipe import load_recipe

    path = tmp_path / "r.toml"
    path.write_text('[recipe]\nname = "w"\n[seeds]\ntype = "inline"\nrecords = [{topic = "a"}]\n'
                    '[[steps]]\ntype = "sample"\nname = "level"\nvalues = ["a", "b"]\nweights = [1, nan]\n'
                    '[[steps]]\ntype = "generate"\nname = "out"\ntemplate = "{topic}"\n'
                    '[generation]\ntarget = 1\n[generation.backend]\ntype = "scripted"\n')
    with pytest.raises(RecipeError, match=r"r.toml:steps.0.weights: weights must be finite numbers \(got nan\)"):
        load_recipe(path)


# --- 5. booleans are not numbers -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["generation.target", "generation.max_candidates", "generation.batch_size",
                                 "prompt.few_shot.k", "generation.sampling.temperature",
                                 "generation.sampling.seed", "recipe.seed"])
def test_a_boolean_where_a_number_belongs_is_refused(tmp_path, key):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(recipe(tmp_path), source="r.toml", overrides=[f"{key}=true"])
    kind = "number" if key.endswith("temperature") else "integer"
    assert str(info.value) == f"r.toml:{key}: Input should be a valid {kind} (got true)"


def test_numbers_from_set_and_false_for_off_still_work(tmp_path):
    loaded = recipe_from_dict(recipe(tmp_path), source="r.toml", overrides=[
        "generation.batch_size=8", "generation.sampling.temperature=0.5", "generation.max_candidates=false"])
    generation = loaded.recipe.generation
    assert (generation.batch_size, generation.sampling.temperature, generation.max_candidates) == (8, 0.5, None)


# --- 6. a pluggable table without a type ---------------------------------------------------------------


@pytest.mark.parametrize("table, says", [
    ({"seeds": {"records": [{"topic": "a"}]}},
     "r.toml:seeds.type is missing: choose one of inline, file, dataset, grid"),
    ({"generation": {"target": 1, "backend": {}}},
     "r.toml:generation.backend.type is missing: choose one of vllm, openai, replay, scripted, plugin"),
    ({"verify": [{"min": 3}]}, "r.toml:verify.0.type is missing: choose one of non_empty, "),
    ({"seeds": {"type": "gird"}},
     "r.toml:seeds.type: unknown type 'gird'; did you mean 'grid'? choose one of inline, "),
])
def test_a_missing_or_unknown_type_says_which_types_exist(tmp_path, table, says):
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(recipe(tmp_path, **table), source="r.toml")
    assert str(info.value).startswith(says)


# --- few-shot examples that never reach the model; a byte-order mark --------------------------------


def test_few_shot_without_an_examples_placeholder_is_refused(tmp_path):
    raw = recipe(tmp_path)
    raw["prompt"]["template"] = "Write a question about {topic} asked by {persona}.\nQ:"
    assert plan_error(tmp_path, raw) == (
        "r.toml:prompt.few_shot: the template has no {examples} placeholder, so the few-shot examples would "
        "never reach the model (put {examples} in the template where the examples go, or remove few_shot)")
    del raw["prompt"]["few_shot"]
    build_run_plan(recipe_from_dict(raw, source="r.toml", base_dir=tmp_path))  # without few_shot: fine


def test_a_recipe_saved_with_a_byte_order_mark_loads(tmp_path):
    from synthgen.recipe.load import load_recipe

    path = tmp_path / "r.toml"
    path.write_text('[recipe]\nname = "bom"\n[seeds]\ntype = "inline"\nrecords = [{topic = "a"}]\n'
                    '[prompt]\ntemplate = "{topic}"\n[generation]\ntarget = 1\n[generation.backend]\n'
                    'type = "scripted"\n', encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_recipe(path).recipe.recipe.name == "bom"


@pytest.mark.parametrize("names, expected", [
    (("q", "q"), "r.toml:steps.1.name: two steps write the column 'q'"),
    (("id", "q"), "r.toml:steps.0.name: step name 'id' is a provenance column")])
def test_step_name_problems_name_the_step(tmp_path, names, expected):
    raw = recipe(tmp_path, steps=[{"type": "generate", "name": names[0], "template": "{topic}"},
                                  {"type": "generate", "name": names[1], "template": "{topic}"}])
    del raw["prompt"]
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(raw, source="r.toml", base_dir=tmp_path)
    assert str(info.value).startswith(expected)


# --- data inputs are read once per plan ----------------------------------------------------------


def test_the_plan_reads_the_diversity_reference_and_previous_data_once(tmp_path, monkeypatch):
    """The plan checks, the tfidf embedder, the gate, its previous-generation sampling and semantic dedup
    all use [diversity] reference / previous: each file is read once however many parts need it."""
    import synthgen.diversity.build as build

    texts = [f"a real sentence number {i} about {w} and more" for i, w in enumerate(["rivers", "bread"] * 60)]
    write_jsonl(tmp_path / "reference.jsonl", [{"text": t} for t in texts])
    write_jsonl(tmp_path / "previous.jsonl", [{"text": t, "sampling": {"temperature": 0.9}} for t in texts[:50]])
    reads: list[str] = []
    real_read_rows = build.read_rows
    monkeypatch.setattr(build, "read_rows", lambda path, **kw: reads.append(Path(path).name) or real_read_rows(path, **kw))
    raw = recipe(tmp_path, diversity={"reference": "reference.jsonl", "previous": "previous.jsonl",
                                      "embedder": "tfidf", "near_duplicate_threshold": 0.95,
                                      "gate": {"enabled": True}})
    plan = build_run_plan(recipe_from_dict(raw, source="r.toml", base_dir=tmp_path))
    assert sorted(reads) == ["previous.jsonl", "reference.jsonl"]
    assert plan.gate is not None and plan.gate.previous_sampling == {"temperature": 0.9}
    assert len(plan.gate.reference) == len(texts) and len(plan.gate.previous) == 50
