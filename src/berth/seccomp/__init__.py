"""berth's seccomp: OCI ``linux.seccomp`` -> classic BPF, and the default profile.

::

    from berth.seccomp import compile_filter, default_profile
    from berth.kernel.seccomp import load

    spec = default_profile({"CAP_CHOWN", ...})      # a Seccomp record
    program = compile_filter(spec)                   # a Program (cached)
    listener_fd = load(program)                      # in the container's init

- :func:`compile_filter` (:mod:`berth.seccomp.compiler`) documents what a
  compiled filter does with a call, following libseccomp as runc uses it.
- :func:`default_profile` and :func:`docker_profile_to_oci`
  (:mod:`berth.seccomp.profile`) resolve Docker-format profiles; the default
  table is :mod:`berth.seccomp.default`.
- ``ACTIONS``, ``OPERATORS``, ``FLAGS`` and ``ARCHES`` name what berth knows;
  :func:`features` is the ``linux.seccomp`` object of ``berth-runtime features``.

No libseccomp: the BPF is generated here; only :mod:`berth.kernel.seccomp`
calls the kernel. Imports are light (no re, enum, dataclasses, typing).
"""

from __future__ import annotations

from berth.seccomp.arch import ARCHES
from berth.seccomp.compiler import ACTIONS, FLAGS, OPERATORS, Program, compile_filter, features
from berth.seccomp.profile import default_profile, docker_profile_to_oci

__all__ = [
    "ACTIONS",
    "ARCHES",
    "FLAGS",
    "OPERATORS",
    "Program",
    "compile_filter",
    "default_profile",
    "docker_profile_to_oci",
    "features",
]
