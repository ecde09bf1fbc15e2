"""The WWW-Authenticate flow against a small in-process server on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from berth.errors import NotFound, Unauthorized
from berth.images.registry import Credentials, Registry

TOKEN = "tok-123"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization", "")
        self.seen.append((self.path, auth))
        host = self.headers["Host"]
        if self.path.startswith("/token"):
            want = "Basic " + base64.b64encode(b"user:pw").decode()
            if auth != want:
                self._send(401)
                return
            self._send(200, json.dumps({"token": TOKEN}).encode())
            return
        if auth != f"Bearer {TOKEN}":
            challenge = f'Bearer realm="http://{host}/token",service="test"'
            if self.path != "/v2/":
                challenge += ',scope="repository:a/b:pull"'
            self._send(
                401,
                b'{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}',
                {"WWW-Authenticate": challenge},
            )
            return
        if self.path == "/v2/":
            self._send(200, b"{}")
        elif self.path == "/v2/a/b/manifests/missing":
            self._send(
                404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
            )
        else:
            self._send(200, b'{"schemaVersion":2}', {"Content-Type": "application/json"})


@pytest.fixture
def server() -> Iterator[str]:
    Handler.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join()


def test_bearer_token_flow(server: str) -> None:
    reg = Registry(server, Credentials("user", "pw"))
    data, _media, _ = reg.get_manifest("a/b", "latest")
    assert data == b'{"schemaVersion":2}'
    reg.get_manifest("a/b", "v2")  # token cached per scope: no second token request
    tokens = [p for p, _ in Handler.seen if p.startswith("/token")]
    assert tokens == ["/token?service=test&scope=repository:a/b:pull"]
    with pytest.raises(NotFound, match="manifest unknown"):
        reg.get_manifest("a/b", "missing")
    reg.close()


def test_bad_credentials_are_unauthorized(server: str) -> None:
    reg = Registry(server, Credentials("user", "wrong"))
    with pytest.raises(Unauthorized, match="refused the credentials"):
        reg.ping()
    reg.close()
