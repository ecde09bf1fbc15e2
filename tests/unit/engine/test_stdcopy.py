from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.api.stdcopy import Demuxer, frame

frames = st.lists(st.tuples(st.integers(0, 3), st.binary(max_size=200)), max_size=10)


@given(frames, st.lists(st.integers(1, 50), min_size=1, max_size=20))
def test_any_split_gives_the_frames_back(items: list[tuple[int, bytes]], cuts: list[int]) -> None:
    wire = b"".join(frame(s, d) for s, d in items)
    d = Demuxer()
    out: list[tuple[int, bytes]] = []
    pos = 0
    i = 0
    while pos < len(wire):
        step = cuts[i % len(cuts)]
        out += d.feed(wire[pos : pos + step])
        pos += step
        i += 1
    assert out == items and d.pending == 0


def test_header_layout_and_bad_input() -> None:
    assert frame(1, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert frame(2, b"x" * 256)[:8] == b"\x02\x00\x00\x00\x00\x00\x01\x00"
    with pytest.raises(ValueError):
        frame(4, b"")
    with pytest.raises(ValueError):
        Demuxer().feed(b"\x09\x00\x00\x00\x00\x00\x00\x01x")
    with pytest.raises(ValueError):
        Demuxer().feed(b"\x01\x01\x00\x00\x00\x00\x00\x01x")
