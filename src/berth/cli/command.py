"""How a ``berth`` command is written (the conventions every area follows).

A command is a function in a ``berth/cli/cmd_<area>.py`` module, declared
with :func:`command` and listed in ``berth.cli.commands`` (the tree that the
CLI reads without importing any command module)::

    from berth.cli.command import Context, command
    from berth.cli.flags import Flag

    @command(
        "berth image ls [OPTIONS] [REPOSITORY[:TAG]]",
        "List images",
        flags=[Flag("-a", "--all", help="Show all images"),
               Flag("-q", "--quiet", help="Only show image IDs"),
               FORMAT_FLAG],
        max_args=1,
    )
    def image_ls(ctx: Context, opts: Parsed) -> int:
        images = ctx.client.get_json("/images/json", {"all": opts.all})
        ...
        return 0

- ``usage`` is Docker's usage line (the program name is replaced by the one
  the user typed); ``short`` the one-line description;
- ``min_args`` / ``max_args`` are checked with Docker's messages
  (``"berth version" accepts no arguments.``, exit 1);
- ``interspersed=False`` stops flag parsing at the first argument
  (``run IMAGE CMD --flags-of-cmd``);
- ``error_code``: the exit status when the command fails with an error --
  Docker's is 1, ``run``/``create`` use 125; flag errors are always 125;
- the function returns the exit status; it raises :mod:`berth.errors` on
  failure. Errors from the daemon print as ``Error response from daemon:
  <message>``; local ones as their message. A container that could not be
  started exits with the error's own code (126, 127).

Output goes through ``ctx.out`` (stdout) and ``ctx.err`` (stderr);
``ctx.client`` is the :class:`berth.client.api.Client` (made on first use,
with autostart). ``--format`` values go through :func:`berth.cli.template.render`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TextIO

    from berth.cli.flags import Flag, Parsed
    from berth.client.api import Client
    from berth.client.hosts import Host

    Handler = Callable[["Context", Parsed], int]


class Spec:
    __slots__ = (
        "error_code",
        "flags",
        "interspersed",
        "max_args",
        "min_args",
        "short",
        "usage",
    )

    def __init__(
        self,
        usage: str,
        short: str,
        flags: Sequence[Flag],
        min_args: int,
        max_args: int | None,
        interspersed: bool,
        error_code: int,
    ) -> None:
        self.usage = usage
        self.short = short
        self.flags = list(flags)
        self.min_args = min_args
        self.max_args = max_args
        self.interspersed = interspersed
        self.error_code = error_code


def command(
    usage: str,
    short: str,
    flags: Sequence[Flag] = (),
    min_args: int = 0,
    max_args: int | None = None,
    interspersed: bool = True,
    error_code: int = 1,
) -> Callable[[Handler], Handler]:
    spec = Spec(usage, short, flags, min_args, max_args, interspersed, error_code)

    def mark(fn: Handler) -> Handler:
        fn.spec = spec  # type: ignore[attr-defined]
        return fn

    return mark


class Context:
    """What a command gets besides its flags: the client, the output, the program name."""

    def __init__(
        self,
        prog: str = "berth",
        host_flags: list[str] | None = None,
        debug: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.prog = prog
        self.host_flags = host_flags or []
        self.debug = debug
        self.out: TextIO = out or sys.stdout
        self.err: TextIO = err or sys.stderr
        self._client: Client | None = None
        self._host: Host | None = None

    @property
    def host(self) -> Host:
        if self._host is None:
            from berth.client.hosts import resolve

            self._host = resolve(self.host_flags)
        return self._host

    @property
    def client(self) -> Client:
        if self._client is None:
            import os

            from berth.client.api import Client

            version = os.environ.get("BERTH_API_VERSION") or os.environ.get("DOCKER_API_VERSION")
            self._client = Client(self.host, version=version or None, autostart=True)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def confirm(self, warning: str, sep: str = "\n") -> bool:
        """Docker's prompt before removing things: ``warning``, then "Are you sure you
        want to continue? [y/N]"; True for y or yes on stdin."""
        self.out.write(f"{warning}{sep}Are you sure you want to continue? [y/N] ")
        self.out.flush()
        return sys.stdin.readline().strip().lower() in ("y", "yes")

    def print_json(self, doc: Any) -> None:
        """Indented JSON as docker prints it (``inspect``)."""
        import json

        self.out.write(json.dumps(doc, indent=4, ensure_ascii=False) + "\n")


FORMAT_HELP = "Format the output using the given Go template"
