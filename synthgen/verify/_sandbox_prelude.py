"""Runs first inside every sandbox child (``python -I -c <this file>``), before the untrusted program.

It reads its settings from ``SYNTHGEN_SANDBOX`` (then removes it), lowers the resource limits, installs an
audit hook that ends the process on file access outside the sandbox, sockets, process creation and native
code, arms the wall-clock alarm, and finally runs ``program.py``. It reports the outcome as
``<nonce> <kind> <detail>`` lines on a status descriptor the parent reads: the program cannot forge a pass
without the nonce, and an early ``os._exit`` leaves no pass line.

This is defence in depth for model-written code, not a boundary against code written to escape: the
parent adds process-group kills, rlimits and (when the kernel allows) network and PID namespaces.
Standard library only; keep it importable so tests can compile it.
"""

import os
import sys

VIOLATION_EXIT, TIMEOUT_EXIT, ERROR_EXIT = 86, 87, 1
PROCESS_EVENTS = frozenset({
    "os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
    "os.kill", "os.killpg", "signal.pthread_kill", "resource.setrlimit", "resource.prlimit", "os.setuid",
    "os.setgid", "os.setreuid", "os.chroot", "os.startfile", "pty.spawn",
})
WRITE_EVENTS = frozenset({
    "os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.symlink", "os.link", "os.truncate", "os.chmod",
    "os.chown", "os.utime", "os.chflags", "os.lchflags", "os.mkfifo", "os.mknod", "shutil.rmtree",
    "shutil.copyfile", "shutil.copytree", "shutil.move", "shutil.chown", "shutil.copymode", "shutil.copystat",
})
READ_EVENTS = frozenset({"os.listdir", "os.scandir", "os.chdir", "glob.glob", "os.walk", "os.fwalk"})
BLOCKED_IMPORTS = {"cffi": "native", "_cffi_backend": "native", "_posixsubprocess": "process",
                   "_xxsubinterpreters": "process"}
DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _main():
    import json

    cfg = json.loads(os.environ.pop("SYNTHGEN_SANDBOX"))
    report = _reporter(cfg.pop("nonce"), cfg["status_fd"])  # the nonce lives on only inside report()
    _set_limits(cfg)
    _arm_alarms(report, cfg["timeout_s"])
    source = _read_program()
    if cfg["audit"]:
        _install_hook(report, cfg["read_roots"])
    exit_zero_passes = cfg["exit_zero_passes"]
    del cfg
    _run(report, source, exit_zero_passes)


def _reporter(nonce, fd):
    def report(kind, detail=""):
        line = f"{nonce} {kind} {detail}".replace("\n", " ")[:1000] + "\n"
        try:
            os.write(fd, line.encode("utf-8", "replace"))
        except OSError:
            pass

    return report


def _set_limits(cfg):
    import resource

    mb = 1024 * 1024
    limits = [(resource.RLIMIT_AS, cfg["memory_mb"] * mb), (resource.RLIMIT_FSIZE, cfg["file_size_mb"] * mb),
              (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, cfg["max_processes"])]
    cpu = cfg["cpu_s"]
    for kind, value in limits:
        _lower(resource, kind, value, value)
    _lower(resource, resource.RLIMIT_CPU, cpu, cpu + 1)


def _lower(resource, kind, soft, hard):
    """Set a limit, never raising one the parent already lowered."""
    old_soft, old_hard = resource.getrlimit(kind)
    inf = resource.RLIM_INFINITY
    hard = hard if old_hard == inf else min(hard, old_hard)
    soft = min(soft, hard)
    try:
        resource.setrlimit(kind, (soft, hard))
    except (ValueError, OSError):
        pass


def _arm_alarms(report, timeout_s):
    import signal

    def expired(kind):
        def handler(signum, frame):
            report("timeout", kind)
            os._exit(TIMEOUT_EXIT)

        return handler

    signal.signal(signal.SIGXCPU, expired("cpu"))
    signal.signal(signal.SIGALRM, expired("wall"))
    signal.setitimer(signal.ITIMER_REAL, timeout_s)


def _read_program():
    with open("program.py", encoding="utf-8") as handle:
        return handle.read()


def _file_policy(read_roots):
    """``file_ok(path, write)``: writes only inside the working directory; reads also under the
    interpreter's prefixes and ``read_roots``; a few harmless devices."""
    work = os.path.realpath(os.getcwd())
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    roots = tuple(os.path.realpath(p) for p in [*read_roots, *prefixes])

    def inside(path, bases):
        return any(path == base or path.startswith(base.rstrip("/") + "/") for base in bases)

    def file_ok(path, write):
        if isinstance(path, int) or path is None:
            return True
        real = os.path.realpath(os.fsdecode(path))
        return real in DEVICES or inside(real, (work,)) or (not write and inside(real, roots))

    return file_ok


def _checker(file_ok):
    """``check(event, args)`` → None, or (category, detail) for an event the program may not raise."""

    def check(event, args):
        if event == "open":
            path, mode, flags = args
            write = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & WRITE_FLAGS)
            return None if file_ok(path, write) else ("file", f"open {path!r} write={write}")
        if event in READ_EVENTS or event in WRITE_EVENTS:
            paths = [a for a in args[1 if event == "os.symlink" else 0:2] if isinstance(a, (str, bytes, os.PathLike))]
            bad = [p for p in paths if not file_ok(p, event in WRITE_EVENTS)]
            return ("file", f"{event} {bad[0]!r}") if bad else None
        if event in PROCESS_EVENTS:
            return ("process", event)
        if event.startswith("socket."):
            return ("network", event)
        if event.startswith("ctypes.") and not (event == "ctypes.dlopen" and args[0] is None):
            return ("native", event)  # importing ctypes (numpy does) is fine; calling into C is not
        if event == "import" and args[0] in BLOCKED_IMPORTS:
            return (BLOCKED_IMPORTS[args[0]], f"import {args[0]}")
        return None

    return check


def _install_hook(report, read_roots):
    """An audit hook that reports the first forbidden event and ends the process at once (os._exit: no
    handler or ``except`` in the program can swallow it). Re-entrant calls (the hook's own file checks)
    pass through."""
    import _thread

    check, busy = _checker(_file_policy(read_roots)), set()

    def hook(event, args):
        me = _thread.get_ident()
        if me in busy:
            return
        busy.add(me)
        try:
            verdict = check(event, args)
        finally:
            busy.discard(me)
        if verdict is not None:
            report("violation", f"{verdict[0]} {verdict[1]}")
            os._exit(VIOLATION_EXIT)

    sys.addaudithook(hook)


def _run(report, source, exit_zero_passes):
    import builtins

    namespace = {"__name__": "__main__", "__builtins__": builtins, "__file__": "program.py"}
    try:
        exec(compile(source, "program.py", "exec"), namespace)
    except SystemExit as exc:
        _flush()
        if exit_zero_passes and exc.code in (0, None):
            report("pass")
            os._exit(0)
        report("error", f"SystemExit {exc.code!r}")
        os._exit(ERROR_EXIT)
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, none escapes
        _report_error(report, exc)
        os._exit(ERROR_EXIT)
    _flush()
    report("pass")
    os._exit(0)


def _report_error(report, exc):
    import traceback

    try:
        if isinstance(exc, SyntaxError):
            lines = traceback.format_exception_only(type(exc), exc)
        else:  # drop this prelude's own frame
            lines = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next, limit=-8)
        sys.stderr.write("".join(lines))
    except BaseException:  # noqa: BLE001 - a broken stderr must not hide the verdict
        pass
    _flush()
    report("error", f"{type(exc).__name__} {getattr(exc, 'errno', '') or ''}")


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


if __name__ == "__main__":
    _main()
