"""Autostart's policy and command line (the spawn itself is an e2e test)."""

from __future__ import annotations

import pytest

from berth.client import hosts
from berth.client.api import _may_autostart
from berth.client.autostart import _tail, daemon_argv


def test_which_hosts_may_autostart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BERTH_NO_AUTOSTART", raising=False)
    assert _may_autostart(hosts.resolve([], {}))
    assert _may_autostart(hosts.resolve([], {"BERTH_HOST": "unix:///x.sock"}))
    assert _may_autostart(hosts.parse("unix:///x.sock", "flag"))
    # another engine's socket, or TCP: never start berthd there
    assert not _may_autostart(hosts.resolve([], {"DOCKER_HOST": "unix:///var/run/docker.sock"}))
    assert not _may_autostart(hosts.parse("tcp://127.0.0.1:2375", "flag"))
    monkeypatch.setenv("BERTH_NO_AUTOSTART", "1")
    assert not _may_autostart(hosts.resolve([], {}))


def test_daemon_command_line() -> None:
    argv, exec_root = daemon_argv(hosts.parse("unix:///run/berth/berth.sock"), {})
    assert argv[1:] == [
        "-m",
        "berth.cli.daemon",
        "--data-root",
        "/var/lib/berth",
        "--exec-root",
        "/run/berth",
        "-H",
        "unix:///run/berth/berth.sock",
    ]
    assert exec_root == "/run/berth"
    env = {"BERTH_ROOT": "/t/r", "BERTH_EXEC_ROOT": "/t/e", "BERTH_CONFIG_FILE": "/t/d.json"}
    argv, exec_root = daemon_argv(hosts.parse("unix:///t/e/s.sock"), env)
    assert argv[4:] == [
        "/t/r",
        "--exec-root",
        "/t/e",
        "-H",
        "unix:///t/e/s.sock",
        "--config-file",
        "/t/d.json",
    ]
    assert exec_root == "/t/e"


def test_log_tail(tmp_path: object) -> None:
    import os

    path = os.path.join(str(tmp_path), "log")
    with open(path, "w") as f:
        f.write("".join(f"line {i}\n" for i in range(30)))
    assert _tail(path, 2) == "  line 28\n  line 29"
    assert _tail(path + "-missing") == "  (no log)"
