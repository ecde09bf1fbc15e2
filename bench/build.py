"""bench/build: ``berth build`` side by side with ``docker build`` (classic builder, a
private dockerd) and ``podman build`` (buildah), on the same context and Dockerfile.

The Dockerfile (on busybox, which each engine has loaded from the same archive)
has the usual kinds of steps: COPY of a small tree, two RUNs, metadata. Each
round builds it three ways, engines interleaved so that they see the same
machine load:

- cold:  ``--no-cache`` (every step runs: containers, commits, layers)
- warm:  the same build again (every step from the cache)
- edit:  one file of the context changed (the COPY and the steps after it run)

Prints medians and the ratios berth / docker and berth / podman.

    sudo .venv/bin/python bench/build.py [--runs 5] [--no-docker] [--no-podman]
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers import CG_PARENT, Berth, Docker, HostGuard, Podman, stop_engines

DOCKERFILE = """\
FROM busybox
COPY data/ /data/
RUN for i in $(seq 100); do echo $i > /tmp/f$i; done && cat /data/* | wc -c > /count
RUN mkdir -p /app && echo ready > /app/state
ENV APP=/app MODE=bench
WORKDIR /app
EXPOSE 8080
CMD ["cat", "/count"]
"""


def make_context(path: str) -> None:
    os.makedirs(os.path.join(path, "data"))
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    for i in range(50):
        with open(os.path.join(path, "data", f"file{i}.txt"), "w") as f:
            f.write(f"line {i}\n" * 200)


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])}... failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--no-podman", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    guard = HostGuard()
    base = tempfile.mkdtemp(prefix="bench-build-", dir="/tmp")
    ctx = os.path.join(base, "ctx")
    make_context(ctx)
    engines: list[tuple[str, object, list[str], dict[str, str]]] = []
    started: list[object] = []
    rows: dict[str, list[float]] = {}
    try:
        berth = Berth(os.path.join(base, "berth"))
        os.makedirs(berth.base)
        berth.start()
        started.append(berth)
        engines.append(("berth build", berth, berth.cmd("build", "-q"), berth.env))
        if not args.no_docker and shutil.which("dockerd"):
            dk = Docker(os.path.join(base, "docker"))
            os.makedirs(dk.base)
            dk.start()
            started.append(dk)
            env = dict(dk.env, DOCKER_BUILDKIT="0")
            engines.append(
                ("docker build", dk, ["docker", "build", "-q", f"--cgroup-parent={CG_PARENT}"], env)
            )
        if not args.no_podman and shutil.which("podman"):
            pm = Podman(base)
            pm.start()
            started.append(pm)
            engines.append(
                (
                    "podman build",
                    pm,
                    pm.cmd("build", "-q", "--layers", f"--cgroup-parent={CG_PARENT}"),
                    pm.env,
                )
            )
        edit = os.path.join(ctx, "data", "file0.txt")
        for i in range(args.runs):
            for name, _eng, cmd, env in engines:
                tag = f"bench-{i}"
                rows.setdefault(f"{name} (cold, --no-cache)", []).append(
                    timed([*cmd, "--no-cache", "-t", tag, ctx], env)
                )
                rows.setdefault(f"{name} (warm, all cached)", []).append(
                    timed([*cmd, "-t", tag, ctx], env)
                )
                with open(edit, "a") as f:
                    f.write(f"edit {name} {i}\n")
                rows.setdefault(f"{name} (one file edited)", []).append(
                    timed([*cmd, "-t", tag, ctx], env)
                )
    finally:
        stop_engines(started)
        guard.restore()
        shutil.rmtree(base, ignore_errors=True)
    print(
        f"# build of a {DOCKERFILE.count(chr(10))}-instruction Dockerfile, median of {args.runs}\n"
    )
    print("| build | median s | min s | max s |\n|---|---:|---:|---:|")
    med = {}
    for name, xs in rows.items():
        med[name] = statistics.median(xs)
        print(f"| {name} | {med[name]:.3f} | {min(xs):.3f} | {max(xs):.3f} |")
    print()
    for kind in ("cold, --no-cache", "warm, all cached", "one file edited"):
        b = med.get(f"berth build ({kind})")
        for peer in ("docker build", "podman build"):
            p = med.get(f"{peer} ({kind})")
            if b is not None and p is not None:
                print(f"- {kind}: berth / {peer.split()[0]} = {b / p:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
