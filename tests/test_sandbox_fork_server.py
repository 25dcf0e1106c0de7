"""The sandbox's fork server: programs forked from one sandboxed interpreter get the verdicts a fresh
sandbox gives, and none can reach the next one (leftover processes, files, the server's memory), even with
the audit hook off. Each test runs a handful of programs of a few milliseconds."""

from __future__ import annotations

import os
import gc
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from synthgen.verify import isolation
from synthgen.verify._sandbox_hook import BLOCKED_IMPORTS
from synthgen.verify.sandbox import CRASH, FAIL, PASS, TIMEOUT, Sandbox, SandboxLimits

LIMITS = SandboxLimits(timeout_s=3.0, memory_mb=512, disk_mb=8, max_files=200)


def _why_no_fork_server() -> str:
    """'' when a fork server starts here, else why not (no bubblewrap, no nested user namespaces...)."""
    if not isolation.bwrap_available():
        return "the fork server runs under bubblewrap, which does not run here (`apt-get install bubblewrap`)"
    try:
        Sandbox(LIMITS, isolation_mode="strict")._start_fork_server().close()
    except Exception as exc:  # noqa: BLE001 - the reason is the skip message
        return f"the sandbox fork server does not start here: {exc}"
    return ""


WHY_NOT = _why_no_fork_server()
pytestmark = pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT or "-")


def bare() -> Sandbox:
    """Only the outer boundary: what a program could do if it got past the audit hook."""
    return Sandbox(LIMITS, isolation_mode="strict", audit=False)


def servers(sandbox: Sandbox) -> list:
    return list(sandbox._servers._idle) if sandbox._servers else []


def test_programs_run_on_one_server():
    sandbox = Sandbox(LIMITS, isolation_mode="strict")
    results = [sandbox.run(f"assert {i} + 1 == {i + 1}\nprint(__import__('os').getpid())") for i in range(5)]
    assert [r.status for r in results] == [PASS] * 5
    assert len(servers(sandbox)) == 1 and sandbox._servers.failed is None
    assert {r.stdout for r in results} == {"2"}  # PID 2 of a fresh PID namespace each time
    sandbox.close()


IDLE_PROCESSES = 3  # bubblewrap's init, the zygote it started, the server that zygote forked


def server_processes(sandbox: Sandbox, settle_s: float = 2.0) -> int:
    """How many processes the (one) server's sandbox holds, counted from the host, once the count stops
    falling (killed processes take a moment to be reaped): bubblewrap's init, the process it started and
    the server (PID 1 of its own PID namespace) when idle."""
    deadline, count = time.monotonic() + settle_s, _count_processes(sandbox)
    while count > IDLE_PROCESSES and time.monotonic() < deadline:
        time.sleep(0.05)
        count = _count_processes(sandbox)
    return count


def _count_processes(sandbox: Sandbox) -> int:
    todo, count = [servers(sandbox)[0].proc.pid], -1  # not bubblewrap itself
    while todo:
        pid = todo.pop()
        try:
            children = [open(f"/proc/{pid}/task/{task}/children").read().split()
                        for task in os.listdir(f"/proc/{pid}/task")]
        except OSError:  # it ended while we looked
            continue
        count += 1
        todo += [int(child) for listed in children for child in listed]
    return count


def test_a_process_left_behind_is_killed_before_the_next_program():
    sandbox = bare()
    assert sandbox.run("assert True").passed
    idle = server_processes(sandbox)
    daemon = textwrap.dedent("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                while True:
                    time.sleep(0.01)
        time.sleep(0.2)
    """)
    assert sandbox.run(daemon).status == PASS
    assert server_processes(sandbox) == idle == IDLE_PROCESSES, "a process of the earlier program is still there"


def test_a_program_is_torn_down_before_its_run_returns():
    """The server replies only once the program's init has ended (its namespaces torn down): tearing down
    what a program built (thousands of namespaces or mounts, with the audit hook off) must count against
    that program's own clock, never against the next program's."""
    sandbox = bare()
    for program in ("assert True", "import os\nif os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(5)"):
        assert sandbox.run(program).status == PASS
        assert server_processes(sandbox, settle_s=0.0) == IDLE_PROCESSES


def test_files_left_behind_are_gone_for_the_next_program():
    sandbox = bare()
    leave = textwrap.dedent("""
        import os
        os.makedirs("a/b/c")
        open("a/b/c/answer", "w").write("42")
        os.chmod("a/b", 0)
        if os.path.isdir("/dev/shm"):
            try:
                open("/dev/shm/answer", "w").write("42")
            except OSError:
                pass
        os.chmod(".", 0o500)
    """)
    assert sandbox.run(leave).status == PASS
    look = "import os\nassert os.listdir('.') == []\nassert not os.path.exists('/dev/shm/answer')\nopen('x', 'w')"
    result = sandbox.run(look)
    assert result.status == PASS, result.error


def test_the_server_is_out_of_reach():
    """A program's /proc is empty: the server's PID namespace's proc showed the program's outer PID
    (``/proc/self``, which the hook does not see read: a counter earlier programs move, and a wrong solution
    learned the tests' answers through it) and the server's own files (``oom_score_adj`` was writable)."""
    program = textwrap.dedent("""
        import os
        assert os.listdir("/proc") == []
        for path in ("/proc/self", "/proc/2/mem", "/proc/2/oom_score_adj"):
            try:
                open(path, "rb").read(1)
                raise SystemExit("read " + path)
            except OSError:
                pass
        try:
            os.readlink("/proc/self")
            raise SystemExit("/proc/self")
        except OSError:
            pass
    """)
    assert bare().run(program).passed
    checked = Sandbox(LIMITS, isolation_mode="strict").run(
        "import os\ntry:\n    print(os.readlink('/proc/self'))\nexcept OSError:\n    print('none')")
    assert (checked.status, checked.stdout) == (PASS, "none")



def test_a_program_holds_only_its_five_descriptors():
    """The server keeps a descriptor of its own PID namespace (to set its children's back after each
    program): no program gets it, nor the server's socket; only source, stdout, stderr, status and key
    (which the prelude closes after reading the nonce). A program that held the namespace could ``setns``
    its children into the server's."""
    program = textwrap.dedent("""
        import os
        held = []
        for fd in range(1024):
            try:
                os.fstat(fd)
                held.append(fd)
            except OSError:
                pass
        print(held)
    """)
    result = bare().run(program)
    assert (result.status, result.stdout) == (PASS, "[0, 1, 2, 3]")

def test_no_refused_module_is_preloaded():
    """The server imports modules before it forks; none may be one the audit hook refuses (a child would
    get it without the import the hook sees)."""
    program = f"import sys\nloaded = sorted(set(sys.modules) & set({sorted(BLOCKED_IMPORTS)!r}))\nassert not loaded, loaded"
    result = bare().run(program)
    assert result.status == PASS, result


def test_a_program_that_kills_the_server_fails_and_the_next_runs():
    sandbox = bare()
    result = sandbox.run("import os, signal\nos.kill(2, signal.SIGKILL)\nimport time\ntime.sleep(1)")
    assert result.status == CRASH and not result.passed
    assert sandbox.run("assert True").status == PASS


@pytest.mark.parametrize("program, status, reason", [
    ("while True:\n    pass", TIMEOUT, "timeout"),
    ("import time\ntime.sleep(60)", TIMEOUT, "timeout"),
    ("open('big', 'wb').write(b'0' * (12 << 20))", CRASH, None),
])
def test_a_server_ended_by_a_limit_is_replaced(program, status, reason):
    sandbox = Sandbox(SandboxLimits(timeout_s=1.0, disk_mb=8, file_size_mb=64), isolation_mode="strict")
    first = sandbox.run(program)
    assert first.status == status and (reason is None or first.reason == reason), first
    assert sandbox.run("assert True").status == PASS


def test_same_verdicts_as_one_fresh_sandbox_per_program():
    programs = ["assert sum([1, 2]) == 3", "assert 1 == 2", "def f(:\n  pass", "raise KeyError('x')",
                "import sys\nsys.exit(0)", "import os\nos._exit(0)", "print('pass')\nimport os\nos._exit(0)",
                "open('/etc/passwd').read()", "import socket\nsocket.socket()", "import os\nos.fork()",
                "import sys\nsys._getframe(1)", "x = [0] * (2**40)"]
    forked = Sandbox(LIMITS, isolation_mode="strict")
    spawned = Sandbox(LIMITS, isolation_mode="strict", fork_server=False)
    for program in programs:
        a, b = forked.run(program), spawned.run(program)
        assert (a.status, a.reason, a.exit_code) == (b.status, b.reason, b.exit_code), program


def test_concurrent_callers_each_get_a_server():
    sandbox = Sandbox(LIMITS, isolation_mode="strict")
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(sandbox.run, [f"assert {i} * 2 == {2 * i}" for i in range(24)]))
    assert all(r.status == PASS for r in results)
    assert 1 <= len(servers(sandbox)) <= 3


def test_a_used_sandbox_still_pickles():
    sandbox = Sandbox(LIMITS, isolation_mode="strict")
    assert sandbox.run("assert True").passed
    copy = pickle.loads(pickle.dumps(sandbox))
    assert copy.run("assert True").passed


def test_servers_end_with_the_process_that_started_them(tmp_path):
    """SIGKILL the parent: its fork servers (bubblewrap and everything inside) go too."""
    script = textwrap.dedent("""
        import sys, time
        from synthgen.verify.sandbox import Sandbox
        sandbox = Sandbox(isolation_mode="strict")
        assert sandbox.run("assert True").passed
        print(sandbox._servers._idle[0].proc.pid, flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        bwrap_pid = int(child.stdout.readline())
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(bwrap_pid):
            time.sleep(0.05)
        assert not _alive(bwrap_pid)
    finally:
        child.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_a_forked_process_starts_its_own_servers():
    """A child made by os.fork (multiprocessing's default) must not share the parent's server sockets."""
    sandbox = Sandbox(LIMITS, isolation_mode="strict")
    assert sandbox.run("assert True").passed
    parent_servers = servers(sandbox)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        ok = sandbox.run("assert 2 + 2 == 4").passed and servers(sandbox) and servers(sandbox)[0] not in parent_servers
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert sandbox.run("assert True").passed and servers(sandbox) == parent_servers


def test_servers_end_when_their_sandbox_is_dropped():
    """No reference cycle keeps a dropped sandbox's idle servers alive until the garbage collector runs:
    the socket closes, the server sees end of file and exits."""
    sandbox = Sandbox(LIMITS, isolation_mode="strict")
    assert sandbox.run("assert True").passed
    pid = servers(sandbox)[0].proc.pid
    gc.disable()
    try:
        del sandbox
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
    finally:
        gc.enable()
    assert not _alive(pid)


# --- what one program could leave for the next (found by attacking the first version of the server) ---


def test_pids_and_inodes_say_nothing_about_earlier_programs():
    """A wrong solution once learned the tests' answers over ~20 runs by leaving its state in the next
    program's PID (threads burn PIDs) or in the tmpfs's next inode number. Each program now has its own
    PID namespace and its own tmpfs: both start from the same values every time."""
    sandbox = Sandbox(LIMITS, isolation_mode="strict")
    look = textwrap.dedent("""
        import os, threading
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        open("probe", "w").close()
        print(os.getpid(), thread.native_id, os.stat("probe").st_ino)
    """)
    burn = textwrap.dedent("""
        import threading
        for _ in range(40):
            t = threading.Thread(target=lambda: None)
            t.start()
            t.join()
        for i in range(40):
            open(f"f{i}", "w").close()
    """)
    first = sandbox.run(look)
    assert sandbox.run(burn).status == PASS
    again = sandbox.run(look)
    assert first.status == again.status == PASS
    assert first.stdout == again.stdout


@pytest.mark.parametrize("fork_server", [True, False])
def test_extended_attributes_are_refused(fork_server):
    """xattrs were a channel between programs, ACLs on /dev locked out every later program, and user
    xattrs on tmpfs are kernel memory no quota counts."""
    sandbox = Sandbox(LIMITS, isolation_mode="strict", fork_server=fork_server)
    for program in ("import os\nos.setxattr('.', 'user.o', b'1')", "import os\nos.listxattr('.')",
                    "import os\nos.setxattr('/dev', 'system.posix_acl_access', b'\\x02\\x00\\x00\\x00')"):
        result = sandbox.run(program)
        assert (result.status, result.reason) == (CRASH, "forbidden_file_access"), program


@pytest.mark.parametrize("fork_server", [True, False])
def test_devices_are_opened_never_changed(fork_server):
    """Where synthgen runs as root the sandbox's uid is host root: chmod on the bound /dev/null changed
    the host's. Devices may be opened; any other call on them is refused, and /dev is read-only."""
    sandbox = Sandbox(LIMITS, isolation_mode="strict", fork_server=fork_server)
    assert sandbox.run("open('/dev/null', 'w').write('x')\nassert open('/dev/urandom', 'rb').read(4)").passed
    for call in ("os.chmod('/dev/null', 0o600)", "os.utime('/dev/null')"):
        result = sandbox.run(f"import os\n{call}")
        assert (result.status, result.reason) == (CRASH, "forbidden_file_access"), call
    bare_result = Sandbox(LIMITS, isolation_mode="strict", audit=False, fork_server=fork_server).run(
        "for path in ('/dev/x', '/dev/shm/x'):\n    try:\n        open(path, 'w')\n"
        "        raise SystemExit('wrote ' + path)\n    except OSError:\n        pass")
    assert bare_result.passed, bare_result


def test_a_program_runs_without_privileges():
    """The server's user namespace is its own (so it can make the program's namespaces): the program drops
    every capability and gets no_new_privs before it runs; device nodes are read-only (as root, chmod on
    the bound /dev/null changed the host's), yet /dev/null works; /dev/pts is an empty read-only folder
    (ptys are one pool the whole host shares: a program took 3,071 of its 4,096)."""
    program = textwrap.dedent("""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        header, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()
        assert libc.capget(header, data) == 0 and list(data) == [0] * 6, list(data)
        assert libc.prctl(39, 0, 0, 0, 0) == 1  # PR_GET_NO_NEW_PRIVS
        for path in ("/dev/null", "/dev/pts/ptmx", "/dev/pts"):
            try:
                os.chmod(path, 0o777)
                raise SystemExit("chmod " + path)
            except OSError:
                pass
        open("/dev/null", "w").write("x")
        assert os.listdir("/dev/pts") == []
        try:
            os.openpty()
            raise SystemExit("a pty")
        except OSError:
            pass
    """)
    result = bare().run(program)
    assert result.passed, result


@pytest.mark.parametrize("fork_server", [True, False])
def test_proc_sys_cannot_be_written(fork_server):
    """Where synthgen runs as root the sandbox's uid is host root: /proc/sys (core_pattern runs a command)
    was writable without the fork server."""
    program = ("try:\n    open('/proc/sys/kernel/core_pattern', 'w')\n    raise SystemExit('writable')\n"
               "except OSError:\n    pass")
    assert Sandbox(LIMITS, isolation_mode="strict", audit=False, fork_server=fork_server).run(program).passed


@pytest.mark.parametrize("fork_server", [True, False])
def test_memory_files_are_refused(fork_server):
    """``os.memfd_create`` has no audit event and its pages count against no limit (192 MB held)."""
    result = Sandbox(LIMITS, isolation_mode="strict", fork_server=fork_server).run(
        "import os\nos.memfd_create('x')")
    assert (result.status, result.reason) == (CRASH, "forbidden_file_access"), result


@pytest.mark.parametrize("fork_server", [True, False])
def test_signalling_its_init_does_not_end_the_run(fork_server):
    """``pidfd_send_signal`` has no audit event: SIGINT to PID 1 killed the server's Python init, and the
    program's run crashed (with the audit hook on, pidfd_open itself is refused now)."""
    program = textwrap.dedent("""
        import os, signal, time
        try:
            signal.pidfd_send_signal(os.pidfd_open(1), signal.SIGINT)
        except PermissionError:  # the seccomp filter refuses pidfd_open: a plain kill then
            os.kill(1, signal.SIGINT)
        time.sleep(0.1)
    """)
    result = Sandbox(LIMITS, isolation_mode="strict", audit=False, fork_server=fork_server).run(program)
    assert result.status == PASS, result


@pytest.mark.parametrize("call", [
    "os.pidfd_open(os.getpid())",                                   # its inode number counts host processes
    "os.posix_fadvise(os.open('/dev/null', os.O_RDONLY), 0, 0, 4)",  # evicts the host's page cache
    "os.preadv(os.open('/dev/null', os.O_RDONLY), [bytearray(1)], 0)",  # RWF_NOWAIT probes it
    "os.openpty()",                                                 # the host's pool of ptys
    "__import__('mmap').mmap(os.open('/dev/zero', os.O_RDONLY), 4096, access=1)",  # a file's pages
    "__import__('fcntl').fcntl(os.open('x', os.O_CREAT | os.O_RDONLY), 1024, 1)",   # F_SETLEASE
])
@pytest.mark.parametrize("fork_server", [True, False])
def test_covert_channels_and_host_pools_are_refused(call, fork_server):
    """A third round of attacks (all also without the fork server): counters and caches of the host that a
    program can move and the next one read (a wrong solution learned the answers in 3-4 runs), and host
    resources one program could take from all (leases as root, ptys, epoll watches)."""
    result = Sandbox(LIMITS, isolation_mode="strict", fork_server=fork_server).run(f"import os\n{call}")
    assert (result.status, result.reason) == (CRASH, "forbidden_file_access"), result


@pytest.mark.parametrize("fork_server", [True, False])
def test_epoll_is_gone_and_selectors_still_work(fork_server):
    """As root, epoll watches counted against the host root's limit (two programs exhausted it in 2.5 s):
    ``select.epoll`` is gone, and ``selectors`` falls back to poll."""
    program = ("import os, select, selectors\nassert not hasattr(select, 'epoll')\n"
               "selector = selectors.DefaultSelector()\nread, write = os.pipe()\nos.write(write, b'x')\n"
               "selector.register(read, selectors.EVENT_READ)\nassert len(selector.select(0)) == 1")
    result = Sandbox(LIMITS, isolation_mode="strict", fork_server=fork_server).run(program)
    assert result.passed, result


def test_the_server_cannot_be_named_to_renice_or_limit_it():
    """Scheduling and limits set on 'the server' (any PID a program can name) must not reach later
    programs: in its own PID namespace a program names only itself and its init."""
    sandbox = bare()
    attack = textwrap.dedent("""
        import os, resource
        for pid in range(1, 12):
            for call in (lambda: os.setpriority(os.PRIO_PROCESS, pid, 19),
                         lambda: os.sched_setaffinity(pid, {0}),
                         lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (40, 40))):
                try:
                    call()
                except (OSError, ValueError):
                    pass
    """)
    assert sandbox.run(attack).status == PASS
    check = textwrap.dedent("""
        import os
        assert os.getpriority(os.PRIO_PROCESS, 0) == 0
        assert len(os.sched_getaffinity(0)) == os.cpu_count()
        handles = [open(f"f{i}", "w") for i in range(100)]
    """)
    result = sandbox.run(check)
    assert result.passed, result


def test_ipc_objects_and_zombies_do_not_outlive_the_program():
    """A SysV IPC object (a shared-memory segment, refused by the seccomp filter now; a semaphore set here)
    and processes cloned as the program's siblings (zombies the server never reaped) stayed with the server;
    the program's own IPC and PID namespaces end with it."""
    sandbox = bare()
    assert sandbox.run("assert True").passed
    leave = textwrap.dedent("""
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.semget(4242, 1, 0o1666) >= 0             # key 4242 | IPC_CREAT
        for _ in range(20):
            pid = libc.syscall(56, 0x00008000 | 17, 0, 0, 0, 0)  # clone(CLONE_PARENT | SIGCHLD)
            if pid == 0:
                libc._exit(0)
    """)
    assert sandbox.run(leave).status == PASS
    assert server_processes(sandbox) == IDLE_PROCESSES
    look = "import ctypes\nassert ctypes.CDLL(None).semget(4242, 0, 0) == -1  # gone"
    assert sandbox.run(look).passed


@pytest.mark.parametrize("sigint", ["ignored", "default"])
def test_programs_pass_whatever_sigint_disposition_the_server_inherited(sigint):
    """A Ray worker starts the server with SIGINT ignored (inherited through exec): the program must get
    that same handler back from its init, or the guard sees 'the handler of signal 2 was replaced' and
    every program fails (CI caught it: 95 of 95 rejected on Ray)."""
    script = textwrap.dedent(f"""
        import signal, sys
        if {sigint == "ignored"!r}:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        from synthgen.verify.sandbox import Sandbox
        sandbox = Sandbox(isolation_mode="strict")
        program = "def add(a, b):\\n    return a + b\\n\\nassert add(1, 2) == 3\\n"
        result = sandbox.run(program, code_lines=(1, 2))
        print(result.status, result.error)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("pass"), done.stdout + done.stderr
