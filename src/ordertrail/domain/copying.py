"""Copies of the domain's frozen dataclasses with some fields changed, cheaper than `replace`."""

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
