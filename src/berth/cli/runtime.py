"""``berth-runtime``: the OCI runtime command line, compatible with runc's.

podman (through conmon), CRI-O and containerd's shim drive runtimes with
runc's commands and flags, and read its error log (``--log`` with
``--log-format json``: one ``{"level", "msg", "time"}`` object per line),
so this front end speaks exactly that. Errors go to stderr in runc's text
form and exit with status 1; ``run`` and foreground ``exec`` exit with the
program's own status.
"""

from __future__ import annotations

import os
import sys

from berth.cli.flags import Flag, Parsed, parse
from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.kernel.syscalls import Syscalls
    from berth.runtime.state import StateStore

USAGE = """\
berth-runtime: an OCI runtime (runtime-spec 1.2) compatible with runc's command line

Usage: berth-runtime [global options] COMMAND [options] [arguments]

Commands:
  create     create a container from a bundle; its process waits for start
  start      start the process of a created container
  run        create and start a container (and wait for it unless -d)
  state      print the state of a container as JSON
  kill       send a signal to the container's init (or all its processes)
  delete     delete a container (and its cgroup, state, ...)
  exec       run another process in a running container
  ps         list the processes of a container
  list       list containers
  pause      freeze every process of a container
  resume     thaw a paused container
  update     change the resources of a running container
  events     print a container's resource statistics
  spec       write a default config.json
  features   print the features this runtime supports

Global options:
  --root DIR          state directory (default /run/berth-runtime)
  --log FILE          write errors (and debug output) to FILE
  --log-format FMT    text or json
  --debug             log debug information
  --systemd-cgroup    accepted for compatibility (berth uses cgroupfs)
  --version, -v       print the version
"""

GLOBAL = [
    Flag("--root", kind="str", default="/run/berth-runtime"),
    Flag("--log", kind="str", default=""),
    Flag("--log-format", kind="str", default="text"),
    Flag("--debug"),
    Flag("--systemd-cgroup"),
    Flag("--criu", kind="str"),
    Flag("--rootless", kind="str"),
    Flag("-v", "--version"),
    Flag("-h", "--help"),
]

CREATE = [
    Flag("-b", "--bundle", kind="str", default="."),
    Flag("--console-socket", kind="str"),
    Flag("--pid-file", kind="str"),
    Flag("--no-pivot"),
    Flag("--no-new-keyring"),
    Flag("--preserve-fds", kind="int", default=0),
]


#: What a command's start is known to import, loaded ahead from the module cache
#: (berth.runtime.modcache.preload: ~20 µs less per module than its import). A module
#: missing here is imported as usual; one listed but not needed costs its load.
_START = (
    "berth.kernel.syscalls",
    "berth.runtime.create",
    "berth.cgroups",
    "berth.cgroups.mounts",
    "berth.cgroups.devices",
)
PRELOAD = {
    "create": _START,
    "run": ("berth.runtime.run", *_START, "berth.runtime.lifecycle"),
}


class Ctx:
    def __init__(self, g: Parsed) -> None:
        self.root: str = g.root
        self.log: str = g.log
        self.log_format: str = g.log_format
        self.debug: bool = g.debug

    @property
    def store(self) -> StateStore:
        from berth.runtime.state import StateStore

        return StateStore(self.root)

    @property
    def k(self) -> Syscalls:
        from berth.kernel.syscalls import SYSCALLS

        return SYSCALLS


def _one_id(p: Parsed, cmd: str) -> str:
    if len(p.args) != 1:
        raise InvalidArgument(f'"{cmd}" requires exactly one argument: the container id')
    return str(p.args[0])


def cmd_create(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.create import create

    p = parse(CREATE, argv)
    cid = _one_id(p, "create")
    create(
        ctx.store,
        cid,
        p.bundle,
        k=ctx.k,
        console_socket=p.console_socket,
        pid_file=p.pid_file,
        preserve_fds=p.preserve_fds,
    )
    return 0


def cmd_run(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.run import run
    from berth.runtime.trace import trace

    trace("cli: run")

    p = parse([*CREATE, Flag("-d", "--detach"), Flag("--keep")], argv)
    cid = _one_id(p, "run")
    return run(
        ctx.k,
        ctx.store,
        cid,
        p.bundle,
        detach=p.detach,
        console_socket=p.console_socket,
        pid_file=p.pid_file,
        preserve_fds=p.preserve_fds,
        keep=p.keep,
    )


def cmd_start(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.lifecycle import start

    start(ctx.store, _one_id(parse([], argv), "start"))
    return 0


def cmd_state(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.query import state_doc

    st = ctx.store.load(_one_id(parse([], argv), "state"))
    _print_json(state_doc(st))
    return 0


def cmd_kill(ctx: Ctx, argv: list[str]) -> int:
    from berth.kernel.consts import parse_signal
    from berth.runtime.lifecycle import kill

    p = parse([Flag("-a", "--all")], argv)
    if not 1 <= len(p.args) <= 2:
        raise InvalidArgument('"kill" requires the container id and optionally a signal')
    try:
        sig = parse_signal(p.args[1]) if len(p.args) == 2 else 15
    except ValueError as e:
        raise InvalidArgument(str(e)) from None
    kill(ctx.k, ctx.store, p.args[0], sig, all=p.all)
    return 0


def cmd_delete(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.lifecycle import delete

    p = parse([Flag("-f", "--force")], argv)
    cid = _one_id(p, "delete")
    delete(ctx.k, ctx.store, cid, force=p.force, report=_warn)
    return 0


def cmd_pause(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.lifecycle import pause

    pause(ctx.store, _one_id(parse([], argv), "pause"))
    return 0


def cmd_resume(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.lifecycle import resume

    resume(ctx.store, _one_id(parse([], argv), "resume"))
    return 0


def cmd_list(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.query import list_states

    p = parse([Flag("-f", "--format", kind="str", default="table"), Flag("-q", "--quiet")], argv)
    states = list_states(ctx.store)
    if p.quiet:
        for s in states:
            print(s["id"])
    elif p.format == "json":
        _print_json(states, indent=None)
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [
            (s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"] or "root")
            for s in states
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            print("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def cmd_ps(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.query import pids

    p = parse([Flag("-f", "--format", kind="str", default="table")], argv, interspersed=False)
    if not p.args:
        raise InvalidArgument('"ps" requires the container id')
    found = pids(ctx.store, p.args[0])
    if p.format == "json":
        _print_json(found, indent=None)
        return 0
    import subprocess

    out = subprocess.run(["ps", *(p.args[1:] or ["-ef"])], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    if not lines:
        return 1
    header = lines[0].split()
    col = header.index("PID") if "PID" in header else 1
    print(lines[0])
    wanted = {str(x) for x in found}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col] in wanted:
            print(line)
    return 0


def cmd_exec(ctx: Ctx, argv: list[str]) -> int:
    from berth import jsonio
    from berth.oci.runtime_spec import Process
    from berth.runtime.run import exec_process

    flags = [
        Flag("--console-socket", kind="str"),
        Flag("--cwd", kind="str"),
        Flag("-e", "--env", kind="list"),
        Flag("-t", "--tty"),
        Flag("-u", "--user", kind="str"),
        Flag("-g", "--additional-gids", kind="list"),
        Flag("-p", "--process", kind="str"),
        Flag("-d", "--detach"),
        Flag("--pid-file", kind="str"),
        Flag("--process-label", kind="str"),
        Flag("--apparmor", kind="str"),
        Flag("--no-new-privs"),
        Flag("-c", "--cap", kind="list"),
        Flag("--preserve-fds", kind="int", default=0),
        Flag("--cgroup", kind="list"),
        Flag("--ignore-paused"),
    ]
    p = parse(flags, argv, interspersed=False)
    if not p.args:
        raise InvalidArgument('"exec" requires the container id')
    cid = p.args[0]
    if p.process:
        if p.process == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(p.process, "rb") as f:
                data = f.read()
        proc = Process.from_json(jsonio.loads(data, p.process), "process")
    else:
        if len(p.args) < 2:
            raise InvalidArgument('"exec" requires a command or --process')
        st = ctx.store.load(cid)
        base = dict(st.config.get("process") or {})
        base["args"] = p.args[1:]
        base["terminal"] = p.tty
        base.pop("consoleSize", None)
        if p.cwd:
            base["cwd"] = p.cwd
        if p.env:
            base["env"] = list(base.get("env") or []) + p.env
        if p.user:
            uid, _, gid = p.user.partition(":")
            base["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        if p.additional_gids:
            user = dict(base.get("user") or {"uid": 0, "gid": 0})
            user["additionalGids"] = [int(g) for g in p.additional_gids]
            base["user"] = user
        if p.no_new_privs:
            base["noNewPrivileges"] = True
        if p.cap:
            caps = dict(base.get("capabilities") or {})
            for kind in ("bounding", "effective", "permitted", "ambient"):
                caps[kind] = list(dict.fromkeys([*caps.get(kind, []), *p.cap]))
            base["capabilities"] = caps
        proc = Process.from_json(base, "process")
    return exec_process(
        ctx.k,
        ctx.store,
        cid,
        proc,
        detach=p.detach,
        console_socket=p.console_socket,
        pid_file=p.pid_file,
        preserve_fds=p.preserve_fds,
    )


def cmd_update(ctx: Ctx, argv: list[str]) -> int:
    from berth import jsonio
    from berth.runtime.lifecycle import update

    flags = [
        Flag("-r", "--resources", kind="str"),
        Flag("--memory", kind="int"),
        Flag("--memory-reservation", kind="int"),
        Flag("--memory-swap", kind="int"),
        Flag("--cpu-shares", kind="int"),
        Flag("--cpu-quota", kind="int"),
        Flag("--cpu-period", kind="int"),
        Flag("--cpuset-cpus", kind="str"),
        Flag("--cpuset-mems", kind="str"),
        Flag("--pids-limit", kind="int"),
        Flag("--blkio-weight", kind="int"),
    ]
    p = parse(flags, argv)
    cid = _one_id(p, "update")
    if p.resources:
        if p.resources == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(p.resources, "rb") as f:
                data = f.read()
        res = jsonio.loads(data, p.resources)
    else:
        res = {}
        mem = {
            k: v
            for k, v in (
                ("limit", p.memory),
                ("reservation", p.memory_reservation),
                ("swap", p.memory_swap),
            )
            if v is not None
        }
        cpu = {
            k: v
            for k, v in (
                ("shares", p.cpu_shares),
                ("quota", p.cpu_quota),
                ("period", p.cpu_period),
                ("cpus", p.cpuset_cpus),
                ("mems", p.cpuset_mems),
            )
            if v is not None
        }
        if mem:
            res["memory"] = mem
        if cpu:
            res["cpu"] = cpu
        if p.pids_limit is not None:
            res["pids"] = {"limit": p.pids_limit}
        if p.blkio_weight is not None:
            res["blockIO"] = {"weight": p.blkio_weight}
    update(ctx.store, cid, res)
    return 0


def cmd_events(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.lifecycle import open_cgroup_of

    p = parse([Flag("--stats"), Flag("--interval", kind="str", default="5s")], argv)
    cid = _one_id(p, "events")
    st = ctx.store.load(cid)
    cg = open_cgroup_of(st)
    stats = cg.stats() if cg is not None else {}
    _print_json({"type": "stats", "id": cid, "data": stats}, indent=None)
    return 0


def cmd_spec(ctx: Ctx, argv: list[str]) -> int:
    from berth import jsonio
    from berth.runtime.defaults import default_spec

    p = parse([Flag("-b", "--bundle", kind="str", default="."), Flag("--rootless")], argv)
    path = os.path.join(p.bundle, "config.json")
    if os.path.exists(path):
        raise InvalidArgument(f"File {path} exists. Remove it first")
    with open(path, "w") as f:
        f.write(jsonio.dumps(default_spec(rootless=p.rootless), indent=2) + "\n")
    return 0


def cmd_features(ctx: Ctx, argv: list[str]) -> int:
    from berth.runtime.query import features

    parse([], argv)
    _print_json(features())
    return 0


COMMANDS: dict[str, Callable[[Ctx, list[str]], int]] = {
    "create": cmd_create,
    "run": cmd_run,
    "start": cmd_start,
    "state": cmd_state,
    "kill": cmd_kill,
    "delete": cmd_delete,
    "exec": cmd_exec,
    "ps": cmd_ps,
    "list": cmd_list,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "update": cmd_update,
    "events": cmd_events,
    "spec": cmd_spec,
    "features": cmd_features,
}


def _print_json(doc: object, indent: int | None = 2) -> None:
    from berth import jsonio

    sys.stdout.write(jsonio.dumps(doc, indent=indent) + "\n")


def _warn(message: str) -> None:
    sys.stderr.write(f'level=warning msg="{message}"\n')


def _log_error(ctx: Ctx | None, message: str) -> None:
    from berth.runtime.state import rfc3339_now

    now = rfc3339_now()
    escaped = message.replace("\\", "\\\\").replace('"', '\\"')
    sys.stderr.write(f'time="{now}" level=error msg="{escaped}"\n')
    if ctx is not None and ctx.log:
        from berth import jsonio

        if ctx.log_format == "json":
            line = jsonio.dumps({"level": "error", "msg": message, "time": now})
        else:
            line = f'time="{now}" level=error msg="{escaped}"'
        try:
            with open(ctx.log, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    import gc

    # A runtime command lives for one container start: the collector's passes over
    # what its imports made (~1 ms of every start) would find nothing to free.
    collecting = gc.isenabled()
    gc.disable()
    if argv is None:  # the command itself: the start path's modules come from one file
        from berth.runtime import modcache

        modcache.install()
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        if collecting:
            gc.enable()


def _main(args: list[str]) -> int:
    from berth.runtime.trace import trace

    trace("cli: main")
    ctx = None
    try:
        g = parse(GLOBAL, args, interspersed=False)
        if g.version:
            from berth import __version__

            print(f"berth-runtime version {__version__}\nspec: 1.2.0")
            return 0
        if g.help or not g.args:
            sys.stdout.write(USAGE)
            return 0 if g.help else 1
        ctx = Ctx(g)
        name, rest = g.args[0], list(g.args[1:])
        cmd = COMMANDS.get(name)
        if cmd is None:
            raise InvalidArgument(f"No help topic for '{name}'")
        if "-h" in rest[:1] or "--help" in rest[:1]:
            sys.stdout.write(USAGE)
            return 0
        roots = PRELOAD.get(name)
        if roots:
            from berth.runtime import modcache

            modcache.preload(roots)
        return cmd(ctx, rest)
    except BerthError as e:
        _log_error(ctx, e.message)
        return 1
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
