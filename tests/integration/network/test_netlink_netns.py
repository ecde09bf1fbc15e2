"""berth's rtnetlink layer, netns files and libnftables binding on the real kernel.

Every link is made inside namespaces the test creates, so the host's own
network is never touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from berth.errors import KernelError
from berth.kernel import netns
from berth.kernel.netlink import RtNetlink
from berth.kernel.nft import Nft, NftError
from berth.network import nftplan
from support.network_helpers import fetch_from, tcp_server


def test_netns_create_enter_remove(tmp_path: Path) -> None:
    path = str(tmp_path / "ns")
    inode = netns.create(path, lambda: os.stat("/proc/thread-self/ns/net").st_ino)
    assert netns.is_pinned(path)
    assert os.stat(path).st_ino == inode != os.stat("/proc/self/ns/net").st_ino
    assert netns.run_in(path, lambda: os.stat("/proc/thread-self/ns/net").st_ino) == inode
    links = netns.run_in(path, lambda: [(link.name, link.up) for link in RtNetlink().links()])
    assert links == [("lo", True)]
    assert netns.remove(path) is True
    assert not os.path.exists(path)
    assert netns.remove(path) is False


def test_netns_create_failure_leaves_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "ns")

    def boom() -> None:
        raise RuntimeError("inside failed")

    with pytest.raises(RuntimeError, match="inside failed"):
        netns.create(path, boom)
    assert not os.path.exists(path)


def test_unpinned_netns_is_held_by_its_fd_then_pinned(tmp_path: Path) -> None:
    fd, inode = netns.create_unpinned(lambda: os.stat("/proc/thread-self/ns/net").st_ino)
    try:
        assert os.fstat(fd).st_ino == inode != os.stat("/proc/self/ns/net").st_ino
        assert os.listdir(tmp_path) == []  # nothing names it yet
        path = str(tmp_path / "ns")
        netns.pin(fd, path)
    finally:
        os.close(fd)
    try:
        assert netns.is_pinned(path) and os.stat(path).st_ino == inode
        links = netns.run_in(path, lambda: [(link.name, link.up) for link in RtNetlink().links()])
        assert links == [("lo", True)]
    finally:
        assert netns.remove(path) is True


def test_pin_onto_a_taken_path_is_refused_and_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "ns"
    path.write_text("someone else's")
    fd, _ = netns.create_unpinned(lambda: None)
    try:
        with pytest.raises(FileExistsError):
            netns.pin(fd, str(path))
    finally:
        os.close(fd)
    assert path.read_text() == "someone else's"
    assert not netns.is_pinned(str(path))


def test_bridge_veth_address_route_in_namespaces(tmp_path: Path) -> None:
    host_path, ctr_path = str(tmp_path / "h"), str(tmp_path / "c")
    host = netns.create(host_path, RtNetlink)
    ctr = netns.create(ctr_path, RtNetlink)
    assert host is not None and ctr is not None
    try:
        host.add_bridge("tbr0", mtu=1400)
        br = host.index("tbr0")
        host.add_address(br, "10.99.0.1", 24)
        host.set_link(br, up=True)
        fd = netns.open_fd(ctr_path)
        try:
            host.add_veth(
                "tv0",
                "eth0",
                peer_netns_fd=fd,
                master=br,
                mtu=1400,
                peer_address="02:42:0a:63:00:02",
                up=True,
            )
        finally:
            os.close(fd)
        veth = host.link("tv0")
        assert (veth.master, veth.mtu, veth.up, veth.kind) == (br, 1400, True, "veth")
        host.set_hairpin(veth.index)
        with pytest.raises(KernelError, match="File exists"):
            host.add_bridge("tbr0")
        assert not host.exists("nope0")

        e = ctr.index("eth0")
        ctr.add_address(e, "10.99.0.2", 24)
        ctr.set_link(e, up=True)
        ctr.add_route(gateway="10.99.0.1", oif=e)
        link = ctr.link("eth0")
        assert (link.address, link.mtu, link.up) == ("02:42:0a:63:00:02", 1400, True)
        assert [(a.address, a.prefixlen) for a in ctr.addresses(e)] == [("10.99.0.2", 24)]
        routes = {(r.dst, r.dst_len, r.gateway) for r in ctr.routes()}
        assert ("0.0.0.0", 0, "10.99.0.1") in routes and ("10.99.0.0", 24, "") in routes
        ctr.add_neighbour(e, "10.99.0.1", host.link("tbr0").address)

        # traffic crosses the bridge: a server in the "host" namespace answers
        with tcp_server(host_path, 8000):
            assert fetch_from(ctr_path, "10.99.0.1", 8000) == "hello 10.99.0.2"

        # rename, mtu, detach from the bridge, move into another namespace
        host.set_link(veth.index, up=False)
        host.set_link(veth.index, rename="tv1", mtu=1300, master=0)
        moved = host.link("tv1")
        assert (moved.mtu, moved.master, moved.up) == (1300, 0, False)
        fd = netns.open_fd(ctr_path)
        try:
            host.set_link(moved.index, netns_fd=fd)
        finally:
            os.close(fd)
        assert not host.exists("tv1") and ctr.exists("tv1")
        ctr.delete_link("tv1")  # takes its peer eth0 along
        assert [link.name for link in ctr.links()] == ["lo"]
    finally:
        host.close()
        ctr.close()
        netns.remove(host_path)
        netns.remove(ctr_path)


def test_planned_ruleset_loads_and_elements_change(tmp_path: Path) -> None:
    path = str(tmp_path / "ns")
    netns.create(path)
    nets = [nftplan.NetRule("b0", "172.30.0.0/16"), nftplan.NetRule("b1", "10.1.0.0/24", True)]
    ports = [nftplan.PortRule("tcp", "", 8080, "172.30.0.2", 80)]
    extra = [nftplan.PortRule("udp", "127.0.0.1", 53, "172.30.0.3", 53)]

    def work() -> tuple[str, str, str]:
        with Nft() as nft:
            nft.run(nftplan.ruleset("berth", nets, ports))
            nft.run(nftplan.ruleset("berth", nets, ports))  # re-applying replaces
            nft.run(nftplan.add_ports("berth", extra))
            both = nft.run("list map ip berth pub_addr") + nft.run("list map ip berth pub_any")
            nft.run(nftplan.delete_ports("berth", ports + extra))
            with pytest.raises(NftError, match="No such file or directory"):
                nft.run(nftplan.delete_ports("berth", extra))
            after = nft.run("list table ip berth")
            nft.run(nftplan.delete_table("berth"))
            nft.run(nftplan.delete_table("berth"))  # idempotent
            return both, after, nft.run("list tables")

    try:
        both, after, tables = netns.run_in(path, work)
    finally:
        netns.remove(path)
    assert "127.0.0.1 . udp . 53 : 172.30.0.3 . 53" in both
    assert "tcp . 8080 : 172.30.0.2 . 80" in both
    assert "8080" not in after and "172.30.0.3" not in after
    assert tables == ""


def test_sock_diag_lists_listeners_of_its_netns(tmp_path: Path) -> None:
    import socket

    from berth.kernel import netlink

    path = str(tmp_path / "ns")
    netns.create(path)

    def work() -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        with (
            socket.socket() as tcp,
            socket.socket(socket.AF_INET6) as tcp6,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
            socket.socket() as idle,
        ):
            tcp.bind(("127.0.0.1", 8123))
            tcp.listen(1)
            tcp6.bind(("::", 8124))
            tcp6.listen(1)
            udp.bind(("0.0.0.0", 5353))
            idle.bind(("127.0.0.1", 8125))  # bound, not listening: not a listener
            return (
                sorted(netlink.bound_sockets(6, netlink.TCP_LISTEN_STATE)),
                netlink.bound_sockets(17, netlink.UDP_BOUND_STATE),
            )

    try:
        tcp, udp = netns.run_in(path, work)
    finally:
        netns.remove(path)
    assert tcp == [("127.0.0.1", 8123), ("::", 8124)]
    assert udp == [("0.0.0.0", 5353)]
