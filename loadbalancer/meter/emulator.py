"""A Swedish HAN-P1 meter, emulated: telegrams as a Sagemcom T211 writes them, from phase loads.

Used by tests, benchmarks and (later) the closed-loop simulation. The format follows the
captured ``se_sagemcom_t211_*`` telegrams: the full Swedish OBIS list, CRLF line ends,
CRC-16/ARC, meter time with the ``W`` flag kept all year as those meters do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loadbalancer.meter.p1 import build_telegram

SAGEMCOM_HEADER = "ELL5\\253833635_A"


@dataclass(frozen=True, slots=True)
class PhaseLoad:
    """What one phase carries: signed current (negative = export), voltage, power factor."""

    current_a: float
    voltage_v: float = 230.0
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
