"""The end of a run: the signals that stop the service and the safe currents it
writes on the way out.

Every signal whose default action would end the process stops the service like SIGTERM
(:data:`STOP_SIGNALS`); SIGHUP reopens the decision log instead. On a stop every reachable
charger is set to ``safe_current_a`` at once, on a connection of its own, retried within
:data:`SHUTDOWN_WRITE_BUDGET_S`; the ``shutdown`` record says what each box acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from typing import Any

from loadbalancer.charger_open import OpenedCharger
from loadbalancer.config import ChargerConfig
from loadbalancer.errors import ChargerError, ChargerUnsupported

#: what the shutdown may spend writing safe currents, retries included (a stop must exit within
#: 5 s; the rest is for closing, the shutdown record and the interpreter's exit)
SHUTDOWN_WRITE_BUDGET_S = 4.0
#: after the shutdown record, what tasks left over get to end before the process exits
EXIT_GRACE_S = 0.3
#: a failed shutdown write is tried again after this pause, while the budget lasts
SHUTDOWN_RETRY_S = 0.1

#: signals whose default action ends the process: each gets the SIGTERM shutdown (SIGHUP
#: reopens the decision log instead). Not here: SIGKILL and SIGSTOP (cannot be caught), the
#: faults of the process itself (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP: a
#: handler could not run safely), and SIGPIPE and SIGXFSZ, which Python ignores so that the
#: write fails with an OSError instead (the decision log copes with those).
STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name)
    for name in (
        "SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGQUIT", "SIGALRM", "SIGVTALRM",
        "SIGPROF", "SIGXCPU", "SIGPWR", "SIGIO", "SIGSTKFLT",
    )
    if hasattr(signal, name)
)  # fmt: skip

#: a client of its own for one box, with a fixed pause between tries (no growing back-off)
OpenClient = Callable[[ChargerConfig], OpenedCharger]


def stop_signals() -> list[int]:
    """:data:`STOP_SIGNALS` and the real-time signals (their default action ends the process)."""
    realtime = range(signal.SIGRTMIN, signal.SIGRTMAX + 1) if hasattr(signal, "SIGRTMIN") else ()
    return [int(sig) for sig in STOP_SIGNALS] + list(realtime)


def signal_name(signum: int) -> str:
    """``SIGUSR1``; ``SIGRTMIN+3`` for a real-time signal without a name of its own."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"SIGRTMIN+{signum - signal.SIGRTMIN}"


async def make_all_safe(
    chargers: Sequence[ChargerConfig], open_client: OpenClient, safe_a: float, deadline_s: float
) -> dict[str, Any]:
    """Every charger to ``safe_a`` by ``deadline_s`` (loop time): what each acknowledged."""
    results: dict[str, Any] = {}
    await asyncio.gather(
        *(_make_safe(open_client(c), c.name, safe_a, deadline_s, results) for c in chargers)
    )
    return results


async def _make_safe(
    client: OpenedCharger, name: str, safe_a: float, deadline_s: float, results: dict[str, Any]
) -> None:
    """Write ``safe_a`` to one charger, again and again until it is acknowledged or the
    budget is spent; each try may wait for the answer until the deadline (a slow box that
    answers in 2.5 s still gets its safe current). ``results`` gets what the box
    acknowledged, or why it did not.

    It uses a connection of its own, with no back-off: the running service's connection
    may be busy with a request the box is slow to answer, or waiting out a back-off, and
    this is the last chance to reach the box."""
    try:
        results[name] = await _write_until(client, safe_a, deadline_s)
    finally:
        with contextlib.suppress(ChargerError, OSError):
            await client.close()


async def _write_until(client: OpenedCharger, safe_a: float, deadline_s: float) -> float | str:
    """What the box acknowledged, or ``failed after N tries: why``."""
    loop = asyncio.get_running_loop()
    attempts = 0
    error = "no answer in time"
    while (left_s := deadline_s - loop.time()) > 0.05:
        attempts += 1
        # the whole budget for this request (and the connection, if it must be reopened)
        client.request_timeout_s = client.connect_timeout_s = left_s
        try:
            async with asyncio.timeout(left_s):
                return await client.write_limit(safe_a)
        except ChargerUnsupported as exc:
            error = str(exc)
            break
        except ChargerError as exc:
            error = str(exc)
        except TimeoutError:
            break
        await asyncio.sleep(min(SHUTDOWN_RETRY_S, max(deadline_s - loop.time(), 0.0)))
    tries = "try" if attempts == 1 else "tries"
    return f"failed after {attempts} {tries}: {error}"
