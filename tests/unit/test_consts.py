from __future__ import annotations

import signal

import pytest

from berth.kernel.consts import CAPABILITIES, parse_signal


@pytest.mark.parametrize(
    ("text", "number"),
    [("KILL", 9), ("SIGTERM", 15), ("9", 9), ("sigusr1", 10), ("RTMIN+3", 37), ("RTMAX", 64)],
)
def test_parse_signal(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["", "0", "65", "SIGNOPE", "RTMIN+99"])
def test_parse_signal_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid signal"):
        parse_signal(text)


def test_signal_numbers_match_the_host() -> None:
    for name in ("HUP", "INT", "KILL", "TERM", "USR1", "CHLD", "WINCH", "STOP"):
        assert parse_signal(name) == getattr(signal, "SIG" + name)


def test_capability_numbers_are_dense() -> None:
    assert sorted(CAPABILITIES.values()) == list(range(len(CAPABILITIES)))
