"""Volume routes (Docker Engine API).

=============================================  ===========================================
route                                          answer
=============================================  ===========================================
GET    /volumes?filters=                       {"Volumes": [Volume], "Warnings": []}
POST   /volumes/create                         201 Volume
GET    /volumes/{name}                         Volume
DELETE /volumes/{name}?force=                  204 (409 when in use)
POST   /volumes/prune?filters=                 {"VolumesDeleted", "SpaceReclaimed"}
=============================================  ===========================================

``prune`` removes unused *anonymous* volumes unless ``filters`` has
``all=true``; a client speaking API < 1.42 gets Docker 20.10's behaviour
(every unused volume), as Docker does.
"""

from __future__ import annotations

import os

from berth.api.response import json_response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.api.request import Request
    from berth.api.router import Router
    from berth.engine.daemon import Daemon
    from berth.engine.volumes.service import VolumeService


def volume_service(daemon: Daemon) -> VolumeService:
    """The daemon's volume service (owned by its container service)."""
    from berth.api.containers import container_service

    vols: VolumeService = container_service(daemon).volumes
    return vols


def register(router: Router, daemon: Daemon) -> None:
    def svc() -> VolumeService:
        return volume_service(daemon)

    def list_(req: Request) -> object:
        return svc().list_volumes(req.filters())

    def create(req: Request) -> object:
        return json_response(svc().create(req.json_object()), 201)

    def inspect(req: Request) -> object:
        return svc().inspect(req.params["name"])

    def remove(req: Request) -> object:
        svc().remove(req.params["name"], force=req.arg_bool("force"))
        return None

    def prune(req: Request) -> object:
        return svc().prune(req.filters(), all_volumes=not req.version_at_least("1.42"))

    def df(doc: dict[str, Any]) -> None:
        try:
            if not os.listdir(os.path.join(daemon.config.data_root, "volumes")):
                return
        except FileNotFoundError:
            return
        doc["Volumes"] = svc().disk_usage()

    daemon.add_df_provider(df)
    router.add("GET", "/volumes", list_)
    router.add("POST", "/volumes/create", create)
    router.add("POST", "/volumes/prune", prune)
    router.add("GET", "/volumes/{name}", inspect)
    router.add("DELETE", "/volumes/{name}", remove)
