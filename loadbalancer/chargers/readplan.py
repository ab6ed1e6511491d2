"""Which read requests fetch a set of registers: pure, so the block rules are easy to test.

Registers are read together only when they are in the same table and follow each other with no
gap (an unknown address in the middle would make many boxes answer "illegal data address"),
never more than the box's block limit, and never at all on boxes that read one value per
request (KEBA, Vestel/Unite).
"""

from __future__ import annotations

from dataclasses import dataclass

from loadbalancer.chargers.profile import Register, Table, Transport


@dataclass(frozen=True, slots=True)
class ReadBlock:
    table: Table
    address: int
    count: int
    registers: tuple[Register, ...]

    def slice_of(self, register: Register, words: list[int]) -> list[int]:
        """The words of ``register`` in the answer to this block."""
        start = register.address - self.address
        return words[start : start + register.words]


def plan_reads(registers: list[Register], transport: Transport) -> list[ReadBlock]:
    """Read requests covering ``registers`` (each once), in table and address order."""
    unique = {(r.table, r.address): r for r in registers}
    ordered = sorted(unique.values(), key=lambda r: (r.table, r.address))
    blocks: list[ReadBlock] = []
    for register in ordered:
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and not transport.single_register_reads
            and last.table == register.table
            and last.address + last.count == register.address
            and last.count + register.words <= transport.max_block_registers
        ):
            blocks[-1] = ReadBlock(
                last.table,
                last.address,
                last.count + register.words,
                (*last.registers, register),
            )
        else:
            blocks.append(ReadBlock(register.table, register.address, register.words, (register,)))
    return blocks
