"""The network manager's logic against a recording fake of the kernel (no root)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth.errors import Conflict, InvalidArgument, KernelError, NotFound
from berth.network.manager import NetworkManager
from berth.network.portspec import parse_port_specs
from berth.network.sandbox import SandboxRequest
from berth.store.db import Database
from support.network_fakes import FakeHost, FakeInside

CID = "a" * 64
CID2 = "b" * 64


@pytest.fixture
def nm(tmp_path: Path) -> Iterator[NetworkManager]:
    db = Database(str(tmp_path / "berth.db"))
    m = NetworkManager(db, str(tmp_path / "run"), host=FakeHost(), embedded_dns=False)  # type: ignore[arg-type]
    m.start(set())
    yield m
    m.close()
    db.close()


def fake(nm: NetworkManager) -> FakeHost:
    return nm.host  # type: ignore[return-value]


def test_start_makes_the_default_bridge_avoiding_host_routes(nm: NetworkManager) -> None:
    (bridge,) = [n for n in nm.list_networks() if n["Name"] == "bridge"]
    assert bridge["IPAM"]["Config"] == [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]
    assert bridge["Options"]["com.docker.network.bridge.name"] == "berth0"
    assert ("bridge", "berth0", "172.18.0.1", 16, 1500) in fake(nm).calls
    assert fake(nm).sysctls["net/ipv4/ip_forward"] == "1"
    assert "table ip berth {" in fake(nm).scripts()[-1]
    assert {n["Name"] for n in nm.list_networks()} == {"bridge", "host", "none"}
    assert [n["Name"] for n in nm.list_networks({"type": ["custom"]})] == []


def test_setup_and_release_on_the_default_bridge(nm: NetworkManager) -> None:
    sb = nm.setup(SandboxRequest(CID, name="web", ports=parse_port_specs(["8080:80", "53/udp"])))
    assert sb.netns == nm.netns_path(CID)
    s = sb.settings
    assert (s["IPAddress"], s["Gateway"], s["IPPrefixLen"]) == ("172.18.0.2", "172.18.0.1", 16)
    assert s["MacAddress"] == "02:42:ac:12:00:02"
    assert s["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    (udp,) = s["Ports"]["53/udp"]
    assert 40000 <= int(udp["HostPort"]) <= 40010
    assert s["Networks"]["bridge"]["IPAddress"] == "172.18.0.2"
    assert sb.hosts is not None and sb.hosts.endswith("172.18.0.2\taaaaaaaaaaaa\n")
    assert sb.resolv_conf is not None and "nameserver 10.255.255.53" in sb.resolv_conf
    plug = next(c[1] for c in fake(nm).calls if c[0] == "plug")
    assert plug["ifname"] == "eth0" and plug["gateway"] == "172.18.0.1"
    assert plug["host_ifname"].startswith("bv") and len(plug["host_ifname"]) == 14
    assert (
        "add element ip berth pub_any { tcp . 8080 : 172.18.0.2 . 80, udp . "
        in fake(nm).scripts()[-1]
    )

    nm.release(CID)
    assert "delete element ip berth pub_any { tcp . 8080, udp . " in fake(nm).scripts()[-1]
    assert ("dellink", plug["host_ifname"]) in fake(nm).calls
    assert fake(nm).netns == set()
    for table in ("sandboxes", "endpoints", "ports"):
        assert nm.db.query(f"SELECT * FROM {table}") == []
    nm.release(CID)  # twice is fine
    with pytest.raises(NotFound):
        nm.settings(CID)


def test_taken_host_port_is_a_clear_conflict_and_undoes_everything(nm: NetworkManager) -> None:
    nm.setup(SandboxRequest(CID, ports=parse_port_specs(["8080:80"])))
    with pytest.raises(
        Conflict,
        match=r"Bind for 127.0.0.1:8080 failed: port is already allocated \(published by "
        r"container aaaaaaaaaaaa\); choose another host port",
    ):
        nm.setup(SandboxRequest(CID2, ports=parse_port_specs(["127.0.0.1:8080:80"])))
    assert fake(nm).netns == {nm.netns_path(CID)}
    assert [r[0] for r in nm.db.query("SELECT container_id FROM sandboxes")] == [CID]
    assert len(nm.db.query("SELECT * FROM endpoints")) == 1
    # a different address on another port is fine; the same port on udp too
    nm.setup(SandboxRequest(CID2, ports=parse_port_specs(["8080:80/udp"])))


def test_host_listener_conflicts(nm: NetworkManager) -> None:
    fake(nm).tables = {"tcp": "h\n   0: 0100007F:1F90 00000000:0000 0A 0\n"}
    with pytest.raises(Conflict, match=r"address already in use .*127.0.0.1:8080"):
        nm.setup(SandboxRequest(CID, ports=parse_port_specs(["8080:80"])))
    sb = nm.setup(SandboxRequest(CID, ports=parse_port_specs(["192.0.2.2:8080:80"])))
    assert sb.settings["Ports"]["80/tcp"] == [{"HostIp": "192.0.2.2", "HostPort": "8080"}]


def test_random_ports_run_out(nm: NetworkManager) -> None:
    nm.setup(SandboxRequest(CID, ports=parse_port_specs(["40000-40010"])))
    with pytest.raises(Conflict, match="no free host port"):
        nm.setup(SandboxRequest(CID2, ports=parse_port_specs(["80"])))


def test_failed_plug_leaves_nothing(nm: NetworkManager) -> None:
    fake(nm).fail_plug = True
    with pytest.raises(KernelError):
        nm.setup(SandboxRequest(CID, ports=parse_port_specs(["8080:80"])))
    assert fake(nm).netns == set()
    for table in ("sandboxes", "endpoints", "ports"):
        assert nm.db.query(f"SELECT * FROM {table}") == []


def test_user_networks(nm: NetworkManager) -> None:
    out = nm.create_network("mynet", subnet="10.7.0.0/24", labels={"a": "1"})
    assert len(out["Id"]) == 64 and out["Warning"] == ""
    with pytest.raises(Conflict, match="already exists"):
        nm.create_network("mynet")
    with pytest.raises(Conflict, match="overlaps"):
        nm.create_network("other", subnet="10.7.0.0/16")
    with pytest.raises(InvalidArgument, match="invalid network name"):
        nm.create_network("-bad")
    auto = nm.inspect_network(nm.create_network("auto")["Id"])
    assert auto["IPAM"]["Config"][0]["Subnet"] == "172.19.0.0/16"

    sb = nm.setup(SandboxRequest(CID, name="alpha", network="mynet", aliases=["db"], ip="10.7.0.9"))
    sb2 = nm.setup(SandboxRequest(CID2, name="beta", network="mynet"))
    assert sb.settings["Networks"]["mynet"]["IPAddress"] == "10.7.0.9"
    assert sb.settings["Networks"]["mynet"]["DNSNames"] == ["alpha", "db", CID[:12]]
    assert sb.settings["IPAddress"] == ""  # only the default bridge fills the top level
    assert sb2.settings["Networks"]["mynet"]["IPAddress"] == "10.7.0.2"
    assert sb.resolv_conf is not None and "nameserver 127.0.0.11" in sb.resolv_conf
    doc = nm.inspect_network("mynet")
    assert doc["Labels"] == {"a": "1"}
    assert doc["Containers"][CID]["IPv4Address"] == "10.7.0.9/24"
    assert doc["Containers"][CID]["Name"] == "alpha"
    assert set(doc) >= {
        "Name",
        "Id",
        "Created",
        "Scope",
        "Driver",
        "EnableIPv6",
        "IPAM",
        "Internal",
        "Attachable",
        "Ingress",
        "ConfigFrom",
        "ConfigOnly",
        "Containers",
        "Options",
        "Labels",
    }
    assert nm.list_networks({"label": ["a=1"]})[0]["Name"] == "mynet"

    assert nm._lookup(CID2, "alpha") == ["10.7.0.9"]
    assert nm._lookup(CID2, "db") == ["10.7.0.9"]
    assert nm._lookup(CID2, CID[:12]) == ["10.7.0.9"]
    assert nm._lookup(CID2, "example.com") is None

    with pytest.raises(Conflict, match="active endpoints"):
        nm.remove_network("mynet")
    nm.release(CID)
    nm.release(CID2)
    assert nm._lookup(CID2, "alpha") is None
    assert sorted(nm.prune_networks()) == ["auto", "mynet"]
    with pytest.raises(NotFound, match="network mynet not found"):
        nm.inspect_network("mynet")
    with pytest.raises(Conflict, match="pre-defined"):
        nm.remove_network("bridge")


def test_ip_and_alias_need_a_user_network(nm: NetworkManager) -> None:
    with pytest.raises(InvalidArgument, match="user defined networks only"):
        nm.setup(SandboxRequest(CID, ip="172.18.0.50"))
    with pytest.raises(InvalidArgument, match="network-scoped aliases"):
        nm.setup(SandboxRequest(CID, aliases=["x"]))
    assert nm.db.query("SELECT * FROM sandboxes") == []


def test_internal_network_has_no_gateway_route(nm: NetworkManager) -> None:
    nm.create_network("inner", internal=True)
    nm.setup(SandboxRequest(CID, network="inner"))
    plug = next(c[1] for c in fake(nm).calls if c[0] == "plug")
    assert plug["gateway"] is None
    assert "drop" in fake(nm).scripts()[-2]


def test_none_host_and_container_modes(nm: NetworkManager) -> None:
    none = nm.setup(SandboxRequest(CID, network="none", ports=parse_port_specs(["80"])))
    assert none.netns == nm.netns_path(CID)
    (ep,) = none.settings["Networks"].values()
    assert ep["NetworkID"] == nm.inspect_network("none")["Id"]
    assert (ep["IPAddress"], ep["EndpointID"], ep["Aliases"], ep["IPAMConfig"]) == (
        "",
        "",
        None,
        None,
    )
    assert not any(c[0] == "plug" for c in fake(nm).calls)
    joined = nm.setup(SandboxRequest(CID2, network=f"container:{CID}"))
    assert joined.netns == none.netns and joined.files_from == CID
    nm.release(CID2)
    assert fake(nm).netns == {none.netns}  # the joiner does not own the namespace
    host = nm.setup(SandboxRequest("c" * 64, network="host", ports=parse_port_specs(["80"])))
    assert host.netns is None and host.warnings
    with pytest.raises(NotFound):
        nm.setup(SandboxRequest("d" * 64, network="container:" + "e" * 64))


def test_connect_and_disconnect(nm: NetworkManager) -> None:
    nm.create_network("second", subnet="10.8.0.0/24")
    nm.setup(SandboxRequest(CID, name="web"))
    ep = nm.connect(CID, "second", aliases=["w"])
    assert ep["IPAddress"] == "10.8.0.2" and ep["Aliases"] == ["w"]
    plugs = [c[1] for c in fake(nm).calls if c[0] == "plug"]
    assert [p["ifname"] for p in plugs] == ["eth0", "eth1"]
    assert plugs[1]["gateway"] is None  # the first network keeps the default route
    with pytest.raises(Conflict, match="already exists in network second"):
        nm.connect(CID, "second")
    nm.disconnect(CID, "second")
    assert ("dellink", plugs[1]["host_ifname"]) in fake(nm).calls
    with pytest.raises(NotFound):
        nm.disconnect(CID, "second")
    nm.disconnect(CID, "second", force=True)


def test_reconcile_drops_dead_containers(nm: NetworkManager, tmp_path: Path) -> None:
    nm.setup(SandboxRequest(CID, ports=parse_port_specs(["8080:80"])))
    nm.setup(SandboxRequest(CID2))
    stray = Path(nm.netns_dir) / ("f" * 64)
    stray.touch()
    fake(nm).links["bvdeadbeef0000"] = 7  # a veth on our bridge that no endpoint owns
    gone = nm.reconcile({CID2})
    assert gone == sorted([CID, "f" * 64])
    assert [r[0] for r in nm.db.query("SELECT container_id FROM sandboxes")] == [CID2]
    assert nm.db.query("SELECT * FROM ports") == []
    assert ("dellink", "bvdeadbeef0000") in fake(nm).calls
    assert "pub_any" in fake(nm).scripts()[-1] and "8080" not in fake(nm).scripts()[-1]


def test_names_of_an_engine_depend_on_its_root(tmp_path: Path) -> None:
    from berth.network.manager import engine_names

    assert engine_names("/var/lib/berth") == ("berth0", "berth")
    one = engine_names(str(tmp_path / "a"))
    two = engine_names(str(tmp_path / "b"))
    assert one != two and one == engine_names(str(tmp_path / "a") + "/")
    for bridge, table in (one, two):
        assert bridge.startswith("berth") and len(bridge) <= 15  # IFNAMSIZ - 1
        assert table.startswith("berth_")


def test_the_installed_table_is_recorded_and_uninstalled(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "berth.db"))
    host = FakeHost()
    first = NetworkManager(
        db, str(tmp_path / "run"), host=host, table="berth_x", embedded_dns=False
    )  # type: ignore[arg-type]
    first.start(set())
    # the same engine started with another table name: the old table goes first
    second = NetworkManager(
        db, str(tmp_path / "run"), host=host, table="berth_y", embedded_dns=False
    )  # type: ignore[arg-type]
    second.start(set())
    assert "delete table ip berth_x" in host.scripts()[-2]
    second.setup(SandboxRequest(CID, ports=parse_port_specs(["8080:80"])))
    # teardown does not know the name: it works on the table the database recorded,
    # also when releasing a container rebuilds the rules (its elements were gone)
    third = NetworkManager(db, str(tmp_path / "run"), host=host, embedded_dns=False)  # type: ignore[arg-type]
    real_nft = host.nft

    def nft(script: str, what: str = "") -> str:
        if script.startswith("delete element"):
            raise KernelError("nft", what, 2)
        return real_nft(script, what)

    host.nft = nft  # type: ignore[method-assign]
    third.uninstall()
    assert "table ip berth_y {" in host.scripts()[-2]  # the rebuild
    assert host.scripts()[-1] == "table ip berth_y {}\ndelete table ip berth_y\n"
    assert not any("table ip berth {" in s for s in host.scripts())
    assert ("dellink", "berth0") in host.calls
    db.close()


def test_a_bridge_deleted_under_the_engine_is_made_again(nm: NetworkManager) -> None:
    host = fake(nm)
    real_plug = host.plug
    tries: list[str] = []

    def plug(inside: FakeInside, **kw: Any) -> None:
        tries.append(kw["bridge"])
        if kw["bridge"] not in host.links:
            raise KernelError("netlink getlink", kw["bridge"], 19)
        real_plug(inside, **kw)

    host.plug = plug  # type: ignore[method-assign]
    del host.links["berth0"]  # someone removed it
    sb = nm.setup(SandboxRequest(CID))
    assert tries == ["berth0", "berth0"] and sb.settings["IPAddress"] == "172.18.0.2"
    assert ("bridge", "berth0", "172.18.0.1", 16, 1500) in host.calls[-4:]


def test_daemon_dns_defaults_and_host_mode_files(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "berth.db"))
    m = NetworkManager(
        db,
        str(tmp_path / "run"),
        host=FakeHost(),  # type: ignore[arg-type]
        embedded_dns=False,
        dns=["1.1.1.1"],
        dns_search=["corp.example"],
        dns_options=["ndots:2"],
        default_subnet="10.20.0.0/16",
        default_gateway="10.20.0.254",
    )
    m.start(set())
    sb = m.setup(SandboxRequest(CID))
    assert sb.resolv_conf is not None
    assert "nameserver 1.1.1.1\nsearch corp.example\noptions ndots:2\n" in sb.resolv_conf
    assert sb.settings["Gateway"] == "10.20.0.254" and sb.settings["IPAddress"] == "10.20.0.1"
    own = m.setup(SandboxRequest(CID2, dns=["9.9.9.9"]))
    assert own.resolv_conf is not None and "nameserver 9.9.9.9\n" in own.resolv_conf
    host = m.setup(SandboxRequest("c" * 64, network="host", hostname="myhost"))
    assert host.hostname == "myhost\n"
    db.close()


def test_dns_answers_names_with_the_network_suffix(nm: NetworkManager) -> None:
    nm.create_network("mynet", subnet="10.7.0.0/24")
    nm.setup(SandboxRequest(CID, name="alpha", network="mynet", aliases=["db"]))
    nm.setup(SandboxRequest(CID2, name="beta", network="mynet"))
    assert nm._lookup(CID2, "alpha.mynet") == ["10.7.0.2"]
    assert nm._lookup(CID2, "db.mynet") == ["10.7.0.2"]
    assert nm._lookup(CID2, "alpha.other") is None


def test_stopped_settings_clear_the_operational_data(nm: NetworkManager) -> None:
    from berth.network.views import stopped_settings

    nm.create_network("mynet", subnet="10.7.0.0/24")
    sb = nm.setup(
        SandboxRequest(CID, network="mynet", aliases=["db"], ports=parse_port_specs(["80"]))
    )
    before = sb.settings
    after = stopped_settings(before)
    assert after["Ports"] == {} and after["SandboxKey"] == "" and after["IPAddress"] == ""
    ep = after["Networks"]["mynet"]
    assert ep["NetworkID"] == before["Networks"]["mynet"]["NetworkID"]
    assert ep["Aliases"] == ["db"]
    assert (ep["IPAddress"], ep["Gateway"], ep["EndpointID"], ep["IPPrefixLen"]) == ("", "", "", 0)
    assert before["Networks"]["mynet"]["IPAddress"] == "10.7.0.2"  # not changed in place
    assert stopped_settings({}) == {} and stopped_settings(None) == {}
