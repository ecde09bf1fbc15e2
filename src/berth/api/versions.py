"""Versions berth reports: its own, the Engine API range, and build facts.

Imported by the CLI on every start, so it stays tiny (no imports at module
level). Docker compares API versions numerically per component ("1.9" <
"1.10"): :func:`compare` does the same.

- ``API_VERSION``: the newest Engine API version berthd serves and the berth
  client speaks (unversioned paths are served as this version).
- ``MIN_API_VERSION``: the oldest accepted on a ``/vX.Y/`` path. Docker CLI
  20.10 speaks 1.41 and downgrades to the server's version when that is
  lower; newer CLIs (28.x speaks 1.50) downgrade to 1.45 after ``/_ping``.
"""

from __future__ import annotations

BERTH_VERSION = "0.1.0"
API_VERSION = "1.45"
MIN_API_VERSION = "1.24"


def parse(version: str) -> tuple[int, ...]:
    """ "1.41" -> (1, 41); raises ValueError on anything but dotted decimals."""
    parts = version.split(".")
    if not version or not all(p.isdigit() and p.isascii() for p in parts):
        raise ValueError(f"not an API version: {version!r}")
    return tuple(int(p) for p in parts)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, equal to or newer than ``b``."""
    pa, pb = parse(a), parse(b)
    width = max(len(pa), len(pb))
    pa = pa + (0,) * (width - len(pa))
    pb = pb + (0,) * (width - len(pb))
    return (pa > pb) - (pa < pb)


def python_version() -> str:
    """What berth reports where Docker reports its Go version."""
    import sys

    v = sys.version_info
    return f"python{v.major}.{v.minor}.{v.micro}"


def build_info() -> tuple[str, float]:
    """(git commit, build time as epoch seconds) of this checkout, read from .git.

    The build time is when the branch ref last moved (a commit). Outside a
    git checkout: ("", 0.0). Costs a few small file reads, no git process.
    """
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    git = os.path.join(top, ".git")
    try:
        with open(os.path.join(git, "HEAD")) as f:
            head = f.read().strip()
        ref_path = os.path.join(git, "HEAD")
        commit = head
        if head.startswith("ref: "):
            ref = head[5:]
            ref_path = os.path.join(git, ref)
            try:
                with open(ref_path) as f:
                    commit = f.read().strip()
            except FileNotFoundError:
                commit = _packed_ref(git, ref)
                ref_path = os.path.join(git, "packed-refs")
        return commit[:7], os.stat(ref_path).st_mtime
    except OSError:
        return "", 0.0


def go_arch(machine: str) -> str:
    """``uname -m`` -> Go's GOARCH, which Docker reports (x86_64 -> amd64)."""
    return {
        "x86_64": "amd64",
        "aarch64": "arm64",
        "armv7l": "arm",
        "armv6l": "arm",
        "i686": "386",
        "i386": "386",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(machine, machine)


def _packed_ref(git: str, ref: str) -> str:
    import os

    try:
        with open(os.path.join(git, "packed-refs")) as f:
            for line in f:
                sha, _, name = line.strip().partition(" ")
                if name == ref:
                    return sha
    except OSError:
        pass
    return ""
