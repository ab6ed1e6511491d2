"""One loopback site harness (issue 14 item 7): the service tests, in process or as a process,
and the review's end-to-end run serve their boxes and write their site file through
:mod:`tests.service.harness` only."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.meter.test_concepts_once import calls_of

TESTS = Path(__file__).resolve().parents[1]
HARNESS = TESTS / "service" / "harness.py"
USERS = sorted([*(TESTS / "service").glob("*.py"), *(TESTS / "review").glob("*.py")])


def test_boxes_and_site_files_are_set_up_by_the_harness_only() -> None:
    for name in ("ChargerEmulator", "site_yaml"):
        users = {p.name for p in USERS if calls_of(ast.parse(p.read_text("utf-8")), name)}
        assert users == {HARNESS.name}, name


def test_the_check_counts_calls() -> None:
    tree = ast.parse("ChargerEmulator(p)\nx.site_yaml()\nsite_yaml\n")
    assert (calls_of(tree, "ChargerEmulator"), calls_of(tree, "site_yaml")) == (1, 1)
