"""Container commands: run, create, start, stop, restart, kill, rm, ps, logs, wait,
inspect, pause, unpause, attach -- Docker's flags, output and exit codes.

``run`` does what docker's CLI does, in the same order, so that the daemon
sees the same requests: create (pulling the image first when it is missing),
attach (unless -d), ask for the exit (``wait?condition=next-exit``, or
``removed`` with --rm) before starting, start, copy the streams, and exit
with the container's status.
"""

from __future__ import annotations

import os
import sys

from berth.cli.command import Context, command
from berth.cli.flags import Flag
from berth.cli.runopts import CREATE_FLAGS, RUN_FLAGS
from berth.errors import BerthError, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cli.flags import Parsed
    from berth.client.http import RawStream


def _pull_and_retry(ctx: Context, image: str, quiet: bool) -> None:
    from berth.cli import cmd_image
    from berth.oci import reference

    ref = reference.parse(image)
    ctx.err.write(f"Unable to find image '{ref.familiar()}' locally\n")
    query: dict[str, object] = {"fromImage": ref.familiar_name, "tag": ref.digest or ref.tag}
    messages = cmd_image._stream(
        ctx, "POST", "/images/create", query, cmd_image._auth_header(ref.domain)
    )
    if quiet:
        for _ in messages:
            pass
    else:
        cmd_image._show(ctx, messages, quiet=False)


def start_error(e: BerthError) -> BerthError:
    """docker run's exit status for a container that did not start: 127 when the
    program was not found, 126 when it could not be invoked, 125 otherwise."""
    from berth.client.api import DaemonError
    from berth.errors import CannotInvoke, CommandNotFound

    text = str(e)
    if "executable file not found" in text or "no such file or directory" in text:
        cls: type[BerthError] = CommandNotFound
    elif "permission denied" in text or "is a directory" in text:
        cls = CannotInvoke
    else:
        return e
    if isinstance(e, DaemonError):
        return type("DaemonStartError", (DaemonError, cls), {})(text)  # type: ignore[no-any-return]
    return cls(text)


def _create(
    ctx: Context,
    opts: Parsed,
    command_args: list[str],
    session: dict[str, str | int] | None = None,
) -> tuple[str, RawStream | None]:
    """Create the container: (its ID, None). With ``session`` (the run's attach and
    wait, as query parameters: see berth.api.run_session) berthd also starts it,
    and answers with the session's stream, returned second; a daemon that does not
    (dockerd) answers the create alone."""
    from berth.cli.runopts import build

    image = opts.args[0]
    body, query = build(opts, image, command_args)
    pull = (opts.pull or "missing").lower()
    if pull not in ("always", "missing", "never"):
        raise InvalidArgument(
            f'invalid pull option: \'{opts.pull}\': must be one of "always", "missing" or "never"'
        )
    if pull == "always":
        _pull_and_retry(ctx, image, opts.quiet)
    if session is not None:
        query = {**(query or {}), **session}

    def send() -> Any:
        if session is None:
            return ctx.client.post_json("/containers/create", query, body)
        resp = ctx.client.request("POST", "/containers/create", query, body, upgrade=True)
        if resp.status == 101:
            return resp
        return ctx.client.read_json(resp)

    try:
        answer = send()
    except NotFound as e:
        if pull == "never" or "No such image" not in str(e):
            raise
        _pull_and_retry(ctx, image, opts.quiet)
        answer = send()
    stream: RawStream | None = None
    if isinstance(answer, dict):
        cid = str(answer["Id"])
        for w in answer.get("Warnings") or []:
            ctx.err.write(f"WARNING: {w}\n")
    else:  # the session's stream (its warnings come in it)
        cid = answer.headers.get("x-berth-container", "")
        stream = ctx.client.conn.hijack(answer)
        if not cid:
            stream.close()
            raise BerthError("the daemon started a run without naming its container")
    if opts.cidfile:
        if os.path.exists(opts.cidfile):
            raise InvalidArgument(
                "Container ID file found, make sure the other container isn't running or"
                f" delete {opts.cidfile}"
            )
        with open(opts.cidfile, "w") as f:
            f.write(cid)
    return cid, stream


@command(
    "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "Create a new container",
    CREATE_FLAGS,
    min_args=1,
    interspersed=False,
    error_code=125,
)
def create(ctx: Context, opts: Parsed) -> int:
    ctx.print(_create(ctx, opts, list(opts.args[1:]))[0])
    return 0


class _EarlyWait:
    """``POST /containers/{id}/wait`` sent now, its answer read later (docker run's order)."""

    def __init__(self, ctx: Context, cid: str, condition: str) -> None:
        from berth.client.http import connect

        client = ctx.client
        self.sock = connect(client.host)
        target = client.target(f"/containers/{cid}/wait", {"condition": condition})
        self.sock.sendall(
            f"POST {target} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\n\r\n".encode()
        )

    def result(self) -> int:
        from berth import jsonio

        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BerthError("the daemon closed the connection while waiting for the container")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
        }
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(body) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        else:  # chunked
            while not body.endswith(b"0\r\n\r\n"):
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                body += chunk
            body = _dechunk(body)
        self.sock.close()
        doc = jsonio.loads(body, "wait answer") if body.strip() else {}
        if status >= 400:
            if status == 404:
                return 0  # already removed (--rm): the status went with it
            raise BerthError(str(doc.get("message", f"wait failed ({status})")))
        return int(doc.get("StatusCode", 0))


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out


@command(
    "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    "Create and run a new container from an image",
    RUN_FLAGS,
    min_args=1,
    interspersed=False,
    error_code=125,
)
def run(ctx: Context, opts: Parsed) -> int:
    from berth.runtime.trace import trace

    trace("cli: run")
    attach = [a.lower() for a in opts.attach or []]
    want_in = bool(opts.interactive) or "stdin" in attach
    want_out = not attach or "stdout" in attach
    want_err = not attach or "stderr" in attach
    session: dict[str, str | int] | None = None
    if not opts.detach:
        session = {
            "berthRun": 1,
            "berthStdin": int(want_in),
            "berthStdout": int(want_out),
            "berthStderr": int(want_err),
            "berthWait": "removed" if opts.rm else "next-exit",
        }
        if opts.detach_keys:
            session["detachKeys"] = opts.detach_keys
    cid, stream = _create(ctx, opts, list(opts.args[1:]), session)
    trace("cli: created")
    if stream is not None:
        return _run_session(ctx, opts, cid, stream, want_in)
    if opts.detach:
        ctx.client.post_json(f"/containers/{cid}/start")
        ctx.print(cid)
        return 0
    if want_in or want_out or want_err:
        stream = ctx.client.hijack(
            "POST",
            f"/containers/{cid}/attach",
            {"stream": 1, "stdin": int(want_in), "stdout": int(want_out), "stderr": int(want_err)},
        )
    trace("cli: attached")
    waiter = _EarlyWait(ctx, cid, "removed" if opts.rm else "next-exit")
    trace("cli: wait sent")
    try:
        ctx.client.post_json(f"/containers/{cid}/start")
        trace("cli: started")
    except BerthError as e:
        if stream is not None:
            stream.close()
        if opts.rm:
            try:
                ctx.client.delete(f"/containers/{cid}", {"force": 1})
            except BerthError:
                pass
        raise start_error(e) from None
    if stream is not None and _copy(ctx, opts, cid, stream, want_in):
        return 0  # detached (ctrl-p ctrl-q): the container runs on
    trace("cli: streams done")
    code = waiter.result()
    trace("cli: exit status")
    return code


def _copy(
    ctx: Context,
    opts: Parsed,
    cid: str,
    stream: RawStream,
    stdin: bool,
    session: dict[str, Any] | None = None,
) -> bool:
    """Copy a run's streams (see berth.cli.stream.copy_streams); True when detached."""
    from berth.api.detachkeys import parse_or_default
    from berth.cli.stream import copy_streams

    return copy_streams(
        ctx,
        stream,
        cid,
        tty=bool(opts.tty),
        stdin=stdin,
        sig_proxy=opts.sig_proxy,
        detach_keys=parse_or_default(opts.detach_keys),
        session=session,
    )


def _run_session(ctx: Context, opts: Parsed, cid: str, stream: RawStream, stdin: bool) -> int:
    """The rest of ``run`` when berthd started the container in the create's request
    (berth.api.run_session): copy the streams, then the exit status it sends."""
    from berth.client.api import DaemonError

    status: dict[str, Any] = {}
    if _copy(ctx, opts, cid, stream, stdin, status):
        return 0  # detached (ctrl-p ctrl-q): the container runs on
    if status.get("Start"):
        raise start_error(DaemonError(str(status.get("Error") or "the start failed")))
    if "StatusCode" not in status:
        raise BerthError(f"the daemon's stream of {cid[:12]} ended without its exit status")
    return int(status["StatusCode"])


@command(
    "berth start [OPTIONS] CONTAINER [CONTAINER...]",
    "Start one or more stopped containers",
    [
        Flag("-a", "--attach", help="Attach STDOUT/STDERR and forward signals"),
        Flag("-i", "--interactive", help="Attach container's STDIN"),
        Flag(
            "--detach-keys", kind="str", help="Override the key sequence for detaching a container"
        ),
    ],
    min_args=1,
)
def start(ctx: Context, opts: Parsed) -> int:
    if opts.attach or opts.interactive:
        if len(opts.args) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        info = ctx.client.get_json(f"/containers/{opts.args[0]}/json")
        cid = info["Id"]
        tty = bool(info["Config"].get("Tty"))
        stream = ctx.client.hijack(
            "POST",
            f"/containers/{cid}/attach",
            {"stream": 1, "stdin": int(bool(opts.interactive)), "stdout": 1, "stderr": 1},
        )
        waiter = _EarlyWait(ctx, cid, "next-exit")
        ctx.client.post_json(f"/containers/{cid}/start")
        from berth.api.detachkeys import parse_or_default
        from berth.cli.stream import copy_streams

        if copy_streams(
            ctx,
            stream,
            cid,
            tty=tty,
            stdin=bool(opts.interactive),
            sig_proxy=True,
            detach_keys=parse_or_default(opts.detach_keys),
        ):
            return 0  # detached: the container runs on
        return waiter.result()
    failed = 0
    for ref in opts.args:
        try:
            ctx.client.post_json(f"/containers/{ref}/start")
            ctx.print(ref)
        except BerthError as e:
            failed += 1
            ctx.err.write(f"Error response from daemon: {e}\n")
    return 1 if failed else 0


def _each(ctx: Context, refs: list[str], fn: Any) -> int:
    failed = 0
    for ref in refs:
        try:
            fn(ref)
            ctx.print(ref)
        except BerthError as e:
            failed += 1
            ctx.err.write(f"Error response from daemon: {e}\n")
    return 1 if failed else 0


@command(
    "berth stop [OPTIONS] CONTAINER [CONTAINER...]",
    "Stop one or more running containers",
    [
        Flag("-t", "--time", kind="str", help="Seconds to wait before killing the container"),
        Flag("-s", "--signal", kind="str", help="Signal to send to the container"),
    ],
    min_args=1,
)
def stop(ctx: Context, opts: Parsed) -> int:
    query: dict[str, object] = {}
    if opts.time is not None:
        query["t"] = int(opts.time)
    if opts.signal:
        query["signal"] = opts.signal
    return _each(ctx, opts.args, lambda ref: ctx.client.post_json(f"/containers/{ref}/stop", query))


@command(
    "berth restart [OPTIONS] CONTAINER [CONTAINER...]",
    "Restart one or more containers",
    [Flag("-t", "--time", kind="str", help="Seconds to wait before killing the container")],
    min_args=1,
)
def restart(ctx: Context, opts: Parsed) -> int:
    query: dict[str, object] = {"t": int(opts.time)} if opts.time is not None else {}
    return _each(
        ctx, opts.args, lambda ref: ctx.client.post_json(f"/containers/{ref}/restart", query)
    )


@command(
    "berth kill [OPTIONS] CONTAINER [CONTAINER...]",
    "Kill one or more running containers",
    [Flag("-s", "--signal", kind="str", help="Signal to send to the container")],
    min_args=1,
)
def kill(ctx: Context, opts: Parsed) -> int:
    query = {"signal": opts.signal} if opts.signal else {}
    return _each(ctx, opts.args, lambda ref: ctx.client.post_json(f"/containers/{ref}/kill", query))


@command(
    "berth rm [OPTIONS] CONTAINER [CONTAINER...]",
    "Remove one or more containers",
    [
        Flag("-f", "--force", help="Force the removal of a running container (uses SIGKILL)"),
        Flag("-v", "--volumes", help="Remove anonymous volumes associated with the container"),
        Flag("-l", "--link", help="Remove the specified link"),
    ],
    min_args=1,
)
def rm(ctx: Context, opts: Parsed) -> int:
    query = {"force": int(opts.force), "v": int(opts.volumes)}
    return _each(ctx, opts.args, lambda ref: ctx.client.delete(f"/containers/{ref}", query))


@command(
    "berth pause CONTAINER [CONTAINER...]",
    "Pause all processes within one or more containers",
    [],
    min_args=1,
)
def pause(ctx: Context, opts: Parsed) -> int:
    return _each(ctx, opts.args, lambda ref: ctx.client.post_json(f"/containers/{ref}/pause"))


@command(
    "berth unpause CONTAINER [CONTAINER...]",
    "Unpause all processes within one or more containers",
    [],
    min_args=1,
)
def unpause(ctx: Context, opts: Parsed) -> int:
    return _each(ctx, opts.args, lambda ref: ctx.client.post_json(f"/containers/{ref}/unpause"))


@command(
    "berth wait CONTAINER [CONTAINER...]",
    "Block until one or more containers stop, then print their exit codes",
    [],
    min_args=1,
)
def wait(ctx: Context, opts: Parsed) -> int:
    failed = 0
    for ref in opts.args:
        try:
            answer = ctx.client.post_json(f"/containers/{ref}/wait")
            if not isinstance(answer, dict):  # the daemon stopped while waiting
                raise BerthError("error waiting for container: unexpected EOF")
            ctx.print(str(answer["StatusCode"]))
        except BerthError as e:
            failed += 1
            ctx.err.write(f"Error response from daemon: {e}\n")
    return 1 if failed else 0


PS_DEFAULT = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)


@command(
    "berth ps [OPTIONS]",
    "List containers",
    [
        Flag("-a", "--all", help="Show all containers (default shows just running)"),
        Flag("-f", "--filter", kind="list", help="Filter output based on conditions provided"),
        Flag("--format", kind="str", help="Format output using a custom template"),
        Flag("-n", "--last", kind="str", default="-1", help="Show n last created containers"),
        Flag("-l", "--latest", help="Show the latest created container"),
        Flag("--no-trunc", help="Don't truncate output"),
        Flag("-q", "--quiet", help="Only display container IDs"),
        Flag("-s", "--size", help="Display total file sizes"),
    ],
    max_args=0,
)
def ps(ctx: Context, opts: Parsed) -> int:
    from berth.cli.psformat import render_ps

    filters: dict[str, list[str]] = {}
    for f in opts.filter:
        k, eq, v = f.partition("=")
        if not eq:
            raise InvalidArgument(f"bad format of filter (expected name=value): {f}")
        filters.setdefault(k, []).append(v)
    last = int(opts.last)
    if opts.latest:
        last = 1
    query: dict[str, object] = {"all": int(opts.all or last > 0), "size": int(opts.size)}
    if last > 0:
        query["limit"] = last
    if filters:
        from berth import jsonio

        query["filters"] = jsonio.dumps({k: {v: True for v in vs} for k, vs in filters.items()})
    rows = ctx.client.get_json("/containers/json", query)
    render_ps(ctx, rows, quiet=opts.quiet, no_trunc=opts.no_trunc, fmt=opts.format, size=opts.size)
    return 0


@command(
    "berth logs [OPTIONS] CONTAINER",
    "Fetch the logs of a container",
    [
        Flag("--details", help="Show extra details provided to logs"),
        Flag("-f", "--follow", help="Follow log output"),
        Flag("--since", kind="str", help="Show logs since timestamp or relative (e.g. 42m)"),
        Flag(
            "-n",
            "--tail",
            kind="str",
            default="all",
            help="Number of lines to show from the end of the logs",
        ),
        Flag("-t", "--timestamps", help="Show timestamps"),
        Flag("--until", kind="str", help="Show logs before a timestamp or relative"),
    ],
    min_args=1,
    max_args=1,
)
def logs(ctx: Context, opts: Parsed) -> int:
    import time

    from berth.cli.timeutil import get_timestamp

    info = ctx.client.get_json(f"/containers/{opts.args[0]}/json")
    query: dict[str, object] = {
        "stdout": 1,
        "stderr": 1,
        "follow": int(opts.follow),
        "timestamps": int(opts.timestamps),
        "tail": opts.tail,
    }
    now = time.time()
    if opts.since:
        query["since"] = get_timestamp(opts.since, now)
    if opts.until:
        query["until"] = get_timestamp(opts.until, now)
    resp = ctx.client.request("GET", f"/containers/{info['Id']}/logs", query, stream=True)
    out = sys.stdout.buffer
    err = sys.stderr.buffer
    if info["Config"].get("Tty"):
        for chunk in resp.iter_body():
            out.write(chunk)
            out.flush()
        return 0
    from berth.api.stdcopy import Demuxer

    demux = Demuxer()
    for chunk in resp.iter_body():
        for stream, data in demux.feed(chunk):
            (err if stream == 2 else out).write(data)
        out.flush()
        err.flush()
    return 0


@command(
    "berth inspect [OPTIONS] NAME|ID [NAME|ID...]",
    "Return low-level information on Docker objects",
    [
        Flag("-f", "--format", kind="str", help="Format output using a custom template"),
        Flag("-s", "--size", help="Display total file sizes if the type is container"),
        Flag("--type", kind="str", help="Return JSON for specified type"),
    ],
    min_args=1,
)
def inspect(ctx: Context, opts: Parsed) -> int:
    docs: list[Any] = []
    failed = 0
    for ref in opts.args:
        doc = None
        kinds = [opts.type] if opts.type else ["container", "image", "network", "volume"]
        for kind in kinds:
            try:
                if kind == "container":
                    query = {"size": 1} if opts.size else None
                    doc = ctx.client.get_json(f"/containers/{ref}/json", query)
                elif kind == "image":
                    doc = ctx.client.get_json(f"/images/{ref}/json")
                elif kind == "network":
                    doc = ctx.client.get_json(f"/networks/{ref}")
                elif kind == "volume":
                    doc = ctx.client.get_json(f"/volumes/{ref}")
                break
            except NotFound:
                continue
        if doc is None:
            failed += 1
            ctx.err.write(f"Error: No such object: {ref}\n")
            continue
        docs.append(doc)
    _print_docs(ctx, docs, opts.format)
    return 1 if failed else 0


def _print_docs(ctx: Context, docs: list[Any], fmt: str | None) -> None:
    if fmt:
        from berth.cli.template import render

        ctx.out.write(render(fmt, docs, None))
        return
    ctx.print_json(docs)
