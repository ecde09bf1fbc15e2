"""``berth [OPTIONS] COMMAND [ARG...]``: the CLI's entry point.

Parses the global flags, finds the command in ``berth.cli.commands``,
imports only its module, parses its flags and runs it. Exit statuses are
decided here, in one place (:func:`exit_code`), as docker's:

- 0 success; the command's own status otherwise;
- 125 a flag the command does not know or cannot parse (with
  ``See 'berth COMMAND --help'.``);
- 1 wrong number of arguments, an unknown command, an error (the
  command's ``error_code`` instead: 125 for ``run``/``create``);
- 126/127 a container that cannot be invoked / found (ContainerStartError);
- 130 interrupted.
"""

from __future__ import annotations

import sys

from berth.cli.flags import Flag, parse, usage_lines
from berth.errors import BerthError, ContainerStartError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from berth.cli.command import Context, Spec
    from berth.cli.commands import Cmd

GLOBAL_FLAGS = [
    Flag("--config", kind="str", help="Location of client config files (ignored by berth)"),
    Flag("-D", "--debug", help="Enable debug mode"),
    Flag("-H", "--host", kind="list", help="Daemon socket(s) to connect to"),
    Flag(
        "-l",
        "--log-level",
        kind="str",
        help='Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")',
    ),
    Flag("-v", "--version", help="Print version information and quit"),
    Flag("-h", "--help", help="Print usage"),
]
HELP_FLAG = Flag("--help", help="Print usage")
HELP_FLAGS = [Flag("-h", "--help", help="Print usage")]


class UsageError(InvalidArgument):
    """A command line that does not parse: exit 125 with a pointer to --help."""


def exit_code(exc: BaseException, error_code: int = 1) -> int:
    """The one mapping from errors to exit statuses."""
    if isinstance(exc, UsageError):
        return 125
    if isinstance(exc, ContainerStartError):
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return error_code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    prog = "berth"
    try:
        g = parse(GLOBAL_FLAGS, args, interspersed=False)
    except InvalidArgument as e:
        sys.stderr.write(f"{e}\nSee '{prog} --help'.\n{_top_help(prog)}")
        return 125
    if g.version:
        from berth.api.versions import BERTH_VERSION, build_info

        commit, _ = build_info()
        sys.stdout.write(f"berth version {BERTH_VERSION}, build {commit or 'unknown'}\n")
        return 0
    rest = g.args
    if g.help or not rest:
        sys.stdout.write(_top_help(prog))
        return 0
    from berth.cli.command import Context

    ctx = Context(prog, g.host, g.debug)
    try:
        return _dispatch(ctx, rest)
    except BrokenPipeError:
        return 141
    except KeyboardInterrupt:
        return 130
    finally:
        ctx.close()
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            pass


def _dispatch(ctx: Context, rest: list[str]) -> int:
    from berth.cli.commands import COMMANDS, MANAGEMENT

    name = rest[0]
    prog = ctx.prog
    group = MANAGEMENT.get(name)
    if group is not None:
        sub = rest[1:]
        if not sub or sub[0] in ("--help", "-h", "help"):
            sys.stdout.write(_group_help(prog, name, group))
            return 0
        found = group.find(sub[0])
        if found is None:
            if sub[0].startswith("-"):
                ctx.err.write(f"unknown flag: {sub[0]}\nSee '{prog} {name} --help'.\n")
                return 125
            ctx.err.write(
                f"{prog}: '{name} {sub[0]}' is not a {prog} command.\nSee '{prog} {name} --help'\n"
            )
            return 1
        return _run(ctx, f"{name} {sub[0]}", found, sub[1:])
    cmd = COMMANDS.get(name)
    if cmd is None:
        if name == "help":
            sys.stdout.write(_top_help(prog))
            return 0
        ctx.err.write(f"{prog}: '{name}' is not a {prog} command.\nSee '{prog} --help'\n")
        return 1
    return _run(ctx, name, cmd, rest[1:])


#: Besides a command's module (and what it imports at its top level), what a command
#: imports before its first request, loaded ahead from the module cache
#: (berth.runtime.modcache.preload: ~20 µs less per module than its import). Not
#: what it imports once berthd is at work (``run``'s stream copy): that overlaps.
_CLIENT = ("berth.client.api", "berth.client.hosts", "berth.jsonio")
_PRELOAD = {
    "run": (*_CLIENT, "berth.network.portspec", "berth.durations", "berth.runtime.trace"),
}


def _load(cmd: Cmd, path: str) -> object:
    module, _, func = cmd.target.partition(":")
    from berth.runtime import modcache

    modcache.preload((module, *_PRELOAD.get(path, _CLIENT)))
    __import__(module)  # importlib itself costs more than the import here
    return getattr(sys.modules[module], func)


def _run(ctx: Context, path: str, cmd: Cmd, argv: list[str]) -> int:
    fn = _load(cmd, path)
    if cmd.raw:
        return int(fn(argv, f"{ctx.prog} {path}"))  # type: ignore[operator]
    spec: Spec = fn.spec  # type: ignore[attr-defined]
    full = f"{ctx.prog} {path}"
    flags = spec.flags
    help_flag = HELP_FLAG if any("-h" in f.names for f in flags) else HELP_FLAGS[0]
    try:
        try:
            opts = parse([*flags, help_flag], argv, interspersed=spec.interspersed)
        except InvalidArgument as e:
            raise UsageError(f"{e}\nSee '{full} --help'.")
        if opts.help:
            ctx.out.write(command_help(ctx.prog, path, spec, cmd))
            return 0
        problem = _arg_count_problem(full, spec, len(opts.args))
        if problem:
            ctx.err.write(
                f"{problem}\nSee '{full} --help'.\n\nUsage:  {_usage_line(ctx.prog, spec)}\n\n"
                f"{spec.short}\n"
            )
            return 1
        return int(fn(ctx, opts))  # type: ignore[operator]
    except UsageError as e:
        ctx.err.write(f"{e.message}\n")
        return 125
    except BerthError as e:
        from berth.client.api import DaemonError

        text = e.message
        if isinstance(e, DaemonError):
            text = f"Error response from daemon: {text}"
        ctx.err.write(text.rstrip("\n") + "\n")
        return exit_code(e, spec.error_code)


def _arg_count_problem(full: str, spec: Spec, n: int) -> str:
    lo, hi = spec.min_args, spec.max_args
    plural = "argument" if (hi if hi is not None else lo) == 1 else "arguments"
    if hi == 0 and n > 0:
        return f'"{full}" accepts no arguments.'
    if hi is not None and lo == hi and n != lo:
        return f'"{full}" requires exactly {lo} {plural}.'
    if n < lo:
        word = "argument" if lo == 1 else "arguments"
        if hi is not None:
            return f'"{full}" requires at least {lo} and at most {hi} arguments.'
        return f'"{full}" requires at least {lo} {word}.'
    if hi is not None and n > hi:
        if lo:
            return f'"{full}" requires at least {lo} and at most {hi} arguments.'
        return f'"{full}" requires at most {hi} {plural}.'
    return ""


def _usage_line(prog: str, spec: Spec) -> str:
    usage = spec.usage
    if usage.startswith("berth "):
        usage = prog + usage[len("berth") :]
    return usage


def command_help(prog: str, path: str, spec: Spec, cmd: Cmd) -> str:
    out = f"\nUsage:  {_usage_line(prog, spec)}\n\n{spec.short}\n"
    if cmd.aliases:
        out += "\nAliases:\n  " + ", ".join((path.split()[-1], *cmd.aliases)) + "\n"
    visible = [f for f in spec.flags if not f.hidden]
    if visible:
        out += "\nOptions:\n" + "\n".join(usage_lines(visible)) + "\n"
    return out


def _rows(items: dict[str, str]) -> str:
    return "".join(f"  {name.ljust(11)} {short}\n" for name, short in sorted(items.items()))


def _top_help(prog: str) -> str:
    from berth.cli.commands import COMMANDS, MANAGEMENT

    return (
        f"\nUsage:  {prog} [OPTIONS] COMMAND\n\n"
        "A container engine that does what Docker does, on the Linux kernel\n\n"
        "Options:\n" + "\n".join(usage_lines(GLOBAL_FLAGS)) + "\n\n"
        "Management Commands:\n" + _rows({k: g.short for k, g in MANAGEMENT.items()}) + "\n"
        "Commands:\n" + _rows({k: c.short for k, c in COMMANDS.items()}) + "\n"
        f"Run '{prog} COMMAND --help' for more information on a command.\n"
    )


def _group_help(prog: str, name: str, group: object) -> str:
    from berth.cli.commands import Group

    assert isinstance(group, Group)
    return (
        f"\nUsage:  {prog} {name} COMMAND\n\n{group.short}\n\nCommands:\n"
        + _rows({k: c.short for k, c in group.commands.items()})
        + f"\nRun '{prog} {name} COMMAND --help' for more information on a command.\n"
    )


def entry() -> None:
    """Console script ``berth``."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
