"""``/metrics``: the status in Prometheus' text exposition, one prefix, base units.

Built when scraped from the service's state and the hub's counters (nothing is updated on the
control path for it). Labels stay few: the phase, the charger's name, the reason code and the
kind of a rejected telegram (at most :data:`MAX_REJECTION_KINDS`, the rest counted as ``other``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from loadbalancer.http.hub import StatusHub
from loadbalancer.status import Status

PREFIX = "loadbalancer"
#: kinds of rejected telegram with their own label value
MAX_REJECTION_KINDS = 20


class StatusCollector(Collector):
    def __init__(self, hub: StatusHub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        status = hub.snapshot()
        yield from _site_metrics(status)
        yield from _charger_metrics(status)
        decisions = CounterMetricFamily(
            f"{PREFIX}_decisions",
            "Charger outcomes decided, by reason code (one per charger per control step)",
            labels=["reason"],
        )
        for reason, count in sorted(hub.decisions_by_reason.items()):
            decisions.add_metric([reason], count)
        yield decisions
        rejected = CounterMetricFamily(
            f"{PREFIX}_meter_rejected",
            "Meter telegrams rejected, by kind of reason",
            labels=["reason"],
        )
        for kind, count in _capped(hub.service.intake.rejected_by_kind).items():
            rejected.add_metric([kind], count)
        yield rejected
        yield CounterMetricFamily(
            f"{PREFIX}_meter_telegrams",
            "Valid meter telegrams",
            value=status.meter.valid_telegrams,
        )


def _site_metrics(status: Status) -> Iterator[Metric]:
    info = GaugeMetricFamily(f"{PREFIX}_build_info", "The running version", labels=["version"])
    info.add_metric([status.version], 1)
    yield info
    yield GaugeMetricFamily(
        f"{PREFIX}_uptime_seconds", "Seconds since the service started", value=status.uptime_s
    )
    yield GaugeMetricFamily(
        f"{PREFIX}_ready", "1 while the meter is fresh and every charger controllable",
        value=int(status.ready),
    )  # fmt: skip
    yield GaugeMetricFamily(
        f"{PREFIX}_meter_stale",
        "1 while the meter fallback holds",
        value=int(status.meter.fallback),
    )
    if status.meter.age_s is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_meter_age_seconds",
            "Age of the meter reading the last decision used",
            value=status.meter.age_s,
        )
    phase = GaugeMetricFamily(
        f"{PREFIX}_phase_current_amperes",
        "Per phase: the meter's current, the house's (meter less the cars) and what the "
        "chargers are allowed in total",
        labels=["phase", "kind"],
    )
    rating = GaugeMetricFamily(
        f"{PREFIX}_phase_rating_amperes", "The main fuse's rating", labels=["phase"]
    )
    for p in status.phases:
        for kind, value in (("meter", p.meter_a), ("house", p.house_a), ("allowed", p.allowed_a)):
            if value is not None:
                phase.add_metric([p.phase, kind], value)
        rating.add_metric([p.phase], p.rating_a)
    yield phase
    yield rating


def _charger_metrics(status: Status) -> Iterator[Metric]:
    limit = GaugeMetricFamily(
        f"{PREFIX}_charger_limit_amperes", "The limit decided last", labels=["charger"]
    )
    measured = GaugeMetricFamily(
        f"{PREFIX}_charger_current_amperes",
        "The current the charger measured, per grid phase",
        labels=["charger", "phase"],
    )
    online = GaugeMetricFamily(
        f"{PREFIX}_charger_online", "1 while the charger answers", labels=["charger"]
    )
    for c in status.chargers:
        if c.limit_a is not None:
            limit.add_metric([c.name], c.limit_a)
        for phase, value in zip(c.phases, c.measured_a, strict=False):
            if value is not None:
                measured.add_metric([c.name, phase], value)
        online.add_metric([c.name], int(c.online))
    yield limit
    yield measured
    yield online


def _capped(counts: Mapping[str, int]) -> dict[str, int]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    out = dict(ordered[:MAX_REJECTION_KINDS])
    rest = sum(n for _, n in ordered[MAX_REJECTION_KINDS:])
    if rest:
        out["other"] = out.get("other", 0) + rest
    return out


def registry_for(hub: StatusHub) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(hub))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
