"""The build context: where COPY and ADD read from, and the layers they make.

The context arrives as a tar stream (``POST /build`` body) and is extracted
into a private directory by berth's safe extractor (nothing lands outside it,
whatever the tar's names and links say). Sources of COPY/ADD are resolved
inside that directory only: a ``..`` or an absolute path cannot leave it, and
a symlink in the context is copied as a symlink, never followed out of it.

:func:`sources` expands the source patterns (Go ``filepath.Match`` wildcards,
as Docker's), :func:`copy_tar` writes what COPY puts into the image as a tar
whose names are the destination paths, and :func:`content_key` is the cache
key of the sources (their names, modes, owners, link targets and contents; not
their times), as the classic builder's ``file:<sha256>`` / ``dir:<sha256>``.
"""

from __future__ import annotations

import os
import stat

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Iterator
    from typing import Any


def extract(body: object, dest: str) -> None:
    """The context tar ``body`` (a file object) into the empty directory ``dest``."""
    from berth.engine.containers.archive import Extractor
    from berth.kernel.syscalls import SYSCALLS

    rootfd = os.open(dest, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        Extractor(SYSCALLS, rootfd, "/").run(body)  # type: ignore[arg-type]
    except OSError as e:
        raise InvalidArgument(f"build context: {os.strerror(e.errno or 0)}") from None
    finally:
        os.close(rootfd)


def decompressed(head: bytes, stream: Any) -> Any:
    """``stream`` (whose first bytes are ``head``) as a tar stream: a context or an ADD
    source may be a tar compressed with gzip, bzip2 or xz, or a plain one."""
    if head[:2] == b"\x1f\x8b":
        import gzip

        return gzip.GzipFile(fileobj=stream)
    if head[:3] == b"BZh":
        import bz2

        return bz2.BZ2File(stream)
    if head[:6] == b"\xfd7zXZ\x00":
        import lzma

        return lzma.LZMAFile(stream)
    return stream


def inside(root: str, rel: str) -> str:
    """``rel`` (a context path as written) as a path under ``root``; never outside it."""
    parts: list[str] = []
    for p in rel.replace("\\", "/").split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    return os.path.join(root, *parts)


def _has_magic(s: str) -> bool:
    return any(ch in s for ch in "*?[")


def sources(root: str, patterns: list[str]) -> list[str]:
    """The context paths (absolute, under ``root``) the source patterns name, in order.

    A pattern without wildcards must exist (``COPY failed: file not found in build
    context or excluded by .dockerignore: stat x: file does not exist``); one with
    wildcards must match something.
    """
    from fnmatch import fnmatchcase

    out: list[str] = []
    for pattern in patterns:
        path = inside(root, pattern)
        rel = os.path.relpath(path, root)
        if not _has_magic(rel):
            if not os.path.lexists(path):
                raise InvalidArgument(
                    "COPY failed: file not found in build context or excluded by"
                    f" .dockerignore: stat {pattern}: file does not exist"
                )
            out.append(path)
            continue
        parts = [] if rel == "." else rel.split(os.sep)
        found = [root]
        for part in parts:
            nxt = []
            for base in found:
                if not _has_magic(part):
                    cand = os.path.join(base, part)
                    if os.path.lexists(cand):
                        nxt.append(cand)
                    continue
                try:
                    names = sorted(os.listdir(base))
                except (NotADirectoryError, FileNotFoundError):
                    continue
                nxt.extend(os.path.join(base, n) for n in names if fnmatchcase(n, part))
            found = nxt
        if not found:
            raise InvalidArgument(
                f"COPY failed: no source files were specified (pattern {pattern!r} matches"
                " nothing in the build context)"
            )
        out.extend(found)
    return out


def _walk(path: str) -> Iterator[tuple[str, os.stat_result]]:
    """``path`` and, for a directory, everything under it (sorted), lstat'ed; relative names."""
    st = os.lstat(path)
    yield "", st
    if stat.S_ISDIR(st.st_mode):
        stack = [""]
        while stack:
            rel = stack.pop()
            full = os.path.join(path, rel) if rel else path
            for name in sorted(os.listdir(full), reverse=True):
                child = f"{rel}/{name}" if rel else name
                cst = os.lstat(os.path.join(path, child))
                yield child, cst
                if stat.S_ISDIR(cst.st_mode):
                    stack.append(child)


def content_key(paths: list[str], chown: tuple[int, int] | None, chmod: int | None) -> str:
    """``file:<sha256>`` for one regular file, else ``dir:<sha256>``: the cache key."""
    import hashlib

    h = hashlib.sha256()
    kind = "dir"
    if len(paths) == 1 and stat.S_ISREG(os.lstat(paths[0]).st_mode):
        kind = "file"
    h.update(repr((chown, chmod)).encode())
    for src in paths:
        h.update(b"\0src\0" + os.path.basename(src).encode())
        for rel, st in _walk(src):
            h.update(f"\0{rel}\0{stat.S_IMODE(st.st_mode):o}\0{stat.S_IFMT(st.st_mode)}".encode())
            full = os.path.join(src, rel) if rel else src
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(full).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
    return f"{kind}:{h.hexdigest()}"


def _info(
    name: str, st: os.stat_result, owner: tuple[int, int], chmod: int | None
) -> tarfile.TarInfo:
    import tarfile

    ti = tarfile.TarInfo(name)
    ti.uid, ti.gid = owner
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    mode = stat.S_IMODE(st.st_mode)
    if chmod is not None and not stat.S_ISLNK(st.st_mode):
        mode = chmod
    ti.mode = mode
    if stat.S_ISDIR(st.st_mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        ti.type = tarfile.SYMTYPE
    elif stat.S_ISREG(st.st_mode):
        ti.type = tarfile.REGTYPE
        ti.size = st.st_size
    else:
        raise InvalidArgument(
            f"COPY failed: {name}: only files, directories and symlinks can be copied"
        )
    return ti


def copy_tar(
    out: object,
    items: list[tuple[str, str]],
    missing_dirs: list[str],
    owner: tuple[int, int],
    chmod: int | None,
) -> None:
    """Write a tar to ``out``: first ``missing_dirs`` (destination paths, 0755, made for
    the copy), then each ``(source path, destination path)`` -- a directory source's
    contents go under its destination. Names are relative to the image's root."""
    import tarfile

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:  # type: ignore[call-overload]
        for d in missing_dirs:
            ti = tarfile.TarInfo(d.strip("/"))
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            ti.uid, ti.gid = owner
            tf.addfile(ti)
        for src, dest in items:
            base = dest.strip("/")
            for rel, st in _walk(src):
                if not rel and stat.S_ISDIR(st.st_mode):
                    continue  # its destination is kept, or made (in missing_dirs)
                name = f"{base}/{rel}" if rel else base
                ti = _info(name, st, owner, chmod)
                full = os.path.join(src, rel) if rel else src
                if ti.type == tarfile.SYMTYPE:
                    ti.linkname = os.readlink(full)
                    tf.addfile(ti)
                elif ti.type == tarfile.REGTYPE:
                    with open(full, "rb") as f:
                        tf.addfile(ti, f)
                else:
                    tf.addfile(ti)
