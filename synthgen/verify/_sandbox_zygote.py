"""The fork server ("zygote") that runs inside one bubblewrap sandbox and forks a child per program.

Why: a fresh sandboxed interpreter per program costs ~25 ms of start-up (bubblewrap, Python, the
prelude's imports), more than a typical HumanEval test run; forking an interpreter that is already up and
giving the fork its own namespaces costs a few milliseconds. The program then runs exactly what a fresh
process would (the prelude, then the program), with the same descriptors, limits and environment.

Each program gets the namespaces a fresh bubblewrap would give it, nested in the server's (so one program
can leave nothing for the next, nor name the server):

* the server's own **user** namespace (made once, nested in bubblewrap's; uid ``nobody``), where the
  program drops every capability and gets ``no_new_privs`` before it runs (so keyrings, which belong to
  the uid, are shared by the programs of one server: only the audit hook, which refuses native code,
  keeps a program from them);
* a new **PID** namespace with a small init of ours as PID 1 and the program as PID 2 (a default SIGALRM
  or SIGXCPU still ends it); whatever the program leaves dies with that init. The program cannot signal,
  renice or re-limit the server (no PID names it), and its own PIDs (``os.getpid``, thread ids) say
  nothing about earlier programs;
* a new **mount** namespace: a fresh tmpfs of the sandbox's size and file count as its folder (freed with
  the namespace; the kernel enforces both limits) and an empty read-only ``/proc`` (the server's would
  show the program's outer PID, a counter earlier programs move, and the server's own files; the kernel
  refuses a fresh proc under bubblewrap's covers); device nodes and ``/dev/pts`` read-only;
* a new **IPC** namespace (no SysV segments or queues survive it).

The server is PID 1 of a PID namespace of its own user namespace (nested in bubblewrap's), where it may
set the namespace of its next child back to its own after making a program's: one fork per program fewer.
The server itself is not dumpable (``PR_SET_DUMPABLE`` 0, inherited): nothing can read or write its
memory. The nonce never passes through it: the parent sends the key pipe's read end as a descriptor, which
only the program's process reads. The server checks once at start that it can build these namespaces
(nested user namespaces allowed) and refuses to serve otherwise (the parent then starts one bubblewrap per
program, as before).

Protocol (a ``SOCK_SEQPACKET`` pair): the zygote sends ``marshal(("ready", pid))`` once; then per program
the parent sends the child's settings (``SYNTHGEN_SANDBOX``, ASCII) with five descriptors (program source,
stdout, stderr, status, key) and gets back ``marshal(returncode)`` (negative: the signal), like
``Popen.returncode``. End of file on the socket (the parent closed it or died) ends the zygote and, with
it, the sandbox. Standard library only.
"""

import marshal as _marshal
import os as _os
import sys as _sys

_FDS = 5  # source -> 0, stdout -> 1, stderr -> 2, status -> 3, key -> 4
_HIGH_FD = 64
_SETUP_FAILED = 70
_PR_SET_DUMPABLE, _PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 4, 38, 22, 2
_CLONE_NEWNS, _CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWIPC = 0x20000, 0x10000000, 0x20000000, 0x08000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_NOATIME, _MS_NODIRATIME, _MS_BIND = 32, 1024, 2048, 4096
_MS_REC, _MS_PRIVATE, _MS_RELATIME = 16384, 1 << 18, 1 << 21
# Over /proc in each program's mount namespace: it is the server's PID namespace's proc (the kernel refuses
# a fresh one under bubblewrap's covers), where /proc/self is the program's outer PID, a counter earlier
# programs move (a wrong solution learned the tests' answers through it), and the server's own files are.
_EMPTY_PROC = "size=4k,nr_inodes=2,mode=555"
_CAP_VERSION_3 = 0x20080522


def _serve():
    setup = _marshal.loads(bytes.fromhex(_os.environ.pop("SYNTHGEN_ZYGOTE")))
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, setup["sock_fd"])
    libc = _libc()
    if libc is not None:
        _NO_CAPABILITIES.extend(_no_capabilities())
        _SECCOMP.extend(_seccomp_program(setup.get("seccomp")))
    problem = _cannot_serve(libc, setup, sock)
    if problem:
        sock.send(_marshal.dumps(("refused", problem)))
        _os._exit(3)
    with open(setup["prelude"], "rb") as handle:
        definitions = _marshal.loads(handle.read())
    prelude = {"__name__": "__main__"}
    exec(definitions, prelude)  # its functions and the state they capture; each child calls _main
    blocked = frozenset(setup["blocked"])
    _warm(blocked)
    if blocked.intersection(_sys.modules):  # a child would get them without the import the hook refuses
        sock.send(_marshal.dumps(("refused", f"loaded {sorted(blocked.intersection(_sys.modules))}")))
        _os._exit(3)
    __import__("gc").freeze()  # a child's collections skip the zygote's objects (no copy-on-write of them)
    sock.send(_marshal.dumps(("ready", _os.getpid())))
    while True:
        request = _receive(sock, _socket)
        if request is None:
            _os._exit(0)
        config, fds = request
        code, init = _run_one(libc, setup, lambda: _program(prelude["_main"], config, setup["base"]), fds, sock)
        _reap(init)  # before the reply: the teardown of what a program built counts against its own run
        sock.send(_marshal.dumps(code))


def _libc():
    """libc through ctypes, with the functions the zygote and its children call already looked up (a
    lookup made in a child is redone in every child)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for name in ("prctl", "unshare", "setns", "mount", "capset"):
            getattr(libc, name)
        return libc
    except Exception:  # noqa: BLE001 - without it the zygote must not serve
        return None


def _cannot_serve(libc, setup, sock):
    """Why this zygote must not serve ('' when it may): it must be PID 2 of its own PID namespace (so
    ``kill(-1)`` can only reach the sandbox), undumpable, and able to build a program's namespaces. When it
    may, the process that returns is the server: PID 1 of a PID namespace of its own user namespace (see
    ``_become_pid_one``)."""
    if _os.getpid() != 2:
        return f"not PID 2 of a fresh PID namespace (pid {_os.getpid()})"
    if libc is None or libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        return "cannot make itself undumpable"
    try:
        _enter_own_namespaces(libc)
        _become_pid_one(libc, sock)
    except OSError as exc:
        return f"cannot make its namespaces (nested user namespaces?): {exc}"
    code, init = _run_one(libc, setup, lambda: _os._exit(0), [], None)
    _reap(init)
    return "" if code == 0 else f"cannot build a program's namespaces (nested user namespaces?), status {code}"


def _become_pid_one(libc, sock):
    """Carry on as PID 1 of a new PID namespace, owned by the zygote's user namespace: there it may set the
    namespace its next child is born in (``setns``) back to its own after each program's
    ``unshare(CLONE_NEWPID)``, so each program costs one fork fewer (bubblewrap's PID namespace belongs to
    bubblewrap's user namespace, where the zygote holds no capability). The process bubblewrap started
    waits for the server and exits with it (bubblewrap ends the sandbox when its first process exits)."""
    _check(libc.unshare(_CLONE_NEWPID), "unshare")
    pid = _os.fork()
    if pid:
        sock.close()  # the parent sees the server's end of file when the server dies
        _, status = _os.waitpid(pid, 0)
        _os._exit(_os.waitstatus_to_exitcode(status) & 0xFF)
    _OWN_PID_NAMESPACE.append(_os.open("/proc/self/ns/pid", _os.O_RDONLY | _os.O_CLOEXEC))


def _warm(blocked):
    """Import what children import anyway (the prelude's modules; ``traceback``, which reports every failed
    test and costs more than a small program's run; ``select`` and ``_posixsubprocess``, whose shared
    libraries took a millisecond to load in every child (each child's prelude still removes ``epoll`` and
    ``fork_exec``); as the prelude does before the program runs, every builtin module but those the audit
    hook refuses), so the fork carries them."""
    for name in ("resource", "_imp", "signal", "_signal", "_ast", "time", "_thread", "gc", "fcntl", "traceback",
                 "select", "_posixsubprocess", *_sys.builtin_module_names):
        if name not in blocked:
            try:
                __import__(name)
            except ImportError:
                pass


def _receive(sock, _socket):
    """One request: ``(settings, [fd, ...])``, or None at end of file."""
    size = _socket.CMSG_SPACE(_FDS * 4)
    try:
        data, ancillary, _flags, _addr = sock.recvmsg(1 << 20, size)
    except OSError:
        return None
    fds = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += [int.from_bytes(payload[i:i + 4], _sys.byteorder) for i in range(0, len(payload) - 3, 4)]
    if not data:
        for fd in fds:
            _os.close(fd)
        return None
    if len(fds) != _FDS:
        for fd in fds:
            _os.close(fd)
        _os._exit(4)
    return data.decode("ascii"), fds


def _run_one(libc, setup, program, fds, sock):
    """Run ``program`` in the process tree below; return its ``Popen``-style return code and the init's
    PID (None when none started) for ``_reap``. The tree: this zygote → the init (PID 1 of a new PID
    namespace; it makes its mount and IPC namespaces) → the program (PID 2). The init kills whatever the
    program left, then writes the program's wait status on a pipe only it holds: when the zygote reads it,
    nothing of the program can run any more."""
    status_read, status_write = _os.pipe()
    try:
        pid = _fork_in_new_pid_namespace(libc)
    except OSError as exc:
        _report_setup(fds, exc)
        pid = None
    if pid == 0:
        _os.close(status_read)
        _namespaces(libc, setup, program, fds, sock, status_write)
    _os.close(status_write)
    for fd in fds:
        _os.close(fd)
    data = _read_status(status_read) if pid else b""
    _os.close(status_read)
    if len(data) != 4:
        return _SETUP_FAILED, pid
    status = int.from_bytes(data, _sys.byteorder)
    return (-_os.WTERMSIG(status) if _os.WIFSIGNALED(status) else _os.WEXITSTATUS(status)), pid


def _fork_in_new_pid_namespace(libc):
    """``fork`` whose child is PID 1 of a new PID namespace; the zygote's next children are born in its own
    again."""
    _check(libc.unshare(_CLONE_NEWPID), "unshare")
    try:
        pid = _os.fork()
    except OSError:
        _back_to_own_pid_namespace(libc)
        raise
    if pid:
        _back_to_own_pid_namespace(libc)
    return pid


def _back_to_own_pid_namespace(libc):
    """Where it cannot, the server ends (the parent sees it die and starts another)."""
    if libc.setns(_OWN_PID_NAMESPACE[0], _CLONE_NEWPID) != 0:
        _os._exit(5)


def _read_status(fd):
    """The init's 4-byte wait status; b'' when it ended without writing one (only it holds the pipe)."""
    data = b""
    while len(data) < 4:
        chunk = _os.read(fd, 4 - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _reap(init):
    """Wait for the program's init to end, then kill and reap anything left in the server's own PID
    namespace (nothing should be)."""
    if init:
        try:
            _os.waitpid(init, 0)
        except ChildProcessError:
            pass
    try:
        _os.kill(-1, 9)
    except OSError:
        pass
    while True:
        try:
            pid, _ = _os.waitpid(-1, _os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _enter_own_namespaces(libc):
    """The zygote's own user and mount namespaces (nested in bubblewrap's), made once: there it has the
    capabilities to make each program's PID, mount and IPC namespaces (the program drops them all), and it
    makes the device nodes and ``/dev/pts`` read-only (bubblewrap's read-only ``/dev`` does not reach the
    nodes it binds from the host: as root, ``chmod`` on ``/dev/null`` changed the host's), which every
    program's mounts copy."""
    uid, gid = _os.getuid(), _os.getgid()
    _check(libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS), "unshare")
    _map_ids(uid, gid)
    _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE)
    for target, flags in _mounts_under("/dev/"):
        _mount(libc, None, target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY | flags)


def _mounts_under(prefix):
    """``(mount point, flags to keep)`` of every mount below ``prefix``: a remount must repeat the flags a
    less privileged namespace may not drop (nosuid, nodev, noexec, the atime mode)."""
    kept = {"nosuid": _MS_NOSUID, "nodev": _MS_NODEV, "noexec": _MS_NOEXEC, "noatime": _MS_NOATIME,
            "nodiratime": _MS_NODIRATIME, "relatime": _MS_RELATIME}
    found = {}  # by mount point: the last listed is the one on top (bubblewrap's empty /dev/pts over devpts)
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            if fields[4].startswith(prefix):
                found[fields[4]] = sum(kept.get(option, 0) for option in fields[5].split(","))
    return list(found.items())


def _map_ids(uid, gid):
    """In a new user namespace: the same uid and gid inside as outside (``nobody``), no other."""
    for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} {uid} 1"),
                       ("/proc/self/gid_map", f"{gid} {gid} 1")):
        with open(path, "w") as handle:
            handle.write(text)


def _namespaces(libc, setup, program, fds, sock, status_write):
    """The zygote's child, PID 1 of its new PID namespace: new mount and IPC namespaces (with the
    capabilities the zygote holds in its own user namespace), a fresh tmpfs as the folder, then the init's
    work. Never returns."""
    try:
        if sock is not None:
            sock.close()
        _os.close(_OWN_PID_NAMESPACE[0])
        _check(libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC), "unshare")
        options = f"size={setup['disk_bytes']},nr_inodes={setup['max_files'] + 1},mode=755"
        _mount(libc, "tmpfs", setup["base"], "tmpfs", _MS_NOSUID | _MS_NODEV, options)
        _mount(libc, "tmpfs", "/proc", "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, _EMPTY_PROC)
    except BaseException as exc:  # noqa: BLE001 - report to the run's stderr; the zygote sees no status
        _report_setup(fds, exc)
        _os._exit(_SETUP_FAILED)
    _init(libc, program, fds, status_write)


def _init(libc, program, fds, status_write):
    """PID 1 of the program's namespace: the program as PID 2, its wait status to the zygote. When it
    exits, the kernel kills whatever the program left."""
    try:
        import _signal  # not ``signal``: its enum conversions cost more than the call

        inherited = _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # PID 1 ignores what it has no handler for
        pid = _os.fork()
        if pid == 0:
            _signal.signal(_signal.SIGINT, inherited)  # the program's is the server's (ignored under some parents)
            _os.close(status_write)
            _drop_privileges(libc)
            _setup_descriptors(fds)
            program()
        for fd in fds:
            _os.close(fd)
        _, status = _os.waitpid(pid, 0)
        try:
            _os.kill(-1, 9)  # every process left in this namespace; they die (and are reaped) as it ends
        except OSError:
            pass
        _os.write(status_write, status.to_bytes(4, _sys.byteorder))
        _os._exit(0)
    except BaseException as exc:  # noqa: BLE001
        _report_setup(fds, exc)
        _os._exit(_SETUP_FAILED)


def _no_capabilities():
    """capset's arguments for "no capability at all", built once in the zygote (making ctypes array types
    in every child cost more than the call)."""
    import ctypes

    return (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0), (ctypes.c_uint32 * 6)()


_NO_CAPABILITIES = []
_SECCOMP = []  # a pointer to the program's seccomp filter (``seccomp.py``), when the parent sent one
_OWN_PID_NAMESPACE = []  # the server's PID namespace (a descriptor), where its children are born


def _seccomp_program(program):
    """``PR_SET_SECCOMP``'s argument for the filter's bytes (``struct sock_fprog``), built once in the zygote;
    nothing when there is no filter."""
    if not program:
        return []
    import ctypes

    class _Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    held = ctypes.create_string_buffer(program, len(program))
    return [ctypes.pointer(_Program(len(program) // 8, ctypes.cast(held, ctypes.c_char_p))), held]


def _drop_privileges(libc):
    """The capabilities the zygote's user namespace gave: all dropped (capset to zero clears the permitted,
    effective, inheritable and ambient sets), and ``no_new_privs`` so no exec regains any (file
    capabilities and set-uid bits are ignored: the bounding set does not matter then); then the seccomp
    filter the parent sent (``seccomp.py``: no namespaces, mounts, keyrings, epoll...)."""
    _check(libc.capset(*_NO_CAPABILITIES), "capset")
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    if _SECCOMP:
        _check(libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, _SECCOMP[0], 0, 0), "seccomp")


def _setup_descriptors(fds):
    """The five descriptors at 0-4 (source, stdout, stderr, status, key), nothing else open."""
    import fcntl

    _os.setsid()
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, _HIGH_FD) for fd in fds]
    for target, fd in enumerate(high):
        _os.dup2(fd, target)
    _os.closerange(_FDS, 1 << 16)


def _program(main, config, base):
    """In the program's process (PID 2): its folder and environment, then the prelude's ``_main`` (which
    never returns)."""
    try:
        _os.chdir(base)
        _os.environ.update(HOME=base, TMPDIR=base, SYNTHGEN_SANDBOX=config)
        main()
    except BaseException as exc:  # noqa: BLE001 - the prelude never returns; this is the zygote's fault
        _os.write(2, f"sandbox fork server: {exc!r}\n".encode("utf-8", "replace"))
    finally:
        _os._exit(_SETUP_FAILED)


def _mount(libc, source, target, kind, flags, options=None):
    encode = (lambda text: None if text is None else text.encode())
    _check(libc.mount(encode(source), encode(target), encode(kind), flags, encode(options)), f"mount {target}")


def _check(result, what):
    if result != 0:
        import ctypes

        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {_os.strerror(errno)}")


def _report_setup(fds, exc):
    """A setup failure, on the run's stderr (or the server's own, for the start-up check)."""
    try:
        _os.write(fds[2] if len(fds) > 2 else 2, f"sandbox fork server: {exc!r}\n".encode("utf-8", "replace"))
    except OSError:
        pass


_serve()
