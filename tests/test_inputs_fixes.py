"""Input files that used to lose or garble data, or fail with the wrong advice: seeds (repeated CSV columns,
binary and nested values, huge integers, long fields, splits, empty files), few-shot pools and replay files
whose values are not text, and the `metrics` / `mix` commands' hints."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.api import run_recipe
from synthgen.backends.replay import ReplayBackend
from synthgen.diversity.cli import metrics_command
from synthgen.errors import SynthgenError
from synthgen.mix.cli import mix_command
from synthgen.recipe import recipe_from_dict
from synthgen.tabular import read_rows
from test_plan_checks import plan, plan_error


def raw_recipe(seeds: dict, template: str = "Topic: {topic}\n", **tables) -> dict:
    raw = {"recipe": {"name": "inputs", "seed": 3}, "seeds": seeds,
           "prompt": {"template": template, "mode": "completion"},
           "generation": {"target": 2, "backend": {"type": "scripted"}}}
    raw.update(tables)
    return raw


def prompts(tmp_path: Path, raw: dict) -> list[str]:
    """The prompts a run of ``raw`` sent to the model."""
    loaded = recipe_from_dict(raw, source="r.toml", base_dir=tmp_path)
    result = run_recipe(loaded, out=tmp_path / "run", progress=False)
    return [row["prompt"] for row in pq.read_table(result.run_dir / "data.parquet").to_pylist()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def file_seeds(name: str, **settings) -> dict:
    return {"type": "file", "path": name, **settings}


def invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args])


# --- 1. a CSV header that repeats a column ---------------------------------------------------------------

def test_a_csv_header_repeating_a_column_is_refused(tmp_path):
    (tmp_path / "s.csv").write_text("topic,topic\nalpha,beta\n")
    message = plan_error(tmp_path, raw_recipe(file_seeds("s.csv")))
    assert message.startswith(f"r.toml:seeds.path: {tmp_path / 's.csv'}: the CSV header repeats the column 'topic'")
    assert "give every column its own name" in message


# --- 2. replay values that are not text --------------------------------------------------------------------

@pytest.mark.parametrize("value, kind", [(None, "null"), (42, "an int (42)"), (["a"], "a list (['a'])")])
def test_replay_refuses_values_that_are_not_text(tmp_path, value, kind):
    path = write_jsonl(tmp_path / "saved.jsonl", [{"text": "first"}, {"text": value}])
    with pytest.raises(SynthgenError) as info:
        ReplayBackend(path).load()
    assert info.value.message == f"{path}: row 2: 'text' is {kind}, not text"
    raw = raw_recipe({"type": "inline", "records": [{"topic": "a"}]},
                     generation={"target": 2, "backend": {"type": "replay", "path": "saved.jsonl"}})
    assert plan_error(tmp_path, raw).startswith(f"r.toml:generation.backend.path: {path}: row 2: 'text' is {kind}")


def test_replay_reads_binary_text_as_utf8(tmp_path):
    pq.write_table(pa.table({"text": pa.array([b"saved caf\xc3\xa9"], pa.binary())}), tmp_path / "saved.parquet")
    backend = ReplayBackend(tmp_path / "saved.parquet")
    backend.load()
    assert backend.rows == ["saved café"]


# --- 24. validate checks the replay file's field -----------------------------------------------------------

def test_validate_refuses_a_replay_file_without_the_field(tmp_path):
    path = write_jsonl(tmp_path / "saved.jsonl", [{"txt": "a saved completion"}])
    raw = raw_recipe({"type": "inline", "records": [{"topic": "a"}]},
                     generation={"target": 2, "backend": {"type": "replay", "path": "saved.jsonl"}})
    assert plan_error(tmp_path, raw) == (f"r.toml:generation.backend.field: {path}: row 1 has no 'text' field "
                                         "(set generation.backend.field to the column holding the text)")


# --- 3. few-shot examples that are not text ----------------------------------------------------------------

def few_shot_recipe(few_shot: dict) -> dict:
    return raw_recipe({"type": "inline", "records": [{"topic": "a"}]},
                      prompt={"template": "{examples}\nTopic: {topic}\n", "mode": "completion",
                              "few_shot": few_shot})


@pytest.mark.parametrize("value, kind", [(None, "null"), (123, "an int (123), not text"), ("  ", "blank")])
def test_few_shot_examples_must_be_text(tmp_path, value, kind):
    path = write_jsonl(tmp_path / "pool.jsonl", [{"text": "a real example"}, {"text": value}])
    message = plan_error(tmp_path, few_shot_recipe({"path": "pool.jsonl"}))
    assert message.startswith(f"r.toml:prompt.few_shot.field: {path}: row 2: 'text' is {kind} (")


def test_a_null_column_of_the_few_shot_format_is_refused(tmp_path):
    write_jsonl(tmp_path / "pool.jsonl", [{"text": "a", "kind": "q"}, {"text": "b", "kind": None}])
    message = plan_error(tmp_path, few_shot_recipe({"path": "pool.jsonl", "format": "{kind}: {text}"}))
    assert message.startswith("r.toml:prompt.few_shot.format: placeholder {kind} is null in few-shot row 2")


def test_binary_few_shot_examples_are_read_as_text(tmp_path):
    pq.write_table(pa.table({"text": pa.array([b"a real example"], pa.binary())}), tmp_path / "pool.parquet")
    assert prompts(tmp_path, few_shot_recipe({"path": "pool.parquet", "k": 1}))[0].startswith("a real example\n")


# --- 4. binary and nested seed values ------------------------------------------------------------------------

def test_binary_seed_values_are_decoded(tmp_path):
    pq.write_table(pa.table({"topic": pa.array([b"bin1", b"bin2"], pa.binary())}), tmp_path / "s.parquet")
    assert sorted(set(prompts(tmp_path, raw_recipe(file_seeds("s.parquet"))))) == ["Topic: bin1\n", "Topic: bin2\n"]


def test_binary_seed_values_that_are_not_utf8_are_refused(tmp_path):
    pq.write_table(pa.table({"topic": pa.array([b"ok", b"\xff\xfe"], pa.binary())}), tmp_path / "s.parquet")
    message = plan_error(tmp_path, raw_recipe(file_seeds("s.parquet")))
    assert message.startswith(f"r.toml:seeds.path: {tmp_path / 's.parquet'}: row 2: column 'topic' holds binary "
                              "data that is not UTF-8 text")


def test_nested_seed_values_render_as_json(tmp_path):
    records = [{"topic": ["a", "b"], "persona": {"name": "Ann", "age": 9}}]
    raw = raw_recipe({"type": "inline", "records": records}, template="Topic: {topic}; persona: {persona}\n")
    assert prompts(tmp_path, raw)[0] == 'Topic: ["a","b"]; persona: {"age":9,"name":"Ann"}\n'
    seeds = plan(tmp_path, raw).seeds
    assert seeds.requests.seeds[0].fields == records[0]  # the values themselves are kept (and hashed) as given


# --- 5. a split of a dataset without splits -------------------------------------------------------------------

def test_a_split_of_a_dataset_without_splits_is_refused(tmp_path):
    import datasets

    datasets.Dataset.from_list([{"topic": "a"}]).save_to_disk(str(tmp_path / "ds"))
    message = plan_error(tmp_path, raw_recipe({"type": "dataset", "path": "ds", "split": "test"}))
    assert message.startswith(f"r.toml:seeds.split: {tmp_path / 'ds'}: holds one dataset without splits, so split "
                              "'test' cannot be read (remove the split")


# --- 10. integers beyond 64 bits -------------------------------------------------------------------------------

def test_a_seed_integer_beyond_64_bits_is_one_line(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", [{"topic": "a", "n": 1}, {"topic": "b", "n": 2**64 - 1}])
    message = plan_error(tmp_path, raw_recipe(file_seeds("s.jsonl")))
    assert message.startswith(f"r.toml:seeds.path: field 'n' has an integer outside the 64-bit range a dataset "
                              f"column stores ({2**64 - 1})")


def test_a_uint64_parquet_seed_column_is_one_line(tmp_path):
    pq.write_table(pa.table({"topic": ["a"], "h": pa.array([2**63], pa.uint64())}), tmp_path / "s.parquet")
    message = plan_error(tmp_path, raw_recipe(file_seeds("s.parquet")))
    assert "field 'h' has an integer outside the 64-bit range" in message


# --- 11. long CSV fields ----------------------------------------------------------------------------------------

def test_a_csv_field_longer_than_the_csv_module_default_is_read(tmp_path):
    long = "word " * 40_000
    (tmp_path / "s.csv").write_text(f'topic,body\na,"{long}"\n')
    plan(tmp_path, raw_recipe(file_seeds("s.csv")))
    assert read_rows(tmp_path / "s.csv")[0]["body"] == long


# --- 18. seed files with no rows, and a jsonl file read as CSV -------------------------------------------------

@pytest.mark.parametrize("content, hint", [("", "add seed rows"),
                                           ("topic\n", "add seed rows under the CSV's header line")])
def test_an_empty_seed_file_names_its_path(tmp_path, content, hint):
    (tmp_path / "s.csv").write_text(content)
    assert plan_error(tmp_path, raw_recipe(file_seeds("s.csv"))) == \
        f"r.toml:seeds.path: {tmp_path / 's.csv'} has no rows ({hint})"


def test_jsonl_read_as_csv_names_the_format_setting(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", [{"topic": "alpha"}])
    message = plan_error(tmp_path, raw_recipe(file_seeds("s.jsonl", format="csv")))
    assert message.startswith(f"r.toml:seeds.format: {tmp_path / 's.jsonl'}: the CSV header looks like JSON")
    assert message.endswith("(set format = 'jsonl', or 'auto' to follow the extension)")
    assert "available" not in message


# --- the metrics and mix commands' hints ----------------------------------------------------------------------

def test_metrics_hints_speak_the_command_line(tmp_path):
    (tmp_path / "noext").write_text('{"text": "a"}\n')
    missing = invoke(metrics_command, tmp_path / "missing.jsonl", "--embedder", "none")
    assert missing.exit_code == 1 and "relative paths start at the current folder" in missing.output
    noext = invoke(metrics_command, tmp_path / "noext", "--embedder", "none")
    assert noext.exit_code == 1 and "set format" not in noext.output
    write_jsonl(tmp_path / "in.jsonl", [{"text": "a b c"}])
    ref = invoke(metrics_command, tmp_path / "in.jsonl", "--reference", tmp_path / "in.jsonl",
                 "--reference-text-field", "body", "--embedder", "none")
    assert ref.exit_code == 1 and "set --reference-text-field to one of ['text']" in ref.output


@pytest.mark.parametrize("rows, message", [
    ([], "no rows, so no text to measure"),
    ([{"text": 5}, {"text": None}], "no text to measure: none of its 2 rows has a non-blank string in 'text'"),
])
def test_metrics_without_any_text_fails_with_one_line(tmp_path, rows, message):
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    result = invoke(metrics_command, path, "--embedder", "none")
    assert result.exit_code == 1 and result.output.strip() == result.output.strip().splitlines()[0]
    assert f"Error: {path}: {message}" in result.output


def test_a_run_folder_is_pointed_at_its_data_parquet(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pq.write_table(pa.table({"text": ["a b c"]}), run / "data.parquet")
    write_jsonl(tmp_path / "real.jsonl", [{"text": "d e f"}])
    for result in (invoke(metrics_command, run, "--embedder", "none"),
                   invoke(mix_command, "--real", tmp_path / "real.jsonl", "--synthetic", run, "--out", tmp_path / "o")):
        assert result.exit_code == 1 and f"use {run / 'data.parquet'}, which holds the run's records" in result.output


def test_mix_warns_when_a_column_mixes_types_across_the_tables(tmp_path):
    real = write_jsonl(tmp_path / "r.jsonl", [{"text": "real one", "score": "high"},
                                              {"text": "real two", "score": "low"}])
    syn = write_jsonl(tmp_path / "s.jsonl", [{"text": "synthetic", "score": 0.5}])
    result = invoke(mix_command, "--real", real, "--synthetic", syn, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "column 'score' mixes value types (str, float) across rows: written as text, so 0.5 became '0.5'" \
        in result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert any("'score' mixes value types" in warning for warning in summary["warnings"])


def test_a_replay_file_error_survives_pickling():
    """Ray replicas send a failed load back pickled: the error keeps its key and hint."""
    import pickle

    from synthgen.backends.replay import ReplayFileError

    error = pickle.loads(pickle.dumps(ReplayFileError("saved.jsonl: row 1 has no 'text' field", "set it", "field")))
    assert (error.message, error.hint, error.key) == ("saved.jsonl: row 1 has no 'text' field", "set it", "field")
