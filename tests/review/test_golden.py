"""The review's outputs for small logs are those of the code before it streamed its files
(``tests/review/golden``): the summary, ``--json``, windows, ``--charger``, ``--explain``
through each log and the ``--plot`` series, for a hand-written evening, one with a restart and a
torn tail, a generated day in two rotated files given out of order (its plot reduced to time
buckets), a tariff month and an evening the tariff held."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.review.clock import parse_when
from loadbalancer.review.plot import plot_data
from loadbalancer.review.scan import scan
from loadbalancer.review.stream import LogStream
from tests.review.golden import GOLDEN, logs, outputs


def streamed_plot(files: list[str], options: dict[str, Any]) -> Any:
    """``--plot``'s series as the command makes them: streamed, after the first look."""
    bounds = scan(files)
    assert bounds is not None
    since, until = options.get("--since"), options.get("--until")
    return plot_data(
        LogStream.of(files),
        since_s=None if since is None else parse_when(since, bounds, "--since"),
        until_s=None if until is None else parse_when(until, bounds, "--until"),
        charger=options.get("--charger"),
        bounds=bounds,
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    return logs(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("name", ["evening", "restarted", "day", "january", "limited"])
def test_outputs_are_unchanged(name: str, made: dict[str, list[Path]]) -> None:
    with gzip.open(GOLDEN / f"{name}.json.gz", "rt") as golden:
        expected = json.load(golden)
    got = outputs(made[name], name, streamed_plot)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == value, key
