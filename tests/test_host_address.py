"""The host's address on a Docker network, whether or not the engine reports a gateway.

A dockerd just started may describe the default bridge as `"Config": [{"Subnet": "172.17.0.0/16"}]`,
without `Gateway`, while the docker0 interface has 172.17.0.1: the address then comes from the
bridge interface (issue 18)."""

from __future__ import annotations

import socket

from standin.local_ecs.host_address import interface_address, network_gateways, resolve_host_address


def _loopback_name() -> str:
    return next(name for _index, name in socket.if_nameindex() if interface_address(name) == "127.0.0.1")


def test_a_reported_gateway_is_the_address() -> None:
    attrs = {"Id": "0" * 64, "Driver": "bridge", "Options": {"com.docker.network.bridge.name": "docker0"},
             "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1/16"}]}}
    assert network_gateways(attrs) == ["172.17.0.1"]


def test_without_gateway_the_bridge_interface_gives_the_address() -> None:
    # The default bridge names its interface in its options; loopback stands in for docker0 here.
    attrs = {"Id": "0" * 64, "Driver": "bridge", "Options": {"com.docker.network.bridge.name": _loopback_name()},
             "IPAM": {"Config": [{"Subnet": "127.0.0.0/8"}]}}
    assert network_gateways(attrs) == ["127.0.0.1"]


def test_without_gateway_nor_interface_there_is_no_address() -> None:
    attrs = {"Id": "f" * 64, "Driver": "bridge", "Options": {}, "IPAM": {"Config": [{"Subnet": "10.99.0.0/16"}]}}
    assert network_gateways(attrs) == []
    assert interface_address("no-such-if") is None


def test_the_default_bridge_has_an_address_of_this_host() -> None:
    """On the engine itself (a fresh dockerd reports no gateway for it): the address is bindable."""
    import docker

    client = docker.from_env()
    try:
        network = client.networks.get("bridge")
    finally:
        client.close()
    (address,) = network_gateways(network.attrs)
    assert resolve_host_address(network).bind == address
