"""bench/port_forward: throughput through a published port vs. straight at the container,
through the engine.

    sudo bench/port_forward [--seconds 2] [--rounds 9] [--sizes 1024,262144] [--starts 20]

Starts a berthd of its own (temporary directories, busybox loaded, debug log),
runs one ``busybox httpd`` container per path, each published with
``-p HOSTPORT:80`` (the files it serves are made inside it), and runs ``wrk``
against them in shuffled rounds:

- ``http://127.0.0.1:HOSTPORT/`` and ``http://HOSTIP:HOSTPORT/`` -- the
  published port: kernel DNAT from berth's nft table, no proxy process;
- ``http://CONTAINER_IP:80/`` -- straight at the container (no NAT);
- the same at a second, identical container: a control that shows how far
  apart two identical paths measure on this machine (the noise floor).

It prints requests/s and MB/s (medians) and each path's ratio to the direct
one (goal >= 0.95). busybox httpd closes every connection after one
request, so the small files measure the per-connection cost of a path.

Then it times what ``berth run --rm busybox true`` spends on networking: the
wall time of the whole run for ``--network none``, the default bridge,
``-p 80`` and a user-defined network (embedded DNS), and berthd's own
measure of network setup and release (the ``network setup of``/``network
release of`` lines of its debug log). Medians of ``--starts`` runs each.

What it found (2 cores shared with other work, so single runs swing by +-30%;
the control row shows it): the published paths measure within the noise of
the direct one (medians of paired ratios 0.92-1.10 over several runs, the
control 1.00-1.13). ``perf record -a`` during the 1 KB runs puts netfilter
and FIB code at 4.1% of all CPU through the published port vs. 3.2% direct
(nft chains + NAT alone: 0.6% vs 0.4%); busybox httpd, which forks per
connection, takes ~72%. The library's earlier 0.74-0.79 came from wrk's
TIME_WAIT sockets (see tcp_tw_reuse below), not from the NAT path.

Holds the kernel-test lock while it runs (so that no test sees its bridge);
sets ``net.ipv4.tcp_tw_reuse=1`` meanwhile (wrk's TIME_WAIT sockets would
otherwise slow down every path but the loopback one); at the end berthd is
stopped by PID, the engine torn down (``berth.engine.teardown``), its
containers' parent cgroup removed and the sysctls put back.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import BERTH, CG_PARENT, LOCK, Berth, remove_cgroup_parent

# put back at the end: ip_forward (berthd turns it on), tcp_tw_reuse (see below)
SYSCTLS = ("net/ipv4/ip_forward", "net/ipv4/tcp_tw_reuse")
_UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def host_ip() -> str:
    out = subprocess.run(
        ["ip", "-4", "-o", "route", "get", "192.0.2.123"], capture_output=True, text=True
    ).stdout.split()
    return out[out.index("src") + 1] if "src" in out else "192.0.2.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


class Engine(Berth):
    """berthd on temporary directories (bench/peers.py), with busybox loaded and a
    debug log, and the CLI and the log at hand."""

    def __init__(self, base: str) -> None:
        super().__init__(base, debug=True)
        self.env["BERTH_NO_AUTOSTART"] = "1"

    def berth(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(
            [BERTH, *args], env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if check and r.returncode != 0:
            raise SystemExit(f"berth {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r.stdout

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()


def wait_http(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"httpd did not answer at {host}:{port}")


def wrk(url: str, seconds: int, threads: int, conns: int) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    bps = float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0
    if "Non-2xx" in out or "Socket errors" in out:
        print(f"  warning: wrk reported errors for {url}:\n{out}", file=sys.stderr)
    return rps, bps


def throughput(e: Engine, args: argparse.Namespace, sizes: list[int]) -> None:
    me = args.host_ip or host_ip()
    # One container per path, each with its own httpd: the server-side TIME_WAIT
    # sockets of one path must not meet the SYNs of another (a NAT'd client reusing
    # a 4-tuple with other TCP timestamps gets its SYN dropped). No TIME_WAIT
    # buckets in the containers (busybox httpd closes every connection first).
    make = "; ".join(f"head -c {n} /dev/zero > /www/{n}.bin" for n in sizes)
    paths = ["published 127.0.0.1", f"published {me}", "direct container IP"]
    if not args.no_control:  # the same path twice: how far apart identical paths measure
        paths.append("direct, 2nd container (control)")
    targets: dict[str, str] = {}
    for label in paths:
        port = free_port()
        cid = e.berth(
            "run",
            "-d",
            "-p",
            f"{port}:80",
            "--sysctl",
            "net.ipv4.tcp_max_tw_buckets=0",
            "busybox",
            "sh",
            "-c",
            f"mkdir /www; {make}; exec httpd -f -p 80 -h /www",
        ).strip()
        ip = json.loads(e.berth("inspect", cid))[0]["NetworkSettings"]["IPAddress"]
        host = {paths[0]: f"127.0.0.1:{port}", paths[1]: f"{me}:{port}"}.get(label, f"{ip}:80")
        wait_http(*host.split(":"))  # type: ignore[arg-type]
        targets[label] = f"http://{host}"
    print(
        f"\n### published port vs. container IP through berthd (wrk -t{args.threads} "
        f"-c{args.connections} -d{args.seconds}s, {args.rounds} rounds, each path once per "
        "round in shuffled order; busybox httpd: one connection per request)\n"
    )
    print(
        "Medians over the rounds; the ratio is the median of each round's own ratio to the "
        "direct path (paired, so that load from elsewhere on the machine cancels out), "
        "with its min-max.\n"
    )
    print("| file | path | requests/s | MB/s | ratio to direct | ratio min-max |")
    print("|---:|---|---:|---:|---:|---|")
    for size in sizes:
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in targets}
        for _ in range(args.rounds):
            order = list(targets)
            random.shuffle(order)
            for label in order:
                url = f"{targets[label]}/{size}.bin"
                results[label].append(wrk(url, args.seconds, args.threads, args.connections))
        direct = [r for r, _ in results["direct container IP"]]
        for label in targets:
            rps = statistics.median(r for r, _ in results[label])
            bps = statistics.median(b for _, b in results[label])
            ratios = [r / d for (r, _), d in zip(results[label], direct, strict=True)]
            print(
                f"| {size} | {label} | {rps:.0f} | {bps / 1e6:.2f} | "
                f"{statistics.median(ratios):.3f} | {min(ratios):.2f}-{max(ratios):.2f} |"
            )
    e.berth("rm", "-f", *e.berth("ps", "-aq").split())


_SETUP = re.compile(r"network setup of (\w+) \(([^,]+),.*?\): ([\d.]+) ms")
_RELEASE = re.compile(r"network release of (\w+): ([\d.]+) ms")


def starts(e: Engine, n: int) -> None:
    e.berth("network", "create", "benchnet")
    kinds = {
        "--network none": ["--network", "none"],
        "default bridge": [],
        "bridge -p 80": ["-p", "80"],
        "user network (DNS)": ["--network", "benchnet"],
    }
    wall: dict[str, list[float]] = {k: [] for k in kinds}
    ids: dict[str, list[str]] = {k: [] for k in kinds}
    for _ in range(2):  # warm up
        e.berth("run", "--rm", "busybox", "true")
    for i in range(n):
        for label, flags in kinds.items():
            name = f"t{i}-{len(ids[label])}-{abs(hash(label)) % 1000}"
            t0 = time.perf_counter()
            e.berth("run", "--rm", "--name", name, *flags, "busybox", "true")
            wall[label].append((time.perf_counter() - t0) * 1e3)
            ids[label].append(name)
    # the log names containers by short ID: map the names through the create events
    short = {}
    for line in e.berth(
        "events",
        "--since",
        "0",
        "--until",
        str(time.time() + 1),
        "--filter",
        "event=create",
        "--format",
        "{{.Actor.Attributes.name}} {{.ID}}",
    ).splitlines():
        name, _, cid = line.partition(" ")
        short[name] = cid[:12]
    setup = {m.group(1): float(m.group(3)) for m in _SETUP.finditer(e.log())}
    release: dict[str, float] = {}
    for m in _RELEASE.finditer(e.log()):  # exit, then rm (a no-op): the first counts
        release.setdefault(m.group(1), float(m.group(2)))
    ids = {k: [short.get(name, "") for name in names] for k, names in ids.items()}
    print(
        f"\n### network setup + release per container, from berthd's debug log "
        f"(medians of {n}; 'run' is the wall time of the whole `berth run --rm busybox true`)\n"
    )
    print("| network | setup ms | release ms | setup + release ms | run ms |")
    print("|---|---:|---:|---:|---:|")
    for label in kinds:
        ups = [setup[c] for c in ids[label] if c in setup]
        downs = [release[c] for c in ids[label] if c in release]
        up = statistics.median(ups) if ups else 0.0
        down = statistics.median(downs) if downs else 0.0
        print(
            f"| {label} | {up:.2f} | {down:.2f} | {up + down:.2f} | "
            f"{statistics.median(wall[label]):.1f} |"
        )
    e.berth("network", "rm", "benchnet")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--seconds", type=int, default=2, help="wrk duration of each run")
    ap.add_argument("--rounds", type=int, default=9, help="rounds (all paths in each)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--sizes", default="1024,262144", help="bytes of the served files")
    ap.add_argument("--starts", type=int, default=20, help="containers per setup-timing kind")
    ap.add_argument("--host-ip", default="", help="the host's own address (default: eth0's)")
    ap.add_argument("--skip-wrk", action="store_true", help="only the setup timing")
    ap.add_argument(
        "--no-control", action="store_true", help="no second direct container (noise floor)"
    )
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/port_forward: run as root", file=sys.stderr)
        return 1
    if shutil.which("wrk") is None:
        print("bench/port_forward: wrk is missing (scripts/setup installs it)", file=sys.stderr)
        return 1
    sizes = [int(x) for x in args.sizes.split(",")]
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    lock = open(LOCK, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    saved = {}
    for name in SYSCTLS:
        with open(f"/proc/sys/{name}") as f:
            saved[name] = f.read()
    # wrk is the active closer of most connections, so each run leaves thousands of
    # TIME_WAIT sockets towards its target for 60 s, and the next run to that target
    # searches longer and longer for a free port. Linux reuses them (tcp_tw_reuse=2, the
    # default) only towards loopback addresses: the 127.0.0.1 path was up to 5x faster
    # than the others for that reason alone. Reuse for all paths alike while we measure.
    with open("/proc/sys/net/ipv4/tcp_tw_reuse", "w") as f:
        f.write("1")
    base = tempfile.mkdtemp(prefix="bpf", dir="/tmp")  # short: unix socket paths
    e = Engine(base)
    try:
        e.start()
        if not args.skip_wrk:
            throughput(e, args, sizes)
        starts(e, args.starts)
    finally:
        try:
            e.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)
            remove_cgroup_parent(CG_PARENT)
            for name, value in saved.items():
                with open(f"/proc/sys/{name}", "w") as f:
                    f.write(value)
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
