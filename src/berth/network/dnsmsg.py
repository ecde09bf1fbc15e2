"""DNS messages (RFC 1035): parse and build, as much as the embedded resolver needs.

:func:`parse` reads a message (header, questions, answer records; name
compression followed with a loop guard) and raises :class:`DnsError` on
anything malformed; :func:`build` writes one (names uncompressed).
:func:`answer_a` makes the reply to a query from a list of IPv4 addresses.
"""

from __future__ import annotations

import struct

TYPE_A = 1
TYPE_PTR = 12
TYPE_AAAA = 28
CLASS_IN = 1
RCODE_OK = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_REFUSED = 5
FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_RA = 0x0080
TTL = 600  # what Docker's embedded DNS gives container records

_HEADER = struct.Struct("!HHHHHH")
_QTAIL = struct.Struct("!HH")
_RTAIL = struct.Struct("!HHIH")


class DnsError(ValueError):
    """A message that cannot be parsed."""


class Question:
    __slots__ = ("qclass", "qname", "qtype")

    def __init__(self, qname: str, qtype: int = TYPE_A, qclass: int = CLASS_IN) -> None:
        self.qname = qname
        self.qtype = qtype
        self.qclass = qclass

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Question) and (self.qname, self.qtype, self.qclass) == (
            other.qname,
            other.qtype,
            other.qclass,
        )

    def __repr__(self) -> str:
        return f"Question({self.qname!r}, {self.qtype})"


class Record:
    __slots__ = ("name", "rclass", "rdata", "rtype", "ttl")

    def __init__(
        self, name: str, rtype: int, rdata: bytes, ttl: int = TTL, rclass: int = CLASS_IN
    ) -> None:
        self.name = name
        self.rtype = rtype
        self.rclass = rclass
        self.ttl = ttl
        self.rdata = rdata

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and (
            self.name,
            self.rtype,
            self.rclass,
            self.ttl,
            self.rdata,
        ) == (other.name, other.rtype, other.rclass, other.ttl, other.rdata)

    def __repr__(self) -> str:
        return f"Record({self.name!r}, {self.rtype}, {self.rdata!r})"


class Message:
    __slots__ = ("answers", "flags", "id", "questions")

    def __init__(
        self,
        id: int,
        flags: int = 0,
        questions: list[Question] | None = None,
        answers: list[Record] | None = None,
    ) -> None:
        self.id = id
        self.flags = flags
        self.questions = questions or []
        self.answers = answers or []

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_QR)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (
            self.id,
            self.flags,
            self.questions,
            self.answers,
        ) == (other.id, other.flags, other.questions, other.answers)

    def __repr__(self) -> str:
        return f"Message(id={self.id}, flags={self.flags:#x}, {self.questions}, {self.answers})"


def _read_name(data: bytes, pos: int) -> tuple[str, int]:
    labels: list[str] = []
    end = -1
    jumps = 0
    total = 0
    while True:
        if pos >= len(data):
            raise DnsError("truncated name")
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise DnsError("truncated compression pointer")
            if end < 0:
                end = pos + 2
            pos = (length & 0x3F) << 8 | data[pos + 1]
            jumps += 1
            if jumps > 32:
                raise DnsError("compression loop")
            continue
        if length & 0xC0:
            raise DnsError(f"bad label length byte {length:#x}")
        pos += 1
        if length == 0:
            break
        if pos + length > len(data):
            raise DnsError("truncated label")
        label = data[pos : pos + length]
        total += length + 1
        if total > 255:
            raise DnsError("name longer than 255 bytes")
        labels.append(label.decode("ascii", errors="replace"))
        pos += length
    return ".".join(labels), (end if end >= 0 else pos)


def _write_name(name: str) -> bytes:
    out = bytearray()
    for label in name.strip(".").split(".") if name.strip(".") else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise DnsError(f"bad label {label!r} in {name!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > 255:
        raise DnsError(f"name too long: {name!r}")
    return bytes(out)


def parse(data: bytes) -> Message:
    """Decode a message: header, questions, answers (authority/additional ignored)."""
    if len(data) < _HEADER.size:
        raise DnsError("message shorter than a DNS header")
    ident, flags, qd, an, _ns, _ar = _HEADER.unpack_from(data)
    pos = _HEADER.size
    msg = Message(ident, flags)
    for _ in range(qd):
        name, pos = _read_name(data, pos)
        if pos + _QTAIL.size > len(data):
            raise DnsError("truncated question")
        qtype, qclass = _QTAIL.unpack_from(data, pos)
        pos += _QTAIL.size
        msg.questions.append(Question(name, qtype, qclass))
    for _ in range(an):
        name, pos = _read_name(data, pos)
        if pos + _RTAIL.size > len(data):
            raise DnsError("truncated record")
        rtype, rclass, ttl, rdlen = _RTAIL.unpack_from(data, pos)
        pos += _RTAIL.size
        if pos + rdlen > len(data):
            raise DnsError("truncated record data")
        msg.answers.append(Record(name, rtype, bytes(data[pos : pos + rdlen]), ttl, rclass))
        pos += rdlen
    return msg


def build(msg: Message) -> bytes:
    out = bytearray(_HEADER.pack(msg.id, msg.flags, len(msg.questions), len(msg.answers), 0, 0))
    for q in msg.questions:
        out += _write_name(q.qname) + _QTAIL.pack(q.qtype, q.qclass)
    for r in msg.answers:
        out += _write_name(r.name) + _RTAIL.pack(r.rtype, r.rclass, r.ttl, len(r.rdata)) + r.rdata
    return bytes(out)


def query(name: str, qtype: int = TYPE_A, ident: int = 1) -> bytes:
    """A recursive query for ``name`` (what a stub resolver sends)."""
    return build(Message(ident, FLAG_RD, [Question(name, qtype)]))


def reply(request: Message, answers: list[Record], rcode: int = RCODE_OK) -> bytes:
    """The response to ``request``: same id and questions, RD copied, RA set."""
    flags = FLAG_QR | FLAG_RA | (request.flags & FLAG_RD) | (request.flags & 0x7800) | rcode
    return build(Message(request.id, flags, request.questions, answers))


def a_records(name: str, addresses: list[str]) -> list[Record]:
    return [Record(name, TYPE_A, bytes(int(p) for p in ip.split("."))) for ip in addresses]


def ptr_name(address: str) -> str:
    """``"172.18.0.2"`` -> ``"2.0.18.172.in-addr.arpa"``."""
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


def ptr_record(name: str, target: str) -> Record:
    return Record(name, TYPE_PTR, _write_name(target))
