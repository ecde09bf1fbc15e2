"""Docker's shell-word lexer (BuildKit's ProcessWord / ProcessWords), on text.

``expand(word, env)`` is one word after expansion and quote removal; ``words(text,
env)`` splits on unquoted whitespace as well. Supported: ``$VAR ${VAR} ${VAR:-x}
${VAR-x} ${VAR:+x} ${VAR+x} ${VAR:?msg} ${VAR?msg} ${VAR#p} ${VAR##p} ${VAR%p}
${VAR%%p} ${VAR/p/r} ${VAR//p/r}``; ``'single'`` quotes are literal, ``"double"``
quotes expand; the escape character (``\\`` or a backtick) makes the next character
literal (inside double quotes only before ``"``, ``$`` and itself). Unset variables
expand to "". Failures are :class:`berth.errors.InvalidArgument` with Docker's text
(``failed to process "${x": syntax error: missing '}'``).
"""

from __future__ import annotations

import re

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# Go's unicode.IsSpace set (Python's str.isspace also counts \x1c-\x1f).
SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def is_space(ch: str) -> bool:
    return ch in SPACE


def go_quote(s: str) -> str:
    """A string quoted the way Go's %q shows it (near enough for messages)."""
    import json

    return json.dumps(s, ensure_ascii=False)


class _Error(Exception):
    """A lexing failure, before the word it happened in is named."""


def _env_has(env: Mapping[str, str], name: str) -> tuple[str, bool]:
    if name in env:
        return env[name], True
    return "", False


class _Words:
    __slots__ = ("buf", "in_word", "words")

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.buf.append(ch)
            self.in_word = True

    def add_raw(self, s: str) -> None:
        self.buf.append(s)
        self.in_word = True

    def done(self) -> list[str]:
        if "".join(self.buf):
            self.words.append("".join(self.buf))
            self.buf = []
        return self.words


class Lexer:
    """Docker's shell-word lexer over one string."""

    def __init__(self, src: str, env: Mapping[str, str], escape: str, raw: bool = False) -> None:
        self.src = src
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw = raw  # heredoc detection: keep quotes and escapes, leave unset vars

    def word(self) -> str:
        return self._run()[0]

    def words(self) -> list[str]:
        return self._run()[1]

    def _run(self) -> tuple[str, list[str]]:
        try:
            return self._until("", self.raw)
        except _Error as e:
            raise InvalidArgument(f"failed to process {go_quote(self.src)}: {e}") from None

    def _peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def _next(self) -> str:
        ch = self._peek()
        self.pos += 1 if ch else 0
        return ch

    def _until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words_ = _Words()
        while self._peek():
            ch = self._peek()
            if stop and ch == stop:
                self._next()
                return "".join(result), words_.done()
            if ch == "$":
                tmp = self._dollar()
                result.append(tmp)
                for c in tmp:
                    words_.add_char(c)
                continue
            if ch in "<'\"":
                tmp = self._heredoc() if ch == "<" else self._quoted(ch)
                result.append(tmp)
                words_.add_raw(tmp)
                continue
            self._next()
            if ch == self.escape:
                if raw_escapes:
                    words_.add_raw(ch)
                    result.append(ch)
                ch = self._next()
                if not ch:
                    break
                words_.add_raw(ch)
            else:
                words_.add_char(ch)
            result.append(ch)
        if stop:
            raise _Error(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words_.done()

    def _heredoc(self) -> str:
        self._next()
        if self._peek() != "<":
            return "<"
        self._next()
        space = []
        while self._peek() in ("\t", "\r", " ") and self._peek():
            space.append(self._next())
        return "<<" + "".join(space)

    def _quoted(self, quote: str) -> str:
        first = self._next()
        out = [first] if self.raw else []
        name = "single-quote" if quote == "'" else "double-quote"
        while True:
            ch = self._peek()
            if not ch:
                raise _Error(f"unexpected end of statement while looking for matching {name}")
            if ch == quote:
                self._next()
                if self.raw:
                    out.append(ch)
                return "".join(out)
            if quote == '"' and ch == "$":
                out.append(self._dollar())
                continue
            self._next()
            if quote == '"' and ch == self.escape:
                if self.raw:
                    out.append(ch)
                if self._peek() == "":
                    continue
                if self._peek() in ('"', "$", self.escape):
                    ch = self._next()
            out.append(ch)

    def _name(self) -> str:
        ch = self._peek()
        if ch.isdigit():
            start = self.pos
            while self._peek().isdigit():
                self._next()
            return self.src[start : self.pos]
        if ch and ch in "@*#?-$!0":
            return self._next()
        start = self.pos
        while self._peek() and (self._peek().isalnum() or self._peek() == "_"):
            self._next()
        return self.src[start : self.pos]

    def _dollar(self) -> str:
        self._next()
        if self._peek() != "{":
            name = self._name()
            if name == "":
                return "$"
            value, found = _env_has(self.env, name)
            return "$" + name if self.raw and not found else value
        self._next()
        if self._peek() == "":
            raise _Error("syntax error: missing '}'")
        if self._peek() in "{}:":
            raise _Error("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        value, found = _env_has(self.env, name)
        if ch == "}":
            return "${" + name + "}" if self.raw and not found else value
        if ch == "":
            raise _Error("syntax error: missing '}'")
        if ch == "/":
            return self._replace(name, value, found)
        mod = ch
        colon = ch == ":"
        if colon:
            ch = self._next()
            mod += ch
        if ch not in ("+", "-", "?", "#", "%") or (colon and ch in "#%"):
            raise _Error(f"unsupported modifier ({mod}) in substitution")
        start = self.pos
        try:
            word, _ = self._until("}", ch in "#%")
        except _Error:
            if not self._peek():
                raise _Error("syntax error: missing '}'") from None
            raise
        if self.raw and not found:
            return "${" + name + mod + self.src[start : self.pos - 1] + "}"
        empty = not found or (colon and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if empty:
                default = (
                    "is not allowed to be unset" if not found else "is not allowed to be empty"
                )
                raise _Error(f"{name}: {word or default}")
            return value
        greedy = word[:1] == ch
        if greedy:
            word = word[1:]
        if ch == "#":
            return _trim_prefix(word, value, greedy)
        return _trim_prefix(_reverse_pattern(word), value[::-1], greedy)[::-1]

    def _replace(self, name: str, value: str, found: bool) -> str:
        replace_all = self._peek() == "/"
        if replace_all:
            self._next()
        try:
            pattern, _ = self._until("/", True)
        except _Error:
            if not self._peek():
                raise _Error("syntax error: missing '/' in ${}") from None
            raise
        try:
            repl, _ = self._until("}", True)
        except _Error:
            if not self._peek():
                raise _Error("syntax error: missing '}'") from None
            raise
        if self.raw and not found:
            return "${" + name + "/" + pattern + "/" + repl + "}"
        rx = _shell_pattern(pattern, greedy=True, anchored=False)
        return rx.sub(lambda _: repl, value, count=0 if replace_all else 1)


def _shell_pattern(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    out = ["^"] if anchored else []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < n and pattern[i] in "}/":
                continue
            nxt = pattern[i] if i < n else ""
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise _Error(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'"
                )
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _shell_pattern(pattern, greedy, anchored=True).match(value)
    return value[m.end() :] if m else value


def _reverse_pattern(pattern: str) -> str:
    units = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            units.append(pattern[i : i + 2])
            i += 2
        else:
            units.append(pattern[i])
            i += 1
    return "".join(reversed(units))


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word after Docker's expansion and quote removal (whitespace is kept)."""
    return Lexer(word, env, escape).word()


def words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Words after expansion and quote removal, split on unquoted whitespace.

    As in Docker's ProcessWords, an unquoted ``$VAR`` whose value holds whitespace
    splits into several words (``"$VAR"`` does not), and an empty word (``""``)
    is dropped.
    """
    return Lexer(text, env, escape).words()
