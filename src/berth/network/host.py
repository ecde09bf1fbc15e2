"""The kernel operations the network manager makes, behind one object.

:class:`HostNet` is the real one (netlink, netns, nftables, sysctls, /proc);
unit tests give the manager a recording fake with the same methods. It
holds one rtnetlink socket and one libnftables context for the host's
network namespace, opened on first use and serialized by a lock.

:class:`Inside` is a container's network namespace opened for configuration:
a netlink socket created in it and, when the container gets the embedded
DNS, the UDP and TCP sockets bound to 127.0.0.11:53 there.
"""

from __future__ import annotations

import os

from berth.errors import KernelError
from berth.kernel import netns
from berth.kernel.netlink import RtNetlink
from berth.network.ipam import Subnet, ip_to_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

    from berth.kernel.nft import Nft

ENODEV = 19
EEXIST = 17
DNS_ADDRESS = "127.0.0.11"
#: Network namespaces made ahead of the containers that take them (see HostNet.create_netns)
SPARES = 2


class Inside:
    """A container netns open for configuration (close it when done)."""

    __slots__ = ("nl", "path", "tcp", "udp")

    def __init__(
        self,
        path: str,
        nl: RtNetlink,
        udp: socket.socket | None = None,
        tcp: socket.socket | None = None,
    ) -> None:
        self.path = path
        self.nl = nl
        self.udp = udp
        self.tcp = tcp

    def take_dns(self) -> tuple[socket.socket, socket.socket] | None:
        """Hand the DNS sockets over to the resolver (they are no longer closed here)."""
        if self.udp is None or self.tcp is None:
            return None
        socks = (self.udp, self.tcp)
        self.udp = self.tcp = None
        return socks

    def close(self) -> None:
        self.nl.close()
        for s in (self.udp, self.tcp):
            if s is not None:
                s.close()


def _open_inside(path: str, dns: bool) -> Callable[[], Inside]:
    def fn() -> Inside:
        nl = RtNetlink()
        if not dns:
            return Inside(path, nl)
        try:
            udp, tcp = dns_sockets()
        except BaseException:
            nl.close()
            raise
        return Inside(path, nl, udp, tcp)

    return fn


def dns_sockets() -> tuple[socket.socket, socket.socket]:
    """UDP and TCP sockets on 127.0.0.11:53 in the calling thread's netns."""
    import socket

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        udp.bind((DNS_ADDRESS, 53))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((DNS_ADDRESS, 53))
        tcp.listen(64)
        udp.setblocking(False)
        tcp.setblocking(False)
    except OSError as e:
        udp.close()
        tcp.close()
        raise KernelError("bind", f"{DNS_ADDRESS}:53", e.errno or 5) from None
    return udp, tcp


class HostNet:
    """Real kernel operations, in the netns of the process that made this object."""

    def __init__(self, proc: str = "/proc") -> None:
        import threading

        self._proc = proc
        self._lock = threading.RLock()
        self._nl: RtNetlink | None = None
        self._nft: Nft | None = None
        from berth.janitor import Janitor

        # deletes veths in the background (delete_links_later), with a socket of its
        # own (_reaper_nl, used on its thread only): setups do not wait for it, nor
        # (after the janitor's short delay) does the exit that let them go
        self._reaper = Janitor("berth-veth-reaper")
        self._reaper_nl: RtNetlink | None = None
        # spare namespaces (a descriptor and a netlink socket in each), made by _spares
        # after a start has taken one, so that the next start need not wait for one
        self._spare: list[tuple[int, RtNetlink]] = []
        self._spares = Janitor("berth-netns-spares", delay=0.02)
        self._closed = False

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._spares.close(10.0)
        self._reaper.close(10.0)
        with self._lock:
            for fd, nl in self._spare:
                os.close(fd)
                nl.close()
            self._spare = []
            if self._reaper_nl is not None:
                self._reaper_nl.close()
                self._reaper_nl = None
            if self._nl is not None:
                self._nl.close()
                self._nl = None
            if self._nft is not None:
                self._nft.close()
                self._nft = None

    @property
    def nl(self) -> RtNetlink:
        if self._nl is None:
            self._nl = RtNetlink()
        return self._nl

    # -- host facts -------------------------------------------------------------
    def route_subnets(self) -> list[Subnet]:
        """Destinations of the host's IPv4 routes (main table), default route excluded."""
        with self._lock:
            routes = self.nl.routes()
        return [Subnet(ip_to_int(r.dst), r.dst_len) for r in routes if r.dst_len > 0]

    def listening(self) -> dict[str, dict[int, list[str]]]:
        """``{"tcp": {port: [addresses]}, "udp": {...}}``: the host's listening TCP and
        bound UDP sockets (sock_diag; /proc/net/* text when that is unavailable)."""
        from berth.kernel import netlink
        from berth.network import hostinfo

        try:
            out: dict[str, dict[int, list[str]]] = {"tcp": {}, "udp": {}}
            for family, proto, state in (
                ("tcp", 6, netlink.TCP_LISTEN_STATE),
                ("udp", 17, netlink.UDP_BOUND_STATE),
            ):
                for addr, port in netlink.bound_sockets(proto, state):
                    out[family].setdefault(port, []).append(addr)
            return out
        except (KernelError, OSError):
            return hostinfo.listening(hostinfo.read_tables(f"{self._proc}/net"))

    def local_port_range(self) -> tuple[int, int]:
        from berth.network.hostinfo import parse_port_range_sysctl

        return parse_port_range_sysctl(self.sysctl("net/ipv4/ip_local_port_range"))

    def read_file(self, path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    def sysctl(self, name: str) -> str:
        with open(f"{self._proc}/sys/{name}") as f:
            return f.read().strip()

    def set_sysctl(self, name: str, value: str) -> None:
        path = f"{self._proc}/sys/{name}"
        try:
            with open(path) as f:
                if f.read().strip() == value:
                    return
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise KernelError("write", path, e.errno or 5) from None

    # -- links ------------------------------------------------------------------
    def link_names(self) -> dict[str, int]:
        """name -> master index of every link of the host."""
        with self._lock:
            return {link.name: link.master for link in self.nl.links()}

    def link_index(self, name: str) -> int | None:
        with self._lock:
            try:
                return self.nl.index(name)
            except KernelError as e:
                if e.errno == ENODEV:
                    return None
                raise

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int, mtu: int = 0) -> None:
        """The bridge ``name`` exists, is up and has ``gateway/prefixlen``; route_localnet
        and arp_announce=2 on it (both go away with the bridge)."""
        with self._lock:
            nl = self.nl
            index = self.link_index(name)
            if index is None:
                nl.add_bridge(name, mtu=mtu or None)
                index = nl.index(name)
            if not any(
                a.address == gateway and a.prefixlen == prefixlen for a in nl.addresses(index)
            ):
                nl.add_address(index, gateway, prefixlen)
            nl.set_link(index, up=True)
        self.set_sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")
        # ARP for containers from the bridge's own address, never from 127.0.0.1
        # (the source of DNAT'ed loopback traffic), which containers ignore as martian.
        self.set_sysctl(f"net/ipv4/conf/{name}/arp_announce", "2")

    def delete_link(self, name: str) -> bool:
        """Delete a link; False when there was none."""
        with self._lock:
            try:
                self.nl.delete_link(name)
            except KernelError as e:
                if e.errno == ENODEV:
                    return False
                raise
        return True

    def delete_links_later(self, names: list[str]) -> None:
        """Delete links from a background thread (a :class:`berth.janitor.Janitor`).

        Deleting a veth costs the kernel an RCU grace period (~20 ms here);
        once a container's netns is unpinned its destruction removes the pair
        anyway, so the caller need not wait. A link that is still there (the
        netns is held by something else) is deleted here; :meth:`settle` waits.
        """
        for name in names:
            self._reaper.later(self._delete_quietly, name)

    def _delete_quietly(self, name: str) -> None:
        if self._reaper_nl is None:
            self._reaper_nl = RtNetlink()
        try:
            self._reaper_nl.delete_link(name)
        except KernelError:
            pass  # ENODEV: the netns took it along already

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until every link handed to :meth:`delete_links_later` is gone."""
        return self._reaper.drain(timeout)

    # -- container namespaces ---------------------------------------------------
    def create_netns(self, path: str, dns: bool) -> Inside:
        """A new netns pinned at ``path``, lo up, open for configuration.

        Making a netns costs the kernel ~1 ms (every subsystem sets up its part),
        a third of a container's network setup. So spare ones are made in the
        background, held by a descriptor only (nothing on the host names them; they
        end with this process), and a start takes one and pins it (and, for the
        embedded DNS, binds its sockets in it). The first start, and starts that
        come faster than the spares are made, make their own.
        """
        with self._lock:
            spare = self._spare.pop() if self._spare else None
        self._refill()
        if spare is None:
            inside = netns.create(path, _open_inside(path, dns))
            assert inside is not None
            return inside
        fd, nl = spare
        try:
            netns.pin(fd, path)
        except BaseException:
            nl.close()
            raise
        finally:
            os.close(fd)
        if not dns:
            return Inside(path, nl)
        try:
            udp, tcp = netns.run_in(path, dns_sockets)
        except BaseException:
            nl.close()
            netns.remove(path)
            raise
        return Inside(path, nl, udp, tcp)

    def spare_netns(self) -> list[int]:
        """The inode numbers of the spare namespaces, once those being made are made."""
        self._spares.drain()
        with self._lock:
            return [os.fstat(fd).st_ino for fd, _ in self._spare]

    def _refill(self) -> None:
        with self._lock:
            if not self._closed and len(self._spare) < SPARES:
                self._spares.later(self._make_spares)

    def _make_spares(self) -> None:
        while True:
            with self._lock:
                if self._closed or len(self._spare) >= SPARES:
                    return
            fd, nl = netns.create_unpinned(RtNetlink)
            with self._lock:
                if self._closed:
                    os.close(fd)
                    nl.close()
                    return
                self._spare.append((fd, nl))

    def open_netns(self, path: str, dns: bool) -> Inside:
        return netns.run_in(path, _open_inside(path, dns))

    def remove_netns(self, path: str) -> bool:
        return netns.remove(path)

    def plug(
        self,
        inside: Inside,
        *,
        bridge: str,
        host_ifname: str,
        ifname: str,
        address: str,
        prefixlen: int,
        gateway: str | None,
        mac: str,
        mtu: int = 0,
    ) -> None:
        """A veth from ``bridge`` into the container: ``ifname`` with its address,
        up, and a default route via ``gateway`` (None: no route out)."""
        fd = netns.open_fd(inside.path)
        try:
            with self._lock:
                nl = self.nl
                master = nl.index(bridge)
                nl.add_veth(
                    host_ifname,
                    ifname,
                    peer_netns_fd=fd,
                    mtu=mtu or None,
                    peer_address=mac,
                    master=master,
                    up=True,
                )
                try:
                    nl.set_hairpin(nl.index(host_ifname))
                except BaseException:
                    self.delete_link(host_ifname)
                    raise
        finally:
            os.close(fd)
        try:
            inner = inside.nl
            index = inner.index(ifname)
            inner.add_address(index, address, prefixlen)
            inner.set_link(index, up=True)
            if gateway:
                inner.add_route(gateway=gateway, oif=index)
        except BaseException:
            self.delete_link(host_ifname)
            raise

    # -- nftables ---------------------------------------------------------------
    def nft(self, script: str, what: str = "berth rules") -> str:
        with self._lock:
            if self._nft is None:
                from berth.kernel.nft import Nft

                self._nft = Nft()
            return self._nft.run(script, what)
