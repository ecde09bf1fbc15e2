""".dockerignore: which paths of a build context are not sent.

Docker's rules (moby/patternmatcher and its ignorefile reader) are the reference:

- One pattern a line. A line starting with ``#`` (in column one) is a comment; blank
  lines are skipped; surrounding whitespace is trimmed. A leading ``!`` makes an
  exception that re-includes what it matches.
- A pattern is cleaned like Go's ``filepath.Clean`` and a leading ``/`` is dropped, so
  ``/a``, ``./a`` and ``a/`` all mean ``a`` (relative to the context root).
- Matching uses Go's ``filepath.Match`` syntax (``*`` and ``?`` stop at ``/``,
  ``[...]`` classes with ``^`` negation, ``\\`` escapes) plus ``**``, which matches any
  number of directories (``**/x``, ``a/**``, ``a/**/b``).
- A pattern matches a path when it matches the path itself or one of its parent
  directories, so ``a`` excludes ``a/b/c``.
- The last pattern that matches decides: excluded, or re-included by an exception.

``Ignore(text).excluded(path)`` answers for one path (relative, ``/``-separated);
``can_skip_dir(path)`` says a walker need not descend into a directory at all. The
Dockerfile and .dockerignore themselves are the caller's business (Docker always
sends them).
"""

from __future__ import annotations

import re

from berth.errors import InvalidArgument

_SPACE = "\t\n\v\f\r \x85\xa0"


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` on ``/``-separated paths."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    joined = "/".join(out)
    if rooted:
        return "/" + joined
    return joined or "."


def _check_syntax(pattern: str) -> None:
    """Refuse what Go's ``filepath.Match`` calls a bad pattern."""
    i, n = 0, len(pattern)

    def esc_char(j: int) -> int:
        # one class character (or escaped one) at j; returns the index after it
        if j >= n or pattern[j] in "-]":
            raise ValueError
        if pattern[j] == "\\":
            j += 1
            if j >= n:
                raise ValueError
        return j + 1

    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise ValueError
            i += 2
        elif ch == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pattern[i] == "]" and ranges > 0:
                    i += 1
                    break
                i = esc_char(i)
                if i < n and pattern[i] == "-":
                    i = esc_char(i + 1)
                ranges += 1
        else:
            i += 1


def _compile(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """Docker's pattern compiler: ``(kind, regex)``, kind exact|prefix|suffix|regexp."""
    parts = ["^"]
    kind = "exact"
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        first = i == 0
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        parts.append(".*")
                        kind = "regexp"
                else:
                    parts.append("(.*/)?")
                    kind = "regexp"
                if first:
                    kind = "suffix"
            else:
                parts.append("[^/]*")
                kind = "regexp"
        elif ch == "?":
            parts.append("[^/]")
            kind = "regexp"
        elif ch in ".+()|{}$":
            parts.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                parts.append(re.escape(pattern[i]))
                i += 1
                kind = "regexp"
            else:
                parts.append("\\\\")
        elif ch in "[]":
            parts.append(ch)
            kind = "regexp"
        else:
            parts.append(ch)  # raw, as Docker does: "-" and "^" matter inside [...]
    if kind != "regexp":
        return kind, None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kind, re.compile("".join(parts) + "$")


class _Pattern:
    __slots__ = ("dirs", "exception", "kind", "regex", "text")

    def __init__(self, text: str, exception: bool) -> None:
        self.text = text
        self.exception = exception
        self.dirs = text.split("/")
        try:
            _check_syntax(text)
            self.kind, self.regex = _compile(text)
        except (ValueError, re.error):
            raise InvalidArgument(
                f"invalid .dockerignore pattern {text!r}: syntax error in pattern "
                "(check the [...] classes and \\ escapes)"
            ) from None

    def match(self, path: str) -> bool:
        kind, text = self.kind, self.text
        if kind == "exact":
            return path == text
        if kind == "prefix":
            return path.startswith(text[:-2])
        if kind == "suffix":
            suffix = text[2:]
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None


def _component_could_match(pattern: str, name: str) -> bool:
    _, regex = _compile(pattern)
    if regex is None:
        return pattern == name
    return regex.match(name) is not None


class Ignore:
    """The patterns of one .dockerignore file (see the module docstring)."""

    __slots__ = ("patterns",)

    def __init__(self, text: str) -> None:
        self.patterns: list[_Pattern] = []
        for number, raw in enumerate(text.split("\n")):
            line = raw[1:] if number == 0 and raw.startswith("\ufeff") else raw
            if line.startswith("#"):
                continue
            line = line.strip(_SPACE)
            if not line:
                continue
            exception = line.startswith("!")
            if exception:
                line = line[1:].strip(_SPACE)
                if not line:
                    raise InvalidArgument(
                        f'illegal exclusion pattern: "!" on line {number + 1} of .dockerignore'
                    )
            line = clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
            self.patterns.append(_Pattern(line, exception))

    def excluded(self, path: str, is_dir: bool = False) -> bool:
        """Whether ``path`` (relative to the context root) is left out of the context.

        ``is_dir`` is accepted for callers' convenience; Docker's patterns match
        files and directories alike.
        """
        path = clean(path.lstrip("/"))
        if path == ".":
            return False
        parents = path.split("/")[:-1]
        prefixes = ["/".join(parents[: i + 1]) for i in range(len(parents))]
        matched = False
        for p in self.patterns:
            if p.exception != matched:
                continue  # only an exception can change an exclusion, and vice versa
            hit = p.match(path) or any(p.match(prefix) for prefix in prefixes)
            if hit:
                matched = not p.exception
        return matched

    def can_skip_dir(self, path: str) -> bool:
        """True when ``path`` and everything under it are excluded, with no exception
        pattern that could re-include something inside it."""
        if not self.excluded(path, True):
            return False
        comps = clean(path.lstrip("/")).split("/")
        return not any(p.exception and self._could_reach(p, comps) for p in self.patterns)

    @staticmethod
    def _could_reach(p: _Pattern, comps: list[str]) -> bool:
        # Conservative: True unless the pattern provably matches nothing at or under
        # the directory (a component that cannot match, before any "**").
        for pat, name in zip(p.dirs, comps, strict=False):
            if "**" in pat:
                return True
            if not _component_could_match(pat, name):
                return False
        return True
