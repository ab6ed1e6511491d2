"""Facts of the low-voltage grid and of EV charging that every part of the program shares.

No I/O: the pure control core, the parsers and the shell all import from here, so each fact is
written once.
"""

from __future__ import annotations

#: the grid phases in meter order; a fuse or a charger uses the first N or a subset
PHASES: tuple[str, str, str] = ("L1", "L2", "L3")

#: the nominal phase voltage of the Swedish (European) low-voltage grid, for kW and kWh estimates
NOMINAL_VOLTAGE_V = 230.0

#: IEC 61851-1: the lowest pilot-signal current a car must accept; below it a charger pauses
IEC_MIN_CURRENT_A = 6.0

#: a phase counts as in use (the car draws on it) above this current
PHASE_IN_USE_A = 1.0
