#!/usr/bin/env python3
"""CLI and API latency: berth (CLI + berthd) side by side with docker (CLI + dockerd).

    sudo .venv/bin/python bench/cli_latency.py [--runs 40] [--requests 2000] [--no-docker]

Starts a berthd and a dockerd of its own, each on temporary directories
(dockerd with a relative --cgroup-parent, --bridge=none, --iptables=false:
only its API is needed), measures, prints a Markdown table with medians and
ratios, and stops both by PID. Holds the kernel-test lock while the daemons
run, so that concurrent test runs do not take them for leaks.

What is measured:
- a whole CLI invocation: ``berth version`` vs ``docker version`` (each
  against its own daemon), ``docker version`` against berthd, and the
  interpreter floors (``python -c pass``, ``python -S -c pass``);
- API round trips from one warm keep-alive connection (the per-request
  overhead of the daemon), and on a new connection each time;
- daemon memory: RSS/PSS idle and with 50 idle client connections open.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
BERTH = str(ROOT / ".venv" / "bin" / "berth")
DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
LOCK = "/run/lock/berth-kernel-tests.lock"

sys.path.insert(0, str(ROOT / "src"))


def ping(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(1)
    try:
        s.connect(path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return s.recv(20).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def wait_up(path: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ping(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not come up")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def timed_runs(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    for _ in range(3):
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append((time.perf_counter() - t) * 1000)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({r.returncode})")
    return out


def api_round_trips(sock: str, path: str, n: int, fresh: bool) -> list[float]:
    from berth.client.api import Client

    c = Client(f"unix://{sock}", version="1.41")
    c.request("GET", path)
    out = []
    for _ in range(n):
        if fresh:
            c.close()
        t = time.perf_counter()
        c.request("GET", path)
        out.append((time.perf_counter() - t) * 1e6)
    c.close()
    return out


def memory_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def with_idle_connections(sock: str, pid: int, n: int) -> tuple[int, int]:
    conns = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(4096)
            conns.append(s)
        time.sleep(0.3)
        return memory_kb(pid)
    finally:
        for s in conns:
            s.close()


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--no-docker", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (dockerd)")
    base = tempfile.mkdtemp(prefix="berth-bench-", dir="/tmp")
    lock = open(LOCK, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        bsock = f"{base}/b/berth.sock"
        with open(f"{base}/daemon.json", "w") as f:
            f.write("{}")
        blog = open(f"{base}/berthd.log", "wb")
        berthd = subprocess.Popen(
            [PY, "-m", "berth.cli.daemon", "--data-root", f"{base}/broot", "--exec-root",
             f"{base}/b", "-H", f"unix://{bsock}", "--config-file", f"{base}/daemon.json"],
            stdout=blog, stderr=blog, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(berthd)
        wait_up(bsock, berthd, "berthd")
        dsock = f"{base}/d/docker.sock"
        dockerd = None
        if not args.no_docker and shutil.which(DOCKERD):
            os.makedirs(f"{base}/d", exist_ok=True)
            dlog = open(f"{base}/dockerd.log", "wb")
            dockerd = subprocess.Popen(
                [DOCKERD, "--cgroup-parent", "berth-bench", "--oom-score-adjust", "0",
                 "--data-root", f"{base}/droot", "--exec-root", f"{base}/dexec",
                 "--pidfile", f"{base}/dockerd.pid", "-H", f"unix://{dsock}",
                 "--bridge=none", "--iptables=false", "--ip6tables=false"],
                stdout=dlog, stderr=dlog, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            procs.append(dockerd)
            wait_up(dsock, dockerd, "dockerd")
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "BERTH_HOST")}
        env["DOCKER_CONFIG"] = f"{base}/docker-config"
        benv = dict(env, BERTH_HOST=f"unix://{bsock}", BERTH_NO_AUTOSTART="1")
        rows: list[tuple[str, float, str]] = []
        floor = med(timed_runs([PY, "-c", "pass"], env, args.runs))
        rows.append(("python -c pass (interpreter floor)", floor, "ms"))
        rows.append(
            ("python -S -c pass", med(timed_runs([PY, "-S", "-c", "pass"], env, args.runs)), "ms")
        )
        b_cli = med(timed_runs([BERTH, "version"], benv, args.runs))
        rows.append(("berth version -> berthd", b_cli, "ms"))
        d_on_b = med(timed_runs([DOCKER, "-H", f"unix://{bsock}", "version"], env, args.runs))
        rows.append(("docker version -> berthd", d_on_b, "ms"))
        d_cli = None
        if dockerd is not None:
            d_cli = med(timed_runs([DOCKER, "-H", f"unix://{dsock}", "version"], env, args.runs))
            rows.append(("docker version -> dockerd", d_cli, "ms"))
        api: dict[tuple[str, str, bool], float] = {}
        targets = [("berthd", bsock)] + ([("dockerd", dsock)] if dockerd is not None else [])
        for name, sock in targets:
            for path in ("/_ping", "/version"):
                for fresh in (False, True):
                    n = args.requests if not fresh else args.requests // 4
                    api[(name, path, fresh)] = med(api_round_trips(sock, path, n, fresh))
        mem: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
        for name, sock, proc in [("berthd", bsock, berthd)] + (
            [("dockerd", dsock, dockerd)] if dockerd is not None else []
        ):
            assert proc is not None
            mem[name] = (memory_kb(proc.pid), with_idle_connections(sock, proc.pid, 50))
    finally:
        for p in reversed(procs):
            stop(p)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        shutil.rmtree(base, ignore_errors=True)

    print("### CLI round trip (`version`), median of", args.runs, "runs\n")
    print("| what | median ms | vs docker -> dockerd |")
    print("|---|---:|---:|")
    for name, value, _ in rows:
        ratio = f"{value / d_cli:.2f}x" if d_cli else "-"
        print(f"| {name} | {value:.1f} | {ratio} |")
    print("\n### API round trips (berth's client), median µs\n")
    print(
        "| request | berthd keep-alive | berthd new conn | dockerd keep-alive"
        " | dockerd new conn | ratio (keep-alive) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for path in ("/_ping", "/version"):
        b_ka, b_new = api[("berthd", path, False)], api[("berthd", path, True)]
        if ("dockerd", path, False) in api:
            d_ka, d_new = api[("dockerd", path, False)], api[("dockerd", path, True)]
            cells = f"{b_ka:.0f} | {b_new:.0f} | {d_ka:.0f} | {d_new:.0f} | {b_ka / d_ka:.2f}x"
            print(f"| GET {path} | {cells} |")
        else:
            print(f"| GET {path} | {b_ka:.0f} | {b_new:.0f} | - | - | - |")
    print("\n### Daemon memory (kB)\n")
    print("| daemon | RSS idle | PSS idle | RSS +50 idle conns | per conn RSS |")
    print("|---|---:|---:|---:|---:|")
    for name, ((rss, pss), (rss50, _)) in mem.items():
        print(f"| {name} | {rss} | {pss} | {rss50} | {(rss50 - rss) / 50:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
