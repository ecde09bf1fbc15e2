#!/usr/bin/env python3
"""Paired A/B of two versions of berth: a git revision (A) against the working tree (B).

    sudo .venv/bin/python bench/ab.py engine|runtime [--rev HEAD] [--runs 60]

For changes too small to see in a benchmark's medians on a machine whose speed
drifts by more than they are worth. Revision A's ``src/`` is copied (``git
archive``) into a temporary directory with its own module caches and
launchers; then the same command runs with A and B in turn, and the
differences of each pair (A minus B: positive when the working tree is faster)
are summed up next to the medians:

- ``engine``: ``berth run --rm busybox true``, each version with a berthd of its
  own, side by side. Which engine started first shifts a run by ~0.5 ms here,
  so it runs twice, with the engines started in either order.
- ``runtime``: ``berth-runtime run`` of one busybox bundle (``runc spec``'s
  config), as bench/runtime_start.py does.

The working tree's byte code and module caches are what scripts/setup made:
run ``.venv/bin/python -m compileall -q src`` and the two
``python -m berth.runtime.modcache`` commands after editing it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import (
    BERTH,
    BERTHD,
    CG_PARENT,
    PY,
    ROOT,
    Berth,
    HostGuard,
    remove_cgroup_parent,
    timed,
)

RUNTIME = str(ROOT / ".venv" / "bin" / "berth-runtime")


def snapshot(rev: str, dest: Path) -> dict[str, str]:
    """Revision ``rev``'s src/ in ``dest``, compiled and cached; its three launchers."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    src = str(dest / "src")
    subprocess.run([PY, "-m", "compileall", "-q", src], check=True)
    for cache in ("start-path", "cli"):
        code = (
            f"import sys; sys.path.insert(0, {src!r}); from berth.runtime import modcache; "
            f"sys.exit(modcache.main([{cache!r}]))"
        )
        subprocess.run([PY, "-c", code], check=True, stdout=subprocess.DEVNULL)
    out = {}
    for name, ours in (("berth", BERTH), ("berthd", BERTHD), ("berth-runtime", RUNTIME)):
        text = Path(ours).read_text().replace(repr(str(ROOT / "src")), repr(src))
        path = dest / name
        path.write_text(text)
        path.chmod(0o755)
        out[name] = str(path)
    return out


def report(title: str, a: list[float], b: list[float]) -> None:
    d = [x - y for x, y in zip(a, b, strict=True)]
    print(
        f"| {title} | {statistics.median(a):.2f} | {statistics.median(b):.2f} | "
        f"{statistics.median(d):+.3f} | {statistics.mean(d):+.3f} | {len(d)} |"
    )


def engine(a: dict[str, str], base: Path, runs: int, warmup: int) -> None:
    versions = {"A": (a["berthd"], a["berth"]), "B": (BERTHD, BERTH)}
    for order in ("AB", "BA"):
        engines: dict[str, Berth] = {}
        try:
            for k in order:
                berthd, berth = versions[k]
                e = Berth(str(base / f"{order}-{k}"), berthd=berthd, berth=berth)
                os.makedirs(e.base)
                e.start()
                engines[k] = e
            times: dict[str, list[float]] = {"A": [], "B": []}
            for i in range(warmup + runs):
                for k in "AB" if i % 2 == 0 else "BA":
                    e = engines[k]
                    ms = timed(e.run_cmd("--rm", "busybox", "true"), e.env)
                    if i >= warmup:
                        times[k].append(ms)
        finally:
            for e in engines.values():
                e.stop()
        report(f"berth run --rm, {order[0]}'s engine started first", times["A"], times["B"])


def runtime(a: dict[str, str], base: Path, runs: int, warmup: int) -> None:
    from runtime_start import make_bundle, set_cgroup

    bundle = make_bundle(base)
    versions = {"A": a["berth-runtime"], "B": RUNTIME}
    times: dict[str, list[float]] = {"A": [], "B": []}
    try:
        for i in range(warmup + runs):
            for k in "AB" if i % 2 == 0 else "BA":
                cid = f"ab-{k}-{i}"
                set_cgroup(bundle, f"{CG_PARENT}/{cid}")
                state = str(base / f"state-{k}")
                ms = timed([versions[k], "--root", state, "run", "-b", str(bundle), cid])
                if i >= warmup:
                    times[k].append(ms)
    finally:
        remove_cgroup_parent(CG_PARENT)
    report("berth-runtime run", times["A"], times["B"])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("what", choices=("engine", "runtime"))
    ap.add_argument("--rev", default="HEAD", help="version A (default HEAD)")
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=4)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    base = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    guard = HostGuard()
    try:
        a = snapshot(args.rev, base)
        print(f"A = {args.rev}, B = the working tree; ms; A - B > 0: B is faster\n")
        print("| command | A median | B median | A - B median | A - B mean | pairs |")
        print("|---|---:|---:|---:|---:|---:|")
        if args.what == "engine":
            engine(a, base, args.runs, args.warmup)
        else:
            runtime(a, base, args.runs, args.warmup)
    finally:
        guard.restore()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
