"""SIGTERM (`kill`, a cancelled CI job, `docker stop`) is taken like Ctrl-C: `synthgen dedup --workers 2` stops
its forked workers and removes what it made, and exits 143. It used to vanish and leave its workers running
(~260 MB each, reparented to init) and its scratch signatures on disk."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthgen.cli_errors import TERMINATED_EXIT, Terminated, sigterm_interrupts

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def processes_naming(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_sigterm_stops_dedup_workers_and_exits_143(tmp_path: Path) -> None:
    rng, words = random.Random(1), [f"w{i}" for i in range(5000)]
    source = tmp_path / "big.jsonl"
    with source.open("w") as handle:
        for i in range(80_000):
            handle.write(json.dumps({"id": i, "text": " ".join(rng.choice(words) for _ in range(60))}) + "\n")
    out = tmp_path / "out-sigterm"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.Popen([sys.executable, "-m", "synthgen", "dedup", str(source), "--out", str(out), "--workers", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while len(children_of(run.pid)) < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run.poll() is None, "the dedup finished before its workers could be seen"
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == TERMINATED_EXIT == 143, err
    time.sleep(0.5)
    assert processes_naming(str(out)) == []  # no worker left behind
    assert not out.exists()  # the run made the folder: nothing of it stays


def test_sigterm_raises_terminated_in_the_block_only_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs between bytecodes: never reached
    assert signal.getsignal(signal.SIGTERM) is before
