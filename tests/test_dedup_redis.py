"""A dedup history shared through Redis (datasketch MinHashLSH on Redis storage), against a real redis-server
that the fixture starts on a free loopback port."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from test_dedup_pipeline import OUTPUTS, rejected_rows, write

REDIS_SERVER = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """``redis-server`` on 127.0.0.1:<free port>, no persistence; yields its port."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed (Debian: apt-get install redis-server)")
    pytest.importorskip("redis", reason="the redis package is not installed: pip install 'synthgen[redis]'")
    import redis

    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def redis_url(redis_server, request):
    """A fresh database per test (0–15, flushed)."""
    import redis

    db = abs(hash(request.node.name)) % 16
    redis.Redis(port=redis_server, db=db).flushdb()
    return f"redis://127.0.0.1:{redis_server}/{db}"


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


TEXTS = ["Moss grows slowly near the old stone bridge while the river keeps flowing past the mill",
         "Bakers fold butter into dough many times to build the flaky layers of a croissant",
         "The orchestra tuned to a single oboe note before the conductor raised her baton",
         "Volcanic islands form where magma rises through thin oceanic crust over a hot spot",
         "Chess players often castle early to protect the king and connect their rooks",
         "Tide pools shelter anemones, crabs and small fish between the ebb and the flood"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "synthgen", "dedup", *map(str, args)], capture_output=True,
                          text=True, env={**__import__("os").environ,
                                          "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def test_history_dedups_across_two_runs_in_two_processes(tmp_path, redis_url):
    first = write_jsonl(tmp_path / "first.jsonl", [{"id": f"a{i}", "text": t} for i, t in enumerate(TEXTS)])
    copies = [{"id": "b0", "text": TEXTS[1].upper()}, {"id": "b1", "text": TEXTS[2] + " today"},
              {"id": "b2", "text": "An entirely different sentence about winter markets and lanterns"}]
    second = write_jsonl(tmp_path / "second.jsonl", copies)
    done = cli(first, "--out", tmp_path / "o1", "--history", redis_url, "--workers", "1")
    assert done.returncode == 0, done.stderr
    done = cli(second, "--out", tmp_path / "o2", "--history", redis_url, "--workers", "2")
    assert done.returncode == 0, done.stderr
    rejected = {r["id"]: r for r in pq.read_table(tmp_path / "o2" / "rejected.parquet").to_pylist()}
    assert {k: (r["dedup_reason"], r["dedup_scope"], r["dedup_matched_id"]) for k, r in rejected.items()} == {
        "b0": ("exact_duplicate", "history", "a1"), "b1": ("near_duplicate", "history", "a2")}
    assert rejected["b1"]["dedup_score"] >= 0.8
    again = cli(first, "--out", tmp_path / "o3", "--history", redis_url, "--workers", "1")
    assert "6 rows: 6 kept" in again.stdout  # a re-run replaces its own records, never matches itself


def test_redis_and_folder_history_keep_the_same_rows(tmp_path, redis_url):
    from synthgen.dedup.cli import run_dedup

    rng = np.random.default_rng(0)
    words = "sun moon star cloud rain wind snow hill lake tree leaf root seed bark wood path gate wall".split()
    base = [" ".join(rng.choice(words, 20)) for _ in range(120)]
    older = write_jsonl(tmp_path / "older.jsonl", [{"id": f"o{i}", "text": t} for i, t in enumerate(base[:60])])
    edited = [t.replace(t.split()[5], "bird", 1) for t in base[:60:3]]
    newer = write_jsonl(tmp_path / "newer.jsonl", [{"id": f"n{i}", "text": t} for i, t in enumerate(base[60:] + edited)])
    for history in (tmp_path / "hist", redis_url):
        run_dedup(older, tmp_path / "o", history=history, workers=1)
    folder = run_dedup(newer, tmp_path / "f", history=tmp_path / "hist", workers=1)
    shared = run_dedup(newer, tmp_path / "r", history=redis_url, workers=1)
    assert folder.summary() | {"settings": None} == shared.summary() | {"settings": None}
    columns = ["id", "dedup_reason", "dedup_scope", "dedup_matched_id", "dedup_score"]
    assert (pq.read_table(tmp_path / "f" / "rejected.parquet").select(columns).to_pylist()
            == pq.read_table(tmp_path / "r" / "rejected.parquet").select(columns).to_pylist())
    assert shared.reasons["near_duplicate"] > 0


def test_band_hashes_are_datasketch_buckets(redis_url):
    """Our batched bucket look-up returns exactly what MinHashLSH.query returns for the same LeanMinHash."""
    from datasketch import LeanMinHash

    from synthgen.dedup import MinHasher
    from synthgen.dedup.redis_history import RedisHistory
    from synthgen.dedup.scopes import SketchSet

    hasher = MinHasher(128, 3, 1)
    texts = TEXTS + [t.replace("river", "creek") for t in TEXTS]
    sigs = hasher.signatures(texts)
    history = RedisHistory(redis_url, 128, 14, 9)
    history.writer("older", 1)._insert(SketchSet([f"x{i}" for i in range(6)], np.arange(6, dtype=np.uint64), sigs[:6]), 3)
    scope = history.scope("newer")
    for sig, found in zip(sigs, scope._candidates(sigs)):
        expected = history.lsh.query(LeanMinHash(seed=1, hashvalues=sig, scheme="affine32"))
        assert found == set(expected)
    assert any(scope._candidates(sigs[6:]))


def test_recipe_runs_share_a_redis_history(tmp_path, redis_url):
    from synthgen.api import run_recipe

    first = run_recipe(write(tmp_path, dedup=f'history = "{redis_url}"'), out=tmp_path / "gen1", progress=False)
    second = run_recipe(write(tmp_path, name="dd2", generation=2, dedup=f'history = "{redis_url}"'),
                        out=tmp_path / "gen2", progress=False)
    assert pq.read_table(second.run_dir / "data.parquet").num_rows == 0
    evidence = [row["evidence"] for row in rejected_rows(second)]
    assert {e["scope"] for e in evidence} == {"history"}
    assert {e["matched_id"] for e in evidence} <= set(first.dataset["id"])
    assert len(OUTPUTS) > len(first.dataset["id"])


def test_unreachable_redis_and_other_settings_are_one_clear_line(tmp_path, redis_url):
    from synthgen.dedup.cli import dedup_command

    source = write_jsonl(tmp_path / "in.jsonl", [{"text": TEXTS[0]}])
    result = CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--history",
                                                f"redis://127.0.0.1:{free_port()}/0"])
    assert result.exit_code == 1 and "cannot reach the Redis dedup history" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--history", redis_url,
                                              "--workers", "1"]).exit_code == 0
    result = CliRunner().invoke(dedup_command, [str(source), "--out", str(tmp_path / "o"), "--history", redis_url,
                                                "--num-perm", "64", "--workers", "1"])
    assert result.exit_code == 1 and "built with num_perm=128, bands=14, rows=9, not --num-perm 64" in result.output
    assert "pass --num-perm 128, or point --history at another Redis database" in result.output
