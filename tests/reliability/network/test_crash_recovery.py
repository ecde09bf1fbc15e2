"""berthd killed (SIGKILL) while containers run: what a container that died meanwhile
held is released at the next start, and the containers still running keep their
network (published ports, embedded DNS) across the restart."""

from __future__ import annotations

import json
import os
import signal

from support.engine_daemon import Engine
from support.network_engine import (
    Traces,
    berth,
    free_port,
    http_get,
    inspect,
    ok,
    wait_for,
)

HTTPD = ("busybox", "httpd", "-f", "-p", "80", "-h", "/etc")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_sigkill_of_berthd_mid_run_then_restart(engine: Engine) -> None:
    traces = Traces(engine)
    ok(engine, "network", "create", "--subnet", "10.124.0.0/24", "appnet")
    keep_port, doomed_port = free_port(), free_port()
    net = ("--network", "appnet")
    keep = ok(engine, "run", "-d", "--name", "keep", *net, "-p", f"{keep_port}:80", *HTTPD).strip()
    doomed = ok(
        engine,
        "run",
        "-d",
        "--name",
        "doomed",
        "--network",
        "appnet",
        "--network-alias",
        "gone",
        "-p",
        f"{doomed_port}:80",
        *HTTPD,
    ).strip()
    doc = inspect(engine, "doomed")
    pid = int(doc["State"]["Pid"])  # type: ignore[index]
    doomed_ip = doc["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]  # type: ignore[index]
    keep_ip = inspect(engine, "keep")["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]  # type: ignore[index]
    assert wait_for(lambda: http_get("127.0.0.1", doomed_port, "/hostname") == doomed[:12] + "\n")
    assert len(traces.veths()) == 2 and traces.netns() == {keep, doomed}

    engine.stop(signal.SIGKILL)
    # with no daemon: one container dies, the other one's network keeps working
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not _alive(pid))
    assert http_get("127.0.0.1", keep_port, "/hostname") == keep[:12] + "\n"

    engine.start()
    assert wait_for(
        lambda: (
            ok(engine, "ps", "-a", "--filter", "name=doomed", "--format", "{{.State}}")
            == "exited\n"
        )
    )
    # nothing of the dead container is left: veth, netns, published port, address, name
    assert wait_for(lambda: len(traces.veths()) == 1)
    assert traces.netns() == {keep}
    assert traces.published() == [("tcp", keep_port, keep_ip, 80)]
    assert http_get("127.0.0.1", doomed_port, "/hostname", timeout=1) == ""
    appnet = json.loads(ok(engine, "network", "inspect", "appnet"))[0]
    assert set(appnet["Containers"]) == {keep}
    settings = inspect(engine, "doomed")["NetworkSettings"]
    assert settings["Ports"] == {} and settings["Networks"]["appnet"]["IPAddress"] == ""  # type: ignore[index]

    # the one that kept running: its published port and the embedded DNS still work
    assert http_get("127.0.0.1", keep_port, "/hostname") == keep[:12] + "\n"
    script = "wget -qO- http://keep/hostname; nslookup gone; ip -o -4 addr show eth0"
    _, out, err = berth(engine, "run", "--rm", *net, "busybox", "sh", "-c", script)
    assert out.startswith(keep[:12] + "\n"), (out, err, engine.log()[-3000:])
    assert doomed_ip not in out.split("gone", 1)[1].split("eth0")[0]  # "gone" is not resolved
    # the freed address is handed out again (lowest free one)
    assert f"inet {doomed_ip}/24" in out

    # and a restarted dead container gets a network again
    ok(engine, "start", "doomed")
    assert wait_for(lambda: http_get("127.0.0.1", doomed_port, "/hostname") == doomed[:12] + "\n")
    # (doomed first: keep made the engine's parent cgroup, and only its maker removes it)
    ok(engine, "rm", "-f", "doomed", "keep")
    assert wait_for(lambda: not traces.veths())
    assert traces.netns() == set() and traces.published() == []
