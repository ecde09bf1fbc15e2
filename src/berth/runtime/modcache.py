"""The compiled modules of the container start path, in one file.

A ``berth-runtime`` command is a fresh interpreter that imports some forty
berth modules; the import system's own work per module (finding it on
``sys.path``, stat-ing, opening and reading its ``.pyc``) costs about as
much again as running the module, ~1.5 ms of every start here. The cache
holds their code objects in one file: :func:`install` reads it and puts a
finder first on ``sys.meta_path`` that serves those modules from it -- each
only while its source file is the one the cache was made from (same
``st_mtime_ns`` and size, as a ``.pyc`` is checked), so an edited module is
simply imported the usual way. Nothing else changes: the modules get their
usual ``__file__``, ``__spec__``, ``__path__`` and tracebacks.

The file (``<package dir>/__pycache__/start-path.<cache tag>.modcache``,
made by ``python -m berth.runtime.modcache``; scripts/setup runs it after
byte-compiling) is a marshalled dict, schema version 1::

    {"version": 1, "tag": "cpython-311",
     "modules": {name: (source path, st_mtime_ns, st_size, is_package, marshalled code)}}

It is read only when the running interpreter's cache tag matches.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from types import ModuleType
    from typing import Any

VERSION = 1
# importlib.machinery.ModuleSpec, without importing importlib (not loaded under -S)
_ModuleSpec: Any = type(sys.__spec__)

#: What the cache holds: these modules and every berth module they import.
ROOTS = (
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
)


def default_path() -> str:
    """Where the cache of this berth tree and interpreter lives."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tag = sys.implementation.cache_tag or "none"
    return os.path.join(package, "__pycache__", f"start-path.{tag}.modcache")


class _Finder:
    """Serves the cached modules whose source is unchanged (a meta path finder and loader)."""

    def __init__(self, modules: dict[str, tuple[str, int, int, bool, bytes]]) -> None:
        self.modules = modules

    def find_spec(self, name: str, path: object = None, target: object = None) -> Any:
        entry = self.modules.get(name)
        if entry is None:
            return None
        source, mtime_ns, size, is_package, _code = entry
        try:
            st = os.stat(source)
        except OSError:
            return None
        if st.st_mtime_ns != mtime_ns or st.st_size != size:
            return None  # edited since: the usual import finds the new one
        spec = _ModuleSpec(name, self, origin=source, is_package=is_package)
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(source)]
        return spec

    def create_module(self, spec: Any) -> None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        code = marshal.loads(self.modules[module.__name__][4])
        exec(code, module.__dict__)

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
    try:
        with open(path or default_path(), "rb") as f:
            doc = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return False
    if (
        not isinstance(doc, dict)
        or doc.get("version") != VERSION
        or doc.get("tag") != sys.implementation.cache_tag
        or not isinstance(doc.get("modules"), dict)
    ):
        return False
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(doc["modules"]))
    return True


def collect(roots: Iterable[str] = ROOTS) -> list[str]:
    """The berth modules ``roots`` import (themselves included), with a source file each."""
    import importlib

    for name in roots:
        importlib.import_module(name)
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if (name == "berth" or name.startswith("berth."))
        and str(getattr(module, "__file__", None) or "").endswith(".py")
    )


def build(names: Sequence[str], path: str | None = None) -> str:
    """Compile the sources of the modules ``names`` (imported already) into the cache."""
    modules: dict[str, tuple[str, int, int, bool, bytes]] = {}
    for name in names:
        source = str(sys.modules[name].__file__)
        st = os.stat(source)  # before reading: a later edit makes the entry stale
        with open(source, "rb") as f:
            text = f.read()
        code = compile(text, source, "exec", dont_inherit=True)
        is_package = os.path.basename(source) == "__init__.py"
        modules[name] = (source, st.st_mtime_ns, st.st_size, is_package, marshal.dumps(code))
    target = path or default_path()
    os.makedirs(os.path.dirname(target), exist_ok=True)
    data = marshal.dumps(
        {"version": VERSION, "tag": sys.implementation.cache_tag, "modules": modules}
    )
    tmp = f"{target}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    return target


def main() -> int:
    target = build(collect())
    sys.stdout.write(f"{target}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
