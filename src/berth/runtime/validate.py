"""Semantic checks of a runtime config, before anything is created.

``Spec.from_json`` already checked the JSON types. Here the values are
checked against each other and against the host, as runc's validator does:
a hostname needs its own UTS namespace, mappings need a user namespace, a
sysctl must belong to a namespace the container owns, paths are absolute...
Every error names the field (``linux.namespaces[3].type: ...``) so the user
knows what to fix; nothing has been created when one is raised.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument
from berth.kernel.consts import CAPABILITIES, NAMESPACES, RLIMITS
from berth.oci.runtime_spec import Spec
from berth.runtime import mountopts

# sysctl prefixes (and exact names) that are namespaced, and by which namespace
_IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)
_UTS_SYSCTLS = frozenset({"kernel.domainname", "kernel.hostname"})


def new_namespaces(spec: Spec) -> set[str]:
    """The namespace types the container gets fresh (no ``path``)."""
    linux = spec.linux
    if linux is None:
        return set()
    return {ns.type for ns in linux.namespaces if not ns.path}


def joined_namespaces(spec: Spec) -> dict[str, str]:
    linux = spec.linux
    if linux is None:
        return {}
    return {ns.type: ns.path for ns in linux.namespaces if ns.path}


def validate(spec: Spec, bundle: str, *, need_process: bool = True) -> str:
    """Check ``spec``; return the absolute rootfs path."""
    if spec.root is None or not spec.root.path:
        raise InvalidArgument("root.path: required field is missing")
    rootfs = spec.root.path
    if not os.path.isabs(rootfs):
        rootfs = os.path.join(bundle, rootfs)
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise InvalidArgument(f"root.path: rootfs {rootfs} does not exist or is not a directory")
    if need_process:
        _process(spec)
    _namespaces(spec)
    _mounts(spec)
    _linux(spec)
    return rootfs


def _process(spec: Spec) -> None:
    p = spec.process
    if p is None:
        raise InvalidArgument("process: required field is missing")
    if not p.args:
        raise InvalidArgument("process.args: must hold at least the program to run")
    if not p.cwd.startswith("/"):
        raise InvalidArgument(f"process.cwd: {p.cwd!r} must be an absolute path")
    for i, env in enumerate(p.env):
        if "=" not in env:
            raise InvalidArgument(f"process.env[{i}]: {env!r} is not of the form NAME=value")
    if p.capabilities is not None:
        for kind in ("bounding", "effective", "inheritable", "permitted", "ambient"):
            for i, name in enumerate(getattr(p.capabilities, kind)):
                if name not in CAPABILITIES:
                    raise InvalidArgument(
                        f"process.capabilities.{kind}[{i}]: unknown capability {name!r}"
                    )
    seen = set()
    for i, rl in enumerate(p.rlimits):
        if rl.type not in RLIMITS:
            raise InvalidArgument(f"process.rlimits[{i}].type: unknown rlimit {rl.type!r}")
        if rl.type in seen:
            raise InvalidArgument(f"process.rlimits[{i}].type: {rl.type} is given twice")
        seen.add(rl.type)
        if rl.soft > rl.hard and rl.hard >= 0:
            raise InvalidArgument(
                f"process.rlimits[{i}]: soft limit {rl.soft} is above the hard limit {rl.hard}"
            )
    if p.oom_score_adj is not None and not -1000 <= p.oom_score_adj <= 1000:
        raise InvalidArgument(f"process.oomScoreAdj: {p.oom_score_adj} is not in [-1000, 1000]")
    if p.user is not None and p.user.umask is not None and not 0 <= p.user.umask <= 0o777:
        raise InvalidArgument(f"process.user.umask: {p.user.umask} is not a file mode mask")


def _namespaces(spec: Spec) -> None:
    linux = spec.linux
    if linux is None:
        return
    seen: set[str] = set()
    for i, ns in enumerate(linux.namespaces):
        if ns.type not in NAMESPACES:
            raise InvalidArgument(f"linux.namespaces[{i}].type: unknown namespace type {ns.type!r}")
        if ns.type in seen:
            raise InvalidArgument(f"linux.namespaces[{i}]: namespace {ns.type} is given twice")
        seen.add(ns.type)
        if ns.path is not None:
            if not os.path.isabs(ns.path):
                raise InvalidArgument(f"linux.namespaces[{i}].path: {ns.path!r} is not absolute")
            if not os.path.exists(ns.path):
                raise InvalidArgument(
                    f"linux.namespaces[{i}].path: {ns.path} does not exist"
                    " (is the process that owned it gone?)"
                )
    fresh = new_namespaces(spec)
    if spec.hostname and "uts" not in seen:
        raise InvalidArgument(
            'hostname: a hostname needs the container\'s own UTS namespace (add {"type": "uts"})'
        )
    if spec.domainname and "uts" not in seen:
        raise InvalidArgument("domainname: a domainname needs the container's own UTS namespace")
    if (linux.uid_mappings or linux.gid_mappings) and "user" not in fresh:
        raise InvalidArgument(
            'linux.uidMappings: ID mappings need a new user namespace (add {"type": "user"})'
        )
    if "user" in fresh and not (linux.uid_mappings and linux.gid_mappings):
        raise InvalidArgument(
            "linux.uidMappings: a new user namespace needs uidMappings and gidMappings"
        )
    for kind in ("uid_mappings", "gid_mappings"):
        for i, m in enumerate(getattr(linux, kind)):
            if m.size <= 0 or m.container_id < 0 or m.host_id < 0:
                key = "uidMappings" if kind == "uid_mappings" else "gidMappings"
                raise InvalidArgument(f"linux.{key}[{i}]: IDs must be >= 0 and size > 0")
    if linux.time_offsets:
        if "time" not in fresh:
            raise InvalidArgument(
                'linux.timeOffsets: time offsets need a new time namespace (add {"type": "time"})'
            )
        for clock in linux.time_offsets:
            if clock not in ("monotonic", "boottime"):
                raise InvalidArgument(
                    f"linux.timeOffsets.{clock}: only monotonic and boottime can be offset"
                )


def _mounts(spec: Spec) -> None:
    for i, m in enumerate(spec.mounts):
        if not m.destination.startswith("/"):
            raise InvalidArgument(
                f"mounts[{i}].destination: {m.destination!r} must be an absolute path"
            )
        opts = mountopts.parse(m.options)
        is_bind = opts.is_bind or m.type == "bind"
        if is_bind and not m.source:
            raise InvalidArgument(f"mounts[{i}].source: a bind mount needs a source")
        if not is_bind and not m.type:
            raise InvalidArgument(
                f"mounts[{i}].type: required unless the options make it a bind mount"
            )
        if "idmap" in opts.extensions or "ridmap" in opts.extensions or m.uid_mappings:
            raise InvalidArgument(f"mounts[{i}]: idmapped mounts are not supported by berth yet")


def _linux(spec: Spec) -> None:
    linux = spec.linux
    if linux is None:
        return
    if linux.rootfs_propagation and linux.rootfs_propagation not in mountopts.PROPAGATION:
        raise InvalidArgument(
            f"linux.rootfsPropagation: {linux.rootfs_propagation!r} is not a propagation type"
        )
    for key in ("masked_paths", "readonly_paths"):
        for i, path in enumerate(getattr(linux, key)):
            if not path.startswith("/"):
                name = "maskedPaths" if key == "masked_paths" else "readonlyPaths"
                raise InvalidArgument(f"linux.{name}[{i}]: {path!r} must be an absolute path")
    fresh = new_namespaces(spec)
    for key in linux.sysctl or {}:
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" not in fresh:
                raise InvalidArgument(
                    f"linux.sysctl.{key}: needs the container's own IPC namespace"
                )
        elif key.startswith("net."):
            if "network" not in fresh and "network" not in joined_namespaces(spec):
                raise InvalidArgument(
                    f"linux.sysctl.{key}: needs the container's own network namespace"
                )
        elif key in _UTS_SYSCTLS:
            if "uts" not in fresh:
                raise InvalidArgument(
                    f"linux.sysctl.{key}: needs the container's own UTS namespace"
                )
        else:
            raise InvalidArgument(
                f"linux.sysctl.{key}: not a namespaced sysctl; setting it would change the host"
            )
    for i, dev in enumerate(linux.devices):
        if dev.type not in ("c", "b", "u", "p"):
            raise InvalidArgument(f"linux.devices[{i}].type: {dev.type!r} is not c, b, u or p")
        if not dev.path.startswith("/dev/"):
            raise InvalidArgument(f"linux.devices[{i}].path: {dev.path!r} must be under /dev")
        if dev.type != "p" and (dev.major is None or dev.minor is None):
            raise InvalidArgument(f"linux.devices[{i}]: a {dev.type} device needs major and minor")
