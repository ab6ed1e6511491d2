"""Named driver hooks: the few steps a profile cannot say with registers alone.

A profile lists hook names (``hooks: [schneider_conditional_life_bit]``); each name resolves
here to a :class:`Hook` that replaces one step of the generic driver. Hooks talk to the box only
through :class:`RegisterIO` (named, decoded register reads and writes), so they hold no protocol
code and can be tested with any implementation of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from loadbalancer.chargers.codec import Value


class RegisterIO(Protocol):
    """Named register access, values in engineering units (what the driver offers hooks)."""

    async def read_value(self, name: str) -> Value: ...

    async def write_value(self, name: str, value: float | str) -> None: ...


#: keep-alive step: (io, the keep-alive register, the value the profile says to write)
KeepAliveStep = Callable[[RegisterIO, str, float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Hook:
    """One named replacement for a generic driver step."""

    name: str
    summary: str
    keep_alive: KeepAliveStep | None = None


#: value Schneider's life bit 4000 reads when the box does not want keep-alive writes
SCHNEIDER_NO_KEEPALIVE_VALUE = 2.0


async def _schneider_conditional_life_bit(io: RegisterIO, register: str, value: float) -> None:
    # evcc charger/schneider-v3.go: write the life bit only while it does not read 2
    current = await io.read_value(register)
    if current != SCHNEIDER_NO_KEEPALIVE_VALUE:
        await io.write_value(register, value)


HOOKS: dict[str, Hook] = {
    hook.name: hook
    for hook in (
        Hook(
            "schneider_conditional_life_bit",
            "keep-alive writes the life bit only while it does not read 2",
            keep_alive=_schneider_conditional_life_bit,
        ),
    )
}
