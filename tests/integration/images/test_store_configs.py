"""ImageStore keeps an image's config once read and checked (its ID names its content)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from berth.errors import BerthError
from berth.images.store import ImageStore


def test_a_config_read_once_is_kept_and_its_tags_stay_fresh(
    image_store: ImageStore, make_busybox: Callable[..., str]
) -> None:
    image_id = make_busybox(image_store, "kept:1")
    first = image_store.get(image_id)
    again = image_store.get(image_id)
    assert again.config is first.config and again.config_bytes == first.config_bytes
    image_store.meta.tag("kept:2", image_id)
    assert sorted(image_store.get(image_id).repo_tags) == ["kept:1", "kept:2"]


def test_only_a_store_that_never_read_it_meets_a_blob_corrupted_since(
    image_store: ImageStore, make_busybox: Callable[..., str]
) -> None:
    image_id = make_busybox(image_store, "checked:1")
    checked = image_store.get(image_id).config_bytes
    blob = image_store.content.path(image_id)
    os.chmod(blob, 0o644)
    with open(blob, "ab") as f:
        f.write(b" ")  # corrupted on disk after the first read
    assert image_store.get(image_id).config_bytes == checked
    fresh = ImageStore(image_store.root)
    try:
        with pytest.raises(BerthError, match="corrupt"):
            fresh.get(image_id)
    finally:
        fresh.close()
