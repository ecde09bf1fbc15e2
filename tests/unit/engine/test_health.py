"""Health checks: the probe from a config, Docker's validation and merging, the rules that
turn results into a status, and the CLI's --health-* flags."""

from __future__ import annotations

from typing import Any

import pytest

from berth.cli.flags import parse
from berth.cli.runopts import CREATE_FLAGS, build
from berth.durations import format as go_duration
from berth.engine.containers import health
from berth.engine.containers.health import Probe, apply_result, merge, validate
from berth.errors import InvalidArgument

S = 1_000_000_000


def result(code: int) -> dict[str, Any]:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": ""}


def test_probe_of_a_config_with_docker_defaults() -> None:
    assert Probe.of({}) is None
    assert Probe.of({"Healthcheck": {"Test": ["NONE"]}}) is None
    assert Probe.of({"Healthcheck": {"Test": []}}) is None
    p = Probe.of({"Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/"]}})
    assert p is not None
    assert p.cmd == ["/bin/sh", "-c", "curl -f http://localhost/"]
    assert (p.interval, p.timeout, p.start_period, p.start_interval, p.retries) == (
        30 * S,
        30 * S,
        0,
        5 * S,
        3,
    )
    p = Probe.of(
        {"Healthcheck": {"Test": ["CMD", "pg_isready", "-q"], "Interval": S, "Retries": 7}}
    )
    assert p is not None and p.cmd == ["pg_isready", "-q"] and p.interval == S and p.retries == 7


def test_validate_refuses_what_docker_refuses() -> None:
    validate({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 2 * S, "Retries": 1}})
    validate({"Healthcheck": {"Interval": S}})  # no Test: inherited from the image
    with pytest.raises(InvalidArgument, match="Interval in Healthcheck cannot be less than 1ms"):
        validate({"Healthcheck": {"Test": ["CMD", "true"], "Interval": 500_000}})
    with pytest.raises(InvalidArgument, match="StartPeriod in Healthcheck cannot be less"):
        validate({"Healthcheck": {"StartPeriod": -1}})
    with pytest.raises(InvalidArgument, match="Retries in Healthcheck cannot be negative"):
        validate({"Healthcheck": {"Retries": -2}})
    with pytest.raises(InvalidArgument, match="unknown kind 'SHELL'"):
        validate({"Healthcheck": {"Test": ["SHELL", "x"]}})
    with pytest.raises(InvalidArgument, match="CMD needs a command"):
        validate({"Healthcheck": {"Test": ["CMD"]}})
    with pytest.raises(InvalidArgument, match=r"Healthcheck\.Timeout: expected nanoseconds"):
        validate({"Healthcheck": {"Timeout": "30s"}})


def test_merge_fills_what_the_user_left_unset_from_the_image() -> None:
    image = {"Test": ["CMD", "check"], "Interval": 10 * S, "Retries": 5}
    assert merge(None, image) == image
    assert merge({"Test": ["NONE"]}, image) == {
        "Test": ["NONE"],
        "Interval": 10 * S,
        "Retries": 5,
    }
    assert merge({"Interval": 2 * S}, image) == {
        "Interval": 2 * S,
        "Test": ["CMD", "check"],
        "Retries": 5,
    }
    assert merge({"Test": ["CMD-SHELL", "x"]}, None) == {"Test": ["CMD-SHELL", "x"]}
    assert merge(None, None) is None


def test_results_make_the_status_as_docker() -> None:
    probe = Probe({"Test": ["CMD", "x"], "Retries": 2, "StartPeriod": 10 * S})
    h: dict[str, Any] = {"Status": "starting", "FailingStreak": 0, "Log": []}
    apply_result(h, probe, result(1), since_start=3.0)  # in the start period: not counted
    assert (h["Status"], h["FailingStreak"]) == ("starting", 0)
    apply_result(h, probe, result(1), since_start=11.0)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 1)
    apply_result(h, probe, result(-1), since_start=12.0)
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 2)
    apply_result(h, probe, result(0), since_start=13.0)
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 0)
    apply_result(h, probe, result(1), since_start=1.0)  # healthy once: the period is over
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 1)
    for _ in range(5):
        apply_result(h, probe, result(0), since_start=20.0)
    assert len(h["Log"]) == 5  # the last five results only


def test_status_text_and_filter_value() -> None:
    assert health.status_suffix({}) == ""
    assert health.status_suffix({"Health": {"Status": "starting"}}) == " (health: starting)"
    assert health.status_suffix({"Health": {"Status": "healthy"}}) == " (healthy)"
    assert health.health_status({}) == "none"
    assert health.health_status({"Health": {"Status": "unhealthy"}}) == "unhealthy"


def test_go_duration() -> None:
    assert [go_duration(n) for n in (0, 300_000_000, 30 * S, 90 * S, 3600 * S, 1_500_000)] == [
        "0s",
        "300ms",
        "30s",
        "1m30s",
        "1h0m0s",
        "1.5ms",
    ]


def body(*flags: str) -> dict[str, Any]:
    opts = parse(CREATE_FLAGS, [*flags, "busybox"], interspersed=False)
    doc, _ = build(opts, "busybox", [])
    return doc


def test_cli_health_flags() -> None:
    assert "Healthcheck" not in body()
    assert body("--no-healthcheck")["Healthcheck"] == {"Test": ["NONE"]}
    hc = body(
        "--health-cmd",
        "curl -f localhost",
        "--health-interval",
        "1m30s",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "4",
        "--health-start-period",
        "5s",
        "--health-start-interval",
        "1s",
    )["Healthcheck"]
    assert hc == {
        "Test": ["CMD-SHELL", "curl -f localhost"],
        "Interval": 90 * S,
        "Timeout": 300_000_000,
        "StartPeriod": 5 * S,
        "StartInterval": S,
        "Retries": 4,
    }
    assert body("--health-interval", "2s")["Healthcheck"] == {  # Test from the image
        "Interval": 2 * S,
        "Timeout": 0,
        "StartPeriod": 0,
        "StartInterval": 0,
        "Retries": 0,
    }
    with pytest.raises(InvalidArgument, match="conflicts with --health-\\* options"):
        body("--no-healthcheck", "--health-cmd", "true")
    with pytest.raises(InvalidArgument, match='invalid argument "x" for "--health-timeout" flag'):
        body("--health-timeout", "x")
    with pytest.raises(InvalidArgument, match="--health-retries cannot be negative"):
        body("--health-retries", "-1")
