"""A stand-in for Gradescope's autograder, on the local Docker engine.

As Gradescope does it: the bundle `ecs-lab gradescope-bundle` writes is unpacked in
/autograder/source of a container of the base image, its `setup.sh` runs once (as root, network
on), and the result is kept as an image; every submission is then graded in a fresh container of
that image (root, Docker's default seccomp profile, which refuses namespaces, so bubblewrap too),
with Gradescope's tightest documented limits (384 MB, a quarter of a CPU) unless a test asks
otherwise: /autograder/run_autograder reads /autograder/submission and writes
/autograder/results/results.json.

The image is the grader's own (grader.ecs.image: the one ECS runs too), built once per bundle (its tag
carries the bundle's hash) and shared by pytest-xdist workers; pip's downloads are kept in
.cache/pip-gradescope, so a new bundle reinstalls without downloading.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.ecs.image import IMAGE, LABEL as IMAGE_LABEL, build_image

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
BASE_IMAGE = os.environ.get("ECS_LAB_BASE_IMAGE", "ecs-lab/python-base:3.11-bookworm")
LABEL = "ecs-lab.gradescope-standin"  # the stand-in's containers
MEMORY, CPUS = "384m", 0.25  # the tightest limits Gradescope has documented
RUN_TIMEOUT_S = 600

# What is left in the container once run_autograder has returned (PID 1 and this probe excepted).
_LEFTOVERS = r"""
import os
mine = {1, os.getpid(), os.getppid()}
for pid in sorted(int(p) for p in os.listdir('/proc') if p.isdigit()):
    if pid in mine:
        continue
    try:
        status = dict(l.split(':\t', 1) for l in open(f'/proc/{pid}/status').read().splitlines() if ':\t' in l)
        command = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\0', b' ').decode(errors='replace')
    except OSError:
        continue
    print('LEFTOVER', pid, status['Uid'].split()[0], status['State'].split()[0], command[:200])
"""


@dataclass
class StandinRun:
    """One submission graded in a fresh container."""

    exit_code: int
    logs: str
    results: dict | None
    results_dir: Path
    wall_s: float
    leftovers: list[str] = field(default_factory=list)  # processes still there after run_autograder

    def explain(self) -> str:
        return f"exit {self.exit_code} in {self.wall_s:.1f} s; leftovers {self.leftovers}; logs:\n{self.logs[-4000:]}"


@dataclass
class Standin:
    image: str
    bundle: Path
    setup_s: float = 0.0
    build_network: str = "bridge"

    def run(self, submission: Path, *, memory: str = MEMORY, cpus: float = CPUS, results_dir: Path) -> StandinRun:
        """Grade `submission` (a folder) in a fresh container, as Gradescope does."""
        results_dir.mkdir(parents=True, exist_ok=True)
        volumes = {str(submission): {"bind": "/autograder/submission", "mode": "ro"},
                   str(results_dir): {"bind": "/autograder/results", "mode": "rw"}}
        return self._run("/autograder/run_autograder", volumes, memory=memory, cpus=cpus, results_dir=results_dir)

    def run_as_user(self, submission: Path, *, results_dir: Path, memory: str = MEMORY, cpus: float = 1.0,
                    uid: int = 1000) -> StandinRun:
        """The grader run by an ordinary user from a checkout (the project, read-only), as on a laptop
        without bubblewrap: `python -m pytest --submission=... --report-dir=...`."""
        results_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(results_dir, 0o777)
        volumes = {str(ROOT): {"bind": "/project", "mode": "ro"},
                   str(submission): {"bind": "/submission", "mode": "ro"},
                   str(results_dir): {"bind": "/reports", "mode": "rw"}}
        command = ("cd /project && /autograder/venv/bin/python -m pytest --submission=/submission --report-dir=/reports "
                   "-p no:cacheprovider -q")
        return self._run(command, volumes, memory=memory, cpus=cpus, results_dir=results_dir, user=f"{uid}:{uid}",
                         results_file="report.json")

    def _run(self, command: str, volumes: dict, *, memory: str, cpus: float, results_dir: Path, user: str = "",
             results_file: str = "results.json") -> StandinRun:
        import docker

        client = docker.from_env(timeout=RUN_TIMEOUT_S)
        started = time.monotonic()
        container = client.containers.run(
            self.image, ["bash", "-c", f"{command}; echo \"run_autograder: $?\"; python3 -c {_quote(_LEFTOVERS)}"],
            detach=True, volumes=volumes, mem_limit=memory, memswap_limit=memory, nano_cpus=int(cpus * 1e9),
            user=user or None, environment={"HOME": "/tmp"} if user else {}, labels={LABEL: "run"})
        try:
            status = container.wait(timeout=RUN_TIMEOUT_S)
            logs = container.logs().decode("utf-8", "replace")
        finally:
            container.remove(force=True)
            client.close()
        wall = time.monotonic() - started
        try:
            results = json.loads((results_dir / results_file).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            results = None
        leftovers = [line for line in logs.splitlines() if line.startswith("LEFTOVER")]
        code = int(logs.rsplit("run_autograder: ", 1)[1].split()[0]) if "run_autograder: " in logs else status[
            "StatusCode"]
        return StandinRun(code, logs, results, results_dir, wall, leftovers)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def write_bundle(folder: Path, lang: str = "fr") -> Path:
    """The autograder zip, written by the instructor's command."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "autograder.zip"
    subprocess.run([sys.executable, "-m", "ecslab.cli", "gradescope-bundle", str(out)], cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, "ECS_LAB_LANG": lang}, timeout=120)
    return out


def build_standin(workdir: Path, lang: str = "fr") -> Standin:
    """The image Gradescope would build from the bundle (cached by the bundle's content)."""
    import docker

    bundle = write_bundle(workdir / f"bundle-{os.getpid()}", lang)  # the same bytes from every xdist worker
    network = "host" if os.environ.get("ECS_LAB_BUILD_NETWORK") == "host" else "bridge"
    client = docker.from_env(timeout=900)
    try:  # built under the image's own lock: one xdist worker builds, the others wait for it
        started = time.monotonic()
        tag = build_image(client, bundle, base_image=BASE_IMAGE, network=network, pip_cache=CACHE / "pip-gradescope")
        seconds = float(client.images.get(tag).labels.get(f"{IMAGE_LABEL}.setup-s", 0)) or (time.monotonic() - started)
        _forget_older(client, tag)
        return Standin(tag, bundle, setup_s=seconds, build_network=network)
    finally:
        client.close()


def _forget_older(client, keep: str) -> None:
    """Older stand-in images (other bundles) are removed: one is kept per machine."""
    for image in client.images.list(name=IMAGE):
        if keep not in image.tags:
            with contextlib.suppress(Exception):
                client.images.remove(image.id, force=True)


def copy_submission(files: dict[str, Path | str], folder: Path) -> Path:
    """A submission folder with these files (name -> path or text)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content, encoding="utf-8")
    return folder


def image_size(tag: str) -> int:
    import docker

    client = docker.from_env()
    try:
        return int(client.images.get(tag).attrs["Size"])
    finally:
        client.close()


__all__ = ["CPUS", "MEMORY", "Standin", "StandinRun", "build_standin", "copy_submission", "image_size"]
