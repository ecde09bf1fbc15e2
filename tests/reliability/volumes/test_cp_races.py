"""cp against a container that keeps swapping a directory for a symlink to its root.

A copy that resolved paths by joining strings on the host could be sent to
the host's own files between its check and its use (CVE-2018-15664 in
Docker). berth resolves every path inside the container with openat2
(RESOLVE_IN_ROOT) and works by descriptor, so whatever the container does,
uploads land in the container and downloads read the container's files.
"""

from __future__ import annotations

import base64
import io
import tarfile
import time
from pathlib import Path

from berth.client.api import Client
from berth.errors import BerthError
from support.engine_daemon import Engine
from support.volumes_helpers import ok, tar_of


def test_cp_under_symlink_swaps_never_touches_the_host(engine: Engine, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("HOST SECRET\n")
    # In the container the same path holds decoys, under / and under /tmp/real; /tmp/d flips
    # between a symlink to /tmp/real and one to "/" (with "/", /tmp/d/<host path> is the host's
    # file for anything that resolves paths on the host side).
    script = (
        f"mkdir -p {host} /tmp/real{host} && echo decoy > {host}/secret &&"
        f" echo real-decoy > /tmp/real{host}/secret &&"
        " while true; do ln -sfn / /tmp/d; ln -sfn /tmp/real /tmp/d; done"
    )
    ok(engine, "run", "-d", "--name", "racer", "busybox", "sh", "-c", script)
    client = Client(engine.host)
    payload = tar_of({"planted": b"from cp\n"})
    seen: set[bytes] = set()
    uploads = downloads = 0
    deadline = time.monotonic() + 6
    try:
        while time.monotonic() < deadline:
            try:
                client.request(
                    "PUT", "/containers/racer/archive", {"path": f"/tmp/d{host}"}, payload
                )
                uploads += 1
            except BerthError:
                pass  # /tmp/d was being replaced at that moment
            try:
                resp = client.request(
                    "GET", "/containers/racer/archive", {"path": f"/tmp/d{host}/secret"}
                )
            except BerthError:
                continue
            downloads += 1
            stat = resp.headers.get("x-docker-container-path-stat", "")
            assert base64.b64decode(stat)  # the stat header is always there
            with tarfile.open(fileobj=io.BytesIO(resp.body)) as tf:
                member = tf.extractfile("secret")
                assert member is not None
                seen.add(member.read())
    finally:
        client.close()
    assert uploads > 0 and downloads > 0, (uploads, downloads)
    assert seen <= {b"decoy\n", b"real-decoy\n"} and seen
    assert sorted(p.name for p in host.iterdir()) == ["secret"]
    assert (host / "secret").read_text() == "HOST SECRET\n"
    out = ok(engine, "exec", "racer", "ls", str(host), f"/tmp/real{host}")
    assert "planted" in out.split()
    ok(engine, "rm", "-f", "racer")
