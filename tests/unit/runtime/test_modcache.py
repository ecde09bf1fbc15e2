"""The start path's module cache: served while fresh, the usual import once a source changes."""

from __future__ import annotations

import importlib.util
import marshal
import os
import subprocess
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


def _edit(path: Path, text: str) -> None:
    """Change a source file as an editor would (its mtime moves on)."""
    path.write_text(text)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _replace_code(target: str, name: str, code: object) -> None:
    """Rewrite the cache file with ``code`` as the module ``name``'s code."""
    with open(target, "rb") as f:
        data = f.read()
    assert data[:4] == modcache.MAGIC
    size = int.from_bytes(data[4:8], "little")
    doc = marshal.loads(data[8 : 8 + size])
    blobs = {n: data[8 + size + e[4] : 8 + size + e[4] + e[5]] for n, e in doc["modules"].items()}
    blobs[name] = marshal.dumps(code)
    offset = 0
    for n, entry in doc["modules"].items():
        doc["modules"][n] = (*entry[:4], offset, len(blobs[n]), *entry[6:])
        offset += len(blobs[n])
    index = marshal.dumps(doc)
    with open(target, "wb") as f:
        f.write(modcache.MAGIC + len(index).to_bytes(4, "little") + index)
        for n in doc["modules"]:
            f.write(blobs[n])


def test_modules_come_from_the_cache_while_their_sources_are_unchanged(pkg: Path) -> None:
    target = _build(pkg)
    # the cache, not the file, is what runs: change the code it holds
    source = str(pkg / "mcpkg" / "sub.py")
    _replace_code(target, "mcpkg.sub", compile("WHAT = 'from the cache'\n", source, "exec"))
    assert modcache.install(target)
    import mcpkg.sub

    assert mcpkg.sub.WHAT == "from the cache"
    assert mcpkg.sub.__file__ == source
    assert mcpkg.sub.__cached__ == importlib.util.cache_from_source(source)
    assert mcpkg.__path__ == [str(pkg / "mcpkg")]
    assert mcpkg.__spec__ is not None and mcpkg.__spec__.submodule_search_locations
    loader = mcpkg.sub.__spec__.loader  # type: ignore[union-attr]
    assert loader.get_source("mcpkg.sub") == "WHAT = 'cached'\n"  # type: ignore[union-attr]


def test_after_release_modules_are_imported_the_usual_way(pkg: Path) -> None:
    # stage 1 releases the cache: the file is closed, the index kept (not freed in a
    # forked child), and nothing is served from it any more
    target = _build(pkg)
    source = str(pkg / "mcpkg" / "sub.py")
    _replace_code(target, "mcpkg.sub", compile("WHAT = 'from the cache'\n", source, "exec"))
    assert modcache.install(target)
    finder = next(f for f in sys.meta_path if isinstance(f, modcache._Finder))
    fd = finder.fd
    modcache.release()
    assert finder.fd == -1 and finder.released
    with pytest.raises(OSError):
        os.fstat(fd)
    assert finder.find_spec("mcpkg.sub") is None
    import mcpkg.sub

    assert mcpkg.sub.WHAT == "cached"


LEAN = '''"""The module's docstring."""

from __future__ import annotations

import sys


class Rec:
    """A class docstring."""

    size: int
    name: Undefined

    def method(self, x: Undefined) -> Undefined:
        """A method docstring."""


def f(a: Undefined, *rest: Undefined, b: Undefined = None, **kw: Undefined) -> Undefined:
    "only a docstring"


def g() -> None:
    assert 1 + 1 == 3, "asserts stay"


def fail() -> None:
    x = 1
    raise ValueError(x)
'''


def test_the_cache_holds_lean_code(pkg: Path) -> None:
    (pkg / "mcpkg" / "sub.py").write_text(LEAN)
    target = _build(pkg)
    assert modcache.install(target)
    import mcpkg.sub as m

    assert isinstance(m.__spec__.loader, modcache._Finder)  # type: ignore[union-attr]
    assert m.__doc__ is None and m.Rec.__doc__ is None and m.f.__doc__ is None
    assert m.Rec.method.__doc__ is None
    assert "__future__" not in vars(m) and "annotations" not in vars(m)
    # class-body annotations stay, as strings (the future import's effect); functions' go
    assert m.Rec.__annotations__ == {"size": "int", "name": "Undefined"}
    assert m.f.__annotations__ == {} and m.Rec.method.__annotations__ == {}
    with pytest.raises(AssertionError, match="asserts stay"):
        m.g()
    with pytest.raises(ValueError) as info:
        m.fail()
    # the line numbers are the source's (pytest's count from 0)
    assert LEAN.splitlines()[info.traceback[-1].lineno].strip() == "raise ValueError(x)"
    assert str(info.traceback[-1].path) == str(pkg / "mcpkg" / "sub.py")


def test_an_edited_module_is_imported_the_usual_way(pkg: Path) -> None:
    target = _build(pkg)
    _edit(pkg / "mcpkg" / "sub.py", "WHAT = 'edited!'\n")
    assert modcache.install(target)
    import mcpkg.sub

    assert mcpkg.sub.WHAT == "edited!"
    assert not isinstance(mcpkg.sub.__spec__.loader, modcache._Finder)  # type: ignore[union-attr]
    assert isinstance(mcpkg.__spec__.loader, modcache._Finder)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "doc",
    [
        {"version": 1, "tag": sys.implementation.cache_tag, "modules": {}},
        {"version": 2, "tag": sys.implementation.cache_tag, "modules": {}},
        {"version": 3, "tag": "cpython-00", "modules": {}},
        {"version": 3, "tag": sys.implementation.cache_tag},
        ["not", "a", "cache"],
    ],
)
def test_a_cache_of_another_version_or_interpreter_is_not_used(pkg: Path, doc: object) -> None:
    path = pkg / "other.modcache"
    index = marshal.dumps(doc)
    path.write_bytes(modcache.MAGIC + len(index).to_bytes(4, "little") + index)
    meta = list(sys.meta_path)
    assert not modcache.install(str(path))
    assert sys.meta_path == meta


def test_no_cache_file(pkg: Path) -> None:
    assert not modcache.install(str(pkg / "missing.modcache"))
    (pkg / "garbage.modcache").write_bytes(b"\x00not marshal")
    assert not modcache.install(str(pkg / "garbage.modcache"))
    (pkg / "short.modcache").write_bytes(modcache.MAGIC + (1000).to_bytes(4, "little") + b"\x00")
    assert not modcache.install(str(pkg / "short.modcache"))
    # version 1: one marshalled dict, no index
    (pkg / "v1.modcache").write_bytes(marshal.dumps({"version": 1, "modules": {}}))
    assert not modcache.install(str(pkg / "v1.modcache"))


def test_the_start_path_is_in_the_cache() -> None:
    names = modcache.collect()
    for name in ("berth.runtime.create", "berth.runtime.init", "berth.kernel.syscalls"):
        assert name in names
    assert all(n == "berth" or n.startswith("berth.") for n in names)


def test_a_star_root_stands_for_every_module_of_its_package(pkg: Path) -> None:
    (pkg / "mcpkg" / "other.py").write_text("WHAT = 'other'\n")
    modcache.collect(["mcpkg.*"])  # (it lists berth's modules only; it imports these)
    assert {"mcpkg.sub", "mcpkg.other"} <= set(sys.modules)
    _forget()
    cli = modcache.collect(modcache.CACHES["cli"])
    for name in ("berth.cli.main", "berth.cli.cmd_container", "berth.client.http"):
        assert name in cli


def test_main_builds_one_named_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert modcache.main(["no-such-cache"]) == 2
    assert "usage" in capsys.readouterr().err
    assert modcache.default_path("cli").endswith(f"cli.{sys.implementation.cache_tag}.modcache")


def test_extension_modules_are_found_by_their_recorded_path(pkg: Path) -> None:
    import _json

    so = str(_json.__spec__.origin)
    assert so.endswith(".so")
    target = modcache.build([], str(pkg / "ext.modcache"), modcache.loaded_extensions())
    # a fresh interpreter imports _json from the recorded file, without the path
    # finder listing the sys.path directories (lib-dynload's finder is never made)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(modcache.__file__).parents[2])!r})\n"
        "from berth.runtime import modcache\n"
        f"assert modcache.install({target!r})\n"
        "import _json\n"
        "print(type(_json.__spec__.loader).__name__, _json.__file__)\n"
        "print(sorted(p for p in sys.path_importer_cache if 'lib-dynload' in p))\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [f"ExtensionFileLoader {so}", "[]"]


def test_a_changed_extension_module_is_imported_the_usual_way(pkg: Path) -> None:
    import _json

    so = str(_json.__spec__.origin)
    st = os.stat(so)
    finder = modcache._Finder("x", -1, 0, {}, {"_json": (so, st.st_mtime_ns, st.st_size)})
    spec = finder.find_spec("_json")
    assert spec is not None and spec.origin == so and spec.has_location
    assert type(spec.loader).__name__ == "ExtensionFileLoader"
    finder.extensions["_json"] = (so, st.st_mtime_ns + 1, st.st_size)
    assert finder.find_spec("_json") is None
    finder.extensions["_json"] = (so + ".gone", st.st_mtime_ns, st.st_size)
    assert finder.find_spec("_json") is None
    assert finder.find_spec("not_known") is None


class _Asked:
    """A finder put first on sys.meta_path that only records what the import system asks."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.names.append(name)


def _preload_pkg(pkg: Path) -> str:
    root = pkg / "mcpkg"
    (root / "a.py").write_text(
        "import mcpkg.b\n"
        "TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n"
        "    import mcpkg.never\n"
        "ORDER = [*mcpkg.b.ORDER, 'a']\n"
        "def later():\n"
        "    import mcpkg.lazy\n"
    )
    (root / "b.py").write_text("ORDER = ['b']\n")
    (root / "lazy.py").write_text("X = 1\n")
    (root / "never.py").write_text("X = 1\n")
    import mcpkg.a
    import mcpkg.lazy
    import mcpkg.never  # noqa: F401

    names = ["mcpkg", "mcpkg.a", "mcpkg.b", "mcpkg.lazy", "mcpkg.never"]
    target = modcache.build(names, str(pkg / "test.modcache"))
    _forget()
    return target


def test_preload_runs_a_module_and_its_top_level_imports_without_the_import_system(
    pkg: Path,
) -> None:
    target = _preload_pkg(pkg)
    with open(target, "rb") as f:
        data = f.read()
    size = int.from_bytes(data[4:8], "little")
    deps = {n: e[7] for n, e in marshal.loads(data[8 : 8 + size])["modules"].items()}
    # what runs at the module's top level; not what a function or the type checker imports
    assert deps["mcpkg.a"] == ("mcpkg.b",)
    assert modcache.install(target)
    asked = _Asked()
    sys.meta_path.insert(0, asked)
    modcache.preload(["mcpkg.a"])
    assert asked.names == []
    import mcpkg.a

    assert mcpkg.a.ORDER == ["b", "a"]
    assert {"mcpkg", "mcpkg.a", "mcpkg.b"} <= set(sys.modules)
    assert "mcpkg.lazy" not in sys.modules and "mcpkg.never" not in sys.modules
    # the module as the import system makes it
    source = str(pkg / "mcpkg" / "a.py")
    finder = next(f for f in sys.meta_path if isinstance(f, modcache._Finder))
    assert mcpkg.a.__spec__ is not None and mcpkg.a.__spec__.name == "mcpkg.a"
    assert mcpkg.a.__loader__ is finder and mcpkg.a.__spec__.loader is finder
    assert mcpkg.a.__package__ == "mcpkg" and mcpkg.__package__ == "mcpkg"
    assert mcpkg.a.__file__ == source
    assert mcpkg.a.__cached__ == importlib.util.cache_from_source(source)
    assert mcpkg.__path__ == [str(pkg / "mcpkg")]
    # later imports are served as before (by the cache, through the import system)
    mcpkg.a.later()
    assert asked.names == ["mcpkg.lazy"]
    assert mcpkg.lazy.__loader__ is finder  # type: ignore[attr-defined]


def test_preload_leaves_an_edited_module_to_the_import_system(pkg: Path) -> None:
    target = _preload_pkg(pkg)
    _edit(pkg / "mcpkg" / "b.py", "ORDER = ['edited b']\n")
    assert modcache.install(target)
    asked = _Asked()
    sys.meta_path.insert(0, asked)
    modcache.preload(["mcpkg.a", "mcpkg.not_cached"])
    import mcpkg.a

    assert mcpkg.a.ORDER == ["edited b", "a"]
    assert asked.names == ["mcpkg.b"]  # asked for by a's import, found by the path finder
    assert not isinstance(mcpkg.b.__loader__, modcache._Finder)
    assert isinstance(mcpkg.a.__loader__, modcache._Finder)
    assert "mcpkg.not_cached" not in sys.modules


def test_preload_of_a_module_that_raises_leaves_nothing_loaded(pkg: Path) -> None:
    (pkg / "mcpkg" / "bad.py").write_text("X = 1\n")
    import mcpkg.bad  # noqa: F401

    target = modcache.build(["mcpkg", "mcpkg.bad"], str(pkg / "test.modcache"))
    _forget()
    source = str(pkg / "mcpkg" / "bad.py")
    _replace_code(target, "mcpkg.bad", compile("raise RuntimeError('broken')\n", source, "exec"))
    assert modcache.install(target)
    with pytest.raises(RuntimeError, match="broken"):
        modcache.preload(["mcpkg.bad"])
    assert "mcpkg.bad" not in sys.modules
    assert not hasattr(sys.modules["mcpkg"], "bad")


def test_preload_of_modules_that_import_each_other(pkg: Path) -> None:
    (pkg / "mcpkg" / "x.py").write_text("import mcpkg.y\nNAME = 'x'\n")
    (pkg / "mcpkg" / "y.py").write_text(
        "import mcpkg.x\nNAME = 'y'\ndef other():\n    return mcpkg.x.NAME\n"
    )
    importlib.import_module("mcpkg.x")
    target = modcache.build(["mcpkg", "mcpkg.x", "mcpkg.y"], str(pkg / "test.modcache"))
    _forget()
    assert modcache.install(target)
    modcache.preload(["mcpkg.x"])
    import mcpkg.x
    import mcpkg.y

    assert mcpkg.x.NAME == "x" and mcpkg.y.other() == "x"
    assert mcpkg.x.mcpkg.y is mcpkg.y
    assert isinstance(mcpkg.y.__loader__, modcache._Finder)


def test_top_level_imports() -> None:
    text = b"""
from __future__ import annotations
import os, pkg.one
from pkg import two, name
from . import three
from .sub import four
from .. import up
try:
    import pkg.five
except ImportError:
    import pkg.six
TYPE_CHECKING = False
if TYPE_CHECKING:
    import pkg.typing_only
else:
    import pkg.seven
class C:
    import pkg.in_class
def f():
    import pkg.in_function
"""
    found = modcache.top_level_imports(text, "m.py", "pkg.sub.mod", False)
    assert found == [
        "os", "pkg.one", "pkg", "pkg.two", "pkg.name", "pkg.sub", "pkg.sub.three",
        "pkg.sub.sub", "pkg.sub.sub.four", "pkg.up", "pkg.five", "pkg.six", "pkg.seven",
    ]  # fmt: skip
    assert modcache.top_level_imports(b"from . import a\n", "p.py", "pkg", True) == [
        "pkg",
        "pkg.a",
    ]


def test_what_the_commands_preload_is_in_their_caches() -> None:
    from berth.cli import main, runtime

    start = set(modcache.collect(modcache.CACHES["start-path"]))
    for roots in runtime.PRELOAD.values():
        assert set(roots) <= start
    cli = set(modcache.collect(modcache.CACHES["cli"]))
    for roots in (main._CLIENT, *main._PRELOAD.values()):
        assert set(roots) <= cli
