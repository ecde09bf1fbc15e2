"""Image metadata in berth.db (component ``images``): tables, migrations, queries.

Schema version 1::

    images(id PK            image ID = digest of the config blob
           manifest         digest of the manifest blob berth pushes/saves (may be NULL)
           created          the config's "created" (RFC 3339 text, may be "")
           size             bytes of the unpacked layers
           added            unix time the image entered the store
           last_tag_time    unix time of the last tag (Docker's Metadata.LastTagTime)
           parent           image ID of the parent (local builds/commits), or "")
    image_layers(image_id, idx, chain_id, diff_id, blob, media_type, blob_size)
                            the layer stack, bottom first; blob = compressed blob digest
    tags(name PK, image_id) name is a normalised reference with a tag
                            ("docker.io/library/busybox:latest")
    repo_digests(name, digest, image_id)  "docker.io/library/busybox" + manifest digest
    snapshots(chain_id PK, diff_id, size, created)  unpacked layers
    container_refs(container_id PK, image_id)        images that containers use
    leases(id PK, pid, created, expires)             protect in-flight work from GC
    lease_resources(lease_id, kind, key)             kind: "blob" | "snapshot" | "image"

Migrations are append-only: add a step to ``IMAGES`` to change the schema.
"""

from __future__ import annotations

import time

from berth.store.db import Database, Migrations

IMAGES = Migrations(
    "images",
    [
        """
        CREATE TABLE images (
            id TEXT PRIMARY KEY,
            manifest TEXT,
            created TEXT NOT NULL DEFAULT '',
            size INTEGER NOT NULL DEFAULT 0,
            added REAL NOT NULL,
            last_tag_time REAL,
            parent TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE image_layers (
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            chain_id TEXT NOT NULL,
            diff_id TEXT NOT NULL,
            blob TEXT,
            media_type TEXT,
            blob_size INTEGER,
            PRIMARY KEY (image_id, idx)
        );
        CREATE INDEX image_layers_chain ON image_layers(chain_id);
        CREATE TABLE tags (
            name TEXT PRIMARY KEY,
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
        );
        CREATE INDEX tags_image ON tags(image_id);
        CREATE TABLE repo_digests (
            name TEXT NOT NULL,
            digest TEXT NOT NULL,
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            PRIMARY KEY (name, digest)
        );
        CREATE TABLE snapshots (
            chain_id TEXT PRIMARY KEY,
            diff_id TEXT NOT NULL,
            size INTEGER NOT NULL,
            created REAL NOT NULL
        );
        CREATE TABLE container_refs (
            container_id TEXT PRIMARY KEY,
            image_id TEXT NOT NULL
        );
        CREATE INDEX container_refs_image ON container_refs(image_id);
        CREATE TABLE leases (
            id TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            created REAL NOT NULL,
            expires REAL NOT NULL
        );
        CREATE TABLE lease_resources (
            lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            PRIMARY KEY (lease_id, kind, key)
        );
        """
    ],
)


class LayerRow:
    __slots__ = ("blob", "blob_size", "chain_id", "diff_id", "media_type")

    def __init__(
        self,
        chain_id: str,
        diff_id: str,
        blob: str | None,
        media_type: str | None,
        blob_size: int | None,
    ) -> None:
        self.chain_id = chain_id
        self.diff_id = diff_id
        self.blob = blob
        self.media_type = media_type
        self.blob_size = blob_size


class ImageDB:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate(IMAGES)

    # -- images -------------------------------------------------------------------
    def put_image(
        self,
        image_id: str,
        manifest: str | None,
        created: str,
        layers: list[LayerRow],
        size: int,
        parent: str = "",
    ) -> bool:
        """Record an image (idempotent); return True if it is new."""
        with self.db.transaction() as tx:
            row = tx.query("SELECT manifest FROM images WHERE id = ?", (image_id,))
            if row:
                if manifest and not row[0]["manifest"]:
                    tx.execute("UPDATE images SET manifest = ? WHERE id = ?", (manifest, image_id))
                return False
            tx.execute(
                "INSERT INTO images (id, manifest, created, size, added, parent)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (image_id, manifest, created, size, time.time(), parent),
            )
            tx.executemany(
                "INSERT INTO image_layers VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (image_id, i, lr.chain_id, lr.diff_id, lr.blob, lr.media_type, lr.blob_size)
                    for i, lr in enumerate(layers)
                ],
            )
            return True

    def set_manifest(self, image_id: str, manifest: str, layers: list[LayerRow]) -> None:
        with self.db.transaction() as tx:
            tx.execute("UPDATE images SET manifest = ? WHERE id = ?", (manifest, image_id))
            for i, lr in enumerate(layers):
                tx.execute(
                    "UPDATE image_layers SET blob = ?, media_type = ?, blob_size = ?"
                    " WHERE image_id = ? AND idx = ?",
                    (lr.blob, lr.media_type, lr.blob_size, image_id, i),
                )

    def image(self, image_id: str) -> dict[str, object] | None:
        row = self.db.query_one("SELECT * FROM images WHERE id = ?", image_id)
        return dict(row) if row else None

    def images(self) -> list[dict[str, object]]:
        return [dict(r) for r in self.db.query("SELECT * FROM images ORDER BY added")]

    def ids_with_prefix(self, prefix: str) -> list[str]:
        rows = self.db.query(
            "SELECT id FROM images WHERE id >= ? AND id < ?", prefix, prefix + "\U0010ffff"
        )
        return [r["id"] for r in rows]

    def layers(self, image_id: str) -> list[LayerRow]:
        rows = self.db.query(
            "SELECT chain_id, diff_id, blob, media_type, blob_size FROM image_layers"
            " WHERE image_id = ? ORDER BY idx",
            image_id,
        )
        return [LayerRow(*tuple(r)) for r in rows]

    def blob_for_diff(self, diff_id: str) -> LayerRow | None:
        row = self.db.query_one(
            "SELECT chain_id, diff_id, blob, media_type, blob_size FROM image_layers"
            " WHERE diff_id = ? AND blob IS NOT NULL LIMIT 1",
            diff_id,
        )
        return LayerRow(*tuple(row)) if row else None

    def delete_image(self, image_id: str) -> None:
        with self.db.transaction() as tx:
            tx.execute("DELETE FROM images WHERE id = ?", (image_id,))

    # -- names --------------------------------------------------------------------
    def tag(self, name: str, image_id: str) -> str | None:
        """Point ``name`` at ``image_id``; return the image it pointed at before."""
        with self.db.transaction() as tx:
            old = tx.query("SELECT image_id FROM tags WHERE name = ?", (name,))
            tx.execute(
                "INSERT INTO tags (name, image_id) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                (name, image_id),
            )
            tx.execute("UPDATE images SET last_tag_time = ? WHERE id = ?", (time.time(), image_id))
            return str(old[0]["image_id"]) if old else None

    def untag(self, name: str) -> bool:
        return self.db.execute("DELETE FROM tags WHERE name = ?", name) > 0

    def tag_target(self, name: str) -> str | None:
        row = self.db.query_one("SELECT image_id FROM tags WHERE name = ?", name)
        return str(row["image_id"]) if row else None

    def tags_of(self, image_id: str) -> list[str]:
        rows = self.db.query("SELECT name FROM tags WHERE image_id = ? ORDER BY name", image_id)
        return [r["name"] for r in rows]

    def all_tags(self) -> list[tuple[str, str]]:
        return [(r["name"], r["image_id"]) for r in self.db.query("SELECT * FROM tags")]

    def add_repo_digest(self, name: str, digest: str, image_id: str) -> None:
        self.db.execute(
            "INSERT INTO repo_digests (name, digest, image_id) VALUES (?, ?, ?)"
            " ON CONFLICT(name, digest) DO UPDATE SET image_id = excluded.image_id",
            name,
            digest,
            image_id,
        )

    def repo_digests_of(self, image_id: str) -> list[tuple[str, str]]:
        rows = self.db.query(
            "SELECT name, digest FROM repo_digests WHERE image_id = ? ORDER BY name", image_id
        )
        return [(r["name"], r["digest"]) for r in rows]

    def by_repo_digest(self, name: str, digest: str) -> str | None:
        row = self.db.query_one(
            "SELECT image_id FROM repo_digests WHERE name = ? AND digest = ?", name, digest
        )
        return str(row["image_id"]) if row else None

    def remove_repo_digests(self, image_id: str, name: str | None = None) -> None:
        if name is None:
            self.db.execute("DELETE FROM repo_digests WHERE image_id = ?", image_id)
        else:
            self.db.execute(
                "DELETE FROM repo_digests WHERE image_id = ? AND name = ?", image_id, name
            )

    # -- snapshots ----------------------------------------------------------------
    def put_snapshot(self, chain_id: str, diff_id: str, size: int) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO snapshots (chain_id, diff_id, size, created)"
            " VALUES (?, ?, ?, ?)",
            chain_id,
            diff_id,
            size,
            time.time(),
        )

    def snapshot_size(self, chain_id: str) -> int | None:
        row = self.db.query_one("SELECT size FROM snapshots WHERE chain_id = ?", chain_id)
        return int(row["size"]) if row else None

    def snapshots(self) -> list[str]:
        return [r["chain_id"] for r in self.db.query("SELECT chain_id FROM snapshots")]

    def delete_snapshot(self, chain_id: str) -> None:
        self.db.execute("DELETE FROM snapshots WHERE chain_id = ?", chain_id)

    # -- references from containers -------------------------------------------------
    def add_container_ref(self, container_id: str, image_id: str) -> None:
        self.db.execute(
            "INSERT INTO container_refs (container_id, image_id) VALUES (?, ?)"
            " ON CONFLICT(container_id) DO UPDATE SET image_id = excluded.image_id",
            container_id,
            image_id,
        )

    def remove_container_ref(self, container_id: str) -> None:
        self.db.execute("DELETE FROM container_refs WHERE container_id = ?", container_id)

    def containers_using(self, image_id: str) -> list[str]:
        rows = self.db.query(
            "SELECT container_id FROM container_refs WHERE image_id = ? ORDER BY container_id",
            image_id,
        )
        return [r["container_id"] for r in rows]

    def container_counts(self) -> dict[str, int]:
        rows = self.db.query("SELECT image_id, count(*) AS n FROM container_refs GROUP BY image_id")
        return {r["image_id"]: int(r["n"]) for r in rows}

    # -- leases -------------------------------------------------------------------
    def create_lease(self, lease_id: str, pid: int, ttl: float) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO leases (id, pid, created, expires) VALUES (?, ?, ?, ?)",
            lease_id,
            pid,
            now,
            now + ttl,
        )

    def lease_add(self, lease_id: str, kind: str, key: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO lease_resources (lease_id, kind, key) VALUES (?, ?, ?)",
            lease_id,
            kind,
            key,
        )

    def delete_lease(self, lease_id: str) -> None:
        self.db.execute("DELETE FROM leases WHERE id = ?", lease_id)

    def leased(self, is_alive: object) -> set[tuple[str, str]]:
        """(kind, key) held by live leases; leases of dead processes or expired are dropped."""
        now = time.time()
        live: set[tuple[str, str]] = set()
        dead: list[str] = []
        check = is_alive if callable(is_alive) else (lambda pid: True)
        for lease in self.db.query("SELECT id, pid, expires FROM leases"):
            if lease["expires"] < now or not check(int(lease["pid"])):
                dead.append(lease["id"])
        for lease_id in dead:
            self.delete_lease(lease_id)
        for r in self.db.query("SELECT kind, key FROM lease_resources"):
            live.add((r["kind"], r["key"]))
        return live
