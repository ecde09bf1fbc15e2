"""Device rules: checks, v1 writes, and the v2 eBPF program run by an interpreter."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berth.cgroups import devices as d
from berth.errors import InvalidArgument
from berth.oci.runtime_spec import DeviceRule
from support.cgroups_bpf import run

DOCKER = [
    DeviceRule(allow=False, access="rwm"),
    DeviceRule(allow=True, type="c", major=1, minor=3, access="rwm"),
    DeviceRule(allow=True, type="c", major=1, minor=5, access="rwm"),
    DeviceRule(allow=True, type="c", major=136, access="rwm"),
    DeviceRule(allow=True, type="c", major=5, minor=2, access="rw"),
    DeviceRule(allow=True, type="c", access="m"),
    DeviceRule(allow=True, type="b", access="m"),
]
R, W, M = d.ACC_READ, d.ACC_WRITE, d.ACC_MKNOD


def verdict(rules: list[DeviceRule], dev_type: int, major: int, minor: int, access: int) -> int:
    program = d.bpf_program(rules)
    assert program is not None
    return run(program, dev_type, major, minor, access)


def test_docker_default_program() -> None:
    C, B = d.DEV_CHAR, d.DEV_BLOCK
    assert verdict(DOCKER, C, 1, 3, R | W) == 1  # /dev/null
    assert verdict(DOCKER, C, 1, 8, R) == 0  # /dev/random: not listed
    assert verdict(DOCKER, C, 136, 7, R | W) == 1  # a pty
    assert verdict(DOCKER, C, 5, 2, R | W) == 1  # ptmx
    assert verdict(DOCKER, C, 5, 2, M) == 1  # mknod of any char device
    assert verdict(DOCKER, C, 10, 200, R) == 0
    assert verdict(DOCKER, B, 8, 0, R) == 0
    assert verdict(DOCKER, B, 8, 0, M) == 1


def test_no_rules_means_no_program() -> None:
    assert d.bpf_program([]) is None
    assert d.v1_writes([], "/x") == []


def test_without_a_reset_the_default_is_allow() -> None:
    rules = [DeviceRule(allow=False, type="c", major=1, minor=3, access="w")]
    assert verdict(rules, d.DEV_CHAR, 1, 3, R) == 1
    assert verdict(rules, d.DEV_CHAR, 1, 3, R | W) == 0
    assert verdict(rules, d.DEV_CHAR, 1, 5, W) == 1
    assert [(w.filename, w.value) for w in d.v1_writes(rules, "/x")] == [
        ("devices.deny", "c 1:3 w")
    ]


def test_the_last_reset_wins() -> None:
    rules = [
        DeviceRule(allow=False, type="c", major=1, minor=3, access="rwm"),
        DeviceRule(allow=True, access="rwm"),
    ]
    assert verdict(rules, d.DEV_CHAR, 1, 3, R) == 1
    assert [(w.filename, w.value) for w in d.v1_writes(rules, "/x")] == [("devices.allow", "a")]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"allow": True, "type": "x"}, "is not a, b or c"),
        ({"allow": True, "access": "rwx"}, "must be made of r"),
        ({"allow": True, "access": ""}, "must be made of r"),
        ({"allow": True, "major": -2}, "not a device number"),
        ({"allow": True, "minor": 1 << 40}, "not a device number"),
    ],
)
def test_bad_rules(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=r"devices\[1\]\.\w+: .*" + message):
        d.check([DeviceRule(allow=True), DeviceRule.from_json(rule)])


def test_program_is_whole_instructions_ending_in_exit() -> None:
    program = d.bpf_program(DOCKER)
    assert program is not None and len(program) % 8 == 0
    assert program[-8] == d.EXIT


rule_st = st.builds(
    lambda allow, t, major, minor, access: DeviceRule(
        allow=allow, type=t, major=major, minor=minor, access=access
    ),
    st.booleans(),
    st.sampled_from([None, "a", "b", "c"]),
    st.sampled_from([None, -1, 1, 5, 136]),
    st.sampled_from([None, -1, 3, 5]),
    st.sampled_from([None, "r", "w", "m", "rw", "rm", "wm", "rwm", "mwr"]),
)
access_st = st.tuples(
    st.sampled_from([d.DEV_BLOCK, d.DEV_CHAR]),
    st.sampled_from([1, 5, 136, 200]),
    st.sampled_from([3, 5, 9]),
    st.integers(1, 7),
)


@settings(max_examples=400)
@given(st.lists(rule_st, max_size=8), st.lists(access_st, min_size=1, max_size=6))
def test_program_decides_as_the_rules_say(
    rules: list[DeviceRule], accesses: list[tuple[int, int, int, int]]
) -> None:
    """The eBPF program and the written semantics (last matching rule wins) agree."""
    program = d.bpf_program(rules)
    checked = d.check(rules)
    for dev_type, major, minor, access in accesses:
        expected = d.decide(checked, dev_type, major, minor, access)
        if program is None:
            assert expected is True
        else:
            assert run(program, dev_type, major, minor, access) == int(expected)


@given(st.lists(rule_st, max_size=8))
def test_v1_writes_are_well_formed(rules: list[DeviceRule]) -> None:
    for w in d.v1_writes(rules, "/sys/fs/cgroup/devices/c1"):
        assert w.filename in ("devices.allow", "devices.deny")
        parts = w.value.split()
        assert parts == ["a"] or (
            len(parts) == 3 and parts[0] in "bc" and ":" in parts[1] and set(parts[2]) <= set("rwm")
        )


@given(
    st.integers(0, 255),
    st.integers(0, 15),
    st.integers(0, 15),
    st.integers(-(2**15), 2**15 - 1),
    st.integers(-(2**31), 2**31 - 1),
)
def test_an_instruction_is_the_kernels_struct_bpf_insn(
    code: int, dst: int, src: int, off: int, imm: int
) -> None:
    import struct

    assert d.insn(code, dst, src, off, imm) == struct.pack(
        "<BBhi", code, (src << 4) | dst, off, imm
    )
