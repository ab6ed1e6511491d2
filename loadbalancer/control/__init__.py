"""The pure control core: ``decide`` and the types it takes and returns (docs/ARCHITECTURE.md).

Nothing here does I/O or reads a clock; time comes in as ``now_s`` (monotonic seconds).
"""

from loadbalancer.control.config import ChargerSpec, ControlConfig
from loadbalancer.control.core import decide
from loadbalancer.control.decision import ChargerDecision, Decision
from loadbalancer.control.fuse import BudgetState, Characteristic, FuseProfile
from loadbalancer.control.inputs import ChargerRead, Inputs, MeterInput, TariffInput
from loadbalancer.control.reasons import Reason
from loadbalancer.control.state import ChargerMemory, ControllerState, initial_state

__all__ = [
    "BudgetState",
    "Characteristic",
    "ChargerDecision",
    "ChargerMemory",
    "ChargerRead",
    "ChargerSpec",
    "ControlConfig",
    "ControllerState",
    "Decision",
    "FuseProfile",
    "Inputs",
    "MeterInput",
    "Reason",
    "TariffInput",
    "decide",
    "initial_state",
]
