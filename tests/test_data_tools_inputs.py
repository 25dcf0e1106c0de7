"""Inputs of the standalone data tools (``synthgen dedup``, ``mix``, ``metrics``, ``corpus``) that used to be
lost silently or crash: conversation references, history batches at one path, an earlier mix as real data,
``{}`` columns, byte-order marks, rows without text, unreadable files, ``--out`` through a file."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.dedup.cli import dedup_command
from synthgen.diversity.cli import metrics_command
from synthgen.mix import OVER_MIX_CAP, Mixer
from synthgen.mix.cli import mix_command

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def text(i: int) -> str:
    """A distinct sentence per ``i`` (no two share a 3-gram run long enough to be near duplicates)."""
    return " ".join(f"{WORDS[(i * 7 + k) % len(WORDS)]}{i}x{k}" for k in range(12))


def write_jsonl(path, rows, prefix: str = ""):
    path.write_text(prefix + "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)


def conversation(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"question {text(i)}"}, {"role": "assistant", "content": f"answer {i}"}]


# --- 1: conversation references ---------------------------------------------------------------------

@pytest.mark.parametrize("option, reason", [("--against", "exact_duplicate"), ("--eval", "eval_contamination")])
def test_a_conversation_reference_drops_copies(tmp_path, option, reason):
    real = write_jsonl(tmp_path / "real.jsonl", [{"id": i, "messages": conversation(i)} for i in range(5)])
    syn = write_jsonl(tmp_path / "syn.jsonl", [{"id": 100 + i, "messages": conversation(10 + i)} for i in range(5)]
                      + [{"id": 2000, "messages": conversation(0)}])
    result = invoke(dedup_command, syn, "--text-field", "messages", option, real, "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    rejected = pq.read_table(tmp_path / "o" / "rejected.parquet").to_pylist()
    assert [(row["id"], row["dedup_reason"]) for row in rejected] == [(2000, reason)]


def test_a_reference_with_no_usable_text_is_an_error(tmp_path):
    syn = write_jsonl(tmp_path / "syn.jsonl", [{"text": text(1)}])
    blank = write_jsonl(tmp_path / "blank.jsonl", [{"text": "  "}, {"text": 7}])
    result = CliRunner().invoke(dedup_command, [str(syn), "--against", str(blank), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "blank.jsonl: none of its 2 rows has usable text in 'text'" in result.output
    assert "--against-field" in result.output and not (tmp_path / "o").exists()


# --- 2: history batches at one path -------------------------------------------------------------------

def test_history_keeps_an_earlier_batch_written_at_the_same_path(tmp_path):
    batch, hist = tmp_path / "batch.jsonl", tmp_path / "hist"
    write_jsonl(batch, [{"id": i, "text": text(i)} for i in range(10)])
    assert "10 kept" in invoke(dedup_command, batch, "--out", tmp_path / "o1", "--history", hist).output
    again = invoke(dedup_command, batch, "--out", tmp_path / "o1b", "--history", hist)
    assert "10 kept, 0 dropped" in again.output, "re-running the identical input does not match itself"
    write_jsonl(batch, [{"id": i, "text": text(i)} for i in list(range(5)) + list(range(10, 15))])
    second = invoke(dedup_command, batch, "--out", tmp_path / "o2", "--history", hist)
    assert "5 kept, 5 dropped" in second.output
    rejected = pq.read_table(tmp_path / "o2" / "rejected.parquet").to_pylist()
    assert {row["dedup_scope"] for row in rejected} == {"history"}
    write_jsonl(batch, [{"id": i, "text": text(i)} for i in range(5, 10)])
    third = invoke(dedup_command, batch, "--out", tmp_path / "o3", "--history", hist)
    assert "0 kept, 5 dropped" in third.output, "the first batch's rows 5-9 are still in the history"


# --- 3: an earlier mix as the real data -----------------------------------------------------------------

def test_synthetic_rows_of_an_earlier_mix_count_toward_the_cap():
    earlier = ([{"text": f"real {i}", "source": "real"} for i in range(10)]
               + [{"text": f"old synthetic {i}", "source": "synthetic"} for i in range(10)])
    result = Mixer(0.5).mix(earlier, [{"text": f"new synthetic {i}"} for i in range(10)])
    assert result.n_real == 10 and result.n_synthetic == 10 and result.synthetic_share == 0.5
    assert sum(row["source"] == "real" for row in result.records) == 10
    assert len(result.dropped) == 10 and {row["reason"] for row in result.dropped} == {OVER_MIX_CAP}
    assert any("tagged source='synthetic'" in warning for warning in result.warnings)


# --- 4: columns of empty objects ------------------------------------------------------------------------

def test_a_column_of_empty_objects_is_written_as_json_text(tmp_path):
    syn = write_jsonl(tmp_path / "syn.jsonl", [{"text": text(i), "metadata": {}} for i in range(4)])
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": text(10 + i), "metadata": {}} for i in range(4)])
    result = invoke(dedup_command, syn, "--out", tmp_path / "d")
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "d" / "kept.parquet").column("metadata").to_pylist() == ["{}"] * 4
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["kept.parquet", "rejected.parquet", "summary.json"]
    result = invoke(mix_command, "--real", real, "--synthetic", syn, "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "metadata hold only empty objects" in result.output
    assert set(pq.read_table(tmp_path / "m" / "data.parquet").column("metadata").to_pylist()) == {"{}"}


def test_a_failed_dedup_write_leaves_no_partial_files(tmp_path, monkeypatch):
    from synthgen.dedup import chunks

    calls, read_part = [], chunks.read_part

    def fail_second(path):  # the kept file is open (kept.parquet.tmp) when the rejected part fails
        calls.append(path)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return read_part(path)

    monkeypatch.setattr(chunks, "read_part", fail_second)
    syn = write_jsonl(tmp_path / "syn.jsonl", [{"text": text(1)}, {"text": text(1)}])
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("mine")
    with pytest.raises(RuntimeError):
        CliRunner().invoke(dedup_command, [str(syn), "--out", str(tmp_path / "o"), "--workers", "1"],
                           catch_exceptions=False)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["keep.txt"]


# --- 5: byte-order marks ------------------------------------------------------------------------------

def test_inputs_with_a_byte_order_mark(tmp_path):
    rows = [{"text": text(i)} for i in range(6)]
    bom_jsonl = write_jsonl(tmp_path / "bom.jsonl", rows, prefix="\ufeff")
    bom_csv = tmp_path / "bom.csv"
    bom_csv.write_text("\ufefftext\n" + "".join(f"{row['text']}\n" for row in rows), encoding="utf-8")
    for source in (bom_jsonl, bom_csv):
        result = invoke(dedup_command, source, "--out", tmp_path / f"d-{source.suffix}")
        assert "6 rows: 6 kept" in result.output, result.output
        assert pq.read_schema(tmp_path / f"d-{source.suffix}" / "kept.parquet").names == ["text"]
        assert f"{source}: 6 texts" in invoke(metrics_command, source, "--embedder", "none").output
        result = invoke(mix_command, "--real", source, "--synthetic", bom_jsonl, "--out", tmp_path / f"m-{source.suffix}")
        assert result.exit_code == 0 and "6 real" in result.output, result.output


# --- 6: metrics and rows without text -------------------------------------------------------------------

def test_metrics_reads_the_column_from_every_row_and_leaves_out_rows_without_text(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 0}] + [{"text": text(i)} for i in range(5)]
                         + [{"text": None}, {"text": " "}])
    result = invoke(metrics_command, source, "--embedder", "none", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 5 and report["missing_text"] == 3
    assert "5 texts (3 rows without text left out)" in invoke(metrics_command, source, "--embedder", "none").output


# --- 7: one line instead of a traceback -------------------------------------------------------------------

@pytest.mark.parametrize("name, content, message", [
    ("bad.parquet", b"not parquet at all", "cannot read as parquet"),
    ("zero.parquet", b"", "cannot read as parquet"),
    ("latin1.csv", "text\ncaf\xe9 au lait\n".encode("latin-1"), "not UTF-8 text"),
])
def test_unreadable_inputs_are_one_line(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    result = CliRunner().invoke(dedup_command, [str(tmp_path / name), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and result.exception.__class__ is SystemExit
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_out_through_a_file_is_one_line(tmp_path):
    from synthgen.cli import cli

    afile = tmp_path / "afile"
    afile.write_text("")
    syn = write_jsonl(tmp_path / "syn.jsonl", [{"text": text(1)}])
    runs = [CliRunner().invoke(dedup_command, [str(syn), "--out", str(afile / "x")]),
            CliRunner().invoke(mix_command, ["--real", str(syn), "--synthetic", str(syn), "--out", str(afile / "x")]),
            CliRunner().invoke(cli, ["corpus", "fortunes", "--out", str(afile / "x.jsonl")])]
    for result in runs:
        assert result.exit_code == 1 and f"{afile} is a file, not a folder" in result.output, result.output


def test_a_bad_ngram_names_the_option(tmp_path):
    from synthgen.dedup.cli import _config
    from synthgen.errors import SynthgenError

    syn = write_jsonl(tmp_path / "syn.jsonl", [{"text": text(1)}])
    result = CliRunner().invoke(dedup_command, [str(syn), "--out", str(tmp_path / "o"), "--ngram", "0"])
    assert result.exit_code == 2 and "--ngram" in result.output and "pydantic" not in result.output
    with pytest.raises(SynthgenError, match=r"^--ngram 0: Input should be greater than or equal to 1"):
        _config("text", (), (), 0.8, "0", None, 128, None, None)


# --- 8 and 9 ---------------------------------------------------------------------------------------------

def test_a_dataset_dict_error_names_a_split_folder(tmp_path):
    import datasets

    from synthgen.errors import SynthgenError
    from synthgen.tabular import read_rows

    datasets.DatasetDict({"train": datasets.Dataset.from_list([{"text": "a"}]),
                          "test": datasets.Dataset.from_list([{"text": "b"}])}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(SynthgenError) as error:
        read_rows(tmp_path / "dd")
    assert f"e.g. {tmp_path / 'dd' / 'test'}" in str(error.value)
    assert read_rows(tmp_path / "dd" / "test") == [{"text": "b"}]


def test_an_empty_rejected_file_has_its_columns(tmp_path):
    syn = write_jsonl(tmp_path / "syn.jsonl", [{"id": i, "text": text(i)} for i in range(3)])
    assert invoke(dedup_command, syn, "--out", tmp_path / "o").exit_code == 0
    names = pq.read_schema(tmp_path / "o" / "rejected.parquet").names
    assert names[:2] == ["id", "text"] and "dedup_reason" in names and "dedup_evidence" in names


def test_the_mixer_keeps_a_synthetic_rows_own_reason():
    result = Mixer(0.5).mix([{"text": "real"}], [{"text": f"s{i}", "reason": "judge liked it"} for i in range(3)])
    dropped = result.dropped[0]
    assert dropped["reason"] == OVER_MIX_CAP and dropped["original_reason"] == "judge liked it"


def test_json_lines_saved_under_a_json_name_are_read(tmp_path):
    from synthgen.tabular import read_rows

    path = tmp_path / "x.json"  # what datasets' Dataset.to_json writes: JSON Lines
    path.write_text('{"text": "a b c"}\n{"text": "d e f"}\n')
    assert read_rows(path) == [{"text": "a b c"}, {"text": "d e f"}]
    path.write_text('[{"text": "a b c"}]')
    assert read_rows(path) == [{"text": "a b c"}]


def test_a_csv_row_with_more_fields_than_the_header_is_one_line(tmp_path):
    from synthgen.dedup.cli import run_dedup
    from synthgen.errors import SynthgenError
    from synthgen.tabular import read_rows

    path = tmp_path / "ragged.csv"
    path.write_text("text,id\nhello world foo,1\nhello, world,2\n")
    with pytest.raises(SynthgenError, match=r"ragged.csv:3: 3 fields for 2 header columns") as info:
        read_rows(path)
    assert "quote fields" in info.value.hint
    with pytest.raises(SynthgenError, match=r"ragged.csv:3: 3 fields for 2 header columns"):
        run_dedup(path, tmp_path / "out", workers=1)


def test_conversations_read_the_same_in_dedup_and_mix():
    """Content parts (OpenAI's multimodal format) are their text parts; a conversation without text is
    missing text in both tools (dedup kept "user: " and hashed the parts' Python repr)."""
    from synthgen.dedup.table import text_value
    from synthgen.mix.base import mix_text
    from synthgen.records import as_text

    parts = [{"role": "user", "content": [{"type": "text", "text": "what is in this picture"},
                                          {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
             {"role": "assistant", "content": None}]
    assert as_text(parts) == "user: what is in this picture\nassistant: "
    assert text_value(parts) == mix_text(parts) == "user: what is in this picture\nassistant: "
    for blank in ([{"role": "user", "content": ""}], [{"role": "user", "content": None}],
                  [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]):
        assert text_value(blank) is None and mix_text(blank) is None


@pytest.mark.parametrize("flag", ["--against", "--eval"])
def test_a_reference_error_names_the_flag_and_its_field_option(tmp_path, flag):
    (tmp_path / "in.jsonl").write_text('{"text": "a b c d e"}\n')
    (tmp_path / "q.jsonl").write_text('{"q": "a b c d e"}\n')
    result = CliRunner().invoke(dedup_command, [str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "o"),
                                                flag, str(tmp_path / "q.jsonl")])
    assert result.exit_code == 1
    assert f"Error: {flag}: " in result.output and "no 'text' column" in result.output
    assert f"name its text column with {flag}-field" in result.output and "dedup." not in result.output
