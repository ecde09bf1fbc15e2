"""Docker's JSON progress messages (the body of /images/create, /push, /load, /build).

Each message is one JSON object; a stream is a sequence of them. Shapes::

    {"status": "Pulling from library/busybox", "id": "latest"}
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "<12 hex>"}
    {"status": "Downloading", "progressDetail": {"current": 1, "total": 2},
     "progress": "[=>   ]  1B/2B", "id": "<12 hex>"}
    {"status": "Digest: sha256:..."}
    {"errorDetail": {"message": "..."}, "error": "..."}

``human_size`` and ``bar`` render sizes and bars as Docker's jsonmessage does.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

Message = dict[str, "Any"]
_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")
BAR_WIDTH = 50


def human_size(size: float) -> str:
    """Decimal units with 4 significant digits: 1234567 -> "1.235MB" (go-units HumanSize)."""
    i = 0
    while size >= 1000 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{_UNITS[i]}"


def bar(current: int, total: int) -> str:
    """``[=====>      ]  1.2MB/3.4MB`` (without a total: just the size)."""
    if total <= 0:
        return f"{human_size(current):>8}"
    done = max(0, min(BAR_WIDTH, int(BAR_WIDTH * current / total)))
    return f"[{'=' * done}>{' ' * (BAR_WIDTH - done)}] {human_size(current):>8}/{human_size(total)}"


def status(text: str, ident: str | None = None, **extra: Any) -> Message:
    msg: Message = {"status": text}
    if ident is not None:
        msg["progressDetail"] = {}
        msg["id"] = ident
    msg.update(extra)
    return msg


def progress(text: str, ident: str, current: int, total: int) -> Message:
    detail = {"current": current, "total": total} if total > 0 else {"current": current}
    return {"status": text, "progressDetail": detail, "progress": bar(current, total), "id": ident}


def error(message: str) -> Message:
    return {"errorDetail": {"message": message}, "error": message}
