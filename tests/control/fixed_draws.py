"""Derandomized hypothesis runs that draw the same examples whatever the process ran before.

``derandomize=True`` seeds hypothesis from the test's source, but hypothesis (since 6.131)
also draws about one number in twenty (integers, ``sampled_from`` indices, floats) from a pool
of the constants in every *local* module the process has imported so far: every module of
``loadbalancer`` (test files are left out). Which of them a process has imported depends on
what ran before: a test file alone imports a few, ``pytest -n 2 tests/control`` a worker's
share of the directory's, the whole suite nearly all. So the same derandomized test drew
other examples alone, on two workers and in the whole suite, and the pool changes again with
every constant added to ``loadbalancer``. :func:`fixed_constants` empties the pool for a run.

Run as ``python -m tests.control.fixed_draws MODULE...``: the tariff machine's first
examples, then MODULE imported, the same examples again (tests/control/test_tariff_machine.py).
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants


@contextmanager
def fixed_constants() -> Iterator[None]:
    """Within it hypothesis draws no constant of the process's local modules (its own
    constants remain: they are fixed with its version)."""
    local = providers._get_local_constants
    empty = Constants()
    providers._get_local_constants = lambda: empty
    providers.CONSTANTS_CACHE.cache.clear()  # the constants it chose from, per kind of draw
    try:
        yield
    finally:
        providers._get_local_constants = local
        providers.CONSTANTS_CACHE.cache.clear()


def local_constants() -> int:
    """How many constants hypothesis has collected from the local modules imported so far."""
    return len(providers._get_local_constants())


def main(modules: list[str]) -> None:
    from tests.control.test_tariff_machine import traced_run

    print(local_constants(), hashlib.sha256(traced_run().encode()).hexdigest())
    for module in modules:
        importlib.import_module(module)
    print(local_constants(), hashlib.sha256(traced_run().encode()).hexdigest())


if __name__ == "__main__":
    main(sys.argv[1:])
