"""cp, diff, commit, export -- a container's files, with docker's flags, output and rules.

``cp`` does on the client what docker's CLI does (its ``archive`` package):
it asks the daemon to stat the destination (``HEAD .../archive``), decides
where the archive must be extracted and how its top entry must be named
(``PrepareArchiveCopy``: copying ``dir`` into an existing directory makes
``dir/dir``; ``dir/.`` copies the content; a missing destination takes the
source's content under the destination's name), then streams the tar. A
trailing ``/`` on a destination asserts a directory. ``-L`` follows a
symlink source, ``-a`` gives copied files the container user's owner.
Archives from the daemon are extracted locally with the same
descriptor-based extractor the daemon uses (nothing can land outside the
destination directory).
"""

from __future__ import annotations

import os
import sys

from berth.cli.command import Context, command
from berth.cli.flags import Flag
from berth.errors import BerthError, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO, Any

    from berth.cli.flags import Parsed

MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_IRREGULAR = 1 << 19
_CHUNK = 1 << 20


# -- paths (docker's archive package) -----------------------------------------------------------


def specifies_current_dir(path: str) -> bool:
    trimmed = path.rstrip("/")
    return bool(trimmed) and trimmed.rsplit("/", 1)[-1] == "."


def asserts_directory(path: str) -> bool:
    return path.endswith("/") or specifies_current_dir(path)


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """docker's SplitPathDirEntry: (dir, base) of the cleaned path, ``.`` kept as base."""
    import posixpath

    cleaned = posixpath.normpath(path) if path else "."
    if specifies_current_dir(path):
        cleaned = cleaned.rstrip("/") + "/." if cleaned != "/" else "/."
    d, b = posixpath.split(cleaned)
    if b == "":
        return d, "/"
    return d or ".", b


def preserve_trailing(cleaned: str, original: str) -> str:
    """docker's PreserveTrailingDotOrSeparator."""
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not cleaned.endswith("/"):
            cleaned += "/"
        cleaned += "."
    if not cleaned.endswith("/") and original.endswith("/"):
        cleaned += "/"
    return cleaned


def resolve_local_path(path: str) -> str:
    return preserve_trailing(os.path.abspath(path), path)


def split_cp_arg(arg: str) -> tuple[str, str]:
    """``CONTAINER:PATH`` -> (container, path); local paths give ("", path)."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """docker's GetRebaseName: (resolved path with path's trailing meaning, name to rebase to)."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved = resolved.rstrip("/") + "/."
    if path.endswith("/") and not resolved.endswith("/"):
        resolved += "/"
    name = ""
    if _base(path) != _base(resolved):
        name = _base(path)
    return resolved, name


def _base(path: str) -> str:
    trimmed = path.rstrip("/")
    if not trimmed:
        return "/" if path else "."
    return trimmed.rsplit("/", 1)[-1]


class CopyInfo:
    __slots__ = ("exists", "is_dir", "path", "rebase")

    def __init__(
        self, path: str, exists: bool = False, is_dir: bool = False, rebase: str = ""
    ) -> None:
        self.path = path
        self.exists = exists
        self.is_dir = is_dir
        self.rebase = rebase


def prepare_copy(src: CopyInfo, dst: CopyInfo) -> tuple[str, str]:
    """docker's PrepareArchiveCopy: (directory to extract into, name of the top entry there).

    Into an existing directory the source keeps its name (or its rebase name);
    anywhere else it takes the destination's last element.
    """
    dst_dir, dst_base = split_path_dir_entry(dst.path)
    _, src_base = split_path_dir_entry(src.path)
    if dst.exists and dst.is_dir:
        return dst.path, src.rebase or src_base
    if dst.exists and src.is_dir:
        raise InvalidArgument("cannot copy directory")
    if not dst.exists and not src.is_dir and asserts_directory(dst.path):
        raise InvalidArgument("no such directory")
    return dst_dir, dst_base


def renamer(old: str, new: str) -> Any:
    """Replace the first occurrence of ``old`` in entry names (docker's RebaseArchiveEntries)."""
    if old == new:
        return None
    if old == "/":
        old = ""

    def rename(name: str) -> str:
        if old == "":
            return new + name if name.startswith("/") else new + "/" + name
        return name.replace(old, new, 1)

    return rename


# -- the daemon side ----------------------------------------------------------------------------


def stat_path(ctx: Context, container: str, path: str) -> dict[str, Any]:
    """HEAD .../archive: the path's stat (NotFound when it does not exist)."""
    import base64

    from berth.client.api import quote
    from berth.jsonio import loads

    resp = ctx.client.request("HEAD", f"/containers/{quote(container)}/archive", {"path": path})
    raw = resp.headers.get("x-docker-container-path-stat", "")
    doc: dict[str, Any] = loads(base64.b64decode(raw).decode(), "the path stat") if raw else {}
    return doc


class _TarUpload:
    """A file-like sink that sends what is written as HTTP chunks of a PUT request."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.sent = 0

    def write(self, data: bytes) -> int:
        self.buf += data
        if len(self.buf) >= _CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self.buf:
            self.sock.sendall(b"%x\r\n" % len(self.buf) + bytes(self.buf) + b"\r\n")
            self.sent += len(self.buf)
            self.buf.clear()

    def close(self) -> None:
        self.flush()
        self.sock.sendall(b"0\r\n\r\n")


def put_archive(
    ctx: Context, container: str, path: str, query: dict[str, Any], produce: Any
) -> int:
    """PUT .../archive with a chunked body written by ``produce(sink)``; bytes sent."""
    from berth.cli.cmd_container import _dechunk
    from berth.client.api import daemon_error, quote
    from berth.client.http import connect

    client = ctx.client
    client.ping()  # settles the API version (and starts the daemon) before the upload
    target = client.target(f"/containers/{quote(container)}/archive", {"path": path, **query})
    sock = connect(client.host)
    try:
        sock.sendall(
            (
                f"PUT {target} HTTP/1.1\r\nHost: berth\r\nUser-Agent: berth-cli\r\n"
                "Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
        )
        sink = _TarUpload(sock)
        try:
            produce(sink)
            sink.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon refused early: its answer says why
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            if not data:
                raise InvalidArgument(
                    f"copying to {container}:{path}: the daemon closed the connection"
                ) from None
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 500
    if any(line.lower().startswith("transfer-encoding: chunked") for line in lines[1:]):
        body = _dechunk(body)
    if status >= 300:
        raise daemon_error(status, body, parts[2] if len(parts) > 2 else "")
    return sink.sent


# -- local archives -----------------------------------------------------------------------------


def tar_local(out: IO[bytes], path: str, top: str) -> None:
    """Archive the local ``path`` with ``top`` as the name of its top entry."""
    import tarfile

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        tf.add(path, arcname=top, recursive=True)


def extract_local(stream: IO[bytes], dest_dir: str, rename: Any) -> None:
    """Extract into a local directory; nothing can land outside it."""
    from berth.engine.containers.archive import Extractor
    from berth.kernel.syscalls import SYSCALLS

    fd = os.open(dest_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        Extractor(
            SYSCALLS,
            fd,
            ".",
            no_overwrite_dir_non_dir=True,
            keep_owner=False,
            rename=rename,
        ).run(stream)
    finally:
        os.close(fd)


class _Chunks:
    """A readable file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.buf = b""
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            try:
                piece = next(self.chunks)
            except StopIteration:
                break
            self.count += len(piece)
            self.buf += piece
        if n < 0:
            data, self.buf = self.buf, b""
        else:
            data, self.buf = self.buf[:n], self.buf[n:]
        return data


def local_dest_info(path: str) -> CopyInfo:
    """docker's CopyInfoDestinationPath: follow local symlinks; the parent must exist."""
    import stat

    original = path
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    hops = 0
    while st is not None and stat.S_ISLNK(st.st_mode):
        hops += 1
        if hops > 10:
            raise InvalidArgument(f"too many symlinks in {original}")
        target = os.readlink(path)
        if not target.startswith("/"):
            target = os.path.join(split_path_dir_entry(path)[0], target)
        path = target
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
    if st is None:
        parent = split_path_dir_entry(path)[0]
        try:
            pst = os.stat(parent)
        except OSError as e:
            raise InvalidArgument(f"stat {parent}: {os.strerror(e.errno or 0)}") from None
        if not stat.S_ISDIR(pst.st_mode):
            raise InvalidArgument("not a directory")
        return CopyInfo(path)
    return CopyInfo(path, True, stat.S_ISDIR(st.st_mode))


def local_source_info(path: str, follow: bool) -> CopyInfo:
    """docker's CopyInfoSourcePath (ResolveHostSourcePath)."""
    import stat

    if follow:
        resolved, rebase = rebase_name(path, os.path.realpath(path))
    else:
        dir_part, base = os.path.split(path)
        resolved = os.path.join(os.path.realpath(dir_part or "."), base) if base else path
        rebase = ""
        if path.endswith("/") and _base(path) != _base(resolved):
            rebase = _base(path)
        resolved = preserve_trailing(resolved, path)
    try:
        st = os.lstat(resolved)
    except OSError as e:
        raise InvalidArgument(f"lstat {resolved}: {os.strerror(e.errno or 0)}") from None
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase)


# -- commands -----------------------------------------------------------------------------------


@command(
    "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
    "\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    "Copy files/folders between a container and the local filesystem",
    [
        Flag("-a", "--archive", help="Archive mode (copy all uid/gid information)"),
        Flag("-L", "--follow-link", help="Always follow symbol link in SRC_PATH"),
        Flag("-q", "--quiet", help="Suppress progress output during copy"),
    ],
    min_args=2,
    max_args=2,
)
def cp(ctx: Context, opts: Parsed) -> int:
    src_ctr, src = split_cp_arg(opts.args[0])
    dst_ctr, dst = split_cp_arg(opts.args[1])
    if not src:
        raise InvalidArgument("source can not be empty")
    if not dst:
        raise InvalidArgument("destination can not be empty")
    if src_ctr and dst_ctr:
        raise InvalidArgument("copying between containers is not supported")
    if not src_ctr and not dst_ctr:
        raise InvalidArgument("must specify at least one container source")
    quiet = bool(opts.quiet) or not ctx.err.isatty()
    if src_ctr:
        size, where = copy_from(ctx, src_ctr, src, dst, bool(opts.follow_link))
    else:
        size, where = copy_to(ctx, src, dst_ctr, dst, bool(opts.follow_link), bool(opts.archive))
    if not quiet and where:
        from berth.cli.units import human_size

        ctx.err.write(f"Successfully copied {human_size(size)} to {where}\n")
    return 0


def copy_from(ctx: Context, container: str, src: str, dst: str, follow: bool) -> tuple[int, str]:
    from berth.client.api import quote

    if dst != "-":
        dst = resolve_local_path(dst)
        parent = os.path.dirname(dst.rstrip("/")) if dst.rstrip("/") else "/"
        if parent and not os.path.isdir(parent):
            raise InvalidArgument(f'invalid output path: directory "{parent}" does not exist')
    rebase = ""
    if follow:
        try:
            st = stat_path(ctx, container, src)
        except BerthError:
            st = {}
        if int(st.get("mode", 0)) & MODE_SYMLINK:
            target = str(st.get("linkTarget") or "")
            if not target.startswith("/"):
                target = os.path.join(split_path_dir_entry(src)[0], target)
            src, rebase = rebase_name(src, target)
    resp = ctx.client.request(
        "GET", f"/containers/{quote(container)}/archive", {"path": src}, stream=True
    )
    if dst == "-":
        out = sys.stdout.buffer
        sys.stdout.flush()
        total = 0
        for chunk in resp.iter_body():
            out.write(chunk)
            total += len(chunk)
        out.flush()
        return total, ""
    import base64

    from berth.jsonio import loads

    raw = resp.headers.get("x-docker-container-path-stat", "")
    st = loads(base64.b64decode(raw).decode(), "the path stat") if raw else {}
    src_info = CopyInfo(src, True, bool(int(st.get("mode", 0)) & MODE_DIR), rebase)
    dst_info = local_dest_info(dst)
    dest_dir, top = prepare_copy(src_info, dst_info)
    archived = split_path_dir_entry(src)[1]  # the daemon names the top entry so
    stream = _Chunks(resp.iter_body())
    try:
        extract_local(stream, dest_dir, renamer(archived, top))  # type: ignore[arg-type]
    finally:
        resp.close()
    return stream.count, dst


def copy_to(
    ctx: Context, src: str, container: str, dst: str, follow: bool, archive: bool
) -> tuple[int, str]:
    if src != "-":
        src = resolve_local_path(src)
    dst_info = CopyInfo(dst)
    try:
        st: dict[str, Any] | None = stat_path(ctx, container, dst)
    except NotFound:
        st = None
    if st is not None and int(st.get("mode", 0)) & MODE_SYMLINK:
        target = str(st.get("linkTarget") or "")
        if not target.startswith("/"):
            target = os.path.join(split_path_dir_entry(dst)[0], target)
        dst_info.path = target
        try:
            st = stat_path(ctx, container, target)
        except NotFound:
            st = None
    if st is not None:
        mode = int(st.get("mode", 0))
        if mode & MODE_DEVICE or mode & MODE_IRREGULAR:
            what = "got a device" if mode & MODE_DEVICE else "got an irregular file"
            raise InvalidArgument(
                f'destination "{container}:{dst}" must be a directory or a regular file: {what}'
            )
        dst_info.exists, dst_info.is_dir = True, bool(mode & MODE_DIR)
    query = {"noOverwriteDirNonDir": "true", "copyUIDGID": "true" if archive else "false"}
    if src == "-":
        if not dst_info.is_dir:
            raise InvalidArgument(f'destination "{container}:{dst}" must be a directory')

        def stdin(sink: _TarUpload) -> None:
            while chunk := sys.stdin.buffer.read(_CHUNK):
                sink.write(chunk)

        put_archive(ctx, container, dst_info.path, query, stdin)
        return 0, ""
    src_info = local_source_info(src, follow)
    dest_dir, top = prepare_copy(src_info, dst_info)

    def produce(sink: _TarUpload) -> None:
        path = src_info.path
        if path.endswith("/."):
            path = path[:-2] or "/"
        tar_local(sink, path, top)  # type: ignore[arg-type]

    sent = put_archive(ctx, container, dest_dir, query, produce)
    return sent, f"{container}:{dst}"


@command(
    "berth diff CONTAINER",
    "Inspect changes to files or directories on a container's filesystem",
    min_args=1,
    max_args=1,
)
def diff(ctx: Context, opts: Parsed) -> int:
    from berth.client.api import quote

    changes = ctx.client.get_json(f"/containers/{quote(opts.args[0])}/changes") or []
    letters = {0: "C", 1: "A", 2: "D"}
    for change in changes:
        ctx.print(f"{letters.get(int(change.get('Kind', 0)), '?')} {change.get('Path', '')}")
    return 0


@command(
    "berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
    "Create a new image from a container's changes",
    [
        Flag(
            "-a",
            "--author",
            kind="str",
            help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
        ),
        Flag(
            "-c", "--change", kind="list", help="Apply Dockerfile instruction to the created image"
        ),
        Flag("-m", "--message", kind="str", help="Commit message"),
        Flag("-p", "--pause", default=True, help="Pause container during commit"),
    ],
    min_args=1,
    max_args=2,
)
def commit(ctx: Context, opts: Parsed) -> int:
    query: dict[str, Any] = {
        "container": opts.args[0],
        "author": opts.author or "",
        "comment": opts.message or "",
        "pause": "1" if opts.pause else "0",
    }
    if len(opts.args) > 1:
        from berth.oci import reference

        ref = reference.parse(opts.args[1])
        if ref.digest is not None:
            raise InvalidArgument("refusing to create a tag with a digest reference")
        query["repo"] = ref.familiar_name
        query["tag"] = ref.tag or "latest"
    if opts.change:
        query["changes"] = list(opts.change)
    answer = ctx.client.post_json("/commit", query) or {}
    ctx.print(str(answer.get("Id", "")))
    return 0


@command(
    "berth export [OPTIONS] CONTAINER",
    "Export a container's filesystem as a tar archive",
    [Flag("-o", "--output", kind="str", help="Write to a file, instead of STDOUT")],
    min_args=1,
    max_args=1,
)
def export(ctx: Context, opts: Parsed) -> int:
    from berth.client.api import quote

    if opts.output:
        out_fd = os.open(opts.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    else:
        if sys.stdout.isatty():
            raise InvalidArgument(
                "cowardly refusing to save to a terminal. Use the -o flag or redirect"
            )
        sys.stdout.flush()
        out_fd = sys.stdout.fileno()
    try:
        resp = ctx.client.request("GET", f"/containers/{quote(opts.args[0])}/export", stream=True)
        for chunk in resp.iter_body():
            view = memoryview(chunk)
            while view:
                view = view[os.write(out_fd, view) :]
    finally:
        if opts.output:
            os.close(out_fd)
    return 0
