"""Tuple pickling of state dataclasses, across added fields."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import pytest

from operators.pickling import TupleState


@dataclass
class Point(TupleState):
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


def test_round_trip() -> None:
    point = Point(1, 2, ["a"])
    assert pickle.loads(pickle.dumps(point)) == point


def test_state_is_a_tuple() -> None:
    assert Point(1, 2, ["a"]).__getstate__() == (1, 2, ["a"])


def test_shorter_tuple_gets_defaults() -> None:
    point = Point.__new__(Point)
    point.__setstate__((5,))
    assert point == Point(5, 0, [])


def test_default_factory_gives_a_fresh_value() -> None:
    first, second = Point.__new__(Point), Point.__new__(Point)
    first.__setstate__((1,))
    second.__setstate__((1,))
    first.tags.append("x")
    assert second.tags == []


def test_dict_from_an_older_pickle() -> None:
    point = Point.__new__(Point)
    point.__setstate__({"x": 3, "y": 4, "tags": []})
    assert point == Point(3, 4)


def test_longer_tuple_is_refused() -> None:
    point = Point.__new__(Point)
    with pytest.raises(ValueError, match="written by a newer version"):
        point.__setstate__((1, 2, [], "extra"))


def test_missing_required_field_is_refused() -> None:
    point = Point.__new__(Point)
    with pytest.raises(ValueError, match="lacks field x"):
        point.__setstate__(())


@dataclass
class Single(TupleState):
    value: int


def test_one_field_class_round_trip() -> None:
    single = Single(7)
    assert single.__getstate__() == (7,)
    assert pickle.loads(pickle.dumps(single)) == single
