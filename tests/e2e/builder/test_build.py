"""``berth build`` (and the docker CLI's classic builder, and docker-py) against berthd:
each instruction a step, RUN in a container, COPY from the context and from another
stage, ARG/ENV/WORKDIR/USER/EXPOSE/LABEL/CMD in the image config, the cache of
intermediate images, .dockerignore, failures with Docker's messages and exit codes,
and nothing left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.engine_daemon import Engine

DOCKERFILE = """\
FROM busybox
ARG GREETING=hello
ENV APP=/app
WORKDIR $APP
COPY hello.txt ./
COPY dir/ sub/
RUN echo "$GREETING from build" > made.txt && cat hello.txt && id -u
EXPOSE 8080/tcp
LABEL org.example.k="a value"
USER 1000
CMD ["cat", "/app/made.txt"]
"""


def ok(e: Engine, *args: str) -> str:
    r = e.run(list(args), timeout=120)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def make_context(root: Path, dockerfile: str = DOCKERFILE) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dockerfile").write_text(dockerfile)
    (root / "hello.txt").write_text("hello file\n")
    (root / "dir").mkdir(exist_ok=True)
    (root / "dir" / "a.txt").write_text("a\n")
    (root / "dir" / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(root / "dir" / "run.sh", 0o755)
    return root


def inspect(e: Engine, ref: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(e, "image", "inspect", ref))[0]
    return doc


def test_build_run_and_config(engine: Engine, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx")
    out = ok(engine, "build", "-t", "built:1", "--build-arg", "GREETING=hi", str(ctx))
    assert "Step 1/11 : FROM busybox\n" in out
    assert "Step 7/11 : RUN echo" in out and " ---> Running in " in out
    assert "hello file\n0\n" in out  # the RUN's own output, streamed
    assert "Successfully built " in out and out.endswith("Successfully tagged built:1\n")
    assert ok(engine, "run", "--rm", "built:1") == "hi from build\n"
    doc = inspect(engine, "built:1")
    cfg = doc["Config"]
    assert cfg["WorkingDir"] == "/app" and cfg["User"] == "1000"
    assert cfg["Cmd"] == ["cat", "/app/made.txt"]
    assert "8080/tcp" in cfg["ExposedPorts"]
    assert cfg["Labels"]["org.example.k"] == "a value"
    assert "APP=/app" in cfg["Env"] and not any(e.startswith("GREETING") for e in cfg["Env"])
    # files: modes kept, owned by root, directory contents under sub/
    listing = ok(engine, "run", "--rm", "-u", "0", "built:1", "ls", "-ln", "/app", "/app/sub")
    assert "-rwxr-xr-x    1 0        0" in listing and "run.sh" in listing
    history = ok(engine, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "built:1")
    lines = history.splitlines()
    assert lines[0] == '/bin/sh -c #(nop)  CMD ["cat" "/app/made.txt"]'
    assert any(line.startswith("|1 GREETING=hi /bin/sh -c echo") for line in lines)
    assert any(line.startswith("/bin/sh -c #(nop) COPY file:") for line in lines)
    assert ok(engine, "ps", "-aq") == ""  # intermediate containers removed
    # the intermediate images are hidden from `images`, shown with -a
    shown = ok(engine, "images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert sorted(shown) == ["built:1", "busybox:latest"]
    assert len(ok(engine, "images", "-a", "-q").split()) == 11  # busybox + 10 steps
    # removing the result takes its intermediate images along, as Docker's rmi does
    out = ok(engine, "rmi", "built:1")
    assert out.startswith("Untagged: built:1\nDeleted: sha256:")
    assert out.count("Deleted: sha256:") >= 10, out
    assert ok(engine, "images", "-a", "--format", "{{.Repository}}") == "busybox\n"


def test_cache_and_its_invalidation(engine: Engine, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "ctx")
    ok(engine, "build", "-t", "c:1", str(ctx))
    first = inspect(engine, "c:1")["Id"]
    out = ok(engine, "build", "-t", "c:2", str(ctx))
    assert out.count(" ---> Using cache\n") == 10  # every step but FROM
    assert inspect(engine, "c:2")["Id"] == first
    (ctx / "hello.txt").write_text("changed\n")
    out = ok(engine, "build", "-t", "c:3", str(ctx))
    assert out.count(" ---> Using cache\n") == 3  # ARG, ENV, WORKDIR; COPY hello.txt changed
    assert "changed\n" in out
    out = ok(engine, "build", "--no-cache", "-q", "-t", "c:4", str(ctx))
    assert out.startswith("sha256:") and len(out.split()) == 1
    # the base image's name can go while images are built on it; the image stays
    assert ok(engine, "rmi", "busybox") == "Untagged: busybox:latest\n"
    assert ok(engine, "run", "--rm", "c:4", "cat", "/app/hello.txt") == "changed\n"
    ok(engine, "rmi", "c:1", "c:2", "c:3", "c:4")


def test_multi_stage_scratch_and_dockerignore(engine: Engine, tmp_path: Path) -> None:
    ctx = tmp_path / "ms"
    make_context(
        ctx,
        "FROM busybox AS builder\n"
        "RUN mkdir /out && echo built > /out/artifact\n"
        "FROM scratch AS bare\n"
        "COPY hello.txt /\n"
        "FROM busybox\n"
        "COPY --from=builder /out/artifact /artifact\n"
        "COPY . /ctx/\n"
        'CMD ["sh", "-c", "cat /artifact; ls /ctx"]\n',
    )
    (ctx / "secret.txt").write_text("do not send\n")
    (ctx / ".dockerignore").write_text("secret.txt\ndir/*.sh\n")
    ok(engine, "build", "-t", "ms", str(ctx))
    out = ok(engine, "run", "--rm", "ms")
    assert out.startswith("built\n")
    listed = out.split()[1:]
    assert "secret.txt" not in listed and "hello.txt" in listed and "Dockerfile" in listed
    assert ok(engine, "run", "--rm", "ms", "ls", "/ctx/dir") == "a.txt\n"
    # --target stops at a stage; a FROM scratch stage holds just what was copied
    ok(engine, "build", "--target", "bare", "-t", "bare", str(ctx))
    assert len(inspect(engine, "bare")["RootFS"]["Layers"]) == 1
    cid = ok(engine, "create", "bare", "/nothing").strip()
    got = subprocess.run(
        [*engine_cli(engine), "cp", f"{cid}:/hello.txt", "-"], capture_output=True, env=engine.env
    )
    assert got.returncode == 0 and b"hello file\n" in got.stdout
    ok(engine, "rm", cid)


def engine_cli(engine: Engine) -> list[str]:
    from support.engine_daemon import PYTHON

    return [PYTHON, "-m", "berth.cli.main"]


def test_failures_are_reported_and_leave_nothing(engine: Engine, tmp_path: Path) -> None:
    ctx = make_context(tmp_path / "f", "FROM busybox\nRUN echo partial && exit 3\n")
    r = engine.run(["build", "-t", "bad", str(ctx)], timeout=120)
    assert r.returncode == 3, r.stderr
    assert "The command '/bin/sh -c echo partial && exit 3' returned a non-zero code: 3" in r.stderr
    assert "partial\n" in r.stdout
    assert ok(engine, "ps", "-aq") == ""
    assert engine.run(["image", "inspect", "bad"]).returncode == 1
    make_context(ctx, "FROM busybox\nRUNN true\n")
    r = engine.run(["build", str(ctx)], timeout=60)
    assert r.returncode == 1 and "unknown instruction: RUNN" in r.stderr
    make_context(ctx, "FROM busybox\nCOPY missing.txt /\n")
    r = engine.run(["build", str(ctx)], timeout=60)
    assert r.returncode == 1 and "missing.txt" in r.stderr
    assert ok(engine, "ps", "-aq") == ""
    r = engine.run(["build", str(tmp_path / "nowhere")])
    assert r.returncode == 1 and "unable to prepare context" in r.stderr


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")
def test_docker_cli_and_docker_py_build(engine: Engine, tmp_path: Path) -> None:
    import docker

    ctx = make_context(tmp_path / "d")
    env = dict(engine.env, DOCKER_HOST=engine.host, DOCKER_BUILDKIT="0")
    r = subprocess.run(
        ["docker", "build", "-t", "viadocker", str(ctx)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "Successfully tagged viadocker:latest" in r.stdout
    assert ok(engine, "run", "--rm", "viadocker") == "hello from build\n"
    client = docker.DockerClient(base_url=engine.host)
    try:
        image, logs = client.images.build(path=str(ctx), tag="viapy", buildargs={"GREETING": "py"})
        assert "viapy:latest" in image.tags
        streams = "".join(str(m.get("stream", "")) for m in logs)
        assert streams.count(" ---> Using cache") == 5  # up to the RUN, whose argument differs
        assert client.containers.run("viapy", remove=True) == b"py from build\n"
    finally:
        client.close()
    ok(engine, "rmi", "viadocker", "viapy")


def test_add_from_a_url(engine: Engine, tmp_path: Path) -> None:
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "tool.sh").write_text("#!/bin/sh\necho fetched\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        ctx = make_context(
            tmp_path / "u",
            f"FROM busybox\nADD {url}/tool.sh /opt/\nADD {url}/tool.sh /opt/renamed\n"
            'CMD ["sh", "-c", "ls -l /opt; sh /opt/tool.sh"]\n',
        )
        out = ok(engine, "build", "-t", "fromurl", str(ctx))
        assert f"Downloading {url}/tool.sh" in out
        run = ok(engine, "run", "--rm", "fromurl")
        assert run.count("-rw-------") == 2 and "renamed" in run and run.endswith("fetched\n")
        assert ok(engine, "build", "-t", "fromurl", str(ctx)).count("Using cache") == 3
        ctx2 = make_context(tmp_path / "u2", f"FROM busybox\nADD {url}/missing.sh /x\n")
        r = engine.run(["build", str(ctx2)], timeout=60)
        assert r.returncode == 1 and "missing.sh with status 404" in r.stderr
    finally:
        server.shutdown()
        server.server_close()
    ok(engine, "rmi", "fromurl")


def test_more_instructions(engine: Engine, tmp_path: Path) -> None:
    base = make_context(
        tmp_path / "base",
        "FROM busybox\nONBUILD RUN echo triggered > /onbuild\nLABEL stage=base\n",
    )
    ok(engine, "build", "-t", "withtrigger", str(base))
    ctx = make_context(
        tmp_path / "more",
        "ARG BASE=withtrigger\n"
        "FROM $BASE\n"
        'SHELL ["/bin/sh", "-e", "-c"]\n'
        "COPY --chown=1000:1001 hello.txt /owned/\n"
        "COPY --chmod=640 dir/a.txt /modes/a.txt\n"
        "RUN test -f /onbuild && stat -c '%u:%g' /owned/hello.txt > /owner\n"
        'ENTRYPOINT ["/bin/sh", "-c"]\n'
        'CMD ["cat /owner /onbuild"]\n'
        "STOPSIGNAL SIGINT\n"
        "VOLUME /data\n"
        "HEALTHCHECK --interval=5s --retries=2 CMD true\n",
    )
    out = ok(engine, "build", "--build-arg", "UNUSED=1", "-t", "more", str(ctx))
    assert "# Executing 1 build trigger\n" in out
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in out
    assert ok(engine, "run", "--rm", "more") == "1000:1001\ntriggered\n"
    cfg = inspect(engine, "more")["Config"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"] and cfg["StopSignal"] == "SIGINT"
    assert cfg["Volumes"] == {"/data": {}} and cfg["Shell"] == ["/bin/sh", "-e", "-c"]
    hc = {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert cfg["Healthcheck"] == hc  # shell form, as Docker stores it
    assert not cfg.get("OnBuild")  # triggers run once, in the image built on the base
    assert cfg["Labels"] == {"stage": "base"}
    mode = ok(engine, "run", "--rm", "--entrypoint", "stat", "more", "-c", "%a", "/modes/a.txt")
    assert mode == "640\n"
    ok(engine, "rmi", "more", "withtrigger")


def test_base_image_pulled_when_missing(engine: Engine, tmp_path: Path, registry: Any) -> None:
    ref = f"{registry.host}/build/base:1"
    ok(engine, "tag", "busybox", ref)
    ok(engine, "push", ref)
    ok(engine, "rmi", ref)
    ctx = make_context(tmp_path / "p", f"FROM {ref}\nRUN echo on a pulled base\n")
    out = ok(engine, "build", "-t", "onpulled", str(ctx))
    assert f"Unable to find image '{ref}' locally\n" in out
    assert "Digest: sha256:" in out and "on a pulled base\n" in out
    assert ok(engine, "image", "inspect", "-f", "{{.Id}}", ref).startswith("sha256:")
    ok(engine, "rmi", "onpulled", ref)
