"""berth cp / diff / commit / export through the CLI (and docker's CLI), real kernel, root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.engine_daemon import Engine
from support.volumes_helpers import berth, berth_bytes, inspect, ok, tar_names, tar_of


def tree(root: Path) -> dict[str, str]:
    """Relative path -> content ("<dir>" for directories, "-> x" for symlinks)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "<dir>"
            else:
                out[rel] = p.read_text()
    return out


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    (d / "sub").mkdir(parents=True)
    (d / "a").write_text("A\n")
    (d / "sub" / "b").write_text("B\n")
    os.symlink("a", d / "link")
    return d


def test_cp_both_ways_running_and_stopped(engine: Engine, src: Path, tmp_path: Path) -> None:
    ok(engine, "run", "-d", "--name", "c", "-v", "vol:/data", "busybox", "sleep", "600")
    # into a running container: a dir into an existing dir, its content (/.), a renamed file
    ok(engine, "cp", str(src), "c:/tmp")
    ok(engine, "cp", f"{src}/.", "c:/data/")
    ok(engine, "cp", f"{src}/a", "c:/renamed")
    ok(engine, "cp", str(src), "c:/newdir")  # a missing destination takes the source's content
    listing = ok(
        engine, "exec", "c", "sh", "-c",
        "cd / && find /tmp/src /data /renamed /newdir | sort && readlink /data/link",
    )  # fmt: skip
    assert listing.split() == [
        "/data", "/data/a", "/data/link", "/data/sub", "/data/sub/b",
        "/newdir", "/newdir/a", "/newdir/link", "/newdir/sub", "/newdir/sub/b",
        "/renamed",
        "/tmp/src", "/tmp/src/a", "/tmp/src/link", "/tmp/src/sub", "/tmp/src/sub/b",
        "a",
    ]  # fmt: skip
    # out of it: a file into a dir, a dir under a new name, a dir's content, from a volume
    out = tmp_path / "out"
    out.mkdir()
    ok(engine, "cp", "c:/etc/passwd", f"{out}/")
    ok(engine, "cp", "c:/data", str(out / "fromvol"))
    ok(engine, "cp", "c:/tmp/src/.", str(out / "content"))
    assert (out / "passwd").read_text().startswith("root:")
    expected = {"a": "A\n", "link": "-> a", "sub": "<dir>", "sub/b": "B\n"}
    assert tree(out / "fromvol") == expected and tree(out / "content") == expected
    # the network files are part of the view, as in Docker
    ok(engine, "cp", "c:/etc/hostname", str(out / "hostname"))
    assert (out / "hostname").read_text().strip() == ok(engine, "exec", "c", "hostname").strip()
    # a symlink is copied as a link; -L copies what it points at
    ok(engine, "cp", "c:/tmp/src/link", str(out / "l1"))
    ok(engine, "cp", "-L", "c:/tmp/src/link", str(out / "l2"))
    assert os.readlink(out / "l1") == "a" and (out / "l2").read_text() == "A\n"
    # tar on stdout and stdin
    r = berth_bytes(engine, "cp", "c:/tmp/src", "-")
    assert r.returncode == 0, r.stderr
    assert sorted(tar_names(r.stdout)) == ["src", "src/a", "src/link", "src/sub", "src/sub/b"]
    r = berth_bytes(engine, "cp", "-", "c:/data", stdin=tar_of({"in": None, "in/x": b"X"}))
    assert r.returncode == 0, r.stderr
    assert ok(engine, "exec", "c", "cat", "/data/in/x") == "X"
    # a stopped container: both ways, volumes included
    ok(engine, "stop", "-t", "0", "c")
    ok(engine, "cp", f"{src}/a", "c:/data/while-stopped")
    ok(engine, "cp", f"{src}/sub", "c:/stopped-dir")
    ok(engine, "cp", "c:/data/while-stopped", str(out / "ws"))
    ok(engine, "cp", "c:/stopped-dir", str(out / "sd"))
    assert (out / "ws").read_text() == "A\n" and tree(out / "sd") == {"b": "B\n"}
    ok(engine, "start", "c")
    assert ok(engine, "exec", "c", "cat", "/stopped-dir/b", "/data/while-stopped") == "B\nA\n"
    ok(engine, "rm", "-f", "c")


def test_cp_errors(engine: Engine, src: Path, tmp_path: Path) -> None:
    ok(engine, "run", "-d", "--name", "c", "-v", f"{tmp_path}:/ro:ro", "busybox", "sleep", "600")
    code, _, err = berth(engine, "cp", "c:/nonexist", str(tmp_path / "x"))
    assert code == 1
    assert err == "Error response from daemon: Could not find the file /nonexist in container c\n"
    code, _, err = berth(engine, "cp", str(src), "c:/etc/passwd")
    assert (code, err) == (1, "cannot copy directory\n")
    code, _, err = berth(engine, "cp", f"{src}/a", "c:/nodir/x")
    assert code == 1 and "Could not find the file /nodir in container c" in err
    code, _, err = berth(engine, "cp", f"{src}/a", "c:/ro/")
    assert (code, err) == (1, "Error response from daemon: mounted volume is marked read-only\n")
    code, _, err = berth(engine, "cp", "c:/a", "d:/b")
    assert (code, err) == (1, "copying between containers is not supported\n")
    code, _, err = berth(engine, "cp", "/a", "/b")
    assert (code, err) == (1, "must specify at least one container source\n")
    code, _, err = berth(engine, "cp", "c:/etc/passwd", str(tmp_path / "no" / "where"))
    assert code == 1 and "invalid output path" in err
    code, _, err = berth(engine, "cp", "c:/x", "nocontainer:/y")
    assert code == 1
    code, _, err = berth(engine, "cp", f"{src}/a", "nocontainer:/y")
    assert code == 1 and "No such container: nocontainer" in err
    ok(
        engine,
        "run",
        "-d",
        "--name",
        "r",
        "--read-only",
        "-v",
        "vv:/data",
        "busybox",
        "sleep",
        "600",
    )
    code, _, err = berth(engine, "cp", f"{src}/a", "r:/tmp/")
    assert (code, err) == (1, "Error response from daemon: container rootfs is marked read-only\n")
    ok(engine, "cp", f"{src}/a", "r:/data/")  # a volume of a read-only container is writable
    ok(engine, "rm", "-f", "c", "r")


def test_cp_stays_inside_the_container(engine: Engine, tmp_path: Path) -> None:
    """Symlinks the container made resolve inside it: nothing on the host is read or written."""
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    target = tmp_path / "host-target"
    target.mkdir()
    script = (
        f"mkdir -p {target} && echo container-copy > {secret};"
        f" ln -s / /escape; ln -s ../../../../../../../.. /up; ln -s {secret} /abs;"
        f" mkdir -p /evil && ln -s {target} /evil/dir; sleep 600"
    )
    ok(engine, "run", "-d", "--name", "c", "busybox", "sh", "-c", script)
    out = tmp_path / "out"
    out.mkdir()
    for i, path in enumerate(("/escape" + str(secret), "/up" + str(secret))):
        ok(engine, "cp", f"c:{path}", str(out / f"got{i}"))
        assert (out / f"got{i}").read_text() == "container-copy\n"
    ok(engine, "cp", "-L", "c:/abs", str(out / "followed"))
    assert (out / "followed").read_text() == "container-copy\n"
    ok(engine, "cp", "c:/abs", str(out / "link"))
    assert os.readlink(out / "link") == str(secret)  # the link itself, not followed
    # writes through the links land in the container
    (out / "payload").write_text("payload\n")
    ok(engine, "cp", str(out / "payload"), f"c:/up{target}/")
    ok(engine, "cp", str(out / "payload"), "c:/evil/dir/")
    r = berth_bytes(engine, "cp", "-", "c:/escape/tmp", stdin=tar_of({"../../x": b"boom"}))
    assert r.returncode == 1 and b"breaks out" in r.stderr
    assert list(target.iterdir()) == [] and secret.read_text() == "host only\n"
    assert ok(engine, "exec", "c", "cat", f"{target}/payload") == "payload\n"
    ok(engine, "rm", "-f", "c")


def test_diff_commit_export(engine: Engine) -> None:
    ok(engine, "run", "--name", "c", "-v", "/vol", "busybox", "sh", "-c",
       "echo new > /tmp/new; rm /etc/group; mkdir -p /usr/local/x")  # fmt: skip
    assert ok(engine, "diff", "c").splitlines() == [
        "C /etc",
        "D /etc/group",
        "C /tmp",
        "A /tmp/new",
        "C /usr",
        "A /usr/local",
        "A /usr/local/x",
        "A /vol",
    ]
    image_id = ok(
        engine, "commit", "-a", "me", "-m", "a message", "-c", "ENV X=1", "-c", "CMD cat /tmp/new",
        "c", "snap:v1",
    ).strip()  # fmt: skip
    assert image_id.startswith("sha256:") and len(image_id) == 71
    doc = __import__("json").loads(ok(engine, "image", "inspect", "snap:v1"))[0]
    assert doc["Id"] == image_id and doc["Author"] == "me" and doc["Comment"] == "a message"
    assert "X=1" in doc["Config"]["Env"] and doc["Config"]["Volumes"] == {"/vol": {}}
    assert ok(engine, "run", "--rm", "snap:v1") == "new\n"
    code, _out, _ = berth(engine, "run", "--rm", "snap:v1", "cat", "/etc/group")
    assert code == 1  # the deletion is part of the image
    r = berth_bytes(engine, "export", "c")
    assert r.returncode == 0, r.stderr
    names = tar_names(r.stdout)
    assert "tmp/new" in names and "bin/busybox" in names and "etc/group" not in names
    assert not any(n.startswith(("/", "./")) for n in names)
    r2 = berth_bytes(engine, "export", "-o", "/dev/stdout", "c")
    assert r2.returncode == 0 and tar_names(r2.stdout) == names
    code, _, _err = berth(engine, "commit", "c", "bad@@ref")
    assert code == 1
    ok(engine, "rm", "c")


@pytest.mark.peers
def test_docker_cli_cp_and_volumes(engine: Engine, src: Path, tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed (scripts/setup installs docker.io)")
    env = dict(engine.env, DOCKER_HOST=engine.host)

    def docker(*args: str) -> str:
        r = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, f"docker {' '.join(args)}: {r.stderr}"
        return r.stdout

    docker("volume", "create", "dv")
    assert docker("volume", "ls", "-q") == "dv\n"
    docker("run", "-d", "--name", "c", "-v", "dv:/data", "busybox", "sleep", "600")
    docker("cp", str(src), "c:/data/")
    docker("cp", f"{src}/a", "c:/data/src/renamed")
    docker("cp", "c:/data/src", str(tmp_path / "back"))
    assert tree(tmp_path / "back") == {
        "a": "A\n",
        "link": "-> a",
        "renamed": "A\n",
        "sub": "<dir>",
        "sub/b": "B\n",
    }
    assert "A /data" in docker("diff", "c")
    assert docker("commit", "c", "fromdocker:1").startswith("sha256:")
    docker("rm", "-f", "c")
    assert "Deleted Volumes:\ndv" in docker("volume", "prune", "-a", "-f")


def test_cp_ownership_and_commit_of_a_running_container(engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "owned"
    f.write_text("x\n")
    os.chown(f, 1234, 4321)
    ok(engine, "run", "-d", "--name", "c", "-u", "nobody", "busybox", "sleep", "600")
    ok(engine, "cp", str(f), "c:/tmp/kept")  # the archive's owner
    ok(engine, "cp", "-a", str(f), "c:/tmp/as-user")  # the container's user (nobody)
    out = ok(engine, "exec", "c", "stat", "-c", "%u:%g", "/tmp/kept", "/tmp/as-user")
    assert out.split() == ["1234:4321", "65534:65534"]
    image_id = ok(engine, "commit", "c").strip()  # paused during the commit, then running on
    state = inspect(engine, "c")["State"]
    assert state["Running"] is True and state["Paused"] is False
    assert ok(engine, "run", "--rm", image_id, "cat", "/tmp/kept") == "x\n"
    ok(engine, "rm", "-f", "c")
