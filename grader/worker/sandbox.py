"""Where a worker runs: the command that starts it, its limits, and what protects the grader.

Two modes, chosen once per run:
- ``bubblewrap`` (Linux with ``bwrap`` and namespaces; the CI and grading servers): the worker
  sees a read-only system, its Python and the packages it needs, one private read-write
  folder, and nothing of the grader, the solution or the reports; it has its own network
  (loopback only: the scorer's endpoints reach it through Unix sockets), its own process
  tree (nothing survives it) and, when the grader runs as root, an unprivileged user.
- ``process`` (a student's laptop without bubblewrap): a separate process with the same
  limits, a private working folder and an environment without the grader's variables; it
  runs with the user's own rights, which the report says.

The worker imports only the packages listed by :func:`worker_packages` (boto3, the Docker
SDK, time-machine and what they need), never through site-packages' ``.pth`` files, so the
grader's editable install is not on its path either.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
import random
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from grader.feedback import Text

RUNTIME = Path(__file__).with_name("runtime") / "ecs_lab_worker.py"
WORKER_PACKAGES = ("boto3", "docker", "time-machine")
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
SANDBOX_ROOT = "/sandbox"  # inside bubblewrap: student/, work/, site/, worker/, endpoints/


@dataclass
class Plan:
    """How to start one worker, and what that gives."""

    mode: str
    argv: list[str]
    env: dict[str, str]
    settings: dict  # sent to the worker on its socket
    protections: list[Text] = field(default_factory=list)


@functools.cache
def worker_packages() -> tuple[Path, ...]:
    """Top-level files and folders of the worker's distributions and their requirements."""
    found: dict[str, Path] = {}
    seen: set[str] = set()
    todo = list(WORKER_PACKAGES)
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
    """Paths for the Unix sockets the scorer's servers also listen on, for the sandboxed worker
    (None outside the sandbox: the worker then reaches them on TCP). The folder goes with `stack`."""
    if mode() != "bubblewrap":
        return lambda name: None
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ecs-lab-endpoints-"))
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    return lambda name: str(folder / f"{name}.sock")


def _unprivileged_uid(sandboxed: bool) -> int | None:
    """A user of its own per worker when the grader runs as root (limits are counted per user).

    Without the sandbox, only if that user can read Python's installation (in the sandbox,
    bubblewrap makes its folders readable): otherwise the worker could not import anything.
    """
    if os.getuid() != 0 or not (sandboxed or _readable_by_others(sys.base_prefix)):
        return None
    return random.randint(61000, 64999)


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


def plan(private: Path, *, worker_fd: int, environment: dict[str, str], settings: dict,
         unix_endpoints: dict[int, str], forbidden_paths: list[str], readable: list[str] | None = None) -> Plan:
    """The command, environment and settings of a worker whose private folder is `private`.

    `private` holds student/ (the submission's files), work/ (its working folder) and, in
    process mode, site/ (links to the worker's packages). `unix_endpoints` maps the TCP ports
    of the scorer's endpoints to Unix sockets (used inside the sandbox only). `readable`: more
    folders the worker must read, at the same path (the virtual clock's).
    """
    program = bubblewrap()
    uid = _unprivileged_uid(program is not None)
    limits = {**LIMITS, "RLIMIT_NPROC": _nproc_limit(uid)}
    python = os.path.realpath(sys.executable)
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
        return Plan(
            mode="process",
            argv=[python, "-I", "-S", str(RUNTIME)],
            env=env,
            settings={**common, "paths": [str(site)], "student_dir": str(private / "student"),
                      "work_dir": str(private / "work"), "forward": {}},
            protections=_protections("process", uid, limits),
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
    argv += ["--ro-bind", str(RUNTIME.parent), f"{root}/worker",
             "--ro-bind", str(private / "student"), f"{root}/student",
             "--bind", str(private / "work"), f"{root}/work"]
    forward = {}
    if unix_endpoints:
        argv += ["--perms", "0755", "--dir", f"{root}/endpoints"]
        for port, path in unix_endpoints.items():
            inside = f"{root}/endpoints/{port}.sock"
            argv += ["--ro-bind", path, inside]
            forward[str(port)] = inside
    argv += ["--chdir", f"{root}/work", "--", python, "-I", "-S", f"{root}/worker/{RUNTIME.name}"]
    env = _environment(f"{root}/work", {**environment, "ECS_LAB_WORKER_FD": str(worker_fd)})
    return Plan(
        mode="bubblewrap",
        argv=argv,
        env=env,
        settings={**common, "paths": [site], "student_dir": f"{root}/student", "work_dir": f"{root}/work",
                  "forward": forward},
        protections=_protections("bubblewrap", uid, limits),
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


def _protections(kind: str, uid: int | None, limits: dict) -> list[Text]:
    memory = limits["RLIMIT_AS"] // MIB
    file_size = limits["RLIMIT_FSIZE"] // MIB
    limit_line = Text(
        f"limites par processus du code étudiant : {memory} Mio de mémoire, temps CPU borné par vérification, "
        f"{NPROC} processus, {file_size} Mio par fichier, {limits['RLIMIT_NOFILE']} fichiers ouverts, "
        "pas d'entrée standard, variables d'environnement et identifiants du correcteur retirés",
        f"limits on every process of the student's code: {memory} MiB of memory, CPU time bounded per check, "
        f"{NPROC} processes, {file_size} MiB per file, {limits['RLIMIT_NOFILE']} open files, no standard "
        "input, the grader's environment variables and credentials removed",
    )
    always = Text(
        "le code étudiant s'exécute hors du processus qui calcule la note ; seules des données simples en "
        "reviennent, et ce qui est jugé vient des serveurs du correcteur",
        "the student's code runs outside the process that computes the grade; only plain data comes back, "
        "and what is judged comes from the grader's own servers",
    )
    if kind == "process":
        rights = (Text("le code étudiant s'exécute sous un utilisateur non privilégié",
                       "the student's code runs as an unprivileged user") if uid is not None else
                  Text("le code étudiant a les droits de l'utilisateur qui lance la notation",
                       "the student's code has the rights of the user who runs the grading"))
        return [always, limit_line, Text(
            f"pas de bac à sable (bubblewrap absent ou refusé ici) : {rights.fr}, voit ses fichiers et le même "
            "réseau ; une note officielle se calcule dans le bac à sable",
            f"no sandbox (bubblewrap missing or refused here): {rights.en}, sees the same files and network; an "
            "official grade is computed in the sandbox")]
    user = (Text("utilisateur non privilégié, propre à cette notation", "unprivileged user of its own")
            if uid is not None else Text("espace de noms utilisateur, sans privilège", "user namespace, no privilege"))
    return [always, limit_line, Text(
        "bac à sable bubblewrap : système en lecture seule, un dossier privé en écriture, ni le correcteur, ni "
        "la solution, ni les rapports visibles ; réseau limité aux points d'accès du correcteur ; "
        "processus isolés, tous tués à la fin de chaque vérification",
        "bubblewrap sandbox: read-only system, one private writable folder, neither the grader, nor the "
        "solution, nor the reports visible; network limited to the grader's endpoints; isolated processes, "
        "all killed at the end of every check"), user]
