"""create: turn a bundle into a container whose init waits to be started.

The runtime (this process) reads and checks the config, plans the rootfs
and the process, makes the cgroup, then forks stage 1 (see
``berth.runtime.init``) and answers its requests over the sync channel
(write ID maps, run createRuntime hooks) until the init reports
``created``. Only then is state.json written. Anything that fails on the
way is undone in reverse: processes killed, cgroup removed, state dir gone.
(The file is written as ``state.json.tmp`` as soon as the init's pid is known,
while the init mounts, and renamed to ``state.json`` at ``created``.)
"""

from __future__ import annotations

import os

from berth import jsonio
from berth.cleanup import Cleanup
from berth.errors import ContainerStartError, InvalidArgument
from berth.kernel import consts as c
from berth.oci.runtime_spec import Spec
from berth.runtime import process as process_mod
from berth.runtime import rootfs as rootfs_mod
from berth.runtime.cgjoin import fork_in
from berth.runtime.init import InitConfig, stage1
from berth.runtime.state import (
    ContainerState,
    StateStore,
    fifo_path,
    proc_start_time,
    rfc3339_now,
)
from berth.runtime.sync import Channel
from berth.runtime.trace import trace
from berth.runtime.validate import validate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.cgroups.layout import Layout
    from berth.kernel.syscalls import Syscalls


def load_bundle(bundle: str) -> tuple[Spec, dict[str, Any]]:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InvalidArgument(f"{path} does not exist: is {bundle} an OCI bundle?") from None
    except OSError as e:
        raise InvalidArgument(f"cannot read {path}: {os.strerror(e.errno or 0)}") from None
    doc = jsonio.loads(data, path)
    return Spec.from_json(doc), doc


def _time_offsets(spec: Spec) -> str | None:
    offsets = spec.linux.time_offsets if spec.linux else None
    if not offsets:
        return None
    return "".join(f"{clock} {o.secs} {o.nanosecs}\n" for clock, o in offsets.items())


def _hooks(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = (doc.get("hooks") or {}).get(kind) or []
    return hooks


# Device rules added after the config's own, as runc does: mknod of anything, and
# use of the nodes every container gets (null, zero, full, tty, random, urandom,
# console, ptmx and the ptys).
_DEFAULT_RULES = (
    ("c", None, None, "m"),
    ("b", None, None, "m"),
    ("c", 1, 3, "rwm"),
    ("c", 1, 5, "rwm"),
    ("c", 1, 7, "rwm"),
    ("c", 1, 8, "rwm"),
    ("c", 1, 9, "rwm"),
    ("c", 5, 0, "rwm"),
    ("c", 5, 1, "rwm"),
    ("c", 5, 2, "rwm"),
    ("c", 136, None, "rwm"),
)


def with_default_devices(spec: Spec) -> Any:
    """The config's resources with the default device rules and its devices allowed."""
    from berth.oci.runtime_spec import DeviceRule, Resources

    linux = spec.linux
    res = linux.resources if linux and linux.resources else Resources()
    rules = list(res.devices)
    for kind, major, minor, access in _DEFAULT_RULES:
        rules.append(DeviceRule(allow=True, type=kind, major=major, minor=minor, access=access))
    for d in linux.devices if linux else ():
        if d.type in ("c", "b", "u"):
            kind = "c" if d.type == "u" else d.type
            rules.append(
                DeviceRule(allow=True, type=kind, major=d.major, minor=d.minor, access="rwm")
            )
    return res.replace(devices=tuple(rules))


class _Alongside:
    """What a thread makes for the container while the runtime plans it.

    - A new network namespace: making one costs the kernel ~1 ms, the largest
      part of the clone that starts the container. The thread unshares its own
      network namespace (the call runs without the interpreter lock) and stage 1
      joins it by the descriptor kept here. Not for a container with its own user
      namespace, which must own its network namespace.
    - The sealed trampoline memfd the init execs the program through
      (berth.runtime.trampoline), when the caller keeps none: ~0.4 ms the init
      would spend just before its exec.

    The thread then waits, parked, until :meth:`close` (after the clone): a
    thread that is ending may hold libc's locks (freeing its stack), and the raw
    clone3 would hand them, held, to the child.
    """

    __slots__ = ("_end", "_made", "error", "netns_fd", "trampoline_fd")

    def __init__(self, k: Syscalls, netns: bool, trampoline: bool) -> None:
        import _thread

        self.netns_fd = -1
        self.trampoline_fd: int | None = None
        self.error: BaseException | None = None
        self._made = _thread.allocate_lock()
        self._made.acquire()
        self._end: Any = _thread.allocate_lock()
        self._end.acquire()
        _thread.start_new_thread(self._make, (k, netns, trampoline, self._made, self._end))

    def _make(self, k: Syscalls, netns: bool, trampoline: bool, made: Any, end: Any) -> None:
        try:
            if netns:
                k.unshare(c.CLONE_NEWNET)  # this thread's own namespace only
                self.netns_fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            if trampoline:
                from berth.runtime.trampoline import sealed_fd

                self.trampoline_fd = sealed_fd()
        except BaseException as e:
            self.error = e
        finally:
            made.release()
            end.acquire()

    def wait(self) -> None:
        """Return once the thread has made them; raise what it hit."""
        with self._made:
            pass
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        """Let the thread end; close the descriptors (stage 1 has its own by now)."""
        if self._end is not None:
            with self._made:
                pass
            self._end.release()
            self._end = None
        for fd in (self.netns_fd, self.trampoline_fd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self.netns_fd = -1
        self.trampoline_fd = None


def _write_id_maps(pid: int, spec: Spec) -> None:
    linux = spec.linux
    assert linux is not None
    for name, maps in (("uid_map", linux.uid_mappings), ("gid_map", linux.gid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise ContainerStartError(
                f"writing {name} ({text.strip()!r}): {os.strerror(e.errno or 0)};"
                " check linux.uidMappings/gidMappings"
            ) from None


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def create(
    store: StateStore,
    container_id: str,
    bundle: str,
    *,
    k: Syscalls,
    mode: str = "create",
    console_socket: str | None = None,
    console_sock_fd: int | None = None,
    pid_file: str | None = None,
    preserve_fds: int = 0,
    stdio: tuple[int, int, int] | None = None,
    loaded: tuple[Spec, dict[str, Any]] | None = None,
    trampoline_fd: int | None = None,
    wait_start: bool = True,
    layout: Layout | None = None,
) -> tuple[ContainerState, Channel | None]:
    """Create the container. In ``run`` mode the sync channel is returned open:
    the caller sends ``start`` on it (unless ``wait_start`` is False) and reads
    end-of-file once the program runs.
    ``stdio`` gives the descriptors that become the container's 0, 1 and 2
    (default: this process's own). ``loaded`` is what :func:`load_bundle` returned
    for this bundle, when the caller has read it already. ``trampoline_fd``: a
    memfd of :func:`berth.runtime.trampoline.sealed_fd` that the caller keeps for
    all its containers (else a thread makes one meanwhile: see _Alongside).
    ``wait_start`` False (``run`` mode): the init does not wait for ``start`` but
    runs the program as soon as it has said ``created``. ``layout``: this host's
    cgroup layout, when the caller has detected it already (else it is detected)."""
    trace("create: start")
    bundle = os.path.abspath(bundle)
    spec, doc = loaded if loaded is not None else load_bundle(bundle)
    rootfs = validate(spec, bundle)
    proc_spec = spec.process
    assert proc_spec is not None
    if proc_spec.terminal and mode == "create" and not console_socket:
        raise InvalidArgument(
            "process.terminal is true: create needs --console-socket to hand the terminal to"
        )
    linux = spec.linux
    new_types = {ns.type for ns in linux.namespaces if not ns.path} if linux else set()
    joined = [(ns.type, ns.path) for ns in linux.namespaces if ns.path] if linux else []
    if "mount" not in new_types and not any(t == "mount" for t, _ in joined):
        raise InvalidArgument(
            'linux.namespaces: the container needs a mount namespace (add {"type": "mount"})'
        )

    with Cleanup() as stack:
        new_netns = "network" in new_types and "user" not in new_types
        alongside = None
        if new_netns or trampoline_fd is None:
            alongside = _Alongside(k, new_netns, trampoline_fd is None)
            stack.callback(alongside.close)
        # "run" makes the state dir after the fork, while the init starts (a mkdir
        # takes up to 1 ms on some file systems); the ID is checked now all the same
        late_dir = mode == "run"
        if late_dir:
            state_dir = store.check_free(container_id)
        else:
            state_dir = store.create_dir(container_id)
            stack.callback(store.remove_dir, state_dir)
        from berth.cgroups import open_cgroup

        cg = open_cgroup(linux.cgroups_path if linux else None, container_id, layout)
        cgroupns = "cgroup" in new_types
        cgroup_mounts = None
        if any(m.type in ("cgroup", "cgroup2") for m in spec.mounts):
            cgroup_mounts = cg.container_mounts(cgroupns)
        seccomp = None
        if linux is not None and linux.seccomp is not None:
            from berth.seccomp import compile_filter

            seccomp = compile_filter(linux.seccomp)

        cfg = InitConfig()
        cfg.mode = mode
        cfg.wait_start = wait_start
        cfg.rootfs = rootfs
        cfg.join = [(t, p) for t, p in joined if p]
        for t in new_types:
            cfg.new_flags |= c.NAMESPACES[t][0]
        if new_netns:  # (made alongside, joined by stage 1: see _Alongside)
            cfg.new_flags &= ~c.CLONE_NEWNET
        cfg.time_offsets = _time_offsets(spec)
        cfg.setup_rootfs = "mount" in new_types
        if cfg.setup_rootfs:
            cfg.rootfs_plan = rootfs_mod.plan(
                spec, rootfs, bundle, cgroup_mounts=cgroup_mounts, userns="user" in new_types
            )
        cfg.process = process_mod.plan(proc_spec, seccomp=seccomp, preserve_fds=preserve_fds)
        cfg.hostname = spec.hostname
        cfg.domainname = spec.domainname
        cfg.console_socket = console_socket
        cfg.console_sock_fd = console_sock_fd
        if proc_spec.console_size is not None:
            cfg.console_size = (proc_spec.console_size.height, proc_spec.console_size.width)
        runtime_hooks = _hooks(doc, "prestart") + _hooks(doc, "createRuntime")
        cfg.hooks_create_container = _hooks(doc, "createContainer")
        cfg.hooks_start_container = _hooks(doc, "startContainer")
        cfg.cgroup = cg
        cfg.stdio = stdio
        if proc_spec.terminal:
            import berth.runtime.console  # (loaded here, not by the init)
        if cfg.hooks_start_container:
            import subprocess  # noqa: F401  (the init runs these after pivot_root)

            import berth.runtime.hooks  # noqa: F401
        # The init stops before pivot_root when hooks must run or need the state.
        cfg.wait_hooks = bool(
            runtime_hooks or cfg.hooks_create_container or cfg.hooks_start_container
        )
        created = rfc3339_now()
        if mode == "create":
            cfg.fifo = fifo_path(state_dir)
            os.mkfifo(cfg.fifo, 0o622)
        trace("create: planned")
        # Fast path: one clone3 makes the init in its namespaces and cgroup2 directory.
        # A user or time namespace, or joining a pid/time one, needs stage 1 to
        # unshare/setns and fork the init (see berth.runtime.init).
        if not ({"user", "time"} & new_types) and not any(
            t in ("pid", "time", "user") for t, _ in cfg.join
        ):
            cfg.cloned = cfg.new_flags & ~c.CLONE_NEWCGROUP
        # There, without a cgroup namespace (whose root is the cgroup of the process
        # that makes it), the v1 directories are made after the fork, while the init
        # starts and mounts; it joins them when told "cgroup" (before its cgroup
        # mounts and device nodes). Otherwise stage 1 joins them first thing.
        cfg.join_late = bool(cfg.cloned) and not cfg.needs_fork and not cgroupns
        cg.create(kind=2 if cfg.join_late else None)
        stack.callback(cg.destroy)
        stack.callback(cg.kill, 9)
        cfg.wait_limits = True

        trace("create: cgroup made")
        parent, child = Channel.pair()
        stack.callback(parent.close)
        cfg.process.trampoline = trampoline_fd
        if alongside is not None:
            alongside.wait()
            if new_netns:
                cfg.join.append(("network", f"/proc/self/fd/{alongside.netns_fd}"))
            if trampoline_fd is None:
                cfg.process.trampoline = alongside.trampoline_fd
        pid, cfg.in_unified = fork_in(k, cfg.cgroup, cfg.cloned)
        if pid == 0:  # stage 1: never returns
            parent.close()
            stage1(k, cfg, child)
        child.close()
        if alongside is not None:
            alongside.close()
        stack.callback(_kill_and_reap, pid)
        trace("create: forked")
        # The limits are written while stage 1 and the init start (and, on the fast
        # path, the v1 directories made first); the init waits for "limits" before
        # it makes or opens a device node. The state is made meanwhile too.
        if cfg.join_late:
            cg.create(kind=1)
            try:
                parent.send("cgroup")
            except OSError:
                pass  # stage 1 is gone: its error (or end-of-file) is read below
        cg.apply(with_default_devices(spec))
        try:
            parent.send("limits")
        except OSError:
            pass  # stage 1 is gone: its error (or end-of-file) is read below
        trace("create: cgroup applied")
        if late_dir:
            store.create_dir(container_id)
            stack.callback(store.remove_dir, state_dir)
        state = ContainerState(
            state_dir,
            {
                "version": 1,
                "id": container_id,
                "pid": 0,
                "bundle": bundle,
                "rootfs": rootfs,
                "created": created,
                "owner": "",
                "annotations": dict(spec.annotations or {}),
                "config": doc,
                "cgroup": cg.to_json(),
            },
        )
        state.cgroup = cg
        init_pid = 0
        pending = False
        while True:
            msg = parent.recv()
            if msg is None:
                raise ContainerStartError("the container's init exited during create")
            kind = msg.get("type")
            if kind == "error":
                from berth.runtime.sync import raise_error

                raise_error(msg)
            elif kind == "map-ids":
                _write_id_maps(pid, spec)
                parent.send("go")
            elif kind == "pid":
                init_pid = int(msg["pid"]) or pid
                if init_pid != pid:
                    os.waitpid(pid, 0)  # stage 1 is done
                    stack.callback(_kill_and_reap, init_pid)
                state.doc["pid"] = init_pid
                state.doc["pid_start"] = proc_start_time(init_pid)
                if proc_spec.oom_score_adj is not None:
                    from berth.runtime.paths import write_proc

                    write_proc(k, f"/proc/{init_pid}/oom_score_adj", str(proc_spec.oom_score_adj))
                # written now, while the init sets up its root; made state.json at "created"
                state.write_pending()
                pending = True
            elif kind == "hooks":
                from berth.runtime.hooks import run_hooks

                hook_state = state.oci("creating")
                run_hooks("prestart", _hooks(doc, "prestart"), hook_state)
                run_hooks("createRuntime", _hooks(doc, "createRuntime"), hook_state)
                parent.send("go", state=state.oci("created"))
            elif kind == "created":
                trace("create: init created")
                break
        if pending:
            state.publish()
        else:
            state.save()
        if pid_file:
            _write_pid_file(pid_file, init_pid)
        stack.pop_all()
        if mode == "run":
            return state, parent
        parent.close()
        return state, None
    raise AssertionError("unreachable")
