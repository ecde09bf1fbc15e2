"""Pure parts of cp/diff/commit: Docker's path rules, Go file modes, times, diff filtering,
commit config merging, view planning."""

from __future__ import annotations

import posixpath
import stat

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.engine.containers import fstree
from berth.engine.containers.fsops import commit_config, filter_changes
from berth.engine.containers.fsview import Bind, plan_image_view, plan_view
from berth.kernel import consts as c


@pytest.mark.parametrize(
    ("path", "absolute", "split", "name"),
    [
        ("/etc", "/etc", ("/", "etc"), "etc"),
        ("etc/passwd", "/etc/passwd", ("/etc/", "passwd"), "passwd"),
        ("/etc/", "/etc/", ("/etc/", ""), "etc"),
        ("/etc/.", "/etc/.", ("/etc/", "."), "."),
        ("/", "/", ("/", ""), "/"),
        (".", "/.", ("/", "."), "."),
        ("//a//b/../c", "/a/c", ("/a/", "c"), "c"),
        ("/a/..", "/", ("/", ""), "/"),
    ],
)
def test_docker_path_rules(path: str, absolute: str, split: tuple[str, str], name: str) -> None:
    assert fstree.abs_path(path) == absolute
    assert fstree.split(absolute) == split
    assert fstree.base_name(absolute) == name


_SEG = st.text(alphabet="ab.", min_size=1, max_size=3)


@given(st.lists(_SEG, max_size=5), st.sampled_from(["", "/", "/."]))
def test_abs_path_is_clean_and_keeps_the_trailing_meaning(parts: list[str], tail: str) -> None:
    path = "/".join(parts) + tail
    out = fstree.abs_path(path)
    assert out.startswith("/") and "//" not in out
    core = out[:-2] if out.endswith("/.") else out.rstrip("/") or "/"
    assert core == posixpath.normpath("/" + "/".join(parts)) or core == ""
    if tail == "/." or (tail == "" and parts and parts[-1] == "."):
        assert out.endswith("/.")
    base = out[:-2] if out.endswith("/.") else out
    assert fstree.rel(out) == (posixpath.normpath(base or "/").strip("/") or ".")


def test_go_file_modes() -> None:
    assert fstree.go_file_mode(stat.S_IFDIR | 0o755) == 2147484141
    assert fstree.go_file_mode(stat.S_IFLNK | 0o777) == 134218239
    assert fstree.go_file_mode(stat.S_IFREG | 0o644) == 420
    assert fstree.go_file_mode(stat.S_IFCHR | 0o666) == (1 << 26) | (1 << 21) | 0o666
    assert fstree.go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == (1 << 23) | 0o755
    assert fstree.go_file_mode(stat.S_IFDIR | stat.S_ISVTX | 0o777) == (1 << 31) | (1 << 20) | 0o777


def test_rfc3339_nano() -> None:
    assert fstree.rfc3339_nano(1_700_000_000 * 10**9) == "2023-11-14T22:13:20Z"
    assert fstree.rfc3339_nano(1_700_000_000 * 10**9 + 788_427_900) == (
        "2023-11-14T22:13:20.7884279Z"
    )
    assert fstree.rfc3339_nano(1_700_000_000 * 10**9 + 5) == "2023-11-14T22:13:20.000000005Z"


def test_diff_hides_the_runtimes_mount_points() -> None:
    entries = [
        {"Path": "/etc", "Kind": 0},
        {"Path": "/etc/hosts", "Kind": 1},
        {"Path": "/etc/hostname", "Kind": 1},
        {"Path": "/dev", "Kind": 1},
        {"Path": "/data", "Kind": 1},
        {"Path": "/tmp", "Kind": 0},
        {"Path": "/tmp/new", "Kind": 1},
    ]
    assert filter_changes(entries) == [
        {"Path": "/data", "Kind": 1},
        {"Path": "/tmp", "Kind": 0},
        {"Path": "/tmp/new", "Kind": 1},
    ]
    more = [*entries, {"Path": "/etc/group", "Kind": 2}]
    assert {"Path": "/etc", "Kind": 0} in filter_changes(more)  # a real change in /etc


def test_commit_config_merges_like_docker() -> None:
    container = {
        "Hostname": "abc",
        "Env": ["PATH=/bin", "A=1"],
        "Cmd": ["sleep", "1"],
        "Volumes": {"/data": {}},
        "Labels": {"l": "1"},
        "WorkingDir": "/w",
        "AttachStdout": True,
    }
    out = commit_config({}, container)
    assert out == {
        "Env": ["PATH=/bin", "A=1"],
        "Cmd": ["sleep", "1"],
        "Volumes": {"/data": {}},
        "Labels": {"l": "1"},
        "WorkingDir": "/w",
    }
    out = commit_config({"Env": ["A=2"], "Cmd": ["true"], "Labels": {"m": "2"}}, container)
    assert out["Env"] == ["A=2", "PATH=/bin"] and out["Cmd"] == ["true"]
    assert out["Labels"] == {"l": "1", "m": "2"}
    out = commit_config({"Entrypoint": ["/x"]}, container)
    assert out["Entrypoint"] == ["/x"] and "Cmd" not in out


def test_view_plans() -> None:
    p = plan_view(
        "/run/fsview",
        "/c/id",
        ["/s/2/fs", "/s/1/fs"],
        running=False,
        writable=False,
        binds=[Bind("/a/b", "/v/b"), Bind("/a", "/v/a", rw=False)],
    )
    assert p.live is None and p.root == "/run/fsview/merged"
    assert p.overlay.fstype == "overlay" and p.overlay.target == "/run/fsview/merged"
    assert p.overlay.data == (
        "lowerdir=/c/id/upper:/s/2/fs:/s/1/fs,upperdir=/run/fsview/upper,workdir=/run/fsview/work"
    )
    assert [b.dest for b in p.binds] == ["/a", "/a/b"]
    w = plan_view("/run/fsview", "/c/id", [], running=True, writable=True)
    assert w.live == "/c/id/rootfs"
    assert w.overlay.data == "lowerdir=/c/id/empty,upperdir=/c/id/upper,workdir=/c/id/work"
    one = plan_image_view("/s", ["/s/1/fs"])
    assert one.overlay.fstype is None and one.overlay.flags == c.MS_BIND | c.MS_RDONLY
    many = plan_image_view("/s", ["/s/2/fs", "/s/1/fs"])
    assert many.overlay.data == "lowerdir=/s/2/fs:/s/1/fs" and many.overlay.flags == c.MS_RDONLY
