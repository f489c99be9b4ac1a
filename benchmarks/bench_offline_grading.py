"""Benchmark: offline grading of one submission, as a student or an instructor runs it.

Prints the wall time of the whole process (`python -m pytest --submission DIR`) for the
reference and the untouched template, and where the time goes: interpreter and imports,
moto set-up (the tier's world and the lab's base resources), and the checks themselves
(pytest's own durations).

    python benchmarks/bench_offline_grading.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def grade(submission: str, report_dir: Path) -> tuple[float, str]:
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--submission", submission,
         "--report-dir", str(report_dir), "--durations=0", "--durations-min=0"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"grading {submission} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return wall, completed.stdout


def phase_totals(output: str) -> dict[str, float]:
    """Sum pytest's --durations lines by phase (setup, call, teardown)."""
    totals = {"setup": 0.0, "call": 0.0, "teardown": 0.0}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].endswith("s") and parts[1] in totals:
            try:
                totals[parts[1]] += float(parts[0][:-1])
            except ValueError:
                pass
    return totals


def import_time() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import pytest, boto3, moto, grader.plugin, jinja2"],
                   cwd=ROOT, check=True)
    return time.perf_counter() - start


def moto_setup_time() -> float:
    code = ("import time; t=time.perf_counter();"
            "from grader.harness.aws import moto_world, new_account;"
            "from grader.harness.lab import LabBase, provision_lab;"
            "ctx=moto_world(); ctx.__enter__(); base=LabBase.provision(new_account());"
            "provision_lab(new_account(), base); print(time.perf_counter()-t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print(f"interpreter + imports (pytest, boto3, moto, grader): {import_time():.2f} s")
    print(f"moto world + lab base + one account (incl. imports): {moto_setup_time():.2f} s")
    print()
    print(f"{'submission':<18} {'median wall':>11} {'min':>6} {'max':>6} {'setup':>7} {'call':>6} "
          f"{'teardown':>8} {'score':>7}")
    medians = {}
    for submission in ("reference", "student_template"):
        walls, phases = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.runs):
                wall, output = grade(submission, Path(tmp))
                walls.append(wall)
                phases.append(phase_totals(output))
            score = json.loads((Path(tmp) / "report.json").read_text())["score"]
        medians[submission] = statistics.median(walls)
        mean = {k: statistics.mean(p[k] for p in phases) for k in phases[0]}
        print(f"{submission:<18} {medians[submission]:>10.2f}s {min(walls):>5.2f}s {max(walls):>5.2f}s "
              f"{mean['setup']:>6.2f}s {mean['call']:>5.2f}s {mean['teardown']:>7.2f}s {score:>7}")
    print()
    print(f"target: < 10 s wall per submission; reference/target ratio "
          f"{medians['reference'] / 10:.2f}, template/target ratio {medians['student_template'] / 10:.2f}")


if __name__ == "__main__":
    main()
