"""What the engine needs for a container's filesystem: diff, commit, export.

- :func:`changes` — ``docker diff``: the container's overlay upper dir
  against its image's layers, as Docker's ``[{"Path", "Kind"}]`` (Kind 0
  modified, 1 added, 2 deleted).
- :func:`commit` — ``docker commit``: the upper dir becomes a new layer
  (overlay whiteouts -> OCI whiteouts) on top of the image's layers; returns
  the new image ID.
- :func:`export_tar` — ``docker export``: a directory (the container's
  mounted rootfs) as a tar stream, in chunks.
"""

from __future__ import annotations

import os
import stat
import threading

from berth.images.changes import apply_changes
from berth.images.compose import make_image, now_rfc3339
from berth.images.layers import OPAQUE, store_layer, write_tar
from berth.oci import image_spec as spec
from berth.oci import reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from berth.images.store import Image, ImageStore

MODIFIED, ADDED, DELETED = 0, 1, 2


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _in_lowers(rel: str, lowers: Sequence[str]) -> bool:
    """Whether ``rel`` is visible in the layer stack (top first), honouring whiteouts."""
    parts = rel.split("/")
    for lower in lowers:
        # a whiteout or an opaque dir on the way hides everything below this layer
        hidden = False
        for i in range(1, len(parts) + 1):
            p = os.path.join(lower, *parts[:i])
            try:
                st = os.lstat(p)
            except (FileNotFoundError, NotADirectoryError):
                break
            if _whiteout(st):
                return False
            if i == len(parts):
                return True
            if stat.S_ISDIR(st.st_mode) and _opaque(p):
                hidden = True
                break
        if hidden:
            return False
    return False


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def changes(upper: str, lowers: Sequence[str]) -> list[dict[str, object]]:
    """``docker diff`` of an upper dir over ``lowers`` (top first)."""
    out: list[dict[str, object]] = []

    def walk(rel: str) -> None:
        path = os.path.join(upper, rel) if rel else upper
        with os.scandir(path) as it:
            names = sorted(e.name for e in it)
        for name in names:
            child = f"{rel}/{name}" if rel else name
            st = os.lstat(os.path.join(upper, child))
            if _whiteout(st):
                out.append({"Path": "/" + child, "Kind": DELETED})
                continue
            kind = MODIFIED if _in_lowers(child, lowers) else ADDED
            out.append({"Path": "/" + child, "Kind": kind})
            if stat.S_ISDIR(st.st_mode):
                walk(child)

    walk("")
    return out


def commit(
    store: ImageStore,
    upper: str,
    image: Image | None,
    *,
    repo: str | None = None,
    tag: str | None = None,
    author: str = "",
    comment: str = "",
    changes_: list[str] | None = None,
    config: spec.ContainerConfig | None = None,
    created_by: str = "",
) -> str:
    """A new image: ``image``'s layers + the upper dir as a layer; return its ID.

    ``config`` (the container's config, as Docker merges it) defaults to the
    image's; ``changes_`` are ``--change`` instructions applied on top.
    """
    base = image.config if image is not None else spec.ImageConfig()
    container = apply_changes(config or (image.container_config if image else None), changes_ or [])
    created = now_rfc3339()
    history = list(base.history or ())
    history.append(
        spec.History(
            created=created,
            created_by=created_by or None,
            author=author or None,
            comment=comment or None,
        )
    )
    with store.lease() as lease:
        layer = store_layer(store, upper, overlay=True, level=1)
        lease.blob(layer.blob or "")
        new_config = base.replace(
            created=created,
            author=author or None,
            comment=comment or None,
            config=container,
            history=tuple(history),
        )
        layers = [*list(image.layers if image else []), layer]
        names = [reference.parse(repo + (f":{tag}" if tag else ""))] if repo else []
        return make_image(
            store, layers, new_config, names, parent=image.id if image else "", lease=lease
        )


def export_tar(root: str) -> Iterator[bytes]:
    """The tree under ``root`` as a tar stream, in chunks (written by a helper thread)."""
    import queue

    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=16)
    stop = threading.Event()

    class Sink:
        def write(self, data: bytes) -> int:
            if stop.is_set():
                raise BrokenPipeError("export cancelled")
            chunks.put(bytes(data))
            return len(data)

    def run() -> None:
        try:
            write_tar(root, Sink())
            chunks.put(None)
        except BaseException as e:
            chunks.put(e)

    t = threading.Thread(target=run, name="export", daemon=True)
    t.start()
    try:
        while True:
            item = chunks.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                chunks.get(timeout=0.1)
            except queue.Empty:
                pass
        t.join()
