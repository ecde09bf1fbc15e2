"""Network objects from Docker's request bodies and filters (the manager on a fake kernel)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.errors import Conflict, InvalidArgument
from berth.network.manager import NetworkManager
from berth.network.sandbox import SandboxRequest
from berth.store.db import Database
from support.network_fakes import FakeHost

CID = "a" * 64


@pytest.fixture
def nm(tmp_path: Path) -> Iterator[NetworkManager]:
    db = Database(str(tmp_path / "berth.db"))
    m = NetworkManager(db, str(tmp_path / "run"), host=FakeHost(), embedded_dns=False)  # type: ignore[arg-type]
    m.start(set())
    yield m
    m.close()
    db.close()


def test_create_from_a_docker_request(nm: NetworkManager) -> None:
    out = nm.create_from_request(
        {
            "Name": "front",
            "CheckDuplicate": True,
            "Driver": "bridge",
            "Internal": True,
            "Attachable": True,
            "IPAM": {
                "Driver": "default",
                "Config": [
                    {"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.254", "IPRange": "10.9.0.128/25"}
                ],
                "Options": {},
            },
            "Options": {"com.docker.network.driver.mtu": "1400"},
            "Labels": {"tier": "web"},
        }
    )
    doc = nm.inspect_network(out["Id"])
    assert doc["Name"] == "front" and doc["Internal"] is True and doc["Attachable"] is True
    assert doc["IPAM"]["Config"] == [
        {"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.254", "IPRange": "10.9.0.128/25"}
    ]
    assert doc["Labels"] == {"tier": "web"}
    assert ("bridge", f"br-{out['Id'][:12]}", "10.9.0.254", 24, 1400) in nm.host.calls  # type: ignore[attr-defined]
    sb = nm.setup(SandboxRequest(CID, network="front"))
    assert sb.settings["Networks"]["front"]["IPAddress"] == "10.9.0.128"
    # the minimal body compose and docker-py send
    assert len(nm.create_from_request({"Name": "plain"})["Id"]) == 64


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "network name must not be empty"),
        ({"Name": "x", "Driver": "overlay"}, "driver 'overlay' is not supported"),
        ({"Name": "x", "EnableIPv6": True}, "IPv6 networks are not supported"),
        ({"Name": "x", "Internal": "yes"}, "Internal: expected bool"),
        ({"Name": "x", "Ingress": True}, "swarm"),
        ({"Name": "x", "Scope": "swarm"}, "scope 'swarm' is not supported"),
        ({"Name": "x", "IPAM": {"Driver": "dhcp"}}, "IPAM driver 'dhcp'"),
        ({"Name": "x", "IPAM": {"Config": [{"Subnet": "fd00::/64"}]}}, "IPv6 subnets"),
        (
            {
                "Name": "x",
                "IPAM": {"Config": [{"Subnet": "10.1.0.0/24"}, {"Subnet": "10.2.0.0/24"}]},
            },
            "one IPv4 pool",
        ),
        (
            {"Name": "x", "IPAM": {"Config": [{"Subnet": "10.1.0.0/24", "Gateway": "10.2.0.1"}]}},
            "not in subnet",
        ),
        ({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.1.0.1/24"}]}}, "host bits"),
    ],
)
def test_bad_create_requests_change_nothing(
    nm: NetworkManager, body: dict[str, object], message: str
) -> None:
    before = nm.list_networks()
    with pytest.raises(InvalidArgument, match=message):
        nm.create_from_request(body)
    assert nm.list_networks() == before


def test_list_filters(nm: NetworkManager) -> None:
    nm.create_network("used", labels={"team": "a"})
    nm.create_network("idle", labels={"team": "b"})
    nm.setup(SandboxRequest(CID, network="used"))

    def names(**filters: list[str]) -> list[str]:
        return sorted(n["Name"] for n in nm.list_networks(filters))

    assert names(dangling=["true"]) == ["idle"]
    assert names(dangling=["false"]) == ["bridge", "host", "none", "used"]
    assert names(type=["custom"]) == ["idle", "used"]
    assert names(type=["builtin"]) == ["bridge", "host", "none"]
    assert names(label=["team=a"]) == ["used"]
    assert names(label=["team"]) == ["idle", "used"]
    assert names(name=["us"]) == ["used"]
    assert names(driver=["null"]) == ["none"]
    assert names(scope=["local"]) == ["bridge", "host", "idle", "none", "used"]
    assert names(scope=["swarm"]) == []
    assert all(n["Containers"] == {} and "_used" not in n for n in nm.list_networks())
    with pytest.raises(InvalidArgument, match="invalid filter 'nope'"):
        nm.list_networks({"nope": ["1"]})
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling=maybe'"):
        nm.list_networks({"dangling": ["maybe"]})


def test_prune_filters(nm: NetworkManager) -> None:
    nm.create_network("keep", labels={"keep": "1"})
    nm.create_network("old")
    nm.create_network("busy")
    nm.setup(SandboxRequest(CID, network="busy"))
    assert nm.prune_networks({"until": ["1h"]}) == []  # all made just now
    assert nm.prune_networks({"until": [str(time.time() - 3600)]}) == []
    assert nm.prune_networks({"label!": ["keep"]}) == ["old"]
    assert nm.prune_networks({"label": ["keep=1"], "until": [str(time.time() + 5)]}) == ["keep"]
    assert nm.prune_networks() == []
    with pytest.raises(InvalidArgument, match="invalid filter 'until=soon'"):
        nm.prune_networks({"until": ["soon"]})
    with pytest.raises(InvalidArgument, match="invalid filter 'name'"):
        nm.prune_networks({"name": ["x"]})
    with pytest.raises(Conflict):
        nm.remove_network("busy")
