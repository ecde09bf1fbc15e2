"""Docker's stream multiplexing ("stdcopy") for attach, exec and logs without a TTY.

Both sides use this module: berthd writes frames, clients demultiplex them.
A frame is an 8-byte header and a payload::

    [stream, 0, 0, 0, size >> 24, size >> 16, size >> 8, size] + payload

``stream`` is 0 stdin, 1 stdout, 2 stderr, 3 systemerr (an error message
from the daemon that ends the stream). ``size`` is big-endian uint32. With a
TTY there is no multiplexing: the stream is raw bytes.
"""

from __future__ import annotations

STDIN = 0
STDOUT = 1
STDERR = 2
SYSTEMERR = 3
HEADER_SIZE = 8
MAX_FRAME = 0xFFFFFFFF


def frame(stream: int, data: bytes) -> bytes:
    """One frame (``data`` must fit in 4 GiB - 1)."""
    n = len(data)
    if not 0 <= stream <= 3:
        raise ValueError(f"stdcopy: stream {stream} is not 0-3")
    if n > MAX_FRAME:
        raise ValueError("stdcopy: frame payload too large")
    return bytes((stream, 0, 0, 0, n >> 24 & 255, n >> 16 & 255, n >> 8 & 255, n & 255)) + data


class Demuxer:
    """Incremental demultiplexer: feed bytes as they arrive, get whole frames.

    ``feed`` returns the complete ``(stream, payload)`` frames; a partial
    frame waits for more bytes. A header with an unknown stream number or
    non-zero padding raises ValueError (the stream is not multiplexed).
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back (an incomplete frame)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out: list[tuple[int, bytes]] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= HEADER_SIZE:
            stream = buf[pos]
            if stream > 3 or buf[pos + 1] or buf[pos + 2] or buf[pos + 3]:
                raise ValueError(
                    f"stdcopy: bad frame header {bytes(buf[pos : pos + HEADER_SIZE])!r}"
                )
            size = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if len(buf) - pos - HEADER_SIZE < size:
                break
            start = pos + HEADER_SIZE
            out.append((stream, bytes(buf[start : start + size])))
            pos = start + size
        del buf[:pos]
        return out
