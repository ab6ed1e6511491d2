"""The named states of a charger link (:mod:`loadbalancer.link`): whether the charger answers,
what is due on it, and the problem episodes under way."""

from __future__ import annotations

from enum import Enum


class Reach(Enum):
    """Whether the charger answers."""

    UNTRIED = "untried"  # not asked yet
    ONLINE = "online"
    OFFLINE = "offline"  # its last request failed: reconnected with back-off


class Due(Enum):
    """What is to be done on the charger at the next chance."""

    #: write the set-point even if unchanged (start, reconnect, rewrite)
    SETPOINT = "setpoint"
    #: configure the failsafe when it next answers (start, reconnect, a failed try)
    FAILSAFE = "failsafe"


class Episode(Enum):
    """A problem that lasts: one record when it starts, one when it ends."""

    IMPLAUSIBLE = "implausible"  # its currents cannot be its draw (booked at its limit)
    WRITE_REFUSED = "write_refused"  # it answers set-point writes with an exception
    KEEP_ALIVE_REFUSED = "keep_alive_refused"  # it answers the keep-alive with an exception
    NOT_APPLIED = "not_applied"  # its read-back limit is above the one it acknowledged
