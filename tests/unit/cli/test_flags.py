from __future__ import annotations

import pytest

from berth.cli.flags import Flag, parse, usage_lines
from berth.errors import InvalidArgument

RUN = [
    Flag("-d", "--detach", help="Run in the background"),
    Flag("-i", "--interactive"),
    Flag("-t", "--tty"),
    Flag("--rm"),
    Flag("--name", kind="str"),
    Flag("-e", "--env", kind="list"),
    Flag("-p", "--publish", kind="list"),
    Flag("-m", "--memory", kind="str"),
    Flag("--cpu-shares", kind="int"),
]


def test_docker_style_run_line() -> None:
    p = parse(
        RUN,
        [
            "-it",
            "--rm",
            "--name=web",
            "-e",
            "A=1",
            "-eB=2",
            "-dp",
            "80:80",
            "busybox",
            "sh",
            "-c",
            "x",
        ],
        interspersed=False,
    )
    assert (p.interactive, p.tty, p.rm, p.detach) == (True, True, True, True)
    assert p.name == "web"
    assert p.env == ["A=1", "B=2"]
    assert p.publish == ["80:80"]
    assert p.args == ["busybox", "sh", "-c", "x"]
    assert p.given == {"interactive", "tty", "rm", "name", "env", "detach", "publish"}


def test_interspersed_and_double_dash() -> None:
    p = parse(RUN, ["a", "--rm", "b", "--", "-d"])
    assert p.rm and not p.detach
    assert p.args == ["a", "b", "-d"]


def test_bool_values_and_ints() -> None:
    p = parse(RUN, ["--rm=false", "--cpu-shares", "0x10", "-d=true"])
    assert p.rm is False and p.detach is True and p.cpu_shares == 16


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nope"], "unknown flag: --nope"),
        (["-x"], "unknown shorthand flag: 'x' in -x"),
        (["--name"], "flag needs an argument: --name"),
        (["-m"], "flag needs an argument: 'm' in -m"),
        (
            ["--cpu-shares", "many"],
            'invalid argument "many" for "--cpu-shares" flag: invalid syntax',
        ),
        (["--rm=maybe"], 'invalid argument "maybe" for "--rm" flag: invalid syntax'),
    ],
)
def test_errors(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        parse(RUN, argv)
    assert str(e.value) == message


def test_usage() -> None:
    lines = usage_lines(RUN[:1] + RUN[4:5])
    assert lines[0].startswith("  -d, --detach") and lines[0].endswith("Run in the background")
    assert lines[1].startswith("      --name string")
