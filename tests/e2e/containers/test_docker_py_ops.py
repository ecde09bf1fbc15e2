"""docker-py (and the docker CLI's attach) against berthd: exec_run, top, stats, rename,
update, prune -- the Engine API as other clients use it."""

from __future__ import annotations

import subprocess

import pytest

from support.engine_daemon import Engine


def test_docker_py_exec_top_stats_rename_update_prune(engine: Engine) -> None:
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=engine.host, version="auto", timeout=60)
    try:
        box = client.containers.run("busybox", ["sleep", "300"], detach=True, name="py")
        code, out = box.exec_run(["sh", "-c", "echo hi; echo err >&2; exit 2"])
        assert (code, out) == (2, b"hi\nerr\n")
        code, (out, err) = box.exec_run(["sh", "-c", "echo a; echo b >&2"], demux=True)
        assert (code, out, err) == (0, b"a\n", b"b\n")
        code, out = box.exec_run(
            ["sh", "-c", "echo $X; id -u; pwd"],
            environment={"X": "1"},
            user="nobody",
            workdir="/tmp",
        )
        assert (code, out) == (0, b"1\n65534\n/tmp\n")
        code, out = box.exec_run("nonexistent")
        assert code == 127 and b"executable file not found" in out
        code, out = box.exec_run("true", detach=True)
        assert code in (None, 0) and not out
        top = box.top()
        assert top["Titles"][:2] == ["UID", "PID"] and any(
            "sleep 300" in " ".join(p) for p in top["Processes"]
        )
        stats = box.stats(stream=False)
        assert stats["name"] == "/py" and stats["pids_stats"]["current"] >= 1
        assert stats["precpu_stats"]["system_cpu_usage"] > 0
        box.rename("py2")
        box.reload()
        assert box.name == "py2"
        box.update(mem_limit="64m", memswap_limit="128m", cpu_shares=512)
        box.reload()
        assert box.attrs["HostConfig"]["Memory"] == 64 << 20
        assert box.attrs["HostConfig"]["CpuShares"] == 512
        client.containers.run("busybox", "true", name="done")
        report = client.containers.prune()
        assert len(report["ContainersDeleted"]) == 1 and report["SpaceReclaimed"] >= 0
        assert {c.name for c in client.containers.list(all=True)} == {"py2"}
        box.remove(force=True)
    finally:
        client.close()


def test_docker_cli_attach(engine: Engine) -> None:
    code = engine.run(
        ["run", "-d", "--name", "late", "busybox", "sh", "-c", "sleep 3; echo late; exit 4"]
    ).returncode
    assert code == 0
    env = dict(engine.env, DOCKER_HOST=engine.host)
    r = subprocess.run(
        ["docker", "attach", "--no-stdin", "late"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (r.returncode, r.stdout) == (4, "late\n"), r.stderr
