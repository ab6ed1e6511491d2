"""The service's side of MQTT: after each control step the state goes into the latest-value
store (never waiting: the broker is the MQTT task's business), and a command becomes an input
of the next decision.

State goes out on a telegram's decision, or once per telegram period while no telegram comes
(the meter's age, a fallback), so at most about once per telegram; the MQTT task takes the
snapshot after the control step's writes went out (:data:`PUBLISH_AFTER_S`). Commands are checked,
applied, logged (a ``command`` record), kept with ``persist: true``, and a decision follows at
once. At most :data:`MAX_REFUSALS_PER_MIN` refusals a minute are logged (a client that sends
junk must not fill the disk); the rest are counted in the next one's ``problem``.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from loadbalancer.backoff import Backoff
from loadbalancer.control.config import ControlConfig
from loadbalancer.control.decision import Decision
from loadbalancer.mqtt.commands import (
    CommandRefused,
    Overrides,
    budget_bounds,
    control_with,
    load_persisted,
    max_current_bounds,
    parse_number,
    parse_switch,
    persist_path,
    save_persisted,
)
from loadbalancer.mqtt.discovery import discovery_messages
from loadbalancer.mqtt.settings import MqttConfig
from loadbalancer.mqtt.store import LatestStore
from loadbalancer.mqtt.topics import Topics, setting_values, state_values
from loadbalancer.printable import printable
from loadbalancer.status import status_of

if TYPE_CHECKING:
    from loadbalancer.service import Service

MAX_REFUSALS_PER_MIN = 10
#: no answer from the broker (CONNACK, SUBACK, a write) within this long: a stalled broker
TIMEOUT_S = 5.0
#: a due state is taken and published this long after its decision: the decision's writes to
#: the chargers go first (20 boxes take up to ~50 ms; publishing a telegram's changes costs
#: the event loop a few milliseconds, which would otherwise delay a cut: benchmarks/mqtt.py)
PUBLISH_AFTER_S = 0.05
#: at a stop, the MQTT task ends within this long (its goodbye: ``offline``, a disconnect)
STOP_WITHIN_S = 2.5
#: the pauses between tries while the broker is away
BACKOFF_INITIAL_S, BACKOFF_MAX_S = 1.0, 60.0
#: how much of a refused payload the record keeps
SHOWN_PAYLOAD_CHARS = 40


class MqttBridge:
    """The store, the commands in force, and what the service calls."""

    def __init__(self, service: Service, config: MqttConfig) -> None:
        self.service = service
        self.site = service.site
        self.config = config
        self.topics = Topics(self.site, config)
        self.discovery = discovery_messages(self.site, config, self.topics)
        self.store = LatestStore(len(self.discovery) + self.topics.count())
        for topic, payload in self.discovery.items():
            self.store.put(topic, payload)
        self.overrides = Overrides()
        self.timeout_s = TIMEOUT_S
        self.backoff = Backoff(BACKOFF_INITIAL_S, BACKOFF_MAX_S)
        self._control = self.site.control
        self.commands = self._command_topics()
        self._telegrams = -1
        self._published_s = -math.inf
        self._refusals: list[float] = []
        self._unlogged = 0
        self._failed = False
        self._due = False
        #: the decision whose state went into the store last (the latest when it was taken)
        self.published: Decision | None = None
        #: the records of what ``persist: true`` restored, written once the log has started
        self._restored: list[dict[str, Any]] = []
        self._restore()
        self._put_settings()
        service.decision_listeners.append(self.on_decision)

    # ---- what the control step reads and calls -----------------------------------------------

    def commanded(self) -> tuple[ControlConfig, frozenset[str]]:
        """The control settings with the commanded maximums, and the paused chargers."""
        return self._control, self.overrides.paused

    def on_decision(self, _decision: Decision) -> None:
        """After a step: on a telegram, or once a telegram period, the state is due. Only a
        flag here: the snapshot is taken by the MQTT task (:meth:`refresh`) after the step's
        writes went out, and not at all while the broker is away."""
        service = self.service
        now_s = service.last_step_s if service.last_step_s is not None else service.clock()
        telegrams = service.intake.valid_telegrams
        period_s = self.site.meter.telegram_period_s
        if telegrams == self._telegrams and now_s - self._published_s < period_s:
            return
        self._telegrams, self._published_s = telegrams, now_s
        self._due = True
        self.store.changed.set()

    @property
    def idle(self) -> bool:
        """Nothing due, nothing waiting to go out."""
        return not self._due and not self.store.pending

    def refresh(self) -> None:
        """The state now into the store, if a decision made it due. Never raises (a bug here
        is told once, and MQTT goes on)."""
        if not self._due:
            return
        self._due = False
        try:
            self.published = self.service.last_decision
            status = status_of(self.service, self.service.clock())
            values = state_values(status, self.overrides, self.site, self.topics)
        except Exception as exc:
            if not self._failed:
                self._failed = True
                self.service.status(f"mqtt: state not published: internal error {exc!r}")
            return
        for topic, payload in values.items():
            self.store.put(topic, payload.encode())

    async def run(self) -> None:
        from loadbalancer.mqtt.client import run_client

        for fields in self._restored:
            self.service.log.record("command", **fields)
        self._restored.clear()
        client = asyncio.create_task(run_client(self), name="mqtt client")
        try:
            await asyncio.shield(client)
        except asyncio.CancelledError:
            # a stop: the client says goodbye, but never holds the stop up for long (Python
            # 3.11's wait_for can swallow a cancel that comes as its future completes)
            client.cancel()
            await asyncio.wait([client], timeout=STOP_WITHIN_S)
            raise

    # ---- commands ----------------------------------------------------------------------------

    def _command_topics(self) -> dict[str, tuple[str, str | None]]:
        out: dict[str, tuple[str, str | None]] = {}
        allowed = self.config.commands
        for charger in self.site.chargers:
            for command in ("max_current_a", "pause"):
                if command in allowed:
                    topic = self.topics.command(self.topics.charger(charger.name, command))
                    out[topic] = (command, charger.name)
        if "budget_kw" in allowed:
            out[self.topics.command(f"{self.topics.base}/budget_kw")] = ("budget_kw", None)
        return out

    def on_command(self, topic: str, payload: bytes, *, retained: bool = False) -> None:
        """A message on a command topic: checked, applied (a decision follows), logged."""
        command, charger = self.commands[topic]
        previous = self._value(command, charger)
        try:
            if retained:
                raise CommandRefused(
                    "a retained command is not taken (it would come back at every restart)"
                )
            overrides = self._parsed(command, charger, payload)
        except CommandRefused as exc:
            self._refused(topic, command, charger, payload, previous, str(exc))
            self._put_settings()  # Home Assistant shows the value in force again
            return
        self._apply(overrides)
        self._record(f"mqtt {topic}", command, charger, payload, previous, None)
        if self.config.persist:
            path = persist_path(self.config.state_dir)
            try:
                save_persisted(path, self.overrides)
            except OSError as exc:
                self.service.status(f"mqtt: the command is in force, but not kept: {path}: {exc}")
        self.service._trigger_step()

    def _parsed(self, command: str, charger: str | None, payload: bytes) -> Overrides:
        overrides = self.overrides
        if command == "pause" and charger is not None:
            paused = overrides.paused - {charger}
            return replace(
                overrides, paused=paused | ({charger} if parse_switch(payload) else set())
            )
        if command == "max_current_a" and charger is not None:
            value = parse_number(payload, max_current_bounds(self.site, charger), "A")
            return replace(overrides, max_current_a={**overrides.max_current_a, charger: value})
        return replace(overrides, budget_kw=parse_number(payload, budget_bounds(self.site), "kW"))

    def _apply(self, overrides: Overrides) -> None:
        self.overrides = overrides
        self._control = control_with(self.site.control, overrides)
        self._apply_budget()
        self._put_settings()

    def _apply_budget(self) -> None:
        """The capacity tariff's budget in force: its shell (issue 15's ``Service.tariff``)
        reads it from its ``config`` at each decision, so the core gets it as its input."""
        intake: Any = getattr(self.service, "tariff", None)
        if intake is not None and self.site.tariff is not None:
            budget = self.overrides.budget_kw or self.site.tariff.budget_kw
            intake.config = replace(self.site.tariff, budget_kw=budget)

    def _value(self, command: str, charger: str | None) -> float | bool | None:
        if command == "pause":
            return charger in self.overrides.paused
        if command == "max_current_a" and charger is not None:
            spec = next(c.spec for c in self.site.chargers if c.name == charger)
            return self.overrides.max_current_a.get(charger, spec.max_current_a)
        if self.site.tariff is None:
            return None
        return self.overrides.budget_kw or self.site.tariff.budget_kw

    def _refused(
        self,
        topic: str,
        command: str,
        charger: str | None,
        payload: bytes,
        previous: float | bool | None,
        problem: str,
    ) -> None:
        now_s = self.service.clock()
        self._refusals = [t for t in self._refusals if now_s - t < 60.0]
        if len(self._refusals) >= MAX_REFUSALS_PER_MIN:
            self._unlogged += 1
            return
        self._refusals.append(now_s)
        if self._unlogged:
            problem += f" ({self._unlogged} more refused before, not logged)"
            self._unlogged = 0
        self._record(f"mqtt {topic}", command, charger, payload, previous, problem)

    def _record(
        self,
        source: str,
        command: str,
        charger: str | None,
        payload: bytes,
        previous: float | bool | None,
        problem: str | None,
    ) -> None:
        self.service.log.record(
            "command", **self._fields(source, command, charger, payload, previous, problem)
        )

    def _fields(
        self,
        source: str,
        command: str,
        charger: str | None,
        payload: bytes,
        previous: float | bool | None,
        problem: str | None,
    ) -> dict[str, Any]:
        shown = printable(payload[:SHOWN_PAYLOAD_CHARS].decode("utf-8", "replace"))
        return dict(
            source=source,
            command=command,
            charger=charger,
            payload=shown,
            accepted=problem is None,
            previous=previous,
            value=previous if problem is not None else self._value(command, charger),
            problem=problem,
        )

    # ---- persist: true -------------------------------------------------------------------------

    def _restore(self) -> None:
        if not (self.config.persist and self.config.commands):
            return
        path = persist_path(self.config.state_dir)
        overrides, words = load_persisted(path, self.site, self.config.commands)
        self.service.status(f"mqtt: commands {words}")
        before = {c: {n: self._value(c, n) for n in self._names(c)} for c in self.config.commands}
        self._apply(overrides)
        for command, values in before.items():
            for charger, previous in values.items():
                now = self._value(command, charger)
                if now != previous:
                    shown = str(now).encode()
                    fields = self._fields(
                        f"state file {path}", command, charger, shown, previous, None
                    )
                    self._restored.append(fields)

    def _names(self, command: str) -> list[str | None]:
        return [None] if command == "budget_kw" else [c.name for c in self.site.chargers]

    def _put_settings(self) -> None:
        for topic, payload in setting_values(self.overrides, self.site, self.topics).items():
            self.store.put(topic, payload.encode())
