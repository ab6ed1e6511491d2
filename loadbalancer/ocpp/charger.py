"""One OCPP 1.6J charge point as a :class:`~loadbalancer.chargers.charger.Charger`.

Reads come from what the charge point sends (MeterValues: ``Current.Import`` per phase,
``Current.Offered``; StatusNotification, mapped to IEC 61851 letters); ``write_limit`` sends
the profile's charging profile (a TxDefaultProfile by default) in amperes, or watts for a W-only
box, 0 A pausing. Writes pass the write economy (:mod:`loadbalancer.ocpp.economy`): a cut never
waits, a raise may. "Accepted" is not "applied": the link's read-back check (``Current.Offered``
where the profile trusts it) and its compliance watch (the measured current) verify the effect.

The failsafe: a vendor's own offline setting where the profile names one (written and read
back), else ``failsafe_unverified``: OCPP 1.6 has none, the last profile stays in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call, enums

from loadbalancer.backoff import Backoff
from loadbalancer.chargers.charger import ChargerReading, FailsafeResult, FailsafeSettings
from loadbalancer.electric import PHASE_IN_USE_A
from loadbalancer.errors import (
    ChargerError,
    ChargerExceptionReply,
    ChargerTimeout,
    ChargerUnreachable,
    ChargerUnsupported,
)
from loadbalancer.logwriter import DecisionLog
from loadbalancer.ocpp.economy import CUT_RESERVE, DAY_S, Verdict, WriteGate
from loadbalancer.ocpp.payload import charging_profile
from loadbalancer.ocpp.phases import check_change, read_count
from loadbalancer.ocpp.profile import failsafe_value
from loadbalancer.ocpp.site import OCPP_REQUEST_TIMEOUT_S, OcppChargerConfig

Clock = Callable[[], float]

#: OCPP connector status -> IEC 61851 state (B: a car is there but not drawing)
STATUS_LETTERS: Mapping[str, str] = {
    "Available": "A",
    "Preparing": "B",
    "Charging": "C",
    "SuspendedEVSE": "B",
    "SuspendedEV": "B",
    "Finishing": "B",
    "Reserved": "A",
    "Unavailable": "E",
    "Faulted": "F",
}
#: phase labels of ``Current.Import``/``Current.Offered`` -> charger phase index (Zaptec "L1-N")
PHASE_INDEX: Mapping[str, int] = {"L1": 0, "L2": 1, "L3": 2, "L1-N": 0, "L2-N": 1, "L3-N": 2}
#: MeterValues closer than this to the last one taken are answered and dropped (a box that
#: floods them must not have its link read it hundreds of times a second)
METER_MIN_GAP_S = 0.1


class OcppRefused(ChargerExceptionReply):
    """The charge point answered a CALL with Rejected, NotSupported or a CALLERROR: it is
    online and its limit is not what was asked (``exception_code`` 0: not a Modbus one)."""

    def __init__(self, endpoint: str, action: str, answer: str) -> None:
        ChargerError.__init__(self, f"charger {endpoint}: {action}: {answer}")
        self.endpoint = endpoint
        self.register = action
        self.exception_code = 0
        self.meaning = answer
        self.hint = ""


class OcppCharger:
    """The state of one charge point and the calls to it; the central system feeds it."""

    def __init__(
        self, config: OcppChargerConfig, *, clock: Clock, log: DecisionLog | None = None
    ) -> None:
        self.config = config
        self.profile = config.profile
        self.endpoint = config.endpoint
        self.connector_id = config.connector_id
        self.clock = clock
        self.log = log
        self.gate = WriteGate(self.profile.writes)
        #: the connected charge point (an ``ocpp.v16.ChargePoint``), None while disconnected
        self.session: Any = None
        self.dropped = False  # the connection dropped since the last read
        self.status_raw: str | None = None
        self.currents_a: list[float | None] = [None, None, None]
        self.offered_a: float | None = None
        self.meter_at_s: float | None = None
        self.settings: dict[str, str] = {}
        self.meter_dropped = 0  # MeterValues dropped as a flood
        self.boot: dict[str, Any] | None = None
        #: the link's "read now" (a value arrived, the connection changed)
        self.notify: Callable[[], None] = lambda: None
        self.request_timeout_s = OCPP_REQUEST_TIMEOUT_S
        self.connect_timeout_s = OCPP_REQUEST_TIMEOUT_S  # the shutdown sets both
        self._waiting = False  # a raise held back by the write economy (one record per episode)
        #: after a CALL that was not answered the charger counts as offline for a growing pause
        #: (its reads would come back at once and the link would flap)
        self.silent_until_s = -math.inf
        self.silent_backoff = Backoff()
        self._failsafe = FailsafeSettings(None, None)
        #: ``expiring_profile``: how long each limit stays valid without a renewal
        self.validity_s: float | None = None
        #: the TriggerMessage(MeterValues) due after a raise, and the calls under way
        self._trigger_at: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._asked = False  # MeterValues asked for: the next one is taken however soon
        #: issue 19: its profiles' phase count (None: unknown yet, loadbalancer/ocpp/phases.py),
        #: the session whose configuration key said the box switches
        switches = self.profile.phase_switch is not None and config.spec.phase_switch is not None
        self.phase_count: int | None = None if switches else len(config.spec.phases)
        self.phase_key_session: Any = None

    # ---- fed by the central system --------------------------------------------------------

    def connected(self, session: Any) -> None:
        self.session = session
        self.meter_at_s = None
        self.gate.forget()  # the box may have lost its profile (or kept an older one)
        self.notify()

    def disconnected(self, session: Any) -> None:
        if self.session is session:
            self.session = None
            self.dropped = True
            self.notify()

    def on_status(self, connector_id: int, status: str) -> None:
        if connector_id in (0, self.connector_id) and (
            connector_id != 0 or status in ("Unavailable", "Faulted") or self.status_raw is None
        ):
            self.status_raw = status
            self.notify()

    def on_meter_values(self, connector_id: int, meter_value: Iterable[Mapping[str, Any]]) -> None:
        if connector_id not in (0, self.connector_id):
            return
        now_s = self.clock()
        gap_s = math.inf if self.meter_at_s is None else now_s - self.meter_at_s
        if gap_s < METER_MIN_GAP_S and not self._asked:  # the ones asked for always count
            self.meter_dropped += 1
            return
        currents: list[float | None] = [None, None, None]
        offered: float | None = None
        for value in meter_value:
            for sample in value.get("sampled_value", []):
                measurand = sample.get("measurand", "Energy.Active.Import.Register")
                amperes = _amperes(sample)
                if amperes is None:
                    continue
                if measurand == "Current.Import":
                    index = self._phase_index(sample.get("phase"))
                    if index is not None:
                        currents[index] = amperes
                elif measurand == "Current.Offered":
                    offered = amperes if offered is None else max(offered, amperes)
        if all(value is None for value in currents) and offered is None:
            return
        self.currents_a = currents
        self.offered_a = offered
        self.meter_at_s = now_s
        self._asked = False
        self.notify()

    def _phase_index(self, phase: object) -> int | None:
        if phase is None:  # no label: only a one-phase charger's is known to be its phase 1
            return 0 if len(self.config.spec.phases) == 1 else None
        return PHASE_INDEX.get(str(phase))

    # ---- the Charger protocol -------------------------------------------------------------

    @property
    def stale_after_s(self) -> float:
        """MeterValues older than this make the charger offline to the link."""
        return max(2 * self.profile.meter.interval_s + 10, 30.0)

    async def read(self, *, failsafe: bool = True) -> ChargerReading:
        if self.dropped:
            self.dropped = False
            raise ChargerUnreachable(self.endpoint, "the WebSocket connection dropped")
        if self.session is None:
            raise ChargerUnreachable(self.endpoint, "not connected to the central system")
        if self.meter_at_s is None:
            raise ChargerUnreachable(self.endpoint, "connected; no MeterValues yet")
        if self.clock() < self.silent_until_s:
            raise ChargerUnreachable(self.endpoint, "connected; does not answer its calls")
        age_s = self.clock() - self.meter_at_s
        if age_s > self.stale_after_s:
            raise ChargerTimeout(self.endpoint, "MeterValues", self.stale_after_s)
        letter = STATUS_LETTERS.get(self.status_raw or "")
        known = [value for value in self.currents_a if value is not None]
        return ChargerReading(
            status=letter,
            status_raw=self.status_raw,
            current_a=(self.currents_a[0], self.currents_a[1], self.currents_a[2]),
            limit_a=self.offered_a if self.profile.meter.current_offered else None,
            phases=sum(1 for value in known if value > PHASE_IN_USE_A) or None,
            max_current_a=None,
            failsafe=self._failsafe,
            measured_at_s=self.meter_at_s,
        )

    async def write_limit(self, current_a: float) -> float:
        session = self._session()
        limit_a = math.floor(max(current_a, 0.0) * 10 + 1e-6) / 10  # OCPP: one decimal
        now_s = self.clock()
        verdict = self.gate.verdict(limit_a, now_s, rewrite=True)
        if verdict is Verdict.WAIT:
            self._held(limit_a, now_s)
            in_force = self.gate.in_force_a
            return 0.0 if in_force is None else in_force
        previous = self.gate.in_force_a
        await self._send(session, charging_profile(self, limit_a, self.validity_s))
        self.gate.written(limit_a, now_s)
        self._waiting = False
        if previous is not None and limit_a > previous:
            self._ask_meter_values_later(session)
        return limit_a

    def _ask_meter_values_later(self, session: Any) -> None:
        """After a raise: MeterValues asked for once the car has followed (where the box can
        be asked), so that its last ones, the car's lower draw, do not make the house look
        bigger than it is (a cut for nothing) until its next report."""
        after_s = self.profile.meter.trigger_after_s
        if after_s is None:
            return
        if self._trigger_at is not None:
            self._trigger_at.cancel()
        self._trigger_at = asyncio.get_running_loop().call_later(
            after_s, self._ask_meter_values, session
        )

    def can_be_asked(self) -> bool:
        """Whether MeterValues can be asked for now (its profile triggers them; connected)."""
        return self.profile.meter.trigger_after_s is not None and self.session is not None

    def ask_meter_values_now(self) -> bool:
        """MeterValues asked for now, for a telegram's charger currents of its own moment (the
        link waits for them, :mod:`loadbalancer.fresh_reads`); False where the box cannot be
        asked (its profile) or is not connected."""
        session = self.session
        if session is None or not self.can_be_asked():
            return False
        task = asyncio.create_task(self._trigger_meter_values(session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _ask_meter_values(self, session: Any) -> None:
        self._trigger_at = None
        if session is self.session:
            task = asyncio.create_task(self._trigger_meter_values(session))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _trigger_meter_values(self, session: Any) -> None:
        # after every raise of every box: as OCPP JSON, like a write (its answer is not used:
        # the MeterValues it brings are checked when they come)
        payload = {"requestedMessage": "MeterValues", "connectorId": self.connector_id}
        self._asked = True
        with contextlib.suppress(ChargerError):  # an unanswered one is said by the next read
            await self._answer("TriggerMessage", session.call_payload("TriggerMessage", payload))

    async def _send(self, session: Any, profile: dict[str, Any]) -> None:
        payload = {"connectorId": self.connector_id, "csChargingProfiles": profile}
        # built here as OCPP JSON (the library's dataclasses and their conversion to JSON were
        # the costly part of a write, and the cut of 20 boxes is 20 writes in a row:
        # benchmarks/ocpp_reaction.py), not checked against the schema again on its way out
        # (tests/ocpp/test_profile_payload.py checks every bundled profile's); the answer is
        # read as untrusted: only an exact {"status": "Accepted"} is one
        answer = await self._answer(
            "SetChargingProfile", session.call_payload("SetChargingProfile", payload)
        )
        if answer != {"status": enums.ChargingProfileStatus.accepted.value}:
            status = answer.get("status") if isinstance(answer, dict) else None
            shown = (
                str(status) if isinstance(status, str) and len(answer) == 1 else "malformed answer"
            )
            raise OcppRefused(self.endpoint, "SetChargingProfile", shown)

    def _held(self, limit_a: float, now_s: float) -> None:
        if self.log is not None and not self._waiting:
            self.log.record(
                "ocpp_write_deferred",
                charger=self.config.name,
                setpoint_a=limit_a,
                in_force_a=self.gate.in_force_a,
                reason=self.gate.reason,
                writes_24h=self.gate.writes_today(now_s),
                wait_s=round(self.gate.wait_s(now_s), 3),
            )
        self._waiting = True

    async def configure_failsafe(self, current_a: float, timeout_s: float) -> FailsafeResult:
        failsafe = self.profile.failsafe
        if failsafe.mechanism == "expiring_profile":
            return await self._expiring(current_a, timeout_s)
        if failsafe.mechanism == "none" or failsafe.key is None:
            return FailsafeResult(
                settable=False,
                verified=False,
                settings=self._failsafe,
                reason=f"OCPP 1.6 has no failsafe: {failsafe.note}",
            )
        session = self._session()
        value = failsafe_value(failsafe, current_a, self.connector_id)
        answer = await self.call(
            session, call.ChangeConfiguration(key=failsafe.key, value=value), "ChangeConfiguration"
        )
        status = str(answer.status)
        if answer.status not in ("Accepted", "RebootRequired"):
            raise OcppRefused(self.endpoint, f"ChangeConfiguration {failsafe.key}", status)
        read_back = (await self.get_configuration([failsafe.key])).get(failsafe.key)
        matches = read_back == value
        self._failsafe = FailsafeSettings(current_a if matches else None, None)
        if not matches:
            reason = f"{failsafe.key} reads back {read_back!r}, not {value!r}"
        elif not failsafe.semantics_verified:
            reason = f"{failsafe.key}={value} written and read back; {failsafe.note}"
        else:
            reason = ""
        verified = matches and failsafe.semantics_verified
        return FailsafeResult(True, verified, self._failsafe, reason)

    async def _expiring(self, current_a: float, timeout_s: float) -> FailsafeResult:
        """The safe current as a profile below the limits', which from now on expire
        ``timeout_s`` after each write or renewal (the keep-alive)."""
        safe_a = math.floor(current_a * 10 + 1e-6) / 10
        await self._send(self._session(), charging_profile(self, safe_a, None, safe=True))
        self.gate.count(self.clock())
        self.validity_s = timeout_s
        self.gate.forget()  # the limit above it goes out again, now with its expiry
        self._failsafe = FailsafeSettings(safe_a, timeout_s)
        failsafe, writes = self.profile.failsafe, self.profile.writes
        reason = "" if failsafe.semantics_verified else f"safe profile written; {failsafe.note}"
        renewals = math.ceil(DAY_S / (timeout_s / 3))
        if (
            renewals > writes.daily_budget * (1 - CUT_RESERVE)
            or timeout_s / 3 < writes.min_interval_s
        ):
            reason = (
                f"renewing every {timeout_s / 3:g} s makes {renewals} writes a day, past the "
                f"profile's write economy: limits will lapse to the safe one"
            )
        verified = failsafe.semantics_verified and not reason
        return FailsafeResult(True, verified, self._failsafe, reason)

    async def get_configuration(self, keys: list[str]) -> dict[str, str]:
        answer = await self.call(
            self._session(), call.GetConfiguration(key=keys), "GetConfiguration"
        )
        found = {
            str(item.get("key")): str(item.get("value"))
            for item in answer.configuration_key or []
            if isinstance(item, dict) and item.get("value") is not None
        }
        self.settings.update(found)
        return found

    # ---- issue 19: 1p/3p switching through numberPhases (loadbalancer/ocpp/phases.py) ----

    async def write_phases(self, count: int) -> None:
        """The 0-A profile with ``count`` phases, only at 0 A with the car drawing nothing."""
        check_change(self, count)
        now_s, profile = self.clock(), charging_profile(self, 0.0, self.validity_s, phases=count)
        await self._send(self._session(), profile)
        self.gate.written(0.0, now_s)
        self.phase_count = count

    async def read_phases(self) -> int | None:
        return await read_count(self)

    async def ask_reading(self) -> None:
        """MeterValues asked for now (where the box can be asked)."""
        if self.profile.meter.trigger_after_s is not None:
            await self._trigger_meter_values(self._session())

    @property
    def keep_alive_interval_s(self) -> float | None:
        # an expiring limit is renewed at a third of its validity; otherwise no keep-alive is
        # sent (WebSocket pings hold the connection) and the link's writer wakes this often to
        # send a raise the write economy held back
        return 5.0 if self.validity_s is None else self.validity_s / 3

    async def keep_alive(self) -> None:
        """Renew an expiring limit (a write, so within the write economy: when the budget holds
        it back the limit expires and the box falls back to its safe profile)."""
        in_force, now_s = self.gate.in_force_a, self.clock()
        if self.validity_s is None or in_force is None:
            return
        if self.gate.verdict(in_force, now_s, rewrite=True) is Verdict.WAIT:
            self._held(in_force, now_s)
            return
        await self._send(self._session(), charging_profile(self, in_force, self.validity_s))
        self.gate.written(in_force, now_s)

    async def close(self) -> None:
        # the connection belongs to the central system; only what this charger asked goes
        if self._trigger_at is not None:
            self._trigger_at.cancel()
        for task in list(self._tasks):
            task.cancel()

    # ---- calls ----------------------------------------------------------------------------

    def _session(self) -> Any:
        if self.session is None:
            raise ChargerUnreachable(self.endpoint, "not connected to the central system")
        return self.session

    async def call(self, session: Any, request: Any, action: str | None = None) -> Any:
        """One CALL of the library's types and its answer, both checked against the schemas;
        a CALLERROR, Rejected or silence is a ``ChargerError``."""
        action = action or type(request).__name__
        return await self._answer(action, session.call(request, suppress=False))

    async def _answer(self, action: str, answer: Awaitable[Any]) -> Any:
        """The answer to a CALL under way; a CALLERROR or silence is a ``ChargerError``."""
        try:
            async with asyncio.timeout(self.request_timeout_s):
                result = await answer
        except TimeoutError:
            self.silent_until_s = self.clock() + self.silent_backoff.next_delay_s()
            raise ChargerTimeout(self.endpoint, action, self.request_timeout_s) from None
        except OCPPError as exc:
            raise OcppRefused(self.endpoint, action, f"CALLERROR {exc.code}") from None
        except (OSError, ConnectionError) as exc:
            raise ChargerUnreachable(self.endpoint, f"{action}: {exc}") from None
        except Exception as exc:  # websockets' ConnectionClosed, the library's own
            if type(exc).__name__.startswith("ConnectionClosed"):
                raise ChargerUnreachable(self.endpoint, f"{action}: connection closed") from None
            raise
        _cancelled_meanwhile()
        if result is None:
            raise ChargerUnsupported(f"charger {self.endpoint}: {action}: no answer")
        self.silent_backoff.reset()
        return result


def _cancelled_meanwhile() -> None:
    """Raise the cancellation a call swallowed. The ``ocpp`` library waits for an answer with
    ``asyncio.wait_for``, which before Python 3.12 returns the answer instead of raising when
    the task is cancelled just as the answer lands (CPython gh-86296). At a stop the link's
    write task was then never cancelled, and the service hung before its shutdown (seen with 20
    charge points)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _amperes(sample: Mapping[str, Any]) -> float | None:
    """A sample's value in amperes (``unit`` A, the default for currents), None if it is not
    a finite number."""
    if sample.get("unit", "A") != "A":
        return None
    try:
        value = float(sample.get("value", ""))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and -1000 < value < 1000 else None
