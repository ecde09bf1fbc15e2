"""A recording fake of :class:`berth.network.host.HostNet` for the manager's unit tests."""

from __future__ import annotations

from typing import Any

from berth.errors import KernelError
from berth.network import hostinfo
from berth.network.ipam import Subnet


class FakeInside:
    def __init__(self, path: str) -> None:
        self.path = path
        self.closed = False

    def take_dns(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


class FakeHost:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.links: dict[str, int] = {}
        self.netns: set[str] = set()
        self.tables = {"tcp": "header\n"}
        self.fail_plug = False
        self.sysctls: dict[str, str] = {}

    def route_subnets(self) -> list[Subnet]:
        return [Subnet.parse("192.0.2.0/24"), Subnet.parse("172.17.0.0/16")]

    def listening(self) -> dict[str, dict[int, list[str]]]:
        return hostinfo.listening(self.tables)

    def local_port_range(self) -> tuple[int, int]:
        return 40000, 40010

    def read_file(self, path: str) -> str:
        return "nameserver 10.255.255.53\n" if path.endswith("resolv.conf") else ""

    def set_sysctl(self, name: str, value: str) -> None:
        self.sysctls[name] = value

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int, mtu: int = 0) -> None:
        self.calls.append(("bridge", name, gateway, prefixlen, mtu))
        self.links[name] = 0

    def delete_link(self, name: str) -> bool:
        self.calls.append(("dellink", name))
        return self.links.pop(name, None) is not None

    def delete_links_later(self, names: list[str]) -> None:
        for name in names:
            self.delete_link(name)

    def settle(self) -> None:
        pass

    def link_names(self) -> dict[str, int]:
        return dict(self.links)

    def link_index(self, name: str) -> int | None:
        return 7 if name in self.links else None

    def create_netns(self, path: str, dns: bool) -> FakeInside:
        self.calls.append(("netns", path, dns))
        self.netns.add(path)
        return FakeInside(path)

    def open_netns(self, path: str, dns: bool) -> FakeInside:
        return FakeInside(path)

    def remove_netns(self, path: str) -> bool:
        self.calls.append(("rmnetns", path))
        found = path in self.netns
        self.netns.discard(path)
        return found

    def plug(self, inside: FakeInside, **kw: Any) -> None:
        if self.fail_plug:
            raise KernelError("netlink newlink", kw["host_ifname"], 17)
        self.calls.append(("plug", kw))
        self.links[kw["host_ifname"]] = 7

    def nft(self, script: str, what: str = "") -> str:
        self.calls.append(("nft", script))
        return ""

    def close(self) -> None:
        pass

    def scripts(self) -> list[str]:
        return [c[1] for c in self.calls if c[0] == "nft"]
