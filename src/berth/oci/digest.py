"""Content digests (OCI image spec, "Digests"): ``algorithm:hex``.

berth stores and verifies ``sha256`` content; ``sha512`` digests are parsed
and verified too (registries may use them), nothing else is accepted.

``Digest`` is a ``str`` subclass so it can be used wherever a string goes
(dict keys, JSON) while its parts stay at hand::

    d = Digest.parse("sha256:" + "a" * 64)
    d.algorithm, d.hex, d.short   # "sha256", "aaaa...", "aaaaaaaaaaaa"

:class:`Hasher` verifies a stream as it passes, in large chunks.
"""

from __future__ import annotations

from berth.errors import CorruptContent, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Self

_LENGTHS = {"sha256": 64, "sha512": 128}
_HEX = frozenset("0123456789abcdef")


class Digest(str):
    """A validated ``algorithm:hex`` digest."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: str, what: str = "digest") -> Self:
        algorithm, sep, hexpart = text.partition(":")
        want = _LENGTHS.get(algorithm)
        if not sep or want is None:
            raise InvalidArgument(
                f"invalid {what} {text!r}: expected sha256:<64 hex digits>"
                + ("" if not sep else f" (unsupported algorithm {algorithm!r})")
            )
        if len(hexpart) != want or not _HEX.issuperset(hexpart):
            raise InvalidArgument(
                f"invalid {what} {text!r}: {algorithm} needs {want} lowercase hex digits"
            )
        return cls(text)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Self:
        import hashlib

        return cls(f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}")

    @classmethod
    def from_hex(cls, hexpart: str, algorithm: str = "sha256") -> Self:
        return cls.parse(f"{algorithm}:{hexpart}")

    @property
    def algorithm(self) -> str:
        return self.partition(":")[0]

    @property
    def hex(self) -> str:
        return self.partition(":")[2]

    @property
    def short(self) -> str:
        """The 12 hex digits Docker shows (IMAGE ID column, layer ids in progress)."""
        return self.partition(":")[2][:12]


def is_digest(text: str) -> bool:
    algorithm, sep, hexpart = text.partition(":")
    want = _LENGTHS.get(algorithm)
    return bool(sep) and want == len(hexpart) and _HEX.issuperset(hexpart)


def chain_ids(diff_ids: list[str] | tuple[str, ...]) -> list[Digest]:
    """Chain IDs of a layer stack (OCI image spec, "Layer ChainID")::

    ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))
    """
    import hashlib

    out: list[Digest] = []
    for diff in diff_ids:
        if not out:
            out.append(Digest.parse(diff, "diff id"))
        else:
            text = f"{out[-1]} {diff}".encode()
            out.append(Digest(f"sha256:{hashlib.sha256(text).hexdigest()}"))
    return out


class Hasher:
    """Counts and hashes bytes as they pass; :meth:`verify` checks the result."""

    __slots__ = ("_h", "algorithm", "size")

    def __init__(self, algorithm: str = "sha256") -> None:
        import hashlib

        self.algorithm = algorithm
        self._h = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(f"{self.algorithm}:{self._h.hexdigest()}")

    def verify(self, expected: str, size: int | None = None, what: str = "content") -> Digest:
        """Raise CorruptContent unless the bytes seen have ``expected`` digest (and size)."""
        if size is not None and size >= 0 and self.size != size:
            raise CorruptContent(
                f"{what}: size mismatch: expected {size} bytes, got {self.size} ({expected})"
            )
        got = self.digest()
        if got != expected:
            raise CorruptContent(f"{what}: digest mismatch: expected {expected}, got {got}")
        return got
