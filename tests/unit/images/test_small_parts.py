from __future__ import annotations

from pathlib import Path

import pytest

from berth.errors import InvalidArgument
from berth.images import credentials, filters
from berth.images.changes import apply_changes
from berth.images.progress import bar, human_size, progress
from berth.images.registry import is_local, parse_challenge


def test_human_size_and_bar_like_docker() -> None:
    assert human_size(0) == "0B"
    assert human_size(999) == "999B"
    assert human_size(1234567) == "1.235MB"
    assert human_size(70_820_765) == "70.82MB"
    line = bar(50, 100)
    assert line.startswith("[" + "=" * 25 + ">" + " " * 25 + "] ")
    assert line.endswith("    50B/100B")
    msg = progress("Downloading", "abc", 1, 2)
    assert msg["progressDetail"] == {"current": 1, "total": 2} and msg["id"] == "abc"


def test_challenge_parsing() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull,push",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_local_registries_are_plain_http() -> None:
    assert is_local("127.0.0.1:5000") and is_local("localhost") and is_local("127.1.2.3")
    assert is_local("[::1]:5000")
    assert not is_local("example.com:5000")


def test_credentials_in_docker_config(tmp_path: Path) -> None:
    path = str(tmp_path / "config.json")
    Path(path).write_text('{"auths": {}, "credsStore": "", "other": {"kept": true}}')
    credentials.store("127.0.0.1:5000", "me", "secret:with:colons", path)
    credentials.store("docker.io", "hub", "pw", path)
    c = credentials.load("127.0.0.1:5000", path)
    assert c is not None and (c.username, c.password) == ("me", "secret:with:colons")
    hub = credentials.load("https://index.docker.io/v1/", path)
    assert hub is not None and hub.username == "hub"
    text = Path(path).read_text()
    assert '"https://index.docker.io/v1/"' in text and '"kept": true' in text
    assert credentials.erase("127.0.0.1:5000", path)
    assert credentials.load("127.0.0.1:5000", path) is None
    assert not credentials.erase("127.0.0.1:5000", path)


def test_changes() -> None:
    c = apply_changes(
        None,
        [
            'CMD ["sh", "-c", "echo hi"]',
            "ENTRYPOINT /bin/run me",
            "ENV A=1 B=two",
            "ENV C some value",
            'LABEL a=b "c d"=e',
            "EXPOSE 80 53/udp",
            "VOLUME /data /logs",
            "WORKDIR /srv",
            "USER nobody",
            "STOPSIGNAL SIGINT",
        ],
    )
    assert c.entrypoint == ("/bin/sh", "-c", "/bin/run me")
    assert c.env == ("A=1", "B=two", "C=some value")
    assert c.labels == {"a": "b", "c d": "e"}
    assert c.exposed_ports == {"80/tcp": {}, "53/udp": {}}
    assert c.volumes == {"/data": {}, "/logs": {}}
    assert (c.working_dir, c.user, c.stop_signal) == ("/srv", "nobody", "SIGINT")
    with pytest.raises(InvalidArgument, match="not a valid change command"):
        apply_changes(None, ["RUN rm -rf /"])


def test_filters() -> None:
    assert filters.parse_filters('{"dangling": ["true"]}', ["dangling"]) == {"dangling": ["true"]}
    assert filters.parse_filters('{"label": {"a=b": true}}', ["label"]) == {"label": ["a=b"]}
    with pytest.raises(InvalidArgument, match="invalid filter 'nope'"):
        filters.parse_filters('{"nope": ["1"]}', ["dangling"])
    assert filters.labels_match({"a": "b"}, ["a", "a=b"])
    assert not filters.labels_match({"a": "b"}, ["a=c"])
    assert filters.glob_match("busy*", "busybox")
    assert not filters.glob_match("*", "library/busybox")
    assert filters.parse_cli_filters(["dangling=true", "label=a=b"]) == {
        "dangling": ["true"],
        "label": ["a=b"],
    }
