"""The capacity tariff in ``loadbalancer run`` (issue 15, items 2-4 at run time): the real
Service, the meter over TCP, an emulated charger, an injected wall clock."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import pytest

from loadbalancer.records import decode
from loadbalancer.tariff.profile import load_tariff_profile
from loadbalancer.tariff.state import load_month, state_path
from tests.service.harness import Box
from tests.service.tariff_harness import THREE, TariffSite, local_s, read_records, tariff_site

HOURLY = {"profile": "generic-hourly", "budget_kw": 5.0}


async def an_hour(site: TariffSite, start_s: float, kwh: float, at_kwh: float) -> float:
    """Telegrams 10 s either side of the end of the hour starting at ``start_s``, with ``kwh``
    imported in it (the register at ``at_kwh`` on its start); the register at its end."""
    await site.telegram(start_s + 3590, at_kwh + kwh - 0.01)
    await site.telegram(start_s + 3610, at_kwh + kwh + 0.01)
    return at_kwh + kwh


async def first_hour(site: TariffSite, start_s: float, kwh: float, at_kwh: float) -> float:
    """The service's first telegrams 10 s either side of the start of the hour (its edge is
    measured; the hour before it closes as a small estimated one), then :func:`an_hour`."""
    await site.telegram(start_s - 10, at_kwh - 0.001, house_a=0.5)
    await site.telegram(start_s + 10, at_kwh + 0.001, house_a=0.5)
    return await an_hour(site, start_s, kwh, at_kwh)


async def test_an_interval_closes_into_a_record_and_the_state_file(tmp_path: Path) -> None:
    t0 = local_s(2026, 1, 14, 18)
    async with tariff_site(tmp_path, HOURLY, t0 - 10) as site:
        await first_hour(site, t0, 6.0, 1000.0)
        before, interval = site.records("tariff_interval")
    # the service started 10 s before 18:00: the hour before is estimated from the power
    assert (before["start"], before["estimated"]) == ("2026-01-14T17:00:00+01:00", True)
    assert interval == {
        **{k: interval[k] for k in ("ts", "event", "mono_s")},
        "profile": "generic-hourly",
        "start": "2026-01-14T18:00:00+01:00",
        "end": "2026-01-14T19:00:00+01:00",
        "interval_s": 3600,
        "energy_kwh": pytest.approx(6.0, abs=1e-3),
        "mean_kw": pytest.approx(6.0, abs=1e-3),
        "estimated": False,
        "component": "all hours",
        "weight": 1.0,
        "budget_kw": 5.0,
        "peak_rank": 1,
    }
    month = load_month(state_path(tmp_path / "state"), "generic-hourly")
    assert month is not None and month.month == "2026-01"
    assert month.billed_kw(load_tariff_profile("generic-hourly"), "all hours") == pytest.approx(
        6.0, abs=1e-3
    )
    # every record of a run with a tariff is one the schema decodes, strictly
    assert [decode(line).ts for line in site.log_path.read_bytes().splitlines()]
    (startup,) = read_records(site.log_path, "startup")
    assert startup["tariff"] == {
        "profile": "generic-hourly",
        "budget_kw": 5.0,
        "mode": "cap",
        "margin_kw": 0.2,
    }


async def test_the_tariff_ceiling_binds_a_decision(tmp_path: Path) -> None:
    """Half an hour in, with what was imported so far (back from the first telegram's power),
    the cars may take (5 kWh - so far) / 0.5 h - the house - 0.2 kW margin: below the 11 kW of
    the charger's 16 A, so the tariff's ceiling is what binds."""
    t0 = local_s(2026, 1, 14, 18, 30)
    box = Box("carport", "alfen-eve", THREE)
    async with tariff_site(tmp_path, HOURLY, t0, boxes=[box]) as site:
        energy = 1000.0
        for i in range(30):
            await site.telegram(t0 + i, energy)
            energy += 0.002
            if any(
                c["reason"] == "tariff_limit"
                for d in site.records("decision")
                for c in d["chargers"]
            ):
                break
            await asyncio.sleep(0.1)
        decisions = site.records("decision")
    bound = [d for d in decisions if d["chargers"][0]["reason"] == "tariff_limit"]
    assert bound, [d["chargers"][0]["reason"] for d in decisions]
    tariff = bound[0]["tariff"]
    assert tariff["budget_kw"] == 5.0
    assert tariff["interval_start"] == "2026-01-14T18:00:00+01:00"
    assert tariff["needed_kw"] == {}
    car = bound[0]["chargers"][0]
    house_a = [bound[0]["meter_a"][p] - car["measured_a"][i] for i, p in enumerate(THREE)]
    # a decision within 30 s of half past: 0.5 h left, give or take 1 %
    expected_kw = (5.0 - tariff["energy_kwh_so_far"]) / 0.5 - sum(house_a) * 0.23 - 0.2
    assert tariff["cars_kw"] == pytest.approx(expected_kw, abs=0.1 + expected_kw * 0.02)
    assert car["setpoint_a"] <= tariff["cars_kw"] * 1000 / (3 * 230) + 0.01 < 16.0


@pytest.mark.parametrize("mode", ["cap", "follow_peak"])
async def test_follow_peak_raises_the_budget_to_the_month_s_paid_peak(
    tmp_path: Path, mode: str
) -> None:
    t0 = local_s(2026, 1, 14, 18)
    async with tariff_site(tmp_path, {**HOURLY, "mode": mode}, t0 - 10) as site:
        end_kwh = await first_hour(site, t0, 6.5, 1000.0)  # a peak of 6.5 kW: paid for now
        await an_hour(site, t0 + 3600, 1.0, end_kwh)
        _before, first, second = site.records("tariff_interval")
        last = site.records("decision")[-1]
    raised = 6.5 if mode == "follow_peak" else 5.0
    assert first["budget_kw"] == 5.0
    assert second["budget_kw"] == pytest.approx(raised, abs=1e-3)
    assert last["tariff"]["budget_kw"] == pytest.approx(raised, abs=1e-3)
    assert second["peak_rank"] is None  # 1 kW is not the month's peak


FOLLOW = {**HOURLY, "mode": "follow_peak"}


async def restarted(tmp: Path, later_s: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The service started again at ``later_s`` on the same state and log, one telegram: its
    ``tariff_month`` record and its last decision."""
    async with tariff_site(tmp, FOLLOW, later_s) as site:
        await site.telegram(later_s, 1100.0)
        return site.records("tariff_month")[-1], site.records("decision")[-1]


async def test_a_restart_keeps_the_month_from_the_state_file(tmp_path: Path) -> None:
    t0 = local_s(2026, 1, 14, 18)
    async with tariff_site(tmp_path, FOLLOW, t0 - 10) as site:
        await first_hour(site, t0, 7.0, 1000.0)
    # a day later, the same month: the 7 kW peak is still paid for
    month, last = await restarted(tmp_path, local_s(2026, 1, 15, 9, 30))
    assert month["source"] == "state_file"
    assert month["problem"] is None
    assert month["intervals"] == 2
    assert month["billed_kw"] == {"all hours": pytest.approx(7.0, abs=1e-3)}
    assert last["tariff"]["budget_kw"] == pytest.approx(7.0, abs=1e-3)


async def test_a_new_month_starts_afresh(tmp_path: Path) -> None:
    t0 = local_s(2026, 1, 31, 18)
    async with tariff_site(tmp_path, FOLLOW, t0 - 10) as site:
        await first_hour(site, t0, 7.0, 1000.0)
    month, last = await restarted(tmp_path, local_s(2026, 2, 1, 9, 30))
    assert (month["month"], month["intervals"]) == ("2026-02", 0)
    assert last["tariff"]["budget_kw"] == 5.0


@pytest.mark.parametrize("rotated", [False, True])
async def test_a_corrupt_state_file_is_refused_in_one_line_and_the_month_rebuilt_from_the_log(
    tmp_path: Path, rotated: bool
) -> None:
    t0 = local_s(2026, 1, 14, 18)
    async with tariff_site(tmp_path, FOLLOW, t0 - 10) as site:
        end_kwh = await first_hour(site, t0, 7.0, 1000.0)
        await an_hour(site, t0 + 3600, 2.0, end_kwh)
    log_path = site.log_path
    if rotated:  # logrotate moved and compressed it since
        (tmp_path / "decisions.jsonl.2.gz").write_bytes(gzip.compress(log_path.read_bytes()))
        log_path.unlink()
    path = state_path(tmp_path / "state")
    path.write_text('{"format": 1, "profile": "generic-hourly", "month": ')
    later = local_s(2026, 1, 15, 9, 30)
    async with tariff_site(tmp_path, FOLLOW, later) as site:
        await site.telegram(later, 1100.0)
        last = site.records("decision")[-1]
        messages = list(site.messages)
    (month,) = site.records("tariff_month")[-1:]
    lines = [m for m in messages if str(path) in m]
    assert len(lines) == 1, messages
    assert "corrupt tariff state" in lines[0] and "\n" not in lines[0]
    assert "Traceback" not in "".join(messages)
    assert month["source"] == "decision_log"
    assert month["problem"] is not None and "corrupt" in month["problem"]
    assert month["intervals"] == 3
    assert month["billed_kw"] == {"all hours": pytest.approx(7.0, abs=1e-3)}
    assert last["tariff"]["budget_kw"] == pytest.approx(7.0, abs=1e-3)
    # the rebuilt month is saved; the refused file kept beside it
    rebuilt = load_month(path, "generic-hourly")
    assert rebuilt is not None and rebuilt.intervals == 3
    assert path.with_name("tariff-month.json.corrupt").read_text().startswith('{"format"')


@pytest.mark.parametrize(
    ("before", "after", "start", "end"),
    [
        # October: 02:00-03:00 summer time, then 02:00-03:00 again in winter time
        (
            local_s(2026, 10, 25, 2, 59, 50),
            local_s(2026, 10, 25, 2, 0, 10, fold=1),
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:00:00+01:00",
        ),
        # March: 02:00 does not exist; the hour after 01:00 ends at 03:00 summer time
        (
            local_s(2026, 3, 29, 1, 59, 50),
            local_s(2026, 3, 29, 3, 0, 10),
            "2026-03-29T01:00:00+01:00",
            "2026-03-29T03:00:00+02:00",
        ),
    ],
)
async def test_interval_edges_on_the_days_the_clock_changes(
    tmp_path: Path, before: float, after: float, start: str, end: str
) -> None:
    async with tariff_site(tmp_path, HOURLY, before - 3600) as site:
        await site.telegram(before - 3600, 499.99, house_a=0.5)
        await site.telegram(before - 3580, 500.01, house_a=0.5)
        await site.telegram(before, 501.0)
        await site.telegram(after, 501.02)
        intervals = site.records("tariff_interval")
    assert [(r["start"], r["end"]) for r in intervals[1:]] == [(start, end)]
    assert intervals[1]["energy_kwh"] == pytest.approx(1.01, abs=0.005)
    assert not intervals[1]["estimated"]


async def test_a_ready_by_charger_is_given_the_power_it_needs_above_the_budget(
    tmp_path: Path,
) -> None:
    """As in the test above, the budget alone would pause the car; it must have 20 kWh by
    19:00, half an hour away: it needs 40 kW, the decision says so and the car charges at the
    fuse's limit (16 A) all the same."""
    t0 = local_s(2026, 1, 14, 18, 30)
    ready = {**HOURLY, "ready_by": {"carport": {"time": "19:00", "energy_kwh": 20}}}
    async with tariff_site(tmp_path, ready, t0) as site:
        energy = 1000.0
        for i in range(40):
            await site.telegram(t0 + i, energy)
            energy += 0.002
            if site.boxes[0].emulator is not None and site.boxes[0].emulator.box.setpoint_a == 16:
                break
            await asyncio.sleep(0.1)
        decisions = [d for d in site.records("decision") if "tariff" in d]
    last = decisions[-1]
    assert last["chargers"][0]["setpoint_a"] == 16.0
    assert last["tariff"]["needed_kw"]["carport"] == pytest.approx(40.0, rel=0.05)
    assert last["chargers"][0]["setpoint_a"] * 3 * 0.23 > last["tariff"]["cars_kw"]
    assert all(d["chargers"][0]["reason"] != "tariff_limit" for d in decisions)


async def test_a_missing_state_file_is_rebuilt_from_the_log_without_a_word(tmp_path: Path) -> None:
    t0 = local_s(2026, 1, 14, 18)
    async with tariff_site(tmp_path, FOLLOW, t0 - 10) as site:
        await first_hour(site, t0, 7.0, 1000.0)
    path = state_path(tmp_path / "state")
    path.unlink()
    later = local_s(2026, 1, 15, 9, 30)
    async with tariff_site(tmp_path, FOLLOW, later) as site:
        await site.telegram(later, 1100.0)
        messages = list(site.messages)
    month = site.records("tariff_month")[-1]
    assert (month["source"], month["problem"], month["intervals"]) == ("decision_log", None, 2)
    assert month["billed_kw"] == {"all hours": pytest.approx(7.0, abs=1e-3)}
    assert not [m for m in messages if "tariff" in m]
    assert load_month(path, "generic-hourly") is not None  # saved again


async def test_a_meter_without_an_import_register_is_said_once(tmp_path: Path) -> None:
    t0 = local_s(2026, 1, 14, 18)
    async with tariff_site(tmp_path, HOURLY, t0) as site:
        for hour in range(4):
            await site.telegram(t0 + hour * 3600, None)
        decisions = site.records("decision")
        messages = list(site.messages)
    said = [m for m in messages if "no import register" in m]
    assert len(said) == 1 and "does not limit" in said[0]
    assert site.records("tariff_interval") == []
    assert all("tariff" not in d for d in decisions)
