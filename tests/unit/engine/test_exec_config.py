"""Exec instances' pure parts: environment merge, config checks, the OCI process, exit codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.engine.containers.execs import (
    ExecRecord,
    exec_env,
    parse_config,
    process_spec,
    replace_or_append_env,
    start_failure_code,
)
from berth.errors import CannotInvoke, CommandNotFound, ContainerStartError, InvalidArgument

KEYS = st.sampled_from(["A", "B", "PATH", "HOME", "X_1"])
VALUES = st.text(alphabet="abc=/ ", max_size=5)
ITEMS = st.builds(lambda k, v: f"{k}={v}", KEYS, VALUES)


def _env_dict(env: list[str]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in env)


def test_replace_or_append_examples() -> None:
    assert replace_or_append_env(["A=1", "B=2"], ["B=3", "C=4"]) == ["A=1", "B=3", "C=4"]
    assert replace_or_append_env(["A=1", "B=2"], ["A"]) == ["B=2"]  # a bare name removes
    assert replace_or_append_env(["A=1"], ["Z"]) == ["A=1"]
    assert replace_or_append_env([], ["A=x=y"]) == ["A=x=y"]


@given(st.lists(ITEMS, max_size=6, unique_by=lambda e: e.split("=")[0]), st.lists(ITEMS))
def test_overrides_win_and_defaults_keep_their_place(
    defaults: list[str], overrides: list[str]
) -> None:
    out = replace_or_append_env(defaults, overrides)
    want = _env_dict(defaults)
    for item in overrides:
        k, v = item.split("=", 1)
        want[k] = v
    assert _env_dict(out) == want
    assert len(out) == len(want)  # no key twice
    kept = [e.split("=")[0] for e in out[: len(defaults)]]
    assert kept == [e.split("=")[0] for e in defaults]


def test_exec_env_is_dockers() -> None:
    config = {"Env": ["PATH=/custom", "FOO=1"], "Tty": False}
    env = exec_env(config, "abc123", False, ["FOO=2", "BAR=3"])
    assert env == ["PATH=/custom", "HOSTNAME=abc123", "FOO=2", "BAR=3"]
    with_tty = exec_env({}, "h", True, [])
    assert "TERM=xterm" in with_tty and with_tty[0].startswith("PATH=/usr/local/sbin")
    assert exec_env({"Env": ["TERM=dumb"]}, "h", True, []).count("TERM=dumb") == 1


def test_parse_config_checks_docker_shapes() -> None:
    assert parse_config({"Cmd": ["ls", "-l"]})["Cmd"] == ["ls", "-l"]
    with pytest.raises(InvalidArgument, match="No exec command specified"):
        parse_config({"Cmd": []})
    with pytest.raises(InvalidArgument, match=r"ExecConfig\.Tty"):
        parse_config({"Cmd": ["x"], "Tty": "yes"})
    with pytest.raises(InvalidArgument, match=r"ExecConfig\.Cmd"):
        parse_config({"Cmd": ["x", 1]})
    with pytest.raises(InvalidArgument, match="ConsoleSize"):
        parse_config({"Cmd": ["x"], "ConsoleSize": [1]})
    with pytest.raises(InvalidArgument, match=r"ExecConfig\.Env"):
        parse_config({"Cmd": ["x"], "Env": [3]})


def _record(**kw: object) -> ExecRecord:
    rec = ExecRecord("e1", "c1")
    rec.entrypoint, rec.args = "sh", ["-c", "true"]
    rec.env = ["PATH=/bin", "HOSTNAME=h"]
    for k, v in kw.items():
        setattr(rec, k, v)
    return rec


BASE = {
    "terminal": True,
    "consoleSize": {"height": 1, "width": 2},
    "user": {"uid": 1000, "gid": 1000},
    "args": ["sleep", "60"],
    "env": ["PATH=/x"],
    "cwd": "/srv",
    "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10}],
    "noNewPrivileges": True,
}


def test_process_spec_takes_the_containers_and_puts_the_execs_on_top() -> None:
    proc = process_spec(BASE, _record(), None)
    assert proc["args"] == ["sh", "-c", "true"]
    assert proc["env"] == ["PATH=/bin", "HOSTNAME=h"]
    assert proc["cwd"] == "/"  # the exec's working dir (container default resolved earlier)
    assert proc["terminal"] is False and "consoleSize" not in proc
    assert proc["user"] == {"uid": 1000, "gid": 1000}
    assert proc["capabilities"] == BASE["capabilities"]
    assert proc["rlimits"] == BASE["rlimits"] and proc["noNewPrivileges"] is True
    assert BASE["args"] == ["sleep", "60"]  # not changed in place


def test_process_spec_tty_user_privileged() -> None:
    rec = _record(tty=True, console_size=(30, 100), working_dir="/tmp", privileged=True)
    proc = process_spec(BASE, rec, {"uid": 0, "gid": 0, "additionalGids": []})
    assert proc["terminal"] is True and proc["consoleSize"] == {"height": 30, "width": 100}
    assert proc["cwd"] == "/tmp" and proc["user"]["uid"] == 0
    caps = proc["capabilities"]
    assert "CAP_SYS_ADMIN" in caps["effective"] and caps["bounding"] == caps["permitted"]
    assert len(caps["effective"]) > 30


def test_start_failure_codes() -> None:
    assert start_failure_code(CommandNotFound('exec: "x": executable file not found')) == 127
    assert start_failure_code(CannotInvoke("permission denied")) == 126
    assert start_failure_code(ContainerStartError("stat /x: no such file or directory")) == 127
    assert start_failure_code(ContainerStartError("setns: invalid argument")) == 126


def test_inspect_document() -> None:
    rec = _record(user="nobody", open_stdin=True, pid=42, running=True)
    doc = rec.inspect()
    assert doc["ID"] == "e1" and doc["ContainerID"] == "c1" and doc["Pid"] == 42
    assert doc["Running"] is True and doc["ExitCode"] is None
    assert doc["ProcessConfig"] == {
        "tty": False,
        "entrypoint": "sh",
        "arguments": ["-c", "true"],
        "privileged": False,
        "user": "nobody",
    }
    assert doc["OpenStdin"] is True and doc["OpenStdout"] is False
