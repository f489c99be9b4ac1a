"""Benchmark: a class graded offline with `ecs-lab grade -j 2`, against a baseline commit and the former loop.

The corpus (written to .cache/bench/class/): every submission of tests/submissions/faults.py
(faulty, variants, bundles, broken, other correct styles) plus copies of the reference and of
the template, at least 60 in all. Measured in one run, on the same machine:

- `ecs-lab grade -j 2` on the whole corpus, for this checkout and for a baseline commit checked
  out beside it (a git worktree in .cache/bench/), interleaved (--runs each): the submissions per
  minute, the machine's busy CPU-seconds per submission (/proc/stat: the scorers, the workers and
  the student's processes) and the ratio to the baseline;
- with --loop, the former loop (one `python -m pytest --submission=DIR` after the other) on a
  sample of the corpus (every fifth submission), and `ecs-lab grade -j 2` on the same sample.

    python benchmarks/bench_batch_grading.py [--baseline COMMIT] [--runs 2] [--jobs 2] [--copies 8] [--loop]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from bench_offline_grading import grade as single_run, user_env, worktree  # noqa: E402 - the same single run
from submissions.faults import CORPUS, materialise  # noqa: E402


def write_corpus(target: Path, copies: int) -> list[Path]:
    if target.exists():
        shutil.rmtree(target)
    for entry in CORPUS:
        materialise(entry, target / entry.name)
    for n in range(copies):
        for name, source in (("reference", ROOT / "reference"), ("template", ROOT / "student_template")):
            folder = target / f"{name}-{n + 1}"
            folder.mkdir(parents=True)
            for file in ("image_classifier_operations.py", "s3_io.py"):
                shutil.copyfile(source / file, folder / file)
    return sorted(p for p in target.iterdir() if p.is_dir())


BASELINE = "36e6bba"  # main before "Sixty submissions a minute" (issue 22)


def busy_cpu_s() -> float:
    """CPU-seconds the machine has spent busy since boot (every process: scorers, workers, students')."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = fields
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def batch(submissions: list[Path], jobs: int, tree: Path = ROOT) -> tuple[float, float]:
    """`ecs-lab grade -j JOBS` of these submissions with `tree`'s grader: (wall seconds, busy CPU-seconds)."""
    with tempfile.TemporaryDirectory() as scratch:
        sample = Path(scratch) / "class"
        sample.mkdir()
        for folder in submissions:  # a class folder holding exactly these submissions
            shutil.copytree(folder, sample / folder.name)
        cpu, start = busy_cpu_s(), time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", "ecslab.cli", "grade", str(sample), "--out",
                                    f"{scratch}/out", "-j", str(jobs), "--no-progress"], cwd=tree,
                                   capture_output=True, text=True, check=False, env=user_env())
        wall, cpu = time.perf_counter() - start, busy_cpu_s() - cpu
    if completed.returncode != 0:
        sys.exit(f"ecs-lab grade in {tree} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return wall, cpu


def rate(count: int, seconds: float) -> float:
    return 60 * count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"commit to compare with (default {BASELINE})")
    parser.add_argument("--runs", type=int, default=2, help="runs of each tree, interleaved")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--copies", type=int, default=8, help="copies of the reference and of the template")
    parser.add_argument("--loop", action="store_true", help="also the former loop, on a sample")
    parser.add_argument("--every", type=int, default=5, help="the loop's sample: every n-th submission")
    args = parser.parse_args()
    corpus = write_corpus(ROOT / ".cache" / "bench" / "class", args.copies)
    trees = {"before": worktree(args.baseline), "after": ROOT}
    print(f"corpus: {len(corpus)} submissions; {os.cpu_count()} CPUs; load before: {os.getloadavg()[0]:.2f}; "
          f"baseline {args.baseline}; {args.runs} runs each, interleaved", flush=True)
    for tree in trees.values():  # warm the caches (bytecode, cfn-lint verdicts) of both
        batch(corpus[:2], args.jobs, tree)
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for _ in range(args.runs):
        for name, tree in trees.items():
            measured[name].append(batch(corpus, args.jobs, tree))
    print(f"| `ecs-lab grade -j {args.jobs}`, {len(corpus)} submissions | wall: median (min-max) | submissions/min "
          "| busy CPU-s per submission |")
    print("| --- | --- | --- | --- |")
    for name, runs in measured.items():
        walls = [w for w, _c in runs]
        print(f"| {name} | {statistics.median(walls):.1f} s ({min(walls):.1f}-{max(walls):.1f}) "
              f"| {rate(len(corpus), statistics.median(walls)):.1f} "
              f"| {statistics.median(c for _w, c in runs) / len(corpus):.2f} |")
    before, after = (statistics.median(w for w, _c in measured[n]) for n in ("before", "after"))
    print(f"after / before (wall): {after / before:.2f}; load average after: {os.getloadavg()[0]:.2f}")
    if args.loop:
        sample = corpus[::args.every]
        loop_s = sum(single_run(ROOT, str(folder)) for folder in sample)
        sample_s, _cpu = batch(sample, args.jobs)
        print(f"former loop, {len(sample)} submissions: {loop_s:7.1f} s  {rate(len(sample), loop_s):5.1f} /min; "
              f"ecs-lab grade -j {args.jobs}: {sample_s:7.1f} s  {rate(len(sample), sample_s):5.1f} /min  "
              f"ratio {loop_s / sample_s:.2f}x")


if __name__ == "__main__":
    main()
