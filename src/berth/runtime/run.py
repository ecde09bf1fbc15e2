"""run and exec: start a program in a container and (unless detached) wait for it.

In the foreground the runtime is the program's parent: it sets itself as
child subreaper, so the init (forked by stage 1) becomes its child, waits
for it, forwards the signals it receives and returns its exit status
(128+N when a signal ended it). With a terminal and no console socket it
proxies its own terminal to the container's pty (raw mode, window size).
"""

from __future__ import annotations

import os

from berth.errors import Conflict, ContainerStartError
from berth.runtime.state import StateStore
from berth.runtime.trace import trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.kernel.syscalls import Syscalls
    from berth.oci.runtime_spec import Process
    from berth.runtime.sync import Channel

FORWARDED = (
    1,
    2,
    3,
    10,
    12,
    15,
    18,
    20,
    21,
    22,
    28,
)  # HUP INT QUIT USR1 USR2 TERM CONT TSTP TTIN TTOU WINCH


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def wait_started(chan: Channel) -> None:
    """End-of-file on the channel means the program was exec'd; a message is an error."""
    msg = chan.recv()
    chan.close()
    if msg is not None:
        from berth.runtime.sync import raise_error

        if msg.get("type") == "error":
            raise_error(msg)
        raise ContainerStartError(f"unexpected message from the container: {msg.get('type')}")


class _Console:
    """The runtime's own end of a container terminal (foreground run/exec with -t)."""

    def __init__(self) -> None:
        import _socket

        self.ours, self.theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        os.set_inheritable(self.theirs.fileno(), False)
        self.master = -1

    def receive(self) -> None:
        from berth.runtime.console import recv_fd

        self.master = recv_fd(self.ours.fileno())
        self.ours.close()
        self.theirs.close()

    def resize(self) -> None:
        import fcntl
        import struct

        from berth.runtime.console import TIOCGWINSZ, TIOCSWINSZ

        try:
            size = fcntl.ioctl(0, TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
            fcntl.ioctl(self.master, TIOCSWINSZ, size)
        except OSError:
            pass

    def proxy(self, pid: int) -> int:
        """Copy between our stdio and the pty until the program exits; return its status."""
        import select

        saved = None
        if os.isatty(0):
            import termios
            import tty

            saved = termios.tcgetattr(0)
            tty.setraw(0)
            self.resize()
        try:
            inputs = [0, self.master]
            while True:
                try:
                    ready, _, _ = select.select(inputs, [], [], 0.5)
                except InterruptedError:
                    continue
                if self.master in ready:
                    try:
                        data = os.read(self.master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    os.write(1, data)
                if 0 in ready:
                    data = os.read(0, 65536)
                    if data:
                        os.write(self.master, data)
                    else:
                        inputs.remove(0)
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    self._drain()
                    return status
            _, status = os.waitpid(pid, 0)
            return status
        finally:
            if saved is not None:
                import termios

                termios.tcsetattr(0, termios.TCSADRAIN, saved)
            os.close(self.master)

    def _drain(self) -> None:
        import select

        while select.select([self.master], [], [], 0)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            os.write(1, data)


def _forward_signals(pid: int, console: _Console | None) -> None:
    import _signal  # type: ignore[import-not-found]

    def handler(signum: int, _frame: object) -> None:
        if signum == 28 and console is not None:
            console.resize()
            return
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        _signal.signal(sig, handler)


def _wait(pid: int) -> int:
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return exit_code(status)
        except ChildProcessError:
            return 255


def run(
    k: Syscalls,
    store: StateStore,
    container_id: str,
    bundle: str,
    *,
    detach: bool = False,
    console_socket: str | None = None,
    pid_file: str | None = None,
    preserve_fds: int = 0,
    keep: bool = False,
) -> int:
    """Create and start; in the foreground wait and delete. Returns the exit status."""
    from berth.runtime.create import create, load_bundle

    trace("run: imported")
    if not detach:
        k.set_child_subreaper()
    console = None
    loaded = load_bundle(bundle)  # read once: create() takes it as it is
    trace("run: loaded")
    spec = loaded[0]
    if not console_socket and spec.process is not None and spec.process.terminal:
        if detach:
            from berth.errors import InvalidArgument

            raise InvalidArgument(
                "cannot allocate a terminal when detaching without --console-socket"
            )
        console = _Console()
    # Without a terminal to hand over first, the init runs the program right after
    # "created" (one round trip less); the state is published meanwhile.
    state, chan = create(
        store,
        container_id,
        bundle,
        k=k,
        loaded=loaded,
        mode="run",
        console_socket=console_socket,
        console_sock_fd=console.theirs.fileno() if console else None,
        pid_file=pid_file,
        preserve_fds=preserve_fds,
        wait_start=console is not None,
    )
    assert chan is not None
    try:
        if console is not None:
            console.receive()
            chan.send("start")
        # (loaded while the program is exec'd: this process only waits meanwhile)
        from berth.runtime.lifecycle import delete

        wait_started(chan)
        trace("run: exec done")
        hooks = (state.config.get("hooks") or {}).get("poststart") or []
        if hooks:
            from berth.runtime.hooks import run_hooks

            run_hooks("poststart", hooks, state.oci("running"))
    except BaseException:
        from berth.runtime.lifecycle import delete

        delete(k, store, container_id, force=True)
        raise
    if detach:
        return 0
    _forward_signals(state.pid, console)
    if console is not None:
        code = exit_code(console.proxy(state.pid))
    else:
        code = _wait(state.pid)
    trace("run: exited")
    if not keep:
        delete(k, store, container_id, force=True, state=state)
    trace("run: deleted")
    return code


def start_exec(
    k: Syscalls,
    store: StateStore,
    container_id: str,
    proc: Process,
    *,
    console_socket: str | None = None,
    console_sock_fd: int | None = None,
    stdio: tuple[int, int, int] | None = None,
    preserve_fds: int = 0,
    trampoline_fd: int | None = None,
) -> int:
    """Start ``proc`` inside a running container; return its pid without waiting for it.

    Returns once the program has been exec'd: the errors of starting it (not
    found, not executable, a bad user or working directory) are raised here,
    as the :mod:`berth.errors` class the container side hit. The process
    joins the container's namespaces and cgroup and gets its seccomp filter;
    capabilities, user, rlimits and the rest come from ``proc``.

    Its parent is this process -- or, when the container has its own pid
    namespace (stage 1 then forks it and exits), this process's nearest child
    subreaper: a caller that waits for it must be one (the engine's monitor
    is). ``stdio`` are descriptors to become its 0, 1, 2 (the caller closes
    its copies); with a terminal the pty master is sent over
    ``console_sock_fd`` (a unix socket; receive it after this returns) or to
    ``console_socket`` (a path). ``trampoline_fd``: as for
    :func:`berth.runtime.create.create`.
    """
    from berth.kernel import consts as c
    from berth.runtime import process as process_mod
    from berth.runtime.cgjoin import fork_in
    from berth.runtime.create import _kill_and_reap
    from berth.runtime.init import InitConfig, stage1
    from berth.runtime.lifecycle import open_cgroup_of, status_of
    from berth.runtime.sync import Channel

    st = store.load(container_id)
    status = status_of(st)
    if status not in ("running", "created"):
        raise Conflict(f"cannot exec in a {status} container")
    linux = st.config.get("linux") or {}
    seccomp = None
    if linux.get("seccomp"):
        from berth.oci.runtime_spec import Seccomp
        from berth.seccomp import compile_filter

        seccomp = compile_filter(Seccomp.from_json(linux["seccomp"], "linux.seccomp"))
    if proc.terminal:
        import berth.runtime.console  # noqa: F401  (loaded here, not by the forked process)
    cfg = InitConfig()
    cfg.mode = "exec"
    for ns in linux.get("namespaces") or ():
        cfg.join.append((ns["type"], f"/proc/{st.pid}/ns/{c.NAMESPACES[ns['type']][1]}"))
    cfg.process = process_mod.plan(proc, seccomp=seccomp, preserve_fds=preserve_fds)
    cfg.cgroup = open_cgroup_of(st)
    cfg.console_socket = console_socket
    cfg.console_sock_fd = console_sock_fd
    cfg.stdio = stdio
    if proc.console_size is not None:
        cfg.console_size = (proc.console_size.height, proc.console_size.width)
    parent, child = Channel.pair()
    cfg.process.trampoline = trampoline_fd
    pid, cfg.in_unified = fork_in(k, cfg.cgroup)
    if pid == 0:
        parent.close()
        stage1(k, cfg, child)
    child.close()
    try:
        msg = parent.expect("pid")
        exec_pid = int(msg["pid"]) or pid
        if exec_pid != pid:
            os.waitpid(pid, 0)
        if proc.oom_score_adj is not None:
            from berth.runtime.paths import write_proc

            write_proc(k, f"/proc/{exec_pid}/oom_score_adj", str(proc.oom_score_adj))
        wait_started(parent)
    except BaseException:
        _kill_and_reap(pid)
        parent.close()
        raise
    return exec_pid


def exec_process(
    k: Syscalls,
    store: StateStore,
    container_id: str,
    proc: Process,
    *,
    detach: bool = False,
    console_socket: str | None = None,
    pid_file: str | None = None,
    preserve_fds: int = 0,
) -> int:
    """Run ``proc`` inside a running container. Returns its exit status (0 if detached)."""
    from berth.runtime.create import _write_pid_file

    if proc.terminal and detach and not console_socket:
        from berth.errors import InvalidArgument

        raise InvalidArgument("cannot allocate a terminal when detaching without --console-socket")
    console = None
    if proc.terminal and not console_socket:
        console = _Console()
    if not detach:
        k.set_child_subreaper()
    try:
        exec_pid = start_exec(
            k,
            store,
            container_id,
            proc,
            console_socket=console_socket,
            console_sock_fd=console.theirs.fileno() if console is not None else None,
            preserve_fds=preserve_fds,
        )
    except BaseException:
        if console is not None:
            console.ours.close()
            console.theirs.close()
        raise
    if console is not None:
        console.receive()
    if detach:
        # Written even when the process is gone already: a short one may have been
        # reaped by then, by the subreaper that inherited it (containerd's shim, which
        # reads this file to match the exit status it collected to this exec).
        if pid_file:
            _write_pid_file(pid_file, exec_pid)
        return 0
    _forward_signals(exec_pid, console)
    if console is not None:
        return exit_code(console.proxy(exec_pid))
    return _wait(exec_pid)
