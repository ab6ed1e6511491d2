"""JSON for every output (decision log, ``--json``): never ``NaN`` or ``Infinity``.

Python's :func:`json.dumps` writes a non-finite float as ``NaN``/``Infinity``, which is no JSON:
a reader of the decision log or of a ``--json`` line would fail on it. Inputs are checked where
they enter (meter plausibility, charger reads), so a non-finite number here is a bug elsewhere;
it becomes ``null`` (an unknown value, as JSON can say), and the encoder refuses any that is left.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any, path: str = "", found: list[str] | None = None) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by None; the path of each
    one replaced is appended to ``found`` when given (``chargers[0].measured_a[1]``)."""
    if isinstance(value, float) and not math.isfinite(value):
        if found is not None:
            found.append(path or "$")
        return None
    if isinstance(value, dict):
        return {k: finite(v, f"{path}.{k}" if path else str(k), found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """:func:`json.dumps` with non-finite numbers as null, refusing any that is left."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)
