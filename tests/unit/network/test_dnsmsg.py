from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.network import dnsmsg
from berth.network.dnsmsg import DnsError, Message, Question, Record

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
names = st.lists(labels, min_size=1, max_size=5).map(".".join)
questions = st.builds(Question, names, st.sampled_from([1, 28, 12, 15]), st.just(1))
records = st.builds(
    Record,
    names,
    st.sampled_from([1, 28, 16]),
    st.binary(max_size=40),
    st.integers(0, 2**31 - 1),
    st.just(1),
)


@given(
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.lists(questions, max_size=3),
    st.lists(records, max_size=4),
)
def test_round_trip(ident: int, flags: int, qs: list[Question], ans: list[Record]) -> None:
    msg = Message(ident, flags, qs, ans)
    assert dnsmsg.parse(dnsmsg.build(msg)) == msg


@given(st.binary(max_size=300))
def test_garbage_is_refused_cleanly(data: bytes) -> None:
    try:
        dnsmsg.parse(data)
    except DnsError:
        pass


def test_compression_pointers_and_loops() -> None:
    # a reply whose answer name points back at the question name (offset 12)
    q = dnsmsg.query("web.example", ident=7)
    answer = b"\xc0\x0c" + b"\x00\x01\x00\x01\x00\x00\x02\x58\x00\x04" + bytes([10, 0, 0, 2])
    header = bytearray(q[:12])
    header[2] |= 0x80
    header[7] = 1  # ancount
    msg = dnsmsg.parse(bytes(header) + q[12:] + answer)
    assert msg.answers[0].name == "web.example"
    assert msg.answers[0].rdata == bytes([10, 0, 0, 2])
    loop = bytes(header[:6]) + b"\x00\x00\x00\x00\x00\x00" + b"\xc0\x0c\x00\x01\x00\x01"
    loop = loop[:4] + b"\x00\x01" + loop[6:]
    with pytest.raises(DnsError):
        dnsmsg.parse(loop)


def test_reply_shape() -> None:
    req = dnsmsg.parse(dnsmsg.query("alpha", ident=99))
    out = dnsmsg.parse(dnsmsg.reply(req, dnsmsg.a_records("alpha", ["10.0.0.2", "10.0.0.3"])))
    assert out.id == 99 and out.is_response and out.rcode == 0
    assert out.flags & dnsmsg.FLAG_RD and out.flags & dnsmsg.FLAG_RA
    assert out.questions == req.questions
    assert [a.rdata for a in out.answers] == [bytes([10, 0, 0, 2]), bytes([10, 0, 0, 3])]
    assert all(a.ttl == 600 for a in out.answers)
    assert dnsmsg.ptr_name("172.18.0.2") == "2.0.18.172.in-addr.arpa"


def test_bad_names_are_refused_when_building() -> None:
    with pytest.raises(DnsError):
        dnsmsg.query("a" * 64 + ".example")
    with pytest.raises(DnsError):
        dnsmsg.query(".".join(["abcdefgh"] * 40))
