"""Benchmark: a class graded offline with `ecs-lab grade -j 2`, against the README's former loop.

The corpus (written to .cache/bench/class/): every submission of tests/submissions/faults.py
(faulty, variants, bundles, broken, other correct styles) plus copies of the reference and of
the template, at least 60 in all. Measured in one run, on the same machine:

- the former loop (one `python -m pytest --submission=DIR` after the other) on a sample of the
  corpus (every fifth submission: the loop on the whole corpus takes minutes);
- `ecs-lab grade -j 2` on the same sample, then on the whole corpus.

Prints the wall time, the submissions per minute and the ratios (batch / loop).

    python benchmarks/bench_batch_grading.py [--jobs 2] [--copies 8] [--every 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from bench_offline_grading import grade as single_run  # noqa: E402 - the same single run
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


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


def former_loop(submissions: list[Path]) -> float:
    """The README's former shell loop: one grading process per submission, one after the other."""
    return sum(single_run(ROOT, str(folder)) for folder in submissions)


def batch(submissions: list[Path], jobs: int) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        sample = Path(scratch) / "class"
        sample.mkdir()
        for folder in submissions:  # a class folder holding exactly these submissions
            shutil.copytree(folder, sample / folder.name)
        start = time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", "ecslab.cli", "grade", str(sample), "--out",
                                    f"{scratch}/out", "-j", str(jobs), "--no-progress"], cwd=ROOT,
                                   capture_output=True, text=True, check=False, env=_env())
        wall = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"ecs-lab grade failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--copies", type=int, default=8, help="copies of the reference and of the template")
    parser.add_argument("--every", type=int, default=5, help="the loop's sample: every n-th submission")
    args = parser.parse_args()
    corpus = write_corpus(ROOT / ".cache" / "bench" / "class", args.copies)
    sample = corpus[::args.every]
    print(f"corpus: {len(corpus)} submissions; sample: {len(sample)}; {os.cpu_count()} CPUs; "
          f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    batch(sample[:2], args.jobs)  # warm the caches (bytecode, cfn-lint verdicts) for both

    loop_s = former_loop(sample)
    sample_s = batch(sample, args.jobs)
    whole_s = batch(corpus, args.jobs)

    def rate(count: int, seconds: float) -> float:
        return 60 * count / seconds

    print(f"former loop, sample:        {loop_s:7.1f} s  {rate(len(sample), loop_s):5.1f} submissions/min")
    print(f"ecs-lab grade -j {args.jobs}, sample: {sample_s:7.1f} s  {rate(len(sample), sample_s):5.1f} submissions/min"
          f"  ratio {loop_s / sample_s:.2f}x")
    print(f"ecs-lab grade -j {args.jobs}, corpus: {whole_s:7.1f} s  {rate(len(corpus), whole_s):5.1f} submissions/min"
          f"  ratio to the loop's rate {rate(len(corpus), whole_s) / rate(len(sample), loop_s):.2f}x")


if __name__ == "__main__":
    main()
