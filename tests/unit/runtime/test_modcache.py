"""The start path's module cache: served while fresh, the usual import once a source changes."""

from __future__ import annotations

import marshal
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime import modcache


@pytest.fixture
def pkg(tmp_path: Path) -> Iterator[Path]:
    """A package ``mcpkg`` (with a submodule) importable from tmp_path; every trace of
    it (modules, path entry, finders) is removed afterwards."""
    root = tmp_path / "mcpkg"
    root.mkdir()
    (root / "__init__.py").write_text("WHAT = 'package'\n")
    (root / "sub.py").write_text("WHAT = 'cached'\n")
    sys.path.insert(0, str(tmp_path))
    meta = list(sys.meta_path)
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.meta_path[:] = meta
        for name in [n for n in sys.modules if n == "mcpkg" or n.startswith("mcpkg.")]:
            del sys.modules[name]


def _forget() -> None:
    for name in [n for n in sys.modules if n == "mcpkg" or n.startswith("mcpkg.")]:
        del sys.modules[name]


def _build(pkg: Path) -> str:
    import mcpkg.sub  # noqa: F401

    target = modcache.build(["mcpkg", "mcpkg.sub"], str(pkg / "test.modcache"))
    _forget()
    return target


def test_modules_come_from_the_cache_while_their_sources_are_unchanged(pkg: Path) -> None:
    target = _build(pkg)
    # the cache, not the file, is what runs: change the code it holds
    with open(target, "rb") as f:
        doc = marshal.loads(f.read())
    source, mtime, size, is_pkg, _ = doc["modules"]["mcpkg.sub"]
    code = compile("WHAT = 'from the cache'\n", source, "exec")
    doc["modules"]["mcpkg.sub"] = (source, mtime, size, is_pkg, marshal.dumps(code))
    with open(target, "wb") as f:
        f.write(marshal.dumps(doc))
    assert modcache.install(target)
    import mcpkg.sub

    assert mcpkg.sub.WHAT == "from the cache"
    assert mcpkg.sub.__file__ == str(pkg / "mcpkg" / "sub.py")
    assert mcpkg.__path__ == [str(pkg / "mcpkg")]
    assert mcpkg.__spec__ is not None and mcpkg.__spec__.submodule_search_locations
    loader = mcpkg.sub.__spec__.loader  # type: ignore[union-attr]
    assert loader.get_source("mcpkg.sub") == "WHAT = 'cached'\n"  # type: ignore[union-attr]


def test_an_edited_module_is_imported_the_usual_way(pkg: Path) -> None:
    target = _build(pkg)
    sub = pkg / "mcpkg" / "sub.py"
    sub.write_text("WHAT = 'edited!'\n")
    st = os.stat(sub)
    os.utime(sub, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert modcache.install(target)
    import mcpkg.sub

    assert mcpkg.sub.WHAT == "edited!"
    assert not isinstance(mcpkg.sub.__spec__.loader, modcache._Finder)  # type: ignore[union-attr]
    assert isinstance(mcpkg.__spec__.loader, modcache._Finder)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "doc",
    [
        {"version": 2, "tag": sys.implementation.cache_tag, "modules": {}},
        {"version": 1, "tag": "cpython-00", "modules": {}},
        {"version": 1, "tag": sys.implementation.cache_tag},
        ["not", "a", "cache"],
    ],
)
def test_a_cache_of_another_version_or_interpreter_is_not_used(pkg: Path, doc: object) -> None:
    path = pkg / "other.modcache"
    path.write_bytes(marshal.dumps(doc))
    meta = list(sys.meta_path)
    assert not modcache.install(str(path))
    assert sys.meta_path == meta


def test_no_cache_file(pkg: Path) -> None:
    assert not modcache.install(str(pkg / "missing.modcache"))
    (pkg / "garbage.modcache").write_bytes(b"\x00not marshal")
    assert not modcache.install(str(pkg / "garbage.modcache"))


def test_the_start_path_is_in_the_cache() -> None:
    names = modcache.collect()
    for name in ("berth.runtime.create", "berth.runtime.init", "berth.kernel.syscalls"):
        assert name in names
    assert all(n == "berth" or n.startswith("berth.") for n in names)
