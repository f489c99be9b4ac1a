"""Benchmark: a class graded with `ecs-lab grade --on ecs` on the sandbox, with 1, 2 and 4 tasks.

The class (written to .cache/bench/ecs-class/): the faulty and broken submissions and the other correct
styles of tests/submissions/faults.py, the reference and the template (no hanging one: its time limit
would be the measure). In one sandbox (`ecs-lab sandbox up`, a private home and free ports), measured
in the same run:

- the baseline: a local `ecs-lab grade -j 2` of the same class;
- `--on ecs --tasks N --regrade all` for each N (the first run also builds and pushes the grader's
  image; that time is reported apart and left out of the figures).

For each N: the wall time of the grading itself (from the first task's start to the end), the
submissions per minute, the seconds per submission in a task, the start-up of a task (run_task to its
first claim), the speed-up against N=1 and the ratio against the local baseline. On two cores the
speed-up is bounded by the machine; the projection for 1,000 submissions on Fargate with 50 tasks of 1
vCPU uses the measured seconds per submission of one task alone and its measured CPU seconds, with
Fargate's start-up (grader.ecs.costs.FARGATE_STARTUP_S) and prices.

    python benchmarks/bench_ecs_grading.py [--tasks 1 2 4] [--projection 1000 50]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from sandbox_support import Sandbox  # noqa: E402
from submissions.faults import ALTERNATIVES, BROKEN, FAULTY, materialise  # noqa: E402

from grader.ecs import costs, protocol  # noqa: E402

CLASS = ROOT / ".cache" / "bench" / "ecs-class"
STUDENT_FILES = ("image_classifier_operations.py", "s3_io.py")


def write_class(target: Path) -> int:
    if target.exists():
        shutil.rmtree(target)
    broken = [b for b in BROKEN if b.name != "broken_endless_loop_at_import"]  # its limit would be the measure
    for entry in (*FAULTY, *broken, *ALTERNATIVES[:6]):
        materialise(entry, target / entry.name)
    for name, source in (("reference", ROOT / "reference"), ("template", ROOT / "student_template")):
        (target / name).mkdir(parents=True)
        for file in STUDENT_FILES:
            shutil.copyfile(source / file, target / name / file)
    return sum(1 for p in target.iterdir() if p.is_dir())


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}


def local_baseline(klass: Path, out: Path) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "ecslab.cli", "grade", str(klass), "--out", str(out), "-j", "2",
                    "--no-progress"], cwd=ROOT, env=_env(), check=True, capture_output=True)
    return time.monotonic() - started


def on_ecs(sandbox: Sandbox, klass: Path, out: Path, tasks: int) -> tuple[float, str]:
    command = " ".join(shlex.quote(w) for w in [
        "ecs-lab", "grade", str(klass), "--out", str(out), "--on", "ecs", "--tasks", str(tasks), "--no-progress",
        "--regrade", "all"])
    env_command = " ".join(shlex.quote(w) for w in sandbox.command("env"))
    started = time.monotonic()
    run = subprocess.run(["bash", "-c", f'set -e; eval "$({env_command})"; {command}'], cwd=ROOT,
                         env=sandbox.environment(), capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"--tasks {tasks} failed:\n{run.stdout}\n{run.stderr}")
    return time.monotonic() - started, run.stdout


def task_figures(sandbox: Sandbox, run_since: float) -> dict:
    """Start-up and busy time of the tasks started after `run_since` (epoch seconds), from ECS and the claims."""
    session = sandbox.session()
    ecs, s3 = session.client("ecs"), session.client("s3")
    arns = ecs.list_tasks(cluster=protocol.STACK_NAME, desiredStatus="STOPPED")["taskArns"]
    tasks = [t for start in range(0, len(arns), 100)
             for t in ecs.describe_tasks(cluster=protocol.STACK_NAME, tasks=arns[start:start + 100])["tasks"]
             if t["createdAt"].timestamp() >= run_since]
    bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith(protocol.STACK_NAME))
    claims: dict[str, list[float]] = {}
    done: list[dict] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="runs/"):
        for item in page.get("Contents", []):
            if item["LastModified"].timestamp() < run_since:
                continue
            if "/claims/" in item["Key"]:
                task = item["Key"].split("/claims/", 1)[1].split("/")[0]
                claim = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                claims.setdefault(task, []).append(claim["at"])
            elif "/done/" in item["Key"]:
                done.append(json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))
    startups = [min(claims[protocol.task_id(t["taskArn"])]) - t["createdAt"].timestamp() for t in tasks
                if protocol.task_id(t["taskArn"]) in claims]
    first_start = min(t["createdAt"].timestamp() for t in tasks)
    return {"tasks": len(tasks), "startup_s": sum(startups) / len(startups),
            "grading_s": max(o["finished_at"] for o in done) - first_start,
            "per_submission_s": sum(o["duration_s"] for o in done) / len(done),
            "cpu_s": sum(o["cpu_s"] for o in done) / len(done), "graded": len(done)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--projection", type=int, nargs=2, default=[1000, 50], metavar=("SUBMISSIONS", "TASKS"))
    args = parser.parse_args()
    count = write_class(CLASS)
    scratch = ROOT / ".cache" / "bench" / "ecs-out"
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"class: {count} submissions ({CLASS})", flush=True)
    baseline = local_baseline(CLASS, scratch / "local")
    print(f"baseline, local `ecs-lab grade -j 2`: {baseline:.1f} s, {count / baseline * 60:.1f} submissions/min",
          flush=True)
    results = {}
    with Sandbox(scratch / "sandbox") as sandbox:
        sandbox.up()
        one = scratch / "one" / "reference"  # a class of one: the stack, the image's build and push, once
        one.mkdir(parents=True)
        for file in STUDENT_FILES:
            shutil.copyfile(ROOT / "reference" / file, one / file)
        warm, output = on_ecs(sandbox, one.parent, scratch / "warm-up", 1)
        pushed = re.findall(r"(?:Image (?:construite|poussée)[^\n]*)", output)
        print(f"first run (image, stack, 1 task): {warm:.1f} s; {' '.join(pushed)}", flush=True)
        for tasks in args.tasks:
            since = time.time()
            wall, output = on_ecs(sandbox, CLASS, scratch / f"tasks-{tasks}", tasks)
            figures = task_figures(sandbox, since)
            results[tasks] = {"wall_s": wall, **figures}
            print(f"--tasks {tasks}: {wall:.1f} s in all, {figures['grading_s']:.1f} s from the first task's start to "
                  f"the last report, {count / wall * 60:.1f} submissions/min; "
                  f"a task starts in {figures['startup_s']:.1f} s and grades one submission in "
                  f"{figures['per_submission_s']:.1f} s ({figures['cpu_s']:.1f} CPU-s); {figures['tasks']} task(s)",
                  flush=True)
    one = results[args.tasks[0]]
    print("\n| tasks | command's wall (s) | tasks' grading (s) | submissions/min | s per submission in a task | "
          f"task start-up (s) | speed-up vs {args.tasks[0]} | ratio vs local -j 2 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for tasks, r in results.items():
        print(f"| {tasks} | {r['wall_s']:.1f} | {r['grading_s']:.1f} | {count / r['wall_s'] * 60:.1f} | "
              f"{r['per_submission_s']:.1f} | {r['startup_s']:.1f} | {one['wall_s'] / r['wall_s']:.2f} | "
              f"{r['wall_s'] / baseline:.2f} |")
    submissions, tasks = args.projection
    alone = results[min(results)]
    projection = costs.estimate(submissions, tasks=tasks, cpu=1.0, memory_gb=2.0, region="us-east-1",
                                cpu_s_per_submission=alone["cpu_s"], wall_floor_s=alone["per_submission_s"])
    print(f"\nprojection, {submissions} submissions on Fargate, {tasks} tasks of 1 vCPU / 2 GB (us-east-1): "
          f"{projection.per_submission_s:.1f} s per submission, start-up {projection.startup_s:.0f} s -> "
          f"{projection.wall_s / 60:.1f} min, ${projection.cost_usd:.3f} "
          f"(targets: under 5 min, under $1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
