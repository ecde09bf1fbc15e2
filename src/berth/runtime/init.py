"""The container's side of create: stage 1 (namespaces) and the init (pid 1).

Both run in processes forked from the runtime and never return: they exec
the container's program or ``os._exit``. Everything they need was computed
by the runtime before the fork (:class:`InitConfig`), so errors of
configuration are found before any process exists; what fails here is
reported over the sync channel with the error's class and message.
"""

from __future__ import annotations

import errno
import os

from berth.errors import BerthError
from berth.kernel import consts as c
from berth.runtime import modcache, process, rootfs
from berth.runtime.trace import trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.kernel.syscalls import Syscalls
    from berth.runtime.process import ProcessPlan
    from berth.runtime.rootfs import RootfsPlan
    from berth.runtime.sync import Channel


class InitConfig:
    """What stage 1 and the init do, decided by the runtime before forking."""

    __slots__ = (
        "cgroup",
        "cloned",
        "console_size",
        "console_sock_fd",
        "console_socket",
        "domainname",
        "fifo",
        "hooks_create_container",
        "hooks_start_container",
        "hostname",
        "in_unified",
        "join",
        "join_late",
        "mode",
        "new_flags",
        "process",
        "rootfs",
        "rootfs_plan",
        "setup_rootfs",
        "state",
        "stdio",
        "time_offsets",
        "wait_hooks",
        "wait_limits",
        "wait_start",
    )

    def __init__(self) -> None:
        self.mode = "create"  # "create" (waits on exec.fifo), "run" (waits for "start"), "exec"
        self.join: list[tuple[str, str]] = []  # (OCI type, path) to setns into
        self.new_flags = 0  # CLONE_NEW* to unshare (user handled apart)
        self.time_offsets: str | None = None
        self.rootfs = ""
        self.rootfs_plan: RootfsPlan | None = None
        self.setup_rootfs = False
        self.process: ProcessPlan | None = None
        self.hostname: str | None = None
        self.domainname: str | None = None
        self.fifo: str | None = None
        self.console_socket: str | None = None
        self.console_sock_fd: int | None = None
        self.console_size: tuple[int, int] = (0, 0)
        self.wait_hooks = False
        self.hooks_create_container: list[dict[str, Any]] = []
        self.hooks_start_container: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}
        self.cgroup: Any = None  # berth.cgroups.Cgroup to join, if any
        self.in_unified = False  # stage 1 was born in the cgroup2 directory already
        self.stdio: tuple[int, int, int] | None = None  # fds to become 0, 1, 2
        self.cloned = 0  # CLONE_NEW* the runtime's clone3 already gave stage 1
        self.wait_limits = False  # the runtime writes the cgroup limits after the fork
        self.wait_start = True  # "run" mode: wait for "start" after "created"
        # the runtime makes the v1 cgroup directories after the fork: the init joins
        # them when it is told "cgroup", before it mounts /sys/fs/cgroup or makes
        # device nodes (see berth.runtime.create)
        self.join_late = False

    @property
    def new_user(self) -> bool:
        return bool(self.new_flags & c.CLONE_NEWUSER)

    @property
    def needs_fork(self) -> bool:
        """A pid/time namespace entered by unshare or setns only applies to children."""
        if (self.new_flags & ~self.cloned) & (c.CLONE_NEWPID | c.CLONE_NEWTIME):
            return True
        return any(t in ("pid", "time") for t, _ in self.join)


def _join(k: Syscalls, join: list[tuple[str, str]]) -> None:
    """setns into each namespace; retry those refused until after the user namespace."""
    fds = []
    try:
        for ns_type, path in join:
            try:
                fds.append((ns_type, path, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
            except OSError as e:
                from berth.errors import KernelError

                raise KernelError("open namespace", path, e.errno or 0) from None
        pending = [x for x in fds if x[0] != "user"]
        users = [x for x in fds if x[0] == "user"]
        later = []
        for ns_type, path, fd in pending:
            try:
                k.setns(fd, c.NAMESPACES[ns_type][0], f"{ns_type} namespace {path}")
            except BerthError as e:
                if getattr(e, "errno", 0) != errno.EPERM or not users:
                    raise
                later.append((ns_type, path, fd))
        for ns_type, path, fd in users + later:
            k.setns(fd, c.NAMESPACES[ns_type][0], f"{ns_type} namespace {path}")
    finally:
        for _, _, fd in fds:
            os.close(fd)


def stage1(k: Syscalls, cfg: InitConfig, chan: Channel) -> None:
    """Enter/create namespaces, then fork the init (or become it). Never returns."""
    try:
        trace("stage1: begin")
        k.set_pdeathsig(9)
        modcache.release()
        if cfg.stdio is not None:
            for target, fd in enumerate(cfg.stdio):
                if fd != target:
                    os.dup2(fd, target)
        if cfg.cgroup is not None and not cfg.join_late:
            from berth.runtime.cgjoin import join_self

            join_self(cfg.cgroup, skip_unified=cfg.in_unified)
            trace("stage1: in cgroup")
        _join(k, cfg.join)
        if cfg.new_user:
            k.unshare(c.CLONE_NEWUSER)
            chan.send("map-ids")
            chan.expect("go")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        rest = cfg.new_flags & ~c.CLONE_NEWUSER & ~cfg.cloned
        if rest:
            k.unshare(rest)
        if cfg.time_offsets:
            with open("/proc/self/timens_offsets", "w") as f:
                f.write(cfg.time_offsets)
        # From here on the process is visible to the container: keep others out of
        # /proc/<pid>/exe, mem, fd (CVE-2019-5736). The init inherits this.
        k.set_dumpable(False)
        trace("stage1: namespaces")
        if not cfg.needs_fork:
            chan.send("pid", pid=0)  # 0: the process the runtime forked is the init
            init(k, cfg, chan)
        pid = os.fork()
        if pid == 0:
            init(k, cfg, chan)
        chan.send("pid", pid=pid)
        os._exit(0)
    except BaseException as e:
        _fail(chan, e)


def _fail(chan: Channel, e: BaseException) -> None:
    try:
        chan.send_error(e)
    except OSError:
        # Nobody listens any more (after "created"): tell the container's stderr.
        try:
            os.write(2, f"berth-runtime: {e}\n".encode())
        except OSError:
            pass
    code = getattr(e, "exit_code", 1) if isinstance(e, BerthError) else 1
    os._exit(code if code in (126, 127) else 1)


def init(k: Syscalls, cfg: InitConfig, chan: Channel) -> None:
    """The container's pid 1 until it execs the container's program. Never returns."""
    try:
        _init(k, cfg, chan)
    except BaseException as e:
        _fail(chan, e)
    os._exit(1)


def _init(k: Syscalls, cfg: InitConfig, chan: Channel) -> None:
    proc = cfg.process
    assert proc is not None
    trace("init: start")
    if cfg.mode != "exec" or proc.terminal:
        os.setsid()
    fifo_fd = None
    if cfg.mode == "create" and cfg.fifo:
        fifo_fd = os.open(cfg.fifo, os.O_RDWR | os.O_CLOEXEC)
    plan = cfg.rootfs_plan
    peer = None

    def limits() -> None:  # no device node is made, nor opened, before they hold
        join()
        if cfg.wait_limits:
            chan.wait_limits()

    def join() -> None:  # (see InitConfig.join_late)
        if cfg.join_late:
            from berth.runtime.cgjoin import join_self

            cfg.join_late = False
            chan.expect("cgroup")
            join_self(cfg.cgroup, skip_unified=cfg.in_unified)
            trace("init: in cgroup")

    if cfg.setup_rootfs and plan is not None:
        rootfs.prepare(k, plan, before_devices=limits, before_cgroup=join)
    limits()
    trace("init: mounted")
    if proc.terminal:
        from berth.runtime import console  # (before pivot_root: make_controlling needs it)

        rootfd = os.open(cfg.rootfs if cfg.setup_rootfs else "/", os.O_PATH | os.O_CLOEXEC)
        try:
            master, peer = console.open_pty(k, rootfd, *cfg.console_size)
            if cfg.setup_rootfs:
                console.bind_console(k, rootfd, peer)
        finally:
            os.close(rootfd)
        if cfg.console_socket:
            console.send_to_console_socket(cfg.console_socket, master)
        elif cfg.console_sock_fd is not None:
            console.send_fd(cfg.console_sock_fd, master)
        os.close(master)
    if cfg.wait_hooks:
        chan.send("hooks")
        cfg.state = chan.expect("go").get("state") or {}
    if cfg.hooks_create_container:
        from berth.runtime.hooks import run_hooks

        run_hooks("createContainer", cfg.hooks_create_container, cfg.state)
    if cfg.setup_rootfs and plan is not None:
        rootfs.pivot(k, plan.rootfs)
    if cfg.hostname:
        k.sethostname(cfg.hostname)
    if cfg.domainname:
        k.setdomainname(cfg.domainname)
    if cfg.setup_rootfs and plan is not None:
        rootfs.finalize(k, plan)
        _ensure_cwd(k, proc.cwd)
    if peer is not None:
        from berth.runtime import console

        console.make_controlling(peer)
    trace("init: finalized")
    program = process.resolve_program(proc.args, proc.env)
    if cfg.mode == "exec":
        process.enter(k, proc, program)
    k.set_pdeathsig(0)  # the runtime may exit now (create); the init must live on
    chan.send("created")
    if fifo_fd is not None:
        _wait_fifo(fifo_fd)
    elif cfg.mode == "run" and cfg.wait_start:
        chan.expect("start")
    trace("init: started")
    if cfg.hooks_start_container:
        from berth.runtime.hooks import run_hooks

        state = dict(cfg.state, status="running")
        run_hooks("startContainer", cfg.hooks_start_container, state)
    process.enter(k, proc, program)


def _wait_fifo(fd: int) -> None:
    """Block until ``start`` writes to exec.fifo."""
    while True:
        try:
            if os.read(fd, 1):
                break
        except InterruptedError:
            continue
    os.close(fd)


def _ensure_cwd(k: Syscalls, cwd: str) -> None:
    from berth.errors import InvalidArgument, KernelError
    from berth.runtime.paths import ensure_in_root

    rootfd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(ensure_in_root(k, rootfd, cwd))
    except KernelError as e:
        why = "a magic link" if e.errno == errno.ELOOP else os.strerror(e.errno)
        raise InvalidArgument(
            f"process.cwd: {cwd}: {why}; the working directory must be a directory"
            " inside the container"
        ) from None
    finally:
        os.close(rootfd)
