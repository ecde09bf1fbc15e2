"""The compiled modules of a command's start path, in one file.

A ``berth-runtime`` command (and a ``berth`` command line) is a fresh
interpreter that imports some forty berth modules; the import system's own
work per module (finding it on ``sys.path``, stat-ing, opening and reading
its ``.pyc``) costs about as much again as running the module, ~1.5 ms of
every start here. The cache holds their code objects in one file:
:func:`install` reads its index and puts a finder first on ``sys.meta_path``
that serves those modules from it -- each only while its source file is the
one the cache was made from (same ``st_mtime_ns`` and size, as a ``.pyc`` is
checked), so an edited module is simply imported the usual way. The modules
get their usual ``__file__``, ``__spec__``, ``__path__`` and tracebacks (line
numbers are kept).

The extension modules the roots import (``_json``, ``_ctypes``: shared
objects in lib-dynload) are in the index too, by path: the finder hands
them to the interpreter's own extension loader, so that importing them does
not make the path finder list every ``sys.path`` directory first (~0.2 ms,
the first time in a process). Checked the same way (``st_mtime_ns``, size).

The code is compiled lean, since every byte of it is read and unmarshalled
on every start: without docstrings (``__doc__`` is None, as under ``-OO``;
asserts stay), without the annotations of function parameters and return
values (never read at run time; class-body annotations, which
:mod:`berth.oci.record` reads, are kept), and with ``from __future__ import
annotations`` applied as a compiler flag instead of an import.

The file (``<package dir>/__pycache__/start-path.<cache tag>.modcache``,
made by ``python -m berth.runtime.modcache``; scripts/setup runs it after
byte-compiling), schema version 5::

    b"BMC5" + <index length: 4 bytes, little-endian> + marshal(index) + code...
    index = {"version": 5, "tag": "cpython-311",
             "modules": {name: (source path, st_mtime_ns, st_size, is_package,
                                offset of its marshalled code after the index, length,
                                its __cached__ path,
                                the cached modules it imports at its top level)},
             "extensions": {name: (shared object path, st_mtime_ns, st_size)}}

Only the index is read up front; a module's code is read (``pread``) when it
is imported. It is used only when the running interpreter's cache tag matches.

:func:`preload` runs the modules a command is known to need before it asks for
them, without the import system: importlib's own work for one module (its
lock, the finders asked in turn, the spec, the module's attributes) costs
~20 µs here, ~0.7 ms of a container start. Each module's top-level imports
(the last field of its entry, read from its source when the cache is made)
are run first, so that its ``import`` statements find them loaded; a package
runs as the import system runs it (its own imports then go through it).

This module is imported the usual way, first thing on every start: it imports
nothing but ``marshal``, ``os`` and ``sys`` then (no ``from __future__ import
annotations``, which would load the ``__future__`` module each time; its few
annotations that name types only known to the type checker are quoted).
"""

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ast
    from collections.abc import Iterable, Sequence
    from types import CodeType, ModuleType
    from typing import Any

VERSION = 5
MAGIC = b"BMC5"
# importlib.machinery.ModuleSpec, without importing importlib (not loaded under -S)
_ModuleSpec: "Any" = type(sys.__spec__)

#: An index entry (see the module's docstring).
Entry = tuple[str, int, int, bool, int, int, str, tuple[str, ...]]
#: An extension module's entry.
Extension = tuple[str, int, int]

#: The caches and what each holds: these modules and every berth module they import.
#: ``start-path`` serves berth-runtime, ``cli`` the berth command line.
CACHES = {
    "start-path": (
        "berth.cli.runtime",
        "berth.runtime.run",
        "berth.runtime.create",
        "berth.runtime.lifecycle",
        "berth.runtime.query",
        "berth.runtime.console",
        "berth.runtime.hooks",
        "berth.kernel.syscalls",
        "berth.cgroups",
        "berth.cgroups.v1",
        "berth.cgroups.v2",
        "berth.cgroups.devices",
        "berth.cgroups.mounts",
        "berth.cgroups.stats",
        "berth.seccomp",
        "berth.kernel.seccomp",
    ),
    # (and what its commands import when they run)
    "cli": (
        "berth.cli.*",
        "berth.client.*",
        "berth.api.detachkeys",
        "berth.api.stdcopy",
        "berth.durations",
        "berth.jsonio",
        "berth.network.portspec",
        "berth.runtime.trace",
    ),
}
ROOTS = CACHES["start-path"]


def default_path(name: str = "start-path") -> str:
    """Where the cache ``name`` of this berth tree and interpreter lives."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tag = sys.implementation.cache_tag or "none"
    return os.path.join(package, "__pycache__", f"{name}.{tag}.modcache")


class _Finder:
    """Serves the cached modules whose source is unchanged (a meta path finder and loader)."""

    def __init__(
        self,
        path: str,
        fd: int,
        base: int,
        modules: dict[str, Entry],
        extensions: "dict[str, Extension] | None" = None,
    ) -> None:
        self.path = path
        self.fd = fd  # the cache file, open (close-on-exec) for the process's lifetime
        self.base = base  # where the code starts, after the index
        self.modules = modules
        self.extensions = extensions or {}
        self.released = False

    def find_spec(self, name: str, path: object = None, target: object = None) -> "Any":
        if self.released:
            return None
        entry = self.modules.get(name)
        if entry is None:
            return self._extension(name)
        source, mtime_ns, size, is_package = entry[:4]
        try:
            st = os.stat(source)
        except OSError:
            return None
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return None  # edited since: the usual import finds the new one
        spec = _ModuleSpec(name, self, origin=source, is_package=is_package)
        spec.has_location = True
        spec.cached = entry[6]  # (else importlib works it out from the origin, per module)
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(source)]
        return spec

    def _extension(self, name: str) -> "Any":
        """The spec of a known extension module whose file is unchanged, for the
        interpreter's extension loader."""
        ext = self.extensions.get(name)
        if ext is None:
            return None
        origin, mtime_ns, size = ext
        try:
            st = os.stat(origin)
        except OSError:
            return None
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return None
        loader = sys.modules["_frozen_importlib_external"].ExtensionFileLoader(name, origin)
        spec = _ModuleSpec(name, loader, origin=origin)
        spec.has_location = True
        return spec

    def create_module(self, spec: "Any") -> None:
        return None  # the default module object

    def exec_module(self, module: "ModuleType") -> None:
        offset, length = self.modules[module.__name__][4:6]
        data = os.pread(self.fd, length, self.base + offset)
        if len(data) != length:
            raise ImportError(f"{module.__name__}: the module cache is truncated")
        exec(marshal.loads(data), module.__dict__)

    def preload(self, name: str, loading: set[str]) -> None:
        """Run the cached module ``name`` (its package and its top-level imports
        first) unless it is loaded; what is not cached, or edited since, is left
        to the import system. ``loading``: the names on the way here (a cycle stops)."""
        modules = sys.modules
        if name in modules or name in loading or self.released:
            return
        parent, _, child = name.rpartition(".")
        if parent:
            if parent not in modules:
                self.preload(parent, loading)
                if parent not in modules:
                    __import__(parent)  # (not cached, or edited since: the usual way)
            if name in modules:
                return  # its package imported it
        entry = self.modules.get(name)
        if entry is None:
            return
        if not entry[3]:  # (a package imports its modules itself, in its own order)
            loading.add(name)
            try:
                for dep in entry[7]:
                    self.preload(dep, loading)
            finally:
                loading.discard(name)
            if name in modules:
                return
        spec = self.find_spec(name)
        if spec is None:
            return
        # what importlib's module_from_spec gives a module, then its load
        module = type(sys)(name)
        attrs = module.__dict__
        attrs["__spec__"] = spec
        attrs["__loader__"] = self
        attrs["__package__"] = name if entry[3] else parent
        if entry[3]:
            attrs["__path__"] = spec.submodule_search_locations
        attrs["__file__"] = entry[0]
        attrs["__cached__"] = entry[6]
        modules[name] = module
        try:
            self.exec_module(module)
        except BaseException:
            modules.pop(name, None)
            raise
        if parent:
            setattr(modules[parent], child, modules[name])

    def release(self) -> None:
        """Close the cache file; its modules not imported yet are then imported the usual way.

        The index is kept: this runs in a forked child (stage 1), where freeing it
        would write to every page it lies on, each then copied (~0.4 ms here).
        """
        self.released = True
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def get_source(self, name: str) -> str | None:
        entry = self.modules.get(name)
        if entry is None:
            return None
        with open(entry[0], encoding="utf-8") as f:
            return f.read()

    def is_package(self, name: str) -> bool:
        entry = self.modules.get(name)
        return bool(entry and entry[3])


def install(path: str | None = None) -> bool:
    """Serve the cached modules from now on; False when there is no usable cache."""
    path = path or default_path()
    if any(isinstance(f, _Finder) and f.path == path for f in sys.meta_path):
        return True
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        head = os.read(fd, 65536)
        if head[:4] != MAGIC or len(head) < 8:
            raise ValueError("not a module cache")
        size = int.from_bytes(head[4:8], "little")
        raw = head[8 : 8 + size]
        if len(raw) < size:
            raw += os.pread(fd, size - len(raw), 8 + len(raw))
        doc = marshal.loads(raw)
        if (
            not isinstance(doc, dict)
            or doc.get("version") != VERSION
            or doc.get("tag") != sys.implementation.cache_tag
            or not isinstance(doc.get("modules"), dict)
        ):
            raise ValueError("a cache of another version or interpreter")
    except (OSError, ValueError, EOFError, TypeError):
        os.close(fd)
        return False
    finder = _Finder(path, fd, 8 + size, doc["modules"], doc.get("extensions"))
    sys.meta_path.insert(0, finder)
    return True


def preload(names: "Iterable[str]") -> None:
    """Load the modules ``names`` (and what they import at their top level) from
    the installed cache, without the import system (see the module's docstring).

    For a single-threaded start: the import system's per-module locks are not
    taken. What a module raises is raised here, as its import would; what is
    not in the cache, or changed since, is imported the usual way when asked for.
    """
    for finder in sys.meta_path:
        if isinstance(finder, _Finder):
            loading: set[str] = set()
            for name in names:
                finder.preload(name, loading)
            return


def release() -> None:
    """Close the cache file in this process (a container's processes get no descriptor of it)."""
    for finder in sys.meta_path:
        if isinstance(finder, _Finder):
            finder.release()


def collect(roots: "Iterable[str]" = ROOTS) -> list[str]:
    """The berth modules ``roots`` import (themselves included), with a source file each.
    A root ``package.*`` stands for every module of that package."""
    import importlib

    for name in roots:
        if name.endswith(".*"):
            package = importlib.import_module(name[:-2])
            for directory in package.__path__:
                for entry in sorted(os.listdir(directory)):
                    if entry.endswith(".py") and entry != "__init__.py":
                        importlib.import_module(f"{name[:-2]}.{entry[:-3]}")
        else:
            importlib.import_module(name)
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if (name == "berth" or name.startswith("berth."))
        and str(getattr(module, "__file__", None) or "").endswith(".py")
    )


def loaded_extensions() -> list[str]:
    """The extension modules (shared objects) imported in this process so far."""
    loader_class = sys.modules["_frozen_importlib_external"].ExtensionFileLoader
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if isinstance(getattr(getattr(module, "__spec__", None), "loader", None), loader_class)
    )


def lean_code(text: bytes, source: str) -> "CodeType":
    """``text`` compiled as the cache holds it (see the module's docstring)."""
    import __future__

    import ast

    tree = ast.parse(text, source)
    flags = 0
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                flags |= getattr(__future__, alias.name).compiler_flag
        else:
            body.append(node)
    tree.body = body
    _strip(tree)
    code: CodeType = compile(tree, source, "exec", flags=flags, dont_inherit=True)
    return code


def _strip(tree: "ast.Module") -> None:
    import ast

    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
            args = node.args
            for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if arg is not None:
                    arg.annotation = None
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                rest = node.body[1:]
                node.body = rest or [ast.copy_location(ast.Pass(), first)]


def top_level_imports(text: bytes, source: str, name: str, is_package: bool) -> list[str]:
    """The modules the source imports when it runs (its module-level ``import``
    statements, in order, not those under ``if TYPE_CHECKING:`` nor in functions);
    ``from a import b`` names ``a`` and ``a.b`` (which may be a module)."""
    import ast

    package = name if is_package else name.rpartition(".")[0]
    found: list[str] = []

    def visit(body: "list[ast.stmt]") -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    head = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{head}.{base}" if base else head
                if base == "__future__":
                    continue
                found.append(base)
                found.extend(f"{base}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(ast.parse(text, source).body)
    return list(dict.fromkeys(found))


def build(names: "Sequence[str]", path: str | None = None, extensions: "Sequence[str]" = ()) -> str:
    """Compile the sources of the modules ``names`` (imported already) into the cache,
    with the locations of the extension modules ``extensions`` (imported already)."""
    from importlib.util import cache_from_source

    index: dict[str, Entry] = {}
    cached_names = set(names)
    blobs: list[bytes] = []
    offset = 0
    for name in names:
        source = str(sys.modules[name].__file__)
        st = os.stat(source)  # before reading: a later edit makes the entry stale
        with open(source, "rb") as f:
            text = f.read()
        blob = marshal.dumps(lean_code(text, source))
        is_package = os.path.basename(source) == "__init__.py"
        cached = cache_from_source(source)
        imported = top_level_imports(text, source, name, is_package)
        deps = tuple(d for d in imported if d in cached_names)
        index[name] = (
            source, st.st_mtime_ns, st.st_size, is_package, offset, len(blob), cached, deps
        )  # fmt: skip
        blobs.append(blob)
        offset += len(blob)
    exts: dict[str, Extension] = {}
    for name in extensions:
        origin = str(getattr(sys.modules[name].__spec__, "origin", ""))
        st = os.stat(origin)
        exts[name] = (origin, st.st_mtime_ns, st.st_size)
    doc = marshal.dumps(
        {
            "version": VERSION,
            "tag": sys.implementation.cache_tag,
            "modules": index,
            "extensions": exts,
        }
    )
    target = path or default_path()
    os.makedirs(os.path.dirname(target), exist_ok=True)
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(MAGIC + len(doc).to_bytes(4, "little") + doc)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, target)
    return target


def main(argv: "Sequence[str] | None" = None) -> int:
    """``python -m berth.runtime.modcache [NAME]``: build the cache NAME (default
    start-path). One per process: what a cache holds is what its roots import."""
    args = list(sys.argv[1:] if argv is None else argv)
    name = args[0] if args else "start-path"
    if name not in CACHES or len(args) > 1:
        sys.stderr.write(f"usage: python -m berth.runtime.modcache [{'|'.join(CACHES)}]\n")
        return 2
    names = collect(CACHES[name])
    target = build(names, default_path(name), loaded_extensions())
    sys.stdout.write(f"{target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
