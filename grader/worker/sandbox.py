"""Where a worker runs: the command that starts it, its limits, and what protects the grader.

Two modes, chosen once per run:
- ``bubblewrap`` (Linux with ``bwrap`` and namespaces; the CI and grading servers): the worker
  sees a read-only system, its Python and the packages it needs, one private read-write
  folder, and nothing of the grader, the solution or the reports; it has its own network
  (loopback only: the scorer's endpoints reach it through Unix sockets), its own process
  tree (nothing survives it) and, when the grader runs as root, an unprivileged user.
- ``process`` (where bubblewrap is missing or refused: a Docker container with the default
  seccomp profile such as Gradescope's, GitHub's hosted runners, Fargate, a laptop): a separate
  process with the same limits, a private working folder and an environment without the
  grader's variables, confined by what needs no namespace (runtime/ecs_lab_confinement.py):
  its own user when the grader is root, Landlock (only the system, Python, its packages and
  the submission readable; no signal to the scorer), a seccomp filter (no network socket, no
  ptrace...), the OOM killer's first choice, a memory limit derived from the container's.

Both modes layer the second list under the first where it applies, and the worker reports what
the kernel accepted: the report says exactly which protections applied (:func:`protections`).
The scorer's endpoints are Unix sockets in both modes (the worker needs no network socket).

The worker imports only the packages listed by :func:`worker_packages` (boto3, the Docker
SDK, time-machine, pyseccomp and what they need), never through site-packages' ``.pth`` files,
so the grader's editable install is not on its path either.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
import random
import re
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from grader.feedback import Text
from grader.project import kept_for_forks

RUNTIME = Path(__file__).with_name("runtime") / "ecs_lab_worker.py"
RUNTIME_FILES = ("ecs_lab_worker.py", "ecs_lab_confinement.py")
WORKER_PACKAGES = ("boto3", "docker", "time-machine", "pyseccomp")
MODE_ENV = "ECS_LAB_SANDBOX"  # "process" forces the plain-process mode (for comparison or debugging)
MIB = 1024 * 1024

# Limits of every worker process (the check's CPU time is set per fork).
LIMITS = {
    "RLIMIT_AS": 3 * 1024 * MIB,
    "RLIMIT_FSIZE": 64 * MIB,
    "RLIMIT_NOFILE": 256,
    "RLIMIT_CORE": 0,
}
NPROC = 128  # processes and threads of the worker's user (the fork bomb's ceiling)
UID_RANGE = (61000, 64999)  # the workers' own users, when the grader is root
# RLIMIT_DATA of every worker process: the container's memory minus the scorer's and a margin,
# within these bounds (the worker itself uses about 60 MiB).
DATA_FLOOR, DATA_CEILING, SCORER_MARGIN = 192 * MIB, 2048 * MIB, 48 * MIB
SANDBOX_ROOT = "/sandbox"  # inside bubblewrap: student/, work/, site/, worker/, endpoints/


@dataclass
class Plan:
    """How to start one worker, and what that gives."""

    mode: str
    argv: list[str]
    env: dict[str, str]
    settings: dict  # sent to the worker on its socket


def worker_packages() -> tuple[Path, ...]:
    """Top-level files and folders of the worker's distributions and their requirements (read from
    their metadata once per process: 20 ms a run)."""
    kept = kept_for_forks()
    if "worker_packages" not in kept:
        kept["worker_packages"] = _distributions_files(WORKER_PACKAGES)
    return kept["worker_packages"]


def _distributions_files(names: tuple[str, ...]) -> tuple[Path, ...]:
    found: dict[str, Path] = {}
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for requirement in dist.requires or []:
            parsed = Requirement(requirement)
            if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
                todo.append(parsed.name)
        for file in dist.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.endswith((".dist-info", ".egg-info", ".pth")):
                continue
            found.setdefault(top, Path(dist.locate_file(top)))
    return tuple(sorted(found.values()))


@functools.cache
def bubblewrap() -> str | None:
    """The bwrap program, if it can make the namespaces here (tried once per run)."""
    if os.environ.get(MODE_ENV) == "process" or sys.platform != "linux":
        return None
    program = shutil.which("bwrap")
    if program is None:
        return None
    import subprocess

    probe = [program, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--die-with-parent",
             *([] if os.getuid() == 0 else ["--unshare-user"]), "--", "/bin/true"]
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return program if ok else None


def mode() -> str:
    return "bubblewrap" if bubblewrap() else "process"


def unix_sockets(stack: Any) -> Callable[[str], str | None]:
    """Paths for the Unix sockets the scorer's servers also listen on: the worker reaches them there
    in every mode (it may not make a network socket). Others may enter the folder but not list it;
    the sockets are made connectable by the worker's own user. The folder goes with `stack`."""
    if not hasattr(socket, "AF_UNIX"):
        return lambda name: None
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ecs-lab-endpoints-"))
    os.chmod(folder, 0o711)
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    return lambda name: str(folder / f"{name}.sock")


def open_to_worker(path: str) -> None:
    """A Unix socket of the scorer's, connectable by the worker (its user may be another one)."""
    os.chmod(path, 0o666)


def _unprivileged_uid(sandboxed: bool) -> int | None:
    """A user of its own per worker when the grader runs as root (limits are counted per user).

    Without the sandbox, only if that user can read Python's installation (in the sandbox,
    bubblewrap makes its folders readable): otherwise the worker could not import anything.
    """
    if os.getuid() != 0 or not (sandboxed or _readable_by_others(sys.base_prefix)):
        return None
    return random.randint(UID_RANGE[0], UID_RANGE[1])


def _readable_by_others(path: str) -> bool:
    current = Path(os.path.realpath(path))
    for folder in (current, *current.parents):
        if not os.stat(folder).st_mode & 0o001:  # no "x" for others: nobody else can go through
            return False
    return True


def _nproc_limit(uid: int | None) -> int:
    if uid is not None or os.getuid() == 0:  # root ignores the limit anyway
        return NPROC
    import psutil  # the user's own processes count too: leave them room

    mine = sum(1 for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real == os.getuid())
    return mine + NPROC


def memory_limit() -> int | None:
    """The memory this grading may use: its cgroup's limit (a container's --memory), else None."""
    try:
        relative = next(line.split(":", 2)[2].strip() for line in Path("/proc/self/cgroup").read_text().splitlines()
                        if line.split(":", 2)[1] in ("", "memory") or ",memory" in line.split(":", 2)[1]
                        or "memory," in line.split(":", 2)[1])
    except (OSError, StopIteration, IndexError):
        relative = "/"
    candidates = []
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/memory"):
        for folder in {f"{base}{relative}".rstrip("/"), base}:
            candidates += [f"{folder}/memory.max", f"{folder}/memory.limit_in_bytes"]
    for candidate in candidates:
        try:
            text = Path(candidate).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # "max", or cgroup v1's "unlimited" (about 2**63)
            return int(text)
    return None


def data_limit() -> int:
    """Each worker process's private memory (RLIMIT_DATA): what the container leaves beside the
    scorer, with a floor that lets the worker run and a ceiling for machines without a limit."""
    limit = memory_limit()
    if limit is None:
        return DATA_CEILING
    import psutil

    scorer = psutil.Process().memory_info().rss
    return max(DATA_FLOOR, min(DATA_CEILING, limit - scorer - SCORER_MARGIN))


def _environment(home: str, extra: dict[str, str]) -> dict[str, str]:
    """Only what the worker needs: none of the grader's variables or credentials."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
        **extra,
    }


def _runtime_copy(private: Path) -> Path:
    """The worker's own files, copied beside the submission: reading them (a traceback does) touches
    nothing of the grader, and they stay readable by the worker's user."""
    folder = private / "worker"
    folder.mkdir(exist_ok=True)
    for name in RUNTIME_FILES:
        shutil.copyfile(RUNTIME.parent / name, folder / name)
    return folder


def plan(private: Path, *, worker_fd: int, environment: dict[str, str], settings: dict,
         unix_endpoints: dict[int, str], forbidden_paths: list[str], readable: list[str] | None = None) -> Plan:
    """The command, environment and settings of a worker whose private folder is `private`.

    `private` holds student/ (the submission's files), work/ (its working folder), worker/ (a copy of
    the runtime) and, in process mode, site/ (links to the worker's packages). `unix_endpoints` maps
    the TCP ports of the scorer's endpoints to their Unix sockets. `readable`: more files the worker
    must read (the virtual clock's library).
    """
    program = bubblewrap()
    uid = _unprivileged_uid(program is not None)
    limits = {**LIMITS, "RLIMIT_NPROC": _nproc_limit(uid), "RLIMIT_DATA": data_limit()}
    python = os.path.realpath(sys.executable)
    runtime = _runtime_copy(private)
    common = {**settings, "limits": limits, "uid": uid, "forbidden_paths": forbidden_paths,
              "forbidden_modules": ["grader", "reference", "checks", "ecslab", "tests"]}
    if uid is not None:
        for sub in ("student", "work"):
            os.chown(private / sub, uid, uid)
    if program is None:
        site = private / "site"
        site.mkdir(exist_ok=True)
        for package in worker_packages():
            (site / package.name).symlink_to(package)
        env = _environment(str(private / "work"), {**environment, "ECS_LAB_WORKER_FD": str(worker_fd)})
        confinement = {"readable": [str(runtime), *(str(p) for p in worker_packages()), *(readable or [])],
                       "protected_pids": [os.getpid()]}
        return Plan(
            mode="process",
            argv=[python, "-I", "-S", str(runtime / RUNTIME.name)],
            env=env,
            settings={**common, "paths": [str(site)], "student_dir": str(private / "student"),
                      "work_dir": str(private / "work"), "endpoints": {str(p): s for p, s in unix_endpoints.items()},
                      "confinement": confinement},
        )
    root = SANDBOX_ROOT
    argv = [program, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp"]
    if uid is None:
        argv.append("--unshare-user")
    for system in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(system):
            argv += ["--symlink", os.readlink(system), system]
        elif os.path.isdir(system):
            argv += ["--ro-bind", system, system]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/hosts", "/etc/nsswitch.conf", "/etc/ssl"):
        if os.path.exists(etc):
            argv += ["--ro-bind", etc, etc]
    prefixes = sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, os.path.dirname(
        os.path.dirname(python)))})
    made: set[str] = set()
    for prefix in prefixes:
        argv += _parents(prefix, made) + ["--ro-bind", prefix, prefix]
    for extra in readable or []:
        argv += _parents(extra, made) + ["--ro-bind", extra, extra]
    site = f"{root}/site"
    argv += ["--perms", "0755", "--dir", root, "--perms", "0755", "--dir", site]
    for package in worker_packages():
        argv += ["--ro-bind", str(package), f"{site}/{package.name}"]
    argv += ["--ro-bind", str(runtime), f"{root}/worker",
             "--ro-bind", str(private / "student"), f"{root}/student",
             "--bind", str(private / "work"), f"{root}/work"]
    endpoints = {}
    if unix_endpoints:
        argv += ["--perms", "0755", "--dir", f"{root}/endpoints"]
        for port, path in unix_endpoints.items():
            inside = f"{root}/endpoints/{port}.sock"
            argv += ["--ro-bind", path, inside]
            endpoints[str(port)] = inside
    argv += ["--chdir", f"{root}/work", "--", python, "-I", "-S", f"{root}/worker/{RUNTIME.name}"]
    env = _environment(f"{root}/work", {**environment, "ECS_LAB_WORKER_FD": str(worker_fd)})
    return Plan(
        mode="bubblewrap",
        argv=argv,
        env=env,
        settings={**common, "paths": [site], "student_dir": f"{root}/student", "work_dir": f"{root}/work",
                  "endpoints": endpoints, "confinement": {"readable": [f"{root}/worker", *(readable or [])]}},
    )


def _parents(path: str, made: set[str]) -> list[str]:
    """bubblewrap makes missing parent folders 0700 for root: make them readable (0755)."""
    args = []
    parts = Path(path).parts
    for depth in range(2, len(parts)):
        parent = str(Path(*parts[:depth]))
        if parent not in made and parent not in ("/usr", "/bin", "/lib", "/lib64", "/sbin"):
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


# --- What the report says of it ---------------------------------------------------------------------


def protections(mode_: str, limits: dict, applied: dict) -> list[Text]:
    """How the student's code ran, from what the worker reported it could apply (`applied`)."""
    memory, data = limits["RLIMIT_AS"] // MIB, limits.get("RLIMIT_DATA", 0) // MIB
    file_size = limits["RLIMIT_FSIZE"] // MIB
    lines = [Text(
        "le code étudiant s'exécute hors du processus qui calcule la note ; seules des données simples en "
        "reviennent, et ce qui est jugé vient des serveurs du correcteur",
        "the student's code runs outside the process that computes the grade; only plain data comes back, "
        "and what is judged comes from the grader's own servers"), Text(
        f"limites par processus du code étudiant : {memory} Mio d'espace d'adressage dont {data} Mio de données, "
        f"temps CPU borné par vérification, {NPROC} processus, {file_size} Mio par fichier, "
        f"{limits['RLIMIT_NOFILE']} fichiers ouverts, pas d'entrée standard, variables d'environnement et "
        "identifiants du correcteur retirés",
        f"limits on every process of the student's code: {memory} MiB of address space of which {data} MiB of data, "
        f"CPU time bounded per check, {NPROC} processes, {file_size} MiB per file, {limits['RLIMIT_NOFILE']} open "
        "files, no standard input, the grader's environment variables and credentials removed")]
    if mode_ == "bubblewrap":
        lines.append(Text(
            "bac à sable bubblewrap : système en lecture seule, un dossier privé en écriture, ni le correcteur, ni "
            "la solution, ni les rapports visibles ; réseau limité aux points d'accès du correcteur ; "
            "processus isolés, tous tués à la fin de chaque vérification",
            "bubblewrap sandbox: read-only system, one private writable folder, neither the grader, nor the "
            "solution, nor the reports visible; network limited to the grader's endpoints; isolated processes, "
            "all killed at the end of every check"))
    else:
        lines.append(Text(
            "sans bac à sable bubblewrap (espaces de noms refusés ici, comme dans un conteneur Docker, sur "
            "Gradescope, un exécuteur GitHub ou Fargate) : processus séparé, confiné par les protections suivantes",
            "without the bubblewrap sandbox (namespaces refused here, as in a Docker container, on Gradescope, a "
            "GitHub runner or Fargate): a separate process, confined by the protections below"))
    uid = applied.get("uid")
    if isinstance(uid, int) and uid != os.getuid():
        lines.append(Text("utilisateur non privilégié propre à cette notation ; tous ses processus sont tués à la fin "
                          "de chaque vérification, quoi qu'ils aient fait à leurs parents",
                          "an unprivileged user of its own; all its processes are killed at the end of every check, "
                          "whatever they did to their parents"))
    elif mode_ == "bubblewrap":
        lines.append(Text("espace de noms utilisateur, sans privilège", "user namespace, no privilege"))
    elif os.getuid() == 0:
        lines.append(Text(f"ATTENTION : le correcteur est root, mais un autre utilisateur ne peut pas lire le Python "
                          f"qu'il utilise ({sys.base_prefix}) : le code étudiant s'exécute en root, restreint par les "
                          "seules protections ci-dessous (un Python lisible par tous, comme celui du système, le "
                          "ferait tourner sous un utilisateur séparé)",
                          f"WARNING: the grader is root, but another user cannot read the Python it uses "
                          f"({sys.base_prefix}): the student's code runs as root, restricted only by the protections "
                          "below (a Python readable by all, such as the system's, would run it as a separate user)"))
    else:
        lines.append(Text("le code étudiant a les droits de l'utilisateur qui lance la notation (le correcteur "
                          "n'est pas root : pas d'utilisateur séparé) ; ses processus sont suivis et tués à la fin de "
                          "chaque vérification",
                          "the student's code has the rights of the user who runs the grading (the grader is not "
                          "root: no separate user); its processes are tracked and killed at the end of every check"))
    landlock = applied.get("landlock") or {}
    if landlock.get("abi"):
        scoped = Text(" ; aucun signal vers le correcteur, aucune socket abstraite",
                      "; no signal to the grader, no abstract socket") if landlock.get("scoped") else Text("", "")
        lines.append(Text(
            f"Landlock (ABI {landlock['abi']}) : seuls le système, Python, les paquets du code étudiant et le rendu "
            f"sont lisibles, seul son dossier de travail modifiable{scoped.fr}",
            f"Landlock (ABI {landlock['abi']}): only the system, Python, the student code's packages and the "
            f"submission are readable, only its working folder writable{scoped.en}"))
    elif mode_ != "bubblewrap":
        reason = landlock.get("error", "?")
        lines.append(Text(f"Landlock indisponible ici ({reason}) : les fichiers lisibles sont ceux que les permissions "
                          "laissent à son utilisateur",
                          f"Landlock unavailable here ({reason}): the readable files are those its user's permissions "
                          "allow"))
    if applied.get("seccomp"):
        lines.append(Text(
            "filtre seccomp : aucune socket réseau (les points d'accès du correcteur sont des sockets Unix), ni "
            "ptrace, ni lecture de la mémoire d'un autre processus, ni io_uring, bpf, montage ou espace de noms",
            "seccomp filter: no network socket (the grader's endpoints are Unix sockets), no ptrace, no reading of "
            "another process's memory, no io_uring, bpf, mount or namespace"))
    else:
        lines.append(Text(f"pas de filtre seccomp ici ({applied.get('error', '?')})",
                          f"no seccomp filter here ({applied.get('error', '?')})"))
    if applied.get("network_refused"):
        lines.append(Text("réseau : vérifié refusé au code étudiant", "network: checked refused to the student's code"))
    elif mode_ != "bubblewrap":
        lines.append(Text("réseau : ouvert au code étudiant (ni bubblewrap ni seccomp ici)",
                          "network: open to the student's code (neither bubblewrap nor seccomp here)"))
    if applied.get("oom_first"):
        lines.append(Text("mémoire : si elle manque, le noyau arrête le code étudiant en premier, jamais le correcteur",
                          "memory: when it runs out, the kernel stops the student's code first, never the grader"))
    visible = [str(p) for p in applied.get("grader_readable") or []][:5]
    if visible:
        shown = ", ".join(visible)
        lines.append(Text(f"ATTENTION : le code étudiant peut lire ces fichiers du correcteur : {shown}",
                          f"WARNING: the student's code can read these files of the grader: {shown}"))
    else:
        lines.append(Text("fichiers du correcteur, de la solution et des rapports : vérifiés illisibles par le code "
                          "étudiant",
                          "the grader's, the solution's and the reports' files: checked unreadable by the student's code"))
    return lines
