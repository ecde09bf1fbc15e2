"""A recording, in-memory stand-in for berth.cgroups.fs.CgroupFS (unit tests of logic)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from berth.errors import KernelError

ENOENT, EBUSY = 2, 16


class FakeFS:
    """Directories and files in dicts; every mutation is recorded in ``log``.

    ``on_mkdir(path)`` may return the files a new directory gets (the kernel's
    interface files); ``fail[path] = errno`` makes writes to that file fail;
    ``busy`` holds directories whose rmdir fails with EBUSY (``busy_for`` times,
    then succeeds) .
    """

    def __init__(
        self,
        dirs: set[str] | None = None,
        files: dict[str, str] | None = None,
        on_mkdir: Callable[[str], dict[str, str]] | None = None,
    ) -> None:
        self.dirs: set[str] = set(dirs or ())
        for d in list(self.dirs):
            while d not in ("/", ""):
                self.dirs.add(d)
                d = posixpath.dirname(d)
        self.files: dict[str, str] = dict(files or {})
        self.on_mkdir = on_mkdir
        self.fail: dict[str, int] = {}
        self.busy: dict[str, int] = {}
        self.log: list[tuple[str, ...]] = []
        self.killed: list[tuple[int, int]] = []
        self.filters: dict[str, bytes | None] = {}
        self.gone: set[int] = set()

    # -- CgroupFS interface ----------------------------------------------------------
    def mkdir(self, path: str) -> bool:
        if path in self.dirs:
            return False
        if posixpath.dirname(path) not in self.dirs:
            raise KernelError("mkdir", path, ENOENT)
        self.dirs.add(path)
        self.log.append(("mkdir", path))
        if self.on_mkdir is not None:
            for name, value in self.on_mkdir(path).items():
                self.files[f"{path}/{name}"] = value
        return True

    def rmdir(self, path: str) -> bool:
        if path not in self.dirs:
            return False
        if self.subdirs(path):
            raise KernelError("rmdir", path, EBUSY)
        if self.busy.get(path, 0) > 0:
            self.busy[path] -= 1
            raise KernelError("rmdir", path, EBUSY)
        self.dirs.discard(path)
        for f in [f for f in self.files if posixpath.dirname(f) == path]:
            del self.files[f]
        self.log.append(("rmdir", path))
        return True

    def write(self, path: str, value: str) -> None:
        if posixpath.dirname(path) not in self.dirs:
            raise KernelError("write", f"{value!r} to {path}", ENOENT)
        if path in self.fail:
            raise KernelError("write", f"{value!r} to {path}", self.fail[path])
        self.log.append(("write", path, value))
        if path.endswith("/cgroup.procs"):
            old = self.files.get(path, "")
            self.files[path] = old + value + "\n"
        else:
            self.files[path] = value

    def read(self, path: str) -> str:
        if path not in self.files:
            raise KernelError("read", path, ENOENT)
        return self.files[path]

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs

    def subdirs(self, path: str) -> list[str]:
        return sorted(posixpath.basename(d) for d in self.dirs if posixpath.dirname(d) == path)

    def kill(self, pid: int, sig: int) -> bool:
        self.killed.append((pid, sig))
        return pid not in self.gone

    def sleep(self, seconds: float) -> None:
        self.log.append(("sleep", str(seconds)))

    def set_device_filter(self, directory: str, program: bytes | None) -> None:
        self.log.append(("filter", directory))
        self.filters[directory] = program

    # -- helpers for tests -------------------------------------------------------------
    def writes(self) -> list[tuple[str, str]]:
        return [(e[1], e[2]) for e in self.log if e[0] == "write"]
