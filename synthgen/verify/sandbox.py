"""Run untrusted Python in a child process with limits, and say how it ended.

Each run gets its own temporary directory (the child's cwd and only writable place, removed afterwards), its
own session and process group (killed as a whole), a stripped environment (no inherited secrets), rlimits on
CPU time, address space, file size, processes and core files, a wall-clock timeout, a disk quota, and an
audit-hook prelude (``_sandbox_prelude.py``) that ends the child on file access outside its directory,
socket use, process creation and native code. When the kernel allows it, the child also runs in fresh
network and PID namespaces (``unshare``): no network devices at all, and every descendant dies with it.

Outcomes: ``pass``, ``fail`` (tests failed or the program exited early), ``timeout`` and ``crash``, each
with a snake_case ``reason`` and an excerpt of the error.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import isolation
from ._sandbox_prelude import TIMEOUT_EXIT, VIOLATION_EXIT

PRELUDE = (Path(__file__).parent / "_sandbox_prelude.py").read_text(encoding="utf-8")

PASS, FAIL, TIMEOUT, CRASH = "pass", "fail", "timeout", "crash"
TESTS_FAILED = "tests_failed"
EARLY_EXIT = "early_exit"
TIMED_OUT = "timeout"
SYNTAX_ERROR = "syntax_error"
RUNTIME_ERROR = "runtime_error"
MEMORY_LIMIT = "memory_limit"
FILE_SIZE_LIMIT = "file_size_limit"
DISK_LIMIT = "disk_limit"
KILLED = "killed"
FORBIDDEN = {"file": "forbidden_file_access", "network": "forbidden_network", "process": "forbidden_process",
             "native": "forbidden_native_code"}
_ERROR_REASONS = {"AssertionError": (FAIL, TESTS_FAILED), "SystemExit": (FAIL, EARLY_EXIT),
                  "SyntaxError": (CRASH, SYNTAX_ERROR), "IndentationError": (CRASH, SYNTAX_ERROR),
                  "TabError": (CRASH, SYNTAX_ERROR), "MemoryError": (CRASH, MEMORY_LIMIT),
                  "RecursionError": (CRASH, RUNTIME_ERROR)}
EFBIG = 27


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run limits. ``cpu_s`` defaults to the wall timeout rounded up."""

    timeout_s: float = 5.0
    cpu_s: int | None = None
    memory_mb: int = 1024
    file_size_mb: int = 16
    disk_mb: int = 64
    max_files: int = 10_000
    max_processes: int = 64
    excerpt_chars: int = 2000

    @property
    def cpu_seconds(self) -> int:
        return self.cpu_s if self.cpu_s is not None else max(1, math.ceil(self.timeout_s))


@dataclass(frozen=True)
class SandboxResult:
    """How one run ended; ``error`` is an excerpt of stderr (or of the violation)."""

    status: str
    reason: str | None
    exit_code: int | None
    seconds: float
    error: str = ""
    stdout: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == PASS


class Sandbox:
    """Runs programs under :class:`SandboxLimits`. ``isolation``: ``auto`` (namespaces when the kernel
    allows), ``namespaces`` (required) or ``none`` (process limits and the audit prelude only).
    ``site_packages=False`` runs ``python -I -S``: standard library only, and ~3x faster start-up than with
    the site packages of a large environment. ``audit=False`` leaves out the audit hook; tests use it to
    prove the outer layers hold on their own."""

    def __init__(self, limits: SandboxLimits | None = None, python: str | None = None, isolation_mode: str = "auto",
                 exit_zero_passes: bool = False, site_packages: bool = False,
                 read_roots: tuple[str, ...] = ("/usr/share/zoneinfo",), audit: bool = True):
        self.limits = limits or SandboxLimits()
        self.site_packages, self.audit = site_packages, audit
        self.python = python or sys.executable
        self.isolation_mode = isolation_mode
        self.exit_zero_passes = exit_zero_passes
        self.read_roots = tuple(read_roots)

    def describe(self) -> dict[str, Any]:
        return {"python": self.python, "isolation": isolation.wrapper_name(self.isolation_mode),
                "site_packages": self.site_packages,
                "limits": self.limits.__dict__ | {"cpu_s": self.limits.cpu_seconds}}

    def run(self, program: str) -> SandboxResult:
        """Run ``program`` (Python source) to completion or a limit; never raises for the program's faults."""
        root = Path(tempfile.mkdtemp(prefix="synthgen-sandbox-"))
        try:
            return self._run_in(root, program)
        finally:
            _remove(root)

    def _run_in(self, root: Path, program: str) -> SandboxResult:
        work = root / "work"
        work.mkdir()
        (work / "program.py").write_text(program, encoding="utf-8")
        nonce = secrets.token_hex(16)
        with open(root / "stdout", "wb+") as out, open(root / "stderr", "wb+") as err, \
                open(root / "status", "wb+") as status:
            start = time.perf_counter()
            proc = self._spawn(work, out, err, status, nonce)
            ended = self._wait(proc, work)
            seconds = time.perf_counter() - start
            markers = _markers(_tail(status, 20_000), nonce)
            excerpt = self.limits.excerpt_chars
            return classify(markers, proc.returncode, ended, seconds, _tail(err, excerpt), _tail(out, excerpt))

    def _spawn(self, work: Path, out: Any, err: Any, status: Any, nonce: str) -> subprocess.Popen:
        cfg = {"nonce": nonce, "status_fd": status.fileno(), "timeout_s": self.limits.timeout_s,
               "cpu_s": self.limits.cpu_seconds, "memory_mb": self.limits.memory_mb,
               "file_size_mb": self.limits.file_size_mb, "max_processes": self.limits.max_processes,
               "exit_zero_passes": self.exit_zero_passes, "read_roots": list(self.read_roots), "audit": self.audit}
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1", "SYNTHGEN_SANDBOX": json.dumps(cfg)}
        flags = ["-I", "-B"] if self.site_packages else ["-I", "-S", "-B"]
        argv = [*isolation.wrapper(self.isolation_mode), self.python, *flags, "-c", PRELUDE]
        return subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                pass_fds=(status.fileno(),), start_new_session=True, close_fds=True)

    def _wait(self, proc: subprocess.Popen, work: Path) -> str | None:
        """Wait for exit; return why we ended it (``timeout``, ``disk_limit``) or None if it exited."""
        deadline = time.monotonic() + self.limits.timeout_s + 1.0
        ended = None
        with _ExitWatch(proc) as watch:
            while proc.poll() is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    ended = TIMED_OUT
                elif _over_quota(work, self.limits):
                    ended = DISK_LIMIT
                if ended:
                    break
                watch.wait(min(remaining, 0.25))
        _kill_group(proc)
        return ended


class _ExitWatch:
    """Sleeps until the child exits or a timeout passes: on a pidfd when the kernel has them (wakes at
    once), else Popen.wait's polling (which backs off to 50 ms steps)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        try:
            self.fd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            self.fd = None

    def __enter__(self) -> "_ExitWatch":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def wait(self, seconds: float) -> None:
        if self.fd is not None:
            select.select([self.fd], [], [], seconds)
            return
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's whole process group (it leads its own session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _remove(root: Path, attempts: int = 40) -> None:
    """rmtree, retried: a killed grandchild (the namespace's init) may still be dying and create one more
    file just after the first pass listed the directory."""
    for _ in range(attempts):
        shutil.rmtree(root, ignore_errors=True)
        if not root.exists():
            return
        time.sleep(0.05)


def _over_quota(work: Path, limits: SandboxLimits) -> bool:
    total, count = 0, 0
    for dirpath, _dirs, files in os.walk(work):
        for name in files:
            count += 1
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
            if count > limits.max_files or total > limits.disk_mb * 1024 * 1024:
                return True
    return False


def _tail(handle: Any, chars: int) -> str:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - 4 * chars))
    return handle.read().decode("utf-8", "replace")[-chars:]


def _markers(text: str, nonce: str) -> list[tuple[str, str]]:
    """``(kind, detail)`` for each status line carrying the run's nonce."""
    found = []
    for line in text.splitlines():
        head, _, rest = line.partition(" ")
        if head == nonce:
            kind, _, detail = rest.partition(" ")
            found.append((kind, detail))
    return found


def classify(markers: list[tuple[str, str]], exit_code: int | None, ended: str | None, seconds: float,
             stderr: str, stdout: str) -> SandboxResult:
    """Turn the child's status lines and exit into (status, reason); a violation outranks everything."""
    kinds = dict(markers)
    evidence: dict[str, Any] = {}
    if "violation" in kinds:
        category, _, detail = kinds["violation"].partition(" ")
        status, reason, stderr = CRASH, FORBIDDEN.get(category, "forbidden"), f"blocked: {detail}"
    elif ended == DISK_LIMIT:
        status, reason = CRASH, DISK_LIMIT
    elif ended == TIMED_OUT or "timeout" in kinds or exit_code in (-signal.SIGXCPU, TIMEOUT_EXIT):
        status, reason = TIMEOUT, TIMED_OUT
        evidence["limit"] = kinds.get("timeout", "wall")
    elif "pass" in kinds:
        status, reason = PASS, None
    elif "error" in kinds:
        status, reason = _error_reason(kinds["error"])
    elif exit_code == 0:
        status, reason = FAIL, EARLY_EXIT
    else:
        status, reason = CRASH, KILLED
    if exit_code is not None and exit_code < 0:
        evidence["signal"] = signal.Signals(-exit_code).name if -exit_code in signal.valid_signals() else -exit_code
    return SandboxResult(status, reason, exit_code, round(seconds, 4), stderr.strip(), stdout.strip(), evidence)


def _error_reason(detail: str) -> tuple[str, str]:
    name, _, errno = detail.partition(" ")
    if name in ("OSError", "IOError") and errno.strip() == str(EFBIG):
        return CRASH, FILE_SIZE_LIMIT
    return _ERROR_REASONS.get(name, (CRASH, RUNTIME_ERROR))


__all__ = ["Sandbox", "SandboxLimits", "SandboxResult", "classify", "PASS", "FAIL", "TIMEOUT", "CRASH",
           "VIOLATION_EXIT"]
