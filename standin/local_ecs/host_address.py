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
    """The host's address on a Docker network: its IPAM gateway, or, where the engine does not
    report one (a dockerd just started may describe the default bridge with its subnet only), the
    IPv4 address of the network's bridge interface (docker0, br-<id>)."""
    return next(iter(network_gateways(network.attrs)), None)


def network_gateways(attrs: dict) -> list[str]:
    """Every host address of a network description (`docker network inspect`'s object)."""
    found = [config["Gateway"].split("/")[0] for config in (attrs.get("IPAM") or {}).get("Config") or []
             if config.get("Gateway")]
    if not found:
        interface = ((attrs.get("Options") or {}).get("com.docker.network.bridge.name")
                     or (f"br-{attrs['Id'][:12]}" if attrs.get("Driver") == "bridge" and attrs.get("Id") else None))
        address = interface_address(interface) if interface else None
        found = [address] if address else []
    return found


def interface_address(name: str) -> str | None:
    """The IPv4 address of a network interface of this host (None: no such interface, or not Linux)."""
    import fcntl
    import struct

    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            answer = fcntl.ioctl(sock.fileno(), siocgifaddr, struct.pack("256s", name[:15].encode()))
        except OSError:
            return None
    return socket.inet_ntoa(answer[20:24])


def resolve_host_address(network) -> HostAddress:
    gateway = network_gateway(network)
    if gateway and _bindable(gateway):
        return HostAddress(bind=gateway, for_containers=gateway, for_host=gateway)
    return HostAddress(bind="127.0.0.1", for_containers="host.docker.internal", for_host="127.0.0.1",
                       extra_hosts={"host.docker.internal": "host-gateway"})
