"""The network component's tables in berth's database (``berth.store.db``).

Schema (component ``networks``, version 2)::

    networks   id PK, name UNIQUE, bridge UNIQUE, subnet, gateway, internal,
               is_default, doc (the Network record's JSON, without Containers)
    sandboxes  container_id PK, name, hostname, mode, netns (path or ''), dns (0/1)
    endpoints  id PK, network_id -> networks, container_id -> sandboxes (cascade),
               ifname (eth0..), host_ifname (veth on the bridge), address, prefixlen,
               mac, aliases (JSON array); UNIQUE(network_id, container_id),
               UNIQUE(network_id, address)   <- IPAM: no address is handed out twice
    ports      container_id -> sandboxes (cascade), proto, host_ip ('' = all),
               host_port, container_ip, container_port; PK(proto, host_ip, host_port)

Version 2 adds ``network_meta`` (key PK, value): ``nft_table`` is the name of
the nft table this engine installed, so that whoever uninstalls the engine
(``berth.engine.teardown``) removes that table and no other.

IPAM's allocations are the endpoints' addresses plus each network's gateway;
an address is allocated by inserting the endpoint row in the same
transaction that read the taken ones, so concurrent starts cannot collide.
Migrations are append-only (see :mod:`berth.store.db`).
"""

from __future__ import annotations

from berth.store.db import Migrations

MIGRATIONS = Migrations(
    "networks",
    [
        """
        CREATE TABLE networks (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            bridge TEXT NOT NULL UNIQUE,
            subnet TEXT NOT NULL,
            gateway TEXT NOT NULL,
            internal INTEGER NOT NULL DEFAULT 0,
            is_default INTEGER NOT NULL DEFAULT 0,
            doc TEXT NOT NULL
        );
        CREATE TABLE sandboxes (
            container_id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            hostname TEXT NOT NULL DEFAULT '',
            mode TEXT NOT NULL,
            netns TEXT NOT NULL DEFAULT '',
            dns INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE endpoints (
            id TEXT PRIMARY KEY,
            network_id TEXT NOT NULL REFERENCES networks(id),
            container_id TEXT NOT NULL REFERENCES sandboxes(container_id) ON DELETE CASCADE,
            ifname TEXT NOT NULL,
            host_ifname TEXT NOT NULL UNIQUE,
            address TEXT NOT NULL,
            prefixlen INTEGER NOT NULL,
            mac TEXT NOT NULL,
            aliases TEXT NOT NULL DEFAULT '[]',
            UNIQUE (network_id, container_id),
            UNIQUE (network_id, address)
        );
        CREATE INDEX endpoints_container ON endpoints(container_id);
        CREATE TABLE ports (
            container_id TEXT NOT NULL REFERENCES sandboxes(container_id) ON DELETE CASCADE,
            proto TEXT NOT NULL,
            host_ip TEXT NOT NULL,
            host_port INTEGER NOT NULL,
            container_ip TEXT NOT NULL,
            container_port INTEGER NOT NULL,
            PRIMARY KEY (proto, host_ip, host_port)
        );
        CREATE INDEX ports_container ON ports(container_id);
        """,
        """
        CREATE TABLE network_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ],
)
