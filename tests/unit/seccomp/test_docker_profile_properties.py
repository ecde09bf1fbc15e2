"""Property tests of docker_profile_to_oci: text or object, and the filter rules."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from berth.seccomp import docker_profile_to_oci

CAPS = ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_BPF", "CAP_SYS_PTRACE"]
ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "s390x": "s390x"}
DOCKER_ARCHES = ["amd64", "arm64", "x86", "x32", "arm", "s390x"]
KERNELS = ["3.10", "4.8", "5.10", "6.1", "6.18"]


def kv(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


filters = st.fixed_dictionaries(
    {},
    optional={
        "caps": st.lists(st.sampled_from(CAPS), max_size=2),
        "arches": st.lists(st.sampled_from(DOCKER_ARCHES), max_size=2),
        "minKernel": st.sampled_from(KERNELS),
    },
)
entries = st.fixed_dictionaries(
    {"names": st.lists(st.sampled_from(["read", "mount", "bpf", "ptrace"]), min_size=1, max_size=2),
     "action": st.sampled_from(["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"])},
    optional={"includes": filters, "excludes": filters, "comment": st.text(max_size=5)},
)  # fmt: skip


def kept(entry: dict[str, Any], caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    """Docker's rule, written out plainly."""
    ex = entry.get("excludes", {})
    if arch in ex.get("arches", []) or caps & set(ex.get("caps", [])):
        return False
    if "minKernel" in ex and kernel >= kv(ex["minKernel"]):
        return False
    inc = entry.get("includes", {})
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if not set(inc.get("caps", [])) <= caps:
        return False
    return not ("minKernel" in inc and kernel < kv(inc["minKernel"]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(entries, max_size=6),
    st.sets(st.sampled_from(CAPS)),
    st.sampled_from(sorted(ARCHES)),
    st.sampled_from(KERNELS),
)
def test_entries_kept_as_docker_keeps_them(
    calls: list[dict[str, Any]], caps: set[str], machine: str, kernel: str
) -> None:
    doc = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": calls}
    version = kv(kernel)
    spec = docker_profile_to_oci(doc, caps, machine, kernel=version)
    assert spec is not None
    want = [c["names"] for c in calls if kept(c, caps, ARCHES[machine], version)]
    assert [list(c.names) for c in spec.syscalls] == want
    # the same profile as JSON text gives the same spec
    assert docker_profile_to_oci(json.dumps(doc), caps, machine, kernel=version) == spec
    assert all("comment" not in c.extra for c in spec.syscalls)
