"""Dockerfile text -> data, and the shell-word functions Docker applies to instructions.

Docker's Dockerfile frontend (the classic builder and BuildKit share its parser) is
the reference: what it accepts, what it refuses at parse time and with which message.

``parse(text)`` returns a :class:`Dockerfile`: the ``# escape=`` directive's escape
character and one :class:`Instruction` per logical line (continuations joined,
comments and blank lines dropped). Each instruction keeps:

``cmd``       the keyword, lower-case (``"run"``)
``args``      exec (JSON) form: the array's strings, and ``json`` is True; otherwise
              the rest of the line after the flags, stripped, as ONE string
              (``[]`` when nothing follows the keyword). HEALTHCHECK: ``["NONE"]`` or
              ``["CMD"]`` with the command in ``sub``.
``flags``     leading ``--name=value`` flags (a flag without ``=`` is ``"true"``; a
              boolean flag's value is normalised to ``"true"``/``"false"``; a flag given
              more than once, like ``RUN --mount``, keeps its last value here and all of
              them, in order, in ``flag_list``)
``original``  the logical line as written (what ``Step N/M : ...`` shows)
``line``      1-based line where it starts
``sub``       ONBUILD: the trigger instruction; HEALTHCHECK CMD: the CMD instruction
``escape``    the file's escape character (so the helpers below need not be told)

Validation follows Docker's parse-time checks (argument counts, known flags per
instruction, FROM's ``AS name``, JSON arrays of strings only, ONBUILD triggers,
HEALTHCHECK options, a build stage before any instruction but ARG). Errors are
:class:`berth.errors.InvalidArgument`: ``Dockerfile parse error line N: <Docker's
text>``. Heredocs (``RUN <<EOF``) are refused. An ONBUILD trigger is parsed but, as in
Docker, only validated when it runs: :func:`parse_instruction` does that.

Word functions: ``expand`` and ``words`` (Docker's shell lexer, implemented in
:mod:`berth.build.shellwords` and re-exported here), ``key_values`` (ENV/LABEL/ARG
pairs) and ``arg_decl`` (ARG with unset defaults as None), ``fields`` (arguments as
Docker's parser splits them) and ``stage`` (FROM's image and stage name). Docker does
not expand in RUN/CMD/ENTRYPOINT/SHELL/ONBUILD; which instruction expands is the
builder's choice.
"""

from __future__ import annotations

import re

from berth.build.shellwords import SPACE as _SPACE
from berth.build.shellwords import Lexer, go_quote, is_space
from berth.build.shellwords import expand as expand
from berth.build.shellwords import words as words
from berth.durations import parse as parse_duration
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

_WS_RE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*")
_HEREDOC_RE = re.compile(r"(\d*)<<(-?)[\t\n\f\r ]*([^<]*)")
_STAGE_NAME_RE = re.compile(r"[a-z][a-z0-9\-_.]*")
_ONBUILD_RE = re.compile(r"^[" + _SPACE + r"]*ONBUILD[" + _SPACE + r"]*", re.IGNORECASE)

KEYWORDS = frozenset(
    (
        *("from", "run", "copy", "add", "env", "arg", "label", "workdir", "cmd"),
        *("entrypoint", "expose", "user", "volume", "stopsignal", "healthcheck"),
        *("shell", "onbuild", "maintainer"),
    )
)
# Flags each instruction knows: name -> "str" | "bool" | "strs" (may repeat).
FLAGS: dict[str, dict[str, str]] = {
    "from": {"platform": "str"},
    "run": {"mount": "strs", "network": "str", "security": "str"},
    "copy": {
        "chown": "str",
        "chmod": "str",
        "from": "str",
        "link": "bool",
        "parents": "bool",
        "exclude": "strs",
    },
    "add": {
        "chown": "str",
        "chmod": "str",
        "checksum": "str",
        "link": "bool",
        "keep-git-dir": "bool",
        "unpack": "bool",
        "exclude": "strs",
    },
    "healthcheck": {
        "interval": "str",
        "timeout": "str",
        "start-period": "str",
        "start-interval": "str",
        "retries": "str",
    },
}
_JSON_FORM = frozenset(("run", "cmd", "entrypoint", "shell", "add", "copy", "volume"))
_SPLIT_FORM = frozenset(("from", "expose", "add", "copy", "volume"))


def _trim(s: str) -> str:
    return s.strip(_SPACE)


class Instruction:
    """One Dockerfile instruction (see the module docstring for the fields)."""

    __slots__ = ("args", "cmd", "escape", "flag_list", "flags", "json", "line", "original", "sub")

    def __init__(
        self,
        cmd: str,
        args: list[str],
        json: bool = False,
        flags: dict[str, str] | None = None,
        original: str = "",
        line: int = 0,
        sub: Instruction | None = None,
        escape: str = "\\",
        flag_list: list[tuple[str, str]] | None = None,
    ) -> None:
        self.cmd = cmd
        self.args = args
        self.json = json
        self.flags: dict[str, str] = {} if flags is None else flags
        self.flag_list: list[tuple[str, str]] = (
            list(self.flags.items()) if flag_list is None else flag_list
        )
        self.original = original
        self.line = line
        self.sub = sub
        self.escape = escape

    def flag_values(self, name: str) -> list[str]:
        """Every value given to a flag, in order (``RUN --mount=a --mount=b``)."""
        return [v for k, v in self.flag_list if k == name]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instruction):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Instruction(cmd={self.cmd!r}, args={self.args!r}, json={self.json!r}, "
            f"flags={self.flags!r}, line={self.line}, sub={self.sub!r})"
        )


class Dockerfile:
    __slots__ = ("escape", "instructions")

    def __init__(self, instructions: list[Instruction], escape: str = "\\") -> None:
        self.instructions = instructions
        self.escape = escape

    def __repr__(self) -> str:
        return f"Dockerfile(escape={self.escape!r}, instructions={self.instructions!r})"


class _Error(Exception):
    """A parse failure without its line yet."""


def _fail(line: int, msg: str) -> InvalidArgument:
    return InvalidArgument(f"Dockerfile parse error line {line}: {msg}")


# ---------------------------------------------------------------- physical lines


def _logical_lines(text: str) -> tuple[str, list[tuple[int, str]]]:
    """Directives, comments, continuations: ``(escape, [(start line, joined line)])``."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    escape = "\\"
    cont = _continuation_re(escape)
    seen: set[str] = set()
    directives_done = False
    out: list[tuple[int, str]] = []
    i, n = 0, len(lines)
    while i < n:
        raw = lines[i]
        if i == 0 and raw.startswith("\ufeff"):
            raw = raw[1:]
        token = raw.rstrip("\r\n").lstrip(_SPACE)
        i += 1
        if not directives_done:
            m = _DIRECTIVE_RE.fullmatch(token[1:].lstrip(_SPACE)) if token[:1] == "#" else None
            name = m.group(1).lower() if m else ""
            if name not in ("syntax", "escape", "check"):
                directives_done = True
            else:
                assert m is not None
                if name in seen:
                    raise _fail(i, f"only one {name} parser directive can be used")
                seen.add(name)
                if name == "escape":
                    value = m.group(2)
                    if value not in ("\\", "`"):
                        raise _fail(i, f"invalid escape token '{value}' does not match ` or \\")
                    escape = value
                    cont = _continuation_re(escape)
        start = i
        if token[:1] == "#":
            token = ""
        joined, more = _trim_continuation(token, cont)
        if not more and joined == "":
            continue
        parts = [joined]
        while more and i < n:
            raw = lines[i].rstrip("\r\n")
            i += 1
            stripped = raw.lstrip(_SPACE)
            if stripped[:1] == "#" or stripped == "":
                continue  # comments and empty lines inside a continuation are skipped
            seg, more = _trim_continuation(raw, cont)
            parts.append(seg)
        out.append((start, "".join(parts)))
    return escape, out


def _continuation_re(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(r"([^" + e + r"])" + e + r"[ \t]*\Z|^" + e + r"[ \t]*\Z")


def _trim_continuation(line: str, cont: re.Pattern[str]) -> tuple[str, bool]:
    m = cont.search(line)
    if m is None:
        return line, False
    return line[: m.start()] + (m.group(1) or ""), True


# ---------------------------------------------------------------- one instruction


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading ``--flag`` words (quotes and escapes removed) and the rest of the line."""
    found: list[str] = []
    word: list[str] = []
    phase = 0  # 0 between words, 1 in a word, 2 in quotes
    quote = ""
    blank_ok = False
    pos, n = 0, len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == 0:
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            if not line.startswith("--", pos):
                return line[pos:], found
            phase = 1
        if pos == n:
            w = "".join(word)
            if w != "--" and (blank_ok or w):
                found.append(w)
            break
        if phase == 1:
            if is_space(ch):
                w = "".join(word)
                phase = 0
                if w == "--":
                    return line[pos:], found
                if blank_ok or w:
                    found.append(w)
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, 2
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        if ch == quote:
            phase = 1
            pos += 1
            continue
        if ch == escape:
            if pos + 1 == n:
                phase = 1
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", found


def _parse_words(rest: str, escape: str) -> list[str]:
    """Docker's parseWords: split on unquoted whitespace, keeping quotes and escapes."""
    found: list[str] = []
    word: list[str] = []
    phase = 0
    quote = ""
    blank_ok = False
    pos, n = 0, len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == 0:
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            phase = 1
        if pos == n:
            if blank_ok or word:
                found.append("".join(word))
            break
        if phase == 1:
            if is_space(ch):
                phase = 0
                if blank_ok or word:
                    found.append("".join(word))
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, 2
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if ch == quote:
            phase = 1
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = 1
                pos += 1
                continue
            pos += 1
            word.append(ch)
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return found


def _name_vals(rest: str, key: str, escape: str) -> list[tuple[str, str]]:
    """ENV/LABEL pairs, unexpanded: ``k=v ...`` or the legacy ``k the rest``."""
    found = _parse_words(rest, escape)
    if not found:
        return []
    if "=" not in found[0]:
        parts = _WS_RE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Error(f"{key} must have two arguments")
        return [(parts[0], parts[1])]
    pairs = []
    for w in found:
        if "=" not in w:
            raise _Error(
                f"Syntax error - can't find = in {go_quote(w)}. Must be of the form: name=value"
            )
        k, v = w.split("=", 1)
        pairs.append((k, v))
    return pairs


def _parse_json(rest: str) -> list[str] | None:
    """The strings of a JSON array, or None when ``rest`` is not one."""
    import json

    rest = rest.lstrip(_SPACE)
    if not rest.startswith("["):
        return None

    def no_constants(name: str) -> object:
        raise ValueError(name)

    try:
        value = json.loads(rest, parse_constant=no_constants)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _Error("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _node(line: str, lineno: int, escape: str) -> Instruction:
    """Split one logical line (Docker's parser stage; no per-instruction checks yet)."""
    parts = _WS_RE.split(_trim(line), maxsplit=1)
    keyword = parts[0]
    rest, flag_words = _extract_flags(parts[1], escape) if len(parts) == 2 else ("", [])
    rest = _trim(rest)
    cmd = keyword.lower()
    flag_list = []
    for w in flag_words:
        name, eq, value = w[2:].partition("=")
        flag_list.append((name, value if eq else "true"))
    inst = Instruction(cmd, [rest] if rest else [], False, dict(flag_list), line, lineno)
    inst.flag_list = flag_list
    inst.escape = escape
    if cmd in _JSON_FORM and rest:
        arr = _parse_json(rest)
        if arr is not None:
            inst.args, inst.json = arr, True
    elif cmd in ("env", "label"):
        _name_vals(rest, cmd.upper(), escape)
    elif cmd == "onbuild" and rest:
        inst.sub = _node(rest, lineno, escape)
        inst.sub.original = _ONBUILD_RE.sub("", line, count=1)
    elif cmd == "healthcheck" and rest:
        i = 0
        while i < len(rest) and not is_space(rest[i]):
            i += 1
        kind, after = rest[:i], rest[i:].lstrip(_SPACE)
        if kind.upper() == "NONE":
            inst.args = [kind, after] if after else [kind]
        else:
            inst.args = [kind]
            sub = Instruction("cmd", [after] if after else [], False, None, rest, lineno)
            sub.escape = escape
            arr = _parse_json(after) if after else None
            if arr is not None:
                sub.args, sub.json = arr, True
            inst.sub, inst.json = sub, sub.json
    _refuse_heredoc(inst.sub if cmd == "onbuild" and inst.sub else inst, line)
    return inst


def _refuse_heredoc(inst: Instruction, line: str) -> None:
    if inst.cmd not in ("run", "copy", "add") or inst.json or "<<" not in line:
        return
    try:
        candidates = Lexer(line, {}, "\\", raw=True).words()
    except InvalidArgument:
        return
    for word in candidates:
        m = _HEREDOC_RE.fullmatch(word)
        if m is None or not m.group(3):
            continue
        try:
            names = Lexer(m.group(3), {}, "\\", raw=True).words()
        except InvalidArgument:
            names = [m.group(3)]
        if len(names) == 1:
            raise _Error(
                f"heredocs ({word.strip()}) are not supported by berth yet: "
                "write the content with RUN printf or COPY it from a file"
            )


# ---------------------------------------------------------------- validation


def _check_flags(inst: Instruction) -> None:
    """Docker's BFlags.Parse: known names, no repeats but for list flags, values typed."""
    known = FLAGS.get(inst.cmd, {})
    seen: set[str] = set()
    normalised = []
    for name, written in _flag_raw(inst):
        kind = known.get(name)
        if kind is None:
            raise _Error(f"Unknown flag: {name}")
        if name in seen and kind != "strs":
            raise _Error(f"Duplicate flag specified: {name}")
        seen.add(name)
        if kind == "bool":
            if written == "":
                raise _Error(f"Missing a value on flag: {name}")
            value = "true" if written is None else written.lower()
            if value not in ("true", "false"):
                raise _Error(f"Expecting boolean value for flag {name}, not: {written}")
        elif written is None:
            raise _Error(f"Missing a value on flag: {name}")
        else:
            value = written
        normalised.append((name, value))
    inst.flag_list = normalised
    inst.flags = dict(normalised)


def _flag_raw(inst: Instruction) -> list[tuple[str, str | None]]:
    """Each flag's value as written: None when the word had no ``=``."""
    parts = _WS_RE.split(_trim(inst.original), maxsplit=1)
    _, words_ = _extract_flags(parts[1], inst.escape) if len(parts) == 2 else ("", [])
    out: list[tuple[str, str | None]] = []
    for w in words_:
        name, eq, value = w[2:].partition("=")
        out.append((name, value if eq else None))
    return out


def _count(inst: Instruction, at_least: int = 1, exactly: int = 0) -> list[str]:
    f = fields(inst)
    name = inst.cmd.upper()
    if exactly and len(f) != exactly:
        raise _Error(f"{name} requires exactly one argument")
    if len(f) < at_least:
        raise _Error(f"{name} requires at least one argument")
    return f


def _validate(inst: Instruction) -> None:
    cmd = inst.cmd
    if cmd not in KEYWORDS:
        raise _Error(f"unknown instruction: {_WS_RE.split(_trim(inst.original), 1)[0]}")
    if cmd == "from":
        f = fields(inst)
        if len(f) == 3 and f[1].lower() == "as":
            if not _STAGE_NAME_RE.fullmatch(f[2].lower()):
                raise _Error(
                    f"invalid name for build stage: {go_quote(f[2])}, "
                    "name can't start with a number or contain symbols"
                )
        elif len(f) != 1:
            raise _Error("FROM requires either one or three arguments")
        _check_flags(inst)
    elif cmd in ("env", "label"):
        _check_flags(inst)
        pairs = _name_vals(inst.args[0], cmd.upper(), inst.escape) if inst.args else []
        if not pairs:
            raise _Error(f"{cmd.upper()} requires at least one argument")
        if any(k == "" for k, _ in pairs):
            raise _Error(f"{cmd.upper()} names can not be blank")
    elif cmd in ("maintainer", "workdir", "user"):
        _count(inst, exactly=1)
        _check_flags(inst)
    elif cmd == "stopsignal":
        _count(inst, exactly=1)  # Docker does not look at STOPSIGNAL's flags
    elif cmd in ("add", "copy"):
        if len(fields(inst)) < 2:
            raise _Error(
                f"{cmd.upper()} requires at least two arguments, but only one was provided. "
                "Destination could not be determined"
            )
        _check_flags(inst)
    elif cmd == "onbuild":
        _count(inst)
        _check_flags(inst)
        assert inst.sub is not None
        trigger = inst.sub.cmd.upper()
        if trigger == "ONBUILD":
            raise _Error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("MAINTAINER", "FROM"):
            raise _Error(f"{trigger} isn't allowed as an ONBUILD trigger")
    elif cmd in ("run", "cmd", "entrypoint"):
        _check_flags(inst)
    elif cmd == "shell":
        _check_flags(inst)
        if not inst.args:
            raise _Error("SHELL requires at least one argument")
        if not inst.json:
            raise _Error("SHELL requires the arguments to be in JSON form")
    elif cmd == "healthcheck":
        _validate_healthcheck(inst)
    elif cmd in ("expose", "volume"):
        f = _count(inst)
        _check_flags(inst)
        if cmd == "volume" and any(_trim(v) == "" for v in f):
            raise _Error("VOLUME specified can not be an empty string")
    elif cmd == "arg":
        decl = _count(inst)  # Docker does not look at ARG's flags either
        if any(w.startswith("=") for w in decl):
            raise _Error("ARG names can not be blank")


def _validate_healthcheck(inst: Instruction) -> None:
    if not inst.args:
        raise _Error("HEALTHCHECK requires at least one argument")
    kind = inst.args[0].upper()
    if kind == "NONE":
        if len(inst.args) != 1:
            raise _Error("HEALTHCHECK NONE takes no arguments")
        inst.args = ["NONE"]
        return
    _check_flags(inst)
    if kind != "CMD":
        raise _Error(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    inst.args = ["CMD"]
    if inst.sub is None or not inst.sub.args:
        raise _Error("Missing command after HEALTHCHECK CMD")
    for name in ("interval", "timeout", "start-period", "start-interval"):
        value = inst.flags.get(name, "")
        if value:
            try:
                ns = parse_duration(value)
            except InvalidArgument as e:
                raise _Error(str(e)) from None
            if ns != 0 and ns < 1_000_000:
                raise _Error(f'Interval "{name}" cannot be less than 1ms')
    retries = inst.flags.get("retries", "")
    if retries:
        if not re.fullmatch(r"[+-]?[0-9]+", retries):
            raise _Error(f'strconv.ParseInt: parsing "{retries}": invalid syntax')
        r = int(retries)
        if not -(2**31) <= r < 2**31:
            raise _Error(f'strconv.ParseInt: parsing "{retries}": value out of range')
        if r < 0:
            raise _Error(f"--retries cannot be negative ({r})")


# ---------------------------------------------------------------- public parse


def parse(text: str) -> Dockerfile:
    """Parse and validate a Dockerfile's text (see the module docstring)."""
    escape, lines = _logical_lines(text)
    nodes = []
    for lineno, line in lines:
        try:
            nodes.append(_node(line, lineno, escape))
        except _Error as e:
            raise _fail(lineno, str(e)) from None
    if not nodes:
        raise InvalidArgument(
            "Dockerfile parse error: file with no instructions (the Dockerfile cannot be empty)"
        )
    in_stage = False
    for inst in nodes:
        try:
            _validate(inst)
        except _Error as e:
            raise _fail(inst.line, str(e)) from None
        if inst.cmd == "from":
            in_stage = True
        elif inst.cmd != "arg" and not in_stage:
            raise _fail(inst.line, "no build stage in current context")
    return Dockerfile(nodes, escape)


def parse_instruction(text: str, line: int = 1, escape: str = "\\") -> Instruction:
    """Parse and validate one instruction (e.g. an image's ONBUILD trigger)."""
    try:
        inst = _node(text, line, escape)
        _validate(inst)
    except _Error as e:
        raise _fail(line, str(e)) from None
    return inst


def fields(inst: Instruction) -> list[str]:
    """The instruction's arguments as Docker's parser splits them, unexpanded.

    JSON form: the array. FROM/EXPOSE/COPY/ADD/VOLUME: whitespace-separated words
    (quotes are not special here, as in Docker). ARG: its declarations (quote-aware).
    ENV/LABEL: ``key=value`` / legacy words as written. Others: ``args``.
    """
    if inst.json or not inst.args:
        return list(inst.args)
    rest = inst.args[0]
    if inst.cmd in _SPLIT_FORM:
        return _WS_RE.split(rest)
    if inst.cmd in ("arg", "env", "label"):
        return _parse_words(rest, inst.escape)
    return list(inst.args)


def stage(inst: Instruction) -> tuple[str, str | None]:
    """FROM's ``(image, stage name lower-cased or None)``, unexpanded."""
    f = fields(inst)
    return f[0], (f[2].lower() if len(f) == 3 else None)


# ---------------------------------------------------------------- word helpers

__all__ = [
    *("FLAGS", "KEYWORDS", "Dockerfile", "Instruction", "arg_decl", "expand", "fields"),
    *("key_values", "parse", "parse_duration", "parse_instruction", "stage", "words"),
]


def key_values(
    inst: Instruction, env: Mapping[str, str], escape: str | None = None
) -> list[tuple[str, str]]:
    """ENV/LABEL pairs (keys and values expanded, quotes removed); ARG: unset -> ""."""
    esc = inst.escape if escape is None else escape
    if inst.cmd == "arg":
        return [(k, "" if v is None else v) for k, v in arg_decl(inst, env, esc)]
    if inst.cmd not in ("env", "label"):
        raise InvalidArgument(f"key_values: {inst.cmd.upper()} has no key=value pairs")
    try:
        pairs = _name_vals(inst.args[0], inst.cmd.upper(), esc) if inst.args else []
    except _Error as e:
        raise _fail(inst.line, str(e)) from None
    return [(expand(k, env, esc), expand(v, env, esc)) for k, v in pairs]


def arg_decl(
    inst: Instruction, env: Mapping[str, str], escape: str | None = None
) -> list[tuple[str, str | None]]:
    """ARG's declarations: ``ARG a=1 b`` -> ``[("a", "1"), ("b", None)]`` (expanded)."""
    esc = inst.escape if escape is None else escape
    out: list[tuple[str, str | None]] = []
    for w in _parse_words(inst.args[0], esc) if inst.args else []:
        if "=" in w:
            k, v = w.split("=", 1)
            out.append((expand(k, env, esc), expand(v, env, esc)))
        else:
            out.append((expand(w, env, esc), None))
    return out
