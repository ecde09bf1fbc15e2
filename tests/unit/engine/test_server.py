"""The HTTP server and the app end to end on a unix socket, with the berth client."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from berth.api import stdcopy
from berth.api.request import Request
from berth.api.response import MULTIPLEXED_STREAM, Hijack, Response, Stream, json_response
from berth.api.router import Router
from berth.api.server import Hijacked, Limits
from berth.client.api import Client, DaemonConflict, DaemonInvalidArgument, DaemonNotFound
from berth.errors import Conflict, NotFound
from support.engine_server import serving


def routes(router: Router) -> None:
    def echo(req: Request) -> object:
        return {
            "version": req.version,
            "params": req.params,
            "all": req.arg_bool("all"),
            "limit": req.arg_int("limit", -1),
            "body": req.json(),
        }

    def created(req: Request) -> Response:
        return json_response({"Id": "abc"}, 201)

    def missing(req: Request) -> object:
        raise NotFound(f"No such container: {req.params['id']}")

    def busy(req: Request) -> object:
        raise Conflict("container is running: stop it first")

    def boom(req: Request) -> object:
        raise RuntimeError("bug")

    def nothing(req: Request) -> None:
        return None

    def filtered(req: Request) -> object:
        return {"filters": {k: sorted(v) for k, v in req.filters(("status",)).fields.items()}}

    def raw_body(req: Request) -> object:
        return {"size": len(req.read_body(1 << 20))}

    def stream(req: Request) -> Stream:
        def items() -> Iterator[object]:
            yield {"status": "one"}
            yield None
            yield {"status": "two"}
            yield b'{"status":"three"}\n'

        return Stream(items())

    def attach(req: Request) -> Hijack:
        def run(conn: Hijacked) -> None:
            data = b""
            while not data.endswith(b"\n"):
                piece = conn.read(1024)
                if not piece:
                    break
                data += piece
            conn.write(stdcopy.frame(stdcopy.STDOUT, data.upper()))
            conn.write(stdcopy.frame(stdcopy.STDERR, b"err\n"))
            conn.close_write()

        return Hijack(run, MULTIPLEXED_STREAM)

    router.add("POST", "/echo/{id}", echo)
    router.add("GET", "/echo/{id}", echo)
    router.add("POST", "/created", created)
    router.add("GET", "/containers/{id}/json", missing)
    router.add("DELETE", "/busy", busy)
    router.add("GET", "/boom", boom)
    router.add("POST", "/nothing", nothing)
    router.add("GET", "/filtered", filtered)
    router.add("POST", "/raw", raw_body)
    router.add("GET", "/stream", stream)
    router.add("POST", "/attach", attach)


def raw(path: str, data: bytes, timeout: float = 5) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(data)
    out = b""
    try:
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            out += piece
    finally:
        s.close()
    return out


def test_keep_alive_json_errors_and_versions() -> None:
    with serving(routes) as (path, _server):
        c = Client(f"unix://{path}")
        doc = c.post_json("/echo/x1", {"all": True, "limit": 3}, {"a": [1]})
        assert doc == {
            "version": "1.45",
            "params": {"id": "x1"},
            "all": True,
            "limit": 3,
            "body": {"a": [1]},
        }
        sock = c.conn.sock
        assert c.get_json("/echo/x2")["body"] is None
        assert c.conn.sock is sock  # the same connection
        assert c.request("POST", "/created").status == 201
        assert c.request("POST", "/nothing").status == 204
        with pytest.raises(DaemonNotFound, match="No such container: abc"):
            c.get_json("/containers/abc/json")
        with pytest.raises(DaemonConflict):
            c.delete("/busy")
        with pytest.raises(DaemonInvalidArgument, match="invalid filter 'nope'"):
            c.get_json("/filtered", {"filters": '{"nope":["x"]}'})
        assert c.get_json("/filtered", {"filters": '{"status":{"running":true}}'}) == {
            "filters": {"status": ["running"]}
        }
        with pytest.raises(DaemonInvalidArgument, match="'limit'"):
            c.get_json("/echo/x", {"limit": "ten"})
        with pytest.raises(DaemonNotFound, match="page not found"):
            c.get_json("/nope")
        c2 = Client(f"unix://{path}", version="1.41")
        assert c2.get_json("/echo/v")["version"] == "1.41"
        c.close()
        c2.close()


def test_unexpected_exceptions_are_500_and_the_server_survives() -> None:
    with serving(routes) as (path, _):
        out = raw(path, b"GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        assert b'{"message":"internal error: RuntimeError: bug"}' in out
        assert b"Api-Version: 1.45\r\n" in out
        out = raw(path, b"GET /echo/a HTTP/1.0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK\r\n") and b"Connection: close" in out


def test_bad_content_type_and_bad_json() -> None:
    with serving(routes) as (path, _):
        out = raw(
            path,
            b"POST /echo/a HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
        )
        assert out.startswith(b"HTTP/1.1 400 ") and b"unsupported Content-Type" in out
        out = raw(
            path,
            b"POST /echo/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 4\r\nConnection: close\r\n\r\n{bad",
        )
        assert out.startswith(b"HTTP/1.1 400 ") and b"request body: invalid JSON" in out


def test_chunked_request_body_expect_continue_and_pipelining() -> None:
    with serving(routes) as (path, _):
        out = raw(
            path,
            b"POST /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Expect: 100-continue\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        )
        assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
        assert out.count(b"HTTP/1.1 200 OK") == 2
        assert b'{"size":11}' in out and b'{"size":3}' in out


def test_unread_body_is_drained_for_keep_alive() -> None:
    with serving(routes) as (path, _):
        out = raw(
            path,
            b"POST /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nxxxxx"
            b"GET /echo/z HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        assert out.startswith(b"HTTP/1.1 204 No Content\r\n")
        assert b'"params":{"id":"z"}' in out


def test_streamed_json_messages() -> None:
    with serving(routes) as (path, _):
        c = Client(f"unix://{path}")
        msgs = list(c.stream_json("GET", "/stream"))
        assert msgs == [{"status": "one"}, {"status": "two"}, {"status": "three"}]
        assert c.get_json("/echo/after")["params"] == {"id": "after"}  # reusable
        out = raw(path, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert b"Transfer-Encoding: chunked\r\n" in out and out.endswith(b"0\r\n\r\n")


@pytest.mark.parametrize("upgrade", [True, False])
def test_hijacked_stream_round_trip(upgrade: bool) -> None:
    with serving(routes) as (path, _):
        c = Client(f"unix://{path}")
        if upgrade:
            stream = c.hijack("POST", "/attach", {"stream": 1})
        else:
            resp = c.conn.request("POST", c.target("/attach"), b"", stream=True, upgrade=False)
            assert resp.status == 200
            assert resp.headers["content-type"] == MULTIPLEXED_STREAM
            stream = c.conn.hijack(resp)
        stream.write(b"hello berth\n")
        demux = stdcopy.Demuxer()
        frames: list[tuple[int, bytes]] = []
        data = stream.initial()
        while True:
            frames += demux.feed(data)
            data = stream.read()
            if not data:
                break
        stream.close()
        assert frames == [(1, b"HELLO BERTH\n"), (2, b"err\n")]


def test_upgrade_response_head() -> None:
    with serving(routes) as (path, _):
        out = raw(
            path,
            b"POST /attach HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhi\n",
        )
        head, _, rest = out.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 101 UPGRADED"
        assert b"Connection: Upgrade" in lines and b"Upgrade: tcp" in lines
        assert f"Content-Type: {MULTIPLEXED_STREAM}".encode() in lines
        assert stdcopy.Demuxer().feed(rest)[0] == (1, b"HI\n")


def test_limits_and_idle_timeout() -> None:
    with serving(routes, Limits(max_header=2048, idle_timeout=0.3)) as (path, _server):
        out = raw(path, b"GET /echo/a HTTP/1.1\r\nX: " + b"y" * 4000 + b"\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 431 ")
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        s.settimeout(5)
        t0 = time.monotonic()
        assert s.recv(10) == b""  # closed by the server after the idle timeout
        assert time.monotonic() - t0 < 4
        s.close()


def test_stop_closes_idle_connections_and_ends_streams() -> None:
    ended = threading.Event()

    def register(router: Router) -> None:
        def forever(req: Request) -> Stream:
            def items() -> Iterator[object]:
                try:
                    while True:
                        yield None
                        time.sleep(0.05)
                finally:
                    ended.set()

            return Stream(items())

        router.add("GET", "/forever", forever)
        routes(router)

    with serving(register) as (path, server):
        idle = Client(f"unix://{path}")
        idle.get_json("/echo/a")
        streaming = Client(f"unix://{path}")
        resp = streaming.request("GET", "/forever", stream=True)
        assert resp.status == 200
        deadline = time.monotonic() + 5
        while server.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        t0 = time.monotonic()
        server.stop(3.0)
        assert time.monotonic() - t0 < 3
        assert ended.wait(2)
        assert b"".join(resp.iter_body()) == b""  # the stream ended cleanly
        assert server.connections == 0
        idle.close()
        streaming.close()
