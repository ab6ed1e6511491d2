"""``loadbalancer charger``: probe one box with a profile, optionally write a limit."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from loadbalancer import jsontext
from loadbalancer.chargers.charger import ChargerReading
from loadbalancer.chargers.driver import ChargerClient
from loadbalancer.chargers.modbus import CONNECT_TIMEOUT_S
from loadbalancer.chargers.profile import ChargerProfile, load_profile
from loadbalancer.errors import ChargerError, UsageError

#: A probe connects like the service (:data:`~loadbalancer.chargers.modbus.CONNECT_TIMEOUT_S`)
#: but gives a box a little longer to answer each request than the service's 2 s.
PROBE_REQUEST_TIMEOUT_S = 3.0


def run_probe(
    profile_name: str,
    host: str,
    *,
    port: int | None = None,
    unit_id: int | None = None,
    as_json: bool = False,
    set_current_a: float | None = None,
    out: TextIO | None = None,
) -> int:
    """Read the box (and write a limit first if asked); print it; exit code 0.

    A limit that was written stays written: if only the read after it fails, the command says
    so (stdout: what was written; stderr: the failed read) and exits 0, because the change the
    user asked for happened. A failed write, or a failed read without a write, raises.
    """
    out = out if out is not None else sys.stdout
    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port {port}: must be 1..65535")
    if unit_id is not None and not 0 <= unit_id <= 255:
        raise UsageError(f"--unit {unit_id}: must be 0..255")
    if set_current_a is not None and not 0 <= set_current_a <= 80:
        raise UsageError(f"--set-current {set_current_a:g}: must be 0..80 A")
    profile = load_profile(profile_name)
    written, reading = asyncio.run(_probe(profile, host, port, unit_id, set_current_a))
    if isinstance(reading, ChargerError):
        assert written is not None
        if as_json:
            out.write(jsontext.dumps({"profile": profile.name, "written_a": written}) + "\n")
        else:
            out.write(f"charger {host} with profile {profile.name}\n  written    {written:g} A\n")
        out.flush()
        print(
            f"loadbalancer charger: {written:g} A was written; reading the box back failed: "
            f"{reading}",
            file=sys.stderr,
            flush=True,
        )
        return 0
    if as_json:
        record = reading.to_record(profile.name)
        if written is not None:
            record["written_a"] = written
        out.write(jsontext.dumps(record) + "\n")
    else:
        out.write(_summary(profile, host, reading, written))
    out.flush()
    return 0


async def _probe(
    profile: ChargerProfile,
    host: str,
    port: int | None,
    unit_id: int | None,
    set_current_a: float | None,
) -> tuple[float | None, ChargerReading | ChargerError]:
    client = ChargerClient(
        profile,
        host,
        port,
        unit_id,
        connect_timeout_s=CONNECT_TIMEOUT_S,
        request_timeout_s=PROBE_REQUEST_TIMEOUT_S,
    )
    async with client:
        if set_current_a is None:
            return None, await client.read()
        written = await client.write_limit(set_current_a)
        try:
            return written, await client.read()
        except ChargerError as exc:  # the write went through: say so, with the failed read
            return written, exc


def _summary(
    profile: ChargerProfile, host: str, reading: ChargerReading, written: float | None
) -> str:
    def amps(value: float | None) -> str:
        return "unknown" if value is None else f"{value:g} A"

    status = reading.status or "unknown"
    raw = f" (box code {reading.status_raw})" if reading.status_raw else ""
    currents = " / ".join("n/a" if v is None else f"{v:.2f}" for v in reading.current_a)
    failsafe = reading.failsafe
    if failsafe.timeout_s == 0:
        fallback = "off (timeout 0)"
    else:
        timeout = "unknown" if failsafe.timeout_s is None else f"{failsafe.timeout_s:g} s"
        fallback = f"{amps(failsafe.current_a)} after {timeout}"
    lines = [
        f"charger {host} with profile {profile.name}",
        f"  status     {status}{raw}",
        f"  current    {currents} A (charger phases 1/2/3)",
        f"  limit      {amps(reading.limit_a)}",
        f"  phases     {reading.phases if reading.phases is not None else 'unknown'}",
        f"  failsafe   {fallback}",
    ]
    if reading.max_current_a is not None:
        lines.append(f"  hardware   {amps(reading.max_current_a)} at most")
    if written is not None:
        lines.append(f"  written    {written:g} A" + (" (pause)" if written == 0 else ""))
    return "\n".join(lines) + "\n"
