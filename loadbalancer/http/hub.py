"""What the HTTP server keeps of the decisions: counts by reason, 15 minutes of history, and the
Server-Sent Events subscribers (imports no HTTP library).

:meth:`StatusHub.on_decision` is called inside the control step: it only counts, samples and
schedules the push; the status is built and serialized once, after the step, for every
subscriber. A subscriber's queue is bounded and keeps the newest statuses: a slow client misses
old ones, never holds the loop or grows memory.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from loadbalancer.control.decision import Decision
from loadbalancer.jsontext import dumps
from loadbalancer.status import Status, status_of

if TYPE_CHECKING:
    from loadbalancer.service import Service

#: the chart's window, and one sample per this many seconds in it
HISTORY_S = 15 * 60.0
HISTORY_STEP_S = 1.0
#: statuses queued per subscriber before the oldest are dropped
EVENTS_QUEUED = 4
#: subscribers at most (more are refused with 503)
MAX_SUBSCRIBERS = 32

Sample = tuple[float, dict[str, Any]]
_STATUS_ENCODER = msgspec.json.Encoder()


def to_json(value: Any) -> str:
    """Strict JSON: a non-finite number (a bug elsewhere) is null."""
    return dumps(value, separators=(",", ":"))


def status_json(status: Status) -> bytes:
    """``/status``'s body: :meth:`Status.to_dict` as JSON, encoded straight from the frozen
    dataclasses by msgspec (C: about a tenth of ``asdict`` and :func:`to_json`), with a
    non-finite number as null just the same."""
    return _STATUS_ENCODER.encode(status)


class StatusHub:
    """The HTTP side's view of one service."""

    def __init__(self, service: Service, report: Callable[[str], None]) -> None:
        self.service = service
        self.report = report
        self.decisions_by_reason: Counter[str] = Counter()
        self.history: deque[Sample] = deque(maxlen=int(HISTORY_S / HISTORY_STEP_S) + 1)
        self.subscribers: set[asyncio.Queue[bytes]] = set()
        self._push_pending = False
        self._failed = False

    def now_s(self) -> float:
        return self.service.clock()

    def snapshot(self) -> Status:
        return status_of(self.service, self.now_s())

    # ---- in the control step --------------------------------------------------------------

    def on_decision(self, decision: Decision) -> None:
        """Count and sample the decision; the push to subscribers runs after the step. Never
        raises: a fault here must not stop control (it is reported once)."""
        try:
            for charger in decision.chargers:
                self.decisions_by_reason[str(charger.reason)] += 1
            now_s = self.now_s()
            if not self.history or now_s - self.history[-1][0] >= HISTORY_STEP_S:
                self.history.append((now_s, sample(decision)))
            if self.subscribers and not self._push_pending:
                self._push_pending = True
                asyncio.get_running_loop().call_soon(self._push)
        except Exception as exc:  # the status page must never stop control
            self._fault(exc)

    def _push(self) -> None:
        self._push_pending = False
        try:
            event = self.event()
        except Exception as exc:  # as above
            self._fault(exc)
            return
        for queue in self.subscribers:
            if queue.full():  # a slow client: it gets the newest, not every one
                queue.get_nowait()
            queue.put_nowait(event)

    def _fault(self, exc: Exception) -> None:
        if not self._failed:
            self._failed = True
            self.report(f"http: status not updated ({exc!r}); control goes on")

    # ---- for the handlers -----------------------------------------------------------------

    def event(self) -> bytes:
        """The status as one Server-Sent Event."""
        return b"data: " + status_json(self.snapshot()) + b"\n\n"

    def subscribe(self) -> asyncio.Queue[bytes] | None:
        if len(self.subscribers) >= MAX_SUBSCRIBERS:
            return None
        queue: asyncio.Queue[bytes] = asyncio.Queue(EVENTS_QUEUED)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes]) -> None:
        self.subscribers.discard(queue)

    def history_json(self) -> dict[str, Any]:
        """The last 15 minutes, each sample with its age in seconds (oldest first)."""
        now_s = self.now_s()
        return {
            "window_s": HISTORY_S,
            "samples": [
                {"ago_s": round(now_s - t_s, 3), **values}
                for t_s, values in self.history
                if now_s - t_s <= HISTORY_S
            ],
        }


def sample(decision: Decision) -> dict[str, Any]:
    """What the chart draws of one decision: the meter per phase, the house, what is allowed,
    and each charger's limit."""
    return {
        "meter_a": dict(decision.meter_a),
        "house_a": dict(decision.house_a),
        "allowed_a": dict(decision.allowed_a),
        "limit_a": {c.name: c.setpoint_a for c in decision.chargers},
    }
