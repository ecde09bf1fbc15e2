"""berthd's Engine API: Docker's HTTP API, served on a unix socket.

Layout:

- ``http``: the wire format (request heads, bodies, limits); ``server``: the
  threaded HTTP/1.1 server (keep-alive, chunked streams, hijacking);
- ``app``: versions, routing, Docker's headers and error bodies;
  ``router``: path patterns; ``request`` / ``response``: what handlers get
  and return; ``errors``: the one place exceptions become HTTP statuses;
- ``stdcopy``: Docker's stdout/stderr multiplexing (both sides use it);
- ``versions``: berth's version, the API version range, build facts;
- one module of routes per area: ``system`` (``/_ping``, ``/version``,
  ``/info``, ``/events``, ``/system/df``); images, containers, networks and
  volumes add theirs the same way.

Adding the routes of an area
----------------------------

1. Write ``berth/api/<area>.py`` with ``register(router, daemon)``; it
   builds the area's service once (``daemon.service("images", factory)``)
   and adds one handler per endpoint::

       def register(router: Router, daemon: Daemon) -> None:
           images = daemon.service("images", lambda: ImageService(daemon))

           def inspect(req: Request) -> object:
               return images.inspect(req.params["name"])      # dict -> 200 JSON

           def remove(req: Request) -> object:
               return images.remove(req.params["name"], force=req.arg_bool("force"))

           router.add("GET", "/images/{name:path}/json", inspect)
           router.add("DELETE", "/images/{name:path}", remove)

2. Add ``"berth.api.<area>"`` to ``ROUTE_MODULES`` in ``berth/api/app.py``.

A handler parses (``req.params``, ``req.arg``/``arg_bool``/``arg_int``,
``req.filters(accepted)``, ``req.json_object()``), calls one engine
function, and returns: a JSON-able value (200), ``None`` (204), a
``Response`` (any status: ``json_response(doc, 201)``), a ``Stream``
(chunked JSON messages: pulls, logs, stats), or a ``Hijack`` (attach,
exec). It raises ``berth.errors`` for failures -- never builds an error
response itself. Paths are Docker's, without the ``/vX.Y`` prefix; the
version asked for is ``req.version`` (``req.version_at_least("1.42")``).
"""
