"""Benchmark: the offline grade of one submission, before and after, measured in one run.

Times the whole process a student or an instructor runs (`python -m pytest --submission=DIR`,
reports written) for this checkout and for a baseline commit checked out beside it (a git
worktree in .cache/bench/), runs interleaved so that both see the same machine, and prints the
minimum, median and maximum of each and the ratio of the medians. The baseline defaults to the
last commit before the scorer/worker split (the student's code then ran inside the grader).

    python benchmarks/bench_offline_grading.py [--runs 5] [--baseline COMMIT] [--submission reference]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "d847ff0"  # main before "Grades that cannot be forged"


def worktree(commit: str) -> Path:
    """A checkout of `commit` beside this one (kept in .cache/bench/ for the next runs)."""
    target = ROOT / ".cache" / "bench" / f"baseline-{commit}"
    if not (target / "grader").is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(target), commit], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    return target


def user_env() -> dict[str, str]:
    """This environment as on a student's machine: no pytest variables of a calling run, and Python
    keeping its bytecode (a CI image's PYTHONDONTWRITEBYTECODE would compile every edited module of
    either tree again at every run)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != "PYTHONDONTWRITEBYTECODE"}


def grade(tree: Path, submission: str) -> float:
    """One grading run in `tree` (its own grader: `python -m pytest` puts the current folder first)."""
    with tempfile.TemporaryDirectory() as reports:
        start = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--submission={ROOT / submission}",
             f"--report-dir={reports}"], cwd=tree, capture_output=True, text=True, check=False,
            env=user_env())
        wall = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"grading {submission} in {tree} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE, help=f"commit to compare with (default {BASELINE})")
    parser.add_argument("--submission", action="append", help="folder to grade (default: reference, student_template)")
    args = parser.parse_args()
    submissions = args.submission or ["reference", "student_template"]
    trees = {"before": worktree(args.baseline), "after": ROOT}
    for name, tree in trees.items():  # warm caches (cfn-lint verdicts, bytecode) before measuring
        grade(tree, submissions[0])
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores); baseline {args.baseline}; {args.runs} runs each,"
          " interleaved")
    print("| submission | before: median (min-max) | after: median (min-max) | after / before |")
    print("| --- | --- | --- | --- |")
    for submission in submissions:
        times: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, tree in trees.items():
                times[name].append(grade(tree, submission))
        before, after = (statistics.median(times[n]) for n in ("before", "after"))
        cells = [f"{statistics.median(t):.2f} s ({min(t):.2f}-{max(t):.2f})" for t in times.values()]
        print(f"| {submission} | {cells[0]} | {cells[1]} | {after / before:.2f} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
