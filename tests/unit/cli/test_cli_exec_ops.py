"""exec / update / rename / prune / top / stats commands against an in-process fake API:
the requests docker's CLI would send, and docker's output and exit codes."""

from __future__ import annotations

from typing import Any

import pytest

from berth.api.request import Request
from berth.api.response import Response
from berth.api.router import Router
from berth.cli.main import main
from berth.cli.statsformat import StatsRow, cpu_percent, memory_usage, render
from berth.cli.units import size3
from berth.errors import Conflict, NotFound
from support.engine_server import serving

CID = "0123456789ab" + "c" * 52


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


class Fake:
    """Records the bodies it gets; answers as the engine would."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, Any]] = []

    def register(self, router: Router) -> None:
        def inspect(req: Request) -> object:
            if req.params["id"] not in ("web", CID):
                raise NotFound(f"No such container: {req.params['id']}")
            return {"Id": CID, "Name": "/web", "State": {"Running": True}, "Config": {}}

        def update(req: Request) -> object:
            self.bodies.append(("update", req.json_object()))
            if req.params["id"] == "bad":
                raise Conflict("Cannot update container bad: no")
            return {"Warnings": ["careful"] if req.params["id"] == "warn" else []}

        def rename(req: Request) -> object:
            self.bodies.append(("rename", req.arg("name")))
            if req.arg("name") == "taken":
                raise Conflict('Conflict. The container name "/taken" is already in use')
            return None

        def prune(req: Request) -> object:
            self.bodies.append(("prune", req.arg("filters")))
            return {"ContainersDeleted": [CID], "SpaceReclaimed": 1500}

        def exec_create(req: Request) -> object:
            self.bodies.append(("exec", req.json_object()))
            from berth.api.response import json_response

            return json_response({"Id": "e" * 64}, 201)

        def exec_start(req: Request) -> object:
            self.bodies.append(("start", req.json_object()))
            return Response(200)

        def top(req: Request) -> object:
            self.bodies.append(("top", req.arg("ps_args")))
            return {"Titles": ["PID", "CMD"], "Processes": [["1", "sleep 60"]]}

        def stats(req: Request) -> object:
            self.bodies.append(("stats", req.arg("stream")))
            return STATS

        router.add("GET", "/containers/{id}/json", inspect)
        router.add("POST", "/containers/{id}/update", update)
        router.add("POST", "/containers/{id}/rename", rename)
        router.add("POST", "/containers/prune", prune)
        router.add("POST", "/containers/{id}/exec", exec_create)
        router.add("POST", "/exec/{id}/start", exec_start)
        router.add("GET", "/containers/{id}/top", top)
        router.add("GET", "/containers/{id}/stats", stats)


STATS = {
    "name": "/web",
    "id": CID,
    "cpu_stats": {
        "cpu_usage": {"total_usage": 3_000_000_000},
        "system_cpu_usage": 20_000_000_000,
        "online_cpus": 2,
    },
    "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}, "system_cpu_usage": 10**10},
    "memory_stats": {"usage": 10 * 1024 * 1024, "limit": 100 * 1024 * 1024, "stats": {}},
    "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 20}, "eth1": {"rx_bytes": 500}},
    "blkio_stats": {
        "io_service_bytes_recursive": [
            {"op": "Read", "value": 4096},
            {"op": "write", "value": 2_500_000},
            {"op": "Total", "value": 9},
        ]
    },
    "pids_stats": {"current": 4},
}


@pytest.fixture
def fake() -> Any:
    f = Fake()
    with serving(f.register) as (path, _):
        f.host = f"unix://{path}"
        yield f


def test_update_sends_only_the_given_flags(fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "-H",
        fake.host,
        "update",
        "-m",
        "64m",
        "--memory-swap",
        "-1",
        "--cpus",
        "1.5",
        "--pids-limit",
        "-1",
        "--restart",
        "on-failure:3",
        "web",
        "warn",
    )
    assert (code, out, err) == (0, "web\nwarn\ncareful\n", "")
    body = fake.bodies[0][1]
    assert body == {
        "Memory": 64 * 1024 * 1024,
        "MemorySwap": -1,
        "NanoCpus": 1_500_000_000,
        "PidsLimit": -1,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
    }
    code, out, err = run(capsys, "-H", fake.host, "update", "--cpu-shares", "512", "bad", "web")
    assert (code, out) == (1, "web\n")
    assert err == "Error response from daemon: Cannot update container bad: no\n"
    code, _, err = run(capsys, "-H", fake.host, "update", "web")
    assert (code, err) == (1, "You must provide one or more flags when using this command.\n")


def test_rename_output(fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "-H", fake.host, "rename", "web", "new") == (0, "", "")
    code, _, err = run(capsys, "-H", fake.host, "rename", "web", "taken")
    assert code == 1
    assert err.splitlines() == [
        'Error response from daemon: Conflict. The container name "/taken" is already in use',
        "Error: failed to rename container named web",
    ]
    code, _, err = run(capsys, "-H", fake.host, "rename", "web")
    assert code == 1 and '"berth rename" requires exactly 2 arguments.' in err


def test_prune_output(fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-H", fake.host, "container", "prune", "-f", "--filter", "until=1h")
    assert code == 0
    assert out == f"Deleted Containers:\n{CID}\n\nTotal reclaimed space: 1.5kB\n"
    assert fake.bodies[-1] == ("prune", '{"until":{"1h":true}}')


def test_exec_detached_request(fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "-H",
        fake.host,
        "exec",
        "-d",
        "-u",
        "nobody",
        "-w",
        "/tmp",
        "-e",
        "A=1",
        "--privileged",
        "web",
        "sh",
        "-c",
        "sleep 1",
    )
    assert (code, out, err) == (0, "", "")
    (_, create), (_, start) = fake.bodies
    assert create == {
        "User": "nobody",
        "Privileged": True,
        "Tty": False,
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "DetachKeys": "",
        "Env": ["A=1"],
        "WorkingDir": "/tmp",
        "Cmd": ["sh", "-c", "sleep 1"],
    }
    assert start == {"Detach": True, "Tty": False}
    code, _, err = run(capsys, "-H", fake.host, "exec", "nope", "true")
    assert (code, err) == (1, "Error response from daemon: No such container: nope\n")
    code, _, err = run(capsys, "-H", fake.host, "exec", "--detach-keys", "ctrl-1", "web", "true")
    assert code == 1 and "Unknown character: 'ctrl-1'" in err


def test_top_table(fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-H", fake.host, "top", "web", "-o", "pid,comm")
    assert code == 0 and fake.bodies[-1] == ("top", "-o pid,comm")
    assert out == "PID                 CMD\n1                   sleep 60\n"


def test_stats_no_stream_table(fake: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-H", fake.host, "stats", "--no-stream", "web")
    assert code == 0 and fake.bodies[-1] == ("stats", "0")
    assert out.splitlines() == [
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O     "
        "BLOCK I/O       PIDS",
        "0123456789ab   web       20.00%    10MiB / 100MiB      10.00%    2kB / 20B   "
        "4.1kB / 2.5MB   4",
    ]
    code, out, _ = run(
        capsys, "-H", fake.host, "stats", "--no-stream", "--format", "{{.Container}}:{{.PIDs}}", CID
    )
    assert out == f"{CID}:4\n"


def test_stats_computations() -> None:
    assert cpu_percent(STATS) == pytest.approx(20.0)
    assert cpu_percent({"cpu_stats": {}, "precpu_stats": {}}) == 0.0
    v1 = {"usage": 1000, "stats": {"total_inactive_file": 300, "inactive_file": 10}}
    v2 = {"usage": 1000, "stats": {"inactive_file": 100}}
    assert memory_usage(v1) == 700 and memory_usage(v2) == 900
    assert memory_usage({"usage": 5, "stats": {"inactive_file": 50}}) == 5
    assert [size3(x) for x in (0, 999, 1000, 1234567, 10**12)] == [
        "0B",
        "999B",
        "1kB",
        "1.23MB",
        "1TB",
    ]
    waiting = StatsRow("web", None)
    assert (waiting.CPUPerc, waiting.MemUsage, waiting.Name) == ("--", "-- / --", "--")
    stopped = StatsRow("x", {"name": "/x", "id": CID})
    assert (stopped.CPUPerc, stopped.MemUsage, stopped.PIDs) == ("0.00%", "0B / 0B", "0")
    assert render([stopped], "{{json .}}").startswith('{"BlockIO":"0B / 0B"')
