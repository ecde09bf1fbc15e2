"""The network commands' own logic: IPAM flags, port lines, natural order, ls rows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.cli.cmd_network import LS_FORMAT, LS_HEADERS, _row, ipam_config, natural_key, port_lines
from berth.cli.template import render
from berth.errors import InvalidArgument


def test_ipam_config_matches_gateways_and_ranges_to_subnets() -> None:
    assert ipam_config(["10.1.0.0/24", "10.2.0.0/16"], ["10.2.0.254"], ["10.1.0.128/25"]) == [
        {"Subnet": "10.1.0.0/24", "IPRange": "10.1.0.128/25"},
        {"Subnet": "10.2.0.0/16", "Gateway": "10.2.0.254"},
    ]
    assert ipam_config([], [], []) == []
    with pytest.raises(InvalidArgument, match="corresponding subnet"):
        ipam_config([], ["10.0.0.1"], [])
    with pytest.raises(InvalidArgument, match=r"no matching subnet for gateway 10\.9\.0\.1"):
        ipam_config(["10.1.0.0/24"], ["10.9.0.1"], [])
    with pytest.raises(InvalidArgument, match="multiple gateways"):
        ipam_config(["10.1.0.0/24"], ["10.1.0.1", "10.1.0.2"], [])


def test_port_lines_as_docker_port_prints_them() -> None:
    ports = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}],
        "9/tcp": None,
        "443/tcp": [{"HostIp": "::", "HostPort": "8443"}],
    }
    assert port_lines(ports) == [  # natural order: 53 < 80 < 443
        "53/udp -> 127.0.0.1:49153",
        "80/tcp -> 0.0.0.0:8080",
        "443/tcp -> [::]:8443",
    ]
    assert port_lines(ports, "80") == ["0.0.0.0:8080"]
    assert port_lines(ports, "53/udp") == ["127.0.0.1:49153"]
    assert port_lines(ports, "53") == []
    assert port_lines(ports, "443/tcp") == ["[::]:8443"]


def test_natural_order() -> None:
    names = ["net10", "net2", "bridge", "net1", "a10b", "a9b"]
    assert sorted(names, key=natural_key) == ["a9b", "a10b", "bridge", "net1", "net2", "net10"]


@given(st.text(alphabet="ab-", max_size=4), st.integers(0, 10**6), st.integers(0, 10**6))
def test_natural_order_compares_numbers_as_numbers(prefix: str, a: int, b: int) -> None:
    left, right = natural_key(f"{prefix}{a}x"), natural_key(f"{prefix}{b}x")
    assert (left < right) == (a < b)
    assert (left == right) == (a == b)


def test_ls_rows_render_docker_columns() -> None:
    nets = [
        {"Id": "a" * 64, "Name": "bridge", "Driver": "bridge", "Scope": "local", "Labels": {}},
        {
            "Id": "b" * 64,
            "Name": "mine",
            "Driver": "bridge",
            "Scope": "local",
            "Labels": {"k": "v"},
            "Internal": True,
        },
    ]
    out = render(LS_FORMAT, [_row(n, True) for n in nets], LS_HEADERS)
    assert out.splitlines() == [
        "NETWORK ID     NAME      DRIVER    SCOPE",
        "aaaaaaaaaaaa   bridge    bridge    local",
        "bbbbbbbbbbbb   mine      bridge    local",
    ]
    out = render("{{.Name}} {{.Internal}} {{.Labels}} {{.ID}}", [_row(nets[1], False)])
    assert out == "mine true k=v " + "b" * 64 + "\n"
