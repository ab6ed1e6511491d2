"""Every endpoint of the real service over a real socket: a TCP meter, an emulated charger
(fast timers: 1 s telegrams, stale after 3 s, 0.2 s polls)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from loadbalancer import __version__
from loadbalancer.review.explain import REASON_MEANINGS
from loadbalancer.service import CONTROL_TICK_S
from tests.http.helpers import live_site


async def test_status_tells_the_last_decision_per_phase_and_charger(tmp_path: Path) -> None:
    async with live_site(tmp_path) as live:
        await live.settle((2.5, 1.0, 1.5), "carport", 16.0)
        await live.site.telegram((2.5, 1.0, 1.5))
        await asyncio.sleep(0.3)
        status = await live.status()
        decision = live.site.service.last_decision
        assert decision is not None
        assert status["version"] == __version__ and status["ready"] and status["live"]
        assert [p["phase"] for p in status["phases"]] == ["L1", "L2", "L3"]
        for phase in status["phases"]:
            name = phase["phase"]
            assert phase["meter_a"] == decision.meter_a[name]
            assert phase["house_a"] == decision.house_a[name]
            assert phase["allowed_a"] == decision.allowed_a[name]
            assert phase["rating_a"] == 20.0
        (charger,) = status["chargers"]
        outcome = decision.charger("carport")
        assert charger["limit_a"] == outcome.setpoint_a == 16.0
        assert charger["reason"] == str(outcome.reason)
        # the words of log --explain
        assert charger["reason_words"] == REASON_MEANINGS[str(outcome.reason)]
        assert charger["online"] and charger["state"] == "C"
        assert charger["state_words"] == "charging"
        assert abs(sum(charger["measured_a"]) - 3 * 16.0) < 3.0
        assert status["meter"]["fresh"] and status["meter"]["valid_telegrams"] > 0


async def test_readyz_flips_within_a_tick_of_the_meter_going_stale_and_back(
    tmp_path: Path,
) -> None:
    async with live_site(tmp_path) as live:
        service = live.site.service
        await live.settle((2.0, 2.0, 2.0), "carport", 16.0)
        code, body = await live.get("/readyz")
        assert (code, body) == (200, {"ready": True, "reasons": []})
        assert service.intake.meter is not None
        last_s = service.intake.meter.received_s
        # silence: poll /readyz until it says 503
        while (reply := await live.get("/readyz"))[0] == 200:
            assert service.clock() - last_s < 6.0
            await asyncio.sleep(0.05)
        flipped_s = service.clock() - last_s
        stale_after_s = service.site.meter.stale_after_s
        assert stale_after_s <= flipped_s <= stale_after_s + CONTROL_TICK_S
        code, body = reply
        assert code == 503 and not body["ready"]
        assert body["reasons"][0].startswith("meter stale: the last reading is")
        # a telegram: ready again at once (the charger stayed controllable)
        await live.site.telegram((2.0, 2.0, 2.0))
        await live.site.until(lambda: not service.intake.meter_stale, 2.0)
        assert (await live.get("/readyz"))[0] == 200
        assert (await live.get("/livez")) == (200, {"live": True})


async def test_readyz_names_a_charger_that_is_offline(tmp_path: Path) -> None:
    async with live_site(tmp_path) as live:
        await live.settle((2.0, 2.0, 2.0), "carport", 16.0)
        await live.site.box("carport").set_refusing(True)
        await live.site.until(lambda: not live.site.service.links[0].online, 5.0)
        await live.site.telegram((2.0, 2.0, 2.0))
        code, body = await live.get("/readyz")
        assert code == 503 and body["reasons"] == ["charger carport offline"]
        status = await live.status()
        assert status["chargers"][0]["state_words"] == "offline"


async def test_metrics_parse_and_carry_the_status(tmp_path: Path) -> None:
    async with live_site(tmp_path) as live:
        await live.settle((2.5, 1.0, 1.5), "carport", 16.0)
        for _ in range(5):
            await live.site.telegram((2.5, 1.0, 1.5))
            await asyncio.sleep(0.1)
        await live.site.meter.send(b"/ELL5\r\n\r\n1-0:31.7.0(001.0*A)\r\n!DEAD\r\n")
        await live.site.until(lambda: live.site.service.intake.rejected_telegrams == 1, 2.0)
        code, text = await live.get("/metrics")
        assert code == 200
        status = await live.status()
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        assert samples[("loadbalancer_build_info", (("version", __version__),))] == 1
        assert samples[("loadbalancer_charger_limit_amperes", (("charger", "carport"),))] == 16
        for phase in status["phases"]:
            for kind in ("meter", "house", "allowed"):
                key = (
                    "loadbalancer_phase_current_amperes",
                    (("kind", kind), ("phase", phase["phase"])),
                )
                assert abs(samples[key] - phase[f"{kind}_a"]) < 1.5  # one telegram apart at most
        decided = {
            labels[0][1]: value
            for (name, labels), value in samples.items()
            if name == "loadbalancer_decisions_total"
        }
        assert decided and sum(decided.values()) >= 5
        assert samples[("loadbalancer_meter_rejected_total", (("reason", "bad CRC"),))] == 1
        assert 0 <= samples[("loadbalancer_meter_age_seconds", ())] < 3
        assert samples[("loadbalancer_charger_online", (("charger", "carport"),))] == 1
