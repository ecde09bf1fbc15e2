from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.api.errors import HTTPError
from berth.api.http import (
    Body,
    Reader,
    body_framing,
    chunk,
    parse_head,
    parse_query,
    unquote,
)
from berth.client.api import encode_query


def test_request_head() -> None:
    h = parse_head(
        b"POST /v1.41/containers/create?name=web&x=a+b HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nX-A: 1\r\nx-a: 2\r\n"
    )
    assert (h.method, h.path, h.query_string) == (
        "POST",
        "/v1.41/containers/create",
        "name=web&x=a+b",
    )
    assert h.headers["content-type"] == "application/json"
    assert h.headers["x-a"] == "1,2"
    assert h.keep_alive and not h.wants_upgrade


def test_absolute_target_and_percent_path() -> None:
    h = parse_head(b"GET http://docker/v1.41/images/a%2Fb:1/json HTTP/1.1\r\n")
    assert h.path == "/v1.41/images/a/b:1/json"


def test_keep_alive_rules() -> None:
    assert not parse_head(b"GET / HTTP/1.0\r\n").keep_alive
    assert parse_head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n").keep_alive
    assert not parse_head(b"GET / HTTP/1.1\r\nConnection: close\r\n").keep_alive
    up = parse_head(b"POST /x HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n")
    assert up.wants_upgrade


@pytest.mark.parametrize(
    ("raw", "status", "text"),
    [
        (b"GARBAGE", 400, "malformed HTTP request line"),
        (b"GET /x", 400, "malformed HTTP request line"),
        (b"GET /x HTTP/2.0", 505, "unsupported HTTP version"),
        (b"GET x HTTP/1.1", 400, "malformed HTTP request target"),
        (b"G(T /x HTTP/1.1", 400, "bad method"),
        (b"GET /x HTTP/1.1\r\nNoColon", 400, "malformed HTTP header line"),
        (b"GET /x HTTP/1.1\r\nA: 1\r\n  folded", 400, "line folding"),
        (b"GET /%zz HTTP/1.1", 400, "percent-encoding"),
    ],
)
def test_bad_heads(raw: bytes, status: int, text: str) -> None:
    with pytest.raises(HTTPError) as e:
        parse_head(raw)
    assert e.value.status == status
    assert text in e.value.message


def test_framing() -> None:
    assert body_framing(parse_head(b"GET / HTTP/1.1\r\n")) == ("none", 0)
    assert body_framing(parse_head(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n")) == ("length", 5)
    assert body_framing(parse_head(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n")) == ("none", 0)
    te = parse_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n")
    assert body_framing(te) == ("chunked", 0)
    for bad in (
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: -1\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n",
    ):
        with pytest.raises(HTTPError):
            body_framing(parse_head(bad))


def test_query() -> None:
    assert parse_query("a=1&b=x+y&a=2&c&d=%7B%22k%22%7D") == {
        "a": ["1", "2"],
        "b": ["x y"],
        "c": [""],
        "d": ['{"k"}'],
    }


@given(st.dictionaries(st.text(min_size=1), st.lists(st.text(), min_size=1, max_size=3)))
def test_query_round_trip_with_the_client(query: dict[str, list[str]]) -> None:
    assert parse_query(encode_query(query)) == query


@given(st.text())
def test_unquote_inverts_client_quote(text: str) -> None:
    from berth.client.api import quote

    assert unquote(quote(text)) == text


class FakeSock:
    def __init__(self, data: bytes, piece: int = 3) -> None:
        self.data = data
        self.piece = piece

    def recv(self, n: int, flags: int = 0) -> bytes:
        out, self.data = self.data[: min(n, self.piece)], self.data[min(n, self.piece) :]
        return out

    def sendall(self, data: bytes) -> None:  # pragma: no cover - not used
        pass


def test_reader_heads_and_bodies_in_small_pieces() -> None:
    wire = (
        b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n"
        b"\r\nGET /b HTTP/1.1\r\nContent-Length: 4\r\n\r\nwxyz"
    )
    r = Reader(FakeSock(wire))
    head = parse_head(r.read_head(1024) or b"")
    body = Body(r, *body_framing(head))
    assert body.read_all(100) == b"abcde" and body.done
    head2 = parse_head(r.read_head(1024) or b"")
    assert head2.path == "/b"
    assert Body(r, *body_framing(head2)).read_all(100) == b"wxyz"
    assert r.read_head(1024) is None


def test_limits() -> None:
    r = Reader(FakeSock(b"GET / HTTP/1.1\r\nX: " + b"a" * 5000 + b"\r\n\r\n", piece=1000))
    with pytest.raises(HTTPError) as e:
        r.read_head(1024)
    assert e.value.status == 431
    r = Reader(FakeSock(b"0123456789"))
    with pytest.raises(HTTPError) as e:
        Body(r, "length", 10).read_all(5)
    assert e.value.status == 413
    r = Reader(FakeSock(b"5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"))
    with pytest.raises(HTTPError) as e:
        Body(r, "chunked", 0).read_all(7)
    assert e.value.status == 413
    r = Reader(FakeSock(b"zz\r\n"))
    with pytest.raises(HTTPError, match="malformed chunk size"):
        Body(r, "chunked", 0).read_all(7)
    r = Reader(FakeSock(b"GET / HTT"))
    with pytest.raises(HTTPError, match="closed in the middle"):
        r.read_head(1024)


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8), st.integers(1, 50))
def test_chunks_decode_to_the_same_bytes(pieces: list[bytes], step: int) -> None:
    wire = b"".join(chunk(p) for p in pieces) + b"0\r\n\r\n"
    body = Body(Reader(FakeSock(wire, step)), "chunked", 0)
    assert body.read_all(1 << 20) == b"".join(pieces)


def test_drain_leaves_the_next_request() -> None:
    a, b = socket.socketpair()
    try:
        a.sendall(b"abcdefGET")
        r = Reader(b)
        body = Body(r, "length", 6)
        assert body.drain(100)
        assert r.read_some(3) == b"GET"
    finally:
        a.close()
        b.close()
