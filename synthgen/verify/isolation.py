"""Kernel isolation for sandbox children: fresh network and PID namespaces through ``unshare(1)``.

In a new network namespace there is no interface but a down loopback, so no connection can leave; in a new
PID namespace the child is init, and when it dies the kernel kills every process it left behind (even ones
that started their own session). Root gets this directly; other users through a user namespace when the
kernel allows unprivileged ones. Containers often forbid both: then ``auto`` falls back to process limits
and the audit prelude, and ``describe()`` says so.
"""

from __future__ import annotations

import shutil
import subprocess
import threading

from ..errors import SynthgenError

_NAMESPACES = ["--net", "--pid", "--fork", "--kill-child"]
_CANDIDATES = {"namespaces": _NAMESPACES, "user_namespaces": ["--user", "--map-root-user", *_NAMESPACES]}
_lock = threading.Lock()
_probed: dict[str, list[str] | None] = {}


def _probe() -> tuple[str, list[str]] | None:
    """The first wrapper that actually runs ``true`` here, or None."""
    binary = shutil.which("unshare")
    if binary is None:
        return None
    for name, flags in _CANDIDATES.items():
        argv = [binary, *flags, "--"]
        try:
            done = subprocess.run([*argv, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return name, argv
    return None


def available() -> tuple[str, list[str]] | None:
    """Probe once per process (thread-safe) and remember the answer."""
    with _lock:
        if "result" not in _probed:
            found = _probe()
            _probed["result"] = None if found is None else [found[0], *found[1]]
        result = _probed["result"]
    return None if result is None else (result[0], result[1:])


def wrapper(mode: str) -> list[str]:
    """argv prefix for ``mode``: ``auto`` (namespaces if available), ``namespaces`` (required), ``none``."""
    if mode == "none":
        return []
    found = available()
    if found is None:
        if mode == "namespaces":
            raise SynthgenError("sandbox isolation 'namespaces' is not available here (unshare failed)",
                                hint="use isolation = 'auto' or 'none', or allow user namespaces in the container")
        return []
    return found[1]


def wrapper_name(mode: str) -> str:
    """What a sandbox in ``mode`` actually gets: ``namespaces``, ``user_namespaces`` or ``none``."""
    if mode == "none":
        return "none"
    found = available()
    return "none" if found is None else found[0]
