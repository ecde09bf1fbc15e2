"""Containers in the metadata database (component ``containers``).

One row per container. The parts that Docker's API shows as JSON objects
are stored as JSON text in Docker's own shapes, so inspect returns them as
they were given:

====================  ===========================================================
column                what
====================  ===========================================================
id                    64 hex digits
name                  without the leading "/" (unique)
image_id              ``sha256:...`` of the image it was created from
image                 the name the user gave (``Config.Image`` / ``.Image`` in ps)
created               RFC 3339 UTC
config                Docker's ``Config`` (ContainerConfig)
host_config           Docker's ``HostConfig``
state                 Docker's ``State`` (Status, Running, ExitCode, Pid, ...)
network_settings      Docker's ``NetworkSettings`` (from the network manager)
mounts                Docker's ``Mounts`` list
restart_count         how often the restart policy restarted it
extra                 berth's own bookkeeping (schema version 1: ``{"rootfs": path}``)
====================  ===========================================================

Schema history (append only): version 1 -- the table above.
"""

from __future__ import annotations

from berth import jsonio
from berth.store.db import Database, Migrations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MIGRATIONS = Migrations(
    "containers",
    [
        """
        CREATE TABLE containers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            image_id TEXT NOT NULL,
            image TEXT NOT NULL,
            created TEXT NOT NULL,
            config TEXT NOT NULL,
            host_config TEXT NOT NULL,
            state TEXT NOT NULL,
            network_settings TEXT NOT NULL DEFAULT '{}',
            mounts TEXT NOT NULL DEFAULT '[]',
            restart_count INTEGER NOT NULL DEFAULT 0,
            extra TEXT NOT NULL DEFAULT '{}'
        );
        """,
    ],
)

COLUMNS = (
    "id",
    "name",
    "image_id",
    "image",
    "created",
    "config",
    "host_config",
    "state",
    "network_settings",
    "mounts",
    "restart_count",
    "extra",
)
JSON_COLUMNS = frozenset({"config", "host_config", "state", "network_settings", "mounts", "extra"})


class ContainerRow:
    """A container's record; the JSON columns as Python values."""

    __slots__ = COLUMNS

    id: str
    name: str
    image_id: str
    image: str
    created: str
    config: dict[str, Any]
    host_config: dict[str, Any]
    state: dict[str, Any]
    network_settings: dict[str, Any]
    mounts: list[dict[str, Any]]
    restart_count: int
    extra: dict[str, Any]

    def __init__(self, **values: Any) -> None:
        for name in COLUMNS:
            setattr(self, name, values.get(name))

    def to_db(self) -> tuple[Any, ...]:
        return tuple(
            jsonio.dumps(getattr(self, c)) if c in JSON_COLUMNS else getattr(self, c)
            for c in COLUMNS
        )


class ContainerStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(MIGRATIONS)

    def all(self) -> list[ContainerRow]:
        rows = self.db.query(f"SELECT {', '.join(COLUMNS)} FROM containers")
        out = []
        for r in rows:
            values = {
                c: (jsonio.loads(r[c], f"containers.{c}") if c in JSON_COLUMNS else r[c])
                for c in COLUMNS
            }
            out.append(ContainerRow(**values))
        return out

    def insert(self, row: ContainerRow) -> None:
        marks = ", ".join("?" for _ in COLUMNS)
        self.db.execute(
            f"INSERT INTO containers ({', '.join(COLUMNS)}) VALUES ({marks})", *row.to_db()
        )

    def save(self, row: ContainerRow) -> None:
        sets = ", ".join(f"{c} = ?" for c in COLUMNS[1:])
        values = row.to_db()
        self.db.execute(f"UPDATE containers SET {sets} WHERE id = ?", *values[1:], values[0])

    def delete(self, container_id: str) -> None:
        self.db.execute("DELETE FROM containers WHERE id = ?", container_id)
