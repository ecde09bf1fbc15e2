"""What the engine asks of the network for one container, and what it gets back.

:class:`SandboxRequest` carries ``berth run``'s network flags (already parsed
by the front end: ``-p`` into :class:`~berth.network.portspec.PortMapping`).
:class:`Sandbox` is the answer: the netns path the runtime joins (the OCI
spec's ``linux.namespaces[{type: network, path}]``), the content of the
container's ``/etc/hosts``, ``/etc/resolv.conf`` and ``/etc/hostname``, and
``NetworkSettings`` as Docker's API shows it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from berth.network.portspec import PortMapping

#: The files a sandbox writes into the container's directory (:meth:`Sandbox.write_files`),
#: by name there, and where the container sees each, in this order.
ETC_FILES = (
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
    ("hostname", "/etc/hostname"),
)


class SandboxRequest:
    """The network part of a container's configuration.

    ``network`` is ``--network``: ``"bridge"`` (default), ``"none"``,
    ``"host"``, ``"container:<container id>"`` (the engine resolves the
    name) or a user-defined network's name or id. ``aliases``, ``ip`` and
    ``mac`` apply to that network (``--network-alias``, ``--ip``,
    ``--mac-address``).
    """

    def __init__(
        self,
        container_id: str,
        *,
        name: str = "",
        hostname: str = "",
        domainname: str = "",
        network: str = "bridge",
        aliases: tuple[str, ...] | list[str] = (),
        ip: str | None = None,
        mac: str | None = None,
        ports: list[PortMapping] | None = None,
        dns: list[str] | None = None,
        dns_search: list[str] | None = None,
        dns_options: list[str] | None = None,
        extra_hosts: list[str] | None = None,
    ) -> None:
        self.container_id = container_id
        self.name = name.lstrip("/")
        self.hostname = hostname or container_id[:12]
        self.domainname = domainname
        self.network = network or "bridge"
        self.aliases = tuple(aliases)
        self.ip = ip
        self.mac = mac
        self.ports = list(ports or [])
        self.dns = list(dns or [])
        self.dns_search = list(dns_search or [])
        self.dns_options = list(dns_options or [])
        self.extra_hosts = list(extra_hosts or [])


class Sandbox:
    """The container's network, set up.

    ``netns``: the path the runtime joins; None for ``--network host``
    (no network namespace). ``files_from``: for ``container:<id>``, the
    container whose hosts/resolv.conf/hostname files to share (the three
    contents are then None). ``settings``: ``NetworkSettings`` JSON.
    ``finish``: what is left to do before the container's program runs, when
    the manager's ``setup`` was asked to defer it (else None).
    """

    def __init__(
        self,
        container_id: str,
        *,
        netns: str | None,
        hosts: str | None,
        resolv_conf: str | None,
        hostname: str | None,
        settings: dict[str, Any],
        files_from: str | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.container_id = container_id
        self.netns = netns
        self.hosts = hosts
        self.resolv_conf = resolv_conf
        self.hostname = hostname
        self.settings = settings
        self.files_from = files_from
        self.warnings = list(warnings or [])
        self.finish: Callable[[], None] | None = None

    def write_files(self, directory: str) -> dict[str, str]:
        """Write ``hosts``, ``resolv.conf``, ``hostname`` into ``directory``; return
        {container path: host path} for the bind mounts.

        A file is replaced whole (written aside, then renamed over), except an
        empty one, made ahead with the container's directory for its first start
        (berth.engine.containers.service): that is written in place, sparing the
        kernel a new inode (~0.1 ms a file on ext4 here)."""
        import os

        out: dict[str, str] = {}
        contents = {"hosts": self.hosts, "resolv.conf": self.resolv_conf, "hostname": self.hostname}
        for name, target in ETC_FILES:
            content = contents[name]
            if content is None:
                continue
            path = os.path.join(directory, name)
            data = content.encode()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                if os.fstat(fd).st_size:
                    os.close(fd)
                    fd = -1
            except OSError:  # (none yet, or not a plain file: replaced whole)
                fd = -1
            tmp = None
            if fd < 0:
                tmp = path + ".tmp"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)
            if tmp is not None:
                os.replace(tmp, path)
            out[target] = path
        return out
