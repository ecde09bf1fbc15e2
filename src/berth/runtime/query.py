"""state, list, ps, features: what the runtime reports, in runc's formats."""

from __future__ import annotations

from berth.runtime.lifecycle import open_cgroup_of, status_of
from berth.runtime.state import ContainerState, StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def state_doc(st: ContainerState) -> dict[str, Any]:
    """runc's ``state`` document: the OCI state plus rootfs, created and owner."""
    status = status_of(st)
    out: dict[str, Any] = {
        "ociVersion": st.config.get("ociVersion", "1.2.0"),
        "id": st.id,
        "pid": st.pid if status != "stopped" else 0,
        "status": status,
        "bundle": st.doc.get("bundle", ""),
        "rootfs": st.doc.get("rootfs", ""),
        "created": st.doc.get("created", ""),
        "owner": st.doc.get("owner", ""),
    }
    if st.doc.get("annotations"):
        out["annotations"] = st.doc["annotations"]
    return out


def list_states(store: StateStore) -> list[dict[str, Any]]:
    out = []
    for cid in store.ids():
        try:
            out.append(state_doc(store.load(cid)))
        except Exception:
            continue
    return out


def pids(store: StateStore, container_id: str) -> list[int]:
    st = store.load(container_id)
    cg = open_cgroup_of(st)
    if cg is None:
        return [st.pid] if st.alive() else []
    return sorted(cg.procs())


def features() -> dict[str, Any]:
    """The runtime-spec "features" document (features.md)."""
    from berth.kernel.consts import CAPABILITIES, NAMESPACES
    from berth.runtime import mountopts
    from berth.runtime.process import last_cap

    top = last_cap()
    options = sorted(
        set(mountopts.FLAGS) | set(mountopts.PROPAGATION) | set(mountopts.RECURSIVE) | {"tmpcopyup"}
    )
    doc: dict[str, Any] = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ],
        "mountOptions": options,
        "linux": {
            "namespaces": sorted(NAMESPACES),
            "capabilities": [
                n for n, v in sorted(CAPABILITIES.items(), key=lambda x: x[1]) if v <= top
            ],
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
        },
        "annotations": {"io.github.berth.version": _version()},
    }
    try:
        from berth.seccomp import features as seccomp_features

        doc["linux"]["seccomp"] = seccomp_features()
    except ImportError:
        doc["linux"]["seccomp"] = {"enabled": False}
    return doc


def _version() -> str:
    from berth import __version__

    return __version__
