"""Device access rules (OCI ``linux.resources.devices``) as v1 writes or a v2 eBPF program.

Semantics, the same on v1 and v2: a new cgroup starts allowing every device (as
it inherits from its parent); the rules then apply in order and, for any
access, **the last rule that matches decides**. An allow rule matches an access
when it covers every kind asked (``r``, ``w``, ``m``); a deny rule matches
when it covers any of them. A rule with type ``a`` (or none), no major and no
minor and access ``rwm`` resets everything: rules before it no longer matter.
Docker's specs start with such a deny-all rule and then allow a short list.

- v1 (``devices.allow`` / ``devices.deny``): the last reset rule becomes the
  behaviour (``a`` written to ``devices.deny`` or ``devices.allow``), then each
  later rule is written, in order, as an exception.
- v2 (cgroup2 has no devices controller): :func:`bpf_program` returns a
  ``BPF_PROG_TYPE_CGROUP_DEVICE`` program (bytes of eBPF instructions) that
  checks the rules from the last to the first and returns the first match's
  verdict, or the reset rule's (allow when there is none). ``berth.kernel.bpf``
  loads and attaches it.
"""

from __future__ import annotations

from berth.cgroups.write import Write
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from berth.oci.runtime_spec import DeviceRule

# bpf_cgroup_dev_ctx.access_type = (access << 16) | type
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE
DEV_BLOCK, DEV_CHAR = 1, 2
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}
_MAX_NUMBER = (1 << 31) - 1


class Rule:
    """A checked rule: type ``a``/``b``/``c``, major/minor (-1: any), access bits."""

    __slots__ = ("access", "allow", "major", "minor", "type")

    def __init__(self, allow: bool, type: str, major: int, minor: int, access: int) -> None:
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access

    @property
    def resets(self) -> bool:
        """Matches every access to every device."""
        return self.type == "a" and self.major == -1 and self.minor == -1 and self.access == ACC_ALL

    def access_text(self) -> str:
        return "".join(
            ch
            for ch, bit in (("r", ACC_READ), ("w", ACC_WRITE), ("m", ACC_MKNOD))
            if self.access & bit
        )

    def v1_lines(self) -> list[str]:
        """What devices.allow / devices.deny take for this rule (``a`` alone resets)."""
        if self.resets:
            return ["a"]
        major = "*" if self.major == -1 else str(self.major)
        minor = "*" if self.minor == -1 else str(self.minor)
        types = ("c", "b") if self.type == "a" else (self.type,)
        return [f"{t} {major}:{minor} {self.access_text()}" for t in types]

    def matches(self, dev_type: int, major: int, minor: int, access: int) -> bool:
        """Whether this rule decides an access (``dev_type``: DEV_BLOCK or DEV_CHAR)."""
        if self.type != "a" and _TYPES[self.type] != dev_type:
            return False
        if self.major != -1 and self.major != major:
            return False
        if self.minor != -1 and self.minor != minor:
            return False
        if self.allow:
            return access & ~self.access == 0
        return access & self.access != 0

    def __repr__(self) -> str:
        verdict = "allow" if self.allow else "deny"
        return f"Rule({verdict} {' / '.join(self.v1_lines())})"


def check(rules: Iterable[DeviceRule]) -> list[Rule]:
    """Validate OCI device rules; errors name the rule's index."""
    out = []
    for i, r in enumerate(rules):
        where = f"linux.resources.devices[{i}]"
        kind = r.type or "a"
        if kind not in ("a", "b", "c"):
            raise InvalidArgument(f"{where}.type: {kind!r} is not a, b or c")
        numbers = []
        for name, value in (("major", r.major), ("minor", r.minor)):
            if value is None:
                value = -1
            if value < -1 or value > _MAX_NUMBER:
                raise InvalidArgument(f"{where}.{name}: {value} is not a device number (or -1)")
            numbers.append(value)
        text = "rwm" if r.access is None else r.access
        if not text or any(ch not in _ACCESS for ch in text):
            raise InvalidArgument(
                f"{where}.access: {text!r} must be made of r (read), w (write) and m (mknod)"
            )
        bits = 0
        for ch in text:
            bits |= _ACCESS[ch]
        out.append(Rule(bool(r.allow), kind, numbers[0], numbers[1], bits))
    return out


def effective(rules: list[Rule]) -> tuple[bool | None, list[Rule]]:
    """(the last reset's verdict or None, the rules after it)."""
    for i in range(len(rules) - 1, -1, -1):
        if rules[i].resets:
            return rules[i].allow, rules[i + 1 :]
    return None, list(rules)


def decide(rules: list[Rule], dev_type: int, major: int, minor: int, access: int) -> bool:
    """The verdict for one access: the last matching rule's, else allow."""
    for rule in reversed(rules):
        if rule.matches(dev_type, major, minor, access):
            return rule.allow
    return True


def v1_writes(rules: Iterable[DeviceRule], directory: str) -> list[Write]:
    """The devices.allow / devices.deny writes that install the rules on v1."""
    default, rest = effective(check(rules))
    out = []
    if default is not None:
        out.append(Write(directory, "devices.allow" if default else "devices.deny", "a"))
    for rule in rest:
        name = "devices.allow" if rule.allow else "devices.deny"
        out.extend(Write(directory, name, line) for line in rule.v1_lines())
    return out


# -- eBPF -----------------------------------------------------------------------------
# opcodes (linux/bpf.h, bpf_common.h)
LDXW = 0x61  # BPF_LDX | BPF_MEM | BPF_W
AND32_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
RSH32_K = 0x74  # BPF_ALU | BPF_RSH | BPF_K
MOV32_K = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
MOV32_X = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JNE_K = 0x55  # BPF_JMP | BPF_JNE | BPF_K
JNE_X = 0x5D  # BPF_JMP | BPF_JNE | BPF_X
EXIT = 0x95  # BPF_JMP | BPF_EXIT
R0, R1, R2, R3, R4, R5 = range(6)


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One eBPF instruction (little-endian: x86_64 and aarch64)."""
    return (
        bytes((code, (src << 4) | dst))
        + off.to_bytes(2, "little", signed=True)
        + imm.to_bytes(4, "little", signed=True)
    )


# r1 = ctx; afterwards r2 = device type, r3 = access, r4 = major, r5 = minor
_PROLOGUE = (
    insn(LDXW, R2, R1, 0)
    + insn(AND32_K, R2, imm=0xFFFF)
    + insn(LDXW, R3, R1, 0)
    + insn(RSH32_K, R3, imm=16)
    + insn(LDXW, R4, R1, 4)
    + insn(LDXW, R5, R1, 8)
)


def _block(rule: Rule) -> list[tuple[int, int, int, int]]:
    """Instructions (code, dst, src, imm) for one rule; every jump goes past the block."""
    body: list[tuple[int, int, int, int]] = []
    if rule.type != "a":
        body.append((JNE_K, R2, 0, _TYPES[rule.type]))
    if rule.access != ACC_ALL:
        body.append((MOV32_X, R1, R3, 0))
        body.append((AND32_K, R1, 0, rule.access))
        # allow: asked & rule == asked (every kind covered); deny: asked & rule != 0
        body.append((JNE_X, R1, R3, 0) if rule.allow else (JEQ_K, R1, 0, 0))
    if rule.major != -1:
        body.append((JNE_K, R4, 0, rule.major))
    if rule.minor != -1:
        body.append((JNE_K, R5, 0, rule.minor))
    body.append((MOV32_K, R0, 0, 1 if rule.allow else 0))
    body.append((EXIT, 0, 0, 0))
    return body


def bpf_program(rules: Iterable[DeviceRule]) -> bytes | None:
    """The device filter for cgroup v2, or None when there are no rules (allow all)."""
    checked = check(rules)
    if not checked:
        return None
    default, rest = effective(checked)
    out = [_PROLOGUE]
    for rule in reversed(rest):
        body = _block(rule)
        for i, (code, dst, src, imm) in enumerate(body):
            off = len(body) - i - 1 if code in (JNE_K, JNE_X, JEQ_K) else 0
            out.append(insn(code, dst, src, off, imm))
    out.append(insn(MOV32_K, R0, imm=0 if default is False else 1))
    out.append(insn(EXIT))
    return b"".join(out)
