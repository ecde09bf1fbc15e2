"""berth's default seccomp profile, in Docker's profile format.

Facts of Docker's default profile (moby ``profiles/seccomp/default.json``),
arranged by what the calls are for. :func:`berth.seccomp.default_profile`
resolves it for one container (capabilities, architecture, kernel).

What it does:

- everything not listed fails with EPERM;
- the ordinary calls a program makes (files, memory, processes, signals,
  time, IPC, sockets, polling) are allowed;
- calls the kernel already reserves for a capability are allowed only when
  the container has it, so a container without the capability does not
  even reach the kernel's check (mount, unshare, setns, bpf, perf,
  ptrace, module loading, reboot, clock setting, ...);
- kernel keyrings, kexec, userfaultfd, io_uring, quotactl without
  CAP_SYS_ADMIN and the like are never allowed (they are not in any list);
- ``clone`` without CAP_SYS_ADMIN only without namespace flags;
  ``clone3`` (whose flags a filter cannot read) fails with ENOSYS so that
  libc falls back to ``clone``;
- ``socket`` for every address family but AF_ALG (38) and AF_VSOCK (40);
- ``personality`` only for the values programs use to query or set the
  default persona (PER_LINUX, PER_LINUX32, UNAME26 variants, query).
"""

from __future__ import annotations

from berth.kernel.consts import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
)

NAMESPACE_FLAGS = (
    CLONE_NEWNS
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_NEWCGROUP
)
ENOSYS = 38
AF_ALG = 38
AF_VSOCK = 40

# personality(2) values a container may set: PER_LINUX, PER_LINUX32,
# UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query the current persona).
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

_FILES = """
    open openat openat2 creat close close_range
    read readv pread64 preadv preadv2 write writev pwrite64 pwritev pwritev2
    lseek _llseek sendfile sendfile64 splice tee vmsplice copy_file_range readahead
    dup dup2 dup3 pipe pipe2 fcntl fcntl64 flock ioctl
    stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx
    statfs statfs64 fstatfs fstatfs64 statmount listmount
    access faccessat faccessat2 umask
    chmod fchmod fchmodat fchmodat2
    chown chown32 fchown fchown32 lchown lchown32 fchownat
    truncate truncate64 ftruncate ftruncate64 fallocate fadvise64 fadvise64_64
    fsync fdatasync sync syncfs sync_file_range
    mkdir mkdirat mknod mknodat rmdir
    link linkat symlink symlinkat unlink unlinkat readlink readlinkat
    rename renameat renameat2
    chdir fchdir getcwd getdents getdents64
    utime utimes utimensat utimensat_time64 futimesat
    name_to_handle_at
"""
_XATTRS = """
    getxattr lgetxattr fgetxattr getxattrat
    setxattr lsetxattr fsetxattr setxattrat
    listxattr llistxattr flistxattr listxattrat
    removexattr lremovexattr fremovexattr removexattrat
"""
_WAITING = """
    poll ppoll ppoll_time64 select _newselect pselect6 pselect6_time64
    epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_wait epoll_wait_old epoll_pwait epoll_pwait2
    eventfd eventfd2 signalfd signalfd4
    inotify_init inotify_init1 inotify_add_watch inotify_rm_watch fanotify_mark
    io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents io_pgetevents_time64
    futex futex_time64 futex_waitv futex_wait futex_wake futex_requeue
"""
_MEMORY = """
    brk mmap mmap2 munmap mremap mprotect madvise mincore msync remap_file_pages
    mlock mlock2 mlockall munlock munlockall membarrier mseal
    memfd_create memfd_secret map_shadow_stack cachestat
    pkey_alloc pkey_free pkey_mprotect
"""
_PROCESSES = """
    fork vfork execve execveat exit exit_group wait4 waitid waitpid
    getpid getppid gettid getpgid setpgid getpgrp getsid setsid
    kill tkill tgkill pidfd_open pidfd_send_signal process_mrelease
    set_tid_address set_robust_list get_robust_list rseq restart_syscall
    prctl seccomp capget capset uname sysinfo getcpu getrandom
    get_thread_area set_thread_area
    landlock_create_ruleset landlock_add_rule landlock_restrict_self
    riscv_hwprobe uretprobe
"""
_LIMITS_AND_SCHEDULING = """
    getrlimit setrlimit ugetrlimit prlimit64 getrusage times
    getpriority setpriority ioprio_get ioprio_set
    sched_yield sched_getaffinity sched_setaffinity sched_getattr sched_setattr
    sched_getparam sched_setparam sched_getscheduler sched_setscheduler
    sched_get_priority_max sched_get_priority_min
    sched_rr_get_interval sched_rr_get_interval_time64
"""
_CREDENTIALS = """
    getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32
    getresuid getresuid32 getresgid getresgid32 getgroups getgroups32
    setuid setuid32 setgid setgid32 setreuid setreuid32 setregid setregid32
    setresuid setresuid32 setresgid setresgid32 setfsuid setfsuid32 setfsgid setfsgid32
    setgroups setgroups32
"""
_SIGNALS = """
    rt_sigaction rt_sigprocmask rt_sigpending rt_sigsuspend rt_sigreturn
    rt_sigqueueinfo rt_tgsigqueueinfo rt_sigtimedwait rt_sigtimedwait_time64
    sigaltstack sigprocmask sigreturn pause alarm
"""
_TIME = """
    time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64
    clock_nanosleep clock_nanosleep_time64 nanosleep adjtimex clock_adjtime clock_adjtime64
    getitimer setitimer
    timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
    timer_settime timer_settime64
    timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64
"""
_IPC = """
    ipc shmget shmat shmdt shmctl semget semop semtimedop semtimedop_time64 semctl
    msgget msgsnd msgrcv msgctl
    mq_open mq_unlink mq_timedsend mq_timedsend_time64 mq_timedreceive
    mq_timedreceive_time64 mq_notify mq_getsetattr
"""
_SOCKETS = """
    socketpair socketcall bind listen accept accept4 connect shutdown
    getsockname getpeername getsockopt setsockopt
    send sendto sendmsg sendmmsg recv recvfrom recvmsg recvmmsg recvmmsg_time64
"""

# Calls the kernel reserves for a capability: allowed only with it.
_WITH_CAPABILITY = {
    "CAP_SYS_ADMIN": """
        mount umount umount2 mount_setattr move_mount open_tree
        fsopen fsconfig fsmount fspick unshare setns clone clone3
        sethostname setdomainname bpf perf_event_open fanotify_init
        lookup_dcookie quotactl quotactl_fd syslog
        lsm_get_self_attr lsm_set_self_attr lsm_list_modules
    """,
    "CAP_SYS_PTRACE": "ptrace process_vm_readv process_vm_writev process_madvise kcmp pidfd_getfd",
    "CAP_SYS_MODULE": "init_module finit_module delete_module",
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "mbind get_mempolicy set_mempolicy set_mempolicy_home_node",
    "CAP_SYSLOG": "syslog",
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
}

# Calls that exist only on some architectures (Docker's arch names).
_ARCH_ONLY = (
    (("amd64", "x32"), "arch_prctl"),
    (("amd64", "x32", "x86"), "modify_ldt"),
    (("arm", "arm64"), "arm_fadvise64_64 arm_sync_file_range sync_file_range2"),
    (("arm", "arm64"), "breakpoint cacheflush set_tls"),
    (("ppc64le",), "sync_file_range2 swapcontext"),
    (("s390", "s390x"), "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr"),
    (("riscv64",), "riscv_flush_icache"),
)

ALLOWED = tuple(
    name
    for group in (
        _FILES,
        _XATTRS,
        _WAITING,
        _MEMORY,
        _PROCESSES,
        _LIMITS_AND_SCHEDULING,
        _CREDENTIALS,
        _SIGNALS,
        _TIME,
        _IPC,
        _SOCKETS,
    )
    for name in group.split()
)


# Docker's archMap: a native architecture and the ABIs its kernel also runs.
_ARCH_MAP = (
    ("SCMP_ARCH_X86_64", ("SCMP_ARCH_X86", "SCMP_ARCH_X32")),
    ("SCMP_ARCH_AARCH64", ("SCMP_ARCH_ARM",)),
    ("SCMP_ARCH_MIPS64", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32")),
    ("SCMP_ARCH_MIPS64N32", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64")),
    ("SCMP_ARCH_MIPSEL64", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32")),
    ("SCMP_ARCH_MIPSEL64N32", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64")),
    ("SCMP_ARCH_S390X", ("SCMP_ARCH_S390",)),
    ("SCMP_ARCH_RISCV64", ()),
    ("SCMP_ARCH_LOONGARCH64", ()),
)


def _allow(names: str | tuple[str, ...], **extra: object) -> dict[str, object]:
    listed = names.split() if isinstance(names, str) else list(names)
    return {"names": listed, "action": "SCMP_ACT_ALLOW", **extra}


def _arg(index: int, op: str, value: int, value_two: int = 0) -> dict[str, object]:
    out: dict[str, object] = {"index": index, "value": value, "op": op}
    if value_two:
        out["valueTwo"] = value_two
    return out


def _build() -> dict[str, object]:
    syscalls: list[dict[str, object]] = [_allow(ALLOWED)]
    # Before 4.8 seccomp could be bypassed with ptrace: allowed from 4.8 on.
    syscalls.append(
        _allow("ptrace process_vm_readv process_vm_writev", includes={"minKernel": "4.8"})
    )
    for cond in (
        _arg(0, "SCMP_CMP_LT", AF_ALG),
        _arg(0, "SCMP_CMP_EQ", AF_ALG + 1),
        _arg(0, "SCMP_CMP_GT", AF_VSOCK),
    ):
        syscalls.append(_allow("socket", args=[cond]))
    for value in PERSONALITIES:
        syscalls.append(_allow("personality", args=[_arg(0, "SCMP_CMP_EQ", value)]))
    for arches, names in _ARCH_ONLY:
        syscalls.append(_allow(names, includes={"arches": list(arches)}))
    for cap, names in _WITH_CAPABILITY.items():
        syscalls.append(_allow(names, includes={"caps": [cap]}))
    # Without CAP_SYS_ADMIN: clone only without namespace flags (arg 0 holds
    # the flags, arg 1 on s390), clone3 as "not implemented".
    no_admin = {"caps": ["CAP_SYS_ADMIN"]}
    syscalls.append(
        _allow(
            "clone",
            args=[_arg(0, "SCMP_CMP_MASKED_EQ", NAMESPACE_FLAGS, 0)],
            excludes={**no_admin, "arches": ["s390", "s390x"]},
        )
    )
    syscalls.append(
        _allow(
            "clone",
            args=[_arg(1, "SCMP_CMP_MASKED_EQ", NAMESPACE_FLAGS, 0)],
            includes={"arches": ["s390", "s390x"]},
            excludes=no_admin,
        )
    )
    syscalls.append(
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS, "excludes": no_admin}
    )
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": main, "subArchitectures": list(subs)} for main, subs in _ARCH_MAP
        ],
        "syscalls": syscalls,
    }


PROFILE: dict[str, object] = _build()
