from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from berth.engine.sysinfo import parse_cgroup_mounts, parse_meminfo_total, parse_os_release

DEBIAN = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
# comment
ID=debian
"""

HYBRID = """\
25 30 0:22 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
"""
V2 = "26 25 0:23 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"


def test_os_release() -> None:
    r = parse_os_release(DEBIAN)
    assert r["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert r["VERSION_ID"] == "12" and r["ID"] == "debian"


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters='"\\$`')))
def test_os_release_quoted_values(value: str) -> None:
    assert (
        parse_os_release(f'NAME="{value}"\n').get("NAME", "") == value.strip()
        or value != value.strip()
    )


@given(st.text())
def test_parsers_never_crash(text: str) -> None:
    parse_os_release(text)
    parse_meminfo_total(text)
    parse_cgroup_mounts(text)


def test_meminfo_and_cgroups() -> None:
    assert parse_meminfo_total("MemFree: 1 kB\nMemTotal:       24683116 kB\n") == 24683116 * 1024
    assert parse_meminfo_total("") == 0
    version, ctl = parse_cgroup_mounts(HYBRID)
    assert version == "1" and {"memory", "cpu", "cpuacct"} <= ctl and "systemd" not in ctl
    assert parse_cgroup_mounts(V2) == ("2", frozenset())
