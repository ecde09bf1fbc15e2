"""berth run and friends, driven through the CLI as a user would (real kernel, root)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time

from support.engine_daemon import PYTHON, Engine


def run(engine: Engine, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    r = engine.run(list(args), timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def test_run_echo_rm_and_exit_codes(engine: Engine) -> None:
    code, out, err = run(engine, "run", "--rm", "busybox", "echo", "hello from berth")
    assert (code, out) == (0, "hello from berth\n"), err
    code, out, err = run(
        engine, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"
    )
    assert (code, out, err) == (3, "out\n", "err\n")
    code, _, err = run(engine, "run", "--rm", "busybox", "nonexistent")
    assert code == 127 and 'exec: "nonexistent": executable file not found in $PATH' in err
    code, _, err = run(engine, "run", "--rm", "busybox", "/etc/passwd")
    assert code == 126 and "permission denied" in err
    code, _, err = run(engine, "run", "--rm", "no-such-image:1")
    assert code == 125 and "no-such-image" in err
    assert run(engine, "ps", "-a", "-q")[1] == ""  # --rm left nothing


def test_only_an_rm_container_has_a_volatile_writable_layer(engine: Engine) -> None:
    def volatile_root(*run_args: str) -> bool:
        code, out, err = run(
            engine, "run", *run_args, "busybox", "grep", " / / ", "/proc/self/mountinfo"
        )
        assert code == 0, err
        options = out.split(" - ")[1].split()[2].split(",")
        return bool({"volatile", "fsync=volatile"} & set(options))  # (as newer kernels say)

    assert volatile_root("--rm")
    assert not volatile_root("--name", "kept")
    assert run(engine, "rm", "kept")[0] == 0


def test_hostname_is_the_short_id_and_pid_1(engine: Engine) -> None:
    code, cid, err = run(engine, "run", "-d", "busybox", "sleep", "60")
    assert code == 0, err
    cid = cid.strip()
    assert len(cid) == 64
    info = json.loads(run(engine, "inspect", cid)[1])[0]
    assert info["State"]["Running"] is True and info["State"]["Pid"] > 0
    assert info["Config"]["Hostname"] == cid[:12]
    assert run(engine, "rm", "-f", cid)[0] == 0


def test_detached_logs_stop_and_rm(engine: Engine) -> None:
    code, _, err = run(
        engine,
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; i=0;"
        " while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
    )
    assert code == 0, err
    time.sleep(0.5)
    code, out, _ = run(engine, "ps")
    assert "ticker" in out and out.splitlines()[0].split()[:2] == ["CONTAINER", "ID"]
    code, out, _ = run(engine, "logs", "--tail", "2", "ticker")
    assert len(out.splitlines()) == 2 and out.startswith("tick ")
    code, out, _ = run(engine, "stop", "-t", "5", "ticker")
    assert (code, out) == (0, "ticker\n")
    info = json.loads(run(engine, "inspect", "ticker")[1])[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0
    assert "bye" in run(engine, "logs", "ticker")[1]
    code, _, err = run(engine, "rm", "ticker")
    assert code == 0, err
    code, _, err = run(engine, "inspect", "ticker")
    assert code == 1 and "No such object: ticker" in err


def test_rm_running_needs_force(engine: Engine) -> None:
    run(engine, "run", "-d", "--name", "busy", "busybox", "sleep", "60")
    code, _, err = run(engine, "rm", "busy")
    assert code == 1 and "You cannot remove a running container" in err
    assert run(engine, "rm", "-f", "busy")[0] == 0
    assert run(engine, "ps", "-aq")[1] == ""


def test_name_conflict_and_ps_formats(engine: Engine) -> None:
    assert run(engine, "create", "--name", "one", "busybox", "true")[0] == 0
    code, _, err = run(engine, "create", "--name", "one", "busybox", "true")
    assert code == 125 and 'The container name "/one" is already in use' in err
    out = run(engine, "ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Image}}")[1]
    assert out == "one Created busybox\n"
    code, out, _ = run(engine, "start", "one")
    assert out == "one\n"
    run(engine, "wait", "one")
    out = run(engine, "ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}")[1]
    assert out == "one\n"


def test_interactive_shell_through_a_pty(engine: Engine) -> None:
    """The seed's session: `run -it busybox /bin/sh`, ps shows /bin/sh as PID 1."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(
            str(engine.run.__globals__["PYTHON"]),
            [
                str(engine.run.__globals__["PYTHON"]),
                "-m",
                "berth.cli.main",
                "run",
                "-it",
                "--rm",
                "busybox",
                "/bin/sh",
            ],
            engine.env,
        )
    out = b""
    deadline = time.monotonic() + 30

    def read_until(marker: bytes) -> None:
        nonlocal out
        while marker not in out:
            assert time.monotonic() < deadline, out
            try:
                out += os.read(fd, 4096)
            except OSError:
                return

    read_until(b"/ # ")
    os.write(fd, b"ps -o pid,comm\n")
    read_until(b"ps\r\n")
    os.write(fd, b"exit 7\n")
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert "    1 sh" in text
    assert os.waitstatus_to_exitcode(status) == 7


def test_the_installed_command_runs_from_its_module_cache(engine: Engine) -> None:
    """``.venv/bin/berth`` (scripts/setup's launcher) serves the CLI from its module
    cache, compiled lean: it answers exactly as the modules imported the usual way."""
    from berth.cli.commands import COMMANDS
    from berth.runtime import modcache

    launcher = os.path.join(os.path.dirname(PYTHON), "berth")
    assert "modcache.default_path('cli')" in open(launcher).read()
    assert os.path.exists(modcache.default_path("cli"))

    def both(*args: str) -> tuple[subprocess.CompletedProcess[str], ...]:
        usual = engine.run(list(args))
        cached = subprocess.run(
            [launcher, *args], capture_output=True, text=True, timeout=60, env=engine.env
        )
        return usual, cached

    for args in (
        ("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"),
        ("run", "--rm", "busybox", "nonexistent"),
        ("images", "--format", "{{.Repository}}:{{.Tag}}"),
        ("run", "--no-such-flag", "busybox"),
        ("--help",),
        *((name, "--help") for name in sorted(COMMANDS)),
    ):
        usual, cached = both(*args)
        assert (cached.returncode, cached.stdout, cached.stderr) == (
            usual.returncode,
            usual.stdout,
            usual.stderr,
        ), args
