"""How a sandboxed run ended: the status lines the child wrote and its exit, turned into
(status, reason). Only a ``pass <nonce>`` line with this run's nonce, exit status 0 and no violation make a
pass (see ``sandbox.py`` for why the program cannot produce that line itself).

Reasons whose stderr says nothing (a timeout, an early exit, a kill, a limit) also get a one-line
``message`` (:func:`describe`), the first line of ``error``: with the :class:`~.sandbox.SandboxLimits` at
hand it names the limit and the setting that raises it ("ran past the 5 s wall clock (timeout_s)")."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

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
NON_PLAIN_RETURN = "non_plain_return"
TAMPERED_BUILTINS = "tampered_builtins"
GUARDS = (NON_PLAIN_RETURN, TAMPERED_BUILTINS, EARLY_EXIT)
FORBIDDEN = {"file": "forbidden_file_access", "network": "forbidden_network", "process": "forbidden_process",
             "native": "forbidden_native_code", "tamper": TAMPERED_BUILTINS}
_ERROR_REASONS = {"AssertionError": (FAIL, TESTS_FAILED), "SystemExit": (FAIL, EARLY_EXIT),
                  "SyntaxError": (CRASH, SYNTAX_ERROR), "IndentationError": (CRASH, SYNTAX_ERROR),
                  "TabError": (CRASH, SYNTAX_ERROR), "MemoryError": (CRASH, MEMORY_LIMIT),
                  "RecursionError": (CRASH, RUNTIME_ERROR)}
EFBIG, ENOSPC, EROFS = 27, 28, 30
_TIMEOUT_SIGNALS = {signal.SIGALRM: "wall", signal.SIGXCPU: "cpu"}
# The audit hook's note (``_sandbox_hook.py``) that the program opened a file of its own for writing: a
# file-size error without it came from the printed output (stdout/stderr).
WROTE_FILE = "wrote_file"
# multiprocessing's process pools make a semaphore (in /dev/shm, read-only in the sandbox) before their
# first process, so they fail there before the audit hook sees a fork: the frame of the traceback that says
# a process pool was being set up (the prelude's own traceback: the last one in stderr).
_PROCESS_POOLS = (("multiprocessing/pool.py", "in _setup_queues", "multiprocessing.Pool"),
                  ("concurrent/futures/process.py", "", "concurrent.futures.ProcessPoolExecutor"))
_SEMAPHORE_FILE = "multiprocessing/synchronize.py"


@dataclass(frozen=True)
class SandboxResult:
    """How one run ended; ``error`` is ``message`` (one line on how it ended, where stderr does not say it;
    else empty) followed by an excerpt of stderr (or of the violation)."""

    status: str
    reason: str | None
    exit_code: int | None
    seconds: float
    error: str = ""
    stdout: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    message: str = ""  # how the run ended, in one line; ``error`` starts with it (see :func:`describe`)
    facts: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # what ``describe`` reads

    @property
    def passed(self) -> bool:
        return self.status == PASS


def markers(text: str, nonce: str) -> list[tuple[str, str]]:
    """``(kind, detail)`` for each status line; a ``pass`` line counts only with this run's nonce."""
    found = []
    for line in text.splitlines():
        kind, _, detail = line.partition(" ")
        if kind == "pass":
            if detail.strip() == nonce:
                found.append(("pass", ""))
        elif kind in ("violation", "error", "note"):
            found.append((kind, detail))
    return found


def classify(markers: list[tuple[str, str]], exit_code: int | None, ended: str | None, seconds: float,
             stderr: str, stdout: str, *, limits: Any = None, audit: bool | None = None) -> SandboxResult:
    """Turn the child's status lines and exit into (status, reason); a violation outranks everything, and
    a pass needs the nonce line *and* exit status 0. ``limits`` and ``audit`` (whether the audit hook ran)
    only sharpen the ``message`` (:func:`describe`)."""
    kinds = dict(markers)
    evidence: dict[str, Any] = {}
    facts: dict[str, Any] = {"exit_code": exit_code, WROTE_FILE: ("note", WROTE_FILE) in markers}
    timeout_signal = _timeout_signal(exit_code)
    if "violation" in kinds:
        status, reason, stderr = _violation(kinds["violation"])
    elif ended == DISK_LIMIT:
        status, reason = CRASH, DISK_LIMIT
    elif ended == TIMED_OUT or timeout_signal:
        status, reason = TIMEOUT, TIMED_OUT
        evidence["limit"] = facts["limit"] = timeout_signal or "wall"
    elif "pass" in kinds and exit_code == 0:
        status, reason = PASS, None
    elif "error" in kinds:
        status, reason = _error_reason(kinds["error"])
        name, _, rest = kinds["error"].partition(" ")
        if name == "SystemExit":
            facts["system_exit"] = _shorten(rest.strip(), 60)
        elif (name, rest.strip()) == ("OSError", str(EROFS)) and _semaphore_refused(stderr):
            facts["semaphore"] = True  # multiprocessing, refused its semaphore: a pool's is process creation
            facts["blocked"] = _process_pool(stderr)
            if facts["blocked"]:
                status, reason = CRASH, FORBIDDEN["process"]
    elif exit_code == 0:
        status, reason = FAIL, EARLY_EXIT
    else:
        status, reason = CRASH, KILLED
    if exit_code is not None and exit_code < 0:
        evidence["signal"] = _signal_name(-exit_code) or -exit_code
    facts["signal"] = evidence.get("signal")
    message = "" if status == PASS or "violation" in kinds else describe(reason, facts, limits, audit)
    return SandboxResult(status, reason, exit_code, round(seconds, 4), _join(message, stderr.strip()),
                         stdout.strip(), evidence, message, facts)


def describe(reason: str | None, facts: dict[str, Any], limits: Any = None, audit: bool | None = None) -> str:
    """One line on how a run ended, for the reasons whose stderr does not say it ('' for the others).
    ``limits`` (a ``SandboxLimits``) puts the numbers in ("ran past the 5 s wall clock (timeout_s)");
    ``audit`` True says the audit hook ran, so a file-size error without its note came from printing."""
    if facts.get("blocked"):
        return (f"blocked: {facts['blocked']} (no process creation in the sandbox: the pool failed on the "
                "semaphore it makes before its first process)")
    if reason == TIMED_OUT:
        if facts.get("limit") == "cpu":
            cpu = getattr(limits, "cpu_seconds", None)
            return f"used more than {cpu} s of CPU time (cpu_s)" if cpu else "ran past its CPU-time limit (cpu_s)"
        wall = getattr(limits, "timeout_s", None)
        return f"ran past the {wall:g} s wall clock (timeout_s)" if wall else \
            "ran past its wall-clock limit (timeout_s)"
    if reason == EARLY_EXIT:
        return _early_exit(facts)
    if reason == FILE_SIZE_LIMIT:
        limit = f"the {limits.file_size_mb} MB file-size limit" if limits is not None else "the file-size limit"
        if facts.get(WROTE_FILE):
            return (f"a write went past {limit} (file_size_mb): a file the program wrote, or its printed "
                    "output (stdout/stderr)")
        if audit:
            return f"its printed output (stdout/stderr) went past {limit}: print less, or raise file_size_mb"
        return (f"a write went past {limit} (file_size_mb); printed output (stdout/stderr) counts: print less, "
                "or raise file_size_mb")
    if reason == DISK_LIMIT:
        if limits is None:
            return "its folder went past the disk quota (disk_mb, max_files)"
        return (f"its folder went past the disk quota: {limits.disk_mb} MB (disk_mb) or {limits.max_files} files "
                "(max_files)")
    if reason == MEMORY_LIMIT:
        return (f"ran out of memory: the {limits.memory_mb} MB limit (memory_mb)" if limits is not None
                else "ran out of memory (memory_mb)")
    if reason == KILLED:
        if facts.get("signal") is not None:
            return f"ended by {facts['signal']} before reporting a result"
        code = facts.get("exit_code")
        if code is None:
            return "ended before reporting a result (its sandbox died)"
        name = _signal_name(code - 128) if code > 128 else None
        if name:  # bubblewrap's init reports a signal as 128 + its number
            return f"ended with status {code} ({name}, or os._exit({code})) before reporting a result"
        return f"exited with status {code} before the tests finished (os._exit({code}), or a crash)"
    if facts.get("semaphore"):
        return ("multiprocessing's locks, queues and pools need a semaphore in /dev/shm, which the sandbox does "
                "not have (for threads: threading or concurrent.futures.ThreadPoolExecutor)")
    return ""


def _early_exit(facts: dict[str, Any]) -> str:
    if "system_exit" in facts:
        code = facts["system_exit"]
        call = "sys.exit()" if code in ("None", "") else f"sys.exit({code})"
        return f"exited before the tests finished ({call} or raise SystemExit)"
    return "exited before the tests finished (os._exit(0))"


def _signal_name(number: int) -> str | None:
    """``SIGKILL`` for 9, ``SIGRTMIN+6`` for a real-time signal (no ``signal.Signals`` member: a program that
    raised one on itself made ``classify`` raise), None for a number that is no signal here."""
    if number not in signal.valid_signals():
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIGRTMIN+{number - signal.SIGRTMIN}" if signal.SIGRTMIN <= number <= signal.SIGRTMAX else None


def _shorten(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars - 3] + "..."


def _join(message: str, error: str) -> str:
    return f"{message}\n{error}" if message and error else message or error


def _last_traceback(stderr: str) -> str:
    """The last traceback in stderr: the prelude's, written after everything the program printed."""
    start = stderr.rfind("Traceback (most recent call last):")
    return stderr[start:] if start >= 0 else ""


def _frames(stderr: str) -> list[str]:
    """The ``  File "…"`` lines of the last traceback in stderr."""
    return [line for line in _last_traceback(stderr).splitlines() if line.startswith('  File "')]


def _semaphore_refused(stderr: str) -> bool:
    """Whether the read-only file system error came from making a multiprocessing semaphore."""
    frames = _frames(stderr)
    return bool(frames) and f'{_SEMAPHORE_FILE}"' in frames[-1]


def _process_pool(stderr: str) -> str | None:
    """The process pool (``multiprocessing.Pool``, ``ProcessPoolExecutor``) whose semaphore the sandbox
    refused, or None. Only a rejection's reason depends on it: the program failed either way."""
    frames = _frames(stderr)
    for path, function, name in _PROCESS_POOLS:
        if any(f'{path}"' in frame and frame.endswith(function) for frame in frames):
            return name
    return None


def _timeout_signal(exit_code: int | None) -> str | None:
    """``wall``/``cpu`` when the child died of SIGALRM/SIGXCPU (negative, or 128+n through a wrapper)."""
    if exit_code is None or exit_code == 0:
        return None
    number = -exit_code if exit_code < 0 else exit_code - 128
    return _TIMEOUT_SIGNALS.get(number)


def _violation(detail: str) -> tuple[str, str, str]:
    category, _, rest = detail.partition(" ")
    if category == "guard":
        reason, _, what = rest.partition(" ")
        return (FAIL, reason, f"guard: {what}") if reason in GUARDS else (CRASH, "forbidden", f"blocked: {rest}")
    reason = FORBIDDEN.get(category, "forbidden")
    return (FAIL if reason == TAMPERED_BUILTINS else CRASH), reason, f"blocked: {rest}"


def _error_reason(detail: str) -> tuple[str, str]:
    name, _, errno = detail.partition(" ")
    if name in ("OSError", "IOError") and errno.strip() == str(EFBIG):
        return CRASH, FILE_SIZE_LIMIT
    if name in ("OSError", "IOError") and errno.strip() == str(ENOSPC):
        return CRASH, DISK_LIMIT
    return _ERROR_REASONS.get(name, (CRASH, RUNTIME_ERROR))
