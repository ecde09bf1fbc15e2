"""``-p``/``--publish`` specs, parsed and reported as Docker does.

Forms (``[ip:][hostPort:]containerPort[/proto]``)::

    80                      container port 80/tcp, a random host port
    8080:80                 host 8080 -> container 80
    127.0.0.1:8080:80       only on 127.0.0.1
    127.0.0.1::80           127.0.0.1, random host port
    8000-8005:80-85         ranges of equal length map one to one
    8000-8010:80            one container port, the first free host port of a range
    [::1]:8080:80, 53/udp, 132/sctp

Error messages are Docker's (``invalid containerPort: x``, ``invalid hostPort: x``,
``invalid IP address: x``, ``invalid proto: x``, ``no port specified: x<empty>``,
``invalid ranges specified for container and host Ports: a and b``).
"""

from __future__ import annotations

from berth.errors import InvalidArgument

PROTOCOLS = ("tcp", "udp", "sctp")


class PortMapping:
    """One container port and where on the host it is published.

    ``host_port`` 0 means "pick a free one"; ``host_port_end`` > ``host_port``
    means "pick the first free one in this range". ``host_ip`` "" means every
    address (0.0.0.0).
    """

    __slots__ = ("container_port", "host_ip", "host_port", "host_port_end", "proto")

    def __init__(
        self,
        container_port: int,
        proto: str = "tcp",
        host_ip: str = "",
        host_port: int = 0,
        host_port_end: int = 0,
    ) -> None:
        self.container_port = container_port
        self.proto = proto
        self.host_ip = host_ip
        self.host_port = host_port
        self.host_port_end = host_port_end or host_port

    @property
    def key(self) -> str:
        """Docker's port key: ``"80/tcp"``."""
        return f"{self.container_port}/{self.proto}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PortMapping) and self._tuple() == other._tuple()

    def __hash__(self) -> int:
        return hash(self._tuple())

    def _tuple(self) -> tuple[int, str, str, int, int]:
        return (self.container_port, self.proto, self.host_ip, self.host_port, self.host_port_end)

    def __repr__(self) -> str:
        host = f"{self.host_port}" + (
            f"-{self.host_port_end}" if self.host_port_end != self.host_port else ""
        )
        return f"PortMapping({self.host_ip or '*'}:{host} -> {self.key})"


def parse_port_range(text: str) -> tuple[int, int]:
    """``"80"`` -> (80, 80); ``"8000-8005"`` -> (8000, 8005). ValueError when invalid."""
    if not text:
        raise ValueError("empty string specified for ports")
    start_text, sep, end_text = text.partition("-")
    start = _port(start_text)
    end = _port(end_text) if sep else start
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return start, end


def _port(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"invalid port {text!r}")
    value = int(text)
    if value > 65535:
        raise ValueError(f"port out of range: {text}")
    return value


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    n = len(parts)
    if n == 1:
        return "", "", parts[0]
    if n == 2:
        return "", parts[0], parts[1]
    if n == 3:
        return parts[0], parts[1], parts[2]
    return ":".join(parts[: n - 2]), parts[n - 2], parts[n - 1]


def _split_proto(raw: str) -> tuple[str, str]:
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _valid_ip(text: str) -> bool:
    if ":" in text:
        try:
            import ipaddress

            ipaddress.IPv6Address(text)
        except ValueError:
            return False
        return True
    parts = text.split(".")
    return len(parts) == 4 and all(
        p.isdigit() and p.isascii() and len(p) <= 3 and int(p) <= 255 for p in parts
    )


def parse_port_spec(raw: str) -> list[PortMapping]:
    """One ``-p`` value -> its mappings (a range gives one per port)."""
    ip, host, container = _split_parts(raw)
    proto, container = _split_proto(container)
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise InvalidArgument(f"invalid IP address {ip}: missing ']' in address")
        ip = ip[1:-1]
    if ip and not _valid_ip(ip):
        raise InvalidArgument(f"invalid IP address: {ip}")
    if not container:
        raise InvalidArgument(f"no port specified: {raw}<empty>")
    try:
        start, end = parse_port_range(container)
    except ValueError:
        raise InvalidArgument(f"invalid containerPort: {container}") from None
    host_start = host_end = 0
    if host:
        try:
            host_start, host_end = parse_port_range(host)
        except ValueError:
            raise InvalidArgument(f"invalid hostPort: {host}") from None
        if end - start != host_end - host_start and end != start:
            raise InvalidArgument(
                f"invalid ranges specified for container and host Ports: {container} and {host}"
            )
    proto = proto.lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    if ip in ("0.0.0.0", "::"):
        ip = "" if ip == "0.0.0.0" else ip
    out = []
    count = end - start + 1
    for i in range(count):
        if not host:
            out.append(PortMapping(start + i, proto, ip))
        elif count == 1:
            out.append(PortMapping(start, proto, ip, host_start, host_end))
        else:
            out.append(PortMapping(start + i, proto, ip, host_start + i))
    return out


def parse_port_specs(raws: list[str] | tuple[str, ...]) -> list[PortMapping]:
    """Every ``-p`` of a run; duplicates are dropped (Docker keeps one)."""
    out: list[PortMapping] = []
    for raw in raws:
        for m in parse_port_spec(raw):
            if m not in out:
                out.append(m)
    return out


def exposed_ports(exposed: list[str] | tuple[str, ...]) -> list[PortMapping]:
    """``-P``: every EXPOSEd port (``"80/tcp"``, ``"53/udp"``) on a random host port."""
    out: list[PortMapping] = []
    for key in exposed:
        port, _, proto = key.partition("/")
        for m in parse_port_spec(f"{port}/{proto or 'tcp'}"):
            if m not in out:
                out.append(m)
    return out


def format_port_line(key: str, host_ip: str, host_port: int) -> str:
    """A line of ``berth port``: ``80/tcp -> 0.0.0.0:8080``."""
    ip = host_ip or "0.0.0.0"
    if ":" in ip:
        ip = f"[{ip}]"
    return f"{key} -> {ip}:{host_port}"
