"""``berthd`` / ``berth daemon``: run the engine daemon in the foreground.

Flags are dockerd's names for the ``daemon.json`` keys (see
``berth.engine.config``); ``--root`` is an alias of ``--data-root``. The log
goes to stderr (or ``--log-file``) in logrus' text format, as dockerd's:
``time="..." level=info msg="..."``. Exit status: 0 after a clean stop, 1
when the daemon cannot start (the message says why).
"""

from __future__ import annotations

import sys

from berth.cli.flags import Flag, parse, usage_lines
from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from berth.engine.config import AddressPool, Ulimit


def _ulimit(text: str) -> Ulimit:
    from berth.engine.config import parse_ulimit

    return parse_ulimit(text)


def _pool(text: str) -> AddressPool:
    from berth.engine.config import parse_address_pool

    return parse_address_pool(text)


def _log_opt(text: str) -> tuple[str, str]:
    k, eq, v = text.partition("=")
    if not eq or not k:
        raise InvalidArgument(f"invalid log-opt {text!r}: expected key=value")
    return k, v


FLAGS = [
    Flag(
        "--data-root",
        "--root",
        "-g",
        kind="str",
        help='Root directory of persistent berth state (default "/var/lib/berth")',
    ),
    Flag(
        "--exec-root",
        kind="str",
        help='Root directory for execution state files (default "/run/berth")',
    ),
    Flag(
        "-H",
        "--host",
        kind="list",
        help="Daemon socket(s) to listen on (unix:///path, tcp://127.0.0.1:PORT)",
    ),
    Flag(
        "--config-file",
        kind="str",
        help='Daemon configuration file (default "/etc/berth/daemon.json")',
    ),
    Flag(
        "-p",
        "--pidfile",
        kind="str",
        help='Path to use for daemon PID file (default "<exec-root>/berthd.pid")',
    ),
    Flag("-D", "--debug", help="Enable debug mode"),
    Flag(
        "-l",
        "--log-level",
        kind="str",
        help='Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")',
    ),
    Flag("--log-file", kind="str", help="Write the daemon's log to this file (default: stderr)"),
    Flag("--insecure-registry", kind="list", help="Enable insecure registry communication"),
    Flag("--registry-mirror", kind="list", help="Preferred registry mirror"),
    Flag(
        "--max-concurrent-downloads",
        kind="int",
        help="Set the max concurrent downloads (default 3)",
    ),
    Flag("--max-concurrent-uploads", kind="int", help="Set the max concurrent uploads (default 5)"),
    Flag(
        "--default-ulimit",
        kind="list",
        convert=_ulimit,
        metavar="ulimit",
        help="Default ulimits for containers",
    ),
    Flag("--cgroup-parent", kind="str", help="Set parent cgroup for all containers"),
    Flag("--bip", kind="str", help="Specify network bridge IP"),
    Flag(
        "--default-address-pool",
        kind="list",
        convert=_pool,
        metavar="pool-options",
        help="Default address pools for node specific local networks",
    ),
    Flag("--dns", kind="list", help="DNS server to use"),
    Flag("--dns-opt", kind="list", help="DNS options to use"),
    Flag("--dns-search", kind="list", help="DNS search domains to use"),
    Flag("--label", kind="list", help="Set key=value labels to the daemon"),
    Flag(
        "--log-driver", kind="str", help='Default driver for container logs (default "json-file")'
    ),
    Flag(
        "--log-opt",
        kind="list",
        convert=_log_opt,
        metavar="map",
        help="Default log driver options for containers",
    ),
    Flag("--experimental", help="Enable experimental features"),
    Flag("--shutdown-timeout", kind="int", help="Set the default shutdown timeout (default 15)"),
    Flag("-v", "--version", help="Print version information and quit"),
    Flag("-h", "--help", help="Print usage"),
]

# flag dest -> daemon.json key, for the flags that are configuration
_KEYS = {
    "data_root": "data-root",
    "exec_root": "exec-root",
    "host": "hosts",
    "pidfile": "pidfile",
    "debug": "debug",
    "log_level": "log-level",
    "insecure_registry": "insecure-registries",
    "registry_mirror": "registry-mirrors",
    "max_concurrent_downloads": "max-concurrent-downloads",
    "max_concurrent_uploads": "max-concurrent-uploads",
    "default_ulimit": "default-ulimits",
    "cgroup_parent": "cgroup-parent",
    "bip": "bip",
    "default_address_pool": "default-address-pools",
    "dns": "dns",
    "dns_opt": "dns-opts",
    "dns_search": "dns-search",
    "label": "labels",
    "log_driver": "log-driver",
    "log_opt": "log-opts",
    "experimental": "experimental",
    "shutdown_timeout": "shutdown-timeout",
}


def flag_values(argv: Sequence[str]) -> tuple[dict[str, object], str | None, str | None, bool]:
    """(daemon.json keys given as flags, config file, log file, version/help asked)."""
    p = parse(FLAGS, argv)
    if p.args:
        raise InvalidArgument(f"berthd takes no arguments, got {' '.join(p.args)!r}")
    out: dict[str, object] = {}
    for dest, key in _KEYS.items():
        if dest not in p.given:
            continue
        value = p.get(dest)
        if dest == "default_ulimit":
            value = {u.name: u.to_json() for u in value}
        elif dest == "default_address_pool":
            value = [a.to_json() for a in value]
        elif dest == "log_opt":
            value = dict(value)
        out[key] = value
    asked = bool(p.get("version") or p.get("help"))
    return out, p.get("config_file"), p.get("log_file"), asked


def usage(prog: str) -> str:
    return (
        f"\nUsage:  {prog} [OPTIONS]\n\nberth's engine daemon: serves the Docker Engine API\n\n"
        "Options:\n" + "\n".join(usage_lines(FLAGS)) + "\n"
    )


def setup_logging(level: int, log_file: str | None) -> None:
    import logging
    import time

    class LogrusFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            t = record.created
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
            stamp += f".{int((t % 1) * 1e9):09d}Z"
            level = {"WARNING": "warning", "CRITICAL": "fatal"}.get(
                record.levelname, record.levelname.lower()
            )
            msg = record.getMessage().replace("\\", "\\\\").replace('"', '\\"')
            line = f'time="{stamp}" level={level} msg="{msg}"'
            if record.exc_info:
                line += "\n" + self.formatException(record.exc_info)
            return line

    handler: logging.Handler
    if log_file:
        handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogrusFormatter())
    root = logging.getLogger("berth")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: Sequence[str] | None = None, prog: str = "berthd") -> int:
    import os

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        flags, config_file, log_file, asked = flag_values(args)
    except InvalidArgument as e:
        sys.stderr.write(f"{e}\nSee '{prog} --help'.\n")
        return 125
    if asked:
        if "-v" in args or "--version" in args:
            from berth.api.versions import BERTH_VERSION, build_info

            commit, _ = build_info()
            sys.stdout.write(f"berth version {BERTH_VERSION}, build {commit or 'unknown'}\n")
        else:
            sys.stdout.write(usage(prog))
        return 0
    from berth.engine.config import DEFAULT_CONFIG_FILE, load
    from berth.engine.daemon import Daemon, log_level

    try:
        path = config_file or DEFAULT_CONFIG_FILE
        text = None
        if config_file or os.path.exists(path):
            try:
                with open(path) as f:
                    text = f.read()
            except OSError as e:
                raise InvalidArgument(f"cannot read the configuration file {path}: {e.strerror}")
        config = load(text, flags, path)
        setup_logging(log_level(config), log_file)
        from berth.api.app import start_server

        daemon = Daemon(config, path, flags)
        return daemon.run(start_server)
    except BerthError as e:
        sys.stderr.write(f"failed to start daemon: {e}\n")
        return 1


def entry() -> None:
    """Console script ``berthd``."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
