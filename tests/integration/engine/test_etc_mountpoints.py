"""berthd makes the mount points of /etc/hosts, resolv.conf and hostname in a
container's rootfs before its init runs -- inside the root, as the runtime would."""

from __future__ import annotations

from pathlib import Path

from berth.engine.containers.service import _etc_mountpoints


def test_the_etc_files_are_made_and_existing_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("kept\n")
    _etc_mountpoints(str(root))
    assert (root / "etc" / "hosts").read_text() == "kept\n"
    for name in ("resolv.conf", "hostname"):
        made = root / "etc" / name
        assert made.is_file() and made.read_bytes() == b""


def test_a_hostile_etc_symlink_stays_inside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "rootfs"
    root.mkdir()
    # an image whose /etc points at a host path: resolved inside the root instead
    (root / "etc").symlink_to(outside)
    _etc_mountpoints(str(root))
    assert list(outside.iterdir()) == []
    inside = root / str(outside).lstrip("/")
    assert sorted(p.name for p in inside.iterdir()) == ["hostname", "hosts", "resolv.conf"]


def test_an_etc_that_is_a_file_is_left_to_the_runtime(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "etc").write_text("not a directory\n")
    _etc_mountpoints(str(root))  # no error here: the init reports it, naming the mount
    assert (root / "etc").read_text() == "not a directory\n"
