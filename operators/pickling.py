"""Compact pickling of the dataclasses that recovery snapshots contain many of.

Bytewax pickles every changed key's state at the end of each epoch, so the
per-object overhead of the default pickle (a dict of field names per object)
costs snapshot time and recovery-store bytes. ``TupleState`` pickles a
dataclass's fields as a tuple in field order instead.

A field added at the end of a class later keeps older snapshots loadable: a
shorter tuple gets the new fields' defaults, and a dict from a snapshot written
before the class used ``TupleState`` is taken as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar

# Per class: the pickled fields, and a getter returning their values as a tuple.
_FIELDS: dict[type, tuple[dataclasses.Field[Any], ...]] = {}
_GETTERS: dict[type, Callable[[object], tuple[object, ...]]] = {}


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    found = _FIELDS.get(cls)
    if found is None:
        skip = getattr(cls, "not_pickled", ())
        found = _FIELDS[cls] = tuple(
            f for f in dataclasses.fields(cls) if f.init and f.name not in skip
        )
    return found


def _getter(cls: type) -> Callable[[object], tuple[object, ...]]:
    found = _GETTERS.get(cls)
    if found is None:
        names = [f.name for f in _fields(cls)]
        if len(names) >= 2:
            # attrgetter of two or more names returns a tuple, built in C.
            found = attrgetter(*names)
        else:
            found = lambda obj: tuple(  # noqa: E731
                getattr(obj, name) for name in names
            )
        _GETTERS[cls] = found
    return found


class TupleState:
    """Mixin for dataclasses: pickle the init fields as one tuple.

    Fields that are not init fields, and those a class names in
    ``not_pickled``, are left out; the class restores them itself.
    """

    not_pickled: ClassVar[tuple[str, ...]] = ()

    def __getstate__(self) -> tuple[object, ...]:
        """Return the init fields' values in field order."""
        return _getter(type(self))(self)

    def __setstate__(self, state: tuple[object, ...] | dict[str, object]) -> None:
        """Restore from a field tuple, filling defaults for fields added since."""
        if isinstance(state, dict):
            self.__dict__.update(state)
            return
        fields = _fields(type(self))
        if len(state) > len(fields):
            msg = (
                f"{type(self).__name__} snapshot has {len(state)} fields, "
                f"the class {len(fields)}: written by a newer version"
            )
            raise ValueError(msg)
        values = self.__dict__
        for field, value in zip(fields, state, strict=False):
            values[field.name] = value
        for field in fields[len(state) :]:
            if field.default_factory is not dataclasses.MISSING:
                values[field.name] = field.default_factory()
            elif field.default is not dataclasses.MISSING:
                values[field.name] = field.default
            else:
                msg = f"{type(self).__name__} snapshot lacks field {field.name}"
                raise ValueError(msg)
