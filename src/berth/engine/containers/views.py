"""Containers as Docker's API shows them: ContainerInspect and ContainerSummary (ps)."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.engine.containers.store import ContainerRow

LIST_FILTERS = (
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
)


def _args(row: ContainerRow) -> tuple[str, list[str]]:
    cmd = list(row.config.get("Entrypoint") or []) + list(row.config.get("Cmd") or [])
    return (cmd[0] if cmd else "", cmd[1:])


def inspect(row: ContainerRow, root: str) -> dict[str, Any]:
    path, args = _args(row)
    cdir = os.path.join(root, "containers", row.id)
    hc = dict(row.host_config)
    hc.setdefault("NetworkMode", "default")
    hc.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    hc.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    config = {k: v for k, v in row.config.items() if k != "NetworkingConfig"}
    config.setdefault("Hostname", row.id[:12])
    config.setdefault("Image", row.image)
    settings = dict(row.network_settings or {})
    settings.setdefault("Ports", {})
    settings.setdefault("Networks", {})
    return {
        "Id": row.id,
        "Created": row.created,
        "Path": path,
        "Args": args,
        "State": dict(row.state),
        "Image": row.image_id,
        "ResolvConfPath": os.path.join(cdir, "resolv.conf"),
        "HostnamePath": os.path.join(cdir, "hostname"),
        "HostsPath": os.path.join(cdir, "hosts"),
        "LogPath": os.path.join(cdir, f"{row.id}-json.log"),
        "Name": "/" + row.name,
        "RestartCount": row.restart_count or 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": hc,
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "UpperDir": os.path.join(cdir, "upper"),
                "WorkDir": os.path.join(cdir, "work"),
                "MergedDir": os.path.join(cdir, "rootfs"),
            },
        },
        "Mounts": list(row.mounts or []),
        "Config": config,
        "NetworkSettings": settings,
    }


def _status_text(row: ContainerRow) -> str:
    """ps' STATUS column: "Up 5 minutes", "Exited (0) 2 seconds ago", "Created"."""
    import time

    from berth.cli.units import human_duration
    from berth.engine.containers.service import _rfc3339_to_unix

    st = row.state
    if st.get("Restarting"):
        ago = time.time() - _rfc3339_to_unix(str(st.get("FinishedAt")))
        return f"Restarting ({st.get('ExitCode', 0)}) {human_duration(ago)} ago"
    if st.get("Running"):
        up = time.time() - _rfc3339_to_unix(str(st.get("StartedAt")))
        text = f"Up {human_duration(up)}"
        if st.get("Paused"):
            return text + " (Paused)"
        from berth.engine.containers.health import status_suffix

        return text + status_suffix(st)
    if st.get("Status") == "created":
        return "Created"
    if st.get("Status") == "removing":
        return "Removal In Progress"
    ago = time.time() - _rfc3339_to_unix(str(st.get("FinishedAt")))
    return f"Exited ({st.get('ExitCode', 0)}) {human_duration(ago)} ago"


def summary(row: ContainerRow) -> dict[str, Any]:
    from berth.engine.containers.service import _rfc3339_to_unix

    cmd = list(row.config.get("Entrypoint") or []) + list(row.config.get("Cmd") or [])
    ports = []
    for key, bindings in ((row.network_settings or {}).get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for b in bindings or [None]:
            item: dict[str, Any] = {"PrivatePort": int(port), "Type": proto or "tcp"}
            if b:
                item["IP"] = b.get("HostIp", "")
                item["PublicPort"] = int(b.get("HostPort") or 0)
            ports.append(item)
    return {
        "Id": row.id,
        "Names": ["/" + row.name],
        "Image": row.image,
        "ImageID": row.image_id,
        "Command": " ".join(cmd),
        "Created": int(_rfc3339_to_unix(row.created)),
        "Ports": ports,
        "Labels": dict(row.config.get("Labels") or {}),
        "State": row.state.get("Status", "created"),
        "Status": _status_text(row),
        "HostConfig": {"NetworkMode": row.host_config.get("NetworkMode") or "default"},
        "NetworkSettings": {"Networks": (row.network_settings or {}).get("Networks") or {}},
        "Mounts": list(row.mounts or []),
    }


def matches(row: ContainerRow, filters: dict[str, list[str]], all_rows: list[ContainerRow]) -> bool:
    """Docker's ps filters (each key: any value matches; all keys must match)."""
    for key, values in filters.items():
        if key not in LIST_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
        if not values:
            continue
        if key == "id" and not any(row.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(v.lstrip("/") in row.name for v in values):
            return False
        if key == "status" and row.state.get("Status") not in values:
            return False
        if key == "exited" and (
            row.state.get("Running") or str(row.state.get("ExitCode")) not in values
        ):
            return False
        if key == "label":
            labels = row.config.get("Labels") or {}
            for v in values:
                k, eq, want = v.partition("=")
                if k not in labels or (eq and labels[k] != want):
                    return False
        if key == "ancestor" and not any(
            v in (row.image, row.image_id) or row.image_id.startswith("sha256:" + v) for v in values
        ):
            return False
        if key in ("before", "since"):
            for v in values:
                other = next(
                    (r for r in all_rows if r.id.startswith(v) or r.name == v.lstrip("/")), None
                )
                if other is None:
                    raise InvalidArgument(f"No such container: {v}")
                if key == "before" and not row.created < other.created:
                    return False
                if key == "since" and not row.created > other.created:
                    return False
        if key == "network":
            nets = (row.network_settings or {}).get("Networks") or {}
            if not any(v in nets for v in values):
                return False
        if key == "health":
            from berth.engine.containers.health import health_status

            if health_status(row.state) not in values:
                return False
        if key == "expose":
            exposed = row.config.get("ExposedPorts") or {}
            if not any(v in exposed or f"{v}/tcp" in exposed for v in values):
                return False
        if key == "volume":
            mounts = row.mounts or []
            if not any(
                any(v in (m.get("Name"), m.get("Destination"), m.get("Source")) for m in mounts)
                for v in values
            ):
                return False
    return True
