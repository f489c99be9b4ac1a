"""`ecs-lab sandbox up | down [--keep] | status | env [--unset]` as a student runs it (subprocesses,
an environment without AWS_* nor proxies, a private home and free ports: never .cache/sandbox nor
4580, which a student's or another test's sandbox may use).

- the life of a sandbox: up, status, env (eval'd in bash: the AWS CLI answers with the aws-labs
  profile), a second up says it runs, every socket it listens on is on loopback (but those on its
  own Docker network's gateway, for its containers), down leaves no process, container, network
  nor file of its own (what the home held before up stays);
- a port taken: up refuses in one line naming the port and --port (French, English), starts nothing;
- ECR, tasks, down --keep, a crash: a pushed image becomes an ECR image (tag, digest), a task of
  it runs (published on loopback), one of an image never pushed stops with CannotPullContainerError;
  down --keep then up brings back the cluster, the image and CloudTrail's history; the daemon
  killed (SIGKILL) while a task runs: down removes what it left; a plain down erases the state;
- Ctrl-C during up: the daemon is stopped, nothing of it is left;
- not running: status exits 3, env refuses, env --unset prints one unset line.

Needs a Docker engine, Debian's docker-registry and the project's base image
(`sudo bash scripts/setup-docker.sh`); skipped without them, except in CI.
"""

from __future__ import annotations

import os
import json
import pickle
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from local_tier_support.docker_state import docker_client_or_skip, in_ci
from sandbox_support import (
    BASE_IMAGE,
    ROOT,
    Sandbox,
    docker_gateways,
    home_files,
    listening_sockets,
    pid_alive,
    pid_exists,
    processes_mentioning,
    push_image,
    wait_until,
)

REPOSITORY = "sandbox-test/sleeper"
CLUSTER = "sandbox-test"
# Words of the French sentences the tests recognise (ecslab/messages.py).
FR_ALREADY = "tourne déjà"
FR_LEFTOVERS = "sans nettoyer"
FR_INTERRUPTED = "Interrompu"


@pytest.fixture(scope="module", autouse=True)
def prerequisites():
    client = docker_client_or_skip()
    from docker.errors import ImageNotFound

    from standin.sandbox.registry import registry_binary

    try:
        missing = None if registry_binary() else "docker-registry is not installed"
        if missing is None:
            try:
                client.images.get(BASE_IMAGE)
            except ImageNotFound:
                missing = f"base image {BASE_IMAGE} missing"
        if missing:
            if in_ci():
                pytest.fail(f"CI: {missing}", pytrace=False)
            pytest.skip(f"{missing}: run `sudo bash scripts/setup-docker.sh`")
        yield
    finally:
        client.close()


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def assert_loopback_only(state: dict) -> list[tuple[int, str, int]]:
    """Every listening socket of the daemon and its children (the registry) is on 127.0.0.1, or on
    the gateway of the sandbox's own Docker network (its containers reach moto and the metadata there)."""
    sockets = listening_sockets(int(state["pid"]))
    gateways = docker_gateways(state["network"])
    assert gateways, state["network"]
    outside = [entry for entry in sockets if entry[1] != "127.0.0.1" and entry[1] not in gateways]
    assert outside == [], f"listening beyond loopback: {outside} (gateways {gateways})"
    ports = {port for _pid, address, port in sockets if address == "127.0.0.1"}
    port = int(state["port"])
    assert {port, port + 1, port + 2} <= ports, sockets
    assert int(state["registry_pid"]) in {pid for pid, _a, p in sockets if p == port + 1}, sockets
    return sockets


# --- the life of a sandbox -----------------------------------------------------------------------
def test_up_status_env_second_up_loopback_and_down_leaves_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("the student's own file: down keeps it\n")
    before = home_files(home)
    with Sandbox(home) as sandbox:
        up = sandbox.up()
        assert "eval \"$(ecs-lab sandbox env)\"" in up.stdout, up.stdout
        state = sandbox.state()
        assert state and {"pid", "run_id", "network", "registry_pid"} <= set(state), state
        assert all(pid_alive(pid) for pid in sandbox.processes(state))
        written = home_files(home) - before
        assert {"state.json", "aws/config", "aws/credentials", "registry"} <= written, written

        status = sandbox.run("status", check=True).stdout
        assert f"pid {state['pid']}" in status
        for address in (f"http://127.0.0.1:{sandbox.port}", f"localhost:{sandbox.port + 1}",
                        f"http://127.0.0.1:{sandbox.port + 2}"):
            assert address in status, status

        exports = sandbox.exports()
        assert exports["AWS_ENDPOINT_URL"] == sandbox.endpoint
        assert exports["http_proxy"] == f"http://127.0.0.1:{sandbox.port + 2}"
        assert exports["ECS_LAB_ECR_REGISTRY"] == sandbox.registry_host
        assert exports["ECS_LAB_SANDBOX_HOME"] == str(home)
        assert Path(exports["AWS_CONFIG_FILE"]).parent == home / "aws"
        assert Path(exports["AWS_SHARED_CREDENTIALS_FILE"]).is_file()
        # A student's terminal: the AWS CLI with the lab's profile reaches the sandbox.
        answers = sandbox.shell("aws sts get-caller-identity --profile aws-labs --output json && "
                                "aws ecs list-clusters --profile aws-labs").stdout
        assert '"Account": "123456789012"' in answers and '"clusterArns": []' in answers, answers
        unset = one_line(sandbox.run("env", "--unset", check=True).stdout).split()
        assert unset[0] == "unset" and set(exports) <= set(unset[1:]), (unset, exports)

        again = sandbox.run("up")
        assert again.returncode == 0, again.stderr
        assert FR_ALREADY in again.stdout and f"pid {state['pid']}" in again.stdout, again.stdout
        assert sandbox.state() == state  # the running sandbox is untouched

        assert_loopback_only(state)

        # `pytest --tier sandbox`: the aws tier against the running sandbox, no `eval` needed. The empty
        # account is what the final clean-up leaves: final_cleanup is met.
        graded = subprocess.run([sys.executable, "-m", "pytest", "--tier", "sandbox", "--stage", "final", "-q",
                                 "-p", "no:cacheprovider", f"--report-dir={tmp_path / 'reports'}"], cwd=ROOT,
                                capture_output=True, text=True, env=sandbox.environment(), timeout=180, check=False)
        assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-2000:]
        report = json.loads((tmp_path / "reports" / "report.json").read_text())
        final = next(c for c in report["checkpoints"] if c["id"] == "final_cleanup")
        assert (final["status"], final["score"]) == ("passed", 2.0), final

        down = sandbox.down()
        assert "Bac à sable arrêté" in down.stdout, down.stdout
        assert wait_until(lambda: not sandbox.leftovers(state), 15), sandbox.leftovers(state)
        assert home_files(home) == before  # profile, registry data, state, log: all gone; notes.txt kept
        assert processes_mentioning(str(home)) == []


# --- a port taken ---------------------------------------------------------------------------------
@pytest.mark.parametrize("offset", [0, 1])
def test_port_taken_is_one_clear_line_and_starts_nothing(tmp_path, offset):
    home = tmp_path / "home"
    sandbox = Sandbox(home)
    taken = sandbox.port + offset
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", taken))
        listener.listen()
        for lang, words in ((None, ("Erreur", "déjà utilisé")), ("en", ("Error", "already used"))):
            refused = sandbox.run("up", lang=lang)
            assert refused.returncode == 1, refused
            line = one_line(refused.stderr)
            assert f"port {taken} " in line and "--port" in line, line
            assert all(word in line for word in words), line
            assert refused.stdout.strip() == ""
    assert home_files(home) == set() and not sandbox.state_file.exists()
    assert processes_mentioning(str(home)) == []


# --- ECR, tasks, down --keep, a crash ---------------------------------------------------------------
class Lab:
    """The few ECS objects a task needs, with boto3 on the sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        session = sandbox.session()
        self.ecs = session.client("ecs")
        self.ecr = session.client("ecr")
        self.ec2 = session.client("ec2")
        self.trail = session.client("cloudtrail")

    def create(self) -> None:
        self.ecs.create_cluster(clusterName=CLUSTER)

    def run(self, image: str, **container) -> str:
        definition = self.ecs.register_task_definition(
            family="sleeper", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "app", "image": image, "essential": True, "command": ["sleep", "600"],
                                   **container}])["taskDefinition"]["taskDefinitionArn"]
        subnets = [subnet["SubnetId"] for subnet in self.ec2.describe_subnets()["Subnets"]][:1]
        return self.ecs.run_task(cluster=CLUSTER, taskDefinition=definition, launchType="FARGATE",
                                 networkConfiguration={"awsvpcConfiguration": {"subnets": subnets}})["tasks"][0]["taskArn"]

    def task(self, arn: str) -> dict:
        return self.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]

    def wait(self, arn: str, status: str, timeout: float = 90) -> dict:
        wait_until(lambda: self.task(arn)["lastStatus"] in (status, "STOPPED"), timeout, 0.2)
        task = self.task(arn)
        assert task["lastStatus"] == status, task
        return task

    def clusters(self) -> list[str]:
        return [arn.rsplit("/", 1)[-1] for arn in self.ecs.list_clusters()["clusterArns"]]

    def images(self) -> list[tuple[str, str]]:
        try:
            details = self.ecr.describe_images(repositoryName=REPOSITORY)["imageDetails"]
        except self.ecr.exceptions.RepositoryNotFoundException:
            return []
        return sorted((tag, image["imageDigest"]) for image in details for tag in image.get("imageTags", []))

    def created_clusters(self) -> list[str]:
        events = self.trail.lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                             "AttributeValue": "CreateCluster"}])["Events"]
        return [event["EventName"] for event in events]


def published_addresses(container_name: str) -> set[str]:
    import docker

    client = docker.from_env(timeout=60)
    try:
        ports = client.api.inspect_container(container_name)["NetworkSettings"]["Ports"] or {}
    finally:
        client.close()
    return {binding["HostIp"] for bindings in ports.values() for binding in bindings or []}


def test_ecr_tasks_keep_then_crash_then_down_erases(tmp_path):
    home = tmp_path / "home"
    with Sandbox(home) as sandbox:
        sandbox.up()
        lab = Lab(sandbox)
        lab.create()
        # ECR: what docker pushes to the registry is what describe-images shows.
        uri, digest = push_image(sandbox, BASE_IMAGE, REPOSITORY, "v1")
        assert uri == f"{sandbox.registry_host}/{REPOSITORY}"
        assert lab.images() == [("v1", digest)]
        # A task of the pushed image really runs, its port published on loopback only; an image never
        # pushed is a CannotPullContainerError, as on Fargate.
        first = lab.run(f"{uri}:v1", portMappings=[{"containerPort": 8000}])
        never_pushed = lab.run(f"{uri}:never-pushed")
        lab.wait(first, "RUNNING")
        failed = lab.wait(never_pushed, "STOPPED")
        assert failed["stoppedReason"].startswith("CannotPullContainerError"), failed["stoppedReason"]
        state = sandbox.state()
        containers = [name.split(" ", 1)[1] for name in sandbox.docker_objects(state["run_id"])
                      if name.startswith("container ")]
        assert len(containers) == 1, containers
        assert published_addresses(containers[0]) == {"127.0.0.1"}
        assert_loopback_only(state)

        # down --keep, then up: the cluster, the image and CloudTrail's history are back.
        kept = sandbox.down("--keep")
        assert "conservé" in kept.stdout, kept.stdout
        assert wait_until(lambda: not sandbox.leftovers(state), 15), sandbox.leftovers(state)
        assert (home / "saved").is_dir() and (home / "registry").is_dir()
        assert not (home / "state.json").exists()
        nothing = sandbox.run("down", "--keep", check=True).stdout  # nothing runs: says the state waits
        assert "ne tourne pas" in nothing and (home / "saved").is_dir(), nothing
        sandbox.up()
        state = sandbox.state()
        assert state["restored"] is True, state
        assert lab.clusters() == [CLUSTER]
        assert lab.images() == [("v1", digest)]
        assert lab.created_clusters() == ["CreateCluster"]
        assert lab.task(first)["lastStatus"] == "STOPPED"  # it ran in the stopped sandbox
        # The kept registry still serves the image: a new task of it runs.
        second = lab.run(f"{uri}:v1")
        lab.wait(second, "RUNNING")

        # A crash: the daemon killed while a task runs; down removes what it left.
        os.kill(int(state["pid"]), signal.SIGKILL)
        # Gone from the process table, not only dead: the sandbox's own check sees a zombie as alive.
        assert wait_until(lambda: not pid_exists(int(state["pid"])), 15)
        assert sandbox.run("status").returncode == 3
        down = sandbox.down()
        assert FR_LEFTOVERS in down.stdout and f"pid {state['pid']}" in down.stdout, down.stdout
        assert wait_until(lambda: not sandbox.leftovers(state), 15), sandbox.leftovers(state)
        assert home_files(home) == set()  # the kept state too: a plain down erases everything

        # Nothing of the earlier sessions comes back.
        sandbox.up()
        assert sandbox.state()["restored"] is False
        assert lab.clusters() == [] and lab.images() == [] and lab.created_clusters() == []
        last = sandbox.state()
        sandbox.down()
        assert wait_until(lambda: not sandbox.leftovers(last), 15), sandbox.leftovers(last)
        assert home_files(home) == set()


# --- Ctrl-C during up ---------------------------------------------------------------------------------
class _SlowRestore:
    """A kept state whose unpickling sleeps: `up` waits, deterministically, while the daemon has already
    started the local ECS (its Docker network exists)."""

    def __reduce__(self):
        return (time.sleep, (120,))


def _interrupt_up(sandbox: Sandbox, ready, **extra_env: str) -> tuple[subprocess.CompletedProcess, list[int]]:
    """Start `up`, wait until `ready(daemon_pid)`, send SIGINT (Ctrl-C) to `up`: (its outcome, the pids
    that `up` had started, daemon first)."""
    import psutil

    process = subprocess.Popen(sandbox.command("up"), cwd=ROOT, env=sandbox.environment(**extra_env),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def daemon() -> int | None:
            for child in psutil.Process(process.pid).children():
                if "standin.sandbox.daemon" in " ".join(child.cmdline()):
                    return child.pid
            return None

        assert wait_until(lambda: daemon() is not None and ready(daemon()), 60, 0.05), "the daemon never got there"
        started = [daemon(), *(child.pid for child in psutil.Process(daemon()).children(recursive=True))]
        assert process.poll() is None, "up did not wait"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), started


@pytest.fixture
def docker_client():
    import docker

    client = docker.from_env(timeout=60)
    yield client
    client.close()


def test_ctrl_c_during_up_stops_the_daemon_and_leaves_nothing(tmp_path, docker_client):
    from standin.local_ecs.docker_resources import OWNER_LABEL

    client = docker_client

    def networks_of(pid: int) -> list:
        return client.networks.list(filters={"label": f"{OWNER_LABEL}={socket.gethostname()}/{pid}"})

    # 1. While the daemon starts the local ECS (it handles SIGTERM then): everything is stopped and removed.
    home = tmp_path / "restoring"
    with Sandbox(home) as sandbox:
        (home / "saved").mkdir(parents=True)
        (home / "saved" / "moto.pickle").write_bytes(pickle.dumps(_SlowRestore()))
        outcome, started = _interrupt_up(sandbox, lambda pid: bool(networks_of(pid)))
        assert outcome.returncode == 130, outcome
        assert FR_INTERRUPTED in outcome.stdout, outcome.stdout
        assert wait_until(lambda: not any(pid_alive(pid) for pid in started), 15), started
        assert networks_of(started[0]) == []
        assert client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={socket.gethostname()}/"
                                                                  f"{started[0]}"}) == []
        left = home_files(home)
        assert not {"state.json", "aws", "stop-request"} & left, left
        assert (home / "saved" / "moto.pickle").is_file()  # a state kept earlier survives an interrupted up
        assert processes_mentioning(str(home)) == []

    # 2. Early, while the daemon starts its registry (a docker-registry that never answers): the
    # processes are stopped; what up and the daemon wrote in the home should go too.
    home = tmp_path / "early"
    bin_dir, mark = tmp_path / "bin", tmp_path / "registry-started"
    bin_dir.mkdir()
    fake = bin_dir / "docker-registry"
    fake.write_text(f"#!/bin/sh\ntouch {mark}\nexec sleep 120\n")
    fake.chmod(0o755)
    with Sandbox(home) as sandbox:
        outcome, started = _interrupt_up(sandbox, lambda pid: mark.exists(),
                                         PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        assert outcome.returncode == 130 and FR_INTERRUPTED in outcome.stdout, outcome
        assert len(started) == 2, started  # the daemon and the registry
        assert wait_until(lambda: not any(pid_alive(pid) for pid in started), 15), started
        assert networks_of(started[0]) == []
        assert processes_mentioning(str(home)) == []
        assert home_files(home) == set()  # nothing of what `up` wrote, whenever the Ctrl-C came


# --- not running ------------------------------------------------------------------------------------
def test_not_running_status_env_and_unset(tmp_path):
    sandbox = Sandbox(tmp_path / "home")
    graded = subprocess.run([sys.executable, "-m", "pytest", "--tier", "sandbox", "-q", "-p", "no:cacheprovider",
                             f"--report-dir={tmp_path / 'reports'}"], cwd=ROOT, capture_output=True, text=True,
                            env=sandbox.environment(), timeout=120, check=False)
    assert graded.returncode == 4 and "ecs-lab sandbox up" in graded.stderr, graded.stderr[-2000:]
    assert not (tmp_path / "reports").exists()  # a usage error: nothing written
    for lang, words in ((None, "ne tourne pas"), ("en", "is not running")):
        status = sandbox.run("status", lang=lang)
        assert status.returncode == 3 and words in one_line(status.stderr) and status.stdout == "", status
    env = sandbox.run("env")
    assert env.returncode != 0 and "ne tourne pas" in one_line(env.stderr) and env.stdout == "", env
    down = sandbox.run("down")
    assert down.returncode == 0 and "Rien à faire" in one_line(down.stdout), down
    unset = one_line(sandbox.run("env", "--unset", check=True).stdout)
    assert re.fullmatch(r"unset( [A-Za-z_][A-Za-z0-9_]*)+", unset), unset
    assert {"AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE", "http_proxy", "ECS_LAB_SANDBOX_HOME"} <= set(
        unset.split()[1:])
    assert home_files(tmp_path / "home") == set()


def test_a_kept_state_keeps_its_ports(tmp_path):
    """The ECR URIs of a kept state name its registry's port: `up --port` with other ports is refused,
    in one sentence; without --port, up takes the kept ports."""
    sandbox = Sandbox(tmp_path / "home")
    (tmp_path / "home" / "saved").mkdir(parents=True)
    (tmp_path / "home" / "saved" / "port").write_text(str(sandbox.port))
    refused = sandbox.run("up", "--port", str(sandbox.port + 10))
    assert refused.returncode == 1 and f"{sandbox.port}" in one_line(refused.stderr), refused
    assert "--port" in refused.stderr and "down" in refused.stderr
