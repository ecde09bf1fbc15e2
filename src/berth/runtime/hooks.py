"""OCI hooks: programs run at points of the container's life, with its state on stdin.

prestart and createRuntime run in the runtime's namespaces after the
container's namespaces exist; createContainer in the container's
namespaces before pivot_root; startContainer in the container just before
its program; poststart after start; poststop after delete. A hook that
fails (non-zero exit, or past its ``timeout`` seconds) fails the operation,
except poststart and poststop whose failures are only reported, as the
spec says.
"""

from __future__ import annotations

import os

from berth import jsonio
from berth.errors import ContainerStartError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run_hooks(kind: str, hooks: list[dict[str, Any]], state: dict[str, Any]) -> None:
    """Run every hook of ``kind`` in order; raise ContainerStartError on the first failure."""
    if not hooks:
        return
    import subprocess

    payload = jsonio.dumps(state).encode()
    for i, hook in enumerate(hooks):
        path = hook["path"]
        args = hook.get("args") or [path]
        env = dict(e.split("=", 1) for e in hook.get("env") or () if "=" in e)
        timeout = hook.get("timeout")
        what = f"{kind} hook #{i} ({path})"
        try:
            done = subprocess.run(
                args,
                executable=path,
                input=payload,
                env=env,
                capture_output=True,
                timeout=timeout if timeout and timeout > 0 else None,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ContainerStartError(f"{what} did not finish within {timeout}s") from None
        except OSError as e:
            raise ContainerStartError(
                f"{what} could not run: {os.strerror(e.errno or 0)}"
            ) from None
        if done.returncode != 0:
            detail = (
                done.stderr.decode(errors="replace").strip()
                or done.stdout.decode(errors="replace").strip()
            )
            raise ContainerStartError(
                f"{what} failed with exit status {done.returncode}"
                + (f": {detail}" if detail else "")
            )


def run_hooks_reporting(
    kind: str, hooks: list[dict[str, Any]], state: dict[str, Any], report: Any
) -> None:
    """Run hooks whose failure must not fail the operation (poststart, poststop)."""
    try:
        run_hooks(kind, hooks, state)
    except ContainerStartError as e:
        report(str(e))
