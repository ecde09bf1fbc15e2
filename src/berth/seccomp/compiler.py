"""Compile an OCI ``linux.seccomp`` section into a classic BPF program.

What a compiled filter does with a system call (libseccomp's semantics as runc
applies them, which is what Docker containers get):

1. **Architecture.** The filter knows the ABIs listed in ``architectures``
   plus the native one. A call through any other ABI gets the *bad-arch*
   action, ``KILL_THREAD``. x86_64 and x32 share one audit value: on an
   x86_64 filter without ``SCMP_ARCH_X32`` a call whose number has
   ``__X32_SYSCALL_BIT`` set is bad-arch too (except nr -1, which tracers use
   to skip a call: it gets the default action); with x32 listed, x32 calls
   are matched against the x32 numbers of the rules.
2. **Rules.** Every name of every ``syscalls[]`` entry is one rule. A rule
   whose action equals the default action (errno included) is dropped; a
   name unknown to an ABI is ignored for that ABI. A rule's ``args`` are
   ANDed, except that when one argument index appears twice the conditions
   are split into one rule each (ORed), as runc does. For one system call:
   the first unconditional rule decides if there is one; otherwise the
   conditional rules are tried in profile order and the first whose
   conditions all hold decides; otherwise the default action applies.
3. **Arguments.** 64-bit ABIs compare all 64 bits of an argument (high word,
   then low word); 32-bit ABIs (x86, x32, arm) compare the low 32 bits of
   the argument with the low 32 bits of ``value`` (and ``valueTwo``).
   ``SCMP_CMP_MASKED_EQ`` holds when ``arg & value == valueTwo``.
4. **Newer system calls.** Unless the default action lets calls through
   (``ALLOW``, ``LOG``, ``TRACE``), a call numbered above the highest number
   any name in the profile has on that ABI fails with ``ENOSYS`` rather than
   the default action, so that libc falls back from calls the profile does
   not know yet (runc's ``-ENOSYS`` stub).
5. **Actions.** ``SCMP_ACT_KILL`` is ``KILL_THREAD``; ``errnoRet`` (default
   EPERM) is the errno of ``SCMP_ACT_ERRNO`` and the data of
   ``SCMP_ACT_TRACE``; ``SCMP_ACT_NOTIFY`` makes the loader ask for a
   listener fd (``SECCOMP_FILTER_FLAG_NEW_LISTENER``).
6. **Flags.** ``flags`` names ``SECCOMP_FILTER_FLAG_*``. When the spec has
   no ``flags`` key at all, ``SPEC_ALLOW`` is set, as runc does.

The program: ``ld arch``, one ``jeq`` per audit architecture, ``ret bad-arch``,
then one section per architecture: ``ld nr`` and a binary search over the
intervals of system call numbers that share a verdict. A leaf is a ``ret`` or,
for a call with argument rules, the rules inline followed by ``ret default``.
Every jump is forward and computed from the sizes of what it skips, so a
distance over 255 gets the long form (``jeq ..., 0, 1; ja far``) where needed.

Compiled programs are cached by spec (a container start with the default
profile compiles once per process).
"""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.seccomp import arch as _arch
from berth.seccomp import bpf as b

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.oci.runtime_spec import Seccomp, SeccompArg

    Insn = tuple[int, int, int, int]
    Leaf = int | list[Insn]

EPERM = 1
ENOSYS = 38
M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": b.RET_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": b.RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": b.RET_KILL_PROCESS,
    "SCMP_ACT_TRAP": b.RET_TRAP,
    "SCMP_ACT_ERRNO": b.RET_ERRNO,
    "SCMP_ACT_TRACE": b.RET_TRACE,
    "SCMP_ACT_ALLOW": b.RET_ALLOW,
    "SCMP_ACT_LOG": b.RET_LOG,
    "SCMP_ACT_NOTIFY": b.RET_USER_NOTIF,
}
_WITH_ERRNO = (b.RET_ERRNO, b.RET_TRACE)
_LETS_THROUGH = (b.RET_ALLOW, b.RET_LOG, b.RET_TRACE)

# comparison operators, in the order of enum scmp_compare (values are ours)
OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 0,
    "SCMP_CMP_LT": 1,
    "SCMP_CMP_LE": 2,
    "SCMP_CMP_EQ": 3,
    "SCMP_CMP_GE": 4,
    "SCMP_CMP_GT": 5,
    "SCMP_CMP_MASKED_EQ": 6,
}
NE, LT, LE, EQ, GE, GT, MASKED_EQ = range(7)

# SECCOMP_FILTER_FLAG_* the spec may name
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}
FLAG_TSYNC = 1
FLAG_SPEC_ALLOW = 4
FLAG_NEW_LISTENER = 8
FLAG_TSYNC_ESRCH = 16

# the kernel release (major, minor) that brought each flag
_FLAG_SINCE = {
    "SECCOMP_FILTER_FLAG_TSYNC": (3, 17),
    "SECCOMP_FILTER_FLAG_LOG": (4, 14),
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (4, 17),
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (5, 19),
}

BAD_ARCH = b.RET_KILL_THREAD
_FAIL = -1  # placeholder jump target: "this rule does not match"
_W = "linux.seccomp"


class Program:
    """A compiled seccomp filter, ready for :func:`berth.kernel.seccomp.load`.

    ``instructions``: tuple of ``(code, jt, jf, k)``; ``bytes``: the packed
    ``struct sock_filter`` array; ``flags``: ``SECCOMP_FILTER_FLAG_*`` bits
    to load it with; ``needs_listener``: an ``SCMP_ACT_NOTIFY`` rule is in it
    (``flags`` then has ``NEW_LISTENER``); ``architectures``: the ABIs it
    knows, native first; ``unknown``: rule names that no compiled ABI knows
    (ignored, as runc ignores them).
    """

    __slots__ = ("_bytes", "architectures", "flags", "instructions", "needs_listener", "unknown")

    def __init__(
        self,
        instructions: tuple[Insn, ...],
        flags: int,
        needs_listener: bool,
        architectures: tuple[str, ...],
        unknown: tuple[str, ...],
    ) -> None:
        self.instructions = instructions
        self.flags = flags
        self.needs_listener = needs_listener
        self.architectures = architectures
        self.unknown = unknown
        self._bytes: bytes | None = None

    @property
    def bytes(self) -> bytes:
        if self._bytes is None:
            self._bytes = b.pack(self.instructions)
        return self._bytes

    def disasm(self) -> str:
        """A readable listing of the program (for tests and debugging)."""
        return b.disasm(self.instructions)

    def __len__(self) -> int:
        return len(self.instructions)

    def __repr__(self) -> str:
        return (
            f"Program({len(self.instructions)} instructions, flags={self.flags:#x}, "
            f"architectures={self.architectures})"
        )


def features(kernel: tuple[int, int] | None = None) -> dict[str, object]:
    """The ``linux.seccomp`` object of the OCI runtime features document."""
    if kernel is None:
        from berth.seccomp.profile import host_kernel

        kernel = host_kernel()
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": sorted(_arch.ARCHES),
        "knownFlags": list(FLAGS),
        "supportedFlags": [f for f in FLAGS if kernel >= _FLAG_SINCE[f]],
    }


_cache: dict[object, Program] = {}
_CACHE_MAX = 64


def compile_filter(spec: Seccomp, native_arch: str | None = None) -> Program:
    """Compile ``spec`` for a kernel of ``native_arch`` (default: this machine).

    Raises InvalidArgument naming the field for an unknown action, operator,
    architecture or flag, an argument index over 5, an ``errnoRet`` on an
    action that takes none, and a filter longer than the kernel accepts.
    """
    native = _arch.native() if native_arch is None else _arch.lookup(native_arch, "native_arch")
    key = (spec, "flags" in spec._given, native.name)
    program = _cache.get(key)
    if program is None:
        program = _compile(spec, native)
        program.bytes  # noqa: B018  packed here, once: not in each container's init
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))
        _cache[key] = program
    return program


def action_value(name: str, errno_ret: int | None, where: str, errno_where: str) -> int:
    """The SECCOMP_RET_* value of an OCI action name and its errnoRet."""
    base = ACTIONS.get(name)
    if base is None:
        known = ", ".join(ACTIONS)
        raise InvalidArgument(f"{where}: unknown action {name!r}; use one of {known}")
    if base in _WITH_ERRNO:
        if errno_ret is None:
            return base | EPERM
        if not 0 <= errno_ret <= b.RET_DATA:
            raise InvalidArgument(f"{errno_where}: {errno_ret} is not an errno (0..65535)")
        return base | errno_ret
    if errno_ret is not None:
        raise InvalidArgument(
            f"{errno_where}: {name} takes no errno; only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do"
        )
    return base


def _condition(arg: SeccompArg, where: str) -> tuple[int, int, int, int]:
    if not 0 <= arg.index <= 5:
        raise InvalidArgument(
            f"{where}.index: {arg.index} is not an argument index (system calls have 0..5)"
        )
    op = OPERATORS.get(arg.op)
    if op is None:
        known = ", ".join(OPERATORS)
        raise InvalidArgument(f"{where}.op: unknown operator {arg.op!r}; use one of {known}")
    for field, value in (("value", arg.value), ("valueTwo", arg.value_two)):
        if not 0 <= value <= M64:
            raise InvalidArgument(f"{where}.{field}: {value} is not a 64-bit unsigned value")
    return arg.index, op, arg.value, arg.value_two


Rule = tuple[int, int, tuple[tuple[int, int, int, int], ...]]  # (position, action, conditions)


def _compile(spec: Seccomp, native: _arch.Arch) -> Program:
    default = action_value(
        spec.default_action, spec.default_errno_ret, f"{_W}.defaultAction", f"{_W}.defaultErrnoRet"
    )
    if default == b.RET_USER_NOTIF:
        raise InvalidArgument(
            f"{_W}.defaultAction: SCMP_ACT_NOTIFY cannot be the default action "
            "(the runtime itself could not make a call); notify on specific system calls"
        )
    arches = [native]
    for i, name in enumerate(spec.architectures):
        a = _arch.lookup(name, f"{_W}.architectures[{i}]")
        if a not in arches:
            arches.append(a)

    given = spec.flags if "flags" in spec._given else ("SECCOMP_FILTER_FLAG_SPEC_ALLOW",)
    flags = 0
    for i, name in enumerate(given):
        bit = FLAGS.get(name)
        if bit is None:
            known = ", ".join(FLAGS)
            raise InvalidArgument(f"{_W}.flags[{i}]: unknown flag {name!r}; use one of {known}")
        flags |= bit

    # name -> its rules in profile order: (position, action, conditions)
    by_name: dict[str, list[Rule]] = {}
    every_name: dict[str, None] = {}
    needs_listener = False
    position = 0
    for i, call in enumerate(spec.syscalls):
        where = f"{_W}.syscalls[{i}]"
        action = action_value(call.action, call.errno_ret, f"{where}.action", f"{where}.errnoRet")
        conds = tuple(_condition(a, f"{where}.args[{j}]") for j, a in enumerate(call.args))
        names = call.names
        if "" in names:
            raise InvalidArgument(f"{where}.names[{names.index('')}]: empty system call name")
        every_name.update(dict.fromkeys(names))
        if action == default:
            continue
        if action == b.RET_USER_NOTIF:
            if "write" in names:
                raise InvalidArgument(
                    f"{where}: SCMP_ACT_NOTIFY cannot be used for write (the runtime "
                    "writes the listener fd to its parent after loading the filter)"
                )
            needs_listener = True
        indexes = [c[0] for c in conds]
        if len(set(indexes)) < len(indexes):
            groups: list[tuple[tuple[int, int, int, int], ...]] = [(c,) for c in conds]
        else:
            groups = [conds]
        for group in groups:
            rule = (position, action, group)
            position += 1
            for name in names:
                found = by_name.get(name)
                if found is None:
                    by_name[name] = [rule]
                else:
                    found.append(rule)

    if needs_listener:
        flags |= FLAG_NEW_LISTENER
        if flags & FLAG_TSYNC:
            flags |= FLAG_TSYNC_ESRCH  # the kernel refuses TSYNC + NEW_LISTENER without it
    stub = (default & b.RET_ACTION_FULL) not in _LETS_THROUGH

    resolved: set[str] = set()
    by_audit: dict[int, list[_arch.Arch]] = {}
    for a in arches:
        by_audit.setdefault(a.audit, []).append(a)
    sections = [
        (audit, _section(audit, abis, by_name, every_name, default, stub, resolved))
        for audit, abis in by_audit.items()
    ]
    instructions = _link(sections)
    if len(instructions) > b.MAXINSNS:
        raise InvalidArgument(
            f"{_W}: the filter needs {len(instructions)} BPF instructions, more than the "
            f"kernel's limit of {b.MAXINSNS}; use fewer argument rules or architectures"
        )
    unknown = tuple(n for n in every_name if n not in resolved)
    return Program(
        tuple(instructions), flags, needs_listener, tuple(a.name for a in arches), unknown
    )


def _section(
    audit: int,
    abis: list[_arch.Arch],
    by_name: dict[str, list[Rule]],
    every_name: dict[str, None],
    default: int,
    stub: bool,
    resolved: set[str],
) -> list[Insn]:
    """The code for one audit architecture (one or two ABIs): ``ld nr`` and the search."""
    leaves: dict[int, Leaf] = {}
    highest: dict[str, int | None] = {}
    for abi in abis:
        table = _arch.numbers(abi)
        by_nr: dict[int, list[Rule]] = {}
        for name, rules in by_name.items():
            nr = table.get(name)
            if nr is not None:
                if nr in by_nr:  # two names for one number: keep profile order
                    by_nr[nr] = sorted(by_nr[nr] + rules)
                else:
                    by_nr[nr] = rules
        for nr, rules in by_nr.items():
            _, action, conds = rules[0]
            leaves[nr] = action if not conds else _leaf(rules, default, abi.wide)
        hits = [n for n in every_name if n in table]
        resolved.update(hits)
        highest[abi.name] = max(map(table.__getitem__, hits)) if hits and stub else None
    base = _base(audit, abis, default, highest)
    return [(b.LD_ABS, 0, 0, b.OFF_NR), *_tree(_intervals(base, leaves))]


def _leaf(rules: list[Rule], default: int, wide: bool) -> Leaf:
    """The verdict for one system call: a return value, or code for its argument rules."""
    for _, action, conds in rules:
        if not conds:
            return action
    code: list[Insn] = []
    for _, action, conds in rules:
        code.extend(_rule(action, conds, wide))
    code.append((b.RET, 0, 0, default))
    return code


def _rule(action: int, conds: tuple[tuple[int, int, int, int], ...], wide: bool) -> list[Insn]:
    """``conds`` then ``ret action``; a failing condition jumps past the ret."""
    body: list[Insn] = []
    for index, op, value, two in conds:
        lo, hi = b.arg_offsets(index)
        ok = _cmp64(op, value, two, lo, hi, body) if wide else _cmp32(op, value, two, lo, body)
        if not ok:
            return []  # can never match
    body.append((b.RET, 0, 0, action))
    end = len(body)
    return [
        (c, end - i - 1 if jt == _FAIL else jt, end - i - 1 if jf == _FAIL else jf, k)
        for i, (c, jt, jf, k) in enumerate(body)
    ]


def _cmp32(op: int, value: int, two: int, lo: int, out: list[Insn]) -> bool:
    """Append a test of the low word; False when it can never hold."""
    if op == MASKED_EQ:
        mask, datum = value & M32, two & M32
        if datum & ~mask:
            return False
        if mask:
            out.append((b.LD_ABS, 0, 0, lo))
            if mask != M32:
                out.append((b.AND_K, 0, 0, mask))
            out.append((b.JEQ, 0, _FAIL, datum))
        return True
    code, holds_when_true = _CMP32[op]
    jt, jf = (0, _FAIL) if holds_when_true else (_FAIL, 0)
    out.append((b.LD_ABS, 0, 0, lo))
    out.append((code, jt, jf, value & M32))
    return True


# op -> (jump, whether the condition holds when the jump's test is true)
_CMP32 = {
    EQ: (b.JEQ, True),
    NE: (b.JEQ, False),
    GT: (b.JGT, True),
    GE: (b.JGE, True),
    LT: (b.JGE, False),
    LE: (b.JGT, False),
}


def _cmp64(op: int, value: int, two: int, lo: int, hi: int, out: list[Insn]) -> bool:
    """Append a 64-bit test (high word first); False when it can never hold."""
    if op == MASKED_EQ:
        if two & ~value:
            return False
        for off, mask, datum in ((hi, value >> 32, two >> 32), (lo, value & M32, two & M32)):
            if not mask:
                continue
            out.append((b.LD_ABS, 0, 0, off))
            if mask != M32:
                out.append((b.AND_K, 0, 0, mask))
            out.append((b.JEQ, 0, _FAIL, datum))
        return True
    dhi, dlo = value >> 32, value & M32
    load_lo = (b.LD_ABS, 0, 0, lo)
    out.append((b.LD_ABS, 0, 0, hi))
    if op == EQ:
        out += [(b.JEQ, 0, _FAIL, dhi), load_lo, (b.JEQ, 0, _FAIL, dlo)]
    elif op == NE:  # hi differs: holds; else the low words decide
        out += [(b.JEQ, 0, 2, dhi), load_lo, (b.JEQ, _FAIL, 0, dlo)]
    elif op in (GT, GE):  # hi above: holds; hi below: fails; equal: low words decide
        last = (b.JGT if op == GT else b.JGE, 0, _FAIL, dlo)
        out += [(b.JGT, 3, 0, dhi), (b.JEQ, 0, _FAIL, dhi), load_lo, last]
    else:  # LT, LE: hi below holds; hi above fails; equal: low words decide
        last = (b.JGE if op == LT else b.JGT, _FAIL, 0, dlo)
        out += [(b.JGE, 0, 3, dhi), (b.JEQ, 0, _FAIL, dhi), load_lo, last]
    return True


def _base(
    audit: int, group: list[_arch.Arch], default: int, highest: dict[str, int | None]
) -> list[tuple[int, int]]:
    """The verdict of every number no rule names, as (first number, return value) runs."""
    enosys = b.RET_ERRNO | ENOSYS
    names = {a.name for a in group}
    if audit != _arch.ARCHES["SCMP_ARCH_X86_64"].audit:
        top = highest[group[0].name]
        base = [(0, default)]
        if top is not None and top < M32:
            base.append((top + 1, enosys))
        return base
    base = []
    x32 = _arch.X32_SYSCALL_BIT
    if "SCMP_ARCH_X86_64" in names:
        base.append((0, default))
        top = highest["SCMP_ARCH_X86_64"]
        if top is not None and top + 1 < x32:
            base.append((top + 1, enosys))
    else:
        base.append((0, BAD_ARCH))
    if "SCMP_ARCH_X32" in names:
        base.append((x32, default))
        top = highest["SCMP_ARCH_X32"]
        if top is not None and top < M32:
            base.append((top + 1, enosys))
    else:
        base += [(x32, BAD_ARCH), (M32, default)]
    return base


def _intervals(base: list[tuple[int, int]], leaves: dict[int, Leaf]) -> list[tuple[int, Leaf]]:
    """Runs of system call numbers with one verdict: [(first number, leaf)], from 0."""
    out: list[tuple[int, Leaf]] = []
    last = len(base) - 1
    bi = 0  # base[bi] is the run that holds `cursor`
    cursor = 0
    for nr in sorted(leaves):
        while cursor < nr:  # the base runs between the previous leaf and this one
            value = base[bi][1]
            if not out or out[-1][1] != value:
                out.append((cursor, value))
            if bi < last and base[bi + 1][0] <= nr:
                bi += 1
                cursor = base[bi][0]
            else:
                cursor = nr
        leaf = leaves[nr]
        if not out or out[-1][1] != leaf:
            out.append((nr, leaf))
        cursor = nr + 1
        while bi < last and base[bi + 1][0] <= cursor:
            bi += 1
    while cursor <= M32:
        value = base[bi][1]
        if not out or out[-1][1] != value:
            out.append((cursor, value))
        if bi == last:
            break
        bi += 1
        cursor = base[bi][0]
    return out


def _tree(runs: list[tuple[int, Leaf]]) -> list[Insn]:
    """Binary search over the runs (the accumulator holds nr)."""

    def emit(lo: int, hi: int) -> list[Insn]:
        if hi - lo == 1:
            leaf = runs[lo][1]
            return [(b.RET, 0, 0, leaf)] if isinstance(leaf, int) else leaf
        mid = (lo + hi) // 2
        left = emit(lo, mid)
        right = emit(mid, hi)
        n = len(left)
        if n <= b.MAX_JUMP:
            return [(b.JGE, n, 0, runs[mid][0]), *left, *right]
        return [(b.JGE, 0, 1, runs[mid][0]), (b.JA, 0, 0, n), *left, *right]

    return emit(0, len(runs))


def _link(sections: list[tuple[int, list[Insn]]]) -> list[Insn]:
    """``ld arch``, the architecture dispatch, ``ret bad-arch``, the sections."""
    far = [False] * len(sections)
    while True:
        head = 2 + len(sections) + sum(far)  # ld, one jeq each (+ ja if far), ret
        out: list[Insn] = [(b.LD_ABS, 0, 0, b.OFF_ARCH)]
        start = head
        again = False
        for i, (audit, code) in enumerate(sections):
            if far[i]:
                out.append((b.JEQ, 0, 1, audit))
                out.append((b.JA, 0, 0, start - len(out) - 1))
            else:
                jump = start - len(out) - 1
                if jump > b.MAX_JUMP:
                    far[i] = again = True
                out.append((b.JEQ, jump, 0, audit))
            start += len(code)
        if not again:
            break
    out.append((b.RET, 0, 0, BAD_ARCH))
    for _, code in sections:
        out.extend(code)
    return out
