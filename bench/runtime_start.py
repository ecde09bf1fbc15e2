#!/usr/bin/env python3
"""Container start latency: ``berth-runtime run`` vs ``runc run`` on the same bundle.

    sudo .venv/bin/python bench/runtime_start.py [--runs 40]

Builds a busybox bundle (Debian's busybox-static) in a temporary directory,
then runs ``true`` in a fresh container with each runtime, interleaved (one
berth, one runc, ...) so that both see the same machine load, and prints
the medians and their ratio as a Markdown table. Both runtimes get the same
configs, each with a relative cgroups path beneath our own cgroup:

- the default spec of ``runc spec`` (pid, net, ipc, uts, mount namespaces, a
  read-only rootfs, 3 capabilities, no seccomp): the reference of the goal;
- berth's own config of a ``berth run --network none busybox true`` container
  (Docker's defaults: its mounts, masked and read-only paths, 14
  capabilities, the default seccomp profile), taken from a berth engine
  started for the purpose (see peers.berth_spec_bundle); ``--no-berth-spec``
  leaves it out.

Also shown: the interpreter's own start (the floor under any Python runtime).
Times include fork+exec of the runtime binary from this process, the same for
both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BERTH = str(ROOT / ".venv" / "bin" / "berth-runtime")
PY = str(ROOT / ".venv" / "bin" / "python")
sys.path.insert(0, str(ROOT / "src"))


def make_bundle(base: Path) -> Path:
    from berth.images.bases import busybox_rootfs

    bundle = base / "bundle"
    bundle.mkdir()
    busybox_rootfs(str(bundle / "rootfs"))
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["args"] = ["true"]
    spec["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def berth_spec(base: Path) -> Path:
    """The bundle of berth's own config (an engine runs for a moment to make it)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from peers import Berth, HostGuard, berth_spec_bundle

    guard = HostGuard()
    engine = Berth(str(base / "engine"))
    os.makedirs(engine.base)
    try:
        engine.start()
        return Path(berth_spec_bundle(engine, str(base / "same")))
    finally:
        engine.stop()
        guard.restore()
        shutil.rmtree(engine.base, ignore_errors=True)


def set_cgroup(bundle: Path, path: str) -> None:
    spec = json.loads((bundle / "config.json").read_text())
    spec["linux"]["cgroupsPath"] = path
    (bundle / "config.json").write_text(json.dumps(spec))


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    elapsed = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {r.stderr.decode()}")
    return elapsed


def row(name: str, xs: list[float]) -> str:
    return (
        f"| {name} | {statistics.median(xs):.1f} | {min(xs):.1f} | {max(xs):.1f} | "
        f"{statistics.mean(xs):.1f} ± {statistics.pstdev(xs):.1f} | {len(xs)} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-berth-spec", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    if shutil.which("runc") is None:
        raise SystemExit("runc is not installed (scripts/setup installs it)")

    base = Path(tempfile.mkdtemp(prefix="berth-bench-rt-"))
    parent = "berth-bench-rt"
    results: dict[str, list[float]] = {}
    try:
        bundles = {"": make_bundle(base)}
        if not args.no_berth_spec:
            bundles[" (berth's spec)"] = berth_spec(base)
        for i in range(args.warmup + args.runs):
            for kind, bundle in bundles.items():
                for name in ("berth", "runc"):
                    cid = f"{name}-{len(kind)}-{i}"
                    set_cgroup(bundle, f"{parent}/{cid}")
                    exe = BERTH if name == "berth" else "runc"
                    state = str(base / f"{name}-state")
                    ms = timed([exe, "--root", state, "run", "-b", str(bundle), cid])
                    if i >= args.warmup:
                        results.setdefault(name + kind, []).append(ms)
            if i >= args.warmup and i % 2 == 0:
                results.setdefault("python", []).append(timed([PY, "-c", "pass"]))
                results.setdefault("python -S", []).append(timed([PY, "-S", "-c", "pass"]))
    finally:
        shutil.rmtree(base, ignore_errors=True)
        _cleanup_cgroups(parent)
    print("| runtime | median ms | min | max | mean ± sd | runs |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind in bundles:
        print(row(f"berth-runtime run (true){kind}", results["berth" + kind]))
        print(row(f"runc run (true){kind}", results["runc" + kind]))
    print(row("venv python -c pass (floor)", results["python"]))
    print(row("venv python -S -c pass (floor)", results["python -S"]))
    print()
    for kind in bundles:
        ratio = statistics.median(results["berth" + kind]) / statistics.median(
            results["runc" + kind]
        )
        goal = " (goal <= 1.0)" if not kind else ""
        print(f"median ratio berth-runtime / runc{kind} = {ratio:.2f}{goal}")


def _cleanup_cgroups(parent: str) -> None:
    with open("/proc/self/cgroup") as f:
        own = {}
        for line in f.read().splitlines():
            _hid, ctrls, path = line.split(":", 2)
            for n in ctrls.split(",") if ctrls else ["unified"]:
                own[n.removeprefix("name=")] = path
    for name in os.listdir("/sys/fs/cgroup"):
        top = Path("/sys/fs/cgroup") / name / own.get(name, "/").lstrip("/") / parent
        if top.is_dir():
            for d in sorted(top.rglob("*"), key=lambda p: -len(p.parts)):
                if d.is_dir():
                    try:
                        d.rmdir()
                    except OSError:
                        pass
            try:
                top.rmdir()
            except OSError:
                pass


if __name__ == "__main__":
    main()
