from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.cli.template import (
    Template,
    TemplateError,
    go_float,
    go_str,
    parse_format,
    printf,
    render,
)
from berth.errors import InvalidArgument

DOC = {
    "Id": "abcdef0123456789",
    "Name": "/web",
    "State": {"Running": True, "Pid": 42, "Status": "running", "ExitCode": 0},
    "Config": {
        "Env": ["A=1", "B=2"],
        "Labels": {"b": "2", "a": "1"},
        "Cmd": ["sh", "-c", "true"],
        "Entrypoint": None,
    },
    "Mounts": [{"Source": "/a", "Destination": "/x"}, {"Source": "/b", "Destination": "/y"}],
    "Ratio": 0.5,
    "Big": 1e21,
}


def x(text: str, data: object = DOC) -> str:
    return Template(text).execute(data)


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("{{.Id}}", "abcdef0123456789"),
        ("{{.State.Pid}} {{.State.Running}}", "42 true"),
        ("{{.Config.Env}}", "[A=1 B=2]"),
        ("{{.Config.Labels}}", "map[a:1 b:2]"),
        ("{{.Config.Entrypoint}}", "<nil>"),
        ("{{.Nope}}", "<no value>"),
        ("{{.Nope.Deeper}}", "<no value>"),
        ("{{json .Config.Cmd}}", '["sh","-c","true"]'),
        ("{{json .State}}", '{"Running":true,"Pid":42,"Status":"running","ExitCode":0}'),
        ('{{index .Config.Labels "a"}}', "1"),
        ("{{index .Config.Env 1}}", "B=2"),
        ('{{join .Config.Cmd " "}}', "sh -c true"),
        ('{{split "a/b/c" "/"}}', "[a b c]"),
        ('{{upper .Name}} {{lower "AB"}} {{title "hello world"}}', "/WEB ab Hello World"),
        ("{{truncate .Id 12}}", "abcdef012345"),
        ("{{pad .State.Status 1 2}}|", " running  |"),
        ("{{len .Mounts}}", "2"),
        ("{{.Name | upper}}", "/WEB"),
        (
            '{{printf "%s-%5d|%-4s|%.2f|%q|%x" .Name .State.Pid "ab" .Ratio "q" 255}}',
            '/web-   42|ab  |0.50|"q"|ff',
        ),
        ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/a:/x /b:/y "),
        ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"),
        ("{{range $i, $m := .Mounts}}{{$i}}{{$m.Source}}{{end}}", "0/a1/b"),
        ("{{range .Nope}}x{{else}}empty{{end}}", "empty"),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        ("{{if .State.ExitCode}}bad{{else if .State.Running}}run{{else}}no{{end}}", "run"),
        ("{{with .State}}{{.Status}}{{end}}", "running"),
        ("{{with .Nope}}x{{else}}none{{end}}", "none"),
        ('{{if eq .State.Status "running" "paused"}}y{{end}}', "y"),
        ("{{if and .State.Running (gt .State.Pid 1)}}ok{{end}}", "ok"),
        ("{{if or .Nope (not .State.ExitCode)}}ok{{end}}", "ok"),
        ('{{$n := .Name}}{{$n}}{{$n = "x"}}{{$n}}', "/webx"),
        ("{{(index .Mounts 1).Source}}", "/b"),
        ("a {{- .Name -}} b", "a/webb"),
        ("{{/* a comment */}}x", "x"),
        ("{{.Ratio}} {{.Big}}", "0.5 1e+21"),
        ("{{println .Name 1}}", "/web 1\n"),
        ("{{$}}", go_str(DOC)),
    ],
)
def test_execute(text: str, out: str) -> None:
    assert x(text) == out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.Id", "template parsing error: template: :1: unclosed action"),
        ("{{if .Id}}x", "unexpected EOF"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{nofunc .Id}}", 'function "nofunc" not defined'),
        ('{{"abc}}', "unterminated quoted string"),
        ('{{template "x"}}', "is not supported"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        Template(text)
    assert message in str(e.value)


def test_exec_errors() -> None:
    class Row:
        ID = "x"

    with pytest.raises(InvalidArgument, match="can't evaluate field Nope"):
        x("{{.Nope}}", Row())
    with pytest.raises(InvalidArgument, match="index out of range"):
        x("{{index .Mounts 5}}")
    with pytest.raises(InvalidArgument, match="undefined variable"):
        x("{{$z}}")


def test_objects_and_json_of_contexts() -> None:
    class Row:
        def __init__(self) -> None:
            self.ID = "abc"
            self._hidden = 1

        @property
        def Names(self) -> str:
            return "web"

    assert x("{{.ID}} {{.Names}}", Row()) == "abc web"
    assert json.loads(x("{{json .}}", Row())) == {"ID": "abc", "Names": "web"}


def test_parse_format_and_tables() -> None:
    assert parse_format("table {{.A}}\\t{{.B}}") == (True, "{{.A}}\t{{.B}}")
    assert parse_format("{{.A}}\\n") == (False, "{{.A}}\n")
    rows = [{"ID": "1", "Name": "alpha"}, {"ID": "22", "Name": "b"}]
    out = render("table {{.ID}}\t{{.Name}}", rows, {"ID": "CONTAINER ID", "Name": "NAMES"})
    assert out == "CONTAINER ID   NAMES\n1              alpha\n22             b\n"
    assert render("{{.ID}}:{{.Name}}", rows) == "1:alpha\n22:b\n"
    assert render("table {{.ID}}", []) == "ID\n"


def test_go_float() -> None:
    assert [go_float(f) for f in (1.0, 0.5, 1e6, 1e21, 1.5e-5, 123456789.0, -2.25)] == [
        "1",
        "0.5",
        "1e+06",
        "1e+21",
        "1.5e-05",
        "1.23456789e+08",
        "-2.25",
    ]


@given(st.text().filter(lambda t: "{{" not in t))
def test_text_without_actions_is_unchanged(text: str) -> None:
    assert Template(text).execute({}) == text


@given(st.integers(-(10**6), 10**6), st.text(max_size=10), st.integers(0, 12))
def test_printf_matches_go_for_simple_verbs(n: int, s: str, w: int) -> None:
    assert printf(f"%{w}d|%-{w}s|%v|%%", n, s, n) == f"{n:>{w}}|{s:<{w}}|{n}|%"
    assert printf("%d") == "%!d(MISSING)"


def test_methods_with_arguments_on_rows() -> None:
    from berth.cli.psformat import PsRow

    rows = [PsRow({"Names": "web"}, {"team": "a"}), PsRow({"Names": "db"}, {})]
    out = render('{{.Names}} [{{.Label "team"}}]', rows)  # type: ignore[arg-type]
    assert out == "web [a]\ndb []\n"
    # a method is not a field: {{json .}} shows Docker's fields only
    assert render("{{json .}}", rows[:1]) == '{"Names":"web"}\n'  # type: ignore[arg-type]
    with pytest.raises(TemplateError, match="can't give argument to non-function"):
        render('{{.Names "x"}}', rows)  # type: ignore[arg-type]
    # plain maps have no methods: their Go-looking keys are never called
    with pytest.raises(TemplateError, match="can't give argument to non-function"):
        render('{{.Get "x"}}', [{"Get": "v"}])
