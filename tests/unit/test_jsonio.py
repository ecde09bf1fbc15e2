from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth import jsonio
from berth.errors import InvalidArgument

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20,
)


@given(values)
def test_same_as_json_module(value: object) -> None:
    text = json.dumps(value)
    assert jsonio.loads(text) == json.loads(text)
    assert json.loads(jsonio.dumps(value)) == value


def test_bytes_and_bom() -> None:
    assert jsonio.loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": }', "config.json: invalid JSON at line 1 column 7"),
        ("{}\n x", "config.json: extra data after the JSON value at line 2 column 2"),
        ("", "config.json: invalid JSON at line 1 column 1"),
        (b"\xff", "config.json: not valid UTF-8"),
    ],
)
def test_errors_name_the_document(text: str | bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        jsonio.loads(text, "config.json")
    assert str(e.value).startswith(message)


def test_compact_output() -> None:
    assert jsonio.dumps({"a": [1, "é", None]}) == '{"a":[1,"\\u00e9",null]}'
