"""A moto server in this process: the lab's AWS for the local ECS, the offline tier and the tests.

Running in this process lets the local ECS hook moto's backends (standin.moto_bridge) and lets
the grader wrap the server's WSGI application (`wrap`) to see every request as it arrives.
It listens on TCP (``host:port``) and, when asked, on a Unix socket too (the grader's sandboxed
workers reach it that way: they have no network of their own).
"""

from __future__ import annotations

from typing import Any, Callable

import boto3
from botocore.config import Config

from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT_ID

from standin.serving import WsgiServers

FAKE_KEY = "testing"
__all__ = ["ACCOUNT_ID", "FAKE_KEY", "MotoServer"]


class MotoServer:
    def __init__(self, bind: str = "127.0.0.1", region: str = "us-east-1", *, for_containers: str | None = None,
                 wrap: Callable[[Any], Any] | None = None, unix_socket: str | None = None,
                 also: tuple[tuple[str, int], ...] = ()) -> None:
        self.bind = bind
        self.for_containers = for_containers or bind
        self.region = region
        self.wrap = wrap
        self.unix_socket = unix_socket
        self.also = also  # more (address, port) to listen on (the sandbox's fixed loopback port)
        self.port = 0
        self._servers = WsgiServers("moto-server")

    def start(self) -> "MotoServer":
        from moto.server import DomainDispatcherApplication, create_backend_app

        app: Any = DomainDispatcherApplication(create_backend_app)
        if self.wrap is not None:
            app = self.wrap(app)
        self.port = self._servers.start(app, self.bind, self.unix_socket, self.also)
        return self

    def stop(self) -> None:
        self._servers.stop(self.unix_socket)

    close = stop

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def host_url(self) -> str:
        """The endpoint URL for this process (boto3's ``endpoint_url`` / ``AWS_ENDPOINT_URL``)."""
        return f"http://{self.bind}:{self.port}"

    @property
    def container_url(self) -> str:
        """The endpoint URL for containers."""
        return f"http://{self.for_containers}:{self.port}"

    def environment(self) -> dict[str, str]:
        """Variables that point boto3 in this process at the server, with fake credentials."""
        return {
            "AWS_ENDPOINT_URL": self.host_url,
            "AWS_ACCESS_KEY_ID": FAKE_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def session(self, access_key: str = FAKE_KEY) -> boto3.Session:
        return boto3.Session(aws_access_key_id=access_key, aws_secret_access_key=FAKE_KEY, region_name=self.region)

    def client(self, service: str, session: boto3.Session | None = None) -> Any:
        """A client of the server for this process's own calls (never the student's)."""
        return (session or self.session()).client(
            service, endpoint_url=self.host_url, region_name=self.region,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30))
