"""``berth exec`` and ``berth attach``: Docker's flags, output and exit codes.

``exec`` creates an exec instance (``POST /containers/{id}/exec``), starts
it -- detached, or attached to this terminal through a hijacked
``POST /exec/{id}/start`` -- and exits with the process's status (read
back with ``GET /exec/{id}/json``): its own code, 126 when it could not be
invoked, 127 when it was not found.

``attach`` joins a running container's streams; the container's exit
status is the command's. Detaching with the detach keys (ctrl-p ctrl-q
unless ``--detach-keys``) prints ``read escape sequence`` and exits 1, as
docker does.
"""

from __future__ import annotations

import os
import sys

from berth.cli.command import Context, command
from berth.cli.flags import Flag
from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.flags import Parsed

NOT_A_TTY = "the input device is not a TTY"


def _console_size() -> list[int] | None:
    import fcntl
    import struct

    if not os.isatty(1):
        return None
    try:
        packed = fcntl.ioctl(1, 0x5413, struct.pack("HHHH", 0, 0, 0, 0))  # TIOCGWINSZ
    except OSError:
        return None
    rows, cols = struct.unpack("HHHH", packed)[:2]
    return [rows, cols] if rows and cols else None


def exec_body(opts: Parsed) -> dict[str, Any]:
    """The ExecConfig docker's CLI sends for these options."""
    from berth.cli.runopts import _env_item, parse_env_file

    env: list[str] = []
    for path in opts.env_file:
        env += parse_env_file(path)
    for item in opts.env:
        env += _env_item(item)
    body: dict[str, Any] = {
        "User": opts.user or "",
        "Privileged": bool(opts.privileged),
        "Tty": bool(opts.tty),
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "DetachKeys": opts.detach_keys or "",
        "Env": env,
        "WorkingDir": opts.workdir or "",
        "Cmd": list(opts.args[1:]),
    }
    if not opts.detach:
        body["AttachStdout"] = body["AttachStderr"] = True
        body["AttachStdin"] = bool(opts.interactive)
    return body


@command(
    "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    "Execute a command in a running container",
    [
        Flag("-d", "--detach", help="Detached mode: run command in the background"),
        Flag(
            "--detach-keys", kind="str", help="Override the key sequence for detaching a container"
        ),
        Flag("-e", "--env", kind="list", help="Set environment variables"),
        Flag("--env-file", kind="list", help="Read in a file of environment variables"),
        Flag("-i", "--interactive", help="Keep STDIN open even if not attached"),
        Flag("--privileged", help="Give extended privileges to the command"),
        Flag("-t", "--tty", help="Allocate a pseudo-TTY"),
        Flag(
            "-u",
            "--user",
            kind="str",
            help="Username or UID (format: <name|uid>[:<group|gid>])",
        ),
        Flag("-w", "--workdir", kind="str", help="Working directory inside the container"),
    ],
    min_args=2,
    interspersed=False,
)
def exec_(ctx: Context, opts: Parsed) -> int:
    from berth.api.detachkeys import parse_or_default

    keys = parse_or_default(opts.detach_keys)  # a bad sequence fails before anything starts
    body = exec_body(opts)
    ref = opts.args[0]
    ctx.client.get_json(f"/containers/{ref}/json")  # "No such container" first, as docker
    if not opts.detach and opts.tty and opts.interactive and not os.isatty(0):
        raise InvalidArgument(NOT_A_TTY)
    if opts.tty and not opts.detach:
        size = _console_size()
        if size:
            body["ConsoleSize"] = size
    answer = ctx.client.post_json(f"/containers/{ref}/exec", None, body)
    eid = str(answer["Id"])
    start = {"Detach": bool(opts.detach), "Tty": bool(opts.tty)}
    if opts.detach:
        ctx.client.post_json(f"/exec/{eid}/start", None, start)
        return 0
    from berth.cli.stream import copy_streams

    stream = ctx.client.hijack("POST", f"/exec/{eid}/start", None, start)
    copy_streams(
        ctx,
        stream,
        ref,
        tty=bool(opts.tty),
        stdin=bool(opts.interactive),
        sig_proxy=False,
        detach_keys=keys,
        resize_path=f"/exec/{eid}/resize",
    )
    info = ctx.client.get_json(f"/exec/{eid}/json")
    return int(info.get("ExitCode") or 0)


@command(
    "berth attach [OPTIONS] CONTAINER",
    "Attach local standard input, output, and error streams to a running container",
    [
        Flag(
            "--detach-keys", kind="str", help="Override the key sequence for detaching a container"
        ),
        Flag("--no-stdin", help="Do not attach STDIN"),
        Flag(
            "--sig-proxy",
            default=True,
            help="Proxy all received signals to the process (default true)",
        ),
    ],
    min_args=1,
    max_args=1,
)
def attach(ctx: Context, opts: Parsed) -> int:
    from berth.api.detachkeys import parse_or_default
    from berth.cli.stream import copy_streams

    keys = parse_or_default(opts.detach_keys)
    info = ctx.client.get_json(f"/containers/{opts.args[0]}/json")
    state = info.get("State") or {}
    if not state.get("Running"):
        raise BerthError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise BerthError("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise BerthError("You cannot attach to a restarting container, wait until it is running")
    cid = str(info["Id"])
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = not opts.no_stdin and bool(config.get("OpenStdin"))
    if stdin and tty and not os.isatty(0):
        raise InvalidArgument(NOT_A_TTY)
    query: dict[str, object] = {"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1}
    if opts.detach_keys:
        query["detachKeys"] = opts.detach_keys
    stream = ctx.client.hijack("POST", f"/containers/{cid}/attach", query)
    detached = copy_streams(
        ctx, stream, cid, tty=tty, stdin=stdin, sig_proxy=bool(opts.sig_proxy), detach_keys=keys
    )
    if detached:
        sys.stderr.flush()
        raise BerthError("read escape sequence")
    answer = ctx.client.post_json(f"/containers/{cid}/wait")
    if not isinstance(answer, dict):  # the daemon stopped while waiting
        raise BerthError("error waiting for container: unexpected EOF")
    return int(answer.get("StatusCode") or 0)
