from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.oci.reference import parse

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b:v1", "localhost:5000/a/b:v1", "localhost:5000/a/b:v1"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest"),
        ("quay.io/org/app:1.0-rc.1", "quay.io/org/app:1.0-rc.1", "quay.io/org/app:1.0-rc.1"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", f"busybox@{DIGEST}"),
        (f"busybox:1@{DIGEST}", f"docker.io/library/busybox:1@{DIGEST}", f"busybox:1@{DIGEST}"),
        ("a__b/c-d/e.f", "docker.io/a__b/c-d/e.f:latest", "a__b/c-d/e.f:latest"),
        ("a--b", "docker.io/library/a--b:latest", "a--b:latest"),
    ],
)
def test_normalises_like_docker(text: str, full: str, familiar: str) -> None:
    ref = parse(text)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("Busybox", "must be lowercase"),
        ("busybox:", "invalid tag"),
        ("busybox:-x", "invalid tag"),
        ("a/-b", "invalid reference format"),
        ("a_/b", "invalid reference format"),
        ("a..b", "invalid reference format"),
        ("a//b", "empty path component"),
        ("busybox@sha256:abc", "invalid digest"),
        ("ab" * 32, "64-byte hexadecimal"),
        ("host:port/app", "invalid port"),
        ("x" * 256, "255 characters"),
    ],
)
def test_rejects_bad_references(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse(text)


def test_no_default_tag_when_asked() -> None:
    ref = parse("127.0.0.1:5000/app", default_tag=False)
    assert ref.tag is None and ref.name == "127.0.0.1:5000/app"


_component = st.from_regex(r"[a-z0-9]{1,5}([._-][a-z0-9]{1,4}){0,2}", fullmatch=True)
_tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_domain = st.sampled_from(["", "localhost/", "127.0.0.1:5000/", "example.com/", "docker.io/"])


@given(_domain, st.lists(_component, min_size=1, max_size=3), st.one_of(st.none(), _tag))
def test_parse_round_trips(domain: str, path: list[str], tag: str | None) -> None:
    if domain in ("", "docker.io/") and len(path) > 1 and "." in path[0]:
        path[0] = path[0].replace(".", "-")  # "a.b/c" names a registry, as in Docker
    text = domain + "/".join(path) + (f":{tag}" if tag else "")
    ref = parse(text)
    assert parse(str(ref)) == ref
    assert parse(ref.familiar()) == ref
    assert ref.tag == (tag or "latest")


@given(st.text(max_size=40))
def test_parse_never_crashes(text: str) -> None:
    try:
        ref = parse(text)
    except InvalidArgument:
        return
    assert parse(str(ref)) == ref
