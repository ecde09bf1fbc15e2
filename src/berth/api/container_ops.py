"""Container routes (Docker Engine API): top, stats, rename, update, prune.

=================================================  =======================================
route                                              answer
=================================================  =======================================
GET    /containers/{id}/top?ps_args=                {"Titles", "Processes"}
GET    /containers/{id}/stats?stream=&one-shot=     StatsJSON stream (one document when
                                                    ``stream=false``)
POST   /containers/{id}/rename?name=                204
POST   /containers/{id}/update                      {"Warnings"} (body: resources,
                                                    RestartPolicy)
POST   /containers/prune?filters=                   {"ContainersDeleted", "SpaceReclaimed"}
=================================================  =======================================
"""

from __future__ import annotations

from berth.api.response import Stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from berth.api.request import Request
    from berth.api.router import Router
    from berth.engine.containers.service import ContainerService
    from berth.engine.daemon import Daemon


def register(router: Router, daemon: Daemon) -> None:
    def svc() -> ContainerService:
        from berth.api.containers import container_service

        return container_service(daemon)

    def top(req: Request) -> object:
        from berth.engine.containers.top import top as ps_top
        from berth.errors import Conflict

        s = svc()
        row = s.find(req.params["id"])
        if not row.state.get("Running"):
            raise Conflict(f"container {row.id} is not running")
        if row.state.get("Restarting"):
            raise Conflict(f"Container {row.id} is restarting, wait until the container is running")
        cg = s._cgroup(row)
        pids = cg.procs() if cg is not None else [int(row.state.get("Pid") or 0)]
        answer = ps_top(pids, req.arg("ps_args") or "")
        s._publish(row, "top")
        return answer

    def stats(req: Request) -> object:
        from berth.engine.containers.stats import stats as sample_stats

        s = svc()
        row = s.find(req.params["id"])
        stream = req.arg_bool("stream", True)
        one_shot = req.arg_bool("one-shot", False) and not stream  # as Docker: else ignored
        docs = sample_stats(s, row, stream=stream, one_shot=one_shot)
        if not stream:
            return next(iter(docs))

        def items() -> Iterator[object]:
            yield from docs

        return Stream(items())

    def rename(req: Request) -> object:
        from berth.engine.containers.ops import rename as do_rename

        do_rename(svc(), req.params["id"], req.arg("name") or "")
        return None

    def update(req: Request) -> object:
        from berth.engine.containers.ops import update as do_update

        return do_update(svc(), req.params["id"], req.json_object())

    def prune(req: Request) -> object:
        from berth.engine.containers.ops import prune as do_prune

        return do_prune(svc(), req.filters())

    router.add("GET", "/containers/{id}/top", top)
    router.add("GET", "/containers/{id}/stats", stats)
    router.add("POST", "/containers/{id}/rename", rename)
    router.add("POST", "/containers/{id}/update", update)
    router.add("POST", "/containers/prune", prune)
