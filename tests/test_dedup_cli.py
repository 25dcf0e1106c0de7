"""``synthgen dedup`` (the click command object) on jsonl / csv / parquet / saved datasets, and bad input."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.dedup.cli import dedup_command

A = "Rivers carve canyons slowly over millions of years of flowing water"
B = "Bread rises because yeast turns sugar into carbon dioxide gas bubbles"
ROWS = [{"id": "a", "text": A}, {"id": "b", "text": B}, {"id": "c", "text": A.upper()},
        {"id": "d", "text": B + " again"}, {"id": "e", "text": None}, {"id": "f", "text": 42},
        {"id": "g"}, {"id": "h", "text": "   "}]


def invoke(*args):
    return CliRunner().invoke(dedup_command, [str(a) for a in args], catch_exceptions=False)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_help():
    result = invoke("--help")
    assert result.exit_code == 0 and "--against" in result.output and "--threshold" in result.output


def test_jsonl_with_bad_rows_writes_kept_and_rejected_with_reasons(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", ROWS)
    result = invoke(source, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "8 rows: 2 kept, 6 dropped" in result.output
    kept = pq.read_table(tmp_path / "out" / "kept.parquet").to_pylist()
    rejected = {row["id"]: row for row in pq.read_table(tmp_path / "out" / "rejected.parquet").to_pylist()}
    assert [row["id"] for row in kept] == ["a", "b"]
    assert {k: v["dedup_reason"] for k, v in rejected.items()} == {
        "c": "exact_duplicate", "d": "near_duplicate", "e": "missing_text", "f": "invalid_text",
        "g": "missing_text", "h": "empty_text"}
    assert rejected["d"]["dedup_matched_id"] == "b" and rejected["d"]["dedup_score"] >= 0.8
    assert json.loads(rejected["f"]["dedup_evidence"])["type"] == "int"
    assert rejected["f"]["text"] == "42"  # a mixed-type column is kept as text, not lost
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["kept"] == 2 and summary["settings"]["dedup"]["bands"] == 14


def test_csv_parquet_and_saved_dataset_inputs_against_a_reference(tmp_path):
    import datasets

    with (tmp_path / "in.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["body"])
        writer.writeheader()
        writer.writerows([{"body": A}, {"body": B}])
    write_jsonl(tmp_path / "real.jsonl", [{"content": A}])
    result = invoke(tmp_path / "in.csv", "--out", tmp_path / "o1", "--text-field", "body",
                    "--against", tmp_path / "real.jsonl", "--against-field", "content")
    assert "2 rows: 1 kept, 1 dropped (exact_duplicate 1)" in result.output
    rejected = pq.read_table(tmp_path / "o1" / "rejected.parquet").to_pylist()
    assert rejected[0]["dedup_scope"] == "real" and rejected[0]["dedup_matched_id"] == "real.jsonl:0"

    datasets.Dataset.from_list([{"text": A}, {"text": A + " too"}]).save_to_disk(str(tmp_path / "ds"))
    pq.write_table(pq.read_table(tmp_path / "o1" / "kept.parquet"), tmp_path / "in.parquet")
    assert "1 dropped" in invoke(tmp_path / "ds", "--out", tmp_path / "o2").output
    assert "1 rows: 1 kept" in invoke(tmp_path / "in.parquet", "--out", tmp_path / "o3", "--text-field", "body").output


def test_eval_decontamination_and_history(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", ROWS[:4])
    write_jsonl(tmp_path / "eval.jsonl", [{"q": "yeast turns sugar into carbon dioxide gas bubbles"}])
    result = invoke(source, "--out", tmp_path / "o", "--eval", tmp_path / "eval.jsonl", "--eval-field", "q",
                    "--history", tmp_path / "hist")
    assert "eval_contamination 2" in result.output
    other = write_jsonl(tmp_path / "other.jsonl", [{"text": A + " today"}])
    result = invoke(other, "--out", tmp_path / "o2", "--history", tmp_path / "hist")
    rejected = pq.read_table(tmp_path / "o2" / "rejected.parquet").to_pylist()
    assert rejected[0]["dedup_scope"] == "history" and rejected[0]["dedup_matched_id"] == "a"


@pytest.mark.parametrize("args,message", [
    (["--text-field", "body"], "no 'body' column"),
    (["--ngram", "x"], "--ngram"),
    (["--threshold", "2"], "--threshold"),
])
def test_bad_options_are_clear_errors(tmp_path, args, message):
    source = write_jsonl(tmp_path / "in.jsonl", ROWS[:2])
    result = invoke(source, "--out", tmp_path / "o", *args)
    assert result.exit_code in (1, 2) and message in result.output


def test_unreadable_input_and_corrupt_history_are_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    result = invoke(bad, "--out", tmp_path / "o")
    assert result.exit_code == 1 and "invalid JSON" in result.output
    (tmp_path / "hist").mkdir()
    (tmp_path / "hist" / "index.json").write_text("[]")
    result = invoke(write_jsonl(tmp_path / "in.jsonl", ROWS[:2]), "--out", tmp_path / "o", "--history", tmp_path / "hist")
    assert result.exit_code == 1 and "corrupt dedup history" in result.output
    assert not (tmp_path / "o" / "kept.parquet").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_line_that_is_not_utf8_is_one_line_naming_it(tmp_path, workers):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(json.dumps(ROWS[0]).encode() + b"\n\n" + b'{"id": "x", "text": "caf\xe9"}\n')
    result = invoke(bad, "--out", tmp_path / "o", "--workers", workers)
    assert result.exit_code == 1
    assert f"{bad}:3: not UTF-8 text" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o" / "kept.parquet").exists()
