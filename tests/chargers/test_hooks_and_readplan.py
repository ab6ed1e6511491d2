"""Named hooks and the read plan: the pure pieces around the driver."""

from __future__ import annotations

from loadbalancer.chargers.codec import Value
from loadbalancer.chargers.hooks import HOOKS
from loadbalancer.chargers.profile import Transport, load_profile
from loadbalancer.chargers.readplan import plan_reads


class RecordingIO:
    """A RegisterIO over a dict: the hook's only window on the box."""

    def __init__(self, values: dict[str, Value]) -> None:
        self.values = values
        self.writes: list[tuple[str, float | str]] = []

    async def read_value(self, name: str) -> Value:
        return self.values[name]

    async def write_value(self, name: str, value: float | str) -> None:
        self.writes.append((name, value))
        self.values[name] = value


async def test_schneider_life_bit_is_written_unless_it_reads_2() -> None:
    step = HOOKS["schneider_conditional_life_bit"].keep_alive
    assert step is not None
    io = RecordingIO({"life_bit": 0.0})
    await step(io, "life_bit", 1.0)
    assert io.writes == [("life_bit", 1.0)]
    quiet = RecordingIO({"life_bit": 2.0})
    await step(quiet, "life_bit", 1.0)
    assert quiet.writes == []


def test_contiguous_registers_share_a_read() -> None:
    alfen = load_profile("alfen-eve")
    currents = [alfen.register(name) for name in alfen.readings.current_a]
    blocks = plan_reads([*currents, alfen.register("status")], alfen.transport)
    assert [(b.table, b.address, b.count) for b in blocks] == [
        ("holding", 320, 6),
        ("holding", 1201, 5),
    ]


def test_gaps_tables_and_block_limits_split_reads() -> None:
    vestel = load_profile("vestel-evc04")
    registers = [vestel.register(n) for n in ("current_l1", "current_l2", "setpoint")]
    blocks = plan_reads(registers, vestel.transport)
    assert [(b.table, b.address, b.count) for b in blocks] == [
        ("holding", 5004, 1),
        ("input", 1008, 1),
        ("input", 1010, 1),
    ]
    amperfied = load_profile("amperfied")
    names = ["cp_state", "current_l1", "current_l2", "current_l3"]
    together = plan_reads([amperfied.register(n) for n in names], amperfied.transport)
    assert [(b.address, b.count) for b in together] == [(5, 4)]
    limited = plan_reads([amperfied.register(n) for n in names], Transport(max_block_registers=2))
    assert [(b.address, b.count) for b in limited] == [(5, 2), (7, 2)]
    single = plan_reads(
        [amperfied.register(n) for n in names], Transport(single_register_reads=True)
    )
    assert len(single) == 4
