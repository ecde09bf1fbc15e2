"""The monitor's held start: a real monitor process starts a busybox bundle.

berthd asks the monitor to create a container and hold it before its program
runs, readies the container's network meanwhile, then says "go" -- or
"abort" when that failed (berth.engine.monitor.protocol).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.engine.monitor.protocol import PROTOCOL_VERSION, ShimClient
from berth.errors import BerthError
from support.fixtures_runtime import RuntimeHandle


def _wait(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _pid_gone(pid: int) -> bool:
    """The monitor ended (this process is a subreaper: it reaps it when it is its child)."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class Monitor:
    """A real monitor on directories of the test's own: ``shim`` is berthd's client of
    it; ``root`` its data root, ``state`` the runtime's state root of its containers."""

    def __init__(self, tmp_path: Path) -> None:
        self.root, exec_root, self.state = tmp_path / "root", tmp_path / "exec", tmp_path / "rt"
        self.shim = ShimClient(str(self.root), str(exec_root))
        self.shim.ensure()
        try:
            self.pid = int((exec_root / "shim.pid").read_text())
        except BaseException:
            self.shim.request("shutdown")
            raise


@pytest.fixture
def monitor(tmp_path: Path) -> Iterator[Monitor]:
    m = Monitor(tmp_path)
    try:
        yield m
    finally:
        m.shim.request("shutdown")
        assert _wait(lambda: _pid_gone(m.pid))


def test_a_held_start_runs_on_go_and_is_deleted_on_abort(
    runtime: RuntimeHandle, monitor: Monitor, tmp_path: Path
) -> None:
    shim, state = monitor.shim, monitor.state
    out = tmp_path / "out"
    out.mkdir()

    def start(cid: str, ready: object) -> dict[str, object]:
        b = runtime.bundle(["sh", "-c", f"echo ran > /out/{cid}"])
        b.spec["mounts"].append(
            {"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind"]}
        )
        b.write()
        return shim.start(
            ready,  # type: ignore[arg-type]
            id=cid,
            bundle=str(b.path),
            runtime_root=str(state),
            log_path="",
            unmount=[],
        )

    def ready() -> None:
        # (runs while the monitor creates the container) once created, it is
        # held: its program does not run
        assert _wait(lambda: (state / "held" / "state.json").exists())
        time.sleep(0.3)
        assert not (out / "held").exists()

    answer = start("held", ready)
    assert isinstance(answer["pid"], int) and answer["pid"] > 0
    assert _wait(lambda: (out / "held").exists())
    assert _wait(lambda: (monitor.root / "containers" / "held" / "exit.json").exists())

    def fail() -> None:
        raise RuntimeError("the network could not be readied")

    with pytest.raises(RuntimeError, match="could not be readied"):
        start("aborted", fail)
    # deleted before the monitor answered: no state, no process, nothing ran
    assert not (state / "aborted").exists()
    assert shim.request("list")["containers"] == []
    time.sleep(0.2)
    assert not (out / "aborted").exists()


def test_a_container_removed_at_its_exit_gets_no_exit_record(
    runtime: RuntimeHandle, monitor: Monitor
) -> None:
    # exit.json is for berthd, should it be down when a container exits; a container
    # started with auto_remove (--rm) is removed anyway: the monitor skips the write
    from berth.engine.monitor.protocol import LineReader

    shim, root, state = monitor.shim, monitor.root, monitor.state
    sock, rest = shim.stream("events")  # (subscribed before the starts)
    sock.settimeout(10)
    events = LineReader(sock)
    events.buf = rest
    try:
        for cid, auto_remove in (("kept", False), ("removed", True)):
            b = runtime.bundle(["true"])
            shim.start(
                None,
                id=cid,
                bundle=str(b.path),
                runtime_root=str(state),
                log_path="",
                unmount=[],
                auto_remove=auto_remove,
            )
            while True:
                event = events.line()
                assert event is not None
                if event.get("event") == "exit" and event["id"] == cid:
                    break
            assert event["exit_code"] == 0
        assert (root / "containers" / "kept" / "exit.json").exists()
        assert not (root / "containers" / "removed" / "exit.json").exists()
    finally:
        sock.close()


def test_the_monitor_unmounts_a_rootfs_in_a_thread_without_threading(tmp_path: Path) -> None:
    # the monitor forks the init of every container it starts: once imported,
    # threading's at-fork hook would run in each of them, on the start path
    import subprocess
    import sys

    from berth.kernel.consts import MNT_DETACH
    from berth.kernel.syscalls import SYSCALLS

    target = tmp_path / "rootfs"
    target.mkdir()
    SYSCALLS.mount("none", str(target), "tmpfs", 0, None)
    try:
        code = (
            "import sys\n"
            "assert 'threading' not in sys.modules\n"
            "from berth.engine.monitor.shim import Container, _Unmounting\n"
            "c = Container('x')\n"
            "c.unmount = [sys.argv[1]]\n"
            "_Unmounting(c).join()\n"
            "print(c.unmount, 'threading' in sys.modules)\n"
        )
        r = subprocess.run(
            [sys.executable, "-S", "-c", code, str(target)],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["[]", "False"]
        mountinfo = Path("/proc/self/mountinfo").read_text()
        assert str(target) not in [line.split()[4] for line in mountinfo.splitlines()]
    finally:
        if str(target) in Path("/proc/self/mountinfo").read_text():
            SYSCALLS.umount(str(target), MNT_DETACH)


def test_a_start_planned_first_is_read_before_its_files_exist(
    runtime: RuntimeHandle, monitor: Monitor, tmp_path: Path
) -> None:
    # plan_first: the monitor reads the config while berthd readies what it binds;
    # it creates the container on "ready" -- and makes nothing when called off
    shim, state = monitor.shim, monitor.state
    assert shim.version() == PROTOCOL_VERSION >= 2  # (berthd asks before it plans first)
    files = tmp_path / "files"
    files.mkdir()
    out = tmp_path / "out"
    out.mkdir()

    def bundle(cid: str) -> str:
        b = runtime.bundle(["sh", "-c", f"cat /etc/given > /out/{cid}"])
        b.spec["mounts"] += [
            {"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind"]},
            {"destination": "/etc/given", "type": "bind", "source": str(files / cid)},
        ]
        b.write()
        return str(b.path)

    def start(cid: str, path: str, prepare: object) -> dict[str, object]:
        return shim.start(
            lambda: None,
            prepare=prepare,  # type: ignore[arg-type]
            id=cid,
            bundle=path,
            runtime_root=str(state),
            log_path="",
            unmount=[],
        )

    path = bundle("planned")

    def make_the_file() -> None:
        # (runs while the monitor reads the config: the file it binds is made now)
        assert not (state / "planned").exists()
        (files / "planned").write_text("made while planned\n")

    answer = start("planned", path, make_the_file)
    assert isinstance(answer["pid"], int) and answer["pid"] > 0
    assert _wait(lambda: (out / "planned").exists())
    assert _wait(lambda: (out / "planned").read_text() == "made while planned\n")

    def fail() -> None:
        raise RuntimeError("the rootfs could not be mounted")

    with pytest.raises(RuntimeError, match="could not be mounted"):
        start("called-off", bundle("called-off"), fail)
    assert not (state / "called-off").exists()
    assert all(c["id"] != "called-off" for c in shim.request("list")["containers"])

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(BerthError, match=r"config\.json"):
        start("broken", str(broken), lambda: None)
    assert not (state / "broken").exists()


def test_a_start_with_attach_carries_the_containers_streams(
    runtime: RuntimeHandle, monitor: Monitor
) -> None:
    # protocol 3: the start's connection goes on as an attach stream, attached from
    # before the program runs (nothing it writes first is lost)
    shim, state = monitor.shim, monitor.state
    assert shim.version() >= 3
    from berth.api.stdcopy import Demuxer

    b = runtime.bundle(["sh", "-c", "echo first; echo second >&2; read line; echo got $line"])
    b.write()
    streams: list[tuple[object, bytes]] = []
    answer = shim.start(
        None,
        stream_to=streams,  # type: ignore[arg-type]
        id="attached",
        bundle=str(b.path),
        runtime_root=str(state),
        log_path="",
        unmount=[],
        open_stdin=True,
        attach={"stdin": True, "stdout": True, "stderr": True},
    )
    assert isinstance(answer["pid"], int) and answer["pid"] > 0
    ((sock, rest),) = streams
    got: dict[int, bytes] = {1: b"", 2: b""}
    demux = Demuxer()
    try:
        sock.sendall(b"input\n")  # type: ignore[attr-defined]
        data = rest
        while True:
            for kind, payload in demux.feed(data):
                got[kind] += payload
            data = sock.recv(65536)  # type: ignore[attr-defined]
            if not data:
                break
    finally:
        sock.close()  # type: ignore[attr-defined]
    assert (got[1], got[2]) == (b"first\ngot input\n", b"second\n")
