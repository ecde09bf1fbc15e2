"""A planned cgroup file write: the unit of every plan.

Planners (``berth.cgroups.v1``, ``berth.cgroups.v2``, ``berth.cgroups.devices``)
return lists of :class:`Write`; ``Cgroup.apply`` performs them in order. A
write's file name is checked when it is made: a plain name, never a path, so a
write lands in the directory it was planned for and nowhere else.
"""

from __future__ import annotations

from berth.errors import InvalidArgument


class Write:
    """Write ``value`` to the cgroup file ``path`` (``directory/filename``)."""

    __slots__ = ("path", "value")

    def __init__(self, directory: str, filename: str, value: str) -> None:
        if not filename or "/" in filename or filename in (".", "..") or "\0" in filename:
            raise InvalidArgument(f"cgroup file name {filename!r} is not a plain file name")
        if "\0" in value:
            raise InvalidArgument(f"value for {filename}: must not contain NUL")
        self.path = directory.rstrip("/") + "/" + filename
        self.value = value

    @property
    def directory(self) -> str:
        return self.path.rsplit("/", 1)[0]

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[1]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Write) and (self.path, self.value) == (other.path, other.value)

    def __hash__(self) -> int:
        return hash((self.path, self.value))

    def __repr__(self) -> str:
        return f"Write({self.path!r}, {self.value!r})"
