"""berth attach: a terminal session, the detach keys, output and exit status, signals;
run -it detaching."""

from __future__ import annotations

import json
import select
import signal
import subprocess

from support.containers_pty import PtySession
from support.engine_daemon import PYTHON, Engine


def run(engine: Engine, *args: str) -> tuple[int, str, str]:
    r = engine.run(list(args), timeout=60)
    return r.returncode, r.stdout, r.stderr


def running(engine: Engine, name: str) -> bool:
    return bool(json.loads(run(engine, "inspect", name)[1])[0]["State"]["Running"])


def cli(*args: str) -> list[str]:
    return [PYTHON, "-m", "berth.cli.main", *args]


def test_attach_to_a_terminal_detach_and_exit(engine: Engine) -> None:
    code, _, err = run(engine, "run", "-dit", "--name", "tt", "busybox", "sh")
    assert code == 0, err
    with PtySession(cli("attach", "tt"), engine.env) as s:
        s.write(b"echo hi-$((40+2))\n")
        s.read_until(b"hi-42")
        s.write(b"\x10\x11")  # ctrl-p ctrl-q
        assert s.wait() == 1
        assert "read escape sequence" in s.text()
    assert running(engine, "tt")
    with PtySession(cli("attach", "--detach-keys", "ctrl-a,x", "tt"), engine.env) as s:
        s.write(b"echo again\n")
        s.read_until(b"\nagain")  # the shell's answer, not the terminal's echo
        s.write(b"\x01x")
        assert s.wait() == 1
    assert running(engine, "tt")
    with PtySession(cli("attach", "tt"), engine.env) as s:
        s.write(b"exit 3\n")
        assert s.wait() == 3
    info = json.loads(run(engine, "inspect", "tt")[1])[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 3
    code, _, err = run(engine, "attach", "tt")
    assert (code, err) == (1, "You cannot attach to a stopped container, start it first\n")


def test_run_it_detaches_and_the_container_runs_on(engine: Engine) -> None:
    with PtySession(cli("run", "-it", "--name", "keep", "busybox", "sh"), engine.env) as s:
        s.read_until(b"# ")
        s.write(b"\x10\x11")
        assert s.wait() == 0
    assert running(engine, "keep")
    code, _, err = run(engine, "pause", "keep")
    assert code == 0, err
    code, _, err = run(engine, "attach", "keep")
    assert (code, err) == (1, "You cannot attach to a paused container, unpause it first\n")
    assert run(engine, "rm", "-f", "keep")[0] == 0


def test_attach_without_a_terminal_output_signals_and_exit_code(engine: Engine) -> None:
    script = "trap 'echo got-term; exit 9' TERM; while :; do echo tick; sleep 0.2; done"
    code, _, err = run(engine, "run", "-d", "--name", "plain", "busybox", "sh", "-c", script)
    assert code == 0, err
    proc = subprocess.Popen(
        cli("attach", "plain"),
        env=engine.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready and proc.stdout.readline() == b"tick\n"  # attached, signals proxied
        proc.send_signal(signal.SIGTERM)
        out, err2 = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 9 and out.endswith(b"got-term\n"), (out, err2)
    code, _, err = run(
        engine, "run", "-d", "--name", "late", "busybox", "sh", "-c", "sleep 1; echo late; exit 4"
    )
    assert code == 0, err
    assert run(engine, "attach", "--no-stdin", "late") == (4, "late\n", "")
