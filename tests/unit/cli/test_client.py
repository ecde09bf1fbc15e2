"""The raw HTTP client's framing, against a scripted server on a socketpair-like socket."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.api.http import chunk
from berth.client import hosts
from berth.client.api import (
    CannotConnect,
    Client,
    DaemonError,
    DaemonNotFound,
    daemon_error,
    encode_query,
    json_messages,
    quote,
)
from berth.client.http import Connection, ProtocolError
from berth.errors import InvalidArgument, NotFound

Script = Callable[[socket.socket, int], None]


@contextmanager
def scripted(script: Script) -> Iterator[str]:
    """A unix socket whose nth connection is handled by script(conn, n)."""
    base = tempfile.mkdtemp(prefix="berth-c-", dir="/tmp")
    path = os.path.join(base, "s.sock")
    lsock = socket.socket(socket.AF_UNIX)
    lsock.bind(path)
    lsock.listen(8)
    stop = threading.Event()

    def loop() -> None:
        n = 0
        while not stop.is_set():
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            with conn:
                script(conn, n)
            n += 1

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield f"unix://{path}"
    finally:
        stop.set()
        try:
            lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        lsock.close()
        t.join(2)
        shutil.rmtree(base, ignore_errors=True)


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(4096)
        if not piece:
            return data
        data += piece
    return data


def test_keep_alive_then_server_closes_idle_connection() -> None:
    seen: list[tuple[int, bytes]] = []

    def script(conn: socket.socket, n: int) -> None:
        req = read_request(conn)
        seen.append((n, req.split(b"\r\n")[0]))
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{"a":1}')
        # then close: the client's next request must reconnect and retry once

    with scripted(script) as url:
        c = Client(url)
        assert c.get_json("/x") == {"a": 1}
        assert c.get_json("/y") == {"a": 1}
        c.close()
    assert [n for n, _ in seen] == [0, 1]
    assert seen[0][1] == b"GET /v1.45/x HTTP/1.1"


def test_version_negotiation_with_an_older_daemon() -> None:
    def script(conn: socket.socket, n: int) -> None:
        while True:
            req = read_request(conn)
            if not req:
                return
            line = req.split(b"\r\n")[0]
            if line == b"GET /_ping HTTP/1.1":
                conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK")
            elif line.startswith(b"GET /v1.45/"):
                body = (
                    b'{"message":"client version 1.45 is too new.'
                    b' Maximum supported API version is 1.41"}'
                )
                conn.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
            else:
                assert line.startswith(b"GET /v1.41/info")
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    with scripted(script) as url:
        c = Client(url)
        assert c.get_json("/info") == {}
        assert c.api_version == "1.41"
        c.close()


def test_errors_map_to_the_error_tree() -> None:
    e = daemon_error(404, b'{"message":"No such container: x"}')
    assert isinstance(e, DaemonNotFound) and isinstance(e, NotFound) and e.message.endswith("x")
    e2 = daemon_error(500, b"plain text\n", "Internal Server Error")
    assert type(e2) is DaemonError and e2.message == "plain text" and e2.status == 500
    assert daemon_error(502, b"", "Bad Gateway").message == "502 Bad Gateway"
    assert isinstance(daemon_error(400, b'{"message":"bad"}'), InvalidArgument)


def test_cannot_connect() -> None:
    c = Client("unix:///nonexistent/x.sock")
    with pytest.raises(CannotConnect, match="Cannot connect to the berth daemon"):
        c.get_json("/version")


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.dictionaries(st.text(max_size=5), st.integers()), max_size=6), st.integers(1, 40)
)
def test_json_stream_split_anywhere(docs: list[dict[str, int]], step: int) -> None:
    import json

    body = b"".join(json.dumps(d).encode() + b"\r\n" for d in docs)
    wire = b"".join(chunk(body[i : i + step]) for i in range(0, len(body), step)) + b"0\r\n\r\n"

    def script(conn: socket.socket, n: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(wire), 7):
            conn.sendall(wire[i : i + 7])

    with scripted(script) as url:
        conn = Connection(hosts.parse(url))
        resp = conn.request("GET", "/events", stream=True)
        assert list(json_messages(resp)) == docs
        conn.close()


def test_protocol_errors() -> None:
    def script(conn: socket.socket, n: int) -> None:
        read_request(conn)
        conn.sendall(b"SSH-2.0-nope\r\n\r\n")

    with scripted(script) as url, pytest.raises(ProtocolError, match="did not answer with HTTP"):
        Connection(hosts.parse(url)).request("GET", "/x")


def test_hosts_and_query() -> None:
    assert hosts.resolve([], {}).url == "unix:///run/berth/berth.sock"
    h = hosts.resolve([], {"DOCKER_HOST": "tcp://127.0.0.1:2375"})
    assert (h.kind, h.address, h.port, h.source) == ("tcp", "127.0.0.1", 2375, "DOCKER_HOST")
    h = hosts.resolve([], {"DOCKER_HOST": "tcp://x:1", "BERTH_HOST": "unix:///a.sock"})
    assert (h.kind, h.address, h.source) == ("unix", "/a.sock", "BERTH_HOST")
    assert hosts.resolve(["/b.sock"], {"BERTH_HOST": "unix:///a.sock"}).address == "/b.sock"
    assert hosts.parse("tcp://[::1]:5").address == "::1"
    assert hosts.parse("tcp://host").port == 2375
    for bad in ("ssh://x", "unix://rel", "nothing", "tcp://h:port"):
        with pytest.raises(InvalidArgument):
            hosts.parse(bad)
    with pytest.raises(InvalidArgument):
        hosts.resolve(["unix:///a", "unix:///b"], {})
    assert encode_query({"all": True, "x": False, "n": None, "f": '{"a":1}', "l": [1, 2]}) == (
        "all=1&x=0&f=%7B%22a%22%3A1%7D&l=1&l=2"
    )
    assert quote("a/b c", "/") == "a/b%20c"
