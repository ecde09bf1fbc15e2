"""Docker's wait conditions (``POST /containers/{id}/wait?condition=``), waited for in slices.

- ``not-running``: the container is not running (a container waiting to
  restart counts as not running);
- ``next-exit``: an exit after the wait began -- even of a container that
  has not started yet (what ``docker run`` asks for before it starts one);
- ``removed``: the container is gone (``docker run --rm``).

:class:`ExitWaiter` takes the starting point when it is made (the
``FinishedAt`` a ``next-exit`` must see change), so a caller can make it,
answer the client's request head at once (as Docker does: the docker CLI
sends ``start`` only once the wait's head has come), and wait in slices,
noticing meanwhile a client that went away or a daemon that stops.
"""

from __future__ import annotations

import time

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from berth.engine.containers.service import ContainerService
    from berth.engine.containers.store import ContainerRow

CONDITIONS = ("not-running", "next-exit", "removed")


class ExitWaiter:
    def __init__(self, svc: ContainerService, row: ContainerRow, condition: str) -> None:
        if condition not in CONDITIONS:
            raise InvalidArgument(f"invalid condition: {condition!r}")
        self.svc = svc
        self.row = row
        self.condition = condition
        with svc.lock:
            self.finished = row.state.get("FinishedAt")

    def _met(self) -> bool:  # with svc.lock held
        st = self.row.state
        if self.condition == "not-running":
            return not st.get("Running") or bool(st.get("Restarting"))
        if self.row.id not in self.svc.rows:
            return True
        if self.condition == "next-exit":
            return not st.get("Running") and st.get("FinishedAt") != self.finished
        return False

    def wait(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Docker's answer ``{"StatusCode", "Error"}`` once the condition holds;
        None when ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        svc = self.svc
        with svc.lock:
            while not self._met():
                if deadline is None:
                    svc.changed.wait(1.0)
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                svc.changed.wait(min(left, 1.0))
            code = int(self.row.state.get("ExitCode", 0))
        return {"StatusCode": code, "Error": None}
