"""A Go text/template subset for ``--format``, as Docker users type it.

What works (Go's semantics unless noted)::

    {{.ID}}  {{.Config.Env}}  {{.}}  {{$}}  {{$v.Name}}  {{(index .Ports 0).Type}}
    {{json .}}  {{json .Config}}  {{index .Labels "com.x"}}  {{index .List 1}}
    {{join .Args " "}}  {{split .Name "/"}}  {{upper .X}}  {{lower .X}}  {{title .X}}
    {{pad .X 1 2}}  {{truncate .ID 12}}  {{len .Mounts}}  {{println .A .B}}
    {{printf "%s-%5d %.2f %q %v %x" .A .B .C .D .E .F}}
    {{.Names | upper}}   {{if .Running}}up{{else if .Paused}}paused{{else}}down{{end}}
    {{range .Mounts}}{{.Source}} {{end}}  {{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}
    {{with .State}}{{.Status}}{{end}}  {{$n := .Name}}  {{eq .A "x"}} ne lt le gt ge and or not
    {{- trims space before}}  {{trims space after -}}  {{/* comments */}}

Data: ``dict`` keys are fields (a missing key prints ``<no value>``, as on a
Go map); other objects are read by attribute (a zero-argument method is
called), which is how list commands give Docker's computed columns
(``.Names``, ``.Status``, ``.Size``). Values print as Go's ``%v`` does: lists
``[a b]``, maps ``map[k:v]`` (sorted), None ``<nil>``, floats ``1e+06``.

Docker's preprocessing is :func:`parse_format`: a leading ``table`` asks
for a table with headers (:func:`berth.cli.tabwriter`), and the escapes
``\\t`` and ``\\n`` typed literally become a tab and a newline.

Errors are :class:`berth.errors.InvalidArgument` with Go's wording:
``template parsing error: template: :1: unclosed action`` and
``template: :1:2: executing "" at <.Nope>: can't evaluate field Nope``.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class _NoValue:
    """A key missing from a map: prints ``<no value>``, is false."""

    _inst: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()


class TemplateError(InvalidArgument):
    pass


# ------------------------------------------------------------------ lexer


class _Tok:
    __slots__ = ("kind", "pos", "text")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind = (
            kind  # field var str num ident lparen rparen pipe decl assign comma bool nil dot
        )
        self.text = text
        self.pos = pos

    def __repr__(self) -> str:
        return f"{self.kind}:{self.text}"


def _line_of(src: str, pos: int) -> int:
    return src.count("\n", 0, pos) + 1


def _lex_action(src: str, start: int, end: int) -> list[_Tok]:
    toks: list[_Tok] = []
    i = start
    while i < end:
        c = src[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == "|":
            toks.append(_Tok("pipe", c, i))
            i += 1
        elif c == "(":
            toks.append(_Tok("lparen", c, i))
            i += 1
        elif c == ")":
            j = i + 1
            # a field chain may follow a parenthesized term: (index . 0).Name
            toks.append(_Tok("rparen", c, i))
            i = j
        elif c == ",":
            toks.append(_Tok("comma", c, i))
            i += 1
        elif c == ":" and src.startswith(":=", i):
            toks.append(_Tok("decl", ":=", i))
            i += 2
        elif c == "=":
            toks.append(_Tok("assign", "=", i))
            i += 1
        elif c == '"':
            j = i + 1
            buf = []
            while j < end and src[j] != '"':
                if src[j] == "\\" and j + 1 < end:
                    esc = src[j + 1]
                    buf.append(
                        {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}.get(esc, esc)
                    )
                    j += 2
                    continue
                if src[j] == "\n":
                    break
                buf.append(src[j])
                j += 1
            if j >= end or src[j] != '"':
                raise _parse_error(src, i, "unterminated quoted string")
            toks.append(_Tok("str", "".join(buf), i))
            i = j + 1
        elif c == "`":
            j = src.find("`", i + 1, end)
            if j < 0:
                raise _parse_error(src, i, "unterminated raw quoted string")
            toks.append(_Tok("str", src[i + 1 : j], i))
            i = j + 1
        elif c == "." or c == "$":
            j = i + 1
            while j < end and (src[j].isalnum() or src[j] in "_."):
                j += 1
            text = src[i:j]
            kind = "var" if c == "$" else ("dot" if text == "." else "field")
            if kind == "field" and (text.endswith(".") or ".." in text):
                raise _parse_error(src, i, f"bad field {text!r}")
            toks.append(_Tok(kind, text, i))
            i = j
        elif c.isdigit() or (c in "+-" and i + 1 < end and src[i + 1].isdigit()):
            j = i + 1
            while j < end and (src[j].isalnum() or src[j] in "._+-"):
                if src[j] in "+-" and src[j - 1] not in "eE":
                    break
                j += 1
            toks.append(_Tok("num", src[i:j], i))
            i = j
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < end and (src[j].isalnum() or src[j] == "_"):
                j += 1
            word = src[i:j]
            kind = "bool" if word in ("true", "false") else "nil" if word == "nil" else "ident"
            toks.append(_Tok(kind, word, i))
            i = j
        else:
            raise _parse_error(src, i, f"unexpected {c!r} in command")
    return toks


def _parse_error(src: str, pos: int, msg: str) -> TemplateError:
    return TemplateError(f"template parsing error: template: :{_line_of(src, pos)}: {msg}")


# ----------------------------------------------------------------- parser
# Nodes are tuples: ("text", s) ("action", pipe) ("if", pipe, body, else)
# ("range", pipe, body, else) ("with", pipe, body, else) ("decl", pipe)
# A pipe: (decl_vars, is_assign, [cmd...]); a cmd: [operand...];
# an operand: ("field", base, names) ("lit", value) ("ident", name) ("pipe", pipe)


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.actions: list[tuple[str, list[_Tok], int]] = []  # (kind, tokens, pos)
        self.i = 0

    def split(self) -> list[tuple[str, Any, int]]:
        """Text and actions, with trim markers applied."""
        src = self.src
        items: list[tuple[str, Any, int]] = []
        pos = 0
        trim_next = False
        while True:
            start = src.find("{{", pos)
            if start < 0:
                text = src[pos:]
                if trim_next:
                    text = text.lstrip(" \t\r\n")
                if text:
                    items.append(("text", text, pos))
                break
            text = src[pos:start]
            if trim_next:
                text = text.lstrip(" \t\r\n")
            inner = start + 2
            if (
                src.startswith("- ", inner)
                or src.startswith("-\t", inner)
                or src.startswith("-\n", inner)
            ):
                text = text.rstrip(" \t\r\n")
                inner += 1
            if text:
                items.append(("text", text, pos))
            close = src.find("}}", inner)
            if close < 0:
                raise _parse_error(src, start, "unclosed action")
            end = close
            trim_next = False
            if src[close - 1] == "-" and src[close - 2] in " \t\n" and close - 2 >= inner:
                end = close - 1
                trim_next = True
            body = src[inner:end].strip()
            if body.startswith("/*"):
                if not body.endswith("*/"):
                    raise _parse_error(src, start, "unclosed comment")
            else:
                items.append(("action", _lex_action(src, inner, end), start))
            pos = close + 2
        return items

    def parse(self) -> list[Any]:
        self.items = self.split()
        self.k = 0
        nodes, _stop = self.parse_list(top=True)
        return nodes

    def parse_list(self, top: bool = False) -> tuple[list[Any], str]:
        nodes: list[Any] = []
        while self.k < len(self.items):
            kind, value, pos = self.items[self.k]
            self.k += 1
            if kind == "text":
                nodes.append(("text", value))
                continue
            toks: list[_Tok] = value
            if not toks:
                raise _parse_error(self.src, pos, "missing value for command")
            head = toks[0]
            if head.kind == "ident" and head.text in ("if", "range", "with"):
                pipe = self.parse_pipe(toks[1:], pos, allow_decl=True)
                body, stop = self.parse_list()
                else_nodes: list[Any] = []
                if stop == "else":
                    else_nodes, stop = self.parse_list()
                elif stop.startswith("elseif"):
                    # {{else if X}} chains: an if node nested in the else branch
                    else_nodes = [self._else_if(stop)]
                    stop = "end"
                if stop != "end":
                    raise _parse_error(self.src, pos, f"unexpected EOF in {head.text}")
                nodes.append((head.text, pipe, body, else_nodes))
                continue
            if head.kind == "ident" and head.text == "end":
                if top:
                    raise _parse_error(self.src, pos, "unexpected {{end}}")
                return nodes, "end"
            if head.kind == "ident" and head.text == "else":
                if top:
                    raise _parse_error(self.src, pos, "unexpected {{else}}")
                if len(toks) > 1:
                    if toks[1].kind == "ident" and toks[1].text in ("if", "with"):
                        self._pending_else = (toks[1].text, toks[2:], pos)
                        return nodes, "elseif"
                    raise _parse_error(self.src, pos, "unexpected token after else")
                return nodes, "else"
            if head.kind == "ident" and head.text in ("define", "template", "block", "break"):
                raise _parse_error(self.src, pos, f"{{{{{head.text}}}}} is not supported")
            pipe = self.parse_pipe(toks, pos, allow_decl=True)
            nodes.append(("action", pipe))
        if not top:
            return nodes, "eof"
        return nodes, "eof"

    def _else_if(self, stop: str) -> Any:
        kind, toks, pos = self._pending_else
        pipe = self.parse_pipe(toks, pos, allow_decl=True)
        body, stop2 = self.parse_list()
        else_nodes: list[Any] = []
        if stop2 == "else":
            else_nodes, stop2 = self.parse_list()
        elif stop2.startswith("elseif"):
            else_nodes = [self._else_if(stop2)]
            stop2 = "end"
        if stop2 != "end":
            raise _parse_error(self.src, pos, f"unexpected EOF in {kind}")
        return (kind, pipe, body, else_nodes)

    def parse_pipe(self, toks: list[_Tok], pos: int, allow_decl: bool = False) -> Any:
        decl: list[str] = []
        assign = False
        # $x := ... | $k, $v := ... | $x = ...
        if allow_decl and toks and toks[0].kind == "var":
            j = 0
            names = []
            while j < len(toks) and toks[j].kind == "var":
                names.append(toks[j].text)
                j += 1
                if j < len(toks) and toks[j].kind == "comma":
                    j += 1
                    continue
                break
            if j < len(toks) and toks[j].kind in ("decl", "assign"):
                decl = names
                assign = toks[j].kind == "assign"
                toks = toks[j + 1 :]
        cmds: list[list[Any]] = []
        cur: list[_Tok] = []
        depth = 0
        for t in toks:
            if t.kind == "lparen":
                depth += 1
            elif t.kind == "rparen":
                depth -= 1
                if depth < 0:
                    raise _parse_error(self.src, pos, "unexpected right paren")
            if t.kind == "pipe" and depth == 0:
                cmds.append(self.parse_cmd(cur, pos))
                cur = []
            else:
                cur.append(t)
        if depth:
            raise _parse_error(self.src, pos, "unclosed left paren")
        cmds.append(self.parse_cmd(cur, pos))
        return (decl, assign, cmds)

    def parse_cmd(self, toks: list[_Tok], pos: int) -> list[Any]:
        if not toks:
            raise _parse_error(self.src, pos, "missing value for command")
        out: list[Any] = []
        j = 0
        while j < len(toks):
            t = toks[j]
            if t.kind == "lparen":
                depth = 1
                k = j + 1
                while k < len(toks) and depth:
                    if toks[k].kind == "lparen":
                        depth += 1
                    elif toks[k].kind == "rparen":
                        depth -= 1
                    k += 1
                inner = self.parse_pipe(toks[j + 1 : k - 1], pos)
                operand: Any = ("pipe", inner)
                j = k
                # (x).Field chains
                if j < len(toks) and toks[j].kind == "field" and toks[j].pos == toks[k - 1].pos + 1:
                    operand = ("chain", operand, toks[j].text[1:].split("."))
                    j += 1
                out.append(operand)
                continue
            if t.kind == "field":
                out.append(("field", "", t.text[1:].split(".")))
            elif t.kind == "dot":
                out.append(("field", "", []))
            elif t.kind == "var":
                name, _, rest = t.text.partition(".")
                out.append(("field", name, rest.split(".") if rest else []))
            elif t.kind == "str":
                out.append(("lit", t.text))
            elif t.kind == "num":
                out.append(("lit", _number(t.text, self.src, pos)))
            elif t.kind == "bool":
                out.append(("lit", t.text == "true"))
            elif t.kind == "nil":
                out.append(("lit", None))
            elif t.kind == "ident":
                if t.text not in FUNCS:
                    raise _parse_error(self.src, pos, f'function "{t.text}" not defined')
                out.append(("ident", t.text))
            else:
                raise _parse_error(self.src, pos, f"unexpected {t.text!r} in operand")
            j += 1
        return out


def _number(text: str, src: str, pos: int) -> int | float:
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise _parse_error(src, pos, f"bad number syntax: {text!r}")


# ---------------------------------------------------------------- printing


def go_float(f: float) -> str:
    """Go's %v for a float64: shortest digits; an exponent from 1e+06 up and below 1e-4."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    r = repr(f)
    mant, _, exp_s = r.partition("e")
    digits = mant.replace("-", "").replace(".", "").lstrip("0") or "0"
    # decimal exponent of the first significant digit
    import math

    exp = math.floor(math.log10(abs(f)))
    if exp < -4 or exp >= 6:
        nd = len(digits.rstrip("0")) or 1
        text = f"{f:.{max(nd - 1, 0)}e}"
        m, _, e = text.partition("e")
        sign = e[0]
        e_digits = e[1:].lstrip("0").rjust(2, "0")
        return f"{m}e{sign}{e_digits}"
    if exp_s:
        return f"{f:f}".rstrip("0").rstrip(".")
    return mant[:-2] if mant.endswith(".0") else mant


def go_str(v: object) -> str:
    """Go's %v."""
    if isinstance(v, str):
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "<nil>"
    if v is NO_VALUE:
        return "<no value>"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(v[k])}" for k in sorted(v, key=str)) + "]"
    return str(v)


def _truth(v: object) -> bool:
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, (bool, int, float, str, list, tuple, dict)):
        return bool(v)
    return True


# --------------------------------------------------------------- functions


def _json(v: object) -> str:
    import json

    return json.dumps(_plain(v), ensure_ascii=False, separators=(",", ":"))


def _plain(v: object) -> object:
    if v is NO_VALUE:
        return None
    if isinstance(v, (dict, list, tuple, str, int, float, bool)) or v is None:
        return v
    to_json = getattr(v, "to_json", None)
    if callable(to_json):
        return to_json()
    # a formatting context: its public fields and properties, sorted (as docker's)
    names = {n for n in vars(v) if not n.startswith("_")} if hasattr(v, "__dict__") else set()
    names |= {n for n in dir(type(v)) if isinstance(getattr(type(v), n, None), property)}
    return {n: _plain(getattr(v, n)) for n in sorted(names) if not n.startswith("_")}


def _index(v: object, *keys: object) -> object:
    for k in keys:
        if v is None or v is NO_VALUE:
            raise _ExecError("index of untyped nil")
        if isinstance(v, dict):
            v = v.get(k, NO_VALUE) if isinstance(k, str) else NO_VALUE
        elif isinstance(v, (list, tuple, str)):
            if not isinstance(k, int) or isinstance(k, bool):
                raise _ExecError(f"cannot index slice/array with type {type(k).__name__}")
            if not 0 <= k < len(v):
                raise _ExecError(f"error calling index: index out of range: {k}")
            v = v[k]
        else:
            raise _ExecError(f"can't index item of type {type(v).__name__}")
    return v


def _len(v: object) -> int:
    if isinstance(v, (list, tuple, dict, str)):
        return len(v)
    raise _ExecError(f"error calling len: len of type {type(v).__name__}")


def _title(s: object) -> str:
    text = go_str(s)
    out = []
    prev = " "
    for ch in text:
        out.append(ch.upper() if not (prev.isalnum() or prev == "_") else ch)
        prev = ch
    return "".join(out)


def _cmp(a: object, b: object) -> int:
    if (isinstance(a, bool) or isinstance(b, bool)) and type(a) is not type(b):
        raise _ExecError("incompatible types for comparison")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    if a is NO_VALUE or b is NO_VALUE or a is None or b is None:
        raise _ExecError("incompatible types for comparison")
    raise _ExecError("invalid type for comparison")


def _eq(a: object, *others: object) -> bool:
    if not others:
        raise _ExecError("missing argument for comparison")
    for b in others:
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            if isinstance(a, bool) != isinstance(b, bool):
                raise _ExecError("incompatible types for comparison")
            if a == b:
                return True
        elif type(a) is type(b) or (a is None) or (b is None):
            if a == b:
                return True
        else:
            raise _ExecError("incompatible types for comparison")
    return False


def _and(*args: object) -> object:
    for a in args:
        if not _truth(a):
            return a
    return args[-1]


def _or(*args: object) -> object:
    for a in args:
        if _truth(a):
            return a
    return args[-1]


def _print(*args: object) -> str:
    # fmt.Sprint: a space between operands when neither side is a string
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_str(a)
    return out


def _println(*args: object) -> str:
    return " ".join(go_str(a) for a in args) + "\n"


def _go_quote(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


def printf(fmt: str, *args: object) -> str:
    """Go's fmt.Sprintf for the verbs people use: v s d q x X f e g t c o b %."""
    out: list[str] = []
    i = 0
    n = len(fmt)
    argi = 0
    while i < n:
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = i + 1
        flags = ""
        while j < n and fmt[j] in "-+# 0":
            flags += fmt[j]
            j += 1
        width = ""
        while j < n and fmt[j].isdigit():
            width += fmt[j]
            j += 1
        prec = ""
        if j < n and fmt[j] == ".":
            prec = "."
            j += 1
            while j < n and fmt[j].isdigit():
                prec += fmt[j]
                j += 1
        if j >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        out.append(_format_one(verb, flags, width, prec, arg))
    if argi < len(args):
        extra = ", ".join(f"{type(a).__name__}={go_str(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(verb: str, flags: str, width: str, prec: str, arg: object) -> str:
    spec = "%" + flags.replace("#", "") + width
    try:
        if verb in "vs":
            text = go_str(arg)
            if prec:
                text = text[: int(prec[1:] or 0)]
            return (spec + "s") % text
        if verb == "q":
            return (spec + "s") % (_go_quote(arg) if isinstance(arg, str) else go_str(arg))
        if verb == "t":
            return (spec + "s") % go_str(arg)
        if verb in "dxXob" and isinstance(arg, int) and not isinstance(arg, bool):
            if verb == "b":
                return (spec + "s") % format(arg, "b")
            return (spec + verb) % arg
        if verb in "xX" and isinstance(arg, str):
            text = arg.encode().hex()
            return (spec + "s") % (text.upper() if verb == "X" else text)
        if verb in "feEgG" and isinstance(arg, (int, float)) and not isinstance(arg, bool):
            return (spec + prec + verb) % float(arg)
        if verb == "c" and isinstance(arg, int):
            return (spec + "s") % chr(arg)
    except (TypeError, ValueError, OverflowError):
        pass
    return f"%!{verb}({type(arg).__name__}={go_str(arg)})"


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "split": lambda s, sep: go_str(s).split(sep) if sep else list(go_str(s)),
    "join": lambda items, sep: sep.join(go_str(x) for x in (items or [])),
    "title": _title,
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "pad": lambda s, pre, post: " " * pre + go_str(s) + " " * post,
    "truncate": lambda s, n: go_str(s)[:n] if len(go_str(s)) >= n else go_str(s),
    "index": _index,
    "len": _len,
    "print": _print,
    "println": _println,
    "printf": printf,
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": lambda a, b: _cmp(a, b) < 0,
    "le": lambda a, b: _cmp(a, b) <= 0,
    "gt": lambda a, b: _cmp(a, b) > 0,
    "ge": lambda a, b: _cmp(a, b) >= 0,
    "and": _and,
    "or": _or,
    "not": lambda a: not _truth(a),
}


# -------------------------------------------------------------- execution


class _ExecError(Exception):
    pass


def _field(value: object, name: str) -> object:
    if value is None or value is NO_VALUE:
        return NO_VALUE
    if isinstance(value, dict):
        return value.get(name, NO_VALUE)
    if name.startswith("_"):
        raise _ExecError(f"can't evaluate field {name}")
    try:
        attr = getattr(value, name)
    except AttributeError:
        raise _ExecError(f"can't evaluate field {name} in type {type(value).__name__}")
    if callable(attr):
        attr = attr()
    return attr


class Template:
    """A parsed template; :meth:`execute` renders it on a value."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes = _Parser(text).parse()

    def execute(self, data: object) -> str:
        out: list[str] = []
        scopes: list[dict[str, object]] = [{"$": data}]
        try:
            self._run(self.nodes, data, scopes, out)
        except _ExecError as e:
            raise TemplateError(f'template: :1: executing "" : {e}') from None
        return "".join(out)

    def _run(
        self, nodes: list[Any], dot: object, scopes: list[dict[str, object]], out: list[str]
    ) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                decl, _, _ = node[1]
                value = self._pipe(node[1], dot, scopes)
                if not decl:
                    out.append(go_str(value))
            elif kind in ("if", "with"):
                value = self._pipe(node[1], dot, scopes)
                scopes.append({})
                try:
                    if _truth(value):
                        self._run(node[2], value if kind == "with" else dot, scopes, out)
                    else:
                        self._run(node[3], dot, scopes, out)
                finally:
                    scopes.pop()
            elif kind == "range":
                self._range(node, dot, scopes, out)

    def _range(
        self, node: Any, dot: object, scopes: list[dict[str, object]], out: list[str]
    ) -> None:
        decl, _, cmds = node[1]
        value = self._pipe(([], False, cmds), dot, scopes)
        if isinstance(value, dict):
            pairs: list[tuple[object, object]] = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, (list, tuple)):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        elif value is None or value is NO_VALUE:
            pairs = []
        else:
            raise _ExecError(f"range can't iterate over {go_str(value)}")
        if not pairs:
            scopes.append({})
            try:
                self._run(node[3], dot, scopes, out)
            finally:
                scopes.pop()
            return
        for key, item in pairs:
            scope: dict[str, object] = {}
            if len(decl) == 1:
                scope[decl[0]] = item
            elif len(decl) == 2:
                scope[decl[0]] = key
                scope[decl[1]] = item
            scopes.append(scope)
            try:
                self._run(node[2], item, scopes, out)
            finally:
                scopes.pop()

    def _pipe(self, pipe: Any, dot: object, scopes: list[dict[str, object]]) -> object:
        decl, assign, cmds = pipe
        value: object = _UNSET
        for cmd in cmds:
            value = self._cmd(cmd, dot, scopes, value)
        if decl:
            if assign:
                for scope in reversed(scopes):
                    if decl[0] in scope:
                        scope[decl[0]] = value
                        break
                else:
                    raise _ExecError(f"undefined variable: {decl[0]}")
            else:
                scopes[-1][decl[-1]] = value
        return value

    def _cmd(
        self, cmd: list[Any], dot: object, scopes: list[dict[str, object]], piped: object
    ) -> object:
        first = cmd[0]
        if first[0] == "ident":
            args = [self._operand(op, dot, scopes) for op in cmd[1:]]
            if piped is not _UNSET:
                args.append(piped)
            try:
                return FUNCS[first[1]](*args)
            except _ExecError:
                raise
            except TypeError:
                raise _ExecError(f"wrong number or type of args for {first[1]}")
        if len(cmd) > 1 or piped is not _UNSET:
            method = self._method(first, dot, scopes)
            if method is None:
                raise _ExecError("can't give argument to non-function")
            args = [self._operand(op, dot, scopes) for op in cmd[1:]]
            if piped is not _UNSET:
                args.append(piped)
            try:
                return method(*args)
            except TypeError:
                raise _ExecError(f"wrong number or type of args for {first[2][-1]}") from None
        return self._operand(first, dot, scopes)

    def _method(self, op: Any, dot: object, scopes: list[dict[str, object]]) -> Any:
        """A method taking arguments, as Go templates call them: ``{{.Label "key"}}``
        on the rows berth's commands give (exported, capitalised names only)."""
        if op[0] != "field" or not op[2] or not op[2][-1][:1].isupper():
            return None
        receiver = self._operand(("field", op[1], op[2][:-1]), dot, scopes)
        if type(receiver).__module__ == "builtins":
            return None
        method = getattr(type(receiver), op[2][-1], None)
        return getattr(receiver, op[2][-1]) if callable(method) else None

    def _operand(self, op: Any, dot: object, scopes: list[dict[str, object]]) -> object:
        kind = op[0]
        if kind == "lit":
            return op[1]
        if kind == "field":
            base, names = op[1], op[2]
            if base:
                for scope in reversed(scopes):
                    if base in scope:
                        value = scope[base]
                        break
                else:
                    raise _ExecError(f"undefined variable: {base}")
            else:
                value = dot
            for name in names:
                value = _field(value, name)
            return value
        if kind == "pipe":
            return self._pipe(op[1], dot, scopes)
        if kind == "chain":
            value = self._operand(op[1], dot, scopes)
            for name in op[2]:
                value = _field(value, name)
            return value
        if kind == "ident":
            return FUNCS[op[1]]()
        raise _ExecError(f"bad operand {op!r}")


_UNSET = object()


def parse_format(text: str) -> tuple[bool, str]:
    """Docker's preprocessing: (is table, template text with \\t and \\n unescaped)."""
    table = text.startswith("table")
    if table:
        text = text[len("table") :]
    text = text.strip(" ")
    return table, text.replace("\\t", "\t").replace("\\n", "\n")


class _HeaderRow:
    """The header context of a table: each field renders as its column title."""

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._headers.get(name, name.upper())


def render(
    fmt: str,
    rows: list[object],
    headers: dict[str, str] | None = None,
) -> str:
    """Render rows with a ``--format`` value (``table ...`` aligned, with a header)."""
    from berth.cli.tabwriter import align

    table, text = parse_format(fmt)
    tpl = Template(text)
    lines = []
    if table:
        header = Template(text).execute(_HeaderRow(headers or {}))
        lines.append(header)
    for row in rows:
        lines.append(tpl.execute(row))
    out = "".join(line + "\n" for line in lines)
    return align(out) if table else out
