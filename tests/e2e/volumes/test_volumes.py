"""Volumes and container mounts through the CLI, as a user drives them (real kernel, root)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from support.engine_daemon import Engine
from support.volumes_helpers import berth, inspect, ok


def test_volume_commands(engine: Engine) -> None:
    assert ok(engine, "volume", "create", "--label", "tier=db", "data1") == "data1\n"
    assert ok(engine, "volume", "create", "data1") == "data1\n"  # idempotent, as Docker
    ok(engine, "volume", "create", "--name", "data2")
    doc = json.loads(ok(engine, "volume", "inspect", "data1"))[0]
    assert doc["Name"] == "data1" and doc["Driver"] == "local" and doc["Scope"] == "local"
    assert doc["Labels"] == {"tier": "db"} and doc["Options"] is None
    assert doc["Mountpoint"] == os.path.join(engine.root, "volumes", "data1", "_data")
    assert os.path.isdir(doc["Mountpoint"])
    assert ok(engine, "volume", "ls").splitlines() == [
        "DRIVER    VOLUME NAME",
        "local     data1",
        "local     data2",
    ]
    assert ok(engine, "volume", "ls", "-q", "-f", "label=tier=db") == "data1\n"
    assert ok(engine, "volume", "ls", "-q", "--filter", "name=2") == "data2\n"
    assert ok(engine, "volume", "ls", "--format", "{{.Name}}:{{.Labels}}") == (
        "data1:tier=db\ndata2:\n"
    )
    code, _, err = berth(engine, "volume", "create", "a b")
    assert code == 1 and '"a b" includes invalid characters for a local volume name' in err
    code, _, err = berth(engine, "volume", "inspect", "nope")
    assert code == 1 and "Error: No such volume: nope" in err
    # in use by a container (any state): refused, even with -f
    ok(engine, "create", "--name", "user", "-v", "data1:/data", "busybox", "true")
    code, _, err = berth(engine, "volume", "rm", "data1")
    cid = inspect(engine, "user")["Id"]
    assert code == 1
    assert f"Error response from daemon: remove data1: volume is in use - [{cid}]" in err
    assert ok(engine, "volume", "ls", "-q", "-f", "dangling=true") == "data2\n"
    ok(engine, "rm", "user")
    assert ok(engine, "volume", "rm", "data1", "data2") == "data1\ndata2\n"
    code, _, err = berth(engine, "volume", "rm", "data1")
    assert code == 1 and "get data1: no such volume" in err
    assert berth(engine, "volume", "rm", "-f", "data1")[0] == 0
    assert not os.path.exists(os.path.join(engine.root, "volumes", "data1"))


def test_named_anonymous_rm_v_and_prune(engine: Engine) -> None:
    ok(engine, "run", "--name", "w", "-v", "shared:/data", "-v", "/scratch", "busybox", "sh", "-c",
       "echo persisted > /data/f; echo tmp > /scratch/f")  # fmt: skip
    mounts = {m["Destination"]: m for m in inspect(engine, "w")["Mounts"]}
    assert mounts["/data"] == {
        "Type": "volume",
        "Name": "shared",
        "Source": os.path.join(engine.root, "volumes", "shared", "_data"),
        "Destination": "/data",
        "Driver": "local",
        "Mode": "z",
        "RW": True,
        "Propagation": "",
    }
    anon = mounts["/scratch"]["Name"]
    assert len(anon) == 64 and mounts["/scratch"]["Mode"] == ""
    labels = json.loads(ok(engine, "volume", "inspect", anon))[0]["Labels"]
    assert labels == {"com.docker.volume.anonymous": ""}
    # another container sees the named volume's data
    assert ok(engine, "run", "--rm", "-v", "shared:/d", "busybox", "cat", "/d/f") == "persisted\n"
    ok(engine, "rm", "-v", "w")  # the anonymous volume goes, the named one stays
    assert ok(engine, "volume", "ls", "-q") == "shared\n"
    ok(engine, "run", "--rm", "-v", "/gone", "busybox", "true")  # --rm removes its anonymous one
    ok(engine, "create", "-v", "/kept", "busybox", "true")
    names = ok(engine, "volume", "ls", "-q").split()
    assert len(names) == 2 and "shared" in names
    out = ok(engine, "volume", "prune", "-f")
    assert out == "Total reclaimed space: 0B\n"  # the anonymous one is in use, shared is named
    ok(engine, "rm", ok(engine, "ps", "-aq").strip())
    out = ok(engine, "volume", "prune", "-f")
    kept = next(n for n in names if n != "shared")
    assert out.splitlines()[:2] == ["Deleted Volumes:", kept]
    out = ok(engine, "volume", "prune", "-a", "-f")
    assert out.splitlines() == ["Deleted Volumes:", "shared", "", "Total reclaimed space: 10B"]
    assert ok(engine, "volume", "ls", "-q") == ""


def test_binds_mounts_and_tmpfs(engine: Engine, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "f").write_text("from the host\n")
    created = tmp_path / "made" / "by-docker-rules"
    script = (
        "cat /h/f; cat /b/f; echo w > /made/x; grep -E ' /(t|tt|m) ' /proc/mounts | sort;"
        " touch /h/nope 2>/dev/null && echo WRITABLE || echo read-only"
    )
    out = ok(
        engine, "run", "--name", "m", "-v", f"{host}:/h:ro", "-v", f"{created}:/made",
        "--mount", f"type=bind,source={host},target=/b",
        "--mount", "type=volume,source=mv,target=/m,volume-nocopy",
        "--mount", "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770",
        "--tmpfs", "/tt:size=2m",
        "busybox", "sh", "-c", script,
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[:2] == ["from the host", "from the host"]
    assert lines[-1] == "read-only"
    assert (created / "x").read_text() == "w\n"  # -v made the missing host directory
    mounts = "\n".join(lines[2:-1])
    assert " /t tmpfs rw,nosuid,nodev,noexec" in mounts and "size=1024k,mode=1770" in mounts
    assert " /tt tmpfs " in mounts and "size=2048k" in mounts and " /m " in mounts
    by = {m["Destination"]: m for m in inspect(engine, "m")["Mounts"]}
    assert sorted(by) == ["/b", "/h", "/m", "/made", "/t"]  # --tmpfs is not listed, as Docker
    assert by["/h"] == {
        "Type": "bind",
        "Source": str(host),
        "Destination": "/h",
        "Mode": "ro",
        "RW": False,
        "Propagation": "rprivate",
    }
    assert by["/b"]["Mode"] == "" and by["/b"]["RW"] is True
    assert by["/t"] == {
        "Type": "tmpfs",
        "Source": "",
        "Destination": "/t",
        "Mode": "",
        "RW": True,
        "Propagation": "",
    }
    assert by["/m"]["Name"] == "mv" and by["/m"]["Mode"] == "z"
    code, _, err = berth(
        engine, "create", "--mount", f"type=bind,source={tmp_path}/missing,target=/x", "busybox"
    )
    assert code == 125
    assert f"bind source path does not exist: {tmp_path}/missing" in err
    code, _, err = berth(engine, "create", "-v", "/a:/x", "-v", "v1:/x", "busybox")
    assert code == 125 and "Duplicate mount point: /x" in err
    assert ok(engine, "volume", "ls", "-q") == "mv\n"  # nothing left of the failed creates


def test_image_volumes_copy_volumes_from_and_read_only(engine: Engine) -> None:
    ok(engine, "run", "--name", "base", "busybox", "sh", "-c",
       "mkdir -p /srv/app && echo seeded > /srv/app/seed && chown 1:2 /srv/app")  # fmt: skip
    ok(engine, "commit", "-c", "VOLUME /srv/app", "base", "withvol:1")
    out = ok(
        engine, "run", "--name", "a", "withvol:1", "sh", "-c",
        "cat /srv/app/seed; stat -c '%u:%g' /srv/app; echo more > /srv/app/more",
    )  # fmt: skip
    assert out == "seeded\n1:2\n"  # the image's content and owner, copied into the new volume
    anon = inspect(engine, "a")["Mounts"][0]
    assert anon["Destination"] == "/srv/app" and len(anon["Name"]) == 64
    # a named volume gets the content on first use too -- unless nocopy
    assert ok(engine, "run", "--rm", "-v", "seedme:/srv/app", "withvol:1", "ls", "/srv/app") == (
        "seed\n"
    )
    assert (
        ok(engine, "run", "--rm", "-v", "empty:/srv/app:nocopy", "withvol:1", "ls", "/srv/app")
        == ""
    )
    # --volumes-from shares a's volume; :ro makes it read-only
    out = ok(engine, "run", "--rm", "--volumes-from", "a", "busybox", "cat", "/srv/app/more")
    assert out == "more\n"
    code, out, _ = berth(
        engine, "run", "--rm", "--volumes-from", "a:ro", "busybox", "sh", "-c",
        "echo x > /srv/app/x || echo refused",
    )  # fmt: skip
    assert (code, out.strip().splitlines()[-1]) == (0, "refused")
    code, _, err = berth(engine, "create", "--volumes-from", "nope", "busybox")
    assert code == 125 and "No such container: nope" in err
    # --read-only: the root is read-only, the volumes are not
    out = ok(
        engine, "run", "--rm", "--read-only", "-v", "rw:/data", "busybox", "sh", "-c",
        "echo ok > /data/f && cat /data/f; touch /nope 2>/dev/null || echo root-read-only",
    )  # fmt: skip
    assert out == "ok\nroot-read-only\n"


def test_volumes_survive_a_daemon_restart(engine: Engine) -> None:
    ok(engine, "run", "-d", "--name", "keep", "-v", "persist:/data", "-v", "/anon", "busybox",
       "sh", "-c", "echo before > /data/f; sleep 600")  # fmt: skip
    anon = next(m["Name"] for m in inspect(engine, "keep")["Mounts"] if m["Destination"] == "/anon")
    engine.stop()
    engine.start()
    code, _, err = berth(engine, "volume", "rm", "persist")
    assert code == 1 and "volume is in use" in err  # still known to be used after the restart
    ok(engine, "rm", "-f", "keep")
    ok(engine, "create", "--name", "again", "-v", "persist:/data", "busybox", "cat", "/data/f")
    assert ok(engine, "run", "--rm", "-v", "persist:/d", "busybox", "cat", "/d/f") == "before\n"
    assert sorted(ok(engine, "volume", "ls", "-q").split()) == sorted([anon, "persist"])
    ok(engine, "rm", "again")


def test_top_level_inspect_finds_volumes(engine: Engine) -> None:
    ok(engine, "volume", "create", "findme")
    assert ok(engine, "inspect", "-f", "{{.Name}} {{.Driver}}", "findme") == "findme local\n"
    assert ok(engine, "inspect", "--type", "volume", "-f", "{{.Scope}}", "findme") == "local\n"
    code, _, err = berth(engine, "inspect", "nothing-by-this-name")
    assert code == 1 and "No such object: nothing-by-this-name" in err
