"""bench/unpack: layer unpack time, berth vs ``umoci unpack``.

The python base image (tools/mkimage python) is saved as an OCI layout;
each run unpacks its layer(s) into a fresh directory:

- berth: gunzip + DiffID check + safe extraction with overlay whiteouts
  (``ImageStore.unpack_local``, in-process, per layer)
- umoci unpack --image DIR:TAG BUNDLE (gunzip + extraction + its mtree)
- with ``--no-spread-hint``, berth also without the FS_TOPDIR_FL hint on its
  snapshots root (see berth.snapshots.store)

berth runs in a fresh interpreter each time (start + imports counted).

    bench/unpack [--runs 5] [--kind python|busybox] [--layers 1] [--no-spread-hint]
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


def berth_unpack(src_root: str, name: str, dest_root: str, spread_hint: bool = True) -> None:
    from berth.images.store import ImageStore

    if not spread_hint:
        import berth.snapshots.store

        berth.snapshots.store.spread_hint = lambda path: False

    with ImageStore(src_root) as src, ImageStore(dest_root) as dest:
        image = src.resolve(name)
        for layer in image.layers:
            if layer.blob:
                os.link(src.content.path(layer.blob), dest.content.path(layer.blob))
            dest.unpack_local(layer)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--berth-unpack"]:
        berth_unpack(argv[1], argv[2], argv[3], "--no-spread-hint" not in argv)
        return 0
    ap = argparse.ArgumentParser(prog="bench/unpack")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kind", default="python", choices=["python", "busybox"])
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument(
        "--no-spread-hint",
        action="store_true",
        help="also time berth without the FS_TOPDIR_FL hint on its snapshots root",
    )
    args = ap.parse_args(argv)

    from berth.images import mkimage
    from berth.images.store import ImageStore

    os.makedirs(os.path.join(ROOT, ".cache", "bench"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="unpack-", dir=os.path.join(ROOT, ".cache", "bench"))
    times: dict[str, list[float]] = {"berth unpack": [], "umoci unpack": []}
    if args.no_spread_hint:
        times["berth unpack (no TOPDIR hint)"] = []
    try:
        src_root = os.path.join(work, "src")
        with ImageStore(src_root) as store:
            image_id, archive = mkimage.build(args.kind, store, layers=args.layers)
            name = store.get(image_id).repo_tags[0]
        layout = os.path.join(work, "layout")
        tag = "bench"
        subprocess.run(  # umoci wants OCI media types: let skopeo convert the manifest
            [
                "skopeo",
                "copy",
                "-q",
                f"docker-archive:{archive}",
                f"oci:{layout}:{tag}",
                "--format",
                "oci",
            ],
            check=True,
        )
        for i in range(args.runs):
            d = os.path.join(work, f"run{i}")
            t = time.perf_counter()
            subprocess.run(
                [PY, __file__, "--berth-unpack", src_root, name, f"{d}/berth"], check=True
            )
            times["berth unpack"].append(time.perf_counter() - t)
            if args.no_spread_hint:
                t = time.perf_counter()
                subprocess.run(
                    [PY, __file__, "--berth-unpack", src_root, name, f"{d}/nh", "--no-spread-hint"],
                    check=True,
                )
                times["berth unpack (no TOPDIR hint)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run(
                ["umoci", "unpack", "--image", f"{layout}:{tag}", f"{d}/bundle"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times["umoci unpack"].append(time.perf_counter() - t)
            shutil.rmtree(d)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"# unpack of {args.kind} ({args.layers} layer(s)), median of {args.runs} runs\n")
    print("| command | median s | min s | max s |\n|---|---:|---:|---:|")
    med = {}
    for k, v in times.items():
        med[k] = statistics.median(v)
        print(f"| {k} | {med[k]:.3f} | {min(v):.3f} | {max(v):.3f} |")
    print(f"\n- berth / umoci = {med['berth unpack'] / med['umoci unpack']:.2f}")
    if "berth unpack (no TOPDIR hint)" in med:
        nh = med["berth unpack (no TOPDIR hint)"] / med["umoci unpack"]
        print(f"- berth without the TOPDIR hint / umoci = {nh:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
