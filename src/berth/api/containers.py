"""Container routes (Docker Engine API): create, start, stop, kill, wait, rm, ps, inspect,
logs, attach, resize, pause, unpause, restart.

=================================================  =======================================
route                                              answer
=================================================  =======================================
POST   /containers/create?name=                     201 {"Id", "Warnings"}
GET    /containers/json?all=&limit=&size=&filters=  [ContainerSummary]
GET    /containers/{id}/json?size=                  ContainerInspect
POST   /containers/{id}/start                       204 (304 when already running)
POST   /containers/{id}/stop?t=&signal=             204 (304 when not running)
POST   /containers/{id}/restart?t=                  204
POST   /containers/{id}/kill?signal=                204
POST   /containers/{id}/wait?condition=             {"StatusCode", "Error"}
DELETE /containers/{id}?force=&v=                   204
GET    /containers/{id}/logs?...                    stream (stdcopy frames, raw with a TTY)
POST   /containers/{id}/attach?stream=&stdin=...    hijacked stream
POST   /containers/{id}/resize?h=&w=                200
POST   /containers/{id}/pause, /unpause             204
=================================================  =======================================

With ``size=1`` a summary or inspect document carries ``SizeRw`` and ``SizeRootFs``;
``/system/df`` lists every container with both. A create with ``berthRun=1`` (berth's
own CLI, asking to upgrade) is a whole ``docker run``: see berth.api.run_session.
"""

from __future__ import annotations

import os

from berth.api.response import MULTIPLEXED_STREAM, RAW_STREAM, Hijack, Stream, json_response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from berth.api.request import Request
    from berth.api.router import Router
    from berth.api.server import Hijacked
    from berth.engine.containers.service import ContainerService
    from berth.engine.daemon import Daemon


def container_service(daemon: Daemon) -> ContainerService:
    """The daemon's one container service (with its image service and network manager)."""

    from berth.api.images import _service as image_service

    # Taken before daemon.service(): its factory runs under a lock that
    # daemon.service("images") would take again.
    images = image_service(daemon)

    def make() -> ContainerService:
        from berth.engine.containers.service import ContainerService
        from berth.store.db import Database

        cfg = daemon.config
        db = Database(os.path.join(cfg.data_root, "berth.db"))
        network = _network_manager(daemon, db)
        from berth.engine.volumes.service import VolumeService

        volumes = VolumeService(cfg.data_root, cfg.exec_root, db, events=daemon.events)
        svc = ContainerService(
            cfg.data_root,
            cfg.exec_root,
            db,
            images,
            network=network,
            events=daemon.events,
            cgroup_parent=cfg.cgroup_parent,
            volumes=volumes,
        )
        volumes.attach(svc)
        if network is not None:
            network.start({r.id for r in svc.rows.values() if r.state.get("Running")})
            daemon.on_shutdown(network.close)
        from berth.engine.containers.restart import RestartManager

        svc.restarts = RestartManager(svc).install()
        from berth.api.exec import exec_service
        from berth.engine.containers.health import HealthManager

        health = HealthManager(svc, lambda: exec_service(daemon)).install()
        svc.recover()
        health.boot()
        daemon.on_shutdown(health.close)
        daemon.on_shutdown(svc.close)
        return svc

    svc: ContainerService = daemon.service("containers", make)
    return svc


def _network_manager(daemon: Daemon, db: Any) -> Any:
    if os.environ.get("BERTH_NO_NETWORK"):
        return None
    from berth.engine.config import DEFAULT_ROOT
    from berth.network.manager import NetworkManager, engine_names

    cfg = daemon.config
    bridge, table = engine_names(cfg.data_root, DEFAULT_ROOT)
    subnet = gateway = None
    if cfg.bip:  # "172.17.0.1/16": the default bridge's address and subnet
        from berth.network import ipam

        address, _, plen = cfg.bip.partition("/")
        subnet = str(ipam.Subnet.parse(f"{address}/{plen or 16}"))
        gateway = address
    return NetworkManager(
        db,
        cfg.exec_root,
        table=table,
        default_bridge=bridge,
        default_subnet=subnet,
        default_gateway=gateway,
        dns=cfg.dns,
        dns_search=cfg.dns_search,
        dns_options=cfg.dns_opts,
    )


def boot(daemon: Daemon) -> None:
    """At daemon start: reconcile with the monitor, then apply the restart policies.

    An engine without containers skips it (and so does not set up networking
    before a container needs it).
    """
    root = daemon.config.data_root
    if not any(_entries(os.path.join(root, d)) for d in ("containers", "trash")):
        return
    container_service(daemon).restarts.boot()


def _entries(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except FileNotFoundError:
        return []


def register(router: Router, daemon: Daemon) -> None:
    def svc() -> ContainerService:
        return container_service(daemon)

    daemon.on_start(lambda: boot(daemon))

    def disk_usage(df: dict[str, Any]) -> None:
        from berth.engine.containers.views import summary

        try:  # no containers: nothing to list (and no container service to start for it)
            if not os.listdir(os.path.join(daemon.config.data_root, "containers")):
                return
        except FileNotFoundError:
            return
        s = svc()
        with s.lock:
            rows = sorted(s.rows.values(), key=lambda r: r.created, reverse=True)
            docs = [(r, summary(r)) for r in rows]
        for r, doc in docs:
            doc["SizeRw"], doc["SizeRootFs"] = s.sizes(r)
            df["Containers"].append(doc)

    daemon.add_df_provider(disk_usage)

    def create(req: Request) -> object:
        body = req.json_object()
        s = svc()
        answer = s.create(body, req.arg("name") or None)
        if req.arg_bool("berthRun") and req.head.wants_upgrade:
            from berth.api.run_session import run_session

            return run_session(s, req, answer)
        return json_response(answer, 201)

    def list_(req: Request) -> object:
        from berth.engine.containers.views import LIST_FILTERS, matches, summary

        s = svc()
        filters = {k: sorted(v) for k, v in req.filters(LIST_FILTERS).fields.items()}
        show_all = req.arg_bool("all")
        limit = req.arg_int("limit", -1)
        with s.lock:
            rows = sorted(s.rows.values(), key=lambda r: r.created, reverse=True)
            out = []
            for r in rows:
                if not show_all and not r.state.get("Running") and "status" not in filters:
                    continue
                if not matches(r, filters, rows):
                    continue
                out.append((r, summary(r)))
        if limit > 0:
            out = out[:limit]
        if req.arg_bool("size"):  # walked outside the lock
            for r, doc in out:
                doc["SizeRw"], doc["SizeRootFs"] = s.sizes(r)
        return [doc for _, doc in out]

    def inspect(req: Request) -> object:
        from berth.api.exec import exec_service
        from berth.engine.containers.views import inspect as view

        s = svc()
        row = s.find(req.params["id"])
        doc = view(row, s.root)
        doc["ExecIDs"] = exec_service(daemon).running_ids(doc["Id"]) or None
        if req.arg_bool("size"):
            doc["SizeRw"], doc["SizeRootFs"] = s.sizes(row)
        return doc

    def start(req: Request) -> object:
        svc().start(req.params["id"])
        return None

    def stop(req: Request) -> object:
        t = req.arg("t")
        svc().stop(
            req.params["id"], int(t) if t not in (None, "") else None, req.arg("signal") or None
        )
        return None

    def restart(req: Request) -> object:
        t = req.arg("t")
        svc().restart(req.params["id"], int(t) if t not in (None, "") else None)
        return None

    def kill(req: Request) -> object:
        svc().kill(req.params["id"], req.arg("signal") or "KILL")
        return None

    def wait(req: Request) -> object:
        from berth.engine.containers.waiting import ExitWaiter

        s = svc()
        waiter = ExitWaiter(s, s.find(req.params["id"]), req.arg("condition") or "not-running")

        def answer() -> Iterator[object]:
            # the head goes out now (clients send start once they have it, as with
            # Docker); heartbeats until then let the server notice a client gone
            while True:
                doc = waiter.wait(1.0)
                if doc is not None:
                    yield doc
                    return
                yield None

        return Stream(answer())

    def remove(req: Request) -> object:
        svc().remove(req.params["id"], force=req.arg_bool("force"), volumes=req.arg_bool("v"))
        return None

    def pause(req: Request) -> object:
        svc().pause(req.params["id"])
        return None

    def unpause(req: Request) -> object:
        svc().unpause(req.params["id"])
        return None

    def resize(req: Request) -> object:
        svc().resize(req.params["id"], req.arg_int("h", 0), req.arg_int("w", 0))
        return {}

    def logs(req: Request) -> object:
        from berth.cli.timeutil import get_timestamp

        s = svc()
        row = s.find(req.params["id"])

        def when(name: str) -> float:
            value = req.arg(name)
            if not value:
                return 0.0
            try:
                return float(value)
            except ValueError:
                import time

                return float(get_timestamp(value, time.time()))

        items = s.logs(
            row.id,
            stdout=req.arg_bool("stdout"),
            stderr=req.arg_bool("stderr"),
            follow=req.arg_bool("follow"),
            timestamps=req.arg_bool("timestamps"),
            tail=req.arg("tail") or "all",
            since=when("since"),
            until=when("until"),
        )
        kind = RAW_STREAM if row.config.get("Tty") else MULTIPLEXED_STREAM
        return Stream(items, content_type=kind, separator=b"")

    def attach(req: Request) -> object:
        from berth.api.detachkeys import EscapeProxy, from_request

        s = svc()
        row = s.find(req.params["id"])
        stdin = req.arg_bool("stdin")
        stdout = req.arg_bool("stdout")
        stderr = req.arg_bool("stderr")
        sequence = from_request(req.arg("detachKeys"))
        sock, rest, tty = s.attach_stream(row.id, stdin, stdout, stderr)
        # with a terminal the engine watches for the detach keys too, as Docker's does
        proxy = EscapeProxy(sequence) if tty and stdin else None

        def run(conn: Hijacked) -> None:
            from berth.api.hijack import pump

            try:
                how = pump(conn, sock, rest, stdin=stdin, proxy=proxy)
            finally:
                sock.close()
            if how == "detached":
                s._publish(row, "detach")

        return Hijack(run, RAW_STREAM if tty else MULTIPLEXED_STREAM)

    router.add("POST", "/containers/create", create)
    router.add("GET", "/containers/json", list_)
    router.add("GET", "/containers/{id}/json", inspect)
    router.add("POST", "/containers/{id}/start", start)
    router.add("POST", "/containers/{id}/stop", stop)
    router.add("POST", "/containers/{id}/restart", restart)
    router.add("POST", "/containers/{id}/kill", kill)
    router.add("POST", "/containers/{id}/wait", wait)
    router.add("DELETE", "/containers/{id}", remove)
    router.add("POST", "/containers/{id}/pause", pause)
    router.add("POST", "/containers/{id}/unpause", unpause)
    router.add("POST", "/containers/{id}/resize", resize)
    router.add("GET", "/containers/{id}/logs", logs)
    router.add("POST", "/containers/{id}/attach", attach)
