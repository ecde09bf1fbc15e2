"""bench/port_forward: throughput through a published port vs. straight at the container.

Sets up berth's networking (its own nft table and bridge), gives a
"container" network namespace a published port (``-p HOSTPORT:80``), starts
``busybox httpd`` inside it, and runs ``wrk`` alternately

- through the published port: ``http://127.0.0.1:HOSTPORT/`` and
  ``http://192.0.2.2:HOSTPORT/`` (kernel DNAT; no proxy process), and
- directly at the container: ``http://CONTAINER_IP:80/``,

then prints requests/s and transfer/s of each and the ratio (goal >= 0.95).
It also times berth's per-container network setup + teardown (what
``berth run --rm busybox true`` spends on networking) for the default
bridge, the default bridge with a published port, a user-defined network
(embedded DNS) and ``--network none``.

Run as root: ``bench/port_forward [--seconds 5] [--rounds 3] [--starts 30]``.
Everything it creates is removed at the end, and ip_forward is restored.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

from berth.network.manager import NetworkManager  # noqa: E402
from berth.network.portspec import parse_port_specs  # noqa: E402
from berth.network.sandbox import SandboxRequest  # noqa: E402
from berth.store.db import Database  # noqa: E402

TABLE, BRIDGE = "berthbench", "bb0"
SYSCTLS = ("net/ipv4/ip_forward",)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(host: str, port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/"):
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"httpd did not answer at {host}:{port}")


_UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def _wrk(url: str, seconds: int, threads: int, conns: int) -> tuple[float, float]:
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


def _time_starts(nm: NetworkManager, n: int) -> dict[str, tuple[float, float]]:
    """Median (setup ms, teardown ms) per kind of container network."""
    kinds = {
        "bridge": {},
        "bridge -p 80": {"ports": parse_port_specs(["80"])},
        "user network (DNS)": {"network": "benchnet"},
        "none": {"network": "none"},
    }
    out = {}
    for label, kw in kinds.items():
        ups, downs = [], []
        for i in range(n):
            cid = f"{i:04d}" + os.urandom(30).hex()
            t0 = time.perf_counter()
            nm.setup(SandboxRequest(cid, name=f"c{i}", **kw))  # type: ignore[arg-type]
            t1 = time.perf_counter()
            nm.release(cid)
            t2 = time.perf_counter()
            ups.append((t1 - t0) * 1e3)
            downs.append((t2 - t1) * 1e3)
        out[label] = (statistics.median(ups), statistics.median(downs))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=5, help="wrk duration of each run")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--sizes", default="1024,262144", help="bytes of the served files (comma-separated)"
    )
    ap.add_argument("--starts", type=int, default=30, help="containers per setup-timing kind")
    ap.add_argument("--host-ip", default="192.0.2.2", help="the host's own address to test")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/port_forward: run as root", file=sys.stderr)
        return 1
    for tool in ("wrk", "busybox"):
        if shutil.which(tool) is None:
            print(f"bench/port_forward: {tool} is missing (scripts/setup installs it)")
            return 1

    saved = {}
    for name in SYSCTLS:
        with open(f"/proc/sys/{name}") as f:
            saved[name] = f.read().strip()
    tmp = tempfile.mkdtemp(prefix="berth-bench-net-")
    www = os.path.join(tmp, "www")
    os.makedirs(www)
    sizes = [int(x) for x in args.sizes.split(",")]
    for size in sizes:
        with open(os.path.join(www, f"{size}.bin"), "wb") as f:
            f.write(b"x" * size)
    db = Database(os.path.join(tmp, "berth.db"))
    nm = NetworkManager(db, os.path.join(tmp, "run"), table=TABLE, default_bridge=BRIDGE)
    httpds: list[subprocess.Popen[bytes]] = []
    cids: list[str] = []
    try:
        nm.start(set())
        nm.create_network("benchnet")
        # One "container" per path, each with its own httpd: the server-side
        # TIME_WAIT sockets of one path must not meet the SYNs of another (a NAT'd
        # client reusing a 4-tuple with other TCP timestamps gets its SYN dropped).
        paths = ["published 127.0.0.1", f"published {args.host_ip}", "direct container IP"]
        targets: dict[str, str] = {}
        for label in paths:
            port = _free_port()
            cid = os.urandom(32).hex()
            sb = nm.setup(SandboxRequest(cid, ports=parse_port_specs([f"{port}:80"])))
            cids.append(cid)
            ip = sb.settings["IPAddress"]
            # busybox httpd closes every connection first: at wrk's rate its TIME_WAIT
            # sockets meet reused client ports, and a NAT'ed SYN with other TCP
            # timestamps is dropped as old (1 s retransmit) -- an artifact of the
            # server, not of the path. No TIME_WAIT buckets in the benchmark's netns.
            subprocess.run(
                ["nsenter", f"--net={sb.netns}", "sysctl", "-qw", "net.ipv4.tcp_max_tw_buckets=0"],
                check=True,
            )
            httpds.append(
                subprocess.Popen(
                    [
                        "nsenter",
                        f"--net={sb.netns}",
                        "busybox",
                        "httpd",
                        "-f",
                        "-p",
                        "80",
                        "-h",
                        www,
                    ]
                )
            )
            _wait_http(ip, 80)
            host = {paths[0]: f"127.0.0.1:{port}", paths[1]: f"{args.host_ip}:{port}"}
            targets[label] = f"http://{host.get(label, f'{ip}:80')}"
        print(
            f"\n### port forwarding (wrk -t{args.threads} -c{args.connections} "
            f"-d{args.seconds}s, {args.rounds} rounds in shuffled order, medians; "
            "busybox httpd: one connection per request)\n"
        )
        print("| file | path | requests/s | MB/s | ratio to direct |")
        print("|---:|---|---:|---:|---:|")
        for size in sizes:
            results: dict[str, list[tuple[float, float]]] = {k: [] for k in targets}
            for _ in range(args.rounds):
                order = list(targets)
                random.shuffle(order)
                for label in order:
                    url = f"{targets[label]}/{size}.bin"
                    results[label].append(_wrk(url, args.seconds, args.threads, args.connections))
            direct = statistics.median(r for r, _ in results["direct container IP"])
            for label in targets:
                rps = statistics.median(r for r, _ in results[label])
                bps = statistics.median(b for _, b in results[label])
                print(f"| {size} | {label} | {rps:.0f} | {bps / 1e6:.2f} | {rps / direct:.3f} |")
        for p in httpds:
            p.send_signal(signal.SIGTERM)
            p.wait()
        httpds.clear()
        for cid in cids:
            nm.release(cid)
        cids.clear()

        print(f"\n### network setup + teardown per container (median of {args.starts})\n")
        print("| kind | setup ms | teardown ms | total ms |")
        print("|---|---:|---:|---:|")
        for label, (up, down) in _time_starts(nm, args.starts).items():
            print(f"| {label} | {up:.2f} | {down:.2f} | {up + down:.2f} |")
    finally:
        for p in httpds:
            p.kill()
            p.wait()
        try:
            nm.uninstall()
        finally:
            nm.close()
            db.close()
            shutil.rmtree(tmp, ignore_errors=True)
            for name, value in saved.items():
                with open(f"/proc/sys/{name}", "w") as f:
                    f.write(value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
