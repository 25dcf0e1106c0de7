"""How a sandboxed run ended: the status lines the child wrote and its exit, turned into
(status, reason). Only a ``pass <nonce>`` line with this run's nonce, exit status 0 and no violation make a
pass (see ``sandbox.py`` for why the program cannot produce that line itself)."""

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
EFBIG, ENOSPC = 27, 28
_TIMEOUT_SIGNALS = {signal.SIGALRM: "wall", signal.SIGXCPU: "cpu"}


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


def markers(text: str, nonce: str) -> list[tuple[str, str]]:
    """``(kind, detail)`` for each status line; a ``pass`` line counts only with this run's nonce."""
    found = []
    for line in text.splitlines():
        kind, _, detail = line.partition(" ")
        if kind == "pass":
            if detail.strip() == nonce:
                found.append(("pass", ""))
        elif kind in ("violation", "error"):
            found.append((kind, detail))
    return found


def classify(markers: list[tuple[str, str]], exit_code: int | None, ended: str | None, seconds: float,
             stderr: str, stdout: str) -> SandboxResult:
    """Turn the child's status lines and exit into (status, reason); a violation outranks everything, and
    a pass needs the nonce line *and* exit status 0."""
    kinds = dict(markers)
    evidence: dict[str, Any] = {}
    timeout_signal = _timeout_signal(exit_code)
    if "violation" in kinds:
        status, reason, stderr = _violation(kinds["violation"])
    elif ended == DISK_LIMIT:
        status, reason = CRASH, DISK_LIMIT
    elif ended == TIMED_OUT or timeout_signal:
        status, reason = TIMEOUT, TIMED_OUT
        evidence["limit"] = timeout_signal or "wall"
    elif "pass" in kinds and exit_code == 0:
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
