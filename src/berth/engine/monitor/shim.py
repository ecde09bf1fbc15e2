"""The monitor process: ``berth.engine.monitor.shim.main(["--root", R, "--exec-root", E])``.

One event loop (epoll through ``selectors``) over: the control socket, the
connections of berthd (requests, event subscriptions, attach streams), the
output of every container (stdout/stderr pipes, or the pty master), and a
wake-up descriptor for SIGCHLD. Starting a container calls the runtime
library in this process, so the container's processes are its descendants;
being a child subreaper, the monitor also reaps the init that stage 1 forks.

Per container, in memory: pids, descriptors, the partial-line buffers of
the log, the attached clients. On disk, when it exits:
``<root>/containers/<id>/exit.json``::

    {"version": 1, "id": ..., "pid": ..., "exit_code": 0, "oom_killed": false,
     "started_at": RFC 3339, "finished_at": RFC 3339}

Exit codes are Docker's: the program's own, or 128+N when a signal ended it.

Processes exec'd into a running container (``docker exec``) are tracked the
same way, keyed by their exec ID: the monitor starts them through the
runtime library (``berth.runtime.run.start_exec``), is their parent (or
subreaper), holds their stdio or pty, serves their attached client, and
when one exits sends an ``exec_exit`` event (``id``, ``exec_id``, ``pid``,
``exit_code``). Their output is not logged (as Docker's is not); a
detached exec without a terminal gets /dev/null for its stdio.
"""

from __future__ import annotations

import errno
import fcntl
import os
import selectors
import signal
import socket
import struct
import sys
import time

from berth import errors, jsonio
from berth.engine.monitor import logfile
from berth.engine.monitor.protocol import (
    PID_NAME,
    PROTOCOL_VERSION,
    SOCKET_NAME,
    LineReader,
    encode,
)
from berth.runtime.trace import trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STDOUT, STDERR = 1, 2
DRAIN_GRACE = 2.0  # seconds to wait for output after the init exited


def _frame(stream: int, data: bytes) -> bytes:
    n = len(data)
    return bytes((stream, 0, 0, 0)) + n.to_bytes(4, "big") + data


class Attacher:
    __slots__ = ("conn", "stderr", "stdin", "stdout")

    def __init__(self, conn: socket.socket, stdin: bool, stdout: bool, stderr: bool) -> None:
        self.conn = conn
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr


class Container:
    __slots__ = (
        "attachers",
        "cgroup",
        "drain_deadline",
        "err_fd",
        "exec_of",
        "exit_status",
        "id",
        "in_fd",
        "keep_exit",
        "log_fd",
        "log_path",
        "out_fd",
        "pid",
        "runtime_root",
        "splitters",
        "started_at",
        "stdin_once",
        "tty",
        "unmount",
        "unmounting",
    )

    def __init__(self, cid: str) -> None:
        self.id = cid
        self.pid = 0
        self.tty = False
        self.stdin_once = False
        self.out_fd = -1  # stdout pipe, or the pty master
        self.err_fd = -1
        self.in_fd = -1  # stdin pipe (write end), or the pty master
        self.log_fd = -1
        self.log_path = ""
        self.runtime_root = ""
        self.unmount: list[str] = []
        self.unmounting: _Unmounting | None = None  # its rootfs unmounted after the exit
        # its berth.cgroups.Cgroup, kept from the start for the exit (not its state, which
        # holds the whole config: the monitor keeps little per container)
        self.cgroup: Any = None
        self.attachers: list[Attacher] = []
        self.splitters = {STDOUT: logfile.LineSplitter(), STDERR: logfile.LineSplitter()}
        self.started_at = ""
        self.exit_status: int | None = None
        self.drain_deadline = 0.0
        self.exec_of = ""  # for an exec'd process: the container's id (self.id is the exec id)
        # exit.json is written for berthd, should it be down at the exit; not for a
        # container that is removed when it exits (--rm): berthd removes one it finds
        # exited without it all the same
        self.keep_exit = True


class Shim:
    def __init__(self, root: str, exec_root: str) -> None:
        self.root = root
        self.exec_root = exec_root
        self.sel = selectors.DefaultSelector()
        self.containers: dict[str, Container] = {}
        self.execs: dict[str, Container] = {}  # exec id -> an exec'd process
        self.by_pid: dict[int, Container] = {}
        self.pending_attach: dict[str, list[tuple[Attacher, float]]] = {}
        self.subscribers: list[socket.socket] = []
        self.conn_bufs: dict[int, bytes] = {}
        self.stopping = False
        self.listener: socket.socket | None = None
        self.wake_r, self.wake_w = socket.socketpair()
        self._trampoline: int | None = None  # one sealed memfd for every start and exec
        self.trim_due = False  # starts and exits freed heap: give it back when idle

    # -- setup -------------------------------------------------------------------------
    def open(self) -> bool:
        """Listen; False when another monitor already serves this exec root."""
        from berth.kernel.syscalls import SYSCALLS

        os.makedirs(self.exec_root, exist_ok=True)
        # one monitor per exec root: <exec-root>/shim.lock, held for the monitor's life
        lock = os.open(
            os.path.join(self.exec_root, "shim.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)
            return False
        SYSCALLS.set_child_subreaper()
        path = os.path.join(self.exec_root, SOCKET_NAME)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(path)
        os.chmod(path, 0o600)
        # (written before the socket answers: whoever waited for it finds the pid)
        with open(os.path.join(self.exec_root, PID_NAME), "w") as f:
            f.write(str(os.getpid()))
        lst.listen(128)
        lst.setblocking(False)
        self.listener = lst
        self.sel.register(lst, selectors.EVENT_READ, ("listen", None))
        for s in (self.wake_r, self.wake_w):
            s.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        self.sel.register(self.wake_r, selectors.EVENT_READ, ("wake", None))
        return True

    def _on_term(self, *_: object) -> None:
        self.stopping = True

    def close(self) -> None:
        for name in (SOCKET_NAME, PID_NAME):
            try:
                os.unlink(os.path.join(self.exec_root, name))
            except FileNotFoundError:
                pass
        if self.listener is not None:
            self.listener.close()
        if self._trampoline is not None:
            _close(self._trampoline)
            self._trampoline = None

    def trampoline(self) -> int | None:
        """The memfd of berth.runtime.trampoline the containers' processes are exec'd
        through: made once (it is sealed), kept open, inherited by each at its fork."""
        if self._trampoline is None:
            from berth.runtime.trampoline import sealed_fd

            self._trampoline = sealed_fd()
        return self._trampoline

    # -- the loop -----------------------------------------------------------------------
    def serve(self) -> None:
        while not (self.stopping and not self.containers):
            timeout = 1.0 if not self.containers else 0.2
            if self.trim_due:
                timeout = 0.05
            ready = self.sel.select(timeout)
            if not ready and self.trim_due:
                self.trim_due = False
                _trim()  # off the start and exit paths: only once the loop is idle
            for key, _mask in ready:
                kind, obj = key.data
                try:
                    if kind == "listen":
                        self._accept()
                    elif kind == "wake":
                        self._drain_wake()
                    elif kind == "conn":
                        self._on_conn(key.fileobj)  # type: ignore[arg-type]
                    elif kind == "out":
                        self._on_output(obj[0], obj[1])
                    elif kind == "attach":
                        self._on_attach_input(obj[0], obj[1])
                except Exception as e:  # the monitor must survive one bad request
                    sys.stderr.write(f"berth-shim: {kind}: {type(e).__name__}: {e}\n")
            self._reap()
            self._finish_drained()
            self._expire_pending()

    def _drain_wake(self) -> None:
        try:
            while self.wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.conn_bufs[conn.fileno()] = b""
            self.sel.register(conn, selectors.EVENT_READ, ("conn", None))

    def _on_conn(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
            return
        buf = self.conn_bufs.get(conn.fileno(), b"") + data
        if b"\n" not in buf:
            self.conn_bufs[conn.fileno()] = buf
            return
        line, _, rest = buf.partition(b"\n")
        self.sel.unregister(conn)
        self.conn_bufs.pop(conn.fileno(), None)
        conn.setblocking(True)
        try:
            req = jsonio.loads(line, "request")
            if not isinstance(req, dict):
                raise errors.InvalidArgument("request: expected an object")
            self._dispatch(conn, req, rest)
        except BaseException as e:
            self._answer_error(conn, e)
            conn.close()

    def _drop(self, conn: socket.socket) -> None:
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        self.conn_bufs.pop(conn.fileno(), None)
        conn.close()

    @staticmethod
    def _answer_error(conn: socket.socket, e: BaseException) -> None:
        kind = type(e).__name__ if isinstance(e, errors.BerthError) else "BerthError"
        message = str(e) if isinstance(e, errors.BerthError) else f"{type(e).__name__}: {e}"
        try:
            conn.sendall(encode({"ok": False, "kind": kind, "message": message}))
        except OSError:
            pass

    # -- requests ------------------------------------------------------------------------
    def _dispatch(self, conn: socket.socket, req: dict[str, Any], rest: bytes) -> None:
        op = req.get("op")
        if op == "ping":
            conn.sendall(encode({"ok": True, "pid": os.getpid(), "version": PROTOCOL_VERSION}))
            conn.close()
        elif op == "start":
            answer = self._start(req, conn, rest)
            conn.sendall(encode({"ok": True, **answer}))
            streams = req.get("attach")
            c = self.containers.get(str(req["id"]))
            if isinstance(streams, dict) and c is not None:
                # (its output waits in the pipes: the loop reads them once this returns)
                self._add_attacher(
                    c,
                    Attacher(
                        conn,
                        bool(streams.get("stdin")),
                        bool(streams.get("stdout")),
                        bool(streams.get("stderr")),
                    ),
                )
            else:
                conn.close()
        elif op == "list":
            items = [
                {"id": c.id, "pid": c.pid, "started_at": c.started_at}
                for c in self.containers.values()
                if c.exit_status is None
            ]
            conn.sendall(encode({"ok": True, "containers": items}))
            conn.close()
        elif op == "attach":
            self._attach(conn, req, rest)
        elif op == "exec":
            self._exec(conn, req, rest)
        elif op == "resize":
            c = self._get_exec(req) if req.get("exec_id") else self._get(req)
            if c.tty and c.out_fd >= 0:
                size = struct.pack(
                    "HHHH", int(req.get("height", 0)), int(req.get("width", 0)), 0, 0
                )
                fcntl.ioctl(c.out_fd, 0x5414, size)  # TIOCSWINSZ
            conn.sendall(encode({"ok": True}))
            conn.close()
        elif op == "close_stdin":
            c = self._get(req)
            self._close_stdin(c)
            conn.sendall(encode({"ok": True}))
            conn.close()
        elif op == "events":
            conn.sendall(encode({"ok": True}))
            self.subscribers.append(conn)
            self.sel.register(conn, selectors.EVENT_READ, ("conn", None))
        elif op == "shutdown":
            self.stopping = True
            conn.sendall(encode({"ok": True}))
            conn.close()
        else:
            raise errors.InvalidArgument(f"unknown monitor request {op!r}")

    def _get_exec(self, req: dict[str, Any]) -> Container:
        x = self.execs.get(str(req.get("exec_id")))
        if x is None or x.exit_status is not None:
            raise errors.Conflict(f"exec {req.get('exec_id')} is not running")
        return x

    def _get(self, req: dict[str, Any]) -> Container:
        c = self.containers.get(str(req.get("id")))
        if c is None or c.exit_status is not None:
            raise errors.Conflict(f"container {req.get('id')} is not running")
        return c

    def _start(self, req: dict[str, Any], conn: socket.socket, rest: bytes) -> dict[str, Any]:
        from berth.kernel.syscalls import SYSCALLS
        from berth.runtime.create import create
        from berth.runtime.lifecycle import delete
        from berth.runtime.run import wait_started
        from berth.runtime.state import StateStore

        cid = str(req["id"])
        if cid in self.containers and self.containers[cid].exit_status is None:
            raise errors.Conflict(f"container {cid} is already running")
        c = Container(cid)
        c.tty = bool(req.get("tty"))
        c.stdin_once = bool(req.get("stdin_once"))
        c.log_path = str(req.get("log_path") or "")
        c.runtime_root = str(req["runtime_root"])
        c.keep_exit = not req.get("auto_remove")
        c.unmount = list(req.get("unmount") or [])
        store = StateStore(c.runtime_root)
        bundle = str(req["bundle"])
        held = LineReader(conn)  # the lines a held start waits for
        held.buf = rest
        loaded = layout = None
        if req.get("plan_first"):
            # read and checked while berthd readies the rootfs and the network
            loaded, layout = _plan(bundle)
            _await(held, "ready")
        close_after: list[int] = []
        console = None
        try:
            if c.tty:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                console = (ours, theirs)
                null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
                close_after.append(null)
                stdio = (null, null, null)
            else:
                out_r, out_w = os.pipe2(os.O_CLOEXEC)
                err_r, err_w = os.pipe2(os.O_CLOEXEC)
                c.out_fd, c.err_fd = out_r, err_r
                close_after += [out_w, err_w]
                if req.get("open_stdin"):
                    in_r, in_w = os.pipe2(os.O_CLOEXEC)
                    c.in_fd = in_w
                    close_after.append(in_r)
                else:
                    in_r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
                    close_after.append(in_r)
                stdio = (in_r, out_w, err_w)
            state, chan = create(
                store,
                cid,
                bundle,
                k=SYSCALLS,
                mode="run",
                console_sock_fd=console[1].fileno() if console else None,
                stdio=stdio,
                loaded=loaded,
                trampoline_fd=self.trampoline(),
                layout=layout,
            )
            assert chan is not None
            try:
                if console is not None:
                    from berth.runtime.console import recv_fd

                    master = recv_fd(console[0].fileno())
                    c.out_fd = c.in_fd = master
                if req.get("hold"):
                    _await(held, "go")
                chan.send("start")
                wait_started(chan)
            except BaseException:
                delete(SYSCALLS, store, cid, force=True)
                raise
        except BaseException:
            for fd in (c.out_fd, c.err_fd, c.in_fd):
                if fd >= 0:
                    _close(fd)
            self._unmount(c)
            raise
        finally:
            for fd in close_after:
                _close(fd)
            if console is not None:
                console[0].close()
                console[1].close()
        c.pid = state.pid
        c.cgroup = state.cgroup
        c.started_at = logfile.now_rfc3339()
        if c.log_path:
            c.log_fd = os.open(
                c.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640
            )
        for fd, stream in ((c.out_fd, STDOUT), (c.err_fd, STDERR)):
            if fd >= 0:
                os.set_blocking(fd, False)
                self.sel.register(fd, selectors.EVENT_READ, ("out", (c, stream)))
        self.containers[cid] = c
        self.by_pid[c.pid] = c
        for attacher, _deadline in self.pending_attach.pop(cid, []):
            self._add_attacher(c, attacher)
        self.trim_due = True
        return {"pid": c.pid, "started_at": c.started_at}

    # -- exec --------------------------------------------------------------------------
    def _exec(self, conn: socket.socket, req: dict[str, Any], rest: bytes) -> None:
        """Start a process in a running container; with ``attach`` the connection
        then carries its streams, as an ``attach`` connection does."""
        from berth.kernel.syscalls import SYSCALLS
        from berth.oci.runtime_spec import Process
        from berth.runtime.run import start_exec
        from berth.runtime.state import StateStore

        cid = str(req.get("id"))
        eid = str(req.get("exec_id") or "")
        if not eid:
            raise errors.InvalidArgument("exec: no exec_id")
        if eid in self.execs:
            raise errors.Conflict(f"exec {eid} is already running")
        owner = self.containers.get(cid)
        if owner is None or owner.exit_status is not None:
            raise errors.Conflict(f"container {cid} is not running")
        proc = Process.from_json(req.get("process"), "process")
        attach = bool(req.get("attach"))
        x = Container(eid)
        x.exec_of = cid
        x.tty = proc.terminal
        x.stdin_once = True
        close_after: list[int] = []
        console = None
        try:
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            close_after.append(null)
            if x.tty:
                console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                stdio = (null, null, null)
            else:
                out_w = err_w = null
                if attach:
                    x.out_fd, out_w = os.pipe2(os.O_CLOEXEC)
                    x.err_fd, err_w = os.pipe2(os.O_CLOEXEC)
                    close_after += [out_w, err_w]
                in_r = null
                if attach and req.get("stdin"):
                    in_r, x.in_fd = os.pipe2(os.O_CLOEXEC)
                    close_after.append(in_r)
                stdio = (in_r, out_w, err_w)
            x.pid = start_exec(
                SYSCALLS,
                StateStore(str(req["runtime_root"])),
                cid,
                proc,
                console_sock_fd=console[1].fileno() if console else None,
                stdio=stdio,
                trampoline_fd=self.trampoline(),
            )
            if console is not None:
                from berth.runtime.console import recv_fd

                x.out_fd = x.in_fd = recv_fd(console[0].fileno())
        except BaseException:
            for fd in {x.out_fd, x.err_fd, x.in_fd}:
                if fd >= 0:
                    _close(fd)
            raise
        finally:
            for fd in close_after:
                _close(fd)
            if console is not None:
                console[0].close()
                console[1].close()
        x.started_at = logfile.now_rfc3339()
        for fd, stream in ((x.out_fd, STDOUT), (x.err_fd, STDERR)):
            if fd >= 0:
                os.set_blocking(fd, False)
                self.sel.register(fd, selectors.EVENT_READ, ("out", (x, stream)))
        self.execs[eid] = x
        self.by_pid[x.pid] = x
        conn.sendall(encode({"ok": True, "pid": x.pid}))
        if not attach:
            conn.close()
            return
        a = Attacher(conn, bool(req.get("stdin")), bool(req.get("stdout")), bool(req.get("stderr")))
        self._add_attacher(x, a)
        if rest:
            self._forward_input(x, rest)

    # -- output --------------------------------------------------------------------------
    def _on_output(self, c: Container, stream: int) -> None:
        fd = c.out_fd if stream == STDOUT else c.err_fd
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the pty's other side is gone
                raise
            data = b""
        if not data:
            self._close_output(c, stream)
            return
        self._log(c, stream, data)
        for a in list(c.attachers):
            if (stream == STDOUT and a.stdout) or (stream == STDERR and a.stderr):
                payload = data if c.tty else _frame(stream, data)
                try:
                    _send_all(a.conn, payload)
                except OSError:
                    self._detach(c, a)

    def _log(self, c: Container, stream: int, data: bytes) -> None:
        if c.log_fd < 0:
            return
        name = "stdout" if stream == STDOUT else "stderr"
        when = logfile.now_rfc3339()
        entries = c.splitters[stream].feed(data)
        if entries:
            os.write(c.log_fd, b"".join(logfile.encode(name, e, when) for e in entries))

    def _close_output(self, c: Container, stream: int) -> None:
        fd = c.out_fd if stream == STDOUT else c.err_fd
        if fd < 0:
            return
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        if c.log_fd >= 0:
            name = "stdout" if stream == STDOUT else "stderr"
            rest = c.splitters[stream].flush()
            if rest:
                os.write(c.log_fd, logfile.encode(name, rest[0]))
        if stream == STDOUT:
            if c.in_fd == c.out_fd:
                c.in_fd = -1
            c.out_fd = -1
        else:
            c.err_fd = -1
        _close(fd)

    # -- attach --------------------------------------------------------------------------
    def _attach(self, conn: socket.socket, req: dict[str, Any], rest: bytes) -> None:
        cid = str(req.get("id"))
        a = Attacher(conn, bool(req.get("stdin")), bool(req.get("stdout")), bool(req.get("stderr")))
        c = self.containers.get(cid)
        if c is not None and c.exit_status is None:
            conn.sendall(encode({"ok": True, "running": True}))
            self._add_attacher(c, a)
            if rest:
                self._forward_input(c, rest)
            return
        wait = float(req.get("wait") or 0)
        if wait <= 0:
            raise errors.Conflict(f"container {cid} is not running")
        conn.sendall(encode({"ok": True, "running": False}))
        self.pending_attach.setdefault(cid, []).append((a, time.monotonic() + wait))

    def _add_attacher(self, c: Container, a: Attacher) -> None:
        c.attachers.append(a)
        if a.stdin:
            a.conn.setblocking(False)
            self.sel.register(a.conn, selectors.EVENT_READ, ("attach", (c, a)))

    def _on_attach_input(self, c: Container, a: Attacher) -> None:
        try:
            data = a.conn.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._forward_input(c, data)
            return
        # the client closed its sending side
        try:
            self.sel.unregister(a.conn)
        except (KeyError, ValueError):
            pass
        a.stdin = False
        if c.stdin_once and not c.tty:
            self._close_stdin(c)

    def _forward_input(self, c: Container, data: bytes) -> None:
        if c.in_fd < 0:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(c.in_fd, view)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return
            view = view[n:]

    def _close_stdin(self, c: Container) -> None:
        if c.in_fd >= 0 and c.in_fd != c.out_fd:
            _close(c.in_fd)
            c.in_fd = -1

    def _detach(self, c: Container, a: Attacher) -> None:
        if a in c.attachers:
            c.attachers.remove(a)
        try:
            self.sel.unregister(a.conn)
        except (KeyError, ValueError):
            pass
        try:
            a.conn.close()
        except OSError:
            pass

    def _expire_pending(self) -> None:
        now = time.monotonic()
        for cid, items in list(self.pending_attach.items()):
            keep = []
            for a, deadline in items:
                if deadline < now:
                    a.conn.close()
                else:
                    keep.append((a, deadline))
            if keep:
                self.pending_attach[cid] = keep
            else:
                del self.pending_attach[cid]

    # -- exits ---------------------------------------------------------------------------
    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            c = self.by_pid.pop(pid, None)
            if c is None:
                continue  # an orphan of a container (or stage 1) that we inherited
            trace("monitor: reaped")
            code = os.waitstatus_to_exitcode(status)
            c.exit_status = 128 - code if code < 0 else code
            c.drain_deadline = time.monotonic() + DRAIN_GRACE
            if c.unmount and not c.exec_of:
                # the unmount waits for the kernel (an RCU grace period, ~1 ms): it
                # runs meanwhile the rest of the exit is handled (see _finish)
                c.unmounting = _Unmounting(c)

    def _finish_drained(self) -> None:
        now = time.monotonic()
        for c in [*self.containers.values(), *self.execs.values()]:
            if c.exit_status is None:
                continue
            if (c.out_fd >= 0 or c.err_fd >= 0) and now < c.drain_deadline:
                continue
            if c.exec_of:
                self._finish_exec(c)
            else:
                self._finish(c)

    def _finish_exec(self, x: Container) -> None:
        for stream in (STDOUT, STDERR):
            self._close_output(x, stream)
        self._close_stdin(x)
        del self.execs[x.id]
        # the event goes out before the attached client's stream ends, so that
        # berthd knows the exit code when that client asks for it
        self._notify(
            {
                "event": "exec_exit",
                "id": x.exec_of,
                "exec_id": x.id,
                "pid": x.pid,
                "exit_code": x.exit_status,
            }
        )
        for a in list(x.attachers):
            self._detach(x, a)

    def _notify(self, event: dict[str, Any]) -> None:
        for s in list(self.subscribers):
            try:
                s.sendall(encode(event))
            except OSError:
                self.subscribers.remove(s)
                self._drop(s)

    def _finish(self, c: Container) -> None:
        from berth.kernel.syscalls import SYSCALLS
        from berth.runtime.lifecycle import delete, open_cgroup_of
        from berth.runtime.state import StateStore

        for stream in (STDOUT, STDERR):
            self._close_output(c, stream)
        self._close_stdin(c)
        if c.log_fd >= 0:
            _close(c.log_fd)
            c.log_fd = -1
        oom = False
        store = StateStore(c.runtime_root)
        st = None
        try:
            cg = c.cgroup
            if cg is None:
                st = store.load(c.id)
                cg = open_cgroup_of(st)
            oom = bool(cg is not None and cg.oom_kills() > 0)
            if cg is not None:
                cg.kill(9)  # what the init left (without a pid namespace of its own)
        except errors.BerthError:
            pass
        trace("monitor: closed")
        # berthd may remove the container's directory as soon as it hears of the
        # exit: its rootfs is unmounted first. The runtime's own cleanup (cgroup
        # directories, state) follows the event, off berthd's path: the loop serves
        # no request meanwhile, so a start of this container again finds it done.
        if c.unmounting is not None:
            c.unmounting.join()
            c.unmounting = None
        else:
            self._unmount(c)
        trace("monitor: unmounted")
        doc = {
            "version": 1,
            "id": c.id,
            "pid": c.pid,
            "exit_code": c.exit_status,
            "oom_killed": oom,
            "started_at": c.started_at,
            "finished_at": logfile.now_rfc3339(),
        }
        if c.keep_exit:
            _write_exit(self.root, c.id, doc)
        for a in list(c.attachers):
            self._detach(c, a)
        del self.containers[c.id]
        self.trim_due = True
        self._notify({"event": "exit", **doc})
        trace("monitor: exit sent")
        try:
            delete(SYSCALLS, store, c.id, force=True, state=st)
        except errors.BerthError as e:
            sys.stderr.write(f"berth-shim: cleaning up {c.id}: {e}\n")
        trace("monitor: deleted")

    @staticmethod
    def _unmount(c: Container) -> None:
        from berth.kernel.consts import MNT_DETACH
        from berth.kernel.syscalls import SYSCALLS

        for target in c.unmount:
            try:
                SYSCALLS.umount(target, MNT_DETACH)
            except errors.KernelError as e:
                if e.errno not in (errno.EINVAL, errno.ENOENT):
                    sys.stderr.write(f"berth-shim: unmount {target}: {e}\n")
        c.unmount = []


class _Unmounting:
    """A container's rootfs unmounted by a thread of its own, started now (a waiting
    worker would get the interpreter's lock only once the loop blocks, and start
    later); :meth:`join` waits for it.

    The thread is made with ``_thread``: importing ``threading`` would register its
    at-fork hook, which then runs in every child the monitor forks -- the init of
    each container started after, on its start path (~0.5 ms here).
    """

    __slots__ = ("_done",)

    def __init__(self, c: Container) -> None:
        import _thread

        self._done = _thread.allocate_lock()
        self._done.acquire()
        _thread.start_new_thread(self._run, (c,))

    def _run(self, c: Container) -> None:
        try:
            Shim._unmount(c)
        finally:
            self._done.release()

    def join(self) -> None:
        with self._done:
            pass


def _plan(bundle: str) -> tuple[Any, Any]:
    """What a start reads before its rootfs and network are there (``plan_first``):
    the bundle's config, the cgroup layout, the compiled seccomp filter (cached)."""
    from berth.cgroups.layout import Layout
    from berth.runtime.create import load_bundle

    loaded = load_bundle(bundle)
    linux = loaded[0].linux
    if linux is not None and linux.seccomp is not None:
        from berth.seccomp import compile_filter

        compile_filter(linux.seccomp)
    return loaded, Layout.detect()


def _await(held: LineReader, op: str) -> None:
    """A held start goes on when berthd says ``op`` ("ready": create the container;
    "go": run its program); anything else calls it off (see
    berth.engine.monitor.protocol)."""
    conn = held.sock
    conn.settimeout(30.0)
    try:
        msg = held.line()
    except (OSError, errors.BerthError):
        msg = None
    finally:
        conn.settimeout(None)
    if msg is None or msg.get("op") != op:
        raise errors.Unavailable("the engine called the start off")


def _write_exit(root: str, cid: str, doc: dict[str, Any]) -> None:
    d = os.path.join(root, "containers", cid)
    try:
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, "exit.json.tmp")
        with open(tmp, "w") as f:
            f.write(jsonio.dumps(doc))
        os.replace(tmp, os.path.join(d, "exit.json"))
    except OSError as e:
        sys.stderr.write(f"berth-shim: writing the exit status of {cid}: {e}\n")


def _send_all(conn: socket.socket, data: bytes) -> None:
    """Send everything, also on a non-blocking socket (waiting up to 10 s at a time for room)."""
    view = memoryview(data)
    while view:
        try:
            n = conn.send(view)
        except BlockingIOError:
            import select

            if not select.select([], [conn], [], 10.0)[1]:
                raise TimeoutError("the attached client does not read its stream") from None
            continue
        view = view[n:]


def _trim() -> None:
    """Starting a container allocates and frees a lot (specs, plans, the fork): hand
    the freed heap back, so the monitor's memory does not grow with each start."""
    from berth.kernel.libc import malloc_trim

    malloc_trim()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    from berth.cli.flags import Flag, parse

    p = parse([Flag("--root", kind="str"), Flag("--exec-root", kind="str")], argv)
    if not p.root or not p.exec_root:
        sys.stderr.write("usage: shim --root DIR --exec-root DIR\n")
        return 2
    shim = Shim(p.root, p.exec_root)
    if not shim.open():
        return 0  # another monitor serves this exec root
    try:
        shim.serve()
    finally:
        shim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
