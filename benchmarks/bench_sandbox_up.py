"""Benchmark: `ecs-lab sandbox up`, cold and warm, and `down`, measured in one run.

Times the command a student types (a subprocess, wall clock), with a home of its own and free
ports (never .cache/sandbox nor 4580):

- cold `up`: a fresh home, nothing saved; then `down` (everything erased), timed too;
- warm `up`: after `down --keep` of a lab's state (the stacks deployed with `ecs-lab deploy` in the
  sandbox's environment, the lab's cluster, one image pushed to its ECR); then `down --keep`, timed;
- the baseline, in the same run: `python -c "import ecslab.cli"`, the command's own start cost, and
  `ecs-lab sandbox status` when nothing runs (the whole command line, parser included).

Rounds are interleaved (cold, warm, baseline) so that all see the same machine. Target (the issue):
a warm `up` under 10 s.

    python benchmarks/bench_sandbox_up.py [--rounds 5] [--json FILE]

Needs Docker, Debian's docker-registry and the project's base image (scripts/setup-docker.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sandbox_support import (
    BASE_IMAGE,
    Sandbox,
    clean_environment,
    free_port_base,
    push_image,
)

WARM_TARGET_S = 10.0
READY = re.compile(r"(?:prêt en|ready in) ([0-9.]+) s")


def timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def baseline() -> float:
    wall, completed = timed(lambda: subprocess.run([sys.executable, "-c", "import ecslab.cli"], cwd=ROOT,
                                                   env=clean_environment(), capture_output=True, check=False))
    if completed.returncode != 0:
        sys.exit(f"python -c 'import ecslab.cli' failed:\n{completed.stderr.decode()[-2000:]}")
    return wall


def status_not_running(sandbox: Sandbox) -> float:
    wall, completed = timed(lambda: sandbox.run("status"))
    if completed.returncode != 3:
        sys.exit(f"sandbox status (nothing running) exited {completed.returncode}: {completed.stderr}")
    return wall


def up(sandbox: Sandbox, restored: bool) -> tuple[float, float, float]:
    """(wall clock of `up`, what `up` says it waited, the daemon's own start-up) of one `up`."""
    wall, completed = timed(sandbox.up)
    state = sandbox.state() or {}
    if bool(state.get("restored")) != restored:
        sys.exit(f"sandbox up: restored={state.get('restored')}, expected {restored}:\n{completed.stdout}")
    said = READY.search(completed.stdout)
    return wall, float(said[1]) if said else float("nan"), float(state.get("startup_s", "nan"))


def prepare_warm(sandbox: Sandbox) -> dict:
    """A lab's state, kept: stacks deployed, the cluster, one image pushed; then `down --keep`."""
    from ecslab.facts import CLUSTER

    sandbox.up()
    deploy = sandbox.shell("ecs-lab deploy", timeout=900)
    session = sandbox.session()
    session.client("ecs").create_cluster(clusterName=CLUSTER)
    stacks = [s["StackName"] for s in session.client("cloudformation").describe_stacks()["Stacks"]]
    repositories = [r["repositoryName"] for r in session.client("ecr").describe_repositories()["repositories"]]
    web = next((name for name in repositories if "web" in name), repositories[0])
    uri, digest = push_image(sandbox, BASE_IMAGE, web, "bench")
    sandbox.down("--keep")
    saved = sum(f.stat().st_size for f in (sandbox.home / "saved").rglob("*") if f.is_file())
    registry = sum(f.stat().st_size for f in (sandbox.home / "registry").rglob("*") if f.is_file())
    return {"stacks": stacks, "repositories": repositories, "image": f"{uri}:bench", "digest": digest,
            "saved_bytes": saved, "registry_bytes": registry, "deploy_output_lines": len(deploy.stdout.splitlines())}


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write all figures to FILE")
    args = parser.parse_args()

    times: dict[str, list[float]] = {name: [] for name in (
        "baseline_import", "status_not_running", "cold_up", "cold_up_said", "cold_daemon_startup", "down",
        "warm_up", "warm_up_said", "warm_daemon_startup", "down_keep")}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as folder:
        warm = Sandbox(Path(folder) / "warm")
        cold = Sandbox(Path(folder) / "cold")
        probe = Sandbox(Path(folder) / "probe")
        try:
            print(f"preparing the warm state (ecs-lab deploy, cluster, one image pushed) on port {warm.port}...",
                  file=sys.stderr)
            prepared = prepare_warm(warm)
            baseline()  # warm the bytecode and the disk cache before measuring
            for round_ in range(args.rounds):
                print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)
                cold.port = free_port_base()  # fresh ports: no TIME_WAIT of the last round in the way
                wall, said, startup = up(cold, restored=False)
                times["cold_up"].append(wall)
                times["cold_up_said"].append(said)
                times["cold_daemon_startup"].append(startup)
                times["down"].append(timed(cold.down)[0])
                wall, said, startup = up(warm, restored=True)
                times["warm_up"].append(wall)
                times["warm_up_said"].append(said)
                times["warm_daemon_startup"].append(startup)
                times["down_keep"].append(timed(lambda: warm.down("--keep"))[0])
                times["baseline_import"].append(baseline())
                times["status_not_running"].append(status_not_running(probe))
        finally:
            for sandbox in (cold, warm):
                sandbox.force_stop()
    load_after = os.getloadavg()[0]

    base = statistics.median(times["baseline_import"])
    medians = {name: statistics.median(values) for name, values in times.items()}
    warm_ok = medians["warm_up"] < WARM_TARGET_S
    print(f"load average before: {load_before:.2f}, after: {load_after:.2f} ({os.cpu_count()} cores); "
          f"{args.rounds} rounds, interleaved; warm state: {len(prepared['stacks'])} stacks, "
          f"{len(prepared['repositories'])} ECR repositories, one image pushed "
          f"({prepared['registry_bytes'] / 1e6:.0f} MB in the registry, moto's state "
          f"{prepared['saved_bytes'] / 1e3:.0f} kB)")
    print()
    print("| measure | median (min-max) | / baseline |")
    print("| --- | --- | --- |")
    rows = (("baseline: `python -c \"import ecslab.cli\"`", "baseline_import"),
            ("`ecs-lab sandbox status`, nothing running", "status_not_running"),
            ("`up` cold (fresh home)", "cold_up"),
            ("  of which the daemon's start-up (state.json `startup_s`)", "cold_daemon_startup"),
            ("`up` warm (after `down --keep` of a lab's state)", "warm_up"),
            ("  of which the daemon's start-up (state.json `startup_s`)", "warm_daemon_startup"),
            ("`down` (everything erased)", "down"),
            ("`down --keep`", "down_keep"))
    for label, name in rows:
        print(f"| {label} | {cell(times[name])} | {medians[name] / base:.1f}x |")
    print()
    print(f"Summary: a cold `ecs-lab sandbox up` takes {medians['cold_up']:.1f} s (median of {args.rounds}), a warm "
          f"one, restoring a deployed lab (stacks, cluster, an image in ECR) kept by `down --keep`, "
          f"{medians['warm_up']:.1f} s: {'under' if warm_ok else 'OVER'} the 10 s target. Of a cold `up`, the "
          f"daemon's own start-up (registry, moto, local ECS, proxy) is {medians['cold_daemon_startup']:.1f} s; "
          f"restoring the kept state adds {medians['warm_daemon_startup'] - medians['cold_daemon_startup']:.1f} s. "
          f"The rest is two Python processes starting (the command, then the daemon, which imports moto): "
          f"`import ecslab.cli` alone takes {base:.2f} s, but any "
          f"`ecs-lab sandbox` command, even a `status` with nothing running, {medians['status_not_running']:.2f} s "
          f"({medians['status_not_running'] / base:.1f}x). `down` takes {medians['down']:.1f} s, "
          f"`down --keep` {medians['down_keep']:.1f} s.")
    if args.json:
        report = {"rounds": args.rounds, "load_average": {"before": load_before, "after": load_after},
                  "cores": os.cpu_count(), "warm_state": prepared, "warm_target_s": WARM_TARGET_S,
                  "warm_under_target": warm_ok, "baseline": "python -c 'import ecslab.cli'",
                  "figures_s": {name: spread(values) for name, values in times.items()},
                  "ratios_to_baseline": {name: median / base for name, median in medians.items()}}
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
