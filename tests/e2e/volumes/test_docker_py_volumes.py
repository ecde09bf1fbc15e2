"""docker-py against berthd: volumes, archives (put/get), diff, commit, export, prune across
API versions -- the Engine API as other clients use it."""

from __future__ import annotations

import io
import tarfile

import pytest

from berth.client.api import Client
from support.engine_daemon import Engine
from support.volumes_helpers import tar_of


def test_docker_py_volumes_and_archives(engine: Engine) -> None:
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=engine.host, version="auto", timeout=60)
    try:
        vol = client.volumes.create("pyvol", labels={"from": "py"})
        assert vol.name == "pyvol" and vol.attrs["Labels"] == {"from": "py"}
        assert [v.name for v in client.volumes.list(filters={"label": "from=py"})] == ["pyvol"]
        box = client.containers.run(
            "busybox",
            ["sleep", "300"],
            detach=True,
            name="pybox",
            volumes={"pyvol": {"bind": "/data", "mode": "rw"}},
            mounts=[docker.types.Mount("/scratch", None, type="volume")],
        )
        assert box.put_archive("/data", tar_of({"hello.txt": b"hello\n"}))
        stream, stat = box.get_archive("/data/hello.txt")
        assert stat["name"] == "hello.txt" and stat["size"] == 6
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tf:
            member = tf.extractfile("hello.txt")
            assert member is not None and member.read() == b"hello\n"
        box.exec_run(["sh", "-c", "echo x > /tmp/x"])
        assert {"Path": "/tmp/x", "Kind": 1} in box.diff()
        image = box.commit("pycommit", "t1", changes=["ENV FROM_PY=1"])
        assert "FROM_PY=1" in image.attrs["Config"]["Env"]
        exported = b"".join(box.export())
        with tarfile.open(fileobj=io.BytesIO(exported)) as tf:
            assert "tmp/x" in tf.getnames()
        with pytest.raises(docker.errors.APIError) as e:
            vol.remove()
        assert e.value.status_code == 409 and "volume is in use" in str(e.value)
        box.remove(force=True, v=True)
        # API >= 1.42 prunes anonymous volumes only; an older client gets every unused one
        assert client.volumes.prune()["VolumesDeleted"] in (None, [])
        old = Client(engine.host, version="1.41")
        try:
            report = old.post_json("/volumes/prune")
        finally:
            old.close()
        assert report["VolumesDeleted"] == ["pyvol"]
        assert client.volumes.list() == []
    finally:
        client.close()
