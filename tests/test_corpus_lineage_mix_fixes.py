"""Fixes: ``synthgen corpus`` never silently replaces or empties its --out and writes the format the extension
names; a damaged lineage.json is one line naming the file and the entry/key; ``synthgen mix`` names the file and
the option of a missing text column, and refuses its earlier --out unless --overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from synthgen.cli import cli
from test_cli_write_errors import one_error_line


# --- 1. corpus: an existing --out needs --overwrite, no text is an error, the extension picks the format -----

TEXTS = ["a short saying", "another short saying here", "a third one, longer than the other two sayings"]


@pytest.fixture
def small_corpus(monkeypatch):
    """``pydoc`` replaced by three known texts (no dependency on what this machine has installed)."""
    from synthgen import corpora

    monkeypatch.setitem(corpora.CORPORA, "pydoc", lambda: [{"text": t, "source": f"pydoc/{i}"}
                                                           for i, t in enumerate(TEXTS)])


def corpus(*args) -> object:
    return CliRunner().invoke(cli, ["corpus", "pydoc", *map(str, args)])


def test_corpus_refuses_an_existing_out_unless_overwrite(tmp_path, small_corpus):
    out = tmp_path / "c.jsonl"
    assert corpus("--out", out).exit_code == 0
    before = out.read_bytes()
    one_error_line(corpus("--out", out, "--limit", "1"), f"--out {out} already exists", "--overwrite")
    assert out.read_bytes() == before
    result = corpus("--out", out, "--limit", "1", "--overwrite")
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 1


def test_corpus_checks_out_before_reading_the_corpus(tmp_path, monkeypatch):
    from synthgen import corpora

    def never(*_):
        raise AssertionError("the corpus was read before --out was checked")

    monkeypatch.setattr(corpora, "corpus_rows", never)
    (tmp_path / "c.jsonl").write_text("{}\n")
    one_error_line(corpus("--out", tmp_path / "c.jsonl"), "already exists")
    one_error_line(corpus("--out", tmp_path / "c.txt"), "'.txt'")


def test_corpus_with_no_text_matching_the_filters_writes_nothing(tmp_path, small_corpus):
    out = tmp_path / "c.jsonl"
    assert corpus("--out", out).exit_code == 0
    before = out.read_bytes()
    line = one_error_line(corpus("--out", out, "--min-words", "5000", "--overwrite"),
                          "pydoc: no text matched the filters (--min-words 5000)", str(out))
    assert "--min-words" in line.split("(")[-1]  # the hint says which filter to loosen
    assert out.read_bytes() == before  # the earlier corpus is intact
    fresh = tmp_path / "new.jsonl"
    one_error_line(corpus("--out", fresh, "--min-words", "20", "--max-words", "30"),
                   "(--min-words 20, --max-words 30)")
    assert not fresh.exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv", ".JSONL"])
def test_corpus_writes_the_format_its_extension_names(tmp_path, small_corpus, suffix):
    from synthgen.tabular import read_rows

    out = tmp_path / f"c{suffix}"
    result = corpus("--out", out)
    assert result.exit_code == 0, result.output
    if suffix == ".parquet":
        assert out.read_bytes()[:4] == b"PAR1"
    rows = read_rows(out, fmt=suffix.lower().lstrip("."))
    assert [row["text"] for row in rows] == TEXTS and rows[0]["source"] == "pydoc/0"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no .tmp left


@pytest.mark.parametrize("name", ["c.txt", "c.json", "corpus"])
def test_corpus_refuses_an_extension_it_cannot_write(tmp_path, small_corpus, name):
    out = tmp_path / name
    one_error_line(corpus("--out", out), f"--out {out}", ".jsonl, .parquet, .csv")
    assert not out.exists()


# --- 2. lineage: a damaged ledger is one line naming the file and the entry or key -------------------------

def _ledger(folder: Path) -> Path:
    """A valid ledger of three generations (as tests/test_lineage.py makes one); returns lineage.json."""
    from synthgen.lineage import Ledger, LineageEntry

    ledger = Ledger.open(folder)
    ledger.add(LineageEntry("real", counts={"rows": 5}))
    ledger.add(LineageEntry("gen-1", parents=("real",), metrics={"coverage": 0.9}))
    ledger.add(LineageEntry("gen-2", parents=("gen-1",)))
    return folder / "lineage.json"


def _set(key, value):
    def edit(state):
        state["entries"][1][key] = value
    return edit


def _delete(key):
    def edit(state):
        del state["entries"][1][key]
    return edit


def _entry(value):
    def edit(state):
        state["entries"][1] = value
    return edit


def _best(value):
    def edit(state):
        state["best"] = value
    return edit


DAMAGE = {
    "counts a string": (_set("counts", "x"), "entries[1] ('gen-1'): counts must be an object"),
    "entry null": (_entry(None), "entries[1] is null, not an object"),
    "entry a list": (_entry(["gen-1"]), "entries[1] is a list, not an object"),
    "parents a string": (_set("parents", "real"), "entries[1] ('gen-1'): parents must be a list of ids, got 'real'"),
    "metric a string": (_set("metrics", {"coverage": "high"}), "entries[1] ('gen-1'): metric 'coverage' must be a number"),
    "count negative": (_set("counts", {"rows": -1}), "entries[1] ('gen-1'): count 'rows' must be a whole number"),
    "id a number": (_set("id", 7), "entries[1]: a lineage id must be a non-empty one-line string, got 7"),
    "id missing": (_delete("id"), "entries[1] has unknown or missing keys: id"),
    "depth missing": (_delete("depth"), "entries[1] ('gen-1'): depth is missing"),
    "depth null": (_set("depth", None), "entries[1] ('gen-1'): depth is missing"),
    "recipe hash a number": (_set("recipe_hash", 5), "entries[1] ('gen-1'): recipe_hash must be a string or null"),
    "extra a list": (_set("extra", [1]), "entries[1] ('gen-1'): extra must be an object"),
    "best unknown": (_best("gen-9"), "best names 'gen-9', which is not a recorded generation"),
    "best a number": (_best(3), "best names 3, which is not a recorded generation"),
}


@pytest.mark.parametrize("edit, message", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_ledger_names_the_file_and_the_entry(tmp_path, edit, message):
    path = _ledger(tmp_path)
    state = json.loads(path.read_text())
    edit(state)
    path.write_text(json.dumps(state))
    one_error_line(CliRunner().invoke(cli, ["lineage", str(tmp_path)]), f"{path}: {message}")


def test_parents_given_as_a_string_in_python_are_refused():
    from synthgen.lineage import LineageEntry, LineageError

    with pytest.raises(LineageError, match="parents must be a list of ids, got 'real'"):
        LineageEntry("gen-1", parents="real").checked()
    assert LineageEntry("gen-1", parents=["real"]).checked().parents == ("real",)  # a list is fine


def test_a_ledger_with_a_byte_order_mark_is_read(tmp_path):
    path = _ledger(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    result = CliRunner().invoke(cli, ["lineage", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "gen-2  depth 2" in result.output


@pytest.mark.parametrize("where", ["nope", "nope/lineage.json"])
def test_lineage_of_a_missing_folder_says_so(tmp_path, monkeypatch, where):
    monkeypatch.chdir(tmp_path)
    one_error_line(CliRunner().invoke(cli, ["lineage", where]), "nope: no such folder")


# --- 3 and 5. mix: a missing text column names the file and the option; an earlier mix needs --overwrite ----

def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def tables(tmp_path):
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": f"a real text number {i}"} for i in range(4)])
    synthetic = write_jsonl(tmp_path / "syn.jsonl", [{"text": f"a synthetic text number {i}"} for i in range(3)])
    return real, synthetic


def mix(*args):
    return CliRunner().invoke(cli, ["mix", *map(str, args)])


def test_a_real_file_without_the_text_column_names_the_file_and_real_text_field(tmp_path, tables):
    real, synthetic = tables
    line = one_error_line(mix("--real", real, "--synthetic", synthetic, "--out", tmp_path / "m", "--text-field",
                              "messages"), f"{real}: the real rows have no 'messages' column", "--real-text-field")
    assert "columns are: text" in line
    assert not (tmp_path / "m").exists()


def test_a_synthetic_file_without_the_text_column_names_the_file_and_text_field(tmp_path, tables):
    real, _ = tables
    synthetic = write_jsonl(tmp_path / "body.jsonl", [{"body": "a synthetic text"}])
    one_error_line(mix("--real", real, "--synthetic", synthetic, "--out", tmp_path / "m"),
                   f"{synthetic}: the synthetic rows have no 'text' column", "--text-field")


def test_mix_refuses_an_earlier_mix_unless_overwrite(tmp_path, tables):
    real, synthetic = tables
    out = tmp_path / "m"
    args = ["--real", real, "--synthetic", synthetic, "--out", out]
    assert mix(*args).exit_code == 0
    before = (out / "summary.json").read_bytes()
    one_error_line(mix(*args, "--max-synthetic-share", "0.2"), f"--out {out} already holds a mix", "--overwrite")
    assert (out / "summary.json").read_bytes() == before
    result = mix(*args, "--max-synthetic-share", "0.2", "--overwrite")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["cap"] == 0.2


def test_run_mix_from_python_still_replaces_a_mix_by_default(tmp_path, tables):
    """``run_mix`` keeps replacing (as ``run_dedup`` does): rebuilding a run's ``mix/`` from Python relies on
    it; ``overwrite=False`` refuses like the command line."""
    from synthgen.mix.base import MixError
    from synthgen.mix.cli import run_mix

    real, synthetic = tables
    out = tmp_path / "m"
    run_mix(real, synthetic, out)
    assert run_mix(real, synthetic, out, max_synthetic_share=0.2).cap == 0.2
    with pytest.raises(MixError, match="already holds a mix"):
        run_mix(real, synthetic, out, overwrite=False)


def test_the_rebuild_hint_adds_overwrite_only_when_a_mix_is_there(tmp_path, tables):
    from synthgen.mix.cli import run_mix
    from synthgen.mix.run import mix_command_line

    real, synthetic = tables
    summary = {"cap": 0.5, "settings": {"seed": 0}}
    assert "--overwrite" not in mix_command_line(summary, synthetic, tmp_path / "mix")
    run_mix(real, synthetic, tmp_path / "mix")
    command = mix_command_line(summary, synthetic, tmp_path / "mix")
    assert f"--out {tmp_path / 'mix'} --overwrite" in command


# --- 4. mix: a synthetic text that is not text is dropped as invalid_text, as dedup says; no warning cites it --

def test_a_synthetic_number_is_invalid_text_as_dedup_calls_it():
    from synthgen.dedup import INVALID_TEXT as DEDUP_INVALID_TEXT
    from synthgen.dedup import MISSING_TEXT as DEDUP_MISSING_TEXT
    from synthgen.mix import DROP_REASONS, INVALID_TEXT, MISSING_TEXT, Mixer

    assert (INVALID_TEXT, MISSING_TEXT) == (DEDUP_INVALID_TEXT, DEDUP_MISSING_TEXT) and INVALID_TEXT in DROP_REASONS
    real = [{"text": f"a real text number {i}"} for i in range(4)]
    synthetic = [{"text": 7, "k": 0}, {"text": {"a": 1}, "k": 1}, {"text": ["a", "b"], "k": 2}, {"text": None, "k": 3},
                 {"text": float("nan"), "k": 4}, {"text": " ", "k": 5}, {"k": 6}, {"text": "fine", "k": 7}]
    result = Mixer().mix(real, synthetic)
    assert {row["k"]: row["reason"] for row in result.dropped} == {
        0: INVALID_TEXT, 1: INVALID_TEXT, 2: INVALID_TEXT, 3: MISSING_TEXT, 4: MISSING_TEXT, 5: MISSING_TEXT,
        6: MISSING_TEXT}
    assert result.dropped[0]["text"] == 7  # the row comes back as given


def test_the_type_warning_does_not_cite_a_dropped_row(tmp_path):
    import pyarrow.parquet as pq

    real = write_jsonl(tmp_path / "real.jsonl", [{"text": f"a real text number {i}"} for i in range(2)])
    synthetic = write_jsonl(tmp_path / "syn.jsonl", [{"text": t} for t in ["one", 7, "two", "three", "four"]])
    result = mix("--real", real, "--synthetic", synthetic, "--out", tmp_path / "m")
    assert result.exit_code == 0, result.output
    assert "invalid_text 1" in result.output and "over_mix_cap 2" in result.output
    assert "became" not in result.output and "mixes value types" not in result.output
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert not any("mixes value types" in warning for warning in summary["warnings"])
    dropped = pq.read_table(tmp_path / "m" / "dropped.parquet").to_pylist()
    assert dropped[0] == {"text": "7", "source": "synthetic", "reason": "invalid_text"}  # its reason says why
    assert all(isinstance(row["text"], str) for row in dropped)
