"""The status snapshot: a pure function of the service's state and the time."""

from __future__ import annotations

from pathlib import Path

from loadbalancer.config import load_site
from loadbalancer.logwriter import open_decision_log
from loadbalancer.sdnotify import Notifier
from loadbalancer.service import Service
from loadbalancer.status import LIVE_WITHIN_S, status_of
from tests.http.helpers import THREE, free_port
from tests.service.harness import Box, write_site


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
