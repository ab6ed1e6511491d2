"""A Swedish HAN-P1 meter, emulated: telegrams as a Sagemcom T211 writes them, from phase loads;
and an HDLC meter, frames as a Swedish Aidon sends them.

Used by tests, benchmarks and (later) the closed-loop simulation. The format follows the
captured ``se_sagemcom_t211_*`` telegrams: the full Swedish OBIS list, CRLF line ends,
CRC-16/ARC, meter time with the ``W`` flag kept all year as those meters do. The HDLC frames
follow ``se_aidon_hdlc_*``: ``{OBIS, value, {scaler, unit}}`` items, signed currents in 0.1 A.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime

from loadbalancer.electric import NOMINAL_VOLTAGE_V
from loadbalancer.meter.hdlc import build_frame
from loadbalancer.meter.p1 import build_telegram

SAGEMCOM_HEADER = "ELL5\\253833635_A"


@dataclass(frozen=True, slots=True)
class PhaseLoad:
    """What one phase carries: signed current (negative = export), voltage, power factor."""

    current_a: float
    voltage_v: float = NOMINAL_VOLTAGE_V
    power_factor: float = 0.97


def swedish_telegram(
    meter_time: datetime,
    loads: tuple[PhaseLoad, PhaseLoad, PhaseLoad],
    *,
    energy_import_kwh: float,
    energy_export_kwh: float = 0.0,
    header: str = SAGEMCOM_HEADER,
) -> bytes:
    """One complete telegram with a valid CRC for the given per-phase loads."""
    imports: list[float] = []
    exports: list[float] = []
    for load in loads:
        kw = abs(load.current_a) * load.voltage_v * load.power_factor / 1000.0
        imports.append(kw if load.current_a >= 0 else 0.0)
        exports.append(kw if load.current_a < 0 else 0.0)
    reactive = [abs(x.current_a) * x.voltage_v * 0.2 / 1000.0 for x in loads]
    lines = [
        f"0-0:1.0.0({meter_time:%y%m%d%H%M%S}W)",
        f"1-0:1.8.0({energy_import_kwh:012.3f}*kWh)",
        f"1-0:2.8.0({energy_export_kwh:012.3f}*kWh)",
        f"1-0:3.8.0({energy_import_kwh * 0.05:012.3f}*kvarh)",
        f"1-0:4.8.0({energy_import_kwh * 0.01:012.3f}*kvarh)",
        f"1-0:1.7.0({sum(imports):08.3f}*kW)",
        f"1-0:2.7.0({sum(exports):08.3f}*kW)",
        f"1-0:3.7.0({sum(reactive):08.3f}*kvar)",
        "1-0:4.7.0(0000.000*kvar)",
    ]
    lines += [f"1-0:{c}.7.0({kw:08.3f}*kW)" for c, kw in zip((21, 41, 61), imports, strict=True)]
    lines += [f"1-0:{c}.7.0({kw:08.3f}*kW)" for c, kw in zip((22, 42, 62), exports, strict=True)]
    lines += [f"1-0:{c}.7.0({q:08.3f}*kvar)" for c, q in zip((23, 43, 63), reactive, strict=True)]
    lines += [f"1-0:{c}.7.0(0000.000*kvar)" for c in (24, 44, 64)]
    lines += [
        f"1-0:{c}.7.0({x.voltage_v:05.1f}*V)" for c, x in zip((32, 52, 72), loads, strict=True)
    ]
    lines += [
        f"1-0:{c}.7.0({abs(x.current_a):05.1f}*A)" for c, x in zip((31, 51, 71), loads, strict=True)
    ]
    return build_telegram(header, lines)


def _aidon_item(obis: tuple[int, ...], tag: int, raw: int, scaler: int, unit: int) -> bytes:
    size = {0x06: 4, 0x10: 2, 0x12: 2}[tag]
    value = bytes([tag]) + raw.to_bytes(size, "big", signed=tag == 0x10)
    scaler_unit = bytes([0x02, 0x02, 0x0F]) + scaler.to_bytes(1, "big", signed=True)
    return b"\x02\x03\x09\x06" + bytes(obis) + value + scaler_unit + bytes([0x16, unit])


def aidon_frame(
    meter_time: datetime,
    loads: tuple[PhaseLoad, PhaseLoad, PhaseLoad],
    *,
    energy_import_kwh: float,
) -> bytes:
    """One HDLC frame (valid HCS and FCS) as a Swedish Aidon pushes it, for the given loads."""
    watts = [abs(x.current_a) * x.voltage_v * x.power_factor for x in loads]
    clock = (
        meter_time.year.to_bytes(2, "big")
        + bytes([meter_time.month, meter_time.day, 0xFF, meter_time.hour])
        + bytes([meter_time.minute, meter_time.second, 0xFF, 0x80, 0x00, 0xFF])
    )
    items = [b"\x02\x02\x09\x06\x00\x00\x01\x00\x00\xff\x09\x0c" + clock]
    imported = sum(w for w, x in zip(watts, loads, strict=True) if x.current_a >= 0)
    items.append(_aidon_item((1, 0, 1, 7, 0, 255), 0x06, round(imported), 0, 27))
    items.append(_aidon_item((1, 0, 1, 8, 0, 255), 0x06, round(energy_import_kwh * 100), 1, 30))
    for c_imp, c_exp, c_amp, c_volt, load, watt in zip(
        (21, 41, 61), (22, 42, 62), (31, 51, 71), (32, 52, 72), loads, watts, strict=True
    ):
        exporting = load.current_a < 0
        items.append(
            _aidon_item((1, 0, c_imp, 7, 0, 255), 0x06, 0 if exporting else round(watt), 0, 27)
        )
        items.append(
            _aidon_item((1, 0, c_exp, 7, 0, 255), 0x06, round(watt) if exporting else 0, 0, 27)
        )
        items.append(
            _aidon_item((1, 0, c_amp, 7, 0, 255), 0x10, round(load.current_a * 10), -1, 33)
        )
        items.append(
            _aidon_item((1, 0, c_volt, 7, 0, 255), 0x12, round(load.voltage_v * 10), -1, 35)
        )
    body = bytes([0x01, len(items)]) + b"".join(items)
    apdu = b"\x0f\x40\x00\x00\x00\x00" + body
    return build_frame(b"\xe6\xe7\x00" + apdu)


class MeterServer:
    """A TCP telegram stream on 127.0.0.1, as ser2net or an ESP P1 bridge serves one.

    Tests and the simulation push bytes with :meth:`send`; :meth:`drop_clients` cuts every
    connection (a bridge reboot) and :meth:`stop` closes the port (the bridge is gone).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._connected = asyncio.Event()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self._port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self._connected.set()
        with contextlib.suppress(ConnectionError):
            await reader.read()  # the reader never sends; returns when it hangs up
        if writer in self._writers:
            self._writers.remove(writer)
        writer.close()

    async def wait_for_client(self, timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()

    @property
    def clients(self) -> int:
        return len(self._writers)

    async def send(self, data: bytes) -> None:
        """Write ``data`` to every connected reader."""
        for writer in list(self._writers):
            try:
                writer.write(data)
                await writer.drain()
            except ConnectionError:
                if writer in self._writers:  # its reader may have seen the hang-up first
                    self._writers.remove(writer)

    async def drop_clients(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()
        self._connected.clear()

    async def stop(self) -> None:
        await self.drop_clients()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> MeterServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()
