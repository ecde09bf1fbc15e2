"""The CLI framework: help, usage errors, exit codes, daemon errors, output."""

from __future__ import annotations

import pytest

from berth.api.request import Request
from berth.api.router import Router
from berth.cli.main import main
from berth.errors import Conflict
from support.engine_server import serving


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert out.startswith("\nUsage:  berth [OPTIONS] COMMAND\n")
    assert "\nManagement Commands:\n" in out and "\n  system      Manage berth\n" in out
    assert "  version     Show the berth version information\n" in out
    assert "  -H, --host list" in out
    assert (
        run(
            capsys,
        )[1]
        == out
    )


def test_group_and_command_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "system")
    assert code == 0 and "\nUsage:  berth system COMMAND\n" in out
    assert "  df          Show berth disk usage\n" in out
    code, out, _ = run(capsys, "version", "--help")
    assert code == 0
    assert out == (
        "\nUsage:  berth version [OPTIONS]\n\nShow the berth version information\n\n"
        "Options:\n  -f, --format string   Format the output using the given Go template\n"
    )
    code, out, _ = run(capsys, "events", "-h")
    assert code == 0 and "  -f, --filter filter   Filter output" in out


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "version", "--nope") == (
        125,
        "",
        "unknown flag: --nope\nSee 'berth version --help'.\n",
    )
    code, _, err = run(capsys, "info", "x")
    assert code == 1
    assert err == (
        "\"berth info\" accepts no arguments.\nSee 'berth info --help'.\n\n"
        "Usage:  berth info [OPTIONS]\n\nDisplay system-wide information\n"
    )
    assert run(capsys, "nope")[0] == 1
    assert run(capsys, "system", "nope")[0] == 1
    code, _, err = run(capsys, "--nope")
    assert code == 125 and err.startswith("unknown flag: --nope\nSee 'berth --help'.\n")
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("berth version 0.1.0, build ")


def test_cannot_connect(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BERTH_NO_AUTOSTART", "1")
    code, out, err = run(capsys, "-H", "unix:///nonexistent/berth.sock", "version")
    assert code == 1
    assert out.startswith("Client:\n Version:           0.1.0\n")  # as docker: client first
    assert err == (
        "Cannot connect to the berth daemon at unix:///nonexistent/berth.sock."
        " Is the berth daemon running?\n"
    )


def test_daemon_errors_and_templates(capsys: pytest.CaptureFixture[str]) -> None:
    def register(router: Router) -> None:
        def info(req: Request) -> object:
            raise Conflict("the engine is busy")

        def df(req: Request) -> object:
            return {
                "LayersSize": 2_000_000,
                "Images": [{"Containers": 1, "Size": 1_500_000, "SharedSize": 0}, {}],
                "Containers": [{"State": "running", "SizeRw": 10}, {"State": "exited"}],
                "Volumes": [],
                "BuildCache": None,
            }

        def version(req: Request) -> object:
            return {"Version": "9.9", "ApiVersion": "1.45", "Components": []}

        router.add("GET", "/info", info)
        router.add("GET", "/system/df", df)
        router.add("GET", "/version", version)

    with serving(register) as (path, _):
        host = f"unix://{path}"
        code, _, err = run(capsys, "-H", host, "info", "--format", "{{.ID}}")
        assert (code, err) == (1, "Error response from daemon: the engine is busy\n")
        code, out, _ = run(capsys, "-H", host, "system", "df")
        assert code == 0
        assert out.splitlines() == [
            "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE",
            "Images          2         1         2MB       500kB (25%)",
            "Containers      2         1         10B       0B (0%)",
            "Local Volumes   0         0         0B        0B",
            "Build Cache     0         0         0B        0B",
        ]
        code, out, _ = run(capsys, "-H", host, "system", "df", "--format", "{{.Type}}={{.Size}}")
        assert out.splitlines()[0] == "Images=2MB"
        code, out, _ = run(capsys, "-H", host, "version", "-f", "{{.Server.Version}}")
        assert (code, out) == (0, "9.9\n")
        code, _, err = run(capsys, "-H", host, "version", "-f", "{{.Server.Version")
        assert code == 1 and "template parsing error" in err
