"""`synthgen metrics`: the table, --json, bad input; and the diversity modules stay light on import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from helpers_diversity import corpus
from synthgen.diversity.cli import metrics_command


@pytest.fixture
def files(tmp_path):
    def write(name, texts, field="text"):
        path = tmp_path / name
        path.write_text("".join(json.dumps({field: t}) + "\n" for t in texts))
        return path

    return write


def invoke(*args):
    return CliRunner().invoke(metrics_command, [str(a) for a in args])


def test_table_with_ratios_to_the_reference(files):
    mine, real = files("mine.jsonl", corpus(120, 50, seed=2)), files("real.jsonl", corpus(200, 3000, seed=1))
    result = invoke(mine, "--reference", real, "--embedder", "tfidf")
    assert result.exit_code == 0, result.output
    assert "120 texts vs" in result.output and "ratio" in result.output
    line = next(line for line in result.output.splitlines() if line.startswith("distinct_2 "))
    assert len(line.split()) == 4  # metric value real ratio


def test_json_output(files):
    mine = files("mine.jsonl", corpus(60, 3000, seed=2), field="body")
    result = invoke(mine, "--json", "--text-field", "body", "--embedder", "none")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    rows = {row["metric"]: row for row in report["metrics"]}
    assert report["n"] == 60 and rows["distinct_2"]["value"] > 0.9 and rows["distinct_2"]["reference"] is None
    assert rows["vendi"]["value"] is None and rows["vendi"]["reason"] == "no embedder configured"


def test_not_computed_metrics_show_their_reason(files):
    result = invoke(files("mine.jsonl", ["too short"]), "--embedder", "none")
    assert result.exit_code == 0 and "need at least 200" in result.output


def test_a_dataset_in_a_trainer_format_is_measured_by_its_records_text(tmp_path):
    """messages / prompt_completion / preference rows have no ``text`` column: the default reads each
    record's text (the conversation as role: content lines), as reports do; it was an error."""
    texts = corpus(60, 3000, seed=2)
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "messages": [{"role": "user", "content": "Say something."},
                                                                   {"role": "assistant", "content": t}]}) + "\n"
                            for i, t in enumerate(texts)))
    result = invoke(path, "--json", "--embedder", "none")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["n"] == 60
    from synthgen.diversity.build import read_texts

    assert read_texts(path)[0] == f"user: Say something.\nassistant: {texts[0]}"
    assert read_texts(path, "messages") == read_texts(path), "an explicit conversation column reads the same"


def test_missing_field_and_missing_file_are_clear_errors(files, tmp_path):
    result = invoke(files("mine.jsonl", ["a"]), "--text-field", "body")
    assert result.exit_code == 1 and "no column 'body'" in result.output and "text" in result.output
    result = invoke(tmp_path / "nope.jsonl")
    assert result.exit_code == 1 and "file not found" in result.output


def test_help():
    result = invoke("--help")
    assert result.exit_code == 0 and "--reference" in result.output and "--json" in result.output


def test_diversity_modules_import_nothing_heavy():
    modules = ("metrics", "gate", "embed", "semantic_dedup", "select", "cli", "build", "remediate")
    code = (f"import sys; import synthgen.recipe.diversity_schema; "
            f"{'; '.join(f'import synthgen.diversity.{m}' for m in modules)}; print(' '.join(sys.modules))")
    loaded = {name.split(".")[0] for name in subprocess.run([sys.executable, "-c", code], capture_output=True,
                                                            text=True, check=True).stdout.split()}
    assert not loaded & {"torch", "sklearn", "sentence_transformers", "transformers", "scipy"}
