"""The house is the meter minus what the chargers measure, and the two must be of the same
moment. A charger read taken before its last lowered set-point still shows the car's old
current; set against a telegram that came after the car followed the new one, it understates
the house by the difference, and a load that came with that telegram went without its cut
until the next poll and the next telegram (found by benchmarks/reaction.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from loadbalancer.charger_open import modbus_charger
from loadbalancer.chargers.simbox import SimulatedCar
from loadbalancer.config import ModbusChargerConfig, load_site
from loadbalancer.control.decision import ChargerDecision
from loadbalancer.control.reasons import Reason
from loadbalancer.fresh_reads import TelegramReads
from loadbalancer.link import ChargerLink, LinkContext
from loadbalancer.logwriter import open_decision_log
from tests.ocpp.harness import fast, ocpp_site, point
from tests.service.harness import Box, Site, running_site, served_boxes, write_site

THREE = ["L1", "L2", "L3"]


async def settle(site: Site, house: tuple[float, float, float], target: float) -> None:
    async def loop() -> None:
        while site.setpoint("carport") != target:
            await site.telegram(house)
            await asyncio.sleep(0.3)

    await asyncio.wait_for(loop(), 15)


async def test_a_read_older_than_the_last_cut_does_not_hide_the_next_load(tmp_path: Path) -> None:
    # polls far apart: between a write and the reads after it, only the telegram can ask
    async with running_site(
        tmp_path, [Box("carport", "alfen-eve", THREE)], poll_interval_s=30
    ) as site:
        await settle(site, (2.0, 2.0, 2.0), 16.0)
        for _ in range(12):  # the reads after that write are done: the box reads 16 A
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.5)
        assert site.setpoint("carport") == 16.0
        # the oven on L1: 12 A of house leaves 7 A for the car
        await site.telegram((12.0, 2.0, 2.0))
        await site.until(lambda: site.setpoint("carport") == 7.0, 2.0)
        await asyncio.sleep(0.3)  # the car follows in 0.1 s; no read of the box since
        # a kettle beside the oven: 20 A of house on L1 leaves nothing of the 19 A target
        await site.telegram((20.0, 2.0, 2.0))
        await site.until(lambda: site.setpoint("carport") < 7.0, 1.0)
        last = site.records("decision")[-1]
        assert last["house_a"]["L1"] >= 19.5  # the house as it was: 20 A, not 11 A


async def test_a_read_older_than_the_last_raise_does_not_cut_for_nothing(tmp_path: Path) -> None:
    # the other way round: the box's read still shows the car's old, lower current while the
    # telegram has the raised one; set against each other, the house looks bigger than it is
    async with running_site(
        tmp_path, [Box("carport", "alfen-eve", THREE)], poll_interval_s=30
    ) as site:
        await settle(site, (12.0, 2.0, 2.0), 7.0)
        for _ in range(12):  # the reads after that write are done: the box reads 7 A
            await site.telegram((12.0, 2.0, 2.0))
            await asyncio.sleep(0.5)
        # the oven goes off: after the ramp-up delay, up to 16 A in one step
        await settle(site, (2.0, 2.0, 2.0), 16.0)
        raised = len(site.records("decision"))
        for _ in range(6):  # the car follows in 0.1 s; the next telegrams have its 16 A
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.3)
        after = [d["chargers"][0] for d in site.records("decision")[raised:]]
        assert after, "no decision after the raise"
        assert [c["setpoint_a"] for c in after] == [16.0] * len(after)
        assert site.records("decision")[-1]["house_a"]["L1"] <= 2.5


async def test_a_box_too_slow_to_be_read_again_counts_at_no_more_than_its_limit(
    tmp_path: Path,
) -> None:
    async with running_site(
        tmp_path,
        [Box("carport", "alfen-eve", THREE)],
        poll_interval_s=30,
        service_options={"request_timeout_s": 5.0},
    ) as site:
        await settle(site, (2.0, 2.0, 2.0), 16.0)
        for _ in range(12):
            await site.telegram((2.0, 2.0, 2.0))
            await asyncio.sleep(0.5)
        await site.telegram((12.0, 2.0, 2.0))
        await site.until(lambda: site.setpoint("carport") == 7.0, 2.0)
        await asyncio.sleep(0.3)
        site.box("carport").faults.delay_s = 2.0  # every answer from now on takes 2 s
        await site.telegram((20.0, 2.0, 2.0))

        def cut_decided() -> bool:
            last = site.records("decision")[-1]["chargers"][0]
            return bool(last["setpoint_a"] < 7.0)

        # decided when the wait for the read is over (0.5 s), not when the read comes (2 s):
        # the car counted at its written 7 A, the house at 20 A
        await site.until(cut_decided, 1.5)
        assert site.records("decision")[-1]["house_a"]["L1"] >= 19.5


class Clocked:
    """One link to an emulated box on loopback, with a hand-moved clock for the box, its car
    and the link alike (``now_s``), its poll task running."""

    def __init__(self, link: ChargerLink) -> None:
        self.link = link
        self.now_s = 0.0

    async def write(self, setpoint_a: float, reason: Reason) -> None:
        decided = ChargerDecision("carport", setpoint_a, reason, None, (), tuple(THREE))
        assert self.link.decided(decided)
        await self.link.write_once()


@asynccontextmanager
async def clocked_link(tmp_path: Path, car: SimulatedCar) -> AsyncIterator[Clocked]:
    holder: list[Clocked] = []

    def clock() -> float:
        return holder[0].now_s if holder else 0.0

    box = Box("carport", "alfen-eve", THREE, car=car)
    async with served_boxes([box], clock) as ports:
        site_file, log_path = write_site(tmp_path, "tcp://127.0.0.1:1", [box], ports)
        site = load_site(site_file)
        log = open_decision_log(str(log_path))
        context = LinkContext(site, log, lambda _m: None, clock, lambda: None)
        config = site.chargers[0]
        assert isinstance(config, ModbusChargerConfig)
        client = modbus_charger(config, connect_timeout_s=0.5, request_timeout_s=0.5, clock=clock)
        holder.append(Clocked(ChargerLink(config, client, context)))
        poller = asyncio.create_task(holder[0].link.poll_task())
        try:
            await holder[0].link.poll_once()
            yield holder[0]
        finally:
            poller.cancel()
            await client.close()
            log.close()


async def test_a_slow_cars_read_from_before_it_followed_is_not_set_against_the_telegram(
    tmp_path: Path,
) -> None:
    # a car that takes 20 s to follow its box's new limit (slow-car in the simulation)
    car = SimulatedCar(max_current_a=16.0, delay_s=20.0, shortfall_a=0.2)
    async with clocked_link(tmp_path, car) as run:
        link = run.link
        await run.write(16.0, Reason.START)
        run.now_s = 30.0
        await link.poll_once()
        assert link.read is not None and link.read.measured_a == (15.8,) * 3
        await run.write(10.0, Reason.OVERLOAD_CUT)  # at 30 s: the car draws 15.8 A for 20 s
        run.now_s = 48.0
        await link.poll_once()  # the last read before the telegram: 18 s after the write
        assert link.read.measured_a == (15.8,) * 3
        run.now_s = 51.0  # the car has followed: 9.8 A; a telegram comes with it
        decide = asyncio.Event()
        fresh = TelegramReads([link], decide.set)
        fresh.on_meter(lambda: None)
        await asyncio.wait_for(decide.wait(), 2.0)
        # the telegram's decision gets what the car drew when it came, not the read of 48 s
        # (set against the meter's 9.8 A, its 15.8 A made the house 6 A smaller)
        assert fresh.reads()["carport"].measured_a == (9.8,) * 3


async def test_the_early_cuts_count_a_one_phase_car_on_its_phase_only(tmp_path: Path) -> None:
    # counted at its limit on all three phases, a one-phase car looked three-phase to the core,
    # which cut it for a share of the two phases it does not use (undone by the exact decision)
    car = SimulatedCar(phases=1, max_current_a=16.0, delay_s=0.0, shortfall_a=0.2)
    async with clocked_link(tmp_path, car) as run:
        await run.write(16.0, Reason.START)
        run.now_s = 30.0
        await run.link.poll_once()
        await run.write(10.0, Reason.SHARE_CUT)
        assert run.link.read is not None and run.link.read.measured_a == (15.8, 0.0, 0.0)
        run.now_s = 31.0  # a telegram while its read predates the write: read again for it
        early: list[tuple[float, ...]] = []
        fresh = TelegramReads([run.link], lambda: None)
        fresh.on_meter(lambda: early.append(fresh.reads(lowest_house=True)["carport"].measured_a))
        assert fresh.awaiting == {"carport"}
        assert early == [(15.8, 0.0, 0.0)]


async def test_a_report_from_before_the_car_followed_a_cut_counts_at_no_more_than_it(
    tmp_path: Path,
) -> None:
    # an OCPP box reports every so often: its MeterValues sent after a cut was written may
    # still show the car's old current (the box applies the limit late, or the car follows
    # late); set against the next telegram, with the car at its new current, it understated
    # the house by the difference (a box that can be asked for MeterValues is, and the
    # telegram's decision waits for them: the test below)
    carport = point("carport", fast(tmp_path, meter_values={"trigger": False}))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        (link,) = site.service.links
        box.quirks.accept_but_ignore = True  # it applies the next limit late
        await site.telegram((12.0, 2.0, 2.0))  # the oven on L1: 7 A left for the car
        await site.until(lambda: link.written_a == 7.0, 3.0)
        await box.send_meter_values()  # after the write: still the car's 15.8 A
        await site.until(lambda: link.measured_s > (link.written_at_s or 0.0), 2.0)
        box.state.limit_a = 7.0  # now the box applies it: the car draws 6.8 A
        decisions = len(site.records("decision"))
        await site.telegram((20.0, 2.0, 2.0))  # a kettle beside the oven: 20 A of house on L1
        await site.until(lambda: len(site.records("decision")) > decisions, 2.0)
        # the car counted at no more than its 7 A limit: the house at 19.8 A, not 11 A
        assert site.records("decision")[-1]["house_a"]["L1"] >= 19.5


async def test_after_a_raise_the_telegram_waits_for_the_boxs_meter_values(tmp_path: Path) -> None:
    # an OCPP box that can be asked for MeterValues (TriggerMessage): its last ones, from
    # before a raise, showed the car's old 6.8 A while the telegram had its 15.8 A; set against
    # each other, the house looked 9 A bigger than it was, and the raise was cut for nothing
    meter_values = {"trigger_after_s": 30}  # the service's own ask after a raise comes late
    carport = point("carport", fast(tmp_path, meter_values=meter_values))
    async with ocpp_site(tmp_path, [carport]) as site:
        box = carport.box
        await site.ticks((12.0, 2.0, 2.0), lambda: box.state.limit_a == 7.0, 10)
        # the oven goes off: raised after the ramp-up delay; the box's last report is 6.8 A
        await site.ticks((2.0, 2.0, 2.0), lambda: box.state.limit_a == 16.0, 10)
        asked = box.meter_values_asked
        decisions = len(site.records("decision"))
        await site.telegram((2.0, 2.0, 2.0))  # the car draws 15.8 A; no report of its own
        await site.until(lambda: len(site.records("decision")) > decisions, 2.0)
        last = site.records("decision")[-1]
        assert last["house_a"]["L1"] <= 2.5  # the house as it was, not 11 A
        assert last["chargers"][0]["setpoint_a"] == 16.0
        assert box.meter_values_asked == asked + 1
