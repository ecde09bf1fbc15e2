"""The network manager on the real host: bridges, veths, NAT, published ports, DNS.

Containers are network namespaces the tests create through the manager;
servers are child processes that entered them. The ``network_manager``
fixture removes everything and restores the sysctls afterwards, and the
host-state check fails a test that leaves anything behind.
"""

from __future__ import annotations

import os
import socket
import subprocess
from typing import Any

import pytest

from berth.errors import Conflict
from berth.kernel.netlink import RtNetlink
from berth.network.manager import NetworkManager
from berth.network.portspec import parse_port_specs
from berth.network.sandbox import SandboxRequest
from support.fixtures_network import BRIDGE, TABLE, UPSTREAM_ANSWER
from support.network_helpers import fetch, fetch_from, in_netns, resolve_in, tcp_server

HOST_IP = "192.0.2.2"
A, B, C = "a" * 64, "b" * 64, "c" * 64


def _links_in(path: str) -> list[str]:
    out = in_netns(path, lambda: sorted(link.name for link in RtNetlink().links()))
    return eval(out)  # type: ignore[no-any-return]


def _host_links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def _nft(cmd: str) -> str:
    return subprocess.run(["nft", cmd], capture_output=True, text=True, check=False).stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_user_network_ip_and_name_resolution(network_manager: Any) -> None:
    nm: NetworkManager = network_manager
    nm.create_network("tnet", subnet="10.123.0.0/24")
    a = nm.setup(SandboxRequest(A, name="alpha", network="tnet", aliases=["db"]))
    b = nm.setup(SandboxRequest(B, name="beta", network="tnet"))
    assert a.netns and b.netns
    assert _links_in(a.netns) == ["eth0", "lo"]
    with tcp_server(a.netns, 80):
        assert fetch_from(b.netns, "10.123.0.2", 80) == "hello 10.123.0.3"
        assert resolve_in(b.netns, "alpha") == "(0, ['10.123.0.2'])"
        assert resolve_in(b.netns, "db.") == "(0, ['10.123.0.2'])"
        assert resolve_in(b.netns, A[:12]) == "(0, ['10.123.0.2'])"
        assert resolve_in(b.netns, "alpha", qtype=28) == "(0, [])"  # AAAA: empty answer
        assert resolve_in(a.netns, "BETA") == "(0, ['10.123.0.3'])"
        # not a container: forwarded from the host's namespace to the upstream
        assert resolve_in(a.netns, "pypi.example") == f"(0, ['{UPSTREAM_ANSWER}'])"

        # by name, as a program in the container would: resolv.conf -> 127.0.0.11
        def by_name() -> str:
            from berth.network import dnsmsg

            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(3)
            s.sendto(dnsmsg.query("alpha"), ("127.0.0.11", 53))
            ip = ".".join(str(x) for x in dnsmsg.parse(s.recv(512)).answers[0].rdata)
            with socket.create_connection((ip, 80), timeout=3) as conn:
                return conn.recv(100).decode()

        assert in_netns(b.netns, by_name) == "'hello 10.123.0.3'"

        # TCP DNS too
        def over_tcp() -> list[bytes]:
            from berth.network import dnsmsg

            with socket.create_connection(("127.0.0.11", 53), timeout=3) as s:
                q = dnsmsg.query("beta")
                s.sendall(len(q).to_bytes(2, "big") + q)
                data = s.recv(4096)
            return [r.rdata for r in dnsmsg.parse(data[2:]).answers]

        assert in_netns(a.netns, over_tcp) == repr([bytes([10, 123, 0, 3])])
    assert a.resolv_conf is not None and "nameserver 127.0.0.11" in a.resolv_conf
    # the default bridge has no embedded DNS (Docker behaviour)
    c = nm.setup(SandboxRequest(C, name="gamma"))
    assert c.resolv_conf is not None and "127.0.0.11" not in c.resolv_conf
    assert c.netns and "!" in resolve_in(c.netns, "alpha", timeout=0.3)


def test_published_port_answers_on_loopback_host_address_and_hairpin(network_manager: Any) -> None:
    nm: NetworkManager = network_manager
    port, port2 = _free_port(), _free_port()
    a = nm.setup(SandboxRequest(A, ports=parse_port_specs([f"{port}:80", f"127.0.0.1:{port2}:80"])))
    b = nm.setup(SandboxRequest(B))
    assert a.netns and b.netns
    ip_a = a.settings["IPAddress"]
    gw = a.settings["Gateway"]
    with tcp_server(a.netns, 80):
        # from the host itself: loopback (route_localnet + masquerade) and its own address
        assert fetch("127.0.0.1", port) == f"hello {gw}"
        assert fetch(HOST_IP, port).startswith("hello ")
        assert fetch("127.0.0.1", port2) == f"hello {gw}"
        assert fetch(HOST_IP, port2).startswith("!")  # bound to 127.0.0.1 only
        # directly at the container's address
        assert fetch(ip_a, 80).startswith("hello ")
        # from another container, through the published port (hairpin NAT)
        assert fetch_from(b.netns, HOST_IP, port) == f"hello {gw}"
        # and from the container itself, back to its own published port
        assert fetch_from(a.netns, gw, port) == f"hello {gw}"
    elements = _nft(f"list map ip {TABLE} pub_any")
    assert f"tcp . {port} : {ip_a} . 80" in elements
    nm.release(A)
    assert f"{port}" not in _nft(f"list map ip {TABLE} pub_any")
    assert fetch("127.0.0.1", port).startswith("!")


def test_taken_ports_are_refused_clearly(network_manager: Any) -> None:
    nm: NetworkManager = network_manager
    port = _free_port()
    nm.setup(SandboxRequest(A, ports=parse_port_specs([f"{port}:80"])))
    with pytest.raises(Conflict) as e:
        nm.setup(SandboxRequest(B, ports=parse_port_specs([f"{port}:8080"])))
    assert str(e.value) == (
        f"Bind for 0.0.0.0:{port} failed: port is already allocated "
        f"(published by container {A[:12]}); choose another host port"
    )
    assert not os.path.exists(nm.netns_path(B))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        taken = listener.getsockname()[1]
        with pytest.raises(Conflict, match=rf"127\.0\.0\.1:{taken}\)"):
            nm.setup(SandboxRequest(C, ports=parse_port_specs([f"{taken}:80"])))


def test_internal_network_has_no_way_out(network_manager: Any, outside_netns: str) -> None:
    nm: NetworkManager = network_manager
    nm.create_network("inner", subnet="10.124.0.0/24", internal=True)
    a = nm.setup(SandboxRequest(A, network="inner"))
    b = nm.setup(SandboxRequest(B, network="inner"))
    c = nm.setup(SandboxRequest(C))
    assert a.netns and b.netns and c.netns
    with tcp_server(outside_netns, 9000), tcp_server(a.netns, 80):
        assert fetch_from(b.netns, "10.124.0.2", 80) == "hello 10.124.0.3"  # inside: fine
        assert "unreachable" in fetch_from(a.netns, "198.51.100.2", 9000, timeout=1)
        # a container on the default bridge cannot get in either
        assert fetch_from(c.netns, "10.124.0.2", 80, timeout=1).startswith("!")
        # and the routing table has no way out
        routes = in_netns(a.netns, lambda: [(r.dst, r.dst_len) for r in RtNetlink().routes()])
        assert routes == "[('10.124.0.0', 24)]"


def test_masquerade_reaches_a_server_outside(network_manager: Any, outside_netns: str) -> None:
    nm: NetworkManager = network_manager
    a = nm.setup(SandboxRequest(A))
    assert a.netns
    with tcp_server(outside_netns, 9000), tcp_server(None, _port := _free_port()):
        # the outside has no route to the container: it answers the masqueraded source
        assert fetch_from(a.netns, "198.51.100.2", 9000) == "hello 198.51.100.1"
        # the host's own address is reachable too (input path, no NAT)
        assert fetch_from(a.netns, HOST_IP, _port) == f"hello {a.settings['IPAddress']}"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "1"


def test_network_none_has_only_lo(network_manager: Any) -> None:
    nm: NetworkManager = network_manager
    sb = nm.setup(SandboxRequest(A, network="none"))
    assert sb.netns is not None
    assert _links_in(sb.netns) == ["lo"]


def test_starts_take_spare_namespaces_made_in_the_background(network_manager: Any) -> None:
    from berth.network.host import SPARES

    nm: NetworkManager = network_manager
    first = nm.setup(SandboxRequest(A))
    assert first.netns is not None
    spares = nm.host.spare_netns()  # made after the first start took none
    assert len(spares) == SPARES
    second = nm.setup(SandboxRequest(B))
    third = nm.setup(SandboxRequest(C, network="none"))
    assert second.netns is not None and third.netns is not None
    taken = {os.stat(second.netns).st_ino, os.stat(third.netns).st_ino}
    assert taken <= set(spares) and len(taken) == 2
    # each is a fresh namespace of its own, configured as any other
    assert _links_in(second.netns) == ["eth0", "lo"]
    assert _links_in(third.netns) == ["lo"]
    ip1, ip2 = first.settings["IPAddress"], second.settings["IPAddress"]
    assert ip1 and ip2 and ip1 != ip2
    with tcp_server(first.netns, 80):
        assert fetch_from(second.netns, ip1, 80) == f"hello {ip2}"
    for cid in (A, B, C):
        nm.release(cid)
    nm.host.close()
    assert nm.host.spare_netns() == []


def test_a_spare_namespace_gets_the_embedded_dns(network_manager: Any) -> None:
    nm: NetworkManager = network_manager
    nm.create_network("tnet", subnet="10.126.0.0/24")
    a = nm.setup(SandboxRequest(A, name="alpha", network="tnet"))
    spares = nm.host.spare_netns()
    b = nm.setup(SandboxRequest(B, name="beta", network="tnet"))
    assert a.netns and b.netns and os.stat(b.netns).st_ino in spares
    assert resolve_in(b.netns, "alpha") == "(0, ['10.126.0.2'])"
    assert resolve_in(a.netns, "beta") == "(0, ['10.126.0.3'])"
    assert resolve_in(b.netns, "pypi.example") == f"(0, ['{UPSTREAM_ANSWER}'])"


def test_a_deferred_setup_leaves_the_kernel_side_to_finish(network_manager: Any) -> None:
    # what the engine does: the runtime creates the container meanwhile
    nm: NetworkManager = network_manager
    port = _free_port()
    sb = nm.setup(SandboxRequest(A, ports=parse_port_specs([f"{port}:80"])), defer=True)
    assert sb.netns and sb.finish is not None
    ip, gw = sb.settings["IPAddress"], sb.settings["Gateway"]
    assert ip and sb.hosts and f"{ip}\t" in sb.hosts  # the address and files are ready
    assert _links_in(sb.netns) == ["lo"]  # nothing is plugged in yet
    assert f"{port}" not in _nft(f"list map ip {TABLE} pub_any")
    assert sb.settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
    sb.finish()
    assert _links_in(sb.netns) == ["eth0", "lo"]
    with tcp_server(sb.netns, 80):
        assert fetch("127.0.0.1", port) == f"hello {gw}"
    nm.release(A)
    # the host ports are picked at setup: a taken one is refused then, leaving nothing
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        taken = listener.getsockname()[1]
        with pytest.raises(Conflict, match=rf"127\.0\.0\.1:{taken}\)"):
            nm.setup(SandboxRequest(B, ports=parse_port_specs([f"{taken}:80"])), defer=True)
    assert not os.path.exists(nm.netns_path(B))
    for table in ("sandboxes", "endpoints", "ports"):
        assert nm.db.query(f"SELECT * FROM {table}") == []
    # a start that fails before its finish runs: release closes the namespace it kept open
    sb = nm.setup(SandboxRequest(B), defer=True)
    kept = nm._unfinished[B]
    nm.release(B)
    assert kept.nl._sock.fileno() == -1 and B not in nm._unfinished
    assert not os.path.exists(nm.netns_path(B))
    # and without defer (or on --network none) there is nothing left to finish
    assert nm.setup(SandboxRequest(C)).finish is None
    assert nm.setup(SandboxRequest(A, network="none"), defer=True).finish is None


def test_release_leaves_nothing(network_manager: Any) -> None:
    nm: NetworkManager = network_manager
    nm.create_network("tnet", subnet="10.125.0.0/24")
    before = _host_links()
    port = _free_port()
    sb = nm.setup(SandboxRequest(A, network="tnet", ports=parse_port_specs([f"{port}:80"])))
    nm.connect(A, "bridge")
    assert sb.netns
    assert _links_in(sb.netns) == ["eth0", "eth1", "lo"]
    veths = _host_links() - before
    assert len(veths) == 2 and all(v.startswith("bv") for v in veths)
    with tcp_server(sb.netns, 80):
        pass  # the container's processes are gone before the release
    nm.release(A)
    assert not os.path.exists(sb.netns)
    nm.settle()
    assert _host_links() == before
    assert not os.path.exists(sb.netns)
    assert str(port) not in _nft(f"list table ip {TABLE}")
    for table in ("sandboxes", "endpoints", "ports"):
        assert nm.db.query(f"SELECT * FROM {table}") == []
    assert nm.dns is not None and nm.dns.keys() == set()


def test_restart_after_a_crash_reconciles(
    network_manager: Any, tmp_path: Any, dns_upstream: int
) -> None:
    nm: NetworkManager = network_manager
    nm.create_network("tnet", subnet="10.126.0.0/24")
    before = _host_links()
    port = _free_port()
    dead = nm.setup(
        SandboxRequest(A, name="dead", network="tnet", ports=parse_port_specs([f"{port}:80"]))
    )
    live = nm.setup(SandboxRequest(B, name="live", network="tnet"))
    assert dead.netns and live.netns
    nm.close()  # the daemon dies: containers keep their network, nothing is released

    again = NetworkManager(
        nm.db,
        os.path.dirname(nm.netns_dir),
        table=TABLE,
        default_bridge=BRIDGE,
        dns_upstreams=[("127.0.0.1", dns_upstream)],
    )
    network_manager.dns = None
    try:
        again.start({B})
        assert not os.path.exists(dead.netns)
        again.settle()
        assert len(_host_links() - before) == 1  # the live container's veth only
        assert str(port) not in _nft(f"list table ip {TABLE}")
        # the live container's DNS is served again by the new daemon
        assert resolve_in(live.netns, "live") == "(0, ['10.126.0.3'])"
        assert resolve_in(live.netns, "dead") == f"(0, ['{UPSTREAM_ANSWER}'])"
    finally:
        again.close()
