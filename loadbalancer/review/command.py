"""``loadbalancer log``: read the files, hand the records to :mod:`loadbalancer.review`, print.

The shell of the review: it reads (:mod:`loadbalancer.review.read`), reports unreadable lines
once on stderr, resolves the times given on the command line, and prints the summary, the
explanation or writes the plot.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from loadbalancer import jsontext
from loadbalancer.errors import UsageError
from loadbalancer.review.clock import parse_when
from loadbalancer.review.explain import explain
from loadbalancer.review.plot import plot_data
from loadbalancer.review.read import read_logs
from loadbalancer.review.summary import summarize
from loadbalancer.review.tariff_text import section_json, section_lines, tariff_section
from loadbalancer.review.text import format_summary


@dataclass(frozen=True, slots=True)
class LogRequest:
    """What ``loadbalancer log`` was asked for (times as given, not yet resolved)."""

    files: Sequence[str]
    since: str | None = None
    until: str | None = None
    charger: str | None = None
    explain: str | None = None
    plot: str | None = None
    as_json: bool = False


def run_log(request: LogRequest, *, prog: str = "loadbalancer log") -> int:
    """The command; returns the exit code (errors are raised as :class:`LoadBalancerError`)."""
    # the summary counts a few facts of each decision: read only those (a month: 260 000)
    summary_only = request.explain is None and request.plot is None
    # the records live as long as the command: the collector need not scan them, not even once
    # (re-enabled before they are frozen, it would: the first allocation starts a collection of
    # every object made while it was off, a second and more for a month)
    collecting = gc.isenabled()
    gc.disable()
    try:
        contents = read_logs(request.files, compact=summary_only)
        gc.freeze()
    finally:
        if collecting:
            gc.enable()
    note = contents.report()
    if note is not None:
        print(f"{prog}: {note}", file=sys.stderr)
    records = contents.records
    if not records:
        raise UsageError(f"{', '.join(request.files)}: no readable records")
    since_s = None if request.since is None else parse_when(request.since, records, "--since")
    until_s = None if request.until is None else parse_when(request.until, records, "--until")
    if request.explain is not None:
        at_s = parse_when(request.explain, records, "--explain")
        explanation = explain(records, at_s, charger=request.charger)
        if request.as_json:
            print(jsontext.dumps({**explanation.facts, "text": list(explanation.lines)}, indent=2))
        else:
            print(explanation.text())
        return 0
    if request.plot is not None:
        from loadbalancer.review.draw import draw

        data = plot_data(records, since_s=since_s, until_s=until_s, charger=request.charger)
        draw(data, request.plot)
        print(f"{prog}: wrote {request.plot}", file=sys.stderr)
        return 0
    summary = summarize(records, since_s=since_s, until_s=until_s, charger=request.charger)
    tariff = tariff_section(records, (summary.from_s, summary.to_s))
    if request.as_json:
        out = summary.to_json()
        out["unreadable_lines"] = contents.unreadable_lines
        if tariff is not None:
            out["tariff"] = section_json(tariff)
        print(jsontext.dumps(out, indent=2))
    else:
        print(format_summary(summary))
        if tariff is not None:
            print("\n".join(section_lines(tariff)))
    return 0
