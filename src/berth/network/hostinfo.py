"""What the host says about its ports: parsers of ``/proc/net/{tcp,udp}[6]`` text.

A published port conflicts with a socket of the host that listens (TCP,
state ``0A``) or is bound (UDP, state ``07``) on the same port and an
overlapping address (either side being the wildcard).
"""

from __future__ import annotations

TCP_LISTEN = "0A"
UDP_UNCONN = "07"


def _addr(hexaddr: str) -> str:
    """Kernel hex (host byte order words, little-endian here) -> text address."""
    if len(hexaddr) == 8:
        raw = bytes.fromhex(hexaddr)[::-1]
        return ".".join(str(b) for b in raw)
    words = [bytes.fromhex(hexaddr[i : i + 8])[::-1] for i in range(0, 32, 8)]
    raw = b"".join(words)
    if raw[:12] == b"\0" * 10 + b"\xff\xff":
        return ".".join(str(b) for b in raw[12:])  # v4-mapped
    if raw == b"\0" * 16:
        return "::"
    groups = [f"{int.from_bytes(raw[i : i + 2], 'big'):x}" for i in range(0, 16, 2)]
    return ":".join(groups)


def bound_ports(text: str, state: str) -> list[tuple[str, int]]:
    """(local address, port) of every socket in ``state`` in a /proc/net/* table."""
    out: list[tuple[str, int]] = []
    for line in text.splitlines()[1:]:
        fields = line.split(None, 4)
        if len(fields) < 4 or fields[3] != state:
            continue
        addr, _, port = fields[1].rpartition(":")
        try:
            out.append((_addr(addr), int(port, 16)))
        except ValueError:
            continue
    return out


def addresses_overlap(a: str, b: str) -> bool:
    wild = ("", "0.0.0.0", "::")
    return a in wild or b in wild or a == b


def listening(tables: dict[str, str]) -> dict[str, dict[int, list[str]]]:
    """``{"tcp": {port: [addresses]}, "udp": {...}}`` of the host's listening/bound
    sockets; ``tables`` maps a /proc/net file name (``tcp``, ``tcp6``, ``udp``,
    ``udp6``) to its text. Parse once, look up many ports."""
    out: dict[str, dict[int, list[str]]] = {"tcp": {}, "udp": {}}
    for family, state in (("tcp", TCP_LISTEN), ("udp", UDP_UNCONN)):
        for name in (family, family + "6"):
            for addr, port in bound_ports(tables.get(name, ""), state):
                out[family].setdefault(port, []).append(addr)
    return out


def conflict(
    socks: dict[str, dict[int, list[str]]], proto: str, host_ip: str, port: int
) -> tuple[str, int] | None:
    """The host socket (from :func:`listening`) that ``host_ip:port/proto`` collides with."""
    family = "udp" if proto == "udp" else "tcp"
    for addr in socks[family].get(port, ()):
        if addresses_overlap(addr, host_ip):
            return addr, port
    return None


def port_in_use(
    tables: dict[str, str], proto: str, host_ip: str, port: int
) -> tuple[str, int] | None:
    """The host socket that ``host_ip:port/proto`` would collide with, if any."""
    return conflict(listening(tables), proto, host_ip, port)


def read_tables(proc_net: str = "/proc/net") -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"{proc_net}/{name}") as f:
                out[name] = f.read()
        except OSError:
            out[name] = ""
    return out


def parse_port_range_sysctl(text: str) -> tuple[int, int]:
    """``/proc/sys/net/ipv4/ip_local_port_range`` text -> (low, high)."""
    parts = text.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return 32768, 60999
    low, high = int(parts[0]), int(parts[1])
    return (low, high) if 0 < low <= high <= 65535 else (32768, 60999)
