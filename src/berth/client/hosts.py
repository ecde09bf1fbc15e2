"""Which engine the client talks to.

Precedence, as Docker's: ``-H/--host`` flag, then ``BERTH_HOST``, then
``DOCKER_HOST``, then the default ``unix:///run/berth/berth.sock``. Forms:
``unix:///path/to.sock`` (or a bare absolute path), ``tcp://host:port``
(port 2375 when omitted), ``http://host:port`` (same as tcp).

The source matters for autostart: the CLI starts berthd itself only for a
unix socket that came from the flag, ``BERTH_HOST`` or the default -- never
for ``DOCKER_HOST``, which may name another engine's socket.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

DEFAULT_SOCKET = "/run/berth/berth.sock"
DEFAULT_HOST = "unix://" + DEFAULT_SOCKET


class Host:
    __slots__ = ("address", "kind", "port", "source", "url")

    def __init__(self, url: str, kind: str, address: str, port: int, source: str) -> None:
        self.url = url
        self.kind = kind  # "unix" | "tcp"
        self.address = address  # socket path or host name
        self.port = port
        self.source = source  # "flag" | "BERTH_HOST" | "DOCKER_HOST" | "default"

    def __repr__(self) -> str:
        return f"Host({self.url!r}, source={self.source!r})"


def parse(url: str, source: str = "flag") -> Host:
    if url.startswith("/"):
        url = "unix://" + url
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidArgument(f"invalid host {url!r}: expected unix:///path or tcp://host:port")
    if scheme == "unix":
        if not rest.startswith("/"):
            raise InvalidArgument(f"invalid host {url!r}: the socket path must be absolute")
        return Host(url, "unix", rest, 0, source)
    if scheme in ("tcp", "http"):
        hostport = rest.split("/", 1)[0]
        if hostport.startswith("["):
            addr, _, tail = hostport[1:].partition("]")
            port_s = tail.removeprefix(":")
        else:
            addr, _, port_s = hostport.partition(":")
        if not addr:
            addr = "127.0.0.1"
        if port_s and not port_s.isdigit():
            raise InvalidArgument(f"invalid host {url!r}: bad port {port_s!r}")
        port = int(port_s) if port_s else 2375
        return Host(f"tcp://{hostport}", "tcp", addr, port, source)
    raise InvalidArgument(f"invalid host {url!r}: unsupported scheme {scheme!r} (unix or tcp)")


def resolve(flag_hosts: list[str] | None = None, env: dict[str, str] | None = None) -> Host:
    """The host to use, from the ``-H`` values and the environment."""
    if env is None:
        import os

        env = dict(os.environ)
    if flag_hosts:
        if len(flag_hosts) > 1:
            raise InvalidArgument("specify only one -H")
        return parse(flag_hosts[0], "flag")
    for name in ("BERTH_HOST", "DOCKER_HOST"):
        value = env.get(name)
        if value:
            return parse(value, name)
    return parse(DEFAULT_HOST, "default")
