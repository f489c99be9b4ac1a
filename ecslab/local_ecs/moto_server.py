"""The moto server of the local ECS, running in this process (so that its backends can be hooked).

The student's boto3 code reaches it through ``AWS_ENDPOINT_URL`` (or ``endpoint_url``);
containers reach it at the address of :mod:`~ecslab.local_ecs.host_address`.
"""

from __future__ import annotations

import logging
from typing import Any

import boto3
from botocore.config import Config

from ecslab.local_ecs.host_address import HostAddress

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"  # moto's default account
FAKE_KEY = "testing"


class MotoServer:
    def __init__(self, address: HostAddress, region: str = REGION) -> None:
        self.address = address
        self.region = region
        self._server: Any = None
        self.port = 0

    def start(self) -> "MotoServer":
        from moto.server import ThreadedMotoServer

        # One line per request on stderr otherwise.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=self.address.bind, port=0, verbose=False)
        self._server.start()
        self.port = self._server.get_host_and_port()[1]
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.stop()
        if server._server is not None:  # noqa: SLF001 - ThreadedMotoServer does not close its socket
            server._server.server_close()  # noqa: SLF001

    @property
    def host_url(self) -> str:
        """The endpoint URL for this process (boto3's ``endpoint_url`` / ``AWS_ENDPOINT_URL``)."""
        return self.address.host_url(self.port)

    @property
    def container_url(self) -> str:
        """The endpoint URL for containers."""
        return self.address.container_url(self.port)

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

    def session(self) -> boto3.Session:
        return boto3.Session(aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_KEY,
                             region_name=self.region)

    def client(self, service: str, session: boto3.Session | None = None) -> Any:
        """A client of the server for the local ECS's own calls (never the student's)."""
        return (session or self.session()).client(
            service, endpoint_url=self.host_url, region_name=self.region,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30))

    @staticmethod
    def reset_state() -> None:
        """Forget every resource of every moto backend (the state is global to the process)."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
