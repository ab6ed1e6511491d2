"""``loadbalancer meter``: read a source, print one reading per valid telegram."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TextIO

from loadbalancer import jsontext
from loadbalancer.electric import PHASES
from loadbalancer.errors import UsageError
from loadbalancer.meter.gcm import parse_key
from loadbalancer.meter.options import ParserOptions
from loadbalancer.meter.p1 import P1_HEADER, P1_HEADER_BYTES
from loadbalancer.meter.parsers import make_meter_parser
from loadbalancer.meter.reading import MeterEvent, MeterParser, Reading, Rejection
from loadbalancer.meter.sources import FileSource, open_source, parse_source_url, redact_key

_TABLE_HEADER = " ".join(
    [
        f"{'meter time':<25}",
        *(f"{phase + ' A':>7}" for phase in PHASES),
        *(f"{phase + ' V':>6}" for phase in PHASES),
        *(f"{phase + ' W':>7}" for phase in PHASES),
        f"{'import W':>9} {'export W':>9}",
    ]
)
_HEADER_EVERY_ROWS = 40


def run_meter(
    url: str,
    *,
    as_json: bool,
    protocol: str = "auto",
    key: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Print readings until the source ends (a file) or forever (serial, TCP); exit code."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    spec = parse_source_url(url, protocol=protocol)
    options = ParserOptions.from_query(spec.options, f"source {redact_key(url)!r}")
    if key is not None:
        if options.key is not None:
            raise UsageError("give the meter key once: --key or key= in the source URL")
        try:
            options = replace(options, key=parse_key(key, "--key"))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    parser = make_meter_parser(protocol, options)
    source = open_source(spec, notify=lambda message: print(message, file=err, flush=True))
    if isinstance(source, FileSource):
        source.check()
    printer = _Printer(out, err, as_json=as_json, live=spec.kind != "file", protocol=protocol)
    try:
        asyncio.run(_monitor(source, parser, printer, clock))
    except KeyboardInterrupt:
        return 0  # Ctrl-C ends a live view: that is how it is meant to end
    except BrokenPipeError:
        # the reader of our output went away (``| head``): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        return 0
    printer.summary()
    return 0


async def _monitor(
    source: object, parser: MeterParser, printer: _Printer, clock: Callable[[], float]
) -> None:
    chunks = source.chunks()  # type: ignore[attr-defined]
    async for chunk in chunks:
        printer.show(parser.feed(chunk, clock()))
        printer.sniff(chunk, parser.skipped_bytes)
    printer.show(parser.close(clock()))
    printer.skipped_bytes = parser.skipped_bytes


#: what the bytes skipped by one protocol's reader look like when they are the other's
_OTHER_PROTOCOL = {
    "p1": (re.compile(rb"\x7e[\xa0-\xaf]"), "HDLC frames (7E A?)", "dlms"),
    "dlms": (P1_HEADER, "P1 telegrams (/XXX5)", "p1"),
}
_WHAT_PROTOCOL_READS = {
    "p1": "P1 telegram",
    "dlms": "HDLC frame",
    "auto": "P1 telegram or HDLC frame",
}


class _Printer:
    def __init__(
        self, out: TextIO, err: TextIO, *, as_json: bool, live: bool, protocol: str = "auto"
    ) -> None:
        self.out = out
        self.err = err
        self.as_json = as_json
        self.live = live
        self.protocol = protocol
        self.readings = 0
        self.rejected = 0
        self.skipped_bytes = 0
        self._tail = b""  # the end of the last chunk: a marker may straddle two chunks
        self._seen_bytes = 0
        self._hinted = False

    def sniff(self, chunk: bytes, skipped_bytes: int) -> None:
        """Before the first reading: say once (on stderr, in every mode) when the bytes being
        skipped look like the other protocol, and which ``--protocol`` reads them."""
        self._seen_bytes += len(chunk)
        other = _OTHER_PROTOCOL.get(self.protocol)
        if other is None or self._hinted or self.readings:
            return
        # P1 text never holds 7E A?, but an HDLC frame may hold "/ABC1": for dlms, only what
        # its reader skipped (bytes outside every frame) counts
        if self.protocol == "dlms" and not skipped_bytes:
            return
        pattern, what, suggestion = other
        data = self._tail + chunk
        self._tail = data[-P1_HEADER_BYTES:]
        if pattern.search(data) is None:
            return
        self._hinted = True
        self.out.flush()
        print(
            f"meter: no {_WHAT_PROTOCOL_READS[self.protocol]} in the first {self._seen_bytes} "
            f"bytes ({skipped_bytes} skipped); they look like {what}: try --protocol "
            f"{suggestion} (or auto)",
            file=self.err,
            flush=True,
        )

    def show(self, events: list[MeterEvent]) -> None:
        for event in events:
            if isinstance(event, Rejection):
                self.rejected += 1
                self.out.flush()  # keep stdout and stderr in stream order on a terminal
                print(event.describe(), file=self.err, flush=True)
            else:
                self._reading(event)
        if self.live and events:
            self.out.flush()

    def _reading(self, reading: Reading) -> None:
        if self.as_json:
            self.out.write(jsontext.dumps(reading.to_record()) + "\n")
        else:
            if self.readings % _HEADER_EVERY_ROWS == 0:
                self.out.write(_TABLE_HEADER + "\n")
            self.out.write(_row(reading) + "\n")
        self.readings += 1

    def summary(self) -> None:
        self.out.flush()
        if (
            self.as_json
            and not (self.readings or self.rejected or self._hinted)
            and self.skipped_bytes
        ):
            # JSON mode prints no summary line: say why there is no output at all
            print(
                f"meter: no reading; {self.skipped_bytes} bytes skipped, no "
                f"{_WHAT_PROTOCOL_READS.get(self.protocol, 'telegram')} among them",
                file=self.err,
                flush=True,
            )
        if not self.as_json:
            garbage = f", {self.skipped_bytes} bytes of noise skipped" if self.skipped_bytes else ""
            print(
                f"{self.readings} readings, {self.rejected} telegrams rejected{garbage}",
                file=self.out,
                flush=True,
            )


def _row(reading: Reading) -> str:
    when = reading.meter_time.isoformat(sep=" ") if reading.meter_time else "-"
    cells = [f"{when:<25}"]
    cells += [_cell(v, 7, 2) for v in reading.current_a]
    cells += [_cell(v, 6, 1) for v in reading.voltage_v]
    cells += [_cell(v, 7, 0) for v in reading.power_w]
    cells += [_cell(reading.import_w, 9, 0), _cell(reading.export_w, 9, 0)]
    return " ".join(cells)


def _cell(value: float | None, width: int, decimals: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{decimals}f}"
