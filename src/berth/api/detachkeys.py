"""Docker's detach keys: the ``--detach-keys`` text, and the proxy that spots the sequence.

Both sides use it: the CLI watches its terminal's input for the sequence
(``berth attach``, ``run -it``, ``exec -it``), and berthd watches an exec
session's input (clients that send ``DetachKeys`` and leave the watching
to the engine).

Format (Docker's): keys separated by commas, each a single character or
``ctrl-X`` with X one of ``@``, ``a``-``z``, ``[``, ``\\``, ``]``, ``^``,
``_`` (the control codes 0-31). The default is ``ctrl-p,ctrl-q``.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

DEFAULT = b"\x10\x11"  # ctrl-p ctrl-q
_CTRL = "@abcdefghijklmnopqrstuvwxyz[\\]^_"


def parse(text: str) -> bytes:
    """``ctrl-p,ctrl-q`` -> ``b"\\x10\\x11"``; an unknown key is an InvalidArgument."""
    out = bytearray()
    for key in text.split(","):
        if len(key) == 1 and ord(key) < 128:
            out.append(ord(key))
            continue
        low = key.lower()
        if low.startswith("ctrl-") and len(low) == 6 and low[5] in _CTRL:
            out.append(_CTRL.index(low[5]))
            continue
        raise InvalidArgument(f"Unknown character: '{key}'")
    return bytes(out)


def parse_or_default(text: str | None) -> bytes:
    return parse(text) if text else DEFAULT


def from_request(text: str | None) -> bytes:
    """An API request's ``detachKeys`` (the default when empty); Docker's message when bad."""
    try:
        return parse_or_default(text)
    except InvalidArgument:
        raise InvalidArgument(f"Invalid detach keys ({text}) provided") from None


class EscapeProxy:
    """Passes input on, holding back what may be the start of the detach sequence.

    :meth:`feed` returns the bytes to pass on and whether the sequence was
    completed (then nothing after it is passed on, and the session ends).
    Bytes held back are released as soon as they can no longer start the
    sequence, or by :meth:`flush` when the input ends.
    """

    __slots__ = ("detached", "held", "keys")

    def __init__(self, keys: bytes = DEFAULT) -> None:
        if not keys:
            raise ValueError("empty detach sequence")
        self.keys = keys
        self.held = b""
        self.detached = False

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if self.detached:
            return b"", True
        out = bytearray()
        keys = self.keys
        held = self.held
        for i in range(len(data)):
            held += data[i : i + 1]
            while held and not keys.startswith(held):
                out += held[:1]
                held = held[1:]
            if held == keys:
                self.held = b""
                self.detached = True
                return bytes(out), True
        self.held = held
        return bytes(out), False

    def flush(self) -> bytes:
        held, self.held = self.held, b""
        return held
