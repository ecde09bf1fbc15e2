"""tools/mkimage: make berth base images from Debian sources (no internet needed).

    tools/mkimage busybox                     busybox:latest into /var/lib/berth
    tools/mkimage python --root DIR           python:3-slim into the store at DIR
    tools/mkimage debian --out debian.tar     also write a docker-archive tar
    tools/mkimage python --layers 6           a six-layer variant (python:3-slim-6layers)
    tools/mkimage busybox --push 127.0.0.1:5000/busybox:latest

Archives (loadable by berth, podman and docker) and debootstrap trees are
cached in .cache/mkimage/ of the checkout; --rebuild makes them again.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from berth.errors import BerthError
from berth.images import mkimage
from berth.images.store import DEFAULT_ROOT, ImageStore


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="tools/mkimage", description=__doc__.split("\n")[0])
    p.add_argument("kind", choices=sorted(mkimage.KINDS))
    p.add_argument("--root", default=DEFAULT_ROOT, help="berth root (default %(default)s)")
    p.add_argument("--tag", action="append", default=[], help="image name(s)")
    p.add_argument("--out", help="also write the image as a docker-archive tar here")
    p.add_argument("--push", help="push the image to this reference (a registry on 127.0.0.1)")
    p.add_argument("--layers", type=int, default=1, help="split the rootfs into N layers")
    p.add_argument("--cache", default=mkimage.default_cache())
    p.add_argument("--rebuild", action="store_true")
    args = p.parse_args(argv)
    with ImageStore(args.root) as store:
        try:
            image_id, archive = mkimage.build(
                args.kind, store, args.cache, args.tag or None, args.layers, args.rebuild
            )
            if args.out:
                shutil.copyfile(archive, args.out)
            if args.push:
                from berth.cli.progress import display
                from berth.images.service import ImageService

                svc = ImageService(store=store)
                svc.tag(image_id, args.push)
                display(svc.push(args.push), sys.stdout)
        except BerthError as e:
            print(f"mkimage: {e}", file=sys.stderr)
            return 1
    print(image_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
