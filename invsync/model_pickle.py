"""Compact pickling of the pydantic event models.

Bytewax pickles every item that crosses to another worker process, and the
recovery snapshots of the order step contain events too. Pydantic's own pickle
writes a dict of field names per object. It also writes each enum member as a
call to its class and each datetime with a call that rebuilds its timezone,
and loading runs all of these calls. ``CompactPickle`` writes the field values
as one tuple instead, with enum members as their values and UTC datetimes as
integer microseconds since the epoch. It loads them without validation, because
the values were validated when the object was first built.

Each pickle carries the class's field names as one string. A pickle written
before a field was added or removed still loads: removed fields are dropped and
added ones get their defaults. Objects pickled by pydantic's own format before
this class existed still load, because pydantic's ``__setstate__`` is
unchanged.
"""

from __future__ import annotations

import importlib
import types
import typing
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Field kinds: a value is pickled as it is, as an enum member's value, or as a
# UTC datetime's microseconds.
_PLAIN, _ENUM, _DATETIME = 0, 1, 2


class _Plan:
    """Pickling plan of one model class: field names, kinds and enum classes."""

    def __init__(self, cls: type[BaseModel]) -> None:
        self.name = f"{cls.__module__}:{cls.__qualname__}"
        fields = cls.model_fields
        self.names = tuple(fields)
        self.all_names = frozenset(fields)
        # Field names in order, carried by every pickle, so that a pickle
        # written before a field was added or removed still loads.
        self.layout = ",".join(self.names)
        # Masks of unset fields by the unset names, and field sets by the mask.
        self.masks: dict[frozenset[str], int] = {}
        self.fields_sets: dict[int, frozenset[str]] = {}
        self.kinds: list[tuple[int, int, Any]] = []
        for index, field in enumerate(fields.values()):
            kind, enum_class = _kind_of(field.annotation)
            if kind != _PLAIN:
                self.kinds.append((index, kind, enum_class))


_PLANS: dict[type, _Plan] = {}
# Model classes by "module:qualname". A pickle names its class by this string,
# which loads faster than a class reference that pickle looks up by import.
_CLASSES: dict[str, type[BaseModel]] = {}


def _plan(cls: type[BaseModel]) -> _Plan:
    found = _PLANS.get(cls)
    if found is None:
        found = _PLANS[cls] = _Plan(cls)
    return found


def _class_named(name: str) -> type[BaseModel]:
    found = _CLASSES.get(name)
    if found is None:
        module, _, qualname = name.partition(":")
        found = getattr(importlib.import_module(module), qualname)
        if not (isinstance(found, type) and issubclass(found, BaseModel)):
            msg = f"pickled model class {name} is not a pydantic model"
            raise TypeError(msg)
        _CLASSES[name] = found
    return found


def _kind_of(annotation: Any) -> tuple[int, Any]:
    """Return the pickling kind of a field annotation, and its enum class."""
    candidates = [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        candidates = [
            arg for arg in typing.get_args(annotation) if arg is not type(None)
        ]
    if len(candidates) == 1:
        (only,) = candidates
        if isinstance(only, type) and issubclass(only, Enum):
            return _ENUM, only
        if only is datetime:
            return _DATETIME, None
    return _PLAIN, None


def _pack_datetime(value: datetime) -> int | datetime:
    if value.tzinfo is UTC:
        return (value - _EPOCH) // _MICROSECOND
    # A datetime in another timezone is pickled as a datetime, keeping its zone.
    return value


def _rebuild(name: str, layout: str, values: tuple[Any, ...], unset: int) -> BaseModel:
    """Build a model from ``CompactPickle`` state without validating it again."""
    cls = _class_named(name)
    plan = _plan(cls)
    if layout != plan.layout:
        values, unset = _adapt(cls, plan, layout, values, unset)
    listed = list(values)
    for index, kind, enum_class in plan.kinds:
        value = listed[index]
        if value is None:
            continue
        if kind == _ENUM:
            listed[index] = enum_class._value2member_map_[value]
        elif isinstance(value, int):
            listed[index] = _EPOCH + timedelta(microseconds=value)
    names = plan.names
    fields_set = plan.fields_sets.get(unset)
    if fields_set is None:
        fields_set = plan.fields_sets[unset] = frozenset(
            name for bit, name in enumerate(names) if not unset >> bit & 1
        )
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", dict(zip(names, listed, strict=True)))
    object.__setattr__(model, "__pydantic_fields_set__", set(fields_set))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _adapt(
    cls: type[BaseModel],
    plan: _Plan,
    layout: str,
    values: tuple[Any, ...],
    unset: int,
) -> tuple[tuple[Any, ...], int]:
    """Map values pickled under an older field layout onto the current one.

    Removed fields are dropped, and added fields get their defaults and count
    as unset.

    Raises:
        ValueError: An added field has no default.
    """
    old_names = layout.split(",")
    old_values = dict(zip(old_names, values, strict=True))
    old_unset = {name for bit, name in enumerate(old_names) if unset >> bit & 1}
    adapted: list[Any] = []
    adapted_unset = 0
    for bit, (name, field) in enumerate(cls.model_fields.items()):
        if name in old_values:
            adapted.append(old_values[name])
            if name in old_unset:
                adapted_unset |= 1 << bit
            continue
        if field.is_required():
            msg = (
                f"pickled {cls.__name__} lacks field {name!r}, which has no "
                "default, so it cannot be loaded"
            )
            raise ValueError(msg)
        adapted.append(
            _packed_default(plan, bit, field.get_default(call_default_factory=True))
        )
        adapted_unset |= 1 << bit
    return tuple(adapted), adapted_unset


def _packed_default(plan: _Plan, index: int, value: Any) -> Any:
    """Return a default value in the packed form ``_rebuild`` converts back."""
    for kind_index, kind, _ in plan.kinds:
        if kind_index == index and value is not None:
            return value.value if kind == _ENUM else _pack_datetime(value)
    return value


class CompactPickle:
    """Mixin for pydantic models: pickle as a tuple of field values."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Return the rebuild function and the packed field values."""
        assert isinstance(self, BaseModel)
        cls = type(self)
        plan = _plan(cls)
        values = self.__dict__
        listed = [values[name] for name in plan.names]
        for index, kind, _ in plan.kinds:
            value = listed[index]
            if value is None:
                continue
            if kind == _ENUM:
                listed[index] = value.value
            else:
                listed[index] = _pack_datetime(value)
        unset_names = plan.all_names.difference(self.__pydantic_fields_set__)
        unset = plan.masks.get(unset_names) if unset_names else 0
        if unset is None:
            unset = plan.masks[unset_names] = sum(
                1 << bit for bit, name in enumerate(plan.names) if name in unset_names
            )
        return (_rebuild, (plan.name, plan.layout, tuple(listed), unset))
