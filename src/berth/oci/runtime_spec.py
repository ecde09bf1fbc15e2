"""The OCI runtime configuration (runtime-spec 1.2, Linux), as typed records.

``Spec.from_json(doc)`` checks the types of every field it knows and keeps
the ones it does not know (round-trip). Semantic checks (paths, namespace
combinations, values) are in ``berth.runtime.validate``.

Field names follow the spec's JSON keys in snake_case; where the JSON key is
not the camelCase of the name it is given with ``field(json=...)``.
"""

from __future__ import annotations

from berth.oci.record import Record, field

OCI_VERSION = "1.2.0"


# -- process ----------------------------------------------------------------------
class Box(Record):
    height: int
    width: int


class User(Record):
    uid: int
    gid: int
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()
    username: str | None = None


class Capabilities(Record):
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


class Rlimit(Record):
    type: str
    hard: int
    soft: int


class IOPriority(Record):
    class_: str = field(json="class")
    priority: int = 0


class Scheduler(Record):
    policy: str
    nice: int | None = None
    priority: int | None = None
    flags: tuple[str, ...] = ()
    runtime: int | None = None
    deadline: int | None = None
    period: int | None = None


class CPUAffinity(Record):
    initial: str | None = None
    final: str | None = None


class Process(Record):
    args: tuple[str, ...] = ()
    cwd: str = "/"
    env: tuple[str, ...] = ()
    terminal: bool = False
    console_size: Box | None = None
    user: User | None = None
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    apparmor_profile: str | None = None
    oom_score_adj: int | None = None
    selinux_label: str | None = None
    io_priority: IOPriority | None = None
    scheduler: Scheduler | None = None
    exec_cpu_affinity: CPUAffinity | None = field(json="execCPUAffinity", default=None)
    command_line: str | None = None


# -- root, mounts, hooks -----------------------------------------------------------------
class Root(Record):
    path: str
    readonly: bool = False


class IDMapping(Record):
    container_id: int = field(json="containerID")
    host_id: int = field(json="hostID")
    size: int


class Mount(Record):
    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()


class Hook(Record):
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


class Hooks(Record):
    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


# -- linux: namespaces, devices -----------------------------------------------------------
class Namespace(Record):
    type: str
    path: str | None = None


class TimeOffset(Record):
    secs: int = 0
    nanosecs: int = 0


class Device(Record):
    type: str
    path: str
    major: int | None = None
    minor: int | None = None
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


class Personality(Record):
    domain: str
    flags: tuple[str, ...] = ()


# -- linux: resources -------------------------------------------------------------------
class DeviceRule(Record):
    allow: bool
    type: str | None = None
    major: int | None = None
    minor: int | None = None
    access: str | None = None


class Memory(Record):
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    kernel_tcp: int | None = field(json="kernelTCP", default=None)
    swappiness: int | None = None
    disable_oom_killer: bool | None = field(json="disableOOMKiller", default=None)
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


class CPU(Record):
    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: int | None = None


class WeightDevice(Record):
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None


class ThrottleDevice(Record):
    major: int
    minor: int
    rate: int


class BlockIO(Record):
    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: tuple[WeightDevice, ...] = ()
    throttle_read_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_write_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_read_iops_device: tuple[ThrottleDevice, ...] = field(
        json="throttleReadIOPSDevice", default=()
    )
    throttle_write_iops_device: tuple[ThrottleDevice, ...] = field(
        json="throttleWriteIOPSDevice", default=()
    )


class HugepageLimit(Record):
    page_size: str = ""
    limit: int = 0


class NetworkPriority(Record):
    name: str
    priority: int


class Network(Record):
    class_id: int | None = field(json="classID", default=None)
    priorities: tuple[NetworkPriority, ...] = ()


class Pids(Record):
    limit: int


class Resources(Record):
    devices: tuple[DeviceRule, ...] = ()
    memory: Memory | None = None
    cpu: CPU | None = None
    block_io: BlockIO | None = field(json="blockIO", default=None)
    hugepage_limits: tuple[HugepageLimit, ...] = ()
    network: Network | None = None
    pids: Pids | None = None
    rdma: dict[str, object] | None = None
    unified: dict[str, str] | None = None


# -- linux: seccomp -----------------------------------------------------------------------
class SeccompArg(Record):
    index: int
    value: int
    value_two: int = 0
    op: str


class SeccompSyscall(Record):
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[SeccompArg, ...] = ()


class Seccomp(Record):
    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: tuple[SeccompSyscall, ...] = ()


class Linux(Record):
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    time_offsets: dict[str, TimeOffset] | None = None
    devices: tuple[Device, ...] = ()
    cgroups_path: str | None = None
    resources: Resources | None = None
    sysctl: dict[str, str] | None = None
    seccomp: Seccomp | None = None
    rootfs_propagation: str | None = None
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    mount_label: str | None = None
    personality: Personality | None = None
    intel_rdt: dict[str, object] | None = None


class Spec(Record):
    oci_version: str = field(json="ociVersion", default=OCI_VERSION)
    process: Process | None = None
    root: Root | None = None
    hostname: str | None = None
    domainname: str | None = None
    mounts: tuple[Mount, ...] = ()
    hooks: Hooks | None = None
    annotations: dict[str, str] | None = None
    linux: Linux | None = None


class State(Record):
    """The state of a container, as ``state`` prints it and hooks receive it."""

    oci_version: str = field(json="ociVersion", default=OCI_VERSION)
    id: str
    status: str
    pid: int = 0
    bundle: str
    annotations: dict[str, str] | None = None
