from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.errors import Conflict, InvalidArgument
from berth.network import ipam
from berth.network.ipam import Pool, Subnet, int_to_ip, ip_to_int

subnets = st.builds(
    lambda net, plen: Subnet(net, plen),
    st.integers(0, 2**32 - 1),
    st.integers(22, 30),
)


@given(st.integers(0, 2**32 - 1))
def test_ip_text_round_trip(value: int) -> None:
    assert ip_to_int(int_to_ip(value)) == value


@pytest.mark.parametrize("bad", ["1.2.3", "1.2.3.256", "a.b.c.d", "1.2.3.4.5", "", "01234.1.1.1"])
def test_bad_addresses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid IP address"):
        ip_to_int(bad)


def test_parse_subnet() -> None:
    s = Subnet.parse("172.18.0.0/16")
    assert (str(s), s.size, int_to_ip(s.broadcast)) == ("172.18.0.0/16", 65536, "172.18.255.255")
    assert str(Subnet.parse("10.1.2.3/8")) == "10.0.0.0/8"
    with pytest.raises(InvalidArgument, match=r"host bits set; did you mean 10\.0\.0\.0/8"):
        Subnet.parse("10.1.2.3/8", strict=True)
    for bad in ("10.0.0.0", "10.0.0.0/33", "x/8", "10.0.0/8"):
        with pytest.raises(InvalidArgument, match="invalid CIDR address"):
            Subnet.parse(bad)


@given(subnets, st.lists(st.integers(0, 2000), max_size=30))
def test_no_double_allocation_and_reserved_excluded(subnet: Subnet, releases: list[int]) -> None:
    pool = Pool(subnet)
    taken: set[int] = set()
    usable = subnet.size - 3  # network, broadcast, gateway
    for _ in range(usable):
        a = pool.allocate(taken)
        assert a not in taken
        assert a in subnet
        assert a not in (subnet.network, subnet.broadcast, pool.gateway)
        taken.add(a)
    with pytest.raises(Conflict, match="no free address"):
        pool.allocate(taken)
    # release some, and they come back (lowest first)
    freed = sorted({sorted(taken)[i % len(taken)] for i in releases})
    for a in freed:
        taken.discard(a)
    for a in freed:
        got = pool.allocate(taken)
        assert got == a
        taken.add(got)


@given(subnets, st.integers(0, 2**32 - 1))
def test_preferred_address_inside_subnet_only(subnet: Subnet, addr: int) -> None:
    pool = Pool(subnet)
    if addr in subnet and addr not in (subnet.network, subnet.broadcast, pool.gateway):
        assert pool.allocate(set(), addr) == addr
        with pytest.raises(Conflict, match="already in use"):
            pool.allocate({addr}, addr)
    else:
        with pytest.raises(InvalidArgument):
            pool.allocate(set(), addr)


def test_gateway_and_range() -> None:
    s = Subnet.parse("10.5.0.0/24")
    pool = Pool(s, ip_to_int("10.5.0.254"), Subnet.parse("10.5.0.128/25"))
    assert int_to_ip(pool.allocate(set())) == "10.5.0.128"
    assert int_to_ip(Pool(s).allocate(set())) == "10.5.0.2"
    with pytest.raises(InvalidArgument, match="not in subnet"):
        Pool(s, ip_to_int("10.6.0.1"))
    with pytest.raises(InvalidArgument, match="network or broadcast"):
        Pool(s, ip_to_int("10.5.0.255"))
    with pytest.raises(InvalidArgument, match="not inside"):
        Pool(s, None, Subnet.parse("10.0.0.0/8"))
    with pytest.raises(InvalidArgument, match="the gateway"):
        Pool(s).allocate(set(), ip_to_int("10.5.0.1"))


def test_pick_subnet_avoids_routes_and_networks() -> None:
    host = [Subnet.parse("192.0.2.0/24"), Subnet.parse("0.0.0.0/0")]
    assert str(ipam.pick_subnet(host)) == "172.17.0.0/16"
    taken = [*host, Subnet.parse("172.17.5.0/24"), Subnet.parse("172.18.0.0/16")]
    assert str(ipam.pick_subnet(taken)) == "172.19.0.0/16"
    everything = [Subnet.parse("172.16.0.0/12"), Subnet.parse("192.168.0.0/17")]
    assert str(ipam.pick_subnet(everything)) == "192.168.128.0/20"
    with pytest.raises(Conflict, match="--subnet"):
        ipam.pick_subnet([Subnet.parse("128.0.0.0/1")])


@given(subnets, subnets)
def test_overlap_is_symmetric(a: Subnet, b: Subnet) -> None:
    assert a.overlaps(b) == b.overlaps(a)
    assert a.overlaps(a)
    assert a.overlaps(b) == (a.network in b or b.network in a)


def test_mac_for() -> None:
    assert ipam.mac_for(ip_to_int("172.17.0.2")) == "02:42:ac:11:00:02"
