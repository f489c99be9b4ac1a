"""Benchmark: the whole handout (LAB.md's commands, both parts and the bonus) run against the sandbox,
and the aws tier's grades of it, measured in one run.

The run is the one of tests/test_lab_handout.py (tests/lab_handout.py): LAB.md's blocks in order, in a
copy of the project whose student_template/ holds the reference, in a sandbox of its own (private home,
free ports), the photos served locally. Printed: the whole run, the time of each step, and every
`pytest` the handout runs, with the aws tier's grades against the baseline measured in the same run:
the offline grade (`pytest`, moto in process) of the same code. Target (the issue): the whole handout
under 5 minutes.

    python benchmarks/bench_sandbox_handout.py [--json FILE]

Needs Docker, Debian's docker-registry, the project's base image and test model (scripts/run-tests.sh
installs them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lab_handout import (
    Handout,
    PhotoServer,
    docker_bridge_gateway,
    lab_blocks,
    project_copy,
    sandbox_environment,
    substitutions,
)
from sandbox_support import free_port_base

TARGET_S = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    args = parser.parse_args()

    from local_tier_support.student_image import held_tags
    from test_lab_handout import docker_environment

    with tempfile.TemporaryDirectory(prefix="bench-handout-") as scratch:
        scratch = Path(scratch)
        workdir = project_copy(scratch / "lab")
        photos = PhotoServer(docker_bridge_gateway())
        environment = sandbox_environment(scratch / "home", free_port_base(),
                                          {"PYTHONPATH": str(workdir), **docker_environment()})
        handout = Handout(workdir, environment, substitutions(photos))
        started = time.perf_counter()
        try:
            with held_tags("image-classifier:latest", "web-app:latest"):
                handout.run([b for b in lab_blocks() if b.runs])
        finally:
            photos.close()
        total = time.perf_counter() - started
        if handout.failed_block is not None:
            print(handout.output[-4000:])
            sys.exit(f"LAB.md block {handout.failed_block.number} (line {handout.failed_block.line}) failed")
        steps: dict[str, float] = defaultdict(float)
        for block, seconds in handout.block_times():
            steps[block.step or block.heading] += seconds
        runs = handout.pytest_runs()

    offline = [seconds for arguments, seconds, _ in runs if "--tier" not in arguments]
    aws = [(arguments, seconds) for arguments, seconds, _ in runs if "--tier aws" in arguments]
    baseline = statistics.median(offline) if offline else float("nan")
    print(f"The whole handout against the sandbox: {total:.0f} s ({total / TARGET_S:.2f} of the 5-minute target)")
    print("\nTime per step (commands of LAB.md, their pytest included):")
    for step, seconds in steps.items():
        print(f"  {step:<45} {seconds:6.1f} s")
    print(f"\nGrades run by the handout (baseline: the offline grade of the same code, median {baseline:.1f} s):")
    for arguments, seconds, _ in runs:
        label = f"pytest {arguments}".strip()
        print(f"  {label:<60} {seconds:6.1f} s  {seconds / baseline:5.2f}x")
    figures = {"total_s": round(total, 1), "target_s": TARGET_S, "steps_s": {k: round(v, 1) for k, v in steps.items()},
               "pytest_s": [{"args": a, "seconds": round(s, 2)} for a, s, _ in runs],
               "offline_baseline_s": round(baseline, 2),
               "aws_grade_s": [{"args": a, "seconds": round(s, 2)} for a, s in aws]}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
