from __future__ import annotations

from support.hoststate import Snapshot, describe, own_cgroups


def test_own_cgroups_hybrid() -> None:
    text = "9:name=systemd:/\n4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/x\n"
    assert own_cgroups(text) == {
        "systemd": "/",
        "memory": "/process_api/abc",
        "cpu": "/",
        "cpuacct": "/",
        "unified": "/x",
    }


def test_describe_names_what_was_left() -> None:
    empty: frozenset[str] = frozenset()
    before = Snapshot(frozenset(), empty, frozenset({"lo"}), empty, empty, {})
    after = Snapshot(
        frozenset({("/mnt/x", "tmpfs", "tmpfs")}),
        empty,
        frozenset({"lo", "veth0"}),
        empty,
        empty,
        {},
    )
    assert describe(before, after) == [
        "mounts: left behind ('/mnt/x', 'tmpfs', 'tmpfs')",
        "links: left behind veth0",
    ]


def test_describe_names_default_state_dirs_made() -> None:
    empty: frozenset[str] = frozenset()
    before = Snapshot(frozenset(), empty, empty, empty, empty, {})
    after = Snapshot(
        frozenset(), empty, empty, empty, empty, {}, dirs=frozenset({"/run/berth-runtime"})
    )
    assert describe(before, after) == ["dirs: left behind /run/berth-runtime"]
