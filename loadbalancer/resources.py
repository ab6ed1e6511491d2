"""Files shipped with the package: bundled fuse and charger profiles, example site and captures.

They live at the top of the repository (``profiles/``, ``examples/``) and are installed inside
the package as ``loadbalancer.profiles`` and ``loadbalancer.examples`` (see pyproject.toml), so
they are found the same way from a checkout, an editable install and a plain ``pip install .``.
"""

from __future__ import annotations

import difflib
import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Literal

ProfileKind = Literal["fuses", "chargers"]

#: what a bundled name looks like: a file stem, never a path (``../x`` is a path)
_BUNDLED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def profiles_dir(kind: ProfileKind) -> Traversable:
    """The folder of bundled profiles of one kind."""
    return resources.files("loadbalancer.profiles").joinpath(kind)


def bundled_profile_names(kind: ProfileKind) -> list[str]:
    """Names (file stems) of the bundled profiles of one kind, sorted."""
    folder = profiles_dir(kind)
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(".yaml")
    )


def bundled_profile(kind: ProfileKind, name: str) -> Traversable | None:
    """The bundled profile called ``name``, or None."""
    if not _BUNDLED_NAME.fullmatch(name):
        return None
    candidate = profiles_dir(kind).joinpath(f"{name}.yaml")
    return candidate if candidate.is_file() else None


def unknown_profile(kind: ProfileKind, name: str, what: str) -> str:
    """The problem for a profile ``name`` that is neither bundled nor a file: the name as
    written, the nearest bundled names and the bundled list."""
    known = bundled_profile_names(kind)
    shown = repr(name) if len(name) <= 80 else f"{name[:79]!r}…"
    near = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    listing = ", ".join(known)
    return f"{shown} is neither a bundled {what} profile nor a file ({hint}bundled: {listing})"


def example_file(relative: str) -> Traversable:
    """A file under ``examples/`` (e.g. ``"site.yaml"``, ``"captures/se_evening.p1"``)."""
    return resources.files("loadbalancer.examples").joinpath(relative)
