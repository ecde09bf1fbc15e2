from __future__ import annotations

import pytest

from berth.engine.config import (
    DaemonConfig,
    load,
    parse_address_pool,
    parse_listen_host,
    parse_ulimit,
    reload_changes,
)
from berth.errors import InvalidArgument


def test_defaults() -> None:
    c = load(None)
    assert c.data_root == "/var/lib/berth" and c.exec_root == "/run/berth"
    assert c.socket_hosts == ("unix:///run/berth/berth.sock",)
    assert c.pid_path == "/run/berth/berthd.pid"
    assert c.log_level == "info" and c.max_concurrent_downloads == 3


def test_file_and_flags() -> None:
    text = """{
      "data-root": "/srv/berth", "insecure-registries": ["127.0.0.1:5000"],
      "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 4096}},
      "default-address-pools": [{"base": "172.30.0.0/16", "size": 24}],
      "log-opts": {"max-size": "10m"}, "dns": ["1.1.1.1"], "bip": "172.17.0.1/16"
    }"""
    c = load(text, {"exec-root": "/tmp/x", "debug": True, "hosts": ["tcp://127.0.0.1:2375"]})
    assert c.data_root == "/srv/berth" and c.exec_root == "/tmp/x" and c.debug
    assert c.default_ulimits["nofile"].hard == 4096
    assert c.default_address_pools[0].size == 24
    assert c.log_opts == {"max-size": "10m"}
    assert c.socket_hosts == ("tcp://127.0.0.1:2375",)


@pytest.mark.parametrize(
    ("text", "flags", "message"),
    [
        ('{"nope": 1, "zap": 2}', {}, "don't match any configuration option: nope, zap"),
        ('{"debug": true}', {"debug": False}, "specified both as a flag and in the configuration"),
        ('{"log-level": "loud"}', {}, 'invalid log level "loud"'),
        ('{"data-root": "rel"}', {}, "must be an absolute path"),
        ('{"bip": "300.1.1.1/8"}', {}, "bip"),
        ('{"dns": ["x"]}', {}, "is not an IP address"),
        ('{"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]}', {}, "does not fit"),
        ('{"insecure-registries": ["http://r"]}', {}, "without a scheme"),
        ('{"max-concurrent-downloads": 0}', {}, "at least 1"),
        ('{"labels": ["x"]}', {}, "is not key=value"),
        ('{"debug": "yes"}', {}, "debug: expected a boolean"),
        ("[1]", {}, "expected a JSON object"),
        ('{"hosts": ["tcp://0.0.0.0:2375"]}', {}, "only on loopback"),
    ],
)
def test_refusals(text: str, flags: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        load(text, flags, "/etc/berth/daemon.json")
    assert message in str(e.value)
    assert str(e.value).startswith("unable to configure the berth daemon with file") or (
        "debug" not in message
    )


def test_value_parsers() -> None:
    u = parse_ulimit("nofile=1024:2048")
    assert (u.name, u.soft, u.hard) == ("nofile", 1024, 2048)
    assert parse_ulimit("nproc=10").hard == 10
    for bad in ("nofile", "bogus=1", "nofile=a", "nofile=5:1"):
        with pytest.raises(InvalidArgument):
            parse_ulimit(bad)
    p = parse_address_pool("base=10.10.0.0/16,size=24")
    assert (p.base, p.size) == ("10.10.0.0/16", 24)
    with pytest.raises(InvalidArgument):
        parse_address_pool("base=10.10.0.0/16")
    assert parse_listen_host("unix:///run/x.sock") == ("unix", "/run/x.sock", 0)
    assert parse_listen_host("tcp://localhost:1") == ("tcp", "127.0.0.1", 1)
    assert parse_listen_host("tcp://[::1]:2") == ("tcp", "::1", 2)
    for bad in ("unix://rel", "ssh://x", "tcp://10.0.0.1:1", "tcp://127.0.0.1", "plain"):
        with pytest.raises(InvalidArgument):
            parse_listen_host(bad)


def test_reload_applies_only_what_can_change() -> None:
    old = load('{"debug": false, "labels": ["a=1"]}', {"data-root": "/a"})
    new = DaemonConfig.from_json({"debug": True, "labels": ["a=2"], "data-root": "/b"})
    merged, ignored = reload_changes(old, new)
    assert merged.debug and merged.labels == ("a=2",)
    assert merged.data_root == "/a" and ignored == ["data-root"]
