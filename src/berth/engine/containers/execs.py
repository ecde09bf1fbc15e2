"""Exec instances: ``docker exec`` -- another process in a running container.

=====================================  =============================================
endpoint                               method
=====================================  =============================================
POST /containers/{id}/exec             :meth:`ExecService.create` -> {"Id"}
POST /exec/{id}/start                  :meth:`prepare_start`, then :meth:`run_detached`
                                       or :meth:`run_attached` (hijacked stream)
GET  /exec/{id}/json                   :meth:`inspect`
POST /exec/{id}/resize                 :meth:`resize`
=====================================  =============================================

Life of an exec, as Docker's: ``create`` checks the container runs (and is
not paused) and records the ExecConfig (the environment is the container's
with the exec's ``Env`` on top; ``User`` and ``WorkingDir`` default to the
container's); ``start`` -- once only -- builds the OCI process from the
running container's own (its capabilities, rlimits, no_new_privileges; all
capabilities with ``Privileged``; the seccomp filter stays the container's,
as in Docker) and asks the monitor to start it (``exec`` request), attached
to the client's stream unless ``Detach``. The monitor reports the exit
(``exec_exit``); a process that cannot be started exits 127 (not found) or
126 (anything else), and the error text goes to the client's stream.

Events: ``exec_create: CMD ARGS``, ``exec_start: CMD ARGS``, ``exec_die``
(``execID``, ``exitCode``), ``exec_detach``.

Records live in berthd's memory only (as Docker's do): a berthd restart
forgets them, though the processes themselves keep running under the
monitor. Finished records are dropped with their container, or
:data:`KEEP_FINISHED` seconds after they finished.
"""

from __future__ import annotations

import os
import threading
import time

from berth.errors import BerthError, Conflict, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any

    from berth.engine.containers.service import ContainerService
    from berth.engine.containers.store import ContainerRow

KEEP_FINISHED = 300.0  # seconds a finished exec stays inspectable
EXIT_WAIT = 5.0  # seconds an attached stream waits for the exit code after the output ends

_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "AttachStdin": (bool,),
    "AttachStdout": (bool,),
    "AttachStderr": (bool,),
    "Tty": (bool,),
    "Privileged": (bool,),
    "DetachKeys": (str,),
    "User": (str,),
    "WorkingDir": (str,),
    "Env": (list,),
    "Cmd": (list,),
    "ConsoleSize": (list,),
}


class ExecRecord:
    """One exec instance (Docker's ExecConfig plus what happened to it)."""

    __slots__ = (
        "args",
        "console_size",
        "container_id",
        "detach_keys",
        "entrypoint",
        "env",
        "exit_code",
        "finished",
        "id",
        "open_stderr",
        "open_stdin",
        "open_stdout",
        "pid",
        "privileged",
        "running",
        "tty",
        "user",
        "working_dir",
    )

    def __init__(self, exec_id: str, container_id: str) -> None:
        self.id = exec_id
        self.container_id = container_id
        self.entrypoint = ""
        self.args: list[str] = []
        self.env: list[str] = []
        self.user = ""
        self.working_dir = ""
        self.tty = False
        self.privileged = False
        self.open_stdin = False
        self.open_stdout = False
        self.open_stderr = False
        self.detach_keys = ""
        self.console_size: tuple[int, int] | None = None
        self.running = False
        self.exit_code: int | None = None
        self.pid = 0
        self.finished = 0.0  # monotonic time of the exit

    def inspect(self) -> dict[str, Any]:
        """Docker's ``GET /exec/{id}/json`` document."""
        process: dict[str, Any] = {
            "tty": self.tty,
            "entrypoint": self.entrypoint,
            "arguments": list(self.args),
            "privileged": self.privileged,
        }
        if self.user:
            process["user"] = self.user
        return {
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": process,
            "OpenStdin": self.open_stdin,
            "OpenStderr": self.open_stderr,
            "OpenStdout": self.open_stdout,
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.detach_keys,
            "Pid": self.pid,
        }


# -- pure parts ----------------------------------------------------------------------------


def replace_or_append_env(defaults: list[str], overrides: list[str]) -> list[str]:
    """Docker's env merge: ``K=V`` replaces the default ``K`` or is appended;
    a bare ``K`` removes ``K``."""
    out = list(defaults)
    for item in overrides:
        key, eq, _ = item.partition("=")
        idx = next((i for i, d in enumerate(out) if d.partition("=")[0] == key), -1)
        if not eq:
            if idx >= 0:
                del out[idx]
            continue
        if idx >= 0:
            out[idx] = item
        else:
            out.append(item)
    return out


def exec_env(config: dict[str, Any], hostname: str, tty: bool, env: list[str]) -> list[str]:
    """The environment of an exec'd process: PATH, HOSTNAME, TERM (with a TTY),
    then the container's ``Env``, then the exec's own on top."""
    from berth.engine.containers.specgen import DEFAULT_PATH

    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if tty:
        base.append("TERM=xterm")
    base = replace_or_append_env(base, [str(e) for e in config.get("Env") or []])
    return replace_or_append_env(base, env)


def parse_config(body: dict[str, Any]) -> dict[str, Any]:
    """Check an ExecConfig body's types; return it with Cmd a list of strings."""
    for key, types in _CONFIG_TYPES.items():
        value = body.get(key)
        if value is not None and not isinstance(value, types):
            raise InvalidArgument(
                f"ExecConfig.{key}: expected {'/'.join(t.__name__ for t in types)},"
                f" got {type(value).__name__}"
            )
    cmd = body.get("Cmd") or []
    if not cmd:
        raise InvalidArgument("No exec command specified")
    if not all(isinstance(a, str) for a in cmd):
        raise InvalidArgument("ExecConfig.Cmd: expected a list of strings")
    if not all(isinstance(e, str) for e in body.get("Env") or []):
        raise InvalidArgument("ExecConfig.Env: expected a list of strings")
    size = body.get("ConsoleSize")
    if size is not None and (
        len(size) != 2 or not all(isinstance(n, int) and n >= 0 for n in size)
    ):
        raise InvalidArgument("ExecConfig.ConsoleSize: expected [height, width]")
    return body


def process_spec(
    base: dict[str, Any], rec: ExecRecord, user: dict[str, Any] | None
) -> dict[str, Any]:
    """The OCI process of an exec: the container's process with the exec's
    command, environment, working directory, terminal and user on top."""
    proc = {k: v for k, v in base.items() if k not in ("consoleSize", "args", "terminal")}
    proc["args"] = [rec.entrypoint, *rec.args]
    proc["env"] = list(rec.env)
    proc["cwd"] = rec.working_dir or "/"
    proc["terminal"] = rec.tty
    if rec.tty and rec.console_size is not None and all(rec.console_size):
        proc["consoleSize"] = {"height": rec.console_size[0], "width": rec.console_size[1]}
    if user is not None:
        proc["user"] = user
    if rec.privileged:
        from berth.engine.containers.specgen import capabilities

        caps = capabilities({"Privileged": True})
        proc["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    return proc


def start_failure_code(e: BaseException) -> int:
    """Docker's exit code of an exec that could not start: 127 not found, else 126."""
    code = getattr(e, "exit_code", 0)
    if code in (126, 127):
        return int(code)
    text = str(e).lower()
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    return 126


MAX_ACCOUNT_FILE = 4 << 20  # bytes read of a container's /etc/passwd or /etc/group


def read_in_root(rootfs: str, path: str) -> str:
    """A regular file of the container, resolved inside its root (openat2
    RESOLVE_IN_ROOT); "" when it is missing or not a regular file."""
    import stat

    from berth.errors import KernelError
    from berth.kernel.syscalls import SYSCALLS
    from berth.runtime.paths import open_in_root

    try:
        rootfd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        fd = open_in_root(SYSCALLS, rootfd, path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except KernelError:
        return ""
    finally:
        os.close(rootfd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        data = os.read(fd, MAX_ACCOUNT_FILE)
    except OSError:
        return ""
    finally:
        os.close(fd)
    return data.decode(errors="replace")


# -- the service ---------------------------------------------------------------------------


class ExecService:
    def __init__(self, containers: ContainerService) -> None:
        self.containers = containers
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.records: dict[str, ExecRecord] = {}
        self._listen_lock = threading.Lock()
        self._listener: threading.Thread | None = None

    # -- lookup ------------------------------------------------------------------------
    def get(self, exec_id: str) -> ExecRecord:
        with self.lock:
            rec = self.records.get(exec_id)
        if rec is None or rec.container_id not in self.containers.rows:
            raise NotFound(f"No such exec instance: {exec_id}")
        return rec

    def running_ids(self, container_id: str) -> list[str]:
        """The container's execs that are running (inspect's ``ExecIDs``)."""
        with self.lock:
            return [
                r.id for r in self.records.values() if r.container_id == container_id and r.running
            ]

    def _purge(self) -> None:  # with self.lock held
        now = time.monotonic()
        rows = self.containers.rows
        for eid in [
            r.id
            for r in self.records.values()
            if r.container_id not in rows
            or (r.exit_code is not None and now - r.finished > KEEP_FINISHED)
        ]:
            del self.records[eid]

    @staticmethod
    def _check_active(row: ContainerRow) -> None:
        st = row.state
        if not st.get("Running"):
            raise Conflict(f"container {row.id} is not running")
        if st.get("Paused"):
            raise Conflict(f"Container {row.id} is paused, unpause the container before exec")
        if st.get("Restarting"):
            raise Conflict(f"Container {row.id} is restarting, wait until the container is running")

    def _publish(self, row: ContainerRow, action: str, attrs: dict[str, str]) -> None:
        self.containers._publish(row, action, attrs)

    # -- create ------------------------------------------------------------------------
    def create(self, ref: str, body: dict[str, Any]) -> dict[str, str]:
        body = parse_config(body)
        svc = self.containers
        row = svc.find(ref)
        self._check_active(row)
        cmd = [str(a) for a in body["Cmd"]]
        user = str(body.get("User") or "")
        if user:
            self._resolve_user(row, user)  # an unknown user fails now, as in Docker
        keys = str(body.get("DetachKeys") or "")
        if keys:
            from berth.api.detachkeys import parse

            try:
                parse(keys)
            except InvalidArgument:
                raise InvalidArgument(f"Invalid escape keys ({keys}) provided") from None
        rec = ExecRecord(os.urandom(32).hex(), row.id)
        rec.entrypoint, rec.args = cmd[0], cmd[1:]
        rec.tty = bool(body.get("Tty"))
        rec.privileged = bool(body.get("Privileged"))
        rec.open_stdin = bool(body.get("AttachStdin"))
        rec.open_stdout = bool(body.get("AttachStdout"))
        rec.open_stderr = bool(body.get("AttachStderr"))
        rec.detach_keys = keys
        rec.user = user or str(row.config.get("User") or "")
        rec.working_dir = str(body.get("WorkingDir") or row.config.get("WorkingDir") or "")
        hostname = str(row.config.get("Hostname") or row.id[:12])
        rec.env = exec_env(row.config, hostname, rec.tty, [str(e) for e in body.get("Env") or []])
        size = body.get("ConsoleSize")
        if size:
            rec.console_size = (int(size[0]), int(size[1]))
        with self.lock:
            self._purge()
            self.records[rec.id] = rec
        self._publish(row, "exec_create: " + " ".join(cmd), {"execID": rec.id})
        return {"Id": rec.id}

    def _resolve_user(self, row: ContainerRow, user: str) -> dict[str, Any]:
        """``user[:group]`` from the running container's own /etc/passwd and /etc/group,
        read inside its root (its symlinks cannot lead berthd to the host's files)."""
        from berth.engine.containers.specgen import user_from_files

        rootfs = os.path.join(self.containers.dir_of(row.id), "rootfs")
        passwd = read_in_root(rootfs, "/etc/passwd")
        groups = read_in_root(rootfs, "/etc/group")
        try:
            return user_from_files(
                passwd, groups, user, list(row.host_config.get("GroupAdd") or [])
            )
        except BerthError as e:
            raise InvalidArgument(e.message) from None
        except ValueError:
            raise InvalidArgument(
                f"unable to find user {user}: the container's /etc/passwd or /etc/group is"
                " malformed"
            ) from None

    # -- start -------------------------------------------------------------------------
    def prepare_start(
        self, exec_id: str, tty: bool | None = None, console_size: list[int] | None = None
    ) -> ExecRecord:
        """Check an exec may start now and mark it running (errors are the API's answer)."""
        rec = self.get(exec_id)
        row = self.containers.find(rec.container_id)
        self._check_active(row)
        with self.lock:
            if rec.exit_code is not None:
                raise Conflict(f"exec command {rec.id} has already run")
            if rec.running:
                raise Conflict(f"exec command {rec.id} is already running")
            rec.running = True
        if console_size and len(console_size) == 2 and all(console_size):
            rec.console_size = (int(console_size[0]), int(console_size[1]))
        cmd = " ".join([rec.entrypoint, *rec.args])
        self._publish(row, "exec_start: " + cmd, {"execID": rec.id})
        return rec

    def _request(self, rec: ExecRecord, attach: bool) -> dict[str, Any]:
        from berth.runtime.state import StateStore

        svc = self.containers
        self._listen()
        row = svc.find(rec.container_id)
        base = dict(StateStore(svc.runtime_root).load(row.id).config.get("process") or {})
        user = self._resolve_user(row, rec.user) if rec.user else None
        return {
            "id": row.id,
            "exec_id": rec.id,
            "runtime_root": svc.runtime_root,
            "process": process_spec(base, rec, user),
            "attach": attach,
            "stdin": rec.open_stdin,
            "stdout": rec.open_stdout,
            "stderr": rec.open_stderr,
        }

    def run_detached(self, rec: ExecRecord) -> None:
        try:
            answer = self.containers.shim.request("exec", **self._request(rec, False))
        except BaseException as e:
            self._failed(rec, e)
            raise
        self._started(rec, int(answer["pid"]))

    def open_attached(self, rec: ExecRecord) -> tuple[socket.socket, bytes]:
        """Start the process with its streams on a monitor connection (raises when it
        cannot start, after recording the exit code)."""
        try:
            answer, sock, rest = self.containers.shim.open_stream(
                "exec", **self._request(rec, True)
            )
        except BaseException as e:
            self._failed(rec, e)
            raise
        self._started(rec, int(answer["pid"]))
        return sock, rest

    def _started(self, rec: ExecRecord, pid: int) -> None:
        with self.lock:
            if not rec.pid:
                rec.pid = pid  # (its exit may have been reported already)
            self.changed.notify_all()

    def _failed(self, rec: ExecRecord, e: BaseException) -> None:
        with self.lock:
            rec.running = False
            rec.exit_code = start_failure_code(e)
            rec.finished = time.monotonic()
            self.changed.notify_all()

    def wait_exit(self, rec: ExecRecord, timeout: float = EXIT_WAIT) -> int | None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while rec.exit_code is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            return rec.exit_code

    def detached(self, rec: ExecRecord) -> None:
        """The client left with its detach keys; the process runs on."""
        try:
            row = self.containers.find(rec.container_id)
        except NotFound:
            return
        self._publish(row, "exec_detach", {"execID": rec.id})

    # -- exits ---------------------------------------------------------------------------
    def _listen(self) -> None:
        """Follow the monitor's events (its own subscription); subscribed when this returns."""
        with self._listen_lock:
            if self._listener is not None and self._listener.is_alive():
                return
            sock, rest = self.containers.shim.stream("events")
            t = threading.Thread(
                target=self._listen_loop, args=(sock, rest), name="exec-events", daemon=True
            )
            self._listener = t
            t.start()

    def _listen_loop(self, sock: socket.socket, rest: bytes) -> None:
        from berth.engine.monitor.protocol import LineReader

        reader = LineReader(sock)
        reader.buf = rest
        try:
            while True:
                event = reader.line()
                if event is None:
                    break
                self.on_monitor_event(event)
        except Exception:
            pass  # the monitor went away: the next start subscribes again
        finally:
            sock.close()

    def on_monitor_event(self, event: dict[str, Any]) -> None:
        if event.get("event") == "exec_exit":
            self._on_exit(str(event.get("exec_id")), int(event.get("exit_code", 255)))

    def _on_exit(self, exec_id: str, code: int) -> None:
        with self.lock:
            rec = self.records.get(exec_id)
            if rec is None or rec.exit_code is not None:
                return
            rec.running = False
            rec.exit_code = code
            rec.finished = time.monotonic()
            self.changed.notify_all()
        try:
            row = self.containers.find(rec.container_id)
        except NotFound:
            return
        self._publish(row, "exec_die", {"execID": rec.id, "exitCode": str(code)})

    # -- resize --------------------------------------------------------------------------
    def resize(self, exec_id: str, height: int, width: int, timeout: float = 10.0) -> None:
        """Set the exec's terminal size; waits (as Docker) for a start under way."""
        rec = self.get(exec_id)
        deadline = time.monotonic() + timeout
        with self.lock:
            while rec.running and not rec.pid and rec.exit_code is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.changed.wait(left)
            if not rec.running or not rec.pid:
                raise Conflict(f"exec {exec_id} is not running")
        if not rec.tty:
            return
        self.containers.shim.request(
            "resize", id=rec.container_id, exec_id=rec.id, height=height, width=width
        )
