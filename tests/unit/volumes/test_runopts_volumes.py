"""-v / --mount / --tmpfs / --volumes-from as the CLI sends them (docker's CLI rules)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from berth.cli.flags import parse
from berth.cli.runopts import CREATE_FLAGS, build
from berth.errors import InvalidArgument


def body(*flags: str) -> dict[str, Any]:
    opts = parse(CREATE_FLAGS, [*flags, "busybox"], interspersed=False)
    doc, _ = build(opts, "busybox", [])
    return doc


def test_volume_flags_split_like_docker() -> None:
    doc = body("-v", "/data", "-v", "name:/n:ro", "-v", "/h:/c", "--volumes-from", "other:ro")
    assert doc["Volumes"] == {"/data": {}}
    assert doc["HostConfig"]["Binds"] == ["name:/n:ro", "/h:/c"]
    assert doc["HostConfig"]["VolumesFrom"] == ["other:ro"]


def test_relative_host_paths_become_absolute() -> None:
    doc = body("-v", "./here:/c", "-v", ".:/dot", "--mount", "type=bind,src=./m,dst=/m")
    assert doc["HostConfig"]["Binds"] == [
        os.path.abspath("here") + ":/c",
        os.getcwd() + ":/dot",
    ]
    assert doc["HostConfig"]["Mounts"][0]["Source"] == os.path.abspath("m")


def test_mount_and_tmpfs_flags() -> None:
    doc = body(
        "--mount", "type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1777",
        "--mount", "type=volume,source=v,target=/v,volume-nocopy,readonly",
        "--tmpfs", "/run:rw,size=1m",
    )  # fmt: skip
    hc = doc["HostConfig"]
    assert hc["Mounts"] == [
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 64 << 20, "Mode": 0o1777}},
        {
            "Type": "volume",
            "Source": "v",
            "Target": "/v",
            "VolumeOptions": {"NoCopy": True},
            "ReadOnly": True,
        },
    ]
    assert hc["Tmpfs"] == {"/run": "rw,size=1m"}


@pytest.mark.parametrize("flag", ["/a:/b:/c:/d", "/a:relative"])
def test_bad_volume_flags(flag: str) -> None:
    with pytest.raises(InvalidArgument):
        body("-v", flag)


def test_mount_volume_driver_options() -> None:
    doc = body("--mount", "type=volume,src=t,dst=/t,volume-opt=type=tmpfs,volume-opt=o=size=1m")
    assert doc["HostConfig"]["Mounts"][0]["VolumeOptions"] == {
        "DriverConfig": {"Options": {"type": "tmpfs", "o": "size=1m"}}
    }
