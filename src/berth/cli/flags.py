"""A small command-line parser with Docker's (pflag's) and runc's conventions.

Why not argparse: it costs several milliseconds to import (``re``,
``gettext``) on a path where a whole container start should take ~30 ms,
and its conventions differ from Docker's in ways users notice.

What it does, as pflag does:

- ``--name=value``, ``--name value``, ``-n value``, ``-nvalue``;
  combined short booleans ``-it``, and ``-dp 80:80`` (last one takes a value);
- booleans accept ``--rm=false``; a flag may have several names;
- ``--`` ends the flags; ``interspersed=False`` stops at the first
  positional argument (``docker run IMAGE CMD --flags-of-cmd``);
- repeated flags: ``kind="list"`` collects every value in order;
- errors name the flag: ``unknown flag: --nope``,
  ``flag needs an argument: --name``, ``invalid argument "x" for "-m" flag``.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any


class Flag:
    """One option: ``Flag("-d", "--detach", help="...")`` is a boolean.

    ``kind`` is ``bool``, ``str``, ``int`` or ``list`` (a repeated string);
    ``convert`` turns the text into the stored value (and raises ValueError).
    ``dest`` defaults to the long name with dashes as underscores.
    """

    __slots__ = ("convert", "default", "dest", "help", "hidden", "kind", "metavar", "names")

    def __init__(
        self,
        *names: str,
        kind: str = "bool",
        default: Any = None,
        help: str = "",
        dest: str | None = None,
        convert: Callable[[str], Any] | None = None,
        hidden: bool = False,
        metavar: str = "",
    ) -> None:
        self.names = names
        self.kind = kind
        self.help = help
        self.hidden = hidden
        self.convert = convert
        self.metavar = metavar or {"str": "string", "int": "int", "list": "list"}.get(kind, "")
        longs = [n for n in names if n.startswith("--")]
        self.dest = dest or (longs[0] if longs else names[0]).lstrip("-").replace("-", "_")
        if default is None:
            default = {"bool": False, "list": []}.get(kind)
        self.default = default

    @property
    def display(self) -> str:
        shorts = [n for n in self.names if not n.startswith("--")]
        longs = [n for n in self.names if n.startswith("--")]
        return ", ".join(shorts + longs)


class Parsed:
    """The result: flag values as attributes, ``args`` the positionals, ``given`` the set flags."""

    def __init__(self, values: dict[str, Any], args: list[str], given: set[str]) -> None:
        self.__dict__.update(values)
        self.args = args
        self.given = given

    def get(self, dest: str, default: Any = None) -> Any:
        return self.__dict__.get(dest, default)

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...


def _bool_text(text: str, name: str) -> bool:
    low = text.lower()
    if low in ("1", "t", "true"):
        return True
    if low in ("0", "f", "false"):
        return False
    raise InvalidArgument(f'invalid argument "{text}" for "{name}" flag: invalid syntax')


def parse(
    flags: Sequence[Flag],
    argv: Sequence[str],
    *,
    interspersed: bool = True,
) -> Parsed:
    """Parse ``argv`` (without the command name) against ``flags``."""
    by_name: dict[str, Flag] = {}
    for f in flags:
        for flag_name in f.names:
            by_name[flag_name] = f
    values: dict[str, Any] = {}
    for f in flags:
        values[f.dest] = list(f.default) if f.kind == "list" else f.default
    given: set[str] = set()
    args: list[str] = []

    def store(f: Flag, name: str, text: str) -> None:
        given.add(f.dest)
        if f.kind == "bool":
            values[f.dest] = _bool_text(text, name)
            return
        try:
            value: Any = f.convert(text) if f.convert else text
            if f.kind == "int" and not f.convert:
                value = int(text, 0)
        except (ValueError, InvalidArgument) as e:
            detail = str(e) if isinstance(e, InvalidArgument) else "invalid syntax"
            raise InvalidArgument(f'invalid argument "{text}" for "{name}" flag: {detail}')
        if f.kind == "list":
            values[f.dest].append(value)
        else:
            values[f.dest] = value

    i = 0
    count = len(argv)
    while i < count:
        arg = argv[i]
        i += 1
        if arg == "--":
            args.extend(argv[i:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, inline = arg.partition("=")
            found = by_name.get(name)
            if found is None:
                raise InvalidArgument(f"unknown flag: {name}")
            f = found
            if f.kind == "bool":
                store(f, name, inline if eq else "true")
            elif eq:
                store(f, name, inline)
            elif i < count:
                store(f, name, argv[i])
                i += 1
            else:
                raise InvalidArgument(f"flag needs an argument: {name}")
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                name = "-" + arg[j]
                found = by_name.get(name)
                if found is None:
                    raise InvalidArgument(f"unknown shorthand flag: '{arg[j]}' in {arg}")
                f = found
                rest = arg[j + 1 :]
                if f.kind == "bool":
                    if rest.startswith("="):
                        store(f, name, rest[1:])
                        break
                    store(f, name, "true")
                    j += 1
                    continue
                if rest:
                    store(f, name, rest[1:] if rest.startswith("=") else rest)
                elif i < count:
                    store(f, name, argv[i])
                    i += 1
                else:
                    raise InvalidArgument(f"flag needs an argument: '{arg[j]}' in {arg}")
                break
            continue
        args.append(arg)
        if not interspersed:
            args.extend(argv[i:])
            break
    return Parsed(values, args, given)


def usage_lines(flags: Sequence[Flag]) -> list[str]:
    """The "Options:" block of a help text, Docker style."""
    rows = []
    for f in flags:
        if f.hidden:
            continue
        shorts = [x for x in f.names if not x.startswith("--")]
        longs = [x for x in f.names if x.startswith("--")]
        left = (shorts[0] + ", " if shorts else "    ") + (longs[0] if longs else "")
        if f.metavar:
            left += " " + f.metavar
        rows.append((left, f.help))
    width = max((len(r[0]) for r in rows), default=0)
    return [f"  {left.ljust(width)}   {text}".rstrip() for left, text in rows]
