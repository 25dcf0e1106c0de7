"""Seed sources, grids, template checks and the deterministic request plan."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from synthgen.errors import RecipeError
from synthgen.prompts import FewShotPool, RequestPlan, check_template, template_fields
from synthgen.recipe import recipe_from_dict
from synthgen.records import Seed
from synthgen.plan import RecipeContext
from synthgen.seeds import load_seeds
from synthgen.seeds.grid import grid_row, grid_rows, grid_size

BASE = {"recipe": {"name": "s", "seed": 1}, "prompt": {"template": "{topic}"},
        "generation": {"target": 1, "backend": {"type": "scripted"}}}


def seeds_for(tmp_path: Path, seeds: dict) -> list[Seed]:
    loaded = recipe_from_dict({**BASE, "seeds": seeds}, source="r.toml", base_dir=tmp_path)
    return load_seeds(loaded.recipe.seeds, RecipeContext.from_loaded(loaded))


def test_grid_full_product_in_row_major_order():
    axes = {"topic": ["a", "b"], "persona": ["x", "y", "z"]}
    rows = grid_rows(axes, None, seed=0)
    assert grid_size(axes) == 6 and len(rows) == 6
    assert rows[0] == {"topic": "a", "persona": "x"} and rows[5] == {"topic": "b", "persona": "z"}
    assert grid_row(axes, 4) == {"topic": "b", "persona": "y"}


def test_grid_sample_is_seeded_and_distinct():
    axes = {"a": list(range(10)), "b": list(range(10))}
    first, again = grid_rows(axes, 7, seed=3), grid_rows(axes, 7, seed=3)
    assert first == again and len({tuple(r.values()) for r in first}) == 7
    assert grid_rows(axes, 7, seed=4) != first


def test_grid_with_empty_axis_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="seeds.axes: grid axis 'b' is empty"):
        seeds_for(tmp_path, {"type": "grid", "axes": {"a": [1], "b": []}})


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "dataset"])
def test_file_and_dataset_sources(tmp_path, fmt):
    rows = [{"topic": "a"}, {"topic": "b"}]
    name = {"dataset": "ds"}.get(fmt, f"seeds.{fmt}")
    path = tmp_path / name
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "csv":
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["topic"])
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        import datasets

        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    kind = "dataset" if fmt == "dataset" else "file"
    seeds = seeds_for(tmp_path, {"type": kind, "path": name})
    assert [s.fields for s in seeds] == rows and [s.index for s in seeds] == [0, 1]


def test_missing_seed_file_names_the_key(tmp_path):
    with pytest.raises(RecipeError, match=r"r.toml:seeds.path: .*missing.jsonl: file not found"):
        seeds_for(tmp_path, {"type": "file", "path": "missing.jsonl"})


@pytest.mark.parametrize("seeds", [{"type": "grid", "axes": {"index": [1, 2], "topic": ["a"]}},
                                   {"type": "inline", "records": [{"topic": "a"}, {"topic": "b", "index": 7}]}])
def test_a_seed_field_the_provenance_column_would_overwrite_is_refused(tmp_path, seeds):
    with pytest.raises(RecipeError, match=r"r.toml:seeds: a seed field named 'index' would be written as the "
                                          r"column 'seed_index'") as info:
        seeds_for(tmp_path, seeds)
    assert "rename the field" in info.value.hint


def test_corrupt_jsonl_names_the_line(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"topic": "a"}\n{oops\n')
    with pytest.raises(RecipeError, match=r"s.jsonl:2: invalid JSON"):
        seeds_for(tmp_path, {"type": "file", "path": "s.jsonl"})


def test_template_fields_and_missing_placeholder():
    assert template_fields("{a} and {b.c} and {a} {{literal}}") == ["a", "b"]
    with pytest.raises(RecipeError, match=r"placeholder \{persona\} is not a seed field"):
        check_template("{topic} {persona}", {"topic"}, False, "r.toml:prompt.template")
    with pytest.raises(RecipeError, match="positional"):
        check_template("{}", {"topic"}, False, "r.toml:prompt.template")
    with pytest.raises(RecipeError) as info:
        check_template("{examples}", {"topic"}, False, "r.toml:prompt.template")
    assert "few_shot" in str(info.value)


def test_request_plan_is_a_pure_function_of_index():
    seeds = [Seed(i, {"topic": t}) for i, t in enumerate("abcde")]
    pool = FewShotPool([{"text": f"ex{i}"} for i in range(6)], k=2, field="text", format="- {text}", separator="\n")
    plan = RequestPlan(seeds, "{examples}\n{topic}:", recipe_seed=5, few_shot=pool)
    fresh = RequestPlan(seeds, "{examples}\n{topic}:", recipe_seed=5, few_shot=pool)
    assert [plan.request(i) for i in (9, 3, 0)] == [fresh.request(i) for i in (9, 3, 0)]
    first_pass = {plan.seed_for(i).index for i in range(5)}
    assert first_pass == set(range(5)), "every seed is used once per pass"
    prompts = {plan.request(i).prompt for i in range(10)}
    assert len(prompts) > 5, "few-shot examples rotate across requests"
    assert len(plan.request(0).parent_ids) == 2
    assert len({plan.request(i).sampling_seed for i in range(50)}) == 50


def test_few_shot_format_can_use_other_columns():
    pool = FewShotPool([{"q": "why?", "a": "because"}], k=1, field="q", format="Q: {text} A: {a}", separator="")
    block, parents = pool.draw(random.Random(0))
    assert block == "Q: why? A: because" and len(parents) == 1


def test_more_few_shot_examples_after_a_too_far_remediation():
    """``adjust(..., few_shot_extra=n)`` draws k + n real examples per prompt (never more than the pool);
    with no extra the draws are exactly the old ones."""
    seeds = [Seed(i, {"topic": t}) for i, t in enumerate("abc")]
    pool = FewShotPool([{"text": f"ex{i}"} for i in range(4)], k=2, field="text", format="- {text}", separator="\n")
    plan = RequestPlan(seeds, "{examples}\n{topic}:", recipe_seed=5, few_shot=pool)
    before = [plan.request(i) for i in range(6)]
    plan.adjust(1, 0, few_shot_extra=0)
    assert [plan.request(i) for i in range(6)] == before
    plan.adjust(1, 0, few_shot_extra=1)
    assert {len(plan.request(i).parent_ids) for i in range(6)} == {3}
    plan.adjust(1, 0, few_shot_extra=5)
    assert {len(plan.request(i).parent_ids) for i in range(6)} == {4}
    assert plan.few_shot_adjustment() == (0, 5)
