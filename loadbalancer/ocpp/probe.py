"""``loadbalancer ocpp-probe``: the installer's first step with an OCPP box, like ``charger``
for a Modbus one. It listens, waits for one charge point (any id; with ``--password-file`` its
Basic auth must match), and prints its BootNotification, its configuration keys, which
measurands it takes (each offered singly, as one unsupported measurand rejects a whole list;
the box's own setting is put back after) and what the chosen profile would set. It writes no
charging profile.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ocpp.v16 import call, enums
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_authorization_basic
from websockets.http11 import Request, Response

from loadbalancer.control.config import ChargerSpec
from loadbalancer.errors import ChargerError, UsageError
from loadbalancer.ocpp.central import MAX_FRAME_BYTES, Session, charge_point_id
from loadbalancer.ocpp.charger import OcppCharger
from loadbalancer.ocpp.phases import ocpp_switching
from loadbalancer.ocpp.profile import MEASURANDS, OcppProfile, load_ocpp_profile
from loadbalancer.ocpp.site import OcppChargerConfig
from loadbalancer.printable import printable

#: how long the probe waits for a BootNotification after the connection (then asks for one)
BOOT_WAIT_S = 5.0


@dataclass
class ProbeResult:
    charge_point_id: str
    peer: str
    boot: dict[str, Any] | None = None
    configuration: dict[str, str] = field(default_factory=dict)
    measurands: dict[str, str] = field(default_factory=dict)  # measurand -> the box's answer
    would_set: dict[str, Any] = field(default_factory=dict)


async def probe(
    host: str,
    port: int,
    *,
    profile: OcppProfile,
    password: bytes | None = None,
    timeout_s: float = 300.0,
    listening: Callable[[int], None] = lambda _p: None,
) -> ProbeResult:
    """Wait for one charge point on ``host:port`` and ask it what it is."""
    connected: asyncio.Queue[tuple[Session, ServerConnection]] = asyncio.Queue()
    done = asyncio.Event()

    def admit(connection: ServerConnection, request: Request) -> Response | None:
        if password is None:
            return None
        try:
            _user, given = parse_authorization_basic(request.headers.get("Authorization", ""))
        except InvalidHeader:
            given = ""
        if hmac.compare_digest(given.encode(), password):
            return None
        return connection.respond(401, "wrong or missing Basic auth\n")

    async def handle(connection: ServerConnection) -> None:
        assert connection.request is not None
        cp_id = charge_point_id(connection.request.path)
        charger = OcppCharger(_config(profile, cp_id), clock=asyncio.get_running_loop().time)
        session = Session(cp_id, connection, [charger])
        charger.connected(session)
        await connected.put((session, connection))
        receive = asyncio.create_task(session.start())
        await done.wait()
        receive.cancel()

    try:
        server = await serve(
            handle, host, port, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            process_request=admit, max_size=MAX_FRAME_BYTES,
        )  # fmt: skip
    except OSError as exc:
        raise UsageError(f"--listen {host}:{port}: cannot listen: {exc.strerror or exc}") from None
    async with server:
        listening(int(next(iter(server.sockets)).getsockname()[1]))
        try:
            async with asyncio.timeout(timeout_s):
                session, connection = await connected.get()
        except TimeoutError:
            raise UsageError(f"no charge point connected within {timeout_s:g} s") from None
        try:
            return await _ask(session, str(connection.remote_address[0]), profile)
        finally:
            done.set()


def _config(profile: OcppProfile, cp_id: str) -> OcppChargerConfig:
    spec = ChargerSpec("probe", ("L1", "L2", "L3"), profile.charging.max_current_a)
    return OcppChargerConfig("probe", profile, profile.name, cp_id, spec)


async def _ask(session: Session, peer: str, profile: OcppProfile) -> ProbeResult:
    charger: OcppCharger = session.chargers[0]
    result = ProbeResult(session.id, peer)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOOT_WAIT_S
    while charger.boot is None and loop.time() < deadline:  # noqa: ASYNC110 - set by a handler
        await asyncio.sleep(0.05)
    if charger.boot is None:  # a box that was connected before sends none on its own
        trigger = call.TriggerMessage(requested_message=enums.MessageTrigger.boot_notification)
        await _quietly(charger.call(session, trigger))
        await asyncio.sleep(1.0)
    result.boot = charger.boot
    result.configuration = await _configuration(charger, session)
    result.measurands = await _measurands(charger, session, result.configuration)
    result.would_set = _would_set(profile)
    return result


async def _configuration(charger: OcppCharger, session: Session) -> dict[str, str]:
    answer = await _quietly(charger.call(session, call.GetConfiguration()))
    if answer is None:
        return {}
    return {
        printable(str(item.get("key")))[:100]: printable(str(item.get("value")))[:500]
        for item in answer.configuration_key or []
        if isinstance(item, dict)
    }


async def _measurands(
    charger: OcppCharger, session: Session, configuration: dict[str, str]
) -> dict[str, str]:
    """Each measurand offered singly; the box's own setting put back after."""
    answers: dict[str, str] = {}
    key = "MeterValuesSampledData"
    for measurand in MEASURANDS:
        answer = await _quietly(charger.call(session, call.ChangeConfiguration(key, measurand)))
        answers[measurand] = "no answer" if answer is None else str(answer.status)
    if key in configuration:
        await _quietly(charger.call(session, call.ChangeConfiguration(key, configuration[key])))
    return answers


async def _quietly(coroutine: Any) -> Any:
    """A call's answer, None where it failed (said on stderr)."""
    try:
        return await coroutine
    except ChargerError as exc:
        print(f"ocpp-probe: {exc}", file=sys.stderr)
        return None


def _would_set(profile: OcppProfile) -> dict[str, Any]:
    charging, writes = profile.charging, profile.writes
    return {
        "profile": profile.name,
        "configuration": {
            "MeterValuesSampledData": ",".join(profile.meter.measurands),
            **dict(profile.boot_set),
        },
        "charging_profile": {
            "purpose": charging.purpose,
            "stack_level": charging.stack_level,
            "kind": charging.kind,
            "connector_id": charging.connector_id,
            "rate_unit": charging.rate_unit,
            "number_phases": charging.number_phases,
        },
        "writes": {
            "min_interval_s": writes.min_interval_s,
            "daily_budget": writes.daily_budget,
            "deadband_a": writes.deadband_a,
        },
        "failsafe": profile.failsafe.mechanism
        + (f" ({profile.failsafe.key})" if profile.failsafe.key else ""),
        "phase_switch": _phase_switch(profile),
    }


def _phase_switch(profile: OcppProfile) -> str:
    """Issue 19: how the profile switches the box's phases (its ``key`` is among the box's
    configuration printed above)."""
    switch = profile.phase_switch
    return "none (not switched)" if switch is None else ocpp_switching(switch)


def print_result(result: ProbeResult, out: TextIO, *, as_json: bool) -> None:
    if as_json:
        out.write(json.dumps(result.__dict__, indent=2, default=str) + "\n")
        return
    out.write(f"charge point {result.charge_point_id!r} from {result.peer}\n")
    boot = result.boot or {}
    out.write(
        f"boot: vendor {boot.get('vendor')!s}, model {boot.get('model')!s}, firmware "
        f"{boot.get('firmware')!s}\n"
        if boot
        else "boot: none sent (asked for one)\n"
    )
    out.write(f"configuration ({len(result.configuration)} keys):\n")
    for key, value in sorted(result.configuration.items()):
        out.write(f"  {key} = {value}\n")
    supported = [m for m, answer in result.measurands.items() if answer == "Accepted"]
    out.write(f"measurands taken: {', '.join(supported) or 'none'}\n")
    would = result.would_set
    out.write(f"profile {would['profile']} would set:\n")
    for key, value in would["configuration"].items():
        out.write(f"  {key} = {value}\n")
    shape = ", ".join(f"{k} {v}" for k, v in would["charging_profile"].items())
    out.write(f"  limits as a charging profile: {shape}\n")
    out.write(f"  writes: {', '.join(f'{k} {v}' for k, v in would['writes'].items())}\n")
    out.write(f"  failsafe: {would['failsafe']}\n")
    out.write(f"  phase switching: {would['phase_switch']}\n")


def run_ocpp_probe(
    listen: str, *, profile: str, password_file: str | None, timeout_s: float, as_json: bool
) -> int:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--listen {listen!r}: expected HOST:PORT, e.g. 0.0.0.0:8887")
    password = None
    if password_file is not None:
        try:
            password = Path(password_file).read_bytes().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise UsageError(f"--password-file {password_file}: cannot read it ({exc})") from None
    chosen = load_ocpp_profile(profile)

    def say(port_number: int) -> None:
        print(f"listening on {host}:{port_number}: waiting for a charge point", file=sys.stderr)

    result = asyncio.run(
        probe(
            host.strip("[]"),
            int(port),
            profile=chosen,
            password=password,
            timeout_s=timeout_s,
            listening=say,
        )
    )
    print_result(result, sys.stdout, as_json=as_json)
    return 0
