"""Volumes on disk and in the metadata database.

On disk (under the engine's root)::

    <root>/volumes/<name>/_data      the volume's content (what containers mount)

In ``berth.db``, component ``volumes`` (schema history, append only):

- version 1: ``volumes(name PRIMARY KEY, driver, labels JSON, options JSON,
  created RFC 3339, anonymous 0/1)``.

The row is the truth: a volume exists when its row does. A volume is added
row first, then its directory (made again when missing); removed row first,
then its directory (renamed to ``.rm-<random>`` and deleted), so a crash
leaves at worst a directory without a row, which :meth:`VolumeStore.add`
clears before it reuses the name and :meth:`VolumeStore.sweep` removes.
"""

from __future__ import annotations

import os
import time

from berth import jsonio
from berth.errors import Conflict, InvalidArgument, NotFound
from berth.store.db import Migrations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.store.db import Database

MIGRATIONS = Migrations(
    "volumes",
    [
        """
        CREATE TABLE volumes (
            name TEXT PRIMARY KEY,
            driver TEXT NOT NULL DEFAULT 'local',
            labels TEXT NOT NULL DEFAULT '{}',
            options TEXT NOT NULL DEFAULT '{}',
            created TEXT NOT NULL,
            anonymous INTEGER NOT NULL DEFAULT 0
        );
        """,
    ],
)

DRIVER = "local"
#: the options the local driver knows (``mount -t TYPE -o O DEVICE``; size: xfs quotas)
LOCAL_OPTIONS = ("type", "device", "o", "size")
_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_REST = _NAME_FIRST | frozenset("_.-")
RM_PREFIX = ".rm-"


def check_name(name: str) -> None:
    """Docker's local volume names: ``[a-zA-Z0-9][a-zA-Z0-9_.-]+``."""
    if len(name) < 2:
        raise InvalidArgument(
            f"create {name}: volume name is too short, names should be at least two"
            " alphanumeric characters"
        )
    if name[0] not in _NAME_FIRST or any(ch not in _NAME_REST for ch in name[1:]):
        raise InvalidArgument(
            f'create {name}: "{name}" includes invalid characters for a local volume name,'
            ' only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host'
            " directory, use absolute path"
        )


def check_options(name: str, options: dict[str, str]) -> None:
    for key in options:
        if key not in LOCAL_OPTIONS:
            raise InvalidArgument(f'create {name}: invalid option key: "{key}"')


def rfc3339_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Volume:
    """A volume's record (``path`` is its ``_data`` directory)."""

    __slots__ = ("anonymous", "created", "driver", "labels", "name", "options", "path")

    def __init__(
        self,
        name: str,
        path: str,
        driver: str = DRIVER,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        created: str = "",
        anonymous: bool = False,
    ) -> None:
        self.name = name
        self.path = path
        self.driver = driver
        self.labels = labels or {}
        self.options = options or {}
        self.created = created
        self.anonymous = anonymous

    def to_docker(self) -> dict[str, Any]:
        """Docker's Volume object (GET /volumes/{name}); maps sorted, as Go writes them."""
        return {
            "CreatedAt": self.created,
            "Driver": self.driver,
            "Labels": dict(sorted(self.labels.items())) or None,
            "Mountpoint": self.path,
            "Name": self.name,
            "Options": dict(sorted(self.options.items())) or None,
            "Scope": "local",
        }

    def __repr__(self) -> str:
        return f"Volume({self.name!r}, anonymous={self.anonymous})"


class VolumeStore:
    def __init__(self, root: str, db: Database) -> None:
        self.root = root
        self.dir = os.path.join(root, "volumes")
        self.db = db
        db.migrate(MIGRATIONS)
        os.makedirs(self.dir, mode=0o701, exist_ok=True)

    def data_dir(self, name: str) -> str:
        return os.path.join(self.dir, name, "_data")

    def _volume(self, row: Any) -> Volume:
        name = str(row["name"])
        return Volume(
            name,
            self.data_dir(name),
            str(row["driver"]),
            jsonio.loads(str(row["labels"]), "volume labels"),
            jsonio.loads(str(row["options"]), "volume options"),
            str(row["created"]),
            bool(row["anonymous"]),
        )

    def get(self, name: str) -> Volume | None:
        row = self.db.query_one("SELECT * FROM volumes WHERE name = ?", name)
        return self._volume(row) if row is not None else None

    def find(self, name: str) -> Volume:
        vol = self.get(name) if name else None
        if vol is None:
            raise NotFound(f"get {name}: no such volume")
        return vol

    def all(self) -> list[Volume]:
        return [self._volume(r) for r in self.db.query("SELECT * FROM volumes ORDER BY name")]

    def add(
        self,
        name: str,
        driver: str = DRIVER,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> Volume:
        """Record and make a new volume (the name must be free)."""
        check_name(name)
        if driver != DRIVER:
            raise NotFound(
                f"create {name}: error looking up volume plugin {driver}: plugin not found"
            )
        check_options(name, options or {})
        vol_dir = os.path.join(self.dir, name)
        if self.get(name) is None and os.path.lexists(vol_dir):
            _remove_tree(vol_dir)  # left over by a crash between row and directory
        created = rfc3339_now()
        with self.db.transaction() as tx:
            if tx.query("SELECT 1 FROM volumes WHERE name = ?", (name,)):
                raise Conflict(f"create {name}: a volume with the name {name} already exists")
            tx.execute(
                "INSERT INTO volumes (name, driver, labels, options, created, anonymous)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    name,
                    driver,
                    jsonio.dumps(labels or {}),
                    jsonio.dumps(options or {}),
                    created,
                    int(anonymous),
                ),
            )
        vol = Volume(name, self.data_dir(name), driver, labels, options, created, anonymous)
        self.ensure_dir(vol)
        return vol

    def ensure_dir(self, vol: Volume) -> str:
        os.makedirs(os.path.join(self.dir, vol.name), mode=0o755, exist_ok=True)
        try:
            os.mkdir(vol.path, 0o755)
        except FileExistsError:
            pass
        return vol.path

    def delete(self, name: str, measure: bool = False) -> int:
        """Forget a volume and remove its directory; with ``measure``, return the bytes its
        files held (0 otherwise)."""
        vol_dir = os.path.join(self.dir, name)
        size = dir_size(self.data_dir(name)) if measure else 0
        if self.db.execute("DELETE FROM volumes WHERE name = ?", name) == 0:
            raise NotFound(f"get {name}: no such volume")
        if os.path.lexists(vol_dir):
            doomed = os.path.join(self.dir, f"{RM_PREFIX}{os.urandom(6).hex()}")
            os.rename(vol_dir, doomed)
            _remove_tree(doomed)
        return size

    def sweep(self) -> list[str]:
        """Remove directories no row names (crash leftovers); return their names."""
        known = {v.name for v in self.all()}
        removed = []
        for name in os.listdir(self.dir):
            if name in known:
                continue
            _remove_tree(os.path.join(self.dir, name))
            removed.append(name)
        return removed


def dir_size(path: str) -> int:
    """Bytes under ``path`` as Docker counts a volume's or a writable layer's size: the
    sizes of all but directories, each inode once (hard links), symlinks not followed."""
    import stat

    seen: set[int] = set()
    total = 0
    pending = [path]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    pending.append(entry.path)
                elif st.st_size and st.st_ino not in seen:
                    seen.add(st.st_ino)
                    total += st.st_size
    return total


def _remove_tree(path: str) -> None:
    from berth.snapshots.store import remove_tree

    if os.path.isdir(path) and not os.path.islink(path):
        remove_tree(path)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
