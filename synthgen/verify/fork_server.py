"""The parent's side of the sandbox fork server: one bubblewrap sandbox whose interpreter forks a child
per program (``_sandbox_zygote.py`` says what runs inside and why programs cannot reach each other).

A :class:`ForkServer` runs one program at a time; :class:`ForkServerPool` keeps one per concurrent caller
and replaces any that ran past a program's wall clock or died. Starting one takes about as long as one
fresh sandboxed run; every later program saves that start-up.
"""

from __future__ import annotations

import array
import logging
import marshal
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from ._sandbox_hook import BLOCKED_IMPORTS

log = logging.getLogger(__name__)
# Modules the audit hook refuses to import: the zygote must not have them loaded (a child would get them
# without an import). ``_signal`` is not here: the prelude imports it itself before the hook is on.
_BLOCKED = frozenset(BLOCKED_IMPORTS)
_HERE = Path(__file__).parent
ZYGOTE_SOURCE = (_HERE / "_sandbox_zygote.py").read_text(encoding="utf-8")
STATUS_FD, KEY_FD = 3, 4  # where the child finds them (the zygote moves the descriptors there)
START_TIMEOUT_S = 20.0
# Runs a marshalled code object (the prelude, the zygote) compiled once per process: compiling ~30 kB of
# source in every sandboxed interpreter would cost a fifth of a HumanEval run.
LOADER = "import marshal as m;f=open({path!r},'rb');c=m.loads(f.read());f.close();del m,f;exec(c)"
_starters: dict[int, ThreadPoolExecutor] = {}
_starters_lock = threading.Lock()


def _starter() -> ThreadPoolExecutor:
    """The one long-lived thread (per process: a forked child gets its own) that starts every fork server:
    bubblewrap's ``--die-with-parent`` fires when the *thread* that started it exits, and the sandbox
    pool's threads end after each batch."""
    with _starters_lock:
        pid = os.getpid()
        if pid not in _starters:
            _starters[pid] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-starter")
        return _starters[pid]


class ForkServerError(RuntimeError):
    """The fork server could not start, or died before it answered."""


class ForkServer:
    """One zygote in its own bubblewrap sandbox; ``run`` sends it one program's descriptors. ``interpreter``:
    the binary and its flags, those a fresh sandbox's program gets (``-I -S -B``, or ``-I -B`` with site
    packages: a zygote without ``site`` gave its programs no installed packages)."""

    def __init__(self, bwrap_prefix: list[str], interpreter: list[str], base: str, env: dict[str, str],
                 zygote_code: str, prelude_code: str, disk_bytes: int, max_files: int, seccomp: bytes | None = None):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        setup = marshal.dumps({"sock_fd": theirs.fileno(), "prelude": prelude_code, "base": base,
                               "blocked": sorted(_BLOCKED), "disk_bytes": disk_bytes, "max_files": max_files,
                               "seccomp": seccomp}).hex()
        self.errors = tempfile.TemporaryFile()
        try:
            self.proc = _starter().submit(
                subprocess.Popen, [*bwrap_prefix, *interpreter, "-c", LOADER.format(path=zygote_code)],
                cwd="/", env=env | {"SYNTHGEN_ZYGOTE": setup}, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=self.errors, pass_fds=(theirs.fileno(),),
                start_new_session=True, close_fds=True).result()
        except OSError:
            ours.close()
            self.errors.close()
            raise
        finally:
            theirs.close()
        self._handshake()

    def _handshake(self) -> None:
        reply, _why = self._receive(time.monotonic() + START_TIMEOUT_S)
        if not (isinstance(reply, tuple) and reply and reply[0] == "ready"):
            self.close()
            raise ForkServerError(f"the sandbox fork server did not start ({reply!r}): {self._stderr()}")

    def _stderr(self) -> str:
        try:
            self.errors.seek(0)
            return self.errors.read()[-500:].decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def _receive(self, deadline: float) -> tuple[Any, str | None]:
        """The zygote's next message: ``(message, None)``, else ``(None, "timeout")`` when the deadline
        passed first or ``(None, "died")`` when it closed its end."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
            return None, "timeout"
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        return (marshal.loads(data), None) if data else (None, "died")

    def run(self, config: str, fds: list[int], deadline: float) -> tuple[int | None, str | None]:
        """Run one program: ``(returncode, None)``, or ``(None, why)`` after killing the whole sandbox
        (``why``: ``timeout`` or ``died``). Its folder is a tmpfs of the sandbox's size and file count, so
        the kernel enforces the disk quota (ENOSPC) and nothing needs scanning."""
        try:
            self.sock.sendmsg([config.encode("ascii")], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        except OSError:
            self.close()
            return None, "died"
        code, why = self._receive(deadline)
        if why:
            self.close()
        return code, why

    @property
    def alive(self) -> bool:
        return self.sock.fileno() >= 0 and self.proc.poll() is None

    def close(self) -> None:
        """Kill the sandbox (the zygote, its children and bubblewrap) and reap it."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.sock.close()


class ForkServerPool:
    """Idle fork servers for one sandbox configuration; a caller takes one, runs, and gives it back."""

    def __init__(self) -> None:
        self.pid = os.getpid()  # a forked copy of this pool must not talk to the parent's servers
        self._idle: list[ForkServer] = []
        self._lock = threading.Lock()
        self.failed: str | None = None

    def take(self, start: Callable[[], ForkServer]) -> ForkServer | None:
        """An idle server or a new one from ``start`` (not kept: a pool that referred back to its sandbox
        would keep idle servers alive after the sandbox is gone); None once starting one has failed (the
        caller then runs each program in a fresh sandbox)."""
        with self._lock:
            if self.failed:
                return None
            while self._idle:
                server = self._idle.pop()
                if server.alive:
                    return server
                server.close()
        try:
            return start()
        except (ForkServerError, OSError) as exc:
            with self._lock:
                if not self.failed:
                    self.failed = str(exc)
                    log.warning("sandbox: %s; programs run in one fresh sandbox each (slower)", exc)
            return None

    def give_back(self, server: ForkServer) -> None:
        if not server.alive:
            return
        with self._lock:
            self._idle.append(server)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for server in idle:
            server.close()
