"""The sandbox's folder and ports: what `up` writes, `status`/`env` read and `down` removes.

    <home>/state.json        the running sandbox: pid, ports, Docker run id (written when ready)
    <home>/daemon.log        the sandbox process's log
    <home>/aws/config, credentials   the `aws-labs` profile pointing at the sandbox
    <home>/registry/         the registry's configuration and images (ECR's storage)
    <home>/saved/            moto's state and CloudTrail's history, kept by `down --keep`

<home> is $ECS_LAB_SANDBOX_HOME, else `.cache/sandbox/` of the project. Ports: moto (the AWS
endpoint) on 127.0.0.1:<port>, the registry on <port>+1, the load balancers' proxy on <port>+2;
<port> is `--port`, else $ECS_LAB_SANDBOX_PORT, else 4580.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from standin.processes import pid_alive

__all__ = ["Home", "default_home", "default_port", "pid_alive", "port_taken"]

DEFAULT_PORT = 4580
HOME_ENV = "ECS_LAB_SANDBOX_HOME"
PORT_ENV = "ECS_LAB_SANDBOX_PORT"
# The profile's credentials: any key works with moto; this one says what it is.
ACCESS_KEY = "AKIASANDBOXSTUDENT01"
SECRET_KEY = "sandbox-secret-key-not-a-real-one"


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def default_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or project_root() / ".cache" / "sandbox").resolve()


def default_port() -> int:
    try:
        return int(os.environ.get(PORT_ENV) or DEFAULT_PORT)
    except ValueError:
        return DEFAULT_PORT


def port_taken(port: int, address: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers do: a port left in TIME_WAIT by the last run is free, only a listener takes it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return True
    return False


@dataclass
class Home:
    path: Path

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def log_file(self) -> Path:
        return self.path / "daemon.log"

    @property
    def stop_request(self) -> Path:
        return self.path / "stop-request"

    @property
    def aws_dir(self) -> Path:
        return self.path / "aws"

    @property
    def registry_dir(self) -> Path:
        return self.path / "registry"

    @property
    def saved_dir(self) -> Path:
        return self.path / "saved"

    def saved_port(self) -> int | None:
        """The port of a state kept by `down --keep` (its ECR URIs name it: the next `up` must use it)."""
        try:
            return int((self.saved_dir / "port").read_text())
        except (OSError, ValueError):
            return None

    def state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    def running(self) -> dict[str, Any] | None:
        """The state of the sandbox process if it is alive."""
        state = self.state()
        if state and pid_alive(int(state.get("pid", 0))):
            return state
        return None

    def erase(self) -> None:
        """Everything `up` wrote: the registry's images, the saved state, the profile, the log."""
        for folder in (self.registry_dir, self.saved_dir, self.aws_dir):
            shutil.rmtree(folder, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.path.rmdir()  # only when empty: a folder the user chose keeps what else it holds

    def abandon(self, kept_before: bool) -> None:
        """After an `up` that did not finish: a state kept earlier stays as it was; the rest goes."""
        if kept_before:
            shutil.rmtree(self.aws_dir, ignore_errors=True)
        else:
            self.erase()

    def write_state(self, state: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(self.state_file)

    def write_profile(self, port: int, profile: str, region: str) -> None:
        """The `profile` of the sandbox's AWS CLI configuration (the lab's `aws-labs`; no default
        profile: only what names it, or AWS_PROFILE, reaches the sandbox)."""
        self.aws_dir.mkdir(parents=True, exist_ok=True)
        endpoint = f"http://127.0.0.1:{port}"
        config = f"[profile {profile}]\nregion = {region}\noutput = json\nendpoint_url = {endpoint}\n"
        credentials = f"[{profile}]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        (self.aws_dir / "config").write_text(config)
        (self.aws_dir / "credentials").write_text(credentials)

    def environment(self, port: int, profile: str, region: str, state: dict[str, Any] | None = None) -> dict[str, str]:
        """What `ecs-lab sandbox env` exports: the AWS CLI, boto3, ecs-lab and curl on the sandbox;
        with the running sandbox's `state`, what a `docker run` needs to reach it (LAB.md, bonus 2)."""
        loopback = "127.0.0.1,localhost"
        proxy = f"http://127.0.0.1:{port + 2}"
        return {
            "AWS_CONFIG_FILE": str(self.aws_dir / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.aws_dir / "credentials"),
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_DEFAULT_REGION": region,
            "AWS_PROFILE": profile,
            "AWS_EC2_METADATA_DISABLED": "true",
            "http_proxy": proxy, "HTTP_PROXY": proxy,
            "no_proxy": loopback, "NO_PROXY": loopback,
            # The aws tier's stand-in settings (honoured only with AWS_ENDPOINT_URL set).
            "ECS_LAB_ECR_REGISTRY": f"localhost:{port + 1}",
            HOME_ENV: str(self.path),
            **({"ECS_LAB_SANDBOX_NETWORK": state["network"],
                "ECS_LAB_SANDBOX_CONTAINER_ENDPOINT": state["container_endpoint"]} if state else {}),
        }
