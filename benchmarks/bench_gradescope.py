"""Benchmark: Gradescope's autograder before and after, in its stand-in container, measured in one run.

For this checkout and a baseline commit checked out beside it (a git worktree in .cache/bench/):
writes the bundle with that tree's `ecs-lab gradescope-bundle`, runs its setup.sh in a fresh
container of the project's base image (one CPU, as Gradescope builds; pip's downloads served from
.cache/pip-bench, filled by a first run, so that the network does not decide), and reports the
setup's time and the size of the environment it installs; then grades the reference in fresh
containers of that image at Gradescope's tightest limits (384 MB, a quarter of a CPU): the grade,
the wall time, the scorer's peak memory (the largest process of the run: getrusage's children
maximum, taken by a wrapper around run_autograder) and the container's peak (its cgroup's).

    python benchmarks/bench_gradescope.py [--baseline COMMIT] [--after COMMIT] [--runs 2] [--memory 384m] [--cpus 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_offline_grading import worktree  # noqa: E402

BASELINE = "1c7f0fe"  # main before "Official grades where instructors compute them" (issue 23)
BASE_IMAGE = os.environ.get("ECS_LAB_BASE_IMAGE", "ecs-lab/python-base:3.11-bookworm")
PIP_CACHE = ROOT / ".cache" / "pip-bench"
WRAPPER = ("import resource, subprocess; subprocess.run(['/autograder/run_autograder']); "
           "print('SCORER_PEAK_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def bundle(tree: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "autograder.zip"
    subprocess.run([sys.executable, "-c", "import sys; from ecslab.cli import main; sys.exit(main(sys.argv[1:]))",
                    "gradescope-bundle", str(out)], cwd=tree, check=True, capture_output=True,
                   env={**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}, "PYTHONPATH": str(tree)})
    return out


def setup(client, zip_path: Path, tag: str) -> tuple[float, str, str]:
    """setup.sh in a fresh container (one CPU); returns its seconds, the venv's size and its log."""
    script = ("set -e; mkdir -p /autograder/source; cd /autograder/source; "
              "python3 -c 'import zipfile; zipfile.ZipFile(\"/bundle/autograder.zip\").extractall(\".\")'; "
              "cp run_autograder /autograder/; chmod 0755 /autograder/run_autograder; "
              "start=$(date +%s.%N); bash ./setup.sh; end=$(date +%s.%N); "
              "echo SETUP_S $(python3 -c \"print($end - $start)\"); echo VENV $(du -sm /autograder/venv | cut -f1)")
    container = client.containers.run(
        BASE_IMAGE, ["bash", "-c", script], detach=True, nano_cpus=10**9,
        volumes={str(zip_path.parent): {"bind": "/bundle", "mode": "ro"},
                 str(PIP_CACHE): {"bind": "/root/.cache/pip", "mode": "rw"}})
    try:
        status = container.wait(timeout=1800)
        log = container.logs().decode("utf-8", "replace")
        if status["StatusCode"] != 0:
            sys.exit(f"setup.sh of {zip_path} failed:\n{log[-3000:]}")
        container.commit(tag.split(":")[0], tag.split(":")[1])
    finally:
        container.remove(force=True)
    seconds = float(re.search(r"SETUP_S ([\d.]+)", log).group(1))
    return seconds, re.search(r"VENV (\d+)", log).group(1) + " MB", log


def grade(client, tag: str, memory: str, cpus: float) -> dict:
    """The reference graded in a fresh container of `tag`, as Gradescope does."""
    submission = ROOT / "reference"
    results = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-gradescope-{os.getpid()}"
    results.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    container = client.containers.run(
        tag, ["python3", "-c", WRAPPER], detach=True, mem_limit=memory, memswap_limit=memory,
        nano_cpus=int(cpus * 1e9),
        volumes={str(submission): {"bind": "/autograder/submission", "mode": "ro"},
                 str(results): {"bind": "/autograder/results", "mode": "rw"}})
    peaks: list[float] = []
    watcher = threading.Thread(target=_watch_peak, args=(container.id, peaks), daemon=True)
    watcher.start()
    try:
        container.wait(timeout=900)
        wall = time.monotonic() - started
        log = container.logs().decode("utf-8", "replace")
        watcher.join(timeout=5)
        container_peak = max(peaks, default=float("nan"))
    finally:
        container.remove(force=True)
    data = json.loads((results / "results.json").read_text(encoding="utf-8"))
    scorer = re.search(r"SCORER_PEAK_KIB (\d+)", log)
    return {"score": data["score"], "wall_s": wall, "flagged": "Signalé" in data["output"],
            "scorer_mib": int(scorer.group(1)) / 1024 if scorer else float("nan"), "container_mib": container_peak}


def _watch_peak(container_id: str, peaks: list[float]) -> None:
    """The container's peak memory (cgroup v1's max_usage, v2's peak), read until its cgroup goes away."""
    candidates = [f"/sys/fs/cgroup/memory/docker/{container_id}/memory.max_usage_in_bytes",
                  f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/memory.peak"]
    for _ in range(20000):
        for candidate in candidates:
            try:
                peaks.append(int(Path(candidate).read_text()) / 2**20)
                break
            except (OSError, ValueError):
                continue
        else:
            if peaks:
                return
        time.sleep(0.05)


def main() -> None:
    import docker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"commit to compare with (default {BASELINE})")
    parser.add_argument("--after", default=None, help="commit measured as 'after' (default: this checkout)")
    parser.add_argument("--runs", type=int, default=2, help="grades of the reference per image (default 2)")
    parser.add_argument("--memory", default="384m")
    parser.add_argument("--cpus", type=float, default=0.25)
    args = parser.parse_args()
    PIP_CACHE.mkdir(parents=True, exist_ok=True)
    client = docker.from_env(timeout=1800)
    trees = {"before": worktree(args.baseline), "after": worktree(args.after) if args.after else ROOT}
    rows = {}
    for name, tree in trees.items():
        zip_path = bundle(tree, ROOT / ".cache" / "bench" / f"gradescope-{name}")
        tag = f"ecs-lab/bench-gradescope:{name}"
        setup(client, zip_path, tag)  # fills pip's cache; the next setup is the one measured
        seconds, size, _log = setup(client, zip_path, tag)
        runs = [grade(client, tag, args.memory, args.cpus) for _ in range(args.runs)]
        rows[name] = (seconds, size, runs)
        client.images.remove(tag, force=True)
    print(f"base image {BASE_IMAGE}; baseline {args.baseline}; grades of the reference at {args.memory}, "
          f"{args.cpus:g} CPU, {args.runs} fresh containers each")
    print("| | setup.sh (1 CPU) | environment | grade | wall (median) | scorer peak (max) | container peak (max) "
          "| flagged |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, (seconds, size, runs) in rows.items():
        grades = ", ".join(f"{r['score']:g}" for r in runs)
        print(f"| {name} | {seconds:.0f} s | {size} | {grades} | "
              f"{statistics.median(r['wall_s'] for r in runs):.1f} s | {max(r['scorer_mib'] for r in runs):.0f} MiB | "
              f"{max(r['container_mib'] for r in runs):.0f} MiB | {any(r['flagged'] for r in runs)} |")
    before, after = rows["before"], rows["after"]
    print(f"setup after / before: {after[0] / before[0]:.2f}; scorer peak after / before: "
          f"{max(r['scorer_mib'] for r in after[2]) / max(r['scorer_mib'] for r in before[2]):.2f}")


if __name__ == "__main__":
    main()
