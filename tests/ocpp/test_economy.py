"""The write economy alone (pure: the time is given)."""

from __future__ import annotations

from loadbalancer.ocpp.economy import DAY_S, Verdict, WriteGate
from loadbalancer.ocpp.profile import WriteEconomy


def gate(**economy: float) -> WriteGate:
    settings = {"min_interval_s": 60.0, "daily_budget": 10, "deadband_a": 1.0, "verify_s": 60.0}
    settings.update(economy)
    return WriteGate(WriteEconomy(**settings))  # type: ignore[arg-type]


def test_the_first_write_and_every_cut_go_at_once() -> None:
    g = gate()
    assert g.verdict(16.0, 0.0) is Verdict.WRITE
    g.written(16.0, 0.0)
    # one second later, inside the minimum interval: a cut still goes
    assert g.verdict(10.0, 1.0) is Verdict.WRITE
    g.written(10.0, 1.0)
    assert g.verdict(0.0, 2.0) is Verdict.WRITE


def test_a_raise_waits_for_the_minimum_interval_and_the_deadband() -> None:
    g = gate()
    g.written(10.0, 0.0)
    assert g.verdict(16.0, 30.0) is Verdict.WAIT
    assert "minimum interval" in g.reason
    assert g.wait_s(30.0) == 30.0
    assert g.verdict(16.0, 60.0) is Verdict.WRITE
    assert g.verdict(10.5, 600.0) is Verdict.WAIT  # less than the 1 A dead-band
    assert "dead-band" in g.reason
    assert g.verdict(10.0, 600.0) is Verdict.SAME
    assert g.verdict(10.0, 600.0, rewrite=True) is Verdict.WRITE


def test_raises_stop_at_the_budget_less_the_share_for_cuts_and_cuts_never_do() -> None:
    g = gate(min_interval_s=0.0, daily_budget=10)
    now = 0.0
    for _ in range(4):  # raise, cut: 8 writes
        g.written(16.0, now)
        g.written(6.0, now + 1)
        now += 2
    assert g.verdict(16.0, now) is Verdict.WAIT  # 8 of 10 used: the 2 left are for cuts
    assert "kept for cuts" in g.reason
    assert g.wait_s(now) == DAY_S - now  # until the first write of the day drops out
    for i in range(5):  # past the budget: cuts still go
        assert g.verdict(5.0 - i, now) is Verdict.WRITE
        g.written(5.0 - i, now)
    assert g.writes_today(now) == 13
    # a day later the old writes drop out and a raise may go again
    assert g.verdict(16.0, now + DAY_S) is Verdict.WRITE


def test_after_a_reconnect_the_limit_in_force_is_unknown_and_any_limit_goes() -> None:
    g = gate()
    g.written(6.0, 0.0)
    assert g.verdict(16.0, 1.0) is Verdict.WAIT
    g.forget()
    assert g.verdict(16.0, 1.0) is Verdict.WRITE
