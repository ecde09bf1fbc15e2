"""Make layers: a directory (a rootfs, or a container's overlay upper dir) -> a layer tar.

:func:`write_tar` walks a directory in sorted order and writes a PAX tar:
ownership, modes, mtimes, xattrs (``SCHILY.xattr.*``), symlinks, hard links
(by inode), devices and FIFOs. With ``overlay=True`` it reads an overlayfs
upper dir and writes OCI whiteouts: a 0/0 character device becomes
``.wh.NAME``, a directory with ``trusted.overlay.opaque=y`` gets
``.wh..wh..opq`` after its own entry. :func:`store_layer` streams such a tar
(gzip-compressed) into the content store, computing the DiffID on the way.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zlib

from berth.images.db import LayerRow
from berth.oci import image_spec as spec
from berth.oci.digest import Digest, Hasher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from berth.content.store import Writer
    from berth.images.store import ImageStore

OPAQUE = "trusted.overlay.opaque"
_CHUNK = 1 << 20


class _Sink:
    """A write-only file: hash the tar (DiffID), gzip it, write it to a content writer."""

    def __init__(
        self, writer: Writer | None, out: object = None, level: int = 6, gzip: bool = True
    ) -> None:
        self.diff = Hasher()
        self.writer = writer
        self.out = out
        self.z = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS) if gzip else None

    def write(self, data: bytes) -> int:
        self.diff.update(data)
        self._emit(self.z.compress(data) if self.z else data)
        return len(data)

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self.writer is not None:
            self.writer.write(data)
        if self.out is not None:
            self.out.write(data)  # type: ignore[attr-defined]

    def close(self) -> None:
        if self.z is not None:
            self._emit(self.z.flush())
            self.z = None


def _entries(root: str, rel: str = "") -> Iterator[tuple[str, os.stat_result]]:
    path = os.path.join(root, rel) if rel else root
    with os.scandir(path) as it:
        names = sorted(e.name for e in it)
    for name in names:
        child = f"{rel}/{name}" if rel else name
        st = os.lstat(os.path.join(root, child))
        yield child, st
        if stat.S_ISDIR(st.st_mode):
            yield from _entries(root, child)


def _xattrs(path: str, st: os.stat_result) -> dict[str, str]:
    if stat.S_ISLNK(st.st_mode):
        return {}
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


def write_tar(
    root: str, fileobj: object, overlay: bool = False, keep: Callable[[str], bool] | None = None
) -> None:
    """Write the tree under ``root`` as a tar stream to ``fileobj`` (entries relative).

    ``keep(rel)`` selects entries (all by default); directories are walked either way.
    """
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_CHUNK) as tf:  # type: ignore[call-overload]
        links: dict[tuple[int, int], str] = {}
        for rel, st in _entries(root):
            if keep is not None and not keep(rel):
                continue
            path = os.path.join(root, rel)
            mode = st.st_mode
            parent, _, name = rel.rpartition("/")
            if overlay and stat.S_ISCHR(mode) and st.st_rdev == 0:
                wh = tarfile.TarInfo(f"{parent}/.wh.{name}" if parent else f".wh.{name}")
                wh.mtime = int(st.st_mtime)
                tf.addfile(wh)
                continue
            info = tarfile.TarInfo(rel)
            info.uid, info.gid = st.st_uid, st.st_gid
            info.uname = info.gname = ""
            info.mode = stat.S_IMODE(mode)
            info.mtime = int(st.st_mtime)
            info.pax_headers = _xattrs(path, st)
            key = (st.st_dev, st.st_ino)
            if stat.S_ISREG(mode) and st.st_nlink > 1 and key in links:
                info.type = tarfile.LNKTYPE
                info.linkname = links[key]
                tf.addfile(info)
                continue
            if stat.S_ISREG(mode):
                if st.st_nlink > 1:
                    links[key] = rel
                info.size = st.st_size
                with open(path, "rb") as f:
                    tf.addfile(info, f)
            elif stat.S_ISDIR(mode):
                info.type = tarfile.DIRTYPE
                info.name = rel + "/"
                tf.addfile(info)
                if overlay and _opaque(path):
                    opq = tarfile.TarInfo(f"{rel}/.wh..wh..opq")
                    opq.mtime = info.mtime
                    tf.addfile(opq)
            elif stat.S_ISLNK(mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                tf.addfile(info)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tf.addfile(info)
            elif stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
                tf.addfile(info)
            # sockets are not archived (as Docker)


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def store_layer(
    store: ImageStore,
    root: str,
    overlay: bool = False,
    level: int = 6,
    keep: Callable[[str], bool] | None = None,
) -> LayerRow:
    """Tar+gzip ``root`` into the content store; return the layer (chain_id = diff_id)."""
    with store.content.writer() as w:
        sink = _Sink(w, level=level)
        write_tar(root, sink, overlay, keep)
        sink.close()
        blob = w.commit()
        size = w.size
    diff = sink.diff.digest()
    return LayerRow(Digest(diff), diff, blob, spec.DOCKER_LAYER, size)


def store_tar_stream(store: ImageStore, source: object, what: str = "layer") -> LayerRow:
    """Store a tar stream (gzip, zstd or plain, sniffed) as a blob; DiffID from its content.

    The blob is stored as given (its compression kept); the caller unpacks it.
    """
    from berth.content.stream import CountingHasher, Decompressor, sniff_compression

    with store.content.writer() as w:
        first = source.read(_CHUNK)  # type: ignore[attr-defined]
        compression = sniff_compression(first)
        pending = [first]

        class _Src:
            def read(self, n: int = -1) -> bytes:
                data = pending.pop() if pending else source.read(_CHUNK)  # type: ignore[attr-defined]
                if data:
                    w.write(data)
                return bytes(data)

        counted = CountingHasher(Decompressor(_Src(), compression, what))
        counted.drain()
        blob = w.commit()
        size = w.size
    diff = counted.hasher.digest()
    media = {"gzip": spec.DOCKER_LAYER, "zstd": spec.OCI_LAYER_ZSTD}.get(
        compression, spec.OCI_LAYER
    )
    return LayerRow(Digest(diff), diff, blob, media, size)
