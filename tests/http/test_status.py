"""The status snapshot: a pure function of the service's state and the time."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from loadbalancer.config import load_site
from loadbalancer.http.hub import status_json, to_json
from loadbalancer.logwriter import open_decision_log
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service
from loadbalancer.status import LIVE_WITHIN_S, status_of
from tests.http.helpers import THREE
from tests.service.harness import Box, free_port, write_site
from tests.service.tariff_harness import local_s, tariff_site


def idle_service(tmp_path: Path) -> tuple[Service, list[float]]:
    """A service that is not running, on a clock the test moves."""
    box = Box("carport", "alfen-eve", THREE)
    site_file, log_path = write_site(
        tmp_path, f"tcp://127.0.0.1:{free_port()}", [box], {"carport": free_port()}
    )
    now = [100.0]
    service = Service(
        load_site(site_file),
        log=open_decision_log(str(log_path)),
        notifier=Notifier({}),
        status=lambda _m: None,
        clock=lambda: now[0],
    )
    return service, now


def test_live_while_the_control_loop_steps_and_not_after(tmp_path: Path) -> None:
    service, now = idle_service(tmp_path)
    assert status_of(service, now[0]).live  # just started
    assert not status_of(service, now[0] + LIVE_WITHIN_S + 0.1).live  # never stepped
    now[0] += 60.0
    service.step()
    assert status_of(service, now[0] + LIVE_WITHIN_S).live
    assert not status_of(service, now[0] + LIVE_WITHIN_S + 0.1).live


def test_not_ready_without_a_meter_or_a_reachable_charger(tmp_path: Path) -> None:
    service, now = idle_service(tmp_path)
    now[0] += 10.0
    service.step()
    status = status_of(service, now[0])
    assert not status.ready
    assert status.not_ready == ("meter stale: no reading yet", "charger carport offline")
    (charger,) = status.chargers
    assert (charger.reason, charger.limit_a) == ("charger_offline_reserved", 6.0)
    assert charger.state_words == "not reached yet"
    assert charger.reason_words is not None and "failsafe current" in charger.reason_words
    assert status.meter.fallback and not status.meter.fresh
    assert [p.meter_a for p in status.phases] == [None, None, None]
    assert status.to_dict()["phases"][0]["rating_a"] == 20.0


def test_without_a_tariff_the_status_has_none(tmp_path: Path) -> None:
    service, now = idle_service(tmp_path)
    service.step()
    assert status_of(service, now[0]).tariff is None
    assert status_of(service, now[0]).to_dict()["tariff"] is None


async def test_with_a_tariff_the_status_tells_the_interval_as_the_decision_did(
    tmp_path: Path,
) -> None:
    """A capacity tariff of 5 kW an hour: half an hour into 18:00 with 2 kWh imported, the
    status says the interval, its energy so far and the budget, as the decision record does."""
    t0 = local_s(2026, 1, 14, 18)
    async with tariff_site(
        tmp_path, {"profile": "generic-hourly", "budget_kw": 5.0}, t0 - 10
    ) as site:
        service = site.service
        assert status_of(service, service.clock()).tariff == {
            "profile": "generic-hourly",
            "interval_s": 3600,
            "limited": False,  # no register reading yet
            "budget_kw": None,
            "interval_start": None,
            "energy_kwh_so_far": None,
            "cars_kw": None,
            "needed_kw": {},
        }
        await site.telegram(t0 - 10, 999.999, house_a=0.5)
        await site.telegram(t0 + 10, 1000.001, house_a=0.5)
        await site.telegram(t0 + 1800, 1002.0)
        tariff = status_of(service, service.clock()).tariff
        (last,) = [d for d in site.records("decision") if "tariff" in d][-1:]
    assert tariff is not None and tariff["limited"]
    assert tariff["interval_start"] == "2026-01-14T18:00:00+01:00"
    assert tariff["budget_kw"] == 5.0
    assert tariff["energy_kwh_so_far"] == pytest.approx(2.0, abs=0.01)
    assert tariff["cars_kw"] is not None and tariff["cars_kw"] > 0
    for key in ("budget_kw", "interval_start", "energy_kwh_so_far", "needed_kw"):
        assert tariff[key] == last["tariff"][key], key


def test_the_status_json_is_to_dict_with_a_non_finite_number_as_null(tmp_path: Path) -> None:
    service, now = idle_service(tmp_path)
    service.step()
    status = status_of(service, now[0])
    assert json.loads(status_json(status)) == json.loads(to_json(status.to_dict()))
    phase = dataclasses.replace(status.phases[0], meter_a=math.nan, house_a=math.inf)
    broken = dataclasses.replace(status, phases=(phase, *status.phases[1:]))
    body = json.loads(status_json(broken))  # strict JSON (no NaN): never a 500
    assert (body["phases"][0]["meter_a"], body["phases"][0]["house_a"]) == (None, None)
    assert body == json.loads(to_json(broken.to_dict()))
