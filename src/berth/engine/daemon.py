"""berthd: the engine daemon's state and lifecycle.

One :class:`Daemon` per process. It owns what is about the daemon itself --
its configuration, the event bus, the locks that keep a second daemon off the
same root, the pid file, signals, orderly shutdown -- and is the registry
through which the engine's components (images, containers, networks,
volumes) find each other and report into ``/info`` and ``/system/df``::

    images = daemon.service("images", lambda: ImageService(daemon))  # one per daemon
    daemon.add_info_provider(lambda info: info.update(Images=images.count()))
    daemon.add_df_provider(lambda df: df["Images"].extend(images.usage()))
    daemon.on_shutdown(images.close)        # called in reverse order at stop
    daemon.on_reload(lambda cfg: ...)       # SIGHUP, with the new DaemonConfig
    daemon.db                               # <root>/berth.db (berth.store.db), opened lazily
    daemon.events.publish("image", "pull", ref, {"name": ref})

Lifecycle (:meth:`Daemon.run`):

1. create ``--data-root`` (0711) and ``--exec-root`` (0700);
2. take the locks ``<root>/berthd.lock`` and ``<exec-root>/berthd.lock``
   (POSIX ``lockf`` locks: held by this process only -- a child forked from
   the daemon, such as a container's monitor, does not inherit them, so a
   dead daemon never leaves its root locked); a second daemon on the same
   root or exec root is refused with the first one's pid;
3. write the pid file (``<exec-root>/berthd.pid`` unless ``--pidfile``);
4. start the API server (given by the caller: ``berth.api.app.start_server``),
   which listens on every host (``unix://<exec-root>/berth.sock`` by default);
5. serve until SIGTERM/SIGINT; SIGHUP reloads the configuration file and
   publishes a ``daemon reload`` event;
6. stop: end event streams, stop the server (requests in flight get up to
   ``shutdown-timeout`` seconds), run the shutdown hooks, close the database,
   remove the pid file and the sockets, release the locks.

Containers are not stopped: their monitors outlive the daemon, and the next
daemon takes them over.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from contextlib import ExitStack, contextmanager

from berth.api.versions import API_VERSION, BERTH_VERSION, MIN_API_VERSION
from berth.engine.config import DaemonConfig, load, reload_changes
from berth.engine.events import EventBus
from berth.errors import Conflict, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, Protocol, TypeVar

    from berth.engine.sysinfo import HostFacts
    from berth.store.db import Database

    T = TypeVar("T")

    class ServerHandle(Protocol):
        def serve(self) -> None: ...
        def stop(self, grace: float = ...) -> None: ...


log = logging.getLogger("berth.daemon")


class Daemon:
    def __init__(
        self,
        config: DaemonConfig,
        config_file: str | None = None,
        flags: dict[str, object] | None = None,
    ) -> None:
        self.config = config
        self.config_file = config_file
        self.flags = dict(flags or {})
        self.events = EventBus()
        self.started = time.time()
        self.id = ""
        self._services: dict[str, object] = {}
        self._services_lock = threading.Lock()
        self._info_providers: list[Callable[[dict[str, Any]], None]] = []
        self._df_providers: list[Callable[[dict[str, Any]], None]] = []
        self._shutdown_hooks: list[Callable[[], None]] = []
        self._start_hooks: list[Callable[[], None]] = []
        self._reload_hooks: list[Callable[[DaemonConfig], None]] = []
        self._db: Database | None = None
        self._facts: HostFacts | None = None
        self._wake = threading.Event()
        self._stop_requested = False
        self._reload_requested = False

    # ------------------------------------------------------------- registry

    def service(self, name: str, factory: Callable[[], T]) -> T:
        """The one ``name`` service of this daemon, made by ``factory`` on first use."""
        with self._services_lock:
            svc = self._services.get(name)
            if svc is None:
                svc = factory()
                self._services[name] = svc
            return svc  # type: ignore[return-value]

    def add_info_provider(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """``fn(info)`` updates the ``/info`` document (counts, driver, ...)."""
        self._info_providers.append(fn)

    def add_df_provider(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """``fn(df)`` fills the ``/system/df`` document."""
        self._df_providers.append(fn)

    def on_shutdown(self, fn: Callable[[], None]) -> None:
        self._shutdown_hooks.append(fn)

    def on_start(self, fn: Callable[[], None]) -> None:
        """``fn()`` runs once when the API server listens, in a thread of its own
        (recovery work: reconcile containers, apply restart policies)."""
        self._start_hooks.append(fn)

    def on_reload(self, fn: Callable[[DaemonConfig], None]) -> None:
        self._reload_hooks.append(fn)

    @property
    def db(self) -> Database:
        """The metadata database ``<root>/berth.db``, opened on first use."""
        with self._services_lock:
            if self._db is None:
                from berth.store.db import Database

                self._db = Database(os.path.join(self.config.data_root, "berth.db"))
            return self._db

    @property
    def facts(self) -> HostFacts:
        if self._facts is None:
            from berth.engine.sysinfo import host_facts

            self._facts = host_facts()
        return self._facts

    # ----------------------------------------------------------- documents

    def version(self) -> dict[str, Any]:
        """Docker's ``/version`` document."""
        from berth.api.versions import build_info, go_arch, python_version

        commit, built = build_info()
        facts = self.facts
        arch = go_arch(facts.machine)
        build_time = _rfc3339(built) if built else ""
        experimental = "true" if self.config.experimental else "false"
        doc: dict[str, Any] = {
            "Platform": {"Name": "berth"},
            "Components": [
                {
                    "Name": "Engine",
                    "Version": BERTH_VERSION,
                    "Details": {
                        "ApiVersion": API_VERSION,
                        "Arch": arch,
                        "BuildTime": build_time,
                        "Experimental": experimental,
                        "GitCommit": commit,
                        "GoVersion": python_version(),
                        "KernelVersion": facts.kernel,
                        "MinAPIVersion": MIN_API_VERSION,
                        "Os": "linux",
                    },
                },
                {
                    "Name": "berth-runtime",
                    "Version": BERTH_VERSION,
                    "Details": {"GitCommit": commit},
                },
            ],
            "Version": BERTH_VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": commit,
            "GoVersion": python_version(),
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": facts.kernel,
            "BuildTime": build_time,
        }
        if self.config.experimental:
            doc["Experimental"] = True
        return doc

    def info(self) -> dict[str, Any]:
        """Docker's ``/info`` (SystemInfo) document."""
        from berth.engine.sysinfo import backing_filesystem, ip_forwarding

        c = self.config
        f = self.facts
        ctl = f.controllers
        v1 = f.cgroup_version == "1"
        insecure = sorted(set(c.insecure_registries) | {"127.0.0.0/8"})
        cidrs = [r for r in insecure if "/" in r]
        info: dict[str, Any] = {
            "ID": self.id,
            "Containers": 0,
            "ContainersRunning": 0,
            "ContainersPaused": 0,
            "ContainersStopped": 0,
            "Images": 0,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", backing_filesystem(c.data_root)]],
            "Plugins": {
                "Volume": ["local"],
                "Network": ["bridge", "host", "null"],
                "Authorization": None,
                "Log": ["json-file"],
            },
            "MemoryLimit": "memory" in ctl or not v1,
            "SwapLimit": _swap_limit(ctl, v1),
            "KernelMemory": False,
            "KernelMemoryTCP": False,
            "CpuCfsPeriod": "cpu" in ctl or not v1,
            "CpuCfsQuota": "cpu" in ctl or not v1,
            "CPUShares": "cpu" in ctl or not v1,
            "CPUSet": "cpuset" in ctl or not v1,
            "PidsLimit": "pids" in ctl or not v1,
            "IPv4Forwarding": ip_forwarding(),
            "BridgeNfIptables": os.path.exists("/proc/sys/net/bridge/bridge-nf-call-iptables"),
            "BridgeNfIp6tables": os.path.exists("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
            "Debug": c.debug,
            "NFd": _count_fds(),
            "OomKillDisable": "memory" in ctl and v1,
            "NGoroutines": threading.active_count(),
            "SystemTime": _rfc3339(time.time()),
            "LoggingDriver": c.log_driver,
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": f.cgroup_version,
            "NEventsListener": self.events.subscribers,
            "KernelVersion": f.kernel,
            "OperatingSystem": f.os_name,
            "OSVersion": f.os_version,
            "OSType": "linux",
            "Architecture": f.machine,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "AllowNondistributableArtifactsCIDRs": [],
                "AllowNondistributableArtifactsHostnames": [],
                "InsecureRegistryCIDRs": cidrs,
                "IndexConfigs": _index_configs(c),
                "Mirrors": list(c.registry_mirrors),
            },
            "NCPU": f.ncpu,
            "MemTotal": f.mem_total,
            "GenericResources": None,
            "DockerRootDir": c.data_root,
            "HttpProxy": os.environ.get("HTTP_PROXY", os.environ.get("http_proxy", "")),
            "HttpsProxy": os.environ.get("HTTPS_PROXY", os.environ.get("https_proxy", "")),
            "NoProxy": os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")),
            "Name": f.hostname,
            "Labels": list(c.labels),
            "ExperimentalBuild": c.experimental,
            "ServerVersion": BERTH_VERSION,
            "Runtimes": {"berth": {"path": "berth-runtime"}},
            "DefaultRuntime": "berth",
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "CDISpecDirs": [],
            "Warnings": None,
        }
        for provide in self._info_providers:
            provide(info)
        return info

    def disk_usage(self) -> dict[str, Any]:
        """Docker's ``/system/df`` document, filled by the components."""
        df: dict[str, Any] = {
            "LayersSize": 0,
            "Images": [],
            "Containers": [],
            "Volumes": [],
            "BuildCache": [],
            "BuilderSize": 0,
        }
        for provide in self._df_providers:
            provide(df)
        return df

    # ------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        self._stop_requested = True
        self._wake.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    def reload(self) -> None:
        """Re-read the configuration file; apply what can change live."""
        text = None
        if self.config_file and os.path.exists(self.config_file):
            with open(self.config_file) as f:
                text = f.read()
        new = load(text, self.flags, self.config_file or "daemon.json")
        config, ignored = reload_changes(self.config, new)
        for key in ignored:
            log.warning("reload: %s cannot change while the daemon runs; ignored", key)
        self.config = config
        logging.getLogger("berth").setLevel(_log_level(config))
        for hook in self._reload_hooks:
            hook(config)
        attrs = {
            "debug": str(config.debug).lower(),
            "labels": "[" + ",".join(config.labels) + "]",
            "insecure-registries": "[" + ",".join(config.insecure_registries) + "]",
            "registry-mirrors": "[" + ",".join(config.registry_mirrors) + "]",
            "max-concurrent-downloads": str(config.max_concurrent_downloads),
            "max-concurrent-uploads": str(config.max_concurrent_uploads),
            "shutdown-timeout": str(config.shutdown_timeout),
            "name": self.facts.hostname,
        }
        self.events.publish("daemon", "reload", self.id, attrs)
        log.info("configuration reloaded")

    def run(self, start_server: Callable[[Daemon], ServerHandle]) -> int:
        """Run until a stop signal; returns the exit status (0)."""
        c = self.config
        with ExitStack() as stack:
            _make_dir(c.data_root, 0o711)
            _make_dir(c.exec_root, 0o700)
            stack.enter_context(_locked(c.data_root, "data-root", c))
            stack.enter_context(_locked(c.exec_root, "exec-root", c))
            self.id = _engine_id(c.data_root)
            _write_pid(c.pid_path)
            stack.callback(_remove_pid, c.pid_path)
            stack.callback(self._close_db)
            stack.callback(self._run_shutdown_hooks)
            server = start_server(self)
            self._install_signals(stack)
            thread = threading.Thread(target=server.serve, name="accept", daemon=True)
            thread.start()
            stack.callback(self._stop_server, server, thread)
            for hook in self._start_hooks:
                threading.Thread(
                    target=self._run_start_hook, args=(hook,), name="start-hook", daemon=True
                ).start()
            log.info(
                "berthd %s started (pid %d, API %s, root %s, exec root %s)",
                BERTH_VERSION,
                os.getpid(),
                API_VERSION,
                c.data_root,
                c.exec_root,
            )
            for host in c.socket_hosts:
                log.info("API listen on %s", host)
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop_requested:
                    break
                if self._reload_requested:
                    self._reload_requested = False
                    try:
                        self.reload()
                    except Exception as e:
                        log.error("reload failed, keeping the running configuration: %s", e)
            log.info("stopping (containers keep running)")
        log.info("stopped")
        return 0

    def _stop_server(self, server: ServerHandle, thread: threading.Thread) -> None:
        self.events.close()
        server.stop(float(self.config.shutdown_timeout))
        thread.join(5)

    @staticmethod
    def _run_start_hook(hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception:
            log.exception("start hook %r failed", hook)

    def _run_shutdown_hooks(self) -> None:
        for hook in reversed(self._shutdown_hooks):
            try:
                hook()
            except Exception:
                log.exception("shutdown hook %r failed", hook)

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _install_signals(self, stack: ExitStack) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # embedded (tests): the caller stops us with request_stop()

        def on_stop(signum: int, frame: object) -> None:
            log.info("received %s", signal.Signals(signum).name)
            self.request_stop()

        def on_hup(signum: int, frame: object) -> None:
            self.request_reload()

        for sig, handler in (
            (signal.SIGTERM, on_stop),
            (signal.SIGINT, on_stop),
            (signal.SIGHUP, on_hup),
        ):
            old = signal.signal(sig, handler)
            stack.callback(signal.signal, sig, old)


def _log_level(c: DaemonConfig) -> int:
    if c.debug:
        return logging.DEBUG
    return {
        "debug": logging.DEBUG,
        "info": logging.INFO,
        "warn": logging.WARNING,
        "error": logging.ERROR,
        "fatal": logging.CRITICAL,
    }[c.log_level]


def log_level(c: DaemonConfig) -> int:
    """The ``logging`` level for the configuration (``debug`` wins)."""
    return _log_level(c)


def _make_dir(path: str, mode: int) -> None:
    try:
        os.makedirs(path, mode=mode, exist_ok=True)
    except OSError as e:
        raise InvalidArgument(f"cannot create {path}: {e.strerror}; check --data-root/--exec-root")


@contextmanager
def _locked(directory: str, what: str, c: DaemonConfig) -> Iterator[None]:
    """Hold ``<directory>/berthd.lock`` (lockf: this process only, not its forks)."""
    import fcntl

    path = os.path.join(directory, "berthd.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise Conflict(
                f"another berthd (pid {other}) is running with {what} {directory}"
                f" (it holds {path}); stop it first, or give this daemon its own"
                " --data-root and --exec-root"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _engine_id(root: str) -> str:
    """A stable ID for this engine, kept in ``<root>/engine-id``."""
    import uuid

    path = os.path.join(root, "engine-id")
    try:
        with open(path) as f:
            value = f.read().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    value = str(uuid.uuid4())
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(value + "\n")
    os.replace(tmp, path)
    return value


def _write_pid(path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)


def _remove_pid(path: str) -> None:
    try:
        with open(path) as f:
            if f.read().strip() != str(os.getpid()):
                return
        os.unlink(path)
    except OSError:
        pass


def _count_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def _swap_limit(controllers: frozenset[str], v1: bool) -> bool:
    if not v1:
        return os.path.exists("/proc/swaps")
    if "memory" not in controllers:
        return False
    return os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")


def _index_configs(c: DaemonConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "docker.io": {
            "Name": "docker.io",
            "Mirrors": list(c.registry_mirrors),
            "Secure": True,
            "Official": True,
        }
    }
    for reg in c.insecure_registries:
        if "/" not in reg:
            out[reg] = {"Name": reg, "Mirrors": [], "Secure": False, "Official": False}
    return out


def _rfc3339(t: float) -> str:
    """RFC 3339 with nanoseconds in UTC, as Go's time.RFC3339Nano prints it."""
    sec = int(t)
    nanos = round((t - sec) * 1e9)
    if nanos >= 1_000_000_000:
        sec, nanos = sec + 1, nanos - 1_000_000_000
    tm = time.gmtime(sec)
    frac = f".{nanos:09d}".rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%dT%H:%M:%S", tm) + frac + "Z"


def stale_socket(path: str) -> bool:
    """True when ``path`` is a unix socket nobody answers on (safe to remove).

    Raises Conflict when something is listening there.
    """
    import socket
    import stat

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(st.st_mode):
        raise InvalidArgument(f"{path} exists and is not a socket; remove it or choose another -H")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError:
        return True
    finally:
        s.close()
    raise Conflict(f"another daemon is already serving unix://{path}; stop it or choose another -H")
