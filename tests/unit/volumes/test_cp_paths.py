"""docker cp's client-side rules: argument splitting, path entries, where and under which name
an archive is extracted, entry renaming; the container user of ``cp -a``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.cli.cmd_cp import (
    CopyInfo,
    asserts_directory,
    prepare_copy,
    rebase_name,
    renamer,
    split_cp_arg,
    split_path_dir_entry,
)
from berth.engine.containers.fsops import user_ids
from berth.errors import InvalidArgument, NotFound


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("c:/etc", ("c", "/etc")),
        ("c:etc", ("c", "etc")),
        ("/abs:path", ("", "/abs:path")),
        ("./rel:file", ("", "./rel:file")),
        ("plain", ("", "plain")),
        ("c:", ("c", "")),
    ],
)
def test_split_cp_arg(arg: str, expected: tuple[str, str]) -> None:
    assert split_cp_arg(arg) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/tmp/x", ("/tmp", "x")),
        ("/tmp/x/", ("/tmp", "x")),
        ("/tmp/x/.", ("/tmp/x", ".")),
        ("x", (".", "x")),
        ("/", ("/", "/")),
        ("/.", ("/", ".")),
    ],
)
def test_split_path_dir_entry(path: str, expected: tuple[str, str]) -> None:
    assert split_path_dir_entry(path) == expected


def test_asserts_directory() -> None:
    assert asserts_directory("/x/") and asserts_directory("/x/.") and not asserts_directory("/x")


def test_prepare_copy_cases() -> None:
    file_src = CopyInfo("/src/a", True, False)
    dir_src = CopyInfo("/src/d", True, True)
    content = CopyInfo("/src/d/.", True, True)
    into_dir = CopyInfo("/dst", True, True)
    onto_file = CopyInfo("/dst/f", True, False)
    missing = CopyInfo("/dst/new")
    assert prepare_copy(file_src, into_dir) == ("/dst", "a")
    assert prepare_copy(dir_src, into_dir) == ("/dst", "d")
    assert prepare_copy(content, into_dir) == ("/dst", ".")
    assert prepare_copy(file_src, onto_file) == ("/dst", "f")
    assert prepare_copy(dir_src, missing) == ("/dst", "new")
    assert prepare_copy(content, missing) == ("/dst", "new")
    assert prepare_copy(file_src, missing) == ("/dst", "new")
    renamed = CopyInfo("/src/target", True, True, rebase="link")
    assert prepare_copy(renamed, into_dir) == ("/dst", "link")
    with pytest.raises(InvalidArgument, match="cannot copy directory"):
        prepare_copy(dir_src, onto_file)
    with pytest.raises(InvalidArgument, match="no such directory"):
        prepare_copy(file_src, CopyInfo("/dst/new/"))


def test_rebase_name() -> None:
    assert rebase_name("/c/link", "/c/target") == ("/c/target", "link")
    assert rebase_name("/c/link/", "/c/target") == ("/c/target/", "link")
    assert rebase_name("/c/link/.", "/c/target") == ("/c/target/.", "")
    assert rebase_name("/c/same", "/d/same") == ("/d/same", "")


def test_renamer() -> None:
    assert renamer("a", "a") is None
    r = renamer("src", "dst")
    assert r("src") == "dst" and r("src/x/src") == "dst/x/src"
    root = renamer("/", "out")
    assert root("/") == "out/" and root("/bin/sh") == "out/bin/sh"
    dot = renamer(".", "new")
    assert dot("./") == "new/" and dot("./a.txt") == "new/a.txt"


_NAME = st.text(alphabet="abcdefghij", min_size=1, max_size=6)


@given(_NAME, st.integers(0, 65535), st.integers(0, 65535), _NAME, st.integers(0, 65535))
def test_user_ids_from_passwd_and_group(
    name: str, uid: int, gid: int, group: str, group_id: int
) -> None:
    passwd = f"root:x:0:0:root:/root:/bin/sh\n{name}:x:{uid}:{gid}::/:/bin/sh\n"
    groups = f"root:x:0:\n{group}:x:{group_id}:\n"
    if name == "root":
        assert user_ids(name, passwd, groups) == (0, 0)
        return
    assert user_ids(name, passwd, groups) == (uid, gid)
    assert user_ids(str(uid), passwd, groups)[0] in (uid, 0)
    expected_gid = 0 if group == "root" else group_id
    assert user_ids(f"{name}:{group}", passwd, groups) == (uid, expected_gid)
    assert user_ids(f"{name}:77", passwd, groups) == (uid, 77)


def test_user_ids_unknown() -> None:
    assert user_ids("1000", "", "") == (1000, 0)
    with pytest.raises(NotFound, match="unable to find user bob"):
        user_ids("bob", "root:x:0:0::/:/bin/sh\n", "")
    with pytest.raises(NotFound, match="unable to find group staff"):
        user_ids("0:staff", "", "")
