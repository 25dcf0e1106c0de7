"""The streaming, parallel ``synthgen dedup`` keeps exactly what the in-memory engine keeps, for any workers."""

from __future__ import annotations

import json
import random
import re

import pyarrow.parquet as pq
import pytest

from synthgen.dedup.build import build_decontaminator, build_engine
from synthgen.dedup.cli import _config, _Here, run_dedup
from synthgen.dedup.evaluate import plant
from synthgen.dedup.table import dedup_rows
from synthgen.tabular import read_rows

WORDS = ("river canyon water stone bread yeast sugar carbon gas bubble cloud rain storm wind field grass "
         "horse cart wheel road city tower bell clock night moon star light shadow glass").split()


def corpus(n: int, seed: int = 0) -> list[dict]:
    """Random 12–40-word texts, planted near copies, exact copies (case changed) and bad rows."""
    rng = random.Random(seed)
    base = [" ".join(rng.choices(WORDS, k=rng.randint(12, 40))) for _ in range(n)]
    texts, _ = plant(base, n // 3, [0.0, 0.05, 0.1, 0.2, 0.4], seed=seed)
    texts += [texts[i].upper() for i in rng.sample(range(len(texts)), n // 10)]
    rows = [{"id": f"r{i}", "text": t, "n": i} for i, t in enumerate(texts)]
    rows += [{"id": "none", "text": None}, {"id": "int", "text": 7}, {"id": "blank", "text": "  "},
             {"id": "punct", "text": "!!! ???"}, {"id": "punct2", "text": "!!! ???"}, {"text": texts[3]}]
    rng.shuffle(rows)
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def reference(rows, tmp_path, **options):
    """The in-memory engine (``dedup_rows``) on the same rows and options."""
    config = _config(options.get("text_field", "text"), options.get("against", ()), options.get("eval_sets", ()),
                     options.get("threshold", 0.8), options.get("ngram", "auto"), options.get("history"), 128,
                     None, None)
    engine, writer = build_engine(config, _Here(), "reference")
    del writer  # the streamed runs write the history; the reference only reads it
    return dedup_rows(rows, engine, decontaminator=build_decontaminator(config, _Here()))


def outputs(out):
    kept = pq.read_table(out / "kept.parquet").to_pylist()
    rejected = pq.read_table(out / "rejected.parquet").to_pylist()
    return kept, rejected


def evidence(rows):
    keys = ("id", "dedup_reason", "dedup_scope", "dedup_matched_id", "dedup_score", "dedup_evidence")
    return [tuple(row.get(k) for k in keys) for row in rows]


@pytest.mark.parametrize("workers,chunk_rows", [(1, 64), (2, 97), (1, 8192)])
def test_streaming_equals_the_engine(tmp_path, workers, chunk_rows):
    rows = corpus(600)
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    expected = reference(read_rows(source), tmp_path)
    result = run_dedup(source, tmp_path / "out", workers=workers, chunk_rows=chunk_rows)
    kept, rejected = outputs(tmp_path / "out")
    assert [row.get("id") for row in kept] == [row.get("id") for row in expected.kept]
    assert evidence(rejected) == evidence(expected.rejected)
    assert result.summary() == expected.summary()
    assert {"near_duplicate", "exact_duplicate", "missing_text", "invalid_text", "empty_text"} <= set(result.reasons)


def test_parallel_and_single_worker_keep_the_same_ids_with_references_history_and_eval(tmp_path):
    rows = corpus(400, seed=1)
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": r["text"]} for r in rows[:40] if isinstance(r.get("text"), str)])
    evals = write_jsonl(tmp_path / "eval.jsonl", [{"text": r["text"]} for r in rows[50:60] if isinstance(r.get("text"), str)])
    older = write_jsonl(tmp_path / "older.jsonl", rows[100:150])
    run_dedup(older, tmp_path / "o0", history=tmp_path / "hist", workers=1)
    options = {"against": (real,), "eval_sets": (evals,), "history": tmp_path / "hist"}
    expected = reference(read_rows(source), tmp_path, **options)
    results = []
    for workers in (1, 2):
        run_dedup(source, tmp_path / f"o{workers}", workers=workers, chunk_rows=50, **options)
        results.append(outputs(tmp_path / f"o{workers}"))
    assert results[0] == results[1]
    assert [r.get("id") for r in results[0][0]] == [r.get("id") for r in expected.kept]
    assert evidence(results[0][1]) == evidence(expected.rejected)
    scopes = {row["dedup_scope"] for row in results[0][1]}
    assert {"real", "history", "eval", "run"} <= scopes


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_parquet_and_csv_inputs_stream_in_chunks(tmp_path, suffix):
    import pyarrow as pa

    rows = [{"id": r.get("id") or "x", "text": r["text"]} for r in corpus(200, seed=2) if isinstance(r.get("text"), str)]
    path = tmp_path / f"in.{suffix}"
    if suffix == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=37)
    else:
        import csv

        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["id", "text"])
            writer.writeheader()
            writer.writerows(rows)
    expected = reference(read_rows(path), tmp_path)
    run_dedup(path, tmp_path / "out", workers=1, chunk_rows=50)
    kept, rejected = outputs(tmp_path / "out")
    assert [row["id"] for row in kept] == [row["id"] for row in expected.kept]
    assert evidence(rejected) == evidence(expected.rejected)


@pytest.mark.parametrize("suffix,scans", [("jsonl", 1), ("parquet", 2)])
def test_the_write_pass_reuses_the_jsonl_chunks_pass_1_found(tmp_path, monkeypatch, suffix, scans):
    """The driver scans a jsonl file for line ends once (pass 3 reuses the chunks' offsets); a parquet
    file's chunks are its data, so it is read again. Either way the output is the engine's."""
    import pyarrow as pa

    import synthgen.dedup.streaming as streaming

    rows = [{"id": r.get("id") or "x", "text": r["text"]} for r in corpus(200, seed=3) if isinstance(r.get("text"), str)]
    path = write_jsonl(tmp_path / "in.jsonl", rows)
    if suffix == "parquet":
        path = tmp_path / "in.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    calls = []
    real_iter = streaming.iter_chunks
    monkeypatch.setattr(streaming, "iter_chunks", lambda *a: calls.append(a) or real_iter(*a))
    expected = reference(read_rows(path), tmp_path)
    run_dedup(path, tmp_path / "out", workers=2, chunk_rows=30)
    kept, rejected = outputs(tmp_path / "out")
    assert [size for _, size in calls].count(30) == scans  # (detect_ngram samples the start on its own)
    assert [row["id"] for row in kept] == [row["id"] for row in expected.kept]
    assert evidence(rejected) == evidence(expected.rejected)


def test_empty_input_and_a_missing_column(tmp_path):
    from synthgen.errors import SynthgenError

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert run_dedup(empty, tmp_path / "o", workers=1).summary()["rows"] == 0
    with pytest.raises(SynthgenError, match="no 'body' column"):
        run_dedup(write_jsonl(tmp_path / "in.jsonl", [{"text": "a b c"}]), tmp_path / "o2", text_field="body", workers=1)


def test_columns_whose_type_changes_between_chunks_match_the_whole_table_output(tmp_path):
    from synthgen.dedup.table import write_result

    rows = [{"id": f"r{i}", "text": f"{WORDS[i % 30]} {WORDS[(i * 7) % 30]} {i}", "late": None if i < 60 else i,
             "mixed": i if i < 60 else f"s{i}", "num": i if i % 2 else i + 0.5} for i in range(120)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    write_result(reference(read_rows(source), tmp_path), tmp_path / "expected")
    run_dedup(source, tmp_path / "out", workers=1, chunk_rows=50)
    for name in ("kept.parquet", "rejected.parquet"):
        expected = pq.read_table(tmp_path / "expected" / name)
        assert pq.read_table(tmp_path / "out" / name).to_pylist() == expected.to_pylist()



def test_integers_past_int64_are_written_as_synthgen_dedup_writes_them(tmp_path):
    """``write_result`` (the API) builds its tables as the command does: uint64 where every value fits,
    else JSON text; it raised OverflowError before."""
    from synthgen.dedup.table import write_result

    rows = [{"id": f"r{i}", "text": f"{WORDS[i % 30]} {WORDS[(i * 7) % 30]} {i}", "big": 2**70 + i,
             "unsigned": 2**63 + i} for i in range(40)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    write_result(reference(read_rows(source), tmp_path), tmp_path / "expected")
    run_dedup(source, tmp_path / "out", workers=1, chunk_rows=15)
    expected = pq.read_table(tmp_path / "expected" / "kept.parquet")
    assert str(expected.schema.field("unsigned").type) == "uint64" and expected.column("big")[0].as_py() == str(2**70)
    assert pq.read_table(tmp_path / "out" / "kept.parquet").to_pylist() == expected.to_pylist()

@pytest.mark.parametrize("block_bytes", [1, 3, 50, 1 << 22])
def test_jsonl_chunks_hold_size_rows_and_name_the_right_line(tmp_path, monkeypatch, block_bytes):
    """Blank and whitespace lines, CRLF, a missing last newline, blocks cut inside lines: every chunk but
    the last has exactly ``size`` rows, in order, and a broken line is named by its number."""
    from synthgen.dedup import chunks

    monkeypatch.setattr(chunks, "_BLOCK_BYTES", block_bytes)
    rng = random.Random(block_bytes)
    for trial in range(40):
        lines = [rng.choice(["", "   ", " \r", "\x0c"]) if rng.random() < 0.2 else
                 ("  " if rng.random() < 0.1 else "") + json.dumps({"i": i, "t": "x" * rng.randint(0, 20)})
                 for i in range(rng.randint(0, 30))]
        text = "\n".join(lines) + rng.choice(["\n", "", "\n\n", "\r\n"])
        path = tmp_path / f"t{trial}.jsonl"
        path.write_text(text)
        size = rng.randint(1, 6)
        got = [(chunk.start, [row["i"] for row in chunks.decode(chunk, str(path))])
               for chunk in chunks.iter_chunks(path, size)]
        numbered = [(n, json.loads(line)["i"]) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
        assert [i for _, ids in got for i in ids] == [i for _, i in numbered]
        assert [start for start, _ in got] == [k * size for k in range(len(got))]
        assert all(len(ids) == size for _, ids in got[:-1]) and all(ids for _, ids in got)
        if numbered:
            broken, _ = rng.choice(numbered)
            path.write_text("\n".join("{oops" if n == broken else line for n, line in enumerate(text.split("\n"), 1)))
            with pytest.raises(Exception, match=f"{re.escape(str(path))}:{broken}: invalid JSON"):
                for chunk in chunks.iter_chunks(path, size):
                    chunks.decode(chunk, str(path))


@pytest.mark.parametrize("workers", [1, 2])
def test_conversations_are_deduplicated_by_their_turns(tmp_path, workers):
    """A ``messages`` column (synthgen's conversational format) is compared as its role: content lines, in
    the streamed and the in-memory path alike; every row was dropped as ``invalid_text`` before."""
    texts = [row["text"] for row in corpus(200, seed=3) if isinstance(row.get("text"), str)]
    rows = [{"id": f"c{i}", "messages": [{"role": "user", "content": "Tell me something."},
                                         {"role": "assistant", "content": t}]} for i, t in enumerate(texts)]
    rows.append({"id": "odd", "messages": [1, 2]})
    source = write_jsonl(tmp_path / "chat.jsonl", rows)
    config = _config("messages", (), (), 0.8, "auto", None, 128, None, None)
    expected = dedup_rows(read_rows(source), build_engine(config, _Here(), "reference")[0], text_field="messages")
    result = run_dedup(source, tmp_path / "out", text_field="messages", workers=workers)
    kept, rejected = outputs(tmp_path / "out")
    assert [row["id"] for row in kept] == [row["id"] for row in expected.kept]
    assert evidence(rejected) == evidence(expected.rejected)
    assert {"near_duplicate", "exact_duplicate", "invalid_text"} <= set(result.reasons)
    assert result.reasons["invalid_text"] == 1 and len(kept) > len(rows) // 2
    assert kept[0]["messages"] == rows[[r["id"] for r in rows].index(kept[0]["id"])]["messages"], "rows unchanged"
    odd = next(row for row in rejected if row["id"] == "odd")
    assert json.loads(odd["messages"]) == [1, 2], "a list Arrow cannot store beside conversations is kept as JSON"


def test_the_input_is_hashed_for_a_history_key_only_with_a_history(tmp_path, monkeypatch):
    """The history key hashes the whole input (one more read of it): skipped when there is no history."""
    import synthgen.dedup.cli as cli

    labels = []
    real_label = cli.history_label
    monkeypatch.setattr(cli, "history_label", lambda *a: labels.append(a) or real_label(*a))
    source = write_jsonl(tmp_path / "in.jsonl", corpus(50, seed=4))
    run_dedup(source, tmp_path / "o1", workers=1)
    assert labels == []
    run_dedup(source, tmp_path / "o2", workers=1, history=tmp_path / "hist")
    assert len(labels) == 1
