#!/usr/bin/env python3
"""Memory per container: N detached ``busybox sleep`` containers on berth, podman and docker.

    sudo .venv/bin/python bench/density.py [--n 100] [--no-docker] [--no-podman]

For each engine (on temporary directories, see bench/peers.py): start N
containers one after another (timing each start), then measure what the
engine keeps on the host for them, beside the containers' own processes:

- berth: the monitor (one process for all containers) and berthd's growth
  since before the first container -- PSS and RSS, divided by N;
- podman: one conmon per container (PSS, RSS each);
- docker: one containerd-shim per container, plus dockerd's and containerd's
  growth divided by N.

PSS (proportional set size) charges shared pages to each sharer in part, so
it is what a process really costs. Prints a Markdown table; the host is put
back as it was.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import Berth, Docker, HostGuard, Podman


def mem(pid: int) -> tuple[int, int] | None:
    """(RSS kB, PSS kB) of a process."""
    try:
        rss = int(
            next(line for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:")).split()[
                1
            ]
        )
        pss = int(
            next(
                line for line in open(f"/proc/{pid}/smaps_rollup") if line.startswith("Pss:")
            ).split()[1]
        )
        return rss, pss
    except (OSError, StopIteration):
        return None


def pids_named(fragment: bytes) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if fragment in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


def start_many(engine: object, n: int, env: dict[str, str], run_cmd: object) -> list[float]:
    times = []
    for i in range(n):
        cmd = run_cmd("-d", "--name", f"dens{i}", "busybox", "sleep", "3600")  # type: ignore[operator]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL)
        times.append((time.perf_counter() - t0) * 1000)
        if r.returncode != 0:
            raise SystemExit(f"{engine} start {i} failed: {r.stderr.decode()[-300:]}")
    return times


def remove_all(cmd: object, env: dict[str, str], n: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd("rm", "-f", *[f"dens{i}" for i in range(n)]), env=env, capture_output=True)  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    n = args.n
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    guard = HostGuard()
    base = tempfile.mkdtemp(prefix="bench-dens-", dir="/tmp")
    results: list[dict[str, object]] = []
    try:
        # ---- berth
        b = Berth(os.path.join(base, "berth"))
        os.makedirs(b.base)
        b.start()
        try:
            subprocess.run(b.run_cmd("--rm", "busybox", "true"), env=b.env, capture_output=True)
            d0 = mem(b.daemon_pids()[0])
            times = start_many(b, n, b.env, b.run_cmd)
            time.sleep(1)
            pids = b.daemon_pids()
            d1, shim = mem(pids[0]), mem(pids[1])
            assert d0 and d1 and shim
            per_pss = (shim[1] + d1[1] - d0[1]) / n
            per_rss = (shim[0] + d1[0] - d0[0]) / n
            results.append(
                {
                    "engine": "berth (one monitor + berthd growth)",
                    "n": n,
                    "times": times,
                    "per_pss": per_pss,
                    "per_rss": per_rss,
                    "detail": (
                        f"monitor RSS {shim[0]} kB / PSS {shim[1]} kB; "
                        f"berthd PSS {d0[1]} -> {d1[1]} kB"
                    ),
                    "rm": remove_all(b.cmd, b.env, n),
                }
            )
        finally:
            b.stop()
        # ---- podman
        if not args.no_podman and shutil.which("podman"):
            pm = Podman(base)
            pm.start()
            try:
                times = start_many(pm, n, pm.env, pm.run_cmd)
                time.sleep(1)
                conmons = [m for m in (mem(p) for p in pids_named(b"conmon")) if m]
                conmons = conmons[-n:]
                results.append(
                    {
                        "engine": "podman (conmon per container)",
                        "n": n,
                        "times": times,
                        "per_pss": statistics.fmean(m[1] for m in conmons),
                        "per_rss": statistics.fmean(m[0] for m in conmons),
                        "detail": f"{len(conmons)} conmon processes",
                        "rm": remove_all(pm.cmd, pm.env, n),
                    }
                )
            finally:
                pm.stop()
        # ---- docker
        if not args.no_docker and shutil.which("dockerd"):
            dk = Docker(os.path.join(base, "docker"))
            os.makedirs(dk.base)
            dk.start()
            try:
                subprocess.run(
                    dk.run_cmd("--rm", "busybox", "true"), env=dk.env, capture_output=True
                )
                before = [mem(p) for p in dk.daemon_pids()]
                times = start_many(dk, n, dk.env, dk.run_cmd)
                time.sleep(1)
                after = [mem(p) for p in dk.daemon_pids()]
                shims = [m for m in (mem(p) for p in pids_named(b"containerd-shim")) if m]
                growth_pss = sum(a[1] for a in after if a) - sum(x[1] for x in before if x)
                growth_rss = sum(a[0] for a in after if a) - sum(x[0] for x in before if x)
                results.append(
                    {
                        "engine": "docker (containerd-shim per container + daemons' growth)",
                        "n": n,
                        "times": times,
                        "per_pss": statistics.fmean(m[1] for m in shims) + growth_pss / n,
                        "per_rss": statistics.fmean(m[0] for m in shims) + growth_rss / n,
                        "detail": (
                            f"{len(shims)} shims, shim PSS mean "
                            f"{statistics.fmean(m[1] for m in shims):.0f} kB; "
                            f"daemons' PSS growth {growth_pss} kB"
                        ),
                        "rm": remove_all(dk.cmd, dk.env, n),
                    }
                )
            finally:
                dk.stop()
    finally:
        guard.restore()
        shutil.rmtree(base, ignore_errors=True)
    print(
        "| engine | N | PSS kB per container | RSS kB per container | median start ms"
        " | total start s | rm all s | detail |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        times = r["times"]  # type: ignore[assignment]
        print(
            f"| {r['engine']} | {r['n']} | {r['per_pss']:.0f} | {r['per_rss']:.0f} | "
            f"{statistics.median(times):.1f} | {sum(times) / 1000:.2f} | {r['rm']:.2f} | "
            f"{r['detail']} |"
        )
    berth_pss = results[0]["per_pss"]
    for r in results[1:]:
        ratio = berth_pss / r["per_pss"]  # type: ignore[operator]
        print(f"\nberth / {str(r['engine']).split(' ')[0]} PSS per container: {ratio:.3f}")


if __name__ == "__main__":
    main()
