"""The container side of networking (berth.engine.containers.networking) on a fake kernel."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from berth.engine.containers import networking
from berth.engine.containers.specgen import SpecInput
from berth.engine.containers.store import ContainerRow
from berth.errors import Conflict, InvalidArgument, NotFound, Unavailable
from berth.network.manager import NetworkManager
from berth.store.db import Database
from support.network_fakes import FakeHost


class FakeStore:
    def __init__(self) -> None:
        self.saved: list[str] = []

    def save(self, row: ContainerRow) -> None:
        self.saved.append(row.id)


class FakeEvents:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, dict[str, str]]] = []

    def publish(self, kind: str, action: str, ident: str, attrs: dict[str, str]) -> None:
        self.events.append((kind, action, ident, attrs))


class FakeService:
    """What the glue uses of ContainerService."""

    def __init__(self, root: Path, network: NetworkManager | None) -> None:
        self.root = root
        self.network = network
        self.rows: dict[str, ContainerRow] = {}
        self.lock = threading.RLock()
        self.store = FakeStore()
        self.events = FakeEvents()

    def add(self, name: str, **hc: Any) -> ContainerRow:
        cid = (name * 64)[:64]
        config = hc.pop("config", {})
        row = ContainerRow(
            id=cid,
            name=name,
            config=dict(config),
            host_config=hc,
            state={"Running": False},
            network_settings={},
        )
        self.rows[cid] = row
        (self.root / cid).mkdir(parents=True)
        return row

    def find(self, ref: str) -> ContainerRow:
        for r in self.rows.values():
            if ref in (r.id, r.name):
                return r
        raise NotFound(f"No such container: {ref}")

    def dir_of(self, cid: str) -> str:
        return str(self.root / cid)

    def start(self, row: ContainerRow) -> SpecInput:
        inp = SpecInput(row.id, row.config, row.host_config)
        with ExitStack() as undo:
            networking.setup(self, row, inp, undo)  # type: ignore[arg-type]
            undo.pop_all()
        row.state["Running"] = True
        return inp

    def stop(self, row: ContainerRow) -> None:
        networking.release(self, row)  # type: ignore[arg-type]
        row.state["Running"] = False


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[FakeService]:
    db = Database(str(tmp_path / "berth.db"))
    nm = NetworkManager(db, str(tmp_path / "run"), host=FakeHost(), embedded_dns=False)  # type: ignore[arg-type]
    nm.start(set())
    yield FakeService(tmp_path / "containers", nm)
    nm.close()
    db.close()


@pytest.mark.parametrize(
    ("config", "hc", "message"),
    [
        ({}, {"NetworkMode": "container:"}, "invalid container format"),
        ({"Hostname": "x"}, {"NetworkMode": "container:a"}, "hostname and the network mode"),
        ({}, {"NetworkMode": "container:a", "Dns": ["1.1.1.1"]}, "dns and the network mode"),
        ({}, {"NetworkMode": "container:a", "ExtraHosts": ["a:1.2.3.4"]}, "host-to-IP"),
        ({}, {"NetworkMode": "container:a", "PublishAllPorts": True}, "port publishing"),
        ({"ExposedPorts": {"80/tcp": {}}}, {"NetworkMode": "container:a"}, "port exposing"),
        ({"MacAddress": "02:00:00:00:00:01"}, {"NetworkMode": "host"}, "mac-address"),
        (
            {
                "NetworkingConfig": {
                    "EndpointsConfig": {"default": {"IPAMConfig": {"IPv4Address": "172.17.0.9"}}}
                }
            },
            {},
            "user defined networks only",
        ),
        (
            {"NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": ["x"]}}}},
            {"NetworkMode": "bridge"},
            "network-scoped alias",
        ),
    ],
)
def test_validate_refuses_what_docker_refuses(
    config: dict[str, Any], hc: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        networking.validate(config, hc)


def test_validate_accepts_the_usual() -> None:
    networking.validate({"Hostname": "h", "ExposedPorts": {"80/tcp": {}}}, {"PortBindings": {}})
    networking.validate({}, {"NetworkMode": "container:a"})
    endpoint = {"mynet": {"IPAMConfig": {"IPv4Address": "10.0.0.9"}, "Aliases": ["db"]}}
    networking.validate(
        {"NetworkingConfig": {"EndpointsConfig": endpoint}}, {"NetworkMode": "mynet"}
    )


def test_setup_with_extra_networks_files_and_release(svc: FakeService) -> None:
    nm = svc.network
    assert nm is not None
    nm.create_network("front", subnet="10.1.0.0/24")
    nm.create_network("back", subnet="10.2.0.0/24")
    row = svc.add(
        "web",
        NetworkMode="front",
        PortBindings={"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
        config={
            "NetworkingConfig": {
                "EndpointsConfig": {
                    "front": {"Aliases": ["www"]},
                    "back": {"IPAMConfig": {"IPv4Address": "10.2.0.50"}},
                }
            }
        },
    )
    inp = svc.start(row)
    nets = row.network_settings["Networks"]
    assert nets["front"]["IPAddress"] == "10.1.0.2" and nets["front"]["Aliases"] == ["www"]
    assert nets["back"]["IPAddress"] == "10.2.0.50"
    assert row.network_settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    assert inp.netns_path == nm.netns_path(row.id)
    assert set(inp.etc_files) == {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"}
    assert open(inp.etc_files["/etc/hostname"]).read() == row.id[:12] + "\n"

    svc.stop(row)
    assert row.network_settings["Ports"] == {}
    assert row.network_settings["Networks"]["back"]["IPAddress"] == ""
    assert nm.db.query("SELECT * FROM endpoints") == []


def test_host_and_container_modes(svc: FakeService) -> None:
    import os

    host = svc.add("h", NetworkMode="host")
    inp = svc.start(host)
    assert inp.netns_path == "host" and host.config["Hostname"] == os.uname().nodename
    assert [(e[1], e[3]["name"], e[3]["type"]) for e in svc.events.events] == [
        ("connect", "host", "host")
    ]
    base = svc.add("base", config={"Hostname": "basehost", "Domainname": "example.org"})
    joiner = svc.add("j", NetworkMode="container:base")
    with pytest.raises(Conflict, match="non running container"):
        svc.start(joiner)
    base_inp = svc.start(base)
    inp = svc.start(joiner)
    assert inp.netns_path == base_inp.netns_path
    assert joiner.config["Hostname"] == "basehost"
    assert joiner.config["Domainname"] == "example.org"
    assert inp.etc_files == base_inp.etc_files  # the other container's files
    assert not any(e[3].get("container") == joiner.id for e in svc.events.events)


def test_a_failed_start_releases_everything(svc: FakeService) -> None:
    nm = svc.network
    assert nm is not None
    row = svc.add(
        "web",
        config={"NetworkingConfig": {"EndpointsConfig": {"missing": {}}}},
    )
    with pytest.raises(NotFound, match="network missing not found"):
        svc.start(row)
    for table in ("sandboxes", "endpoints", "ports"):
        assert nm.db.query(f"SELECT * FROM {table}") == []


def test_connect_and_disconnect_stopped_and_running(svc: FakeService) -> None:
    nm = svc.network
    assert nm is not None
    net_id = nm.create_network("extra", subnet="10.3.0.0/24")["Id"]
    row = svc.add("web")
    networking.connect(svc, "web", "extra", {"Aliases": ["w"]})  # type: ignore[arg-type]
    assert row.network_settings["Networks"]["extra"]["NetworkID"] == net_id
    assert row.config["NetworkingConfig"]["EndpointsConfig"]["extra"] == {"Aliases": ["w"]}
    with pytest.raises(Conflict, match="already exists in network extra"):
        networking.connect(svc, "web", "extra")  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="already exists in network bridge"):
        networking.connect(svc, "web", "bridge")  # type: ignore[arg-type]
    svc.start(row)  # the recorded connection is made at start
    assert row.network_settings["Networks"]["extra"]["IPAddress"] == "10.3.0.2"
    assert row.network_settings["Networks"]["extra"]["Aliases"] == ["w"]
    networking.disconnect(svc, "web", "extra")  # type: ignore[arg-type]
    assert "extra" not in row.network_settings["Networks"]
    assert "extra" not in row.config["NetworkingConfig"]["EndpointsConfig"]
    with pytest.raises(NotFound, match="not connected"):
        networking.disconnect(svc, "web", "extra")  # type: ignore[arg-type]
    networking.disconnect(svc, "web", "extra", force=True)  # type: ignore[arg-type]
    networking.disconnect(svc, "nope", "extra", force=True)  # type: ignore[arg-type]
    assert len(svc.events.events) == 4  # forced no-ops publish nothing
    networking.connect(svc, "web", "extra", {"IPAMConfig": {"IPv4Address": "10.3.0.77"}})  # type: ignore[arg-type]
    assert row.network_settings["Networks"]["extra"]["IPAddress"] == "10.3.0.77"
    actions = [(e[1], e[3]["name"]) for e in svc.events.events]
    assert actions == [
        ("connect", "extra"),  # network connect while stopped
        ("connect", "bridge"),  # the start: one per network
        ("connect", "extra"),
        ("disconnect", "extra"),
        ("connect", "extra"),
    ]
    assert svc.events.events[0][2] == net_id
    assert svc.events.events[0][3] == {"name": "extra", "type": "bridge", "container": row.id}
    svc.events.events.clear()
    svc.stop(row)
    svc.stop(row)  # exit, then removal: the second release is a no-op
    assert sorted((e[1], e[3]["name"]) for e in svc.events.events) == [
        ("disconnect", "bridge"),
        ("disconnect", "extra"),
    ]


@pytest.mark.parametrize(
    ("mode", "target", "message"),
    [
        ("host", "extra", networking.SHARED_NETWORK),
        ("none", "extra", networking.NO_NETWORK),
        ("bridge", "host", networking.HOST_NETWORK),
        ("bridge", "none", networking.NO_NETWORK),
    ],
)
def test_connect_refusals(svc: FakeService, mode: str, target: str, message: str) -> None:
    assert svc.network is not None
    svc.network.create_network("extra")
    svc.add("c", NetworkMode=mode)
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        networking.connect(svc, "c", target)  # type: ignore[arg-type]


def test_aliases_and_ip_need_a_user_network_on_connect(svc: FakeService) -> None:
    svc.add("c", NetworkMode="none")
    for endpoint in ({"Aliases": ["a"]}, {"IPAMConfig": {"IPv4Address": "172.18.0.9"}}):
        with pytest.raises(InvalidArgument, match="user defined networks"):
            networking.connect(svc, "c", "bridge", endpoint)  # type: ignore[arg-type]


def test_network_objects_publish_events(svc: FakeService) -> None:
    out = networking.create_network(svc, {"Name": "n1", "Labels": {"x": "1"}})  # type: ignore[arg-type]
    networking.create_network(svc, {"Name": "n2"})  # type: ignore[arg-type]
    networking.remove_network(svc, "n1")  # type: ignore[arg-type]
    assert networking.prune_networks(svc, {}) == ["n2"]  # type: ignore[arg-type]
    actions = [(e[1], e[3].get("name")) for e in svc.events.events]
    assert actions == [
        ("create", "n1"),
        ("create", "n2"),
        ("destroy", "n1"),
        ("destroy", "n2"),
        ("prune", None),
    ]
    assert svc.events.events[0][2] == out["Id"]


def test_without_networking(tmp_path: Path) -> None:
    svc = FakeService(tmp_path, None)
    row = svc.add("c", NetworkMode="host")
    inp = svc.start(row)
    assert inp.netns_path == "host"
    with pytest.raises(Unavailable, match="BERTH_NO_NETWORK"):
        networking.create_network(svc, {"Name": "x"})  # type: ignore[arg-type]
