"""Render Docker's JSON progress messages for a person (pull, push, load, import, build).

On a terminal each layer (message ``id``) keeps one line that is rewritten
in place (cursor up, clear line, cursor down), as the docker CLI does::

    latest: Pulling from library/busybox
    3f4d90098f5b: Downloading [=====>              ]  1.2MB/2.2MB
    Digest: sha256:...

Elsewhere (a pipe, a log) every message is a plain line, except the
in-between progress bars, which are left out. An error message ends the
stream: :func:`display` raises :class:`StreamError` with its text.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, TextIO


class StreamError(Exception):
    """The stream carried an error message (``errorDetail``)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _line(msg: dict[str, Any], tty: bool) -> str | None:
    ident = msg.get("id")
    prefix = f"{ident}: " if ident else ""
    if "stream" in msg:
        return None
    status = str(msg.get("status", ""))
    bar = msg.get("progress")
    if bar and tty:
        return f"{prefix}{status} {bar}"
    if msg.get("aux") is not None and not status:
        return None
    return f"{prefix}{status}"


def display(messages: Iterable[dict[str, Any]], out: TextIO, tty: bool | None = None) -> None:
    """Write the messages to ``out``; raise StreamError at an error message."""
    if tty is None:
        try:
            tty = out.isatty()
        except (AttributeError, ValueError):
            tty = False
    lines: dict[str, int] = {}  # id -> line index (from the top of our output)
    total = 0
    for msg in messages:
        if "error" in msg or "errorDetail" in msg:
            detail = msg.get("errorDetail") or {}
            out.flush()
            raise StreamError(str(detail.get("message") or msg.get("error")), detail.get("code"))
        if "stream" in msg:
            out.write(str(msg["stream"]))
            out.flush()
            continue
        ident = msg.get("id")
        progress_only = bool(msg.get("progressDetail", {}).get("current")) and not tty
        if progress_only:
            continue
        text = _line(msg, tty)
        if text is None:
            continue
        if tty and ident:
            if ident in lines:
                up = total - lines[ident]
                out.write(f"\x1b[{up}A\x1b[2K\r{text}\r\x1b[{up}B")
                out.flush()
                continue
            lines[ident] = total
        out.write(text + "\n")
        total += 1
        out.flush()
