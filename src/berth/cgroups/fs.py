"""File access to cgroup file systems, as one object (tests pass a fake with these methods).

Every failure raises :class:`berth.errors.KernelError` naming the operation, the
file (and the value, for writes) and a hint about what to do.
"""

from __future__ import annotations

import os

from berth.errors import KernelError

_E = {"ENOENT": 2, "ESRCH": 3, "EBUSY": 16, "EEXIST": 17, "ENOTEMPTY": 39}

_WRITE_HINTS = {
    1: "not permitted: a parent cgroup does not allow it, or berth lacks the privilege",
    2: "the file does not exist: this controller or setting is not available on this host",
    13: "not permitted: a parent cgroup does not allow it, or berth lacks the privilege",
    16: "the cgroup is busy: e.g. a memory limit below what it uses now, or cgroup v2's "
    "no-internal-processes rule",
    22: "the kernel rejected the value: check its format and range (and the parent's limits)",
    28: "the cgroup has no CPUs or memory nodes (cpuset) or reached a limit",
    95: "this kernel or device does not support the setting",
}


class CgroupFS:
    """Reads and writes cgroup files; makes and removes cgroup directories."""

    def mkdir(self, path: str) -> bool:
        """Make the directory; True when made, False when it was there already."""
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            return False
        except OSError as e:
            raise KernelError("mkdir", path, e.errno or 0, "cannot create the cgroup") from None
        return True

    def rmdir(self, path: str) -> bool:
        """Remove the directory; True when removed, False when it was not there."""
        try:
            os.rmdir(path)
        except FileNotFoundError:
            return False
        except OSError as e:
            hint = "processes are still in it" if e.errno == _E["EBUSY"] else ""
            raise KernelError("rmdir", path, e.errno or 0, hint) from None
        return True

    def write(self, path: str, value: str) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as e:
            raise KernelError(
                "write", f"{value!r} to {path}", e.errno or 0, _WRITE_HINTS.get(e.errno or 0, "")
            ) from None
        try:
            os.write(fd, value.encode())
        except OSError as e:
            raise KernelError(
                "write", f"{value!r} to {path}", e.errno or 0, _WRITE_HINTS.get(e.errno or 0, "")
            ) from None
        finally:
            os.close(fd)

    def read(self, path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError as e:
            raise KernelError("read", path, e.errno or 0) from None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def subdirs(self, path: str) -> list[str]:
        """Names of the child cgroups of the directory (empty when it is gone)."""
        try:
            with os.scandir(path) as it:
                return [e.name for e in it if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def kill(self, pid: int, sig: int) -> bool:
        """Send a signal; False when the process is already gone."""
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(seconds)

    def set_device_filter(self, directory: str, program: bytes | None) -> None:
        """Make ``program`` the device filter of a cgroup2 directory (None: remove ours).

        The new program is attached before the old ones are detached, so the
        cgroup is never less restricted than either during the switch.
        """
        from berth.kernel import bpf

        dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            old = bpf.query_device_programs(dirfd, directory)
            if program is not None:
                prog = bpf.load_device_program(program, directory)
                try:
                    bpf.attach_device_program(prog, dirfd, directory)
                finally:
                    os.close(prog)
            for prog_id in old:
                bpf.detach_device_program_by_id(prog_id, dirfd, directory)
        finally:
            os.close(dirfd)

    def device_programs(self, directory: str) -> list[int]:
        """Ids of the device programs attached to a cgroup2 directory."""
        from berth.kernel import bpf

        dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return bpf.query_device_programs(dirfd, directory)
        finally:
            os.close(dirfd)


#: The instance berth uses; tests of logic substitute a fake.
CGROUP_FS = CgroupFS()
