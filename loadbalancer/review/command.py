"""``loadbalancer log``: read the files, hand the records to :mod:`loadbalancer.review`, print.

The shell of the review: it streams the files (:mod:`loadbalancer.review.stream`), reports
unreadable lines once on stderr, resolves the times given on the command line, and prints the
summary, the explanation or writes the plot.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from loadbalancer import jsontext
from loadbalancer.errors import UsageError
from loadbalancer.review.clock import parse_when
from loadbalancer.review.explain import explain
from loadbalancer.review.plot import plot_data
from loadbalancer.review.scan import scan
from loadbalancer.review.stream import LogStream
from loadbalancer.review.summary import summarize, summary_window
from loadbalancer.review.tariff_text import TariffPass, section_json, section_lines
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
    """The command; returns the exit code (errors are raised as :class:`LoadBalancerError`).

    The files are read as a stream (:mod:`loadbalancer.review.stream`), after a quick first look
    at their first and last records and their starts (:mod:`loadbalancer.review.scan`): no
    record is kept beyond what the figures need, so a month takes the memory of a day. The
    lines that could not be read are told once on stderr, also when the command fails."""
    # the summary counts a few facts of each decision, --explain a few more and one decision
    # whole: read only those (a month: 260 000); the plot draws every figure
    stream = LogStream.of(request.files, compact=request.plot is None)
    note = _Note(stream, prog)
    try:
        return _run(request, stream, note, prog)
    finally:
        note.tell()


@dataclass
class _Note:
    """The one line about lines that could not be read, told once on stderr."""

    stream: LogStream
    prog: str
    told: bool = False

    def tell(self) -> None:
        if self.told:
            return
        self.told = True
        if not self.stream.walks:  # stopped before the records were read: count them now
            for _ in self.stream:
                pass
        report = self.stream.unreadable.report()
        if report is not None:
            print(f"{self.prog}: {report}", file=sys.stderr)


def _run(request: LogRequest, stream: LogStream, note: _Note, prog: str) -> int:
    bounds = scan(stream.paths)
    if bounds is None:
        note.tell()
        raise UsageError(f"{', '.join(request.files)}: no readable records")
    since_s = None if request.since is None else parse_when(request.since, bounds, "--since")
    until_s = None if request.until is None else parse_when(request.until, bounds, "--until")
    if request.explain is not None:
        at_s = parse_when(request.explain, bounds, "--explain")
        explanation = explain(stream, at_s, charger=request.charger, bounds=bounds)
        note.tell()
        if request.as_json:
            print(jsontext.dumps({**explanation.facts, "text": list(explanation.lines)}, indent=2))
        else:
            print(explanation.text())
        return 0
    if request.plot is not None:
        from loadbalancer.review.draw import draw

        data = plot_data(
            stream, since_s=since_s, until_s=until_s, charger=request.charger, bounds=bounds
        )
        note.tell()
        draw(data, request.plot)
        print(f"{prog}: wrote {request.plot}", file=sys.stderr)
        return 0
    tariff = TariffPass(summary_window(bounds, since_s, until_s), bounds.startups)
    summary = summarize(
        stream,
        since_s=since_s,
        until_s=until_s,
        charger=request.charger,
        bounds=bounds,
        also=[tariff],
    )
    note.tell()
    section = tariff.section()
    if request.as_json:
        out = summary.to_json()
        out["unreadable_lines"] = stream.unreadable.count
        if section is not None:
            out["tariff"] = section_json(section)
        print(jsontext.dumps(out, indent=2))
    else:
        print(format_summary(summary))
        if section is not None:
            print("\n".join(section_lines(section)))
    return 0
