"""`ecs-lab sandbox` driven from the tests (and the benchmark): a sandbox with a private home and
free ports, its commands run as subprocesses with a controlled environment.

    with Sandbox(tmp_path / "home") as sandbox:      # ports: three free consecutive ones
        sandbox.up()                                  # `ecs-lab sandbox up`, checked
        sandbox.session().client("ecs").list_clusters()
        sandbox.shell("aws sts get-caller-identity --profile aws-labs")   # after eval of `sandbox env`
    # leaving the block: `down` (and, if the daemon outlived it, SIGKILL + its Docker objects removed)

The environment of every command is this process's without AWS_*, the proxy variables and the
sandbox's and local ECS's own settings, plus ECS_LAB_SANDBOX_HOME and ECS_LAB_SANDBOX_PORT: never
the default home (.cache/sandbox) nor the default ports (4580), which a student's or another
test's sandbox may use. Generic: nothing here knows a test.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from standin.processes import pid_alive, pid_exists  # noqa: F401 - the tests use them from here

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "ecslab.cli"]
BASE_IMAGE = os.environ.get("ECS_LAB_BASE_IMAGE") or "ecs-lab/python-base:3.11-bookworm"
# Below the kernel's ephemeral range (32768+), where Docker's published ports and client sockets land.
PORT_RANGE = (20000, 32000)
_DROPPED = {"http_proxy", "https_proxy", "no_proxy", "all_proxy", "ECS_LAB_LOCAL_RUN_ID", "ECS_LAB_ECR_REGISTRY"}
_DROPPED_PREFIXES = ("AWS_", "ECS_LAB_SANDBOX_")


def _free(port: int) -> bool:
    """No listener on `port`, on loopback nor on any address (the sandbox's own check, plus 0.0.0.0)."""
    from standin.sandbox.home import port_taken

    return not any(port_taken(port, address) for address in ("127.0.0.1", "0.0.0.0"))


def free_port_base(count: int = 3, attempts: int = 200) -> int:
    """The first of `count` consecutive free TCP ports (random, so that parallel callers rarely meet)."""
    chooser = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(attempts):
        base = chooser.randrange(PORT_RANGE[0], PORT_RANGE[1] - count)
        if all(_free(base + offset) for offset in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports in {PORT_RANGE}")


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without AWS_*, the proxies, ECS_LAB_SANDBOX_* and the local ECS's run id,
    plus `extra`."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(_DROPPED_PREFIXES) and k.lower() not in _DROPPED and k not in _DROPPED}
    environ["PYTHONUNBUFFERED"] = "1"
    environ.update(extra)
    return environ


def wait_until(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def home_files(home: Path) -> set[str]:
    """The files and folders under `home`, relative (the home itself excluded; missing home: empty)."""
    if not home.is_dir():
        return set()
    return {str(path.relative_to(home)) for path in home.rglob("*")}


@dataclass
class Sandbox:
    """One sandbox: its home, its ports, its commands. Does not start anything by itself."""

    home: Path
    port: int = field(default_factory=free_port_base)
    lang: str | None = None  # None: the command's default (French)
    timeout: float = 240.0

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()

    # --- where things are ---------------------------------------------------------------
    @property
    def registry_host(self) -> str:
        return f"localhost:{self.port + 1}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.home / "state.json"

    def state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def environment(self, **extra: str) -> dict[str, str]:
        """The environment the sandbox's commands run with (not the one `sandbox env` exports)."""
        return clean_environment(ECS_LAB_SANDBOX_HOME=str(self.home), ECS_LAB_SANDBOX_PORT=str(self.port), **extra)

    # --- its commands ---------------------------------------------------------------------
    def command(self, *args: str, lang: str | None = None) -> list[str]:
        lang = lang or self.lang
        return [*COMMAND, *(("--lang", lang) if lang else ()), "sandbox", *args]

    def run(self, *args: str, check: bool = False, lang: str | None = None, timeout: float | None = None,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """`ecs-lab sandbox ARGS...` (stdout and stderr captured as text)."""
        completed = subprocess.run(self.command(*args, lang=lang), cwd=ROOT, capture_output=True, text=True,
                                   env=self.environment(**(extra_env or {})), timeout=timeout or self.timeout,
                                   stdin=subprocess.DEVNULL, check=False)
        if check and completed.returncode != 0:
            raise AssertionError(f"ecs-lab sandbox {' '.join(args)} exited {completed.returncode}:\n"
                                 f"{completed.stdout}\n{completed.stderr}\n{self.log_tail()}")
        return completed

    def up(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        return self.run("up", *args, check=True, **kwargs)

    def down(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        return self.run("down", *args, check=True, **kwargs)

    def exports(self) -> dict[str, str]:
        """What `ecs-lab sandbox env` exports (parsed from its `export K=V` lines)."""
        lines = self.run("env", check=True).stdout.splitlines()
        exported = {}
        for line in lines:
            words = shlex.split(line)
            if words and words[0] == "export":
                key, _, value = words[1].partition("=")
                exported[key] = value
        return exported

    def shell(self, script: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
        """`script` in bash after `eval "$(ecs-lab sandbox env)"`, as a student's terminal runs it."""
        command = " ".join(shlex.quote(word) for word in self.command("env"))
        completed = subprocess.run(["bash", "-c", f'set -e; eval "$({command})"; {script}'], cwd=ROOT,
                                   capture_output=True, text=True, env=self.environment(), timeout=timeout,
                                   stdin=subprocess.DEVNULL, check=False)
        if check and completed.returncode != 0:
            raise AssertionError(f"{script!r} exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}")
        return completed

    def session(self) -> Any:
        """A boto3 session on the sandbox (its profile's credentials, its endpoint)."""
        import boto3

        from ecslab.facts import REGION
        from standin.sandbox.home import ACCESS_KEY, SECRET_KEY

        return _EndpointSession(boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                                              region_name=REGION), self.endpoint)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.home / "daemon.log").read_text(errors="replace")
        except OSError:
            return "(no daemon.log)"
        return "daemon.log:\n" + "\n".join(text.splitlines()[-lines:])

    # --- what it started ---------------------------------------------------------------------
    def processes(self, state: dict[str, Any] | None = None) -> list[int]:
        state = state or self.state() or {}
        return [int(state[key]) for key in ("pid", "registry_pid") if state.get(key)]

    def docker_objects(self, run_id: str) -> list[str]:
        """The containers and networks labelled with the run id (names; empty when none is left)."""
        import docker

        from standin.local_ecs.docker_resources import RUN_LABEL

        client = docker.from_env(timeout=60)
        try:
            label = {"label": f"{RUN_LABEL}={run_id}"}
            return ([f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
                    + [f"network {n.name}" for n in client.networks.list(filters=label)])
        finally:
            client.close()

    def leftovers(self, state: dict[str, Any]) -> list[str]:
        """What of the sandbox described by `state` is still there: processes, containers, networks."""
        found = [f"process {pid}" for pid in self.processes(state) if pid_alive(pid)]
        if state.get("run_id"):
            found += self.docker_objects(state["run_id"])
        return found

    def remove_pulled_images(self) -> list[str]:
        """Untag what the Docker engine pulled from this sandbox's registry (its tasks' images, pulled by
        digest: `localhost:<port+1>/repo@sha256:...`); the images themselves stay under their other names."""
        import docker

        prefix = f"{self.registry_host}/"
        removed = []
        client = docker.from_env(timeout=60)
        try:
            for image in client.images.list():
                for reference in [*(image.attrs.get("RepoDigests") or []), *image.tags]:
                    if reference.startswith(prefix):
                        with contextlib.suppress(Exception):
                            client.images.remove(reference, noprune=True)
                            removed.append(reference)
        finally:
            client.close()
        return removed

    def force_stop(self) -> None:
        """Whatever happened: `down`, then SIGKILL what outlived it and remove its Docker objects and the
        image references pulled from its registry."""
        state = self.state()
        try:
            self.run("down", timeout=150)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(Exception):
            self.remove_pulled_images()
        if not state:
            return
        for pid in self.processes(state):
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if state.get("run_id"):
            try:
                import docker

                from standin.local_ecs.docker_resources import RUN_LABEL

                client = docker.from_env(timeout=60)
                label = {"label": f"{RUN_LABEL}={state['run_id']}"}
                for container in client.containers.list(all=True, filters=label):
                    container.remove(force=True, v=True)
                for network in client.networks.list(filters=label):
                    network.remove()
                client.close()
            except Exception as error:  # noqa: BLE001 - best effort, after a failure already reported
                print(f"sandbox {self.home}: Docker objects not removed: {error}", file=sys.stderr)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.force_stop()


def push_image(sandbox: Sandbox, local_image: str, repository: str, tag: str) -> tuple[str, str]:
    """`docker push` of `local_image` to the sandbox's ECR as `repository:tag` (the repository created
    if needed): (repository URI, pushed digest). The local tag it needed is removed again."""
    import docker

    ecr = sandbox.session().client("ecr")
    try:
        uri = ecr.create_repository(repositoryName=repository)["repository"]["repositoryUri"]
    except ecr.exceptions.RepositoryAlreadyExistsException:
        uri = ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
    client = docker.from_env(timeout=300)
    try:
        client.images.get(local_image).tag(uri, tag)
        try:
            lines = list(client.images.push(uri, tag=tag, stream=True, decode=True))
        finally:
            client.images.remove(f"{uri}:{tag}", noprune=True)
    finally:
        client.close()
    errors = [line["error"] for line in lines if "error" in line]
    digests = [line["aux"]["Digest"] for line in lines if "Digest" in (line.get("aux") or {})]
    if errors or not digests:
        raise AssertionError(f"docker push {uri}:{tag}: {errors or lines[-3:]}")
    return uri, digests[-1]


def processes_mentioning(text: str) -> list[int]:
    """Pids of the processes whose command line contains `text` (a sandbox's home, say)."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(text in part for part in process.info["cmdline"] or ()):
            found.append(process.info["pid"])
    return found


class _EndpointSession:
    """A boto3 session whose clients all go to one endpoint."""

    def __init__(self, session: Any, endpoint: str) -> None:
        self._session = session
        self.endpoint = endpoint

    def client(self, service: str, **kwargs: Any) -> Any:
        kwargs.setdefault("endpoint_url", self.endpoint)
        return self._session.client(service, **kwargs)


def docker_gateways(network_name: str) -> set[str]:
    """The host's addresses on a Docker network (its gateways, or its bridge interface's)."""
    import docker

    from standin.local_ecs.host_address import network_gateways

    client = docker.from_env(timeout=60)
    try:
        attrs = client.networks.get(network_name).attrs
    finally:
        client.close()
    return set(network_gateways(attrs))


def listening_sockets(pid: int) -> list[tuple[int, str, int]]:
    """(pid, address, port) of every TCP socket in LISTEN of `pid` and of its children."""
    import psutil

    found = []
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for connection in connections:
            if connection.status == psutil.CONN_LISTEN:
                found.append((process.pid, connection.laddr.ip, connection.laddr.port))
    return found
