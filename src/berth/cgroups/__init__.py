"""berth's cgroup drivers: v1, v2 and hybrid behind one interface.

::

    from berth.cgroups import Layout, open_cgroup

    layout = Layout.detect()                       # or Layout.parse(mountinfo, proc_cgroup)
    cg = open_cgroup(spec.linux.cgroups_path, container_id, layout)
    cg.create(); cg.apply(spec.linux.resources); cg.add(pid)
    state["cgroup"] = cg.to_json()                 # later: Cgroup.from_json(state["cgroup"])
    ...
    cg.kill(9); cg.destroy()

Modules, by concern: ``layout`` (hierarchies, parsing), ``cgroup`` (paths and
lifecycle: the dispatch), ``v1`` / ``v2`` (resources -> planned writes),
``devices`` (device rules -> v1 writes or a v2 eBPF program), ``values``
(checks and conversions), ``stats``, ``mounts`` (what the container sees),
``fs`` (the file access object; tests give a fake). Bad input raises
``berth.errors.InvalidArgument``; a kernel refusal raises
``berth.errors.KernelError`` naming the file and the value.
"""

from __future__ import annotations

from berth.cgroups.cgroup import Cgroup, open_cgroup, resolve
from berth.cgroups.layout import Hierarchy, Layout
from berth.cgroups.write import Write

__all__ = ["Cgroup", "Hierarchy", "Layout", "Write", "open_cgroup", "resolve"]
