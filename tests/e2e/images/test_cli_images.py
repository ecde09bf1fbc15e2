"""The image commands through the berth CLI and the docker CLI, against berthd and a registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from berth.images.store import ImageStore
from support.engine_daemon import Engine
from support.images_registry import LocalRegistry

DOCKER = shutil.which("docker")


@pytest.fixture
def pushed(
    registry: LocalRegistry, make_busybox: Callable[..., str], tmp_path: Path
) -> tuple[str, str]:
    """A busybox image in the registry: (reference, image ID)."""
    from berth.images.push import push

    ref = f"{registry.host}/e2e/busybox:1"
    with ImageStore(str(tmp_path / "src")) as store:
        image_id = make_busybox(store, ref)
        list(push(store, ref))
    return ref, image_id


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_pull_list_inspect_tag_rmi(berthd: Engine, pushed: tuple[str, str]) -> None:
    ref, image_id = pushed
    out = ok(berthd.run(["pull", ref]))
    lines = out.splitlines()
    assert lines[0] == "1: Pulling from e2e/busybox"
    assert lines[-2] == f"Status: Downloaded newer image for {ref}"
    assert lines[-1] == ref
    assert any(line.endswith(": Pull complete") for line in lines)
    table = ok(berthd.run(["images"])).splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    repo, tag, short = table[1].split()[:3]
    assert (repo, tag, short) == (ref.rsplit(":", 1)[0], "1", image_id[7:19])
    assert ok(berthd.run(["images", "-q"])).split() == [image_id[7:19]]
    assert ok(berthd.run(["image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])) == (
        f"{ref} {image_id[7:19]}\n"
    )
    ok(berthd.run(["tag", ref, "mine/bb:two"]))
    docs = json.loads(ok(berthd.run(["image", "inspect", "mine/bb:two"])))
    assert docs[0]["Id"] == image_id
    assert sorted(docs[0]["RepoTags"]) == sorted([ref, "mine/bb:two"])
    assert docs[0]["Config"]["Cmd"] == ["sh"]
    assert ok(berthd.run(["image", "inspect", "-f", "{{.Os}}", image_id[7:19]])) == "linux\n"
    missing = berthd.run(["image", "inspect", "nope:nope"])
    assert missing.returncode == 1 and "No such image: nope:nope" in missing.stderr
    hist = ok(berthd.run(["history", "mine/bb:two"])).splitlines()
    assert hist[0].split()[:2] == ["IMAGE", "CREATED"]
    assert hist[1].startswith(image_id[7:19])
    assert ok(berthd.run(["rmi", "mine/bb:two"])) == "Untagged: mine/bb:two\n"
    out = ok(berthd.run(["rmi", ref]))
    assert f"Untagged: {ref}" in out and f"Deleted: {image_id}" in out
    assert ok(berthd.run(["images", "-q"])) == ""
    again = berthd.run(["rmi", ref])
    assert again.returncode == 1
    assert again.stderr.startswith(f"Error response from daemon: No such image: {ref}")
    bad = berthd.run(["pull", ref.replace(":1", ":nope")])
    assert bad.returncode == 1 and "not found" in bad.stderr


def test_save_load_import_prune(berthd: Engine, pushed: tuple[str, str], tmp_path: Path) -> None:
    ref, image_id = pushed
    ok(berthd.run(["pull", "-q", ref]))
    archive = tmp_path / "saved.tar"
    ok(berthd.run(["save", "-o", str(archive), ref]))
    names = subprocess.run(["tar", "tf", str(archive)], capture_output=True, text=True).stdout
    assert "manifest.json" in names and "index.json" in names and "oci-layout" in names
    ok(berthd.run(["rmi", ref]))
    assert ok(berthd.run(["load", "-i", str(archive)])) == f"Loaded image: {ref}\n"
    assert ok(berthd.run(["images", "-q", "--no-trunc"])).strip() == image_id
    rootfs_tar = tmp_path / "rootfs.tar"
    layer_dir = tmp_path / "rootfs"
    (layer_dir / "etc").mkdir(parents=True)
    (layer_dir / "etc" / "hello").write_text("hi\n")
    subprocess.run(["tar", "cf", str(rootfs_tar), "-C", str(layer_dir), "."], check=True)
    new_id = ok(
        berthd.run(
            ["import", "-c", 'CMD ["/bin/true"]', "-m", "imported", str(rootfs_tar), "imported:v1"]
        )
    ).strip()
    assert new_id.startswith("sha256:")
    doc = json.loads(ok(berthd.run(["image", "inspect", "imported:v1"])))[0]
    assert doc["Config"]["Cmd"] == ["/bin/true"] and doc["Comment"] == "imported"
    ok(berthd.run(["tag", "imported:v1", "other:v1"]))
    ok(berthd.run(["rmi", "imported:v1", "other:v1"]))
    out = ok(berthd.run(["image", "prune", "-a", "-f"]))
    assert f"deleted: {image_id}" in out and "Total reclaimed space:" in out
    assert ok(berthd.run(["images", "-q"])) == ""


def test_login_logout_keep_docker_config(
    engine_factory: Callable[..., Engine], make_busybox: Callable[..., str], tmp_path: Path
) -> None:
    reg = LocalRegistry.start(str(tmp_path / "authreg"), users={"bob": "pw1"})
    try:
        engine = engine_factory().start()
        env = {**engine.env, "DOCKER_CONFIG": str(tmp_path / "dockercfg")}
        bad = engine.run(
            ["login", "-u", "bob", "--password-stdin", reg.host], input=b"nope\n", env=env
        )
        assert bad.returncode == 1
        good = engine.run(
            ["login", "-u", "bob", "--password-stdin", reg.host], input=b"pw1\n", env=env
        )
        assert good.returncode == 0 and good.stdout == "Login Succeeded\n", good.stderr
        cfg = json.loads((tmp_path / "dockercfg" / "config.json").read_text())
        assert cfg["auths"][reg.host]["auth"]
        ref = f"{reg.host}/private/bb:1"
        with ImageStore(str(tmp_path / "src")) as store:
            make_busybox(store, ref)
            from berth.images.push import push
            from berth.images.registry import Credentials, Registry

            list(push(store, ref, registry=Registry(reg.host, Credentials("bob", "pw1"))))
        assert ok(engine.run(["pull", "-q", ref], env=env)) == f"{ref}\n"
        out = ok(engine.run(["logout", reg.host], env=env))
        assert out == f"Removing login credentials for {reg.host}\n"
        ok(engine.run(["rmi", ref], env=env))
        denied = engine.run(["pull", ref], env=env)
        assert denied.returncode == 1 and "authentication required" in denied.stderr
    finally:
        reg.stop()


@pytest.mark.skipif(DOCKER is None, reason="no docker CLI installed")
def test_docker_cli_against_berthd(berthd: Engine, pushed: tuple[str, str]) -> None:
    ref, image_id = pushed
    env = {**os.environ, "DOCKER_HOST": berthd.host}

    def docker(*args: str) -> subprocess.CompletedProcess[str]:
        assert DOCKER is not None
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=60)

    out = ok(docker("pull", ref))
    assert f"Status: Downloaded newer image for {ref}" in out
    assert ok(docker("images", "-q", "--no-trunc")).strip() == image_id
    doc = json.loads(ok(docker("image", "inspect", ref)))[0]
    assert doc["Id"] == image_id and doc["RootFS"]["Type"] == "layers"
    ok(docker("tag", ref, "dockertag:x"))
    assert "dockertag:x" in ok(docker("images", "--format", "{{.Repository}}:{{.Tag}}"))
    out = ok(docker("rmi", "dockertag:x", ref))
    assert "Untagged: dockertag:x" in out and f"Deleted: {image_id}" in out
