from __future__ import annotations

import pytest

from berth.api.errors import HTTPError
from berth.api.router import Router, split_version


def h(name: str):
    return lambda req: name


def test_static_params_and_greedy_paths() -> None:
    r = Router()
    r.add("GET", "/images/json", h("list"))
    r.add("GET", "/images/{name:path}/json", h("inspect"))
    r.add("DELETE", "/images/{name:path}", h("remove"))
    r.add("POST", "/containers/{id}/start", h("start"))
    r.add("GET", "/containers/{id}/archive/{path:path}", h("x"))
    assert r.match("GET", "/images/json")[0](None) == "list"  # type: ignore[index]
    fn, params = r.match("GET", "/images/localhost:5000/a/b:1/json")  # type: ignore[misc]
    assert fn(None) == "inspect" and params == {"name": "localhost:5000/a/b:1"}
    assert r.match("DELETE", "/images/busybox")[1] == {"name": "busybox"}  # type: ignore[index]
    assert r.match("POST", "/containers/abc/start")[1] == {"id": "abc"}  # type: ignore[index]
    assert r.match("GET", "/containers/abc/archive/a/b")[1] == {  # type: ignore[index]
        "id": "abc",
        "path": "a/b",
    }
    assert r.match("POST", "/containers//start") is None
    assert r.match("GET", "/containers/abc/start") is None  # wrong method
    assert r.match("POST", "/containers/abc/start/") is None
    assert r.match("GET", "/images//json") is None
    assert ("GET", "/images/json") in r.routes()


def test_routes_must_be_unique_and_valid() -> None:
    r = Router()
    r.add("GET", "/a/{x}", h("a"))
    with pytest.raises(ValueError):
        r.add("GET", "/a/{x}", h("b"))
    with pytest.raises(ValueError):
        r.add("GET", "/{a:path}/{b:path}", h("c"))
    with pytest.raises(ValueError):
        r.add("GET", "no-slash", h("d"))


@pytest.mark.parametrize(
    ("path", "expect"),
    [
        ("/v1.41/info", ("1.41", "/info")),
        ("/v1.24/x/y", ("1.24", "/x/y")),
        ("/info", (None, "/info")),
        ("/vabc/info", (None, "/vabc/info")),
        ("/volumes", (None, "/volumes")),
        ("/v1.45", (None, "/v1.45")),
    ],
)
def test_version_prefix(path: str, expect: tuple[str | None, str]) -> None:
    assert split_version(path) == expect


def test_versions_out_of_range() -> None:
    with pytest.raises(HTTPError, match=r"client version 1\.46 is too new\. Maximum supported"):
        split_version("/v1.46/info")
    with pytest.raises(HTTPError, match=r"client version 1\.23 is too old\. Minimum supported API"):
        split_version("/v1.23/info")
    with pytest.raises(HTTPError, match="invalid API version"):
        split_version("/v1..2/info")
