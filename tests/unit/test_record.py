from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.oci.record import Record, camel, field


class Inner(Record):
    destination: str
    type: str | None = None
    options: tuple[str, ...] = ()


class Outer(Record):
    mounts: tuple[Inner, ...] = ()
    no_new_privileges: bool = False
    uid: int | None = None
    labels: dict[str, str] | None = None
    raw_id: str = field(json="ID", default="")


def test_camel_case_names() -> None:
    assert camel("no_new_privileges") == "noNewPrivileges"
    assert camel("args") == "args"


def test_round_trip_keeps_unknown_fields() -> None:
    doc = {
        "mounts": [{"destination": "/proc", "type": "proc", "x-new": {"a": 1}}],
        "noNewPrivileges": True,
        "ID": "abc",
        "future": [1, 2],
    }
    rec = Outer.from_json(doc)
    assert rec.mounts[0].destination == "/proc"
    assert rec.mounts[0].extra == {"x-new": {"a": 1}}
    assert rec.raw_id == "abc"
    assert rec.to_json() == doc


def test_frozen_and_replace() -> None:
    rec = Outer(uid=3)
    with pytest.raises(AttributeError):
        rec.uid = 4  # type: ignore[misc]
    assert rec.replace(uid=4).uid == 4
    assert rec.uid == 3
    assert rec == Outer(uid=3)
    assert hash(rec) == hash(Outer(uid=3))


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"mounts": [{"destination": 5}]},
            "mounts[0].destination: expected a string, got a number",
        ),
        ({"mounts": [{}]}, "mounts[0].destination: required field is missing"),
        ({"mounts": {}}, "mounts: expected an array, got an object"),
        ({"uid": True}, "uid: expected an integer, got a boolean"),
        ({"noNewPrivileges": 1}, "noNewPrivileges: expected a boolean, got a number"),
        ({"labels": {"a": 1}}, "labels.a: expected a string, got a number"),
    ],
)
def test_wrong_types_name_the_field(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        Outer.from_json(doc)
    assert str(e.value) == message


def test_not_an_object() -> None:
    with pytest.raises(InvalidArgument, match="expected an object, got an array"):
        Outer.from_json([])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(), kids, max_size=3),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.text().filter(lambda k: k not in ("mounts", "noNewPrivileges", "uid", "labels", "ID")),
        json_values,
        max_size=4,
    )
)
def test_unknown_fields_always_round_trip(extra: dict[str, object]) -> None:
    doc = {"uid": 1, **extra}
    assert Outer.from_json(doc).to_json() == doc
