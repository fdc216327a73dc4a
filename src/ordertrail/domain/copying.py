"""Building and copying the domain's frozen dataclasses faster than `__init__` and `replace`."""

from __future__ import annotations

from typing import Any, TypeVar

_D = TypeVar("_D")


def changed(item: _D, **changes: Any) -> _D:
    """Return a copy of `item` with `changes`, like `dataclasses.replace` but about 5× faster.

    It copies the fields instead of running `__init__`, so it is only for plain frozen
    dataclasses (no `__post_init__`, no `InitVar`, no slots): the domain's messages and states.
    """
    fields = item.__dict__
    if not changes.keys() <= fields.keys():
        unknown = ", ".join(sorted(changes.keys() - fields.keys()))
        raise TypeError(f"{type(item).__name__} has no field {unknown}")
    copy = object.__new__(type(item))
    copy.__dict__.update(fields)
    copy.__dict__.update(changes)
    return copy


def built(kind: type[_D], /, **fields: Any) -> _D:
    """Return a `kind` holding exactly `fields`, like `kind(**fields)` but several times faster.

    For the same plain frozen dataclasses as `changed`, given every field: rows decoded by the
    thousand. Nothing is checked, so callers name every field (tests compare with `kind(...)`).
    """
    item = object.__new__(kind)
    item.__dict__.update(fields)
    return item
