"""bpf(2) for cgroup v2 device filters: load, attach, query and detach programs.

cgroup v2 has no devices controller; a program of type
``BPF_PROG_TYPE_CGROUP_DEVICE`` attached to a cgroup directory decides every
device access (open, mknod) of the processes in it: it returns 1 to allow and
0 to deny (the access fails with EPERM). The program text is built, as plain
bytes, by ``berth.cgroups.devices``; this module only talks to the kernel.

Programs are attached with ``BPF_F_ALLOW_MULTI``, so the filters of the parent
cgroups keep running too, and the kernel keeps an attached program alive after
our file descriptor is closed, until it is detached or the cgroup is removed.
"""

from __future__ import annotations

import ctypes
import os
import struct

from berth.errors import KernelError
from berth.kernel.libc import libc

_NR_BPF = {"x86_64": 321, "aarch64": 280}

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # attach type
BPF_F_ALLOW_MULTI = 2

_ATTR_SIZE = 128  # larger than every layout used here; the tail stays zero
_LICENSE = b"Apache-2.0\0"
_NAME = b"berth_devices"

_sys = libc.syscall
_sys.restype = ctypes.c_long


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], op: str, target: str) -> int:
    machine = os.uname().machine
    number = _NR_BPF.get(machine)
    if number is None:
        raise KernelError("bpf", target, 38, f"berth does not know the bpf(2) number on {machine}")
    ret = _sys(ctypes.c_long(number), ctypes.c_int(cmd), attr, ctypes.c_uint(_ATTR_SIZE))
    if ret < 0:
        raise KernelError(op, target, ctypes.get_errno())
    return int(ret)


def _attr() -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(_ATTR_SIZE)


def load_device_program(insns: bytes, target: str = "") -> int:
    """Load a cgroup device program; returns its fd. A verifier refusal carries its log."""
    if not insns or len(insns) % 8:
        raise KernelError("bpf(BPF_PROG_LOAD)", target, 22, "the program is not whole instructions")
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(_LICENSE, len(_LICENSE))

    def attempt(log: ctypes.Array[ctypes.c_char] | None) -> int:
        attr = _attr()
        struct.pack_into(
            "=IIQQIIQII",
            attr,
            0,
            BPF_PROG_TYPE_CGROUP_DEVICE,
            len(insns) // 8,
            ctypes.addressof(code),
            ctypes.addressof(lic),
            1 if log is not None else 0,
            len(log) if log is not None else 0,
            ctypes.addressof(log) if log is not None else 0,
            0,
            0,
        )
        struct.pack_into(f"={len(_NAME)}s", attr, 48, _NAME)
        return _bpf(BPF_PROG_LOAD, attr, "bpf(BPF_PROG_LOAD)", target)

    try:
        return attempt(None)
    except KernelError as e:
        if e.errno not in (13, 22):  # EACCES, EINVAL: the verifier said no; get its reason
            raise
        log = ctypes.create_string_buffer(65536)
        try:
            return attempt(log)
        except KernelError as again:
            text = log.value.decode(errors="replace").strip().splitlines()
            raise KernelError(
                "bpf(BPF_PROG_LOAD)",
                target,
                again.errno,
                "verifier: " + " | ".join(text[-6:]) if text else "",
            ) from None


def attach_device_program(prog_fd: int, cgroup_fd: int, target: str = "") -> None:
    attr = _attr()
    struct.pack_into("=IIII", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
    _bpf(BPF_PROG_ATTACH, attr, "bpf(BPF_PROG_ATTACH)", target)


def query_device_programs(cgroup_fd: int, target: str = "") -> list[int]:
    """Ids of the device programs attached to this cgroup itself (not inherited ones)."""
    count = 64
    while True:
        ids = (ctypes.c_uint32 * count)()
        attr = _attr()
        struct.pack_into(
            "=IIIIQI", attr, 0, cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), count
        )
        try:
            _bpf(BPF_PROG_QUERY, attr, "bpf(BPF_PROG_QUERY)", target)
        except KernelError as e:
            if e.errno == 28 and count < 4096:  # ENOSPC: more than we made room for
                count *= 8
                continue
            raise
        got = struct.unpack_from("=I", attr, 24)[0]
        return [int(ids[i]) for i in range(min(got, count))]


def detach_device_program_by_id(prog_id: int, cgroup_fd: int, target: str = "") -> None:
    """Detach one attached program, named by its id; a program already gone is fine."""
    attr = _attr()
    struct.pack_into("=I", attr, 0, prog_id)
    try:
        prog_fd = _bpf(BPF_PROG_GET_FD_BY_ID, attr, "bpf(BPF_PROG_GET_FD_BY_ID)", target)
    except KernelError as e:
        if e.errno == 2:  # ENOENT: freed meanwhile
            return
        raise
    try:
        attr = _attr()
        struct.pack_into("=IIII", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, 0)
        try:
            _bpf(BPF_PROG_DETACH, attr, "bpf(BPF_PROG_DETACH)", target)
        except KernelError as e:
            if e.errno != 2:
                raise
    finally:
        os.close(prog_fd)
