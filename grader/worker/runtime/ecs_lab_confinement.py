"""Confinement the worker applies to itself, needing no namespace and no privilege.

Used by ecs_lab_worker.py (same folder; like it, this file imports nothing of the grader) after
it has dropped its privileges and before any code of the submission runs. Every layer is tried
and reported (the scorer writes in the report which ones applied), none is required: a kernel or
a container may refuse one, and the others still hold.

- ``first_to_go``: ``oom_score_adj`` 1000, so that when memory runs out (a container's limit),
  the kernel's out-of-memory killer takes the student's processes, never the scorer.
- ``restrict_files``: Landlock (Linux >= 5.13, allowed by Docker's default seccomp profile): the
  worker and everything it starts can read only the system, Python's standard library, the
  worker's own packages and the submission, and write only its working folder; the grader, the
  checks, the solution, the reports and the rest of site-packages are out of reach whatever
  their permissions. From Landlock ABI 6, it also cannot signal a process outside (the scorer)
  nor reach an abstract Unix socket.
- ``restrict_syscalls``: a seccomp filter (libseccomp, through pyseccomp): no socket but Unix
  ones (the scorer's endpoints are Unix sockets), no ptrace nor process_vm_*, no io_uring, bpf,
  perf, keyring, mount or namespace calls, no signal to the scorer.
- ``use_unix_endpoints``: the scorer's HTTP endpoints (127.0.0.1:PORT for the student's boto3
  and Docker SDK) are reached on their Unix sockets.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import sys

# --- memory -----------------------------------------------------------------------------------


def first_to_go() -> bool:
    """The kernel's OOM killer takes this process (and its children) before any other."""
    try:
        with open("/proc/self/oom_score_adj", "w") as adj:
            adj.write("1000")
        return True
    except OSError:
        return False


# --- Landlock ---------------------------------------------------------------------------------

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_ABI1_FS = (1 << 13) - 1  # execute ... make_sym
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | _TRUNCATE | _IOCTL_DEV  # what a rule on a file may allow
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1
READ = EXECUTE | READ_FILE | READ_DIR


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))
    return result


def no_new_privileges() -> None:
    """No set-uid program may give privileges back (needed by Landlock and seccomp)."""
    if _libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        error = ctypes.get_errno()
        raise OSError(error, os.strerror(error))


def landlock_abi() -> int:
    try:
        return _syscall(_CREATE_RULESET, None, 0, _RULESET_VERSION)
    except OSError:
        return 0


def restrict_files(readable: list[str], writable: list[str], listable: list[str] = ()) -> dict:
    """Landlock: read (and run) only under `readable`, write only under `writable`, list the folders
    under `listable` (their files' names, not their contents: Python's import system lists the
    standard library's folder, whose site-packages stays unreadable).

    Returns what applied: {"abi": N, "scoped": bool} or {"abi": 0, "error": why}.
    """
    abi = landlock_abi()
    if abi <= 0:
        return {"abi": 0, "error": "Landlock unavailable (kernel, or refused by the container's seccomp profile)"}
    handled = _ABI1_FS | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0) | (_IOCTL_DEV if abi >= 5 else 0)
    attr = _RulesetAttr(handled, (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0,
                        (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    try:
        ruleset = _syscall(_CREATE_RULESET, ctypes.byref(attr), size, 0)
    except OSError as error:
        return {"abi": 0, "error": f"landlock_create_ruleset: {error.strerror}"}
    try:
        for rights, paths in ((READ | (_IOCTL_DEV if abi >= 5 else 0), readable), (handled, writable),
                              (READ_DIR, listable)):
            for path in paths:
                _allow(ruleset, path, rights & handled)
        no_new_privileges()
        _syscall(_RESTRICT_SELF, ruleset, 0)
    except OSError as error:
        return {"abi": 0, "error": f"landlock: {error.strerror}"}
    finally:
        os.close(ruleset)
    return {"abi": abi, "scoped": abi >= 6, "network": abi >= 4}


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # absent here: nothing to allow
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(rights, fd)
        _syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
    finally:
        os.close(fd)


def python_paths() -> tuple[list[str], list[str]]:
    """What Python itself needs to run, and nothing of site-packages (where a grader installed with
    pip would be): the interpreter, its shared library, each entry of the standard library (readable);
    the standard library's folder itself (listable: a new Python, a child of the student's code, lists
    it to import anything)."""
    paths, folders = {os.path.realpath(sys.executable)}, set()
    for prefix in {sys.base_prefix, sys.base_exec_prefix}:
        library = os.path.join(prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}")
        try:
            entries = os.listdir(library)
        except OSError:
            continue
        folders.add(library)
        paths.update(os.path.join(library, e) for e in entries if e not in ("site-packages", "dist-packages"))
        lib = os.path.join(prefix, "lib")
        try:
            paths.update(os.path.join(lib, e) for e in os.listdir(lib) if e.startswith("libpython"))
        except OSError:
            pass
    return sorted(paths), sorted(folders)


SYSTEM_READABLE = ["/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/libexec", "/usr/share",
                   "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc", "/proc", "/dev"]
SYSTEM_WRITABLE = ["/dev/null", "/dev/shm"]


# --- seccomp ------------------------------------------------------------------------------------

DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",  # other processes' memory
    "io_uring_setup", "io_uring_enter", "io_uring_register",  # calls that seccomp cannot see
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount", "fsopen",
    "fsmount", "fspick", "mount_setattr", "name_to_handle_at", "open_by_handle_at", "quotactl",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "syslog", "iopl", "ioperm",
)
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
_CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)


def restrict_syscalls(protected_pids: list[int], paths: list[str]) -> dict:
    """A seccomp filter for this process and all it starts. `protected_pids`: processes it may not
    signal (the scorer), also as process groups. Returns {"seccomp": True} or {"seccomp": False, "error": why}."""
    try:
        seccomp = _import_pyseccomp(paths)
    except Exception as error:  # noqa: BLE001 - no libseccomp here: said in the report
        return {"seccomp": False, "error": f"libseccomp unavailable ({type(error).__name__}: {error})"}
    try:
        deny = seccomp.ERRNO(errno.EPERM)
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        rules.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.NE, socket.AF_UNIX))
        for name in DENIED_SYSCALLS:
            try:
                rules.add_rule(deny, name)
            except (OSError, RuntimeError, ValueError):
                pass  # not a system call of this architecture
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # glibc then falls back to clone, checked below
        for flag in _CLONE_NAMESPACE_FLAGS:
            rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
        # pid_t arguments are 32 bits: compare the low half only (a caller may pass it zero- or sign-extended).
        low = 0xFFFFFFFF
        rules.add_rule(deny, "kill", seccomp.Arg(0, seccomp.MASKED_EQ, low, low))  # kill(-1): every process of the user
        for pid in protected_pids:
            for target in (pid, -pid & low):  # the process, and its process group (-pid)
                rules.add_rule(deny, "kill", seccomp.Arg(0, seccomp.MASKED_EQ, low, target))
            for name in ("tgkill", "tkill", "pidfd_open"):
                rules.add_rule(deny, name, seccomp.Arg(0, seccomp.MASKED_EQ, low, pid))
        rules.load()
    except Exception as error:  # noqa: BLE001 - the kernel or the container refused it
        return {"seccomp": False, "error": f"seccomp: {type(error).__name__}: {error}"}
    return {"seccomp": True}


def _import_pyseccomp(paths: list[str]):
    """pyseccomp finds libseccomp with ctypes.util.find_library, which runs `ldconfig -p`: here the
    dynamic loader is asked directly for the sonames instead (no program to run, works in any sandbox)."""
    if not any(os.path.exists(os.path.join(p, "pyseccomp.py")) for p in paths):
        raise ImportError("pyseccomp is not among the worker's packages")
    import ctypes.util

    original = ctypes.util.find_library

    def find_library(name: str):
        for soname in {"seccomp": ("libseccomp.so.2",), "c": ("libc.so.6",)}.get(name, ()):
            try:
                ctypes.CDLL(soname)
                return soname
            except OSError:
                continue
        return original(name)

    ctypes.util.find_library = find_library
    try:
        import pyseccomp
    finally:
        ctypes.util.find_library = original
    return pyseccomp


# --- the scorer's endpoints on Unix sockets -------------------------------------------------------


def use_unix_endpoints(routes: dict[int, str]) -> None:
    """127.0.0.1:PORT / localhost:PORT of a scorer's endpoint -> its Unix socket, for urllib3 (boto3,
    the Docker SDK, requests) and socket.create_connection: the worker needs no network socket."""
    if not routes:
        return
    original = socket.create_connection

    def create_connection(address, timeout=getattr(socket, "_GLOBAL_DEFAULT_TIMEOUT", None),
                          source_address=None, *args, **kwargs):
        host, port = address[0], address[1]
        path = routes.get(int(port)) if host in ("127.0.0.1", "localhost", "::1") else None
        if path is None:
            return original(address, timeout, source_address, *args, **kwargs)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if timeout is not getattr(socket, "_GLOBAL_DEFAULT_TIMEOUT", None):
                sock.settimeout(timeout)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        return sock

    def urllib3_create_connection(address, timeout=getattr(socket, "_GLOBAL_DEFAULT_TIMEOUT", None),
                                  source_address=None, socket_options=None):
        sock = create_connection(address, timeout, source_address)
        if sock.family == socket.AF_UNIX:
            return sock  # TCP options (TCP_NODELAY...) mean nothing on a Unix socket
        for option in socket_options or ():
            sock.setsockopt(*option)
        return sock

    socket.create_connection = create_connection
    try:
        import urllib3.util.connection as connection
    except ImportError:
        return
    connection.create_connection = urllib3_create_connection


def network_refused() -> bool:
    """True when a network socket cannot be made (the check the report relies on)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    except OSError as error:
        return error.errno in (errno.EPERM, errno.EACCES, errno.EAFNOSUPPORT)
    return False


def readable(paths: list[str]) -> list[str]:
    """Which of `paths` this process can still list or read (the grader must be out of reach)."""
    seen = []
    for path in paths:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as file:
                    file.read(1)
            seen.append(path)
        except OSError:
            pass
    return seen
