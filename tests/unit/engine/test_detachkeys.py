"""Detach keys: Docker's --detach-keys text and the escape proxy that spots the sequence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.api.detachkeys import DEFAULT, EscapeProxy, parse, parse_or_default
from berth.errors import InvalidArgument


def test_parse() -> None:
    assert parse("ctrl-p,ctrl-q") == b"\x10\x11" == DEFAULT
    assert parse("ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_") == bytes(
        [0, 1, 26, 27, 28, 29, 30, 31]
    )
    assert parse("a,ctrl-b,c") == b"a\x02c"
    assert parse("CTRL-X") == b"\x18"
    assert parse_or_default(None) == parse_or_default("") == DEFAULT
    for bad in ("", "ctrl-", "ctrl-1", "ab", "ctrl-p,", "é"):
        with pytest.raises(InvalidArgument, match="Unknown character"):
            parse(bad)


def _run(keys: bytes, chunks: list[bytes]) -> tuple[bytes, bool]:
    p = EscapeProxy(keys)
    out = b""
    for c in chunks:
        data, done = p.feed(c)
        out += data
        if done:
            return out, True
    return out + p.flush(), False


def test_examples() -> None:
    assert _run(DEFAULT, [b"ls\n", b"\x10", b"\x11", b"more"]) == (b"ls\n", True)
    assert _run(DEFAULT, [b"a\x10b\x10\x11"]) == (b"a\x10b", True)
    assert _run(DEFAULT, [b"\x10\x10", b"x"]) == (b"\x10\x10x", False)
    assert _run(b"aab", [b"xaaab"]) == (b"xa", True)  # overlapping start found
    assert _run(DEFAULT, [b"end\x10"]) == (b"end\x10", False)  # held byte released at EOF


SMALL = st.sampled_from([0x10, 0x11, ord("a"), ord("b")])
chunked = st.lists(st.lists(SMALL, max_size=6).map(bytes), max_size=8)
keys_st = st.lists(SMALL, min_size=1, max_size=3).map(bytes)


@given(keys_st, chunked)
def test_output_is_the_input_up_to_the_first_sequence(keys: bytes, chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    out, detached = _run(keys, chunks)
    at = data.find(keys)
    if at < 0:
        assert (out, detached) == (data, False)
    else:
        assert detached and out == data[:at]


@given(keys_st, chunked)
def test_chunking_does_not_matter(keys: bytes, chunks: list[bytes]) -> None:
    whole = b"".join(chunks)
    assert _run(keys, chunks) == _run(keys, [whole]) == _run(keys, [bytes([b]) for b in whole])
