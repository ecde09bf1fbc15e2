"""Issue 5 through the engine: published ports, user networks with DNS, network modes,
/etc files, outbound traffic, and nothing left after rm -- driven with the berth CLI
(and the docker CLI where it is cheap) against a real berthd."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess

import pytest

from support.engine_daemon import Engine
from support.network_engine import (
    Traces,
    berth,
    free_port,
    host_ip,
    http_get,
    inspect,
    ok,
    wait_for,
)
from support.network_helpers import tcp_server

HTTPD = ("busybox", "httpd", "-f", "-p", "80", "-h", "/etc")


def docker(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "-H", engine.host, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(engine.env, DOCKER_HOST=engine.host),
    )


def test_published_ports_port_command_ps_and_release(engine: Engine) -> None:
    traces = Traces(engine)
    me = host_ip()
    port = free_port()
    cid = ok(
        engine,
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        f"{port}:80",
        "-p",
        "127.0.0.1::81",
        "--expose",
        "90",
        "-P",
        *HTTPD,
    ).strip()
    short = cid[:12]
    # the kernel path (DNAT, no proxy): from 127.0.0.1, the host's own address, directly
    assert wait_for(lambda: http_get("127.0.0.1", port, "/hostname") == short + "\n")
    assert http_get(me, port, "/hostname") == short + "\n"
    settings = inspect(engine, "web")["NetworkSettings"]
    assert isinstance(settings, dict)
    ip = settings["IPAddress"]
    assert http_get(ip, 80, "/hostname") == short + "\n"
    assert settings["Gateway"] and settings["IPPrefixLen"] == 16
    assert settings["MacAddress"] == "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    assert settings["Networks"]["bridge"]["IPAddress"] == ip
    assert settings["SandboxKey"] == os.path.join(engine.exec_root, "netns", cid)
    ports = settings["Ports"]
    assert ports["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
    (loop,) = ports["81/tcp"]
    (rand,) = ports["90/tcp"]
    assert loop["HostIp"] == "127.0.0.1" and rand["HostIp"] == "0.0.0.0"

    lines = ok(engine, "port", "web").splitlines()
    assert sorted(lines) == sorted(
        [
            f"80/tcp -> 0.0.0.0:{port}",
            f"81/tcp -> 127.0.0.1:{loop['HostPort']}",
            f"90/tcp -> 0.0.0.0:{rand['HostPort']}",
        ]
    )
    assert ok(engine, "port", "web", "80") == f"0.0.0.0:{port}\n"
    code, _, err = berth(engine, "port", "web", "99")
    assert code == 1 and "No public port '99/tcp' published for web" in err
    if shutil.which("docker"):
        assert docker(engine, "port", "web").stdout.splitlines() == lines
    ps = ok(engine, "ps", "--format", "{{.Names}}|{{.Ports}}")
    assert f"0.0.0.0:{port}->80/tcp" in ps and f"127.0.0.1:{loop['HostPort']}->81/tcp" in ps

    # hairpin: a container reaches a published port of another, and of itself
    out = ok(engine, "run", "--rm", "busybox", "wget", "-qO-", f"http://{me}:{port}/hostname")
    assert out == short + "\n"
    self_port = free_port()
    out = ok(
        engine,
        "run",
        "--rm",
        "-p",
        f"{self_port}:80",
        "busybox",
        "sh",
        "-c",
        f"httpd -p 80 -h /etc && wget -qO- http://{me}:{self_port}/hostname",
    )
    assert len(out.strip()) == 12

    # a taken host port: a clear error, and the container is not started
    code, _, err = berth(engine, "run", "-d", "--name", "second", "-p", f"{port}:80", *HTTPD)
    assert code == 125
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in err
    assert ok(engine, "ps", "-a", "--filter", "name=second", "--format", "{{.Status}}") == (
        "Created\n"
    )
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        taken = listener.getsockname()[1]
        code, _, err = berth(engine, "start", "second")  # same port, still taken
        assert code == 1 and "port is already allocated" in err
        code, _, err = berth(
            engine, "run", "--rm", "-p", f"127.0.0.1:{taken}:80", "busybox", "true"
        )
        assert code == 125 and "address already in use" in err and f":{taken}" in err

    # after rm: no veth, netns, published port or address of the container is left
    assert wait_for(lambda: len(traces.veths()) == 1)  # others' veths go in the background
    assert traces.netns() == {cid}
    assert (("tcp", port, ip, 80)) in traces.published()
    ok(engine, "rm", "-f", "web", "second")
    assert wait_for(lambda: not traces.veths())
    assert traces.netns() == set() and traces.published() == []
    assert http_get("127.0.0.1", port, "/hostname", timeout=1) == ""
    bridge = json.loads(ok(engine, "network", "inspect", "bridge"))[0]
    assert bridge["Containers"] == {}
    # its address is free again: the next container gets it
    again = ok(engine, "run", "--rm", "busybox", "ip", "-o", "-4", "addr", "show", "eth0")
    assert f" {ip}/16 " in again


def test_user_networks_dns_aliases_internal_connect_and_cli(engine: Engine) -> None:
    me = host_ip()
    traces = Traces(engine)
    net_id = ok(
        engine, "network", "create", "--subnet", "10.123.0.0/24", "--label", "team=a", "appnet"
    ).strip()
    assert len(net_id) == 64
    ls = ok(engine, "network", "ls")
    assert ls.splitlines()[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert [line.split()[1] for line in ls.splitlines()[1:]] == ["appnet", "bridge", "host", "none"]
    assert f"{net_id[:12]}   appnet    bridge    local" in ls
    code, _, err = berth(engine, "network", "create", "appnet")
    assert code == 1 and "network with name appnet already exists" in err
    if shutil.which("docker"):
        r = docker(engine, "network", "ls", "--filter", "label=team=a", "--format", "{{.Name}}")
        assert (r.returncode, r.stdout) == (0, "appnet\n"), r.stderr
        doc = json.loads(docker(engine, "network", "inspect", "appnet").stdout)[0]
        assert doc["IPAM"]["Config"] == [{"Subnet": "10.123.0.0/24", "Gateway": "10.123.0.1"}]

    ok(
        engine,
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "appnet",
        "--network-alias",
        "database",
        "--ip",
        "10.123.0.50",
        *HTTPD,
    )
    script = (
        "wget -qO- http://db/hostname; wget -qO- http://database/hostname;"
        " wget -qO- http://db.appnet/hostname; cat /etc/resolv.conf"
    )
    out = ok(engine, "run", "--rm", "--network", "appnet", "busybox", "sh", "-c", script)
    db_short = inspect(engine, "db")["Id"][:12]  # type: ignore[index]
    assert out.startswith(f"{db_short}\n{db_short}\n{db_short}\n"), out
    assert "nameserver 127.0.0.11\n" in out and "options ndots:0\n" in out
    doc = json.loads(ok(engine, "network", "inspect", "appnet"))[0]
    (entry,) = doc["Containers"].values()
    assert entry["Name"] == "db" and entry["IPv4Address"] == "10.123.0.50/24"
    nets = inspect(engine, "db")["NetworkSettings"]["Networks"]  # type: ignore[index]
    assert nets["appnet"]["Aliases"] == ["database"] and nets["appnet"]["IPAddress"] == (
        "10.123.0.50"
    )

    # --internal: reachable inside, no way out (no default route, forwarding dropped)
    port = free_port()
    ok(engine, "network", "create", "--internal", "inner")
    with tcp_server(None, port):
        out = ok(engine, "run", "--rm", "busybox", "nc", me, str(port))
        assert out.startswith("hello ")
        code, out, _ = berth(
            engine,
            "run",
            "--rm",
            "--network",
            "inner",
            "busybox",
            "sh",
            "-c",
            f"ip route; timeout 3 nc {me} {port}; echo rc=$?",
        )
        assert "default" not in out and "hello" not in out and "rc=0" not in out
    # connect a running container to the internal network, with an alias there
    ok(engine, "network", "connect", "--alias", "web2", "inner", "db")
    nets = inspect(engine, "db")["NetworkSettings"]["Networks"]  # type: ignore[index]
    assert set(nets) == {"appnet", "inner"}
    out = ok(
        engine,
        "run",
        "--rm",
        "--network",
        "inner",
        "busybox",
        "wget",
        "-qO-",
        "http://web2/hostname",
    )
    assert out == db_short + "\n"
    ok(engine, "network", "disconnect", "inner", "db")
    code, out, _ = berth(engine, "run", "--rm", "--network", "inner", "busybox", "nslookup", "web2")
    assert "10.123" not in out and "172." not in out.split("web2")[-1]
    code, _, err = berth(engine, "network", "disconnect", "inner", "db")
    assert code == 1 and "is not connected to network inner" in err

    # removal: refused while in use; rm prints names; prune removes the unused
    code, _, err = berth(engine, "network", "rm", "appnet")
    assert code == 1 and "active endpoints" in err
    ok(engine, "rm", "-f", "db")
    assert wait_for(lambda: not traces.veths())
    ok(engine, "network", "create", "spare")
    assert ok(engine, "network", "rm", "appnet") == "appnet\n"
    out = ok(engine, "network", "prune", "-f")
    assert out == "Deleted Networks:\ninner\nspare\n\n"
    assert [line.split()[1] for line in ok(engine, "network", "ls").splitlines()[1:]] == [
        "bridge",
        "host",
        "none",
    ]
    code, _, err = berth(engine, "network", "rm", "bridge")
    assert code == 1 and "pre-defined network and cannot be removed" in err
    code, out, err = berth(engine, "network", "inspect", "nope")
    assert (code, out) == (1, "[]\n") and "No such network: nope" in err


def test_network_modes_and_etc_files(engine: Engine) -> None:
    me = host_ip()
    out = ok(engine, "run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]
    out = ok(
        engine, "run", "--rm", "--network", "host", "busybox", "sh", "-c", "hostname; ip -o -4 addr"
    )
    assert out.splitlines()[0] == os.uname().nodename and f"inet {me}/" in out

    ok(engine, "run", "-d", "--name", "base", "-h", "basehost", "busybox", "sleep", "60")
    base_ip = inspect(engine, "base")["NetworkSettings"]["IPAddress"]  # type: ignore[index]
    out = ok(
        engine,
        "run",
        "--rm",
        "--network",
        "container:base",
        "busybox",
        "sh",
        "-c",
        "hostname; ip -o -4 addr show eth0; tail -1 /etc/hosts",
    )
    lines = out.splitlines()
    assert lines[0] == "basehost" and f"inet {base_ip}/16" in lines[1]
    assert lines[2] == f"{base_ip}\tbasehost"
    code, _, err = berth(
        engine, "run", "--rm", "--network", "container:base", "-p", "80", "busybox", "true"
    )
    assert code == 125 and "conflicting options: port publishing" in err
    code, _, err = berth(engine, "run", "--rm", "--ip", "172.30.0.9", "busybox", "true")
    assert code == 125 and "user defined networks only" in err
    ok(engine, "rm", "-f", "base")

    gateway = json.loads(ok(engine, "network", "inspect", "bridge"))[0]["IPAM"]["Config"][0][
        "Gateway"
    ]
    out = ok(
        engine,
        "run",
        "--rm",
        "-h",
        "myhost",
        "--add-host",
        "foo:1.2.3.4",
        "--add-host",
        "gw:host-gateway",
        "--dns",
        "9.9.9.9",
        "--dns-search",
        "example.com",
        "--dns-option",
        "ndots:3",
        "busybox",
        "sh",
        "-c",
        "hostname; cat /etc/hostname /etc/hosts /etc/resolv.conf",
    )
    assert out.startswith("myhost\nmyhost\n127.0.0.1\tlocalhost\n")
    assert "\n1.2.3.4\tfoo\n" in out and f"\n{gateway}\tgw\n" in out
    assert "\nnameserver 9.9.9.9\nsearch example.com\noptions ndots:3\n" in out
    assert "# Overrides: [nameservers search options]" in out
    # without options: the host's servers (loopback ones dropped), its search list
    host_conf = open("/etc/resolv.conf").read()
    out = ok(engine, "run", "--rm", "busybox", "cat", "/etc/resolv.conf")
    for line in host_conf.splitlines():
        if line.startswith("nameserver ") and not line.split()[1].startswith("127."):
            assert line + "\n" in out


def test_outbound_traffic_reaches_the_host_and_is_masqueraded(
    engine: Engine, outside_netns: str
) -> None:
    me = host_ip()
    port = free_port()
    with tcp_server(None, port):
        out = ok(engine, "run", "--rm", "busybox", "nc", me, str(port))
    assert out.startswith("hello 172.")  # the host sees the container's own address
    # a server "outside" (no route back to container subnets): answers only
    # because the container's traffic leaves masqueraded as the host's address
    with tcp_server(outside_netns, 80):
        out = ok(engine, "run", "--rm", "busybox", "nc", "198.51.100.2", "80")
        assert out == "hello 198.51.100.1"
        ok(engine, "network", "create", "--internal", "closed")
        code, out, _ = berth(
            engine, "run", "--rm", "--network", "closed", "busybox", "nc", "198.51.100.2", "80"
        )
        assert code != 0 and "hello" not in out
        ok(engine, "network", "rm", "closed")


@pytest.mark.parametrize("stop", ["rm", "stop"])
def test_restarted_container_gets_its_network_back(engine: Engine, stop: str) -> None:
    """Exit releases the network (NetworkSettings cleared); a new start sets it up again."""
    port = free_port()
    ok(engine, "run", "-d", "--name", "web", "-p", f"{port}:80", *HTTPD)
    assert wait_for(lambda: http_get("127.0.0.1", port, "/hostname") != "")
    ok(engine, "stop", "-t", "1", "web")
    settings = inspect(engine, "web")["NetworkSettings"]
    assert isinstance(settings, dict)
    assert settings["Ports"] == {} and settings["IPAddress"] == "" and settings["SandboxKey"] == ""
    assert settings["Networks"]["bridge"]["NetworkID"]
    assert ok(engine, "port", "web") == ""
    assert http_get("127.0.0.1", port, "/hostname", timeout=1) == ""
    import time

    events = ok(
        engine,
        "events",
        "--since",
        "0",
        "--until",
        str(time.time() + 1),
        "--filter",
        "type=network",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.type}}",
    )
    assert events.splitlines() == ["connect bridge bridge", "disconnect bridge bridge"]
    ok(engine, "start", "web")
    assert wait_for(lambda: http_get("127.0.0.1", port, "/hostname") != "")
    ok(engine, stop, *(["-f"] if stop == "rm" else ["-t", "1"]), "web")
    assert wait_for(lambda: not Traces(engine).veths())


def test_docker_py_networks(engine: Engine) -> None:
    docker_py = pytest.importorskip("docker")
    client = docker_py.DockerClient(base_url=engine.host)
    try:
        pool = docker_py.types.IPAMPool(subnet="10.125.0.0/24", gateway="10.125.0.254")
        net = client.networks.create(
            "pynet", driver="bridge", ipam=docker_py.types.IPAMConfig(pool_configs=[pool])
        )
        other = client.networks.create("pynet2", labels={"k": "v"}, internal=True)
        assert {n.name for n in client.networks.list()} >= {"bridge", "pynet", "pynet2"}
        c = client.containers.run("busybox", "sleep 60", detach=True, network="pynet", name="pyc")
        net.reload()
        assert [x.id for x in net.containers] == [c.id]
        other.connect(c, aliases=["alias2"])
        c.reload()
        nets = c.attrs["NetworkSettings"]["Networks"]
        assert nets["pynet"]["IPAddress"] == "10.125.0.1" and nets["pynet"]["Gateway"] == (
            "10.125.0.254"
        )
        assert nets["pynet2"]["Aliases"] == ["alias2"]
        other.disconnect(c)
        c.reload()
        assert set(c.attrs["NetworkSettings"]["Networks"]) == {"pynet"}
        with pytest.raises(docker_py.errors.APIError, match="active endpoints"):
            net.remove()
        c.remove(force=True)
        assert sorted(client.networks.prune(filters={"label": "k=v"})["NetworksDeleted"]) == [
            "pynet2"
        ]
        net.remove()
        with pytest.raises(docker_py.errors.NotFound):
            client.networks.get("pynet")
    finally:
        client.close()


def test_created_container_lists_its_networks_and_a_missing_network_fails_create(
    engine: Engine,
) -> None:
    ok(engine, "network", "create", "created-net")
    try:
        cid = ok(engine, "create", "--network", "created-net", "--network-alias", "db", *HTTPD)
        cid = cid.strip()
        # as Docker: the networks it will join are listed before it starts, without addresses
        nets = inspect(engine, cid)["NetworkSettings"]["Networks"]  # type: ignore[index]
        assert list(nets) == ["created-net"]
        assert nets["created-net"]["Aliases"] == ["db"]
        assert nets["created-net"]["IPAddress"] == ""
        # disconnected and connected again while created (what docker-compose does)
        ok(engine, "network", "disconnect", "created-net", cid)
        assert inspect(engine, cid)["NetworkSettings"]["Networks"] == {}  # type: ignore[index]
        ok(engine, "network", "connect", "--alias", "db2", "created-net", cid)
        code, _, err = berth(engine, "network", "connect", "created-net", cid)
        assert code == 1 and "already exists in network created-net" in err
        ok(engine, "start", cid)
        nets = inspect(engine, cid)["NetworkSettings"]["Networks"]  # type: ignore[index]
        assert "db2" in nets["created-net"]["Aliases"] and nets["created-net"]["IPAddress"]
        ok(engine, "rm", "-f", cid)
    finally:
        ok(engine, "network", "rm", "created-net")
    code, _, err = berth(engine, "create", "--network", "no-such-net", "busybox", "true")
    assert code == 125 and "network no-such-net not found" in err
    assert ok(engine, "ps", "-aq") == ""
