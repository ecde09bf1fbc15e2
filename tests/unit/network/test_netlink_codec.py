from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.kernel import netlink as nl

leaf = st.tuples(st.integers(1, 0x3FFF), st.binary(max_size=24))
attrs: Any = st.recursive(
    st.lists(leaf, max_size=5),
    lambda inner: st.lists(st.one_of(leaf, st.tuples(st.integers(1, 0x3FFF), inner)), max_size=4),
    max_leaves=12,
)


def _decode(data: bytes, shape: list[Any]) -> list[Any]:
    """Decode ``data`` following the nesting of ``shape`` (what a parser knows)."""
    out: list[Any] = []
    for (kind, raw), (_, want) in zip(nl.unpack_attrs(data), shape, strict=True):
        out.append((kind, _decode(raw, want) if isinstance(want, list) else raw))
    return out


@given(attrs)
def test_attributes_round_trip(value: list[Any]) -> None:
    data = nl.pack_attrs(value)
    assert len(data) % 4 == 0
    assert _decode(data, value) == value


@given(st.integers(16, 40), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1), attrs)
def test_messages_round_trip(kind: int, flags: int, seq: int, value: list[Any]) -> None:
    fixed = nl.IFINFO.pack(0, 1, 7, 1, 1)
    data = nl.pack_msg(kind, flags, seq, fixed, value) * 2
    msgs = nl.unpack_msgs(data)
    assert len(msgs) == 2
    for m in msgs:
        assert (m.type, m.flags, m.seq) == (kind, flags, seq)
        assert m.body[: nl.IFINFO.size] == fixed
        assert _decode(m.body[nl.IFINFO.size :], value) == value


def test_nested_flag_and_padding() -> None:
    data = nl.pack_attrs([(18, [(1, b"veth")]), (3, b"eth0\0")])
    length, kind = struct.unpack_from("=HH", data)
    assert kind == 18 | nl.NLA_F_NESTED and length == 4 + 8
    assert nl.unpack_attrs(data)[1] == (3, b"eth0\0")


@given(st.binary(max_size=64))
def test_malformed_input_raises_value_error(data: bytes) -> None:
    for fn in (nl.unpack_attrs, nl.unpack_msgs):
        try:
            fn(data)
        except ValueError:
            pass


def test_truncated_attribute() -> None:
    with pytest.raises(ValueError, match="bad attribute length"):
        nl.unpack_attrs(struct.pack("=HH", 40, 3) + b"abcd")


def test_parse_link_and_route() -> None:
    body = nl.IFINFO.pack(0, 1, 5, nl.IFF_UP, 0) + nl.pack_attrs(
        [
            (nl.IFLA_IFNAME, b"berth0\0"),
            (nl.IFLA_MTU, struct.pack("=I", 1500)),
            (nl.IFLA_MASTER, struct.pack("=I", 3)),
            (nl.IFLA_ADDRESS, bytes.fromhex("0242ac110002")),
            (nl.IFLA_LINKINFO, [(nl.IFLA_INFO_KIND, b"bridge\0")]),
        ]
    )
    link = nl.parse_link(body)
    assert (link.index, link.name, link.mtu, link.master, link.kind, link.up) == (
        5,
        "berth0",
        1500,
        3,
        "bridge",
        True,
    )
    assert link.address == "02:42:ac:11:00:02"
    rt = nl.RTMSG.pack(nl.AF_INET, 16, 0, 0, 254, 2, 0, 1, 0) + nl.pack_attrs(
        [(nl.RTA_DST, bytes([172, 17, 0, 0])), (nl.RTA_OIF, struct.pack("=I", 5))]
    )
    route = nl.parse_route(rt)
    assert route is not None
    assert (route.dst, route.dst_len, route.oif, route.table, route.gateway) == (
        "172.17.0.0",
        16,
        5,
        254,
        "",
    )


def test_address_helpers() -> None:
    assert nl.ip4("10.0.0.1") == bytes([10, 0, 0, 1])
    assert nl.ip4_text(bytes([10, 0, 0, 1])) == "10.0.0.1"
    for bad in ("10.0.0", "10.0.0.256", "a.b.c.d"):
        with pytest.raises(ValueError):
            nl.ip4(bad)
    assert nl.mac_text(nl.mac("02:42:AC:11:00:02")) == "02:42:ac:11:00:02"
    m = nl.random_mac()
    assert int(m[:2], 16) & 0x03 == 0x02
