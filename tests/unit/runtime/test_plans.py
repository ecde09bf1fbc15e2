"""The runtime's plans as data: mount options, validation, rootfs and process plans."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.kernel import consts as c
from berth.oci.runtime_spec import Spec
from berth.runtime import mountopts, process, rootfs
from berth.runtime.defaults import default_spec
from berth.runtime.validate import validate


def test_mount_options_flags_data_and_propagation() -> None:
    o = mountopts.parse(
        ["nosuid", "ro", "rw", "size=64m", "rprivate", "rro", "tmpcopyup", "mode=755"]
    )
    assert o.flags == c.MS_NOSUID  # rw undid ro
    assert o.data_string == "size=64m,mode=755"
    assert o.propagation == [c.MS_PRIVATE | c.MS_REC]
    assert o.attr_set == mountopts.MOUNT_ATTR_RDONLY
    assert o.extensions == {"tmpcopyup"}
    assert mountopts.parse(["rbind"]).flags == c.MS_BIND | c.MS_REC


@given(st.lists(st.sampled_from(sorted(mountopts.FLAGS)), max_size=12))
def test_later_options_win(options: list[str]) -> None:
    o = mountopts.parse(options)
    for flag in (c.MS_RDONLY, c.MS_NOSUID, c.MS_NODEV, c.MS_NOEXEC):
        setters = [i for i, opt in enumerate(options) if mountopts.FLAGS[opt] == (False, flag)]
        clearers = [i for i, opt in enumerate(options) if mountopts.FLAGS[opt] == (True, flag)]
        last_set = max(setters, default=-1)
        last_clear = max(clearers, default=-1)
        assert bool(o.flags & flag) == (last_set > last_clear)


def spec_doc(rootfs_dir: Path, **changes: Any) -> dict[str, Any]:
    doc = default_spec()
    doc["root"]["path"] = str(rootfs_dir)
    doc["process"]["terminal"] = False
    for key, value in changes.items():
        doc[key] = value
    return doc


def test_validate_accepts_the_default_spec(tmp_path: Path) -> None:
    assert validate(Spec.from_json(spec_doc(tmp_path)), str(tmp_path)) == str(tmp_path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["linux"]["namespaces"].remove({"type": "uts"}), "hostname: a hostname needs"),
        (lambda d: d["process"].update(cwd="x"), "process.cwd: 'x' must be an absolute path"),
        (lambda d: d["linux"].update(sysctl={"kernel.panic": "1"}), "not a namespaced sysctl"),
        (
            lambda d: d["linux"]["namespaces"].append({"type": "pid"}),
            "namespace pid is given twice",
        ),
        (
            lambda d: d["mounts"].append({"destination": "/x", "options": ["bind"]}),
            "mounts[7].source: a bind mount needs a source",
        ),
        (
            lambda d: d["linux"].update(
                devices=[{"type": "c", "path": "/etc/x", "major": 1, "minor": 3}]
            ),
            "must be under /dev",
        ),
    ],
)
def test_validate_names_the_field(tmp_path: Path, mutate: Any, message: str) -> None:
    doc = copy.deepcopy(spec_doc(tmp_path))
    mutate(doc)
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate(Spec.from_json(doc), str(tmp_path))


def test_rootfs_plan(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "file").write_text("x")
    doc = spec_doc(tmp_path)
    doc["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
        {
            "destination": "/one",
            "type": "bind",
            "source": str(tmp_path / "file"),
            "options": ["bind"],
        },
    ]
    doc["linux"]["devices"] = [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229}]
    doc["linux"]["rootfsPropagation"] = "rslave"
    p = rootfs.plan(Spec.from_json(doc), str(tmp_path), str(tmp_path), cgroup_mounts=[])
    by_dest = {m.dest: m for m in p.mounts}
    assert (
        by_dest["/data"].bind
        and by_dest["/data"].flags & c.MS_RDONLY
        and by_dest["/data"].kind == "dir"
    )
    assert by_dest["/one"].kind == "file"
    assert "/sys/fs/cgroup" not in by_dest  # cgroup mounts come from the cgroup driver
    assert [d.path for d in p.devices][-1] == "/dev/fuse"
    assert {d.path for d in p.devices} >= {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/tty"}
    assert ("pts/ptmx", "/dev/ptmx") in p.symlinks
    assert p.readonly is True
    assert p.root_propagation == c.MS_SLAVE | c.MS_REC


def test_bind_of_a_missing_source_is_reported(tmp_path: Path) -> None:
    doc = spec_doc(tmp_path)
    doc["mounts"].append(
        {"destination": "/x", "type": "bind", "source": "/no/such/dir", "options": ["rbind"]}
    )
    with pytest.raises(InvalidArgument, match=r"mounts\[7\].source: cannot bind /no/such/dir"):
        rootfs.plan(Spec.from_json(doc), str(tmp_path), str(tmp_path))


def test_process_plan_masks_and_limits(tmp_path: Path) -> None:
    doc = spec_doc(tmp_path)
    doc["process"]["capabilities"] = {
        "bounding": ["CAP_KILL", "CAP_CHOWN"],
        "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL"],
        "inheritable": [],
        "ambient": ["CAP_KILL"],
    }
    doc["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": -1}]
    doc["process"]["user"] = {"uid": 5, "gid": 6, "additionalGids": [7]}
    plan = process.plan(Spec.from_json(doc).process)  # type: ignore[arg-type]
    assert plan.bounding == (1 << 5) | (1 << 0)
    assert plan.effective == plan.permitted == 1 << 5
    assert plan.ambient == [5]
    assert plan.rlimits == [(7, 10, 0xFFFFFFFFFFFFFFFF)]
    assert (plan.uid, plan.gid, plan.groups) == (5, 6, [7])


def test_resolve_program_errors(tmp_path: Path) -> None:
    from berth.errors import CannotInvoke, CommandNotFound

    (tmp_path / "tool").write_text("#!/bin/sh\n")
    with pytest.raises(CommandNotFound, match="executable file not found in \\$PATH"):
        process.resolve_program(["nope"], [f"PATH={tmp_path}"])
    with pytest.raises(CannotInvoke, match="permission denied"):
        process.resolve_program(["tool"], [f"PATH={tmp_path}"])
    (tmp_path / "tool").chmod(0o755)
    assert process.resolve_program(["tool"], [f"PATH={tmp_path}"]) == str(tmp_path / "tool")


def test_a_v1_cgroup_mount_links_the_co_mounted_controllers(tmp_path: Path) -> None:
    # v1 with cpu and cpuacct mounted together: /sys/fs/cgroup/cpu is a symlink to
    # cpu,cpuacct, made in its place among the mounts (before the tmpfs is read-only)
    import os

    from berth.cgroups import Layout, open_cgroup
    from berth.kernel.syscalls import SYSCALLS
    from support import cgroups_texts as t

    cg = open_cgroup(None, "c1", Layout.parse(t.V1_MOUNTINFO, t.V1_CGROUP))
    p = rootfs.plan(
        Spec.from_json(spec_doc(tmp_path)),
        str(tmp_path),
        str(tmp_path),
        cgroup_mounts=cg.container_mounts(cgroupns=False),
    )
    mine = p.mounts[p.cgroup_at :]
    links = [m for m in mine if m.kind == "symlink"]
    assert ("/sys/fs/cgroup/cpu", "cpu,cpuacct") in {(m.dest, m.source) for m in links}
    last_bind = max(i for i, m in enumerate(mine) if m.bind and m.source)
    assert all(mine.index(m) > last_bind for m in links)
    root = tmp_path / "root"
    root.mkdir()
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        rootfs._mount_one(SYSCALLS, rootfd, links[0])  # (no mount: a symlink in the root)
    finally:
        os.close(rootfd)
    made = root / links[0].dest.lstrip("/")
    assert os.readlink(made) == links[0].source
