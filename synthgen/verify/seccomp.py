"""A seccomp filter for sandboxed programs: the kernel refuses the system calls no test needs and that reach
past the sandbox's namespaces or into pools the whole host shares.

Why a filter as well as the audit hook: the hook sees only what Python reports, and with the hook off (the
outer layers alone, as the tests check them) a program's native calls went straight to the kernel: a
user namespace of its own let it build thousands of mount namespaces (a per-uid count the whole host
shares, and their teardown slowed the next program), and ``select.epoll`` was still reachable through
``object.__subclasses__()`` with the hook on. The filter refuses, with ``EPERM``:

* new namespaces: ``unshare``, ``setns``, ``clone`` with any ``CLONE_NEW*`` flag (``clone3``, whose flags
  a filter cannot read, gets ``ENOSYS``, and the C library falls back to ``clone`` for threads);
* mounts: ``mount``, ``umount2``, ``pivot_root``, ``chroot`` and the new mount API;
* host-wide pools and covert channels: keyrings, ``epoll``, ``inotify`` and ``fanotify`` instances (as
  root, they count against the host root's limits; fanotify also watched the host's file opens), SysV
  shared memory and POSIX message queues (memory outside every limit, the host root's queue budget),
  pidfds (``pidfd_open``, ``pidfd_getfd``, ``clone(CLONE_PIDFD)``, ``SO_PEERPIDFD``/``SO_PASSPIDFD``: a
  pidfd's inode number counts the host's processes), the mount listing calls (a host-wide mount id
  counter), ``memfd_create`` (memory outside every limit), file handles (``open_by_handle_at``),
  ``mknod``, extended-attribute writes, the kernel log;
* sockets other than Unix, IPv4 and IPv6 (``EAFNOSUPPORT``): vsock ports, for one, are not separated by
  the network namespace (a program bound the host's);
* large kernel interfaces a test never uses: ``bpf``, ``perf_event_open``, ``userfaultfd``, ``io_uring``,
  ``ptrace`` and ``process_vm_*``, module and ``kexec`` loading.

Calls made through the 32-bit or x32 system call tables are refused too (they would bypass the numbers
below). The filter is built for x86-64 only; elsewhere :func:`filter_program` is None and the sandbox
says so (``describe()["seccomp"]``). Under bubblewrap a spawned program gets it through ``--seccomp``;
on the fork server the program's process installs it after dropping its capabilities.
"""

from __future__ import annotations

import functools
import platform
import struct
import subprocess
import sys

# struct sock_filter codes (linux/filter.h) and seccomp return values (linux/seccomp.h)
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS, _EAFNOSUPPORT = 1, 38, 97
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_NR, _ARCH = 0, 4  # offsets in struct seccomp_data; args[i]'s low 32 bits (little-endian) at 16 + 8 i
_CLONE, _CLONE3, _SOCKET, _SOCKETPAIR, _SETSOCKOPT, _GETSOCKOPT = 56, 435, 41, 53, 54, 55
# NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (clone's low byte is the exit signal, so
# CLONE_NEWTIME, 0x80, only exists for unshare and clone3, both refused), and CLONE_PIDFD (0x1000)
_CLONE_REFUSED = 0x7E020000 | 0x1000
_FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}  # vsock, netlink...: host-wide or no test needs them
_SOL_SOCKET, _PIDFD_OPTIONS = 1, (76, 77)  # SO_PASSPIDFD, SO_PEERPIDFD: a pidfd without pidfd_open

REFUSED_X86_64 = {
    "unshare": 272, "setns": 308,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "mount_setattr": 442, "open_tree_attr": 467,
    "statmount": 457, "listmount": 458, "listns": 470,
    "add_key": 248, "request_key": 249, "keyctl": 250,
    "epoll_create": 213, "epoll_create1": 291, "inotify_init": 253, "inotify_init1": 294,
    "fanotify_init": 300, "fanotify_mark": 301,
    "shmget": 29, "shmat": 30, "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243,
    "mq_notify": 244, "mq_getsetattr": 245,
    "pidfd_open": 434, "pidfd_getfd": 438, "memfd_create": 319,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "mknod": 133, "mknodat": 259,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "removexattr": 197, "lremovexattr": 198,
    "fremovexattr": 199, "setxattrat": 463, "removexattrat": 466, "syslog": 103,
    "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
}


@functools.lru_cache(maxsize=1)
def filter_program() -> bytes | None:
    """The filter as ``struct sock_filter[]`` bytes (what ``--seccomp FD`` and ``PR_SET_SECCOMP`` take), or
    None where it is not built (not x86-64)."""
    if platform.machine() not in ("x86_64", "AMD64") or sys.byteorder != "little":
        return None
    return b"".join(struct.pack("<HBBI", *instruction) for instruction in _assemble(_program()))


def _arg(i: int) -> int:
    return 16 + 8 * i


def _program() -> list[tuple]:
    """The filter with symbolic jump targets: ``(code, k)``, ``(code, k, true_label, false_label)`` (None:
    the next instruction) or a label name."""
    program = [(_LD_W_ABS, _ARCH), (_JEQ_K, _AUDIT_ARCH_X86_64, None, "enosys"),  # the 32-bit table
               (_LD_W_ABS, _NR), (_JGE_K, _X32_BIT, "deny", None), (_JEQ_K, _CLONE3, "enosys", None)]
    program += [(_JEQ_K, nr, "deny", None) for nr in sorted(set(REFUSED_X86_64.values()))]
    program += [(_JEQ_K, _CLONE, "clone", None), (_JEQ_K, _SOCKET, "family", None),
                (_JEQ_K, _SOCKETPAIR, "family", None), (_JEQ_K, _GETSOCKOPT, "option", None),
                (_JEQ_K, _SETSOCKOPT, "option", None), (_RET_K, _ALLOW),
                "clone", (_LD_W_ABS, _arg(0)), (_JSET_K, _CLONE_REFUSED, "deny", "allow"),
                "family", (_LD_W_ABS, _arg(0))]
    program += [(_JEQ_K, family, "allow", None) for family in _FAMILIES.values()]
    program += [(_RET_K, _ERRNO | _EAFNOSUPPORT),
                "option", (_LD_W_ABS, _arg(1)), (_JEQ_K, _SOL_SOCKET, None, "allow"), (_LD_W_ABS, _arg(2))]
    program += [(_JEQ_K, option, "deny", None) for option in _PIDFD_OPTIONS]
    program += ["allow", (_RET_K, _ALLOW), "deny", (_RET_K, _ERRNO | _EPERM), "enosys", (_RET_K, _ERRNO | _ENOSYS)]
    return program


def _assemble(program: list) -> list[tuple[int, int, int, int]]:
    """``(code, jt, jf, k)`` instructions, each label resolved to its offset from the next instruction."""
    labels, position = {}, 0
    for item in program:
        if isinstance(item, str):
            labels[item] = position
        else:
            position += 1
    code = []
    for item in program:
        if isinstance(item, str):
            continue
        op, k, *targets = item
        jt, jf = (0 if label is None else labels[label] - len(code) - 1 for label in (targets or [None, None]))
        assert 0 <= jt < 256 and 0 <= jf < 256, item
        code.append((op, jt, jf, k))
    return code


def install_code(program_hex: str) -> str:
    """Python source that installs the filter (hex) in its own process, for ``available``'s probe."""
    return ("import ctypes\n"
            f"f=bytes.fromhex({program_hex!r})\n"
            "class P(ctypes.Structure):\n    _fields_=[('len',ctypes.c_ushort),('filter',ctypes.c_char_p)]\n"
            "libc=ctypes.CDLL(None,use_errno=True)\n"
            "assert libc.prctl(38,1,0,0,0)==0\n"
            "assert libc.prctl(22,2,ctypes.byref(P(len(f)//8,f)),0,0)==0, ctypes.get_errno()\n"
            "assert libc.unshare(0x10000000)!=0 and ctypes.get_errno()==1\n")


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Whether this kernel takes the filter (tried once per process in a throwaway interpreter)."""
    program = filter_program()
    if program is None:
        return False
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", install_code(program.hex())], capture_output=True,
                              timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
