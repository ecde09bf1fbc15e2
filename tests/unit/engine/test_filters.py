from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.engine.filters import Filters, from_flags, parse, to_json
from berth.errors import InvalidArgument


def test_both_wire_shapes() -> None:
    a = parse('{"status": {"running": true, "paused": false}, "label": {"a=b": true}}')
    b = parse('{"status": ["running"], "label": ["a=b"]}')
    assert a.get("status") == b.get("status") == ["running"]
    assert a.get("label") == ["a=b"]
    assert not parse("")
    assert parse("{}") == Filters()


@pytest.mark.parametrize("text", ["{bad", "[1]", '{"a": 1}', '{"a": [1]}', '{"a": {"x": 1}}'])
def test_bad_filters(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid filters"):
        parse(text)


def test_matching() -> None:
    f = Filters({"name": ["web"], "id": ["abc"], "label": ["a", "b=2"], "dangling": ["true"]})
    assert f.exact("name", "web") and not f.exact("name", "webx")
    assert f.fuzzy("id", "abcdef") and not f.fuzzy("id", "xabc")
    assert f.exact("other", "anything")
    assert f.labels("label", {"a": "x", "b": "2"})
    assert not f.labels("label", {"a": "x", "b": "3"})
    assert not f.labels("label", {"b": "2"})
    assert not f.labels("label", None)
    assert f.bool_value("dangling") is True
    assert f.bool_value("nothing") is None
    with pytest.raises(InvalidArgument):
        Filters({"dangling": ["maybe"]}).bool_value("dangling")
    f.validate(["name", "id", "label", "dangling"])
    with pytest.raises(InvalidArgument, match="invalid filter 'id'"):
        f.validate(["name", "label", "dangling"])


def test_cli_flags() -> None:
    f = from_flags(["Type=container", "label=a=b", " event = start ", ""])
    assert f.get("type") == ["container"]
    assert f.get("label") == ["a=b"]
    assert f.get("event") == ["start"]
    with pytest.raises(InvalidArgument, match=r"bad format of filter \(expected name=value\)"):
        from_flags(["nope"])


keys = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=8)


@given(st.dictionaries(keys, st.sets(st.text(max_size=8), min_size=1, max_size=3)))
def test_round_trip(fields: dict[str, set[str]]) -> None:
    f = Filters(fields)
    assert parse(to_json(f)) == f
