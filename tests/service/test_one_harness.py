"""One loopback site harness (issue 14 item 7): the service tests, in process or as a process,
and the review's end-to-end run serve their boxes and write their site file through
:mod:`tests.service.harness` only."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
HARNESS = TESTS / "service" / "harness.py"
USERS = sorted([*(TESTS / "service").glob("*.py"), *(TESTS / "review").glob("*.py")])


def calls_of(source: str, name: str) -> int:
    """How often ``name(...)`` (or ``x.name(...)``) is called in ``source``."""
    count = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            count += called == name
    return count


def test_boxes_and_site_files_are_set_up_by_the_harness_only() -> None:
    for name in ("ChargerEmulator", "site_yaml"):
        users = {p.name for p in USERS if calls_of(p.read_text(encoding="utf-8"), name)}
        assert users == {HARNESS.name}, name


def test_the_check_counts_calls() -> None:
    assert calls_of("ChargerEmulator(p)\nx.site_yaml()\nsite_yaml\n", "ChargerEmulator") == 1
