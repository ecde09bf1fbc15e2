"""Conversions and value checks shared by the planners."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.cgroups import values as val
from berth.errors import InvalidArgument


@pytest.mark.parametrize(
    ("shares", "weight"), [(0, 0), (2, 1), (1024, 39), (262144, 10000), (1, 1), (10**7, 10000)]
)
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert val.shares_to_weight(shares) == weight


@given(st.integers(2, 262143))
def test_shares_to_weight_is_monotonic_and_in_range(shares: int) -> None:
    a, b = val.shares_to_weight(shares), val.shares_to_weight(shares + 1)
    assert 1 <= a <= b <= 10000


@pytest.mark.parametrize(("w", "io"), [(0, 0), (10, 1), (500, 4950), (1000, 10000)])
def test_blkio_to_io_weight(w: int, io: int) -> None:
    assert val.blkio_to_io_weight(w) == io


@pytest.mark.parametrize(
    ("limit", "swap", "v2"),
    [
        (None, None, None),
        (100, None, None),
        (-1, None, -1),
        (100, -1, -1),
        (100, 100, 0),
        (100, 300, 200),
    ],
)
def test_swap_v2(limit: int | None, swap: int | None, v2: int | None) -> None:
    assert val.swap_v2(limit, swap) == v2


@pytest.mark.parametrize(
    ("limit", "swap", "message"),
    [
        (None, 100, "needs a memory limit"),
        (-1, 100, "needs a memory limit"),
        (200, 100, "below the memory limit"),
        (100, -5, "not a size"),
    ],
)
def test_swap_v2_refuses(limit: int | None, swap: int, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        val.swap_v2(limit, swap)


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 8)), min_size=1, max_size=5))
def test_cpu_lists_accepted(ranges: list[tuple[int, int]]) -> None:
    text = ",".join(str(a) if n == 0 else f"{a}-{a + n}" for a, n in ranges)
    assert val.cpu_list(text, "x") == text


@pytest.mark.parametrize("bad", ["", " 0", "0-", "-1", "3-1", "a", "0,,1", "0-1-2"])
def test_cpu_lists_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="CPU/memory-node list"):
        val.cpu_list(bad, "linux.resources.cpu.cpus")


@given(st.text(max_size=8))
def test_cpu_list_never_crashes(text: str) -> None:
    try:
        val.cpu_list(text, "x")
    except InvalidArgument:
        pass


@pytest.mark.parametrize("good", ["2MB", "1GB", "64KB", "16GB"])
def test_page_sizes(good: str) -> None:
    assert val.page_size(good, "x") == good


@pytest.mark.parametrize("bad", ["2M", "MB", "0MB", "02MB", "2mb", "2 MB", "../MB"])
def test_page_sizes_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="hugepage size"):
        val.page_size(bad, "x")


@pytest.mark.parametrize(
    ("text", "value"),
    [("max\n", None), ("9223372036854771712\n", None), ("1048576\n", 1048576), ("-1", None)],
)
def test_parse_limit(text: str, value: int | None) -> None:
    assert val.parse_limit(text) == value
