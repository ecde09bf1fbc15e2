"""The app and the daemon-level routes with a daemon that is not running."""

from __future__ import annotations

import pytest

from berth.api.app import App, build_router
from berth.api.errors import message_of, status_of
from berth.api.router import Router
from berth.api.system import parse_timestamp
from berth.client.api import Client
from berth.engine.config import load
from berth.engine.daemon import Daemon
from berth.errors import (
    BerthError,
    CannotInvoke,
    Conflict,
    CorruptContent,
    InvalidArgument,
    KernelError,
    NotFound,
    NotModified,
    Unauthorized,
    Unavailable,
)
from support.engine_server import serving


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (InvalidArgument("x"), 400),
        (CorruptContent("x"), 400),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (NotModified("x"), 304),
        (Unauthorized("x"), 401),
        (Unavailable("x"), 503),
        (KernelError("mount", "/x", 1), 500),
        (CannotInvoke("x"), 500),
        (BerthError("x"), 500),
        (ValueError("x"), 500),
    ],
)
def test_one_mapping_of_errors_to_statuses(exc: BaseException, status: int) -> None:
    assert status_of(exc) == status
    assert message_of(ValueError("v")) == "internal error: ValueError: v"


def test_timestamps() -> None:
    assert parse_timestamp("1700000000", "since") == 1700000000 * 10**9
    assert parse_timestamp("1700000000.5", "since") == 1700000000 * 10**9 + 500_000_000
    assert parse_timestamp("1.000000001", "until") == 1_000_000_001
    for bad in ("abc", "1.x", "", "1e9"):
        with pytest.raises(InvalidArgument):
            parse_timestamp(bad, "since")


def daemon(tmp_path: object) -> Daemon:
    d = Daemon(load(f'{{"data-root": "{tmp_path}/root", "labels": ["a=b"]}}'))
    d.id = "engine-1"
    return d


def test_system_routes(tmp_path: object) -> None:
    d = daemon(tmp_path)
    d.add_info_provider(lambda info: info.update(Containers=3, ContainersRunning=1))
    d.add_df_provider(lambda df: df["Images"].append({"Id": "sha256:x", "Containers": 0}))

    def register(router: Router) -> None:
        for method, path in build_router(d).routes():
            match = build_router(d).match(method, path)
            assert match is not None
            router.add(method, path, match[0])

    with serving(register) as (path, _):
        c = Client(f"unix://{path}")
        headers = c.ping()
        assert headers["api-version"] == "1.45" and headers["ostype"] == "linux"
        assert headers["cache-control"] == "no-cache, no-store, must-revalidate"
        assert c.request("HEAD", "/_ping").body == b""
        v = c.get_json("/version")
        assert v["ApiVersion"] == "1.45" and v["MinAPIVersion"] == "1.24"
        assert v["Components"][0]["Details"]["GoVersion"].startswith("python3.")
        info = c.get_json("/info")
        assert info["ID"] == "engine-1" and info["Containers"] == 3
        assert info["Labels"] == ["a=b"] and info["CgroupDriver"] == "cgroupfs"
        assert c.get_json("/system/df")["Images"] == [{"Id": "sha256:x", "Containers": 0}]
        d.events.publish("daemon", "reload", "engine-1", {})
        msgs = list(c.stream_json("GET", "/events", {"since": "0", "until": "1"}))
        assert msgs == []
        import time

        msgs = list(c.stream_json("GET", "/events", {"since": "0", "until": f"{time.time():.9f}"}))
        assert [m["Action"] for m in msgs] == ["reload"]
        c.close()


def test_app_wraps_results() -> None:
    app = App(Router())
    assert app.wrap(None).status == 204  # type: ignore[union-attr]
    resp = app.wrap({"a": 1})
    assert resp.status == 200 and resp.body == b'{"a":1}\n'  # type: ignore[union-attr]
    assert ("Api-Version", "1.45") in resp.headers


def test_services_are_made_once(tmp_path: object) -> None:
    d = daemon(tmp_path)
    made: list[int] = []
    a = d.service("x", lambda: made.append(1) or object())
    assert d.service("x", lambda: made.append(2) or object()) is a
    assert made == [1]
