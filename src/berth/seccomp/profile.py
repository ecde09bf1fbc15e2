"""Docker seccomp profiles -> OCI ``linux.seccomp``, and berth's default profile.

A Docker profile (``--security-opt seccomp=profile.json``, moby's
``profiles/seccomp`` format) is an OCI ``linux.seccomp`` object with a few
additions that are resolved for one container on one host:

- ``archMap``: ``[{"architecture": A, "subArchitectures": [...]}]``; the
  entry whose architecture is the native one gives ``architectures``
  (A followed by its sub-architectures). ``architectures`` and ``archMap``
  together are an error.
- per syscall entry: ``name`` (one name, the old form of ``names``),
  ``comment``, and ``includes`` / ``excludes`` filters with ``caps``,
  ``arches`` (Docker's names: amd64, x86, x32, arm64, arm, ...) and
  ``minKernel`` (``"<major>.<minor>"``). An entry is kept when the native
  arch is in ``includes.arches``, every cap of ``includes.caps`` is in the
  container's capability set and the kernel is at least
  ``includes.minKernel``; it is dropped when the native arch is in
  ``excludes.arches``, any cap of ``excludes.caps`` is in the set, or the
  kernel is at least ``excludes.minKernel``.

A profile with neither ``defaultAction`` nor ``syscalls`` means "no seccomp":
:func:`docker_profile_to_oci` returns None for it.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Seccomp, SeccompSyscall
from berth.seccomp import arch as _arch

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

_WHERE = "seccomp profile"
_DOCKER_SYSCALL_KEYS = ("name", "comment", "includes", "excludes")


def host_kernel() -> tuple[int, int]:
    """(major, minor) of the running kernel, as ``minKernel`` compares it."""
    return parse_kernel(os.uname().release, "kernel release")


def parse_kernel(text: str, where: str) -> tuple[int, int]:
    """``"4.8"``, ``"6.18.44-fc-v657"`` -> (4, 8), (6, 18)."""
    parts = text.split(".", 2)
    try:
        major = int(parts[0])
        minor = int("".join(ch for ch in parts[1].split("-")[0] if ch.isdigit()) or "x")
    except (IndexError, ValueError):
        raise InvalidArgument(f"{where}: invalid kernel version {text!r}, expected <major>.<minor>")
    return major, minor


def _caps(capabilities: Iterable[str]) -> frozenset[str]:
    out = set()
    for cap in capabilities:
        name = cap.upper()
        out.add(name if name.startswith("CAP_") else "CAP_" + name)
    return frozenset(out)


def _strings(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{where}: expected an array of strings")
    return value


def _filter(doc: object, where: str) -> tuple[list[str], list[str], tuple[int, int] | None] | None:
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{where}: expected an object")
    kernel = doc.get("minKernel")
    if kernel in (None, ""):
        min_kernel = None
    elif isinstance(kernel, str):
        min_kernel = parse_kernel(kernel, f"{where}.minKernel")
        if min_kernel == (0, 0):
            raise InvalidArgument(f"{where}.minKernel: version cannot be 0.0")
    else:
        raise InvalidArgument(f'{where}.minKernel: expected a string like "4.8"')
    caps = _strings(doc.get("caps"), f"{where}.caps")
    return caps, _strings(doc.get("arches"), f"{where}.arches"), min_kernel


def docker_profile_to_oci(
    doc: object,
    capabilities: Iterable[str],
    arch: str | None = None,
    *,
    kernel: tuple[int, int] | None = None,
) -> Seccomp | None:
    """Resolve a Docker profile (JSON text or decoded object) for one container.

    ``capabilities``: the container's bounding set (``CAP_`` prefix optional);
    ``arch``: the native architecture in any spelling (default: this
    machine); ``kernel``: (major, minor) for ``minKernel`` (default: running).
    Returns None when the profile asks for no seccomp at all.
    """
    if isinstance(doc, (str, bytes)):
        from berth import jsonio

        doc = jsonio.loads(doc)
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{_WHERE}: expected a JSON object")
    native = _arch.native() if arch is None else _arch.lookup(arch, "arch")
    caps = _caps(capabilities)
    calls = doc.get("syscalls")
    if not doc.get("defaultAction") and not calls:
        return None
    if doc.get("architectures") and doc.get("archMap"):
        raise InvalidArgument(
            f"{_WHERE}: both 'architectures' and 'archMap' are given; use one of them"
        )
    base: dict[str, Any] = {k: v for k, v in doc.items() if k not in ("archMap", "syscalls")}
    arch_map = doc.get("archMap")
    if arch_map:
        if not isinstance(arch_map, list):
            raise InvalidArgument(f"{_WHERE}.archMap: expected an array")
        for i, entry in enumerate(arch_map):
            if not isinstance(entry, dict):
                raise InvalidArgument(f"{_WHERE}.archMap[{i}]: expected an object")
            if entry.get("architecture") == native.name:
                subs = _strings(entry.get("subArchitectures"), f"{_WHERE}.archMap[{i}]")
                base["architectures"] = [native.name, *subs]
                break
    syscalls = []
    if calls is not None and not isinstance(calls, list):
        raise InvalidArgument(f"{_WHERE}.syscalls: expected an array")
    for i, call in enumerate(calls or ()):
        where = f"{_WHERE}.syscalls[{i}]"
        if not isinstance(call, dict):
            raise InvalidArgument(f"{where}: expected an object")
        if not _applies(call, where, native, caps, kernel):
            continue
        entry = {k: v for k, v in call.items() if k not in _DOCKER_SYSCALL_KEYS}
        name = call.get("name")
        if name:
            if call.get("names"):
                raise InvalidArgument(f"{where}: both 'name' and 'names' are given; use 'names'")
            entry["names"] = [name]
        entry.setdefault("names", [])
        syscalls.append(SeccompSyscall.from_json(entry, where))
    seccomp = Seccomp.from_json(base, _WHERE)
    return seccomp.replace(syscalls=tuple(syscalls))


def _applies(
    call: dict[str, Any],
    where: str,
    native: _arch.Arch,
    caps: frozenset[str],
    kernel: tuple[int, int] | None,
) -> bool:
    excludes = _filter(call.get("excludes"), f"{where}.excludes")
    if excludes is not None:
        ex_caps, ex_arches, ex_kernel = excludes
        if native.docker in ex_arches or any(c in caps for c in ex_caps):
            return False
        if ex_kernel is not None and (kernel or host_kernel()) >= ex_kernel:
            return False
    includes = _filter(call.get("includes"), f"{where}.includes")
    if includes is not None:
        in_caps, in_arches, in_kernel = includes
        if in_arches and native.docker not in in_arches:
            return False
        if not all(c in caps for c in in_caps):
            return False
        if in_kernel is not None and (kernel or host_kernel()) < in_kernel:
            return False
    return True


_defaults: dict[tuple[frozenset[str], str, tuple[int, int]], Seccomp] = {}


def default_profile(
    capabilities: Iterable[str],
    arch: str | None = None,
    *,
    kernel: tuple[int, int] | None = None,
) -> Seccomp:
    """berth's default profile for a container with ``capabilities``.

    Equivalent in effect to Docker's default: EPERM for everything not listed;
    the ordinary system calls allowed; namespace, mount, module, clock, reboot,
    tracing, BPF and perf calls allowed only with the capability that the
    kernel checks for them anyway; keyring, kexec, userfaultfd and friends
    never; ``clone`` without namespace flags and ``clone3`` as ENOSYS (so libc
    falls back to clone) unless CAP_SYS_ADMIN; a few safe ``personality``
    values. The table is :data:`berth.seccomp.default.PROFILE`.
    """
    caps = _caps(capabilities)
    native = _arch.native() if arch is None else _arch.lookup(arch, "arch")
    version = kernel or host_kernel()
    key = (caps, native.name, version)
    found = _defaults.get(key)
    if found is None:
        from berth.seccomp.default import PROFILE

        found = docker_profile_to_oci(PROFILE, caps, native.name, kernel=version)
        assert found is not None
        if len(_defaults) >= 32:
            _defaults.pop(next(iter(_defaults)))
        _defaults[key] = found
    return found
