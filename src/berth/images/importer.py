"""``docker import``: a rootfs tar (plain, gzip or zstd) -> a one-layer image.

POST /images/create?fromSrc=-&repo=&tag=&message=&changes=... The body is
stored as the layer blob as it arrives (compression kept), its DiffID
computed on the way; the layer is then unpacked like any other, the config
gets the ``--change`` instructions, and the image ID is the last message.
"""

from __future__ import annotations

from berth.images import progress as pm
from berth.images.changes import apply_changes
from berth.images.compose import make_image, now_rfc3339
from berth.images.layers import store_tar_stream
from berth.oci import image_spec as spec
from berth.oci import reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from berth.images.store import ImageStore


def import_rootfs(
    store: ImageStore,
    body: object,
    repo: str | None,
    tag: str | None,
    message: str,
    changes: list[str],
    platform: str | None,
    source: str = "-",
) -> Iterator[pm.Message]:
    from berth.images.pull import host_platform, parse_platform

    names = []
    if repo:
        names.append(reference.parse(repo + (f":{tag}" if tag else "")))
    plat = parse_platform(platform) if platform else host_platform()
    container = apply_changes(None, changes)
    created = now_rfc3339()
    comment = message or f"Imported from {source}"
    with store.lease() as lease:
        layer = store_tar_stream(store, body, "import")
        lease.blob(layer.blob or "")
        config = spec.ImageConfig(
            architecture=plat.architecture,
            os=plat.os,
            variant=plat.variant,
            created=created,
            comment=message or None,
            config=container,
            history=(spec.History(created=created, comment=comment),),
        )
        image_id = make_image(store, [layer], config, names, lease=lease)
    yield pm.status(image_id)
