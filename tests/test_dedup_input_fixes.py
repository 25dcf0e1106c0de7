"""``synthgen dedup`` inputs that were misread or taken silently: a conversation column with a plain-string
row, a ``--history`` folder that is not an index, ``--against`` / ``--eval`` naming the input, repeated ids,
a saved DatasetDict, a truncated JSON line and a CSV quote never closed."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.dedup.cli import dedup_command, run_dedup
from synthgen.errors import SynthgenError
from synthgen.tabular import read_rows

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def text(i: int) -> str:
    """A distinct sentence per ``i`` (no two are near duplicates)."""
    return " ".join(f"{WORDS[(i * 7 + k) % len(WORDS)]}{i}x{k}" for k in range(12))


def conversation(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": "q"}, {"role": "assistant", "content": text(i)}]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)


def summary(out) -> dict:
    return json.loads((out / "summary.json").read_text())


# --- 1: a conversation column with one plain-string row -----------------------------------------------

def test_a_conversation_column_with_a_plain_string_row_warns_that_kept_parquet_holds_text(tmp_path):
    rows = [{"id": i, "messages": conversation(i)} for i in range(30)]
    rows[2]["messages"] = "plain string text here"
    source = write_jsonl(tmp_path / "cm.jsonl", rows)
    result = invoke(dedup_command, source, "--text-field", "messages", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    warning = ("column 'messages' mixes value types (list, str) across the kept rows: kept.parquet stores it as "
               "JSON text for every row")
    assert f"Warning: {warning}" in result.stderr
    assert summary(tmp_path / "o")["warnings"][0].startswith(warning)
    kept = pq.read_table(tmp_path / "o" / "kept.parquet")
    assert kept.schema.field("messages").type == pa.string()
    assert json.loads(kept.column("messages")[0].as_py()) == conversation(0)  # the values are all there
    assert kept.schema.metadata is None  # the parts' note on text columns stays out of the output


def test_a_mixed_column_spread_over_chunks_warns_too_and_a_typed_one_does_not(tmp_path):
    rows = [{"id": i, "messages": conversation(i)} for i in range(6)] + [{"id": 6, "messages": "plain words here"}]
    source = write_jsonl(tmp_path / "cm.jsonl", rows)
    result = run_dedup(source, tmp_path / "o", text_field="messages", workers=1, chunk_rows=2)  # one type a chunk
    assert result.summary()["warnings"] == summary(tmp_path / "o")["warnings"]
    assert "column 'messages' mixes value types (list, str)" in result.summary()["warnings"][0]
    only_conversations = write_jsonl(tmp_path / "ok.jsonl", rows[:6])
    result = run_dedup(only_conversations, tmp_path / "o2", text_field="messages", workers=1, chunk_rows=2)
    assert result.summary()["warnings"] == []
    assert pa.types.is_list(pq.read_schema(tmp_path / "o2" / "kept.parquet").field("messages").type)


def test_the_in_memory_dedup_warns_about_a_mixed_kept_column_as_the_command_does(tmp_path):
    from synthgen.dedup import Deduplicator, dedup_rows

    rows = [{"id": i, "messages": conversation(i)} for i in range(3)] + [{"id": 3, "messages": "plain words"}]
    result = dedup_rows(rows, Deduplicator(), text_field="messages")
    assert result.summary()["warnings"][0].startswith("column 'messages' mixes value types (list, str)")


# --- 2: --history DIR that is not a history index ------------------------------------------------------

def test_history_refuses_a_folder_with_other_files(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": text(i)} for i in range(5)])
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("mine")
    result = invoke(dedup_command, source, "--out", tmp_path / "o", "--history", notes)
    assert result.exit_code == 1
    assert (f"Error: --history: {notes}: not a dedup history index (no index.json), and not empty: holds notes.txt"
            in result.output)
    assert "point the history at a new or empty folder" in result.output
    assert sorted(p.name for p in notes.iterdir()) == ["notes.txt"] and not (tmp_path / "o").exists()


def test_history_refuses_an_earlier_dedup_out_folder_and_takes_an_empty_one(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": text(i)} for i in range(5)])
    assert invoke(dedup_command, source, "--out", tmp_path / "earlier").exit_code == 0
    result = invoke(dedup_command, source, "--out", tmp_path / "o", "--history", tmp_path / "earlier")
    assert result.exit_code == 1 and "(a synthgen dedup --out folder?)" in result.output
    assert not (tmp_path / "earlier" / "index.json").exists()
    (tmp_path / "empty").mkdir()
    assert invoke(dedup_command, source, "--out", tmp_path / "o", "--history", tmp_path / "empty").exit_code == 0
    assert (tmp_path / "empty" / "index.json").is_file()
    again = invoke(dedup_command, source, "--out", tmp_path / "o2", "--history", tmp_path / "empty")
    assert again.exit_code == 0, again.output  # an index, once written, is a history


# --- 3: --against / --eval naming the input ------------------------------------------------------------

@pytest.mark.parametrize("flag,why", [("--against", "every row would match its own copy there"),
                                      ("--eval", "every row would count as eval contamination")])
def test_a_reference_that_is_the_input_itself_is_refused(tmp_path, monkeypatch, flag, why):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "in.jsonl", [{"text": text(i)} for i in range(5)])
    os.symlink(tmp_path / "in.jsonl", tmp_path / "link.jsonl")
    for spelling in ("./in.jsonl", tmp_path / "in.jsonl", "link.jsonl"):
        result = invoke(dedup_command, "in.jsonl", "--out", tmp_path / "o", flag, spelling)
        assert result.exit_code == 1, result.output
        assert f"is the input itself: {why}" in result.output and result.output.startswith(f"Error: {flag} ")
    assert not (tmp_path / "o").exists()


def test_run_dedup_names_its_keyword_for_a_reference_that_is_the_input(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": text(i)} for i in range(5)])
    with pytest.raises(SynthgenError) as error:
        run_dedup(source, tmp_path / "o", eval_sets=(source,))
    assert error.value.message.startswith(f"eval_sets={str(source)!r} is the input itself")


def test_an_unset_automatic_ngram_is_shown_as_such_not_as_none(tmp_path):
    rows = [{"text": text(i)} for i in range(5)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    copy = write_jsonl(tmp_path / "eval.jsonl", rows)  # every row is contaminated: none reaches the engine
    result = invoke(dedup_command, source, "--out", tmp_path / "o", "--eval", copy)
    assert result.exit_code == 0, result.output
    assert "0 kept" in result.output and "ngram=None" not in result.output
    assert "ngram=auto (unset: no row with words reached the duplicate check)" in result.output


# --- 4: repeated ids -----------------------------------------------------------------------------------

def test_repeated_ids_warn_and_the_evidence_names_the_matched_row(tmp_path):
    rows = [{"id": i % 3, "text": text(i % 5)} for i in range(30)]
    source = write_jsonl(tmp_path / "dup.jsonl", rows)
    result = invoke(dedup_command, source, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    warning = "ids are not unique: 30 of 30 rows share their id with another row (id '0' names 10 rows)"
    assert f"Warning: {warning}" in result.stderr
    assert summary(tmp_path / "o")["warnings"][0].startswith(warning)
    for row in pq.read_table(tmp_path / "o" / "rejected.parquet").to_pylist():
        evidence = json.loads(row["dedup_evidence"])
        matched = rows[evidence["matched_row"]]
        assert str(matched["id"]) == row["dedup_matched_id"] and matched["text"] == row["text"]


def test_unique_ids_give_no_warning_and_no_row_number(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": text(i % 2)} for i in range(4)])
    result = run_dedup(source, tmp_path / "o", workers=1)
    assert result.summary()["warnings"] == []
    evidence = [json.loads(row["dedup_evidence"]) for row in pq.read_table(tmp_path / "o" / "rejected.parquet").to_pylist()]
    assert evidence and all("matched_row" not in item for item in evidence)


# --- 5: a saved DatasetDict ----------------------------------------------------------------------------

@pytest.fixture
def dataset_dict(tmp_path):
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_list([{"text": text(1)}]),
                          "test": datasets.Dataset.from_list([{"text": text(2)}])}).save_to_disk(str(tmp_path / "dd"))
    return tmp_path / "dd"


def test_a_dataset_dict_hint_names_a_split_folder_and_no_recipe_key_on_the_command_line(tmp_path, dataset_dict):
    from synthgen.diversity.cli import metrics_command
    from synthgen.mix.cli import mix_command

    real = write_jsonl(tmp_path / "real.jsonl", [{"text": text(3)}])
    results = [invoke(dedup_command, dataset_dict, "--out", tmp_path / "o"),
               invoke(dedup_command, real, "--out", tmp_path / "o", "--against", dataset_dict),
               invoke(metrics_command, dataset_dict, "--embedder", "none"),
               invoke(mix_command, "--real", real, "--synthetic", dataset_dict, "--out", tmp_path / "m")]
    for result in results:
        assert result.exit_code == 1, result.output
        assert f"read one split's folder, e.g. {dataset_dict / 'test'}" in result.output
        assert "recipe" not in result.output


def test_a_recipe_reader_still_names_the_split_key(dataset_dict):
    with pytest.raises(SynthgenError) as error:
        read_rows(dataset_dict)  # a recipe's reader (paths relative to the recipe's folder)
    assert "or set a recipe source's split" in error.value.hint


# --- 6: a truncated JSON line --------------------------------------------------------------------------

def test_a_truncated_json_line_says_where_the_json_breaks(tmp_path):
    good = "".join(json.dumps({"id": i, "text": text(i)}) + "\n" for i in range(3))
    source = tmp_path / "trunc.jsonl"
    source.write_text(good + '{"id": 3, "text": "cut o')
    result = invoke(dedup_command, source, "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert f"Error: {source}:4: invalid JSON: Unterminated string starting at column 19" in result.output
    with pytest.raises(SynthgenError) as error:
        read_rows(source)
    assert error.value.message == f"{source}:4: invalid JSON: Unterminated string starting at column 19"
    source.write_text(good + '{"id": 3, "text" "x"}\n')
    with pytest.raises(SynthgenError) as error:
        read_rows(source)
    assert error.value.message == f"{source}:4: invalid JSON: Expecting ':' delimiter at column 18"


# --- 7: CSV quoting ------------------------------------------------------------------------------------

def test_a_csv_quote_never_closed_is_an_error_naming_its_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('topic\na\n"b\nc\nd\n')
    result = invoke(dedup_command, bad, "--text-field", "topic", "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert f"Error: {bad}:3: a quoted field that starts on this line is never closed" in result.output
    with pytest.raises(SynthgenError, match=r"bad\.csv:3: a quoted field that starts on this line is never closed"):
        read_rows(bad)


def test_text_after_a_closing_quote_is_an_error_naming_its_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('topic,n\na,1\n"b"c,2\n')
    with pytest.raises(SynthgenError, match=r'bad\.csv:3: text after a field\'s closing quote'):
        read_rows(bad)


def test_valid_csv_quirks_still_read(tmp_path):
    good = tmp_path / "good.csv"
    good.write_bytes('\ufefftopic,note\r\n"a, b","he said ""hi"""\r\n"two\nlines",\r\nplain,5" screen\r\n'
                     .encode("utf-8"))
    assert read_rows(good) == [{"topic": "a, b", "note": 'he said "hi"'}, {"topic": "two\nlines", "note": ""},
                               {"topic": "plain", "note": '5" screen'}]
