from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.network.portspec import (
    PortMapping,
    exposed_ports,
    format_port_line,
    parse_port_spec,
    parse_port_specs,
)


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("80", [PortMapping(80)]),
        ("8080:80", [PortMapping(80, "tcp", "", 8080)]),
        ("127.0.0.1:8080:80", [PortMapping(80, "tcp", "127.0.0.1", 8080)]),
        ("127.0.0.1::80", [PortMapping(80, "tcp", "127.0.0.1", 0)]),
        ("53/udp", [PortMapping(53, "udp")]),
        ("5353:53/UDP", [PortMapping(53, "udp", "", 5353)]),
        ("132/sctp", [PortMapping(132, "sctp")]),
        ("80/tcp", [PortMapping(80)]),
        ("0.0.0.0:80:80", [PortMapping(80, "tcp", "", 80)]),
        ("[::1]:8080:80", [PortMapping(80, "tcp", "::1", 8080)]),
        ("8000-8010:80", [PortMapping(80, "tcp", "", 8000, 8010)]),
        (
            "8000-8002:80-82",
            [
                PortMapping(80, "tcp", "", 8000),
                PortMapping(81, "tcp", "", 8001),
                PortMapping(82, "tcp", "", 8002),
            ],
        ),
        ("80-81", [PortMapping(80), PortMapping(81)]),
    ],
)
def test_forms(spec: str, want: list[PortMapping]) -> None:
    assert parse_port_spec(spec) == want


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("abc", "invalid containerPort: abc"),
        ("8080:abc", "invalid containerPort: abc"),
        ("70000", "invalid containerPort: 70000"),
        ("x:80", "invalid hostPort: x"),
        ("1.2.3:80:80", "invalid IP address: 1.2.3"),
        ("80/icmp", "invalid proto: icmp"),
        (
            "8000-8005:80-82",
            "invalid ranges specified for container and host Ports: 80-82 and 8000-8005",
        ),
        ("8080:", "no port specified: 8080:<empty>"),
        ("90-80", "invalid containerPort: 90-80"),
    ],
)
def test_errors_are_dockers(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse_port_spec(spec)
    assert str(e.value) == message


def test_duplicates_dropped_and_expose() -> None:
    assert parse_port_specs(["80", "80/tcp", "81"]) == [PortMapping(80), PortMapping(81)]
    assert exposed_ports(["80/tcp", "53/udp", "8080"]) == [
        PortMapping(80),
        PortMapping(53, "udp"),
        PortMapping(8080),
    ]
    assert format_port_line("80/tcp", "", 8080) == "80/tcp -> 0.0.0.0:8080"
    assert format_port_line("80/tcp", "::1", 8080) == "80/tcp -> [::1]:8080"


@given(
    st.integers(1, 65535),
    st.integers(0, 65535),
    st.sampled_from(["tcp", "udp", "sctp"]),
    st.sampled_from(["", "127.0.0.1", "10.1.2.3"]),
)
def test_generated_specs_parse_back(ctr: int, host: int, proto: str, ip: str) -> None:
    spec = f"{ip + ':' if ip else ''}{host if host else ''}{':' if ip or host else ''}{ctr}/{proto}"
    (m,) = parse_port_spec(spec)
    assert (m.container_port, m.proto, m.host_ip, m.host_port) == (ctr, proto, ip, host)
    assert m.key == f"{ctr}/{proto}"


@given(st.text(max_size=30))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    try:
        out = parse_port_spec(text)
    except InvalidArgument:
        return
    assert out and all(0 <= m.container_port <= 65535 for m in out)
