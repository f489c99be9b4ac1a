"""Where the local ECS's servers listen, and how containers and this process reach them.

The moto server, the task metadata endpoint and the test servers run in this process.
Containers run on a bridge network of our own; on Linux the network's gateway address
is an address of this host, so the servers bind to it: containers on that network and
this process reach them, nothing else on the machine's other interfaces does. Where the
gateway is not a local address (Docker Desktop, rootless Docker), the servers bind to
127.0.0.1 and containers reach them as ``host.docker.internal`` (Docker's host-gateway).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HostAddress:
    bind: str  # address the servers listen on
    for_containers: str  # host name or address containers use to reach them
    for_host: str  # address this process uses
    extra_hosts: dict[str, str] = field(default_factory=dict)  # for containers.create

    def container_url(self, port: int) -> str:
        return f"http://{self.for_containers}:{port}"

    def host_url(self, port: int) -> str:
        return f"http://{self.for_host}:{port}"


def _bindable(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def network_gateway(network) -> str | None:
    for config in (network.attrs.get("IPAM") or {}).get("Config") or []:
        if config.get("Gateway"):
            return config["Gateway"].split("/")[0]
    return None


def resolve_host_address(network) -> HostAddress:
    gateway = network_gateway(network)
    if gateway and _bindable(gateway):
        return HostAddress(bind=gateway, for_containers=gateway, for_host=gateway)
    return HostAddress(bind="127.0.0.1", for_containers="host.docker.internal", for_host="127.0.0.1",
                       extra_hosts={"host.docker.internal": "host-gateway"})
