"""``ps`` output: Docker's columns, truncation and ``--format`` fields."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.command import Context

DEFAULT = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Status": "STATUS",
    "Ports": "PORTS",
    "Names": "NAMES",
    "State": "STATE",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "LocalVolumes": "LOCAL VOLUMES",
}


def format_ports(ports: list[dict[str, Any]]) -> str:
    """``0.0.0.0:8080->80/tcp, 443/tcp`` (Docker's grouping, sorted)."""
    parts = []
    for p in sorted(ports, key=lambda p: (p.get("PublicPort", 0), p.get("PrivatePort", 0))):
        proto = p.get("Type", "tcp")
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            parts.append(f"{ip}:{p['PublicPort']}->{p['PrivatePort']}/{proto}")
        else:
            parts.append(f"{p['PrivatePort']}/{proto}")
    return ", ".join(dict.fromkeys(parts))


def _ago(created: int) -> str:
    from berth.cli.units import human_duration

    return human_duration(time.time() - created) + " ago"


class PsRow(dict):  # type: ignore[type-arg]
    """A row for ``--format``: Docker's field names, and ``.Label "key"``."""

    def __init__(self, fields: dict[str, Any], labels: dict[str, Any] | None = None) -> None:
        super().__init__(fields)
        self._labels = dict(labels or {})  # not a field: {{json .}} shows the fields only

    def Label(self, key: str) -> str:
        return str(self._labels.get(key, ""))


def row(c: dict[str, Any], no_trunc: bool) -> PsRow:
    cmd = str(c.get("Command", ""))
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    labels = c.get("Labels") or {}
    return PsRow(
        {
            "ID": c["Id"] if no_trunc else c["Id"][:12],
            "Image": c.get("Image", ""),
            "Command": f'"{cmd}"',
            "CreatedAt": time.strftime(
                "%Y-%m-%d %H:%M:%S %z %Z", time.localtime(c.get("Created", 0))
            ),
            "RunningFor": _ago(int(c.get("Created", 0))),
            "Status": c.get("Status", ""),
            "State": c.get("State", ""),
            "Ports": format_ports(c.get("Ports") or []),
            "Names": ",".join(n.lstrip("/") for n in c.get("Names") or []),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []),
            "Networks": ",".join(sorted((c.get("NetworkSettings") or {}).get("Networks") or {})),
            "Size": _size(c),
        },
        labels,
    )


def _size(c: dict[str, Any]) -> str:
    """``docker ps -s``'s SIZE: the writable layer, and with the image's layers."""
    from berth.cli.units import size3

    rw = size3(float(c.get("SizeRw") or 0))
    root = int(c.get("SizeRootFs") or 0)
    return f"{rw} (virtual {size3(float(root))})" if root > 0 else rw


def render_ps(
    ctx: Context,
    containers: list[dict[str, Any]],
    *,
    quiet: bool,
    no_trunc: bool,
    fmt: str | None,
    size: bool = False,
) -> None:
    from berth.cli.template import render

    if quiet:
        for c in containers:
            ctx.print(c["Id"] if no_trunc else c["Id"][:12])
        return
    template = fmt or DEFAULT + ("\t{{.Size}}" if size else "")
    ctx.out.write(render(template, [row(c, no_trunc) for c in containers], HEADERS))
