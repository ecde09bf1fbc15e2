"""The one error tree of berth.

Every failure berth reports is one of these. Front ends map them in one place
each: ``berth.api`` to HTTP statuses, ``berth.cli`` to exit codes. A message
says what failed, on what, and (where there is one) what to do about it::

    BerthError
    ├── InvalidArgument        bad input: flags, API bodies, configs, Dockerfiles  400 / 125
    │   └── CorruptContent     content that fails verification (digest, size, tar) 400 / 125
    ├── NotFound               no such container, image, network, volume, file      404 / 125
    ├── Conflict               name in use, container running, image in use        409 / 125
    ├── NotModified            the object is already in the state asked for        304
    ├── Unauthorized           registry credentials missing or refused             401 / 125
    ├── Unavailable            a peer (registry, daemon) cannot be reached         503 / 125
    ├── KernelError            a system call failed (carries errno and the call)   500 / 125
    └── ContainerStartError    the container's process could not be started       500
        ├── CannotInvoke       not executable, permission denied                  126
        └── CommandNotFound    no such file in the container                      127

This module imports nothing, so anything may import it.
"""

from __future__ import annotations


class BerthError(Exception):
    """Base of every error berth raises on purpose."""

    status = 500
    exit_code = 125

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidArgument(BerthError):
    status = 400


class CorruptContent(InvalidArgument):
    """Content that does not verify: wrong digest or size, broken archive."""


class NotFound(BerthError):
    status = 404


class Conflict(BerthError):
    status = 409


class NotModified(BerthError):
    status = 304


class Unauthorized(BerthError):
    status = 401


class Unavailable(BerthError):
    status = 503


class KernelError(BerthError):
    """A system call failed. ``errno`` is the kernel's error number."""

    def __init__(self, op: str, target: str, errno: int, hint: str = "") -> None:
        import os

        self.op = op
        self.target = target
        self.errno = errno
        name = _errno_name(errno)
        text = f"{op} {target}: {os.strerror(errno)}" if target else f"{op}: {os.strerror(errno)}"
        if name:
            text += f" ({name})"
        if hint:
            text += f"; {hint}"
        super().__init__(text)


class ContainerStartError(BerthError):
    """The container was set up but its process could not be started."""


class CannotInvoke(ContainerStartError):
    exit_code = 126


class CommandNotFound(ContainerStartError):
    exit_code = 127


def _errno_name(number: int) -> str:
    import errno

    return errno.errorcode.get(number, "")
