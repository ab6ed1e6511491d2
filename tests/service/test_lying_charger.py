"""Issue 11 acceptance: a misbehaving Modbus box on loopback against the real service.

Two chargers on a 3x20 A strict fuse (no overload budget: 19 A after the margin): ``honest``
and ``liar``. The liar lies in its current registers (NaN, inf, 3e38, all-ones), ignores or
refuses its set-point, answers late, hangs up, answers with another unit or transaction id, or
goes silent. Through all of it the grid current (the house plus what the emulated cars really
draw) is never above the fuse's rating for longer than one telegram period plus the box's
response time, and each episode gives one log line (start, and one at its end), not one a poll.
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.chargers.simbox import SimulatedCar
from tests.service.harness import Box, Site, running_site

THREE = ["L1", "L2", "L3"]
RATING_A = 20.0
TELEGRAM_PERIOD_S = 1.0  # the harness's meter.telegram_period_s
BOX_RESPONSE_S = 0.5
#: the car behind an emulated box follows within 0.1 s; two polls (0.2 s) see it
SLACK_S = 0.5
ALLOWED_OVER_S = TELEGRAM_PERIOD_S + BOX_RESPONSE_S + SLACK_S
OPTIONS: dict[str, Any] = {
    "box_response_s": BOX_RESPONSE_S,
    "request_timeout_s": 0.4,
    "connect_timeout_s": 0.4,
}


#: running_site's options: the strict fuse, the service's timings, quick control delays
FAST: dict[str, Any] = {
    "fuse": "3x20A-strict",
    "service_options": OPTIONS,
    "ramp_up_delay_s": 1,
    "resume_delay_s": 1,
}


def boxes(liar_profile: str = "alfen-eve") -> list[Box]:
    """Cars that take 8 A at most: a box's own default limit at start-up overloads nothing."""

    def car() -> SimulatedCar:
        return SimulatedCar(delay_s=0.1, shortfall_a=0.2, max_current_a=8.0)

    return [
        Box("honest", "vestel-evc04", THREE, car=car()),
        Box("liar", liar_profile, THREE, car=car()),
    ]


class Watch:
    """Telegrams every 0.5 s (the chargers' 0.2 s polls see a car follow before the next);
    the longest stretch with a phase above the rating."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.over_since: float | None = None
        self.longest_over_s = 0.0
        self.peak_a = 0.0

    async def run(self, house: tuple[float, float, float], seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            currents = await self.site.telegram(house)
            now = time.monotonic()
            self.peak_a = max(self.peak_a, *currents)
            if max(currents) > RATING_A:
                self.over_since = now if self.over_since is None else self.over_since
                self.longest_over_s = max(self.longest_over_s, now - self.over_since)
            else:
                self.over_since = None
            await asyncio.sleep(0.5)

    async def until(
        self, house: tuple[float, float, float], done: Callable[[], bool], seconds: float
    ) -> None:
        """Telegrams until ``done()`` (at most ``seconds``)."""
        end = time.monotonic() + seconds
        while not done():
            assert time.monotonic() < end, "timed out"
            await self.run(house, 0.5)

    def check(self) -> None:
        assert self.longest_over_s <= ALLOWED_OVER_S, (self.longest_over_s, self.peak_a)


def strict_json(site: Site) -> list[dict[str, Any]]:
    """Every record, parsed refusing NaN and Infinity (invalid JSON)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the decision log")

    text = site.log_path.read_text()
    return [json.loads(line, parse_constant=refuse) for line in text.splitlines() if line]


def events(site: Site, event: str, charger: str = "liar") -> list[dict[str, Any]]:
    return [r for r in strict_json(site) if r["event"] == event and r.get("charger") == charger]


def packed(fmt: str, value: float | int) -> tuple[int, ...]:
    data = struct.pack(fmt, value)
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


async def settled(site: Site) -> Watch:
    """Both cars charging (the one that answered first may pause for resume_delay_s)."""
    watch = Watch(site)
    for _ in range(20):
        await watch.run((3.0, 3.0, 3.0), 0.5)
        if site.setpoint("liar") > 0 and site.setpoint("honest") > 0:
            break
    await watch.run((3.0, 3.0, 3.0), 0.5)
    assert site.setpoint("liar") > 0 and site.setpoint("honest") > 0
    return watch


@pytest.mark.parametrize(
    ("profile", "lie"),
    [
        ("alfen-eve", packed(">f", math.inf)),
        ("alfen-eve", packed(">f", 3e38)),
        ("alfen-eve", packed(">f", math.nan)),
        ("vestel-evc04", (0xFFFE,)),  # 65.534 A at 1 mA: a number, but not this charger's draw
        ("abb-terra-ac", (0xFFFF, 0xFFFF)),  # uint32 all-ones: "not available"
    ],
)
async def test_absurd_currents_never_raise_a_limit(
    tmp_path: Path, profile: str, lie: tuple[int, ...]
) -> None:
    async with running_site(tmp_path, boxes(profile), **FAST) as site:
        watch = await settled(site)
        before = {name: site.setpoint(name) for name in ("liar", "honest")}
        site.box("liar").faults.words["current_l1"] = lie
        # the oven: the lie used to make house = meter - measured -inf, allowed +inf, no cut
        await watch.run((9.0, 9.0, 9.0), 2.5)
        watch.check()
        assert site.setpoint("honest") <= before["honest"]
        assert site.setpoint("liar") <= before["liar"]
        booked = site.decisions_for("liar")[-1]
        assert booked["reason"] == "charger_unknown_reserved"
        # booked at its last limit (or its minimum if that was a pause), never 0 or inf: the
        # oven's telegram may come before the poll that sees the lie and cut it first
        known = [d for d in site.decisions_for("liar") if d["reason"] != booked["reason"]]
        assert booked["setpoint_a"] >= max(known[-1]["setpoint_a"], 6.0)
        assert booked["measured_a"] == []
        site.box("liar").faults.words.clear()
        await watch.run((9.0, 9.0, 9.0), 1.0)
        watch.check()
        assert len(events(site, "charger_implausible")) == 1  # one line, not one a poll
        assert len(events(site, "charger_plausible")) == 1
        assert site.decisions_for("liar")[-1]["reason"] != "charger_unknown_reserved"


async def test_a_lone_box_with_absurd_currents_is_still_cut_when_the_house_rises(
    tmp_path: Path,
) -> None:
    # booked at its limit and never written again, a lone liar kept the phase over for good
    car = SimulatedCar(delay_s=0.1, shortfall_a=0.2, max_current_a=8.0)
    async with running_site(tmp_path, [Box("liar", "alfen-eve", THREE, car=car)], **FAST) as site:
        watch = Watch(site)
        await watch.until((3.0, 3.0, 3.0), lambda: site.setpoint("liar") >= 8.0, 15.0)
        site.box("liar").faults.words["current_l1"] = packed(">f", math.inf)
        await watch.run((3.0, 3.0, 3.0), 1.5)
        assert site.decisions_for("liar")[-1]["reason"] == "charger_unknown_reserved"
        # the oven: 15 A of house beside the car's 8 A on a 20 A strict fuse (19 A target)
        await watch.run((15.0, 15.0, 15.0), 3.0)
        watch.check()
        assert site.setpoint("liar") <= 4.0 + 0.5 or site.setpoint("liar") == 0.0
        assert any(d["reason"] == "overload_cut" for d in site.decisions_for("liar"))
        assert len(events(site, "charger_implausible")) == 1


async def test_acknowledged_but_ignored_limit_is_rewritten_then_booked(tmp_path: Path) -> None:
    async with running_site(tmp_path, boxes(), **FAST) as site:
        watch = await settled(site)
        kept = site.setpoint("liar")
        site.box("liar").faults.ignore_writes = True
        writes = site.service.writes
        # the oven: the liar is cut (or paused), says yes, and keeps its old limit
        await watch.run((9.0, 9.0, 9.0), 2.5)
        watch.check()
        assert site.setpoint("liar") == kept  # it really kept it
        [episode] = events(site, "setpoint_not_applied")
        assert episode["limit_a"] == kept
        assert site.service.writes >= writes + 2  # the cut and its rewrite
        booked = site.decisions_for("liar")[-1]
        assert (booked["reason"], booked["setpoint_a"]) == ("charger_unknown_reserved", kept)
        site.box("liar").faults.ignore_writes = False
        # rewritten with back-off (0.5, 1, 2, 4 s ...) until it applies it
        await watch.until((9.0, 9.0, 9.0), lambda: bool(events(site, "setpoint_applied")), 10)
        assert len(events(site, "setpoint_applied")) == 1
        assert len(events(site, "setpoint_not_applied")) == 1


async def test_refused_write_is_write_refused_not_offline(tmp_path: Path) -> None:
    async with running_site(tmp_path, boxes(), **FAST) as site:
        watch = await settled(site)
        site.box("liar").faults.reject_writes = 4
        await watch.run((9.0, 9.0, 9.0), 2.5)
        watch.check()
        [refused] = events(site, "write_refused")
        assert refused["exception_code"] == 4
        assert "check on the box" not in refused["error"]  # a failing box needs no licence
        assert events(site, "charger_offline") == []  # it answers: online
        assert events(site, "write_failed") == []
        booked = site.decisions_for("liar")[-1]
        assert booked["reason"] == "charger_unknown_reserved"
        # retried with back-off (1, 2 s ...), not on every decision
        site.box("liar").faults.reject_writes = None
        await watch.until((9.0, 9.0, 9.0), lambda: bool(events(site, "write_accepted")), 8)
        assert len(events(site, "write_accepted")) == 1
        assert len(events(site, "write_refused")) == 1


async def test_failsafe_is_configured_again_after_an_outage(tmp_path: Path) -> None:
    async with running_site(tmp_path, boxes("vestel-evc04"), **FAST) as site:
        watch = await settled(site)
        box = site.box("liar").box
        assert box.timeout_s == site.service.site.failsafe_timeout_s
        await site.box("liar").set_refusing(True)
        await watch.run((3.0, 3.0, 3.0), 1.0)
        box.timeout_s = 0.0  # restarted: its failsafe is gone
        await site.box("liar").set_refusing(False)
        await watch.run((3.0, 3.0, 3.0), 3.0)
        assert len(events(site, "charger_offline")) == 1
        assert len(events(site, "charger_online")) == 2  # at start, and back
        assert len(events(site, "failsafe_configured")) == 2
        assert box.timeout_s == site.service.site.failsafe_timeout_s


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("silent", "no answer"),
        ("close_always", "closed by the charger"),
        ("wrong_unit", "answered with unit id"),
        ("wrong_transaction", "answered with transaction id"),
        ("delay_s", "no answer"),
    ],
)
async def test_a_box_that_misbehaves_is_reserved_and_said_once(
    tmp_path: Path, fault: str, said: str
) -> None:
    async with running_site(tmp_path, boxes(), **FAST) as site:
        watch = await settled(site)
        emulator = site.box("liar")
        connections_before = emulator.requests
        setattr(emulator.faults, fault, 1.0 if fault == "delay_s" else True)
        await watch.run((9.0, 9.0, 9.0), 2.5)
        watch.check()
        [offline] = events(site, "charger_offline")
        assert said in offline["error"]
        assert "check on the box" not in offline["error"]
        assert site.decisions_for("liar")[-1]["reason"] == "charger_offline_reserved"
        # backed off: a handful of requests in 2.5 s, not one every 0.2 s poll
        assert emulator.requests - connections_before < 10
        setattr(emulator.faults, fault, 0.0 if fault == "delay_s" else False)
        # back after the driver's back-off (1, 2, 4 s ...)
        back = lambda: len(events(site, "charger_online")) == 2  # noqa: E731 - at start, and now
        await watch.until((9.0, 9.0, 9.0), back, 10)
        assert len(events(site, "charger_offline")) == 1


async def test_a_refused_keep_alive_is_its_own_event_once(tmp_path: Path) -> None:
    # issue 11, item 8: it was write_failed with a setpoint_a, and the box went "offline"
    async with running_site(
        tmp_path,
        boxes("vestel-evc04"),
        **FAST,
        failsafe_timeout_s=5,
    ) as site:
        watch = await settled(site)
        site.box("liar").faults.reject_writes_to["alive"] = 4
        await watch.run((3.0, 3.0, 3.0), 4.0)
        [failed] = events(site, "keep_alive_failed")
        assert "setpoint_a" not in failed
        assert failed["exception_code"] == 4
        assert events(site, "write_failed") == []
        assert events(site, "charger_offline") == []
