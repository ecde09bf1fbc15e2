"""Dockerfile parsing and shell words, against Docker's documented behaviour."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.build.dockerfile import (
    Instruction,
    arg_decl,
    expand,
    fields,
    key_values,
    parse,
    parse_duration,
    parse_instruction,
    stage,
    words,
)
from berth.errors import InvalidArgument


def one(text: str) -> Instruction:
    """The instruction after a FROM line."""
    return parse("FROM scratch\n" + text).instructions[1]


def error(text: str) -> str:
    with pytest.raises(InvalidArgument) as e:
        parse(text)
    return str(e.value)


# ------------------------------------------------------------------ lines


def test_continuations_comments_and_blank_lines() -> None:
    df = parse(
        "FROM busybox\n"
        "\n"
        "# a comment\n"
        "RUN apt-get update && \\\n"
        "    # comment inside a continuation\n"
        "\n"
        "    apt-get install -y x\n"
        "   # indented comment\n"
        "CMD x\n"
    )
    run = df.instructions[1]
    assert run.cmd == "run" and run.line == 4
    assert run.args == ["apt-get update &&     apt-get install -y x"]
    assert run.original == "RUN apt-get update &&     apt-get install -y x"
    assert df.instructions[2].line == 9
    assert len(df.instructions) == 3


def test_trailing_whitespace_after_escape_still_continues() -> None:
    run = one("RUN a \\  \t\n  b\n")
    assert run.args == ["a   b"]


def test_escaped_escape_at_end_is_not_a_continuation() -> None:
    df = parse("FROM a\nRUN echo \\\\\nRUN b\n")
    assert [i.args for i in df.instructions[1:]] == [["echo \\\\"], ["b"]]


def test_continuation_at_end_of_file() -> None:
    run = one("RUN a \\")
    assert (run.args, run.original) == (["a"], "RUN a ")


def test_crlf_line_endings() -> None:
    df = parse("FROM a\r\nRUN b \\\r\n c\r\n")
    assert df.instructions[1].args == ["b  c"]


def test_keywords_are_case_insensitive() -> None:
    df = parse("from alpine AS base\nrUn echo\nCopy a b\n")
    assert [i.cmd for i in df.instructions] == ["from", "run", "copy"]


def test_escape_directive_backtick() -> None:
    df = parse("# escape=`\nFROM windows\nRUN dir c:\\ `\n   d:\\\nCOPY a\\b c\\\n")
    assert df.escape == "`"
    assert df.instructions[1].args == ["dir c:\\    d:\\"]
    assert df.instructions[2].args == ["a\\b c\\"]


def test_syntax_and_check_directives_accepted() -> None:
    df = parse("# syntax=docker/dockerfile:1\n#check=skip=all\n# escape = `\nFROM a\n")
    assert df.escape == "`"


def test_directive_after_a_comment_is_a_comment() -> None:
    df = parse("# hello\n# escape=`\nFROM a\nRUN b \\\n c\n")
    assert df.escape == "\\"
    assert df.instructions[1].args == ["b  c"]


def test_directive_after_an_empty_line_is_a_comment() -> None:
    assert parse("\n# escape=`\nFROM a\n").escape == "\\"


def test_unknown_directive_ends_directives() -> None:
    assert parse("# foo=bar\n# escape=`\nFROM a\n").escape == "\\"


def test_duplicate_and_bad_directives() -> None:
    assert error("# escape=`\n# escape=\\\nFROM a\n") == (
        "Dockerfile parse error line 2: only one escape parser directive can be used"
    )
    assert "invalid escape token 'x' does not match ` or \\" in error("# escape=x\nFROM a\n")


def test_bom_is_dropped() -> None:
    assert parse("\ufeffFROM a\n").instructions[0].cmd == "from"


# ------------------------------------------------------------------ forms


def test_exec_and_shell_forms() -> None:
    cmd = one('CMD ["echo", "hi there"]')
    assert cmd.json and cmd.args == ["echo", "hi there"]
    shell = one("ENTRYPOINT echo hi")
    assert not shell.json and shell.args == ["echo hi"]
    broken = one('CMD ["echo", "hi"')  # not valid JSON: shell form, as Docker
    assert not broken.json and broken.args == ['["echo", "hi"']
    assert one("CMD []").json and one("CMD []").args == []


def test_json_array_must_hold_strings() -> None:
    assert error('FROM a\nCMD ["a", 1]') == (
        "Dockerfile parse error line 2: when using JSON array syntax, "
        "arrays must be comprised of strings only"
    )


def test_copy_flags_and_fields() -> None:
    c = one("COPY --from=builder --chown=1000:1000 --chmod=755 --link src1 src2 /dst/")
    assert c.flags == {"from": "builder", "chown": "1000:1000", "chmod": "755", "link": "true"}
    assert c.args == ["src1 src2 /dst/"]
    assert fields(c) == ["src1", "src2", "/dst/"]
    j = one('COPY ["a b", "/d e/"]')
    assert j.json and fields(j) == ["a b", "/d e/"]


def test_flag_values_quotes_and_repeats() -> None:
    r = one('RUN --mount=type=cache,target=/a --mount="type=tmpfs,target=/b" make')
    assert r.flag_values("mount") == ["type=cache,target=/a", "type=tmpfs,target=/b"]
    assert r.flags["mount"] == "type=tmpfs,target=/b"
    assert r.args == ["make"]
    assert one("COPY --link=FALSE a b").flags == {"link": "false"}
    assert one("RUN -- --not-a-flag").args == ["--not-a-flag"]


def test_from_forms() -> None:
    df = parse("FROM --platform=linux/amd64 golang:1.22 AS Build\nFROM scratch\n")
    f = df.instructions[0]
    assert f.flags == {"platform": "linux/amd64"}
    assert stage(f) == ("golang:1.22", "build")
    assert stage(df.instructions[1]) == ("scratch", None)


def test_healthcheck() -> None:
    h = one("HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/")
    assert h.cmd == "healthcheck" and h.args == ["CMD"]
    assert h.flags == {"interval": "5s", "retries": "3"}
    assert h.sub is not None and h.sub.cmd == "cmd"
    assert h.sub.args == ["curl -f http://localhost/"] and not h.sub.json
    j = one('HEALTHCHECK CMD ["curl", "x"]')
    assert j.sub is not None and j.sub.json and j.sub.args == ["curl", "x"]
    n = one("HEALTHCHECK none")
    assert n.args == ["NONE"] and n.sub is None


def test_onbuild() -> None:
    o = one("ONBUILD RUN echo  hi")
    assert o.sub is not None
    assert (o.sub.cmd, o.sub.args, o.sub.original) == ("run", ["echo  hi"], "RUN echo  hi")
    c = one("onbuild COPY --chown=1 a b")
    assert c.sub is not None and c.sub.flags == {"chown": "1"}


def test_onbuild_trigger_is_validated_only_when_parsed_alone() -> None:
    o = one("ONBUILD COPY onlyone")  # Docker accepts this until the trigger runs
    assert o.sub is not None
    with pytest.raises(InvalidArgument, match="COPY requires at least two arguments"):
        parse_instruction(o.sub.original)
    assert parse_instruction("RUN echo hi").args == ["echo hi"]


def test_maintainer_stopsignal_user_workdir_take_the_whole_rest() -> None:
    assert one("USER app:staff").args == ["app:staff"]
    assert one("WORKDIR /a b").args == ["/a b"]
    assert one("STOPSIGNAL SIGTERM").args == ["SIGTERM"]
    assert one("MAINTAINER Jane <j@example.com>").args == ["Jane <j@example.com>"]


def test_arg_before_from() -> None:
    df = parse("ARG VERSION=1\nFROM alpine:$VERSION\n")
    assert [i.cmd for i in df.instructions] == ["arg", "from"]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM a\n\nRUNN x", "line 3: unknown instruction: RUNN"),
        ("FROM", "line 1: FROM requires either one or three arguments"),
        ("FROM a b", "line 1: FROM requires either one or three arguments"),
        ("FROM a AS 1x", 'line 1: invalid name for build stage: "1x", name can'),
        ("FROM a\nENV x", "line 2: ENV must have two arguments"),
        ("FROM a\nENV", "line 2: ENV requires at least one argument"),
        ("FROM a\nLABEL", "line 2: LABEL requires at least one argument"),
        ("FROM a\nENV a=b c", 'line 2: Syntax error - can\'t find = in "c"'),
        ("FROM a\nENV =x", "line 2: ENV names can not be blank"),
        ("FROM a\nARG", "line 2: ARG requires at least one argument"),
        ("FROM a\nARG =x", "line 2: ARG names can not be blank"),
        ("FROM a\nEXPOSE", "line 2: EXPOSE requires at least one argument"),
        ("FROM a\nVOLUME", "line 2: VOLUME requires at least one argument"),
        ('FROM a\nVOLUME [""]', "line 2: VOLUME specified can not be an empty string"),
        ("FROM a\nUSER", "line 2: USER requires exactly one argument"),
        ("FROM a\nWORKDIR", "line 2: WORKDIR requires exactly one argument"),
        ("FROM a\nSTOPSIGNAL", "line 2: STOPSIGNAL requires exactly one argument"),
        ("FROM a\nMAINTAINER", "line 2: MAINTAINER requires exactly one argument"),
        ("FROM a\nCOPY a", "line 2: COPY requires at least two arguments, but only one"),
        ("FROM a\nADD", "line 2: ADD requires at least two arguments"),
        ("FROM a\nCOPY --foo a b", "line 2: Unknown flag: foo"),
        ("FROM a\nENV --foo=1 a=b", "line 2: Unknown flag: foo"),
        ("FROM --chown=1 a", "line 1: Unknown flag: chown"),
        ("FROM a\nCOPY --from=x --from=y a b", "line 2: Duplicate flag specified: from"),
        ("FROM a\nCOPY --chown a b", "line 2: Missing a value on flag: chown"),
        ("FROM a\nCOPY --link= a b", "line 2: Missing a value on flag: link"),
        ("FROM a\nCOPY --link=x a b", "line 2: Expecting boolean value for flag link, not: x"),
        ("FROM a\nONBUILD", "line 2: ONBUILD requires at least one argument"),
        ("FROM a\nONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("FROM a\nONBUILD FROM x", "line 2: FROM isn't allowed as an ONBUILD trigger"),
        ("FROM a\nONBUILD MAINTAINER x", "line 2: MAINTAINER isn't allowed as an ONBUILD"),
        ("FROM a\nSHELL", "line 2: SHELL requires at least one argument"),
        ("FROM a\nSHELL sh -c", "line 2: SHELL requires the arguments to be in JSON form"),
        ("FROM a\nHEALTHCHECK", "line 2: HEALTHCHECK requires at least one argument"),
        ("FROM a\nHEALTHCHECK NONE x", "line 2: HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK CMD", "line 2: Missing command after HEALTHCHECK CMD"),
        ("FROM a\nHEALTHCHECK X y", 'line 2: Unknown type "X" in HEALTHCHECK (try CMD)'),
        ("FROM a\nHEALTHCHECK --interval=x CMD y", 'time: invalid duration "x"'),
        ("FROM a\nHEALTHCHECK --timeout=5 CMD y", 'time: missing unit in duration "5"'),
        ("FROM a\nHEALTHCHECK --interval=1us CMD y", 'Interval "interval" cannot be less'),
        ("FROM a\nHEALTHCHECK --retries=-1 CMD y", "--retries cannot be negative (-1)"),
        ("FROM a\nHEALTHCHECK --retries=x CMD y", 'strconv.ParseInt: parsing "x"'),
        ("FROM a\nHEALTHCHECK --foo=1 CMD y", "line 2: Unknown flag: foo"),
        ("RUN x", "line 1: no build stage in current context"),
        ("ARG a\nENV b=c\nFROM x", "line 2: no build stage in current context"),
        ("FROM a\nRUN cat <<EOF\nhi\nEOF", "line 2: heredocs (<<EOF) are not supported"),
        ("FROM a\nCOPY <<-EOT /x\nEOT", "heredocs (<<-EOT) are not supported"),
    ],
)
def test_errors(text: str, message: str) -> None:
    assert message in error(text)
    assert error(text).startswith("Dockerfile parse error")


def test_empty_files() -> None:
    for text in ("", "\n\n", "# only a comment\n", "   \n# x\n"):
        assert "file with no instructions" in error(text)


def test_first_error_is_the_parser_stage_one() -> None:
    # Docker reports a JSON error found while reading lines before an instruction
    # error earlier in the file.
    assert "line 3: when using JSON" in error("FROM a\nCOPY a\nCMD [1]\n")


def test_not_heredocs() -> None:
    assert one('RUN echo "a<<b"').args == ['echo "a<<b"']
    assert one('RUN ["cat", "<<EOF"]').json
    assert one("RUN echo 1 <<").args == ["echo 1 <<"]


def test_stopsignal_and_arg_ignore_flags_as_docker_does() -> None:
    assert one("STOPSIGNAL --x SIGKILL").args == ["SIGKILL"]
    assert one("HEALTHCHECK --interval=1 NONE").args == ["NONE"]


def test_parse_duration() -> None:
    assert parse_duration("1m30s") == 90 * 10**9
    assert parse_duration("1.5h") == 5400 * 10**9
    assert parse_duration("250ms") == 250 * 10**6
    assert parse_duration("0") == 0
    assert parse_duration("-2s") == -2 * 10**9
    for bad in ("", "x", "5", "1d", ".s"):
        with pytest.raises(InvalidArgument):
            parse_duration(bad)


# ------------------------------------------------------------------ words

ENV = {"A": "1", "S": "a b", "E": "", "PATH": "/bin"}


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("$A", "1"),
        ("${A}", "1"),
        ("x${A}y", "x1y"),
        ("$A$A", "11"),
        ("$NOPE", ""),
        ("${NOPE}", ""),
        ("${NOPE:-def}", "def"),
        ("${E:-def}", "def"),
        ("${E-def}", ""),
        ("${NOPE-def}", "def"),
        ("${A:-def}", "1"),
        ("${A:+alt}", "alt"),
        ("${E:+alt}", ""),
        ("${E+alt}", "alt"),
        ("${NOPE+alt}", ""),
        ("${NOPE:-$A}", "1"),
        ("\\$A", "$A"),
        ("\\${A}", "${A}"),
        ("'$A'", "$A"),
        ('"$A"', "1"),
        ('"\\$A"', "$A"),
        ('"a\\b"', "a\\b"),
        ('"\\""', '"'),
        ("'a\\'", "a\\"),
        ('a"b c"d', "ab cd"),
        ("$", "$"),
        ("a$", "a$"),
        ("$1", ""),
        ("${PATH}:/usr/bin", "/bin:/usr/bin"),
        ("${S#a}", " b"),
        ("${S%b}", "a "),
        ("${PATH/bin/sbin}", "/sbin"),
        ("foo bar", "foo bar"),
        ("a\\ b", "a b"),
    ],
)
def test_expand(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


def test_expand_backtick_escape() -> None:
    assert expand("`$A", ENV, "`") == "$A"
    assert expand("c:\\dir", ENV, "`") == "c:\\dir"


@pytest.mark.parametrize(
    "word", ["${A", "${}", "${:a}", "'abc", '"abc', "${A:x}", "${NOPE?must}", "${E:?}"]
)
def test_expand_errors(word: str) -> None:
    with pytest.raises(InvalidArgument, match="failed to process"):
        expand(word, ENV)


def test_words() -> None:
    assert words("a  b\tc", ENV) == ["a", "b", "c"]
    assert words('"a b" c', ENV) == ["a b", "c"]
    assert words("'$A x' $A", ENV) == ["$A x", "1"]
    assert words("a\\ b", ENV) == ["a b"]
    # Docker's ProcessWords splits an unquoted expansion, not a quoted one
    assert words("$S", ENV) == ["a", "b"]
    assert words('"$S"', ENV) == ["a b"]
    assert words("8080 $NOPE 9090", ENV) == ["8080", "9090"]
    assert words("", ENV) == []


def test_key_values() -> None:
    env = one('ENV A=1 B="two words" C=$HOME D=\\$HOME E=')
    assert key_values(env, {"HOME": "/root"}) == [
        ("A", "1"),
        ("B", "two words"),
        ("C", "/root"),
        ("D", "$HOME"),
        ("E", ""),
    ]
    legacy = one("ENV MY_PATH  /opt/x  $HOME/bin")
    assert key_values(legacy, {"HOME": "/root"}) == [("MY_PATH", "/opt/x  /root/bin")]
    label = one('LABEL "com.example.vendor"="ACME Inc" version=1.0 multi="a \\\n b"')
    assert key_values(label, {}) == [
        ("com.example.vendor", "ACME Inc"),
        ("version", "1.0"),
        ("multi", "a  b"),
    ]


def test_arg_decl() -> None:
    arg = one('ARG a=1 b c="x y" d=$a')
    assert arg_decl(arg, {"a": "9"}) == [("a", "1"), ("b", None), ("c", "x y"), ("d", "9")]
    assert key_values(arg, {}) == [("a", "1"), ("b", ""), ("c", "x y"), ("d", "")]


def test_key_values_uses_the_files_escape() -> None:
    df = parse("# escape=`\nFROM a\nENV P=c:\\x Q=`$A\n")
    assert key_values(df.instructions[1], {"A": "1"}) == [("P", "c:\\x"), ("Q", "$A")]


def test_key_values_refuses_other_instructions() -> None:
    with pytest.raises(InvalidArgument):
        key_values(one("RUN x"), {})


# ------------------------------------------------------------------ properties

_word = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)


def _quote(w: str) -> str:
    return "'" + w.replace("'", "'\"'\"'") + "'"


@given(st.text(max_size=300))
def test_parse_raises_only_invalid_argument(text: str) -> None:
    try:
        df = parse(text)
    except InvalidArgument:
        return
    assert df.instructions
    for inst in df.instructions:
        assert inst.line >= 1
        assert isinstance(inst.args, list)


@given(
    st.lists(
        st.sampled_from(
            ["FROM a", "RUN x", "# c", "", "  ", "\\", "ENV a=b", 'CMD ["x"]', "RUN y \\", "ARG z"]
        ),
        max_size=12,
    )
)
def test_parse_line_soup(lines: list[str]) -> None:
    try:
        parse("\n".join(lines))
    except InvalidArgument as e:
        assert str(e).startswith("Dockerfile parse error")


@given(st.text(max_size=60), st.dictionaries(st.text(max_size=4), st.text(max_size=4)))
def test_expand_raises_only_invalid_argument(word: str, env: dict[str, str]) -> None:
    try:
        expand(word, env)
        words(word, env)
    except InvalidArgument:
        pass


@given(st.lists(_word, max_size=6))
def test_single_quoted_words_round_trip(ws: list[str]) -> None:
    assert words(" ".join(_quote(w) for w in ws), {}) == ws


@given(st.lists(_word, max_size=6))
def test_double_quoted_words_round_trip(ws: list[str]) -> None:
    text = " ".join(
        '"' + w.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"' for w in ws
    )
    assert words(text, {}) == ws


@given(_word)
def test_quoted_value_expands_verbatim(value: str) -> None:
    assert expand('"$V"', {"V": value}) == value
    assert expand("${V}", {"V": value}) == value


@given(st.text(alphabet="abc xyz$AB{}:-+\"'\\", max_size=30))
def test_expand_is_words_joined_for_plain_text(text: str) -> None:
    # without quotes or variables, expand keeps all the characters words splits on
    plain = text.replace("$", "").replace("\\", "").replace('"', "").replace("'", "")
    assert words(plain, {}) == plain.split()
    assert expand(plain, {}) == plain
