from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from berth.network import hostinfo

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0100007F:1F91 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1
"""
TCP6 = """  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0
   1: 0000000000000000FFFF00000100007F:01BB 00000000000000000000000000000000:0000 0A 0
"""


def test_listening_sockets() -> None:
    assert hostinfo.bound_ports(TCP, "0A") == [("127.0.0.1", 8080), ("0.0.0.0", 22)]
    assert hostinfo.bound_ports(TCP6, "0A") == [("::", 80), ("127.0.0.1", 443)]


def test_conflicts() -> None:
    tables = {"tcp": TCP, "tcp6": TCP6}
    assert hostinfo.port_in_use(tables, "tcp", "", 8080) == ("127.0.0.1", 8080)
    assert hostinfo.port_in_use(tables, "tcp", "192.0.2.2", 8080) is None
    assert hostinfo.port_in_use(tables, "tcp", "192.0.2.2", 22) == ("0.0.0.0", 22)
    assert hostinfo.port_in_use(tables, "tcp", "10.0.0.1", 80) == ("::", 80)
    assert hostinfo.port_in_use(tables, "tcp", "", 8081) is None  # established, not listening
    assert hostinfo.port_in_use(tables, "udp", "", 8080) is None


@given(st.integers(0, 2**32 - 1), st.integers(0, 65535))
def test_v4_entries_parse_back(addr: int, port: int) -> None:
    hexaddr = addr.to_bytes(4, "little").hex().upper()
    line = f"   0: {hexaddr}:{port:04X} 00000000:0000 0A 0\n"
    ((text, p),) = hostinfo.bound_ports("header\n" + line, "0A")
    assert p == port
    assert text == ".".join(str(b) for b in addr.to_bytes(4, "big"))


def test_port_range_sysctl() -> None:
    assert hostinfo.parse_port_range_sysctl("32768\t60999\n") == (32768, 60999)
    assert hostinfo.parse_port_range_sysctl("garbage") == (32768, 60999)
