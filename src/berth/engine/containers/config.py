"""The create request (Docker's ContainerConfig + HostConfig): checked, defaulted, merged.

``validate_create(body)`` checks the types of the fields berth uses and
answers a bad request with the field's name, as Docker does; unknown
fields are kept (inspect shows them back). ``merge_image_config`` applies
the image's defaults the way Docker's daemon does at create time: the
container's Env overrides the image's by name, Cmd replaces Cmd, an
Entrypoint given with the request replaces both the image's Entrypoint and
its Cmd, and WorkingDir/User/Labels/ExposedPorts/Volumes/StopSignal/
Healthcheck are inherited when not given.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "Hostname": (str,),
    "Domainname": (str,),
    "User": (str,),
    "AttachStdin": (bool,),
    "AttachStdout": (bool,),
    "AttachStderr": (bool,),
    "Tty": (bool,),
    "OpenStdin": (bool,),
    "StdinOnce": (bool,),
    "Env": (list,),
    "Cmd": (list, str),
    "Entrypoint": (list, str),
    "Image": (str,),
    "WorkingDir": (str,),
    "Labels": (dict,),
    "StopSignal": (str,),
    "StopTimeout": (int,),
    "ExposedPorts": (dict,),
    "Volumes": (dict,),
}
_HOST_TYPES: dict[str, tuple[type, ...]] = {
    "Binds": (list,),
    "NetworkMode": (str,),
    "PortBindings": (dict,),
    "RestartPolicy": (dict,),
    "AutoRemove": (bool,),
    "CapAdd": (list,),
    "CapDrop": (list,),
    "Dns": (list,),
    "DnsOptions": (list,),
    "DnsSearch": (list,),
    "ExtraHosts": (list,),
    "GroupAdd": (list,),
    "IpcMode": (str,),
    "PidMode": (str,),
    "UTSMode": (str,),
    "Privileged": (bool,),
    "PublishAllPorts": (bool,),
    "ReadonlyRootfs": (bool,),
    "SecurityOpt": (list,),
    "Tmpfs": (dict,),
    "ShmSize": (int,),
    "Sysctls": (dict,),
    "Memory": (int,),
    "MemorySwap": (int,),
    "MemoryReservation": (int,),
    "NanoCpus": (int,),
    "CpuShares": (int,),
    "CpuPeriod": (int,),
    "CpuQuota": (int,),
    "CpusetCpus": (str,),
    "CpusetMems": (str,),
    "PidsLimit": (int,),
    "BlkioWeight": (int,),
    "Ulimits": (list,),
    "Devices": (list,),
    "Mounts": (list,),
    "Init": (bool,),
    "CgroupParent": (str,),
    "UsernsMode": (str,),
    "VolumesFrom": (list,),
}

RESTART_POLICIES = ("", "no", "always", "on-failure", "unless-stopped")


def _check(doc: dict[str, Any], types: dict[str, tuple[type, ...]], where: str) -> None:
    for key, allowed in types.items():
        value = doc.get(key)
        if value is None:
            continue
        if bool not in allowed and isinstance(value, bool) and int in allowed:
            raise InvalidArgument(f"{where}.{key}: expected a number, got a boolean")
        if not isinstance(value, allowed):
            kinds = " or ".join(t.__name__ for t in allowed)
            raise InvalidArgument(f"{where}.{key}: expected {kinds}, got {type(value).__name__}")


def validate_create(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Config, HostConfig) of a create request body."""
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    host_config = body.get("HostConfig") or {}
    if not isinstance(host_config, dict):
        raise InvalidArgument("HostConfig: expected an object")
    _check(config, _TYPES, "Config")
    _check(host_config, _HOST_TYPES, "HostConfig")
    for key in ("Cmd", "Entrypoint"):
        if isinstance(config.get(key), str):
            config[key] = [config[key]]
    for i, env in enumerate(config.get("Env") or []):
        if not isinstance(env, str) or not env or env.startswith("="):
            raise InvalidArgument(f"Config.Env[{i}]: invalid environment variable: {env!r}")
    from berth.engine.containers.health import validate as validate_health

    validate_health(config)
    policy = host_config.get("RestartPolicy") or {}
    name = policy.get("Name", "")
    if name not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy '{name}'")
    if policy.get("MaximumRetryCount") and name != "on-failure":
        raise InvalidArgument(
            "maximum retry count cannot be used with restart policy '" + name + "'"
        )
    if host_config.get("AutoRemove") and name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    if body.get("NetworkingConfig"):
        config["NetworkingConfig"] = body["NetworkingConfig"]
    userns = host_config.get("UsernsMode") or ""
    if userns not in ("", "host"):
        # berth has no daemon-wide user namespace remapping (dockerd's --userns-remap):
        # containers run in the host's user namespace, which "host" asks for anyway
        raise InvalidArgument(f"invalid userns mode: {userns}: berth supports only 'host'")
    for key in (
        "Memory",
        "MemorySwap",
        "ShmSize",
        "NanoCpus",
        "CpuShares",
        "CpuQuota",
        "CpuPeriod",
    ):
        v = host_config.get(key)
        if isinstance(v, int) and v < 0 and not (key in ("MemorySwap", "CpuQuota") and v == -1):
            raise InvalidArgument(f"HostConfig.{key}: must not be negative")
    mem = host_config.get("Memory") or 0
    if mem and mem < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    swap = host_config.get("MemorySwap") or 0
    if swap and swap != -1 and mem and swap < mem:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    return config, host_config


def merge_image_config(config: dict[str, Any], image: Any) -> dict[str, Any]:
    """The container's Config with the image's defaults applied (Docker's rules)."""
    out = dict(config)
    image_env = list(image.env or ())
    env_names = {e.split("=", 1)[0] for e in out.get("Env") or []}
    out["Env"] = [e for e in image_env if e.split("=", 1)[0] not in env_names] + list(
        out.get("Env") or []
    )
    if out.get("Entrypoint") is None:
        out["Entrypoint"] = list(image.entrypoint) if image.entrypoint else None
        if not out.get("Cmd"):
            out["Cmd"] = list(image.cmd) if image.cmd else None
    elif out.get("Entrypoint") == [""]:
        out["Entrypoint"] = None
    for key, attr in (
        ("WorkingDir", "working_dir"),
        ("User", "user"),
        ("StopSignal", "stop_signal"),
    ):
        if not out.get(key) and getattr(image, attr, None):
            out[key] = getattr(image, attr)
    for key, attr in (("ExposedPorts", "exposed_ports"), ("Volumes", "volumes")):
        merged = dict(getattr(image, attr, None) or {})
        merged.update(out.get(key) or {})
        out[key] = merged or None
    labels = dict(image.labels or {})
    labels.update(out.get("Labels") or {})
    out["Labels"] = labels
    from berth.engine.containers.health import merge

    image_check = image.healthcheck.to_json() if image.healthcheck is not None else None
    out["Healthcheck"] = merge(out.get("Healthcheck"), image_check)
    if out.get("StopTimeout") is None and image.stop_timeout is not None:
        out["StopTimeout"] = image.stop_timeout
    return out


def port_mappings(config: dict[str, Any], host_config: dict[str, Any]) -> list[Any]:
    """Docker's PortBindings (and -P's ExposedPorts) -> the network manager's PortMapping list."""
    from berth.network.portspec import PortMapping, exposed_ports

    out = []
    bound = set()
    for key, bindings in (host_config.get("PortBindings") or {}).items():
        port, _, proto = str(key).partition("/")
        bound.add(key)
        for b in bindings or [{}]:
            host_port = str((b or {}).get("HostPort") or "")
            lo, _, hi = host_port.partition("-")
            out.append(
                PortMapping(
                    int(port),
                    proto or "tcp",
                    str((b or {}).get("HostIp") or ""),
                    int(lo) if lo else 0,
                    int(hi) if hi else 0,
                )
            )
    if host_config.get("PublishAllPorts"):
        rest = [k for k in (config.get("ExposedPorts") or {}) if k not in bound]
        out += exposed_ports(rest)
    return out
