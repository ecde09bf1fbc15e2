"""Legacy links (``--link name:alias``), as Docker keeps them: on the default bridge an
/etc/hosts line and the ALIAS_* variables; on a user network the hosts line only; refused
to a stopped container and with host networking."""

from __future__ import annotations

from typing import Any

from support.engine_daemon import Engine
from support.network_engine import berth, inspect, ok


def test_links_on_the_default_bridge_and_a_user_network(engine: Engine) -> None:
    ok(
        engine, "run", "-d", "--name", "web", "-e", "SECRET=s3", "--expose", "80",
        "--expose", "53/udp", "busybox", "sleep", "60",
    )  # fmt: skip
    web: Any = inspect(engine, "web")
    ip = web["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    out = ok(
        engine, "run", "--rm", "--name", "client", "--link", "web:db", "busybox", "sh", "-c",
        "cat /etc/hosts; env | sort; ping -c1 -W2 db >/dev/null && echo reached",
    )  # fmt: skip
    assert f"{ip}\tdb {web['Id'][:12]} web\n" in out
    for line in (
        f"DB_PORT=udp://{ip}:53",  # the lowest port number, as Docker picks it
        f"DB_PORT_80_TCP=tcp://{ip}:80",
        f"DB_PORT_80_TCP_ADDR={ip}",
        "DB_PORT_80_TCP_PORT=80",
        "DB_PORT_80_TCP_PROTO=tcp",
        f"DB_PORT_53_UDP=udp://{ip}:53",
        "DB_NAME=/client/db",
        "DB_ENV_SECRET=s3",
    ):
        assert line + "\n" in out, line
    assert "DB_ENV_PATH" not in out and out.endswith("reached\n")
    # without an alias the name is the alias; on a user network: the hosts line, no variables
    ok(engine, "network", "create", "lnet")
    ok(engine, "run", "-d", "--name", "peer", "--network", "lnet", "busybox", "sleep", "60")
    out = ok(
        engine, "run", "--rm", "--network", "lnet", "--link", "peer", "busybox", "sh", "-c",
        "grep peer /etc/hosts; env",
    )  # fmt: skip
    peer: Any = inspect(engine, "peer")
    assert out.startswith(f"{peer['NetworkSettings']['Networks']['lnet']['IPAddress']}\tpeer ")
    assert "PEER_NAME" not in out
    ok(engine, "rm", "-f", "peer", "web")
    ok(engine, "network", "rm", "lnet")


def test_links_refused(engine: Engine) -> None:
    ok(engine, "create", "--name", "stopped", "busybox", "true")
    code, _, err = berth(engine, "run", "--rm", "--link", "stopped:s", "busybox", "true")
    assert code == 125 and "Cannot link to a non running container: /stopped AS" in err
    code, _, err = berth(engine, "run", "--rm", "--network", "host", "--link", "stopped", "busybox")
    assert code == 125 and "host type networking can't be used with links" in err
    code, _, err = berth(engine, "run", "--rm", "--link", "nosuch:x", "busybox", "true")
    assert code == 125 and "could not get container for nosuch" in err
    ok(engine, "rm", "stopped")
    assert ok(engine, "ps", "-aq") == ""
