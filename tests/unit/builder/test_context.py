"""The build context's pure parts: paths kept inside it, source patterns, the cache key
of COPY sources, and the tar a COPY makes."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from berth.build import context as ctx
from berth.errors import InvalidArgument


def tree(root: Path) -> Path:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "a.py").write_text("a\n")
    (root / "src" / "b.py").write_text("b\n")
    (root / "src" / "pkg" / "c.txt").write_text("c\n")
    (root / "README").write_text("readme\n")
    os.symlink("README", root / "link")
    return root


def test_paths_never_leave_the_context(tmp_path: Path) -> None:
    root = str(tmp_path)
    assert ctx.inside(root, "../../etc/passwd") == os.path.join(root, "etc", "passwd")
    assert ctx.inside(root, "/abs/x") == os.path.join(root, "abs", "x")
    assert ctx.inside(root, "./a/../b") == os.path.join(root, "b")
    assert os.path.normpath(ctx.inside(root, ".")) == root


def test_source_patterns(tmp_path: Path) -> None:
    root = tree(tmp_path)
    got = ctx.sources(str(root), ["src/*.py"])
    assert [os.path.relpath(p, root) for p in got] == ["src/a.py", "src/b.py"]
    got = ctx.sources(str(root), ["src/pkg", "README"])
    assert [os.path.relpath(p, root) for p in got] == ["src/pkg", "README"]
    assert ctx.sources(str(root), ["link"]) == [str(root / "link")]  # the link, not its target
    with pytest.raises(InvalidArgument, match="file not found in build context"):
        ctx.sources(str(root), ["missing.txt"])
    with pytest.raises(InvalidArgument, match="matches nothing"):
        ctx.sources(str(root), ["src/*.go"])
    # ".." cannot reach outside: it stops at the context's root
    assert ctx.sources(str(root), ["../../README"]) == [str(root / "README")]


def test_content_key_follows_contents_and_modes_not_times(tmp_path: Path) -> None:
    root = tree(tmp_path)
    one = [str(root / "README")]
    key = ctx.content_key(one, None, None)
    assert key.startswith("file:") and len(key) == len("file:") + 64
    os.utime(root / "README", (1, 1))
    assert ctx.content_key(one, None, None) == key
    assert ctx.content_key(one, None, 0o600) != key
    (root / "README").write_text("other\n")
    assert ctx.content_key(one, None, None) != key
    dkey = ctx.content_key([str(root / "src")], None, None)
    assert dkey.startswith("dir:")
    (root / "src" / "pkg" / "c.txt").chmod(0o700)
    assert ctx.content_key([str(root / "src")], None, None) != dkey


def test_copy_tar_places_sources_at_their_destinations(tmp_path: Path) -> None:
    root = tree(tmp_path)
    buf = io.BytesIO()
    ctx.copy_tar(
        buf,
        [(str(root / "src"), "/app/code"), (str(root / "README"), "/app/README.md")],
        ["/app", "/app/code"],
        (1000, 1000),
        None,
    )
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tf:
        members = {m.name: m for m in tf.getmembers()}
    assert list(members)[:2] == ["app", "app/code"]  # made dirs first, parents before children
    assert {"app/code/a.py", "app/code/b.py", "app/code/pkg", "app/code/pkg/c.txt"} <= set(members)
    assert "app/code/src" not in members  # a directory's contents, not the directory
    assert members["app/README.md"].size == len("readme\n")
    assert all((m.uid, m.gid) == (1000, 1000) for m in members.values())
    assert members["app"].mode == 0o755
