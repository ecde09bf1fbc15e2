"""The container process's last steps before execve, as runc takes them.

:func:`plan` (in the runtime, before any fork) turns ``process`` into a
:class:`ProcessPlan` of numbers: capability masks, rlimits, ids, the
compiled seccomp program. :func:`enter` runs in the container (the init
after start, or an exec'd process) and applies it:

    resolve the program (PATH of the process env) -> rlimits -> fds beyond
    0-2 and the preserved ones marked close-on-exec -> seccomp (early, when
    no_new_privs is off: it then needs CAP_SYS_ADMIN) -> bounding set ->
    keep caps, groups, gid, uid -> capset + ambient -> cwd (resolved inside
    the root, never through a magic link) -> umask -> no_new_privs ->
    seccomp (late) -> execve.
"""

from __future__ import annotations

import os

from berth.errors import CannotInvoke, CommandNotFound, InvalidArgument, KernelError
from berth.kernel import consts as c
from berth.runtime import trampoline  # imported here: needed after pivot_root
from berth.runtime.paths import RESOLVE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.kernel.syscalls import Syscalls
    from berth.oci.runtime_spec import Process


class ProcessPlan:
    __slots__ = (
        "ambient",
        "args",
        "bounding",
        "cwd",
        "effective",
        "env",
        "gid",
        "groups",
        "inheritable",
        "last_cap",
        "no_new_privileges",
        "oom_score_adj",
        "permitted",
        "personality",
        "preserve_fds",
        "rlimits",
        "seccomp",
        "terminal",
        "trampoline",
        "uid",
        "umask",
    )

    def __init__(self) -> None:
        self.args: list[str] = []
        self.env: list[str] = []
        self.cwd = "/"
        self.uid = 0
        self.gid = 0
        self.groups: list[int] = []
        self.umask: int | None = None
        self.rlimits: list[tuple[int, int, int]] = []
        self.bounding: int | None = None
        self.effective = 0
        self.permitted = 0
        self.inheritable = 0
        self.ambient: list[int] = []
        self.last_cap = max(c.CAPABILITIES.values())  # the kernel's highest capability
        self.no_new_privileges = False
        self.oom_score_adj: int | None = None
        self.personality: int | None = None
        self.seccomp: object | None = None  # a compiled berth.seccomp Program
        self.preserve_fds = 0
        self.terminal = False
        # the trampoline's sealed memfd, when the caller keeps one (None: enter makes one)
        self.trampoline: int | None = None


_UNLIMITED = 0xFFFFFFFFFFFFFFFF
_PERSONALITY = {"LINUX": 0x0000, "LINUX32": 0x0008}


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return max(c.CAPABILITIES.values())


def _mask(names: tuple[str, ...], top: int) -> int:
    bits = 0
    for name in names:
        n = c.CAPABILITIES[name]
        if n <= top:  # a capability this kernel does not know is ignored, as runc does
            bits |= 1 << n
    return bits


def plan(proc: Process, *, seccomp: object | None = None, preserve_fds: int = 0) -> ProcessPlan:
    """Compute the process plan. ``seccomp`` is a compiled berth.seccomp Program."""
    p = ProcessPlan()
    p.args = list(proc.args)
    p.env = list(proc.env)
    p.cwd = proc.cwd or "/"
    p.terminal = proc.terminal
    if proc.user is not None:
        p.uid = proc.user.uid
        p.gid = proc.user.gid
        p.groups = list(proc.user.additional_gids)
        p.umask = proc.user.umask
    for rl in proc.rlimits:
        hard = _UNLIMITED if rl.hard < 0 else rl.hard
        soft = _UNLIMITED if rl.soft < 0 else rl.soft
        p.rlimits.append((c.RLIMITS[rl.type], soft, hard))
    caps = proc.capabilities
    top = p.last_cap = last_cap()
    if caps is not None:
        p.bounding = _mask(caps.bounding, top)
        p.effective = _mask(caps.effective, top)
        p.permitted = _mask(caps.permitted, top)
        p.inheritable = _mask(caps.inheritable, top)
        p.ambient = [c.CAPABILITIES[n] for n in caps.ambient if c.CAPABILITIES[n] <= top]
    else:
        p.bounding = 0
    p.no_new_privileges = proc.no_new_privileges
    p.oom_score_adj = proc.oom_score_adj
    if proc.apparmor_profile:
        if not os.path.exists("/sys/kernel/security/apparmor"):
            raise InvalidArgument(
                "process.apparmorProfile: AppArmor is not enabled on this host;"
                " remove the profile from the config"
            )
        raise InvalidArgument("process.apparmorProfile: berth does not apply AppArmor profiles")
    if proc.selinux_label:
        raise InvalidArgument("process.selinuxLabel: SELinux is not enabled on this host")
    p.preserve_fds = preserve_fds
    p.seccomp = seccomp
    if seccomp is not None:
        import berth.kernel.seccomp  # noqa: F401  (needed after pivot_root, where it cannot load)
    return p


def env_value(env: list[str], name: str) -> str | None:
    prefix = name + "="
    for item in reversed(env):
        if item.startswith(prefix):
            return item[len(prefix) :]
    return None


def resolve_program(args: list[str], env: list[str]) -> str:
    """Find args[0] as exec would, with the container's PATH; Docker's messages on failure."""
    import stat

    name = args[0]
    if "/" in name:
        candidates = [name]
    else:
        path = env_value(env, "PATH")
        if path is None:
            path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    denied = None
    for cand in candidates:
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            denied = f'exec: "{name}": is a directory'
            continue
        if not st.st_mode & 0o111:
            denied = f'exec: "{name}": permission denied'
            continue
        return cand
    if denied:
        raise CannotInvoke(denied)
    if "/" in name:
        raise CommandNotFound(f'exec: "{name}": stat {name}: no such file or directory')
    raise CommandNotFound(f'exec: "{name}": executable file not found in $PATH')


def home_of(uid: int) -> str:
    """The home directory of ``uid`` from the container's /etc/passwd, or /."""
    try:
        with open("/etc/passwd", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def chdir_in_root(k: Syscalls, cwd: str) -> None:
    """chdir to ``cwd`` resolved inside the current root (no magic links, no escape)."""
    rel = cwd.lstrip("/") or "."
    try:
        fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            target = k.openat2(fd, rel, os.O_PATH | os.O_DIRECTORY, RESOLVE)
        finally:
            os.close(fd)
    except KernelError as e:
        raise InvalidArgument(
            f"process.cwd: {cwd}: {os.strerror(e.errno)} (it must be a directory in the container)"
        ) from None
    try:
        os.fchdir(target)
    except OSError as e:
        raise KernelError("chdir", cwd, e.errno or 0) from None
    finally:
        os.close(target)


def enter(k: Syscalls, p: ProcessPlan, program: str) -> None:
    """Apply the plan to this process and exec ``program``; returns only by raising."""
    for res, soft, hard in p.rlimits:
        try:
            k.setrlimit(res, soft, hard)
        except KernelError as e:
            name = next(n for n, v in c.RLIMITS.items() if v == res)
            raise KernelError(
                "setrlimit",
                f"{name} soft={soft} hard={hard}",
                e.errno,
                "the host's hard limit is lower; berth cannot raise it without CAP_SYS_RESOURCE",
            ) from None
    for fd in range(3, 3 + p.preserve_fds):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
    k.close_range(3 + p.preserve_fds, cloexec=True)
    early_seccomp = p.seccomp is not None and not p.no_new_privileges
    if early_seccomp:
        _load_seccomp(p.seccomp)
    if p.bounding is not None:
        for cap in range(p.last_cap + 1):
            if not p.bounding >> cap & 1:
                k.cap_bound_drop(cap)
    if p.uid != 0 or p.gid != 0 or p.groups:
        k.set_keepcaps(True)
    try:
        os.setgroups(p.groups)
    except OSError as e:
        if p.groups:  # with setgroups denied (some user namespaces) only an empty list is fine
            raise KernelError("setgroups", str(p.groups), e.errno or 0) from None
    try:
        os.setresgid(p.gid, p.gid, p.gid)
        os.setresuid(p.uid, p.uid, p.uid)
    except OSError as e:
        raise KernelError("setuid/setgid", f"{p.uid}:{p.gid}", e.errno or 0) from None
    k.capset(p.effective, p.permitted, p.inheritable)
    if p.ambient:
        for cap in p.ambient:
            try:
                k.ambient_raise(cap)
            except KernelError:
                pass  # not in permitted+inheritable: the kernel refuses, runc ignores it too
    chdir_in_root(k, p.cwd)
    if p.umask is not None:
        os.umask(p.umask)
    if p.no_new_privileges:
        k.set_no_new_privs()
    if p.seccomp is not None and not early_seccomp:
        _load_seccomp(p.seccomp)
    _default_signals()
    env = p.env
    if env_value(env, "HOME") is None:
        env = [*env, "HOME=" + home_of(p.uid)]
    try:
        trampoline.execve(program, p.args, _env_dict(env), p.trampoline)
    except OSError as e:
        import errno

        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise CommandNotFound(f'exec: "{p.args[0]}": {os.strerror(e.errno)}') from None
        raise CannotInvoke(f'exec: "{p.args[0]}": {os.strerror(e.errno or 0)}') from None


def _default_signals() -> None:
    """Undo the interpreter's SIG_IGN of SIGPIPE and SIGXFSZ: ignored signals survive
    execve, and a container's program must start with default dispositions."""
    import _signal  # type: ignore[import-not-found]

    for sig in range(1, 32):
        if sig in (9, 19):
            continue
        try:
            if _signal.getsignal(sig) == _signal.SIG_IGN:
                _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            continue


def _load_seccomp(program: object) -> None:
    import sys

    sys.modules["berth.kernel.seccomp"].load(program)


def _env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        name, _, value = item.partition("=")
        out[name] = value
    return out
