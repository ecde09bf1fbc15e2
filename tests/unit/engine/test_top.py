"""docker top: ps arguments, ps output parsing, the retry without -q."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.engine.containers.top import (
    fields_ascii,
    parse_ps_output,
    pids_arg,
    top,
    validate_ps_args,
)
from berth.errors import BerthError, InvalidArgument

PS_EF = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 09:00 ?        00:00:01 /sbin/init
root        4242    4200  0 11:27 ?        00:00:00 sleep 300
nobody      4250    4242  1 11:28 pts/0    00:00:00 sh -c echo  two  spaces
"""


def test_parse_keeps_the_containers_rows_and_joins_the_command() -> None:
    doc = parse_ps_output(PS_EF, [4242, 4250])
    assert doc["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert doc["Processes"] == [
        ["root", "4242", "4200", "0", "11:27", "?", "00:00:00", "sleep 300"],
        ["nobody", "4250", "4242", "1", "11:28", "pts/0", "00:00:00", "sh -c echo two spaces"],
    ]
    assert parse_ps_output(PS_EF, [])["Processes"] == []


def test_parse_errors_and_threads() -> None:
    with pytest.raises(BerthError, match="Couldn't find PID field"):
        parse_ps_output("USER COMMAND\nroot x\n", [1])
    with pytest.raises(BerthError, match="Unexpected pid 'abc'"):
        parse_ps_output("PID CMD\nabc x\n", [1])
    threads = "PID LWP CMD\n7 7 a\n- 8 a\n"
    assert parse_ps_output(threads, [7])["Processes"] == [["7", "7", "a"]]


def test_fields_ascii_keeps_other_whitespace() -> None:
    assert fields_ascii(" a\tb \u00a0c\n") == ["a", "b", "\u00a0c"]


@given(
    st.lists(
        st.tuples(
            st.integers(1, 10**6),
            st.text(alphabet="abc -/", min_size=1, max_size=12).filter(str.strip),
        ),
        max_size=8,
        unique_by=lambda t: t[0],
    ),
    st.data(),
)
def test_parse_selects_exactly_the_pids(rows: list[tuple[int, str]], data: st.DataObject) -> None:
    text = "USER PID CMD\n" + "".join(f"root {pid} {cmd}\n" for pid, cmd in rows)
    chosen = data.draw(st.sets(st.sampled_from([p for p, _ in rows]))) if rows else set()
    doc = parse_ps_output(text, chosen)
    assert [int(p[1]) for p in doc["Processes"]] == [p for p, _ in rows if p in chosen]
    for proc, (_, cmd) in zip(doc["Processes"], [r for r in rows if r[0] in chosen], strict=True):
        assert len(proc) == 3 and proc[2] == " ".join(cmd.split())


def test_validate_ps_args() -> None:
    validate_ps_args("-ef")
    validate_ps_args("-o pid=PID,comm")  # the key is pid: allowed
    validate_ps_args("-o=PID")  # the first word is not checked, as Docker
    with pytest.raises(InvalidArgument, match='specifying "user=PID" is not allowed'):
        validate_ps_args("-o user=PID")
    with pytest.raises(InvalidArgument, match='specifying "x=PIDX" is not allowed'):
        validate_ps_args("aux -o x= PIDX")


def test_top_runs_ps_with_q_then_without() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str, str]:
        calls.append(argv)
        if any(a.startswith("-q") for a in argv):
            return 1, "", "error: conflicting format options\nusage..."
        return 0, PS_EF, ""

    doc = top([4242], "axf", run)
    assert calls == [["axf", pids_arg([4242])], ["axf"]]
    assert [p[1] for p in doc["Processes"]] == ["4242"]
    assert pids_arg([1, 2, 3]) == "-q1,2,3"


def test_top_default_args_and_ps_errors() -> None:
    seen: list[list[str]] = []

    def ok(argv: list[str]) -> tuple[int, str, str]:
        seen.append(argv)
        return 0, PS_EF, ""

    top([1], "", ok)
    assert seen == [["-ef", "-q1"]]

    def broken(argv: list[str]) -> tuple[int, str, str]:
        return 1, "", "error: unsupported option (BSD syntax)\nmore"

    with pytest.raises(BerthError, match=r"^ps: error: unsupported option \(BSD syntax\)$"):
        top([1], "-Z", broken)
