"""An in-process Engine API server on a temporary unix socket (no root, no daemon).

For unit tests of the server, the app, the client and the CLI: routes are
given as a ``register(router)`` function, served by the real
:class:`berth.api.server.Server` in a thread.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from berth.api.app import App
from berth.api.router import Router
from berth.api.server import Limits, Server


@contextmanager
def serving(
    register: Callable[[Router], None], limits: Limits | None = None
) -> Iterator[tuple[str, Server]]:
    """Yield (socket path, server) while the server runs."""
    base = tempfile.mkdtemp(prefix="berth-u-", dir="/tmp")
    path = os.path.join(base, "api.sock")
    router = Router()
    register(router)
    server = Server(App(router), limits or Limits())
    server.listen_unix(path)
    t = threading.Thread(target=server.serve, daemon=True)
    t.start()
    try:
        yield path, server
    finally:
        server.stop(2.0)
        t.join(5)
        shutil.rmtree(base, ignore_errors=True)
