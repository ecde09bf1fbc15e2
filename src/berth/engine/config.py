"""berthd's configuration: Docker's ``daemon.json`` subset, plus flags.

The file (default ``/etc/berth/daemon.json``; read only when it exists,
unless ``--config-file`` names it) holds the keys below, spelled as Docker
spells them. As dockerd does, berthd refuses a file with an unknown key, and
a key given both in the file and as a flag::

    {
      "data-root": "/var/lib/berth",          "exec-root": "/run/berth",
      "hosts": ["unix:///run/berth/berth.sock"],
      "pidfile": "/run/berth/berthd.pid",      "debug": false,
      "log-level": "info",                     "labels": ["rack=a1"],
      "insecure-registries": ["127.0.0.1:5000", "10.0.0.0/8"],
      "registry-mirrors": ["https://mirror.example"],
      "max-concurrent-downloads": 3,           "max-concurrent-uploads": 5,
      "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 4096}},
      "cgroup-parent": "berth",
      "bip": "172.17.0.1/16",
      "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}],
      "dns": ["1.1.1.1"], "dns-opts": ["ndots:2"], "dns-search": ["example.com"],
      "log-driver": "json-file", "log-opts": {"max-size": "10m"},
      "experimental": false, "shutdown-timeout": 15
    }

Flags of the same names (``--data-root``, ``--insecure-registry`` repeated,
``--default-ulimit nofile=1024:4096``, ``--default-address-pool
base=...,size=24``, ...) are parsed by ``berth.cli.daemon`` into the same
JSON keys, so both go through :func:`load` and the same validation.

``DaemonConfig`` is the validated result; the daemon and the components read
it (``daemon.config``). Reloadable on SIGHUP (as dockerd): ``debug``,
``log-level``, ``labels``, ``insecure-registries``, ``registry-mirrors``,
``max-concurrent-*``, ``shutdown-timeout``; see :data:`RELOADABLE`.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument
from berth.oci.record import Record, field

DEFAULT_ROOT = "/var/lib/berth"
DEFAULT_EXEC_ROOT = "/run/berth"
DEFAULT_CONFIG_FILE = "/etc/berth/daemon.json"
SOCKET_NAME = "berth.sock"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
ULIMIT_NAMES = (
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
)
RELOADABLE = (
    "debug",
    "log-level",
    "labels",
    "insecure-registries",
    "registry-mirrors",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "shutdown-timeout",
)


class Ulimit(Record):
    name: str = field(json="Name")
    soft: int = field(json="Soft")
    hard: int = field(json="Hard")


class AddressPool(Record):
    base: str
    size: int


class DaemonConfig(Record):
    data_root: str = field(json="data-root", default=DEFAULT_ROOT)
    exec_root: str = field(json="exec-root", default=DEFAULT_EXEC_ROOT)
    hosts: tuple[str, ...] = ()
    pidfile: str = ""
    debug: bool = False
    log_level: str = field(json="log-level", default="info")
    labels: tuple[str, ...] = ()
    insecure_registries: tuple[str, ...] = field(json="insecure-registries", default=())
    registry_mirrors: tuple[str, ...] = field(json="registry-mirrors", default=())
    max_concurrent_downloads: int = field(json="max-concurrent-downloads", default=3)
    max_concurrent_uploads: int = field(json="max-concurrent-uploads", default=5)
    default_ulimits: dict[str, Ulimit] = field(json="default-ulimits", default_factory=dict)
    cgroup_parent: str = field(json="cgroup-parent", default="")
    bip: str = ""
    default_address_pools: tuple[AddressPool, ...] = field(json="default-address-pools", default=())
    dns: tuple[str, ...] = ()
    dns_opts: tuple[str, ...] = field(json="dns-opts", default=())
    dns_search: tuple[str, ...] = field(json="dns-search", default=())
    log_driver: str = field(json="log-driver", default="json-file")
    log_opts: dict[str, str] = field(json="log-opts", default_factory=dict)
    experimental: bool = False
    shutdown_timeout: int = field(json="shutdown-timeout", default=15)

    @property
    def socket_hosts(self) -> tuple[str, ...]:
        """The hosts to listen on (default: the socket in the exec root)."""
        if self.hosts:
            return self.hosts
        return (f"unix://{os.path.join(self.exec_root, SOCKET_NAME)}",)

    @property
    def pid_path(self) -> str:
        return self.pidfile or os.path.join(self.exec_root, "berthd.pid")

    @property
    def log_path(self) -> str:
        """Where an autostarted daemon writes its log."""
        return os.path.join(self.exec_root, "berthd.log")


def parse_ulimit(text: str) -> Ulimit:
    """``nofile=1024:4096`` or ``nofile=1024`` (soft = hard)."""
    name, eq, values = text.partition("=")
    if not eq or not name:
        raise InvalidArgument(f"invalid ulimit argument: {text}")
    if name not in ULIMIT_NAMES:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    soft_s, colon, hard_s = values.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if colon else soft
    except ValueError:
        raise InvalidArgument(f"invalid ulimit argument: {text}: values must be integers")
    if soft > hard:
        raise InvalidArgument(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return Ulimit(name=name, soft=soft, hard=hard)


def parse_address_pool(text: str) -> AddressPool:
    """``base=172.30.0.0/16,size=24``."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        k, eq, v = part.partition("=")
        if not eq:
            raise InvalidArgument(f"invalid default address pool {text!r}: expected key=value")
        fields[k.strip().lower()] = v.strip()
    unknown = set(fields) - {"base", "size"}
    if unknown or "base" not in fields or "size" not in fields:
        raise InvalidArgument(
            f"invalid default address pool {text!r}: give base=CIDR,size=PREFIXLEN"
        )
    try:
        size = int(fields["size"])
    except ValueError:
        raise InvalidArgument(f"invalid default address pool {text!r}: size is not a number")
    return AddressPool(base=fields["base"], size=size)


def load(
    file_text: str | None,
    flags: dict[str, object] | None = None,
    file_name: str = "daemon.json",
) -> DaemonConfig:
    """The configuration from the file's text (None: no file) and flag values.

    ``flags`` maps daemon.json keys to values given on the command line.
    """
    from berth.jsonio import loads

    flags = dict(flags or {})
    doc: dict[str, object] = {}
    where = f"unable to configure the berth daemon with file {file_name}"
    if file_text is not None and file_text.strip():
        raw = loads(file_text, file_name)
        if not isinstance(raw, dict):
            raise InvalidArgument(f"{where}: expected a JSON object")
        doc = raw
    known = DaemonConfig.__record_by_json__
    unknown = sorted(k for k in doc if k not in known)
    if unknown:
        raise InvalidArgument(
            f"{where}: the following directives don't match any configuration option: "
            + ", ".join(unknown)
        )
    both = sorted(k for k in doc if k in flags)
    if both:
        detail = ", ".join(f"{k}: (from flag: {flags[k]}, from file: {doc[k]})" for k in both)
        raise InvalidArgument(
            f"{where}: the following directives are specified both as a flag and in the "
            f"configuration file: {detail}"
        )
    merged = {**doc, **flags}
    try:
        config = DaemonConfig.from_json(merged)
    except InvalidArgument as e:
        raise InvalidArgument(f"{where}: {e}")
    validate(config)
    return config


def validate(c: DaemonConfig) -> None:
    """Check values that the types alone do not."""
    import ipaddress

    if c.log_level not in LOG_LEVELS:
        raise InvalidArgument(
            f'invalid log level "{c.log_level}": use one of ' + ", ".join(LOG_LEVELS)
        )
    for path_key, value in (("data-root", c.data_root), ("exec-root", c.exec_root)):
        if not os.path.isabs(value):
            raise InvalidArgument(f"{path_key} must be an absolute path, got {value!r}")
    for host in c.hosts:
        parse_listen_host(host)
    for name, ul in c.default_ulimits.items():
        if name not in ULIMIT_NAMES or ul.name != name:
            raise InvalidArgument(f"default-ulimits: invalid ulimit {name!r}")
        if ul.soft > ul.hard:
            raise InvalidArgument(f"default-ulimits: {name}: soft limit is above the hard limit")
    if c.bip:
        try:
            ipaddress.ip_interface(c.bip)
        except ValueError:
            raise InvalidArgument(f"bip: {c.bip!r} is not an address with a prefix (172.17.0.1/16)")
    for pool in c.default_address_pools:
        try:
            net = ipaddress.ip_network(pool.base)
        except ValueError:
            raise InvalidArgument(f"default-address-pools: {pool.base!r} is not a network")
        if not net.prefixlen <= pool.size <= net.max_prefixlen:
            raise InvalidArgument(
                f"default-address-pools: size {pool.size} does not fit in {pool.base}"
            )
    for dns in c.dns:
        try:
            ipaddress.ip_address(dns)
        except ValueError:
            raise InvalidArgument(f"dns: {dns!r} is not an IP address")
    for n, key in (
        (c.max_concurrent_downloads, "downloads"),
        (c.max_concurrent_uploads, "uploads"),
    ):
        if n < 1:
            raise InvalidArgument(f"max-concurrent-{key} must be at least 1, got {n}")
    for reg in c.insecure_registries:
        if not reg or "://" in reg:
            raise InvalidArgument(
                f"insecure-registries: {reg!r} must be host[:port] or a CIDR, without a scheme"
            )
    for label in c.labels:
        if "=" not in label:
            raise InvalidArgument(f"labels: {label!r} is not key=value")


def parse_listen_host(host: str) -> tuple[str, str, int]:
    """``unix:///path`` -> ("unix", path, 0); ``tcp://127.0.0.1:2375`` -> ("tcp", host, port).

    berthd serves TCP only on loopback addresses: the Engine API gives root
    on this machine to whoever reaches it, and berth does not do TLS.
    """
    import ipaddress

    scheme, sep, rest = host.partition("://")
    if not sep:
        raise InvalidArgument(f"invalid host {host!r}: expected unix:///path or tcp://host:port")
    if scheme == "unix":
        if not rest.startswith("/"):
            raise InvalidArgument(f"invalid host {host!r}: the socket path must be absolute")
        return "unix", rest, 0
    if scheme == "tcp":
        addr, colon, port_s = rest.rstrip("/").rpartition(":")
        if not colon or not port_s.isdigit():
            raise InvalidArgument(f"invalid host {host!r}: expected tcp://ADDRESS:PORT")
        addr = addr.strip("[]") or "127.0.0.1"
        if addr == "localhost":
            addr = "127.0.0.1"
        try:
            loopback = ipaddress.ip_address(addr).is_loopback
        except ValueError:
            raise InvalidArgument(f"invalid host {host!r}: {addr!r} is not an IP address")
        if not loopback:
            raise InvalidArgument(
                f"refusing to listen on {host}: berthd serves TCP only on loopback addresses"
                " (the API gives root to whoever reaches it, and berth has no TLS);"
                " use a unix socket or 127.0.0.1"
            )
        port = int(port_s)
        if port > 65535:
            raise InvalidArgument(f"invalid host {host!r}: port out of range")
        return "tcp", addr, port
    raise InvalidArgument(f"invalid host {host!r}: unsupported scheme {scheme!r} (unix or tcp)")


def reload_changes(old: DaemonConfig, new: DaemonConfig) -> tuple[DaemonConfig, list[str]]:
    """Apply the reloadable keys of ``new`` onto ``old``; returns (config, ignored keys)."""
    changes: dict[str, object] = {}
    ignored = []
    for f in DaemonConfig.__record_fields__.values():
        if getattr(old, f.name) == getattr(new, f.name):
            continue
        if f.json in RELOADABLE:
            changes[f.name] = getattr(new, f.name)
        else:
            ignored.append(f.json)
    return (old.replace(**changes) if changes else old), ignored
