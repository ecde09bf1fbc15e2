from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.cli.timeutil import format_local_nano, get_timestamp
from berth.cli.units import bytes_size, human_duration, human_size, parse_go_duration
from berth.errors import InvalidArgument


def test_sizes() -> None:
    assert human_size(0) == "0B"
    assert human_size(999) == "999B"
    assert human_size(1500) == "1.5kB"
    assert human_size(4_194_304) == "4.194MB"
    assert bytes_size(25276510208) == "23.54GiB"
    assert bytes_size(1024) == "1KiB"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (7200, "2 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_go_durations() -> None:
    assert parse_go_duration("1h30m") == 5400
    assert parse_go_duration("1.5s") == 1.5
    assert parse_go_duration("300ms") == pytest.approx(0.3)
    assert parse_go_duration("-2m") == -120
    assert parse_go_duration("0") == 0
    for bad in ("", "1", "1x", "h", "1..2s"):
        with pytest.raises(InvalidArgument):
            parse_go_duration(bad)


def test_timestamps() -> None:
    now = 1_700_000_000.0
    assert get_timestamp("10m", now) == str(int(now - 600))
    assert get_timestamp("1700000000", now) == "1700000000"
    assert get_timestamp("1700000000.5", now) == "1700000000.5"
    assert get_timestamp("0", now) == "0"
    assert get_timestamp("2023-11-14T22:13:20Z", now) == "1700000000.000000000"
    assert get_timestamp("2023-11-14T22:13:20.25Z", now) == "1700000000.250000000"
    assert get_timestamp("2023-11-14T23:13:20+01:00", now) == "1700000000.000000000"
    local = time.mktime((2023, 11, 14, 0, 0, 0, 0, 0, -1))
    assert get_timestamp("2023-11-14", now) == f"{int(local)}.000000000"
    for bad in ("yesterday", "2023-13-40", "12:00"):
        with pytest.raises(InvalidArgument, match="failed to parse value as time or duration"):
            get_timestamp(bad, now)


@given(st.integers(0, 4_000_000_000), st.integers(0, 999_999_999))
def test_local_nano_format(sec: int, nanos: int) -> None:
    text = format_local_nano(sec * 1_000_000_000 + nanos)
    assert text[19:29] == f".{nanos:09d}"
    assert text.endswith("Z") or text[-6] in "+-"
