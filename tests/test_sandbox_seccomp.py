"""The sandbox's seccomp filter: what it refuses (checked on the filter's own instructions, run by a small
BPF interpreter here), and that programs get it on the fork server and in a fresh bubblewrap each, with the
audit hook off (the kernel alone refuses) and on."""

from __future__ import annotations

import struct
import textwrap

import pytest

from synthgen.verify import isolation, seccomp
from synthgen.verify.sandbox import CRASH, PASS, Sandbox, SandboxLimits

LIMITS = SandboxLimits(timeout_s=5.0, memory_mb=512, disk_mb=8, max_files=200)
EPERM, ENOSYS, ALLOW = 0x00050001, 0x00050026, 0x7FFF0000
X86_64, I386 = 0xC000003E, 0x40000003
CLONE, SIGCHLD, CLONE_NEWUSER, CLONE_THREAD_FLAGS = 56, 17, 0x10000000, 0x003D0F00


def verdict(nr: int, *args: int, arch: int = X86_64) -> int:
    """Run the filter on one system call (``struct seccomp_data``: nr, arch, ip, args) like the kernel."""
    program = seccomp.filter_program()
    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * 6)[:6])
    code = [struct.unpack("<HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == 0x20:                       # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
        elif op == 0x06:                     # ret k
            return k
        elif op in (0x15, 0x35, 0x45):       # jeq / jge / jset k
            taken = acc == k if op == 0x15 else acc >= k if op == 0x35 else bool(acc & k)
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unexpected instruction {op:#x}")
        pc += 1


needs_x86_64 = pytest.mark.skipif(seccomp.filter_program() is None, reason="the filter is built for x86-64 only")


@needs_x86_64
@pytest.mark.parametrize("name", sorted(seccomp.REFUSED_X86_64))
def test_every_listed_call_is_refused(name):
    assert verdict(seccomp.REFUSED_X86_64[name]) == EPERM


@needs_x86_64
def test_what_programs_need_is_allowed():
    for nr in (0, 1, 2, 9, 39, 57, 59, 60, 231, 257, 262):  # read write open mmap getpid fork execve exit ...
        assert verdict(nr) == ALLOW, nr
    assert verdict(CLONE, SIGCHLD) == ALLOW                    # fork
    assert verdict(CLONE, CLONE_THREAD_FLAGS) == ALLOW         # a thread
    for family in (1, 2, 10):                                  # AF_UNIX, AF_INET, AF_INET6
        assert verdict(41, family, 1) == verdict(53, family, 1) == ALLOW
    assert verdict(55, 3, 1, 4) == verdict(54, 3, 6, 77) == ALLOW  # (fd, level, option): SO_ERROR; TCP's 77


@needs_x86_64
def test_other_socket_families_and_pidfd_options_are_refused():
    assert verdict(41, 40, 1) == 0x00050061                    # AF_VSOCK: EAFNOSUPPORT
    assert verdict(53, 16, 3) == 0x00050061                    # AF_NETLINK socketpair
    assert verdict(55, 3, 1, 77) == verdict(54, 3, 1, 76) == EPERM  # SO_PEERPIDFD, SO_PASSPIDFD
    assert verdict(CLONE, 0x1000 | SIGCHLD) == EPERM           # CLONE_PIDFD


@needs_x86_64
def test_namespaces_other_tables_and_clone3_are_refused():
    assert verdict(CLONE, CLONE_NEWUSER | SIGCHLD) == EPERM
    assert verdict(CLONE, 0x20000000 | SIGCHLD) == EPERM      # CLONE_NEWPID
    assert verdict(435) == ENOSYS                              # clone3: the C library falls back to clone
    assert verdict(0x40000000 + 272) == EPERM                  # x32 unshare
    assert verdict(0x40000000) == EPERM                        # any x32 call
    assert verdict(310, arch=I386) == ENOSYS                   # the 32-bit table


def _why_no_filter() -> str:
    if not isolation.bwrap_available():
        return "the filter is installed under bubblewrap, which does not run here (`apt-get install bubblewrap`)"
    if not seccomp.available():
        return "this kernel (or architecture) does not take the seccomp filter"
    return ""


WHY_NOT = _why_no_filter()
NATIVE_CALLS = textwrap.dedent("""
    import ctypes, os, select, threading
    libc = ctypes.CDLL(None, use_errno=True)
    refused = {}
    for name, call in (("unshare", lambda: libc.unshare(0x10000000)),
                       ("clone", lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)),
                       ("epoll", lambda: libc.epoll_create1(0)), ("inotify", lambda: libc.inotify_init()),
                       ("keyctl", lambda: libc.syscall(250, 0, -3, 0, 0, 0)),
                       ("mount", lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
                       ("shmget", lambda: libc.shmget(0, 1 << 20, 0o1600)),
                       ("mq_open", lambda: libc.syscall(240, b"q", 0o100 | 2, 0o600, None)),
                       ("fanotify", lambda: libc.syscall(300, 0x200, 0)),
                       ("pidfd clone", lambda: libc.syscall(56, 0x1000 | 17, 0, 0, 0, 0))):
        result = call()
        refused[name] = (result, ctypes.get_errno())
    assert all(result == -1 and errno == 1 for result, errno in refused.values()), refused
    import resource, socket
    try:
        socket.socket(40, socket.SOCK_STREAM)                  # AF_VSOCK
        raise SystemExit("vsock")
    except OSError as exc:
        assert exc.errno == 97, exc
    try:
        open("/dev/ptmx", "rb")                                # ptys are one pool for the whole host
        raise SystemExit("ptmx")
    except OSError:
        pass
    assert resource.getrlimit(resource.RLIMIT_SIGPENDING)[0] <= 256
    assert resource.getrlimit(resource.RLIMIT_MSGQUEUE)[0] == 0
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    pid = os.fork()
    if pid == 0:
        os._exit(3)
    assert os.waitpid(pid, 0)[1] >> 8 == 3
    import asyncio
    loop = asyncio.new_event_loop()  # asyncio.run installs a SIGINT handler, which the prelude refuses
    assert loop.run_until_complete(asyncio.sleep(0, result=7)) == 7
    loop.close()
""")


@pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT or "-")
@pytest.mark.parametrize("fork_server", [True, False], ids=["fork-server", "fresh-bubblewrap"])
def test_the_kernel_refuses_with_the_audit_hook_off(fork_server):
    """Native code (allowed with the hook off) cannot make namespaces, mounts, epoll or inotify instances or
    reach keyrings; threads, fork and asyncio still work."""
    sandbox = Sandbox(LIMITS, isolation_mode="strict", audit=False, fork_server=fork_server)
    assert sandbox.describe()["seccomp"] is True
    result = sandbox.run(NATIVE_CALLS)
    assert result.status == PASS, result


@pytest.mark.skipif(bool(WHY_NOT), reason=WHY_NOT or "-")
def test_epoll_found_through_subclasses_does_not_work():
    """The hook removes ``select.epoll``; the type was still reachable through ``object.__subclasses__()``."""
    program = "import select\nepoll = next(c for c in object.__subclasses__() if c.__name__ == 'epoll')\nepoll()\n"
    result = Sandbox(LIMITS, isolation_mode="strict").run(program)
    assert (result.status, "PermissionError" in result.error) == (CRASH, True), result
