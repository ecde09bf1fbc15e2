"""Docker's json-file log driver format: one JSON object per line of output.

    {"log":"hello\\n","stream":"stdout","time":"2024-05-01T12:00:00.123456789Z"}

A line of output longer than 16 KiB is split into several entries (the last
one holds the newline), as Docker does. The file is
``<root>/containers/<id>/<id>-json.log``. Reading supports what ``docker
logs`` asks for: the last N entries, since/until times, timestamps.
"""

from __future__ import annotations

import os
import time

from berth import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

MAX_ENTRY = 16 * 1024


def now_rfc3339(ns: int | None = None) -> str:
    """RFC 3339 UTC with nanoseconds, of now (or of ``ns`` since the epoch)."""
    if ns is None:
        ns = time.time_ns()
    s, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac:09d}Z"


class LineSplitter:
    """Turns a byte stream into log entries: whole lines, or 16 KiB pieces."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data
        out: list[bytes] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start : nl + 1]
            while len(line) > MAX_ENTRY:
                out.append(line[:MAX_ENTRY])
                line = line[MAX_ENTRY:]
            out.append(line)
            start = nl + 1
        rest = buf[start:]
        while len(rest) >= MAX_ENTRY:
            out.append(rest[:MAX_ENTRY])
            rest = rest[MAX_ENTRY:]
        self._buf = rest
        return out

    def flush(self) -> list[bytes]:
        rest, self._buf = self._buf, b""
        return [rest] if rest else []


def encode(stream: str, data: bytes, when: str | None = None) -> bytes:
    text = data.decode("utf-8", errors="replace")
    doc = {"log": text, "stream": stream, "time": when or now_rfc3339()}
    return (jsonio.dumps(doc) + "\n").encode()


class Entry:
    __slots__ = ("log", "stream", "time")

    def __init__(self, log: str, stream: str, time: str) -> None:
        self.log = log
        self.stream = stream
        self.time = time


def parse_line(line: bytes) -> Entry | None:
    try:
        doc = jsonio.loads(line, "log entry")
    except Exception:
        return None
    if not isinstance(doc, dict):
        return None
    return Entry(
        str(doc.get("log", "")), str(doc.get("stream", "stdout")), str(doc.get("time", ""))
    )


def read_entries(path: str, tail: int | None = None) -> list[Entry]:
    """Every entry of the log file (or the last ``tail`` ones)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    lines = data.splitlines()
    if tail is not None and tail >= 0:
        lines = lines[-tail:] if tail else []
    out = []
    for line in lines:
        e = parse_line(line)
        if e is not None:
            out.append(e)
    return out


def follow(path: str, offset: int, alive: object, poll: float = 0.05) -> Iterator[Entry | None]:
    """Entries appended after ``offset``; yields None while waiting (a heartbeat).

    Ends when ``alive()`` is false and the file has no more data.
    """
    pending = b""
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b""
        if data:
            offset += len(data)
            pending += data
            *whole, pending = pending.split(b"\n")
            for line in whole:
                e = parse_line(line)
                if e is not None:
                    yield e
            continue
        if not alive():  # type: ignore[operator]
            return
        yield None
        time.sleep(poll)


def file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
