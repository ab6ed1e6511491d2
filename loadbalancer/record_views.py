"""Reading views of the log's record types: Structs that decode only what a reader takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

_View = TypeVar("_View", bound=type[msgspec.Struct])


def view_of(schema: type[msgspec.Struct]) -> Callable[[_View], _View]:
    """Marks a class as a reading view of a record type: a Struct that decodes only the fields a
    reader takes, each as loosely as it needs (a log may be hostile or of a later version). Each
    of its field names must be a field of ``schema`` (or ``event``): a renamed field fails at
    import, not silently in a reader."""

    def check(view: _View) -> _View:
        known = {"event", *schema.__struct_fields__}
        unknown = [field for field in view.__struct_fields__ if field not in known]
        if unknown:
            raise TypeError(
                f"{view.__name__}: {', '.join(unknown)}: not fields of {schema.__name__}"
            )
        return view

    return check
