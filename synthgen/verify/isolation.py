"""The outer boundary around sandbox children: bubblewrap when it works here, else kernel namespaces
through ``unshare(1)``, else nothing (process limits and the audit prelude only).

**bubblewrap** (``bwrap``, Debian package ``bubblewrap``): a fresh mount namespace whose only contents are
the system directories and the interpreter, bound read-only, a new ``/proc`` and a minimal ``/dev``, and a
fresh size-limited tmpfs as the program's folder (nothing else is writable, nothing else of the host is
visible); new user (the program runs as ``nobody``, never as real root, with every capability dropped),
network (no interface but a down loopback), PID (every descendant dies with the program), IPC and UTS
namespaces; ``--die-with-parent`` and ``--new-session``.

**namespaces**: fresh network and PID namespaces (``unshare --net --pid --fork --kill-child``) with a fresh
``/proc`` where the kernel allows a mount namespace, through a user namespace when not root. Containers
often forbid both.

Modes: ``auto`` (the best available; falling back logs one warning line per process), ``strict``
(bubblewrap or an error), ``namespaces`` (unshare or an error) and ``none``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from ..errors import SynthgenError

log = logging.getLogger(__name__)
MODES = ("auto", "strict", "namespaces", "none")
_NAMESPACES = ["--net", "--pid", "--fork", "--kill-child"]
# Best first: a fresh /proc (--mount-proc) shows the program no host process (their environments hold
# secrets); without it the host /proc stays visible and only the audit hook keeps the program out.
_UNSHARE = (("namespaces", ["--mount-proc", *_NAMESPACES]), ("namespaces", _NAMESPACES),
            ("user_namespaces", ["--user", "--map-root-user", "--mount-proc", *_NAMESPACES]),
            ("user_namespaces", ["--user", "--map-root-user", *_NAMESPACES]))
# /proc/sys and /proc/sysrq-trigger are bound read-only over the sandbox's /proc (bubblewrap covers only
# the /proc folders that are writable, and /proc/sys is not): where synthgen runs as root the sandbox's uid
# is host root, and those files check nothing but the uid (core_pattern would run a command as root).
_BWRAP_FLAGS = ["--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--die-with-parent", "--new-session",
                "--hostname", "sandbox", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys",
                "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger", "--dev", "/dev"]
# An empty read-only folder over /dev/pts (so /dev/ptmx, a link into it, opens nothing): ptys come from one
# pool the whole host shares, and a program took 3,071 of its 4,096.
_NO_PTYS = ["--size", "4096", "--perms", "0555", "--tmpfs", "/dev/pts", "--remount-ro", "/dev/pts"]
_SYSTEM = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc/alternatives")
_lock = threading.Lock()
_probed: dict[str, object] = {}
_warned: set[str] = set()


def system_binds(extra: tuple[str, ...] = ()) -> list[str]:
    """Read-only binds for the system directories (symlinks as symlinks) and ``extra`` paths."""
    args: list[str] = []
    for path in (*_SYSTEM, *extra):
        if os.path.islink(path) and path in _SYSTEM:
            args += ["--symlink", os.readlink(path), path]
        elif os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


def interpreter_paths(python: str, site_packages: bool) -> tuple[str, list[str]]:
    """The interpreter to run inside bubblewrap and the folders it needs: its real binary's prefix (a venv
    link is resolved) and, with site packages, the venv itself."""
    real = os.path.realpath(python)
    prefix = str(Path(real).parent.parent)
    folders = [prefix]
    if site_packages:
        folders += [str(Path(python).parent.parent)]
        return python, folders
    return real, folders


def bwrap_argv(work: str, disk_mb: int, ro_paths: list[str], seccomp_fd: int | None = None) -> list[str]:
    """The bubblewrap prefix for one run: ``work`` becomes a fresh tmpfs of ``disk_mb``, ``ro_paths`` are
    bound read-only at their own paths. Nothing else of the host is there (the pass key comes on a pipe),
    and bubblewrap's own root and ``/dev`` (unlimited tmpfs, ``/dev/shm`` included) are made read-only:
    only ``work`` takes bytes. ``seccomp_fd``: a descriptor holding the filter bubblewrap installs before
    the command runs (``seccomp.py``)."""
    binary = shutil.which("bwrap") or "bwrap"
    binds = system_binds(tuple(p for p in ro_paths if not p.startswith(_SYSTEM)))
    seccomp = ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
    return [binary, *_BWRAP_FLAGS, *binds, "--size", str(disk_mb * 1024 * 1024), "--tmpfs", work, *_NO_PTYS,
            "--remount-ro", "/dev", "--remount-ro", "/", *seccomp, "--chdir", work, "--"]


def _probe_bwrap() -> bool:
    if shutil.which("bwrap") is None:
        return False
    python, folders = interpreter_paths(sys.executable, False)
    argv = bwrap_argv("/tmp/synthgen-probe", 1, folders) + [python, "-I", "-S", "-c", "pass"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _probe_unshare() -> tuple[str, list[str]] | None:
    binary = shutil.which("unshare")
    if binary is None:
        return None
    for name, flags in _UNSHARE:
        argv = [binary, *flags, "--"]
        try:
            done = subprocess.run([*argv, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return name, argv
    return None


def _once(key: str, probe):
    with _lock:
        if key not in _probed:
            _probed[key] = probe()
        return _probed[key]


def bwrap_available() -> bool:
    """Whether bubblewrap runs a sandboxed interpreter here (probed once per process)."""
    return bool(_once("bwrap", _probe_bwrap))


def available() -> tuple[str, list[str]] | None:
    """The unshare wrapper that runs ``true`` here (probed once per process), or None."""
    return _once("unshare", _probe_unshare)  # type: ignore[return-value]


def level(mode: str) -> str:
    """What a sandbox in ``mode`` actually gets: ``bwrap``, ``namespaces``, ``user_namespaces`` or ``none``;
    raises :class:`SynthgenError` when ``strict`` or ``namespaces`` cannot be had."""
    if mode not in MODES:
        raise SynthgenError(f"unknown sandbox isolation {mode!r}", hint=f"use one of {', '.join(MODES)}")
    if mode == "none":
        return "none"
    if mode in ("auto", "strict") and bwrap_available():
        return "bwrap"
    if mode == "strict":
        raise SynthgenError("sandbox isolation 'strict' needs bubblewrap, which does not run here",
                            hint="install bubblewrap (apt-get install bubblewrap) and allow user namespaces, "
                                 "or use isolation = 'auto'")
    found = available()
    if found is None and mode == "namespaces":
        raise SynthgenError("sandbox isolation 'namespaces' is not available here (unshare failed)",
                            hint="use isolation = 'auto' or 'none', or allow user namespaces in the container")
    chosen = "none" if found is None else found[0]
    _warn_fallback(mode, chosen)
    return chosen


def _warn_fallback(mode: str, chosen: str) -> None:
    if mode == "auto" and chosen not in _warned:
        _warned.add(chosen)
        log.warning("sandbox: bubblewrap is not available; programs run with %s isolation "
                    "(install bubblewrap, or set isolation = 'strict' to refuse)", chosen.replace("_", " "))


def wrapper(mode: str) -> list[str]:
    """The unshare argv prefix for ``mode`` when it resolves to namespaces, else ``[]`` (bubblewrap's
    prefix depends on the run: see :func:`bwrap_argv`). Under unshare a shell stays the namespace's init,
    so the program is PID 2 and its SIGALRM/SIGXCPU keep their default action (init ignores them)."""
    chosen = level(mode)
    found = available()
    if chosen not in ("namespaces", "user_namespaces") or found is None:
        return []
    return [*found[1], "/bin/sh", "-c", '"$@"; exit $?', "sh"]


def wrapper_name(mode: str) -> str:
    """Alias of :func:`level` (kept for callers of the namespaces-only version)."""
    return level(mode)
