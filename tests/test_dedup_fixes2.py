"""``synthgen dedup`` fixes, second round: the history key of an input folder holding its own output, the
automatic shingle size, the input's column types, integers beyond int64, long CSV fields, deep JSON, history
error wording, compressed inputs, jsonl line endings, empty outputs, unusable text columns, empty
conversations and skipped reference rows."""

from __future__ import annotations

import csv
import datetime
import decimal
import json
import random
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.dedup.cli import dedup_command, run_dedup
from synthgen.errors import RecipeError, SynthgenError
from synthgen.tabular import read_rows
from test_dedup_streaming import WORDS, corpus, evidence, outputs, write_jsonl


def words(i: int, n: int = 12) -> str:
    rng = random.Random(i)
    return " ".join(rng.choices(WORDS, k=n)) + f" {i}"


def invoke(*args):
    return CliRunner().invoke(dedup_command, [str(a) for a in args])


def history_keys(folder):
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


# --- 7: an output folder inside the input folder is not part of the input ----------------------------------

def test_rerunning_with_the_output_inside_the_input_folder_keeps_its_rows(tmp_path):
    """The second run hashed its own outputs into the history key, so it matched the first run's entry and
    dropped every row as a history duplicate."""
    import datasets

    rows = [{"id": f"r{i}", "text": words(i % 40)} for i in range(60)]
    folder = tmp_path / "ds"
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    first = run_dedup(folder, folder / "dedup", history=tmp_path / "H", ngram="3", workers=1)
    kept = outputs(folder / "dedup")[0]
    second = run_dedup(folder, folder / "dedup", history=tmp_path / "H", ngram="3", workers=1)
    assert second.kept == first.kept == 40 and "history" not in json.dumps(second.summary()["reasons"])
    assert outputs(folder / "dedup")[0] == kept
    assert len(history_keys(tmp_path / "H")) == 1


def test_the_history_key_reads_only_the_data_files(tmp_path):
    import datasets

    from synthgen.dedup.cli import history_label

    folder = tmp_path / "ds"
    datasets.Dataset.from_list([{"text": words(i)} for i in range(5)]).save_to_disk(str(folder))
    label = history_label(folder, "text")
    (folder / "notes.txt").write_text("mine")
    assert history_label(folder, "text") == label
    (folder / "out").mkdir()
    (folder / "out" / "kept.parquet").write_bytes(b"x")
    assert history_label(folder, "text", folder / "out") == label
    datasets.Dataset.from_list([{"text": words(i)} for i in range(6)]).save_to_disk(str(tmp_path / "other"))
    assert history_label(tmp_path / "other", "text") != label


# --- 8: the automatic shingle size comes from the input -----------------------------------------------------

def test_auto_ngram_is_decided_by_the_input_not_by_the_against_texts(tmp_path):
    rows = [{"id": f"r{i}", "text": words(i % 150, 60)} for i in range(200)]
    rows += [{"id": f"n{i}", "text": words(i, 60)[:-3] + " changed words here"} for i in range(30)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    tiny = write_jsonl(tmp_path / "tiny.jsonl", [{"text": "tiny real text"}])
    alone = run_dedup(source, tmp_path / "a", workers=1)
    against = run_dedup(source, tmp_path / "b", against=(tiny,), workers=1)
    assert alone.settings["dedup"]["ngram"] == against.settings["dedup"]["ngram"] == 5
    assert outputs(tmp_path / "a")[0] == outputs(tmp_path / "b")[0]
    assert against.settings["dedup"]["scopes"]["real"] == 1


def test_the_engine_lets_reference_texts_wait_for_the_checked_texts():
    """A recipe's dedup stage: the first generated batch fixes the size, real texts are sketched with it and
    still come before history; a word-less text still meets its exact copy in the real data."""
    from synthgen.dedup.deduplicator import Deduplicator, DedupParams

    long_text = " ".join(["word"] * 30 + [f"w{i}" for i in range(40)])
    engine = Deduplicator(DedupParams())
    engine.add_reference_texts("real", ["r0", "r1"], ["a short one", long_text])
    assert engine.ngram_ is None and engine.describe()["scopes"] == {"real": 2, "run": 0}
    verdicts = engine.check(["c0", "c1"], [long_text.upper(), long_text + " more words"])
    assert engine.ngram_ == 5 and [(v.scope, v.matched_id) for v in verdicts] == [("real", "r1"), ("real", "r1")]
    punct = Deduplicator(DedupParams())
    punct.add_reference_texts("real", ["p"], ["!!! ???"])
    assert punct.check(["x"], ["!!!   ???"])[0].matched_id == "p"


# --- 9, 10, 20: the input's column types, big integers, empty outputs ---------------------------------------

def typed_table(n: int = 40, big: bool = False):
    texts = [words(i % 25) for i in range(n)]
    stamps = [datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc) for _ in range(n)]
    return pa.table({
        "text": pa.array(texts, pa.string()),
        "ts": pa.array([int(s.timestamp() * 1e9) + i for i, s in enumerate(stamps)], pa.timestamp("ns", tz="UTC")),
        "i8": pa.array([i % 100 for i in range(n)], pa.int8()),
        "f32": pa.array([i + 0.1 for i in range(n)], pa.float32()),
        "cat": pa.array([("x", "y")[i % 2] for i in range(n)], pa.string()).dictionary_encode(),
        "dec": pa.array([decimal.Decimal(f"{i}.25") for i in range(n)], pa.decimal128(10, 2)),
    } | ({"big": pa.array([2**64 - 1 - i for i in range(n)], pa.uint64())} if big else {}))


@pytest.mark.parametrize("workers", [1, 2])
def test_parquet_outputs_keep_the_input_schema_and_values(tmp_path, workers):
    table = typed_table()
    pq.write_table(table, tmp_path / "in.parquet")
    result = run_dedup(tmp_path / "in.parquet", tmp_path / "o", workers=workers, chunk_rows=16)
    kept, rejected = pq.read_table(tmp_path / "o" / "kept.parquet"), pq.read_table(tmp_path / "o" / "rejected.parquet")
    assert result.kept == 25 and kept.schema.equals(table.schema) and kept.equals(table.slice(0, 25))
    assert rejected.schema.names == table.schema.names + ["dedup_reason", "dedup_scope", "dedup_matched_id",
                                                         "dedup_score", "dedup_evidence"]
    assert rejected.select(table.schema.names).equals(table.slice(25))
    assert rejected.schema.field("dedup_score").type == pa.float64()


def test_a_parquet_uint64_column_beyond_int64(tmp_path):
    table = typed_table(30, big=True)
    pq.write_table(table, tmp_path / "in.parquet")
    run_dedup(tmp_path / "in.parquet", tmp_path / "o", workers=1)
    assert pq.read_table(tmp_path / "o" / "kept.parquet").equals(table.slice(0, 25))


def test_integers_beyond_int64_are_kept_and_the_history_written(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "a b c", "u": 1, "n": 1}\n{"text": "d e f", "u": 18446744073709551615, '
                      '"n": 123456789012345678901234567890}\n{"text": "g h i", "u": 2, "n": -1}\n')
    run_dedup(source, tmp_path / "o", history=tmp_path / "H", workers=1)
    kept = pq.read_table(tmp_path / "o" / "kept.parquet")
    assert kept.schema.field("u").type == pa.uint64() and kept.column("u").to_pylist() == [1, 2**64 - 1, 2]
    assert kept.column("n").to_pylist() == ["1", "123456789012345678901234567890", "-1"], "as JSON text"
    assert len(history_keys(tmp_path / "H")) == 1


def test_a_run_that_fails_writing_its_outputs_leaves_the_history_alone(tmp_path, monkeypatch):
    from synthgen.dedup import streaming

    def fail(job):
        raise RuntimeError("disk full")

    monkeypatch.setattr(streaming, "write_chunk", fail)
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": words(i)} for i in range(10)])
    with pytest.raises(RuntimeError, match="disk full"):
        run_dedup(source, tmp_path / "o", history=tmp_path / "H", workers=1)
    assert not (tmp_path / "H").exists() or not history_keys(tmp_path / "H")


def test_empty_inputs_keep_their_columns(tmp_path):
    table = typed_table(0)
    pq.write_table(table, tmp_path / "empty.parquet")
    run_dedup(tmp_path / "empty.parquet", tmp_path / "p", workers=1)
    assert pq.read_schema(tmp_path / "p" / "kept.parquet").equals(table.schema)
    assert pq.read_schema(tmp_path / "p" / "rejected.parquet").names[:len(table.schema)] == table.schema.names
    (tmp_path / "header.csv").write_text("id,text,note\n")
    run_dedup(tmp_path / "header.csv", tmp_path / "c", workers=1)
    assert pq.read_schema(tmp_path / "c" / "kept.parquet").names == ["id", "text", "note"]


def test_when_every_row_is_dropped_kept_keeps_the_column_types(tmp_path):
    table = typed_table(10)
    pq.write_table(table, tmp_path / "in.parquet")
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": t} for t in table.column("text").to_pylist()])
    run_dedup(tmp_path / "in.parquet", tmp_path / "p", against=(real,), workers=1)
    assert pq.read_table(tmp_path / "p" / "kept.parquet").num_rows == 0
    assert pq.read_schema(tmp_path / "p" / "kept.parquet").equals(table.schema)
    texts = table.column("text").to_pylist()
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": t, "n": i} for i, t in enumerate(texts)])
    run_dedup(source, tmp_path / "j", against=(real,), workers=1)
    assert pq.read_schema(tmp_path / "j" / "kept.parquet").field("n").type == pa.int64()


# --- 11, 12: a long CSV field, deeply nested JSON -----------------------------------------------------------

def test_a_csv_field_longer_than_the_csv_modules_default_limit(tmp_path):
    path = tmp_path / "long.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([["id", "text"], ["a", "word " * 40000], ["b", "other words"]])
    assert run_dedup(path, tmp_path / "o", workers=1).kept == 2


def test_deeply_nested_json_is_one_line_naming_the_line(tmp_path):
    source = tmp_path / "deep.jsonl"
    source.write_text('{"text": "a b c"}\n{"text": "d e f", "x": ' + "[" * 100000 + "]" * 100000 + "}\n")
    result = invoke(source, "--out", tmp_path / "o", "--workers", "1")
    assert result.exit_code == 1 and f"{source}:2: JSON nested too deeply" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


# --- 16: history errors name the caller's option ------------------------------------------------------------

def built_history(tmp_path, ngram: str = "3"):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": words(i)} for i in range(5)])
    run_dedup(source, tmp_path / "o0", history=tmp_path / "H", ngram=ngram, workers=1)
    return source


def test_history_errors_name_the_recipe_key(tmp_path):
    from synthgen.dedup import build_dedup_stages
    from synthgen.plan.model import RecipeContext
    from synthgen.recipe.dedup_schema import DedupConfig

    built_history(tmp_path)
    context = RecipeContext("r.toml", tmp_path, hash="abc")
    with pytest.raises(RecipeError) as error:
        build_dedup_stages(DedupConfig(history="H", ngram=5), context)
    assert str(error.value).startswith(f"r.toml:dedup.ngram: the history index {tmp_path / 'H'} was built with "
                                       "ngram=3, the recipe has 5")
    assert "point dedup.history at a new folder" in error.value.hint
    (tmp_path / "H" / "index.json").write_text("{oops")
    with pytest.raises(RecipeError, match=r"^r.toml:dedup.history: .*index.json: corrupt dedup history index"):
        build_dedup_stages(DedupConfig(history="H"), context)


def test_history_errors_name_the_command_line_flags_and_the_python_keywords(tmp_path):
    source = built_history(tmp_path)
    result = invoke(source, "--out", tmp_path / "o", "--history", tmp_path / "H", "--ngram", "5")
    assert result.exit_code == 1, result.output
    assert f"--history {tmp_path / 'H'}: the index was built with ngram=3, not --ngram 5" in result.output
    assert "pass --ngram 3, or point --history at a new folder" in result.output
    assert "recipe" not in result.output and "[dedup]" not in result.output
    with pytest.raises(SynthgenError) as error:
        run_dedup(source, tmp_path / "o", history=tmp_path / "H", num_perm=64)
    assert "the index was built with num_perm=128, not num_perm=64" in error.value.message
    assert error.value.hint == "pass num_perm=128, or point history at a new folder"
    (tmp_path / "H" / "index.json").write_text("{oops")
    result = invoke(source, "--out", tmp_path / "o", "--history", tmp_path / "H")
    assert result.exit_code == 1 and result.output.startswith("Error: --history: ") and "corrupt" in result.output


# --- 17: compressed and unknown files -----------------------------------------------------------------------

def test_unreadable_extensions_get_dedups_own_hint(tmp_path):
    gz = tmp_path / "in.jsonl.gz"
    gz.write_bytes(b"\x1f\x8b")
    good = write_jsonl(tmp_path / "in.jsonl", [{"text": "a b c"}])
    for args in ([gz], [good, "--against", gz]):
        result = invoke(*args, "--out", tmp_path / "o")
        assert result.exit_code == 1 and "decompress it first" in result.output, result.output
        assert "set format" not in result.output
    (tmp_path / "in.txt").write_text("{}")
    result = invoke(tmp_path / "in.txt", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "set format" not in result.output and ".jsonl, .json, .csv" in result.output


# --- 19: jsonl read as the row reader reads it --------------------------------------------------------------

@pytest.mark.parametrize("content", [b'{"text": "one two three"}\r{"text": "four five six"}\r',
                                     b'\xef\xbb\xbf\n{"text": "one two three"}\n',
                                     b'{"text": "x y z"}\n\xc2\xa0\n{"text": "a b c"}\n\xe2\x80\x83\t\r\n'])
def test_jsonl_the_seed_reader_accepts(tmp_path, content):
    path = tmp_path / "in.jsonl"
    path.write_bytes(content)
    result = run_dedup(path, tmp_path / "o", workers=1)
    assert result.rows == len(read_rows(path)) and result.kept == result.rows


@pytest.mark.parametrize("block_bytes", [1, 2, 7, 1 << 22])
def test_chunks_of_mixed_line_endings_hold_the_row_readers_rows_and_line_numbers(tmp_path, monkeypatch, block_bytes):
    from synthgen.dedup import chunks

    monkeypatch.setattr(chunks, "_BLOCK_BYTES", block_bytes)
    rng = random.Random(block_bytes)
    for trial in range(30):
        lines = [rng.choice(["", " ", "\u00a0", "\u2003 ", "\t"]) if rng.random() < 0.25 else json.dumps({"i": i})
                 for i in range(rng.randint(0, 25))]
        ends = [rng.choice(["\n", "\r", "\r\n"]) for _ in lines]
        text = "".join(line + end for line, end in zip(lines, ends))
        path = tmp_path / f"t{trial}.jsonl"
        path.write_bytes((b"\xef\xbb\xbf" if rng.random() < 0.3 else b"") + text.encode())
        size = rng.randint(1, 5)
        got = [row["i"] for chunk in chunks.iter_chunks(path, size) for row in chunks.decode(chunk, str(path))]
        assert got == [row["i"] for row in read_rows(path)]
        if got:
            broken = rng.choice([n for n, line in enumerate(lines, 1) if line.startswith("{")])
            path.write_text("".join(("{oops" if n == broken else line) + end
                                    for n, (line, end) in enumerate(zip(lines, ends), 1)), newline="")
            with pytest.raises(SynthgenError, match=f"{re.escape(str(path))}:[0-9]+: invalid JSON") as expected:
                read_rows(path)  # its number: "\r" then "\n" of the next line make one line break
            with pytest.raises(SynthgenError) as error:
                for chunk in chunks.iter_chunks(path, size):
                    chunks.decode(chunk, str(path))
            assert error.value.message == expected.value.message


# --- 21, 22: no usable text, empty conversations ------------------------------------------------------------

def test_an_input_without_any_text_is_an_error_naming_the_column(tmp_path):
    pq.write_table(pa.table({"text": pa.array([b"\x00\x01", b"", b"x"], pa.binary()), "body": ["a", "b", "c"]}),
                   tmp_path / "bin.parquet")
    result = invoke(tmp_path / "bin.parquet", "--out", tmp_path / "o")
    assert result.exit_code == 1, result.output
    assert "none of its 3 rows has text in 'text' (its values are bytes, not text)" in result.output
    assert "--text-field" in result.output and not (tmp_path / "o").exists()
    with pytest.raises(SynthgenError) as error:
        run_dedup(tmp_path / "bin.parquet", tmp_path / "o")
    assert "text_field" in error.value.hint and "--text-field" not in error.value.hint
    some = write_jsonl(tmp_path / "some.jsonl", [{"text": 7}, {"text": "a b c"}])
    assert run_dedup(some, tmp_path / "s", workers=1).reasons["invalid_text"] == 1


def test_empty_conversations_are_missing_text_alike(tmp_path):
    rows = [{"id": "none", "messages": []}, {"id": "blank", "messages": [{"role": "user", "content": ""}]},
            {"id": "ok", "messages": [{"role": "user", "content": "hello there friend"}]}]
    run_dedup(write_jsonl(tmp_path / "c.jsonl", rows), tmp_path / "o", text_field="messages", workers=1)
    rejected = outputs(tmp_path / "o")[1]
    assert {row["id"]: row["dedup_reason"] for row in rejected} == {"none": "missing_text", "blank": "missing_text"}


# --- 23: skipped reference rows are reported ----------------------------------------------------------------

def test_reference_rows_without_usable_text_are_reported(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"text": words(i)} for i in range(5)])
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": "real one two three"}, {"text": None}, {"text": ""},
                                                 {"nottext": "x"}])
    evals = write_jsonl(tmp_path / "eval.jsonl", [{"text": words(99, 20)}, {"text": 5}])
    result = invoke(source, "--out", tmp_path / "o", "--against", real, "--eval", evals)
    assert result.exit_code == 0, result.output
    assert "--against: skipped 3 rows without usable text in 'text'" in result.output
    assert "--eval: skipped 1 row without usable text in 'text'" in result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["settings"]["dedup"]["skipped_no_text"] == {"real": 3}
    assert summary["settings"]["dedup"]["scopes"]["real"] == 1
    assert summary["settings"]["decontam"]["skipped_no_text"] == 1


def test_the_engine_and_the_decontaminator_count_skipped_reference_rows():
    from synthgen.dedup.decontam import Decontaminator
    from synthgen.dedup.deduplicator import Deduplicator, DedupParams

    engine = Deduplicator(DedupParams(ngram=3))
    engine.add_reference_texts("real", ["r0"], ["some real text here"], skipped=2)
    assert engine.describe()["skipped_no_text"] == {"real": 2}
    assert "skipped_no_text" not in Deduplicator(DedupParams()).describe()
    decontaminator = Decontaminator()
    decontaminator.add_eval(["e0"], [words(1, 20)], "eval.jsonl", skipped=1)
    assert decontaminator.describe()["skipped_no_text"] == 1


# --- parallel runs keep the same rows -----------------------------------------------------------------------

def test_parallel_runs_keep_the_single_worker_rows_with_the_new_inputs(tmp_path):
    rows = corpus(300, seed=11) + [{"id": "conv", "text": []}, {"id": "big", "text": "a b c", "n": 2**64 - 1}]
    text = "".join(json.dumps(row) + rng_end for row, rng_end in zip(rows, ["\n", "\r", "\r\n"] * len(rows)))
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\xef\xbb\xbf" + text.encode())
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": "tiny real text"}, {"text": rows[5]["text"]}])
    one = run_dedup(source, tmp_path / "w1", against=(real,), workers=1, chunk_rows=40)
    two = run_dedup(source, tmp_path / "w2", against=(real,), workers=2, chunk_rows=40)
    assert one.rows == len(rows) and one.kept == two.kept
    (kept_a, rejected_a), (kept_b, rejected_b) = outputs(tmp_path / "w1"), outputs(tmp_path / "w2")
    assert kept_a == kept_b and evidence(rejected_a) == evidence(rejected_b)


def test_deeply_nested_json_in_any_table_read_names_the_line(tmp_path):
    """Seeds, references and mix inputs read jsonl through the same line reader as dedup."""
    from synthgen.errors import SynthgenError
    from synthgen.tabular import read_rows

    source = tmp_path / "deep.jsonl"
    source.write_text('{"text": "a b c"}\n{"text": "d e f", "x": ' + "[" * 100000 + "]" * 100000 + "}\n")
    with pytest.raises(SynthgenError) as info:
        read_rows(source)
    assert str(info.value).startswith(f"{source}:2: JSON nested too deeply to read")
