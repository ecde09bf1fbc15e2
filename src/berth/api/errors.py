"""The one place where errors become HTTP responses.

Every status berthd answers with for a failure comes from :func:`status_of`:
a :class:`berth.errors.BerthError` carries its status on its class (the
table in ``berth.errors``), anything else is a bug and answers 500. The body
is always Docker's ``{"message": "..."}``.

:class:`HTTPError` is for failures of the HTTP layer itself that have no
meaning in the engine (bad request line, header too large, body too large,
bad API version); its status is given where it is raised.
"""

from __future__ import annotations

from berth.errors import BerthError, InvalidArgument


class HTTPError(InvalidArgument):
    """A protocol-level failure answered with ``status`` (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def status_of(exc: BaseException) -> int:
    """The HTTP status for ``exc``: BerthError's own, else 500."""
    if isinstance(exc, BerthError):
        return int(exc.status)
    return 500


def message_of(exc: BaseException) -> str:
    if isinstance(exc, BerthError):
        return exc.message
    # An unexpected exception: say what it was, not a traceback.
    text = str(exc)
    return f"internal error: {type(exc).__name__}: {text}" if text else type(exc).__name__


def error_body(message: str) -> bytes:
    """Docker's error document."""
    from berth.jsonio import dumps

    return (dumps({"message": message}) + "\n").encode()
