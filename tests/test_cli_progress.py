"""Progress of the long data commands: ``synthgen dedup`` and ``synthgen metrics`` name their phases on stderr
(``--progress``; by default only when stderr is a terminal, so captured output stays as it was), ``--quiet``
silences them, stdout is byte-identical either way, and the Python API is silent unless asked."""

from __future__ import annotations

import io
import json
import random
import re
import sys
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from synthgen.dedup.cli import dedup_command, run_dedup
from synthgen.diversity.cli import diversity_rows, metrics_command
from synthgen.progress import PhaseProgress, progress_wanted

DEDUP_PHASES = ("prepare", "read+sketch", "LSH candidates", "verify", "write")


def sentences() -> list[str]:
    """Real English sentences of varied length (CPython's pydoc topics), in a fixed shuffled order."""
    from pydoc_data.topics import topics

    text = " ".join(topics[key] for key in sorted(topics))
    found = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 6 <= len(s.split()) <= 40]
    random.Random(0).shuffle(found)
    return found


def rows(n: int = 300) -> list[dict]:
    """``n`` rows with ids: distinct sentences, every 10th an exact copy and every 10th a near copy."""
    texts = sentences()[:n]
    for i in range(10, n, 10):
        texts[i] = texts[i - 7]
        texts[i - 3] = texts[i - 9] + " indeed"
    return [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def dedup(*args):
    return CliRunner().invoke(dedup_command, [str(a) for a in args], catch_exceptions=False)


def kept_ids(out) -> list[str]:
    return [row["id"] for row in pq.read_table(out / "kept.parquet").to_pylist()]


def test_dedup_progress_names_the_phases_and_rows_on_stderr_only(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", rows(300))
    out = tmp_path / "o"
    shown = dedup(source, "--out", out, "--workers", 1, "--progress")
    assert shown.exit_code == 0, shown.output
    for phase in DEDUP_PHASES:
        assert f"dedup: {phase}" in shown.stderr, shown.stderr
    assert re.search(r"read\+sketch: .*300 rows \[", shown.stderr), shown.stderr  # jsonl: no total known
    assert "300/300" in shown.stderr and "rows/s" in shown.stderr  # the write phase knows its total
    assert re.search(r"dedup: done in [\d.]+s \(prepare ", shown.stderr)
    assert "dedup:" not in shown.stdout and "300 rows: " in shown.stdout

    quiet = dedup(source, "--out", out, "--workers", 1, "--quiet", "--overwrite")
    default = dedup(source, "--out", out, "--workers", 1, "--overwrite")  # CliRunner's stderr is no terminal
    assert quiet.exit_code == default.exit_code == 0
    assert quiet.stderr == default.stderr == ""
    assert shown.stdout == quiet.stdout == default.stdout


def test_dedup_workers_2_shows_progress_and_keeps_the_same_ids(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", rows(300))
    one = dedup(source, "--out", tmp_path / "w1", "--workers", 1, "--progress")
    two = dedup(source, "--out", tmp_path / "w2", "--workers", 2, "--progress")
    assert one.exit_code == two.exit_code == 0, two.output
    for phase in DEDUP_PHASES:
        assert f"dedup: {phase}" in two.stderr
    assert "300/300" in two.stderr
    assert kept_ids(tmp_path / "w2") == kept_ids(tmp_path / "w1")
    assert len(kept_ids(tmp_path / "w1")) < 300  # the planted copies were found
    assert one.stdout.replace("w1", "w2") == two.stdout


def events_of(calls: list[tuple], phase: str) -> list[tuple]:
    return [(done, total) for name, done, total in calls if name == phase]


def test_run_dedup_reports_to_a_callback_in_chunks_and_is_silent_by_default(tmp_path, capfd):
    source = write_jsonl(tmp_path / "in.jsonl", rows(300))
    run_dedup(source, tmp_path / "silent", workers=2, chunk_rows=50)
    assert capfd.readouterr().err == ""

    calls: list[tuple] = []
    result = run_dedup(source, tmp_path / "o", workers=2, chunk_rows=50,
                       progress=lambda phase, done, total: calls.append((phase, done, total)))
    assert list(dict.fromkeys(name for name, _, _ in calls)) == list(DEDUP_PHASES)
    sketched = events_of(calls, "read+sketch")
    assert [done for done, _ in sketched] == [0, 50, 100, 150, 200, 250, 300]  # counted as chunks come back
    assert {total for _, total in sketched} == {None}
    assert events_of(calls, "write")[-1] == (300, 300)
    assert events_of(calls, "verify")[0][0] is None and events_of(calls, "verify")[0][1] > 0
    assert result.rows == 300 and kept_ids(tmp_path / "o") == kept_ids(tmp_path / "silent")


def test_dedup_knows_the_total_of_a_parquet_and_a_saved_dataset(tmp_path):
    records = rows(120)
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "in.parquet")
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(records).save_to_disk(str(tmp_path / "ds"))
    for source in (tmp_path / "in.parquet", tmp_path / "ds"):
        calls: list[tuple] = []
        run_dedup(source, tmp_path / f"o-{source.name}", workers=1, chunk_rows=50,
                  progress=lambda *event: calls.append(event))
        assert events_of(calls, "read+sketch") == [(0, 120), (50, 120), (100, 120), (120, 120)], source


def test_dedup_progress_with_a_history_names_its_phase(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", rows(100))
    result = dedup(source, "--out", tmp_path / "o", "--workers", 1, "--history", tmp_path / "hist", "--progress")
    assert result.exit_code == 0, result.output
    assert "dedup: history (" in result.stderr and "dedup: done in" in result.stderr


def test_a_failed_dedup_ends_its_progress_without_a_done_line(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "a fine first line of text"}) + "\n{not json\n")
    result = CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--workers", "1",
                                                "--ngram", "3", "--progress"])  # auto would read it in prepare
    assert result.exit_code == 1 and "invalid JSON" in result.stderr
    assert "dedup: read+sketch" in result.stderr and "done in" not in result.stderr
    assert result.stdout == ""


def metrics(*args):
    return CliRunner().invoke(metrics_command, [str(a) for a in args], catch_exceptions=False)


METRICS_PHASES = ("read", "fit tfidf", "lexical", "embed batch", "embed reference", "similarity + clusters",
                  "fidelity")


def test_metrics_progress_names_its_phases_and_leaves_stdout_alone(tmp_path):
    texts = sentences()
    mine = write_jsonl(tmp_path / "mine.jsonl", [{"text": t} for t in texts[:300]])
    real = write_jsonl(tmp_path / "real.jsonl", [{"text": t} for t in texts[300:600]])
    args = (mine, "--reference", real, "--embedder", "tfidf")
    shown, default = metrics(*args, "--progress"), metrics(*args)  # CliRunner's stderr is no terminal
    shown_json, quiet_json = metrics(*args, "--json", "--progress"), metrics(*args, "--json", "--quiet")
    assert {shown.exit_code, default.exit_code, shown_json.exit_code, quiet_json.exit_code} == {0}, shown.output
    for phase in METRICS_PHASES:
        assert f"metrics: {phase}" in shown.stderr, shown.stderr
    assert "metrics: embed batch (300 texts)..." in shown.stderr
    assert re.search(r"metrics: done in [\d.]+s \(read ", shown.stderr)
    assert default.stderr == quiet_json.stderr == "" and "metrics: fidelity" in shown_json.stderr
    assert shown.stdout == default.stdout and "300 texts vs" in shown.stdout
    assert shown_json.stdout == quiet_json.stdout and json.loads(shown_json.stdout)["n"] == 300


def test_diversity_rows_reports_to_a_callback_only_when_given_one(capfd):
    texts = sentences()
    silent = diversity_rows(texts[:200], texts[200:400], "tfidf", 0)
    assert capfd.readouterr().err == ""
    calls: list[tuple] = []
    watched = diversity_rows(texts[:200], texts[200:400], "tfidf", 0, progress=lambda *event: calls.append(event))
    assert [name for name, _, _ in calls] == ["fit tfidf", "lexical", "embed batch", "embed reference",
                                              "similarity + clusters"]
    assert watched == silent


def test_progress_is_on_for_a_terminal_unless_a_flag_says_otherwise():
    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    assert progress_wanted(None, Stream(True)) and not progress_wanted(None, Stream(False))
    assert not progress_wanted(False, Stream(True)) and progress_wanted(True, Stream(False))


def test_phase_bars_leave_no_thread_so_dedup_can_still_fork(tmp_path):
    """A tqdm monitor thread would make :func:`start_method` choose spawn (see its docstring)."""
    from synthgen.dedup.sketch import start_method

    before = threading.active_count()
    file = io.StringIO()
    with PhaseProgress("dedup", file=file) as hook:
        hook("read+sketch", 0, 10)
        assert threading.active_count() == before  # not even while a bar is open
        hook("read+sketch", 10, 10)
        hook("verify", None, 3)
    assert threading.active_count() == before
    assert "100%" in file.getvalue() and "dedup: verify (3 rows)..." in file.getvalue()
    if before == 1 and sys.platform == "linux":
        assert start_method() == "fork"


def test_dedup_on_ray_reports_progress_in_the_driver(tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'synthgen[ray]'")
    source = write_jsonl(tmp_path / "in.jsonl", rows(200))
    local = run_dedup(source, tmp_path / "local", workers=1, chunk_rows=50)
    started = not ray.is_initialized()
    calls: list[tuple] = []
    try:
        distributed = run_dedup(source, tmp_path / "ray", workers=2, chunk_rows=50, executor="ray",
                                progress=lambda *event: calls.append(event))
    finally:
        if started and ray.is_initialized():
            ray.shutdown()
    assert calls[0][0] == "prepare" and ("connect to Ray", None, None) in calls
    assert [done for done, _ in events_of(calls, "read+sketch")] == [0, 50, 100, 150, 200]
    assert events_of(calls, "write")[-1] == (200, 200)
    assert kept_ids(tmp_path / "ray") == kept_ids(tmp_path / "local") and distributed.kept == local.kept
