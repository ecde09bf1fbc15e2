"""bench/pull: berth's pull side by side with podman, skopeo and docker (a private dockerd).

A docker-registry on 127.0.0.1 serves the python base image (tools/mkimage
python: ~60 MB gzip, ~170 MB unpacked) in one layer and in six. Each run
pulls into a fresh store:

- berth pull            full pull, ready to run (blobs verified + layers unpacked)
- berth pull (download) blobs downloaded and verified only (no unpack)
- berth pull (no TOPDIR hint)  with ``--no-spread-hint``: the full pull without
                        the FS_TOPDIR_FL hint on the snapshots root (what the
                        ext4 allocator hint alone is worth; see berth.snapshots.store)
- podman pull           into a fresh --root (overlay)
- skopeo copy           to an oci: directory (download only, no unpack)
- docker pull           into a private dockerd (bench/peers.py) started for the
                        run when dockerd is installed (then `docker rmi`);
                        ``--no-docker`` leaves it out

Prints medians and the ratios the issue asks for: berth full / podman
(goal <= 0.3) and berth download / skopeo (goal <= 1.0).

Each berth pull is a fresh interpreter (start + imports, ~0.1 s, are
counted), as ``podman pull`` is a fresh process.

    bench/pull [--runs 5] [--kind python|busybox] [--no-spread-hint] [--no-docker]
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")
sys.path.insert(0, os.path.join(ROOT, "tests"))

CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def berth_pull(root: str, ref: str, download_only: bool, spread_hint: bool = True) -> None:
    from berth.images.pull import pull
    from berth.images.store import ImageStore

    if not spread_hint:
        import berth.snapshots.store

        berth.snapshots.store.spread_hint = lambda path: False

    with ImageStore(root) as store:
        for _ in pull(store, ref, unpack=not download_only):
            pass


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t


def umount_under(path: str) -> None:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in sorted((p for p in points if p.startswith(path + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], check=False)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--berth-pull"]:
        berth_pull(argv[1], argv[2], "--download-only" in argv, "--no-spread-hint" not in argv)
        return 0
    ap = argparse.ArgumentParser(prog="bench/pull")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kind", default="python", choices=["python", "busybox"])
    ap.add_argument(
        "--no-spread-hint",
        action="store_true",
        help="also time berth without the FS_TOPDIR_FL hint on its snapshots root",
    )
    ap.add_argument("--no-docker", action="store_true", help="leave docker pull out")
    args = ap.parse_args(argv)

    from berth.images import mkimage
    from berth.images.service import ImageService
    from berth.images.store import ImageStore
    from support.images_registry import LocalRegistry

    # all tools work under .cache/bench: on this machine's ext4, file creation in
    # /tmp's much-churned block groups is 20x slower, which would measure the disk
    os.makedirs(os.path.join(ROOT, ".cache", "bench"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="pull-", dir=os.path.join(ROOT, ".cache", "bench"))
    reg = LocalRegistry.start(os.path.join(work, "registry"))
    results: dict[str, dict[str, list[float]]] = {}
    guard = docker = None
    try:
        if not args.no_docker and shutil.which("dockerd"):
            from peers import Docker, HostGuard

            guard = HostGuard()
            docker = Docker(os.path.join(work, "docker"))
            os.makedirs(docker.base)
            docker.start()
        with ImageStore(os.path.join(work, "src")) as store:
            svc = ImageService(store=store)
            refs = {}
            for layers in (1, 6):
                image_id, _ = mkimage.build(args.kind, store, layers=layers)
                ref = f"{reg.host}/bench/{args.kind}:{layers}layer"
                svc.tag(image_id, ref)
                for _ in svc.push(ref):
                    pass
                refs[f"{layers} layer{'s' if layers > 1 else ''}"] = ref
        conf = os.path.join(work, "containers.conf")
        with open(conf, "w") as f:
            f.write(CONTAINERS_CONF)
        env = {**os.environ, "CONTAINERS_CONF": conf}
        for label, ref in refs.items():
            r = results.setdefault(label, {})
            for i in range(args.runs):
                d = os.path.join(work, f"run{i}")
                os.makedirs(d)
                r.setdefault("berth pull", []).append(
                    timed([PY, __file__, "--berth-pull", f"{d}/berth", ref])
                )
                if args.no_spread_hint:
                    r.setdefault("berth pull (no TOPDIR hint)", []).append(
                        timed(
                            [PY, __file__, "--berth-pull", f"{d}/berth-nh", ref, "--no-spread-hint"]
                        )
                    )
                r.setdefault("berth pull (download+verify)", []).append(
                    timed([PY, __file__, "--berth-pull", f"{d}/berth-dl", ref, "--download-only"])
                )
                runroot = tempfile.mkdtemp(prefix="bpr-", dir="/tmp")  # podman: < 50 chars
                pod = [
                    "podman",
                    "--root",
                    f"{d}/podman",
                    "--runroot",
                    runroot,
                    "--storage-driver",
                    "overlay",
                ]
                r.setdefault("podman pull", []).append(
                    timed([*pod, "pull", "-q", "--tls-verify=false", ref], env)
                )
                subprocess.run([*pod, "rmi", "-a", "-f"], env=env, capture_output=True, check=False)
                umount_under(d)
                umount_under(runroot)
                shutil.rmtree(runroot, ignore_errors=True)
                r.setdefault("skopeo copy (oci: dir)", []).append(
                    timed(
                        [
                            "skopeo",
                            "copy",
                            "-q",
                            "--src-tls-verify=false",
                            f"docker://{ref}",
                            f"oci:{d}/oci:bench",
                        ]
                    )
                )
                if docker is not None:
                    r.setdefault("docker pull", []).append(
                        timed(["docker", "pull", "-q", ref], docker.env)
                    )
                    subprocess.run(
                        ["docker", "rmi", "-f", ref],
                        env=docker.env,
                        capture_output=True,
                        check=False,
                    )
                shutil.rmtree(d)
    finally:
        if docker is not None:
            docker.stop()
        if guard is not None:
            guard.restore()
        reg.stop()
        umount_under(work)
        shutil.rmtree(work, ignore_errors=True)
    print(f"# pull of {args.kind} from a local registry, median of {args.runs} runs\n")
    for label, r in results.items():
        med = {k: statistics.median(v) for k, v in r.items()}
        print(f"## {label}\n")
        print("| command | median s | min s | max s |\n|---|---:|---:|---:|")
        for k, v in r.items():
            print(f"| {k} | {med[k]:.3f} | {min(v):.3f} | {max(v):.3f} |")
        full, dl = med["berth pull"], med["berth pull (download+verify)"]
        print()
        print(f"- berth pull / podman pull = {full / med['podman pull']:.2f} (goal <= 0.3)")
        if "berth pull (no TOPDIR hint)" in med:
            nh = med["berth pull (no TOPDIR hint)"] / med["podman pull"]
            print(f"- berth pull without the TOPDIR hint / podman pull = {nh:.2f}")
        print(
            f"- berth download+verify / skopeo copy = {dl / med['skopeo copy (oci: dir)']:.2f} "
            "(goal <= 1.0)"
        )
        if "docker pull" in med:
            print(f"- berth pull / docker pull = {full / med['docker pull']:.2f}")
        else:
            print("- docker pull: skipped (no dockerd, or --no-docker)")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
