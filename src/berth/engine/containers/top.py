"""``docker top``: the host's ``ps``, narrowed to the container's processes.

``GET /containers/{id}/top?ps_args=`` answers ``{"Titles": [...],
"Processes": [[...], ...]}``. As Docker does: ``ps`` runs on the host with
the user's arguments (default ``-ef``: UID PID PPID C STIME TTY TIME CMD)
plus ``-q`` and the container's pids (every process of its cgroup); when
``ps`` refuses ``-q`` with those arguments it runs again without it. The
rows whose PID column is one of the container's are kept; a row with more
fields than titles has its last ones joined (the command and its
arguments). Arguments that rename the PID column (``-o x=PID``) are refused.

Parsers take text (:func:`parse_ps_output`), so they are tested without a
``ps`` or a container.
"""

from __future__ import annotations

from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

DEFAULT_PS_ARGS = "-ef"
_ASCII_SPACE = "\t\n\f\r "


def fields_ascii(line: str) -> list[str]:
    """Split on ASCII whitespace only (a command may hold other spaces, as Docker keeps)."""
    out: list[str] = []
    word: list[str] = []
    for ch in line:
        if ch in _ASCII_SPACE:
            if word:
                out.append("".join(word))
                word = []
        else:
            word.append(ch)
    if word:
        out.append("".join(word))
    return out


def split_ps_args(ps_args: str) -> list[str]:
    return fields_ascii(ps_args or DEFAULT_PS_ARGS)


def validate_ps_args(ps_args: str) -> None:
    """Refuse a ``-o key=PID...`` that would hide the PID column under another key."""
    words = fields_ascii(ps_args)
    for i, word in enumerate(words):
        if i == 0 or "=" not in word:
            continue  # Docker's check needs whitespace before the key
        key, _, value = word.partition("=")
        if not value and i + 1 < len(words):
            value = words[i + 1]
        if value.startswith("PID") and key != "pid":
            raise InvalidArgument(f'specifying "{key}={value}" is not allowed')


def pids_arg(pids: Iterable[int]) -> str:
    """``-q1,2,3``: ps's quick selection by process id."""
    return "-q" + ",".join(str(p) for p in pids)


def parse_ps_output(text: str, pids: Iterable[int]) -> dict[str, Any]:
    """``ps`` output -> Docker's ContainerTopOKBody, keeping only ``pids``' rows."""
    wanted = set(pids)
    lines = text.split("\n")
    titles = fields_ascii(lines[0]) if lines else []
    if "PID" not in titles:
        raise BerthError("Couldn't find PID field in ps output")
    col = titles.index("PID")
    processes: list[list[str]] = []
    for line in lines[1:]:
        fields = fields_ascii(line)
        if len(fields) <= col:
            continue
        if fields[col] == "-":
            continue  # a thread row of a process (ps -L)
        try:
            pid = int(fields[col])
        except ValueError:
            raise BerthError(f"Unexpected pid '{fields[col]}' in ps output") from None
        if pid not in wanted:
            continue
        if len(fields) > len(titles):
            n = len(titles) - 1
            fields = [*fields[:n], " ".join(fields[n:])]
        processes.append(fields)
    return {"Titles": titles, "Processes": processes}


def run_ps(argv: list[str]) -> tuple[int, str, str]:
    import subprocess

    try:
        r = subprocess.run(["ps", *argv], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise BerthError("ps: not found on the host: install procps") from None
    return r.returncode, r.stdout, r.stderr


def top(
    pids: list[int],
    ps_args: str = "",
    run: Callable[[list[str]], tuple[int, str, str]] = run_ps,
) -> dict[str, Any]:
    """The container's processes as ``ps <ps_args>`` shows them."""
    ps_args = ps_args or DEFAULT_PS_ARGS
    validate_ps_args(ps_args)
    args = split_ps_args(ps_args)
    code, out, err = run([*args, pids_arg(pids)])
    if code != 0:
        # some arguments (f, for one) cannot go with -q: retry without it
        code, out, err = run(args)
        if code != 0:
            first = (err.strip().splitlines() or [f"exit status {code}"])[0]
            raise BerthError(f"ps: {first}")
    return parse_ps_output(out, pids)
