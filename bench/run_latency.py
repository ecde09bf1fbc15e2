#!/usr/bin/env python3
"""``berth run --rm busybox true`` vs ``podman run --rm``, ``docker run --rm`` and ``runc run``.

    sudo .venv/bin/python bench/run_latency.py [--runs 30] [--no-docker] [--no-podman]

Each engine runs on temporary directories of its own (see bench/peers.py),
with the same busybox image. The runs are interleaved -- one of each engine
in turn -- so that all see the same machine load; times are wall clock of
the whole CLI invocation, from this process. Rows: default network and
``--network none`` for each engine; runc on two bundles -- ``runc spec``'s
default config (the reference of the issue's goal), and berth's own config of
the container (what berth's engine gives its runtime: Docker's mounts, masked
paths, capabilities and seccomp profile, see peers.berth_spec_bundle) -- and
the interpreter's own start. Prints medians and ratios (berth / peer). The host
is put back as it was (links, nft tables, sysctls, cgroups).
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import (
    CG_PARENT,
    PY,
    Berth,
    Docker,
    HostGuard,
    Podman,
    berth_spec_bundle,
    stop_engines,
    timed,
)


def runc_bundle(base: str) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from berth.images.bases import busybox_rootfs

    bundle = os.path.join(base, "bundle")
    os.makedirs(bundle)
    busybox_rootfs(os.path.join(bundle, "rootfs"))
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads(Path(bundle, "config.json").read_text())
    spec["process"]["args"] = ["true"]
    spec["process"]["terminal"] = False
    Path(bundle, "config.json").write_text(json.dumps(spec))
    return bundle


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    guard = HostGuard()
    base = tempfile.mkdtemp(prefix="bench-run-", dir="/tmp")
    engines: list[object] = []
    rows: dict[str, list[float]] = {}
    try:
        berth = Berth(os.path.join(base, "berth"))
        os.makedirs(berth.base)
        berth.start()
        engines.append(berth)
        cases: list[tuple[str, list[str], dict[str, str]]] = [
            ("berth run --rm", berth.run_cmd("--rm", "busybox", "true"), berth.env),
            (
                "berth run --rm --network none",
                berth.run_cmd("--rm", "--network", "none", "busybox", "true"),
                berth.env,
            ),
        ]
        if not args.no_podman and shutil.which("podman"):
            pm = Podman(base)
            pm.start()
            engines.append(pm)
            cases += [
                ("podman run --rm", pm.run_cmd("--rm", "busybox", "true"), pm.env),
                (
                    "podman run --rm --network none",
                    pm.run_cmd("--rm", "--network", "none", "busybox", "true"),
                    pm.env,
                ),
            ]
        if not args.no_docker and shutil.which("dockerd"):
            dk = Docker(os.path.join(base, "docker"))
            os.makedirs(dk.base)
            dk.start()
            engines.append(dk)
            cases += [
                ("docker run --rm", dk.run_cmd("--rm", "busybox", "true"), dk.env),
                (
                    "docker run --rm --network none",
                    dk.run_cmd("--rm", "--network", "none", "busybox", "true"),
                    dk.env,
                ),
            ]
        bundles = {
            "runc run (bundle)": runc_bundle(base),
            "runc run (berth's spec)": berth_spec_bundle(berth, os.path.join(base, "same")),
        }
        env = dict(os.environ)
        for i in range(args.warmup + args.runs):
            order = [*cases]
            for n, (name, bundle) in enumerate(bundles.items()):
                runc_cfg = json.loads(Path(bundle, "config.json").read_text())
                runc_cfg["linux"]["cgroupsPath"] = f"{CG_PARENT}/runc-{n}-{i}"
                Path(bundle, "config.json").write_text(json.dumps(runc_cfg))
                order.append(
                    (
                        name,
                        ["runc", "--root", f"{base}/runc", "run", "-b", bundle, f"r{n}-{i}"],
                        env,
                    )
                )
            order.append(("python -S -c pass (floor)", [PY, "-S", "-c", "pass"], env))
            for name, cmd, e in order:
                ms = timed(cmd, e)
                if i >= args.warmup:
                    rows.setdefault(name, []).append(ms)
    finally:
        stop_engines(engines)
        guard.restore()
        shutil.rmtree(base, ignore_errors=True)
    print("| command | median ms | min | max | mean ± sd | runs |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, xs in rows.items():
        print(
            f"| {name} | {statistics.median(xs):.1f} | {min(xs):.1f} | {max(xs):.1f} | "
            f"{statistics.mean(xs):.1f} ± {statistics.pstdev(xs):.1f} | {len(xs)} |"
        )
    med = {k: statistics.median(v) for k, v in rows.items()}
    print()
    b, bn = med["berth run --rm"], med["berth run --rm --network none"]
    for peer in (
        "podman run --rm",
        "docker run --rm",
        "runc run (bundle)",
        "runc run (berth's spec)",
    ):
        if peer in med:
            print(f"berth run --rm / {peer}: {b / med[peer]:.2f}")
    for peer in ("podman run --rm --network none", "docker run --rm --network none"):
        if peer in med:
            print(f"berth run --rm --network none / {peer}: {bn / med[peer]:.2f}")
    print(f"network setup+teardown share of berth run --rm: {b - bn:.1f} ms (median difference)")


if __name__ == "__main__":
    main()
