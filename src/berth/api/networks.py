"""Network routes (Docker Engine API): list, inspect, create, remove, connect, disconnect,
prune.

=================================================  =======================================
route                                              answer
=================================================  =======================================
GET    /networks?filters=                           [Network] (Containers empty, as Docker)
GET    /networks/{id}?verbose=&scope=               Network (with its Containers)
POST   /networks/create                             201 {"Id", "Warning"}
DELETE /networks/{id}                               204
POST   /networks/{id}/connect  {Container, EndpointConfig}   200
POST   /networks/{id}/disconnect  {Container, Force}         200
POST   /networks/prune?filters=                     {"NetworksDeleted": [names]}
=================================================  =======================================

The work is done by :mod:`berth.engine.containers.networking` (which needs
the container service: connect and disconnect change containers) on the
daemon's :class:`~berth.network.manager.NetworkManager`.
"""

from __future__ import annotations

from berth.api.response import Response, json_response
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.api.request import Request
    from berth.api.router import Router
    from berth.engine.containers.service import ContainerService
    from berth.engine.daemon import Daemon
    from berth.network.manager import NetworkManager


def register(router: Router, daemon: Daemon) -> None:
    def svc() -> ContainerService:
        from berth.api.containers import container_service

        return container_service(daemon)

    def manager() -> NetworkManager:
        from berth.engine.containers.networking import _manager

        return _manager(svc())

    def filters(req: Request) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in req.filters().fields.items()}

    def list_(req: Request) -> object:
        return manager().list_networks(filters(req))

    def inspect(req: Request) -> object:
        return manager().inspect_network(req.params["id"])

    def create(req: Request) -> object:
        from berth.engine.containers.networking import create_network

        return json_response(create_network(svc(), req.json_object()), 201)

    def remove(req: Request) -> object:
        from berth.engine.containers.networking import remove_network

        remove_network(svc(), req.params["id"])
        return None

    def connect(req: Request) -> object:
        from berth.engine.containers.networking import connect as do_connect

        body = req.json_object()
        container = body.get("Container")
        if not isinstance(container, str) or not container:
            raise InvalidArgument("no container given to connect (Container)")
        endpoint = body.get("EndpointConfig") or {}
        if not isinstance(endpoint, dict):
            raise InvalidArgument("EndpointConfig: expected an object")
        do_connect(svc(), container, req.params["id"], endpoint)
        return Response(200)

    def disconnect(req: Request) -> object:
        from berth.engine.containers.networking import disconnect as do_disconnect

        body = req.json_object()
        container = body.get("Container")
        if not isinstance(container, str) or not container:
            raise InvalidArgument("no container given to disconnect (Container)")
        do_disconnect(svc(), container, req.params["id"], force=bool(body.get("Force")))
        return Response(200)

    def prune(req: Request) -> object:
        from berth.engine.containers.networking import prune_networks

        return {"NetworksDeleted": prune_networks(svc(), filters(req))}

    router.add("GET", "/networks", list_)
    router.add("GET", "/networks/{id}", inspect)
    router.add("POST", "/networks/create", create)
    router.add("POST", "/networks/prune", prune)
    router.add("DELETE", "/networks/{id}", remove)
    router.add("POST", "/networks/{id}/connect", connect)
    router.add("POST", "/networks/{id}/disconnect", disconnect)
