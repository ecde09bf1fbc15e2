"""The content store: blobs addressed by their digest, verified before they are visible.

On disk (schema version 1, under ``<root>/content``)::

    blobs/sha256/<hex>        committed blobs, read-only (0444), never changed
    ingest/<pid>-<random>     blobs being written by process <pid>

A :class:`Writer` writes into ``ingest/``, hashing and counting as it goes;
:meth:`Writer.commit` checks the digest and size, fsyncs the file and renames
it into ``blobs/``. A writer closed without commit (an error, a cancelled
pull) removes its file, and files of dead processes are swept by
:meth:`ContentStore.sweep_ingest`, so a blob that does not verify is never
visible. Committing a blob that already exists is not an error (two pulls
may race; the content is the same by definition).

What keeps a blob alive (images, leases) is the metadata's business
(:mod:`berth.images.db`); this store only stores.
"""

from __future__ import annotations

import os

from berth.errors import CorruptContent, NotFound
from berth.oci.digest import Digest, Hasher

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

SCHEMA_VERSION = 1


class Writer:
    """A blob being written. Use as a context manager; call :meth:`commit` at the end."""

    def __init__(self, store: ContentStore, algorithm: str = "sha256") -> None:
        self.store = store
        self.hasher = Hasher(algorithm)
        self.path = os.path.join(store.ingest_dir, f"{os.getpid()}-{os.urandom(8).hex()}")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.committed: Digest | None = None

    @property
    def size(self) -> int:
        return self.hasher.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.hasher.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def commit(
        self, expected: str | None = None, size: int | None = None, what: str = "blob"
    ) -> Digest:
        """Verify (when ``expected`` is given), fsync and publish; return the digest."""
        if expected is not None:
            digest = self.hasher.verify(expected, size, what)
        else:
            digest = self.hasher.digest()
        os.fsync(self.fd)
        os.fchmod(self.fd, 0o444)
        os.close(self.fd)
        self.fd = -1
        final = self.store.path(digest)
        os.rename(self.path, final)
        self.committed = digest
        return digest

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.committed is None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class ContentStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self.blobs_dir = os.path.join(root, "blobs", "sha256")
        self.ingest_dir = os.path.join(root, "ingest")
        os.makedirs(self.blobs_dir, exist_ok=True)
        os.makedirs(os.path.join(root, "blobs", "sha512"), exist_ok=True)
        os.makedirs(self.ingest_dir, exist_ok=True)

    def path(self, digest: str) -> str:
        d = Digest.parse(digest)
        return os.path.join(self.root, "blobs", d.algorithm, d.hex)

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the content store") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the content store") from None

    def read(self, digest: str, verify: bool = True) -> bytes:
        """A small blob (manifest, config) as bytes, checked against its digest."""
        with self.open(digest) as f:
            data = f.read()
        if verify:
            h = Hasher(Digest.parse(digest).algorithm)
            h.update(data)
            if h.digest() != digest:
                raise CorruptContent(
                    f"blob {digest} is corrupt on disk; remove the image and pull it again"
                )
        return data

    def writer(self, algorithm: str = "sha256") -> Writer:
        return Writer(self, algorithm)

    def write(self, data: bytes, expected: str | None = None, what: str = "blob") -> Digest:
        """Store ``data`` (verified against ``expected`` when given)."""
        algorithm = Digest.parse(expected).algorithm if expected else "sha256"
        digest = Digest.of(data, algorithm)
        if expected is not None and digest != expected:
            raise CorruptContent(f"{what}: digest mismatch: expected {expected}, got {digest}")
        if self.exists(digest):
            return digest
        with self.writer(algorithm) as w:
            w.write(data)
            return w.commit(digest, len(data), what)

    def delete(self, digest: str) -> bool:
        try:
            os.unlink(self.path(digest))
            return True
        except FileNotFoundError:
            return False

    def walk(self) -> Iterator[Digest]:
        for algorithm in ("sha256", "sha512"):
            try:
                names = os.listdir(os.path.join(self.root, "blobs", algorithm))
            except FileNotFoundError:
                continue
            for name in names:
                yield Digest(f"{algorithm}:{name}")

    def sweep_ingest(self) -> int:
        """Remove ingest files of processes that no longer run; return how many."""
        removed = 0
        for name in os.listdir(self.ingest_dir):
            pid = name.partition("-")[0]
            if pid.isdigit() and _alive(int(pid)):
                continue
            try:
                os.unlink(os.path.join(self.ingest_dir, name))
                removed += 1
            except FileNotFoundError:
                pass
        return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
