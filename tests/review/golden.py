"""What ``loadbalancer log`` prints for a set of small logs, in every mode, to compare with the
outputs of the code before the review streamed its files (```tests/review/golden/*.json.gz``, made
by running this module as a script on that code).

    .venv/bin/python -m tests.review.golden   # writes the golden files (only on the old code)
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadbalancer.cli import main
from tests.review.logs import EVENING_END_S, evening, event, startup, ts, write

GOLDEN = Path(__file__).with_name("golden")

#: ``plot_data`` of files and options, as the code under test offers it
PlotOf = Callable[[list[str], dict[str, Any]], Any]


def restarted() -> list[dict[str, Any]]:
    """The evening with the service stopped 1000-1100 s and started again; a torn-off tail."""
    records = [
        r for r in evening() if not 1000 <= (_seconds(r["ts"])) < 1100 or r["event"] != "decision"
    ]
    records.append(event(1000, "shutdown", reason="signal", safe_current_a=6.0))
    records.append(startup(1100))
    return sorted(records, key=lambda r: r["ts"])


def _seconds(stamp: str) -> float:
    from datetime import datetime

    from tests.review.logs import T0

    return (datetime.fromisoformat(stamp) - T0).total_seconds()


def logs(folder: Path) -> dict[str, list[Path]]:
    """The logs compared, by name (each one or more files)."""
    from benchmarks.month_log import generate
    from tests.review.test_tariff_log import JANUARY, limited_evening, month_log

    folder.mkdir(parents=True, exist_ok=True)
    day = folder / "day.jsonl"
    generate(day, 1)
    lines = day.read_bytes().splitlines(keepends=True)
    older, newer = folder / "day.jsonl.1", folder / "day.jsonl.0"
    older.write_bytes(b"".join(lines[: len(lines) // 2]))
    newer.write_bytes(b"".join(lines[len(lines) // 2 :]) + b'{"ts": "2026-01-0')
    limited = folder / "limited"
    limited.mkdir(exist_ok=True)
    return {
        "evening": [write(folder / "evening.jsonl", evening())],
        "restarted": [write(folder / "restarted.jsonl", restarted(), tail='{"ts": "x')],
        "day": [newer, older],
        "january": [month_log(folder / "january.jsonl", JANUARY)],
        "limited": [limited_evening(limited)],
    }


def _run(args: list[str]) -> dict[str, Any]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


def _times(name: str) -> list[str]:
    """``--explain`` times through each log."""
    if name in ("evening", "restarted"):
        return [ts(s) for s in range(-30, EVENING_END_S + 60, 45)]
    if name == "day":
        return [f"2026-01-01T{h:02d}:{m:02d}:05+01:00" for h in range(0, 24, 2) for m in (0, 31)]
    if name == "january":
        return ["2026-01-05T18:30:00+01:00", "2026-01-07T12:00:00+01:00"]
    return [f"2026-01-12T17:{m:02d}:03+01:00" for m in range(0, 22, 3)]


def _windows(name: str) -> list[list[str]]:
    if name in ("evening", "restarted"):
        return [
            ["--since", "18:10", "--until", "18:25"],
            ["--until", ts(1550)],
            ["--charger", "carport"],
        ]
    if name == "day":
        return [["--since", "2026-01-01T17:00:00+01:00", "--until", "2026-01-01T23:00"]]
    return [["--since", "2026-01-06T00:00:00+01:00"]] if name == "january" else []


def plain(value: Any) -> Any:
    """A plot series as JSON can hold it (NaN as a string)."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__ if k != "zone"}
    return value if value is None or isinstance(value, (int, str, bool)) else repr(value)


def outputs(files: list[Path], name: str, plot_of: PlotOf) -> dict[str, Any]:
    """Every output of the review for one log."""
    names = [str(p) for p in files]
    out: dict[str, Any] = {}
    out["summary"] = _run(["log", *names])
    out["json"] = _run(["log", *names, "--json"])
    for window in _windows(name):
        out[" ".join(window)] = _run(["log", *names, *window])
        out[" ".join(["--json", *window])] = _run(["log", *names, "--json", *window])
        options = dict(zip(window[::2], window[1::2], strict=True))
        out[" ".join(["plot", *window])] = plain(plot_of(names, options))
    for at in _times(name):
        out[f"explain {at}"] = _run(["log", *names, "--explain", at])
        out[f"explain --json {at}"] = _run(["log", *names, "--explain", at, "--json"])
    out["plot"] = plain(plot_of(names, {}))
    return _relative(out, files[0].parent)


def _relative(out: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The outputs with the temporary folder's path taken out (messages name the files)."""
    text = json.dumps(out, sort_keys=True).replace(str(folder), "LOGS")
    return json.loads(text)  # type: ignore[no-any-return]


def _old_plot(files: list[str], options: dict[str, Any]) -> Any:
    from loadbalancer.review.clock import parse_when
    from loadbalancer.review.plot import plot_data
    from loadbalancer.review.read import read_logs

    records = read_logs(files).records
    since = options.get("--since")
    until = options.get("--until")
    return plot_data(
        records,
        since_s=None if since is None else parse_when(since, records, "--since"),
        until_s=None if until is None else parse_when(until, records, "--until"),
        charger=options.get("--charger"),
    )


if __name__ == "__main__":
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for log_name, paths in logs(Path(tmp)).items():
            result = outputs(paths, log_name, _old_plot)
            text = json.dumps(result, indent=0, sort_keys=True)
            with gzip.open(GOLDEN / f"{log_name}.json.gz", "wt") as out:
                out.write(text)
            print(log_name, len(result), file=sys.stderr)
