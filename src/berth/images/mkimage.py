"""Base images made on this machine, without the internet: ``tools/mkimage``.

==========  ========================  =================================================
kind        image                     made from
==========  ========================  =================================================
busybox     ``busybox:latest``        Debian's busybox-static (``bases.busybox_rootfs``)
debian      ``debian:bookworm-slim``  debootstrap ``--variant=minbase bookworm``
python      ``python:3-slim``         the same + python3, python3-pip, python-is-python3
==========  ========================  =================================================

Like Docker Hub's python image, ``pip install`` into the system interpreter
works (Debian's PEP 668 marker is dropped). The debootstrap images trust the
CAs the host adds to Debian's (see :func:`_trust_host_cas`).

The debootstrap trees take tens of seconds; they and the finished images (as
docker-archive tars, loadable by ``berth load``, ``podman load`` and ``docker
load``) are cached in ``<cache>/mkimage/`` (default ``.cache/`` of the
checkout). A cached archive is loaded instead of rebuilt unless ``rebuild``.
``layers > 1`` splits the rootfs into several layers (``usr/lib``,
``usr/share``, ... each its own), for benchmarks of many-layer pulls.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from berth.images import bases

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.images.store import ImageStore

KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "busybox": ("busybox:latest", ()),
    "debian": ("debian:bookworm-slim", ()),
    # python-is-python3: `python` runs python3, as in Docker Hub's python image
    "python": ("python:3-slim", ("python3", "python3-pip", "python-is-python3")),
}
#: The recipe's version, part of a cached archive's name: a change to what an image
#: holds (its config, its history) makes caches of the old recipe unused.
RECIPE = 4
SPLIT = ["usr/lib/python3", "usr/lib/x86_64-linux-gnu", "usr/share", "usr/bin", "var"]


def default_cache() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    return os.path.join(checkout, ".cache")


def rootfs(kind: str, cache: str) -> str:
    """The cached rootfs of ``kind`` (built when missing)."""
    if kind not in KINDS:
        raise ValueError(f"unknown base image kind {kind!r}: use one of {', '.join(KINDS)}")
    base = os.path.join(cache, "mkimage", "rootfs")
    os.makedirs(base, exist_ok=True)
    dest = os.path.join(base, f"{kind}.r{RECIPE}")
    stamp = dest + ".done"
    if os.path.exists(stamp):
        return dest
    tmp = tempfile.mkdtemp(prefix=f".{kind}-", dir=base)
    try:
        if kind == "busybox":
            bases.busybox_rootfs(os.path.join(tmp, "fs"))
        else:
            bases.debootstrap_rootfs(os.path.join(tmp, "fs"), include=KINDS[kind][1])
            _trust_host_cas(os.path.join(tmp, "fs"))
            if kind == "python":
                _pip_as_in_docker_hub(os.path.join(tmp, "fs"))
        if os.path.exists(dest):
            shutil.rmtree(dest)
        os.rename(os.path.join(tmp, "fs"), dest)
        open(stamp, "w").close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _trust_host_cas(root: str, host: str = "/usr/local/share/ca-certificates") -> None:
    """The CAs this machine adds to Debian's (``/usr/local/share/ca-certificates``) are
    trusted in the image too: its containers then reach over TLS what the host
    reaches (here, PyPI through the machine's TLS-inspecting egress), as the host's
    own pip and curl do. Each is copied there and appended to the image's bundle."""
    try:
        names = sorted(n for n in os.listdir(host) if n.endswith(".crt"))
    except FileNotFoundError:
        return
    bundle = os.path.join(root, "etc", "ssl", "certs", "ca-certificates.crt")
    local = os.path.join(root, "usr", "local", "share", "ca-certificates")
    os.makedirs(local, exist_ok=True)
    for name in names:
        with open(os.path.join(host, name), "rb") as f:
            pem = f.read()
        with open(os.path.join(local, name), "wb") as f:
            f.write(pem)
        if os.path.exists(bundle):
            with open(bundle, "ab") as f:
                f.write(pem if pem.endswith(b"\n") else pem + b"\n")


def _pip_as_in_docker_hub(root: str) -> None:
    """Docker Hub's python images let ``pip install`` into the system interpreter;
    Debian's marks it externally managed (PEP 668), which would refuse the seed's
    ``RUN pip install -r requirements.txt``: drop the marker."""
    lib = os.path.join(root, "usr", "lib")
    for name in os.listdir(lib):
        marker = os.path.join(lib, name, "EXTERNALLY-MANAGED")
        if name.startswith("python3") and os.path.exists(marker):
            os.unlink(marker)


def archive_path(kind: str, cache: str, layers: int = 1) -> str:
    suffix = "" if layers <= 1 else f"-{layers}layers"
    return os.path.join(cache, "mkimage", f"{kind}{suffix}.r{RECIPE}.tar")


def build(
    kind: str,
    store: ImageStore,
    cache: str | None = None,
    names: list[str] | None = None,
    layers: int = 1,
    rebuild: bool = False,
) -> tuple[str, str]:
    """Put base image ``kind`` into ``store``; return (image ID, archive path)."""
    from berth.images.archive import load, save

    cache = cache or default_cache()
    default_name = KINDS[kind][0] if kind in KINDS else ""
    names = names or [default_name + ("" if layers <= 1 else f"-{layers}layers")]
    archive = archive_path(kind, cache, layers)
    if not rebuild and os.path.exists(archive):
        with open(archive, "rb") as f:
            list(load(store, f))
        image_id = store.resolve_id(names[0]) if _tagged(store, names[0]) else ""
        if image_id:
            for extra in names[1:]:
                from berth.oci import reference

                store.tag(reference.parse(extra), image_id)
            return image_id, archive
    tree = rootfs(kind, cache)
    split = SPLIT[: max(0, layers - 1)] if layers > 1 else None
    image_id = bases.image_from_rootfs(
        store, tree, names, kind, f"berth mkimage {kind}", split=split
    )
    tmp = archive + f".{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        for chunk in save(store, [names[0]]):
            f.write(chunk)
    os.rename(tmp, archive)
    return image_id, archive


def _tagged(store: ImageStore, name: str) -> bool:
    from berth.errors import BerthError

    try:
        store.resolve_id(name)
    except BerthError:
        return False
    return True
