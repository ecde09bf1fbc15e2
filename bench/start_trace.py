#!/usr/bin/env python3
"""Where a container start spends its time: the median timeline of many traced starts.

    sudo .venv/bin/python bench/start_trace.py runtime [--runs 30]
    sudo .venv/bin/python bench/start_trace.py engine [--runs 20] [--network none]

``runtime`` runs ``berth-runtime run`` of ``true`` on a busybox bundle (the
default spec of ``runc spec``, as bench/runtime_start.py does), each start
followed by ``runc run`` of the same bundle for a load reference. ``engine``
runs ``berth run --rm busybox true`` through a private berthd (as
bench/run_latency.py does).

Every berth process of a start appends ``<monotonic> <pid> <event>`` lines to
the file named by ``BERTH_TRACE`` (see berth.runtime.trace). For each event
this prints the median, over the runs, of its time since the start was
spawned, in order: the steps between two lines are where the time goes. The
totals are wall clock from this process, as in the other benchmarks. This is
a tool to find what to speed up; the figures to hold against peers are the
side-by-side benchmarks' ratios.
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
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import CG_PARENT, ROOT, Berth, HostGuard, remove_cgroup_parent

RUNTIME = str(ROOT / ".venv" / "bin" / "berth-runtime")
WARMUP = 3


def timeline(trace: Path, t0: float, into: dict[str, list[float]]) -> None:
    """Add each event's time since ``t0`` (ms; its first line only) to ``into``."""
    seen: set[str] = set()
    for line in trace.read_text().splitlines():
        stamp, _pid, event = line.split(" ", 2)
        if event not in seen:
            seen.add(event)
            into[event].append((float(stamp) - t0) * 1000)


def spawn_marked(trace: Path, cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd`` with the trace file fresh; (its start, its wall time in ms)."""
    trace.write_text("")
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    ms = (time.monotonic() - t0) * 1000
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {r.stderr.decode()[-400:]}")
    return t0, ms


def runtime_starts(base: Path, runs: int, events: dict[str, list[float]]) -> dict[str, float]:
    from runtime_start import make_bundle, set_cgroup

    bundle = make_bundle(base)
    trace = base / "trace"
    env = dict(os.environ, BERTH_TRACE=str(trace))
    berth_ms: list[float] = []
    runc_ms: list[float] = []
    for i in range(WARMUP + runs):
        for name in ("berth", "runc"):
            set_cgroup(bundle, f"{CG_PARENT}/{name}-{i}")
            exe = RUNTIME if name == "berth" else "runc"
            cmd = [exe, "--root", str(base / f"{name}-state"), "run", "-b", str(bundle), f"c{i}"]
            t0, ms = spawn_marked(trace, cmd, env)
            if i < WARMUP:
                continue
            if name == "berth":
                berth_ms.append(ms)
                timeline(trace, t0, events)
            else:
                runc_ms.append(ms)
    return {
        "berth-runtime run": statistics.median(berth_ms),
        "runc run": statistics.median(runc_ms),
    }


def engine_starts(
    base: Path, runs: int, network: str, events: dict[str, list[float]], idle_ms: float = 0.0
) -> dict[str, float]:
    trace = base / "trace"
    trace.write_text("")
    os.environ["BERTH_TRACE"] = str(trace)  # berthd and its monitor inherit it
    berth = Berth(str(base / "berth"))
    os.makedirs(berth.base)
    berth.start()
    try:
        extra = ["--network", network] if network else []
        cmd = berth.run_cmd("--rm", *extra, "busybox", "true")
        env = dict(berth.env, BERTH_TRACE=str(trace))
        totals: list[float] = []
        for i in range(WARMUP + runs):
            time.sleep(idle_ms / 1000)
            t0, ms = spawn_marked(trace, cmd, env)
            if i >= WARMUP:
                totals.append(ms)
                timeline(trace, t0, events)
    finally:
        berth.stop()
    name = "berth run --rm" + (f" --network {network}" if network else "")
    return {name: statistics.median(totals)}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("what", choices=("runtime", "engine"))
    ap.add_argument("--runs", type=int, default=0, help="traced starts (runtime 30, engine 20)")
    ap.add_argument("--network", default="", help="engine: --network for berth run")
    ap.add_argument(
        "--idle-ms",
        type=float,
        default=0.0,
        help="engine: pause between starts (the other benchmarks run peers in between)",
    )
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    runs = args.runs or (30 if args.what == "runtime" else 20)
    guard = HostGuard()
    base = Path(tempfile.mkdtemp(prefix="bench-trace-", dir="/tmp"))
    events: dict[str, list[float]] = defaultdict(list)
    try:
        if args.what == "runtime":
            totals = runtime_starts(base, runs, events)
        else:
            totals = engine_starts(base, runs, args.network, events, args.idle_ms)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        remove_cgroup_parent(CG_PARENT)
        guard.restore()
    print(f"| ms since spawn (median of {runs}) | step | event |")
    print("|---:|---:|---|")
    last = 0.0
    for event, xs in sorted(events.items(), key=lambda kv: statistics.median(kv[1])):
        at = statistics.median(xs)
        print(f"| {at:.2f} | {at - last:+.2f} | {event} |")
        last = at
    print()
    for name, ms in totals.items():
        print(f"{name}: median {ms:.1f} ms")


if __name__ == "__main__":
    main()
