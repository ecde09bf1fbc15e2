"""A stack of undo actions, run in reverse when a block fails.

``contextlib.ExitStack`` does this, but importing contextlib costs ~4 ms here
(it pulls in collections and functools), a large share of a container
start. This is the part berth needs::

    with Cleanup() as undo:
        make_dir(); undo.callback(remove_dir)
        ...
        undo.pop_all()        # success: keep everything
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class Cleanup:
    __slots__ = ("_actions",)

    def __init__(self) -> None:
        self._actions: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def callback(self, fn: Callable[..., Any], *args: Any) -> None:
        self._actions.append((fn, args))

    def pop_all(self) -> Cleanup:
        """Forget the actions (the work succeeded); they move to the returned stack."""
        new = Cleanup()
        new._actions, self._actions = self._actions, []
        return new

    def close(self) -> None:
        """Run the actions, last first; the first error is raised after all ran."""
        first: BaseException | None = None
        while self._actions:
            fn, args = self._actions.pop()
            try:
                fn(*args)
            except BaseException as e:
                if first is None:
                    first = e
        if first is not None:
            raise first

    def __enter__(self) -> Cleanup:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.close()
        except BaseException:
            pass  # the original error matters more than a failed undo
